"""Incremental reads over HTTP: cursor boundaries, lookback windows, date slices.

The rules from ``reference/apis.md`` every API stream follows:

- the incremental checkpoint (the cursor watermark) is separate from the page
  cursor;
- the API is asked again from the watermark **inclusively** (``GTE``, ``since``)
  and records on the boundary already loaded are dropped by primary key
  (:class:`~cintel.state.CursorTracker`);
- a lookback window re-reads a little history for APIs whose data settles late;
  it needs ``merge`` so the re-read rows replace, not repeat;
- large backfills run in date slices, each a resumable unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

__all__ = ["CursorFormat", "date_slices", "format_cursor", "parse_datetime", "shift_cursor"]

CursorFormat = Literal["raw", "iso", "iso_z", "date", "epoch_s", "epoch_ms"]


def parse_datetime(value: Any) -> datetime | None:
    """A UTC datetime from ISO text (``YYYYMMDD`` too), a date, epoch seconds or milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if text.lstrip("-").isdigit() and len(text) != 8:  # 8 digits: GA4's YYYYMMDD
        return parse_datetime(int(text))
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]  # Salesforce "+0000"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_cursor(value: Any, fmt: CursorFormat = "raw") -> Any:
    """``value`` as the API wants it in a query (``epoch_ms`` as text for HubSpot…)."""
    if fmt == "raw" or value is None:
        return value
    when = parse_datetime(value)
    if when is None:
        raise ValueError(f"cannot read {value!r} as a date-time")
    when = when.astimezone(UTC)
    if fmt == "iso":
        return when.isoformat()
    if fmt == "iso_z":
        return when.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{when.microsecond // 1000:03d}Z" if when.microsecond else "Z"
        )
    if fmt == "date":
        return when.date().isoformat()
    if fmt == "epoch_s":
        return int(when.timestamp())
    return str(int(when.timestamp() * 1000))  # epoch_ms


def shift_cursor(value: Any, seconds: float) -> Any:
    """``value`` moved back by ``seconds`` (a lookback), keeping its kind."""
    if value is None or seconds == 0:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        factor = 1000 if value > 10**11 else 1
        return type(value)(value - seconds * factor)
    when = parse_datetime(value)
    if when is None:
        return value
    return (when - timedelta(seconds=seconds)).isoformat()


def date_slices(start: Any, end: Any, step: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Half-open ``[a, b)`` windows from ``start`` to ``end`` of at most ``step`` each."""
    lo = parse_datetime(start)
    hi = parse_datetime(end)
    if lo is None or hi is None:
        raise ValueError(f"date slices need two date-times, got {start!r} and {end!r}")
    if step <= timedelta(0):
        raise ValueError("the slice step must be positive")
    while lo < hi:
        nxt = min(lo + step, hi)
        yield lo, nxt
        lo = nxt
