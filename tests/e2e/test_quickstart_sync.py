"""README command 1 on a copy of the quickstart: every row lands, a re-run loads nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    target = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns("cintel.duckdb*", "*.lock"))
    return target


def test_quickstart_sync_lands_every_row_and_a_rerun_loads_nothing(quickstart: Path) -> None:
    manifest = json.loads((quickstart / "data" / "MANIFEST.json").read_text(encoding="utf-8"))
    config = quickstart / "cintel.yaml"
    first = run_cli("sync", str(config))
    assert first.returncode == 0, first.stderr
    assert "succeeded" in first.stdout
    db = quickstart / "cintel.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        for key, stream in manifest["streams"].items():
            (rows,) = con.execute(f"SELECT count(*) FROM {stream['table']}").fetchone() or (0,)
            assert rows == stream["distinct_keys"], key
            (distinct,) = con.execute(
                f"SELECT count(DISTINCT _cintel_key) FROM {stream['table']}"
            ).fetchone() or (0,)
            assert distinct == rows, key
        letters = con.execute("SELECT stream, reason FROM _cintel_dead_letter").fetchall()
    bad = sum(s["bad_lines"] for s in manifest["streams"].values())
    assert len(letters) == bad
    assert all(reason.startswith("invalid JSON") for _, reason in letters)

    again = run_cli("sync", str(config), "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["records"] == 0
    assert result["bad"] == 0
