"""An example cintel plugin.

Entry point (pyproject.toml)::

    [project.entry-points.cintel]
    example = "cintel_example.plugin"

Hooks implemented here: ``cintel_connectors`` (the ``sample`` source) and
``cintel_run_finished`` (an audit line per run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cintel import Connector, ConnectorConfig, RecordBatch, Stream, hookimpl
from pydantic import Field


class SampleConfig(ConnectorConfig):
    """Settings of the sample source."""

    customers: int = Field(100, ge=0, description="How many synthetic customers to emit.")
    batch_size: int = Field(25, ge=1, description="Customers per batch.")


class Customers(Stream):
    """Synthetic customers ``c0001``…, incremental by their numeric id."""

    name = "customers"
    primary_key = ("id",)
    cursor_field = "seq"

    def __init__(self, config: SampleConfig) -> None:
        self.config = config

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        start = int((state or {}).get("next", 0))
        size = self.config.batch_size
        for first in range(start, self.config.customers, size):
            last = min(first + size, self.config.customers)
            records = [
                {"id": f"c{i:04d}", "seq": i, "email": f"customer{i}@example.com"}
                for i in range(first, last)
            ]
            yield RecordBatch(records, state={"next": last})


class SampleConnector(Connector):
    """A source of synthetic customers, to try cintel without any data."""

    name = "sample"
    Config = SampleConfig

    def streams(self) -> list[Stream]:
        assert isinstance(self.config, SampleConfig)
        return [Customers(self.config)]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(SampleConnector)


@hookimpl
def cintel_run_finished(run: Any, result: Any) -> None:
    path = os.environ.get("CINTEL_EXAMPLE_AUDIT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "run_id": run.run_id,
                        "pipeline": run.pipeline,
                        "status": result.status,
                        "records": result.records,
                    }
                )
                + "\n"
            )
