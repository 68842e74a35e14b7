"""Reading exports: layouts, formats, duplicates, bad lines, incremental runs."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
import structlog
from cintel import SourceError
from segment_helpers import (
    event,
    events,
    ids,
    ndjson,
    read_all,
    rudder_folder,
    segment_folder,
    stream_for,
    write,
)


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where the export lives: a local directory, or an fsspec memory:// bucket."""
    if request.param == "local":
        yield tmp_path / "export"
        return
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/segment-logs"
    yield url
    fs = fsspec.filesystem("memory")
    path = url.removeprefix("memory://")
    if fs.exists(path):
        fs.rm(path, recursive=True)


def test_segment_layout_in_day_order_then_name(root: Path | str, tmp_path: Path) -> None:
    # folders named by received day in epoch ms; their names sort by day only by luck
    write(root, f"src1/{segment_folder('2024-05-02')}/b.gz", ndjson(events(3, start=20)))
    write(root, f"src1/{segment_folder('2024-05-02')}/a.gz", ndjson(events(2, start=10)))
    write(root, f"src1/{segment_folder('2024-04-30')}/z.gz", ndjson(events(2, start=0)))
    write(root, f"src2/{segment_folder('2024-05-01')}/a.gz", ndjson(events(1, start=5)))
    write(root, "src1/.tmp-upload.gz", ndjson(events(1, start=99)))  # hidden: not read
    write(root, "src1/manifest.txt", b"not an export file")
    records, bad, state, _ = read_all(stream_for(root, tmp_path, layout="segment"))
    assert ids(records) == ["m-0", "m-1", "m-5", "m-10", "m-11", "m-20", "m-21", "m-22"]
    assert bad == []
    assert state is not None
    assert state["current"] is None
    seen = state["files"]["seen"]
    assert seen[f"src1/{segment_folder('2024-05-02')}/b.gz"]["day"] == "2024-05-02"
    assert seen[f"src1/{segment_folder('2024-05-02')}/b.gz"]["lines"] == 3


def test_rudderstack_layout_with_traits_in_context(root: Path | str, tmp_path: Path) -> None:
    for n, day in enumerate(["2024-12-31", "2025-01-01"]):
        batch = [
            event(
                "identify",
                day=day,
                n=n,
                userId=f"u{n}",
                context={"traits": {"email": f"u{n}@example.com", "firstName": "Ana"}},
            ),
            event("track", day=day, n=10 + n),
        ]
        name = f"{1735600000 + n}.src.{uuid.uuid4()}.json.gz"
        write(root, f"rudder-logs/src/{rudder_folder(day)}/{name}", ndjson(batch))
    stream = stream_for(f"{root}/rudder-logs", tmp_path, layout="rudderstack")
    records, _, state, _ = read_all(stream)
    # MM-DD-YYYY: 12-31-2024 sorts after 01-01-2025 by name, not by day
    assert ids(records) == ["m-0", "m-10", "m-1", "m-11"]
    assert state is not None
    assert {v["day"] for v in state["files"]["seen"].values()} == {"2024-12-31", "2025-01-01"}
    profiles = stream.to_canonical(records)["source_profiles"]
    assert [(p["profile_id"], p["email"], p["first_name"]) for p in profiles] == [
        ("u0", "u0@example.com", "Ana"),
        ("u1", "u1@example.com", "Ana"),
    ]


def test_auto_layout_and_plain_gzip_and_ndjson_files(root: Path | str, tmp_path: Path) -> None:
    write(root, "2024-05-01/part.jsonl", ndjson(events(2, start=0)))
    write(root, "dt=2024-05-02/part.ndjson.gz", ndjson(events(2, start=2)))
    write(root, f"{segment_folder('2024-05-03')}/part.gz", ndjson(events(2, start=4)))
    write(root, f"{rudder_folder('2024-05-04')}/part.json", ndjson(events(2, start=6)))
    # a gzip file without .gz in its name is recognised by its magic bytes
    path = write(root, "2024-05-05/part.json", b"")
    data = gzip.compress(ndjson(events(2, start=8)))
    if isinstance(root, Path):
        Path(path).write_bytes(data)
    else:
        fsspec.filesystem("memory").pipe(path.removeprefix("memory://"), data)
    records, bad, _, _ = read_all(stream_for(root, tmp_path))
    assert ids(records) == [f"m-{i}" for i in range(10)]
    assert bad == []


def test_a_single_file_and_a_relative_path(tmp_path: Path) -> None:
    write(tmp_path / "exports", "one.json.gz", ndjson(events(3)))
    records, _, _, _ = read_all(stream_for("exports/one.json.gz", tmp_path))
    assert len(records) == 3


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Info lines reach capture_logs even after a test configured cintel's logging at
    warning level (its filtering wrapper drops them before any processor)."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        yield
    finally:
        structlog.configure(wrapper_class=wrapper)


