"""What the report shows, read from the store with ibis (DuckDB, Spark, …).

Every aggregation is an ibis expression run by the store's engine; only small
results (a row per channel and model, the top campaigns and paths, a histogram)
come back to Python.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from cintel.attribution.engine import RUNS_TABLE as ATTRIBUTION_RUNS
from cintel.attribution.models import BUILTIN_MODELS
from cintel.identity.unify import RUNS_TABLE as UNIFY_RUNS

__all__ = [
    "MODEL_ORDER",
    "Attribution",
    "CampaignRow",
    "ChannelRow",
    "Identity",
    "PathRow",
    "Refusal",
    "load_attribution",
    "load_identity",
    "order_models",
]

#: Models in display order; any others follow, by name.
MODEL_ORDER = tuple(BUILTIN_MODELS)
#: The model the channel share and the campaigns are shown for, when present.
PREFERRED_MODEL = "markov"
TOP = 15
#: Journeys of this many touchpoints or more share one histogram bucket.
LONG_JOURNEY = 10
#: Example refused identifiers shown per reason.
EXAMPLES = 3
#: Source combinations listed in the identity section.
COMBINATIONS = 10

SUMMARY = "attribution_summary"
PATHS = "attribution_paths"
CREDIT = "attribution_credit"


def order_models(models: Sequence[str]) -> list[str]:
    """``models`` in display order: the known ones first, in their order, then the rest."""
    known = [m for m in MODEL_ORDER if m in models]
    return known + sorted(set(models) - set(MODEL_ORDER))


def _num(value: Any) -> float:
    if value is None:
        return 0.0
    x = float(value)
    return 0.0 if math.isnan(x) else x


def _rows(expr: ir.Table) -> list[dict[str, Any]]:
    return list(expr.to_pyarrow().to_pylist())


def _scalar(expr: ir.Scalar) -> Any:
    return expr.to_pyarrow().as_py()


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Store:
    """The store's tables, looked up once."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.names = set(con.list_tables())
        self._counts: dict[str, int] = {}

    def table(self, name: str) -> ir.Table:
        return self.con.table(name)

    def rows(self, name: str) -> int:
        """Row count of ``name``; 0 when the table is missing."""
        if name not in self.names:
            return 0
        if name not in self._counts:
            self._counts[name] = int(_scalar(self.table(name).count()) or 0)
        return self._counts[name]

    def latest_run(self, table: ir.Table, runs_table: str) -> ir.Table:
        """``table`` restricted to its latest run (by ``runs_table``'s ``started_at``)."""
        run_ids = [r["run_id"] for r in _rows(table.select("run_id").distinct())]
        if len(run_ids) <= 1:
            return table
        chosen = max(str(r) for r in run_ids if r is not None)
        if runs_table in self.names:
            runs = self.table(runs_table)
            latest = _rows(
                runs.filter(runs.run_id.isin(run_ids))
                .order_by(ibis.desc("started_at"))
                .select("run_id")
                .limit(1)
            )
            if latest:
                chosen = latest[0]["run_id"]
        return table.filter(table.run_id == chosen)

    def latest_summary(self, runs_table: str) -> tuple[dict[str, Any], Any]:
        """The JSON summary and start time of the latest run in ``runs_table``."""
        if not self.rows(runs_table):
            return {}, None
        runs = self.table(runs_table)
        found = _rows(
            runs.order_by(ibis.desc("started_at")).select("summary", "started_at").limit(1)
        )
        if not found:
            return {}, None
        return _json(found[0]["summary"]), found[0]["started_at"]


# ---------------------------------------------------------------------------- attribution
@dataclass(slots=True)
class ChannelRow:
    """A channel's numbers under each model (keys are model names)."""

    channel: str
    conversions: dict[str, float] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    value: dict[str, float] = field(default_factory=dict)
    value_share: dict[str, float] = field(default_factory=dict)
    touchpoints: int = 0


@dataclass(slots=True)
class CampaignRow:
    """A campaign's credited conversions under each model, and its main channel."""

    campaign: str | None
    conversions: dict[str, float] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    value: dict[str, float] = field(default_factory=dict)
    channel: str | None = None


