"""The hubspot connector through the engine into DuckDB, against a fake HubSpot on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from cintel.pipeline import Pipeline
from cintel.sink import raw_table_name
from cintel.testing import LoopbackServer
from hubspot_fake import TOKEN, FakeHubSpot


@pytest.fixture
def fake() -> FakeHubSpot:
    return FakeHubSpot(contacts=40, companies=8, deals=24, owners=2, real_time=True)


@pytest.fixture
def server(fake: FakeHubSpot) -> Iterator[LoopbackServer]:
    with LoopbackServer(fake) as running:
        yield running


def test_sync_hubspot_into_duckdb_incrementally(
    fake: FakeHubSpot, server: LoopbackServer, make_pipeline: Callable[..., Pipeline]
) -> None:
    sources = {
        "crm": {
            "connector": "hubspot",
            "config": {
                "access_token": TOKEN,
                "base_url": server.base_url,
                "page_size": 10,
                "search_page_size": 7,
                "requests_per_10_seconds": 10_000,
                "search_requests_per_second": 1_000,
                "settle_seconds": 0,  # the fake's records are modified on the real clock
                "deals": {"default_currency": "USD"},
            },
        }
    }
    pipeline = make_pipeline(sources, run={"batch_size": 15})
    assert pipeline.check()["crm"].ok

    first = pipeline.run().raise_for_status()
    assert {k: v.records for k, v in first.streams.items()} == {
        "crm.contacts": 40,
        "crm.companies": 8,
        "crm.deals": 24,
        "crm.owners": 2,
    }
    won = [d for d in fake.records("deals") if d["properties"]["dealstage"] == "closedwon"]
    with pipeline.sink() as sink:
        assert sink.count_rows("source_profiles") == 40
        assert sink.count_rows("conversions") == len(won)
        currencies = sink.query("SELECT DISTINCT currency FROM conversions ORDER BY 1")
        linked = sink.query(
            "SELECT count(*) FROM conversions WHERE len(identifiers) = 1 "
            "AND identifiers[1].type = 'hubspot_id'"
        )
        payload = sink.query(
            f"SELECT _cintel_payload FROM {raw_table_name('crm', 'deals')} ORDER BY id LIMIT 1"
        )
    assert currencies == [("EUR",), ("USD",)]
    assert linked == [(len(won),)]
    deal = orjson.loads(payload[0][0])
    assert set(deal["associations"]) == {"contacts", "companies"}

    again = pipeline.run().raise_for_status()
    assert {k: v.records for k, v in again.streams.items()} == {
        "crm.contacts": 0,
        "crm.companies": 0,
        "crm.deals": 0,
        "crm.owners": 2,  # full refresh
    }

    fake.add("contacts", 3)
    fake.touch("deals", [won[0]["id"]])
    third = pipeline.run().raise_for_status()
    assert third.streams["crm.contacts"].records == 3
    assert third.streams["crm.deals"].records == 1
    with pipeline.sink() as sink:
        assert sink.count_rows(raw_table_name("crm", "contacts")) == 43
        assert sink.count_rows("source_profiles") == 43
        assert sink.count_rows("conversions") == len(won)  # the touched deal replaced its row
