"""The mailchimp connector through the engine into DuckDB, against the fake API on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from cintel import Connector, ConnectorContext
from cintel.pipeline import Pipeline
from cintel.plugins import Plugins, module_plugin
from cintel.sink import raw_table_name
from cintel.testing import LoopbackServer
from cintel_mailchimp import MailchimpConnector
from mailchimp_fake import API_KEY, T0, FakeClock, MailchimpFake
from pydantic import BaseModel


class FakeClockMailchimp(MailchimpConnector):
    """The real connector with a fake clock: the engine builds it, nothing sleeps for real."""

    name = "mailchimp_fake_clock"

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        clock = FakeClock()
        super().__init__(config, context=context, clock=clock, sleep=clock.sleep)


def _register(register: Callable[[type[Connector]], None]) -> None:
    register(FakeClockMailchimp)


@pytest.fixture
def plugins(plugins_with: Callable[..., Plugins]) -> Plugins:
    return plugins_with(module_plugin("mailchimp_fake_clock", cintel_connectors=_register))


@pytest.fixture
def fake() -> Iterator[tuple[MailchimpFake, LoopbackServer]]:
    api = MailchimpFake(lists=2, members_per_list=6, campaigns=3, emails_per_campaign=4)
    with LoopbackServer(api) as server:
        yield api, server


def test_sync_loads_members_campaigns_activity_and_canonical_rows_incrementally(
    fake: tuple[MailchimpFake, LoopbackServer], make_pipeline: Callable[..., Pipeline]
) -> None:
    api, server = fake
    sources: dict[str, Any] = {
        "newsletter": {
            "connector": "mailchimp_fake_clock",
            "config": {"base_url": server.url("/3.0"), "api_key": API_KEY, "page_size": 4},
        }
    }
    pipeline = make_pipeline(sources, run={"batch_size": 5})
    first = pipeline.run().raise_for_status()
    # 2 sent campaigns x (4 opens + 2 clicks)
    assert first.records == 12 + 3 + 12
    with pipeline.sink() as sink:
        assert sink.count_rows(raw_table_name("newsletter", "members")) == 12
        assert sink.count_rows(raw_table_name("newsletter", "email_activity")) == 12
        assert sink.count_rows("source_profiles") == 12
        profile = sink.query(
            "SELECT email, first_name, city, consent FROM source_profiles "
            "WHERE profile_id LIKE 'list1:%' AND email = 'person1@example.com'"
        )
        assert profile == [("person1@example.com", "First1", "Springfield", "subscribed")]
        clicks = sink.query(
            "SELECT count(*), min(utm_campaign), min(channel), min(utm_source) FROM touchpoints "
            "WHERE event_type = 'email_click' AND utm_campaign = 'Spring sale 1'"
        )
        assert clicks == [(2, "Spring sale 1", "Email", "mailchimp")]

    second = pipeline.run().raise_for_status()
    assert second.records == 3  # the campaigns again (merged); no member, no activity twice
    api.add_members("list1", 2)
    added = api.add_activity("camp1", 2, at=T0 + timedelta(days=5))
    third = pipeline.run().raise_for_status()
    assert third.records == 2 + 3 + added
    with pipeline.sink() as sink:
        assert sink.count_rows("source_profiles") == 14
        assert sink.count_rows("touchpoints") == 12 + added
