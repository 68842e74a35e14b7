"""The ``events`` stream: export files read in order, incrementally, with exact checkpoints.

State (bounded whatever the size of the export)::

    {
      "files": {
        "floor": [day, rel] | null,    # dated files at or below it not in "seen": read
        "undated_floor": rel | null,   # the same for files outside dated folders
        "seen": {rel: {"day", "size", "etag", "lines"}},  # files read to their end
      },
      "current": {"path", "day", "size", "etag", "offset", "line"} | null,
    }

``seen`` keeps the files of the dated folders from ``lookback_days`` before the
newest day read on (and at most ``max_tracked_files`` undated ones); folders
older than that are not listed again. ``current`` is the file being read when
the batch was committed, ``offset`` the position after the batch's last line
(in the decompressed stream for gzip).
"""

from __future__ import annotations

import gc
import gzip
import zlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import IO, Any

import orjson
import structlog
from cintel import BadRecord, RecordBatch, SourceError, Stream
from cintel.logs import redact
from cintel.source import json_type

from cintel_segment.config import SegmentConfig, display_url
from cintel_segment.mapping import SegmentMapper
from cintel_segment.storage import FileEntry, Retry, is_transient, list_files, open_lines

__all__ = ["EventsStream"]

log = structlog.get_logger(__name__)

Record = dict[str, Any]
_BAD: Any = object()  # a line already sent to the dead letters


class EventsStream(Stream):
    """Every event of the export (track, page, screen, identify, alias, group), one table.

    Primary key ``messageId`` (merge); ``receivedAt`` is the cursor field, promoted
    to a column: Segment partitions its export by the day of ``receivedAt``, and
    the stream reads it incrementally by file.
    """

    name = "events"
    primary_key = ("messageId",)
    cursor_field = "receivedAt"
    write_disposition = "merge"

    def __init__(
        self,
        config: SegmentConfig,
        *,
        fs: Any,
        root: str,
        source: str = "",
        retry: Retry | None = None,
    ) -> None:
        self.config = config
        self.fs = fs
        self.root = root
        self.source = source
        self.retry = retry or Retry()
        self.batch_size: int = 10_000
        self.max_tracked_files = config.max_tracked_files
        self.mapper = SegmentMapper(config)

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        """Touchpoints, conversions, identity links and profiles of a batch of events."""
        # the rows hold no reference cycles: the collector is paused as while parsing
        paused = self.config.pause_gc and gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self.mapper.map(records)
        finally:
            if paused:
                gc.enable()

    def _error(self, message: str) -> SourceError:
        return SourceError(redact(message), source=self.source or None, stream=self.name)

    def files(self, skip_before: str | None = None) -> list[FileEntry]:
        """The export files now, in reading order (folders before ``skip_before`` left out)."""
        start = self.config.start_date.isoformat() if self.config.start_date else None
        return list_files(
            self.fs,
            self.root,
            layout=self.config.layout,
            retry=self.retry,
            skip_before=skip_before,
            start_date=start,
            exclude=self.config.exclude,
        )

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        """Batches of at most ``batch_size`` lines, each with the state to resume after it."""
        run = _Run(self, state)
        url = display_url(self.config.path)
        try:
            files = self.files(run.floor[0] if run.floor else None)
        except FileNotFoundError:
            raise self._error(f"{url} not found") from None
        except PermissionError as exc:
            raise self._error(
                f"access denied to {url} ({exc}); check the credentials in storage_options"
            ) from None
        except Exception as exc:
            raise self._error(f"cannot list {url}: {type(exc).__name__}: {exc}") from exc
        plan = run.plan(files)
        log.debug("files planned", stream=self.name, listed=len(files), to_read=len(plan))
        for entry, offset, line in plan:
            yield from run.read_file(entry, offset, line)
        yield run.flush(final=True)
        if run.duplicates:
            log.info(
                "dropped duplicate events (same messageId)",
                stream=self.name,
                duplicates=run.duplicates,
            )

    def json_schema(self) -> dict[str, Any]:
        """The Segment spec's common fields (every event may carry more)."""
        text = {"type": ["string", "null"]}
        obj = {"type": ["object", "null"]}
        return {
            "type": "object",
            "properties": {
                "messageId": {"type": "string"},
                "type": {"type": "string"},
                "event": text,
                "name": text,
                "anonymousId": text,
                "userId": text,
                "previousId": text,
                "groupId": text,
                "timestamp": text,
                "originalTimestamp": text,
                "sentAt": text,
                "receivedAt": text,
                "properties": obj,
                "traits": obj,
                "context": obj,
                "integrations": obj,
            },
            "additionalProperties": True,
        }


