"""cintel's conformance suite over the ``segment`` connector and a fake object store.

The export sits in a fake S3-like store served over loopback HTTP
(:mod:`segment_store`), read through an fsspec filesystem: the suite's 429 and
500/503 faults reach the connector as the storage errors s3fs or gcsfs raise
once their own retries are spent, and a wrong token in ``storage_options`` is
the "bad credentials" case.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cintel import Connector
from cintel.testing import ConnectorConformance, LoopbackServer
from cintel_segment import SegmentConnector
from cintel_segment.storage import Retry
from segment_helpers import event, events, ndjson, rudder_folder, segment_folder
from segment_store import PROTOCOL, TOKEN, FakeStore, LoopStoreFileSystem

ROOT = "bucket/segment-logs/src1"


def fill(store: FakeStore) -> None:
    """Two days of Segment layout: gzip files, a duplicate, identifies, an order."""
    day1 = events(40, day="2024-05-01")
    day1.append(
        event(
            "identify",
            day="2024-05-01",
            userId="u-1",
            anonymousId="anon-1",
            traits={"email": "ana@example.com", "first_name": "Ana"},
        )
    )
    day2 = events(30, day="2024-05-02", start=100)
    day2.append(day1[3])  # Segment delivers at least once: a duplicate the next day
    day2.append(
        event(
            "track",
            day="2024-05-02",
            userId="u-1",
            event="Order Completed",
            properties={"order_id": "o-1", "revenue": 25.5, "currency": "EUR"},
        )
    )
    store.put(f"{ROOT}/{segment_folder('2024-05-01')}/a.gz", gz(ndjson(day1[:20])))
    store.put(f"{ROOT}/{segment_folder('2024-05-01')}/b.gz", gz(ndjson(day1[20:])))
    store.put(f"{ROOT}/{segment_folder('2024-05-02')}/a.gz", gz(ndjson(day2)))


def gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data)


class TestSegmentConformance(ConnectorConformance):
    """Check, reading to the end, keys, incremental runs, canonical rows, faults, secrets."""

    connector = "segment"
    layout = "segment"

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.store = FakeStore()
        fill(self.store)
        with LoopbackServer(self.store) as server:
            yield server
        LoopStoreFileSystem.close_all()

    def build(self, config: Mapping[str, Any], tmp_path: Path) -> Connector:
        connector = super().build(config, tmp_path)
        assert isinstance(connector, SegmentConnector)
        # 75% of requests fail in the fault test, and a reopen makes several requests
        connector.retry = Retry(attempts=30, sleep=lambda _s: None)
        return connector

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {
            "path": f"{PROTOCOL}://{ROOT}",
            "layout": self.layout,
            "storage_options": {"endpoint_url": api.base_url, "token": TOKEN},
        }

    def make_bad_config(self, api: LoopbackServer) -> dict[str, Any]:
        config = self.make_config(api)
        config["storage_options"] = {**config["storage_options"], "token": "wrong-token-0000"}
        return config

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.store.put(
            f"{ROOT}/{segment_folder('2024-05-03')}/a.gz",
            gz(ndjson(events(9, day="2024-05-03", start=500))),
        )
        return {"events": 9}


class TestRudderStackConformance(TestSegmentConformance):
    """The same over RudderStack's layout (MM-DD-YYYY folders, traits in context)."""

    layout = "rudderstack"

    @pytest.fixture
    def api(self) -> Iterator[LoopbackServer]:
        self.store = FakeStore()
        root = "bucket/rudder-logs/src1"
        for n, day in enumerate(["2024-05-01", "2024-05-02"]):
            batch = events(25, day=day, start=100 * n)
            batch.append(
                event(
                    "identify",
                    day=day,
                    userId=f"u-{n}",
                    context={"traits": {"email": f"u{n}@example.com"}},
                )
            )
            name = f"1714550400.src1.{n:04d}-uuid.json.gz"
            self.store.put(f"{root}/{rudder_folder(day)}/{name}", gz(ndjson(batch)))
        with LoopbackServer(self.store) as server:
            yield server
        LoopStoreFileSystem.close_all()

    def make_config(self, api: LoopbackServer) -> dict[str, Any]:
        return {**super().make_config(api), "path": f"{PROTOCOL}://bucket/rudder-logs/src1"}

    def grow(self, api: LoopbackServer) -> dict[str, int]:
        self.store.put(
            f"bucket/rudder-logs/src1/{rudder_folder('2024-05-03')}/1714723200.src1.x.json.gz",
            gz(ndjson(events(4, day="2024-05-03", start=900))),
        )
        return {"events": 4}
