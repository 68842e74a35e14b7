"""Paginators: how to ask for the next page, and how the API says there is none.

A paginator is small and stateful for one walk through a listing::

    paginator = OffsetPaginator(limit=100, total_path="total_items")
    request = paginator.first()       # PageRequest(params={"offset": 0, "limit": 100})
    while request is not None:
        page = client.get_json(url, params={**base, **request.params})
        records = select_required(page.body, "members")  # a misspelt path raises
        request = paginator.next(page, records)

``next`` returns ``None`` exactly when the vendor signals the end (see
``reference/apis.md``): no cursor (HubSpot ``paging.next``), a ``null`` next link
(Klaviyo), ``done: true`` (Salesforce), ``offset >= total`` (Mailchimp, GA4),
a short page (Matomo), an empty page (Typeform), the last page number, no
``Link: rel="next"``. A page request can be saved in stream state
(:meth:`PageRequest.to_state`) to resume a long listing after a crash.

``max_results`` caps how many records one query may return (HubSpot search
stops at 10,000 and answers 400 beyond): when it is reached :meth:`Paginator.next`
raises :class:`QueryCapReached`, and the stream restarts the query from the last
cursor value it saw (see :class:`cintel.http.stream.HttpStream`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from cintel.http.client import JsonResponse

__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "PathNotFound",
    "QueryCapReached",
    "SinglePage",
    "TokenPaginator",
    "select",
    "select_required",
]

_MISSING = object()


class PathNotFound(LookupError):
    """A dotted path is not in a JSON body: ``part`` is missing at ``where``.

    ``where`` is the path up to the level where the lookup failed (``""`` for the
    top level) and ``available`` describes what is there instead: the keys of an
    object, the length of a list, or the type of a scalar.
    """

    def __init__(self, path: str, part: str, where: str, available: str) -> None:
        self.path = path
        self.part = part
        self.where = where
        self.available = available
        at = f"under {where!r}" if where else "at the top level"
        super().__init__(f"path {path!r} not found: no {part!r} {at} ({available})")


def _available(value: Any, limit: int = 20) -> str:
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        if not keys:
            return "an empty object"
        shown = ", ".join(keys[:limit]) + (f", … ({len(keys)} keys)" if len(keys) > limit else "")
        return f"keys present: {shown}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return "the body is empty" if value is None else f"a {type(value).__name__}, not an object"


def _walk(body: Any, parts: Sequence[str]) -> tuple[Any, int]:
    """The value at ``parts``, or ``_MISSING`` and the index of the step that failed."""
    current = body
    for index, part in enumerate(parts):
        if isinstance(current, Mapping):
            nxt = current.get(part, _MISSING)
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            i = int(part)
            nxt = current[i] if -len(current) <= i < len(current) else _MISSING
        else:
            nxt = _MISSING
        if nxt is _MISSING:
            return _MISSING, index
        current = nxt
    return current, len(parts)


def _parts(path: str | Sequence[str]) -> list[str]:
    return path.split(".") if isinstance(path, str) else list(path)


def select(body: Any, path: str | Sequence[str] | None, default: Any = None) -> Any:
    """Value at a dotted ``path`` in a JSON body (``"paging.next.after"``, ``"items.0.id"``).

    ``None``, ``""`` or ``"$"`` is the body itself. A missing step gives ``default``
    (right for optional values: a cursor that is absent on the last page). For a
    value that must be there, such as the list of records, use :func:`select_required`.
    """
    if path is None or path in ("", "$"):
        return body
    value, _ = _walk(body, _parts(path))
    return default if value is _MISSING else value


def select_required(body: Any, path: str | Sequence[str] | None) -> Any:
    """Like :func:`select`, but a missing step raises :class:`PathNotFound`.

    A step that is present with the value ``null`` is not missing: ``null`` is returned.
    """
    if path is None or path in ("", "$"):
        return body
    parts = _parts(path)
    value, failed = _walk(body, parts)
    if value is _MISSING:
        level, _ = _walk(body, parts[:failed])
        raise PathNotFound(
            ".".join(parts), parts[failed], ".".join(parts[:failed]), _available(level)
        )
    return value


class QueryCapReached(Exception):
    """The API's cap on results per query is reached: restart the query from the last cursor."""

    def __init__(self, fetched: int) -> None:
        super().__init__(f"query returned its maximum of {fetched} results")
        self.fetched = fetched