@pytest.mark.usefixtures("info_logs")
def test_duplicates_in_one_file_and_across_days_are_dropped(
    root: Path | str, tmp_path: Path
) -> None:
    day1 = events(5, day="2024-05-01")
    day2 = events(3, day="2024-05-02", start=10)
    write(root, "2024-05-01/a.gz", ndjson([*day1, day1[1], day1[1]]))
    write(root, "2024-05-02/a.gz", ndjson([day1[4], *day2, day1[0]]))
    with structlog.testing.capture_logs() as logs:
        records, _, _, _ = read_all(stream_for(root, tmp_path, batch_size=2, dedupe_window=100))
    assert ids(records) == ["m-0", "m-1", "m-2", "m-3", "m-4", "m-10", "m-11", "m-12"]
    assert any(e.get("duplicates") == 4 for e in logs)


def test_dedupe_window_zero_keeps_only_in_batch_dedupe(tmp_path: Path) -> None:
    day = events(3)
    write(tmp_path, "2024-05-01/a.gz", ndjson([day[0], day[0], day[1], day[2], day[0]]))
    records, _, _, _ = read_all(stream_for(tmp_path, tmp_path, batch_size=3, dedupe_window=0))
    # batch 1: m-0 m-0 m-1 -> m-0 m-1; batch 2: m-2 m-0 (merge on messageId covers it)
    assert ids(records) == ["m-0", "m-1", "m-2", "m-0"]


def test_malformed_lines_are_dead_letters_and_the_read_goes_on(
    root: Path | str, tmp_path: Path
) -> None:
    good = events(4)
    lines = [
        good[0],
        '{"type":"track","messageId":"cut-off","properties":{"revenue":',  # truncated
        good[1],
        "[1, 2]",
        b"\xff\xfe not utf-8",
        "",
        good[2],
        "null",
        good[3],
    ]
    write(root, "2024-05-01/a.jsonl.gz", ndjson(lines))
    records, bad, _, _ = read_all(stream_for(root, tmp_path))
    assert ids(records) == ["m-0", "m-1", "m-2", "m-3"]
    reasons = [b.reason for b in bad]
    assert reasons[0].startswith("invalid JSON at 2024-05-01/a.jsonl.gz:2: ")
    assert reasons[1] == "expected a JSON object at 2024-05-01/a.jsonl.gz:4, got array"
    assert reasons[2].startswith("invalid UTF-8 at 2024-05-01/a.jsonl.gz:5")
    assert reasons[3] == "expected a JSON object at 2024-05-01/a.jsonl.gz:8, got null"
    assert bad[0].payload.startswith('{"type":"track","messageId":"cut-off"')


