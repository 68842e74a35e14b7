"""Reading files stream by stream: formats, edge cases of lines, bad records, batches."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from cintel import RecordBatch
from cintel_files import FileStream
from files_helpers import NS, stream_of, write


def read_all(stream: FileStream, state: Any = None) -> list[RecordBatch]:
    return list(stream.read(state))


def records(batches: list[RecordBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.records]


def jsonl(*objs: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


# --------------------------------------------------------------------------- JSONL
def test_jsonl_records_and_payloads_are_the_lines(tmp_path: Path) -> None:
    write(tmp_path / "e.jsonl", b'{"id": 1, "n": {"x": [1, 2]}}\n{"id":2}\n')
    batches = read_all(stream_of(tmp_path, path="e.jsonl"))
    assert records(batches) == [{"id": 1, "n": {"x": [1, 2]}}, {"id": 2}]
    assert batches[0].payloads == ['{"id": 1, "n": {"x": [1, 2]}}', '{"id":2}']
    assert batches[-1].state is not None
    assert batches[-1].state["current"] is None


def test_jsonl_bom_crlf_empty_lines_and_missing_final_newline(tmp_path: Path) -> None:
    write(tmp_path / "e.ndjson", b'\xef\xbb\xbf{"id":1}\r\n\r\n   \n{"id":2}\r\n{"id":3}')
    batches = read_all(stream_of(tmp_path, path="e.ndjson"))
    assert records(batches) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert [p for b in batches for p in b.payloads or []] == ['{"id":1}', '{"id":2}', '{"id":3}']
    assert not [b for batch in batches for b in batch.bad]
    seen = batches[-1].state["files"]["seen"]  # type: ignore[index]
    assert seen["e.ndjson"]["offset"] == (tmp_path / "e.ndjson").stat().st_size
    assert seen["e.ndjson"]["line"] == 5


def test_jsonl_bad_lines_become_bad_records_with_reasons(tmp_path: Path) -> None:
    write(
        tmp_path / "e.jsonl", b'{"id":1}\nnot json\n[1,2]\n"text"\n{"id":\n\xff\xfe{}\n{"id":2}\n'
    )
    batches = read_all(stream_of(tmp_path, path="e.jsonl"))
    assert records(batches) == [{"id": 1}, {"id": 2}]
    bad = [b for batch in batches for b in batch.bad]
    assert [b.payload for b in bad][:4] == ["not json", "[1,2]", '"text"', '{"id":']
    assert bad[0].reason.startswith("invalid JSON at e.jsonl:2: ")
    assert bad[1].reason == "expected a JSON object at e.jsonl:3, got array"
    assert bad[2].reason == "expected a JSON object at e.jsonl:4, got string"
    assert bad[3].reason.startswith("invalid JSON at e.jsonl:5")
    assert bad[4].reason.startswith("invalid UTF-8 at e.jsonl:6")
    assert "\ufffd" in bad[4].payload


def test_gzip_jsonl_in_dated_folders_read_in_mtime_then_path_order(tmp_path: Path) -> None:
    write(tmp_path / "data/2024-01-02/b.jsonl.gz", jsonl({"id": "b"}), mtime_ns=NS + 2)
    write(tmp_path / "data/2024-01-01/z.jsonl.gz", jsonl({"id": "z"}), mtime_ns=NS + 1)
    write(tmp_path / "data/2024-01-01/a.jsonl.gz", jsonl({"id": "a"}), mtime_ns=NS + 1)
    write(tmp_path / "data/2024-01-03/c.csv", b"id\nc\n", mtime_ns=NS)  # not matched
    write(tmp_path / "data/deep/er/d.jsonl.gz", jsonl({"id": "d"}), mtime_ns=NS + 3)
    stream = stream_of(tmp_path, path="data/*/*.jsonl.gz", include_file_metadata=True)
    assert [r["id"] for r in records(read_all(stream))] == ["a", "z", "b"]
    rec = records(read_all(stream))[0]
    assert rec["_file"] == "data/2024-01-01/a.jsonl.gz"
    assert rec["_line"] == 1
    deep = stream_of(tmp_path, path="data/**/*.jsonl.gz")
    assert [r["id"] for r in records(read_all(deep))] == ["a", "z", "b", "d"]


def test_include_file_metadata_line_numbers_count_every_line(tmp_path: Path) -> None:
    write(tmp_path / "e.jsonl", b'{"id":1}\n\nbad\n{"id":2}\n')
    batches = read_all(stream_of(tmp_path, path="e.jsonl", include_file_metadata=True))
    assert [(r["id"], r["_line"]) for r in records(batches)] == [(1, 1), (2, 4)]
    assert all(b.payloads is None for b in batches)  # records differ from the raw lines


def test_compression_setting_overrides_the_extension(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(gzip.compress(jsonl({"id": 1})))
    assert records(read_all(stream_of(tmp_path, path="e.jsonl", compression="gzip"))) == [{"id": 1}]


# --------------------------------------------------------------------------- CSV
def test_csv_header_empty_values_quoted_newlines_bom_and_crlf(tmp_path: Path) -> None:
    write(
        tmp_path / "c.csv",
        b'\xef\xbb\xbfid,name,note\r\n1,Ann,"two\r\nlines, and ""quotes"""\r\n2,,x\r\n\r\n3,Cy',
    )
    batches = read_all(stream_of(tmp_path, path="c.csv"))
    assert records(batches) == [
        {"id": "1", "name": "Ann", "note": 'two\r\nlines, and "quotes"'},
        {"id": "2", "name": None, "note": "x"},
        {"id": "3", "name": "Cy", "note": None},
    ]
    assert all(b.payloads is None for b in batches)  # the engine serialises CSV records


