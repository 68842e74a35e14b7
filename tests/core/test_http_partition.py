"""PartitionedStream: one child stream per partition, state per partition, resumable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from cintel import RecordBatch, Stream
from cintel.http import Partition, PartitionedStream
from cintel.testing import read_stream


class Numbers(Stream):
    """A child: records ``{part, n}`` from ``state["next"]`` on, ``per_batch`` a batch."""

    name = "numbers"
    primary_key = ("part", "n")
    cursor_field = "n"

    def __init__(self, part: str, total: int, per_batch: int = 2, fail_at: int | None = None):
        self.part = part
        self.total = total
        self.per_batch = per_batch
        self.fail_at = fail_at

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        start = int((state or {}).get("next", 0))
        for first in range(start, self.total, self.per_batch):
            if self.fail_at is not None and first >= self.fail_at:
                raise RuntimeError("connection lost")
            last = min(first + self.per_batch, self.total)
            records = [{"part": self.part, "n": n} for n in range(first, last)]
            yield RecordBatch(records, state={"next": last})
        yield RecordBatch(state={"next": max(start, self.total)})


class ByPart(PartitionedStream):
    name = "numbers"
    primary_key = ("part", "n")
    cursor_field = "n"

    def __init__(self, sizes: dict[str, int], fail: tuple[str, int] | None = None) -> None:
        self.sizes = sizes
        self.fail = fail
        self.children: list[str] = []

    def partitions(self) -> Iterator[Partition]:
        for key in self.sizes:
            yield Partition(key, self.sizes[key])
        yield Partition("a", 0)  # listed twice: read once

    def child(self, partition: Partition) -> Stream:
        self.children.append(partition.key)
        fail_at = self.fail[1] if self.fail and self.fail[0] == partition.key else None
        return Numbers(partition.key, int(partition.value), fail_at=fail_at)


def keys(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["part"], r["n"]) for r in records]


def test_reads_every_partition_once_with_its_own_state() -> None:
    stream = ByPart({"a": 3, "b": 2, "c": 0})
    records, state, _ = read_stream(stream)
    assert keys(records) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert stream.children == ["a", "b", "c"]
    assert state == {"partitions": {"a": {"next": 3}, "b": {"next": 2}, "c": {"next": 0}}}


def test_each_batch_carries_every_partition_state_and_finished_ones() -> None:
    stream = ByPart({"a": 3, "b": 2})
    batches = list(stream.read(None))
    states = [b.state for b in batches]
    assert states[0] == {"partitions": {"a": {"next": 2}}, "done": []}
    assert states[1] == {"partitions": {"a": {"next": 3}}, "done": []}
    # the child's last batch (here its final state) also says the partition is done:
    # no extra transaction per partition
    assert states[2] == {"partitions": {"a": {"next": 3}}, "done": ["a"]}
    assert len(batches) == 6
    assert sum(len(b.records) for b in batches) == 5
    assert states[-1] == {"partitions": {"a": {"next": 3}, "b": {"next": 2}}}


def test_batch_size_reaches_the_child() -> None:
    seen: list[int] = []

    class Spy(ByPart):
        def child(self, partition: Partition) -> Stream:
            child = super().child(partition)
            original = child.read

            def read(state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
                seen.append(child.batch_size)
                return original(state)

            child.read = read  # type: ignore[method-assign]
            return child

    read_stream(Spy({"a": 1}), batch_size=17)
    assert seen == [17]


def test_a_killed_read_resumes_in_its_partition_and_skips_finished_ones() -> None:
    committed: Mapping[str, Any] | None = None
    loaded: list[tuple[str, int]] = []

    def sync() -> None:
        nonlocal committed
        for batch in ByPart({"a": 3, "b": 6, "c": 1}, fail=("b", 4)).read(None):
            loaded.extend(keys(batch.records))
            committed = batch.state

    with pytest.raises(RuntimeError, match="connection lost"):
        sync()
    # a child's batch is handed on when the next one arrives: b's second batch was not
    assert committed == {"partitions": {"a": {"next": 3}, "b": {"next": 2}}, "done": ["a"]}
    resumed = ByPart({"a": 3, "b": 6, "c": 1})
    records, state, _ = read_stream(resumed, committed)
    assert resumed.children == ["b", "c"]  # a is not listed again for reading
    assert sorted(loaded + keys(records)) == sorted(
        [("a", n) for n in range(3)] + [("b", n) for n in range(6)] + [("c", 0)]
    )
    assert len(loaded + keys(records)) == 10  # nothing twice
    assert state == {"partitions": {"a": {"next": 3}, "b": {"next": 6}, "c": {"next": 1}}}


def test_partitions_no_longer_listed_lose_their_state_unless_kept() -> None:
    old = {"partitions": {"gone": {"next": 9}, "a": {"next": 1}}}
    _, state, _ = read_stream(ByPart({"a": 2}), old)
    assert state == {"partitions": {"a": {"next": 2}}}

    class Keep(ByPart):
        prune_state = False

    _, state, _ = read_stream(Keep({"a": 2}), old)
    assert state == {"partitions": {"gone": {"next": 9}, "a": {"next": 2}}}


def test_no_partitions_is_an_empty_read_with_a_final_state() -> None:
    batches = list(ByPart({}).read(None))
    # "a" is still listed once by the fixture's duplicate; an empty child
    assert [b.records for b in batches] == [[], []]
    assert batches[-1].state == {"partitions": {"a": {"next": 0}}}


def test_a_child_mutating_its_state_after_a_yield_does_not_change_a_held_batch() -> None:
    class Mutating(Stream):
        name = "m"

        def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
            seen: dict[str, int] = {}
            for n in range(3):
                seen[f"k{n}"] = n
                yield RecordBatch([{"n": n}], state={"seen": seen})  # the same dict each time

    class Parent(PartitionedStream):
        name = "m"

        def partitions(self) -> Iterator[Partition]:
            yield Partition("p")

        def child(self, partition: Partition) -> Stream:
            return Mutating()

    states = [b.state for b in Parent().read(None)]
    assert states[0] == {"partitions": {"p": {"seen": {"k0": 0}}}, "done": []}
    assert states[1] == {"partitions": {"p": {"seen": {"k0": 0, "k1": 1}}}, "done": []}
