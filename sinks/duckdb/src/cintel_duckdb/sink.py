"""The DuckDB sink: one embedded database file holds raw tables, canonical tables and bookkeeping.

Every :meth:`DuckDBSink.write` is one DuckDB transaction holding the raw rows,
the canonical rows, the dead letters and the stream's new state, so a process
killed at any point leaves either all of a batch or none of it.

Merge (upsert) deletes the incoming keys and inserts the batch: a hash
semi-join on ``_cintel_key`` instead of a primary-key index, which keeps memory
flat under DuckDB's ``memory_limit`` (an ART index on a growing table does not).
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import orjson
import pyarrow as pa
import structlog
from cintel.errors import PipelineLockedError, SinkError
from cintel.sink import DeadLetter, DeadLetterRow, RunRecord, Sink, SinkContext, WriteBatch
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DuckDBConfig", "DuckDBSink"]

log = structlog.get_logger(__name__)

_BOOKKEEPING = (
    """CREATE TABLE IF NOT EXISTS _cintel_state (
        pipeline VARCHAR NOT NULL, source VARCHAR NOT NULL, stream VARCHAR NOT NULL,
        state VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS _cintel_dead_letter (
        id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, source VARCHAR NOT NULL,
        stream VARCHAR NOT NULL, run_id VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        payload VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        replay_attempts INTEGER NOT NULL DEFAULT 0, kind VARCHAR NOT NULL DEFAULT 'record',
        record_key VARCHAR)""",
    # stores made before dead letters had kinds
    "ALTER TABLE _cintel_dead_letter ADD COLUMN IF NOT EXISTS kind VARCHAR DEFAULT 'record'",
    "ALTER TABLE _cintel_dead_letter ADD COLUMN IF NOT EXISTS record_key VARCHAR",
    """CREATE TABLE IF NOT EXISTS _cintel_runs (
        run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP, status VARCHAR NOT NULL, streams VARCHAR, error VARCHAR)""",
)

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_NUMERIC_TYPES = (*_INTEGER_TYPES, "FLOAT", "DOUBLE")
_INCOMING = "_cintel_incoming"
_NULL = '"NULL"'  # DuckDB's type of an all-null arrow column
_PAGE = 1000


def _q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _filter(pipeline: str, source: str | None, stream: str | None) -> tuple[str, list[Any]]:
    """WHERE clause and parameters selecting a pipeline's rows, optionally one source/stream."""
    where = "pipeline = ?"
    params: list[Any] = [pipeline]
    if source:
        where += " AND source = ?"
        params.append(source)
    if stream:
        where += " AND stream = ?"
        params.append(stream)
    return where, params


class DuckDBConfig(BaseModel):
    """``destination.config`` of the DuckDB sink."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        "cintel.duckdb",
        description="Database file, relative to the pipeline config; ':memory:' for none.",
    )
    memory_limit: str = Field(
        "100MB", description="DuckDB memory_limit (DuckDB takes 80% of RAM if unset)."
    )
    threads: int | None = Field(None, ge=1, description="DuckDB worker threads (default: cores).")
    payload_compression: Literal["zstd", "fsst", "auto"] = Field(
        "zstd",
        description="Compression of the JSON payload column: zstd is smaller and faster to "
        "write than DuckDB's default analysis (auto) for long JSON strings.",
    )
    checkpoint_threshold: str = Field(
        "256MB",
        description="WAL size that triggers a checkpoint (DuckDB's checkpoint_threshold).",
    )
    settings: dict[str, str | int | bool | float] = Field(
        default_factory=dict,
        description="Other DuckDB settings passed to connect(), e.g. temp_directory.",
    )

    @field_validator("memory_limit", "checkpoint_threshold")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, re.I):
            raise ValueError("expected a size like '256MB' or '2GB'")
        return value.strip()


class DuckDBSink(Sink):
    """Raw, canonical and bookkeeping tables in one DuckDB database file."""

    name = "duckdb"
    Config = DuckDBConfig

    def __init__(self, config: BaseModel, *, context: SinkContext) -> None:
        super().__init__(config, context=context)
        assert isinstance(config, DuckDBConfig)  # noqa: S101 - the runtime validated it
        self.settings: DuckDBConfig = config
        self._con: duckdb.DuckDBPyConnection | None = None
        self._columns: dict[str, dict[str, str]] = {}
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    @property
    def path(self) -> Path | None:
        """The database file (``None`` for an in-memory database)."""
        if self.settings.path == ":memory:":
            return None
        path = Path(self.settings.path).expanduser()
        return path if path.is_absolute() else self.context.base_dir / path

    def open(self) -> None:
        if self._con is not None:
            return
        config: dict[str, str | bool | int | float | list[str]] = {
            **self.settings.settings,
            "memory_limit": self.settings.memory_limit,
            "checkpoint_threshold": self.settings.checkpoint_threshold,
        }
        if self.settings.threads:
            config["threads"] = self.settings.threads
        path = self.path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path) if path else ":memory:", config=config)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" in message.lower():
                holder = re.search(r"\(PID (\d+)\)", message)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise SinkError(
                    f"the DuckDB file {path} is in use by {who}; DuckDB allows one writing "
                    "process at a time, so wait for it to finish (or stop it) and retry",
                    sink=self.name,
                ) from None
            raise SinkError(f"cannot open DuckDB file {path}: {message}", sink=self.name) from None
        for statement in _BOOKKEEPING:
            con.execute(statement)
        self._con = con
        self._columns.clear()

    def close(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            finally:
                self._con = None

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open DuckDB connection (for queries and for ibis)."""
        if self._con is None:
            raise SinkError("the DuckDB sink is not open; use `with sink:`", sink=self.name)
        return self._con

    def __repr__(self) -> str:
        return f"<DuckDBSink path={self.settings.path!r}>"

    def ibis(self) -> Any:
        """An ibis DuckDB backend on the sink's own connection."""
        import ibis  # only unify needs it: keeps `cintel sync` start-up lean

        from cintel_duckdb.compat import patch

        patch()
        return ibis.duckdb.from_connection(self.connection())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction (the unify step swaps its tables inside it)."""
        con = self.connection()
        with self._mutex:
            con.begin()
            try:
                yield
            except BaseException:
                con.rollback()
                self._columns.clear()
                raise
            con.commit()
            self._columns.clear()

    # ------------------------------------------------------------------ lock
    @contextmanager
    def lock(self, pipeline: str) -> Iterator[None]:
        """``flock`` on ``<file>.<pipeline>.lock``; the kernel frees it when a process dies."""
        path = self.path
        if path is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^0-9A-Za-z_.-]+", "_", pipeline)
        lock_path = path.with_name(f"{path.name}.{safe}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or None
                raise PipelineLockedError(pipeline, holder) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ schema
    def _table_columns(self, table: str) -> dict[str, str]:
        cached = self._columns.get(table)
        if cached is not None:
            return cached
        rows = (
            self.connection()
            .execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [table],
            )
            .fetchall()
        )
        columns = {str(name): str(kind) for name, kind in rows}
        if columns:
            self._columns[table] = columns
        return columns

    def _incoming_types(self) -> dict[str, str]:
        rows = self.connection().execute(f"DESCRIBE {_INCOMING}").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def _prepare_table(self, table: str) -> list[str]:
        """Create or evolve ``table`` for the registered incoming rows; returns select exprs."""
        con = self.connection()
        incoming = self._incoming_types()
        existing = self._table_columns(table)
        if not existing:
            defs = ", ".join(
                f"{_q(c)} {'VARCHAR' if t == _NULL else t}{self._compression(c)}"
                for c, t in incoming.items()
            )
            con.execute(f"CREATE TABLE {_q(table)} ({defs})")
            self._columns.pop(table, None)
            existing = self._table_columns(table)
        exprs: list[str] = []
        for column, kind in incoming.items():
            have = existing.get(column)
            if have is None:
                # new field: a new nullable column; old rows read NULL
                new_kind = "VARCHAR" if kind == _NULL else kind
                con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(column)} {new_kind}")
                log.info("column added", table=table, column=column, type=new_kind)
                existing[column] = new_kind
                have = new_kind
            elif have != kind and kind != '"NULL"':
                widened = self._widen(have, kind)
                if widened != have:
                    con.execute(f"ALTER TABLE {_q(table)} ALTER COLUMN {_q(column)} TYPE {widened}")
                    log.info("column widened", table=table, column=column, old=have, new=widened)
                    existing[column] = widened
                    have = widened
            exprs.append(
                _q(column) if have == kind else f"CAST({_q(column)} AS {have}) AS {_q(column)}"
            )
        return exprs

    def _compression(self, column: str) -> str:
        codec = self.settings.payload_compression
        return (
            f" USING COMPRESSION {codec}" if column == "_cintel_payload" and codec != "auto" else ""
        )

    @staticmethod
    def _widen(have: str, incoming: str) -> str:
        if have == "VARCHAR":
            return have
        if have in _INTEGER_TYPES and incoming in _INTEGER_TYPES:
            return (
                have if _INTEGER_TYPES.index(have) >= _INTEGER_TYPES.index(incoming) else incoming
            )
        if have in _NUMERIC_TYPES and incoming in _NUMERIC_TYPES:
            return "DOUBLE"
        if have.startswith("TIMESTAMP") and incoming.startswith("TIMESTAMP"):
            return have
        return "VARCHAR"

    def _insert(self, table: str, rows: pa.Table, *, delete_on: Sequence[str] = ()) -> None:
        """Insert ``rows`` into ``table`` (evolved), first deleting rows matching ``delete_on``."""
        con = self.connection()
        con.register(_INCOMING, rows)
        try:
            exprs = self._prepare_table(table)
            if delete_on and self.count_rows(table):
                match = " AND ".join(f"t.{_q(c)} = i.{_q(c)}" for c in delete_on)
                con.execute(f"DELETE FROM {_q(table)} AS t USING {_INCOMING} AS i WHERE {match}")
            names = ", ".join(_q(c) for c in rows.column_names)
            con.execute(
                f"INSERT INTO {_q(table)} ({names}) SELECT {', '.join(exprs)} FROM {_INCOMING}"
            )
        finally:
            con.unregister(_INCOMING)

    # ------------------------------------------------------------------ writing
    def write(self, batch: WriteBatch) -> None:
        con = self.connection()
        with self._mutex:
            con.begin()
            try:
                self._write(batch)
                con.commit()
            except BaseException as exc:
                con.rollback()
                self._columns.clear()  # DDL may have been rolled back
                if isinstance(exc, duckdb.Error):
                    raise SinkError(
                        f"writing {batch.table} failed: {exc}", sink=self.name, table=batch.table
                    ) from exc
                raise

    def _write(self, batch: WriteBatch) -> None:
        con = self.connection()
        table = batch.table
        exists = bool(self._table_columns(table))
        if batch.truncate:
            # first batch of a replace: empty the stream's raw and canonical rows
            if exists:
                con.execute(f"DELETE FROM {_q(table)}")
            for entity in self._canonical_tables():
                con.execute(
                    f"DELETE FROM {_q(entity)} WHERE _cintel_source = ? AND _cintel_stream = ?",
                    [batch.source, batch.stream],
                )
        if batch.rows.num_rows or not exists:
            merge = batch.disposition == "merge"
            self._insert(table, batch.rows, delete_on=("_cintel_key",) if merge else ())
        if batch.canonical and batch.rows.num_rows:
            # a reloaded record's canonical rows are replaced: all of them, in every table
            # its stream maps to, even when the new version maps to fewer (or no) rows
            con.register(_INCOMING, batch.rows.select(["_cintel_key"]))
            try:
                for entity in batch.canonical:
                    if self._table_columns(entity):
                        con.execute(
                            f"DELETE FROM {_q(entity)} WHERE _cintel_source = ? "
                            "AND _cintel_stream = ? "
                            f"AND _cintel_record_key IN (SELECT _cintel_key FROM {_INCOMING})",
                            [batch.source, batch.stream],
                        )
            finally:
                con.unregister(_INCOMING)
        for entity, rows in batch.canonical.items():
            if rows.num_rows or not self._table_columns(entity):
                self._insert(entity, rows)
        now = _naive_utc(datetime.now(UTC))
        if batch.canonical and batch.rows.num_rows:
            # re-loaded records: their canonical rows were replaced, so are their parts
            con.register(_INCOMING, batch.rows.select(["_cintel_key"]))
            try:
                con.execute(
                    "DELETE FROM _cintel_dead_letter WHERE kind <> 'record' AND pipeline = ? "
                    "AND source = ? AND stream = ? "
                    f"AND record_key IN (SELECT _cintel_key FROM {_INCOMING})",
                    [batch.pipeline, batch.source, batch.stream],
                )
            finally:
                con.unregister(_INCOMING)
        if batch.dead_letters:
            self._insert_dead_letters(batch, batch.dead_letters, now)
        if batch.resolved_dead_letters:
            con.register(_INCOMING, pa.table({"id": pa.array(batch.resolved_dead_letters)}))
            try:
                con.execute(
                    f"DELETE FROM _cintel_dead_letter WHERE id IN (SELECT id FROM {_INCOMING})"
                )
            finally:
                con.unregister(_INCOMING)
        if batch.failed_replays:
            con.register(
                _INCOMING,
                pa.table(
                    {
                        "id": [d.id for d in batch.failed_replays],
                        "reason": [d.reason for d in batch.failed_replays],
                    }
                ),
            )
            try:
                con.execute(
                    "UPDATE _cintel_dead_letter AS d SET reason = i.reason, "
                    f"replay_attempts = d.replay_attempts + 1 FROM {_INCOMING} AS i "
                    "WHERE d.id = i.id"
                )
            finally:
                con.unregister(_INCOMING)
        if batch.state is not None:
            con.execute(
                "DELETE FROM _cintel_state WHERE pipeline = ? AND source = ? AND stream = ?",
                [batch.pipeline, batch.source, batch.stream],
            )
            con.execute(
                "INSERT INTO _cintel_state VALUES (?, ?, ?, ?, ?)",
                [
                    batch.pipeline,
                    batch.source,
                    batch.stream,
                    orjson.dumps(batch.state, default=str).decode(),
                    now,
                ],
            )

    def _canonical_tables(self) -> list[str]:
        rows = (
            self.connection()
            .execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' "
                "AND column_name = '_cintel_record_key'"
            )
            .fetchall()
        )
        return sorted({str(r[0]) for r in rows})

    def _insert_dead_letters(
        self, batch: WriteBatch, letters: Sequence[DeadLetter], now: datetime
    ) -> None:
        n = len(letters)
        rows = pa.table(
            {
                "id": [d.id for d in letters],
                "pipeline": [batch.pipeline] * n,
                "source": [batch.source] * n,
                "stream": [batch.stream] * n,
                "run_id": [batch.run_id] * n,
                "reason": [d.reason for d in letters],
                "payload": [d.payload for d in letters],
                "created_at": pa.array([now] * n, pa.timestamp("us")),
                "replay_attempts": pa.array([0] * n, pa.int32()),
                "kind": [d.kind for d in letters],
                "record_key": pa.array([d.record_key for d in letters], pa.string()),
            }
        )
        con = self.connection()
        con.register(_INCOMING, rows)
        try:
            names = ", ".join(rows.column_names)
            con.execute(
                f"INSERT INTO _cintel_dead_letter ({names}) SELECT {names} FROM {_INCOMING}"
            )
        finally:
            con.unregister(_INCOMING)

    # ------------------------------------------------------------------ state
    def read_state(self, pipeline: str) -> dict[tuple[str, str], dict[str, Any]]:
        rows = (
            self.connection()
            .execute(
                "SELECT source, stream, state FROM _cintel_state WHERE pipeline = ?", [pipeline]
            )
            .fetchall()
        )
        return {(str(src), str(stream)): orjson.loads(state) for src, stream, state in rows}

    def reset_state(
        self, pipeline: str, source: str | None = None, stream: str | None = None
    ) -> int:
        where, params = _filter(pipeline, source, stream)
        con = self.connection()
        row = con.execute(f"SELECT count(*) FROM _cintel_state WHERE {where}", params).fetchone()
        con.execute(f"DELETE FROM _cintel_state WHERE {where}", params)
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ runs
    def save_run(self, run: RunRecord) -> None:
        con = self.connection()
        with self._mutex:
            con.begin()
            try:
                con.execute("DELETE FROM _cintel_runs WHERE run_id = ?", [run.run_id])
                con.execute(
                    "INSERT INTO _cintel_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        run.run_id,
                        run.pipeline,
                        _naive_utc(run.started_at),
                        _naive_utc(run.finished_at) if run.finished_at else None,
                        run.status,
                        orjson.dumps(run.streams, default=str).decode(),
                        run.error,
                    ],
                )
                con.commit()
            except BaseException:
                con.rollback()
                raise

    def list_runs(self, pipeline: str, limit: int = 20) -> list[RunRecord]:
        rows = (
            self.connection()
            .execute(
                "SELECT run_id, pipeline, started_at, finished_at, status, streams, error "
                "FROM _cintel_runs WHERE pipeline = ? ORDER BY started_at DESC, run_id DESC "
                "LIMIT ?",
                [pipeline, limit],
            )
            .fetchall()
        )
        return [
            RunRecord(
                run_id=r[0],
                pipeline=r[1],
                started_at=_aware(r[2]) or datetime.now(UTC),
                finished_at=_aware(r[3]),
                status=r[4],
                streams=orjson.loads(r[5]) if r[5] else {},
                error=r[6],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ dead letters
    def dead_letters(
        self, pipeline: str, source: str | None = None, stream: str | None = None
    ) -> Iterator[list[DeadLetterRow]]:
        where, params = _filter(pipeline, source, stream)
        after: tuple[datetime, str] | None = None
        con = self.connection()
        while True:
            page_where, page_params = where, list(params)
            if after is not None:
                page_where += " AND (created_at, id) > (?, ?)"
                page_params.extend(after)
            rows = con.execute(
                "SELECT id, pipeline, source, stream, run_id, reason, payload, created_at, "
                f"replay_attempts, kind, record_key FROM _cintel_dead_letter WHERE {page_where} "
                f"ORDER BY created_at, id LIMIT {_PAGE}",
                page_params,
            ).fetchall()
            if not rows:
                return
            yield [
                DeadLetterRow(
                    id=r[0],
                    pipeline=r[1],
                    source=r[2],
                    stream=r[3],
                    run_id=r[4],
                    reason=r[5],
                    payload=r[6],
                    created_at=_aware(r[7]) or datetime.now(UTC),
                    replay_attempts=int(r[8]),
                    kind=r[9] or "record",
                    record_key=r[10],
                )
                for r in rows
            ]
            if len(rows) < _PAGE:
                return
            after = (rows[-1][7], rows[-1][0])

    # ------------------------------------------------------------------ reading
    def table_names(self) -> list[str]:
        rows = (
            self.connection()
            .execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY table_name"
            )
            .fetchall()
        )
        return [str(r[0]) for r in rows]

    def count_rows(self, table: str) -> int:
        if not self._table_columns(table):
            return 0
        row = self.connection().execute(f"SELECT count(*) FROM {_q(table)}").fetchone()
        return int(row[0]) if row else 0

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run a read query and fetch all rows (a convenience for tests and notebooks)."""
        return self.connection().execute(sql, params).fetchall()
