"""Intermediate and output tables of the store-wide steps (unify, attribution).

A step materializes its intermediates as temporary tables where the engine has them
(in memory, never written to the store file) and writes each output once, under a
staging name, then swaps the outputs into place in one transaction with the run's
log row: readers see the previous run's tables or this run's, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

__all__ = ["Staging"]


class Staging:
    """Staged tables of one run of a step on an ibis backend ``con``.

    ``prefix`` starts every staged name (letters and ``_``); ``transaction`` is the
    sink's (the swap is atomic where the store has transactions).
    """

    def __init__(
        self,
        con: Any,
        prefix: str,
        *,
        transaction: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.con = con
        self.prefix = prefix
        self._transaction = transaction or nullcontext
        self._staged: list[str] = []
        self._serial = 0
        self._temp = True  # until the engine says it has no temporary tables

    def tables(self) -> set[str]:
        """Tables of the store (staged ones included)."""
        return set(self.con.list_tables())

    def output_name(self, name: str) -> str:
        """The staging name of output ``name``."""
        return f"{self.prefix}out_{name}"

    def stage(self, name: str, expr: ir.Table | pa.Table, *, output: bool = False) -> ir.Table:
        """Materialize ``expr``: a temporary table where the engine has them, dropped at
        the end. ``output`` tables are real ones, renamed into place by :meth:`swap`."""
        self._serial += 1
        full = self.output_name(name) if output else f"{self.prefix}{name}_{self._serial}"
        if isinstance(expr, pa.Table) and self.con.name == "pyspark":
            expr = self._spark_view(f"{full}_arrow", expr)
        if not output and self._temp:
            try:
                table = self.con.create_table(full, expr, temp=True)
            except NotImplementedError:  # Spark: no temporary tables in ibis
                self._temp = False
        if output or not self._temp:
            table = self.con.create_table(full, expr, overwrite=output)
        self._staged.append(full)
        return table

    def _spark_view(self, name: str, table: pa.Table) -> ir.Table:
        """An Arrow table as a Spark view, straight from Arrow: ibis would go through
        pandas, where a null string becomes the text ``NaN``."""
        self.con._session.createDataFrame(table).createOrReplaceTempView(name)
        return self.con.table(name)

    def unstage(self, table: ir.Table) -> None:
        """Drop a staged table no longer needed (frees the memory of a temporary one)."""
        name = table.get_name().rsplit(".", 1)[-1]  # a temporary one is temp.main.<name>
        self.con.drop_table(name, force=True)
        self._staged.remove(name)

    def drop_all(self) -> None:
        """Drop whatever is still staged (after a failure, or the intermediates)."""
        for name in self._staged:
            self.con.drop_table(name, force=True)
        self._staged.clear()

    def swap(
        self,
        outputs: Mapping[str, ir.Table],
        *,
        runs_table: str,
        run_id: str,
        started_at: datetime,
        summary: Mapping[str, Any],
    ) -> None:
        """Replace the output tables by the staged ones and append the run's log row,
        in one transaction where possible."""
        runs = pa.table(
            {
                "run_id": [run_id],
                "started_at": pa.array([started_at], pa.timestamp("us", tz="UTC")),
                "summary": [json.dumps(summary)],
            }
        )
        with self._transaction():
            for name in outputs:
                staging = self.output_name(name)
                self.con.drop_table(name, force=True)
                # names are ours (letters and _), and ALTER TABLE … RENAME TO is everywhere
                self.con.raw_sql(f"ALTER TABLE {staging} RENAME TO {name}")
                self._staged.remove(staging)
            if runs_table in self.tables():
                self.con.insert(runs_table, runs)
            else:
                self.con.create_table(runs_table, runs)
