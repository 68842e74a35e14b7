"""Entry point of the DuckDB sink (group ``cintel``, name ``duckdb``)."""

from __future__ import annotations

from collections.abc import Callable

from cintel.hookspecs import hookimpl
from cintel.sink import Sink

from cintel_duckdb.sink import DuckDBSink


@hookimpl
def cintel_sinks(register: Callable[[type[Sink]], None]) -> None:
    """Register the DuckDB sink."""
    register(DuckDBSink)
