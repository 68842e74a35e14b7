"""HttpClient and AsyncHttpClient over respx: retries, server wait hints, errors, secrets."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from cintel.errors import AuthError, HttpError, RateLimitError, ResponseError
from cintel.http import (
    ApiKeyAuth,
    AsyncHttpClient,
    BearerAuth,
    HttpClient,
    RateLimiter,
    RetryPolicy,
)
from structlog.testing import capture_logs

BASE = "https://api.acme.test/v1"
URL = f"{BASE}/contacts"


class Sleeps:
    """A fake ``sleep`` that records every wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class AsyncSleeps(Sleeps):
    async def asleep(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def client(sleep: Callable[[float], None] | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(base_url=BASE, sleep=sleep or Sleeps(), seed=7, **kwargs)


def ok(payload: Any = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": []} if payload is None else payload, **kwargs)


# --------------------------------------------------------------------------- success, 5xx
@respx.mock
def test_success_returns_parsed_json_and_sends_default_headers() -> None:
    route = respx.get(URL, params={"limit": "2"}).mock(return_value=ok({"data": [{"id": 1}]}))
    with client() as c:
        page = c.get_json("/contacts", params={"limit": 2}, stream="contacts")
    assert page.body == {"data": [{"id": 1}]}
    assert page.url == httpx.URL(f"{URL}?limit=2")
    sent = route.calls.last.request
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith("cintel/")
    assert c.requests_sent == 1
    assert c.retries == 0


@respx.mock
def test_5xx_statuses_are_retried_until_success() -> None:
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(s) for s in (500, 502, 503, 504)] + [ok({"n": 1})]
    )
    sleeps = Sleeps()
    with client(sleeps) as c:
        assert c.get_json("/contacts").body == {"n": 1}
    assert route.call_count == 5
    assert c.retries == 4
    assert len(sleeps.waits) == 4


@respx.mock
def test_plain_request_returns_response_without_parsing() -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(200, text="not json")])
    with client() as c:
        response = c.request("get", "/contacts")
    assert response.status_code == 200
    assert response.text == "not json"


# --------------------------------------------------------------------------- 429 and hints
@respx.mock
def test_429_retry_after_seconds_is_the_wait() -> None:
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), ok()]
    )
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [7.0]
    assert route.call_count == 2


@respx.mock
def test_429_retry_after_gets_the_default_clock_margin() -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), ok()])
    sleeps = Sleeps()
    with client(sleeps) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [pytest.approx(3 + RetryPolicy().hint_margin)]


@respx.mock
def test_429_retry_after_http_date_is_the_wait() -> None:
    target = int(time.time()) + 30
    date = email.utils.formatdate(target, usegmt=True)
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": date}), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    # the header has whole seconds: the wait is what is left until then
    assert len(sleeps.waits) == 1
    assert 28.0 < sleeps.waits[0] <= 30.0


@respx.mock
def test_429_without_retry_after_backs_off_exponentially_with_jitter() -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(429)] * 5 + [ok()])
    sleeps = Sleeps()
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=60.0, jitter=0.5)
    with client(sleeps, retry=policy) as c:
        c.get_json("/contacts")
    assert len(sleeps.waits) == 5
    for attempt, wait in enumerate(sleeps.waits):
        base = 1.0 * 2**attempt
        assert base <= wait < base + 0.5
    assert sleeps.waits == sorted(sleeps.waits)
    # jitter: waits are not exactly the base
    assert any(w != 2**i for i, w in enumerate(sleeps.waits))


def test_backoff_is_capped_at_backoff_max() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=5.0, jitter=0.0)
    assert [policy.backoff(n, 0.0) for n in (1, 2, 3, 4, 10)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@respx.mock
def test_jitter_differs_between_seeds() -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(429), ok(), httpx.Response(429), ok()])
    a, b = Sleeps(), Sleeps()
    with HttpClient(base_url=BASE, sleep=a, seed=1) as c1:
        c1.get_json("/contacts")
    with HttpClient(base_url=BASE, sleep=b, seed=2) as c2:
        c2.get_json("/contacts")
    assert a.waits != b.waits


