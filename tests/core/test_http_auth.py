"""Auth classes: keys, bearer, basic and an OAuth2 refresh-token flow shaped like Salesforce's."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from cintel.errors import AuthError, HttpError, RateLimitError
from cintel.http import (
    ApiKeyAuth,
    AsyncHttpClient,
    BasicAuth,
    BearerAuth,
    FileSecretStore,
    HttpClient,
    MemorySecretStore,
    OAuth2RefreshToken,
    SecretStore,
)
from cintel.http.auth import _fingerprint
from cintel.http.retry import RetryPolicy
from pydantic import SecretStr

API = "https://acme.my.salesforce.com/services/data/v60.0"
TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"
CLIENT_ID = "3MVG9-consumer-key"
CLIENT_SECRET = "sf-client-secret-4411"
REFRESH = "5Aep861-config-refresh-token"


def no_sleep(_: float) -> None:
    return None


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


class TokenServer:
    """A Salesforce-like token endpoint: hands out numbered access tokens."""

    def __init__(self, *, rotate: bool = False, expires_in: int | None = None) -> None:
        self.issued = 0
        self.rotate = rotate
        self.expires_in = expires_in
        self.valid: set[str] = set()
        self.refresh_tokens = {REFRESH}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        data = form(request)
        if data.get("refresh_token") not in self.refresh_tokens:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "expired access/refresh token",
                },
            )
        self.issued += 1
        access = f"00Dxx!access-{self.issued}"
        self.valid.add(access)
        body: dict[str, Any] = {
            "access_token": access,
            "instance_url": "https://acme.my.salesforce.com",
            "id": "https://login.salesforce.com/id/00Dxx/005xx",
            "token_type": "Bearer",
            "issued_at": "1714550400000",
            "signature": "c2lnbmF0dXJl",
            "scope": "api refresh_token",
        }
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.rotate:
            new = f"5Aep861-rotated-{self.issued}"
            self.refresh_tokens = {new}
            body["refresh_token"] = new
        return httpx.Response(200, json=body)

    def api(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") in self.valid:
            return httpx.Response(200, json={"totalSize": 0, "done": True, "records": []})
        return httpx.Response(
            401, json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1_714_550_400.0

    def __call__(self) -> float:
        return self.now


def oauth(store: SecretStore | None = None, **kwargs: Any) -> OAuth2RefreshToken:
    return OAuth2RefreshToken(
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        refresh_token=SecretStr(REFRESH),
        store=store,
        **kwargs,
    )


def sf_client(auth: httpx.Auth) -> HttpClient:
    return HttpClient(base_url=API, auth=auth, sleep=no_sleep)


# --------------------------------------------------------------------------- simple auth
@respx.mock
def test_api_key_in_a_header() -> None:
    route = respx.get(f"{API}/x").mock(return_value=httpx.Response(200, json={}))
    auth = ApiKeyAuth(
        SecretStr("pk_live_abc123"), header="Authorization", prefix="Klaviyo-API-Key "
    )
    with HttpClient(base_url=API, auth=auth, sleep=no_sleep) as c:
        c.get_json("/x")
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Klaviyo-API-Key pk_live_abc123"
    assert "pk_live" not in str(sent.url)
    assert "pk_live" not in repr(auth)
    assert repr(ApiKeyAuth("pk_live_abc123")) == "<ApiKeyAuth header='X-API-Key'>"
    assert ApiKeyAuth("k-12345").header == "X-API-Key"


@respx.mock
def test_api_key_in_the_query_keeps_other_params() -> None:
    route = respx.get(f"{API}/x").mock(return_value=httpx.Response(200, json={}))
    auth = ApiKeyAuth("hapi-key-777", param="hapikey")
    with HttpClient(base_url=API, auth=auth, sleep=no_sleep) as c:
        c.get_json("/x", params={"limit": 10})
    sent = route.calls.last.request
    assert dict(sent.url.params) == {"limit": "10", "hapikey": "hapi-key-777"}
    assert "X-API-Key" not in sent.headers
    assert repr(auth) == "<ApiKeyAuth param='hapikey'>"


@respx.mock
def test_bearer_auth_and_scheme() -> None:
    route = respx.get(f"{API}/x").mock(return_value=httpx.Response(200, json={}))
    for auth, expected in [
        (BearerAuth("pat-na1-token"), "Bearer pat-na1-token"),
        (BearerAuth(SecretStr("tok-9999"), scheme="Token"), "Token tok-9999"),
    ]:
        with HttpClient(base_url=API, auth=auth, sleep=no_sleep) as c:
            c.get_json("/x")
        assert route.calls.last.request.headers["Authorization"] == expected
        assert expected.split()[1] not in repr(auth)


@respx.mock
def test_basic_auth_mailchimp_any_user_key_as_password() -> None:
    key = "0123456789abcdef0123456789abcdef-us6"
    route = respx.get("https://us6.api.mailchimp.com/3.0/lists").mock(
        return_value=httpx.Response(200, json={"lists": []})
    )
    auth = BasicAuth("anystring", SecretStr(key))
    with HttpClient(base_url="https://us6.api.mailchimp.com/3.0", auth=auth, sleep=no_sleep) as c:
        c.get_json("/lists")
    header = route.calls.last.request.headers["Authorization"]
    scheme, encoded = header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"anystring:{key}"
    assert key not in repr(auth)
    assert encoded not in repr(auth)
    assert "anystring" in repr(auth)


# --------------------------------------------------------------------------- secret stores
def test_file_secret_store_is_owner_only_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secrets.json"
    store = FileSecretStore(path)
    assert store.get("k") is None
    store.set("k", "value-1")
    store.set("other", "value-2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = FileSecretStore(path)
    assert again.get("k") == "value-1"
    assert again.get("other") == "value-2"
    assert "value" not in repr(again)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".secrets-")]


def test_memory_secret_store() -> None:
    store = MemorySecretStore({"a": "secret-a"})
    assert isinstance(store, SecretStore)
    store.set("b", "secret-b")
    assert (store.get("a"), store.get("b"), store.get("c")) == ("secret-a", "secret-b", None)
    assert "secret" not in repr(store)


# --------------------------------------------------------------------------- oauth2
@respx.mock
def test_access_token_is_fetched_once_and_cached() -> None:
    server = TokenServer()
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    api = respx.get(f"{API}/query").mock(side_effect=server.api)
    seen: list[dict[str, Any]] = []
    auth = oauth(on_token=seen.append)
    with sf_client(auth) as c:
        for _ in range(3):
            c.get_json("/query", params={"q": "SELECT Id FROM Contact"})
    assert token.call_count == 1
    assert api.call_count == 3
    assert {r.request.headers["Authorization"] for r in api.calls} == {"Bearer 00Dxx!access-1"}
    sent = form(token.calls.last.request)
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert token.calls.last.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen[0]["instance_url"] == "https://acme.my.salesforce.com"
    assert auth.refreshes == 1


@respx.mock
def test_client_credentials_in_basic_header_when_asked() -> None:
    server = TokenServer()
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    with sf_client(oauth(client_auth="basic", scope="api")) as c:
        c.get_json("/query")
    request = token.calls.last.request
    assert "client_secret" not in form(request)
    assert form(request)["scope"] == "api"
    raw = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
    assert raw == f"{CLIENT_ID}:{CLIENT_SECRET}"
    with pytest.raises(ValueError, match="client_auth"):
        oauth(client_auth="header")


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(None, 3600.0), (900, 900.0)],  # Salesforce sends no expires_in: one hour is assumed
)
@respx.mock
def test_token_is_renewed_before_it_expires(expires_in: int | None, lifetime: float) -> None:
    server = TokenServer(expires_in=expires_in)
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    api = respx.get(f"{API}/query").mock(side_effect=server.api)
    clock = Clock()
    start = clock.now
    with sf_client(oauth(clock=clock, refresh_margin=60)) as c:
        c.get_json("/query")
        clock.now = start + lifetime - 61
        c.get_json("/query")
        assert token.call_count == 1
        clock.now = start + lifetime - 60  # inside the margin: renewed before use
        c.get_json("/query")
        assert token.call_count == 2
    assert api.calls.last.request.headers["Authorization"] == "Bearer 00Dxx!access-2"
    assert all(r.response.status_code == 200 for r in api.calls)


@respx.mock
def test_a_401_refreshes_once_and_the_request_succeeds() -> None:
    server = TokenServer()
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    api = respx.get(f"{API}/query").mock(side_effect=server.api)
    with sf_client(oauth()) as c:
        c.get_json("/query")
        server.valid.clear()  # the session was revoked on the server
        page = c.get_json("/query")
    assert page.body["done"] is True
    assert token.call_count == 2
    statuses = [call.response.status_code for call in api.calls]
    assert statuses == [200, 401, 200]
    assert api.calls.last.request.headers["Authorization"] == "Bearer 00Dxx!access-2"


@respx.mock
def test_a_second_401_is_an_auth_error() -> None:
    server = TokenServer()
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    api = respx.get(f"{API}/query").mock(
        return_value=httpx.Response(
            401, json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        )
    )
    with sf_client(oauth()) as c, pytest.raises(AuthError) as info:
        c.get_json("/query")
    assert info.value.status == 401
    assert token.call_count == 2  # the first token, and one renewal after the 401
    assert api.call_count == 2
    assert "INVALID_SESSION_ID" in str(info.value)


@respx.mock
def test_rotated_refresh_token_is_stored_and_used_by_the_next_run(tmp_path: Path) -> None:
    server = TokenServer(rotate=True)
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    path = tmp_path / "secrets.json"

    with sf_client(oauth(FileSecretStore(path))) as c:
        c.get_json("/query")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "5Aep861-rotated-1" in json.loads(path.read_text()).values()
    assert REFRESH not in server.refresh_tokens  # the config token is revoked now

    # the next run is built from the same, old config token
    with sf_client(oauth(FileSecretStore(path))) as c:
        c.get_json("/query")
    assert form(token.calls.last.request)["refresh_token"] == "5Aep861-rotated-1"
    assert "5Aep861-rotated-2" in json.loads(path.read_text()).values()


@respx.mock
def test_without_the_store_the_rotated_token_would_be_lost() -> None:
    """The Airbyte bug, shown: a fresh store starts from the revoked config token."""
    server = TokenServer(rotate=True)
    respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    with sf_client(oauth(MemorySecretStore())) as c:
        c.get_json("/query")
    with sf_client(oauth(MemorySecretStore())) as c, pytest.raises(AuthError):
        c.get_json("/query")


NEW_REFRESH = "5Aep861-reauthorised-token"


def stored_entries(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text())
    return data


@respx.mock
def test_a_new_config_token_wins_over_a_stale_stored_rotation(tmp_path: Path) -> None:
    server = TokenServer(rotate=True)
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    path = tmp_path / "secrets.json"
    with sf_client(oauth(FileSecretStore(path), store_key="sf")) as c:
        c.get_json("/query")
    assert stored_entries(path) == {"sf": "5Aep861-rotated-1", "sf.origin": _fingerprint(REFRESH)}

    # the user re-authorises: the old grant and its rotations are revoked, a new token
    # goes into the config; the stored rotation is stale now
    server.refresh_tokens = {NEW_REFRESH}
    store = FileSecretStore(path)
    auth = OAuth2RefreshToken(
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        refresh_token=SecretStr(NEW_REFRESH),
        store=store,
        store_key="sf",
    )
    assert stored_entries(path) == {"sf": NEW_REFRESH, "sf.origin": _fingerprint(NEW_REFRESH)}
    with sf_client(auth) as c:
        c.get_json("/query")
    assert form(token.calls.last.request)["refresh_token"] == NEW_REFRESH
    assert stored_entries(path) == {
        "sf": "5Aep861-rotated-2",
        "sf.origin": _fingerprint(NEW_REFRESH),  # still descends from the new config token
    }

    # the next run, same config: the rotation of the new token is used
    again = OAuth2RefreshToken(
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        refresh_token=SecretStr(NEW_REFRESH),
        store=FileSecretStore(path),
        store_key="sf",
    )
    with sf_client(again) as c:
        c.get_json("/query")
    assert form(token.calls.last.request)["refresh_token"] == "5Aep861-rotated-2"
    origin = stored_entries(path)["sf.origin"]
    assert len(origin) == 16
    for secret in (REFRESH, NEW_REFRESH, "5Aep861-rotated-3"):
        assert origin not in secret
        assert secret not in repr(again)
        assert secret not in repr(store)
    assert origin not in repr(again)


@respx.mock
def test_a_changed_config_token_replaces_the_store_entry_without_rotation() -> None:
    server = TokenServer()  # this vendor does not rotate
    server.refresh_tokens = {NEW_REFRESH}
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    store = MemorySecretStore({"k": "5Aep861-stale-rotation", "k.origin": _fingerprint(REFRESH)})
    auth = OAuth2RefreshToken(
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=NEW_REFRESH,
        store=store,
        store_key="k",
    )
    with sf_client(auth) as c:
        c.get_json("/query")
    assert form(token.calls.last.request)["refresh_token"] == NEW_REFRESH
    assert (store.get("k"), store.get("k.origin")) == (NEW_REFRESH, _fingerprint(NEW_REFRESH))


@respx.mock
def test_a_store_from_before_fingerprints_keeps_its_rotated_token() -> None:
    server = TokenServer()
    server.refresh_tokens = {"5Aep861-rotated-7"}
    token = respx.post(TOKEN_URL).mock(side_effect=server)
    respx.get(f"{API}/query").mock(side_effect=server.api)
    store = MemorySecretStore({"k": "5Aep861-rotated-7"})  # no "k.origin": an older store
    with sf_client(oauth(store, store_key="k")) as c:
        c.get_json("/query")
    assert form(token.calls.last.request)["refresh_token"] == "5Aep861-rotated-7"
    assert store.get("k.origin") == _fingerprint(REFRESH)  # adopted from now on


def token_ok(**extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"access_token": "00Dxx!access-ok", **extra})


FAST_TOKEN_RETRY = RetryPolicy(max_attempts=4, max_wait=60, jitter=0, hint_margin=0)


@respx.mock
def test_token_endpoint_429_and_5xx_are_retried_with_hints_and_backoff() -> None:
    token = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(503, text="maintenance"),
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(502),
            token_ok(),
        ]
    )
    api = respx.get(f"{API}/query").mock(return_value=httpx.Response(200, json={}))
    waits: list[float] = []
    auth = oauth(token_retry=FAST_TOKEN_RETRY, sleep=waits.append)
    with sf_client(auth) as c:
        c.get_json("/query")
    assert token.call_count == 4
    assert waits == [0.5, 7.0, 2.0]  # backoff, Retry-After, backoff
    assert api.calls.last.request.headers["Authorization"] == "Bearer 00Dxx!access-ok"
    assert auth.refreshes == 1


@respx.mock
def test_token_endpoint_5xx_retries_are_bounded_and_not_an_auth_error() -> None:
    token = respx.post(TOKEN_URL).mock(return_value=httpx.Response(500, text="oops"))
    api = respx.get(f"{API}/query").mock(return_value=httpx.Response(200, json={}))
    waits: list[float] = []
    auth = oauth(token_retry=FAST_TOKEN_RETRY, sleep=waits.append)
    auth.backoff_scale = 0.0  # what a test kit does to go fast
    with sf_client(auth) as c, pytest.raises(HttpError) as info:
        c.get_json("/query")
    err = info.value
    assert not isinstance(err, AuthError)  # re-authorising would not help
    assert token.call_count == 4
    assert waits == [0.0, 0.0, 0.0]
    assert api.call_count == 0
    assert err.status == 500
    assert err.attempts == 4
    text = str(err)
    assert "token endpoint failed" in text
    for secret in (REFRESH, CLIENT_SECRET):
        assert secret not in text


@respx.mock
def test_token_endpoint_asking_for_a_wait_past_the_budget_fails_at_once() -> None:
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"})
    )
    waits: list[float] = []
    with (
        sf_client(oauth(token_retry=FAST_TOKEN_RETRY, sleep=waits.append)) as c,
        pytest.raises(RateLimitError) as info,
    ):
        c.get_json("/query")
    assert token.call_count == 1
    assert waits == []
    assert "3600s" in str(info.value)
    assert "retry budget of 60s" in str(info.value)


@respx.mock
def test_token_endpoint_connection_errors_are_retried_by_the_client() -> None:
    token = respx.post(TOKEN_URL).mock(side_effect=[httpx.ConnectError("refused"), token_ok()])
    api = respx.get(f"{API}/query").mock(return_value=httpx.Response(200, json={}))
    with sf_client(oauth()) as c:
        c.get_json("/query")
    assert token.call_count == 2
    assert api.call_count == 1


def test_async_token_endpoint_5xx_is_retried_with_the_async_sleep() -> None:
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> int:
        async with respx.mock:
            token = respx.post(TOKEN_URL).mock(side_effect=[httpx.Response(503), token_ok()])
            respx.get(f"{API}/query").mock(return_value=httpx.Response(200, json={}))
            auth = oauth(token_retry=FAST_TOKEN_RETRY, asleep=asleep, sleep=no_sleep)
            async with AsyncHttpClient(base_url=API, auth=auth, sleep=asleep) as c:
                await c.get_json("/query")
            return token.call_count

    assert asyncio.run(main()) == 2
    assert waits == [0.5]


@pytest.mark.parametrize("status", [400, 401])
@respx.mock
def test_invalid_grant_is_a_clear_auth_error_without_secrets(status: int) -> None:
    token = respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            status,
            json={"error": "invalid_grant", "error_description": "expired access/refresh token"},
        )
    )
    api = respx.get(f"{API}/query").mock(return_value=httpx.Response(200, json={}))
    waits: list[float] = []
    auth = oauth(sleep=waits.append)
    with sf_client(auth) as c, pytest.raises(AuthError) as info:
        c.get_json("/query")
    err = info.value
    assert token.call_count == 1  # not retried: a new grant is needed
    assert waits == []
    assert api.call_count == 0
    assert err.status == status
    assert err.method == "POST"
    text = str(err)
    assert "the refresh token is invalid, expired or revoked" in text
    assert "invalid_grant" in text
    assert "expired access/refresh token" in text
    assert "re-authorise" in text
    for secret in (REFRESH, CLIENT_SECRET):
        assert secret not in text
        assert secret not in repr(err)
        assert secret not in repr(auth)


@respx.mock
def test_token_response_without_access_token_is_an_auth_error() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, text="<html>login</html>"))
    with sf_client(oauth()) as c, pytest.raises(AuthError, match="token refresh failed"):
        c.get_json("/query")


@respx.mock
def test_concurrent_threads_trigger_exactly_one_refresh() -> None:
    n_threads = 6
    server = TokenServer()
    auth = oauth()
    cond = threading.Condition()
    checked: set[int] = set()
    original = auth._needs_refresh

    def counting_check() -> bool:
        with cond:
            checked.add(threading.get_ident())
            cond.notify_all()
        return original()

    auth._needs_refresh = counting_check  # type: ignore[method-assign]

    def slow_token_endpoint(request: httpx.Request) -> httpx.Response:
        # answer only once every thread has seen the missing token and queued up
        with cond:
            assert cond.wait_for(lambda: len(checked) >= n_threads, timeout=10)
        return server(request)

    token = respx.post(TOKEN_URL).mock(side_effect=slow_token_endpoint)
    api = respx.get(f"{API}/query").mock(side_effect=server.api)
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    with sf_client(auth) as c:

        def worker() -> None:
            try:
                start.wait(timeout=10)
                c.get_json("/query")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    assert not errors
    assert token.call_count == 1
    assert api.call_count == n_threads
    assert all(call.response.status_code == 200 for call in api.calls)


def test_async_flow_caches_and_renews_on_401() -> None:
    server = TokenServer()

    async def no_asleep(_: float) -> None:
        return None

    async def main() -> tuple[int, list[int]]:
        async with respx.mock:
            token = respx.post(TOKEN_URL).mock(side_effect=server)
            api = respx.get(f"{API}/query").mock(side_effect=server.api)
            async with AsyncHttpClient(base_url=API, auth=oauth(), sleep=no_asleep) as c:
                await c.get_json("/query")
                await c.get_json("/query")
                server.valid.clear()
                await c.get_json("/query")
            return token.call_count, [call.response.status_code for call in api.calls]

    token_calls, statuses = asyncio.run(main())
    assert token_calls == 2
    assert statuses == [200, 200, 401, 200]


def test_async_concurrent_tasks_trigger_exactly_one_refresh() -> None:
    n_tasks = 5
    server = TokenServer()
    auth = oauth()
    checked: set[int] = set()
    everyone_checked: list[asyncio.Event] = []
    original = auth._needs_refresh

    def counting_check() -> bool:
        checked.add(id(asyncio.current_task()))
        if len(checked) >= n_tasks:
            everyone_checked[0].set()
        return original()

    auth._needs_refresh = counting_check  # type: ignore[method-assign]

    async def no_asleep(_: float) -> None:
        return None

    async def main() -> tuple[int, list[int]]:
        everyone_checked.append(asyncio.Event())

        async def slow_token_endpoint(request: httpx.Request) -> httpx.Response:
            # answer only once every task has seen the missing token and queued up
            await everyone_checked[0].wait()
            return server(request)

        async with respx.mock:
            token = respx.post(TOKEN_URL).mock(side_effect=slow_token_endpoint)
            api = respx.get(f"{API}/query").mock(side_effect=server.api)
            async with AsyncHttpClient(base_url=API, auth=auth, sleep=no_asleep) as c:
                await asyncio.wait_for(
                    asyncio.gather(*(c.get_json("/query") for _ in range(n_tasks))), timeout=10
                )
            return token.call_count, [call.response.status_code for call in api.calls]

    token_calls, statuses = asyncio.run(main())
    assert token_calls == 1
    assert statuses == [200] * n_tasks