def test_csv_rows_with_too_many_fields_are_bad_records(tmp_path: Path) -> None:
    write(tmp_path / "c.csv", b'id,name\n1,a\n2,b,c\n3,"x\ny",z\n4,d\n')
    batches = read_all(stream_of(tmp_path, path="c.csv"))
    assert [r["id"] for r in records(batches)] == ["1", "4"]
    bad = [b for batch in batches for b in batch.bad]
    assert [(b.payload, b.reason) for b in bad] == [
        ("2,b,c", "expected 2 fields, got 3 at c.csv:3"),
        ('3,"x\ny",z', "expected 2 fields, got 3 at c.csv:4"),
    ]


def test_malformed_quoting_is_a_bad_record_and_reading_goes_on(tmp_path: Path) -> None:
    write(tmp_path / "c.csv", b'id,name\n1,"a"b\n2,ok\n3,"5"" tall"\n4,5" screen\n5,"abc\n6,b\n')
    batches = read_all(stream_of(tmp_path, path="c.csv"))
    assert records(batches) == [
        {"id": "2", "name": "ok"},
        {"id": "3", "name": '5" tall'},
        {"id": "4", "name": '5" screen'},  # a quote inside an unquoted field is text
    ]
    bad = [(b.payload, b.reason) for batch in batches for b in batch.bad]
    assert bad == [
        ('1,"a"b', "invalid CSV at c.csv:2: ',' expected after '\"'"),
        # an unterminated quote does not swallow the rest of the file silently
        ('5,"abc\n6,b', "invalid CSV at c.csv:6: unexpected end of data"),
    ]


def test_csv_invalid_encoding_is_a_bad_record(tmp_path: Path) -> None:
    write(tmp_path / "c.csv", b"id,name\n1,Jos\xe9\n2,ok\n")
    batches = read_all(stream_of(tmp_path, path="c.csv"))
    assert records(batches) == [{"id": "2", "name": "ok"}]
    [bad] = [b for batch in batches for b in batch.bad]
    assert bad.reason.startswith("invalid utf-8 at c.csv:2")
    latin = stream_of(tmp_path, path="c.csv", csv={"encoding": "latin-1"})
    assert records(read_all(latin))[0] == {"id": "1", "name": "José"}


