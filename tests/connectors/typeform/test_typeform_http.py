"""The typeform connector over respx, with the documented shapes (apis.md section 8).

Paging to an empty ``items``; 429 with and without ``Retry-After``; 5xx and
timeouts; wrong and expired tokens (the token never shown); malformed pages;
incremental resume with the overlap window de-duplicated by ``response_id``.
No real sleeps: the connector gets a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from cintel import AuthError, ConnectorContext, HttpError, RateLimitError, ResponseError
from cintel.logs import collect_secrets, register_secrets
from cintel.testing import read_stream
from cintel_typeform import TypeformConfig, TypeformConnector
from structlog.testing import capture_logs
from typeform_fake import FakeClock

BASE = "https://api.typeform.com"
TOKEN = "tfp_9f8e7d6c5b4a_secret_personal_token"
FORM = "u6nXL7"
RESPONSES = f"{BASE}/forms/{FORM}/responses"


def item(rid: str, submitted: str, **extra: Any) -> dict[str, Any]:
    """A response as documented: token = response_id, answers with field{id,type,ref}."""
    return {
        "landing_id": rid,
        "token": rid,
        "response_id": rid,
        "response_type": "completed",
        "landed_at": submitted,
        "submitted_at": submitted,
        "metadata": {"referer": f"https://acme.typeform.com/to/{FORM}?utm_source=newsletter"},
        "hidden": {"utm_source": "newsletter", "user_id": f"u_{rid}"},
        "calculated": {"score": 0},
        "answers": [
            {
                "field": {"id": "hVONkQcnSNRj", "type": "opinion_scale", "ref": "nps"},
                "type": "number",
                "number": 9,
            }
        ],
        **extra,
    }


def page(*items: dict[str, Any], total: int | None = None) -> httpx.Response:
    n = len(items) if total is None else total
    return httpx.Response(200, json={"total_items": n, "page_count": 1, "items": list(items)})


DEFINITION = {
    "id": FORM,
    "fields": [
        {
            "id": "hVONkQcnSNRj",
            "ref": "nps",
            "type": "opinion_scale",
            "properties": {"steps": 11, "start_at_one": False},
        }
    ],
}


def connector(clock: FakeClock | None = None, **config: Any) -> TypeformConnector:
    cfg = TypeformConfig.model_validate({"token": TOKEN, "form_ids": [FORM], **config})
    register_secrets(collect_secrets(cfg))
    clock = clock or FakeClock()
    return TypeformConnector(
        cfg, context=ConnectorContext(source="surveys"), clock=clock, sleep=clock.sleep
    )


def responses_stream(conn: TypeformConnector) -> Any:
    return next(s for s in conn.streams() if s.name == "responses")


def by_before(pages: dict[str | None, httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """Answer each responses request by its ``before`` parameter."""

    def answer(request: httpx.Request) -> httpx.Response:
        return pages[request.url.params.get("before")]

    return answer


@pytest.fixture
def definition() -> respx.Route:
    return respx.get(f"{BASE}/forms/{FORM}").mock(return_value=httpx.Response(200, json=DEFINITION))


# --------------------------------------------------------------------------- paging
@respx.mock
def test_pages_newest_first_with_before_tokens_until_an_empty_items(
    definition: respx.Route,
) -> None:
    route = respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(
                    item("r5", "2024-05-01T12:05:00Z"), item("r4", "2024-05-01T12:04:00Z"), total=5
                ),
                "r4": page(
                    item("r3", "2024-05-01T12:03:00Z"), item("r2", "2024-05-01T12:02:00Z"), total=5
                ),
                "r2": page(item("r1", "2024-05-01T12:01:00Z"), total=5),
                "r1": page(total=5),  # the end, as Typeform signals it: empty items
            }
        )
    )
    conn = connector(page_size=2)
    records, state, batches = read_stream(responses_stream(conn))
    assert [r["response_id"] for r in records] == ["r5", "r4", "r3", "r2", "r1"]
    assert all(r["form_id"] == FORM for r in records)
    sent = [dict(c.request.url.params) for c in route.calls]
    assert sent == [
        {"page_size": "2"},
        {"page_size": "2", "before": "r4"},
        {"page_size": "2", "before": "r2"},
        {"page_size": "2", "before": "r1"},
    ]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in route.calls)
    # the form definition is read once, for the scale of its questions
    assert definition.call_count == 1
    assert records[0]["form_scales"] == {
        "hVONkQcnSNRj": {"type": "opinion_scale", "ref": "nps", "min": 0, "max": 10}
    }
    assert state == {
        "partitions": {
            FORM: {
                "watermark": "2024-05-01T12:05:00Z",
                # newest - 30 minutes: every response read is inside the overlap window
                "recent": {f"r{n}": f"2024-05-01T12:0{n}:00Z" for n in range(1, 6)},
            }
        }
    }
    assert batches >= 1


@respx.mock
def test_a_form_without_responses_reads_no_definition(definition: respx.Route) -> None:
    respx.get(RESPONSES).mock(return_value=page())
    records, state, _ = read_stream(responses_stream(connector()))
    assert records == []
    assert definition.call_count == 0
    assert state == {"partitions": {FORM: {"watermark": None, "recent": {}}}}


@respx.mock
def test_checkpoints_carry_the_next_page_apart_from_the_watermark(definition: respx.Route) -> None:
    respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(item("r3", "2024-05-01T12:03:00Z")),
                "r3": page(item("r2", "2024-05-01T12:02:00Z")),
                "r2": page(),
            }
        )
    )
    stream = responses_stream(connector(page_size=1))
    stream.batch_size = 1
    first = next(iter(stream.read(None)))
    assert [r["response_id"] for r in first.records] == ["r3"]
    form_state = first.state["partitions"][FORM]
    assert form_state["watermark"] is None  # not promoted before the walk ends
    assert form_state["walk"]["page"]["params"] == {"page_size": 1, "before": "r3"}
    assert form_state["walk"]["newest"] == "2024-05-01T12:03:00Z"


@respx.mock
def test_a_killed_walk_resumes_on_its_page_and_loads_nothing_twice(
    definition: respx.Route,
) -> None:
    pages = {
        None: page(item("r3", "2024-05-01T12:03:00Z")),
        "r3": page(item("r2", "2024-05-01T12:02:00Z")),
        "r2": page(item("r1", "2024-05-01T12:01:00Z")),
        "r1": page(),
    }
    route = respx.get(RESPONSES).mock(side_effect=by_before(pages))
    stream = responses_stream(connector(page_size=1))
    stream.batch_size = 1
    reader = iter(stream.read(None))
    first = next(reader)  # committed; then the process dies
    sent = route.call_count
    rest, state, _ = read_stream(responses_stream(connector(page_size=1)), first.state)
    assert [r["response_id"] for r in first.records + rest] == ["r3", "r2", "r1"]
    assert route.calls[sent].request.url.params["before"] == "r3"
    assert state["partitions"][FORM]["watermark"] == "2024-05-01T12:03:00Z"


# --------------------------------------------------------------------------- incremental
@respx.mock
def test_incremental_reads_the_overlap_window_again_and_drops_known_ids(
    definition: respx.Route,
) -> None:
    state = {
        "partitions": {
            FORM: {
                "watermark": "2024-05-01T12:30:00Z",
                "recent": {"r10": "2024-05-01T12:30:00Z", "r09": "2024-05-01T12:10:00Z"},
            }
        }
    }
    route = respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(
                    item("r11", "2024-05-01T12:40:00Z"),  # new
                    item("r10", "2024-05-01T12:30:00Z"),  # on the watermark: loaded already
                    item("late", "2024-05-01T12:20:00Z"),  # listed late: new
                    item("r09", "2024-05-01T12:10:00Z"),  # in the window: loaded already
                ),
                "r09": page(),
            }
        )
    )
    records, final, _ = read_stream(responses_stream(connector()), state)
    assert [r["response_id"] for r in records] == ["r11", "late"]
    # since = watermark - 30 minutes, inclusive, in epoch seconds
    since = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp())
    assert route.calls[0].request.url.params["since"] == str(since)
    assert final["partitions"][FORM] == {
        "watermark": "2024-05-01T12:40:00Z",
        "recent": {  # the window of the new watermark: 12:10 and later
            "r11": "2024-05-01T12:40:00Z",
            "r10": "2024-05-01T12:30:00Z",
            "late": "2024-05-01T12:20:00Z",
            "r09": "2024-05-01T12:10:00Z",
        },
    }


@respx.mock
def test_a_second_run_with_nothing_new_loads_nothing(definition: respx.Route) -> None:
    respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(item("b", "2024-05-01T12:00:00Z"), item("a", "2024-05-01T12:00:00Z")),
                "a": page(),
            }
        )
    )
    stream = responses_stream(connector())
    first, state, _ = read_stream(stream)
    again, state2, _ = read_stream(stream, state)
    assert len(first) == 2
    assert again == []  # two responses on one second: both known
    assert state2 == state


@respx.mock
def test_zero_overlap_still_drops_the_responses_on_the_watermark(definition: respx.Route) -> None:
    state = {
        "partitions": {
            FORM: {"watermark": "2024-05-01T12:30:00Z", "recent": {"x": "2024-05-01T12:30:00Z"}}
        }
    }
    route = respx.get(RESPONSES).mock(
        side_effect=by_before({None: page(item("x", "2024-05-01T12:30:00Z")), "x": page()})
    )
    records, _, _ = read_stream(responses_stream(connector(overlap_minutes=0)), state)
    assert records == []
    since = int(datetime(2024, 5, 1, 12, 30, tzinfo=UTC).timestamp())
    assert route.calls[0].request.url.params["since"] == str(since)


@respx.mock
def test_start_date_bounds_the_first_run() -> None:
    route = respx.get(RESPONSES).mock(return_value=page())
    read_stream(responses_stream(connector(start_date="2024-04-01T00:00:00")))
    since = int(datetime(2024, 4, 1, tzinfo=UTC).timestamp())
    assert route.calls[0].request.url.params["since"] == str(since)


@respx.mock
def test_the_recent_set_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import cintel_typeform.responses as mod

    monkeypatch.setattr(mod, "MAX_RECENT", 2)
    respx.get(f"{BASE}/forms/{FORM}").mock(return_value=httpx.Response(200, json=DEFINITION))
    respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(*(item(f"r{n}", f"2024-05-01T12:0{n}:00Z") for n in (4, 3, 2, 1))),
                "r1": page(),
            }
        )
    )
    _, state, _ = read_stream(responses_stream(connector()))
    assert state["partitions"][FORM]["recent"] == {
        "r4": "2024-05-01T12:04:00Z",
        "r3": "2024-05-01T12:03:00Z",
    }


# --------------------------------------------------------------------------- forms
@respx.mock
def test_forms_are_paged_to_page_count_and_feed_the_responses_partitions() -> None:
    def forms(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        ids = {1: ["f1", "f2"], 2: ["f3"]}[n]
        body = {"total_items": 3, "page_count": 2, "items": [{"id": i, "title": i} for i in ids]}
        return httpx.Response(200, json=body)

    listing = respx.get(f"{BASE}/forms").mock(side_effect=forms)
    for fid in ("f1", "f3"):
        respx.get(f"{BASE}/forms/{fid}/responses").mock(return_value=page())
    # f2 was deleted after it was listed: skipped with a warning, not a failed sync
    respx.get(f"{BASE}/forms/f2/responses").mock(
        return_value=httpx.Response(
            404, json={"code": "FORM_NOT_FOUND", "description": "Non existing form"}
        )
    )
    conn = connector(form_ids=[])
    forms_stream = next(s for s in conn.streams() if s.name == "forms")
    records, _, _ = read_stream(forms_stream)
    assert [r["id"] for r in records] == ["f1", "f2", "f3"]
    assert [dict(c.request.url.params) for c in listing.calls] == [
        {"page": "1", "page_size": "200"},
        {"page": "2", "page_size": "200"},
    ]
    with capture_logs() as logs:
        _, state, _ = read_stream(responses_stream(conn))
    assert set(state["partitions"]) == {"f1", "f3"}
    assert any(e["event"] == "form not found, skipped" and e["form_id"] == "f2" for e in logs)


@respx.mock
def test_a_configured_form_that_does_not_exist_fails_clearly() -> None:
    respx.get(RESPONSES).mock(
        return_value=httpx.Response(
            404, json={"code": "FORM_NOT_FOUND", "description": "Non existing form"}
        )
    )
    with pytest.raises(HttpError, match="HTTP 404") as err:
        read_stream(responses_stream(connector()))
    assert "FORM_NOT_FOUND" in str(err.value)


# --------------------------------------------------------------------------- retries
@respx.mock
@pytest.mark.parametrize("retry_after", ["7", None], ids=["retry-after", "no-retry-after"])
def test_429_is_retried_with_and_without_retry_after(
    definition: respx.Route, retry_after: str | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    route = respx.get(RESPONSES).mock(
        side_effect=[
            httpx.Response(429, headers=headers, json={"code": "RATE_LIMIT"}),
            page(item("r1", "2024-05-01T12:01:00Z")),
            page(),
        ]
    )
    clock = FakeClock()
    records, _, _ = read_stream(responses_stream(connector(clock)))
    assert [r["response_id"] for r in records] == ["r1"]
    assert route.call_count == 3
    if retry_after:
        assert any(math.isclose(s, 7.05) for s in clock.sleeps)  # the hint, plus a margin
    else:
        assert clock.sleeps
        assert max(clock.sleeps) < 7  # exponential backoff, from 0.5 s
        assert any(s > 0 for s in clock.sleeps)


@respx.mock
def test_requests_are_spaced_to_two_a_second(definition: respx.Route) -> None:
    respx.get(RESPONSES).mock(
        side_effect=by_before(
            {
                None: page(item("r2", "2024-05-01T12:02:00Z")),
                "r2": page(item("r1", "2024-05-01T12:01:00Z")),
                "r1": page(),
            }
        )
    )
    clock = FakeClock()
    read_stream(responses_stream(connector(clock, page_size=1)))
    # 4 requests (3 pages + the definition): 3 waits of half a second, nothing slept for real
    assert clock.sleeps == [0.5, 0.5, 0.5]


@respx.mock
def test_429_for_good_is_a_rate_limit_error() -> None:
    respx.get(RESPONSES).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"}, json={})
    )
    with pytest.raises(RateLimitError, match="asks to wait 3600s"):
        read_stream(responses_stream(connector()))


@respx.mock
def test_5xx_then_success(definition: respx.Route) -> None:
    route = respx.get(RESPONSES).mock(
        side_effect=[
            httpx.Response(500, json={"code": "INTERNAL"}),
            httpx.Response(503),
            page(item("r1", "2024-05-01T12:01:00Z")),
            page(),
        ]
    )
    records, _, _ = read_stream(responses_stream(connector()))
    assert len(records) == 1
    assert route.call_count == 4


@respx.mock
def test_timeouts_are_retried_then_reported(definition: respx.Route) -> None:
    route = respx.get(RESPONSES).mock(
        side_effect=[
            httpx.ReadTimeout("read timed out"),
            page(item("r1", "2024-05-01T12:01:00Z")),
            page(),
        ]
    )
    records, _, _ = read_stream(responses_stream(connector()))
    assert len(records) == 1
    assert route.call_count == 3

    respx.get(RESPONSES).mock(side_effect=httpx.ConnectTimeout("connect timed out"))
    clock = FakeClock()
    with pytest.raises(HttpError, match="timed out") as err:
        read_stream(responses_stream(connector(clock)))
    assert err.value.attempts == 8
    assert err.value.status is None


# --------------------------------------------------------------------------- credentials
BAD_TOKEN_BODY = {
    "code": "AUTHENTICATION_FAILED",
    "description": "Authentication credentials not found on the Request Headers",
}


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
def test_wrong_or_expired_token_gives_a_clear_message_without_the_token(status: int) -> None:
    respx.get(f"{BASE}/forms").mock(return_value=httpx.Response(status, json=BAD_TOKEN_BODY))
    respx.get(RESPONSES).mock(return_value=httpx.Response(status, json=BAD_TOKEN_BODY))
    conn = connector()
    with capture_logs() as logs:
        result = conn.check()
        with pytest.raises(AuthError) as err:
            read_stream(responses_stream(conn))
    assert not result.ok
    if status == 401:
        assert "Typeform rejected the token (HTTP 401)" in result.message
        assert "AUTHENTICATION_FAILED" in result.message
    else:
        assert "forms:read and responses:read" in result.message
    assert "api.eu.typeform.com" in result.message  # the other data centre is a likely cause
    texts = [result.message, str(err.value), repr(conn), repr(conn.settings), str(conn.settings)]
    texts += [str(e) for e in logs]
    texts += [repr(s) for s in conn.streams()]
    assert all(TOKEN not in t for t in texts)


@respx.mock
def test_check_passes_with_one_cheap_call() -> None:
    route = respx.get(f"{BASE}/forms").mock(
        return_value=httpx.Response(200, json={"total_items": 12, "page_count": 12, "items": []})
    )
    result = connector().check()
    assert result.ok
    assert result.message == "connected to Typeform at https://api.typeform.com (12 forms)"
    assert route.call_count == 1
    assert dict(route.calls[0].request.url.params) == {"page_size": "1"}


@respx.mock
def test_eu_base_url_is_used() -> None:
    route = respx.get("https://api.eu.typeform.com/forms").mock(
        return_value=httpx.Response(200, json={"total_items": 0, "page_count": 0, "items": []})
    )
    assert connector(base_url="https://api.eu.typeform.com/").check().ok
    assert route.call_count == 1


# --------------------------------------------------------------------------- malformed
@respx.mock
def test_a_page_without_items_is_an_error_naming_what_is_there() -> None:
    respx.get(RESPONSES).mock(return_value=httpx.Response(200, json={"total_items": 3}))
    with pytest.raises(
        ResponseError, match=r"no 'items' in the response \(keys present: total_items\)"
    ):
        read_stream(responses_stream(connector()))


@respx.mock
def test_a_body_that_is_not_json_is_retried_then_an_error() -> None:
    route = respx.get(RESPONSES).mock(
        side_effect=[httpx.Response(200, text='{"items": [')] * 2
        + [page(item("r1", "2024-05-01T12:01:00Z")), page()]
    )
    respx.get(f"{BASE}/forms/{FORM}").mock(return_value=httpx.Response(200, json=DEFINITION))
    records, _, _ = read_stream(responses_stream(connector()))
    assert len(records) == 1
    assert route.call_count == 4

    respx.get(RESPONSES).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(ResponseError, match="invalid JSON"):
        read_stream(responses_stream(connector()))


@respx.mock
def test_items_that_are_not_responses_go_to_the_dead_letters(definition: respx.Route) -> None:
    respx.get(RESPONSES).mock(
        side_effect=[
            page(item("r2", "2024-05-01T12:02:00Z"), {"token": ""}, "junk"),  # type: ignore[arg-type]
            page(),
        ]
    )
    stream = responses_stream(connector())
    batches = list(stream.read(None))
    records = [r for b in batches for r in b.records]
    bad = [x for b in batches for x in b.bad]
    assert [r["response_id"] for r in records] == ["r2"]
    assert [b.reason for b in bad] == [
        f"form {FORM}: response without a response_id",
        "response is not an object",
    ]
