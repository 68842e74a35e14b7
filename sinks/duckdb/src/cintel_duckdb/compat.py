"""ibis 12 on duckdb 2.0: put back the two result methods ibis still calls.

duckdb 2.0 renamed ``fetch_arrow_table`` / ``fetch_record_batch`` to
``to_arrow_table`` / ``to_arrow_reader``: on connections the old names are gone,
on relations they warn (``DeprecationWarning``); Arrow output of a DB-API result
also warns that it copies the rows. ibis-framework 12.0, the newest release,
still calls the old names, so any ibis query on DuckDB fails with
``AttributeError``. Until an ibis release catches up, :func:`patch` points the old
names at the new methods (once) and keeps those warnings out of users' faces.
"""

from __future__ import annotations

import warnings
from typing import Any

import duckdb

__all__ = ["patch"]

_COPY_WARNING = "Arrow output on a DB-API result"


def _quiet(method: Any) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_COPY_WARNING, category=UserWarning)
            return method(self, *args, **kwargs)

    return call


def _patch_class(cls: Any) -> None:
    table = _quiet(cls.to_arrow_table)
    reader = _quiet(cls.to_arrow_reader)

    def fetch_arrow_table(self: Any, *args: Any, **kwargs: Any) -> Any:
        return table(self, *args, **kwargs)

    def fetch_record_batch(self: Any, rows_per_batch: int = 1_000_000) -> Any:
        return reader(self, rows_per_batch)

    cls.fetch_arrow_table = fetch_arrow_table
    cls.fetch_record_batch = fetch_record_batch
    cls._cintel_patched = True


def patch() -> None:
    """Route the ``fetch_*`` names ibis 12 uses to duckdb 2.0's ``to_arrow_*`` (once)."""
    for cls in (duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation):
        if not getattr(cls, "_cintel_patched", False):
            _patch_class(cls)
