"""Authentication for :mod:`cintel.http` clients, as ``httpx.Auth`` classes.

=====================  ==============================================================
``ApiKeyAuth``         a key in a header (``X-API-Key: …``) or a query parameter
``BearerAuth``         ``Authorization: Bearer <token>``
``BasicAuth``          user and password (Mailchimp: any user, the key as password)
``OAuth2RefreshToken`` a refresh token exchanged for access tokens: cached, renewed
                       before expiry and once on a 401; a **rotated** refresh token is
                       saved to a :class:`SecretStore` so the next run starts with it
                       (unless the configured token changed since: the user
                       re-authorised); the token endpoint's 429/5xx are retried
=====================  ==============================================================

Every class registers its secrets for redaction and keeps them out of ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from cintel.errors import AuthError, HttpError, RateLimitError
from cintel.http._util import excerpt, redact_url
from cintel.http.retry import RetryPolicy, wait_hint
from cintel.logs import register_secrets

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "FileSecretStore",
    "MemorySecretStore",
    "OAuth2RefreshToken",
    "SecretStore",
]


def _reveal(value: str | SecretStr) -> str:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    register_secrets([text])
    return text


class ApiKeyAuth(httpx.Auth):
    """An API key sent in a header (default ``X-API-Key``) or, with ``param``, the query."""

    def __init__(
        self,
        key: str | SecretStr,
        *,
        header: str = "X-API-Key",
        param: str | None = None,
        prefix: str = "",
    ) -> None:
        self._key = _reveal(key)
        self.header = header
        self.param = param
        self.prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.param:
            request.url = request.url.copy_merge_params({self.param: self._key})
        else:
            request.headers[self.header] = f"{self.prefix}{self._key}"
        yield request

    def __repr__(self) -> str:
        where = f"param={self.param!r}" if self.param else f"header={self.header!r}"
        return f"<ApiKeyAuth {where}>"


class BearerAuth(httpx.Auth):
    """``Authorization: <scheme> <token>`` (scheme ``Bearer`` by default)."""

    def __init__(self, token: str | SecretStr, *, scheme: str = "Bearer") -> None:
        self._token = _reveal(token)
        self.scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"{self.scheme} {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"<BearerAuth scheme={self.scheme!r}>"


class BasicAuth(httpx.Auth):
    """HTTP basic auth; the password is a secret."""

    def __init__(self, username: str, password: str | SecretStr) -> None:
        self.username = username
        secret = _reveal(password)
        raw = f"{username}:{secret}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode()
        register_secrets([self._header.split(" ", 1)[1]])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"<BasicAuth username={self.username!r}>"


# ----------------------------------------------------------------------------- secret stores
@runtime_checkable
class SecretStore(Protocol):
    """Where rotated secrets (OAuth refresh tokens) are kept between runs."""

    def get(self, key: str) -> str | None:
        """The stored value, or ``None``."""

    def set(self, key: str, value: str) -> None:
        """Store ``value`` durably before returning."""


class MemorySecretStore:
    """A secret store in memory: for tests and services that persist secrets themselves."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._values[key] = value

    def __repr__(self) -> str:
        return f"<MemorySecretStore keys={sorted(self._values)}>"