@respx.mock
def test_429_with_surveymonkey_reset_headers_waits_for_the_exhausted_window() -> None:
    headers = {
        "X-Ratelimit-App-Global-Minute-Limit": "120",
        "X-Ratelimit-App-Global-Minute-Remaining": "0",
        "X-Ratelimit-App-Global-Minute-Reset": "42",
        "X-Ratelimit-App-Global-Day-Limit": "500",
        "X-Ratelimit-App-Global-Day-Remaining": "310",
        "X-Ratelimit-App-Global-Day-Reset": "80000",
    }
    body = {
        "error": {
            "id": "1040",
            "name": "Rate Limit Reached",
            "message": "Too many requests were made, try again later.",
            "http_status_code": 429,
        }
    }
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers=headers, json=body), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [42.0]


@respx.mock
def test_429_with_ietf_ratelimit_reset_header() -> None:
    headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"}
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers=headers), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [12.0]


@respx.mock
def test_429_with_only_a_reset_header_uses_it() -> None:
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"X-RateLimit-Reset": "9"}), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [9.0]


@respx.mock
def test_retry_after_wins_over_reset_headers() -> None:
    headers = {"Retry-After": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "50"}
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers=headers), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [2.0]


def hubspot_wait(response: httpx.Response) -> float | None:
    """What a HubSpot connector passes as ``RetryPolicy(retry_after=...)``."""
    try:
        policy = response.json().get("policyName")
    except ValueError:
        return None
    return {"TEN_SECONDLY_ROLLING": 10.0, "DAILY": 86_400.0}.get(policy)


def hubspot_429(policy: str) -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c0ffee",
            "policyName": policy,
        },
    )


@respx.mock
def test_hubspot_ten_secondly_429_waits_for_the_window_via_retry_after_rule() -> None:
    respx.get(URL).mock(side_effect=[hubspot_429("TEN_SECONDLY_ROLLING"), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(retry_after=hubspot_wait, hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [10.0]


@respx.mock
def test_hubspot_daily_429_fails_at_once() -> None:
    route = respx.get(URL).mock(side_effect=[hubspot_429("DAILY"), ok()])
    sleeps = Sleeps()
    with (
        client(sleeps, retry=RetryPolicy(retry_after=hubspot_wait)) as c,
        pytest.raises(RateLimitError) as info,
    ):
        c.get_json("/contacts")
    assert route.call_count == 1
    assert sleeps.waits == []
    assert "86400s" in str(info.value)


def hubspot_headers(remaining: int = 0) -> dict[str, str]:
    """The ten-second window HubSpot announces on every response, 429s included."""
    return {
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": "1000000",
        "X-HubSpot-RateLimit-Daily-Remaining": "0",
    }


@respx.mock
def test_hubspot_daily_429_with_ten_second_headers_fails_at_once_by_the_connector_rule() -> None:
    """The connector's rule wins over the generic headers' ten-second window."""
    daily = hubspot_429("DAILY")
    daily.headers.update(hubspot_headers())
    route = respx.get(URL).mock(side_effect=[daily, ok()])
    sleeps = Sleeps()
    with (
        client(sleeps, retry=RetryPolicy(retry_after=hubspot_wait)) as c,
        pytest.raises(RateLimitError) as info,
    ):
        c.get_json("/contacts", stream="contacts")
    assert route.call_count == 1
    assert sleeps.waits == []
    text = str(info.value)
    assert "the connector's rule for this response asks to wait 86400s" in text
    assert "retry budget of 300s" in text


@respx.mock
def test_connector_rule_wins_over_retry_after() -> None:
    response = hubspot_429("TEN_SECONDLY_ROLLING")
    response.headers["Retry-After"] = "1"
    respx.get(URL).mock(side_effect=[response, ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(retry_after=hubspot_wait, hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [10.0]


@respx.mock
def test_connector_rule_returning_none_defers_to_the_headers() -> None:
    unknown = hubspot_429("SOMETHING_NEW")
    unknown.headers.update(hubspot_headers())
    respx.get(URL).mock(
        side_effect=[unknown, httpx.Response(429, headers={"Retry-After": "3"}), ok()]
    )
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(retry_after=hubspot_wait, hint_margin=0)) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [10.0, 3.0]  # the interval header, then Retry-After


@respx.mock
def test_connector_rule_failing_on_a_non_json_body_defers_to_the_headers() -> None:
    proxy = httpx.Response(
        503, text="<html>Service Unavailable</html>", headers={"Retry-After": "2"}
    )
    respx.get(URL).mock(side_effect=[proxy, ok()])
    sleeps = Sleeps()
    rule = RetryPolicy(retry_after=lambda r: r.json().get("wait"), hint_margin=0)
    with client(sleeps, retry=rule) as c:
        c.get_json("/contacts")
    assert sleeps.waits == [2.0]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_connector_rule_returning_inf_means_do_not_retry(asynchronous: bool) -> None:
    def exhausted(response: httpx.Response) -> float | None:
        return math.inf if response.status_code == 429 else None

    retry = RetryPolicy(retry_after=exhausted, max_wait=60)
    responses = [httpx.Response(429, headers={"Retry-After": "1"}), ok()]
    sleeps = AsyncSleeps()

    async def get_async() -> None:
        async with AsyncHttpClient(base_url=BASE, sleep=sleeps.asleep, retry=retry, seed=1) as c:
            await c.get_json("/contacts", stream="contacts")

    def get() -> None:
        if asynchronous:
            asyncio.run(get_async())
        else:
            with client(sleeps, retry=retry) as c:
                c.get_json("/contacts", stream="contacts")

    with respx.mock:
        route = respx.get(URL).mock(side_effect=responses)
        with pytest.raises(RateLimitError) as info:
            get()
    assert route.call_count == 1
    assert sleeps.waits == []
    err = info.value
    assert err.status == 429
    assert err.attempts == 1
    text = str(err)
    assert "quota is exhausted" in text
    assert "the connector's rule for this response says not to retry" in text
    assert "retry budget of 60s" in text
    assert "inf" not in text.replace("info", "")


# --------------------------------------------------------------------------- budgets
@respx.mock
def test_retry_after_longer_than_max_wait_fails_at_once() -> None:
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3600"}), ok()]
    )
    sleeps = Sleeps()
    with (
        client(sleeps, retry=RetryPolicy(max_wait=60)) as c,
        pytest.raises(RateLimitError) as info,
    ):
        c.get_json("/contacts", stream="contacts")
    err = info.value
    assert route.call_count == 1
    assert sleeps.waits == []
    assert err.status == 429
    assert err.stream == "contacts"
    text = str(err)
    assert "3600s" in text
    assert "60s" in text
    assert "budget" in text


@respx.mock
def test_total_wait_is_bounded_across_attempts() -> None:
    """Waits add up: three 4 s waits do not fit a 10 s budget, two do."""
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "4"})] * 5 + [ok()]
    )
    sleeps = Sleeps()
    policy = RetryPolicy(max_wait=10, hint_margin=0)
    with client(sleeps, retry=policy) as c, pytest.raises(RateLimitError) as info:
        c.get_json("/contacts")
    assert sleeps.waits == [4.0, 4.0]
    assert route.call_count == 3
    assert info.value.attempts == 3
    assert "budget" in str(info.value)


