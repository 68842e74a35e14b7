"""The built-in canonical mapping: page, screen, track, orders, identify, alias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cintel.model import validate_rows
from cintel_segment import SegmentConfig, SegmentMapper
from cintel_segment.mapping import click_id_of
from pydantic import ValidationError
from segment_helpers import event


def mapper(**config: Any) -> SegmentMapper:
    return SegmentMapper(SegmentConfig.model_validate({"path": ".", **config}))


def valid(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    good, problems = validate_rows(table, rows)
    assert not problems, problems
    return good


PAGE = event(
    "page",
    n=1,
    anonymousId="a-1",
    userId="u-1",
    timestamp="2024-05-01T10:00:00.373Z",
    originalTimestamp="2024-05-01T09:59:00.000Z",  # a client clock: not the event time
    context={
        "campaign": {
            "name": "spring_sale",
            "source": "google",
            "medium": "cpc",
            "term": "boots",
            "content": "ad1",
        },
        "page": {"url": "https://shop.example.com/?gclid=Cj0KCQ%2Babc&x=1", "referrer": ""},
    },
    properties={"url": "https://ignored.example.com/", "referrer": "https://www.google.com/"},
)


def test_page_is_a_touchpoint_with_utm_referrer_url_and_click_id() -> None:
    [row] = valid("touchpoints", mapper().map([PAGE])["touchpoints"])
    assert row["touchpoint_id"] == "m-1"
    assert row["occurred_at"].isoformat() == "2024-05-01T10:00:00.373000+00:00"
    assert row["event_type"] == "page"
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == (
        "google",
        "cpc",
        "spring_sale",
    )
    assert (row["utm_term"], row["utm_content"]) == ("boots", "ad1")
    # context.page first; an empty context.page.referrer falls back to properties
    assert row["url"] == "https://shop.example.com/?gclid=Cj0KCQ%2Babc&x=1"
    assert row["referrer"] == "https://www.google.com/"
    assert row["click_id"] == "Cj0KCQ+abc"
    assert {(i["type"], i["value"]) for i in row["identifiers"]} == {
        ("anonymous_id", "a-1"),
        ("user_id", "u-1"),
    }


def test_track_and_screen_touchpoints_and_utm_from_the_url() -> None:
    track = event(
        "track",
        n=2,
        event="Product Viewed",
        context={
            "page": {"url": "https://shop.example.com/p?utm_source=news&utm_medium=email"},
            "traits": {"email": "ana@example.com"},
        },
    )
    screen = event("screen", n=3, name="Home", context={"screen": {"width": 390}})
    rows = valid("touchpoints", mapper().map([track, screen])["touchpoints"])
    assert [r["event_type"] for r in rows] == ["Product Viewed", "screen"]
    assert (rows[0]["utm_source"], rows[0]["utm_medium"]) == ("news", "email")
    assert ("email", "ana@example.com") in {(i["type"], i["value"]) for i in rows[0]["identifiers"]}
    assert rows[1]["url"] is None
    assert rows[1]["click_id"] is None
    off = mapper(touchpoints={"utm_from_url": False}).map([track])["touchpoints"]
    assert off[0]["utm_source"] is None


def test_order_completed_is_a_touchpoint_and_a_conversion() -> None:
    order = event(
        "track",
        n=4,
        userId=97980,
        event="Order Completed",
        properties={"order_id": "50314b8e", "revenue": 25.0, "currency": "EUR"},
    )
    no_id = event(
        "track",
        n=5,
        event="Order Completed",
        properties={"total": "19.90"},  # no order_id, no revenue, no currency
    )
    out = mapper().map([order, no_id])
    assert len(valid("touchpoints", out["touchpoints"])) == 2
    rows = valid("conversions", out["conversions"])
    assert [(r["conversion_id"], r["type"], r["value"], r["currency"]) for r in rows] == [
        ("50314b8e", "purchase", 25.0, "EUR"),
        ("m-5", "purchase", 19.9, "USD"),  # messageId, total, the default currency
    ]
    assert ("user_id", "97980") in {(i["type"], i["value"]) for i in rows[0]["identifiers"]}
    assert [r["_cintel_record_index"] for r in rows] == [0, 1]


def test_conversions_are_configurable() -> None:
    signup = event("track", n=6, event="Signed Up", properties={"value": 3})
    order = event("track", n=7, event="Order Completed", properties={"revenue": 10})
    m = mapper(
        conversions={
            "events": {"Signed Up": "signup", "Order Completed": "purchase"},
            "value_fields": ["properties.value"],
            "default_currency": None,
        },
        touchpoints={"exclude_events": ["Signed Up"]},
    )
    out = m.map([signup, order])
    assert [t["event_type"] for t in out["touchpoints"]] == ["Order Completed"]
    assert [(c["type"], c["value"], c["currency"]) for c in out["conversions"]] == [
        ("signup", 3, None),
        ("purchase", None, None),
    ]
    listed = mapper(conversions={"events": ["Trial Started"], "type": "trial"})
    [row] = listed.map([event("track", n=8, event="Trial Started")])["conversions"]
    assert row["type"] == "trial"


@pytest.mark.parametrize("where", ["traits", "context.traits"])
def test_identify_links_and_profile_from_either_traits(where: str) -> None:
    traits = {
        "email": "ana@example.com",
        "firstName": "Ana",
        "lastName": "Ruiz",
        "phone": "+44 20 7946 0958",
        "company": {"name": "Acme"},
        "address": {"city": "London", "country": "GB", "postalCode": "N1"},
        "plan": "pro",
    }
    fields: dict[str, Any] = (
        {"traits": traits} if where == "traits" else {"context": {"traits": traits}}
    )
    identify = event("identify", n=9, userId="u-9", anonymousId="a-9", **fields)
    out = mapper().map([identify])
    assert out["touchpoints"] == []
    links = valid("identity_links", out["identity_links"])
    assert [
        (link["left"]["type"], link["right"]["type"], link["right"]["value"]) for link in links
    ] == [
        ("user_id", "anonymous_id", "a-9"),
        ("user_id", "email", "ana@example.com"),
    ]
    assert {link["kind"] for link in links} == {"identify"}
    [profile] = valid("source_profiles", out["source_profiles"])
    assert profile["profile_id"] == "u-9"
    assert (profile["first_name"], profile["last_name"], profile["email"]) == (
        "Ana",
        "Ruiz",
        "ana@example.com",
    )
    assert (profile["company"], profile["city"], profile["postal_code"]) == ("Acme", "London", "N1")
    assert profile["traits"] == {"plan": "pro"}


def test_identify_top_level_traits_win_and_email_only_profiles() -> None:
    identify = event(
        "identify",
        n=10,
        anonymousId="a-10",
        traits={"email": "new@example.com", "name": "Ana Ruiz"},
        context={"traits": {"email": "old@example.com"}},
    )
    out = mapper().map([identify])
    [link] = out["identity_links"]
    assert (link["left"]["type"], link["right"]["value"]) == ("anonymous_id", "new@example.com")
    [profile] = valid("source_profiles", out["source_profiles"])
    assert (profile["profile_id"], profile["full_name"]) == ("new@example.com", "Ana Ruiz")
    anonymous = event("identify", n=11, anonymousId="a-11", traits={"plan": "free"})
    assert mapper().map([anonymous])["source_profiles"] == []
    assert mapper(profiles=False).map([identify]).get("source_profiles") is None


def test_alias_links_previous_id_and_user_id() -> None:
    alias = event("alias", n=12, userId="u-12", previousId="a-12")
    [link] = valid("identity_links", mapper().map([alias])["identity_links"])
    assert (link["left"]["type"], link["left"]["value"]) == ("user_id", "u-12")
    assert (link["right"]["type"], link["right"]["value"]) == ("anonymous_id", "a-12")
    assert link["kind"] == "alias"
    [other] = mapper(alias_previous_id="user_id").map([alias])["identity_links"]
    assert other["right"]["type"] == "user_id"


def test_group_and_odd_events_map_to_nothing() -> None:
    odd = [
        event("group", n=13, groupId="g-1"),
        {"messageId": "m-14"},  # no type
        {"type": ["track"], "messageId": "m-15"},
        event("track", n=16, event={"not": "a name"}),
    ]
    out = mapper().map(odd)
    assert [t["event_type"] for t in out["touchpoints"]] == ["track"]
    assert out["conversions"] == []
    assert out["identity_links"] == []


def test_extra_declarative_specs_and_builtin_off() -> None:
    spec = {
        "table": "interactions",
        "when": {"type": "track", "event": "Ticket Opened"},
        "fields": {"interaction_id": "messageId", "occurred_at": "timestamp"},
        "identifiers": {"user_id": "userId"},
    }
    ticket = event("track", n=17, userId="u-17", event="Ticket Opened")
    out = mapper(canonical=[spec]).map([ticket])
    assert len(out["touchpoints"]) == 1
    [row] = valid("interactions", out["interactions"])
    assert row["interaction_id"] == "m-17"
    only = mapper(canonical=[spec], builtin_mapping=False).map([ticket])
    assert set(only) == {"interactions"}


def test_occurred_at_falls_back_to_received_at() -> None:
    no_time = event("page", n=18)
    del no_time["timestamp"]
    [row] = mapper().map([no_time])["touchpoints"]
    assert row["occurred_at"] == no_time["receivedAt"]


@pytest.mark.parametrize(
    ("url", "click"),
    [
        ("https://a.example/?fbclid=IwAR1", "IwAR1"),
        ("https://a.example/?utm_source=x&msclkid=abc&gclid=zzz", "abc"),
        ("https://a.example/#gclid=no", None),
        ("https://a.example/?gclid=", None),
        ("https://a.example/?xgclid=no", None),
        (None, None),
    ],
)
def test_click_id_of(url: str | None, click: str | None) -> None:
    assert click_id_of(url) == click


def test_conversion_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        SegmentConfig.model_validate({"path": ".", "conversions": {"events": [""]}})
    with pytest.raises(ValidationError, match="Input should be 'page', 'screen' or 'track'"):
        SegmentConfig.model_validate({"path": ".", "touchpoints": {"types": ["identify"]}})


@pytest.mark.parametrize(
    ("revenue", "value"),
    [
        (12, 12),
        (12.5, 12.5),
        ("19.90", 19.9),
        ("1,250.00", 1250.0),
        ("1.250,00", None),  # ambiguous: left empty rather than read as 1.25
        ("free", None),
        (True, None),
        ({"amount": 3}, None),
        ("", None),
    ],
)
def test_conversion_values_are_numbers_or_nothing(revenue: Any, value: Any) -> None:
    order = event("track", n=20, event="Order Completed", properties={"revenue": revenue})
    [row] = valid("conversions", mapper().map([order])["conversions"])
    assert row["value"] == value
    assert row["currency"] == ("USD" if value is not None else None)
