"""``PartitionedStream``: one stream read as a child stream per partition.

Many APIs list records under a parent: members per audience (Mailchimp),
responses per form (Typeform), activity per campaign. The stream is one table;
each parent is a *partition* with its own incremental state::

    class Members(PartitionedStream):
        name = "members"
        primary_key = ("list_id", "id")
        cursor_field = "last_changed"

        def partitions(self):
            for lst in read_lists(client):             # or the configured ids
                yield Partition(lst["id"], lst)

        def child(self, partition):
            return ListMembers(client, partition.key)  # any Stream, e.g. an HttpStream

State is ``{"partitions": {key: <the child's state>}, "done": [...]}``: each
batch carries every partition's state, so a killed read resumes inside the
partition it stopped in, and skips the partitions it had finished (``done``,
cleared when the read completes). Partitions no longer listed lose their state
at the end of a read (``prune_state``), so state stays as small as the listing.
"""

from __future__ import annotations

import copy
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cintel.source import RecordBatch, Stream

__all__ = ["Partition", "PartitionedStream"]


@dataclass(frozen=True, slots=True)
class Partition:
    """One parent of a :class:`PartitionedStream`: a stable ``key`` and what the child needs."""

    key: str
    value: Any = None


class PartitionedStream(Stream):
    """A stream made of one child stream per partition, each with its own state.

    Subclasses implement :meth:`partitions` and :meth:`child`, and set ``name``,
    ``primary_key`` (which should include the partition key: one member is in
    several lists) and ``cursor_field`` like any stream. Partitions are read one
    after another, in the order listed; a key listed twice is read once.
    """

    #: Drop the state of partitions that are no longer listed (a deleted list) at the end.
    prune_state: bool = True

    @abstractmethod
    def partitions(self) -> Iterable[Partition]:
        """The partitions to read, listed afresh on each read."""

    @abstractmethod
    def child(self, partition: Partition) -> Stream:
        """A new stream reading one partition; it gets this stream's ``batch_size``."""

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        state = dict(state or {})
        saved: dict[str, Any] = dict(state.get("partitions") or {})
        done: list[str] = [str(k) for k in state.get("done") or ()]
        listed: list[str] = []
        seen: set[str] = set()
        for partition in self.partitions():
            key = partition.key
            if key in seen:
                continue
            seen.add(key)
            listed.append(key)
            if key in done:
                continue  # finished by the read this one resumes
            stream = self.child(partition)
            stream.batch_size = self.batch_size
            held: RecordBatch | None = None
            for batch in stream.read(saved.get(key)):
                if held is not None:
                    yield held
                if batch.state is not None:
                    # a copy: the batch is held until the next one, and a child may
                    # keep mutating its state objects after a yield (the engine copies
                    # state only when it takes a batch)
                    saved[key] = copy.deepcopy(dict(batch.state))
                held = RecordBatch(
                    batch.records,
                    state={"partitions": dict(saved), "done": list(done)},
                    payloads=batch.payloads,
                    bad=batch.bad,
                )
            done.append(key)
            # the partition's last batch also says it is finished
            last = held or RecordBatch()
            last.state = {"partitions": dict(saved), "done": list(done)}
            yield last
        kept = {k: saved[k] for k in listed if k in saved} if self.prune_state else saved
        yield RecordBatch(state={"partitions": kept})