class FileSecretStore:
    """A JSON file readable only by its owner (mode 0600), replaced atomically on each write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._read().get(key)
        if value:
            register_secrets([value])
        return value

    def set(self, key: str, value: str) -> None:
        register_secrets([value])
        with self._lock:
            data = self._read()
            data[key] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh, indent=2, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def __repr__(self) -> str:
        return f"<FileSecretStore {str(self.path)!r}>"


# ----------------------------------------------------------------------------- OAuth2
#: Retries of the token endpoint: a few attempts within a minute (429 and 5xx only).
TOKEN_RETRY = RetryPolicy(max_attempts=4, max_wait=60.0, backoff_initial=1.0, backoff_max=10.0)


def _fingerprint(token: str) -> str:
    """A short one-way fingerprint of a refresh token: tells tokens apart, reveals nothing."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class OAuth2RefreshToken(httpx.Auth):
    """OAuth 2.0 refresh-token grant with a cached access token.

    The access token is renewed ``refresh_margin`` seconds before it expires and
    once when a request comes back 401. When the token endpoint returns a new
    refresh token (rotation), it is written to ``store`` under ``store_key``
    before the access token is used; the next run reads it from there rather
    than the (now revoked) one in the config. ``on_token`` receives the token
    response (Salesforce's ``instance_url``).

    Next to the rotated token, ``<store_key>.origin`` keeps a fingerprint (a
    truncated SHA-256) of the configured token it descends from. When the
    configured token no longer matches it, the user re-authorised and put a new
    token in the config: that one wins and replaces the stored entry.

    The token endpoint's 429 and 5xx answers are retried as ``token_retry``
    says (``Retry-After`` honoured, bounded backoff scaled by ``backoff_scale``,
    waits through ``sleep``/``asleep``); connection errors and timeouts surface
    as transport errors, which :class:`~cintel.http.HttpClient` retries with the
    request. A 400/401 (``invalid_grant``: the refresh token is revoked or
    expired) is never retried: it needs a new authorisation.
    """

    requires_response_body = True
    #: Multiplies backoff waits of the token endpoint (not its hints); tests set it near 0.
    backoff_scale: float = 1.0

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        refresh_token: str | SecretStr,
        store: SecretStore | None = None,
        store_key: str | None = None,
        scope: str | None = None,
        refresh_margin: float = 60.0,
        client_auth: str = "body",
        extra: Mapping[str, str] | None = None,
        on_token: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
        token_retry: RetryPolicy = TOKEN_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if client_auth not in ("body", "basic"):
            raise ValueError("client_auth must be 'body' or 'basic'")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = _reveal(client_secret)
        self.store = store if store is not None else MemorySecretStore()
        self.store_key = store_key or f"oauth2:{token_url}:{client_id}"
        configured = _reveal(refresh_token)
        self._origin = _fingerprint(configured)
        self._refresh_token = self._starting_token(configured)
        self.scope = scope
        self.refresh_margin = refresh_margin
        self.client_auth = client_auth
        self.extra = dict(extra or {})
        self.on_token = on_token
        self._clock = clock
        self.token_retry = token_retry
        self._sleep = sleep
        self._asleep = asleep
        self._rng = random.Random()  # noqa: S311 - jitter, not crypto
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._tlock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<OAuth2RefreshToken token_url={self.token_url!r} client_id={self.client_id!r}>"

    # helpers -----------------------------------------------------------------
    @property
    def _origin_key(self) -> str:
        return f"{self.store_key}.origin"

    def _starting_token(self, configured: str) -> str:
        """The stored (rotated) token, unless the configured one changed since it was stored."""
        stored = self.store.get(self.store_key)
        if not stored:
            return configured
        origin = self.store.get(self._origin_key)
        if origin == self._origin:
            return _reveal(stored)  # a rotation of this very config token
        if origin is None:
            # stored before fingerprints were kept: assume it descends from this config
            self.store.set(self._origin_key, self._origin)
            return _reveal(stored)
        # the user re-authorised: the new config token wins and replaces the stale rotation
        self._store(configured)
        return configured

    def _store(self, token: str) -> None:
        register_secrets([token])
        self.store.set(self.store_key, token)  # durable before first use
        self.store.set(self._origin_key, self._origin)

    def _needs_refresh(self) -> bool:
        return self._access_token is None or self._clock() >= self._expires_at - self.refresh_margin

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token, **self.extra}
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            raw = f"{self.client_id}:{self._client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._client_secret
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _token_outcome(self, response: httpx.Response, attempt: int, waited: float) -> float | None:
        """Use a token response: ``None`` once applied, else the seconds to wait and retry.

        Raises when the refresh failed for good.
        """
        policy = self.token_retry
        if not policy.should_retry(response):
            self._apply(response, attempt)
            return None
        hint = wait_hint(response, policy)
        seconds = hint.seconds if hint is not None else None
        wait = policy.delay(attempt, seconds, self._rng.random(), self.backoff_scale)
        if not policy.exhausted(attempt, waited, wait):
            return wait
        status = response.status_code
        budget = f"retry budget of {policy.max_wait:g}s"
        error_cls: type[HttpError] = HttpError
        if status == 429:
            error_cls = RateLimitError
            if seconds is not None and seconds > policy.max_wait:
                message = (
                    f"the OAuth2 token endpoint is rate limiting; it asks to wait "
                    f"{seconds:.0f}s, which would pass the {budget}"
                )
            else:
                message = "the OAuth2 token endpoint is still rate limiting after every retry"
        else:
            message = (
                f"the OAuth2 token endpoint failed (HTTP {status} "
                f"{response.reason_phrase}); gave up, try again later"
            )
        raise error_cls(
            message,
            method="POST",
            url=redact_url(self.token_url),
            status=status,
            body=excerpt(response.content),
            attempts=attempt,
        )

    def _apply(self, response: httpx.Response, attempts: int = 1) -> None:
        url = redact_url(self.token_url)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error") if isinstance(body, dict) else None
            detail = ""
            if error:
                detail = str(error)
                if body.get("error_description"):
                    detail += f" ({body['error_description']})"
                detail = excerpt(detail, 200)  # secret-free, one line
            if error == "invalid_grant":
                what = f"the refresh token is invalid, expired or revoked (OAuth2 {detail})"
            else:
                what = "OAuth2 token refresh failed" + (f": {detail}" if detail else "")
            raise AuthError(
                f"{what}; re-authorise the app to get a new refresh token and put it in the config",
                method="POST",
                url=url,
                status=response.status_code,
                body=excerpt(response.content),
                attempts=attempts,
            )
        access = str(body["access_token"])
        register_secrets([access])
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            self._store(str(rotated))  # durable before first use
            self._refresh_token = str(rotated)
        expires_in = body.get("expires_in")
        try:
            lifetime = float(expires_in) if expires_in is not None else 3600.0
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._access_token = access
        self._expires_at = self._clock() + lifetime
        self.refreshes += 1
        if self.on_token is not None:
            self.on_token(body)

    def _authorise(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._access_token}"

    # flows ---------------------------------------------------------------------
    def _refresh(self) -> Generator[httpx.Request, httpx.Response, None]:
        attempt, waited = 0, 0.0
        while True:
            attempt += 1
            token_response = yield self._token_request()
            token_response.read()
            wait = self._token_outcome(token_response, attempt, waited)
            if wait is None:
                return
            self._sleep(wait)
            waited += wait

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self._needs_refresh():
            with self._tlock:
                if self._needs_refresh():
                    yield from self._refresh()
        used = self._access_token
        self._authorise(request)
        response = yield request
        if response.status_code == 401:
            with self._tlock:
                if self._access_token == used:  # nobody renewed it meanwhile
                    yield from self._refresh()
            self._authorise(request)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._alock is None:
            self._alock = asyncio.Lock()
        used: str | None = None
        for renewal in (False, True):  # before the request, then once after a 401
            stale = self._access_token == used if renewal else self._needs_refresh()
            if stale:
                async with self._alock:
                    stale = self._access_token == used if renewal else self._needs_refresh()
                    attempt, waited = 0, 0.0
                    while stale:  # an async generator cannot ``yield from`` _refresh
                        attempt += 1
                        token_response = yield self._token_request()
                        await token_response.aread()
                        wait = self._token_outcome(token_response, attempt, waited)
                        if wait is None:
                            break
                        await self._asleep(wait)
                        waited += wait
            used = self._access_token
            self._authorise(request)
            response = yield request
            if response.status_code != 401:
                return
