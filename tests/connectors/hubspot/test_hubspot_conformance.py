"""cintel's conformance suite over the ``hubspot`` connector and a fake HubSpot on loopback."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cintel import Connector
from cintel.testing import ConnectorConformance, LoopbackServer
from cintel_hubspot import HubSpotConnector
from hubspot_fake import TOKEN, FakeHubSpot


class TestHubSpotConformance(ConnectorConformance):
    """Check, paging, keys, incremental runs, canonical rows, 429/5xx, secrets."""

    connector = "hubspot"

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.fake = FakeHubSpot(contacts=60, companies=12, deals=30, owners=3)
        with LoopbackServer(self.fake) as server:
            yield server

    def build(self, config: Mapping[str, Any], tmp_path: Path) -> Connector:
        connector = super().build(config, tmp_path)
        assert isinstance(connector, HubSpotConnector)
        connector.now = self.fake.clock  # the fake's clock: its data has settled
        connector.sleep = lambda seconds: None  # tests never sleep for real
        return connector

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {
            "base_url": api.base_url,
            "access_token": TOKEN,
            "page_size": 7,
            "search_page_size": 5,
            "requests_per_10_seconds": 100_000,
            "search_requests_per_second": 10_000,
        }

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**self.make_config(api), "access_token": "pat-na1-wrong-0000-token"}

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.fake.add("contacts", 6)
        self.fake.add("deals", 4)
        return {"contacts": 6, "deals": 4, "companies": 0}
