"""Entry point of the ``segment`` connector (``[project.entry-points.cintel] segment = ...``)."""

from __future__ import annotations

from collections.abc import Callable

from cintel import Connector, hookimpl

from cintel_segment.connector import SegmentConnector

__all__ = ["cintel_connectors"]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register :class:`SegmentConnector` as ``segment``."""
    register(SegmentConnector)