@dataclass(slots=True)
class PageRequest:
    """What to change for the next request: query params, JSON body fields or the whole URL."""

    params: dict[str, Any] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)
    url: str | None = None

    def to_state(self) -> dict[str, Any]:
        """JSON-safe form for stream state."""
        return {"params": self.params, "json": self.json, "url": self.url}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PageRequest:
        """Inverse of :meth:`to_state`."""
        return cls(
            params=dict(state.get("params") or {}),
            json=dict(state.get("json") or {}),
            url=state.get("url"),
        )


class Paginator(ABC):
    """Base class: ``first()`` then ``next(page, records)`` until it returns ``None``."""

    def __init__(self, *, max_results: int | None = None) -> None:
        self.max_results = max_results
        self.fetched = 0

    def first(self) -> PageRequest:
        """Changes for the first request (page size, start offset)."""
        self.fetched = 0
        return PageRequest()

    def next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        """The next request, or ``None`` at the end; may raise :class:`QueryCapReached`."""
        self.fetched += len(records)
        request = self._next(page, records)
        if (
            request is not None
            and self.max_results is not None
            and self.fetched >= self.max_results
        ):
            raise QueryCapReached(self.fetched)
        return request

    @abstractmethod
    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None: ...


class SinglePage(Paginator):
    """No pagination: one request."""

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        return None


def _stop(body: Any, stop_path: str | None) -> bool:
    return stop_path is not None and select(body, stop_path) is True


class CursorPaginator(Paginator):
    """An opaque cursor in the body (``paging.next.after``), sent back as ``param``.

    ``in_json=True`` sends it in the JSON body instead (HubSpot search). The end
    is a missing/empty cursor or ``stop_path`` being ``true``.
    """

    def __init__(
        self,
        *,
        cursor_path: str,
        param: str,
        in_json: bool = False,
        stop_path: str | None = None,
        limit_param: str | None = None,
        limit: int | None = None,
        max_results: int | None = None,
    ) -> None:
        super().__init__(max_results=max_results)
        self.cursor_path = cursor_path
        self.param = param
        self.in_json = in_json
        self.stop_path = stop_path
        self.limit_param = limit_param
        self.limit = limit

    def _sized(self, values: dict[str, Any]) -> PageRequest:
        if self.limit_param and self.limit is not None:
            values = {self.limit_param: self.limit, **values}
        return PageRequest(json=values) if self.in_json else PageRequest(params=values)

    def first(self) -> PageRequest:
        super().first()
        return self._sized({})

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        cursor = select(page.body, self.cursor_path)
        if cursor in (None, "") or _stop(page.body, self.stop_path):
            return None
        return self._sized({self.param: cursor})


class NextUrlPaginator(Paginator):
    """The next page's URL in the body (Klaviyo ``links.next``, Salesforce ``nextRecordsUrl``).

    The URL may be relative: it is resolved against the URL of the page it came
    from (RFC 3986), so Salesforce's ``/services/data/v60.0/query/…`` keeps its
    host and does not get the client's base path prepended a second time. The
    end is a missing/``null`` URL or ``stop_path`` being ``true`` (Salesforce
    ``done``, Zendesk ``end_of_stream``).
    """

    def __init__(
        self, *, url_path: str, stop_path: str | None = None, max_results: int | None = None
    ) -> None:
        super().__init__(max_results=max_results)
        self.url_path = url_path
        self.stop_path = stop_path

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        url = select(page.body, self.url_path)
        if not url or _stop(page.body, self.stop_path):
            return None
        return PageRequest(url=str(page.response.url.join(str(url))))


