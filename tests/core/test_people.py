"""The synthetic people generator (cintel.testing.people) and pairwise scoring
(cintel.identity.evaluate)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from functools import cache
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from cintel.identity.evaluate import cluster_counts, encode_labels, pairwise_scores
from cintel.model import arrow_schema, validate_rows
from cintel.testing.people import TABLES, Scenario, Synthetic, generate
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = ("_cintel_source", "_cintel_stream", "_cintel_record_key")


@cache
def synthetic(
    n: int = 1500, difficulty: str = "medium", seed: int = 7, **knobs: float
) -> Synthetic:
    return generate(Scenario(n_people=n, difficulty=difficulty, seed=seed, **knobs))  # type: ignore[arg-type]


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def record_keys(syn: Synthetic, name: str) -> list[tuple[str, str, str, str]]:
    t = syn.tables[name]
    return list(zip(itertools.repeat(name), *(t[c].to_pylist() for c in KEY), strict=False))


def truth_map(syn: Synthetic) -> dict[tuple[str, str, str, str], int]:
    t = syn.truth
    cols = [t[c].to_pylist() for c in ("table", *KEY, "person_id")]
    return {(a, b, c, d): p for a, b, c, d, p in zip(*cols, strict=True)}


def identifier_rows(syn: Synthetic, name: str) -> list[list[tuple[str, str]]]:
    """Identifiers of each row of a table (both sides of a link)."""
    t = syn.tables[name]
    if name == "identity_links":
        return [
            [(l_["type"], l_["value"]), (r["type"], r["value"])]
            for l_, r in zip(t["left"].to_pylist(), t["right"].to_pylist(), strict=True)
        ]
    return [[(i["type"], i["value"]) for i in ids] for ids in t["identifiers"].to_pylist()]


def naive_scores(syn: Synthetic) -> Any:
    """Union-find over shared identifiers: what deterministic stitching without any guard
    (no blocklist, no limits) finds."""
    parent: dict[Any, Any] = {}

    def find(x: Any) -> Any:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for name in TABLES:
        for key, idents in zip(record_keys(syn, name), identifier_rows(syn, name), strict=True):
            for ident in idents:
                a, b = find(key), find(ident)
                if a != b:
                    parent[a] = b
    truth = truth_map(syn)
    keys = list(truth)
    return pairwise_scores([find(k) for k in keys], [truth[k] for k in keys])


def emails_per_person(syn: Synthetic) -> dict[int, set[str]]:
    truth = truth_map(syn)
    out: dict[int, set[str]] = defaultdict(set)
    for name in ("source_profiles", "survey_responses"):
        for key, idents in zip(record_keys(syn, name), identifier_rows(syn, name), strict=True):
            out[truth[key]].update(v for t, v in idents if t == "email")
    return out


# ------------------------------------------------------------------ generator


def test_same_scenario_gives_byte_identical_tables() -> None:
    a = generate(Scenario(n_people=400, difficulty="hard", seed=3))
    b = generate(Scenario(n_people=400, difficulty="hard", seed=3))
    for name in TABLES:
        assert ipc_bytes(a.tables[name]) == ipc_bytes(b.tables[name]), name
    assert ipc_bytes(a.truth) == ipc_bytes(b.truth)
    c = generate(Scenario(n_people=400, difficulty="hard", seed=4))
    assert ipc_bytes(a.tables["source_profiles"]) != ipc_bytes(c.tables["source_profiles"])


@pytest.mark.parametrize("name", TABLES)
def test_tables_have_exactly_the_canonical_schema(name: str) -> None:
    table = synthetic().tables[name]
    assert table.schema.equals(arrow_schema(name), check_metadata=True)
    assert table.num_rows > 0


@pytest.mark.parametrize("name", TABLES)
def test_rows_validate_against_the_model(name: str) -> None:
    rows = synthetic().tables[name].slice(0, 400).to_pylist()
    for row in rows:
        for column in ("traits", "answers"):
            if isinstance(row.get(column), str):
                row[column] = orjson.loads(row[column])
    valid, problems = validate_rows(name, rows)
    assert problems == []
    assert len(valid) == len(rows)


def test_record_keys_are_unique_per_record() -> None:
    syn = synthetic()
    for name in TABLES:
        keys = record_keys(syn, name)
        if name == "identity_links":
            # an identify call is one record with two rows (anon -> user, user -> email)
            counts = defaultdict(int)
            for k in keys:
                counts[k] += 1
            assert set(counts.values()) <= {1, 2}
        else:
            assert len(set(keys)) == len(keys), name


def test_truth_covers_exactly_the_rows_with_identifiers() -> None:
    syn = synthetic(difficulty="hard")
    with_ids = set()
    for name in TABLES:
        for key, idents in zip(record_keys(syn, name), identifier_rows(syn, name), strict=True):
            if idents:
                with_ids.add(key)
    truth = truth_map(syn)
    assert syn.truth.num_rows == len(truth)  # one truth row per record
    assert set(truth) == with_ids
    assert syn.truth.schema.names == ["table", *KEY, "person_id", "entity_id"]
    assert syn.stats["people_seen"] == syn.scenario.n_people


def test_entity_id_splits_off_exactly_the_devices_nothing_identifies() -> None:
    """``entity_id`` differs from ``person_id`` exactly on the records of anonymous ids that
    never appear beside another identifier (no login, no click link): checked from the
    tables themselves, not from the generator's bookkeeping."""
    syn = synthetic(difficulty="hard")
    t = syn.truth
    cols = [t[c].to_pylist() for c in ("table", *KEY, "person_id", "entity_id")]
    entity = {(a, b, c, d): (p, e) for a, b, c, d, p, e in zip(*cols, strict=True)}
    companions: dict[str, set[tuple[str, str]]] = defaultdict(set)
    anon_records: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for name in TABLES:
        for key, idents in zip(record_keys(syn, name), identifier_rows(syn, name), strict=True):
            for kind, value in idents:
                if kind == "anonymous_id":
                    companions[value].update(i for i in idents if i[0] != "anonymous_id")
                    anon_records[value].append(key)
    islands = {a for a, other in companions.items() if not other}
    assert islands, "the hard setting has devices nobody identified on"
    split = {k for k, (p, e) in entity.items() if p != e}
    assert split == {k for a in islands for k in anon_records[a]}
    # each island device is one entity of its own, numbered beyond the people
    n = syn.scenario.n_people
    for a in islands:
        ids = {entity[k][1] for k in anon_records[a]}
        assert len(ids) == 1
        assert ids.pop() >= n
    assert len({entity[k][1] for k in split}) == len(islands)


