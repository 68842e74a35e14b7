"""The connector in real syncs: DuckDB store, dead letters, merges, and SIGKILLed processes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cintel.config import PipelineConfig
from cintel.pipeline import Pipeline
from conftest import install_dist, run_cli, write_yaml
from segment_helpers import event, events, ndjson, segment_folder, write


def sync(base: Path, **config: Any) -> Any:
    pipeline = Pipeline(
        PipelineConfig.model_validate(
            {
                "name": "web",
                "sources": {
                    "web": {"connector": "segment", "config": {"path": "export", **config}}
                },
                "destination": {"sink": "duckdb", "config": {"path": "store.duckdb"}},
                "run": {"batch_size": 10, "max_bad_records": 5},
                "base_dir": base,
            }
        )
    )
    return pipeline.run()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_sync_loads_dedupes_dead_letters_and_maps(tmp_path: Path) -> None:
    root = tmp_path / "export"
    day1 = events(20, day="2024-05-01")
    order = event(
        "track",
        day="2024-05-01",
        userId="u-1",
        event="Order Completed",
        properties={"order_id": "o-1", "revenue": 42.0},
    )
    identify = event("identify", day="2024-05-01", userId="u-1", traits={"email": "A@Example.com"})
    write(root, f"s/{segment_folder('2024-05-01')}/a.gz", ndjson([*day1, order, identify, day1[2]]))
    write(
        root,
        f"s/{segment_folder('2024-05-02')}/a.gz",
        ndjson(
            [day1[7], '{"type":"page","messageId":"torn', *events(5, day="2024-05-02", start=900)]
        ),
    )
    result = sync(tmp_path)
    result.raise_for_status()  # the bad line does not fail the run
    db = tmp_path / "store.duckdb"
    assert query(db, "SELECT count(*) FROM raw_web__events") == [(27,)]
    [(reason,)] = query(db, "SELECT reason FROM _cintel_dead_letter")
    assert reason.startswith(f"invalid JSON at s/{segment_folder('2024-05-02')}/a.gz:2")
    assert query(db, "SELECT count(*) FROM touchpoints") == [(26,)]
    assert query(db, "SELECT conversion_id, value, currency FROM conversions") == [
        ("o-1", 42.0, "USD")
    ]
    assert query(db, "SELECT profile_id, email FROM source_profiles") == [("u-1", "a@example.com")]
    # receivedAt is promoted to a column of the raw table
    assert query(db, 'SELECT min("receivedAt") FROM raw_web__events') == [
        ("2024-05-01T00:00:00.000Z",)
    ]
    # nothing new: nothing read
    again = sync(tmp_path)
    assert again.records == 0
    write(
        root,
        f"s/{segment_folder('2024-05-03')}/a.gz",
        ndjson(events(4, day="2024-05-03", start=70)),
    )
    assert sync(tmp_path).records == 4


# --------------------------------------------------------------------------- kills
KILLER = """
import os, signal
from cintel import hookimpl

_commits = 0


@hookimpl
def cintel_batch_committed(run, batch):
    global _commits
    _commits += 1
    if _commits == int(os.environ.get("KILL_AFTER_COMMIT", "-1")):
        os.kill(os.getpid(), signal.SIGKILL)
"""

DAYS = ("2024-05-01", "2024-05-02", "2024-05-03")
PER_FILE = 230


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hooks-only plugin that SIGKILLs the sync after the n-th committed batch."""
    site = tmp_path_factory.mktemp("site")
    install_dist(
        site, "cintel-killer", "1.0.0", "cintel_killer", KILLER, {"killer": "cintel_killer"}
    )
    return site


def setup(root: Path) -> Path:
    n = 0
    for day in DAYS:
        for name in ("a.gz", "b.json"):
            batch = events(PER_FILE, day=day, start=n)
            n += PER_FILE
            write(root / "export", f"src/{segment_folder(day)}/{name}", ndjson(batch))
    return write_yaml(
        root / "cintel.yaml",
        {
            "name": "kill",
            "sources": {
                "web": {
                    "connector": "segment",
                    "config": {"path": "export", "layout": "segment"},
                    # append: an event loaded twice would show
                    "streams": [{"name": "events", "write_disposition": "append"}],
                }
            },
            "destination": {"sink": "duckdb", "config": {"path": "out.duckdb"}},
            "run": {"batch_size": 40},
        },
    )


def env_for(site: Path, **extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(site), "KILL_AFTER_COMMIT": "-1", **extra}


def loaded(db: Path) -> list[tuple[str, str]]:
    tables = {t for (t,) in query(db, "SELECT table_name FROM duckdb_tables()")}
    if "raw_web__events" not in tables:
        return []
    return sorted(query(db, "SELECT _cintel_key, _cintel_payload FROM raw_web__events"))


TOTAL = len(DAYS) * 2 * PER_FILE


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 6, 17])
def test_killed_sync_resumes_mid_file_without_loss_or_duplicates(
    tmp_path: Path, site: Path, after: int
) -> None:
    cfg = setup(tmp_path)
    db = tmp_path / "out.duckdb"
    killed = run_cli("sync", str(cfg), env=env_for(site, KILL_AFTER_COMMIT=str(after)))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = len(loaded(db))
    assert before == 40 * after  # killed mid-file: 230 lines a file, 40 a batch
    resumed = run_cli("sync", str(cfg), env=env_for(site))
    assert resumed.returncode == 0, resumed.stderr
    rows = loaded(db)
    assert len(rows) == TOTAL
    assert len({key for key, _ in rows}) == TOTAL
    assert query(db, "SELECT count(*) FROM touchpoints") == [(TOTAL,)]


@pytest.mark.slow
def test_random_kills_then_growth_converge(tmp_path: Path, site: Path) -> None:
    rng = random.Random(20241123)
    cfg = setup(tmp_path)
    db = tmp_path / "out.duckdb"
    env = {**dict(__import__("os").environ), "CINTEL_LOG_FORMAT": "json", **env_for(site)}
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cintel", "sync", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rng.uniform(0.5, 3.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    final = run_cli("sync", str(cfg), env=env_for(site))
    assert final.returncode == 0, final.stderr
    rows = loaded(db)
    assert len(rows) == TOTAL
    assert len({key for key, _ in rows}) == TOTAL
    # a new day arrives: only it is read
    write(
        tmp_path / "export",
        f"src/{segment_folder('2024-05-04')}/a.gz",
        ndjson(events(9, day="2024-05-04", start=10_000)),
    )
    again = run_cli("sync", str(cfg), env=env_for(site))
    assert again.returncode == 0, again.stderr
    assert len(loaded(db)) == TOTAL + 9