class _Run:
    """One read of the stream: the evolving state and the batch being filled."""

    def __init__(self, stream: EventsStream, state: Mapping[str, Any] | None) -> None:
        self.stream = stream
        cfg = stream.config
        self.limit = max(1, int(stream.batch_size))
        self.lookback = cfg.lookback_days
        try:
            files = (state or {}).get("files") or {}
            self.seen: dict[str, dict[str, Any]] = {
                str(k): {
                    "day": str(v["day"]),
                    "size": int(v["size"]),
                    "etag": None if v.get("etag") is None else str(v["etag"]),
                    "lines": int(v.get("lines", 0)),
                }
                for k, v in (files.get("seen") or {}).items()
            }
            floor = files.get("floor")
            self.floor: tuple[str, str] | None = (str(floor[0]), str(floor[1])) if floor else None
            undated = files.get("undated_floor")
            self.undated_floor: str | None = None if undated is None else str(undated)
            current = (state or {}).get("current")
            self.resume: dict[str, Any] | None = None
            if current:
                self.resume = {
                    "path": str(current["path"]),
                    "day": str(current["day"]),
                    "size": int(current["size"]),
                    "etag": None if current.get("etag") is None else str(current["etag"]),
                    "offset": int(current["offset"]),
                    "line": int(current["line"]),
                }
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise stream._error(
                f"the saved state is not one this connector wrote ({exc!r}); "
                "reset it with `cintel state reset`"
            ) from None
        self.current: dict[str, Any] | None = None
        self.records: list[Record] = []
        self.payloads: list[str] = []
        self.bad: list[BadRecord] = []
        self.count = 0  # lines (records, duplicates, bad records) in the current batch
        self.duplicates = 0
        # messageIds of recent events, in two generations (0: within a batch only)
        self.window = cfg.dedupe_window
        self.ids: set[str] = set()
        self.old_ids: set[str] = set()

    # ------------------------------------------------------------------ planning
    def _changed(self, entry: FileEntry, size: int, etag: str | None) -> bool:
        if entry.size != size:
            return True
        return entry.etag is not None and etag is not None and entry.etag != etag

    def plan(self, files: list[FileEntry]) -> list[tuple[FileEntry, int, int]]:
        """``(file, start offset, start line)`` for every file with something to read."""
        plan: list[tuple[FileEntry, int, int]] = []
        resume = self.resume
        stream = self.stream
        policy = stream.config.changed_files
        for entry in files:
            if resume is not None and resume["path"] == entry.rel:
                if not self._changed(entry, resume["size"], resume["etag"]):
                    plan.append((entry, resume["offset"], resume["line"]))
                    continue
                log.warning(
                    "file changed while being read, reading it again from the start",
                    stream=stream.name,
                    file=entry.rel,
                )
                plan.append((entry, 0, 0))
                continue
            prev = self.seen.get(entry.rel)
            if prev is None:
                if entry.day:
                    if self.floor is not None and entry.key <= self.floor:
                        continue  # a folder finished long ago
                elif self.undated_floor is not None and entry.rel <= self.undated_floor:
                    continue
                plan.append((entry, 0, 0))
                continue
            if not self._changed(entry, prev["size"], prev["etag"]):
                continue
            what = (
                f"{entry.rel} changed since it was read (size {prev['size']} -> {entry.size}"
                + (f", ETag {prev['etag']} -> {entry.etag}" if entry.etag != prev["etag"] else "")
                + ")"
            )
            if policy == "fail":
                raise stream._error(
                    f"{what}; export files are not rewritten, so this stops the sync "
                    "(changed_files: reread reads it again, skip ignores it)"
                )
            if policy == "skip":
                log.warning("export file changed, skipped", stream=stream.name, file=entry.rel)
                continue
            log.warning("export file changed, reading it again", stream=stream.name, detail=what)
            plan.append((entry, 0, 0))
        return plan

    # ------------------------------------------------------------------ reading
    def read_file(self, entry: FileEntry, offset: int, line: int) -> Iterator[RecordBatch]:
        """Read ``entry`` from ``offset``; yields a batch each time one is full.

        A transient storage error reopens the file where the last line ended
        (``retry.attempts`` times without progress in between).
        """
        stream = self.stream
        retry = stream.retry
        self.current = current = {
            "path": entry.rel,
            "day": entry.day,
            "size": entry.size,
            "etag": entry.etag,
            "offset": offset,
            "line": line,
        }
        log.debug("reading file", stream=stream.name, file=entry.rel, offset=offset)
        position = [offset, line]  # after the last line taken: where a reopen resumes
        failures = 0
        while True:
            start = tuple(position)
            try:
                with open_lines(stream.fs, entry.path, position[0]) as fh:
                    yield from self._lines(fh, entry, position, current)
                break
            except FileNotFoundError:
                if position[1] == line:
                    log.warning(
                        "file vanished before it was read", stream=stream.name, file=entry.rel
                    )
                    self.current = None
                    return
                raise stream._error(f"{entry.rel} vanished while it was read") from None
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                # a truncated or corrupt gzip object: what was read stays, the rest is a
                # dead letter, and the file counts as read (re-read if it is replaced)
                self.bad.append(
                    BadRecord(
                        entry.rel,
                        f"corrupt or truncated gzip file {entry.rel} after line "
                        f"{position[1]}: {exc}",
                    )
                )
                self.count += 1
                log.warning(
                    "corrupt gzip file, the rest of it is a dead letter",
                    stream=stream.name,
                    file=entry.rel,
                    line=position[1],
                )
                break
            except PermissionError as exc:
                raise stream._error(
                    f"access denied to {entry.rel} ({exc}); check the credentials in "
                    "storage_options"
                ) from None
            except Exception as exc:
                if tuple(position) != start:
                    failures = 0  # progress since the last failure
                failures += 1
                if not is_transient(exc) or failures >= retry.attempts:
                    raise stream._error(
                        f"cannot read {entry.rel}: {type(exc).__name__}: {exc}"
                    ) from exc
                log.info(
                    "transient storage error while reading, reopening the file",
                    stream=stream.name,
                    file=entry.rel,
                    line=position[1],
                    error=repr(exc),
                )
                retry.wait(failures)
        self.seen[entry.rel] = {
            "day": entry.day,
            "size": entry.size,
            "etag": entry.etag,
            "lines": position[1],
        }
        self.current = None

    def _lines(
        self, fh: IO[bytes], entry: FileEntry, position: list[int], current: dict[str, Any]
    ) -> Generator[RecordBatch, None, None]:
        # The hot path of the connector: keep the per-line work to a minimum.
        # ``position`` is written back once, when the loop ends or fails: a line is
        # counted in ``offset``/``lineno`` only once it has been fully taken.
        rel = entry.rel
        limit = self.limit
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        add_record = self.records.append
        add_payload = self.payloads.append
        ids = self.ids
        old_ids = self.old_ids
        count = self.count
        offset, lineno = position
        # Parsed events hold no reference cycles, yet each is many GC-tracked
        # containers: the cyclic collector would run every few hundred lines and
        # walk the growing batch. It is paused while a batch is parsed (never
        # across a yield) unless the config says otherwise.
        pause = self.stream.config.pause_gc
        paused = pause and gc.isenabled()
        if paused:
            gc.disable()
        try:
            for raw in fh:
                try:
                    text = raw.decode().rstrip()
                    if not text:
                        offset += len(raw)
                        lineno += 1
                        continue
                    value = loads(text)
                except UnicodeDecodeError as exc:
                    self.bad.append(
                        BadRecord(
                            raw.decode(errors="replace").rstrip(),
                            f"invalid UTF-8 at {rel}:{lineno + 1}: {exc.reason}",
                        )
                    )
                    value = _BAD
                except decode_error as exc:
                    value, text = self._parse_slowly(text, exc, rel, lineno + 1)
                if type(value) is dict:
                    mid = value.get("messageId")
                    if type(mid) is not str:  # no usable key: the engine dead-letters it
                        add_record(value)
                        add_payload(text)
                    elif mid in ids or mid in old_ids:
                        self.duplicates += 1
                    else:
                        ids.add(mid)
                        add_record(value)
                        add_payload(text)
                elif value is not _BAD:
                    self.bad.append(
                        BadRecord(
                            text,
                            f"expected a JSON object at {rel}:{lineno + 1}, got {json_type(value)}",
                        )
                    )
                offset += len(raw)
                lineno += 1
                count += 1
                if count >= limit:
                    current["offset"] = offset
                    current["line"] = lineno
                    self.count = count
                    if paused:
                        gc.enable()
                        paused = False
                    yield self.flush(final=False)
                    paused = pause and gc.isenabled()
                    if paused:
                        gc.disable()
                    count = 0
                    add_record = self.records.append
                    add_payload = self.payloads.append
                    ids = self.ids
                    old_ids = self.old_ids
        finally:
            if paused:
                gc.enable()
            self.count = count
            position[0] = offset
            position[1] = lineno

    def _parse_slowly(self, text: str, exc: Exception, rel: str, lineno: int) -> tuple[Any, str]:
        """A line orjson refused: a leading byte-order mark is forgiven, else a dead letter."""
        if text.startswith("\ufeff"):
            try:
                return orjson.loads(text[1:]), text[1:]
            except orjson.JSONDecodeError:
                pass
        self.bad.append(BadRecord(text, f"invalid JSON at {rel}:{lineno}: {exc}"))
        return _BAD, text

    # ------------------------------------------------------------------ batches
    def _trim(self) -> None:
        seen = self.seen
        days = [v["day"] for v in seen.values() if v["day"]]
        if days:
            newest = date.fromisoformat(max(days))
            cutoff = (newest - timedelta(days=self.lookback)).isoformat()
            old = [(v["day"], rel) for rel, v in seen.items() if v["day"] and v["day"] < cutoff]
            for key in old:
                del seen[key[1]]
                if self.floor is None or key > self.floor:
                    self.floor = key
        undated = sorted(rel for rel, v in seen.items() if not v["day"])
        extra = len(undated) - self.stream.max_tracked_files
        for rel in undated[: max(0, extra)]:
            del seen[rel]
            if self.undated_floor is None or rel > self.undated_floor:
                self.undated_floor = rel

    def state(self) -> dict[str, Any]:
        """The state true once everything read so far is committed."""
        self._trim()
        return {
            "files": {
                "floor": list(self.floor) if self.floor else None,
                "undated_floor": self.undated_floor,
                "seen": dict(self.seen),
            },
            "current": dict(self.current) if self.current is not None else None,
        }

    def flush(self, *, final: bool) -> RecordBatch:
        """The batch filled so far with its state; starts a new one."""
        records, payloads, bad = self.records, self.payloads, self.bad
        self.records, self.payloads, self.bad = [], [], []
        self.count = 0
        # the messageIds remembered: between window and 2 x window (+ a batch) of them
        if not self.window:
            self.ids.clear()
        elif len(self.ids) >= self.window:
            self.old_ids, self.ids = self.ids, set()
        if final:
            self.current = None
        return RecordBatch(records, state=self.state(), payloads=payloads, bad=bad)
