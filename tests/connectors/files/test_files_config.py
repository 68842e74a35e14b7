"""Config validation, check(), discovery (JSON Schema), dead-letter parsing, plugin lookup."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from cintel import ConnectorContext
from cintel.config import format_validation_error
from cintel.plugins import Plugins
from cintel_files import FilesConnector, FileStream
from pydantic import ValidationError


def validate(base: Path, *streams: dict[str, Any], **top: Any) -> Any:
    return FilesConnector.Config.model_validate(
        {"streams": list(streams), **top}, context={"base_dir": base}
    )


def problems(base: Path, *streams: dict[str, Any], **top: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        validate(base, *streams, **top)
    return format_validation_error(info.value, "sources.web.config")


def connector(base: Path, *streams: dict[str, Any]) -> FilesConnector:
    return FilesConnector(validate(base, *streams), context=ConnectorContext(source="web"))


def only_stream(base: Path, **config: Any) -> FileStream:
    [stream] = connector(base, {"name": "s", **config}).streams()
    assert isinstance(stream, FileStream)
    return stream


# --------------------------------------------------------------------------- validation
def test_a_missing_file_is_an_error_naming_the_field_and_path(tmp_path: Path) -> None:
    assert problems(tmp_path, {"name": "a", "path": "exports/contacts.csv"}) == [
        (
            "sources.web.config.streams[0].path",
            f"file not found: exports/contacts.csv (in {tmp_path})",
        )
    ]


def test_paths_are_relative_to_the_base_dir_from_the_context(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/c.csv").write_text("id\n1\n")
    cfg = validate(tmp_path, {"name": "a", "path": "sub/c.csv"})
    [stream] = FilesConnector(cfg, context=ConnectorContext(source="w")).streams()
    assert isinstance(stream, FileStream)
    assert [e.rel for e in stream.files()] == ["sub/c.csv"]
    assert problems(tmp_path / "sub", {"name": "a", "path": "sub/c.csv"})[0][1].startswith(
        "file not found"
    )


def test_a_glob_whose_directory_does_not_exist_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, {"name": "a", "path": "missing/*/*.csv"}) == [
        (
            "sources.web.config.streams[0].path",
            f"file not found: missing/*/*.csv matches nothing and its directory missing "
            f"does not exist (in {tmp_path})",
        )
    ]
    (tmp_path / "missing").mkdir()
    assert validate(tmp_path, {"name": "a", "path": "missing/*/*.csv"}).streams[0].format == "csv"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    [(path, msg)] = problems(tmp_path, {"name": "a", "path": "d", "format": "csv"})
    assert path == "sources.web.config.streams[0].path"
    assert msg == "d is a directory; use a glob such as d/*.csv"


def test_a_glob_matching_nothing_is_valid_but_check_fails(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    con = connector(tmp_path, {"name": "events", "path": "inbox/*/*.jsonl.gz"})
    result = con.check()
    assert not result.ok
    assert result.message == "no file matches 'inbox/*/*.jsonl.gz' for stream events"


def test_check_counts_files_and_reports_unreadable_ones(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.jsonl").write_text("{}\n")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(b"id\n1\n"))
    con = connector(tmp_path, {"name": "e", "path": "*.jsonl"}, {"name": "c", "path": "*.csv.gz"})
    assert con.check().ok
    assert con.check().message == "2 file(s) match for stream e; 1 file(s) match for stream c"
    (tmp_path / "c.csv.gz").write_bytes(b"not gzip")
    result = con.check()
    assert not result.ok
    assert "cannot read c.csv.gz of stream c" in result.message


def test_duplicate_stream_names_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n")
    assert problems(tmp_path, {"name": "a", "path": "a.csv"}, {"name": "a", "path": "*.csv"}) == [
        ("sources.web.config.streams", "duplicate stream name 'a'")
    ]


@pytest.mark.parametrize(
    ("stream", "field", "message"),
    [
        ({"format": "xml"}, "format", "Input should be 'auto', 'csv' or 'jsonl'"),
        ({"path": "in/*.txt"}, "format", "cannot tell the format of in/*.txt"),
        ({"compression": "zip"}, "compression", "Input should be 'auto', 'none' or 'gzip'"),
        ({"name": "bad name"}, "name", "stream name 'bad name' may only use letters"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"write_disposition": "merge"}, "write_disposition", "write_disposition merge needs"),
        ({"write_disposition": "upsert"}, "write_disposition", "Input should be 'append'"),
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter", "String should have at most 1"),
        ({"csv": {"encoding": "utf-16"}}, "csv.encoding", "encoding 'utf-16' is not ASCII"),
        ({"csv": {"encoding": "klingon"}}, "csv.encoding", "unknown encoding 'klingon'"),
        ({"csv": {"columns": ["a"]}}, "csv", "columns is only used with header: false"),
        ({"path": "in/*.jsonl", "csv": {"header": False}}, "csv", "csv options are only for"),
        ({"path": ""}, "path", "path must not be empty"),
    ],
)
def test_invalid_stream_settings_name_their_field(
    tmp_path: Path, stream: dict[str, Any], field: str, message: str
) -> None:
    (tmp_path / "in").mkdir()
    config = {"name": "s", "path": "in/*.csv", **stream}
    found = problems(tmp_path, config)
    assert [p for p, _ in found] == [f"sources.web.config.streams[0].{field}"]
    assert found[0][1].startswith(message)


def test_format_is_resolved_from_extensions_or_matched_files(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    assert validate(tmp_path, {"name": "a", "path": "x/*.ndjson.gz"}).streams[0].format == "jsonl"
    assert validate(tmp_path, {"name": "a", "path": "x/*.TSV"}).streams[0].format == "csv"
    (tmp_path / "x/a.csv").write_text("id\n")
    assert validate(tmp_path, {"name": "a", "path": "x/*"}).streams[0].format == "csv"
    (tmp_path / "x/b.jsonl").write_text("{}\n")
    [(_, msg)] = problems(tmp_path, {"name": "a", "path": "x/*"})
    assert msg.startswith("files matching x/* have different formats (csv, jsonl)")


def test_at_least_one_stream_and_no_unknown_top_level_keys(tmp_path: Path) -> None:
    assert problems(tmp_path) == [("sources.web.config.streams", "at least one stream is required")]
    found = problems(tmp_path, {"name": "a", "path": "*.csv"}, path="x")
    assert found == [("sources.web.config.path", "unknown field")]


def test_a_single_primary_key_string_is_accepted(tmp_path: Path) -> None:
    stream = only_stream(tmp_path, path="*.jsonl", primary_key="messageId", cursor_field="ts")
    assert stream.primary_key == ("messageId",)
    assert stream.cursor_field == "ts"
    assert stream.write_disposition is None


def test_every_config_field_has_a_description() -> None:
    from cintel_files.config import CsvOptions, FilesConfig, FileStreamConfig

    for model in (FilesConfig, FileStreamConfig, CsvOptions):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


# --------------------------------------------------------------------------- schema
def test_json_schema_of_a_csv_stream_is_its_header(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_bytes(b"\xef\xbb\xbfid,email\n1,a@x\n")
    schema = only_stream(tmp_path, path="c.csv", primary_key="id").json_schema()
    assert schema["properties"] == {
        "id": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
    }


def test_json_schema_of_a_jsonl_stream_is_inferred_from_the_first_records(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl.gz").write_bytes(
        gzip.compress(
            b'{"id":1,"p":{"a":1},"t":"x","v":1.5,"l":[1]}\n'
            b'not json\n{"id":2,"t":null,"v":2,"ok":true}\n'
        )
    )
    stream = only_stream(tmp_path, path="*.jsonl.gz", include_file_metadata=True)
    assert stream.json_schema()["properties"] == {
        "id": {"type": "integer"},
        "p": {"type": "object"},
        "t": {"type": ["null", "string"]},
        "v": {"type": "number"},
        "l": {"type": "array"},
        "ok": {"type": "boolean"},
        "_file": {"type": "string"},
        "_line": {"type": "integer"},
    }


def test_json_schema_without_files_lists_keys(tmp_path: Path) -> None:
    schema = only_stream(tmp_path, path="*.jsonl", primary_key="id", cursor_field="t").json_schema()
    assert schema["properties"] == {"id": {}, "t": {}}


# --------------------------------------------------------------------------- dead letters
def test_csv_dead_letters_parse_against_the_current_header(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("id,name,extra\n1,a,b\n")
    stream = only_stream(tmp_path, path="c.csv")
    parsed = stream.parse_payloads(
        ['{"id": "9", "name": "json"}', "2,b,c", '3,"multi\nline",', "4,x,y,z", "5"]
    )
    assert parsed.records == [
        {"id": "9", "name": "json"},
        {"id": "2", "name": "b", "extra": "c"},
        {"id": "3", "name": "multi\nline", "extra": None},
        {"id": "5", "name": None, "extra": None},
    ]
    # payloads are the inputs, so the engine can tell which dead letters landed
    assert parsed.payloads == ['{"id": "9", "name": "json"}', "2,b,c", '3,"multi\nline",', "5"]
    assert [(b.payload, b.reason) for b in parsed.bad] == [("4,x,y,z", "expected 3 fields, got 4")]


def test_jsonl_dead_letters_use_the_default_json_parsing(tmp_path: Path) -> None:
    stream = only_stream(tmp_path, path="*.jsonl")
    parsed = stream.parse_payloads(['{"a":1}', "nope"])
    assert parsed.records == [{"a": 1}]
    assert parsed.bad[0].reason.startswith("invalid JSON")


# --------------------------------------------------------------------------- plugin
def test_the_connector_is_found_through_its_entry_point() -> None:
    plugins = Plugins()
    assert plugins.connector("files") is FilesConnector
    assert plugins.connectors()["files"].plugin == "files"


def test_the_plugin_module_registers_only_the_connector() -> None:
    from cintel_files import plugin

    registered: list[Any] = []
    plugin.cintel_connectors(registered.append)
    assert registered == [FilesConnector]
