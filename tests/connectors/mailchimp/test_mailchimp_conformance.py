"""cintel's conformance suite over the ``mailchimp`` connector, against a fake Mailchimp API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cintel import Connector, ConnectorContext
from cintel.logs import collect_secrets, register_secrets
from cintel.testing import ConnectorConformance, LoopbackServer
from mailchimp_fake import API_KEY, T0, FakeClock, MailchimpFake


class TestMailchimpConformance(ConnectorConformance):
    """Check, paging, keys, incremental reads, canonical rows, retries, secrets."""

    connector = "mailchimp"  # resolved through the entry point, as cintel.yaml does

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.fake = MailchimpFake(lists=2, members_per_list=9, campaigns=3, emails_per_campaign=5)
        with LoopbackServer(self.fake) as server:
            yield server

    def build(self, config: Mapping[str, Any], tmp_path: Path) -> Connector:
        # as the suite builds it, with a fake clock: backoff never sleeps for real
        cls = self.connector_class()
        cfg = cls.Config.model_validate(dict(config), context={"base_dir": tmp_path})
        register_secrets(collect_secrets(cfg))
        self.clock = FakeClock()
        context = ConnectorContext(source="conformance", base_dir=tmp_path)
        return cls(cfg, context=context, clock=self.clock, sleep=self.clock.sleep)  # type: ignore[call-arg]

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {"base_url": api.url("/3.0"), "api_key": API_KEY, "page_size": 4}

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**self.make_config(api), "api_key": "ffffffffffffffffffffffffffffffff-us6"}

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.fake.add_members("list0", 3)
        added = self.fake.add_activity("camp0", 3, at=T0 + timedelta(days=3))
        return {"members": 3, "email_activity": added}


class TestMailchimpConfiguredListsConformance(TestMailchimpConformance):
    """The same with ``list_ids`` (no listing of audiences; activity of their campaigns)."""

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**super().make_config(api), "list_ids": ["list0", "list1"]}
