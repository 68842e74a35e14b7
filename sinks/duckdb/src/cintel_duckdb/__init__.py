"""cintel-duckdb: the embedded default store of cintel."""

from cintel_duckdb.sink import DuckDBConfig, DuckDBSink

__all__ = ["DuckDBConfig", "DuckDBSink"]
