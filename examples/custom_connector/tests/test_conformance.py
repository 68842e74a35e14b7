"""cintel's conformance suite over the ``acme_python`` connector.

Run from the package directory with cintel's pytest plugin active (it is registered
automatically when cintel is installed; ``-p cintel.testing.plugin`` forces it)::

    pytest tests -p cintel.testing.plugin
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cintel.testing import AcmeApi, ConnectorConformance, LoopbackServer

TOKEN = "acme-secret-token"  # noqa: S105 - the fictional test API's token


class TestAcmePythonConformance(ConnectorConformance):
    """Check, paging, primary keys, incremental reads, canonical rows, retries, secrets."""

    connector = "acme_python"

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.acme = AcmeApi(contacts=120, token=TOKEN)
        with LoopbackServer(self.acme) as server:
            yield server

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {"base_url": api.base_url, "api_token": TOKEN, "page_size": 25}

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {"base_url": api.base_url, "api_token": "wrong-token-456", "page_size": 25}

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.acme.add_contacts(7)
        return {"contacts": 7}
