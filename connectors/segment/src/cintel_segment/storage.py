"""Where the export files are: fsspec filesystems, dated folders, retries.

Segment's S3 destination writes ``segment-logs/{source-id}/{received-day-ms}/{file}.gz``;
RudderStack's ``rudder-logs/{sourceId}/{MM-DD-YYYY}/{ts}.{sourceId}.{uuid}.json.gz``.
:func:`list_files` walks the tree under the configured path, reads the day of
each dated folder, skips the folders the state says are done without listing
them, and returns the export files in reading order: ``(day, relative path)``.
"""

from __future__ import annotations

import gzip
import io
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase as fnmatch
from functools import partial
from typing import IO, Any, TypeVar, cast

import structlog

from cintel_segment.config import Layout

__all__ = [
    "FileEntry",
    "Retry",
    "date_of_folder",
    "is_export_file",
    "is_transient",
    "list_files",
    "open_lines",
]

log = structlog.get_logger(__name__)

READ_BUFFER = 1 << 20
T = TypeVar("T")

_EPOCH_MS = re.compile(r"\d{13}")
_MDY = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_YMD = re.compile(r"(?:(?:dt|date|day)=)?(\d{4})-(\d{2})-(\d{2})")
_SUFFIXES = (".gz", ".json", ".jsonl", ".ndjson")


def date_of_folder(name: str, layout: Layout) -> str | None:
    """The day (``YYYY-MM-DD``) a folder name stands for under ``layout``, else ``None``."""
    try:
        if layout in ("segment", "auto") and _EPOCH_MS.fullmatch(name):
            return datetime.fromtimestamp(int(name) / 1000, UTC).date().isoformat()
        if layout in ("rudderstack", "auto") and (m := _MDY.fullmatch(name)):
            return date(int(m[3]), int(m[1]), int(m[2])).isoformat()
        if layout == "auto" and (m := _YMD.fullmatch(name)):
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:  # 13-31-2024, an out-of-range epoch
        return None
    return None


def is_export_file(name: str) -> bool:
    """Whether a file name is an export file: ``.gz``, ``.json``, ``.jsonl``, ``.ndjson``.

    Hidden (``.name``) and marker (``_SUCCESS``) files are not.
    """
    if name.startswith((".", "_")):
        return False
    return name.lower().endswith(_SUFFIXES)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """An export file: its filesystem path, path relative to the root, day, size, ETag."""

    path: str
    rel: str
    day: str  # "" outside dated folders
    size: int
    etag: str | None

    @property
    def key(self) -> tuple[str, str]:
        """Reading order: ``(day, rel)``."""
        return (self.day, self.rel)


def _etag(info: dict[str, Any]) -> str | None:
    for name in ("ETag", "etag", "md5Hash", "content_md5"):
        value = info.get(name)
        if value:
            return str(value).strip('"')
    return None


# --------------------------------------------------------------------------- retries
_PERMANENT = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)
_TRANSIENT_NAMES = re.compile(
    r"Timeout|Connection|Throttl|SlowDown|ServiceUnavailable|TooManyRequests|Transient|"
    r"ServerDisconnected|IncompleteRead|ProtocolError|ResponseStreamingError",
    re.IGNORECASE,
)


def is_transient(exc: BaseException) -> bool:
    """Whether an error from a filesystem is worth retrying.

    ``OSError`` other than not-found / permission errors (s3fs and most fsspec
    implementations translate HTTP errors to them), and errors whose class
    name says timeout, connection, throttling or unavailability (botocore,
    aiohttp, google-cloud). A corrupt gzip stream is not transient.
    """
    if isinstance(exc, (*_PERMANENT, EOFError, gzip.BadGzipFile, ImportError)):
        return False
    if isinstance(exc, OSError):
        return True
    return any(_TRANSIENT_NAMES.search(cls.__name__) for cls in type(exc).__mro__)


