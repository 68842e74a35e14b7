"""Incremental reads: new files, appended bytes, rewritten files, bounded state, cursors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from cintel import RecordBatch
from cintel_files import FileStream
from files_helpers import NS, stream_of, write


def append(path: Path, data: bytes, *, mtime_ns: int) -> None:
    with path.open("ab") as fh:
        # appending to a .gz file adds a gzip member, as `gzip >> file` does
        fh.write(gzip.compress(data) if path.name.endswith(".gz") else data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def read(stream: FileStream, state: Any = None) -> tuple[list[dict[str, Any]], Any]:
    batches: list[RecordBatch] = list(stream.read(state))
    assert batches, "a read always yields at least one batch"
    # the engine stores the state as JSON: go through JSON like it does
    final = orjson.loads(orjson.dumps(batches[-1].state))
    return [r for b in batches for r in b.records], final


def jsonl(*ids: int) -> bytes:
    return b"".join(orjson.dumps({"id": i}) + b"\n" for i in ids)


def ids(recs: list[dict[str, Any]]) -> list[Any]:
    return [r["id"] for r in recs]


@pytest.mark.parametrize("name", ["e.jsonl", "e.jsonl.gz"])
def test_second_read_with_final_state_yields_nothing_but_a_state(tmp_path: Path, name: str) -> None:
    write(tmp_path / name, jsonl(1, 2, 3), mtime_ns=NS)
    stream = stream_of(tmp_path, path=name)
    first, state = read(stream)
    assert ids(first) == [1, 2, 3]
    batches = list(stream.read(state))
    assert len(batches) == 1
    assert batches[0].records == []
    assert batches[0].state == state


@pytest.mark.parametrize("name", ["e.jsonl", "e.jsonl.gz", "c.csv"])
def test_appended_lines_are_the_only_ones_read(tmp_path: Path, name: str) -> None:
    csv = name.endswith(".csv")
    write(tmp_path / name, b"id\n1\n2\n" if csv else jsonl(1, 2), mtime_ns=NS)
    stream = stream_of(tmp_path, path=name, include_file_metadata=True)
    _, state = read(stream)
    append(tmp_path / name, b"3\n4\n" if csv else jsonl(3, 4), mtime_ns=NS + 10)
    new, state = read(stream, state)
    assert [str(i) for i in ids(new)] == ["3", "4"]
    assert [r["_line"] for r in new] == ([4, 5] if csv else [3, 4])  # numbering goes on
    assert ids(read(stream, state)[0]) == []


def test_appending_to_a_large_file_reads_only_the_new_bytes(tmp_path: Path) -> None:
    big = jsonl(*range(2000))  # > 2 x 4 KiB: head and tail fingerprints both used
    path = write(tmp_path / "e.jsonl", big, mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl")
    _, state = read(stream)
    append(path, jsonl(2000), mtime_ns=NS + 1)
    assert ids(read(stream, state)[0]) == [2000]


def test_a_new_file_yields_only_its_lines(tmp_path: Path) -> None:
    write(tmp_path / "d1/a.jsonl", jsonl(1, 2), mtime_ns=NS)
    stream = stream_of(tmp_path, path="*/*.jsonl")
    _, state = read(stream)
    write(tmp_path / "d2/b.jsonl", jsonl(3), mtime_ns=NS + 5)
    new, state = read(stream, state)
    assert ids(new) == [3]
    assert state["files"]["watermark"] == [NS + 5, "d2/b.jsonl"]


def test_a_new_file_with_an_older_mtime_is_still_read(tmp_path: Path) -> None:
    write(tmp_path / "b.jsonl", jsonl(2), mtime_ns=NS + 5)
    stream = stream_of(tmp_path, path="*.jsonl")
    _, state = read(stream)
    write(tmp_path / "a.jsonl", jsonl(1), mtime_ns=NS)  # copied in with `cp -p`
    assert ids(read(stream, state)[0]) == [1]


@pytest.mark.parametrize("same_size", [True, False])
def test_a_rewritten_file_is_read_again_from_the_start(tmp_path: Path, same_size: bool) -> None:
    path = write(tmp_path / "e.jsonl", jsonl(1, 2), mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl")
    _, state = read(stream)
    write(path, jsonl(7, 8) if same_size else jsonl(7, 8, 9), mtime_ns=NS + 1)
    assert ids(read(stream, state)[0]) == ([7, 8] if same_size else [7, 8, 9])


def test_a_file_that_shrank_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", jsonl(1, 2, 3), mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl")
    _, state = read(stream)
    write(path, jsonl(1), mtime_ns=NS + 1)
    assert ids(read(stream, state)[0]) == [1]


def test_a_rewrite_keeping_head_and_length_but_changing_the_tail_is_read_again(
    tmp_path: Path,
) -> None:
    rows = list(range(3000))
    path = write(tmp_path / "e.jsonl", jsonl(*rows), mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl")
    _, state = read(stream)
    # a re-export: same first rows, the last row changed, then one more row
    write(path, jsonl(*rows[:-1], 9999, 3000), mtime_ns=NS + 1)
    assert len(read(stream, state)[0]) == 3001


def test_a_touched_file_is_not_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl.gz", jsonl(1), mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl.gz")
    _, state = read(stream)
    os.utime(path, ns=(NS + 9, NS + 9))
    new, state = read(stream, state)
    assert new == []
    assert state["files"]["seen"]["e.jsonl.gz"]["mtime_ns"] == NS + 9


def test_state_none_reads_everything_again_for_replace_runs(tmp_path: Path) -> None:
    write(tmp_path / "e.jsonl", jsonl(1, 2), mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl", write_disposition="replace")
    assert stream.write_disposition == "replace"
    _, state = read(stream)
    assert ids(read(stream, state)[0]) == []
    assert ids(read(stream, None)[0]) == [1, 2]


def test_an_interrupted_file_that_was_rewritten_is_read_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", jsonl(1, 2, 3, 4), mtime_ns=NS)
    stream = stream_of(tmp_path, 2, path="e.jsonl")
    first = next(iter(stream.read(None)))
    assert ids(first.records) == [1, 2]
    state = orjson.loads(orjson.dumps(first.state))
    assert state["current"]["offset"] == len(jsonl(1, 2))
    write(path, jsonl(5, 6, 7), mtime_ns=NS + 1)
    assert ids(read(stream, state)[0]) == [5, 6, 7]


def test_an_interrupted_file_that_grew_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", jsonl(1, 2, 3), mtime_ns=NS)
    stream = stream_of(tmp_path, 2, path="e.jsonl")
    state = orjson.loads(orjson.dumps(next(iter(stream.read(None))).state))
    append(path, jsonl(4), mtime_ns=NS + 1)
    assert ids(read(stream, state)[0]) == [3, 4]


# --------------------------------------------------------------------------- bounded state
def test_state_stays_bounded_with_5000_files(tmp_path: Path) -> None:
    for i in range(5000):
        write(tmp_path / f"d/{i:05d}.jsonl", jsonl(i), mtime_ns=NS + i)
    stream = stream_of(tmp_path, 500, path="d/*.jsonl")
    sizes = []
    total = 0
    state: Any = None
    for batch in stream.read(None):
        total += len(batch.records)
        sizes.append(len(orjson.dumps(batch.state)))
        state = orjson.loads(orjson.dumps(batch.state))
    assert total == 5000
    assert max(sizes) < 300_000  # ~2000 tracked files, whatever the number of files
    assert len(state["files"]["seen"]) == FileStream.max_tracked_files == 2000
    assert state["files"]["floor"] == [NS + 2999, "d/02999.jsonl"]
    assert state["files"]["watermark"] == [NS + 4999, "d/04999.jsonl"]
    # nothing new: nothing read, neither tracked files nor those below the floor
    assert ids(read(stream, state)[0]) == []
    # an append to a tracked file and a new file are found
    append(tmp_path / "d/04000.jsonl", jsonl(-1), mtime_ns=NS + 6000)
    write(tmp_path / "d/new.jsonl", jsonl(-2), mtime_ns=NS + 6001)
    new, state = read(stream, state)
    assert ids(new) == [-1, -2]
    assert len(orjson.dumps(state)) < 300_000


def test_files_older_than_the_floor_and_not_tracked_count_as_read(tmp_path: Path) -> None:
    for i in range(6):
        write(tmp_path / f"{i}.jsonl", jsonl(i), mtime_ns=NS + 10 * i)
    stream = stream_of(tmp_path, path="*.jsonl")
    stream.max_tracked_files = 3
    _, state = read(stream)
    assert sorted(state["files"]["seen"]) == ["3.jsonl", "4.jsonl", "5.jsonl"]
    assert state["files"]["floor"] == [NS + 20, "2.jsonl"]
    write(tmp_path / "late-old.jsonl", jsonl(100), mtime_ns=NS + 5)  # below the floor
    write(tmp_path / "late-new.jsonl", jsonl(101), mtime_ns=NS + 35)  # inside the window
    assert ids(read(stream, state)[0]) == [101]


# --------------------------------------------------------------------------- cursor
def test_cursor_filters_a_re_exported_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "contacts.csv",
        b"id,email,updated_at\n1,a@x,2024-01-01\n2,b@x,2024-01-02\n3,c@x,2024-01-02\n",
        mtime_ns=NS,
    )
    stream = stream_of(
        tmp_path, 2, path="contacts.csv", primary_key="id", cursor_field="updated_at"
    )
    batches = list(stream.read(None))
    # mid-read states keep the old watermark and a pending one; the last one is complete
    assert batches[0].state["cursor"]["pending"]["watermark"] == "2024-01-02"  # type: ignore[index]
    assert batches[0].state["cursor"]["watermark"] is None  # type: ignore[index]
    state = orjson.loads(orjson.dumps(batches[-1].state))
    assert state["cursor"] == {"watermark": "2024-01-02", "boundary": ["2", "3"]}
    # the full export again, row 1 changed, row 4 added, rows 2 and 3 untouched
    write(
        path,
        b"id,email,updated_at\n1,a2@x,2024-01-05\n2,b@x,2024-01-02\n"
        b"3,c@x,2024-01-02\n4,d@x,2024-01-02\n",
        mtime_ns=NS + 1,
    )
    new, state = read(stream, state)
    assert sorted(ids(new)) == ["1", "4"]  # 4 sits on the old watermark, not in the boundary
    assert state["cursor"] == {"watermark": "2024-01-05", "boundary": ["1"]}


def test_cursor_state_is_committed_even_when_nothing_is_new(tmp_path: Path) -> None:
    write(tmp_path / "e.jsonl", b'{"id":1,"t":5}\n', mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl", primary_key="id", cursor_field="t")
    _, state = read(stream)
    batches = list(stream.read(state))
    assert len(batches) == 1
    assert batches[0].records == []
    assert batches[0].state["cursor"] == {"watermark": 5, "boundary": ["1"]}  # type: ignore[index]


def test_cursor_filtering_keeps_payloads_aligned(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", b'{"id":1,"t":1}\n{"id":2,"t":2}\n', mtime_ns=NS)
    stream = stream_of(tmp_path, path="e.jsonl", primary_key="id", cursor_field="t")
    _, state = read(stream)
    write(path, b'{"id":1,"t":1}\n{"id":3,"t":3}\n{"id":2,"t":2}\n', mtime_ns=NS + 1)
    [batch] = list(stream.read(state))
    assert batch.records == [{"id": 3, "t": 3}]
    assert batch.payloads == ['{"id":3,"t":3}']
