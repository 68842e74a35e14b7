"""The declarative connector manifest: typed models validated at the boundary.

Every error names its path in the file (``streams[0].paginator.type: …``);
``cintel schema manifest`` prints the JSON Schema published in
``docs/declarative-manifest.schema.json`` for editor completion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cintel.http.incremental import CursorFormat
from cintel.mapping import CanonicalSpec, FieldSpec

__all__ = [
    "AuthSpec",
    "CanonicalSpec",
    "CheckSpec",
    "ConfigField",
    "ErrorSpec",
    "FieldSpec",
    "IncrementalSpec",
    "Manifest",
    "PaginatorSpec",
    "RateLimitSpec",
    "RetrySpec",
    "StreamSpec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigField(_Strict):
    """One setting users give in ``cintel.yaml`` under the source's ``config``."""

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = Field(
        "string", description="JSON type of the setting."
    )
    secret: bool = Field(False, description="A secret: redacted in logs, errors and reprs.")
    required: bool = Field(False, description="The setting must be given.")
    default: Any = Field(None, description="Value when the setting is not given.")
    description: str = Field("", description="Shown in errors and generated docs.")


class _ApiKey(_Strict):
    type: Literal["api_key"] = Field(description="An API key in a header or a query parameter.")
    key: str = Field(description='Template of the key, e.g. "{{ config.api_key }}".')
    header: str | None = Field("X-API-Key", description="Header that carries the key.")
    param: str | None = Field(None, description="Query parameter instead of a header.")
    prefix: str = Field("", description='Text before the key in the header ("Klaviyo-API-Key ").')


class _Bearer(_Strict):
    type: Literal["bearer"] = Field(description="Authorization: Bearer <token>.")
    token: str = Field(description='Template of the token, e.g. "{{ config.token }}".')


class _Basic(_Strict):
    type: Literal["basic"] = Field(description="HTTP basic auth.")
    username: str = Field(description="User name (template).")
    password: str = Field(description="Password or key (template).")


class _OAuth2(_Strict):
    type: Literal["oauth2_refresh"] = Field(description="OAuth 2.0 refresh-token grant.")
    token_url: str = Field(description="Token endpoint URL (template).")
    client_id: str = Field(description="Client id (template).")
    client_secret: str = Field(description="Client secret (template).")
    refresh_token: str = Field(description="Initial refresh token (template).")
    scope: str | None = Field(None, description="Scopes to request.")
    client_auth: Literal["body", "basic"] = Field(
        "body", description="Send client credentials in the form body or as basic auth."
    )
    secret_store: str = Field(
        ".cintel/secrets.json",
        description="File (relative to cintel.yaml) where a rotated refresh token is kept.",
    )


class _NoAuth(_Strict):
    type: Literal["none"] = Field(description="No authentication.")


AuthSpec = Annotated[_ApiKey | _Bearer | _Basic | _OAuth2 | _NoAuth, Field(discriminator="type")]


class RateLimitSpec(_Strict):
    """Client-side limits shared by every stream of the source."""

    requests: int | None = Field(None, ge=1, description="Requests allowed per window.")
    per: float = Field(1.0, gt=0, description="Window length in seconds.")
    max_concurrency: int | None = Field(None, ge=1, description="Requests in flight at once.")


class RetrySpec(_Strict):
    """Retry settings (see cintel.http.RetryPolicy)."""

    max_attempts: int = Field(8, ge=1, description="Attempts per request, the first included.")
    max_wait: float = Field(300.0, ge=0, description="Total seconds of waiting per request.")
    statuses: list[int] = Field(
        default_factory=lambda: [429, 500, 502, 503, 504], description="Statuses retried."
    )
    backoff_initial: float = Field(
        0.5, ge=0, description="First backoff wait in seconds when the server gives no hint."
    )
    backoff_max: float = Field(30.0, ge=0, description="Longest single backoff wait in seconds.")


class ErrorSpec(_Strict):
    """An error inside a successful response (Matomo's ``{"result": "error"}``)."""

    path: str = Field(description="Dotted path of the field that signals the error.")
    equals: Any = Field(None, description="The value that means error; any value when omitted.")
    message_path: str | None = Field(None, description="Dotted path of the error message.")


class CheckSpec(_Strict):
    """The cheap request ``check()`` sends."""

    path: str = Field(description="Path requested by `cintel check`.")
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")


