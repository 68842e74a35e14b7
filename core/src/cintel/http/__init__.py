"""The connector toolkit's HTTP layer: httpx with retries, rate limits, auth and paging.

==========================  ===========================================================
:class:`HttpClient`         sync client (thread-safe), :class:`AsyncHttpClient` its twin
:class:`RetryPolicy`        what is retried and for how long (server hints first)
:class:`RateLimiter`        requests per window + concurrency + server quota, per source
auth                        :class:`ApiKeyAuth`, :class:`BearerAuth`, :class:`BasicAuth`,
                            :class:`OAuth2RefreshToken` with a :class:`SecretStore`
paginators                  cursor, next URL, ``Link`` header, offset, page number, token
:class:`HttpStream`         a paginated, incremental, resumable stream
:class:`PartitionedStream`  one child stream per parent (members per list), state per parent
==========================  ===========================================================
"""

from __future__ import annotations

from cintel.http._util import redact_url
from cintel.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    FileSecretStore,
    MemorySecretStore,
    OAuth2RefreshToken,
    SecretStore,
)
from cintel.http.client import AsyncHttpClient, ErrorCheck, HttpClient, JsonResponse
from cintel.http.incremental import date_slices, format_cursor, parse_datetime, shift_cursor
from cintel.http.paginate import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    Paginator,
    PathNotFound,
    QueryCapReached,
    SinglePage,
    TokenPaginator,
    select,
    select_required,
)
from cintel.http.partition import Partition, PartitionedStream
from cintel.http.ratelimit import RateLimiter
from cintel.http.retry import RetryPolicy, parse_quota, parse_retry_after
from cintel.http.stream import HttpStream, render

__all__ = [
    "ApiKeyAuth",
    "AsyncHttpClient",
    "BasicAuth",
    "BearerAuth",
    "CursorPaginator",
    "ErrorCheck",
    "FileSecretStore",
    "HttpClient",
    "HttpStream",
    "JsonResponse",
    "LinkHeaderPaginator",
    "MemorySecretStore",
    "NextUrlPaginator",
    "OAuth2RefreshToken",
    "OffsetPaginator",
    "PageNumberPaginator",
    "PageRequest",
    "Paginator",
    "Partition",
    "PartitionedStream",
    "PathNotFound",
    "QueryCapReached",
    "RateLimiter",
    "RetryPolicy",
    "SecretStore",
    "SinglePage",
    "TokenPaginator",
    "date_slices",
    "format_cursor",
    "parse_datetime",
    "parse_quota",
    "parse_retry_after",
    "redact_url",
    "render",
    "select",
    "select_required",
    "shift_cursor",
]