@respx.mock
def test_backoff_total_is_bounded_by_max_wait() -> None:
    respx.get(URL).mock(return_value=httpx.Response(503))
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=50, max_wait=20, backoff_initial=1, jitter=0)
    with client(sleeps, retry=policy) as c, pytest.raises(HttpError) as info:
        c.get_json("/contacts")
    assert sleeps.waits == [1, 2, 4, 8]  # 1 + 2 + 4 + 8 = 15; + 16 would pass 20
    assert sum(sleeps.waits) <= 20
    assert "gave up within the retry budget of 20s" in str(info.value)


@respx.mock
def test_exhausted_attempts_name_status_method_url_and_attempts() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with (
        client(retry=RetryPolicy(max_attempts=3)) as c,
        pytest.raises(HttpError) as info,
    ):
        c.post_json("/contacts", params={"page": 2}, json={"q": 1}, stream="contacts")
    err = info.value
    assert type(err) is HttpError
    assert route.call_count == 3
    assert (err.status, err.method, err.attempts) == (502, "POST", 3)
    assert err.url == f"{URL}?page=2"
    text = str(err)
    assert text.startswith(f"contacts: POST {URL}?page=2 -> HTTP 502")
    assert "after 3 attempts" in text
    assert "bad gateway" in text


@respx.mock
def test_persistent_429_without_hint_is_a_rate_limit_error() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(429))
    with client(retry=RetryPolicy(max_attempts=4)) as c, pytest.raises(RateLimitError) as info:
        c.get_json("/contacts")
    assert route.call_count == 4
    assert "still rate limited" in str(info.value)
    assert info.value.attempts == 4


