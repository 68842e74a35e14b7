"""HubSpot's limits and failures: 429 policies, quota headers, 5xx, timeouts, bad pages, auth."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from typing import Any

import httpx
import pytest
import respx
import structlog
from cintel.errors import AuthError, HttpError, ResponseError
from cintel_hubspot import DailyLimitError
from hubspot_fake import TOKEN
from hubspot_helpers import (
    BASE_URL,
    RATE_HEADERS,
    Clock,
    contact,
    last_state,
    make_connector,
    page,
    read,
    records,
    stream,
)

CONTACTS = "/crm/v3/objects/contacts"
ONE = page([contact(1, "2024-05-01T08:00:00Z")])
FIRST = page([contact(1, "2024-05-01T08:00:00Z")], after="Mg")  # a first of two pages


def hubspot_429(policy: str | None, *, retry_after: str | None = None, **headers: str) -> Any:
    body: dict[str, Any] = {
        "status": "error",
        "message": "You have reached your ten second limit."
        if policy != "DAILY"
        else "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c",
    }
    if policy is not None:
        body["policyName"] = policy
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return httpx.Response(429, json=body, headers=headers)


# ----------------------------------------------------------------------------- 429 after the fact
@pytest.mark.parametrize(
    ("retry_after", "headers", "waited"),
    [
        (None, RATE_HEADERS | {"X-HubSpot-RateLimit-Remaining": "0"}, 10.0),  # the interval
        (None, {}, 10.0),  # no headers at all: HubSpot's ten seconds
        ("3", RATE_HEADERS, 3.0),  # Retry-After wins when sent
    ],
    ids=["interval-header", "no-headers", "retry-after"],
)
def test_ten_secondly_429_waits_for_the_next_window(
    retry_after: str | None, headers: dict[str, str], waited: float
) -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            side_effect=[
                hubspot_429("TEN_SECONDLY_ROLLING", retry_after=retry_after, **headers),
                httpx.Response(200, json=ONE),
            ]
        )
        rows = records(read(stream(make_connector(clock), "contacts")))
    assert [r["id"] for r in rows] == ["1"]
    assert route.call_count == 2
    assert sum(clock.sleeps) == pytest.approx(waited + 0.05)  # the hint plus its margin


def test_secondly_429_of_search_waits_one_second() -> None:
    clock = Clock()
    state = {"cursor": {"watermark": "2024-05-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        router.post(f"{CONTACTS}/search").mock(
            side_effect=[hubspot_429("SECONDLY"), httpx.Response(200, json=ONE)]
        )
        rows = records(read(stream(make_connector(clock), "contacts"), state))
    assert len(rows) == 1
    assert clock.sleeps == [pytest.approx(1.05)]


@pytest.mark.parametrize("retry_after", [None, "30"], ids=["no-retry-after", "retry-after"])
def test_daily_429_fails_the_stream_at_once_and_stops_the_others(retry_after: str | None) -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        contacts = router.get(CONTACTS).mock(
            return_value=hubspot_429("DAILY", retry_after=retry_after, **RATE_HEADERS)
        )
        deals = router.get("/crm/v3/objects/deals").mock(return_value=httpx.Response(200, json=ONE))
        connector = make_connector(clock)
        with pytest.raises(DailyLimitError) as caught:
            read(stream(connector, "contacts"))
        with pytest.raises(DailyLimitError):
            read(stream(connector, "deals"))
    message = str(caught.value)
    assert message.startswith("crm.contacts: HubSpot's daily API request limit is used up")
    assert "policyName DAILY" in message
    assert "next run resumes from its last committed checkpoint" in message
    assert contacts.call_count == 1  # not retried every ten seconds
    assert deals.call_count == 0  # the other streams stop before sending anything
    assert clock.sleeps == []


def test_a_stream_stopped_by_the_daily_limit_resumes_on_the_next_run() -> None:
    second = page([contact(2, "2024-05-01T08:00:01Z")], after="Mw%3D%3D")
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            side_effect=[
                httpx.Response(200, json=page([contact(1, "2024-05-01T08:00:00Z")], after="Mg")),
                hubspot_429("DAILY"),
                httpx.Response(200, json=second),
                httpx.Response(200, json=page([contact(3, "2024-05-01T08:00:02Z")])),
            ]
        )
        connector = make_connector(page_size=1)
        committed: list[Any] = []
        s = stream(connector, "contacts")
        s.batch_size = 1
        with pytest.raises(DailyLimitError):
            committed.extend(s.read(None))  # batches before the failure are committed
        connector.close()  # the run ends; the next one asks HubSpot again
        resumed = read(stream(connector, "contacts"), last_state(committed), batch_size=1)
    assert [r["id"] for r in records(committed) + records(resumed)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [("2", 2.05, 2.05), (None, 0.5, 1.5)],
    ids=["retry-after", "backoff"],
)
def test_429_without_a_policy_uses_retry_after_or_backoff(
    retry_after: str | None, low: float, high: float
) -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            side_effect=[
                hubspot_429(None, retry_after=retry_after),
                httpx.Response(200, json=ONE),
            ]
        )
        assert len(records(read(stream(make_connector(clock), "contacts")))) == 1
    assert len(clock.sleeps) == 1
    assert low <= clock.sleeps[0] <= high


# ----------------------------------------------------------------------------- before a 429
def test_low_remaining_makes_every_stream_wait_for_the_interval() -> None:
    clock = Clock()
    low = RATE_HEADERS | {"X-HubSpot-RateLimit-Remaining": "3"}  # <= max_concurrency
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            side_effect=[
                httpx.Response(200, json=FIRST, headers=low),
                httpx.Response(200, json=ONE, headers=RATE_HEADERS),
            ]
        )
        connector = make_connector(clock, page_size=1)
        read(stream(connector, "contacts"))
    assert route.call_count == 2
    assert all(call.response.status_code == 200 for call in route.calls)  # no 429 needed
    assert clock.sleeps == [pytest.approx(10.0)]  # the announced interval
    assert connector.client.limiter is not None
    assert connector.client.limiter.stats.quota_holds == 1


def test_plenty_remaining_does_not_wait() -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            side_effect=[
                httpx.Response(200, json=FIRST, headers=RATE_HEADERS),
                httpx.Response(200, json=ONE, headers=RATE_HEADERS),
            ]
        )
        read(stream(make_connector(clock, page_size=1), "contacts"))
    assert clock.sleeps == []


def test_search_requests_are_held_to_their_own_rate() -> None:
    clock = Clock()
    state = {"cursor": {"watermark": "2024-05-01T00:00:00.000Z", "boundary": []}}
    pages = [
        httpx.Response(200, json=page([contact(i, f"2024-05-01T08:00:0{i}Z")], after=str(i)))
        for i in range(1, 4)
    ]
    with respx.mock(base_url=BASE_URL) as router:
        router.post(f"{CONTACTS}/search").mock(
            side_effect=[*pages, httpx.Response(200, json=page([]))]
        )
        connector = make_connector(clock, search_requests_per_second=2, search_page_size=1)
        read(stream(connector, "contacts"), state)
    assert clock.sleeps == [pytest.approx(1.0)]  # the third search waits for the second


@pytest.mark.parametrize(
    ("remaining", "reserve", "why"),
    [("0", 0, "is 0 of 500,000"), ("999", 1000, "at or below daily_reserve = 1,000")],
    ids=["used-up", "reserve"],
)
def test_the_daily_remaining_header_stops_before_the_limit(
    remaining: str, reserve: int, why: str
) -> None:
    headers = RATE_HEADERS | {"X-HubSpot-RateLimit-Daily-Remaining": remaining}
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            return_value=httpx.Response(
                200, json=page([contact(1, "2024-05-01T08:00:00Z")], after="Mg"), headers=headers
            )
        )
        connector = make_connector(page_size=1, daily_reserve=reserve)
        s = stream(connector, "contacts")
        s.batch_size = 1
        batches = []
        with pytest.raises(DailyLimitError, match=why):
            batches.extend(s.read(None))
        assert route.call_count == 1  # the second page was never asked for
        assert [r["id"] for r in records(batches)] == ["1"]  # the first is committed
        connector.close()  # a new run asks again
        route.return_value = httpx.Response(200, json=ONE, headers=RATE_HEADERS)
        assert len(records(read(stream(connector, "contacts")))) == 1


# ----------------------------------------------------------------------------- other failures
def test_5xx_then_success_is_retried_with_backoff() -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            side_effect=[
                httpx.Response(500, json={"status": "error", "message": "internal error"}),
                httpx.Response(502, text="<html>Bad gateway</html>"),
                httpx.Response(503, json={"status": "error", "message": "unavailable"}),
                httpx.Response(200, json=ONE),
            ]
        )
        rows = records(read(stream(make_connector(clock), "contacts")))
    assert len(rows) == 1
    assert route.call_count == 4
    assert len(clock.sleeps) == 3
    assert clock.sleeps[0] < clock.sleeps[2]  # exponential


def test_timeouts_are_retried_then_reported() -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            side_effect=[
                httpx.ReadTimeout("read timed out"),
                httpx.ConnectTimeout("connect timed out"),
                httpx.Response(200, json=ONE),
            ]
        )
        assert len(records(read(stream(make_connector(clock), "contacts")))) == 1
        router.get(CONTACTS).mock(side_effect=httpx.ReadTimeout("read timed out"))
        with pytest.raises(HttpError, match=r"timed out \(ReadTimeout.*gave up") as caught:
            read(stream(make_connector(clock, max_retry_wait=20), "contacts"))
    assert caught.value.status is None
    assert TOKEN not in str(caught.value)


def test_a_page_that_is_not_json_is_retried_then_a_clear_error() -> None:
    clock = Clock()
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            side_effect=[httpx.Response(200, text='{"results": ['), httpx.Response(200, json=ONE)]
        )
        assert len(records(read(stream(make_connector(clock), "contacts")))) == 1
        assert route.call_count == 2
        router.get(CONTACTS).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))
        with pytest.raises(ResponseError, match="invalid JSON in the response body"):
            read(stream(make_connector(clock), "contacts"))


def test_a_page_without_results_is_a_clear_error() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            return_value=httpx.Response(200, json={"status": "COMPLETE", "paging": {}})
        )
        with pytest.raises(ResponseError) as caught:
            read(stream(make_connector(), "contacts"))
    message = str(caught.value)
    assert "record path 'results' is not in the response" in message
    assert "keys present: paging, status" in message
    assert message.startswith("crm.contacts: GET")


# ----------------------------------------------------------------------------- refusals
UNAUTHORIZED = {
    "status": "error",
    "message": "Authentication credentials not found. This API supports OAuth 2.0 "
    "authentication and you can find more details at https://developers.hubspot.com/docs/"
    "methods/auth/oauth-overview",
    "correlationId": "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
    "category": "INVALID_AUTHENTICATION",
}


def missing_scope(scopes: list[str], *, long: bool = False) -> dict[str, Any]:
    message = "This app hasn't been granted all required scopes to make this call."
    if long:
        message += " Read more about required scopes here: https://developers.hubspot.com/scopes."
    return {
        "status": "error",
        "message": message,
        "correlationId": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
        "errors": [
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": scopes},
            }
        ],
        "links": {"scopes": "https://developers.hubspot.com/scopes"},
        "category": "MISSING_SCOPES",
    }


def captured(action: Any) -> tuple[Any, str]:
    """Run ``action`` capturing structlog lines and stderr; returns its result and them."""
    err = io.StringIO()
    with structlog.testing.capture_logs() as logs, redirect_stderr(err):
        result = action()
    return result, "\n".join(str(e) for e in logs) + err.getvalue()


def test_check_passes_with_one_cheap_request() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        route = router.get(CONTACTS).mock(
            return_value=httpx.Response(200, json=ONE, headers=RATE_HEADERS)
        )
        result = make_connector().check()
    assert result.ok
    left = "499,000 of 500,000 requests left today"
    assert result.message == f"connected to HubSpot (contacts readable; {left})"
    assert route.call_count == 1
    assert route.calls[0].request.url.params["limit"] == "1"
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"


def test_check_says_the_token_is_wrong_on_401_without_showing_it() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(return_value=httpx.Response(401, json=UNAUTHORIZED))
        connector = make_connector()
        result, logs = captured(connector.check)
    assert not result.ok
    assert "HTTP 401, INVALID_AUTHENTICATION" in result.message
    assert "HubSpot rejected the access token" in result.message
    assert "wrong, expired or revoked" in result.message
    for text in (
        result.message,
        logs,
        repr(connector),
        repr(connector.config),
        str(connector.config),
        repr(connector.client),
        repr(connector.streams()),
    ):
        assert TOKEN not in text


def test_an_expired_token_is_named() -> None:
    body = UNAUTHORIZED | {
        "message": "The OAuth token used to make this call expired 2 hour(s) ago.",
        "category": "EXPIRED_AUTHENTICATION",
    }
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(return_value=httpx.Response(401, json=body))
        result = make_connector().check()
    assert "the token is expired" not in result.message
    assert "it is expired" in result.message


def test_check_names_the_missing_scope_from_the_body() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(
            return_value=httpx.Response(403, json=missing_scope(["crm.objects.contacts.read"]))
        )
        result = make_connector().check()
    assert not result.ok
    assert "HubSpot refused access (HTTP 403" in result.message
    assert "the response names crm.objects.contacts.read" in result.message
    assert TOKEN not in result.message


def test_a_403_body_cut_short_names_the_scope_of_the_endpoint() -> None:
    body = missing_scope(["crm.objects.deals.read"], long=True)
    state = {"cursor": {"watermark": "2024-05-01T00:00:00.000Z", "boundary": []}}
    with respx.mock(base_url=BASE_URL) as router:
        router.post("/crm/v3/objects/deals/search").mock(
            return_value=httpx.Response(403, json=body)
        )
        connector = make_connector()
        with pytest.raises(AuthError) as caught:
            read(stream(connector, "deals"), state)
    message = str(caught.value)
    assert message.startswith("crm.deals: POST")
    assert "this request needs crm.objects.deals.read" in message
    assert TOKEN not in message


def test_a_403_on_associations_names_both_scopes() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get("/crm/v3/objects/deals").mock(
            return_value=httpx.Response(200, json=page([{"id": "9", "properties": {}}]))
        )
        router.post("/crm/v4/associations/deals/contacts/batch/read").mock(
            return_value=httpx.Response(403, json={"status": "error", "message": "Forbidden"})
        )
        connector = make_connector(deals={"associations": ["contacts"]})
        with pytest.raises(
            AuthError, match=r"needs crm\.objects\.deals\.read, crm\.objects\.contacts\.read"
        ):
            read(stream(connector, "deals"))


def test_a_401_while_reading_is_explained_too() -> None:
    with respx.mock(base_url=BASE_URL) as router:
        router.get(CONTACTS).mock(return_value=httpx.Response(401, json=UNAUTHORIZED))
        connector = make_connector()
        contacts = stream(connector, "contacts")

        def fail() -> str:
            with pytest.raises(AuthError) as caught:
                read(contacts)
            return str(caught.value)

        message, logs = captured(fail)
    assert "HubSpot rejected the access token" in message
    assert TOKEN not in message
    assert TOKEN not in logs
