"""Shared helpers of the HubSpot tests: a connector on a respx host, a fake clock, shapes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from cintel import ConnectorContext, RecordBatch, Stream
from cintel_hubspot import HubSpotConfig, HubSpotConnector
from hubspot_fake import TOKEN

BASE_URL = "http://127.0.0.1:8911"
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
RATE_HEADERS = {
    "X-HubSpot-RateLimit-Max": "190",
    "X-HubSpot-RateLimit-Remaining": "180",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Daily": "500000",
    "X-HubSpot-RateLimit-Daily-Remaining": "499000",
}


class Clock:
    """A monotonic clock whose ``sleep`` records the wait and moves time on."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def make_connector(
    clock: Clock | None = None,
    *,
    now: Callable[[], datetime] = lambda: NOW,
    **config: Any,
) -> HubSpotConnector:
    """A connector for ``BASE_URL`` with a fake clock (no association reads unless asked)."""
    clock = clock or Clock()
    data: dict[str, Any] = {
        "access_token": TOKEN,
        "base_url": BASE_URL,
        "contacts": {"associations": []},
        "deals": {"associations": []},
        **config,
    }
    cfg = HubSpotConfig.model_validate(data)
    return HubSpotConnector(
        cfg, context=ConnectorContext(source="crm"), sleep=clock.sleep, clock=clock, now=now
    )


def stream(connector: HubSpotConnector, name: str) -> Stream:
    return next(s for s in connector.streams() if s.name == name)


def read(
    s: Stream, state: Mapping[str, Any] | None = None, *, batch_size: int = 10_000
) -> list[RecordBatch]:
    s.batch_size = batch_size
    return list(s.read(state))


def records(batches: list[RecordBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records]


def last_state(batches: list[RecordBatch]) -> Mapping[str, Any] | None:
    states = [b.state for b in batches if b.state is not None]
    return states[-1] if states else None


def contact(cid: int | str, modified: str, **props: Any) -> dict[str, Any]:
    """A contact as the list and search endpoints return it (apis.md's sample)."""
    return {
        "id": str(cid),
        "properties": {
            "createdate": "2024-03-02T10:11:12Z",
            "email": f"c{cid}@example.com",
            "firstname": "Ana",
            "hs_object_id": str(cid),
            "lastmodifieddate": modified,
            "lastname": "Ruiz",
            **props,
        },
        "createdAt": "2024-03-02T10:11:12Z",
        "updatedAt": modified,
        "archived": False,
    }


def page(
    results: list[dict[str, Any]], after: str | None = None, total: int | None = None
) -> dict[str, Any]:
    """A list or search page; the last one has no ``paging``."""
    body: dict[str, Any] = {"results": results}
    if total is not None:
        body["total"] = total
    if after is not None:
        body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
    return body