def test_a_truncated_gzip_file_keeps_its_lines_and_dead_letters_the_rest(
    root: Path | str, tmp_path: Path
) -> None:
    data = gzip.compress(ndjson(events(200)))
    path = write(root, "2024-05-01/a.json", b"")
    cut = data[: len(data) * 2 // 3]
    if isinstance(root, Path):
        Path(path).write_bytes(cut)
    else:
        fsspec.filesystem("memory").pipe(path.removeprefix("memory://"), cut)
    write(root, "2024-05-02/b.jsonl", ndjson(events(2, start=1000)))
    records, bad, state, _ = read_all(stream_for(root, tmp_path, batch_size=50))
    assert 0 < len(records) - 2 < 200
    assert ids(records)[-2:] == ["m-1000", "m-1001"]
    [dead] = bad
    assert dead.reason.startswith("corrupt or truncated gzip file 2024-05-01/a.json after line")
    assert state is not None
    assert "2024-05-01/a.json" in state["files"]["seen"]  # read again only if replaced


def test_second_run_reads_nothing_and_a_new_day_is_read_alone(
    root: Path | str, tmp_path: Path
) -> None:
    write(root, f"src/{segment_folder('2024-05-01')}/a.gz", ndjson(events(5)))
    write(root, f"src/{segment_folder('2024-05-02')}/a.gz", ndjson(events(5, start=5)))
    stream = stream_for(root, tmp_path, layout="segment")
    _, _, state, _ = read_all(stream)
    again, _, state2, batches = read_all(stream, state)
    assert again == []
    assert len(batches) == 1  # the final state only
    assert state2 == state
    write(root, f"src/{segment_folder('2024-05-03')}/a.gz", ndjson(events(3, start=50)))
    new, _, _, _ = read_all(stream, state2)
    assert ids(new) == ["m-50", "m-51", "m-52"]


def test_late_files_in_recent_folders_are_read_old_folders_are_not_listed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "export"
    for day in range(1, 8):
        write(
            root, f"2024-05-0{day}/a.gz", ndjson(events(2, day=f"2024-05-0{day}", start=10 * day))
        )
    stream = stream_for(root, tmp_path, lookback_days=2)
    _, _, state, _ = read_all(stream)
    assert state is not None
    files = state["files"]
    # only the folders of the last lookback_days + 1 days are remembered
    assert sorted(files["seen"]) == ["2024-05-05/a.gz", "2024-05-06/a.gz", "2024-05-07/a.gz"]
    assert files["floor"] == ["2024-05-04", "2024-05-04/a.gz"]
    # a file arriving late in a recent folder is read
    write(root, "2024-05-06/late.gz", ndjson(events(1, start=600)))
    # one in a folder before the floor is not (that folder is not even listed)
    write(root, "2024-05-02/late.gz", ndjson(events(1, start=200)))
    listed: list[str] = []
    original = stream.fs.ls

    def spy(path: str, *args: object, **kwargs: object) -> object:
        listed.append(path)
        return original(path, *args, **kwargs)

    stream.fs.ls = spy  # type: ignore[method-assign]
    try:
        new, _, _, _ = read_all(stream, state)
    finally:
        del stream.fs.ls
    assert ids(new) == ["m-600"]
    assert not any(p.endswith("2024-05-02") or p.endswith("2024-05-03") for p in listed)


def test_start_date_skips_older_folders(tmp_path: Path) -> None:
    for day in (1, 2, 3):
        write(tmp_path / "x", f"2024-05-0{day}/a.gz", ndjson(events(1, start=day)))
    records, _, _, _ = read_all(stream_for("x", tmp_path, start_date="2024-05-02"))
    assert ids(records) == ["m-2", "m-3"]


@pytest.mark.parametrize("policy", ["reread", "skip", "fail"])
def test_a_file_that_changed_after_it_was_read(tmp_path: Path, policy: str) -> None:
    root = tmp_path / "export"
    write(root, "2024-05-01/a.gz", ndjson(events(3)))
    stream = stream_for(root, tmp_path, changed_files=policy)
    _, _, state, _ = read_all(stream)
    write(root, "2024-05-01/a.gz", ndjson(events(4)))  # rewritten with one more event
    with structlog.testing.capture_logs() as logs:
        if policy == "fail":
            with pytest.raises(SourceError, match=r"2024-05-01/a.gz changed since it was read"):
                read_all(stream, state)
            return
        records, _, _, _ = read_all(stream, state)
    assert len(records) == (4 if policy == "reread" else 0)
    assert any(e["log_level"] == "warning" for e in logs)


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    stream = stream_for("nowhere", tmp_path)
    with pytest.raises(SourceError, match=r"web.events: nowhere not found"):
        read_all(stream)


def test_a_state_from_elsewhere_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "x", "a.gz", ndjson(events(1)))
    with pytest.raises(SourceError, match=r"reset it with `cintel state reset`"):
        read_all(stream_for("x", tmp_path), {"files": {"seen": {"a.gz": {"size": "?"}}}})


def test_undated_files_are_tracked_by_name_up_to_a_bound(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    for n in range(5):
        write(root, f"part-{n}.jsonl", ndjson(events(1, start=n)))
    stream = stream_for(root, tmp_path, max_tracked_files=3)
    _, _, state, _ = read_all(stream)
    assert state is not None
    assert sorted(state["files"]["seen"]) == ["part-2.jsonl", "part-3.jsonl", "part-4.jsonl"]
    assert state["files"]["undated_floor"] == "part-1.jsonl"
    write(root, "part-5.jsonl", ndjson(events(1, start=5)))
    write(root, "part-0a.jsonl", ndjson(events(1, start=50)))  # sorts below the floor
    new, _, _, _ = read_all(stream, state)
    assert ids(new) == ["m-5"]


def test_a_dated_folder_as_the_path_keeps_its_day(tmp_path: Path) -> None:
    folder = segment_folder("2024-05-02")
    write(tmp_path / "logs", f"{folder}/a.gz", ndjson(events(2)))
    _, _, state, _ = read_all(stream_for(f"logs/{folder}", tmp_path))
    assert state is not None
    assert state["files"]["seen"]["a.gz"]["day"] == "2024-05-02"


def test_excluded_files_are_not_read(tmp_path: Path) -> None:
    write(tmp_path / "x", "2024-05-01/a.gz", ndjson(events(2)))
    write(tmp_path / "x", "2024-05-01/manifest.json", b'{\n  "files": 1\n}\n')
    write(tmp_path / "x", "test-src/2024-05-01/a.gz", ndjson(events(2, start=50)))
    stream = stream_for("x", tmp_path, exclude=["manifest*.json", "test-src/*"])
    records, bad, _, _ = read_all(stream)
    assert (ids(records), bad) == (["m-0", "m-1"], [])
