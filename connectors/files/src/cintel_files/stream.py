"""Reading the files of one stream: ordering, incremental state, exact checkpoints.

Files are read in ``(mtime_ns, relative path)`` order. The stream state is
bounded whatever the number of rows or files::

    {
      "files": {
        "watermark": [mtime_ns, relpath],   # last file read to its end (informative)
        "floor": [mtime_ns, relpath] | null, # files at or below it that are not in
                                            #   "seen" count as read long ago
        "seen": {relpath: {"mtime_ns", "size", "fp", "offset", "line"}},  # at most 2000
      },
      "current": {"path", "mtime_ns", "size", "fp", "offset", "line"} | null,
      "cursor": <CursorTracker state>        # only with cursor_field
    }

``size`` and ``fp`` (a hash of the first and last 4 KiB below ``size``) identify
the content a file had when it was read; ``offset`` is the byte position after
the last line read (in the decompressed stream for gzip) and ``line`` the line
number there. A file that still starts with the same bytes and did not shrink
was appended to: only the bytes after ``offset`` are read. Any other change
means the file was rewritten, and it is read again from the start.
"""

from __future__ import annotations

import csv
import gc
import glob
import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson
import structlog
from cintel import BadRecord, CursorTracker, RecordBatch, SourceError, Stream
from cintel.mapping import map_records
from cintel.source import json_type

from cintel_files.config import FileFormat, FileStreamConfig, resolve_pattern

__all__ = ["FileEntry", "FileStream", "fingerprint", "list_files"]

log = structlog.get_logger(__name__)

FP_BYTES = 4096
READ_BUFFER = 1 << 16
MAX_CSV_RECORD_BYTES = 16 << 20
BOM = b"\xef\xbb\xbf"
Record = dict[str, Any]
Key = tuple[int, str]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A matched file: absolute path, path relative to the base dir, mtime and size."""

    path: str
    rel: str
    mtime_ns: int
    size: int

    @property
    def key(self) -> Key:
        """Sort key: ``(mtime_ns, rel)``."""
        return (self.mtime_ns, self.rel)


def list_files(pattern: str, base_dir: Path) -> list[FileEntry]:
    """Regular files matching ``pattern`` (absolute glob), in ``(mtime_ns, rel)`` order."""
    base = os.path.abspath(base_dir)
    entries = []
    for path in glob.iglob(pattern, recursive=True):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue  # removed while listing
        if not os.path.isfile(path):
            continue
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, base)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            rel = absolute
        entries.append(FileEntry(absolute, Path(rel).as_posix(), st.st_mtime_ns, st.st_size))
    entries.sort(key=lambda e: (e.mtime_ns, e.rel))
    return entries


def fingerprint(path: str, size: int) -> str:
    """Hash of the first and the last 4 KiB of ``path`` below ``size`` ('' if it is shorter)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(min(size, FP_BYTES))
            tail = b""
            if size > FP_BYTES:
                start = max(FP_BYTES, size - FP_BYTES)
                fh.seek(start)
                tail = fh.read(size - start)
    except FileNotFoundError:
        return ""
    expected = min(size, FP_BYTES) + (
        size - max(FP_BYTES, size - FP_BYTES) if size > FP_BYTES else 0
    )
    if len(head) + len(tail) != expected:
        return ""  # the file is shorter than ``size`` now
    return hashlib.blake2b(head + tail, digest_size=8).hexdigest()


