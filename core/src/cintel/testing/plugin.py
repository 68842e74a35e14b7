"""pytest plugin registered under ``pytest11``: fixtures for cintel connector authors.

Installed with cintel, active in every pytest run:

- ``loopback_server``: a factory starting :class:`~cintel.testing.server.LoopbackServer`
  instances on 127.0.0.1, stopped after the test;
- ``acme_api``: the fictional Acme CRM API served on loopback;
- ``cassette``: record/replay of real HTTP exchanges (``--cintel-record`` records
  again); use ``cassette.transport()`` in your client, or
  ``cintel.testing.use_cassette`` to route every cintel HTTP client through it;
- ``respx_mock`` comes from respx itself for mocked APIs.

The conformance suite is :class:`cintel.testing.ConnectorConformance`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

pytest.register_assert_rewrite("cintel.testing.conformance")

from cintel.testing.server import AcmeApi, Faults, LoopbackServer  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cintel")
    group.addoption(
        "--cintel-record",
        action="store_true",
        default=False,
        help="record HTTP cassettes again against the real APIs (needs credentials)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cassette(name): name of the HTTP cassette file used by the `cassette` fixture"
    )


@pytest.fixture
def loopback_server() -> Iterator[Callable[..., LoopbackServer]]:
    """``loopback_server(handler, faults=Faults(...))`` -> a started server on 127.0.0.1."""
    started: list[LoopbackServer] = []

    def start(handler: Callable[..., Any], *, faults: Faults | None = None) -> LoopbackServer:
        server = LoopbackServer(handler, faults=faults).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def acme_api() -> Iterator[LoopbackServer]:
    """The fictional Acme CRM API (250 contacts) on a loopback server."""
    with LoopbackServer(AcmeApi(contacts=250)) as server:
        yield server


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A :class:`~cintel.testing.cassette.Cassette` in ``cassettes/<name>.yaml`` beside the test.

    Replays by default (offline); ``--cintel-record`` records against the real API.
    """
    from cintel.testing.cassette import Cassette

    marker = request.node.get_closest_marker("cassette")
    name = marker.args[0] if marker and marker.args else request.node.name
    path = Path(request.node.path).parent / "cassettes" / f"{name}.yaml"
    mode: Literal["record", "replay"] = (
        "record" if request.config.getoption("--cintel-record") else "replay"
    )
    tape = Cassette(path, mode=mode)
    yield tape
    if tape.recording:
        tape.save()