@dataclass(slots=True)
class PathRow:
    """One of the top paths."""

    path: str
    length: int
    journeys: int
    conversions: int
    value: float

    @property
    def steps(self) -> list[str]:
        """The channels of the path, in order."""
        return [s for s in self.path.split(" > ")] if self.path else []

    @property
    def rate(self) -> float:
        """Conversions per journey."""
        return self.conversions / self.journeys if self.journeys else 0.0


@dataclass(slots=True)
class Attribution:
    """The attribution results of one goal."""

    goal: str | None = None
    #: every goal with its conversions, most first (the shown one first)
    goals: list[tuple[str | None, float]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    model: str | None = None
    channels: list[ChannelRow] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    campaign_count: int = 0
    campaign_models: list[str] = field(default_factory=list)
    #: (bucket label, converting, non-converting journeys)
    lengths: list[tuple[str, int, int]] = field(default_factory=list)
    paths: list[PathRow] = field(default_factory=list)
    path_count: int = 0
    journeys: int | None = None
    conversions: float | None = None
    value: float | None = None
    currency: str | None = None
    run: dict[str, Any] = field(default_factory=dict)
    run_at: Any = None
    has_summary: bool = False
    has_paths: bool = False

    @property
    def total_conversions(self) -> float:
        """The chosen model's conversions over all channels."""
        return sum(c.conversions.get(self.model or "", 0.0) for c in self.channels)

    @property
    def total_value(self) -> float:
        """The chosen model's value over all channels."""
        return sum(c.value.get(self.model or "", 0.0) for c in self.channels)


def load_attribution(store: Store) -> Attribution:
    """The attribution numbers of the goal with the most conversions."""
    out = Attribution()
    out.run, out.run_at = store.latest_summary(ATTRIBUTION_RUNS)
    out.has_summary = store.rows(SUMMARY) > 0
    out.has_paths = store.rows(PATHS) > 0
    summary = store.latest_run(store.table(SUMMARY), ATTRIBUTION_RUNS) if out.has_summary else None
    paths = store.latest_run(store.table(PATHS), ATTRIBUTION_RUNS) if out.has_paths else None
    _pick_goal(out, summary, paths)
    if summary is not None:
        _channels(out, summary)
        _campaigns(out, summary, store)
    if paths is not None:
        _paths(out, paths)
    if store.rows(CREDIT):
        credit = store.table(CREDIT)
        found = _rows(
            credit.filter(_goal_is(credit, out.goal), credit.currency.notnull())
            .select("currency")
            .distinct()
            .limit(2)
        )
        if len(found) == 1:
            out.currency = str(found[0]["currency"])
    return out


def _goal_is(table: ir.Table, goal: str | None) -> ir.BooleanValue:
    return table.goal.isnull() if goal is None else table.goal == goal


def _pick_goal(out: Attribution, summary: ir.Table | None, paths: ir.Table | None) -> None:
    """Goals by conversions (the most credited model's total), the largest shown."""
    totals: dict[str | None, float] = {}
    if summary is not None:
        per_model = summary.filter(summary.dimension == "channel")
        for r in _rows(
            per_model.group_by("goal", "model").aggregate(n=per_model.conversions.sum())
        ):
            totals[r["goal"]] = max(totals.get(r["goal"], 0.0), _num(r["n"]))
    elif paths is not None:
        for r in _rows(paths.group_by("goal").aggregate(n=paths.conversions.sum())):
            totals[r["goal"]] = _num(r["n"])
    out.goals = sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0])))
    if out.goals:
        out.goal = out.goals[0][0]


def _channels(out: Attribution, summary: ir.Table) -> None:
    rows = _rows(
        summary.filter(_goal_is(summary, out.goal), summary.dimension == "channel").select(
            "model", "key", "conversions", "value", "share", "value_share", "touchpoints"
        )
    )
    out.models = order_models(sorted({str(r["model"]) for r in rows}))
    if not out.models:
        return
    out.model = PREFERRED_MODEL if PREFERRED_MODEL in out.models else out.models[0]
    by_channel: dict[str, ChannelRow] = {}
    for r in rows:
        key = r["key"] if r["key"] is not None else "(none)"
        row = by_channel.setdefault(key, ChannelRow(key))
        model = str(r["model"])
        row.conversions[model] = _num(r["conversions"])
        row.share[model] = _num(r["share"])
        row.value[model] = _num(r["value"])
        row.value_share[model] = _num(r["value_share"])
        if model == out.model:
            row.touchpoints = int(_num(r["touchpoints"]))
    chosen = out.model
    out.channels = sorted(
        by_channel.values(),
        key=lambda c: (-c.conversions.get(chosen, 0.0), -max(c.conversions.values()), c.channel),
    )
    out.conversions = out.total_conversions
    out.value = out.total_value