@dataclass(slots=True)
class Retry:
    """Retries of transient filesystem errors: ``attempts`` tries, exponential backoff."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 20.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int) -> None:
        """Sleep before retry number ``attempt`` (1-based), with jitter."""
        delay = min(self.cap, self.base * 2 ** (attempt - 1))
        self.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, retried on transient errors; the last error is raised."""
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                attempt += 1
                if attempt >= self.attempts or not is_transient(exc):
                    raise
                log.info("transient storage error, retrying", what=what, error=repr(exc))
                self.wait(attempt)


# --------------------------------------------------------------------------- listing
def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def list_files(
    fs: Any,
    root: str,
    *,
    layout: Layout,
    retry: Retry,
    skip_before: str | None = None,
    start_date: str | None = None,
    exclude: Sequence[str] = (),
) -> list[FileEntry]:
    """Export files under ``root`` in reading order.

    Dated folders before ``skip_before`` (a day every file of which was read)
    or ``start_date`` are not listed. ``root`` may be a single file.
    """
    root = root.rstrip("/") or "/"
    info = retry.call(f"info {root}", lambda: fs.info(root))
    if info.get("type") != "directory":
        return [FileEntry(root, _name(root), "", int(info.get("size") or 0), _etag(info))]
    prefix = root if root.endswith("/") else root + "/"
    entries: list[FileEntry] = []
    # the path may be a dated folder itself (one day of the export)
    stack: list[tuple[str, str]] = [(root, date_of_folder(_name(root), layout) or "")]
    while stack:
        directory, day = stack.pop()
        children: list[dict[str, Any]] = retry.call(
            f"ls {directory}", partial(fs.ls, directory, detail=True)
        )
        for child in children:
            path = str(child["name"]).rstrip("/")
            name = _name(path)
            if path == directory.rstrip("/") or name.startswith((".", "_")):
                continue
            if child.get("type") == "directory":
                folder_day = date_of_folder(name, layout)
                if folder_day is not None:
                    if start_date is not None and folder_day < start_date:
                        continue
                    if skip_before is not None and folder_day < skip_before:
                        continue
                stack.append((path, folder_day or day))
            elif is_export_file(name):
                rel = path[len(prefix) :] if path.startswith(prefix) else path
                if exclude and any(fnmatch(rel, p) or fnmatch(name, p) for p in exclude):
                    continue
                entries.append(FileEntry(path, rel, day, int(child.get("size") or 0), _etag(child)))
    entries.sort(key=lambda e: (e.day, e.rel))
    return entries


# --------------------------------------------------------------------------- reading
def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]

    return isinstance(fs, LocalFileSystem)


def open_lines(fs: Any, path: str, offset: int = 0) -> IO[bytes]:
    """``path`` opened for fast binary line iteration from ``offset``.

    gzip is recognised by its magic bytes, whatever the name; ``offset`` is a
    position in the decompressed stream (reaching it decompresses the bytes
    before it).
    """
    raw: IO[bytes]
    if _is_local(fs):
        raw = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 - returned open
    else:
        remote = fs.open(path, "rb", block_size=8 * READ_BUFFER)
        raw = io.BufferedReader(cast(io.RawIOBase, remote), READ_BUFFER)
    try:
        head = cast(io.BufferedReader, raw).peek(2)[:2]
        if head == b"\x1f\x8b":
            gz = gzip.GzipFile(fileobj=raw, mode="rb")
            if offset:
                gz.seek(offset)
            # a C-level buffered reader over GzipFile iterates lines twice as fast
            return io.BufferedReader(cast(io.RawIOBase, _Closing(gz, raw)), READ_BUFFER)
        if offset:
            raw.seek(offset)
        return raw
    except BaseException:
        raw.close()
        raise


class _Closing(io.RawIOBase):
    """A GzipFile that also closes the file it reads when closed."""

    def __init__(self, gz: gzip.GzipFile, inner: IO[bytes]) -> None:
        self._gz = gz
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # read1, not readinto: a truncated stream then raises only once everything
        # before the cut was handed out (GzipFile.readinto would drop it)
        data = self._gz.read1(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._gz.close()
        finally:
            self._inner.close()
            super().close()
