"""``HttpStream``: a paginated, incremental, resumable API stream in a few lines.

::

    class Contacts(HttpStream):
        name = "contacts"
        path = "/v1/contacts"
        record_path = "data"
        primary_key = ("id",)
        cursor_field = "updated_at"
        cursor_param = "updated_since"          # the API's inclusive lower bound

        def paginator(self):
            return CursorPaginator(cursor_path="meta.next_cursor", param="cursor")

Each batch carries state with three separate parts: the query's lower bound
(fixed for one read), the **next page request** (so a killed read resumes on
the page it stopped at) and the cursor tracker (watermark + boundary keys). A
read that finished promotes the watermark. Values in ``params``/``json`` may be
templates: ``"{{ cursor }}"``, ``"{{ slice.start }}"``, ``"{{ config.list_id }}"``.

With ``max_results`` on the paginator (HubSpot search: 10,000), the query is
restarted from the last cursor value seen, and records already read at that
value are skipped by primary key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cintel.errors import ResponseError, SourceError
from cintel.http._util import excerpt
from cintel.http.client import HttpClient, JsonResponse
from cintel.http.incremental import (
    CursorFormat,
    date_slices,
    format_cursor,
    shift_cursor,
)
from cintel.http.paginate import (
    PageRequest,
    Paginator,
    PathNotFound,
    QueryCapReached,
    SinglePage,
    select,
    select_required,
)
from cintel.source import Record, RecordBatch, Stream
from cintel.state import CursorTracker, record_key

__all__ = ["HttpStream", "render"]

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_WHOLE = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}$")


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Fill ``{{ name.path }}`` templates in strings of ``value`` (dicts and lists too).

    A string that is exactly one template keeps the value's type; a template
    whose value is ``None`` inside a dict drops that key (an optional filter).
    """
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return select(context, whole.group(1))
        return _TEMPLATE.sub(lambda m: str(select(context, m.group(1), "")), value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            rendered = render(item, context)
            if rendered is None and isinstance(item, str) and _WHOLE.match(item):
                continue
            out[key] = rendered
        return out
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


class HttpStream(Stream):
    """A stream read page by page from a JSON API with a shared :class:`HttpClient`."""

    path: str = ""
    method: str = "GET"
    #: Dotted path of the record list in the body; ``None``: the body is the list. A path
    #: missing from a body is an error (a misspelt path would read every page as empty);
    #: a present ``[]`` or ``null`` is an empty page.
    record_path: str | None = None
    #: The API omits the record list on an empty page (GA4 leaves out ``rows``): a
    #: missing ``record_path`` then reads as an empty page instead of an error.
    record_path_optional: bool = False
    params: Mapping[str, Any] = {}
    json_body: Mapping[str, Any] | None = None
    #: Query parameter that receives the lower bound (``since``); ``None`` when the
    #: bound is placed through a template in ``params``/``json_body``.
    cursor_param: str | None = None
    cursor_format: CursorFormat = "raw"
    #: First value of the cursor on a first run (a backfill start); ``None``: everything.
    start: Any = None
    #: Seconds of history re-read on every run (needs ``merge``).
    lookback: float = 0.0
    #: Backfill in windows of this length (``{{ slice.start }}``/``{{ slice.end }}``).
    slice_step: timedelta | None = None
    config_values: Mapping[str, Any] = {}

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    # overridable parts ------------------------------------------------------
    def paginator(self) -> Paginator:
        """A new paginator for one walk (default: a single page)."""
        return SinglePage()

    def transform(self, records: list[Record]) -> list[Record]:
        """Reshape raw records (flatten properties…); batch-wise. Default: unchanged."""
        return records

    def now(self) -> datetime:
        """Upper end of date slices (overridable for tests)."""
        return datetime.now(tz=UTC)

    # reading ----------------------------------------------------------------------
    def _records(self, page: JsonResponse) -> list[Record]:
        try:
            found = select_required(page.body, self.record_path)
        except PathNotFound as missing:
            if self.record_path_optional and page.body is not None:
                found = None
            else:
                raise self._bad_page(
                    page,
                    f"record path {missing.path!r} is not in the response: no {missing.part!r} "
                    + (f"under {missing.where!r}" if missing.where else "at the top level")
                    + f" ({missing.available}); check the stream's record_path",
                ) from None
        if found is None and self.record_path:
            found = []  # an explicit null: an empty page
        if not isinstance(found, list):
            raise self._bad_page(
                page,
                f"expected a list of records at {self.record_path or 'the top level'!r}, "
                f"got {type(found).__name__}",
            )
        return [r for r in found if isinstance(r, dict)]

    def _bad_page(self, page: JsonResponse, message: str) -> ResponseError:
        return ResponseError(
            excerpt(message, 600),
            method=page.response.request.method,
            url=self.client._url(page.response.request.url),
            status=page.response.status_code,
            body=excerpt(page.response.content),
            source=self.client.source,
            stream=self.name,
        )

    def _context(self, cursor: Any, window: tuple[Any, Any] | None) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "config": dict(self.config_values),
            "cursor": format_cursor(cursor, self.cursor_format) if cursor is not None else None,
        }
        if window is not None:
            fmt: CursorFormat = "iso" if self.cursor_format == "raw" else self.cursor_format
            ctx["slice"] = {
                "start": format_cursor(window[0], fmt),
                "end": format_cursor(window[1], fmt),
            }
        return ctx

    def _request(self, page_req: PageRequest, ctx: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if page_req.url:
            return page_req.url, kwargs  # a next URL carries every parameter
        params = render(dict(self.params), ctx)
        if self.cursor_param and ctx.get("cursor") is not None:
            params[self.cursor_param] = ctx["cursor"]
        params.update(page_req.params)
        if params:
            kwargs["params"] = params
        if self.json_body is not None or page_req.json:
            body = render(dict(self.json_body or {}), ctx)
            body.update(page_req.json)
            kwargs["json"] = body
        return render(self.path, ctx), kwargs

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        state = dict(state or {})
        tracker = (
            CursorTracker(
                state.get("cursor"), cursor_field=self.cursor_field, primary_key=self.primary_key
            )
            if self.cursor_field
            else None
        )
        if "query_from" in state:
            query_from = state["query_from"]  # a resumed read keeps its bound
        else:
            base = tracker.watermark if tracker else None
            query_from = shift_cursor(base, self.lookback) if base is not None else self.start
        windows: list[tuple[Any, Any] | None] = [None]
        if self.slice_step is not None and query_from is not None:
            begin = state.get("slice_start", query_from)
            # nothing left to read is no window at all, not one query without bounds
            windows = list(date_slices(begin, self.now(), self.slice_step))
        for window in windows:
            yield from self._walk(state, tracker, query_from, window)
            state = {}  # only the first window resumes mid-way
        if tracker is not None:
            yield RecordBatch(state={"cursor": tracker.complete()})
        else:
            yield RecordBatch(state={})

    def _walk(
        self,
        state: Mapping[str, Any],
        tracker: CursorTracker | None,
        query_from: Any,
        window: tuple[Any, Any] | None,
    ) -> Iterator[RecordBatch]:
        paginator = self.paginator()
        capped = paginator.max_results is not None
        bound = state.get("restart_from", query_from)
        seen_at_bound: set[str] = set(state.get("restart_seen") or ())
        # the last cursor value this query returned, and the keys of its records
        # (every page, before any filter): where a capped query restarts from
        last_seen = state.get("last_seen") or {}
        last_value: Any = last_seen.get("value")
        keys_at_last: set[str] = set(last_seen.get("keys") or ())
        if state.get("page"):
            page_req = PageRequest.from_state(state["page"])
            _resume(paginator, page_req)
            paginator.fetched = int(state.get("fetched") or 0)
        else:
            page_req = paginator.first()
        pending: list[Record] = []
        filter_with_tracker = tracker is not None and not self.lookback
        while True:
            ctx = self._context(bound, window)
            url, kwargs = self._request(page_req, ctx)
            page = self.client.request_json(self.method, url, stream=self.name, **kwargs)
            raw = self._records(page)
            next_req: PageRequest | None
            restart = False
            try:
                next_req = paginator.next(page, raw)  # the API's own page, not transform()'s
            except QueryCapReached:
                restart = True
                next_req = None
            records = self.transform(raw)
            if capped and self.cursor_field:
                for r in records:
                    value = r.get(self.cursor_field)
                    if value is None:
                        continue
                    if last_value is None or str(value) != str(last_value):
                        last_value, keys_at_last = value, set()
                    if (k := record_key(r, self.primary_key)) is not None:
                        keys_at_last.add(k)
            if seen_at_bound and self.cursor_field:
                records = [
                    r
                    for r in records
                    if str(r.get(self.cursor_field)) != str(bound)
                    or record_key(r, self.primary_key) not in seen_at_bound
                ]
            if tracker is not None:
                records = tracker.filter(records) if filter_with_tracker else records
                if not filter_with_tracker:
                    tracker.observe(records)
            pending.extend(records)
            if restart:
                if not self.cursor_field or last_value is None:
                    raise SourceError(
                        f"the API stops a query at {paginator.fetched} results and the stream "
                        "has no cursor value to restart it from",
                        source=self.client.source,
                        stream=self.name,
                    )
                if str(last_value) != str(bound):
                    bound = last_value
                    seen_at_bound = set(keys_at_last)
                elif keys_at_last <= seen_at_bound:
                    raise SourceError(
                        f"more than {paginator.fetched} records share "
                        f"{self.cursor_field} = {bound!r}; the query cannot get past them",
                        source=self.client.source,
                        stream=self.name,
                    )
                else:
                    seen_at_bound |= keys_at_last
                last_value, keys_at_last = None, set()
                paginator = self.paginator()
                next_req = paginator.first()
            checkpoint: dict[str, Any] = {"query_from": query_from}
            if tracker is not None:
                checkpoint["cursor"] = tracker.state()
            if window is not None:
                checkpoint["slice_start"] = (
                    window[0].isoformat() if next_req is not None else window[1].isoformat()
                )
            if next_req is not None:
                checkpoint["page"] = next_req.to_state()
                if bound != query_from or seen_at_bound:
                    checkpoint["restart_from"] = bound
                    checkpoint["restart_seen"] = sorted(seen_at_bound)
                if capped:
                    checkpoint["fetched"] = paginator.fetched
                    if last_value is not None:
                        keys = sorted(keys_at_last)
                        checkpoint["last_seen"] = {"value": last_value, "keys": keys}
            if next_req is None or len(pending) >= self.batch_size:
                yield RecordBatch(pending, state=checkpoint)
                pending = []
            if next_req is None:
                return
            page_req = next_req


def _resume(paginator: Paginator, request: PageRequest) -> None:
    """Put a fresh paginator where a saved request says it was."""
    values = {**request.params, **request.json}
    for attr, param_attr in (("offset", "offset_param"), ("page", "page_param")):
        name = getattr(paginator, param_attr, None)
        if name is not None and name in values:
            setattr(paginator, attr, int(values[name]))
