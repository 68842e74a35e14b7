"""The mailchimp connector over respx, with the documented shapes (apis.md section 6).

Offset pages to ``offset >= total_items``; 429 problem+json with and without
``Retry-After``; 5xx and timeouts; a wrong key (never shown); Mailchimp's
``title``/``detail`` in errors; malformed pages; incremental resume with
de-duplication at the boundary; at most ``max_connections`` requests in flight.
No real sleeps: the connector gets a fake clock.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from cintel import AuthError, ConfigError, ConnectorContext, HttpError, ResponseError
from cintel.config import format_validation_error
from cintel.logs import collect_secrets, register_secrets
from cintel.testing import read_stream
from cintel_mailchimp import MailchimpConfig, MailchimpConnector, data_centre
from cintel_mailchimp.streams import activity_id
from mailchimp_fake import FakeClock
from pydantic import ValidationError
from structlog.testing import capture_logs

KEY = "8f14e45fceea167a5a36dedd4bea2543-us6"
BASE = "https://us6.api.mailchimp.com/3.0"
MEMBERS = f"{BASE}/lists/L1/members"
ERRORS = "https://mailchimp.com/developer/marketing/docs/errors/"


def problem(status: int, title: str, detail: str, **headers: str) -> httpx.Response:
    body = {"type": ERRORS, "title": title, "status": status, "detail": detail, "instance": "i-1"}
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **headers}
    )


TOO_MANY = ("TooManyRequests", "You have exceeded the limit of 10 simultaneous connections.")


def member(n: int, changed: str, list_id: str = "L1") -> dict[str, Any]:
    return {
        "id": f"m{n}",
        "email_address": f"p{n}@example.com",
        "unique_email_id": f"u{n}",
        "status": "subscribed",
        "merge_fields": {"FNAME": "Ana", "LNAME": "Ruiz"},
        "timestamp_opt": "2024-01-10T09:00:00+00:00",
        "last_changed": changed,
        "tags": [{"id": 101, "name": "vip"}],
        "list_id": list_id,
    }


def members_page(total: int, *rows: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, json={"members": list(rows), "list_id": "L1", "total_items": total, "_links": []}
    )


def by_offset(pages: dict[int, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return pages[int(request.url.params.get("offset", 0))]

    return answer


def connector(clock: FakeClock | None = None, **config: Any) -> MailchimpConnector:
    cfg = MailchimpConfig.model_validate({"api_key": KEY, "list_ids": ["L1"], **config})
    register_secrets(collect_secrets(cfg))
    clock = clock or FakeClock()
    return MailchimpConnector(
        cfg,
        context=ConnectorContext(source="newsletter"),
        clock=clock,
        sleep=clock.sleep,
        now=lambda: datetime(2024, 5, 10, tzinfo=UTC),
    )


def stream(conn: MailchimpConnector, name: str) -> Any:
    return next(s for s in conn.streams() if s.name == name)


# --------------------------------------------------------------------------- data centre, auth
def test_the_data_centre_is_the_suffix_after_the_last_dash() -> None:
    assert data_centre("abc-def-us19") == "us19"
    assert data_centre("abc") is None
    assert data_centre("abc-") is None
    assert MailchimpConfig(api_key=KEY).api_root() == BASE  # type: ignore[arg-type]
    override = MailchimpConfig(api_key="no-suffix-key!", base_url="http://127.0.0.1:9/3.0/")  # type: ignore[arg-type]
    assert override.api_root() == "http://127.0.0.1:9/3.0"


def test_a_key_without_its_data_centre_is_a_config_error_that_hides_the_key() -> None:
    secret = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
    with pytest.raises(ValidationError) as err:
        MailchimpConfig.model_validate({"api_key": secret})
    problems = format_validation_error(err.value, "sources.newsletter.config")
    text = str(ConfigError(problems))
    assert "api_key must end with its data centre" in text
    assert secret not in text


@respx.mock
def test_check_is_one_ping_with_basic_auth_and_the_key_as_password() -> None:
    route = respx.get(f"{BASE}/ping").mock(
        return_value=httpx.Response(200, json={"health_status": "Everything's Chimpy!"})
    )
    result = connector().check()
    assert result.ok
    assert result.message == f"connected to Mailchimp at {BASE}"
    assert route.call_count == 1
    scheme, encoded = route.calls[0].request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode().split(":", 1)[1] == KEY


@respx.mock
def test_a_wrong_key_gives_mailchimps_title_and_detail_never_the_key() -> None:
    bad = problem(
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )
    respx.get(f"{BASE}/ping").mock(return_value=bad)
    respx.get(MEMBERS).mock(return_value=bad)
    conn = connector()
    with capture_logs() as logs:
        result = conn.check()
        with pytest.raises(AuthError) as err:
            read_stream(stream(conn, "members"))
    assert not result.ok
    assert result.message.startswith("Mailchimp rejected the API key (HTTP 401) (API Key Invalid:")
    assert "wrong datacenter" in result.message
    assert "Mailchimp says API Key Invalid: Your API key may be invalid" in str(err.value)
    assert err.value.status == 401
    encoded = base64.b64encode(f"cintel:{KEY}".encode()).decode()
    texts = [result.message, str(err.value), repr(conn), repr(conn.settings), str(conn.settings)]
    texts += [str(e) for e in logs] + [repr(s) for s in conn.streams()] + [repr(conn.client)]
    for text in texts:
        assert KEY not in text
        assert encoded not in text


@respx.mock
def test_a_disabled_account_is_a_403_message() -> None:
    respx.get(f"{BASE}/ping").mock(
        return_value=problem(403, "User Disabled", "This account has been disabled.")
    )
    message = connector().check().message
    assert "refused access" in message
    assert "User Disabled: This account has been disabled." in message


@respx.mock
def test_an_unreachable_data_centre_is_named_in_the_check() -> None:
    respx.get(f"{BASE}/ping").mock(side_effect=httpx.ConnectError("name not resolved"))
    result = connector().check()
    assert not result.ok
    assert "check the data centre at the end of the API key" in result.message
    assert KEY not in result.message


# --------------------------------------------------------------------------- paging
@respx.mock
def test_members_page_by_offset_until_offset_reaches_total_items() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=by_offset(
            {
                0: members_page(
                    5,
                    member(1, "2024-05-01T08:00:01+00:00"),
                    member(2, "2024-05-01T08:00:02+00:00"),
                ),
                2: members_page(
                    5,
                    member(3, "2024-05-01T08:00:03+00:00"),
                    member(4, "2024-05-01T08:00:04+00:00"),
                ),
                4: members_page(5, member(5, "2024-05-01T08:00:05+00:00")),
            }
        )
    )
    records, state, _ = read_stream(stream(connector(page_size=2), "members"))
    assert [r["id"] for r in records] == ["m1", "m2", "m3", "m4", "m5"]
    params = [dict(c.request.url.params) for c in route.calls]
    assert [p["offset"] for p in params] == ["0", "2", "4"]  # no request past total_items
    assert params[0] == {
        "sort_field": "last_changed",
        "sort_dir": "ASC",
        "exclude_fields": "members._links,_links",
        "offset": "0",
        "count": "2",
    }
    assert state == {
        "partitions": {
            "L1": {
                "cursor": {
                    "watermark": "2024-05-01T08:00:05+00:00",
                    "boundary": ['["L1","m5"]'],
                }
            }
        }
    }


@respx.mock
def test_a_short_page_is_not_the_end_when_total_items_says_more() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=by_offset(
            {
                0: members_page(3, member(1, "2024-05-01T08:00:01+00:00")),
                1: members_page(
                    3,
                    member(2, "2024-05-01T08:00:02+00:00"),
                    member(3, "2024-05-01T08:00:03+00:00"),
                ),
            }
        )
    )
    records, _, _ = read_stream(stream(connector(page_size=2), "members"))
    assert len(records) == 3
    assert route.call_count == 2


@respx.mock
def test_an_empty_page_ends_the_listing_even_below_total_items() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=by_offset(
            {0: members_page(9, member(1, "2024-05-01T08:00:01+00:00")), 1: members_page(9)}
        )
    )
    records, _, _ = read_stream(stream(connector(page_size=1), "members"))
    assert len(records) == 1
    assert route.call_count == 2


@respx.mock
def test_every_audience_is_listed_when_none_is_configured() -> None:
    lists = respx.get(f"{BASE}/lists").mock(
        return_value=httpx.Response(
            200,
            json={
                "lists": [{"id": "L1", "name": "A"}, {"id": "L2", "name": "B"}],
                "total_items": 2,
            },
        )
    )
    respx.get(MEMBERS).mock(return_value=members_page(1, member(1, "2024-05-01T08:00:01+00:00")))
    respx.get(f"{BASE}/lists/L2/members").mock(
        return_value=members_page(1, member(1, "2024-05-01T08:00:01+00:00", list_id="L2"))
    )
    records, state, _ = read_stream(stream(connector(list_ids=[]), "members"))
    assert [(r["list_id"], r["id"]) for r in records] == [("L1", "m1"), ("L2", "m1")]
    assert set(state["partitions"]) == {"L1", "L2"}
    assert lists.calls[0].request.url.params["fields"] == "lists.id,lists.name,total_items"


# --------------------------------------------------------------------------- incremental
@respx.mock
def test_members_resume_from_state_since_last_changed_and_drop_the_boundary() -> None:
    state = {
        "partitions": {
            "L1": {
                "cursor": {"watermark": "2024-05-01T08:00:03+00:00", "boundary": ['["L1","m3"]']}
            }
        }
    }
    route = respx.get(MEMBERS).mock(
        return_value=members_page(
            3,
            member(3, "2024-05-01T08:00:03+00:00"),  # loaded by the last run
            member(9, "2024-05-01T08:00:03+00:00"),  # changed on the same second: new
            member(4, "2024-05-01T08:00:04+00:00"),
        )
    )
    records, final, _ = read_stream(stream(connector(), "members"), state)
    assert [r["id"] for r in records] == ["m9", "m4"]
    assert route.calls[0].request.url.params["since_last_changed"] == "2024-05-01T08:00:03+00:00"
    assert final["partitions"]["L1"]["cursor"]["watermark"] == "2024-05-01T08:00:04+00:00"


@respx.mock
def test_a_killed_members_read_resumes_at_its_offset() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=by_offset(
            {
                0: members_page(3, member(1, "2024-05-01T08:00:01+00:00")),
                1: members_page(3, member(2, "2024-05-01T08:00:02+00:00")),
                2: members_page(3, member(3, "2024-05-01T08:00:03+00:00")),
            }
        )
    )
    members = stream(connector(page_size=1), "members")
    members.batch_size = 1
    first = next(iter(members.read(None)))
    sent = route.call_count
    rest, _, _ = read_stream(stream(connector(page_size=1), "members"), first.state)
    assert [r["id"] for r in first.records + rest] == ["m1", "m2", "m3"]
    assert route.calls[sent].request.url.params["offset"] == "1"


@respx.mock
def test_start_date_bounds_the_first_members_read() -> None:
    route = respx.get(MEMBERS).mock(return_value=members_page(0))
    read_stream(stream(connector(start_date="2024-04-01T00:00:00"), "members"))
    assert route.calls[0].request.url.params["since_last_changed"] == "2024-04-01T00:00:00+00:00"


# --------------------------------------------------------------------------- retries
@respx.mock
@pytest.mark.parametrize("retry_after", ["4", None], ids=["retry-after", "no-retry-after"])
def test_429_problem_json_is_retried_with_and_without_retry_after(retry_after: str | None) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    route = respx.get(MEMBERS).mock(
        side_effect=[
            problem(429, *TOO_MANY, **headers),
            problem(429, *TOO_MANY, **headers),
            members_page(1, member(1, "2024-05-01T08:00:01+00:00")),
        ]
    )
    clock = FakeClock()
    records, _, _ = read_stream(stream(connector(clock), "members"))
    assert len(records) == 1
    assert route.call_count == 3
    if retry_after:
        assert clock.sleeps == [pytest.approx(4.05), pytest.approx(4.05)]
    else:  # no header: exponential backoff from 1 s, with jitter
        assert len(clock.sleeps) == 2
        assert 1 <= clock.sleeps[0] < 2 <= clock.sleeps[1] < 3


@respx.mock
def test_429_that_never_clears_names_mailchimps_detail() -> None:
    respx.get(MEMBERS).mock(return_value=problem(429, *TOO_MANY))
    with pytest.raises(HttpError, match="Mailchimp says TooManyRequests: You have exceeded") as err:
        read_stream(stream(connector(), "members"))
    assert err.value.attempts == 8


@respx.mock
def test_5xx_then_success() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=[
            problem(500, "Internal Server Error", "An unexpected internal error has occurred."),
            httpx.Response(503, text="<html>busy</html>"),
            members_page(1, member(1, "2024-05-01T08:00:01+00:00")),
        ]
    )
    records, _, _ = read_stream(stream(connector(), "members"))
    assert len(records) == 1
    assert route.call_count == 3


@respx.mock
def test_timeouts_are_retried_then_reported() -> None:
    route = respx.get(MEMBERS).mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            members_page(1, member(1, "2024-05-01T08:00:01+00:00")),
        ]
    )
    assert len(read_stream(stream(connector(), "members"))[0]) == 1
    assert route.call_count == 2
    respx.get(MEMBERS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(HttpError, match="timed out"):
        read_stream(stream(connector(), "members"))


@respx.mock
def test_an_unknown_audience_fails_with_mailchimps_words() -> None:
    respx.get(MEMBERS).mock(
        return_value=problem(
            404, "Resource Not Found", "The requested resource could not be found."
        )
    )
    with pytest.raises(HttpError) as err:
        read_stream(stream(connector(), "members"))
    assert (
        "-> HTTP 404: Mailchimp says Resource Not Found: "
        "The requested resource could not be found." in str(err.value)
    )


# --------------------------------------------------------------------------- malformed
@respx.mock
def test_a_page_without_its_list_is_an_error_naming_what_is_there() -> None:
    respx.get(MEMBERS).mock(
        return_value=httpx.Response(200, json={"total_items": 3, "list_id": "L1"})
    )
    with pytest.raises(
        ResponseError, match=r"record path 'members' is not in the response.*list_id, total_items"
    ):
        read_stream(stream(connector(), "members"))


@respx.mock
def test_a_body_that_is_not_json_is_retried_then_an_error() -> None:
    respx.get(MEMBERS).mock(return_value=httpx.Response(200, text='{"members": ['))
    with pytest.raises(ResponseError, match="invalid JSON"):
        read_stream(stream(connector(), "members"))


# --------------------------------------------------------------------------- concurrency
@respx.mock
def test_requests_in_flight_never_exceed_max_connections() -> None:
    conn = connector(max_connections=2)
    limiter = conn.client.limiter
    assert limiter is not None
    gate = threading.Event()
    peak: list[int] = []

    def slow(request: httpx.Request) -> httpx.Response:
        peak.append(limiter.in_flight)
        gate.wait(10)
        return httpx.Response(200, json={"health_status": "ok"})

    respx.get(f"{BASE}/ping").mock(side_effect=slow)
    threads = [threading.Thread(target=conn.client.get_json, args=("/ping",)) for _ in range(5)]
    for t in threads:
        t.start()
    for _ in range(500):  # until two are in flight and three wait for a slot
        if limiter.in_flight == 2 and limiter.waiting == 3:
            break
        threading.Event().wait(0.01)
    assert (limiter.in_flight, limiter.waiting) == (2, 3)
    gate.set()
    for t in threads:
        t.join(10)
    assert max(peak) == 2
    assert len(peak) == 5
    conn.close()


# --------------------------------------------------------------------------- activity
def campaigns_body(*campaigns: dict[str, Any], total: int | None = None) -> httpx.Response:
    n = len(campaigns) if total is None else total
    return httpx.Response(200, json={"campaigns": list(campaigns), "total_items": n})


def campaign(
    cid: str, status: str = "sent", sent: str = "2024-05-01T09:00:00+00:00", **extra: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "status": status,
        "send_time": sent,
        "settings": {"title": f"Title {cid}", "subject_line": f"Subject {cid}"},
        "tracking": {"google_analytics": f"ga_{cid}"},
        "recipients": {"list_id": "L1"},
        **extra,
    }


ACTIVITY = {
    "emails": [
        {
            "campaign_id": "c1",
            "list_id": "L1",
            "list_is_active": True,
            "email_id": "62eeb292278cc15f5817cb78f7790b08",
            "email_address": "ana@example.com",
            "activity": [
                {"action": "open", "timestamp": "2024-05-01T10:00:00+00:00", "ip": "203.0.113.9"},
                {
                    "action": "click",
                    "timestamp": "2024-05-01T10:00:30+00:00",
                    "url": "https://shop.example.com/spring",
                    "ip": "203.0.113.9",
                },
            ],
        },
        {
            "campaign_id": "c1",
            "list_id": "L1",
            "list_is_active": True,
            "email_id": "0cc175b9c0f1b6a831c399e269772661",
            "email_address": "bob@example.com",
            "activity": [
                {"action": "bounce", "timestamp": "2024-05-01T09:01:00+00:00", "type": "hard"}
            ],
        },
    ],
    "campaign_id": "c1",
    "total_items": 2,
}


@respx.mock
def test_activity_is_read_per_sent_campaign_flattened_with_the_campaign_name() -> None:
    listing = respx.get(f"{BASE}/campaigns").mock(
        side_effect=by_offset(
            {
                0: campaigns_body(campaign("c1"), campaign("c0", status="save"), total=3),
                2: campaigns_body(campaign("c2", recipients={"list_id": "OTHER"}), total=3),
            }
        )
    )
    c1 = respx.get(f"{BASE}/reports/c1/email-activity").mock(
        return_value=httpx.Response(200, json=ACTIVITY)
    )
    records, state, _ = read_stream(stream(connector(page_size=2), "email_activity"))
    # c0 is not sent; c2 went to an audience that is not configured
    assert c1.call_count == 1
    assert [(r["action"], r["email_address"]) for r in records] == [
        ("open", "ana@example.com"),
        ("click", "ana@example.com"),
        ("bounce", "bob@example.com"),
    ]
    assert {r["campaign_name"] for r in records} == {"Title c1"}
    assert records[1]["url"] == "https://shop.example.com/spring"
    assert records[2]["type"] == "hard"
    assert "activity" not in records[0]
    assert len({r["activity_id"] for r in records}) == 3
    assert records[0]["activity_id"] == activity_id(records[0])
    assert [dict(c.request.url.params)["offset"] for c in listing.calls] == ["0", "2"]
    assert state["partitions"]["c1"]["cursor"]["watermark"] == "2024-05-01T10:00:30+00:00"


@respx.mock
def test_activity_resumes_since_the_last_event_and_drops_the_boundary() -> None:
    respx.get(f"{BASE}/campaigns").mock(return_value=campaigns_body(campaign("c1")))
    first_click = {**ACTIVITY["emails"][0], "activity": ACTIVITY["emails"][0]["activity"][1:]}
    route = respx.get(f"{BASE}/reports/c1/email-activity").mock(
        side_effect=[
            httpx.Response(200, json=ACTIVITY),
            httpx.Response(
                200,
                json={
                    "emails": [
                        {
                            **first_click,
                            "activity": [
                                *first_click["activity"],  # the boundary: loaded already
                                {"action": "open", "timestamp": "2024-05-02T07:00:00+00:00"},
                            ],
                        }
                    ],
                    "total_items": 1,
                },
            ),
        ]
    )
    activity = stream(connector(), "email_activity")
    _, state, _ = read_stream(activity)
    again, _, _ = read_stream(activity, state)
    assert [(r["action"], r["timestamp"]) for r in again] == [("open", "2024-05-02T07:00:00+00:00")]
    assert route.calls[1].request.url.params["since"] == "2024-05-01T10:00:30+00:00"


@respx.mock
def test_activity_window_skips_old_campaigns_and_their_state() -> None:
    respx.get(f"{BASE}/campaigns").mock(
        return_value=campaigns_body(
            campaign("old", sent="2024-01-01T00:00:00+00:00"), campaign("c1")
        )
    )
    old = respx.get(f"{BASE}/reports/old/email-activity").mock(
        return_value=httpx.Response(200, json={"emails": [], "total_items": 0})
    )
    respx.get(f"{BASE}/reports/c1/email-activity").mock(
        return_value=httpx.Response(200, json={"emails": [], "total_items": 0})
    )
    state = {
        "partitions": {
            "old": {"cursor": {"watermark": "2024-01-02T00:00:00+00:00", "boundary": []}}
        }
    }
    _, final, _ = read_stream(stream(connector(activity_window_days=30), "email_activity"), state)
    assert old.call_count == 0
    assert set(final["partitions"]) == {"c1"}


@respx.mock
@pytest.mark.parametrize(
    ("choice", "expected"),
    [("title", "Title c1"), ("subject_line", "Subject c1"), ("google_analytics", "ga_c1")],
)
def test_the_campaign_name_is_configurable(choice: str, expected: str) -> None:
    respx.get(f"{BASE}/campaigns").mock(return_value=campaigns_body(campaign("c1")))
    respx.get(f"{BASE}/reports/c1/email-activity").mock(
        return_value=httpx.Response(200, json=ACTIVITY)
    )
    records, _, _ = read_stream(stream(connector(campaign_name=choice), "email_activity"))
    assert {r["campaign_name"] for r in records} == {expected}


@respx.mock
def test_campaigns_stream_reads_every_campaign_in_full() -> None:
    route = respx.get(f"{BASE}/campaigns").mock(
        return_value=campaigns_body(campaign("c1"), campaign("c0", status="save"))
    )
    records, _, _ = read_stream(stream(connector(), "campaigns"))
    assert [r["id"] for r in records] == ["c1", "c0"]
    assert route.calls[0].request.url.params["exclude_fields"] == "campaigns._links,_links"
