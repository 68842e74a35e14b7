"""Entry point of the ``hubspot`` connector (``[project.entry-points.cintel] hubspot = ...``)."""

from __future__ import annotations

from collections.abc import Callable

from cintel import Connector, hookimpl

from cintel_hubspot.connector import HubSpotConnector

__all__ = ["cintel_connectors"]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register :class:`HubSpotConnector` as ``hubspot``."""
    register(HubSpotConnector)
