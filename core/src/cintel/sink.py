"""Sinks: where records, state and bookkeeping are stored.

A sink receives :class:`WriteBatch` objects and stores **in one transaction**
the raw rows of one stream, their canonical rows, the batch's dead-letter rows
and the stream's new state. The runtime only advances after ``write`` returns,
so a crash at any point either keeps the whole batch with its state or none of
it.

Tables every sink keeps (names are fixed so tools can rely on them):

``raw_<source>__<stream>``
    one row per record: the promoted primary-key and cursor columns, then
    ``_cintel_key`` (the primary key as one string), ``_cintel_payload``
    (the whole record as JSON), ``_cintel_source``, ``_cintel_stream``,
    ``_cintel_run_id``, ``_cintel_extracted_at``.
``_cintel_state``
    one row per ``(pipeline, source, stream)`` with the state JSON.
``_cintel_dead_letter``
    records that could not be loaded: ``id, pipeline, source, stream, run_id,
    reason, payload, created_at, replay_attempts``.
``_cintel_runs``
    one row per run: ``run_id, pipeline, started_at, finished_at, status,
    streams (JSON), error``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel

from cintel.source import WriteDisposition

__all__ = [
    "RAW_META_COLUMNS",
    "DeadLetter",
    "DeadLetterRow",
    "RunRecord",
    "Sink",
    "SinkContext",
    "WriteBatch",
    "raw_table_name",
]

RAW_META_COLUMNS = (
    "_cintel_key",
    "_cintel_payload",
    "_cintel_source",
    "_cintel_stream",
    "_cintel_run_id",
    "_cintel_extracted_at",
)

_IDENT = re.compile(r"[^0-9a-zA-Z_]+")


def raw_table_name(source: str, stream: str) -> str:
    """Name of the raw table of a stream: ``raw_<source>__<stream>``, made SQL-safe."""
    return f"raw_{_IDENT.sub('_', source).lower()}__{_IDENT.sub('_', stream).lower()}"


#: Kinds of dead letters: a record that could not be loaded (``record``, replayable and
#: counted by the error budget), or a part of a loaded record left out of its canonical
#: rows: an invalid ``identifier``, an invalid attribute ``field``, or a canonical ``row``.
DeadLetterKind = Literal["record", "identifier", "field", "row"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record (or a part of one) on its way to the dead-letter table.

    Parts (``kind`` other than ``record``) carry the ``record_key`` of the
    loaded record they belong to: re-loading that record replaces them.
    """

    id: str
    reason: str
    payload: str
    kind: DeadLetterKind = "record"
    record_key: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A record in the dead-letter table."""

    id: str
    pipeline: str
    source: str
    stream: str
    run_id: str
    reason: str
    payload: str
    created_at: datetime
    replay_attempts: int
    kind: DeadLetterKind = "record"
    record_key: str | None = None


@dataclass(slots=True)
class WriteBatch:
    """Everything one sink transaction stores.

    ``rows`` has the promoted key/cursor columns and the ``_cintel_*`` columns
    (see the module docstring), ``_cintel_key`` unique within the batch for
    ``merge``. ``truncate`` asks to empty the raw table first (first batch of
    a ``replace`` run). ``state`` is the stream's new state, ``None`` for
    "unchanged". ``resolved_dead_letters`` are ids of dead-letter rows that
    this batch loads (a replay): they are deleted in the same transaction.
    """

    pipeline: str
    source: str
    stream: str
    run_id: str
    table: str
    disposition: WriteDisposition
    primary_key: tuple[str, ...]
    cursor_field: str | None
    rows: pa.Table
    canonical: Mapping[str, pa.Table] = field(default_factory=dict)
    dead_letters: Sequence[DeadLetter] = ()
    state: Mapping[str, Any] | None = None
    truncate: bool = False
    resolved_dead_letters: Sequence[str] = ()
    failed_replays: Sequence[DeadLetter] = ()


@dataclass(slots=True)
class RunRecord:
    """A row of the runs table."""

    run_id: str
    pipeline: str
    started_at: datetime
    status: str = "running"
    finished_at: datetime | None = None
    streams: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink gets from the runtime besides its config.

    ``base_dir`` is the directory of the pipeline config: relative paths in
    a sink's config are relative to it.
    """

    base_dir: Path = field(default_factory=Path.cwd)


class Sink(ABC):
    """A destination. Open it with ``with sink:``; all methods need it open."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, *, context: SinkContext) -> None:
        self.config = config
        self.context = context

    # lifecycle -------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect and create the bookkeeping tables if missing."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection. Safe to call twice."""

    def __enter__(self) -> Sink:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def lock(self, pipeline: str) -> AbstractContextManager[None]:
        """Exclusive lock on ``pipeline`` for one sync.

        Raises :class:`cintel.errors.PipelineLockedError` at once when another
        live process holds it; a lock left by a dead process is taken over.
        """

    # data --------------------------------------------------------------------
    @abstractmethod
    def write(self, batch: WriteBatch) -> None:
        """Store rows, canonical rows, dead letters and state in one transaction."""

    # state ---------------------------------------------------------------------
    @abstractmethod
    def read_state(self, pipeline: str) -> dict[tuple[str, str], dict[str, Any]]:
        """Committed state of every stream of ``pipeline``: ``(source, stream) -> state``."""

    @abstractmethod
    def reset_state(
        self, pipeline: str, source: str | None = None, stream: str | None = None
    ) -> int:
        """Forget state (all, one source, or one stream); returns how many were removed."""

    # runs ----------------------------------------------------------------------
    @abstractmethod
    def save_run(self, run: RunRecord) -> None:
        """Insert or update a row of the runs table."""

    @abstractmethod
    def list_runs(self, pipeline: str, limit: int = 20) -> list[RunRecord]:
        """Latest runs of ``pipeline``, newest first."""

    # dead letters ----------------------------------------------------------------
    @abstractmethod
    def dead_letters(
        self, pipeline: str, source: str | None = None, stream: str | None = None
    ) -> Iterator[list[DeadLetterRow]]:
        """Dead-letter rows of ``pipeline``, in pages, oldest first."""

    # reading -------------------------------------------------------------------
    @abstractmethod
    def table_names(self) -> list[str]:
        """Tables in the store."""

    @abstractmethod
    def count_rows(self, table: str) -> int:
        """Number of rows of ``table`` (0 when it does not exist)."""

    # unify -----------------------------------------------------------------------
    def ibis(self) -> Any:
        """An ibis backend over the store, for the unify and attribution steps.

        The sink stays the owner of the connection. A sink without one cannot unify.
        """
        raise NotImplementedError(
            f"the {self.name} sink offers no ibis connection, so unify cannot run on it"
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the unify step's final table swap atomic where the store can (no-op here)."""
        yield

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