# --------------------------------------------------------------------------- transport
@pytest.mark.parametrize(
    ("exc", "words"),
    [(httpx.ConnectError, "connection failed"), (httpx.ReadTimeout, "timed out")],
)
@respx.mock
def test_transport_errors_are_retried_then_succeed(exc: type[Exception], words: str) -> None:
    route = respx.get(URL).mock(side_effect=[exc, exc, ok({"n": 2})])
    sleeps = Sleeps()
    with client(sleeps) as c:
        assert c.get_json("/contacts").body == {"n": 2}
    assert route.call_count == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize(
    ("exc", "words"),
    [(httpx.ConnectError, "connection failed"), (httpx.ReadTimeout, "timed out")],
)
@respx.mock
def test_transport_errors_exhausted_give_a_clear_error(exc: type[Exception], words: str) -> None:
    route = respx.get(URL).mock(side_effect=exc)
    with client(retry=RetryPolicy(max_attempts=3)) as c, pytest.raises(HttpError) as info:
        c.get_json("/contacts", params={"q": "x"})
    err = info.value
    assert route.call_count == 3
    assert err.status is None
    assert err.url == f"{URL}?q=x"
    assert words in str(err)
    assert exc.__name__ in str(err)
    assert "-> HTTP" not in str(err)


# --------------------------------------------------------------------------- bodies
@respx.mock
def test_malformed_json_is_retried_then_parsed() -> None:
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(200, text='{"data": [1, 2'), ok({"data": [1, 2]})]
    )
    with client() as c:
        assert c.get_json("/contacts").body == {"data": [1, 2]}
    assert route.call_count == 2


@respx.mock
def test_malformed_json_every_time_is_a_response_error() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, text='{"data": [1, 2'))
    with client(retry=RetryPolicy(max_attempts=3)) as c, pytest.raises(ResponseError) as info:
        c.get_json("/contacts")
    assert route.call_count == 3
    assert "invalid JSON" in str(info.value)
    assert info.value.status == 200


@respx.mock
def test_malformed_json_not_retried_when_disabled() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, text="<html>"))
    with (
        client(retry=RetryPolicy(retry_invalid_json=False)) as c,
        pytest.raises(ResponseError),
    ):
        c.get_json("/contacts")
    assert route.call_count == 1


@respx.mock
def test_401_is_an_auth_error_and_not_retried() -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(401, json={"message": "bad token"}))
    with client() as c, pytest.raises(AuthError) as info:
        c.get_json("/contacts")
    assert route.call_count == 1
    assert info.value.status == 401
    assert "credentials" in str(info.value)


@respx.mock
def test_404_is_an_http_error_with_body_excerpt_not_retried() -> None:
    body = {"error": {"id": "1020", "name": "Resource Not Found", "message": "no such survey"}}
    route = respx.get(f"{BASE}/surveys/9").mock(return_value=httpx.Response(404, json=body))
    with client() as c, pytest.raises(HttpError) as info:
        c.get_json("/surveys/9")
    err = info.value
    assert type(err) is HttpError
    assert route.call_count == 1
    assert err.status == 404
    assert "no such survey" in err.body
    assert "no such survey" in str(err)


@respx.mock
def test_long_bodies_are_cut_in_errors() -> None:
    respx.get(URL).mock(return_value=httpx.Response(400, text="x" * 5000))
    with client() as c, pytest.raises(HttpError) as info:
        c.get_json("/contacts")
    assert 0 < len(info.value.body) < 400


def matomo_check(response: httpx.Response, body: Any) -> str | None:
    if isinstance(body, dict) and body.get("result") == "error":
        return str(body.get("message"))
    return None


@respx.mock
def test_matomo_error_inside_http_200_via_error_check() -> None:
    url = "https://matomo.acme.test/index.php"
    route = respx.post(url).mock(
        return_value=httpx.Response(
            200, json={"result": "error", "message": "You can't access this resource"}
        )
    )
    with HttpClient(error_check=matomo_check, sleep=Sleeps()) as c:
        with pytest.raises(HttpError) as info:
            c.post_json(url, params={"module": "API"}, data={"token_auth": "t0k3n-matomo"})
        assert route.call_count == 1  # an API error is not retried
        assert "You can't access this resource" in str(info.value)
        assert info.value.status == 200
        route.mock(return_value=httpx.Response(200, json=[{"idVisit": 1}]))
        assert c.post_json(url).body == [{"idVisit": 1}]


