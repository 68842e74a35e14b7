"""The built-in mapping can replace the quickstart's declarative `files` mapping.

The quickstart maps its Segment-spec web events with a ``canonical:`` list in
``examples/quickstart/cintel.yaml``. Pointed at a copy of the same files, the
``segment`` connector with no mapping config must give the same canonical
rows: same counts and the same key fields, in memory and in the store.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from cintel.config import PipelineConfig
from cintel.mapping import CanonicalSpec, map_records
from cintel.model import validate_rows
from cintel.pipeline import Pipeline
from conftest import ROOT
from segment_helpers import read_all, stream_for

QUICKSTART = ROOT / "examples" / "quickstart"
EVENTS = QUICKSTART / "data" / "web" / "events"

KEYS = {
    "touchpoints": (
        "touchpoint_id",
        "occurred_at",
        "event_type",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "referrer",
        "url",
    ),
    "conversions": ("conversion_id", "occurred_at", "type", "value", "currency"),
    "identity_links": ("kind", "seen_at"),
    "source_profiles": ("profile_id", "email", "first_name", "last_name", "updated_at"),
}


def quickstart_web() -> dict[str, Any]:
    config = yaml.safe_load((QUICKSTART / "cintel.yaml").read_text(encoding="utf-8"))
    web: dict[str, Any] = config["sources"]["web"]
    return web


def quickstart_specs() -> list[CanonicalSpec]:
    [stream] = quickstart_web()["config"]["streams"]
    return [CanonicalSpec.model_validate(s) for s in stream["canonical"]]


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's web events, copied (the example is read-only)."""
    base = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(EVENTS, base / "data" / "web" / "events")
    return base


def ident_set(row: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset((i["type"], i["value"]) for i in row.get("identifiers") or ())


def comparable(table: str, rows: Sequence[Mapping[str, Any]]) -> Counter[tuple[Any, ...]]:
    """Each row's key fields (and identifiers or link ends), validated as the engine does."""
    valid, problems = validate_rows(table, list(rows))
    assert not problems, problems[:3]
    out: Counter[tuple[Any, ...]] = Counter()
    for row in valid:
        key = tuple(row.get(k) for k in KEYS[table])
        if table == "identity_links":
            ends = (row["left"]["type"], row["left"]["value"], row["right"]["type"])
            key = (*key, *ends, row["right"]["value"])
        else:
            key = (*key, ident_set(row))
        out[key] += 1
    return out


def test_builtin_mapping_equals_the_quickstart_mapping_row_for_row(copy: Path) -> None:
    stream = stream_for("data/web/events", copy)  # no mapping config at all
    records, bad, _, _ = read_all(stream)
    assert len(records) > 30_000
    assert len(bad) == 1  # the example ships one truncated line
    ours = stream.to_canonical(records)
    theirs = map_records(quickstart_specs(), records)
    for table in KEYS:
        assert len(ours[table]) == len(theirs[table]), table
        assert comparable(table, ours[table]) == comparable(table, theirs[table]), table
    assert len(ours["touchpoints"]) > 30_000
    assert len(ours["conversions"]) > 200
    assert len(ours["identity_links"]) > 1000
    # beyond the declarative mapping: the ad click id of the landing URL
    clicks = [t for t in ours["touchpoints"] if t["click_id"]]
    assert clicks
    assert all(f"={t['click_id']}" in t["url"] for t in clicks)


def store_rows(db: Path, table: str, columns: Sequence[str]) -> Counter[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    finally:
        con.close()
    return Counter(tuple(map(_hashable, row)) for row in rows)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


@pytest.mark.slow
def test_a_sync_stores_the_same_canonical_rows_as_the_quickstart_files_source(
    copy: Path,
) -> None:
    web = quickstart_web()
    for name, source in (
        ("files", web),
        ("segment", {"connector": "segment", "config": {"path": "data/web/events"}}),
    ):
        config = PipelineConfig.model_validate(
            {
                "name": name,
                "sources": {"web": source},
                "destination": {"sink": "duckdb", "config": {"path": f"{name}.duckdb"}},
                "run": {"batch_size": 5000, "max_bad_records": "1%"},
                "base_dir": copy,
            }
        )
        result = Pipeline(config).run()
        result.raise_for_status()
    files_db, segment_db = copy / "files.duckdb", copy / "segment.duckdb"
    columns = {
        "touchpoints": [
            "touchpoint_id",
            "occurred_at",
            "event_type",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "referrer",
            "url",
            "list_sort(list_transform(identifiers, lambda i: i.type || ':' || i.value))",
        ],
        "conversions": [
            "conversion_id",
            "occurred_at",
            "type",
            "value",
            "currency",
            "list_sort(list_transform(identifiers, lambda i: i.type || ':' || i.value))",
        ],
        "identity_links": ['"left"', '"right"', "kind", "seen_at"],
        "source_profiles": ["profile_id", "email", "first_name", "last_name", "updated_at"],
        "_cintel_dead_letter": ["reason", "payload"],
    }
    for table, cols in columns.items():
        theirs = store_rows(files_db, table, cols)
        ours = store_rows(segment_db, table, cols)
        assert sum(ours.values()) == sum(theirs.values()), table
        if table != "_cintel_dead_letter":  # file:line in the reason differs in the path
            assert ours == theirs, table