def _schema_type(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return "integer"
    if isinstance(value, dict):
        return "object"
    return json_type(value)


class _LineFeed:
    """Decoded lines for ``csv.reader``, tracking the byte offset and the raw text read."""

    __slots__ = ("decode_error", "encoding", "fh", "lineno", "offset", "raw", "size")

    def __init__(self, fh: IO[bytes], offset: int, lineno: int, encoding: str) -> None:
        self.fh = fh
        self.offset = offset
        self.lineno = lineno
        self.encoding = encoding
        self.raw: list[str] = []
        self.size = 0
        self.decode_error: tuple[int, str] | None = None

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.lineno += 1
        self.offset += len(line)
        self.size += len(line)
        if self.size > MAX_CSV_RECORD_BYTES:
            raise csv.Error(f"record longer than {MAX_CSV_RECORD_BYTES} bytes")
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError as exc:
            text = line.decode(self.encoding, errors="replace")
            if self.decode_error is None:
                self.decode_error = (self.lineno, str(exc.reason))
        self.raw.append(text)
        return text

    def take(self) -> str:
        """The raw text of the lines read since the last call, without the final newline."""
        text = "".join(self.raw).rstrip("\r\n")
        self.raw.clear()
        self.size = 0
        return text


def _header_names(row: Sequence[str]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for i, raw in enumerate(row, 1):
        name = raw.strip() or f"column_{i}"
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        names.append(name)
    return names


class FileStream(Stream):
    """The files one glob matches, as one stream of records.

    ``batch_size`` (lines per batch) is set by the engine before reading.
    ``max_tracked_files`` bounds the ``seen`` part of the state. ``pause_gc``
    pauses the cyclic garbage collector while a JSONL batch is parsed.
    """

    max_tracked_files: int = 2000

    def __init__(
        self,
        config: FileStreamConfig,
        *,
        base_dir: Path,
        source: str = "",
        pause_gc: bool = True,
    ) -> None:
        self.config = config
        self.name = config.name
        self.primary_key = tuple(config.primary_key)
        self.cursor_field = config.cursor_field
        self.write_disposition = config.write_disposition
        self.batch_size: int = 10_000
        self.base_dir = base_dir
        self.source = source
        self.pause_gc = pause_gc
        self.pattern = resolve_pattern(config.path, base_dir)
        self.format: FileFormat = config.file_format
        opts = config.csv
        self._delimiter = opts.delimiter
        self._quotechar = opts.quotechar
        self._encoding = opts.encoding

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        """The rows of the stream's ``canonical`` mapping (none without one)."""
        if not self.config.canonical:
            return {}
        return map_records(self.config.canonical, records)

    # ------------------------------------------------------------------ files
    def files(self) -> list[FileEntry]:
        """The files matching the stream's glob now, in reading order."""
        return list_files(self.pattern, self.base_dir)

    def is_gzip(self, entry: FileEntry) -> bool:
        """Whether ``entry`` is read through gzip."""
        compression = self.config.compression
        if compression == "auto":
            return entry.rel.lower().endswith(".gz")
        return compression == "gzip"

    def open(self, entry: FileEntry, offset: int = 0) -> IO[bytes]:
        """``entry`` opened for binary line reading at ``offset`` (decompressed for gzip)."""
        if self.is_gzip(entry):
            gz = gzip.GzipFile(entry.path, "rb")
            try:
                if offset:
                    gz.seek(offset)
            except BaseException:
                gz.close()
                raise
            # a C-level buffered reader over GzipFile iterates lines twice as fast
            return io.BufferedReader(cast(io.RawIOBase, gz), READ_BUFFER)
        fh = open(entry.path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 - returned open
        if offset:
            fh.seek(offset)
        return fh

    def _delimiter_for(self, entry: FileEntry) -> str:
        if self._delimiter is not None:
            return self._delimiter
        name = entry.rel.lower().removesuffix(".gz")
        return "\t" if name.endswith(".tsv") else ","

    def _error(self, message: str) -> SourceError:
        return SourceError(message, source=self.source or None, stream=self.name)

    # ------------------------------------------------------------------ reading
    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        """Batches of at most ``batch_size`` lines, each with the state to resume after it."""
        run = _Run(self, state)
        files = self.files()
        plan = run.plan(files)
        log.debug("files planned", stream=self.name, matched=len(files), to_read=len(plan))
        for entry, offset, line in plan:
            try:
                yield from run.read_file(entry, offset, line)
            except FileNotFoundError:
                log.warning("file vanished before it was read", stream=self.name, file=entry.rel)
                run.current = None
                continue
            except EOFError as exc:
                raise self._error(
                    f"cannot read {entry.rel}: {exc} (is it still being written? write "
                    "to a temporary name and rename it when complete)"
                ) from exc
            except (OSError, zlib.error) as exc:
                raise self._error(f"cannot read {entry.rel}: {exc}") from exc
        yield run.flush(final=True)

    # ------------------------------------------------------------------ schema & replay
    def csv_header(self, entry: FileEntry) -> list[str] | None:
        """Column names of a CSV file (its first row, or the configured names)."""
        opts = self.config.csv
        if not opts.header:
            return list(opts.columns) if opts.columns is not None else None
        with self.open(entry) as fh:
            offset = 0
            if fh.read(3) != BOM:
                fh.seek(0)
            else:
                offset = 3
            feed = _LineFeed(fh, offset, 0, self._encoding)
            reader = csv.reader(
                feed, delimiter=self._delimiter_for(entry), quotechar=self._quotechar
            )
            for row in reader:
                if row:
                    return _header_names(row)
        return None

    def _first_header(self) -> list[str] | None:
        opts = self.config.csv
        if not opts.header:
            return list(opts.columns) if opts.columns is not None else None
        for entry in self.files():
            header = self.csv_header(entry)
            if header is not None:
                return header
        return None

    def json_schema(self) -> dict[str, Any]:
        """Properties from the first file: its CSV header, or the types of its first 100 records."""
        props: dict[str, Any] = {}
        files = self.files()
        if self.format == "csv":
            header = self._first_header()
            for name in header or ():
                props[name] = {"type": ["string", "null"]}
        elif files:
            types: dict[str, set[str]] = {}
            with self.open(files[0]) as fh:
                seen = 0
                for raw in fh:
                    if seen >= 100:
                        break
                    text = raw.removeprefix(BOM).strip()
                    if not text:
                        continue
                    seen += 1
                    try:
                        value = orjson.loads(text)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(value, dict):
                        for key, item in value.items():
                            types.setdefault(key, set()).add(_schema_type(item))
            for key, kinds in types.items():
                if "integer" in kinds and "number" in kinds:
                    kinds.discard("integer")
                props[key] = {"type": sorted(kinds)[0] if len(kinds) == 1 else sorted(kinds)}
        if self.config.include_file_metadata:
            props["_file"] = {"type": "string"}
            props["_line"] = {"type": "integer"}
        for key in self.primary_key:
            props.setdefault(key, {})
        if self.cursor_field:
            props.setdefault(self.cursor_field, {})
        return {"type": "object", "properties": props, "additionalProperties": True}

    def parse_payloads(self, payloads: Sequence[str]) -> RecordBatch:
        """Dead-letter payloads back into records: JSON objects, or (CSV) lines parsed
        against the header of the first matching file.

        Returned payloads are the input texts, so the engine can tell which
        dead letters landed.
        """
        if self.format != "csv":
            return super().parse_payloads(payloads)
        records: list[Record] = []
        kept: list[str] = []
        bad: list[BadRecord] = []
        header: list[str] | None = None
        header_read = False
        files = self.files()
        delimiter = self._delimiter_for(files[0]) if files else (self._delimiter or ",")
        for text in payloads:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                records.append(value)
                kept.append(text)
                continue
            if not header_read:
                header = self._first_header()
                header_read = True
            try:
                rows = [
                    r
                    for r in csv.reader(
                        io.StringIO(text),
                        delimiter=delimiter,
                        quotechar=self._quotechar,
                        strict=True,
                    )
                    if r
                ]
            except csv.Error as exc:
                bad.append(BadRecord(text, f"invalid CSV: {exc}"))
                continue
            if len(rows) != 1:
                bad.append(BadRecord(text, f"expected one CSV row, got {len(rows)}"))
                continue
            row = rows[0]
            names = (
                header if header is not None else [f"column_{i}" for i in range(1, len(row) + 1)]
            )
            if len(row) > len(names):
                bad.append(BadRecord(text, f"expected {len(names)} fields, got {len(row)}"))
                continue
            record: Record = {k: v or None for k, v in zip(names, row, strict=False)}
            for name in names[len(row) :]:
                record[name] = None
            records.append(record)
            kept.append(text)
        return RecordBatch(records, payloads=kept, bad=bad)


class _Run:
    """One read of a stream: the evolving state and the batch being filled."""

    def __init__(self, stream: FileStream, state: Mapping[str, Any] | None) -> None:
        self.stream = stream
        self.limit = max(1, int(stream.batch_size))
        self.meta = stream.config.include_file_metadata
        try:
            files = (state or {}).get("files") or {}
            self.seen: dict[str, dict[str, Any]] = {
                str(k): dict(v) for k, v in (files.get("seen") or {}).items()
            }
            wm = files.get("watermark")
            self.watermark: Key | None = (int(wm[0]), str(wm[1])) if wm else None
            floor = files.get("floor")
            self.floor: Key | None = (int(floor[0]), str(floor[1])) if floor else None
            current = (state or {}).get("current")
            self.resume: dict[str, Any] | None = dict(current) if current else None
            for entry in [*self.seen.values(), *([self.resume] if self.resume else [])]:
                for field in ("mtime_ns", "size", "offset", "line"):
                    entry[field] = int(entry[field])
                entry["fp"] = str(entry["fp"])
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise stream._error(
                f"the saved state is not one this connector wrote ({exc!r}); "
                "reset it with `cintel state reset`"
            ) from None
        self.current: dict[str, Any] | None = None
        self.tracker = (
            CursorTracker(
                (state or {}).get("cursor"),
                cursor_field=stream.cursor_field,
                primary_key=stream.primary_key,
            )
            if stream.cursor_field
            else None
        )
        self.records: list[Record] = []
        self.payloads: list[str] = []
        self.bad: list[BadRecord] = []
        self.count = 0  # lines (records and bad records) in the current batch

    # ------------------------------------------------------------------ planning
    def plan(self, files: list[FileEntry]) -> list[tuple[FileEntry, int, int]]:
        """``(file, start offset, start line)`` for every file with something new."""
        plan: list[tuple[FileEntry, int, int]] = []
        resume = self.resume
        stream = self.stream
        for entry in files:
            if resume is not None and resume["path"] == entry.rel:
                if (
                    entry.size >= resume["size"]
                    and fingerprint(entry.path, resume["size"]) == resume["fp"]
                ):
                    plan.append((entry, resume["offset"], resume["line"]))
                    continue
                log.info(
                    "file changed while being read, reading it again",
                    stream=stream.name,
                    file=entry.rel,
                )
            prev = self.seen.get(entry.rel)
            if prev is None:
                if self.floor is not None and entry.key <= self.floor:
                    continue  # older than every file still tracked: read long ago
                plan.append((entry, 0, 0))
                continue
            if entry.mtime_ns == prev["mtime_ns"] and entry.size == prev["size"]:
                continue
            if entry.size >= prev["size"] and fingerprint(entry.path, prev["size"]) == prev["fp"]:
                if entry.size == prev["size"]:  # touched, not changed
                    self.seen[entry.rel] = {**prev, "mtime_ns": entry.mtime_ns}
                    continue
                plan.append((entry, prev["offset"], prev["line"]))
                continue
            log.info("file was rewritten, reading it again", stream=stream.name, file=entry.rel)
            plan.append((entry, 0, 0))
        return plan

    # ------------------------------------------------------------------ reading
    def read_file(self, entry: FileEntry, offset: int, line: int) -> Iterator[RecordBatch]:
        """Read ``entry`` from ``offset``; yields a batch each time one is full."""
        stream = self.stream
        fp = fingerprint(entry.path, entry.size)
        self.current = current = {
            "path": entry.rel,
            "mtime_ns": entry.mtime_ns,
            "size": entry.size,
            "fp": fp,
            "offset": offset,
            "line": line,
        }
        log.debug("reading file", stream=stream.name, file=entry.rel, offset=offset)
        with stream.open(entry, offset) as fh:
            if offset == 0:
                if fh.read(3) == BOM:
                    offset = 3
                else:
                    fh.seek(0)
            if stream.format == "jsonl":
                end = yield from self._jsonl(fh, entry, line, current)
            else:
                end = yield from self._csv(fh, entry, offset, line, current)
        self.seen[entry.rel] = {
            "mtime_ns": entry.mtime_ns,
            "size": entry.size,
            "fp": fp,
            "offset": end[0],
            "line": end[1],
        }
        if self.watermark is None or entry.key > self.watermark:
            self.watermark = entry.key
        self.current = None

    def _jsonl(
        self, fh: IO[bytes], entry: FileEntry, line: int, current: dict[str, Any]
    ) -> Generator[RecordBatch, None, tuple[int, int]]:
        # The hot path of the connector: keep the per-line work to a minimum.
        rel = entry.rel
        limit = self.limit
        meta = self.meta
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        records = self.records
        payloads = self.payloads
        add_record = records.append
        add_payload = payloads.append
        count = self.count
        lineno = line
        # Parsed records hold no reference cycles, yet each is several GC-tracked
        # containers: the cyclic collector would run every few hundred lines and
        # walk the growing batch. It is paused while a batch is parsed (never
        # across a yield) unless the config says otherwise.
        pause = self.stream.pause_gc
        paused = pause and gc.isenabled()
        if paused:
            gc.disable()
        try:
            for lineno, raw in enumerate(fh, line + 1):
                try:
                    text = raw.decode().rstrip()
                    if not text:
                        continue
                    value = loads(text)
                except UnicodeDecodeError as exc:
                    self.bad.append(
                        BadRecord(
                            raw.decode(errors="replace").rstrip(),
                            f"invalid UTF-8 at {rel}:{lineno}: {exc.reason}",
                        )
                    )
                except decode_error as exc:
                    self.bad.append(BadRecord(text, f"invalid JSON at {rel}:{lineno}: {exc}"))
                else:
                    if type(value) is dict:
                        if meta:
                            value["_file"] = rel
                            value["_line"] = lineno
                        add_record(value)
                        add_payload(text)
                    else:
                        self.bad.append(
                            BadRecord(
                                text,
                                f"expected a JSON object at {rel}:{lineno}, got {json_type(value)}",
                            )
                        )
                count += 1
                if count >= limit:
                    current["offset"] = fh.tell()
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
                    records = self.records
                    payloads = self.payloads
                    add_record = records.append
                    add_payload = payloads.append
        finally:
            if paused:
                gc.enable()
        self.count = count
        return (fh.tell(), lineno)

    def _csv(
        self, fh: IO[bytes], entry: FileEntry, offset: int, line: int, current: dict[str, Any]
    ) -> Generator[RecordBatch, None, tuple[int, int]]:
        stream = self.stream
        opts = stream.config.csv
        rel = entry.rel
        limit = self.limit
        delimiter = stream._delimiter_for(entry)
        feed = _LineFeed(fh, offset, line, stream._encoding)
        header: list[str] | None
        if not opts.header:
            header = list(opts.columns) if opts.columns is not None else None
        elif line > 0:  # resuming after the header: read it from the file's start
            header = stream.csv_header(entry)
        else:
            header = None  # the first row of this read is the header
        need_header = opts.header and header is None

        def new_reader() -> Iterator[list[str]]:
            return csv.reader(feed, delimiter=delimiter, quotechar=stream._quotechar, strict=True)

        reader = new_reader()
        while True:
            first_line = feed.lineno + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                text = feed.take()
                feed.decode_error = None
                self.bad.append(BadRecord(text, f"invalid CSV at {rel}:{first_line}: {exc}"))
                reader = new_reader()
                row = None
            if row is not None:
                text = feed.take()
                if not row:
                    continue  # an empty line
                if feed.decode_error is not None:
                    bad_line, reason = feed.decode_error
                    feed.decode_error = None
                    self.bad.append(
                        BadRecord(text, f"invalid {feed.encoding} at {rel}:{bad_line}: {reason}")
                    )
                elif need_header:
                    header = _header_names(row)
                    need_header = False
                    current["offset"] = feed.offset
                    current["line"] = feed.lineno
                    continue
                else:
                    names = header or [f"column_{i}" for i in range(1, len(row) + 1)]
                    if len(row) > len(names):
                        self.bad.append(
                            BadRecord(
                                text,
                                f"expected {len(names)} fields, got {len(row)} "
                                f"at {rel}:{first_line}",
                            )
                        )
                    else:
                        record: Record = {k: v or None for k, v in zip(names, row, strict=False)}
                        for name in names[len(row) :]:
                            record[name] = None
                        if self.meta:
                            record["_file"] = rel
                            record["_line"] = first_line
                        self.records.append(record)
            self.count += 1
            if self.count >= limit:
                current["offset"] = feed.offset
                current["line"] = feed.lineno
                yield self.flush(final=False)
        return (feed.offset, feed.lineno)

    # ------------------------------------------------------------------ batches
    def _trim(self) -> None:
        extra = len(self.seen) - self.stream.max_tracked_files
        if extra <= 0:
            return
        oldest = sorted(self.seen.items(), key=lambda kv: (kv[1]["mtime_ns"], kv[0]))[:extra]
        for rel, entry in oldest:
            del self.seen[rel]
            key = (entry["mtime_ns"], rel)
            if self.floor is None or key > self.floor:
                self.floor = key

    def state(self, *, final: bool) -> dict[str, Any]:
        """The state true once everything read so far is committed."""
        self._trim()
        state: dict[str, Any] = {
            "files": {
                "watermark": list(self.watermark) if self.watermark else None,
                "floor": list(self.floor) if self.floor else None,
                "seen": dict(self.seen),
            },
            "current": dict(self.current) if self.current is not None else None,
        }
        if self.tracker is not None:
            state["cursor"] = self.tracker.complete() if final else self.tracker.state()
        return state

    def flush(self, *, final: bool) -> RecordBatch:
        """The batch filled so far with its state; starts a new one."""
        records, payloads, bad = self.records, self.payloads, self.bad
        self.records, self.payloads, self.bad = [], [], []
        self.count = 0
        keep_payloads = self.stream.format == "jsonl" and not self.meta
        tracker = self.tracker
        if tracker is not None and records:
            is_new = tracker.is_new
            keep = [i for i, r in enumerate(records) if is_new(r)]
            if len(keep) != len(records):
                records = [records[i] for i in keep]
                if keep_payloads:
                    payloads = [payloads[i] for i in keep]
            tracker.observe(records)
        return RecordBatch(
            records,
            state=self.state(final=final),
            payloads=payloads if keep_payloads else None,
            bad=bad,
        )