def test_values_look_normalized() -> None:
    t = synthetic(difficulty="hard").tables["source_profiles"]
    emails = [e for e in t["email"].to_pylist() if e is not None]
    assert all(e == e.strip().lower() and e.count("@") == 1 for e in emails)
    phones = [p for p in t["phone"].to_pylist() if p is not None]
    assert phones
    assert all(p.startswith("+") and p[1:].isdigit() and 10 <= len(p) <= 16 for p in phones)
    assert set(t["country"].drop_null().to_pylist()) <= {"GB", "US", "DE", "FR", "NL"}
    scenario = synthetic().scenario
    for name, column in [("touchpoints", "occurred_at"), ("survey_responses", "submitted_at")]:
        values = synthetic().tables[name][column].to_pylist()
        assert min(values).date() >= scenario.start
        assert (max(values).date() - scenario.start).days < scenario.days


def test_sources_and_streams() -> None:
    syn = synthetic()
    streams = {
        name: set(
            zip(
                syn.tables[name]["_cintel_source"].to_pylist(),
                syn.tables[name]["_cintel_stream"].to_pylist(),
                strict=True,
            )
        )
        for name in TABLES
    }
    assert streams["source_profiles"] == {
        ("crm", "contacts"),
        ("web", "users"),
        ("email", "members"),
        ("survey", "respondents"),
    }
    assert streams["touchpoints"] == {("web", "events"), ("email", "activities")}
    assert streams["conversions"] == {("web", "events"), ("crm", "deals")}
    assert streams["survey_responses"] == {("survey", "responses")}
    assert streams["identity_links"] == {("web", "events")}
    kinds = set(syn.tables["identity_links"]["kind"].to_pylist())
    assert kinds == {"identify", "click"}
    types = {t for name in TABLES for ids in identifier_rows(syn, name) for t, _ in ids}
    assert types == {"crm_id", "email", "phone", "user_id", "anonymous_id"}
    nps = syn.tables["survey_responses"]["nps"].to_pylist()
    assert min(nps) >= 0
    assert max(nps) <= 10


