"""Connectors defined in YAML alone.

A manifest (see ``docs/declarative.md`` and its JSON Schema) describes the base
URL, auth, rate limits and streams: path, params, record selector, paginator,
incremental cursor, primary key and the mapping onto canonical tables. Use it
from ``cintel.yaml`` by path::

    sources:
      crm:
        connector: ./acme.cintel.yaml
        config: {api_token: "${ACME_TOKEN}"}

or ship it as a plugin::

    @hookimpl
    def cintel_connectors(register):
        register(load_connector(Path(__file__).with_name("manifest.yaml")))
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model

from cintel.config import format_validation_error, is_manifest_reference
from cintel.declarative.manifest import (
    Manifest,
    PaginatorSpec,
    StreamSpec,
)
from cintel.errors import ConfigError, HttpError
from cintel.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    FileSecretStore,
    OAuth2RefreshToken,
)
from cintel.http.client import HttpClient
from cintel.http.paginate import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePage,
    TokenPaginator,
    select,
)
from cintel.http.ratelimit import RateLimiter
from cintel.http.retry import RetryPolicy
from cintel.http.stream import HttpStream, render
from cintel.mapping import map_records
from cintel.source import CheckResult, Connector, ConnectorConfig, ConnectorContext, Record, Stream

__all__ = [
    "DeclarativeConnector",
    "DeclarativeStream",
    "Manifest",
    "connector_class",
    "is_manifest_reference",
    "load_connector",
    "load_manifest",
    "manifest_json_schema",
]

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict[str, Any],
    "array": list[Any],
}


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; errors name the file and the field path."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except FileNotFoundError:
        raise ConfigError(f"connector manifest not found: {file}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(file)) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, ""), file=str(file)) from None


def manifest_json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (published as ``docs/declarative-manifest.schema.json``)."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cintel declarative connector manifest"
    return schema


def _config_model(manifest: Manifest) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, spec in manifest.config.items():
        typ: Any = SecretStr if spec.secret else _TYPES[spec.type]
        if not spec.required:
            typ = typ | None
        default = ... if spec.required else spec.default
        fields[name] = (typ, Field(default, description=spec.description or None))
    model: type[BaseModel] = create_model(
        f"{manifest.name.title().replace('-', '').replace('_', '')}Config",
        __base__=ConnectorConfig,
        **fields,
    )
    return model


def _revealed(config: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(config).model_fields:
        value = getattr(config, name)
        out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return out


def _paginator(spec: PaginatorSpec) -> Paginator:
    cap = spec.max_results
    if spec.type == "cursor":
        return CursorPaginator(
            cursor_path=spec.cursor_path or "",
            param=spec.param or "",
            in_json=spec.in_json,
            stop_path=spec.stop_path,
            limit_param=spec.limit_param,
            limit=spec.limit,
            max_results=cap,
        )
    if spec.type == "next_url":
        return NextUrlPaginator(
            url_path=spec.url_path or "", stop_path=spec.stop_path, max_results=cap
        )
    if spec.type == "link_header":
        return LinkHeaderPaginator(max_results=cap)
    if spec.type == "offset":
        return OffsetPaginator(
            limit=spec.limit or 100,
            offset_param=spec.offset_param,
            limit_param=spec.limit_param or "limit",
            total_path=spec.total_path,
            start=spec.start or 0,
            short_page_ends=True if spec.short_page_ends is None else spec.short_page_ends,
            in_json=spec.in_json,
            max_results=cap,
        )
    if spec.type == "page_number":
        return PageNumberPaginator(
            page_param=spec.page_param,
            start=1 if spec.start is None else spec.start,
            size_param=spec.limit_param,
            size=spec.limit,
            pages_path=spec.pages_path,
            short_page_ends=bool(spec.short_page_ends),
            max_results=cap,
        )
    if spec.type == "token":
        return TokenPaginator(
            param=spec.param or "",
            token_field=spec.token_field or "",
            limit_param=spec.limit_param,
            limit=spec.limit,
            max_results=cap,
        )
    return SinglePage()


class DeclarativeStream(HttpStream):
    """A stream built from a manifest's ``streams[]`` entry."""

    def __init__(self, spec: StreamSpec, client: HttpClient, config: Mapping[str, Any]) -> None:
        super().__init__(client)
        self.spec = spec
        self.name = spec.name
        self.path = spec.path
        self.method = spec.method
        self.params = spec.params
        self.json_body = spec.json_body
        self.record_path = spec.record_path
        self.record_path_optional = spec.record_path_optional
        self.primary_key = tuple(spec.primary_key)
        self.write_disposition = spec.write_disposition
        self.config_values = config
        inc = spec.incremental
        if inc is not None:
            self.cursor_field = inc.cursor_field
            self.cursor_param = inc.param
            self.cursor_format = inc.format
            self.start = render(inc.start, {"config": config}) if inc.start is not None else None
            self.lookback = inc.lookback_seconds
            if inc.slice_days:
                self.slice_step = timedelta(days=inc.slice_days)

    def paginator(self) -> Paginator:
        return _paginator(self.spec.paginator)

    def json_schema(self) -> dict[str, Any]:
        return self.spec.json_schema or super().json_schema()

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        return map_records(self.spec.canonical, records)


