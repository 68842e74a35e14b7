"""The sync engine: sources to sink, incrementally, resumably.

How a run goes:

1. The sink's pipeline **lock** is taken (a second sync of the same pipeline
   fails at once with :class:`~cintel.errors.PipelineLockedError`).
2. The committed state of every stream is read from the sink.
3. Streams run in a thread pool (``run.concurrency``); each turns the batches
   its connector yields into :class:`~cintel.sink.WriteBatch` objects (primary
   key and cursor promoted, payload JSON, bad records as dead letters, canonical
   rows) and puts them on a bounded queue (``run.queue_size``), so memory is
   bounded by batch size and concurrency, never by source size.
4. One writer (the calling thread) commits each batch **with the stream's new
   state** in one sink transaction, then calls ``cintel_batch_committed``.
5. Per stream, an error budget (``run.max_bad_records``) turns too many dead
   letters into a failed run.

The state stored per stream is an envelope around the connector's own state::

    {"v": 1, "mode": "incremental" | "replace" | "full_refresh",
     "complete": false, "state": <the connector's state>}

``complete`` is false while a read is under way. A ``replace`` (or full
refresh) read that was interrupted resumes where it stopped instead of
truncating again.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import queue
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa
import structlog
from pydantic import BaseModel, ValidationError

from cintel.config import (
    PipelineConfig,
    format_validation_error,
    is_manifest_reference,
    load_config,
)
from cintel.errors import CintelError, ConfigError, ErrorBudgetExceeded, RunFailedError
from cintel.identity.normalize import Normalizer
from cintel.logs import collect_secrets, ensure_logging, redact, register_secrets
from cintel.model import to_arrow, validate_rows
from cintel.plugins import Plugins
from cintel.sink import (
    DeadLetter,
    DeadLetterKind,
    DeadLetterRow,
    RunRecord,
    Sink,
    SinkContext,
    WriteBatch,
    raw_table_name,
)
from cintel.source import (
    CheckResult,
    Connector,
    ConnectorContext,
    RecordBatch,
    Stream,
    WriteDisposition,
)
from cintel.state import record_key

if TYPE_CHECKING:
    from cintel.attribution.engine import AttributionResult
    from cintel.identity.profile import CustomerProfile
    from cintel.identity.unify import UnifyResult

__all__ = [
    "BatchInfo",
    "Pipeline",
    "ProgressEvent",
    "ReplayResult",
    "RunContext",
    "RunResult",
    "StreamInfo",
    "StreamResult",
]

log = structlog.get_logger("cintel.pipeline")

STATE_VERSION = 1


# --------------------------------------------------------------------------- results
@dataclass(slots=True)
class StreamResult:
    """What a run did to one stream."""

    source: str
    stream: str
    table: str
    disposition: WriteDisposition
    status: Literal["pending", "running", "succeeded", "failed", "skipped"] = "pending"
    records: int = 0
    bad: int = 0
    batches: int = 0
    seconds: float = 0.0
    error: str | None = None
    state: Mapping[str, Any] | None = None

    @property
    def key(self) -> str:
        """``source.stream``."""
        return f"{self.source}.{self.stream}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (state left out)."""
        return {
            "source": self.source,
            "stream": self.stream,
            "table": self.table,
            "disposition": self.disposition,
            "status": self.status,
            "records": self.records,
            "bad": self.bad,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(slots=True)
class RunResult:
    """What a run did: status, per-stream results, error."""

    run_id: str
    pipeline: str
    status: Literal["succeeded", "failed"]
    started_at: datetime
    finished_at: datetime
    streams: dict[str, StreamResult] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.status == "succeeded"

    @property
    def records(self) -> int:
        """Records loaded over all streams."""
        return sum(s.records for s in self.streams.values())

    @property
    def bad(self) -> int:
        """Records sent to the dead-letter table over all streams."""
        return sum(s.bad for s in self.streams.values())

    @property
    def seconds(self) -> float:
        """Wall time of the run."""
        return (self.finished_at - self.started_at).total_seconds()

    def raise_for_status(self) -> RunResult:
        """Raise :class:`RunFailedError` if the run failed; return self otherwise."""
        if not self.ok:
            raise RunFailedError(self.error or "run failed", result=self)
        return self


@dataclass(frozen=True, slots=True)
class RunContext:
    """A run as lifecycle hooks see it."""

    run_id: str
    pipeline: str
    started_at: datetime
    streams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A committed batch as ``cintel_batch_committed`` sees it: counts, not records."""

    source: str
    stream: str
    table: str
    records: int
    bad: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Progress of a run for a display: ``kind`` is started, batch or finished."""

    kind: Literal["started", "batch", "finished"]
    stream: str
    records: int = 0
    bad: int = 0
    status: str | None = None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream as ``cintel discover`` shows it."""

    source: str
    name: str
    table: str
    primary_key: tuple[str, ...]
    cursor_field: str | None
    disposition: WriteDisposition
    json_schema: dict[str, Any]


@dataclass(slots=True)
class ReplayResult:
    """Outcome of a dead-letter replay: how many landed and how many are still bad."""

    landed: int = 0
    still_bad: int = 0
    per_stream: dict[str, tuple[int, int]] = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


# --------------------------------------------------------------------------- tasks
@dataclass(slots=True)
class _Task:
    source: str
    connector: Connector
    stream: Stream
    disposition: WriteDisposition
    result: StreamResult
    mode: str
    resume_state: Mapping[str, Any] | None
    truncate: bool
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class _Done:
    task: _Task
    error: BaseException | None = None
    final_state: Mapping[str, Any] | None = None


@dataclass(slots=True)
class _Item:
    task: _Task
    batch: WriteBatch
    records: int
    bad: int


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def _short_switch_interval(microseconds: int) -> Iterator[None]:
    """Shorten ``sys.setswitchinterval`` while any run is under way, then restore it.

    A reader thread parsing records holds the GIL for the whole default 5 ms
    slice; the sink's native code (DuckDB scanning an arrow batch) needs the GIL
    at a few points per batch and would wait that long each time. Measured: the
    writer runs about 1.4x faster with 100 us. Counted, so overlapping runs in
    one process restore the interpreter's value only when the last one ends.
    """
    global _switch_users, _switch_saved
    if microseconds <= 0:
        yield
        return
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, microseconds / 1_000_000))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_run_id() -> str:
    # time-ordered: sorts by start time, unique across processes
    return f"{_now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"


def _to_array(values: list[Any]) -> pa.Array:
    """An arrow array of promoted values; mixed or nested types fall back to text."""
    first = next((v for v in values if v is not None), None)
    if isinstance(first, datetime) and first.tzinfo is not None:
        # aware datetimes as naive UTC: pyarrow would import pandas to convert them
        try:
            naive = [
                v.astimezone(UTC).replace(tzinfo=None) if v is not None else None for v in values
            ]
            return pa.array(naive, pa.timestamp("us", tz="UTC"))
        except (AttributeError, TypeError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # not all datetimes: the general path below
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        arr = None
    if arr is not None and not (pa.types.is_nested(arr.type) or pa.types.is_binary(arr.type)):
        return arr
    return pa.array(
        [
            None
            if v is None
            else v
            if isinstance(v, str)
            else orjson.dumps(v, default=str).decode()
            if isinstance(v, dict | list)
            else str(v)
            for v in values
        ],
        pa.string(),
    )


def _dumps(record: Mapping[str, Any]) -> str:
    return orjson.dumps(record, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class Pipeline:
    """A configured pipeline: its sources, its sink and how to run them.

    >>> pipeline = Pipeline.from_yaml("cintel.yaml")      # doctest: +SKIP
    >>> result = pipeline.run()                            # doctest: +SKIP
    >>> result.records, result.status                      # doctest: +SKIP

    Pipelines hold no global state: two of them run in one process side by side.
    ``plugins`` defaults to a fresh :class:`~cintel.plugins.Plugins` (entry
    points, loaded on first use).
    """

    def __init__(self, config: PipelineConfig, *, plugins: Plugins | None = None) -> None:
        ensure_logging()
        self.config = config
        self.plugins = plugins if plugins is not None else Plugins()
        self._connectors: dict[str, Connector] | None = None
        self._sink_config: BaseModel | None = None

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        plugins: Plugins | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """Load ``cintel.yaml`` and validate it, connector and sink configs included."""
        pipeline = cls(load_config(path, env=env), plugins=plugins)
        try:
            pipeline.validate()
        except ConfigError as exc:
            raise ConfigError(exc.problems, file=str(path)) from None
        return pipeline

    @property
    def name(self) -> str:
        """Pipeline name."""
        return self.config.name

    # ------------------------------------------------------------------ building
    def validate(self) -> None:
        """Validate connector and sink configs; raises :class:`ConfigError` naming every field."""
        _ = self.connectors
        _ = self._validated_sink_config()
        for source in self.config.sources:
            self._streams_of(source)  # unknown streams, merge without a primary key

    @property
    def connectors(self) -> dict[str, Connector]:
        """Connector instances by source name (validated on first access)."""
        if self._connectors is None:
            problems: list[tuple[str, str]] = []
            connectors: dict[str, Connector] = {}
            for name, source in self.config.sources.items():
                try:
                    if is_manifest_reference(source.connector):
                        from cintel.declarative import load_connector  # httpx only when used

                        cls = load_connector(self.config.base_dir / source.connector)
                    else:
                        cls = self.plugins.connector(source.connector)
                except CintelError as exc:
                    problems.append((f"sources.{name}.connector", str(exc)))
                    continue
                context = ConnectorContext(source=name, base_dir=self.config.base_dir)
                try:
                    cfg = cls.Config.model_validate(
                        source.config, context={"base_dir": self.config.base_dir, "source": name}
                    )
                except ValidationError as exc:
                    problems.extend(format_validation_error(exc, f"sources.{name}.config"))
                    continue
                register_secrets(collect_secrets(cfg))
                connectors[name] = cls(cfg, context=context)
            if problems:
                raise ConfigError(problems)
            self._connectors = connectors
        return self._connectors

    @functools.cached_property
    def normalizer(self) -> Normalizer:
        """Normalizes canonical rows before they load (``identity.normalize`` settings)."""
        return Normalizer(self.config.identity.normalize)

    def _validated_sink_config(self) -> BaseModel:
        if self._sink_config is None:
            dest = self.config.destination
            try:
                cls = self.plugins.sink(dest.sink)
            except CintelError as exc:
                raise ConfigError([("destination.sink", str(exc))]) from None
            try:
                self._sink_config = cls.Config.model_validate(
                    dest.config, context={"base_dir": self.config.base_dir}
                )
            except ValidationError as exc:
                raise ConfigError(format_validation_error(exc, "destination.config")) from None
            register_secrets(collect_secrets(self._sink_config))
        return self._sink_config

    def sink(self) -> Sink:
        """A new (unopened) sink instance for this pipeline."""
        cfg = self._validated_sink_config()
        cls = self.plugins.sink(self.config.destination.sink)
        return cls(cfg, context=SinkContext(base_dir=self.config.base_dir))

    def _streams_of(self, source: str) -> list[tuple[Stream, WriteDisposition]]:
        src = self.config.sources[source]
        connector = self.connectors[source]
        available = {s.name: s for s in connector.streams()}
        chosen: list[tuple[Stream, WriteDisposition | None]]
        if src.streams is None:
            chosen = [(s, None) for s in available.values()]
        else:
            chosen = []
            problems = []
            for i, sel in enumerate(src.streams):
                if sel.name not in available:
                    known = ", ".join(sorted(available)) or "none"
                    problems.append(
                        (
                            f"sources.{source}.streams[{i}].name",
                            f"unknown stream {sel.name!r} (available: {known})",
                        )
                    )
                    continue
                chosen.append((available[sel.name], sel.write_disposition))
            if problems:
                raise ConfigError(problems)
        out: list[tuple[Stream, WriteDisposition]] = []
        for stream, override in chosen:
            disposition: WriteDisposition = (
                override
                or stream.write_disposition
                or ("merge" if stream.primary_key else "append")
            )
            if disposition == "merge" and not stream.primary_key:
                raise ConfigError(
                    [
                        (
                            f"sources.{source}.streams",
                            f"stream {stream.name!r}: write_disposition merge needs a primary_key",
                        )
                    ]
                )
            out.append((stream, disposition))
        return out

    def _select(self, only: Sequence[str] | None) -> list[tuple[str, Stream, WriteDisposition]]:
        selected: list[tuple[str, Stream, WriteDisposition]] = []
        wanted = set(only or ())
        matched: set[str] = set()
        for source in self.config.sources:
            for stream, disposition in self._streams_of(source):
                full = f"{source}.{stream.name}"
                if wanted and not ({full, stream.name, source} & wanted):
                    continue
                matched.update({full, stream.name, source} & wanted)
                selected.append((source, stream, disposition))
        unknown = wanted - matched
        if unknown:
            raise ConfigError(
                [("--stream", f"no stream named {sorted(unknown)[0]!r} in this pipeline")]
            )
        return selected

    # ------------------------------------------------------------------ inspection
    def check(self) -> dict[str, CheckResult]:
        """Run every connector's ``check()``; errors become failed results."""
        results = {}
        for name, connector in self.connectors.items():
            try:
                results[name] = connector.check()
            except Exception as exc:  # noqa: BLE001 - a check reports, it does not crash
                results[name] = CheckResult(False, redact(f"{type(exc).__name__}: {exc}"))
        return results

    def discover(self) -> list[StreamInfo]:
        """Every stream of every source with keys, disposition and JSON Schema."""
        infos = []
        for source in self.config.sources:
            for stream, disposition in self._streams_of(source):
                infos.append(
                    StreamInfo(
                        source=source,
                        name=stream.name,
                        table=raw_table_name(source, stream.name),
                        primary_key=tuple(stream.primary_key),
                        cursor_field=stream.cursor_field,
                        disposition=disposition,
                        json_schema=stream.json_schema(),
                    )
                )
        return infos

    def state(self) -> dict[str, Any]:
        """Committed state per ``source.stream``."""
        with self.sink() as sink:
            states = sink.read_state(self.name)
        return {f"{src}.{stream}": st for (src, stream), st in sorted(states.items())}

    def reset_state(self, stream: str | None = None) -> int:
        """Forget state (all, ``source`` or ``source.stream``); the next run reads from scratch."""
        sink = self.sink()
        source, _, name = (stream or "").partition(".")
        with sink.lock(self.name), sink:
            return sink.reset_state(self.name, source or None, name or None)

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Latest runs, newest first."""
        with self.sink() as sink:
            return sink.list_runs(self.name, limit)

    # ------------------------------------------------------------------ customers
    def has_canonical(self, tables: Iterable[str] | None = None) -> bool:
        """Whether the store holds canonical tables (something for unify to read), or
        one of ``tables``."""
        from cintel.model import ENTITIES

        wanted = set(ENTITIES) if tables is None else set(tables)
        with self.sink() as sink:
            return bool(wanted & set(sink.table_names()))

    def unify(self, *, progress: Callable[[str], None] | None = None) -> UnifyResult:
        """Run the unify step over everything loaded: customers, ids, golden records.

        Takes the pipeline lock (a sync and a unify never overlap). ``cintel sync``
        calls it after loading unless ``--no-unify``; from Python, call it after
        :meth:`run`.
        """
        from cintel.identity.unify import Unifier  # ibis only when unifying

        sink = self.sink()
        with sink.lock(self.name), sink:
            matchers = {n: r.obj for n, r in self.plugins.identity_matchers().items()}
            unifier = Unifier(
                sink.ibis(),
                self.config.identity,
                transaction=sink.transaction,
                progress=progress,
                matchers=matchers,
            )
            return unifier.run()

    def attribute(self, *, progress: Callable[[str], None] | None = None) -> AttributionResult:
        """Run the attribution step (``attribution:`` settings) over the unified customers.

        Replaces ``attribution_credit``, ``attribution_summary``, ``attribution_paths``
        and ``attribution_touchpoints``. Needs unify's tables: run :meth:`unify` first.
        ``cintel sync`` calls it after unify unless ``--no-attribution``.
        """
        from cintel.attribution.engine import Attributor  # ibis only when attributing

        sink = self.sink()
        with sink.lock(self.name), sink:
            models = {n: r.obj for n, r in self.plugins.attribution_models().items()}
            attributor = Attributor(
                sink.ibis(),
                self.config.attribution,
                models=models,
                transaction=sink.transaction,
                progress=progress,
            )
            return attributor.run()

    def profile(self, identifier: str, *, limit: int = 50) -> list[CustomerProfile]:
        """Unified customers an identifier (email, phone, ``type:value``, ``cus_…``) points at.

        Usually one; several when the identifier is shared (``info@``) and so
        merged nobody. Empty when nobody has it (or unify has not run yet).
        """
        from cintel.identity.profile import find_customers, load_profile

        with self.sink() as sink:
            con = sink.ibis()
            found = find_customers(con, identifier, self.normalizer)
            profiles = []
            for customer_id, matched, asked in found:
                profile = load_profile(con, customer_id, limit=limit, matched=matched)
                profile.resolved_from = asked if asked != customer_id else None
                profiles.append(profile)
            return profiles

    def dead_letters(
        self, source: str | None = None, stream: str | None = None
    ) -> Iterator[DeadLetterRow]:
        """Dead-letter rows of this pipeline, oldest first."""
        with self.sink() as sink:
            for page in sink.dead_letters(self.name, source, stream):
                yield from page

    # ------------------------------------------------------------------ batches
    def _prepare(
        self,
        source: str,
        stream: Stream,
        disposition: WriteDisposition,
        run_id: str,
        batch: RecordBatch,
        *,
        state: Mapping[str, Any] | None,
        truncate: bool = False,
        ids: Sequence[str] | None = None,
    ) -> tuple[WriteBatch, int, int]:
        """Turn a connector batch into a sink batch; returns it with (good, bad) counts."""
        pk = tuple(stream.primary_key)
        cursor = stream.cursor_field
        dead = [DeadLetter(uuid.uuid4().hex, redact(b.reason), b.payload) for b in batch.bad]
        payloads_in = batch.payloads
        keys: list[str] = []
        payloads: list[str] = []
        good: list[dict[str, Any]] = []
        good_ids: list[str] = []
        position: dict[str, int] = {}
        superseded: list[str] = []
        dedupe = disposition == "merge"
        for i, record in enumerate(batch.records):
            payload = payloads_in[i] if payloads_in is not None else None
            if pk:
                key = record_key(record, pk)
                if key is None:
                    missing = [f for f in pk if record.get(f) in (None, "")]
                    dead.append(
                        DeadLetter(
                            ids[i] if ids is not None else uuid.uuid4().hex,
                            f"missing primary key field {missing[0]!r}"
                            if missing
                            else "missing primary key",
                            payload if payload is not None else _dumps(record),
                        )
                    )
                    continue
            else:
                payload = payload if payload is not None else _dumps(record)
                key = hashlib.md5(payload.encode(), usedforsecurity=False).hexdigest()
            if payload is None:
                payload = _dumps(record)
            if dedupe and key in position:
                j = position[key]  # a later version of the same key wins
                good[j], payloads[j] = record, payload
                if ids is not None:
                    superseded.append(good_ids[j])  # landed too, as its later version
                    good_ids[j] = ids[i]
                continue
            position[key] = len(keys)
            keys.append(key)
            payloads.append(payload)
            good.append(record)
            if ids is not None:
                good_ids.append(ids[i])
        n = len(good)
        now = _now()
        columns: dict[str, pa.Array] = {}
        for name in pk:
            columns[name] = _to_array([r.get(name) for r in good])
        if cursor and cursor not in columns:
            columns[cursor] = _to_array([r.get(cursor) for r in good])
        columns["_cintel_key"] = pa.array(keys, pa.string())
        columns["_cintel_payload"] = pa.array(payloads, pa.string())
        columns["_cintel_source"] = pa.array([source] * n, pa.string())
        columns["_cintel_stream"] = pa.array([stream.name] * n, pa.string())
        columns["_cintel_run_id"] = pa.array([run_id] * n, pa.string())
        columns["_cintel_extracted_at"] = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
        canonical: dict[str, pa.Table] = {}
        parts: list[DeadLetter] = []
        if good:
            canonical, parts = self._canonical(source, stream, good, keys, payloads)
        wb = WriteBatch(
            pipeline=self.name,
            source=source,
            stream=stream.name,
            run_id=run_id,
            table=raw_table_name(source, stream.name),
            disposition=disposition,
            primary_key=pk,
            cursor_field=cursor,
            rows=pa.table(columns),
            canonical=canonical,
            dead_letters=[*parts] if ids is not None else [*dead, *parts],
            state=state,
            truncate=truncate,
            resolved_dead_letters=[*good_ids, *superseded],
            failed_replays=dead if ids is not None else [],
        )
        return wb, n, len(dead)

    def _canonical(
        self,
        source: str,
        stream: Stream,
        records: Sequence[dict[str, Any]],
        keys: Sequence[str],
        payloads: Sequence[str],
    ) -> tuple[dict[str, pa.Table], list[DeadLetter]]:
        """A batch's canonical rows, validated and normalized, with what was left out.

        A row the model rejects, an invalid identifier or attribute: the record
        still loads; what was left out goes to the dead-letter table with its
        reason (kinds ``row``, ``identifier``, ``field``), tied to the record key.
        """
        mapped = stream.to_canonical(records)
        tables: dict[str, pa.Table] = {}
        parts: list[DeadLetter] = []

        def part(index: Any, kind: DeadLetterKind, where: str, reason: str) -> None:
            i = index if isinstance(index, int) and 0 <= index < len(keys) else None
            key = keys[i] if i is not None else None
            ident = hashlib.md5(
                f"{source}\0{stream.name}\0{key}\0{where}\0{reason}".encode(),
                usedforsecurity=False,
            ).hexdigest()
            payload = payloads[i] if i is not None else "{}"
            parts.append(DeadLetter(ident, redact(reason), payload, kind=kind, record_key=key))

        for entity, rows in mapped.items():
            # an entity with no rows still goes to the sink: reloaded records lose old rows
            valid, problems = validate_rows(entity, rows)
            for i, reason in problems:
                part(rows[i].get("_cintel_record_index"), "row", entity, reason)
            normalized, issues = self.normalizer.normalize_rows(entity, valid)
            for issue in issues:
                index = valid[issue.row].get("_cintel_record_index")
                where = f"{entity}.{issue.field}"
                part(index, issue.dropped, where, f"{where}: {issue.reason} ({issue.value!r})")
            fixed = []
            for row in normalized:
                index = row.pop("_cintel_record_index", None)
                row.setdefault(
                    "_cintel_record_key", keys[index] if isinstance(index, int) else None
                )
                row["_cintel_source"] = source
                row["_cintel_stream"] = stream.name
                fixed.append(row)
            # even empty: the sink creates the table from the model's schema
            tables[entity] = to_arrow(entity, fixed)
        return tables, parts

    # ------------------------------------------------------------------ running
    def run(
        self,
        *,
        streams: Sequence[str] | None = None,
        full_refresh: bool = False,
        progress: ProgressCallback | None = None,
    ) -> RunResult:
        """Sync the selected streams (all by default) and return what happened.

        ``full_refresh`` ignores the saved state and replaces each stream's raw
        table. A failed stream fails the run but does not stop the others; the
        result says which failed and why (``raise_for_status()`` raises).
        """
        try:
            return self._run(streams, full_refresh, progress)
        finally:
            self.close_connectors()

    def close_connectors(self) -> None:
        """Let every connector release what it holds (HTTP connection pools)."""
        for name, connector in (self._connectors or {}).items():
            try:
                connector.close()
            except Exception as exc:  # noqa: BLE001 - closing must not mask the run's outcome
                log.warning("connector close failed", source=name, error=str(exc))

    def _run(
        self,
        streams: Sequence[str] | None,
        full_refresh: bool,
        progress: ProgressCallback | None,
    ) -> RunResult:
        selected = self._select(streams)
        sink = self.sink()
        started = _now()
        run_id = _new_run_id()
        with sink.lock(self.name), sink:
            self._close_interrupted_runs(sink)
            saved = sink.read_state(self.name)
            tasks = [
                self._task(src, stream, disp, saved.get((src, stream.name)), full_refresh)
                for src, stream, disp in selected
            ]
            context = RunContext(run_id, self.name, started, tuple(t.result.key for t in tasks))
            record = RunRecord(run_id=run_id, pipeline=self.name, started_at=started)
            sink.save_run(record)
            self.plugins.run_started(context)
            log.info("run started", pipeline=self.name, run_id=run_id, streams=len(tasks))
            error = self._execute(sink, tasks, run_id, context, progress)
            finished = _now()
            failed = [t.result for t in tasks if t.result.status == "failed"]
            if error is None and failed:
                first = failed[0]
                reason = first.error or "failed"
                # errors that name their stream already (HTTP errors, the error budget) say it once
                error = reason if reason.startswith(f"{first.key}:") else f"{first.key}: {reason}"
                if len(failed) > 1:
                    error += f" (and {len(failed) - 1} more failed stream(s))"
            status: Literal["succeeded", "failed"] = "failed" if error else "succeeded"
            result = RunResult(
                run_id,
                self.name,
                status,
                started,
                finished,
                {t.result.key: t.result for t in tasks},
                error,
            )
            record.status = status
            record.finished_at = finished
            record.streams = {k: v.as_dict() for k, v in result.streams.items()}
            record.error = error
            try:
                sink.save_run(record)
            finally:
                self.plugins.run_finished(context, result)
        log.info(
            "run finished",
            pipeline=self.name,
            run_id=run_id,
            status=status,
            records=result.records,
            bad=result.bad,
            seconds=round(result.seconds, 3),
        )
        return result

    def _close_interrupted_runs(self, sink: Sink) -> None:
        """Runs still ``running`` while we hold the lock were killed: say so in the runs table."""
        for run in sink.list_runs(self.name, limit=50):
            if run.status == "running":
                run.status = "interrupted"
                run.error = "the process ended before the run finished (killed or crashed)"
                sink.save_run(run)
                log.warning("previous run was interrupted", run_id=run.run_id)

    async def arun(
        self,
        *,
        streams: Sequence[str] | None = None,
        full_refresh: bool = False,
        progress: ProgressCallback | None = None,
    ) -> RunResult:
        """:meth:`run` in a worker thread, for asyncio services."""
        return await asyncio.to_thread(
            self.run, streams=streams, full_refresh=full_refresh, progress=progress
        )

    def _task(
        self,
        source: str,
        stream: Stream,
        disposition: WriteDisposition,
        saved: Mapping[str, Any] | None,
        full_refresh: bool,
    ) -> _Task:
        envelope = saved if saved and saved.get("v") == STATE_VERSION else None
        inner = envelope.get("state") if envelope else None
        unfinished = envelope is not None and not envelope.get("complete", True)
        if unfinished and envelope and envelope.get("mode") in ("replace", "full_refresh"):
            # an interrupted replace / full refresh goes on where it stopped
            mode, resume, truncate = str(envelope["mode"]), inner, False
        elif full_refresh:
            mode, resume, truncate = "full_refresh", None, True
        elif disposition == "replace":
            mode, resume, truncate = "replace", None, True
        else:
            mode, resume, truncate = "incremental", inner, False
        result = StreamResult(source, stream.name, raw_table_name(source, stream.name), disposition)
        return _Task(
            source, self.connectors[source], stream, disposition, result, mode, resume, truncate
        )

    def _envelope(
        self, task: _Task, state: Mapping[str, Any] | None, complete: bool
    ) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "mode": task.mode,
            "complete": complete,
            # a deep copy taken now: the connector may mutate its state after yielding
            "state": orjson.loads(orjson.dumps(state, default=str)) if state is not None else None,
        }

    def _read(
        self, task: _Task, run_id: str, out: queue.Queue[_Item | _Done], stop: threading.Event
    ) -> None:
        """Reader thread body: connector batches to sink batches on the queue."""
        stream = task.stream
        stream.batch_size = self.config.run.batch_size
        state = task.resume_state
        truncate = task.truncate
        bound = structlog.contextvars.bound_contextvars(source=task.source, stream=stream.name)

        def put(item: _Item | _Done) -> bool:
            # a stream stopped by the writer (error budget) still reports that it is done
            while not (stop.is_set() or (task.stop.is_set() and isinstance(item, _Item))):
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            with bound:
                for batch in stream.read(state):
                    if stop.is_set() or task.stop.is_set():
                        break
                    if batch.state is not None:
                        state = batch.state
                    if not batch.records and not batch.bad and batch.state is None:
                        continue
                    wb, good, bad = self._prepare(
                        task.source,
                        stream,
                        task.disposition,
                        run_id,
                        batch,
                        state=self._envelope(task, state, complete=False),
                        truncate=truncate,
                    )
                    truncate = False
                    # drop the connector's records now, not when the next batch is
                    # bound: otherwise two batches of dicts are alive at once
                    del batch
                    if not put(_Item(task, wb, good, bad)):
                        break
                if stop.is_set() or task.stop.is_set():
                    put(_Done(task))
                    return
                # end of stream: mark the state complete (and truncate if nothing came)
                final, _, _ = self._prepare(
                    task.source,
                    stream,
                    task.disposition,
                    run_id,
                    RecordBatch(),
                    state=self._envelope(task, state, complete=True),
                    truncate=truncate,
                )
                if put(_Item(task, final, 0, 0)):
                    put(_Done(task, final_state=state))
        except BaseException as exc:  # noqa: BLE001 - reported through the queue
            put(_Done(task, error=exc))

    def _execute(
        self,
        sink: Sink,
        tasks: list[_Task],
        run_id: str,
        context: RunContext,
        progress: ProgressCallback | None,
    ) -> str | None:
        """Run readers in a pool and commit their batches here; returns a run-level error."""
        options = self.config.run
        budget = options.max_bad_records
        out: queue.Queue[_Item | _Done] = queue.Queue(maxsize=options.queue_size)
        stop = threading.Event()
        started: dict[str, float] = {}
        run_error: str | None = None
        pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="cintel-read")
        switch = _short_switch_interval(options.switch_interval_us)
        switch.__enter__()
        try:
            for task in tasks:
                task.result.status = "running"
                started[task.result.key] = time.perf_counter()
                if progress:
                    progress(ProgressEvent("started", task.result.key))
                pool.submit(self._read, task, run_id, out, stop)
            remaining = len(tasks)
            while remaining:
                item = out.get()
                if isinstance(item, _Done):
                    remaining -= 1
                    res = item.task.result
                    res.seconds = time.perf_counter() - started[res.key]
                    if item.error is not None and res.status != "failed":
                        res.status = "failed"
                        res.error = redact(
                            f"{type(item.error).__name__}: {item.error}"
                            if not isinstance(item.error, CintelError)
                            else str(item.error)
                        )
                        log.error("stream failed", stream=res.key, error=res.error)
                    elif res.status == "running":
                        if budget.exceeded(res.bad, res.records + res.bad):
                            res.status = "failed"
                            res.error = str(ErrorBudgetExceeded(self._budget_text(res)))
                        else:
                            res.status = "succeeded"
                    if item.final_state is not None:
                        res.state = item.final_state
                    if progress:
                        progress(
                            ProgressEvent("finished", res.key, res.records, res.bad, res.status)
                        )
                    continue
                res = item.task.result
                if res.status == "failed" or stop.is_set():
                    continue  # a stream already failed: drop what it still sends
                t0 = time.perf_counter()
                sink.write(item.batch)
                res.records += item.records
                res.bad += item.bad
                if item.records or item.bad:
                    res.batches += 1
                if progress and (item.records or item.bad):
                    progress(ProgressEvent("batch", res.key, res.records, res.bad))
                if item.records or item.bad:
                    self.plugins.batch_committed(
                        context,
                        BatchInfo(
                            item.task.source,
                            item.task.stream.name,
                            item.batch.table,
                            item.records,
                            item.bad,
                            time.perf_counter() - t0,
                        ),
                    )
                if budget.count is not None and res.bad > budget.count:
                    res.status = "failed"
                    res.error = str(ErrorBudgetExceeded(self._budget_text(res)))
                    item.task.stop.set()
        except BaseException as exc:
            stop.set()
            run_error = redact(
                str(exc) if isinstance(exc, CintelError) else f"{type(exc).__name__}: {exc}"
            )
            for task in tasks:
                if task.result.status == "running":
                    task.result.status = "failed"
                    task.result.error = "run aborted"
            if not isinstance(exc, Exception):
                raise
            log.error("run aborted", error=run_error)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            switch.__exit__(None, None, None)
        return run_error

    def _budget_text(self, res: StreamResult) -> str:
        total = res.records + res.bad
        share = f" ({res.bad / total:.1%})" if total else ""
        return (
            f"{res.key}: {res.bad} of {total} records{share} went to the dead-letter table, "
            f"more than the error budget max_bad_records={self.config.run.max_bad_records}; "
            "see `cintel deadletter list`"
        )

    # ------------------------------------------------------------------ dead letters
    def replay_dead_letters(
        self, *, source: str | None = None, stream: str | None = None
    ) -> ReplayResult:
        """Re-process dead-letter records (after a fix); a record leaves the table once it lands."""
        result = ReplayResult()
        sink = self.sink()
        run_id = _new_run_id()
        streams = {(src, s.name): (s, d) for src, s, d in self._select(None)}
        with sink.lock(self.name), sink:
            groups: dict[tuple[str, str], list[DeadLetterRow]] = defaultdict(list)
            for page in sink.dead_letters(self.name, source, stream):
                for row in page:
                    if row.kind == "record":  # parts of loaded records reload with them
                        groups[(row.source, row.stream)].append(row)
            for (src, name), rows in groups.items():
                if (src, name) not in streams:
                    log.warning(
                        "dead letters of a stream no longer configured are kept",
                        source=src,
                        stream=name,
                        count=len(rows),
                    )
                    continue
                stream_obj, disposition = streams[(src, name)]
                landed = still = 0
                size = self.config.run.batch_size
                for start in range(0, len(rows), size):
                    chunk = rows[start : start + size]
                    records: list[dict[str, Any]] = []
                    ids: list[str] = []
                    failed_parse: list[DeadLetter] = []
                    for row in chunk:
                        # one payload at a time, so every outcome maps back to its row
                        parsed = stream_obj.parse_payloads([row.payload])
                        if parsed.records:
                            records.append(parsed.records[0])
                            ids.append(row.id)
                        else:
                            reason = parsed.bad[0].reason if parsed.bad else "no record parsed"
                            failed_parse.append(DeadLetter(row.id, redact(reason), row.payload))
                    # payloads are serialised from the parsed records: the stored payload
                    # is JSON whatever the raw form (a CSV line) was
                    wb, good, bad = self._prepare(
                        src,
                        stream_obj,
                        disposition,
                        run_id,
                        RecordBatch(records),
                        state=None,
                        ids=ids,
                    )
                    wb.failed_replays = [*wb.failed_replays, *failed_parse]
                    sink.write(wb)
                    landed += good
                    still += bad + len(failed_parse)
                result.landed += landed
                result.still_bad += still
                result.per_stream[f"{src}.{name}"] = (landed, still)
        return result
