"""The typeform connector through the engine into DuckDB, against the fake API on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cintel import Connector, ConnectorContext
from cintel.pipeline import Pipeline
from cintel.plugins import Plugins, module_plugin
from cintel.sink import raw_table_name
from cintel.testing import LoopbackServer
from cintel_typeform import TypeformConnector
from pydantic import BaseModel
from typeform_fake import TOKEN, FakeClock, TypeformFake


class FakeClockTypeform(TypeformConnector):
    """The real connector with a fake clock: the engine builds it, nothing sleeps for real."""

    name = "typeform_fake_clock"

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        clock = FakeClock()
        super().__init__(config, context=context, clock=clock, sleep=clock.sleep)


def _register(register: Callable[[type[Connector]], None]) -> None:
    register(FakeClockTypeform)


@pytest.fixture
def plugins(plugins_with: Callable[..., Plugins]) -> Plugins:
    return plugins_with(module_plugin("typeform_fake_clock", cintel_connectors=_register))


@pytest.fixture
def fake() -> Iterator[tuple[TypeformFake, LoopbackServer]]:
    api = TypeformFake(forms=2, responses_per_form=6)
    with LoopbackServer(api) as server:
        yield api, server


def test_sync_loads_forms_responses_and_canonical_rows_incrementally(
    fake: tuple[TypeformFake, LoopbackServer], make_pipeline: Callable[..., Pipeline]
) -> None:
    api, server = fake
    sources: dict[str, Any] = {
        "surveys": {
            "connector": "typeform_fake_clock",
            "config": {"base_url": server.base_url, "token": TOKEN, "page_size": 4},
        }
    }
    pipeline = make_pipeline(sources, run={"batch_size": 5})
    first = pipeline.run().raise_for_status()
    assert first.records == 2 + 12
    with pipeline.sink() as sink:
        assert sink.count_rows(raw_table_name("surveys", "forms")) == 2
        assert sink.count_rows(raw_table_name("surveys", "responses")) == 12
        rows = sink.query(
            "SELECT survey_id, nps, csat, text FROM survey_responses "
            "WHERE response_id = 'form1r00003'"
        )
        assert rows == [("form1", 3, 4.0, "comment 3")]
        touch = sink.query(
            "SELECT event_type, utm_source, utm_medium, utm_campaign FROM touchpoints "
            "WHERE touchpoint_id = 'form1r00003'"
        )
        assert touch == [("survey", "newsletter", "email", "spring")]
        assert sink.count_rows("survey_responses") == 12
        assert sink.count_rows("touchpoints") == 12

    second = pipeline.run().raise_for_status()
    assert second.records == 2  # the forms again (merged); no response twice
    api.add_responses("form0", 3)
    third = pipeline.run().raise_for_status()
    assert third.records == 2 + 3
    with pipeline.sink() as sink:
        assert sink.count_rows(raw_table_name("surveys", "responses")) == 15
        assert sink.count_rows("survey_responses") == 15
