"""Resuming from the state of any batch yields exactly the rest: no line lost, none twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cintel import ConnectorContext, RecordBatch
from cintel_files import FilesConnector, FileStream
from files_helpers import NS, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def make_jsonl_files(base: Path) -> int:
    """Plain and gzip files of different sizes, with edge cases; returns the line count."""
    n = 0
    lines = 0
    for f, name in enumerate(["a.jsonl", "b.jsonl.gz", "c.jsonl", "d.jsonl.gz", "e.jsonl"]):
        count = [7, 13, 0, 4, 9][f]
        parts = [b"\xef\xbb\xbf"] if f == 0 else []
        for _ in range(count):
            parts.append(
                orjson.dumps({"id": n, "pad": "é" * (n % 5)}) + (b"\r\n" if n % 3 else b"\n")
            )
            n += 1
            lines += 1
            if n % 4 == 0:
                parts.append(b"\n")  # empty lines do not count
            if n % 5 == 0:
                parts.append(b"{broken\n")
                lines += 1
        data = b"".join(parts)
        if f == 4:
            data = data.rstrip(b"\r\n")  # no final newline
        write(base / "in" / name, data, NS + f)
    return lines


def make_csv_files(base: Path) -> int:
    n = 0
    lines = 0
    for f, name in enumerate(["a.csv", "b.csv.gz", "c.csv", "d.csv.gz"]):
        parts = [b"\xef\xbb\xbfid,text\r\n" if f == 0 else b"id,text\n"]
        for _ in range([6, 11, 1, 8][f]):
            text = f'"line\r\nbreak {n}"' if n % 3 == 0 else f"t{n}"
            parts.append(f"{n},{text}\n".encode())
            n += 1
            lines += 1
            if n % 4 == 0:
                parts.append(f"{n}-bad,x,y\n".encode())
                lines += 1
        write(base / "in" / name, b"".join(parts), NS + f)
    return lines


def stream_of(base: Path, pattern: str, batch_size: int) -> FileStream:
    cfg = FilesConnector.Config.model_validate(
        {"streams": [{"name": "s", "path": pattern}]}, context={"base_dir": base}
    )
    [stream] = FilesConnector(cfg, context=ConnectorContext(source="src")).streams()
    assert isinstance(stream, FileStream)
    stream.batch_size = batch_size
    return stream


def items(batches: list[RecordBatch]) -> tuple[list[Any], list[str]]:
    """Record ids and bad payloads, each in reading order (a batch keeps them apart)."""
    return (
        [r["id"] for b in batches for r in b.records],
        [x.payload for b in batches for x in b.bad],
    )


def joined(*parts: tuple[list[Any], list[str]]) -> tuple[list[Any], list[str]]:
    return [i for p in parts for i in p[0]], [x for p in parts for x in p[1]]


@pytest.fixture(scope="module", params=["jsonl", "csv"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "jsonl":
        return base, "in/*.jsonl*", make_jsonl_files(base)
    return base, "in/*.csv*", make_csv_files(base)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch_size=st.integers(1, 12), cut=st.integers(0, 200), resume_size=st.integers(1, 12))
def test_resuming_from_any_batch_yields_exactly_the_rest(
    dataset: Any, batch_size: int, cut: int, resume_size: int
) -> None:
    base, pattern, lines = dataset
    batches = list(stream_of(base, pattern, batch_size).read(None))
    everything = items(batches)
    # every non-empty line once, as a record or a bad record
    assert len(everything[0]) + len(everything[1]) == lines
    assert everything[0] == sorted(set(everything[0]), key=int)
    k = cut % len(batches)
    # the engine commits batch k's state as JSON; a crash follows
    state = orjson.loads(orjson.dumps(batches[k].state))
    rest = list(stream_of(base, pattern, resume_size).read(state))
    assert items(rest) == items(batches[k + 1 :])
    assert joined(items(batches[: k + 1]), items(rest)) == everything
    assert rest[-1].state is not None
    assert rest[-1].state["current"] is None