class LinkHeaderPaginator(Paginator):
    """RFC 8288 ``Link: <…>; rel="next"`` header; the end is no such link."""

    def __init__(self, *, rel: str = "next", max_results: int | None = None) -> None:
        super().__init__(max_results=max_results)
        self.rel = rel

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        links = page.response.links
        target = links.get(self.rel, {}).get("url")
        if not target:
            return None
        return PageRequest(url=str(httpx.URL(page.response.url).join(target)))


class OffsetPaginator(Paginator):
    """``offset``/``limit`` parameters.

    The end, whichever comes first: ``offset + len(page) >= total`` when
    ``total_path`` names the total (Mailchimp ``total_items``, GA4 ``rowCount``,
    a missing total counting as the end of an empty report), an empty page, or
    a page shorter than ``limit`` (Matomo) unless ``short_page_ends=False``.
    """

    def __init__(
        self,
        *,
        limit: int,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total_path: str | None = None,
        start: int = 0,
        short_page_ends: bool = True,
        in_json: bool = False,
        max_results: int | None = None,
    ) -> None:
        super().__init__(max_results=max_results)
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total_path = total_path
        self.start = start
        self.short_page_ends = short_page_ends
        self.in_json = in_json
        self.offset = start

    def _request(self) -> PageRequest:
        values = {self.offset_param: self.offset, self.limit_param: self.limit}
        return PageRequest(json=values) if self.in_json else PageRequest(params=values)

    def first(self) -> PageRequest:
        super().first()
        self.offset = self.start
        return self._request()

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        if not records:
            return None
        self.offset += len(records)
        if self.total_path is not None:
            total = select(page.body, self.total_path)
            if total is None:
                return None
            if self.offset >= int(total):
                return None
        if self.short_page_ends and len(records) < self.limit:
            return None
        return self._request()


class PageNumberPaginator(Paginator):
    """``page=1, 2, …``; the end is ``page >= pages`` (``pages_path``), an empty or short page.

    With ``next_path`` the end is also that value being missing or empty
    (SurveyMonkey omits ``links.next`` on the last page).
    """

    def __init__(
        self,
        *,
        page_param: str = "page",
        start: int = 1,
        size_param: str | None = None,
        size: int | None = None,
        pages_path: str | None = None,
        short_page_ends: bool = False,
        next_path: str | None = None,
        max_results: int | None = None,
    ) -> None:
        super().__init__(max_results=max_results)
        self.next_path = next_path
        self.page_param = page_param
        self.start = start
        self.size_param = size_param
        self.size = size
        self.pages_path = pages_path
        self.short_page_ends = short_page_ends
        self.page = start

    def _request(self) -> PageRequest:
        params: dict[str, Any] = {self.page_param: self.page}
        if self.size_param and self.size is not None:
            params[self.size_param] = self.size
        return PageRequest(params=params)

    def first(self) -> PageRequest:
        super().first()
        self.page = self.start
        return self._request()

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        if not records:
            return None
        if self.pages_path is not None:
            pages = select(page.body, self.pages_path)
            if pages is not None and self.page - self.start + 1 >= int(pages):
                return None
        if self.short_page_ends and self.size is not None and len(records) < self.size:
            return None
        if self.next_path is not None and select(page.body, self.next_path) in (None, ""):
            return None
        self.page += 1
        return self._request()


class TokenPaginator(Paginator):
    """A token from the last record sent as ``before``/``after`` (Typeform ``before=<token>``).

    The end is an empty page.
    """

    def __init__(
        self,
        *,
        param: str,
        token_field: str,
        limit_param: str | None = None,
        limit: int | None = None,
        max_results: int | None = None,
    ) -> None:
        super().__init__(max_results=max_results)
        self.param = param
        self.token_field = token_field
        self.limit_param = limit_param
        self.limit = limit

    def _sized(self, values: dict[str, Any]) -> PageRequest:
        if self.limit_param and self.limit is not None:
            values = {self.limit_param: self.limit, **values}
        return PageRequest(params=values)

    def first(self) -> PageRequest:
        super().first()
        return self._sized({})

    def _next(self, page: JsonResponse, records: Sequence[Any]) -> PageRequest | None:
        if not records:
            return None
        token = select(records[-1], self.token_field)
        if token in (None, ""):
            return None
        return self._sized({self.param: token})
