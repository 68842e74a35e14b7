"""Incremental state helpers for connectors.

Stream state stays small: a **watermark** (the highest cursor value fully
loaded), a bounded **boundary set** (keys of records sitting exactly on the
watermark, so an inclusive re-read does not load them twice) and, while a
stream is being read, the **pending** watermark of the current read.

The pending part is what makes mid-stream checkpoints correct when a source is
not sorted by its cursor: during a read, records are filtered against the
*previous* watermark, and the new maximum is only promoted to the watermark once
the read completes. A read resumed after a crash keeps filtering against the
previous watermark, so nothing between the two is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import orjson

__all__ = ["CursorTracker", "record_key"]

DEFAULT_MAX_BOUNDARY = 10_000


def record_key(record: Mapping[str, Any], primary_key: Sequence[str]) -> str | None:
    """The primary key of ``record`` as one string; ``None`` when a part is missing."""
    if len(primary_key) == 1:
        value = record.get(primary_key[0])
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else _text(value)
    parts = []
    for field in primary_key:
        value = record.get(field)
        if value is None or value == "":
            return None
        parts.append(value)
    return orjson.dumps(parts, default=str).decode()


def _text(value: Any) -> str:
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _shape(value: Any) -> str:
    """``number``, ``date`` (ISO-looking text) or ``text``: values of one shape compare."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    if isinstance(value, str) and _DATE_LIKE.match(value):
        return "date"
    return "text"


def _greater(a: Any, b: Any) -> bool:
    """``a > b`` for cursor values; numbers with numbers, everything else as text."""
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a > b
    return str(a) > str(b)


class CursorTracker:
    """Filters records by a cursor and tracks the next watermark.

    >>> t = CursorTracker(None, cursor_field="updated", primary_key=("id",))
    >>> kept = t.filter([{"id": 1, "updated": "2024-01-02"}])
    >>> t.state()["pending"]["watermark"]
    '2024-01-02'
    """

    def __init__(
        self,
        state: Mapping[str, Any] | None,
        *,
        cursor_field: str,
        primary_key: Sequence[str],
        max_boundary: int = DEFAULT_MAX_BOUNDARY,
    ) -> None:
        state = state or {}
        self.cursor_field = cursor_field
        self.primary_key = tuple(primary_key)
        self.max_boundary = max_boundary
        self.watermark: Any = state.get("watermark")
        self.boundary: set[str] = set(state.get("boundary") or ())
        pending = state.get("pending") or {}
        self.pending: Any = pending.get("watermark", self.watermark)
        self.pending_boundary: set[str] = (
            set(pending.get("boundary") or ()) if pending else set(self.boundary)
        )
        self._overflow = bool(pending.get("overflow", False))
        #: Cursor values of another shape than the watermark's, left out of it.
        self.skipped_values = 0

    def is_new(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` is past the committed watermark (records without a cursor are)."""
        value = record.get(self.cursor_field)
        if value is None or self.watermark is None:
            return True
        value = _comparable(value)
        if _greater(value, self.watermark):
            return True
        if value == self.watermark or str(value) == str(self.watermark):
            key = record_key(record, self.primary_key) if self.primary_key else None
            return key is None or key not in self.boundary
        return False

    def observe(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Advance the pending watermark over ``records`` (already filtered)."""
        field = self.cursor_field
        for record in records:
            value = record.get(field)
            if value is None:
                continue
            value = _comparable(value)
            if self.pending is not None and _shape(value) != _shape(self.pending):
                if _shape(self.pending) != "text":
                    # "n/a" in a date column must not become the watermark: as text it
                    # sorts after every date, and the next runs would skip everything
                    self.skipped_values += 1
                    continue
                self.pending = None  # a real date or number replaces a stray text value
            if self.pending is None or _greater(value, self.pending):
                self.pending = value
                self.pending_boundary = set()
                self._overflow = False
            if value == self.pending and self.primary_key and not self._overflow:
                key = record_key(record, self.primary_key)
                if key is not None:
                    self.pending_boundary.add(key)
                    if len(self.pending_boundary) > self.max_boundary:
                        # Too many records share one cursor value: keep none and re-read
                        # them next time (merge de-duplicates; append may repeat them).
                        self.pending_boundary = set()
                        self._overflow = True

    def filter(self, records: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Keep the records past the watermark and observe them."""
        kept = [r for r in records if self.is_new(r)]
        self.observe(kept)
        return kept

    def state(self) -> dict[str, Any]:
        """State to commit mid-read: the old watermark plus the pending one."""
        return {
            "watermark": self.watermark,
            "boundary": sorted(self.boundary),
            "pending": {
                "watermark": self.pending,
                "boundary": sorted(self.pending_boundary),
                "overflow": self._overflow,
            },
        }

    def complete(self) -> dict[str, Any]:
        """State to commit once the read finished: the pending watermark promoted."""
        self.watermark = self.pending
        self.boundary = set(self.pending_boundary)
        return {"watermark": self.watermark, "boundary": sorted(self.boundary)}
