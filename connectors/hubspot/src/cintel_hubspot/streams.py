"""The HubSpot streams: CRM objects (list, then search) with associations, and owners.

An object stream (contacts, companies, deals) reads in one of two phases:

- **list** (``GET /crm/v3/objects/{type}``, keyset-paged by ``paging.next.after``):
  the first run, a full refresh, or every run of a non-incremental stream. Its
  watermark is the time the walk started, less ``settle_seconds``: a record changed
  during the walk is read again by the next run (merge keeps one copy);
- **search** (``POST /crm/v3/objects/{type}/search``): later runs, from the last
  modified date loaded (``GTE``, inclusive, boundary records dropped by id) to
  ``now - settle_seconds`` (``LT``, fixed for the whole read and kept in the state),
  sorted ascending. The toolkit restarts the query from the last value read before
  HubSpot's 10,000-result cap; :class:`SearchPaginator` steps back when ``total``
  shrinks between pages (records modified during the read leave the result set and
  would otherwise shift the offset past unread ones).

Each batch then gets its associations, one v4 ``batch/read`` request per 1,000
records and associated type (:class:`Associations`), before it is yielded with a
state that resumes right after it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from cintel import CursorTracker, RecordBatch, Stream
from cintel.errors import AuthError, RateLimitError, ResponseError
from cintel.http import (
    CursorPaginator,
    HttpClient,
    HttpStream,
    JsonResponse,
    PageRequest,
    parse_datetime,
    redact_url,
    select,
    select_required,
)
from cintel.logs import redact

from cintel_hubspot.config import DealsConfig, HubSpotConfig, ObjectConfig, ObjectType
from cintel_hubspot.limits import DailyLimitError, HubSpotQuota, explain_auth_error
from cintel_hubspot.mapping import contacts_to_canonical, deals_to_canonical

__all__ = [
    "CURSOR_PROPERTY",
    "Associations",
    "CompaniesStream",
    "ContactsStream",
    "DealsStream",
    "ListStream",
    "ObjectStream",
    "OwnersStream",
    "SearchPaginator",
    "SearchStream",
    "iso_ms",
]

log = structlog.get_logger("cintel_hubspot")

Record = dict[str, Any]

#: The last-modified property search filters and sorts on.
CURSOR_PROPERTY: dict[str, str] = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
#: HubSpot's cap on ``inputs`` of an associations batch read.
ASSOCIATIONS_BATCH = 1000


def iso_ms(value: Any) -> str | None:
    """``2024-05-01T08:00:03.000Z``: one fixed-width UTC form, so text order is time order.

    HubSpot writes ``…:03Z`` when the milliseconds are zero and ``…:03.120Z`` otherwise;
    compared as text, ``03Z`` would sort after ``03.5Z``.
    """
    when = parse_datetime(value)
    if when is None:
        return None
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{when.microsecond // 1000:03d}Z"


def _normalize(records: list[Record], cursor_property: str) -> list[Record]:
    """Set ``updatedAt`` from the last-modified property, in :func:`iso_ms` form."""
    for record in records:
        props = record.get("properties")
        value = props.get(cursor_property) if isinstance(props, dict) else None
        normalized = iso_ms(value or record.get("updatedAt"))
        if normalized is not None:
            record["updatedAt"] = normalized
    return records


def _bad_body(page: JsonResponse, message: str, client: HttpClient, stream: str) -> ResponseError:
    text = " ".join(page.response.content.decode("utf-8", "replace").split())
    return ResponseError(
        message,
        method=page.response.request.method,
        url=redact_url(page.response.request.url),
        status=page.response.status_code,
        body=redact(text[:300] + ("…" if len(text) > 300 else "")),
        source=client.source,
        stream=stream,
    )


class SearchPaginator(CursorPaginator):
    """Search paging (``after`` in the JSON body) that steps back when ``total`` shrinks.

    Search's ``after`` is an offset. A record modified during the read leaves the
    result set (its new date is past the read's upper bound) and every record after
    it moves one place up, so the page just read may have started past records never
    read. When ``total`` drops by *d* between two pages, the next request starts *d*
    places before the page just read (even when HubSpot says it was the last);
    records read twice are merged by id. ``total`` only ever drops (nothing can
    enter a result set whose upper bound is in the past), so this ends.
    """

    def __init__(self, *, limit: int, max_results: int) -> None:
        super().__init__(
            cursor_path="paging.next.after",
            param="after",
            in_json=True,
            limit_param="limit",
            limit=limit,
            max_results=max_results,
        )
        self._total: int | None = None

    def first(self) -> PageRequest:
        self._total = None
        return super().first()

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        request = super()._next(page, records)
        total = select(page.body, "total")
        if not isinstance(total, int) or isinstance(total, bool):
            return request
        previous, self._total = self._total, total
        if previous is None or total >= previous:
            return request
        start = _offset_of(page.response.request)
        if start is None:
            return request  # not an offset: nothing to adjust
        back = str(max(0, start - (previous - total)))
        log.info("search results shifted; stepping back", after=back)
        return self._sized({self.param: back})


def _offset_of(request: httpx.Request) -> int | None:
    """The ``after`` a search request sent, as a number (0 for the first page)."""
    try:
        body = json.loads(request.content or b"{}")
        return int(body.get("after") or 0) if isinstance(body, dict) else None
    except (TypeError, ValueError):
        return None


class ListStream(HttpStream):
    """``GET /crm/v3/objects/{type}``: every record, keyset-paged by id."""

    method = "GET"
    record_path = "results"
    primary_key = ("id",)

    def __init__(
        self, client: HttpClient, object_type: ObjectType, properties: list[str], *, page_size: int
    ) -> None:
        super().__init__(client)
        self.name = object_type
        self.path = f"/crm/v3/objects/{object_type}"
        self.cursor_property = CURSOR_PROPERTY[object_type]
        self.params = {"limit": page_size, "properties": ",".join(properties), "archived": "false"}

    def paginator(self) -> CursorPaginator:
        return CursorPaginator(cursor_path="paging.next.after", param="after")

    def transform(self, records: list[Record]) -> list[Record]:
        return _normalize(records, self.cursor_property)


class SearchStream(HttpStream):
    """``POST /crm/v3/objects/{type}/search``: modified in ``[cursor, until)``, ascending."""

    method = "POST"
    record_path = "results"
    primary_key = ("id",)
    cursor_field = "updatedAt"
    cursor_format = "epoch_ms"

    def __init__(
        self,
        client: HttpClient,
        object_type: ObjectType,
        properties: list[str],
        *,
        page_size: int,
        max_results: int,
    ) -> None:
        super().__init__(client)
        self.name = object_type
        self.path = f"/crm/v3/objects/{object_type}/search"
        self.cursor_property = prop = CURSOR_PROPERTY[object_type]
        self.page_size = page_size
        self.max_results = max_results
        self.json_body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": prop, "operator": "GTE", "value": "{{ cursor }}"},
                        {"propertyName": prop, "operator": "LT", "value": "{{ config.until }}"},
                    ]
                }
            ],
            "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
            "properties": properties,
        }

    def paginator(self) -> SearchPaginator:
        return SearchPaginator(limit=self.page_size, max_results=self.max_results)

    def transform(self, records: list[Record]) -> list[Record]:
        return _normalize(records, self.cursor_property)


class Associations:
    """Associated record ids of many records at once (v4 ``batch/read``).

    One request per 1,000 records; a record with more associations than one
    answer holds is asked again with its ``after``, batched with the others.
    """

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def read(
        self, from_type: str, to_type: str, ids: Sequence[str], *, stream: str
    ) -> dict[str, list[str]]:
        """``{id: [associated ids]}`` for every id (an empty list when there are none)."""
        found: dict[str, list[str]] = {i: [] for i in ids}
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        unique = list(found)
        for start in range(0, len(unique), ASSOCIATIONS_BATCH):
            chunk = unique[start : start + ASSOCIATIONS_BATCH]
            inputs: list[dict[str, str]] = [{"id": i} for i in chunk]
            while inputs:
                page = self.client.post_json(path, json={"inputs": inputs}, stream=stream)
                inputs = []
                for result in self._results(page, stream):
                    source_id = str(select(result, "from.id", ""))
                    targets = found.get(source_id)
                    if targets is None:
                        continue  # not asked for
                    for target in result.get("to") or ():
                        to_id = target.get("toObjectId") if isinstance(target, dict) else None
                        if to_id is not None:
                            targets.append(str(to_id))
                    after = select(result, "paging.next.after")
                    if after:
                        inputs.append({"id": source_id, "after": str(after)})
        for key, targets in found.items():
            found[key] = sorted(set(targets), key=_id_order)
        return found

    def _results(self, page: JsonResponse, stream: str) -> list[dict[str, Any]]:
        body = page.body
        try:
            results = select_required(body, "results")
        except LookupError:
            keys = ", ".join(sorted(body)) if isinstance(body, dict) else type(body).__name__
            raise _bad_body(
                page, f"an associations answer without 'results' ({keys})", self.client, stream
            ) from None
        if not isinstance(results, list):
            raise _bad_body(page, "associations 'results' is not a list", self.client, stream)
        return [r for r in results if isinstance(r, dict)]


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


class _Guarded(Stream):
    """Turns HubSpot's refusals into messages that say what to do."""

    def __init__(self, quota: HubSpotQuota, source: str | None) -> None:
        self.quota = quota
        self.source = source

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        try:
            yield from self._read(dict(state or {}))
        except DailyLimitError:
            raise self.quota.error(source=self.source, stream=self.name) from None
        except RateLimitError as exc:
            if self.quota.exhausted:
                raise self.quota.error(source=self.source, stream=self.name) from exc
            raise
        except AuthError as exc:
            raise explain_auth_error(exc) from None

    def _read(self, state: dict[str, Any]) -> Iterator[RecordBatch]:
        raise NotImplementedError


class ObjectStream(_Guarded):
    """A CRM object type: list phase, then search phase, each batch with its associations."""

    def __init__(
        self,
        object_type: ObjectType,
        section: ObjectConfig,
        config: HubSpotConfig,
        *,
        client: HttpClient,
        search_client: HttpClient,
        quota: HubSpotQuota,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(quota, client.source)
        self.name = object_type
        self.primary_key = ("id",)
        self.cursor_field = "updatedAt" if section.incremental else None
        self.section = section
        self.config = config
        self.now = now
        self.cursor_property = CURSOR_PROPERTY[object_type]
        props = [*section.properties, *section.extra_properties]
        props += [self.cursor_property, "hs_object_id"]
        self.properties = list(dict.fromkeys(props))
        self.associations = [t for t in section.associations if t != object_type]
        self._list = ListStream(client, object_type, self.properties, page_size=config.page_size)
        self._search = SearchStream(
            search_client,
            object_type,
            self.properties,
            page_size=config.search_page_size,
            max_results=config.search_max_results,
        )
        self._associations = Associations(client)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- reading ----------------------------------------------------------------------
    def _settled(self) -> str:
        """The upper bound of a read: now less the search index's settling time."""
        moment = self.now() - timedelta(seconds=self.config.settle_seconds)
        return iso_ms(moment) or ""

    def _start(self) -> str | None:
        start = self.config.start_date
        return iso_ms(start) if start is not None else None

    def _read(self, state: dict[str, Any]) -> Iterator[RecordBatch]:
        phase = state.get("phase")
        watermark = (state.get("cursor") or {}).get("watermark")
        incremental = self.cursor_field is not None
        if incremental and (
            phase == "search" or (phase is None and (watermark is not None or self._start()))
        ):
            yield from self._read_search(state)
        else:
            yield from self._read_list(state if phase == "list" else {})

    def _read_list(self, state: dict[str, Any]) -> Iterator[RecordBatch]:
        started = state.get("list_started") or self._settled()
        done: dict[str, Any] = (
            {"cursor": {"watermark": started, "boundary": []}} if self.cursor_field else {}
        )
        self._list.batch_size = self.batch_size
        for batch in self._list.read(state.get("inner")):
            inner = batch.state
            if inner is not None and "page" in inner:
                out: Mapping[str, Any] = {"phase": "list", "list_started": started, "inner": inner}
            else:  # the walk is over: the next run searches from when it started
                out = done
            yield RecordBatch(self._enrich(batch.records), state=out)

    def _read_search(self, state: dict[str, Any]) -> Iterator[RecordBatch]:
        if state.get("phase") == "search":
            until = state["until"]
            inner = state.get("inner")
        else:
            until = self._settled()
            inner = {"cursor": state["cursor"]} if state.get("cursor") else None
        self._search.config_values = {"until": str(math.floor(_epoch_ms(until)))}
        self._search.start = self._start()
        self._search.batch_size = self.batch_size
        for batch in self._search.read(inner):
            st = batch.state
            out: Mapping[str, Any] | None
            if st is None:
                out = None
            elif "query_from" not in st:
                out = st  # the read finished: the tracker's complete state
            elif "page" not in st:
                # the last page: the read is complete once this batch is stored
                tracker = CursorTracker(
                    st.get("cursor"), cursor_field="updatedAt", primary_key=self.primary_key
                )
                out = {"cursor": tracker.complete()}
            else:
                out = {"phase": "search", "until": until, "inner": st}
            yield RecordBatch(self._enrich(batch.records), state=out)

    def _enrich(self, records: list[Record]) -> list[Record]:
        if not records or not self.associations:
            return records
        ids = [str(r["id"]) for r in records if r.get("id") is not None]
        for target in self.associations:
            found = self._associations.read(self.name, target, ids, stream=self.name)
            for record in records:
                links = record.get("associations")
                if not isinstance(links, dict):
                    links = record["associations"] = {}
                links[target] = found.get(str(record.get("id")), [])
        return records

    def json_schema(self) -> dict[str, Any]:
        text = {"type": ["string", "null"]}
        stamp = {"type": "string", "format": "date-time"}
        ids = {"type": "array", "items": {"type": "string"}}
        return {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "properties": {
                    "type": "object",
                    "properties": {name: text for name in self.properties},
                    "additionalProperties": True,
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": {"type": "boolean"},
                "associations": {
                    "type": "object",
                    "properties": {name: ids for name in self.associations},
                },
            },
            "required": ["id"],
            "additionalProperties": True,
        }


class ContactsStream(ObjectStream):
    """Contacts, mapped onto ``source_profiles``."""

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        return contacts_to_canonical(records)


class CompaniesStream(ObjectStream):
    """Companies: accounts, not people; the raw table only."""


class DealsStream(ObjectStream):
    """Deals; won ones mapped onto ``conversions``."""

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        section = self.section
        if not isinstance(section, DealsConfig):  # pragma: no cover - built by the connector
            raise TypeError("the deals stream needs a DealsConfig")
        return deals_to_canonical(records, section)


def _epoch_ms(value: str) -> float:
    when = parse_datetime(value)
    if when is None:
        raise ValueError(f"not a date-time: {value!r}")
    return when.timestamp() * 1000


class _OwnersList(HttpStream):
    name = "owners"
    path = "/crm/v3/owners"
    record_path = "results"
    primary_key = ("id",)

    def __init__(self, client: HttpClient, page_size: int) -> None:
        super().__init__(client)
        self.params = {"limit": page_size, "archived": "false"}

    def paginator(self) -> CursorPaginator:
        return CursorPaginator(cursor_path="paging.next.after", param="after")


class OwnersStream(_Guarded):
    """``GET /crm/v3/owners``: the account's users, full refresh (raw table only)."""

    def __init__(self, client: HttpClient, quota: HubSpotQuota, *, page_size: int) -> None:
        super().__init__(quota, client.source)
        self.name = "owners"
        self.primary_key = ("id",)
        self._inner = _OwnersList(client, page_size)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def _read(self, state: dict[str, Any]) -> Iterator[RecordBatch]:
        self._inner.batch_size = self.batch_size
        yield from self._inner.read(state)


def utc_now() -> datetime:
    """The current time, UTC (the default clock of the streams)."""
    return datetime.now(tz=UTC)
