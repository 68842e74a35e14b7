"""Entry point of the ``typeform`` connector (``[project.entry-points.cintel] typeform = ...``)."""

from __future__ import annotations

from collections.abc import Callable

from cintel import Connector, hookimpl

from cintel_typeform.connector import TypeformConnector

__all__ = ["cintel_connectors"]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register :class:`TypeformConnector` as ``typeform``."""
    register(TypeformConnector)