def _campaigns(out: Attribution, summary: ir.Table, store: Store) -> None:
    if out.model is None:
        return
    campaigns = summary.filter(_goal_is(summary, out.goal), summary.dimension == "campaign")
    chosen = campaigns.filter(campaigns.model == out.model)
    out.campaign_count = int(_scalar(chosen.count()) or 0)
    if not out.campaign_count:
        return
    top = _rows(
        chosen.order_by([ibis.desc("conversions"), ibis.desc("value"), "key"])
        .select("key")
        .limit(TOP)
    )
    keys = [r["key"] for r in top]
    others = [m for m in out.models if m != out.model]
    compared: list[str] = [m for m in ("first_touch", "last_touch", "linear") if m in others]
    compared += [m for m in others if m not in compared]
    out.campaign_models = [out.model, *compared[:3]]
    named = [k for k in keys if k is not None]
    wanted = campaigns.model.isin(out.campaign_models)
    picked = campaigns.key.isin(named) if named else ibis.literal(False)
    if None in keys:
        picked = picked | campaigns.key.isnull()
    rows = _rows(
        campaigns.filter(wanted, picked).select("model", "key", "conversions", "share", "value")
    )
    by_key: dict[str | None, CampaignRow] = {k: CampaignRow(k) for k in keys}
    for r in rows:
        row = by_key.get(r["key"])
        if row is not None:
            row.conversions[str(r["model"])] = _num(r["conversions"])
            row.share[str(r["model"])] = _num(r["share"])
            row.value[str(r["model"])] = _num(r["value"])
    out.campaigns = [by_key[k] for k in keys]
    if store.rows(CREDIT) and named:
        credit = store.latest_run(store.table(CREDIT), ATTRIBUTION_RUNS)
        mains = _rows(
            credit.filter(
                _goal_is(credit, out.goal),
                credit.model == out.model,
                credit.campaign.isin(named),
            )
            .group_by("campaign", "channel")
            .aggregate(n=credit.credit.sum())
        )
        best: dict[str, tuple[float, str]] = {}
        for r in mains:
            if r["channel"] is None:
                continue
            cand = (_num(r["n"]), str(r["channel"]))
            if r["campaign"] not in best or cand > best[r["campaign"]]:
                best[r["campaign"]] = cand
        for row in out.campaigns:
            if row.campaign in best:
                row.channel = best[row.campaign][1]
    # touchpoints without a campaign are grouped under "(channel name)"
    channels = {c.channel for c in out.channels}
    for row in out.campaigns:
        name = row.campaign or ""
        if row.channel is None and name.startswith("(") and name[1:-1] in channels:
            row.channel = name[1:-1]


def _paths(out: Attribution, paths: ir.Table) -> None:
    mine = paths.filter(_goal_is(paths, out.goal))
    totals = _rows(
        mine.aggregate(
            journeys=mine.journeys.sum(),
            conversions=mine.conversions.sum(),
            value=mine.value.sum(),
            n=mine.count(),
        )
    )
    if totals:
        out.journeys = int(_num(totals[0]["journeys"]))
        out.path_count = int(_num(totals[0]["n"]))
        if out.conversions is None:
            out.conversions = _num(totals[0]["conversions"])
            out.value = _num(totals[0]["value"])
    bucket = ibis.ifelse(mine.length >= LONG_JOURNEY, LONG_JOURNEY, mine.length).name("bucket")
    hist = _rows(
        mine.group_by(bucket)
        .aggregate(journeys=mine.journeys.sum(), conversions=mine.conversions.sum())
        .order_by("bucket")
    )
    for r in hist:
        n = int(_num(r["bucket"]))
        journeys, conversions = int(_num(r["journeys"])), int(_num(r["conversions"]))
        converting = min(conversions, journeys)
        label = f"{LONG_JOURNEY}+" if n >= LONG_JOURNEY else str(n)
        out.lengths.append((label, converting, journeys - converting))
    top = _rows(
        mine.order_by([ibis.desc("conversions"), ibis.desc("journeys"), "path"])
        .select("path", "length", "journeys", "conversions", "value")
        .limit(TOP)
    )
    out.paths = [
        PathRow(
            path=str(r["path"] or ""),
            length=int(_num(r["length"])),
            journeys=int(_num(r["journeys"])),
            conversions=int(_num(r["conversions"])),
            value=_num(r["value"]),
        )
        for r in top
    ]