# --------------------------------------------------------------------------- salesforce 403
def sf_limit(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    try:
        errors = response.json()
    except ValueError:
        return False
    return isinstance(errors, list) and any(
        e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for e in errors
    )


SF_LIMIT = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


@respx.mock
def test_salesforce_403_request_limit_is_retried_as_rate_limited() -> None:
    route = respx.get(URL).mock(side_effect=[httpx.Response(403, json=SF_LIMIT), ok()])
    sleeps = Sleeps()
    with client(sleeps, retry=RetryPolicy(retry_on=sf_limit)) as c:
        c.get_json("/contacts")
    assert route.call_count == 2
    assert len(sleeps.waits) == 1


@respx.mock
def test_salesforce_403_request_limit_persisting_is_a_rate_limit_error() -> None:
    respx.get(URL).mock(return_value=httpx.Response(403, json=SF_LIMIT))
    policy = RetryPolicy(retry_on=sf_limit, max_attempts=2)
    with client(retry=policy) as c, pytest.raises(RateLimitError) as info:
        c.get_json("/contacts")
    assert info.value.status == 403
    assert "REQUEST_LIMIT_EXCEEDED" in str(info.value)


@respx.mock
def test_other_403_is_an_auth_error_even_with_retry_on() -> None:
    body = [{"message": "insufficient access", "errorCode": "INSUFFICIENT_ACCESS"}]
    route = respx.get(URL).mock(return_value=httpx.Response(403, json=body))
    with client(retry=RetryPolicy(retry_on=sf_limit)) as c, pytest.raises(AuthError):
        c.get_json("/contacts")
    assert route.call_count == 1


# --------------------------------------------------------------------------- secrets
API_KEY = "sk_live_Zx81pQ3vKeyNeverShown"
TOKEN = "pat-na1-9f8e7d6c-bearer-never-shown"


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
        assert urllib.parse.quote(secret, safe="") not in text  # as escaped in a URL
        assert urllib.parse.quote_plus(secret) not in text


@respx.mock
def test_api_key_in_query_never_leaks(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(500, text=f"echo: api_key={API_KEY}"),
            httpx.ConnectError(f"cannot reach {URL}?api_key={API_KEY}"),
            httpx.Response(404, json={"detail": f"unknown key {API_KEY}"}),
        ]
    )
    with capture_logs() as logs:
        c = client(auth=ApiKeyAuth(API_KEY, param="api_key"), source="crm")
        with c, pytest.raises(HttpError) as info:
            c.get_json("/contacts", params={"limit": 1})
    sent = respx.calls.last.request
    assert sent.url.params["api_key"] == API_KEY  # the key does reach the server
    err = info.value
    assert err.status == 404
    out = capsys.readouterr()
    everything = "\n".join(
        [str(err), repr(err), err.url, err.body, repr(c), str(logs), out.out, out.err]
    )
    _assert_no_secret(everything, API_KEY)
    assert len(logs) == 2  # two retries were logged


@respx.mock
def test_api_key_under_an_unusual_param_name_with_url_escapes_never_leaks() -> None:
    key = "k3y+with/slash=="  # percent-encoded in the URL
    respx.get(URL).mock(return_value=httpx.Response(404))
    with (
        client(auth=ApiKeyAuth(key, param="apiToken")) as c,
        pytest.raises(HttpError) as info,
    ):
        c.get_json("/contacts")
    assert respx.calls.last.request.url.params["apiToken"] == key
    _assert_no_secret(str(info.value), key)


@respx.mock
def test_api_key_in_base_url_query_is_masked_in_repr() -> None:
    with HttpClient(base_url=f"{BASE}?api_key={API_KEY}", sleep=Sleeps()) as c:
        assert API_KEY not in repr(c)
        assert "api.acme.test" in repr(c)


@respx.mock
def test_bearer_token_never_leaks(capsys: pytest.CaptureFixture[str]) -> None:
    respx.get(URL).mock(
        side_effect=[
            httpx.Response(503, text=f"token {TOKEN} is slow"),
            httpx.ReadTimeout(f"timeout with Authorization: Bearer {TOKEN}"),
            httpx.Response(401, json={"message": f"invalid token {TOKEN}"}),
        ]
    )
    auth = BearerAuth(TOKEN)
    with capture_logs() as logs:
        c = client(auth=auth)
        with c, pytest.raises(AuthError) as info:
            c.get_json("/contacts")
    assert respx.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"
    out = capsys.readouterr()
    everything = "\n".join(
        [str(info.value), repr(info.value), repr(c), repr(auth), str(logs), out.out, out.err]
    )
    _assert_no_secret(everything, TOKEN)


