"""The quickstart data set: reproducible, counted right, and consistent with its ground truth.

Everything here is recomputed from the committed files, independently of the
generator's own bookkeeping, and compared with ``data/MANIFEST.json`` (which
the sync tests use as the expected row counts) and with the README.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cintel.config import load_config
from cintel.sink import raw_table_name

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
DATA = QUICKSTART / "data"
GENERATOR = QUICKSTART / "generate.py"

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


# --------------------------------------------------------------------------- reading
@cache
def manifest() -> dict[str, Any]:
    return json.loads((DATA / "MANIFEST.json").read_text(encoding="utf-8"))


def read_csv(rel: str) -> list[dict[str, str]]:
    with (DATA / rel).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@dataclass
class StreamCount:
    lines: int = 0
    bad: list[tuple[str, int]] = field(default_factory=list)
    keys: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, str] = field(default_factory=dict)
    repeats_identical: bool = True

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.keys.values())


def event_lines() -> Iterator[tuple[str, int, str]]:
    """(file, 1-based line number, text) of every web event line."""
    for path in sorted((DATA / "web" / "events").glob("*/events.jsonl.gz")):
        rel = path.relative_to(DATA).as_posix()
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
            for number, line in enumerate(f, start=1):
                yield rel, number, line.rstrip("\n")


@cache
def events() -> list[dict[str, Any]]:
    """Valid events, duplicates included."""
    out = []
    for _, _, line in event_lines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@cache
def count_stream(key: str) -> StreamCount:
    spec = manifest()["streams"][key]
    (pk,) = spec["primary_key"]
    counted = StreamCount()
    if key == "web.events":
        for rel, number, line in event_lines():
            counted.lines += 1
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                counted.bad.append((rel, number))
                continue
            message_id = event[pk]
            counted.keys[message_id] += 1
            if message_id in counted.first_line:
                counted.repeats_identical &= counted.first_line[message_id] == line
            else:
                counted.first_line[message_id] = line
        return counted
    for rel in spec["files"]:
        for row in read_csv(rel):
            counted.lines += 1
            counted.keys[row[pk]] += 1
    return counted


# --------------------------------------------------------------------------- reproducible
@pytest.mark.slow
def test_generator_reproduces_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "data"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    committed = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file())
    regenerated = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert regenerated == committed
    differing = [rel for rel in committed if (DATA / rel).read_bytes() != (out / rel).read_bytes()]
    assert differing == []


def test_manifest_describes_every_file() -> None:
    files = manifest()["files"]
    on_disk = sorted(
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file() and p.name != "MANIFEST.json"
    )
    assert sorted(files) == on_disk
    for rel, info in files.items():
        data = (DATA / rel).read_bytes()
        assert info["bytes"] == len(data), rel
        assert info["sha256"] == hashlib.sha256(data).hexdigest(), rel
        raw = gzip.decompress(data) if rel.endswith(".gz") else data
        assert info["physical_lines"] == raw.count(b"\n"), rel
    assert sum(info["bytes"] for info in files.values()) < 8_000_000


# --------------------------------------------------------------------------- counts
@pytest.mark.parametrize(
    "key", ["crm.contacts", "web.events", "email.activity", "survey.nps"], ids=str
)
def test_stream_counts_match_the_manifest(key: str) -> None:
    spec = manifest()["streams"][key]
    counted = count_stream(key)
    assert spec["lines"] == counted.lines
    assert spec["bad_lines"] == len(counted.bad)
    assert spec["distinct_keys"] == len(counted.keys)
    assert spec["duplicate_lines"] == counted.duplicates
    assert spec["lines"] == spec["distinct_keys"] + spec["duplicate_lines"] + spec["bad_lines"]
    assert all(k.strip() for k in counted.keys), "a primary key is empty"


def test_stream_tables_and_files_match_cintel_yaml() -> None:
    config = load_config(QUICKSTART / "cintel.yaml")
    expected = {}
    for source_name, source in config.sources.items():
        assert source.connector == "files"
        for stream in source.config["streams"]:
            key = f"{source_name}.{stream['name']}"
            files = sorted(p.relative_to(DATA).as_posix() for p in QUICKSTART.glob(stream["path"]))
            expected[key] = {
                "table": raw_table_name(source_name, stream["name"]),
                "files": files,
                "primary_key": stream["primary_key"],
            }
    streams = manifest()["streams"]
    assert sorted(streams) == sorted(expected)
    for key, want in expected.items():
        got = streams[key]
        assert {k: got[k] for k in ("table", "primary_key")} == {
            k: want[k] for k in ("table", "primary_key")
        }
        assert sorted(got["files"]) == want["files"]
    assert (
        config.run.max_bad_records.exceeded(
            streams["web.events"]["bad_lines"], streams["web.events"]["lines"]
        )
        is False
    )


def test_web_defects_are_exactly_as_documented() -> None:
    web = manifest()["web"]
    counted = count_stream("web.events")
    # at-least-once delivery: every repeat is the very same payload, each delivered twice
    assert web["duplicate_message_ids"] == sum(1 for n in counted.keys.values() if n > 1)
    assert set(counted.keys.values()) == {1, 2}
    assert counted.repeats_identical
    assert 0.002 <= web["duplicate_message_ids"] / len(counted.keys) <= 0.004
    # exactly one truncated line, where the manifest says, whose event is lost
    assert [(m["file"], m["line"]) for m in web["malformed_lines"]] == counted.bad
    (malformed,) = web["malformed_lines"]
    assert malformed["lost_message_id"] not in counted.keys
    lines = dict(((rel, n), text) for rel, n, text in event_lines())
    bad_text = lines[(malformed["file"], malformed["line"])]
    assert malformed["lost_message_id"] in bad_text
    assert (malformed["file"], malformed["line"] + 1) in lines, "the bad line is not the last"
    assert len(list((DATA / "web" / "events").iterdir())) == web["days"] == 14


def test_every_valid_event_is_segment_shaped() -> None:
    kinds: Counter[str] = Counter()
    seen: set[str] = set()
    for rel, _, line in event_lines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        assert event["type"] in {"page", "track", "identify"}
        assert event["messageId"]
        assert event["anonymousId"]
        for name in ("originalTimestamp", "sentAt", "receivedAt", "timestamp"):
            assert ISO_MS_Z.match(event[name]), (name, event[name])
        day, received = rel.split("/")[2], event["receivedAt"][:10]
        if event["messageId"] in seen:  # a redelivery may land in the next day's file
            assert day in {received, f"{received[:8]}{int(received[8:]) + 1:02d}"}
        else:
            assert day == received, "partitioned by received day"
        assert event["context"]["page"]["url"].startswith("https://")
        if event["type"] == "identify":
            assert "email" in event["traits"]
        if event.get("event") == "Order Completed":
            props = event["properties"]
            assert props["order_id"]
            assert props["currency"] == "USD"
            assert props["revenue"] > 0
        campaign = event["context"].get("campaign")
        if campaign:
            assert {"source", "medium", "name"} <= set(campaign)
            assert f"utm_campaign={campaign['name']}" in event["context"]["page"]["search"]
        if event["messageId"] not in seen:
            seen.add(event["messageId"])
            kinds[event["type"]] += 1
    assert dict(sorted(kinds.items())) == manifest()["web"]["event_types"]
    orders = {e["properties"]["order_id"] for e in events() if e.get("event") == "Order Completed"}
    assert len(orders) == manifest()["web"]["orders"]


def test_crm_update_file_rewrites_existing_contacts_later() -> None:
    first = {r["contact_id"]: r for r in read_csv("crm/contacts.csv")}
    updates = read_csv("crm/contacts_update_2026-11-02.csv")
    assert 150 <= len(updates) <= 250
    for row in updates:
        assert row["contact_id"] in first, "a re-export, not new contacts"
        assert row["updated_at"] > first[row["contact_id"]]["updated_at"]
        assert row != first[row["contact_id"]]
    for row in [*first.values(), *updates]:
        assert ISO_MS_Z.match(row["created_at"])
        assert ISO_MS_Z.match(row["updated_at"])
        assert row["created_at"] <= row["updated_at"]
    emails = [r["email"] for r in first.values() if r["email"]]
    assert any(e != e.strip() for e in emails), "some emails carry whitespace"
    assert any(e.strip() != e.strip().lower() for e in emails), "some emails are mixed case"
    phones = [r["phone"] for r in first.values() if r["phone"]]
    assert any(p.startswith("+1 (") for p in phones)
    assert any(re.fullmatch(r"\d{3}\.\d{3}\.\d{4}", p) for p in phones)
    assert any(p.startswith("0044 ") for p in phones)


def test_email_and_survey_files_are_well_formed() -> None:
    activity = read_csv("email/activity.csv")
    assert set(Counter(r["action"] for r in activity)) == {
        "sent",
        "open",
        "click",
        "bounce",
        "unsubscribe",
    }
    for row in activity:
        assert ISO_OFFSET.match(row["timestamp"])
        assert bool(row["url"]) == (row["action"] == "click")
    nps = read_csv("survey/nps.csv")
    assert all(0 <= int(r["score"]) <= 10 and ISO_OFFSET.match(r["submitted_at"]) for r in nps)
    assert sum("\n" in r["comment"] for r in nps) == 3, "multi-line free text, quoted"


def test_readme_states_the_manifest_numbers() -> None:
    readme = (QUICKSTART / "README.md").read_text(encoding="utf-8")
    for spec in manifest()["streams"].values():
        row = next(line for line in readme.splitlines() if f"`{spec['table']}`" in line)
        for name in ("lines", "distinct_keys", "bad_lines"):
            assert f"{spec[name]:,}" in row, (spec["table"], name)
    web = manifest()["web"]
    assert f"{web['duplicate_message_ids']} duplicated messageIds" in readme
    (malformed,) = web["malformed_lines"]
    assert f"{malformed['file']}` line {malformed['line']}" in readme


# --------------------------------------------------------------------------- ground truth
def normalize_phone(raw: str) -> str:
    """E.164 for the formats the CRM holds (US numbers and +44 / 0044 UK numbers)."""
    text = raw.strip().replace("(0)", "")
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        return "+" + digits[2:]
    if text.startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    assert len(digits) == 10, raw
    return "+1" + digits


@dataclass
class Truth:
    rows: list[dict[str, str]]
    owners: dict[str, dict[str, list[str]]]  # kind -> identifier -> person ids


@cache
def truth() -> Truth:
    rows = read_csv("ground_truth.csv")
    owners: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        for kind in ("crm_contact_ids", "emails", "phones", "user_ids", "anonymous_ids"):
            for value in filter(None, row[kind].split("|")):
                owners.setdefault(kind, {}).setdefault(value, []).append(row["person_id"])
    return Truth(rows, owners)


@cache
def identifiers_in_data() -> dict[str, set[str]]:
    contacts = read_csv("crm/contacts.csv") + read_csv("crm/contacts_update_2026-11-02.csv")
    emails = {r["email"] for r in contacts}
    emails |= {r["email"] for r in read_csv("email/activity.csv")}
    emails |= {r["email"] for r in read_csv("survey/nps.csv")}
    emails |= {e["traits"]["email"] for e in events() if e["type"] == "identify"}
    return {
        "crm_contact_ids": {r["contact_id"] for r in contacts},
        "emails": {e.strip().lower() for e in emails if e.strip()},
        "phones": {normalize_phone(r["phone"]) for r in contacts if r["phone"]},
        "user_ids": {e["userId"] for e in events() if e["userId"]},
        "anonymous_ids": {e["anonymousId"] for e in events()},
    }


@pytest.mark.parametrize(
    "kind", ["crm_contact_ids", "emails", "phones", "user_ids", "anonymous_ids"], ids=str
)
def test_ground_truth_holds_exactly_the_identifiers_in_the_data(kind: str) -> None:
    in_data = identifiers_in_data()[kind]
    in_truth = set(truth().owners[kind])
    assert sorted(in_data - in_truth) == [], "in the data but not in ground_truth.csv"
    assert sorted(in_truth - in_data) == [], "in ground_truth.csv but not in the data"


def test_ground_truth_people_and_traps() -> None:
    t = truth()
    ids = [r["person_id"] for r in t.rows]
    assert len(ids) == len(set(ids)) == manifest()["ground_truth"]["persons"]
    # ids that name one record belong to one person
    for kind in ("crm_contact_ids", "user_ids"):
        shared = {v: p for v, p in t.owners[kind].items() if len(p) > 1}
        assert shared == {}, kind
    # the traps the README describes
    gt = manifest()["ground_truth"]
    generic = t.owners["emails"][gt["generic_email"]]
    assert len(generic) == gt["persons_sharing_generic_email"] >= 5
    shared_devices = {a: p for a, p in t.owners["anonymous_ids"].items() if len(p) > 1}
    assert len(shared_devices) == gt["shared_anonymous_ids"] >= 5
    assert all(len(p) == 2 for p in shared_devices.values())
    duplicated = [r for r in t.rows if "|" in r["crm_contact_ids"]]
    assert len(duplicated) == gt["persons_with_duplicate_crm_contacts"] >= 20
    for row in t.rows:
        traps = set(filter(None, row["traps"].split("|")))
        assert ("generic_email" in traps) == (gt["generic_email"] in row["emails"].split("|"))
        has_shared = any(a in shared_devices for a in row["anonymous_ids"].split("|"))
        assert ("shared_device" in traps) == has_shared, row["person_id"]
        assert ("duplicate_crm_contact" in traps) == ("|" in row["crm_contact_ids"])


def test_identify_calls_link_browsers_to_their_own_people() -> None:
    """An identify call joins an anonymousId and a userId of the same person (but for shared
    browsers, which ground truth lists under both people)."""
    t = truth()
    person_of_user = {u: p[0] for u, p in t.owners["user_ids"].items()}
    for event in events():
        if event["type"] != "identify" or not event["userId"]:
            continue
        person = person_of_user[event["userId"]]
        assert person in t.owners["anonymous_ids"][event["anonymousId"]]
        email = event["traits"]["email"].strip().lower()
        assert person in t.owners["emails"][email]