# ---------------------------------------------------------------------------- identity
@dataclass(slots=True)
class Refusal:
    """Identifiers refused for one reason."""

    reason: str
    identifiers: int
    records: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Identity:
    """What identity resolution made of the profiles."""

    profiles: int | None = None
    records: int | None = None
    identifiers: int | None = None
    customers: int | None = None
    multi_source: int | None = None
    #: (number of sources, customers)
    by_sources: list[tuple[int, int]] = field(default_factory=list)
    #: (the sources a customer was seen in, joined by " + "; customers), most first
    by_combination: list[tuple[str, int]] = field(default_factory=list)
    merges: dict[str, int] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    #: (accepted, refused) pairs of the probabilistic stage, when it ran
    matches: tuple[int, int] | None = None
    run: dict[str, Any] = field(default_factory=dict)
    run_at: Any = None


def load_identity(store: Store) -> Identity:
    """Counts of the identity tables that exist."""
    out = Identity()
    out.run, out.run_at = store.latest_summary(UNIFY_RUNS)
    if "records" in out.run:
        out.records = int(_num(out.run["records"]))
    if "identifiers" in out.run:
        out.identifiers = int(_num(out.run["identifiers"]))
    if "source_profiles" in store.names:
        out.profiles = store.rows("source_profiles")
    if "customers" in store.names:
        out.customers = store.rows("customers")
        customers = store.table("customers")
        if "channels" in customers.columns and out.customers:
            n = customers.channels.length().fill_null(0).name("sources")
            dist = _rows(customers.group_by(n).aggregate(customers=customers.count()))
            out.by_sources = sorted((int(_num(r["sources"])), int(r["customers"])) for r in dist)
            out.multi_source = sum(c for s, c in out.by_sources if s > 1)
            combo = customers.channels.sort().join(" + ").fill_null("").name("sources")
            top = (
                customers.group_by(combo)
                .aggregate(customers=customers.count())
                .order_by([ibis.desc("customers"), "sources"])
                .limit(COMBINATIONS)
            )
            out.by_combination = [
                (str(r["sources"]) or "(none)", int(r["customers"])) for r in _rows(top)
            ]
    if store.rows("customer_merges"):
        merges = store.table("customer_merges")
        for r in _rows(merges.group_by("kind").aggregate(n=merges.count())):
            out.merges[str(r["kind"])] = int(r["n"])
    if store.rows("identity_refusals"):
        refusals = store.table("identity_refusals")
        for r in _rows(
            refusals.group_by("reason")
            .aggregate(identifiers=refusals.count(), records=refusals.records.sum())
            .order_by([ibis.desc("identifiers"), "reason"])
        ):
            reason = r["reason"]
            mine = refusals.filter(_reason_is(refusals, reason))
            examples = _rows(
                mine.order_by([ibis.desc("records"), "type", "value"])
                .select("type", "value", "detail", "records")
                .limit(EXAMPLES)
            )
            out.refusals.append(
                Refusal(
                    reason=str(reason) if reason is not None else "(none)",
                    identifiers=int(r["identifiers"]),
                    records=int(_num(r["records"])),
                    examples=examples,
                )
            )
    if "customer_matches" in store.names:
        matches = store.table("customer_matches")
        counts = {
            bool(r["accepted"]): int(r["n"])
            for r in _rows(matches.group_by("accepted").aggregate(n=matches.count()))
        }
        out.matches = (counts.get(True, 0), counts.get(False, 0))
    return out


def _reason_is(table: ir.Table, reason: Any) -> ir.BooleanValue:
    return table.reason.isnull() if reason is None else table.reason == reason
