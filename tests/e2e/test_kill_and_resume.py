"""SIGKILL a real ``cintel sync`` process at many points; the re-run must end exactly right.

The source is an installed plugin (real entry point, real subprocess) that acts
like a paginated API returning records changed since a watermark, **not**
sorted by that cursor. It checkpoints after every page. The destination is the
DuckDB sink, with ``append`` so that a duplicated batch would be visible.

Kill points:
- right after a batch was committed (``cintel_batch_committed`` hook),
- inside the source while the writer is busy (reader thread),
- inside the sink transaction, after the rows were written but before commit,
- from outside, at seeded random moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import install_dist, run_cli, write_yaml

pytestmark = pytest.mark.slow

PLUGIN = '''
import json, os, signal
from cintel import Connector, ConnectorConfig, RecordBatch, Stream, CursorTracker, hookimpl
from cintel_duckdb import DuckDBSink

_commits = 0
_writes = 0

def _kill():
    os.kill(os.getpid(), signal.SIGKILL)


class ApiConfig(ConnectorConfig):
    path: str
    page_size: int = 50


class Changes(Stream):
    name = "changes"
    primary_key = ("id",)
    cursor_field = "updated"
    write_disposition = "append"

    def __init__(self, config, base_dir):
        self.config = config
        self.path = os.path.join(base_dir, config.path)

    def query(self, since):
        """The "API": records changed at or after `since`, ordered by id (not by cursor)."""
        with open(self.path, encoding="utf-8") as fh:
            records = json.load(fh)
        return [r for r in records if since is None or r["updated"] >= since]

    def read(self, state):
        state = state or {}
        tracker = CursorTracker(state.get("tracker"), cursor_field="updated", primary_key=("id",))
        since = state.get("since", tracker.watermark)
        page = int(state.get("page", 0))
        rows = self.query(since)
        size = self.config.page_size
        kill_in_read = int(os.environ.get("KILL_IN_READ", "-1"))
        for start in range(page * size, len(rows), size):
            if page == kill_in_read:
                _kill()
            kept = tracker.filter(rows[start : start + size])
            page += 1
            state = {"since": since, "page": page, "tracker": tracker.state()}
            yield RecordBatch(kept, state=state)
        yield RecordBatch(state={"tracker": tracker.complete()})


class Api(Connector):
    name = "fakeapi"
    Config = ApiConfig

    def streams(self):
        return [Changes(self.config, self.context.base_dir)]


class KillDuck(DuckDBSink):
    name = "killduck"

    def _write(self, batch):
        global _writes
        super()._write(batch)
        if batch.rows.num_rows:
            _writes += 1
            if _writes == int(os.environ.get("KILL_IN_WRITE", "-1")):
                _kill()  # rows written, transaction not committed


@hookimpl
def cintel_connectors(register):
    register(Api)


@hookimpl
def cintel_sinks(register):
    register(KillDuck)


@hookimpl
def cintel_batch_committed(run, batch):
    global _commits
    _commits += 1
    if _commits == int(os.environ.get("KILL_AFTER_COMMIT", "-1")):
        _kill()
'''

N = 1200
PAGE = 50


def make_records(n: int, seed: int, start_id: int = 0, month: int = 10) -> list[dict[str, Any]]:
    """Records in id order whose cursor (``updated``) is shuffled."""
    rng = random.Random(seed)
    return [
        {
            "id": start_id + i,
            "updated": f"2026-{month:02d}-{1 + rng.randrange(28):02d}T{rng.randrange(24):02d}:00Z",
            "email": f"user{start_id + i}@example.com",
            "score": rng.randrange(11),
        }
        for i in range(n)
    ]


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    install_dist(
        site,
        "cintel-fakeapi",
        "1.0.0",
        "cintel_fakeapi",
        PLUGIN,
        {"fakeapi": "cintel_fakeapi"},
    )
    return site


def setup_pipeline(root: Path, records: list[dict[str, Any]], db: str = "out.duckdb") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "api.json").write_text(json.dumps(records), encoding="utf-8")
    return write_yaml(
        root / "cintel.yaml",
        {
            "name": "resume",
            "sources": {
                "api": {"connector": "fakeapi", "config": {"path": "api.json", "page_size": PAGE}}
            },
            "destination": {"sink": "killduck", "config": {"path": db}},
            "run": {"batch_size": PAGE},
        },
    )


def env_for(site: Path, **kill: int) -> dict[str, str]:
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "KILL_AFTER_COMMIT": "-1",
        "KILL_IN_READ": "-1",
        "KILL_IN_WRITE": "-1",
    }
    env.update({k: str(v) for k, v in kill.items()})
    return env


def contents(db: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "raw_api__changes" not in tables:
            return []  # killed before the first commit
        return sorted(
            con.execute("SELECT _cintel_key, _cintel_payload FROM raw_api__changes").fetchall()
        )
    finally:
        con.close()


def last_run_records(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT streams FROM _cintel_runs WHERE status = 'succeeded' "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(json.loads(row[0])["api.changes"]["records"])


@pytest.fixture
def expected(tmp_path: Path, site: Path) -> list[tuple[str, str]]:
    cfg = setup_pipeline(tmp_path / "reference", make_records(N, seed=1))
    proc = run_cli("sync", str(cfg), env=env_for(site))
    assert proc.returncode == 0, proc.stderr
    got = contents(cfg.parent / "out.duckdb")
    assert len(got) == N
    return got


@pytest.mark.parametrize(
    ("point", "at"),
    [
        ("KILL_AFTER_COMMIT", 1),
        ("KILL_AFTER_COMMIT", 13),
        ("KILL_IN_READ", 7),
        ("KILL_IN_READ", 23),
        ("KILL_IN_WRITE", 1),
        ("KILL_IN_WRITE", 11),
    ],
)
def test_killed_sync_resumes_from_last_commit_without_loss_or_duplicates(
    tmp_path: Path, site: Path, expected: list[tuple[str, str]], point: str, at: int
) -> None:
    cfg = setup_pipeline(tmp_path / "victim", make_records(N, seed=1))
    db = cfg.parent / "out.duckdb"
    killed = run_cli("sync", str(cfg), env=env_for(site, **{point: at}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = len(contents(db))
    assert 0 <= before < N
    if point == "KILL_IN_WRITE" and at == 1:
        assert before == 0  # the first transaction never committed
    resumed = run_cli("sync", str(cfg), env=env_for(site))
    assert resumed.returncode == 0, resumed.stderr
    assert contents(db) == expected
    # it went on from the last committed batch, it did not start over
    assert last_run_records(db) == N - before
    # and the run that was killed is not reported as succeeded
    con = duckdb.connect(str(db), read_only=True)
    statuses = sorted(r[0] for r in con.execute("SELECT status FROM _cintel_runs").fetchall())
    con.close()
    assert statuses == ["interrupted", "succeeded"]


def test_repeated_random_kills_then_growth_converge(tmp_path: Path, site: Path) -> None:
    """Kill the same sync again and again at random moments, then let the source grow."""
    rng = random.Random(20261123)
    records = make_records(N, seed=1)
    cfg = setup_pipeline(tmp_path / "victim", records)
    db = cfg.parent / "out.duckdb"
    env = {**os.environ, "CINTEL_LOG_FORMAT": "json", **env_for(site)}
    for _ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cintel", "sync", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=rng.uniform(0.3, 2.5))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    final = run_cli("sync", str(cfg), env=env_for(site))
    assert final.returncode == 0, final.stderr
    got = contents(db)
    assert len(got) == N
    assert len({k for k, _ in got}) == N
    # new and changed records arrive later, with later cursors: only they are loaded
    grown = records + make_records(100, seed=2, start_id=N, month=11)
    (cfg.parent / "api.json").write_text(json.dumps(grown), encoding="utf-8")
    again = run_cli("sync", str(cfg), env=env_for(site))
    assert again.returncode == 0, again.stderr
    assert last_run_records(db) == 100
    assert len(contents(db)) == N + 100


def test_concurrent_sync_is_refused_and_stale_lock_recovered(tmp_path: Path, site: Path) -> None:
    cfg = setup_pipeline(tmp_path / "lock", make_records(N, seed=3))
    env = {**os.environ, "CINTEL_LOG_FORMAT": "json", **env_for(site)}
    # a live process holds the pipeline lock until told to go on
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from cintel import Pipeline;"
            "p = Pipeline.from_yaml(sys.argv[1]); s = p.sink();"
            "lk = s.lock('resume'); lk.__enter__(); print('locked', flush=True);"
            "sys.stdin.readline()",
            str(cfg),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        lines = iter(holder.stdout.readline, "")
        assert any(line.strip() == "locked" for line in lines)
        refused = run_cli("sync", str(cfg), env=env_for(site))
        assert refused.returncode == 1
        assert "is already being synced by another process" in refused.stderr
        assert f"pid {holder.pid}" in refused.stderr
        # the holder dies without releasing anything: its lock is stale, the next sync runs
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()  # reap it and close its pipes
    after = run_cli("sync", str(cfg), env=env_for(site))
    assert after.returncode == 0, after.stderr
    assert len(contents(cfg.parent / "out.duckdb")) == N
