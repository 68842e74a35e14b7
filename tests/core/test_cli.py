"""The ``cintel`` command in real subprocesses, on the files connector and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, write_yaml

pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    lines = ["id,email,updated_at"]
    lines += [f"{i},user{i}@example.com,2026-10-{1 + i % 28:02d}" for i in range(1, 41)]
    lines.insert(7, "999,bad@example.com,2026-10-01,an extra field")
    (data / "people.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write_yaml(
        tmp_path / "cintel.yaml",
        {
            "name": "clitest",
            "sources": {
                "src": {
                    "connector": "files",
                    "config": {
                        "streams": [
                            {
                                "name": "people",
                                "path": "data/*.csv",
                                "primary_key": ["id"],
                                "cursor_field": "updated_at",
                            }
                        ]
                    },
                }
            },
            "run": {"max_bad_records": "10%", "batch_size": 8},
        },
    )


def test_sync_runs_state_and_deadletters(config: Path) -> None:
    first = run_cli("sync", str(config), "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["status"] == "succeeded"
    assert result["streams"]["src.people"]["records"] == 40
    assert result["streams"]["src.people"]["bad"] == 1
    assert (config.parent / "cintel.duckdb").exists()

    again = run_cli("sync", str(config))
    assert again.returncode == 0, again.stderr
    assert "0 records loaded" in again.stdout
    assert "raw_src__people" in again.stdout

    runs = run_cli("runs", str(config))
    assert runs.returncode == 0, runs.stderr
    assert runs.stdout.count("succeeded") == 2
    assert result["run_id"] in runs.stdout

    state = run_cli("state", "show", str(config))
    assert state.returncode == 0, state.stderr
    shown = json.loads(state.stdout)
    assert shown["src.people"]["complete"] is True

    letters = run_cli("deadletter", "list", str(config))
    assert letters.returncode == 0, letters.stderr
    assert "src.people" in letters.stdout
    assert "expected 3 fields, got 4" in letters.stdout

    replay = run_cli("deadletter", "replay", str(config))
    assert replay.returncode == 0, replay.stderr
    assert "0 landed, 1 still in the dead-letter table" in replay.stdout

    reset = run_cli("state", "reset", str(config), "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "reset the state of 1 stream(s)" in reset.stdout
    full = run_cli("sync", str(config), "--json")
    assert json.loads(full.stdout)["streams"]["src.people"]["records"] == 40


def test_sync_fails_with_exit_1_when_the_error_budget_is_exceeded(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("max_bad_records: 10%", "max_bad_records: 0")
    config.write_text(text, encoding="utf-8")
    proc = run_cli("sync", str(config))
    assert proc.returncode == 1
    assert "error budget" in proc.stderr
    assert "cintel deadletter list" in proc.stderr


def test_check_discover_and_json_logs(config: Path) -> None:
    ok = run_cli("check", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout
    found = run_cli("discover", str(config), "--json")
    assert found.returncode == 0, found.stderr
    streams = json.loads(found.stdout)
    assert streams[0]["table"] == "raw_src__people"
    assert streams[0]["primary_key"] == ["id"]
    assert set(streams[0]["json_schema"]["properties"]) >= {"id", "email", "updated_at"}
    verbose = run_cli("-v", "sync", str(config))
    assert verbose.returncode == 0, verbose.stderr
    events = [json.loads(line) for line in verbose.stderr.splitlines() if line.startswith("{")]
    assert "run finished" in {e["event"] for e in events}


def test_check_fails_when_a_glob_matches_nothing(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("data/*.csv", "data/nothing-*.csv")
    config.write_text(text, encoding="utf-8")
    proc = run_cli("check", str(config))
    assert proc.returncode == 1
    assert "failed" in proc.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run_cli("sync", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert "nope.yaml" in missing.stderr
