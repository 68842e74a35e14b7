"""Test kit for connector authors: conformance suite, loopback API server, cassettes.

See :mod:`cintel.testing.conformance` for the suite and :mod:`cintel.testing.plugin`
for the fixtures (registered with pytest automatically). Names load on first use,
so the pytest plugin can register assertion rewriting for the suite first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cintel.testing.conformance import ConnectorConformance, read_stream
    from cintel.testing.server import AcmeApi, Faults, LoopbackServer, Reply, Request

__all__ = [
    "AcmeApi",
    "ConnectorConformance",
    "Faults",
    "LoopbackServer",
    "Reply",
    "Request",
    "read_stream",
]

_WHERE = {
    "ConnectorConformance": "cintel.testing.conformance",
    "read_stream": "cintel.testing.conformance",
    "AcmeApi": "cintel.testing.server",
    "Faults": "cintel.testing.server",
    "LoopbackServer": "cintel.testing.server",
    "Reply": "cintel.testing.server",
    "Request": "cintel.testing.server",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'cintel.testing' has no attribute {name!r}")
