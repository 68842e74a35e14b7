"""Resuming from the state of any batch yields exactly the rest: no event lost, none twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import orjson
import pytest
from cintel import RecordBatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segment_helpers import event, ndjson, segment_folder, stream_for, write


def make_export(root: Path | str) -> int:
    """Gzip and plain files over three days and two sources, with bad and empty lines.

    Returns the number of non-empty lines (records plus bad lines).
    """
    n = 0
    lines = 0
    layout = [
        ("src1", "2024-05-01", "a.gz", 7),
        ("src1", "2024-05-01", "b.json", 0),
        ("src2", "2024-05-01", "a.gz", 5),
        ("src1", "2024-05-02", "a.jsonl.gz", 13),
        ("src1", "2024-05-03", "a.ndjson", 4),
        ("src2", "2024-05-03", "c.gz", 9),
    ]
    for source, day, name, count in layout:
        items: list[Any] = []
        for _ in range(count):
            items.append(event("track" if n % 2 else "page", day=day, n=n))
            n += 1
            lines += 1
            if n % 4 == 0:
                items.append("")  # empty lines do not count
            if n % 5 == 0:
                items.append("{broken")
                lines += 1
        write(root, f"{source}/{segment_folder(day)}/{name}", ndjson(items) if items else b"")
    return lines


def items(batches: list[RecordBatch]) -> tuple[list[str], list[str]]:
    """messageIds and bad payloads, each in reading order."""
    return (
        [r["messageId"] for b in batches for r in b.records],
        [x.payload for b in batches for x in b.bad],
    )


@pytest.fixture(scope="module", params=["local", "memory"])
def export(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path | str, Path, int]]:
    base = tmp_path_factory.mktemp("resume")
    if request.param == "local":
        yield base / "export", base, make_export(base / "export")
        return
    url = f"memory://resume-{uuid.uuid4().hex[:8]}/segment-logs"
    lines = make_export(url)
    yield url, base, lines
    fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch_size=st.integers(1, 12), cut=st.integers(0, 200), resume_size=st.integers(1, 12))
def test_resuming_from_any_batch_yields_exactly_the_rest(
    export: tuple[Path | str, Path, int], batch_size: int, cut: int, resume_size: int
) -> None:
    root, base, lines = export
    batches = list(stream_for(root, base, batch_size, layout="segment").read(None))
    everything = items(batches)
    # every non-empty line once, as a record or a bad record
    assert len(everything[0]) + len(everything[1]) == lines
    assert len(set(everything[0])) == len(everything[0])
    k = cut % len(batches)
    # the engine commits batch k's state as JSON; a crash follows
    state = orjson.loads(orjson.dumps(batches[k].state))
    rest = list(stream_for(root, base, resume_size, layout="segment").read(state))
    assert items(rest) == items(batches[k + 1 :])
    done = items(batches[: k + 1])
    assert (done[0] + items(rest)[0], done[1] + items(rest)[1]) == everything
    assert rest[-1].state is not None
    assert rest[-1].state["current"] is None


def test_a_file_rewritten_while_being_read_is_read_again_from_its_start(tmp_path: Path) -> None:
    root = tmp_path / "export"
    write(root, "2024-05-01/a.gz", ndjson([event("page", n=i) for i in range(10)]))
    batches = list(stream_for(root, tmp_path, 4).read(None))
    state = orjson.loads(orjson.dumps(batches[0].state))
    assert state["current"]["line"] == 4
    write(root, "2024-05-01/a.gz", ndjson([event("page", n=i) for i in range(12)]))
    rest = list(stream_for(root, tmp_path, 100).read(state))
    assert [r["messageId"] for b in rest for r in b.records] == [f"m-{i}" for i in range(12)]


class FlakyFile:
    """A file object whose reads fail with a transient error at chosen byte offsets."""

    def __init__(self, inner: Any, fail_at: set[int], log: list[int]) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def readinto(self, buffer: Any) -> int:
        position = self.inner.tell()
        if position in self.fail_at:
            self.fail_at.discard(position)
            self.log.append(position)
            raise ConnectionResetError(104, "Connection reset by peer")
        data = self.inner.read(min(len(buffer), 64))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def __enter__(self) -> FlakyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def test_a_connection_reset_mid_file_reopens_it_where_the_last_line_ended(
    tmp_path: Path,
) -> None:
    url = f"memory://flaky-{uuid.uuid4().hex[:8]}/logs"
    data = ndjson([event("track", n=i) for i in range(40)])
    write(url, "2024-05-01/a.jsonl", data)
    stream = stream_for(url, tmp_path, 7)
    fs = stream.fs
    failures: list[int] = []
    fail_at = {64 * 3, 64 * 10, 64 * 11, 64 * 30}
    original = fs.open

    def flaky_open(path: str, mode: str = "rb", **kwargs: Any) -> Any:
        return FlakyFile(original(path, mode, **kwargs), fail_at, failures)

    fs.open = flaky_open
    try:
        batches = list(stream.read(None))
    finally:
        del fs.open
        fs.rm(url.removeprefix("memory://"), recursive=True)
    assert failures  # the faults happened
    assert [r["messageId"] for b in batches for r in b.records] == [f"m-{i}" for i in range(40)]
