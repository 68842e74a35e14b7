"""The ``typeform`` connector: forms (declarative) and responses (Python).

``forms`` is the ``streams[0]`` of ``manifest.yaml`` beside this module, built
with :class:`~cintel.declarative.DeclarativeStream` on the connector's client;
``responses`` is :class:`~cintel_typeform.responses.Responses`. One
:class:`~cintel.http.HttpClient` and :class:`~cintel.http.RateLimiter` (2 requests
a second: Typeform's limit per account) serve both. The transport, clock and
sleep are injectable for tests (keyword-only)::

    TypeformConnector(config, context=ctx, transport=..., clock=fake, sleep=fake.sleep)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from cintel import AuthError, CheckResult, Connector, ConnectorContext, HttpError, Stream
from cintel.declarative import DeclarativeStream, load_manifest
from cintel.declarative.manifest import Manifest, StreamSpec
from cintel.http import BearerAuth, HttpClient, RateLimiter, RetryPolicy
from pydantic import BaseModel

from cintel_typeform.config import DEFAULT_BASE_URL, EU_BASE_URL, TypeformConfig
from cintel_typeform.responses import Responses

__all__ = ["MANIFEST_PATH", "TypeformConnector", "manifest"]

#: The declarative part of the connector (the forms stream).
MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")


@functools.cache
def manifest() -> Manifest:
    """The validated ``manifest.yaml`` (read once)."""
    return load_manifest(MANIFEST_PATH)


def _forms_spec() -> StreamSpec:
    return next(s for s in manifest().streams if s.name == "forms")


def vendor_error(body: str) -> str | None:
    """``CODE: description`` from a Typeform error body (``{"code", "description"}``)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    code, text = data.get("code"), data.get("description")
    parts = [str(p) for p in (code, text) if p]
    return ": ".join(parts) or None


class TypeformConnector(Connector):
    """Typeform: forms and their responses, incremental, 2 requests a second."""

    name = "typeform"
    Config = TypeformConfig

    def __init__(
        self,
        config: BaseModel,
        *,
        context: ConnectorContext,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(config, context=context)
        if not isinstance(config, TypeformConfig):
            raise TypeError(f"expected a TypeformConfig, got {type(config).__name__}")
        self.settings = config
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        """The HTTP client (and rate limit) every stream of this source shares."""
        if self._client is None:
            cfg = self.settings
            self._client = HttpClient(
                base_url=cfg.base_url,
                auth=BearerAuth(cfg.token),
                timeout=cfg.timeout,
                retry=RetryPolicy(),  # 429 and 5xx; Retry-After honoured when present
                limiter=RateLimiter(
                    requests=1,
                    per=1.0 / cfg.requests_per_second,  # evenly spaced, never a burst
                    clock=self._clock,
                    sleep=self._sleep,
                ),
                transport=self._transport,
                sleep=self._sleep,
                source=self.context.source,
            )
        return self._client

    def forms(self) -> DeclarativeStream:
        """The ``forms`` stream, as ``manifest.yaml`` declares it."""
        return DeclarativeStream(_forms_spec(), self.client, {"base_url": self.settings.base_url})

    def _list_forms(self) -> Iterator[dict[str, Any]]:
        for batch in self.forms().read(None):
            yield from batch.records

    def check(self) -> CheckResult:
        check = manifest().check
        path, params = (check.path, check.params) if check else ("/forms", {"page_size": 1})
        try:
            body = self.client.get_json(path, params=params, stream="forms").body
        except AuthError as exc:
            return CheckResult(False, self._auth_message(exc))
        except HttpError as exc:
            return CheckResult(False, str(exc))
        total = body.get("total_items") if isinstance(body, dict) else None
        forms = f" ({total} forms)" if isinstance(total, int) else ""
        return CheckResult(True, f"connected to Typeform at {self.settings.base_url}{forms}")

    def _auth_message(self, exc: AuthError) -> str:
        detail = vendor_error(exc.body)
        said = f" ({detail})" if detail else ""
        if exc.status == 403:
            text = (
                f"Typeform refused access with this token (HTTP 403){said}: it needs the "
                "scopes forms:read and responses:read"
            )
        else:
            text = (
                f"Typeform rejected the token (HTTP {exc.status}){said}: check `token`; "
                "create a personal access token under Account > Personal tokens"
            )
        if self.settings.base_url == DEFAULT_BASE_URL:
            text += f"; an account in the EU data centre needs base_url: {EU_BASE_URL}"
        return text

    def streams(self) -> list[Stream]:
        return [
            self.forms(),
            Responses(self.client, self.settings, list_forms=self._list_forms),
        ]

    def close(self) -> None:
        """Close the HTTP pool; a later run makes a new client."""
        if self._client is not None:
            self._client.close()
            self._client = None
