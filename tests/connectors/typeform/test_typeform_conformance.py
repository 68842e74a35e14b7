"""cintel's conformance suite over the ``typeform`` connector, against a fake Typeform API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cintel import Connector, ConnectorContext
from cintel.logs import collect_secrets, register_secrets
from cintel.testing import ConnectorConformance, LoopbackServer
from typeform_fake import TOKEN, FakeClock, TypeformFake


class TestTypeformConformance(ConnectorConformance):
    """Check, paging, keys, incremental reads, canonical rows, retries, secrets."""

    connector = "typeform"  # resolved through the entry point, as cintel.yaml does

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.fake = TypeformFake(forms=3, responses_per_form=7)
        with LoopbackServer(self.fake) as server:
            yield server

    def build(self, config: Mapping[str, Any], tmp_path: Path) -> Connector:
        # as the suite builds it, with a fake clock: the 2 requests/s limit never sleeps
        cls = self.connector_class()
        cfg = cls.Config.model_validate(dict(config), context={"base_dir": tmp_path})
        register_secrets(collect_secrets(cfg))
        self.clock = FakeClock()
        context = ConnectorContext(source="conformance", base_dir=tmp_path)
        return cls(cfg, context=context, clock=self.clock, sleep=self.clock.sleep)  # type: ignore[call-arg]

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {"base_url": api.base_url, "token": TOKEN, "page_size": 3}

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {"base_url": api.base_url, "token": "tfp_wrong_token_456", "page_size": 3}

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.fake.add_responses("form0", 4)
        self.fake.add_responses("form2", 1)
        return {"responses": 5}


class TestTypeformConfiguredFormsConformance(TestTypeformConformance):
    """The same with ``form_ids`` (no listing of forms)."""

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**super().make_config(api), "form_ids": ["form0", "form2"]}

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**super().make_bad_config(api), "form_ids": ["form0", "form2"]}