class DeclarativeConnector(Connector):
    """Base of every connector class made from a manifest."""

    manifest: ClassVar[Manifest]
    source_file: ClassVar[Path | None] = None

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        super().__init__(config, context=context)
        self._values = _revealed(config)
        m = self.manifest
        self._limiter = RateLimiter(
            requests=m.rate_limit.requests,
            per=m.rate_limit.per,
            max_concurrency=m.rate_limit.max_concurrency,
        )
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        """The HTTP client every stream of this source shares (and its rate limit)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _auth(self) -> Any:
        auth = self.manifest.auth
        ctx = {"config": self._values}
        if auth.type == "api_key":
            return ApiKeyAuth(
                str(render(auth.key, ctx)),
                header=auth.header or "X-API-Key",
                param=auth.param,
                prefix=auth.prefix,
            )
        if auth.type == "bearer":
            return BearerAuth(str(render(auth.token, ctx)))
        if auth.type == "basic":
            return BasicAuth(str(render(auth.username, ctx)), str(render(auth.password, ctx)))
        if auth.type == "oauth2_refresh":
            store = FileSecretStore(self.context.base_dir / auth.secret_store)
            return OAuth2RefreshToken(
                token_url=str(render(auth.token_url, ctx)),
                client_id=str(render(auth.client_id, ctx)),
                client_secret=str(render(auth.client_secret, ctx)),
                refresh_token=str(render(auth.refresh_token, ctx)),
                store=store,
                store_key=f"{self.context.source}:{self.manifest.name}:refresh_token",
                scope=auth.scope,
                client_auth=auth.client_auth,
            )
        return None

    def _make_client(self) -> HttpClient:
        m = self.manifest
        ctx = {"config": self._values}
        error = m.error
        error_check = None
        if error is not None:

            def error_check(_response: Any, body: Any) -> str | None:
                value = select(body, error.path)
                hit = value is not None if error.equals is None else value == error.equals
                if not hit:
                    return None
                message = select(body, error.message_path) if error.message_path else None
                return str(message or value)

        return HttpClient(
            base_url=str(render(m.base_url, ctx)),
            auth=self._auth(),
            headers={k: str(render(v, ctx)) for k, v in m.headers.items()},
            timeout=m.timeout,
            retry=RetryPolicy(
                max_attempts=m.retry.max_attempts,
                max_wait=m.retry.max_wait,
                statuses=frozenset(m.retry.statuses),
                backoff_initial=m.retry.backoff_initial,
                backoff_max=m.retry.backoff_max,
            ),
            limiter=self._limiter,
            error_check=error_check,
            source=self.context.source,
        )

    def check(self) -> CheckResult:
        m = self.manifest
        try:
            if m.check is not None:
                self.client.get_json(m.check.path, params=m.check.params or None)
            else:
                stream = self.streams()[0]
                assert isinstance(stream, DeclarativeStream)  # noqa: S101
                url, kwargs = stream._request(
                    stream.paginator().first(), stream._context(None, None)
                )
                self.client.request_json(stream.method, url, stream=stream.name, **kwargs)
        except HttpError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"connected to {self.client._url(self.client.base_url)}")

    def streams(self) -> list[Stream]:
        return [DeclarativeStream(s, self.client, self._values) for s in self.manifest.streams]

    def close(self) -> None:
        """Close the shared HTTP client (a new one is made when needed again)."""
        if self._client is not None:
            self._client.close()
            self._client = None


def connector_class(manifest: Manifest, *, source_file: Path | None = None) -> type[Connector]:
    """A :class:`~cintel.source.Connector` subclass made from ``manifest``."""
    attrs: dict[str, Any] = {
        "name": manifest.name,
        "Config": _config_model(manifest),
        "manifest": manifest,
        "source_file": source_file,
        "__doc__": manifest.description or f"Declarative connector {manifest.name!r}.",
    }
    cls = type(f"Declarative_{manifest.name.replace('-', '_')}", (DeclarativeConnector,), attrs)
    return cls


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> type[Connector]:
    return connector_class(load_manifest(path), source_file=Path(path))


def load_connector(path: str | Path) -> type[Connector]:
    """Load a manifest file into a connector class (cached until the file changes)."""
    file = Path(path).resolve()
    try:
        mtime = file.stat().st_mtime
    except FileNotFoundError:
        raise ConfigError(f"connector manifest not found: {path}") from None
    return _load_cached(str(file), mtime)
