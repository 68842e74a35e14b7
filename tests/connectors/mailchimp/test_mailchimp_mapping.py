"""Mailchimp members onto source profiles, email activity onto touchpoints."""

from __future__ import annotations

import copy
from typing import Any

from cintel.model import validate_rows
from cintel_mailchimp import MailchimpConfig, map_activity, map_members

KEY = "8f14e45fceea167a5a36dedd4bea2543-us6"

# the documented member sample (apis.md section 6)
MEMBER: dict[str, Any] = {
    "id": "852aaa9532cb36adfb5e9fef7a4206a9",
    "email_address": "ana@example.com",
    "unique_email_id": "882e9bec19",
    "status": "subscribed",
    "merge_fields": {"FNAME": "Ana", "LNAME": "Ruiz"},
    "timestamp_opt": "2024-01-10T09:00:00+00:00",
    "last_changed": "2024-05-01T08:00:03+00:00",
    "tags": [{"id": 101, "name": "vip"}],
    "list_id": "601b55d9dc",
}


def config(**values: Any) -> MailchimpConfig:
    return MailchimpConfig.model_validate({"api_key": KEY, **values})


def valid(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    _, problems = validate_rows(table, rows)
    assert not problems, problems
    return rows


def test_the_documented_member_is_a_source_profile() -> None:
    rows = valid("source_profiles", map_members([MEMBER], config())["source_profiles"])
    assert rows == [
        {
            "profile_id": "601b55d9dc:852aaa9532cb36adfb5e9fef7a4206a9",
            "email": "ana@example.com",
            "consent": "subscribed",
            "created_at": "2024-01-10T09:00:00+00:00",
            "updated_at": "2024-05-01T08:00:03+00:00",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "phone": None,
            "company": None,
            "traits": {"list_id": "601b55d9dc", "tags": ["vip"], "unique_email_id": "882e9bec19"},
            "identifiers": [
                {"type": "email", "value": "ana@example.com"},
                {"type": "mailchimp_id", "value": "852aaa9532cb36adfb5e9fef7a4206a9"},
            ],
            "_cintel_record_index": 0,
        }
    ]


def test_merge_fields_address_location_and_traits() -> None:
    rec = copy.deepcopy(MEMBER)
    rec["status"] = "unsubscribed"
    rec["timestamp_signup"] = "2023-12-24T10:00:00+00:00"
    rec["merge_fields"] = {
        "FNAME": "Ana",
        "LNAME": "",
        "PHONE": "+44 20 7946 0958",
        "COMPANY": "Acme",
        "ADDRESS": {
            "addr1": "1 Main St",
            "addr2": "Flat 2",
            "city": "London",
            "state": "",
            "zip": "N1 9GU",
            "country": "GB",
        },
        "SHOE": "42",
        "EMPTY": "",
    }
    rec["location"] = {"country_code": "FR", "timezone": "Europe/London"}
    rec["member_rating"] = 4
    rec["vip"] = True
    rec["language"] = "en"
    rec["interests"] = {"i1": True, "i2": False}
    rec["stats"] = {"avg_open_rate": 0.5}
    row = valid("source_profiles", map_members([rec], config())["source_profiles"])[0]
    assert row["consent"] == "unsubscribed"
    assert row["created_at"] == "2023-12-24T10:00:00+00:00"  # signup before opt-in
    assert (row["first_name"], row["last_name"], row["phone"], row["company"]) == (
        "Ana",
        None,
        "+44 20 7946 0958",
        "Acme",
    )
    assert (row["street"], row["postal_code"], row["city"], row["country"]) == (
        "1 Main St Flat 2",
        "N1 9GU",
        "London",
        "GB",  # the address wins over the location's country
    )
    assert row["traits"] == {
        "list_id": "601b55d9dc",
        "tags": ["vip"],
        "merge_fields": {"SHOE": "42"},
        "member_rating": 4,
        "vip": True,
        "language": "en",
        "unique_email_id": "882e9bec19",
        "stats": {"avg_open_rate": 0.5},
        "timezone": "Europe/London",
        "interests": ["i1"],
    }


def test_location_gives_the_country_without_an_address_and_text_addresses_are_streets() -> None:
    rec = copy.deepcopy(MEMBER)
    rec["location"] = {"country_code": "FR"}
    rec["merge_fields"]["ADDRESS"] = "1 rue de Rivoli  Paris  75001"
    row = map_members([rec], config())["source_profiles"][0]
    assert row["country"] == "FR"
    assert row["street"] == "1 rue de Rivoli  Paris  75001"


def test_merge_tags_are_configurable() -> None:
    rec = copy.deepcopy(MEMBER)
    rec["merge_fields"] = {"VORNAME": "Ana", "FIRMA": "Acme", "FNAME": "ignored"}
    cfg = config(merge_fields={"first_name": "VORNAME", "company": "FIRMA"})
    row = map_members([rec], cfg)["source_profiles"][0]
    assert (row["first_name"], row["company"]) == ("Ana", "Acme")
    assert "last_name" not in row
    assert row["traits"]["merge_fields"] == {"FNAME": "ignored"}


def test_members_without_ids_are_left_out_and_indexes_hold() -> None:
    out = map_members([{"email_address": "x@y.z"}, MEMBER], config())["source_profiles"]
    assert [r["_cintel_record_index"] for r in out] == [1]


ACTIVITY = [
    {
        "activity_id": "a1",
        "campaign_id": "c1",
        "campaign_name": "Spring sale",
        "list_id": "L1",
        "email_id": "62eeb292278cc15f5817cb78f7790b08",
        "email_address": "ana@example.com",
        "action": "open",
        "timestamp": "2024-05-01T10:00:00+00:00",
        "ip": "203.0.113.9",
    },
    {
        "activity_id": "a2",
        "campaign_id": "c1",
        "campaign_name": "Spring sale",
        "email_id": "62eeb292278cc15f5817cb78f7790b08",
        "email_address": "ana@example.com",
        "action": "click",
        "timestamp": "2024-05-01T10:00:30+00:00",
        "url": "https://shop.example.com/spring?utm_campaign=spring",
    },
    {
        "activity_id": "a3",
        "campaign_id": "c1",
        "campaign_name": "Spring sale",
        "email_id": "0cc175b9c0f1b6a831c399e269772661",
        "email_address": "bob@example.com",
        "action": "bounce",
        "timestamp": "2024-05-01T09:01:00+00:00",
        "type": "hard",
    },
]


def test_opens_clicks_and_bounces_are_email_touchpoints_with_the_campaign_name() -> None:
    rows = valid("touchpoints", map_activity(ACTIVITY, config())["touchpoints"])
    assert rows[1] == {
        "touchpoint_id": "a2",
        "occurred_at": "2024-05-01T10:00:30+00:00",
        "event_type": "email_click",
        "identifiers": [
            {"type": "email", "value": "ana@example.com"},
            {"type": "mailchimp_id", "value": "62eeb292278cc15f5817cb78f7790b08"},
        ],
        "utm_source": "mailchimp",
        "utm_medium": "email",
        "utm_campaign": "Spring sale",
        "url": "https://shop.example.com/spring?utm_campaign=spring",
        "channel": "Email",
        "_cintel_record_index": 1,
    }
    assert [r["event_type"] for r in rows] == ["email_open", "email_click", "email_bounce"]
    assert rows[0]["url"] is None  # only clicks have a url


def test_utm_source_and_medium_are_configurable_and_the_id_stands_in_for_a_name() -> None:
    rec = {**ACTIVITY[0], "campaign_name": None}
    row = map_activity([rec], config(utm_source="newsletter", utm_medium="e-mail"))["touchpoints"][
        0
    ]
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == (
        "newsletter",
        "e-mail",
        "c1",
    )
