"""The unify step on small hand-built stores: stitching, guards, stable ids, golden records."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import ibis
import pytest
from cintel.identity.config import IdentityConfig
from cintel.identity.evaluate import pairwise_scores
from cintel.identity.normalize import Normalizer
from cintel.identity.profile import find_customers, load_profile
from cintel.identity.unify import Unifier, customer_id_for
from cintel.model import to_arrow
from cintel.testing.people import Scenario, generate
from cintel_duckdb.compat import patch
from test_people import naive_scores

patch()

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ids(**kinds: str | list[str]) -> list[dict[str, str]]:
    out = []
    for kind, values in kinds.items():
        for value in [values] if isinstance(values, str) else values:
            out.append({"type": kind, "value": value})
    return out


def profile(key: str, source: str = "crm", **fields: Any) -> tuple[str, dict[str, Any]]:
    row = {"profile_id": key, "_cintel_source": source, "_cintel_stream": "contacts"}
    row["_cintel_record_key"] = key
    row.update(fields)
    return "source_profiles", row


def touch(key: str, when: datetime, source: str = "web", **idents: str) -> tuple[str, dict]:
    return "touchpoints", {
        "touchpoint_id": key,
        "occurred_at": when,
        "event_type": "page",
        "identifiers": ids(**idents),
        "_cintel_source": source,
        "_cintel_stream": "events",
        "_cintel_record_key": key,
    }


def link(key: str, when: datetime, left: tuple[str, str], right: tuple[str, str]):
    return "identity_links", {
        "left": {"type": left[0], "value": left[1]},
        "right": {"type": right[0], "value": right[1]},
        "kind": "identify",
        "seen_at": when,
        "_cintel_source": "web",
        "_cintel_stream": "events",
        "_cintel_record_key": key,
    }


class Store:
    """An in-memory DuckDB store holding canonical tables, unified on demand."""

    def __init__(self) -> None:
        self.duck = duckdb.connect()
        self.con = ibis.duckdb.from_connection(self.duck)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}

    def put(self, *items: tuple[str, dict[str, Any]]) -> Store:
        for table, row in items:
            self.rows.setdefault(table, {})[row["_cintel_record_key"]] = row
        return self

    def drop(self, table: str, key: str) -> Store:
        del self.rows[table][key]
        return self

    def unify(self, config: IdentityConfig | None = None, hours: float = 0) -> Any:
        for table, rows in self.rows.items():
            self.duck.register("incoming", to_arrow(table, list(rows.values())))
            self.duck.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM incoming")
            self.duck.unregister("incoming")
        return Unifier(self.con, config, now=at(1000 + hours)).run()

    def customer_of(self, kind: str, value: str) -> str | None:
        rows = self.duck.execute(
            "SELECT customer_id FROM customer_identifiers WHERE type = ? AND value = ? "
            "AND NOT shared",
            [kind, value],
        ).fetchall()
        assert len(rows) <= 1
        return rows[0][0] if rows else None

    def customers(self) -> set[str]:
        return {r[0] for r in self.duck.execute("SELECT customer_id FROM customers").fetchall()}

    def record_customer(self, table: str, key: str) -> str | None:
        rows = self.duck.execute(
            'SELECT customer_id FROM customer_records WHERE "table" = ? AND record_key = ?',
            [table, key],
        ).fetchall()
        return rows[0][0] if rows else None

    def refusals(self) -> list[tuple[str, str, str]]:
        return sorted(
            self.duck.execute("SELECT reason, type, value FROM identity_refusals").fetchall()
        )

    def golden(self, customer_id: str) -> dict[str, Any]:
        customers = self.con.table("customers")
        return customers.filter(customers.customer_id == customer_id).to_pyarrow().to_pylist()[0]


def same(values: Iterable[str | None]) -> bool:
    found = set(values)
    return len(found) == 1 and None not in found


# --------------------------------------------------------------------------- stitching
def test_identifiers_seen_together_become_one_customer_across_sources() -> None:
    s = Store().put(
        profile("c1", identifiers=ids(crm_id="c1", email="ana@acme.example")),
        link("i1", at(1), ("user_id", "u1"), ("email", "ana@acme.example")),
        link("i2", at(1), ("user_id", "u1"), ("anonymous_id", "anon-1")),
        touch("t1", at(0), anonymous_id="anon-1"),  # browsing before signing in
        touch("t2", at(2), source="email", email="ana@acme.example"),
        profile("c2", identifiers=ids(crm_id="c2", email="bo@acme.example")),
    )
    result = s.unify()
    ana = s.customer_of("crm_id", "c1")
    assert same(
        [
            ana,
            s.customer_of("user_id", "u1"),
            s.customer_of("anonymous_id", "anon-1"),
            s.record_customer("touchpoints", "t1"),
            s.record_customer("touchpoints", "t2"),
        ]
    )
    assert s.customer_of("crm_id", "c2") not in (None, ana)
    assert s.customers() == {ana, s.customer_of("crm_id", "c2")}
    assert result.customers == 2
    assert result.identifiers == 6
    golden = s.golden(ana)
    assert golden["channels"] == ["crm", "email", "web"]
    assert golden["first_seen"] == at(0)
    assert {(i["type"], i["value"]) for i in golden["identifiers"]} == {
        ("crm_id", "c1"),
        ("email", "ana@acme.example"),
        ("user_id", "u1"),
        ("anonymous_id", "anon-1"),
    }
    # strongest first: user_id (1), email (2), then the rest by type
    assert golden["identifiers"][0] == {"type": "user_id", "value": "u1"}


def test_a_long_chain_is_one_component_whatever_its_length() -> None:
    # anon-0 - u0 - anon-1 - u1 … : 40 links in a chain; label propagation must close it
    s = Store()
    for i in range(20):
        s.put(link(f"a{i}", at(i), ("email", f"e{i}@x.example"), ("phone", f"+1415555{i:04d}")))
        s.put(link(f"b{i}", at(i), ("phone", f"+1415555{i:04d}"), ("email", f"e{i + 1}@x.example")))
    result = s.unify(IdentityConfig(default_limit=None, identifiers={"email": {"priority": 2}}))
    assert len(s.customers()) == 1
    assert result.passes < 20  # pointer jumping: far fewer passes than the chain is long


# --------------------------------------------------------------------------- guards
def test_blocked_placeholder_values_merge_nobody() -> None:
    s = Store().put(
        profile("c1", identifiers=ids(crm_id="c1", email="noreply@acme.example")),
        profile("c2", identifiers=ids(crm_id="c2", email="noreply@acme.example")),
        touch("t1", at(1), anonymous_id="00000000", user_id="u9"),
        touch("t2", at(2), anonymous_id="00000000", user_id="u8"),
        profile("c3", identifiers=ids(crm_id="c3", email="sales@acme.example")),
        profile("c4", identifiers=ids(crm_id="c4", email="sales@acme.example")),
    )
    config = IdentityConfig(blocklist={"email": ["^sales@"]}, max_profiles_per_identifier=None)
    s.unify(config)
    assert len({s.customer_of("crm_id", k) for k in ("c1", "c2", "c3", "c4")}) == 4
    assert s.customer_of("user_id", "u9") != s.customer_of("user_id", "u8")
    assert s.customer_of("email", "noreply@acme.example") is None
    assert ("blocklist", "email", "sales@acme.example") in s.refusals()
    assert ("blocklist", "anonymous_id", "00000000") in s.refusals()


def test_an_identifier_shared_by_too_many_profiles_merges_nobody_but_stays_findable() -> None:
    s = Store()
    for i in range(4):
        s.put(profile(f"c{i}", identifiers=ids(crm_id=f"c{i}", email="info@bayside.example")))
    s.put(touch("t1", at(1), source="email", email="info@bayside.example"))
    s.unify(IdentityConfig(max_profiles_per_identifier=3))
    people = {s.customer_of("crm_id", f"c{i}") for i in range(4)}
    assert len(people) == 4
    holders = s.duck.execute(
        "SELECT customer_id, shared FROM customer_identifiers WHERE value = 'info@bayside.example'"
    ).fetchall()
    assert {h[0] for h in holders} == people
    assert all(h[1] for h in holders)
    assert s.refusals() == [("shared", "email", "info@bayside.example")]
    assert s.record_customer("touchpoints", "t1") is None  # only the shared address: nobody
    # the same store with a looser guard merges the four
    s.unify(IdentityConfig(max_profiles_per_identifier=5))
    assert len({s.customer_of("crm_id", f"c{i}") for i in range(4)}) == 1


def test_a_shared_device_is_kept_by_its_first_user_and_both_users_stay_apart() -> None:
    # a household laptop: u1 logs in first, then u2; analytics.js keeps the last userId
    s = Store().put(
        touch("t1", at(1), anonymous_id="laptop", user_id="u1"),
        touch("t2", at(2), anonymous_id="laptop"),
        touch("t3", at(3), anonymous_id="laptop", user_id="u2"),
        link("i2", at(3), ("user_id", "u2"), ("email", "kim@home.example")),
    )
    result = s.unify()
    u1, u2 = s.customer_of("user_id", "u1"), s.customer_of("user_id", "u2")
    assert u1 != u2
    assert s.customer_of("anonymous_id", "laptop") == u1
    assert s.customer_of("email", "kim@home.example") == u2  # not lost with the device
    assert s.record_customer("touchpoints", "t3") == u2  # the strongest identifier decides
    assert s.record_customer("touchpoints", "t2") == u1
    assert ("limit", "anonymous_id", "laptop") in s.refusals()
    assert result.refused == {"limit": 1}


def test_a_type_limit_drops_the_weaker_identifiers_not_the_record() -> None:
    config = IdentityConfig(identifiers={"email": {"priority": 2, "limit": 1}})
    s = Store().put(
        link("i1", at(1), ("user_id", "u1"), ("email", "a@x.example")),
        # one record: u1 with a second email and a phone; the email breaks the limit
        touch("t1", at(2), user_id="u1", email="b@x.example", phone="+14155550134"),
    )
    s.unify(config)
    u1 = s.customer_of("user_id", "u1")
    assert s.customer_of("phone", "+14155550134") == u1
    assert s.customer_of("email", "a@x.example") == u1
    assert s.customer_of("email", "b@x.example") not in (None, u1)
    assert s.record_customer("touchpoints", "t1") == u1


# --------------------------------------------------------------------------- stable ids
def test_ids_are_stable_across_runs_and_derive_from_the_strongest_identifier() -> None:
    s = Store().put(
        profile("c1", identifiers=ids(crm_id="c1", email="ana@acme.example")),
        link("i1", at(1), ("user_id", "u1"), ("email", "ana@acme.example")),
    )
    s.unify()
    first = s.customer_of("crm_id", "c1")
    assert first == customer_id_for("user_id", "u1")  # a rebuild from scratch agrees
    again = s.unify(hours=1)
    assert s.customer_of("crm_id", "c1") == first
    assert (again.created, again.merged, again.split) == (0, 0, 0)
    # new identifiers joining later keep the id even though the anchor would now differ
    s.put(link("i0", at(2), ("user_id", "u0"), ("email", "ana@acme.example")))
    s.unify(IdentityConfig(identifiers={"user_id": {"priority": 1, "limit": 2}}), hours=2)
    assert s.customer_of("user_id", "u0") == first


def test_a_bridging_record_merges_two_customers_and_the_retired_id_still_resolves() -> None:
    s = Store().put(
        profile("c1", identifiers=ids(crm_id="c1", email="ana@work.example")),
        touch("t1", at(1), source="email", email="ana@home.example"),
    )
    s.unify()
    work, home = s.customer_of("crm_id", "c1"), s.customer_of("email", "ana@home.example")
    assert work != home
    s.put(
        profile("c9", identifiers=ids(crm_id="c9", email=["ana@work.example", "ana@home.example"]))
    )
    result = s.unify(hours=1)
    merged = s.customer_of("crm_id", "c1")
    assert merged in (work, home)
    assert s.customer_of("email", "ana@home.example") == merged
    retired = home if merged == work else work
    assert retired not in s.customers()
    assert result.merged == 1
    rows = s.duck.execute("SELECT retired_id, survivor_id, kind FROM customer_merges").fetchall()
    assert rows == [(retired, merged, "merge")]
    normalizer = Normalizer()
    assert find_customers(s.con, retired, normalizer) == [(merged, "customer_id", retired)]
    registry = dict(
        s.duck.execute("SELECT customer_id, merged_into FROM _cintel_customer_ids").fetchall()
    )
    assert registry == {merged: None, retired: merged}


def test_the_older_customer_survives_a_merge() -> None:
    s = Store().put(profile("c1", identifiers=ids(crm_id="c1", email="z@x.example")))
    s.unify()
    old = s.customer_of("crm_id", "c1")
    # a newer customer whose anchor sorts first (user_id beats crm_id)
    s.put(link("i1", at(1), ("user_id", "u1"), ("email", "y@x.example")))
    s.unify(hours=1)
    new = s.customer_of("user_id", "u1")
    assert new != old
    s.put(touch("t9", at(5), email=["z@x.example", "y@x.example"]))
    s.unify(hours=2)
    assert s.customer_of("user_id", "u1") == old
    assert s.customers() == {old}


def test_removing_the_bridge_splits_and_the_bigger_part_keeps_the_id() -> None:
    s = Store().put(
        profile("c1", identifiers=ids(crm_id="c1", email="a@x.example", phone="+14155550101")),
        touch("t1", at(1), email="a@x.example", anonymous_id="n1"),
        touch("bridge", at(2), anonymous_id="n1", user_id="u7"),
    )
    s.unify()
    whole = s.customer_of("crm_id", "c1")
    assert s.customer_of("user_id", "u7") == whole
    s.drop("touchpoints", "bridge")
    result = s.unify(hours=1)
    assert s.customer_of("crm_id", "c1") == whole  # 4 of the 5 identifiers stayed here
    gone = s.customer_of("user_id", "u7")
    assert gone is None  # u7 was only on the removed record
    assert result.split == 0
    # a real split: the part still has records of its own
    s.put(touch("bridge", at(2), anonymous_id="n1", user_id="u7"))
    s.put(touch("u7-own", at(3), user_id="u7", phone="+14155550199"))
    s.unify(hours=2)
    assert s.customer_of("phone", "+14155550199") == whole
    s.drop("touchpoints", "bridge")
    result = s.unify(hours=3)
    other = s.customer_of("user_id", "u7")
    assert other not in (None, whole)
    assert result.split == 1
    kinds = s.duck.execute(
        "SELECT retired_id, survivor_id FROM customer_merges WHERE kind = 'split'"
    ).fetchall()
    assert kinds == [(whole, other)]


# --------------------------------------------------------------------------- golden record
def test_survivorship_rules_pick_attributes_per_rule() -> None:
    s = Store().put(
        profile(
            "c1",
            source="crm",
            identifiers=ids(email="ana@x.example"),
            first_name="Ana",
            title="CTO",
            country="PT",
            updated_at=at(1),
        ),
        profile(
            "w1",
            source="web",
            identifiers=ids(email="ana@x.example"),
            first_name="Anna",
            title="Engineer",
            country="ES",
            updated_at=at(5),
        ),
        profile(
            "m1",
            source="mail",
            identifiers=ids(email="ana@x.example"),
            first_name="Anna",
            country="PT",
            updated_at=at(3),
        ),
        (
            "conversions",
            {
                "conversion_id": "o1",
                "occurred_at": at(6),
                "type": "purchase",
                "value": 40.0,
                "currency": "EUR",
                "identifiers": ids(email="ana@x.example"),
                "_cintel_source": "web",
                "_cintel_stream": "orders",
                "_cintel_record_key": "o1",
            },
        ),
        (
            "conversions",
            {
                "conversion_id": "o2",
                "occurred_at": at(7),
                "type": "purchase",
                "value": 2.5,
                "currency": "EUR",
                "identifiers": ids(email="ana@x.example"),
                "_cintel_source": "web",
                "_cintel_stream": "orders",
                "_cintel_record_key": "o2",
            },
        ),
        *[
            (
                "survey_responses",
                {
                    "response_id": f"r{i}",
                    "survey_id": "nps",
                    "submitted_at": at(hour),
                    "nps": score,
                    "identifiers": ids(email="ana@x.example"),
                    "_cintel_source": "survey",
                    "_cintel_stream": "nps",
                    "_cintel_record_key": f"r{i}",
                },
            )
            for i, (hour, score) in enumerate([(2, 3), (9, 8), (4, 10)])
        ],
    )
    config = IdentityConfig.model_validate(
        {
            "survivorship": {
                "source_priority": ["crm", "mail"],
                "attributes": {"title": "source_priority", "country": "most_frequent"},
            }
        }
    )
    s.unify(config)
    golden = s.golden(s.customer_of("email", "ana@x.example"))
    assert golden["first_name"] == "Anna"  # most recent (web, hour 5)
    assert golden["title"] == "CTO"  # crm is trusted over web
    assert golden["country"] == "PT"  # two of three profiles
    assert golden["profile_count"] == 3
    assert golden["lifetime_value"] == pytest.approx(42.5)
    assert golden["currency"] == "EUR"
    assert golden["latest_nps"] == 8  # hour 9, not the highest score
    assert golden["last_seen"] == at(9)


def test_profile_look_up_finds_by_any_spelling_and_shows_the_timeline() -> None:
    s = Store().put(
        profile(
            "c1",
            identifiers=ids(crm_id="c1", email="ana@acme.example", phone="+14155550134"),
            first_name="Ana",
        ),
        touch("t1", at(1), source="email", email="ana@acme.example"),
        touch("t2", at(2), anonymous_id="n1", email="ana@acme.example"),
    )
    s.unify()
    normalizer = Normalizer()
    cid = s.customer_of("crm_id", "c1")
    for text in (" Ana@ACME.example ", "(415) 555-0134", "crm_id:c1", "n1", cid):
        found = find_customers(s.con, text, normalizer)
        assert [f[0] for f in found] == [cid], text
    assert find_customers(s.con, "nobody@acme.example", normalizer) == []
    full = load_profile(s.con, cid)
    assert full.golden["first_name"] == "Ana"
    assert [e["at"] for e in full.timeline] == [at(2), at(1)]
    assert [p["profile_id"] for p in full.profiles] == ["c1"]
    assert {i["type"] for i in full.identifiers} == {"crm_id", "email", "phone", "anonymous_id"}


# --------------------------------------------------------------------------- quality
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_merges_are_precise_on_generated_people(difficulty: str) -> None:
    """Pairwise precision of record clusters against the generator's ground truth.

    Recall is bounded by the evidence: people whose records share no identifier
    (a typo, a device never logged in on) need the probabilistic stage. Naive
    stitching (no guards) is the floor recall must not fall under.
    """
    synthetic = generate(Scenario(n_people=3000, difficulty=difficulty, seed=7))
    duck = unify_generated(synthetic)
    scores = record_scores(duck, "person_id")
    naive = naive_scores(synthetic)
    assert scores.precision >= 0.999
    assert scores.precision > naive.precision or naive.precision == 1.0
    assert scores.recall >= naive.recall - 0.01
    assert scores.recall >= {"easy": 0.95, "medium": 0.85, "hard": 0.75}[difficulty]


def unify_generated(synthetic: Any, config: IdentityConfig | None = None) -> Any:
    """An in-memory DuckDB store holding ``synthetic``'s tables and truth, unified."""
    duck = duckdb.connect()
    for name, table in synthetic.tables.items():
        duck.register("incoming", table)
        duck.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        duck.unregister("incoming")
    Unifier(ibis.duckdb.from_connection(duck), config).run()
    duck.register("truth", synthetic.truth)
    return duck


def record_scores(duck: Any, truth: str) -> Any:
    """Pairwise scores of the records' customers against a truth column of ``truth``."""
    rows = duck.execute(
        f'SELECT t.{truth}, r.customer_id FROM truth t LEFT JOIN customer_records r ON r."table" '
        '= t."table" AND r.source = t._cintel_source AND r.stream = t._cintel_stream '
        "AND r.record_key = t._cintel_record_key"
    ).fetchall()
    return pairwise_scores([r[1] for r in rows], [r[0] for r in rows])
