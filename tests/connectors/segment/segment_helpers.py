"""Helpers shared by the segment connector tests: events, export layouts, readers."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import orjson
from cintel import BadRecord, ConnectorContext, RecordBatch
from cintel_segment import EventsStream, SegmentConnector

_ids = itertools.count(1_000_000)  # apart from the explicit n of events()


def event(kind: str, *, day: str = "2024-05-01", n: int | None = None, **fields: Any) -> dict:
    """A Segment-spec event of ``kind`` received on ``day`` (``messageId`` m-<n>)."""
    n = next(_ids) if n is None else n
    minute = n % 1440
    stamp = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00.000Z"
    base: dict[str, Any] = {
        "type": kind,
        "messageId": f"m-{n}",
        "anonymousId": f"anon-{n % 7}",
        "userId": None,
        "context": {"library": {"name": "analytics.js", "version": "5.2.0"}},
        "integrations": {},
        "originalTimestamp": stamp,
        "sentAt": stamp,
        "receivedAt": stamp,
        "timestamp": stamp,
    }
    if kind == "track":
        base["event"] = "Product Viewed"
        base["properties"] = {"product_id": f"p{n % 5}"}
    elif kind == "page":
        base["name"] = "Home"
        base["properties"] = {"path": "/", "url": "https://shop.example.com/", "referrer": ""}
    base.update(fields)
    return base


def events(count: int, *, day: str = "2024-05-01", start: int = 0) -> list[dict]:
    """``count`` track and page events with messageIds ``m-<start>`` on."""
    return [event("track" if i % 3 else "page", day=day, n=start + i) for i in range(count)]


def ndjson(items: Iterable[Mapping[str, Any] | bytes | str]) -> bytes:
    """NDJSON lines; bytes and str items are written as they are (broken lines)."""
    out = []
    for item in items:
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            out.append(item.encode())
        else:
            out.append(orjson.dumps(item))
    return b"\n".join(out) + b"\n"


def segment_folder(day: str) -> str:
    """Segment's dated folder: the received day's midnight UTC in epoch milliseconds."""
    midnight = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return str(int(midnight.timestamp() * 1000))


def rudder_folder(day: str) -> str:
    """RudderStack's dated folder: MM-DD-YYYY."""
    y, m, d = day.split("-")
    return f"{m}-{d}-{y}"


def write(root: Path | str, rel: str, data: bytes) -> str:
    """Write ``data`` at ``root/rel`` (gzip when the name ends in .gz); local path or URL."""
    payload = gzip.compress(data) if rel.endswith(".gz") else data
    if isinstance(root, Path):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        return str(path)
    url = f"{root.rstrip('/')}/{rel}"
    fs, path = fsspec.core.url_to_fs(url)
    fs.pipe(path, payload)
    return url


def connector_for(path: str | Path, base: Path, **config: Any) -> SegmentConnector:
    """A segment connector reading ``path`` (its retries do not sleep)."""
    cfg = SegmentConnector.Config.model_validate(
        {"path": str(path), **config}, context={"base_dir": base}
    )
    connector = SegmentConnector(cfg, context=ConnectorContext(source="web", base_dir=base))
    connector.retry.sleep = lambda _seconds: None
    return connector


def stream_for(
    path: str | Path, base: Path, batch_size: int = 10_000, **config: Any
) -> EventsStream:
    """The events stream of :func:`connector_for`."""
    [stream] = connector_for(path, base, **config).streams()
    assert isinstance(stream, EventsStream)
    stream.batch_size = batch_size
    return stream


def read_all(
    stream: EventsStream, state: Mapping[str, Any] | None = None
) -> tuple[list[dict], list[BadRecord], Mapping[str, Any] | None, list[RecordBatch]]:
    """Records, bad records, the final state (JSON round-tripped) and the batches."""
    batches = list(stream.read(state))
    records = [r for b in batches for r in b.records]
    bad = [x for b in batches for x in b.bad]
    final = state
    for b in batches:
        if b.state is not None:
            final = orjson.loads(orjson.dumps(b.state))
    return records, bad, final, batches


def ids(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The messageIds of ``records`` in order."""
    return [r["messageId"] for r in records]
