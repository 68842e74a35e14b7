"""Source connectors: the contract every connector implements.

A connector is a class with a pydantic ``Config`` model, a cheap ``check()``
and a list of :class:`Stream` objects. A stream reads **batches** of records and
attaches to each batch the stream state that is true once the batch is stored;
the sink commits both in one transaction, which is what makes a killed sync
resume exactly where it stopped.

Minimal stream::

    class Orders(Stream):
        name = "orders"
        primary_key = ("id",)
        cursor_field = "updated_at"

        def read(self, state):
            since = (state or {}).get("since")
            for page in fetch_pages(since):
                yield RecordBatch(page.records, state={"since": page.max_updated_at})

Records are plain dicts. When the connector already holds each record's JSON
text (an NDJSON line), it can pass it as ``payloads`` so it is not serialised
again. Records it cannot parse go in ``bad`` with a reason; they land in the
dead-letter table instead of stopping the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict

__all__ = [
    "BadRecord",
    "CheckResult",
    "Connector",
    "ConnectorConfig",
    "ConnectorContext",
    "RecordBatch",
    "Stream",
    "WriteDisposition",
    "json_type",
]

WriteDisposition = Literal["append", "merge", "replace"]
Record = dict[str, Any]


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``null``, ``boolean``, ``number``, ``string``,
    ``array``; other Python types by name), for messages about malformed input."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record a stream could not turn into a valid record.

    ``payload`` is the raw text as the source gave it (a CSV line, an NDJSON
    line, a JSON body), kept verbatim for the dead-letter table and for replay.
    """

    payload: str
    reason: str


@dataclass(slots=True)
class RecordBatch:
    """A batch of records of one stream, and the stream state after it.

    ``state`` must be JSON-serialisable and small (a watermark, a position, a
    bounded boundary set). The engine copies it when the batch is taken, so the
    connector may keep mutating its own state objects afterwards. It is
    committed in the same transaction as the records; ``None`` means "state
    unchanged". A batch may carry no records and only a state (a checkpoint).
    """

    records: list[Record] = field(default_factory=list)
    state: Mapping[str, Any] | None = None
    payloads: list[str] | None = None
    bad: list[BadRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.payloads is not None and len(self.payloads) != len(self.records):
            raise ValueError("payloads must have one entry per record")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of :meth:`Connector.check`: ``ok`` and a message for a person."""

    ok: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What a connector gets from the runtime besides its config.

    ``base_dir`` is the directory of the pipeline config file: relative paths
    in a connector's config are relative to it.
    """

    source: str
    base_dir: Path = field(default_factory=Path.cwd)


class ConnectorConfig(BaseModel):
    """Base class for connector configs: unknown keys are errors, secrets are ``SecretStr``."""

    model_config = ConfigDict(extra="forbid")


class Stream(ABC):
    """One stream of records (a table) of a source.

    Subclasses set ``name``, ``primary_key`` and optionally ``cursor_field`` and
    ``write_disposition`` (default: ``merge`` with a primary key, else ``append``),
    and implement :meth:`read`.
    """

    name: str
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    write_disposition: WriteDisposition | None = None
    #: Records per batch the stream should aim for; the engine sets it from
    #: ``run.batch_size`` before calling :meth:`read`.
    batch_size: int = 10_000

    @abstractmethod
    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        """Yield batches from ``state`` on (``None`` on the first run or a full refresh).

        Each batch's ``state`` must let a later call resume right after that
        batch, whether or not the source is ordered by its cursor.
        """

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the records, for ``cintel discover``. Override when known."""
        props: dict[str, Any] = {key: {} for key in self.primary_key}
        if self.cursor_field:
            props.setdefault(self.cursor_field, {})
        return {"type": "object", "properties": props, "additionalProperties": True}

    def parse_payloads(self, payloads: Sequence[str]) -> RecordBatch:
        """Turn raw payloads (from the dead-letter table) back into records.

        The default parses each payload as a JSON object. Connectors whose raw
        payloads are not JSON (CSV lines) override it.
        """
        records: list[Record] = []
        kept: list[str] = []
        bad: list[BadRecord] = []
        for text in payloads:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                bad.append(BadRecord(text, f"invalid JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                bad.append(BadRecord(text, f"expected a JSON object, got {type(value).__name__}"))
                continue
            records.append(value)
            kept.append(text)
        return RecordBatch(records, payloads=kept, bad=bad)

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        """Map raw records onto canonical entities, batch-wise.

        Returns entity table name -> rows. The default maps nothing.
        """
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Connector(ABC):
    """A source: a config model, a connection check and streams."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        self.config = config
        self.context = context

    def check(self) -> CheckResult:
        """Cheap test that the source is reachable with this config."""
        return CheckResult(True, "ok")

    @abstractmethod
    def streams(self) -> list[Stream]:
        """The streams this source offers."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release what the connector holds (HTTP pools); called after each run.

        The connector must still work afterwards (a later run re-opens what it needs).
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.context.source!r}>"
