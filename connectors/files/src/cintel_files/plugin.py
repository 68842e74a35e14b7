"""Entry point of the ``files`` connector (``[project.entry-points.cintel] files = ...``)."""

from __future__ import annotations

from collections.abc import Callable

from cintel import Connector, hookimpl

from cintel_files.connector import FilesConnector

__all__ = ["cintel_connectors"]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register :class:`FilesConnector` as ``files``."""
    register(FilesConnector)