# --------------------------------------------------------------------------- the limiter
@respx.mock
def test_429_pauses_the_shared_limiter_for_other_clients() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), ok()])
    other_route = respx.get(f"{BASE}/deals").mock(return_value=ok())
    other = client(limiter=limiter)
    during_pause: list[float] = []

    def first_client_sleeps(seconds: float) -> None:
        # while the first client waits out its 429, another stream of the source sends
        before = len(clock.waits)
        other.get_json("/deals")
        during_pause.extend(clock.waits[before:])
        clock.sleep(seconds)

    with client(first_client_sleeps, limiter=limiter, retry=RetryPolicy(hint_margin=0)) as c:
        c.get_json("/contacts")
    other.close()
    assert other_route.call_count == 1
    assert during_pause == [7.0]  # the other client was held by the pause
    assert limiter.stats.server_pauses == 1


@respx.mock
def test_quota_headers_of_a_success_hold_the_next_request() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, reserve=1)
    headers = {"RateLimit-Limit": "700", "RateLimit-Remaining": "1", "RateLimit-Reset": "5"}
    respx.get(URL).mock(return_value=ok(headers=headers))
    with client(limiter=limiter) as c:
        c.get_json("/contacts")
        assert clock.waits == []
        c.get_json("/contacts")
    assert clock.waits == [5.0]
    assert limiter.stats.quota_holds == 1


@respx.mock
def test_quota_headers_ignored_when_observe_quota_is_off() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, reserve=1)
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": "5"}
    respx.get(URL).mock(return_value=ok(headers=headers))
    with client(limiter=limiter, observe_quota=False) as c:
        c.get_json("/contacts")
        c.get_json("/contacts")
    assert clock.waits == []


# --------------------------------------------------------------------------- async
def test_async_client_retries_and_uses_server_hints() -> None:
    sleeps = AsyncSleeps()

    async def main() -> Any:
        with respx.mock:
            route = respx.get(URL).mock(
                side_effect=[
                    httpx.Response(503),
                    httpx.ConnectError,
                    httpx.Response(429, headers={"Retry-After": "4"}),
                    httpx.Response(200, text="{broken"),
                    ok({"data": [1]}),
                ]
            )
            async with AsyncHttpClient(
                base_url=BASE, sleep=sleeps.asleep, retry=RetryPolicy(hint_margin=0), seed=3
            ) as c:
                body = (await c.get_json("/contacts")).body
                assert c.retries == 4
            assert route.call_count == 5
            return body

    assert asyncio.run(main()) == {"data": [1]}
    assert len(sleeps.waits) == 4
    assert sleeps.waits[2] == 4.0


def test_async_client_errors_match_the_sync_client() -> None:
    sleeps = AsyncSleeps()

    async def main() -> None:
        with respx.mock:
            respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))
            respx.get(f"{BASE}/gone").mock(return_value=httpx.Response(404, text="gone"))
            respx.get(f"{BASE}/auth").mock(return_value=httpx.Response(401))
            respx.get(f"{BASE}/down").mock(side_effect=httpx.ConnectError)
            async with AsyncHttpClient(
                base_url=BASE,
                sleep=sleeps.asleep,
                retry=RetryPolicy(max_wait=60, max_attempts=2),
                auth=BearerAuth(TOKEN),
            ) as c:
                with pytest.raises(RateLimitError) as rl:
                    await c.get_json("/contacts")
                assert "3600s" in str(rl.value)
                with pytest.raises(HttpError) as nf:
                    await c.get_json("/gone")
                assert nf.value.status == 404
                assert "gone" in str(nf.value)
                with pytest.raises(AuthError):
                    await c.get_json("/auth")
                with pytest.raises(HttpError) as down:
                    await c.request("GET", "/down")
                assert down.value.status is None
                assert down.value.attempts == 2
                assert TOKEN not in repr(c)

    asyncio.run(main())
    assert len(sleeps.waits) == 1  # only the connection error was retried once


def test_async_client_goes_through_the_limiter() -> None:
    clock = FakeClock()
    waits: list[float] = []

    async def asleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(requests=2, per=1.0, clock=clock, sleep=clock.sleep, asleep=asleep)

    async def main() -> None:
        with respx.mock:
            respx.get(URL).mock(return_value=ok())
            async with AsyncHttpClient(base_url=BASE, limiter=limiter, sleep=asleep) as c:
                for _ in range(3):
                    await c.get_json("/contacts")

    asyncio.run(main())
    assert waits == [1.0]
    assert limiter.stats.acquired == 3
