"""The multichannel example end to end: four sources about the same people, one sync.

``examples/multichannel`` is copied to a tmp dir; its bundled ``server.py`` serves
HubSpot, Mailchimp and Typeform on a free 127.0.0.1 port (bound before ``serve``
returns: no waiting), the Segment export is read from the copied files, and
``cintel sync`` runs as a real subprocess against them. ``data/scenario.json``
(written by ``scenario.py``) says who is who and what the story's attribution is.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "multichannel"
SOURCES = {"crm", "web", "email", "survey"}
# The story: (first touch, last touch) of each group's conversions, with the campaign.
JOURNEYS = {
    "newsletter_then_search": (
        ("Email", "October Newsletter"),
        ("Paid Search", "fall_boots_search"),
    ),
    "social_then_newsletter": (("Paid Social", "fall_layers_ig"), ("Email", "Fall Layers Sale")),
    "organic_buyer": (("Organic Search", None), ("Organic Search", None)),
    "b2b_buyer": (("Email", "B2B Webinar Invite"), ("Direct", None)),
}


def _load_server(example: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("multichannel_server", example / "server.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Synced:
    example: Path
    result: dict[str, Any]
    scenario: dict[str, Any]
    server_errors: list[str]
    port: int
    server: Any

    @property
    def config(self) -> Path:
        return self.example / "cintel.yaml"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.example / "cintel.duckdb"), read_only=True)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    example = tmp_path_factory.mktemp("multichannel") / "multichannel"
    shutil.copytree(
        EXAMPLE,
        example,
        ignore=shutil.ignore_patterns("cintel.duckdb*", "*.lock", "report.html", "__pycache__"),
    )
    server = _load_server(example).serve(0, example / "data" / "api")
    try:
        done = run_cli("sync", str(example / "cintel.yaml"), "--json", env=_env(server.port))
        assert done.returncode == 0, done.stderr[-3000:]
        scenario = json.loads((example / "data" / "scenario.json").read_text(encoding="utf-8"))
        yield Synced(
            example, json.loads(done.stdout), scenario, list(server.errors), server.port, server
        )
    finally:
        server.stop()


def _env(port: int) -> dict[str, str]:
    return {"MULTICHANNEL_PORT": str(port)}


def test_every_stream_loads_from_the_server_and_the_files(synced: Synced) -> None:
    streams = synced.result["streams"]
    assert {s["status"] for s in streams.values()} == {"succeeded"}
    records = {name: s["records"] for name, s in streams.items()}
    people = synced.scenario["people"]
    in_crm = sum("crm" in p["sources"] for p in people)
    assert records["crm.contacts"] == in_crm
    assert records["crm.deals"] == synced.scenario["deals"]["conversions"] + 1  # one still open
    assert records["email.members"] == sum("email" in p["sources"] for p in people)
    assert records["survey.responses"] == sum("survey" in p["sources"] for p in people)
    assert records["web.events"] > 0
    assert all(s["bad"] == 0 for s in streams.values())
    assert synced.server_errors == []
    paths = {r.path for r in synced.server.requests}
    assert "/hubspot/crm/v3/objects/contacts" in paths
    assert "/mailchimp/3.0/campaigns" in paths
    assert "/typeform/forms/nQ7xP2/responses" in paths


def test_each_person_is_one_customer_across_their_sources(synced: Synced) -> None:
    people = synced.scenario["people"]
    with synced.connect() as con:
        owner = {
            (kind, value): customer
            for customer, kind, value in con.sql(
                "SELECT customer_id, type, value FROM customer_identifiers"
            ).fetchall()
        }
        channels = dict(con.sql("SELECT customer_id, channels FROM customers").fetchall())
        by_source: dict[str, Counter[str]] = defaultdict(Counter)
        for customer, source, count in con.sql(
            "SELECT customer_id, source, count(*) FROM customer_records GROUP BY ALL"
        ).fetchall():
            by_source[customer][source] = count
    seen: set[str] = set()
    for person in people:
        ids = {("email", person["email"].lower())}
        if "crm" in person["sources"]:  # the CRM has every contact's phone
            ids.add(("phone", person["phone"]))
        if person["user_id"]:
            ids |= {("user_id", person["user_id"]), ("anonymous_id", person["anonymous_id"])}
        if person["hubspot_id"]:
            ids.add(("hubspot_id", person["hubspot_id"]))
        customers = {owner.get(i) for i in ids}
        assert None not in customers, (person["name"], customers)
        assert len(customers) == 1, (person["name"], customers)
        (customer,) = customers
        assert customer not in seen, f"{person['name']} shares a customer with someone else"
        seen.add(customer)
        assert sorted(channels[customer]) == person["sources"], person["name"]
        assert set(by_source[customer]) == set(person["sources"]), person["name"]
    assert len(channels) == len(people) + synced.scenario["anonymous_visitors"]
    full = [p for p in people if set(p["sources"]) == SOURCES]
    assert len(full) == 23
    assert sum(set(c) == SOURCES for c in channels.values()) == len(full)
    assert synced.result["unify"]["refused"] == {}


def test_credits_of_every_conversion_sum_to_one(synced: Synced) -> None:
    with synced.connect() as con:
        sums = con.sql(
            "SELECT goal, model, conversion_id, sum(credit) FROM attribution_credit GROUP BY ALL"
        ).fetchall()
        models = {m for (m,) in con.sql("SELECT DISTINCT model FROM attribution_credit").fetchall()}
    assert {"first_touch", "last_touch", "last_non_direct", "linear", "markov"} <= models
    assert sums
    for goal, model, conversion, total in sums:
        assert total == pytest.approx(1.0), (goal, model, conversion)
    per_goal = Counter((goal, model) for goal, model, _, _ in sums)
    purchases = synced.scenario["purchases"]["conversions"]
    deals = synced.scenario["deals"]["conversions"]
    for (goal, _), count in per_goal.items():
        assert count == {"purchase": purchases, "deal": deals}[goal]
    assert synced.result["attribution"]["unattributable_conversions"] == 0


@pytest.mark.parametrize(
    ("goal", "key"),
    [("purchase", "purchases"), ("deal", "deals")],
)
def test_channel_credit_matches_the_story(synced: Synced, goal: str, key: str) -> None:
    expected = synced.scenario[key]
    with synced.connect() as con:
        rows = con.sql(
            "SELECT model, key, conversions, value FROM attribution_summary "
            "WHERE dimension = 'channel' AND goal = ?",
            params=[goal],
        ).fetchall()
    got: dict[str, dict[str, float]] = defaultdict(dict)
    value: dict[str, float] = defaultdict(float)
    for model, channel, conversions, amount in rows:
        if conversions:
            got[model][channel] = conversions
        value[model] += amount
    for model in ("first_touch", "last_touch", "last_non_direct"):
        want = expected.get(model, expected["last_touch"] if model == "last_non_direct" else None)
        assert got[model] == pytest.approx(want), model
        assert value[model] == pytest.approx(expected["revenue"]), model
    goals = synced.result["attribution"]["goals"]
    assert goals[goal]["conversions"] == expected["conversions"]
    assert goals[goal]["value"] == pytest.approx(expected["revenue"])


def test_each_conversion_is_credited_as_its_person_s_story(synced: Synced) -> None:
    with synced.connect() as con:
        credit = {
            (conversion, model): (channel, campaign)
            for conversion, model, channel, campaign in con.sql(
                "SELECT conversion_id, model, channel, campaign FROM attribution_credit "
                "WHERE model IN ('first_touch', 'last_touch') AND credit = 1"
            ).fetchall()
        }
    checked = 0
    for person in synced.scenario["people"]:
        story = JOURNEYS.get(person["group"])
        conversions = [o["order_id"] for o in person["orders"]]
        if person["deal"]:
            conversions.append(person["deal"]["deal_id"])
        for conversion in conversions:
            assert story is not None
            first, last = credit[(conversion, "first_touch")], credit[(conversion, "last_touch")]
            assert first[0] == story[0][0], (person["name"], first)
            assert last[0] == story[1][0], (person["name"], last)
            for (_, campaign), (_, want) in ((first, story[0]), (last, story[1])):
                if want is not None:
                    assert campaign == want, (person["name"], campaign)
            checked += 1
    assert checked == 29


def test_report_shows_customers_stitched_across_sources(synced: Synced) -> None:
    out = synced.example / "report.html"
    done = run_cli("report", str(synced.config), "-o", str(out))
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert '<section class="panel" id="identity">' in html
    identified = len(synced.scenario["people"])
    assert f'Multi-source</div><div class="v">{identified}</div>' in html
    assert "<title>4: 23 customers" in html  # crm + web + email + survey
    assert "crm + email + survey + web</td>" in html  # the combination, named


def test_a_second_sync_reads_nothing_new(synced: Synced) -> None:
    before = _counts(synced)
    done = run_cli("sync", str(synced.config), "--json", env=_env(synced.port))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    incremental = {"crm.contacts", "crm.deals", "web.events", "email.members"}
    incremental |= {"email.email_activity", "survey.responses"}
    for name in incremental:
        assert result["streams"][name]["records"] == 0, name
    assert _counts(synced) == before
    assert result["unify"]["customers"] == len(synced.scenario["people"]) + 6


def _counts(synced: Synced) -> dict[str, int]:
    tables = ("raw_crm__contacts", "raw_web__events", "raw_email__email_activity", "customers")
    with synced.connect() as con:
        return {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


def test_the_data_is_what_scenario_py_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("multichannel_scenario", EXAMPLE / "scenario.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        module.write(tmp_path)
    finally:
        del sys.modules[spec.name]
    committed = {
        p.relative_to(EXAMPLE / "data"): p.read_bytes()
        for p in sorted((EXAMPLE / "data").rglob("*"))
        if p.is_file()
    }
    written = {
        p.relative_to(tmp_path): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()
    }
    assert written.keys() == committed.keys()
    assert written == committed
