"""Authentication for :mod:`cintel.http` clients, as ``httpx.Auth`` classes.

=====================  ==============================================================
``ApiKeyAuth``         a key in a header (``X-API-Key: …``) or a query parameter
``BearerAuth``         ``Authorization: Bearer <token>``
``BasicAuth``          user and password (Mailchimp: any user, the key as password)
``OAuth2RefreshToken`` a refresh token exchanged for access tokens: cached, renewed
                       before expiry and once on a 401; a **rotated** refresh token is
                       saved to a :class:`SecretStore` so the next run starts with it
=====================  ==============================================================

Every class registers its secrets for redaction and keeps them out of ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from cintel.errors import AuthError
from cintel.http._util import excerpt, redact_url
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
class OAuth2RefreshToken(httpx.Auth):
    """OAuth 2.0 refresh-token grant with a cached access token.

    The access token is renewed ``refresh_margin`` seconds before it expires and
    once when a request comes back 401. When the token endpoint returns a new
    refresh token (rotation), it is written to ``store`` under ``store_key``
    before the access token is used; the next run reads it from there rather
    than the (now revoked) one in the config. ``on_token`` receives the token
    response (Salesforce's ``instance_url``).
    """

    requires_response_body = True

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
    ) -> None:
        if client_auth not in ("body", "basic"):
            raise ValueError("client_auth must be 'body' or 'basic'")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = _reveal(client_secret)
        self.store = store if store is not None else MemorySecretStore()
        self.store_key = store_key or f"oauth2:{token_url}:{client_id}"
        stored = self.store.get(self.store_key)
        self._refresh_token = _reveal(stored) if stored else _reveal(refresh_token)
        self.scope = scope
        self.refresh_margin = refresh_margin
        self.client_auth = client_auth
        self.extra = dict(extra or {})
        self.on_token = on_token
        self._clock = clock
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._tlock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<OAuth2RefreshToken token_url={self.token_url!r} client_id={self.client_id!r}>"

    # helpers -----------------------------------------------------------------
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

    def _apply(self, response: httpx.Response) -> None:
        url = redact_url(self.token_url)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            reason = ""
            if isinstance(body, dict) and "error" in body:
                reason = f": {body.get('error')}"
                if body.get("error_description"):
                    reason += f" ({body['error_description']})"
            raise AuthError(
                f"OAuth2 token refresh failed{reason}; re-authorise the app to get a new "
                "refresh token",
                method="POST",
                url=url,
                status=response.status_code,
                body=excerpt(response.content),
            )
        access = str(body["access_token"])
        register_secrets([access])
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            register_secrets([str(rotated)])
            self.store.set(self.store_key, str(rotated))  # durable before first use
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
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self._needs_refresh():
            with self._tlock:
                if self._needs_refresh():
                    token_response = yield self._token_request()
                    token_response.read()
                    self._apply(token_response)
        used = self._access_token
        self._authorise(request)
        response = yield request
        if response.status_code == 401:
            with self._tlock:
                if self._access_token == used:  # nobody renewed it meanwhile
                    token_response = yield self._token_request()
                    token_response.read()
                    self._apply(token_response)
            self._authorise(request)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._alock is None:
            self._alock = asyncio.Lock()
        if self._needs_refresh():
            async with self._alock:
                if self._needs_refresh():
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._apply(token_response)
        used = self._access_token
        self._authorise(request)
        response = yield request
        if response.status_code == 401:
            async with self._alock:
                if self._access_token == used:
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._apply(token_response)
            self._authorise(request)
            yield request
