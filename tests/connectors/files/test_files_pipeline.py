"""The files connector through the engine into DuckDB: counts, incremental runs, dead letters."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cintel.errors import ConfigError
from cintel.pipeline import Pipeline
from cintel.sink import raw_table_name
from files_helpers import NS, write


def events(start: int, count: int) -> bytes:
    return b"".join(
        orjson.dumps({"messageId": f"m{i}", "type": "track", "userId": f"u{i % 7}"}) + b"\n"
        for i in range(start, start + count)
    )


def sources() -> dict[str, Any]:
    return {
        "web": {
            "connector": "files",
            "config": {
                "streams": [
                    {
                        "name": "events",
                        "path": "data/events/*/*.jsonl.gz",
                        "primary_key": "messageId",
                    },
                    {"name": "contacts", "path": "data/contacts.csv", "primary_key": ["id"]},
                ]
            },
        }
    }


def counts(pipeline: Pipeline) -> tuple[int, int]:
    with pipeline.sink() as sink:
        return (
            sink.count_rows(raw_table_name("web", "events")),
            sink.count_rows(raw_table_name("web", "contacts")),
        )


def test_sync_csv_and_jsonl_into_duckdb_incrementally(
    tmp_path: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    write(tmp_path / "data/events/2024-01-01/a.jsonl.gz", events(0, 120), NS)
    write(tmp_path / "data/events/2024-01-02/b.jsonl.gz", events(120, 80), NS + 1)
    write(tmp_path / "data/contacts.csv", b"id,email\n1,a@x\n2,\n3,c@x\n", NS)
    pipeline = make_pipeline(sources(), run={"batch_size": 50})

    first = pipeline.run().raise_for_status()
    assert first.streams["web.events"].records == 200
    assert first.streams["web.events"].batches == 4
    assert first.streams["web.contacts"].records == 3
    assert counts(pipeline) == (200, 3)

    again = pipeline.run().raise_for_status()
    assert again.records == 0

    # a new day's file, one appended gzip member, one new contact row
    write(tmp_path / "data/events/2024-01-03/c.jsonl.gz", events(200, 30), NS + 5)
    with (tmp_path / "data/events/2024-01-02/b.jsonl.gz").open("ab") as fh:
        fh.write(gzip.compress(events(230, 5)))
    with (tmp_path / "data/contacts.csv").open("ab") as fh:
        fh.write(b"4,d@x\n")
    third = pipeline.run().raise_for_status()
    assert third.streams["web.events"].records == 35
    assert third.streams["web.contacts"].records == 1
    assert counts(pipeline) == (235, 4)

    with pipeline.sink() as sink:
        rows = sink.query(
            f"SELECT _cintel_payload FROM {raw_table_name('web', 'contacts')} WHERE id = '2'"
        )
    assert orjson.loads(rows[0][0]) == {"id": "2", "email": None}


def test_bad_csv_rows_go_to_dead_letters_and_replay_after_a_fix(
    tmp_path: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    write(tmp_path / "data/contacts.csv", b"id,email\n1,a@x\n2,b@x,VIP\n3,c@x\n", NS)
    write(tmp_path / "data/events/d/a.jsonl.gz", events(0, 2) + b"{oops\n", NS)
    pipeline = make_pipeline(sources(), run={"max_bad_records": 5})
    result = pipeline.run().raise_for_status()
    assert result.streams["web.contacts"].bad == 1
    assert result.streams["web.events"].bad == 1
    letters = {(d.stream, d.payload): d.reason for d in pipeline.dead_letters()}
    assert letters == {
        ("contacts", "2,b@x,VIP"): "expected 2 fields, got 3 at data/contacts.csv:3",
        ("events", "{oops"): letters[("events", "{oops")],
    }
    assert letters[("events", "{oops")].startswith("invalid JSON at data/events/d/a.jsonl.gz:3")

    # the export gains the missing column: the dead CSV row now parses and lands
    write(tmp_path / "data/contacts.csv", b"id,email,tier\n1,a@x,\n3,c@x,\n", NS + 1)
    replay = pipeline.replay_dead_letters(source="web", stream="contacts")
    assert (replay.landed, replay.still_bad) == (1, 0)
    assert counts(pipeline)[1] == 3
    assert [d.stream for d in pipeline.dead_letters()] == ["events"]
    # the replayed row is stored like any other: its payload is the record as JSON
    with pipeline.sink() as sink:
        stored = sink.query(  # type: ignore[attr-defined]
            "SELECT _cintel_payload FROM raw_web__contacts WHERE id = '2'"
        )
    assert [json.loads(p) for (p,) in stored] == [{"id": "2", "email": "b@x", "tier": "VIP"}]


def test_discover_shows_the_streams_with_their_schemas(
    tmp_path: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    write(tmp_path / "data/events/d/a.jsonl.gz", events(0, 3), NS)
    write(tmp_path / "data/contacts.csv", b"id,email\n", NS)
    infos = {i.name: i for i in make_pipeline(sources()).discover()}
    assert infos["contacts"].disposition == "merge"
    assert set(infos["contacts"].json_schema["properties"]) == {"id", "email"}
    assert set(infos["events"].json_schema["properties"]) == {"messageId", "type", "userId"}


def test_config_errors_name_the_field_in_the_pipeline(
    tmp_path: Path, make_pipeline: Callable[..., Pipeline]
) -> None:
    with pytest.raises(ConfigError) as info:
        make_pipeline(sources())
    assert info.value.problems == [
        (
            "sources.web.config.streams[0].path",
            "file not found: data/events/*/*.jsonl.gz matches nothing and its directory "
            f"data/events does not exist (in {tmp_path})",
        ),
        (
            "sources.web.config.streams[1].path",
            f"file not found: data/contacts.csv (in {tmp_path})",
        ),
    ]
    (tmp_path / "data/events").mkdir(parents=True)
    with pytest.raises(ConfigError) as info:
        make_pipeline(sources())
    assert [p for p, _ in info.value.problems] == ["sources.web.config.streams[1].path"]