def test_for_profiles_hits_the_requested_size() -> None:
    for difficulty in ("easy", "hard"):
        scenario = Scenario.for_profiles(6000, difficulty, seed=1)  # type: ignore[arg-type]
        profiles = generate(scenario).tables["source_profiles"].num_rows
        assert abs(profiles - 6000) < 6000 * 0.05, (difficulty, profiles)


def test_difficulty_defaults_and_overrides() -> None:
    easy, hard = Scenario(10, difficulty="easy"), Scenario(10, difficulty="hard")
    assert easy.p_typo is not None
    assert hard.p_typo is not None
    assert hard.p_typo > easy.p_typo
    assert Scenario(10, difficulty="hard", p_typo=0.0).rates.p_typo == 0.0
    with pytest.raises(ValueError, match="p_typo"):
        Scenario(10, p_typo=1.5)


def test_typos_split_a_persons_emails() -> None:
    """Measured from the truth: with typos, more people appear under several emails."""
    base = dict(n=1500, difficulty="easy", seed=11, p_email_change=0.0, p_duplicate_crm=0.0)
    clean = emails_per_person(synthetic(**base, p_typo=0.0, p_generic_email=0.0))
    typos = emails_per_person(synthetic(**base, p_typo=0.3, p_generic_email=0.0))
    assert sum(len(v) > 1 for v in clean.values()) == 0
    assert sum(len(v) > 1 for v in typos.values()) > 50


def test_hard_is_harder_than_easy() -> None:
    easy, hard = synthetic(difficulty="easy"), synthetic(difficulty="hard")
    multi = [
        sum(len(v) > 1 for v in emails_per_person(s).values()) / s.scenario.n_people
        for s in (easy, hard)
    ]
    assert multi[1] > 2 * multi[0]
    assert hard.stats["typo_people"] > easy.stats["typo_people"]
    assert naive_scores(hard).recall < naive_scores(easy).recall


def test_shared_devices_and_generic_emails_show_in_the_truth() -> None:
    def shared_anonymous_ids(syn: Synthetic) -> int:
        truth, owners = truth_map(syn), defaultdict(set)
        for name in ("touchpoints", "conversions"):
            for key, idents in zip(record_keys(syn, name), identifier_rows(syn, name), strict=True):
                for t, v in idents:
                    if t == "anonymous_id":
                        owners[v].add(truth[key])
        return sum(len(o) > 1 for o in owners.values())

    def shared_emails(syn: Synthetic) -> int:
        truth, holders = truth_map(syn), defaultdict(set)
        for key, idents in zip(
            record_keys(syn, "source_profiles"),
            identifier_rows(syn, "source_profiles"),
            strict=True,
        ):
            for t, v in idents:
                if t == "email":
                    holders[v].add(truth[key])
        return sum(len(h) >= 3 for h in holders.values())

    none = synthetic(difficulty="hard", p_shared_device=0.0, p_generic_email=0.0)
    some = synthetic(difficulty="hard", p_shared_device=0.2, p_generic_email=0.2)
    assert shared_anonymous_ids(none) == 0
    assert shared_emails(none) == 0
    assert shared_anonymous_ids(some) == some.stats["shared_devices"] > 10
    assert shared_emails(some) == some.stats["generic_groups"] > 3


def test_naive_stitching_recovers_easy_people() -> None:
    """Union-find on identifiers reaches high recall on easy data: the truth lines up with
    the identifiers. Precision is below 1 only through shared devices and role addresses."""
    scores = naive_scores(synthetic(n=3000, difficulty="easy"))
    assert scores.recall > 0.9
    assert scores.precision > 0.9
    clean = naive_scores(
        synthetic(n=1500, difficulty="easy", p_shared_device=0.0, p_generic_email=0.0)
    )
    assert clean.precision == 1.0


# ------------------------------------------------------------------ pairwise scores


