"""Loading canonical rows: mapped, validated and normalized; what is left out is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from cintel.mapping import CanonicalSpec, map_records
from cintel.pipeline import Pipeline
from conftest import write_yaml
from pydantic import ValidationError

HEADER = "contact_id,email,phone,first_name,updated_at\n"

MAPPING = [
    {
        "table": "source_profiles",
        "fields": {
            "profile_id": "contact_id",
            "email": "email",
            "phone": "phone",
            "first_name": "first_name",
            "updated_at": "updated_at",
        },
        "identifiers": {"crm_id": "contact_id", "email": "email", "phone": "phone"},
    }
]


def pipeline(tmp_path: Path, rows: str, **identity: Any) -> Pipeline:
    (tmp_path / "contacts.csv").write_text(HEADER + rows, encoding="utf-8")
    config = {
        "name": "canon",
        "sources": {
            "crm": {
                "connector": "files",
                "config": {
                    "streams": [
                        {
                            "name": "contacts",
                            "path": "contacts.csv",
                            "primary_key": ["contact_id"],
                            "canonical": MAPPING,
                        }
                    ]
                },
            }
        },
        "identity": identity,
    }
    return Pipeline.from_yaml(write_yaml(tmp_path / "cintel.yaml", config))


def query(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "cintel.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_rows_load_normalized_and_invalid_identifiers_are_recorded_not_lost(
    tmp_path: Path,
) -> None:
    p = pipeline(
        tmp_path,
        "1, Ana@Example.COM ,+1 (415) 555-0134,ANA,2026-10-01T10:00:00Z\n"
        "2,bo@example.com,12,bo,2026-10-01T11:00:00Z\n"
        "3,not-an-email,020 7946 0958,Cy,2026-10-01T12:00:00Z\n",
        normalize={"phone_region": "GB"},
    )
    result = p.run()
    assert result.ok, result.error
    assert result.bad == 0  # parts left out do not count against the error budget
    profiles = query(
        tmp_path,
        "SELECT profile_id, email, phone, first_name, "
        "list_transform(identifiers, lambda i: i.type || ':' || i.value) "
        "FROM source_profiles ORDER BY profile_id",
    )
    assert profiles == [
        (
            "1",
            "ana@example.com",
            "+14155550134",
            "Ana",
            ["crm_id:1", "email:ana@example.com", "phone:+14155550134"],
        ),
        ("2", "bo@example.com", None, "Bo", ["crm_id:2", "email:bo@example.com"]),
        ("3", None, "+442079460958", "Cy", ["crm_id:3", "phone:+442079460958"]),
    ]
    letters = query(
        tmp_path,
        "SELECT kind, record_key, reason FROM _cintel_dead_letter ORDER BY record_key, reason",
    )
    kinds = [(k, key) for k, key, _ in letters]
    for key in ("2", "3"):  # an identifier left out, and the attribute field emptied
        assert ("identifier", key) in kinds
        assert ("field", key) in kinds
    reasons = " | ".join(r for _, _, r in letters)
    assert "too short" in reasons
    assert "'12'" in reasons
    assert "not-an-email" in reasons
    # the records themselves are all there
    assert query(tmp_path, "SELECT count(*) FROM raw_crm__contacts") == [(3,)]


def test_reloading_a_fixed_record_replaces_its_recorded_parts(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "2,bo@example.com,12,Bo,2026-10-01T11:00:00Z\n")
    assert p.run().ok
    assert (
        query(tmp_path, "SELECT count(*) FROM _cintel_dead_letter WHERE record_key = '2'")[0][0]
        == 2
    )  # the phone identifier and the phone field
    (tmp_path / "contacts.csv").write_text(
        HEADER + "2,bo@example.com,+1 415 555 0199,Bo,2026-10-02T11:00:00Z\n", encoding="utf-8"
    )
    again = p.run(full_refresh=True)
    assert again.ok, again.error
    assert query(tmp_path, "SELECT count(*) FROM _cintel_dead_letter") == [(0,)]
    assert query(tmp_path, "SELECT phone FROM source_profiles") == [("+14155550199",)]
    # a replay has nothing of kind `record` to load: parts are not replayed
    replay = p.replay_dead_letters()
    assert (replay.landed, replay.still_bad) == (0, 0)


def test_a_row_the_model_rejects_is_recorded_and_its_record_still_loads(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "7,x@example.com,,Ed,yesterday\n")
    result = p.run()
    assert result.ok, result.error
    assert query(tmp_path, "SELECT count(*) FROM raw_crm__contacts") == [(1,)]
    assert query(tmp_path, "SELECT count(*) FROM source_profiles") == [(0,)]
    ((kind, reason),) = query(tmp_path, "SELECT kind, reason FROM _cintel_dead_letter")
    assert kind == "row"
    assert reason.startswith("SourceProfile.updated_at:")


def test_mapping_paths_first_of_templates_constants_objects_and_filters() -> None:
    specs = [
        CanonicalSpec.model_validate(
            {
                "table": "touchpoints",
                "when": {"type": ["page", "track"]},
                "fields": {
                    "touchpoint_id": "messageId",
                    "event_type": {"first_of": ["event", "type"]},
                    "utm_source": "context.campaign.source",
                    "url": {"template": "https://shop.example{{ record.context.page.path }}"},
                    "channel": {"value": "web"},
                },
                "identifiers": {"anonymous_id": "anonymousId", "user_id": "userId"},
            }
        ),
        CanonicalSpec.model_validate(
            {
                "table": "identity_links",
                "when": {"type": "identify"},
                "fields": {"kind": {"value": "identify"}},
                "identifiers": {
                    "user_id": "userId",
                    "anonymous_id": "anonymousId",
                    "email": "traits.email",
                },
            }
        ),
    ]
    records = [
        {
            "type": "page",
            "messageId": "m1",
            "anonymousId": "a1",
            "userId": "",
            "context": {"campaign": {"source": "google"}, "page": {"path": "/x"}},
        },
        {"type": "track", "event": "Order Completed", "messageId": "m2", "anonymousId": "a1"},
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "e@x.io"}},
        {"type": "screen", "messageId": "m3"},
    ]
    out = map_records(specs, records)
    tps = out["touchpoints"]
    assert [t["touchpoint_id"] for t in tps] == ["m1", "m2"]
    assert [t["event_type"] for t in tps] == ["page", "Order Completed"]
    assert tps[0]["utm_source"] == "google"
    assert tps[0]["url"] == "https://shop.example/x"
    assert tps[1]["utm_source"] is None
    assert tps[0]["identifiers"] == [{"type": "anonymous_id", "value": "a1"}]  # "" is missing
    assert [t["_cintel_record_index"] for t in tps] == [0, 1]
    links = out["identity_links"]
    assert [(x["left"]["value"], x["right"]["value"]) for x in links] == [
        ("u1", "a1"),
        ("u1", "e@x.io"),
    ]
    assert all(x["_cintel_record_index"] == 2 and x["kind"] == "identify" for x in links)


def test_a_mapping_with_two_sources_for_one_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="give one of"):
        CanonicalSpec.model_validate(
            {"table": "touchpoints", "fields": {"url": {"path": "a", "value": "b"}}}
        )
    with pytest.raises(ValidationError, match="at least two identifiers"):
        CanonicalSpec.model_validate(
            {"table": "identity_links", "identifiers": {"user_id": "userId"}}
        )


def test_a_reloaded_record_that_no_longer_maps_loses_its_old_rows(tmp_path: Path) -> None:
    p = pipeline(tmp_path, "7,x@example.com,,Ed,2026-10-01T10:00:00Z\n")
    assert p.run().ok
    assert query(tmp_path, "SELECT profile_id, email FROM source_profiles") == [
        ("7", "x@example.com")
    ]
    (tmp_path / "contacts.csv").write_text(
        HEADER + "7,y@example.com,,Ed,not a date\n", encoding="utf-8"
    )
    assert p.run(full_refresh=True).ok
    # the new version is refused by the model: the old row must not linger as if current
    assert query(tmp_path, "SELECT count(*) FROM source_profiles") == [(0,)]
    assert query(tmp_path, "SELECT kind FROM _cintel_dead_letter") == [("row",)]