def test_tsv_gzip_and_headerless_csv(tmp_path: Path) -> None:
    write(tmp_path / "t.tsv.gz", b"id\tname\n1\ta,b\n")
    assert records(read_all(stream_of(tmp_path, path="t.tsv.gz"))) == [{"id": "1", "name": "a,b"}]
    write(tmp_path / "h.csv", b"1;x\n2;y\n")
    named = stream_of(
        tmp_path, path="h.csv", csv={"header": False, "columns": ["id", "v"], "delimiter": ";"}
    )
    assert records(read_all(named)) == [{"id": "1", "v": "x"}, {"id": "2", "v": "y"}]
    unnamed = stream_of(tmp_path, path="h.csv", csv={"header": False, "delimiter": ";"})
    assert records(read_all(unnamed))[0] == {"column_1": "1", "column_2": "x"}


def test_csv_header_names_are_made_unique(tmp_path: Path) -> None:
    write(tmp_path / "c.csv", b"id,,id\n1,2,3\n")
    assert records(read_all(stream_of(tmp_path, path="c.csv"))) == [
        {"id": "1", "column_2": "2", "id_3": "3"}
    ]


def test_each_csv_file_has_its_own_header(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", b"id,name\n1,a\n", mtime_ns=NS)
    write(tmp_path / "b.csv", b"name,id,extra\nb,2,e\n", mtime_ns=NS + 1)
    assert records(read_all(stream_of(tmp_path, path="*.csv"))) == [
        {"id": "1", "name": "a"},
        {"name": "b", "id": "2", "extra": "e"},
    ]


# --------------------------------------------------------------------------- batches
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 100])
def test_batches_hold_at_most_batch_size_lines_across_files(
    tmp_path: Path, fmt: str, batch_size: int
) -> None:
    for f in range(4):
        if fmt == "jsonl":
            data = jsonl(*({"id": f * 10 + i} for i in range(5))) + b"oops\n"
        else:
            data = b"id\n" + b"".join(b"%d\n" % (f * 10 + i) for i in range(5)) + b"1,2\n"
        write(tmp_path / f"f{f}.{fmt}", data, mtime_ns=NS + f)
    batches = read_all(stream_of(tmp_path, batch_size, path=f"*.{fmt}"))
    sizes = [len(b.records) + len(b.bad) for b in batches]
    assert all(s <= batch_size for s in sizes)
    assert all(s == batch_size for s in sizes[:-1])  # batches are filled across files
    assert sum(sizes) == 24
    assert [int(r["id"]) for r in records(batches)] == [
        f * 10 + i for f in range(4) for i in range(5)
    ]
    assert all(b.state is not None for b in batches)


def test_a_file_that_vanishes_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.jsonl", jsonl({"id": 1}), mtime_ns=NS)
    write(tmp_path / "b.jsonl", jsonl({"id": 2}), mtime_ns=NS + 1)
    stream = stream_of(tmp_path, path="*.jsonl")
    listed = stream.files()
    (tmp_path / "a.jsonl").unlink()
    monkeypatch.setattr(stream, "files", lambda: listed)
    batches = read_all(stream)
    assert records(batches) == [{"id": 2}]
    assert "a.jsonl" not in batches[-1].state["files"]["seen"]  # type: ignore[index]


def test_a_corrupt_gzip_file_fails_the_read_naming_it(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl.gz").write_bytes(b"not gzip at all")
    from cintel import SourceError

    with pytest.raises(SourceError, match=r"src\.s: cannot read e\.jsonl\.gz"):
        read_all(stream_of(tmp_path, path="*.jsonl.gz"))


def test_a_truncated_gzip_file_fails_with_a_hint(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"id":%d}\n' % i for i in range(1000)))
    (tmp_path / "e.jsonl.gz").write_bytes(data[: len(data) // 2])
    from cintel import SourceError

    with pytest.raises(SourceError, match="still being written"):
        read_all(stream_of(tmp_path, path="*.jsonl.gz"))


def test_unrecognised_state_is_an_error_not_a_silent_full_reload(tmp_path: Path) -> None:
    write(tmp_path / "e.jsonl", jsonl({"id": 1}))
    from cintel import SourceError

    with pytest.raises(SourceError, match="cintel state reset"):
        read_all(stream_of(tmp_path, path="e.jsonl"), {"files": {"seen": {"e.jsonl": 3}}})