def test_pairwise_scores_by_hand() -> None:
    # items      0  1  2  3  4  5
    # truth      a  a  a  b  b  c   -> true pairs: C(3,2) + C(2,2) = 3 + 1 = 4
    # predicted  x  x  y  y  y  y   -> predicted pairs: C(2,2) + C(4,2) = 1 + 6 = 7
    # contingency: (x,a)=2, (y,a)=1, (y,b)=2, (y,c)=1 -> correct = C(2,2) + C(2,2) = 2
    # precision 2/7, recall 2/4, f1 = 2 * (2/7) * (1/2) / (2/7 + 1/2) = 4/11
    s = pairwise_scores(["x", "x", "y", "y", "y", "y"], ["a", "a", "a", "b", "b", "c"])
    assert (s.true_pairs, s.predicted_pairs, s.correct_pairs, s.n) == (4, 7, 2, 6)
    assert s.precision == pytest.approx(2 / 7)
    assert s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(4 / 11)
    assert (s.predicted_clusters, s.true_clusters) == (2, 3)

    # None is a singleton: predicted [1, 1, None, None] vs truth [0, 0, 0, 0]
    # predicted pairs: C(2,2) = 1 (the two Nones are not together); true pairs C(4,2) = 6
    # correct: cell (1, 0) has 2 items -> 1; precision 1/1, recall 1/6
    s = pairwise_scores([1, 1, None, None], np.array([0, 0, 0, 0]))
    assert (s.predicted_pairs, s.true_pairs, s.correct_pairs) == (1, 6, 1)
    assert s.precision == 1.0
    assert s.recall == pytest.approx(1 / 6)
    assert cluster_counts([1, 1, None, None], [0, 0, 0, 0]) == (3, 1)

    # no pairs anywhere: 0/0 is 1.0 for both
    s = pairwise_scores(["a", "b"], pa.array(["c", "d"]))
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)

    # everything merged when the truth is all singletons: precision 0/3, recall 0/0 = 1
    s = pairwise_scores([7, 7, 7], ["a", "b", "c"])
    assert (s.precision, s.recall) == (0.0, 1.0)
    assert s.f1 == 0.0


def test_pairwise_scores_inputs() -> None:
    with pytest.raises(ValueError, match="labels"):
        pairwise_scores([1, 2], [1])
    assert pairwise_scores([], []).n == 0
    chunked = pa.chunked_array([["a", "a"], ["b", None]])
    assert pairwise_scores(chunked, np.array([1.0, 1.0, 2.0, np.nan])).precision == 1.0
    dictionary = pa.array(["a", "a", "b"]).dictionary_encode()
    assert pairwise_scores(dictionary, [1, 1, 2]).f1 == 1.0
    codes = encode_labels(["q", None, "q", None])
    assert codes[0] == codes[2]
    assert len(set(codes.tolist())) == 3


labellings = st.lists(st.integers(0, 6) | st.none(), min_size=0, max_size=40)


def brute_force(predicted: list[Any], truth: list[Any]) -> tuple[int, int, int]:
    together = [
        (p1 is not None and p1 == p2, t1 is not None and t1 == t2)
        for (p1, t1), (p2, t2) in itertools.combinations(zip(predicted, truth, strict=True), 2)
    ]
    return (
        sum(p for p, _ in together),
        sum(t for _, t in together),
        sum(p and t for p, t in together),
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_pairwise_scores_match_pair_enumeration(data: st.DataObject) -> None:
    truth = data.draw(labellings)
    size = len(truth)
    predicted = data.draw(st.lists(st.integers(0, 6) | st.none(), min_size=size, max_size=size))
    s = pairwise_scores(predicted, truth)
    assert (s.predicted_pairs, s.true_pairs, s.correct_pairs) == brute_force(predicted, truth)


@settings(max_examples=100, deadline=None)
@given(labellings)
def test_identical_labelling_is_perfect(labels: list[Any]) -> None:
    s = pairwise_scores(labels, labels)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_relabelling_changes_nothing(data: st.DataObject) -> None:
    truth = data.draw(labellings)
    predicted = data.draw(st.lists(st.integers(0, 6), min_size=len(truth), max_size=len(truth)))
    mapping = data.draw(st.permutations(range(7)))
    renamed = [f"cluster-{mapping[p]}" for p in predicted]
    assert pairwise_scores(renamed, truth) == pairwise_scores(predicted, truth)
    swapped = pairwise_scores(truth, predicted)
    forward = pairwise_scores(predicted, truth)
    assert (swapped.precision, swapped.recall) == (forward.recall, forward.precision)


@settings(max_examples=100, deadline=None)
@given(labellings)
def test_all_singletons_have_precision_one(truth: list[Any]) -> None:
    s = pairwise_scores(list(range(len(truth))), truth)
    assert s.precision == 1.0
    assert s.predicted_pairs == 0
    if s.true_pairs:
        assert s.recall == 0.0
    assert pairwise_scores([None] * len(truth), truth) == s
