"""HubSpot records onto the canonical model; the connector's config validation."""

from __future__ import annotations

from typing import Any

import pytest
from cintel.model import validate_rows
from cintel_hubspot import (
    DealsConfig,
    HubSpotConfig,
    ObjectStream,
    contacts_to_canonical,
    deals_to_canonical,
)
from hubspot_fake import TOKEN
from hubspot_helpers import contact, make_connector, stream
from pydantic import ValidationError


def deal(did: str, stage: str, *, contacts: list[str] | None = None, **props: Any) -> dict:
    return {
        "id": did,
        "properties": {
            "dealname": f"Deal {did}",
            "amount": "1200.50",
            "closedate": "2024-05-03T14:00:00Z",
            "dealstage": stage,
            "pipeline": "default",
            "createdate": "2024-04-01T09:00:00Z",
            "hs_lastmodifieddate": "2024-05-03T14:00:01.250Z",
            "hs_object_id": did,
            **props,
        },
        "updatedAt": "2024-05-03T14:00:01.250Z",
        "associations": {"contacts": contacts or [], "companies": ["5001"]},
    }


def valid(table: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    good, problems = validate_rows(table, rows)
    assert not problems, problems
    return good


# ----------------------------------------------------------------------------- contacts
def test_a_contact_becomes_a_source_profile_with_every_identifier() -> None:
    record = contact(
        512,
        "2024-05-01T08:00:03.120Z",
        email="Ana@Example.com",
        hs_additional_emails="ana.ruiz@work.example;ana@old.example",
        phone="+1 415 555 0134",
        mobilephone="+1 415 555 0199",
        company="Globex",
        jobtitle="Buyer",
        address="1 Main St",
        zip="94105",
        city="San Francisco",
        country="United States",
        lifecyclestage="customer",
        hs_lead_status="OPEN",
        hubspot_owner_id="70",
        hs_email_optout="true",
        hs_merged_object_ids="311;512",
        hs_analytics_source="ORGANIC_SEARCH",
        favourite_colour=None,
    )
    record["associations"] = {"companies": ["5001", "5002"]}
    out = contacts_to_canonical([record])
    assert set(out) == {"source_profiles"}
    [row] = valid("source_profiles", out["source_profiles"])
    assert row["profile_id"] == "512"
    assert row["_cintel_record_index"] == 0
    assert out["source_profiles"][0]["identifiers"] == [
        {"type": "hubspot_id", "value": "512"},
        {"type": "hubspot_id", "value": "311"},  # merged into this contact
        {"type": "email", "value": "Ana@Example.com"},
        {"type": "email", "value": "ana.ruiz@work.example"},
        {"type": "email", "value": "ana@old.example"},
        {"type": "phone", "value": "+1 415 555 0134"},
        {"type": "phone", "value": "+1 415 555 0199"},
    ]
    mapped = out["source_profiles"][0]
    assert mapped["email"] == "Ana@Example.com"
    assert mapped["phone"] == "+1 415 555 0134"
    assert (mapped["first_name"], mapped["last_name"]) == ("Ana", "Ruiz")
    assert (mapped["company"], mapped["title"]) == ("Globex", "Buyer")
    assert (mapped["street"], mapped["postal_code"], mapped["city"]) == (
        "1 Main St",
        "94105",
        "San Francisco",
    )
    assert mapped["country"] == "United States"
    assert mapped["consent"] == "unsubscribed"
    assert mapped["created_at"] == "2024-03-02T10:11:12Z"
    assert mapped["updated_at"] == "2024-05-01T08:00:03.120Z"
    assert mapped["traits"] == {
        "lifecycle_stage": "customer",
        "lead_status": "OPEN",
        "owner_id": "70",
        "hs_analytics_source": "ORGANIC_SEARCH",
        "hubspot_company_ids": ["5001", "5002"],
    }


def test_a_bare_contact_maps_with_its_id_only() -> None:
    record = {"id": "7", "properties": {"email": "", "firstname": None}, "updatedAt": "x"}
    [row] = contacts_to_canonical([record])["source_profiles"]
    assert row["identifiers"] == [{"type": "hubspot_id", "value": "7"}]
    assert row["email"] is None
    assert row["consent"] is None
    assert row["traits"] is None


def test_the_contacts_stream_maps_batch_wise() -> None:
    rows = stream(make_connector(), "contacts").to_canonical(
        [contact(1, "2024-05-01T08:00:00Z"), contact(2, "2024-05-01T08:00:01Z")]
    )
    assert [r["_cintel_record_index"] for r in rows["source_profiles"]] == [0, 1]


# ----------------------------------------------------------------------------- deals
def test_a_closed_won_deal_is_a_conversion_of_its_first_contact() -> None:
    records = [
        deal("9001", "closedwon", contacts=["64", "512"], deal_currency_code="eur"),
        deal("9002", "closedlost", contacts=["64"]),
        deal("9003", "appointmentscheduled", contacts=["77"]),
    ]
    out = deals_to_canonical(records, DealsConfig())
    assert set(out) == {"conversions"}
    [row] = valid("conversions", out["conversions"])
    mapped = out["conversions"][0]
    assert mapped == {
        "conversion_id": "9001",
        "occurred_at": "2024-05-03T14:00:00Z",
        "type": "deal_won",
        "identifiers": [{"type": "hubspot_id", "value": "64"}],
        "value": 1200.5,
        "currency": "EUR",
        "_cintel_record_index": 0,
    }
    assert row["value"] == 1200.5


def test_won_is_hs_is_closed_won_or_a_configured_stage() -> None:
    records = [
        deal("1", "8213412", hs_is_closed_won="true"),  # a custom pipeline's won stage
        deal("2", "contractsigned"),
        deal("3", "closedwon", hs_is_closed_won="false"),  # the stage list still says won
        deal("4", "closedlost", hs_is_closed_won="false"),
    ]
    config = DealsConfig(won_stages=["closedwon", "contractsigned"])
    won = [r["conversion_id"] for r in deals_to_canonical(records, config)["conversions"]]
    assert won == ["1", "2", "3"]
    only_flag = deals_to_canonical(records, DealsConfig(won_stages=[]))["conversions"]
    assert [r["conversion_id"] for r in only_flag] == ["1"]


def test_currency_falls_back_to_the_default_and_odd_amounts_to_none() -> None:
    records = [
        deal("1", "closedwon", amount="", contacts=["5"]),
        deal("2", "closedwon", amount="n/a"),
        deal("3", "closedwon", amount="99", deal_currency_code="USD", closedate=None),
    ]
    out = deals_to_canonical(records, DealsConfig(default_currency="gbp"))["conversions"]
    valid("conversions", out)
    expected = [(None, "GBP"), (None, "GBP"), (99.0, "USD")]
    assert [(r["value"], r["currency"]) for r in out] == expected
    assert out[1]["identifiers"] == []  # no contact: a conversion nobody is credited with
    assert out[2]["occurred_at"] == "2024-05-03T14:00:01.250Z"  # no close date: last change


def test_link_contacts_writes_identity_links_between_a_deals_contacts() -> None:
    records = [deal("1", "closedlost", contacts=["10", "11", "12"]), deal("2", "x", contacts=["9"])]
    assert "identity_links" not in deals_to_canonical(records, DealsConfig())
    links = deals_to_canonical(records, DealsConfig(link_contacts=True))["identity_links"]
    valid("identity_links", links)
    pairs = [(r["left"]["value"], r["right"]["value"]) for r in links]
    assert pairs == [("10", "11"), ("10", "12")]
    assert {r["kind"] for r in links} == {"hubspot_deal"}
    assert {r["_cintel_record_index"] for r in links} == {0}


def test_companies_and_owners_map_nothing() -> None:
    connector = make_connector()
    for name in ("companies", "owners"):
        assert stream(connector, name).to_canonical([{"id": "1", "properties": {}}]) == {}


# ----------------------------------------------------------------------------- config
def test_defaults_include_the_documented_properties() -> None:
    config = HubSpotConfig.model_validate({"access_token": TOKEN})
    assert config.base_url == "https://api.hubapi.com"
    assert {
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    } <= set(config.deals.properties)
    assert config.contacts.associations == ["companies"]
    assert config.deals.associations == ["contacts", "companies"]
    assert config.companies.associations == []
    assert config.deals.won_stages == ["closedwon"]


def test_properties_replace_extra_properties_add_and_the_cursor_is_always_read() -> None:
    connector = make_connector(contacts={"properties": ["email"], "extra_properties": ["fav"]})
    contacts = stream(connector, "contacts")
    assert isinstance(contacts, ObjectStream)
    assert contacts.properties == ["email", "fav", "lastmodifieddate", "hs_object_id"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"base_url": "api.hubapi.com"}, "base_url must start with http"),
        ({"contacts": {"properties": ["a,b"]}}, "no comma"),
        ({"deals": {"default_currency": "euro"}}, "three-letter"),
        ({"deals": {"associations": ["tickets"]}}, "contacts"),
        ({"page_size": 101}, "less than or equal to 100"),
        ({"search_page_size": 201}, "less than or equal to 200"),
        ({"token": "x"}, "Extra inputs are not permitted"),
        (
            {f: {"enabled": False} for f in ("contacts", "companies", "deals", "owners")},
            "every stream is disabled",
        ),
    ],
)
def test_bad_configs_are_named(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HubSpotConfig.model_validate({"access_token": TOKEN, **config})


def test_the_token_is_a_secret() -> None:
    config = HubSpotConfig.model_validate({"access_token": TOKEN})
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert TOKEN not in config.model_dump_json()
    assert config.access_token.get_secret_value() == TOKEN
