"""The sync engine end to end on the in-memory connector and the DuckDB sink."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cintel.errors import ConfigError, PipelineLockedError
from cintel.pipeline import Pipeline, ProgressEvent
from cintel.plugins import Plugins, module_plugin

MakePipeline = Callable[..., Pipeline]


def mem(**config: Any) -> dict[str, Any]:
    return {"mem": {"connector": "memory", "config": config}}


def rows(pipeline: Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sink() as sink:
        return sink.query(sql)  # type: ignore[attr-defined, no-any-return]


def payloads(pipeline: Pipeline, table: str = "raw_mem__items") -> list[dict[str, Any]]:
    return [
        orjson.loads(p)
        for (p,) in rows(pipeline, f"SELECT _cintel_payload FROM {table} ORDER BY _cintel_key")
    ]


def test_merge_upserts_by_primary_key_and_second_run_syncs_nothing(
    make_pipeline: MakePipeline,
) -> None:
    p = make_pipeline(mem(count=95, batch_size=10))
    first = p.run().raise_for_status()
    assert first.records == 95
    assert first.streams["mem.items"].batches == 10
    assert rows(p, "SELECT count(*), count(DISTINCT id) FROM raw_mem__items") == [(95, 95)]
    again = p.run().raise_for_status()
    assert again.records == 0
    assert rows(p, "SELECT count(*) FROM raw_mem__items") == [(95,)]


def test_merge_replaces_older_versions(make_pipeline: MakePipeline) -> None:
    make_pipeline(mem(count=30, version=1)).run().raise_for_status()
    p2 = make_pipeline(mem(count=30, version=2))
    p2.reset_state()
    p2.run().raise_for_status()
    got = payloads(p2)
    assert len(got) == 30
    assert {r["version"] for r in got} == {2}


def test_append_keeps_every_version(make_pipeline: MakePipeline) -> None:
    make_pipeline(mem(count=20, disposition="append")).run().raise_for_status()
    p2 = make_pipeline(mem(count=20, disposition="append", version=2))
    p2.reset_state()
    p2.run().raise_for_status()
    versions = [r["version"] for r in payloads(p2)]
    assert sorted(versions) == [1] * 20 + [2] * 20


def test_replace_swaps_the_whole_table(make_pipeline: MakePipeline) -> None:
    make_pipeline(mem(count=50, disposition="replace")).run().raise_for_status()
    p2 = make_pipeline(mem(count=7, disposition="replace", version=3))
    result = p2.run().raise_for_status()
    assert result.records == 7
    got = payloads(p2)
    assert sorted(r["id"] for r in got) == list(range(7))
    assert {r["version"] for r in got} == {3}


def test_replace_with_empty_source_empties_the_table(make_pipeline: MakePipeline) -> None:
    make_pipeline(mem(count=5, disposition="replace")).run().raise_for_status()
    p2 = make_pipeline(mem(count=0, disposition="replace"))
    p2.run().raise_for_status()
    assert rows(p2, "SELECT count(*) FROM raw_mem__items") == [(0,)]


def test_full_refresh_ignores_state_and_rebuilds(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=40))
    p.run().raise_for_status()
    result = p.run(full_refresh=True).raise_for_status()
    assert result.records == 40
    assert rows(p, "SELECT count(*) FROM raw_mem__items") == [(40,)]


def test_merge_without_primary_key_is_a_config_error(make_pipeline: MakePipeline) -> None:
    with pytest.raises(ConfigError, match="merge needs a primary_key"):
        make_pipeline(mem(primary_key=[], disposition="merge"))


def test_raw_table_promotes_keys_and_metadata(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=3))
    result = p.run().raise_for_status()
    cols = rows(
        p,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'raw_mem__items' ORDER BY ordinal_position",
    )
    assert [c for (c,) in cols] == [
        "id",
        "seq",
        "_cintel_key",
        "_cintel_payload",
        "_cintel_source",
        "_cintel_stream",
        "_cintel_run_id",
        "_cintel_extracted_at",
    ]
    meta = rows(
        p, "SELECT DISTINCT _cintel_source, _cintel_stream, _cintel_run_id FROM raw_mem__items"
    )
    assert meta == [("mem", "items", result.run_id)]


def test_new_fields_and_type_changes_never_break_a_run(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=10))
    p.run().raise_for_status()
    # the primary key turns from integers into strings: the column widens to text
    p2 = make_pipeline(mem(count=10, primary_key=["name"]))
    p2.reset_state()
    p2.run().raise_for_status()
    cols = dict(
        rows(
            p2,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'raw_mem__items'",
        )
    )
    assert cols["name"] == "VARCHAR"
    assert rows(p2, "SELECT count(*) FROM raw_mem__items WHERE name IS NOT NULL") == [(10,)]


def test_bad_records_go_to_dead_letter_with_reason_and_payload(
    make_pipeline: MakePipeline,
) -> None:
    p = make_pipeline(
        mem(count=100, bad_every=50, missing_pk_every=25), run={"max_bad_records": 10}
    )
    result = p.run().raise_for_status()
    letters = list(p.dead_letters())
    reasons = sorted(r.reason for r in letters)
    # 2 unparseable (49, 99) and 24/74 lose their id
    assert len(letters) == 4
    assert result.bad == 4
    assert result.records == 96
    assert reasons.count("missing primary key field 'id'") == 2
    assert {r.payload for r in letters if r.reason.startswith("unparseable")} == {
        "garbage line 49",
        "garbage line 99",
    }
    missing = [json.loads(r.payload) for r in letters if "primary key" in r.reason]
    assert sorted(m["seq"] for m in missing) == [24, 74]
    assert all(r.run_id == result.run_id and r.source == "mem" for r in letters)


def test_error_budget_exceeded_fails_the_run(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=200, bad_every=10), run={"max_bad_records": "5%"})
    result = p.run()
    assert result.status == "failed"
    assert result.streams["mem.items"].status == "failed"
    assert "error budget" in (result.error or "")
    assert "max_bad_records=5%" in (result.error or "")


def test_error_budget_by_count_stops_the_stream_early(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=10_000, batch_size=100, bad_every=2), run={"max_bad_records": 3})
    result = p.run()
    assert result.status == "failed"
    # it stopped after the first batch went over, not after reading everything
    assert result.streams["mem.items"].records < 1000


def test_replay_lands_fixed_records_and_keeps_still_bad_ones(
    make_pipeline: MakePipeline, plugins: Plugins
) -> None:
    p = make_pipeline(mem(count=30, missing_pk_every=10), run={"max_bad_records": "50%"})
    p.run().raise_for_status()
    assert len(list(p.dead_letters())) == 3
    # "the fix": the stream now takes `seq` as its primary key, so the records land
    fixed = make_pipeline(mem(count=30, primary_key=["seq"]), run={"max_bad_records": "50%"})
    outcome = fixed.replay_dead_letters()
    assert (outcome.landed, outcome.still_bad) == (3, 0)
    assert list(fixed.dead_letters()) == []
    assert rows(fixed, "SELECT count(*) FROM raw_mem__items WHERE seq IN (9, 19, 29)") == [(3,)]


def test_replay_without_a_fix_keeps_rows_and_counts_attempts(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=20, missing_pk_every=10), run={"max_bad_records": "50%"})
    p.run().raise_for_status()
    outcome = p.replay_dead_letters()
    assert (outcome.landed, outcome.still_bad) == (0, 2)
    letters = list(p.dead_letters())
    assert len(letters) == 2
    assert {r.replay_attempts for r in letters} == {1}


def test_runs_table_records_status_counts_and_error(make_pipeline: MakePipeline) -> None:
    ok = make_pipeline(mem(count=12)).run()
    bad = make_pipeline(mem(count=50, fail_at_batch=2)).run(full_refresh=True)
    runs = make_pipeline(mem()).runs()
    assert [r.run_id for r in runs] == [bad.run_id, ok.run_id]
    assert runs[0].status == "failed"
    assert "source went away" in (runs[0].error or "")
    assert runs[1].status == "succeeded"
    assert runs[1].streams["mem.items"]["records"] == 12
    assert runs[1].finished_at is not None
    assert runs[1].finished_at >= runs[1].started_at


def test_failed_stream_keeps_committed_batches_and_resumes(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=100, fail_at_batch=4))
    result = p.run()
    assert result.status == "failed"
    assert result.streams["mem.items"].records == 40
    # the next run picks up after the 4 committed batches (the failure was transient)
    p2 = make_pipeline(mem(count=100))
    again = p2.run().raise_for_status()
    assert again.records == 60
    assert rows(p2, "SELECT count(*), count(DISTINCT id) FROM raw_mem__items") == [(100, 100)]


def test_one_failed_stream_does_not_stop_the_others(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(
        {
            "good": {"connector": "memory", "config": {"count": 30}},
            "bad": {"connector": "memory", "config": {"count": 30, "fail_at_batch": 0}},
        }
    )
    result = p.run()
    assert result.status == "failed"
    assert result.streams["good.items"].status == "succeeded"
    assert result.streams["good.items"].records == 30
    assert result.streams["bad.items"].status == "failed"
    assert result.error is not None
    assert result.error.startswith("bad.items:")


def test_stream_selection(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=5, streams=["a", "b"]))
    result = p.run(streams=["mem.b"]).raise_for_status()
    assert list(result.streams) == ["mem.b"]
    with pytest.raises(ConfigError, match="no stream named 'zzz'"):
        p.run(streams=["zzz"])


def test_concurrent_streams_all_land(make_pipeline: MakePipeline) -> None:
    names = [f"s{i}" for i in range(6)]
    p = make_pipeline(
        mem(count=500, batch_size=37, streams=names), run={"concurrency": 3, "queue_size": 2}
    )
    result = p.run().raise_for_status()
    assert result.records == 3000
    for n in names:
        assert rows(p, f"SELECT count(DISTINCT id) FROM raw_mem__{n}") == [(500,)]


def test_two_pipelines_in_one_process(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    a = make_pipeline(
        mem(count=10), name="alpha", destination={"sink": "duckdb", "config": {"path": "a.duckdb"}}
    )
    b = make_pipeline(
        mem(count=20), name="beta", destination={"sink": "duckdb", "config": {"path": "b.duckdb"}}
    )

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(a.arun(), b.arun())

    ra, rb = asyncio.run(both())
    assert (ra.records, rb.records) == (10, 20)
    assert ra.pipeline == "alpha"
    assert rb.pipeline == "beta"
    assert rows(a, "SELECT count(*) FROM raw_mem__items") == [(10,)]
    assert rows(b, "SELECT count(*) FROM raw_mem__items") == [(20,)]


def test_state_is_small_and_resettable(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=1000, batch_size=10))
    p.run().raise_for_status()
    state = p.state()
    assert state["mem.items"]["state"] == {"next": 1000}
    assert state["mem.items"]["complete"] is True
    assert p.reset_state("mem.items") == 1
    assert p.state() == {}


def test_hooks_are_called_per_batch_not_per_record(
    make_pipeline: MakePipeline, plugins_with: Callable[..., Plugins]
) -> None:
    calls: list[tuple[str, Any]] = []

    def started(run: Any) -> None:
        calls.append(("started", run.pipeline))

    def committed(run: Any, batch: Any) -> None:
        calls.append(("batch", batch.records))

    def finished(run: Any, result: Any) -> None:
        calls.append(("finished", result.status))

    observer = module_plugin(
        "observer",
        cintel_run_started=started,
        cintel_batch_committed=committed,
        cintel_run_finished=finished,
    )
    p = make_pipeline(mem(count=45, batch_size=10))
    p.plugins = plugins_with(observer)
    p.run().raise_for_status()
    assert calls[0] == ("started", "test")
    assert [c for c in calls if c[0] == "batch"] == [("batch", 10)] * 4 + [("batch", 5)]
    assert calls[-1] == ("finished", "succeeded")


def test_progress_events(make_pipeline: MakePipeline) -> None:
    events: list[ProgressEvent] = []
    make_pipeline(mem(count=25)).run(progress=events.append).raise_for_status()
    assert events[0].kind == "started"
    assert [e.records for e in events if e.kind == "batch"] == [10, 20, 25]
    assert events[-1].kind == "finished"
    assert events[-1].status == "succeeded"


def test_second_sync_of_a_locked_pipeline_is_refused(make_pipeline: MakePipeline) -> None:
    p = make_pipeline(mem(count=5))
    with p.sink().lock("test"), pytest.raises(PipelineLockedError, match="test"):
        p.run()
    assert p.run().ok  # released


def test_secrets_never_reach_errors_state_dead_letters_or_runs(
    make_pipeline: MakePipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    p = make_pipeline(
        mem(count=40, token=secret, leak_token_in_error=True, fail_at_batch=2, bad_every=7),
        run={"max_bad_records": "50%"},
    )
    assert secret not in repr(p.connectors["mem"].config)
    result = p.run()
    assert result.status == "failed"
    assert secret not in (result.error or "")
    assert "***" in (result.error or "")
    dump = json.dumps(
        {
            "state": p.state(),
            "runs": [r.error for r in p.runs()],
            "letters": [(d.reason, d.payload) for d in p.dead_letters()],
        }
    )
    assert secret not in dump
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    with p.sink() as sink:
        for table in sink.table_names():
            text = json.dumps(sink.query(f"SELECT * FROM {table}"), default=str)  # type: ignore[attr-defined]
            assert secret not in text, table


def test_switch_interval_is_shortened_during_a_run_and_restored(
    make_pipeline: MakePipeline, plugins_with: Callable[..., Plugins]
) -> None:
    import sys

    seen: list[float] = []

    def committed(run: Any, batch: Any) -> None:
        seen.append(sys.getswitchinterval())

    before = sys.getswitchinterval()
    p = make_pipeline(mem(count=20), run={"switch_interval_us": 250})
    p.plugins = plugins_with(module_plugin("probe", cintel_batch_committed=committed))
    p.run().raise_for_status()
    assert seen
    assert set(seen) == {0.00025}
    assert sys.getswitchinterval() == before
    off = make_pipeline(mem(count=20), run={"switch_interval_us": 0})
    off.plugins = plugins_with(module_plugin("probe", cintel_batch_committed=committed))
    seen.clear()
    off.reset_state()
    off.run().raise_for_status()
    assert set(seen) == {before}