class PaginatorSpec(_Strict):
    """How to request the next page and how the API signals the end."""

    type: Literal["none", "cursor", "next_url", "link_header", "offset", "page_number", "token"] = (
        Field(description="Pagination style.")
    )
    cursor_path: str | None = Field(None, description="cursor: dotted path of the next cursor.")
    param: str | None = Field(None, description="cursor/token: parameter that sends it back.")
    in_json: bool = Field(False, description="Send paging values in the JSON body (POST).")
    url_path: str | None = Field(None, description="next_url: dotted path of the next URL.")
    stop_path: str | None = Field(None, description="A boolean that is true on the last page.")
    limit: int | None = Field(None, ge=1, description="Page size.")
    limit_param: str | None = Field(None, description="Parameter that sends the page size.")
    offset_param: str = Field("offset", description="offset: the offset parameter.")
    total_path: str | None = Field(None, description="offset: dotted path of the total count.")
    page_param: str = Field("page", description="page_number: the page parameter.")
    start: int | None = Field(None, description="First offset (0) or page number (1).")
    pages_path: str | None = Field(None, description="page_number: path of the page count.")
    token_field: str | None = Field(None, description="token: field of the last record.")
    short_page_ends: bool | None = Field(None, description="A short page is the last one.")
    max_results: int | None = Field(
        None, ge=1, description="Results one query may return before it must be restarted."
    )

    @model_validator(mode="after")
    def _needs(self) -> PaginatorSpec:
        required = {
            "cursor": ("cursor_path", "param"),
            "next_url": ("url_path",),
            "offset": ("limit",),
            "token": ("param", "token_field"),
        }.get(self.type, ())
        missing = [name for name in required if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"paginator type {self.type!r} needs {', '.join(missing)}")
        return self


class IncrementalSpec(_Strict):
    """Incremental reads on a cursor field."""

    cursor_field: str = Field(description="Record field that grows with each change.")
    param: str | None = Field(
        None, description="Query parameter that receives the lower bound (inclusive)."
    )
    format: CursorFormat = Field("raw", description="How the bound is written in the query.")
    start: Any = Field(None, description="Bound of the first run (template allowed).")
    lookback_seconds: float = Field(0, ge=0, description="History re-read every run.")
    slice_days: float | None = Field(None, gt=0, description="Backfill in windows of N days.")


class StreamSpec(_Strict):
    """One stream of the connector."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stream (table) name.")
    path: str = Field(description="Request path (template), relative to base_url.")
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method.")
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")
    json_body: dict[str, Any] | None = Field(None, description="JSON body (POST search).")
    record_path: str | None = Field(
        None,
        description="Dotted path of the record list; omitted: the body is the list. A path "
        "missing from a response is an error naming the keys present.",
    )
    record_path_optional: bool = Field(
        False,
        description="The API omits the record list on an empty page (GA4 leaves out `rows`): "
        "a missing record_path reads as an empty page instead of an error.",
    )
    primary_key: list[str] = Field(default_factory=list, description="Primary key fields.")
    write_disposition: Literal["append", "merge", "replace"] | None = Field(
        None, description="Default: merge with a primary key, else append."
    )
    paginator: PaginatorSpec = Field(
        default_factory=lambda: PaginatorSpec(type="none"), description="Pagination."
    )
    incremental: IncrementalSpec | None = Field(None, description="Incremental reads.")
    canonical: list[CanonicalSpec] = Field(
        default_factory=list, description="Mapping onto canonical tables."
    )
    json_schema: dict[str, Any] | None = Field(None, description="JSON Schema of the records.")


class Manifest(_Strict):
    """A connector defined in YAML alone."""

    version: Literal[1] = Field(1, description="Manifest format version.")
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", description="Connector name.")
    description: str = Field("", description="One line about the source.")
    config: dict[str, ConfigField] = Field(
        default_factory=dict, description="Settings users give in cintel.yaml."
    )
    base_url: str = Field(description="Base URL of the API (template).")
    auth: AuthSpec = Field(
        default_factory=lambda: _NoAuth(type="none"), description="Authentication."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec, description="Client limits.")
    retry: RetrySpec = Field(default_factory=RetrySpec, description="Retries.")
    timeout: float = Field(30.0, gt=0, description="Seconds per request.")
    error: ErrorSpec | None = Field(None, description="Errors inside 200 responses.")
    check: CheckSpec | None = Field(None, description="Request used by `cintel check`.")
    streams: list[StreamSpec] = Field(min_length=1, description="The streams.")

    @model_validator(mode="after")
    def _unique_streams(self) -> Manifest:
        names = [s.name for s in self.streams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stream names must be unique; repeated: {', '.join(dupes)}")
        return self
