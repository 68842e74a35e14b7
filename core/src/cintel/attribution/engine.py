"""The attribution step: journeys from the store, the models, the output tables.

Written once against ibis (DuckDB by default, the same code on Spark); the models'
algebra runs in numpy on what the engine hands over.

1. **Touchpoints** of unified customers: ``touchpoints`` joined to
   ``customer_records`` (so unify must have run). Event types in
   ``exclude_events`` (a mail *sent*, a bounce) are no touches.
2. **Channels**: the referrer's host and the landing URL's click-id kind are cut out
   in SQL; the distinct ``(utm source, medium, campaign, referrer host, click id,
   preset channel)`` tuples, a few hundred, are classified in Python
   (:mod:`cintel.attribution.channels`, GA4's default channel group unless
   configured) and joined back. A touchpoint that came with a channel keeps it.
   Referrers on the site's own hosts (``own_domains``, by default the hosts of the
   touchpoints' URLs) are internal navigation.
3. **Touches** (sessionization): analytics tools put utm parameters on the landing
   page only, so each event is not a touch. Touchpoints of a customer less than
   ``session_timeout_minutes`` apart form a session; a touch starts with each session
   and wherever, inside one, a touchpoint *brings* a channel (utm tags, a click id,
   an outside referrer, a preset channel) other than the current one.
4. **Journeys** per goal: a conversion's journey is the touches of its customer in
   the ``lookback_days`` before it and after the customer's previous conversion of
   the goal; a conversion with no touch gets one ``empty_journey_channel`` touch.
   The touches after a customer's last conversion (within the lookback before their
   last touch) are one non-converting journey: Markov needs those.
5. **Models** on the journeys (numpy), per goal, by channel and by campaign.
6. **Outputs**, swapped in together: ``attribution_touchpoints``,
   ``attribution_credit``, ``attribution_summary``, ``attribution_paths``, and a row
   appended to ``_cintel_attribution_runs``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import structlog
from pydantic import ValidationError

from cintel.attribution.channels import CLICK_ID_PARAMETERS, classify, referrer_host
from cintel.attribution.config import AttributionConfig
from cintel.attribution.models import BUILTIN_MODELS, ChannelCredit, Journeys
from cintel.config import format_validation_error
from cintel.errors import CintelError, ConfigError
from cintel.staging import Staging

__all__ = [
    "CREDIT_SCHEMA",
    "OUTPUT_TABLES",
    "PATHS_SCHEMA",
    "RUNS_TABLE",
    "SUMMARY_SCHEMA",
    "AttributionError",
    "AttributionResult",
    "Attributor",
    "resolve_models",
]

log = structlog.get_logger("cintel.attribution")

#: Tables a run replaces.
OUTPUT_TABLES = (
    "attribution_touchpoints",
    "attribution_credit",
    "attribution_summary",
    "attribution_paths",
)
#: One row per run, appended.
RUNS_TABLE = "_cintel_attribution_runs"
_STAGE = "_cintel_attr_"
_TS = ibis.dtype("timestamp('UTC', 6)")
_PA_TS = pa.timestamp("us", tz="UTC")
#: Host of a URL (lower-cased first); RE2 (DuckDB) and Java (Spark) read it alike.
_HOST_SQL = r"^[ \t]*(?:(?:[a-z][a-z0-9+.-]*:)?//)?(?:[^@/?#]*@)?([^:/?#]*)"
#: The first ad click id parameter of a URL's query string (lower-cased first).
_CLICK_SQL = "^[^#]*?[?&](" + "|".join(CLICK_ID_PARAMETERS) + ")=[^&#]"
#: Columns that decide a touchpoint's channel (null-free: "" when missing).
_TUPLE = ("u_source", "u_medium", "u_campaign", "ref_host", "click_kind", "preset")
#: Order of touchpoints inside a customer: time, then what makes a row unique.
_ORDER = ("at", "source", "stream", "record_key", "touchpoint_id")
#: A site's own host must hold this share of the touchpoints' URLs.
_OWN_HOST_SHARE = 0.01


class AttributionError(CintelError):
    """The attribution step cannot run (no customers yet, no touchpoints…)."""


@dataclass(slots=True)
class GoalStats:
    """What one goal's journeys hold."""

    conversions: int = 0
    journeys: int = 0
    converting_journeys: int = 0
    touches: int = 0
    value: float = 0.0
    without_touch: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversions": self.conversions,
            "journeys": self.journeys,
            "converting_journeys": self.converting_journeys,
            "touches": self.touches,
            "value": round(self.value, 6),
            "without_touch": self.without_touch,
        }


@dataclass(slots=True)
class AttributionResult:
    """What an attribution run did; ``summary`` is the attribution_summary rows."""

    run_id: str
    started_at: datetime
    seconds: float = 0.0
    touchpoints: int = 0
    excluded_touchpoints: int = 0
    touches: int = 0
    unattributable_conversions: int = 0
    lookback_days: float = 0.0
    channels: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    goals: dict[str, GoalStats] = field(default_factory=dict)
    summary: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (without the summary rows)."""
        conversions = sum(g.conversions for g in self.goals.values())
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "touchpoints": self.touchpoints,
            "excluded_touchpoints": self.excluded_touchpoints,
            "touches": self.touches,
            "conversions": conversions,
            "journeys": sum(g.journeys for g in self.goals.values()),
            "unattributable_conversions": self.unattributable_conversions,
            "lookback_days": self.lookback_days,
            "channels": list(self.channels),
            "models": list(self.models),
            "goals": {name: g.as_dict() for name, g in self.goals.items()},
        }


def resolve_models(
    wanted: Mapping[str, Mapping[str, Any]] | None, registered: Mapping[str, Any]
) -> dict[str, Any]:
    """Model instances by output name, from the ``models:`` config and the registry.

    A registered class is instantiated with the settings; a registered instance is used
    as it is (and then takes no settings). Unknown names and bad settings raise
    :class:`~cintel.errors.ConfigError` naming ``attribution.models.<name>``.
    """
    if wanted is None:  # the built-ins in their order, then the plugins' by name
        builtin = [n for n in BUILTIN_MODELS if n in registered]
        wanted = {n: {} for n in [*builtin, *sorted(set(registered) - set(builtin))]}
    models: dict[str, Any] = {}
    for name, settings in wanted.items():
        options = dict(settings)
        kind = str(options.pop("model", name))
        where = f"attribution.models.{name}"
        if kind not in registered:
            known = ", ".join(sorted(registered)) or "none"
            raise ConfigError([(where, f"unknown model {kind!r} (registered: {known})")])
        obj = registered[kind]
        if isinstance(obj, type):
            try:
                models[name] = obj(options)
            except ValidationError as exc:
                raise ConfigError(format_validation_error(exc, prefix=where)) from None
            except (TypeError, ValueError) as exc:  # a plugin's own checks
                raise ConfigError([(where, str(exc))]) from None
        elif options:
            raise ConfigError([(where, f"model {kind!r} takes no settings")])
        else:
            models[name] = obj
        if not callable(getattr(models[name], "attribute_journeys", None)):
            raise ConfigError([(where, f"model {kind!r} has no attribute_journeys(journeys)")])
    return models


class Attributor:
    """Runs the attribution step on an ibis backend holding the canonical tables and
    unify's ``customer_records``.

    ``models`` are the registered models (name → class or instance; the built-ins by
    default); ``config.models`` picks and configures them.
    """

    def __init__(
        self,
        con: Any,
        config: AttributionConfig | None = None,
        *,
        models: Mapping[str, Any] | None = None,
        transaction: Callable[[], AbstractContextManager[None]] | None = None,
        progress: Callable[[str], None] | None = None,
        now: datetime | None = None,
    ) -> None:
        self.con = con
        self.config = config or AttributionConfig()
        self.models = resolve_models(
            self.config.models, BUILTIN_MODELS if models is None else models
        )
        self.rules = self.config.channels.ruleset()
        self._progress = progress or (lambda _phase: None)
        self.now = now or datetime.now(UTC)
        self.run_id = uuid.uuid4().hex[:16]
        self._staging = Staging(con, _STAGE, transaction=transaction)

    def run(self) -> AttributionResult:
        """Attribute every goal's conversions; replaces the output tables."""
        start = time.perf_counter()
        result = AttributionResult(
            run_id=self.run_id,
            started_at=self.now,
            lookback_days=self.config.lookback_days,
            models=list(self.models),
        )
        try:
            self._run(result, start)
        finally:
            self._staging.drop_all()
        log.info("attribution finished", **result.as_dict())
        return result

    # ------------------------------------------------------------------ phases
    def _run(self, result: AttributionResult, start: float) -> None:
        present = self._staging.tables()
        if "customer_records" not in present:
            raise AttributionError(
                "no customers yet: attribution follows customers, run `cintel unify` first"
            )
        if "touchpoints" not in present and "conversions" not in present:
            raise AttributionError("the store has no touchpoints and no conversions to attribute")
        stage = self._staging.stage

        self._progress("classifying touchpoints")
        points = self._touchpoints(present)
        pattern = self.config.excluded_regex()
        excluded = (
            points.event_type.lower().re_search(pattern).fill_null(False)
            if pattern is not None
            else ibis.literal(False)
        )
        # the join of touchpoints and customers, materialized once for the counts and
        # the classification below
        points = stage("all_points", points.mutate(excluded=excluded))
        counts = points.group_by("excluded").aggregate(n=points.count()).to_pyarrow()
        by_flag = dict(zip(counts["excluded"].to_pylist(), counts["n"].to_pylist(), strict=True))
        result.excluded_touchpoints = int(by_flag.get(True, 0))
        result.touchpoints = result.excluded_touchpoints + int(by_flag.get(False, 0))
        points = points.filter(~points.excluded).drop("excluded")
        kept = result.touchpoints - result.excluded_touchpoints
        mapping = stage("channel_map", self._channel_map(points, kept))
        points = stage("points", points.join(mapping, list(_TUPLE)))

        self._progress("sessionizing")
        touches, labelled = self._touches(points)
        touches = stage("touches", touches)
        result.touches = _count(touches.count())  # touches are of customers only
        result.channels = sorted(
            str(r["channel"]) for r in touches.select("channel").distinct().to_pyarrow().to_pylist()
        )

        self._progress("building journeys")
        conversions, unattributable = self._conversions(present, points)
        conversions = stage("conversions", conversions)
        result.unattributable_conversions = unattributable
        rows = self._journeys(touches, conversions)
        journeys = rows.order_by(["goal", "customer_id", "c_at", "conv_key", "position"])
        table = journeys.to_pyarrow()

        self._progress("running models")
        credit_parts: list[pa.Table] = []
        summary_parts: list[pa.Table] = []
        path_parts: list[pa.Table] = []
        for goal in self.config.goals:
            part = table.filter(pc.equal(table["goal"], goal.name))
            stats, credit, summary, paths = self._attribute(goal.name, part)
            result.goals[goal.name] = stats
            credit_parts.append(credit)
            summary_parts.append(summary)
            path_parts.append(paths)
        summary_table = pa.concat_tables(summary_parts)
        result.summary = summary_table.to_pylist()

        self._progress("saving")
        outputs = {
            "attribution_touchpoints": stage("attribution_touchpoints", labelled, output=True),
            "attribution_credit": stage(
                "attribution_credit", pa.concat_tables(credit_parts), output=True
            ),
            "attribution_summary": stage("attribution_summary", summary_table, output=True),
            "attribution_paths": stage(
                "attribution_paths", pa.concat_tables(path_parts), output=True
            ),
        }
        result.seconds = time.perf_counter() - start
        self._staging.swap(
            outputs,
            runs_table=RUNS_TABLE,
            run_id=self.run_id,
            started_at=self.now,
            summary=result.as_dict(),
        )

    def _touchpoints(self, present: set[str]) -> ir.Table:
        """Every touchpoint with its customer (null when unify gave it none) and the
        columns its channel depends on."""
        if "touchpoints" not in present:
            return ibis.memtable(_empty_points())
        tp = self.con.table("touchpoints")
        recs = _records(self.con, "touchpoints")
        t = tp.left_join(recs, ["_cintel_source", "_cintel_stream", "_cintel_record_key"])

        def text(column: ir.StringValue) -> ir.StringValue:
            return column.strip().fill_null("")

        return t.select(
            customer_id=t.customer_id,
            touchpoint_id=t.touchpoint_id,
            source=t._cintel_source,
            stream=t._cintel_stream,
            record_key=t._cintel_record_key,
            at=t.occurred_at.cast(_TS),
            event_type=t.event_type,
            u_source=text(t.utm_source),
            u_medium=text(t.utm_medium),
            u_campaign=text(t.utm_campaign),
            ref_host=t.referrer.lower().re_extract(_HOST_SQL, 1).fill_null(""),
            click_kind=t.url.lower().re_extract(_CLICK_SQL, 1).fill_null(""),
            preset=text(t.channel),
            url_host=t.url.lower().re_extract(_HOST_SQL, 1).fill_null(""),
        )

    def _own_hosts(self, points: ir.Table, total: int) -> list[str]:
        """The configured own domains, or the hosts of ``_OWN_HOST_SHARE`` or more of the
        ``total`` touchpoints' URLs."""
        configured = self.config.channels.own_domains
        if configured is not None:
            return configured
        hosts = points.filter(points.url_host != "")
        counted = hosts.group_by("url_host").aggregate(n=hosts.count())
        common = counted.filter(counted.n >= max(1, total * _OWN_HOST_SHARE))
        return sorted(str(r["url_host"]) for r in common.to_pyarrow().to_pylist())

    def _channel_map(self, points: ir.Table, total: int) -> pa.Table:
        """The channel of every distinct tuple, and whether it *brings* a channel."""
        tuples = points.select(*_TUPLE).distinct().to_pyarrow()
        own = self._own_hosts(points, total)
        hosts = referrer_host(tuples["ref_host"], own_hosts=own)
        channel = classify(
            self.rules,
            {
                "source": tuples["u_source"],
                "medium": tuples["u_medium"],
                "campaign": tuples["u_campaign"],
                "referrer_host": hosts,
                "click_id": tuples["click_kind"],
            },
        )
        preset = pc.not_equal(tuples["preset"], "")
        channel = pc.if_else(preset, tuples["preset"], channel)
        brings = pc.or_(preset, pc.is_valid(hosts))
        for name in ("u_source", "u_medium", "u_campaign", "click_kind"):
            brings = pc.or_(brings, pc.not_equal(tuples[name], ""))
        return tuples.append_column("channel", channel).append_column("brings", brings)

    def _touches(self, points: ir.Table) -> tuple[ir.Table, ir.Table]:
        """The touches (one per session, and one more wherever a session changes
        channel) and every touchpoint labelled with its touch's channel."""
        timeout = ibis.interval(seconds=round(self.config.session_timeout_minutes * 60))
        mine = points.filter(points.customer_id.notnull())
        w = ibis.window(group_by=mine.customer_id, order_by=[mine[c] for c in _ORDER])
        prev = mine.at.lag().over(w)
        marked = mine.mutate(new_session=prev.isnull() | (mine.at > prev + timeout))
        # a pause starts a touch; so does a touchpoint bringing another channel than the
        # one before it that started or brought one (unmarked touchpoints change nothing)
        cand = marked.filter(marked.new_session | marked.brings)
        wc = ibis.window(group_by=cand.customer_id, order_by=[cand[c] for c in _ORDER])
        cand = cand.mutate(
            starts=cand.new_session | (cand.channel != cand.channel.lag().over(wc)).fill_null(True)
        )
        starts = cand.filter(cand.starts)
        keys = ["source", "stream", "record_key", "touchpoint_id"]
        touches = starts.select(
            "customer_id", *keys, "at", "channel", campaign=starts.u_campaign.nullif("")
        )
        # every touchpoint gets its touch's channel: the touch number is a running count
        flags = starts.select("customer_id", *keys, starts_touch=ibis.literal(True))
        rows = marked.left_join(flags, ["customer_id", *keys]).select(
            marked, starts_touch=ibis._.starts_touch.fill_null(False)
        )
        wr = ibis.cumulative_window(group_by=rows.customer_id, order_by=[rows[c] for c in _ORDER])
        rows = rows.mutate(touch_no=rows.starts_touch.cast("int64").sum().over(wr))
        numbered = touches.mutate(
            touch_no=ibis.row_number().over(
                group_by=touches.customer_id, order_by=[touches[c] for c in _ORDER]
            )
            + 1
        ).select("customer_id", "touch_no", touch_channel="channel", touch_campaign="campaign")
        labelled = rows.join(numbered, ["customer_id", "touch_no"])
        labelled = labelled.select(
            "touchpoint_id",
            "source",
            "stream",
            "record_key",
            "customer_id",
            "at",
            "event_type",
            channel=labelled.touch_channel,
            campaign=labelled.touch_campaign,
            own_channel=labelled.channel,
            starts_touch=labelled.starts_touch,
        )
        orphans = points.filter(points.customer_id.isnull())
        labelled = labelled.union(
            orphans.select(
                "touchpoint_id",
                "source",
                "stream",
                "record_key",
                "customer_id",
                "at",
                "event_type",
                channel=orphans.channel,
                campaign=orphans.u_campaign.nullif(""),
                own_channel=orphans.channel,
                starts_touch=ibis.null("boolean"),
            ),
            distinct=False,
        )
        return touches, labelled.rename(occurred_at="at")

    def _conversions(self, present: set[str], points: ir.Table) -> tuple[ir.Table, int]:
        """Every goal's conversions of known customers (one row per goal, customer and
        conversion id) and how many conversions no customer owns."""
        parts: list[ir.Table] = []
        unattributable = 0
        conversions = None
        if "conversions" in present:
            cv = self.con.table("conversions")
            recs = _records(self.con, "conversions")
            conversions = cv.left_join(
                recs, ["_cintel_source", "_cintel_stream", "_cintel_record_key"]
            )
        for goal in self.config.goals:
            if goal.reads_conversions and conversions is not None:
                rows = conversions
                if goal.types is not None:
                    rows = rows.filter(rows.type.isin(goal.types))
                if goal.currency is not None:
                    same = rows.currency.upper() == goal.currency.upper()
                    rows = rows.filter(rows.currency.isnull() | same)
                unattributable += _count(rows.filter(rows.customer_id.isnull()).count())
                value = (
                    ibis.literal(goal.value) if goal.value is not None else rows.value.fill_null(0)
                )
                parts.append(
                    rows.filter(rows.customer_id.notnull()).select(
                        goal=ibis.literal(goal.name),
                        customer_id=rows.customer_id,
                        conversion_id=rows.conversion_id,
                        at=rows.occurred_at.cast(_TS),
                        value=value.cast("float64"),
                        currency=rows.currency.upper(),
                    )
                )
            if goal.events:
                hits = points.filter(points.event_type.isin(goal.events))
                unattributable += _count(hits.filter(hits.customer_id.isnull()).count())
                hits = hits.filter(hits.customer_id.notnull())
                parts.append(
                    hits.select(
                        goal=ibis.literal(goal.name),
                        customer_id=hits.customer_id,
                        conversion_id=hits.touchpoint_id,
                        at=hits.at.cast(_TS),
                        value=ibis.literal(goal.value or 0.0).cast("float64"),
                        currency=ibis.literal(goal.currency).cast("string"),
                    )
                )
        if not parts:
            return ibis.memtable(_empty_conversions()).pipe(_typed_conversions), unattributable
        union = ibis.union(*parts, distinct=False)
        # one conversion seen twice (two sources, a re-delivered event) counts once
        merged = union.group_by(["goal", "customer_id", "conversion_id"]).aggregate(
            at=union.at.min(), value=union.value.max(), currency=union.currency.min()
        )
        return merged, unattributable

    def _journeys(self, touches: ir.Table, conversions: ir.Table) -> ir.Table:
        """Every journey's touches, numbered: converting journeys (a conversion with
        the touches of its window) and the non-converting rest of each customer."""
        look = ibis.interval(seconds=round(self.config.lookback_days * 86_400))
        w = ibis.window(
            group_by=[conversions.goal, conversions.customer_id],
            order_by=[conversions.at, conversions.conversion_id],
        )
        conv = conversions.select(
            "goal",
            c_customer="customer_id",
            conversion_id="conversion_id",
            c_at="at",
            value="value",
            currency="currency",
            prev_at=conversions.at.lag().over(w),
        )
        t = touches.select(
            "customer_id",
            "source",
            "stream",
            "record_key",
            "touchpoint_id",
            "channel",
            "campaign",
            t_at="at",
        )
        window = (
            (t.customer_id == conv.c_customer)
            & (t.t_at <= conv.c_at)
            & (t.t_at >= conv.c_at - look)
            & (conv.prev_at.isnull() | (t.t_at > conv.prev_at))
        )
        converting = conv.left_join(t, window)
        converting = converting.select(
            "goal",
            customer_id=converting.c_customer,
            conversion_id=converting.conversion_id,
            converted=ibis.literal(True),
            c_at=converting.c_at,
            value=converting.value,
            currency=converting.currency,
            touchpoint_id=converting.touchpoint_id,
            source=converting.source,
            stream=converting.stream,
            record_key=converting.record_key,
            t_at=converting.t_at.fill_null(converting.c_at),
            channel=converting.channel.fill_null(self.config.empty_journey_channel),
            campaign=converting.campaign,
        )

        goals = ibis.memtable(pa.table({"goal": [g.name for g in self.config.goals]}))
        last = conversions.group_by(["goal", "customer_id"]).aggregate(last_at=conversions.at.max())
        per_goal = t.cross_join(goals)
        rest = per_goal.left_join(last, ["goal", "customer_id"])
        rest = rest.filter(rest.last_at.isnull() | (rest.t_at > rest.last_at))
        end = rest.t_at.max().over(group_by=[rest.goal, rest.customer_id])
        rest = rest.mutate(c_at=end)
        rest = rest.filter(rest.t_at >= rest.c_at - look)
        open_ = rest.select(
            "goal",
            "customer_id",
            conversion_id=ibis.null("string"),
            converted=ibis.literal(False),
            c_at=rest.c_at,
            value=ibis.literal(0.0).cast("float64"),
            currency=ibis.null("string"),
            touchpoint_id=rest.touchpoint_id,
            source=rest.source,
            stream=rest.stream,
            record_key=rest.record_key,
            t_at=rest.t_at,
            channel=rest.channel,
            campaign=rest.campaign,
        )
        both = converting.union(open_, distinct=False)
        both = both.mutate(conv_key=both.conversion_id.fill_null(""))
        order = [both.t_at, both.source, both.stream, both.record_key, both.touchpoint_id]
        return both.mutate(
            position=ibis.row_number().over(
                group_by=[both.goal, both.customer_id, both.conv_key], order_by=order
            )
            + 1
        )

    def _attribute(
        self, goal: str, rows: pa.Table
    ) -> tuple[GoalStats, pa.Table, pa.Table, pa.Table]:
        """Run every model on one goal's journeys: stats, credit, summary and paths."""
        stats = GoalStats()
        n = rows.num_rows
        position = _ints(rows["position"])
        journey_id = np.cumsum(position == 1) - 1
        starts = np.flatnonzero(position == 1)
        lengths = np.diff(np.append(starts, n)).astype(np.int64)
        converted = _bools(rows["converted"])
        value = np.nan_to_num(_floats(rows["value"]))
        c_at = _micros(rows["c_at"])
        t_at = _micros(rows["t_at"])
        seconds = np.maximum((c_at - t_at) / 1e6, 0.0)
        stats.journeys = len(starts)
        stats.converting_journeys = int(converted[starts].sum()) if n else 0
        stats.conversions = stats.converting_journeys
        stats.touches = n
        stats.value = float(value[starts][converted[starts]].sum()) if n else 0.0
        stats.without_touch = int(
            pc.sum(pc.and_(rows["converted"], pc.is_null(rows["touchpoint_id"]))).as_py() or 0
        )
        channel = rows["channel"]
        campaign_label = pc.if_else(
            pc.is_valid(rows["campaign"]),
            rows["campaign"],
            pc.binary_join_element_wise("(", channel, ")", ""),
        )
        labels = {"channel": channel, "campaign": campaign_label}
        # Direct is the touch's channel, whatever the dimension credited
        is_direct = _bools(pc.is_in(channel, pa.array(self.config.channels.direct, pa.string())))
        mask = converted
        credit_rows = rows.filter(pa.array(mask))
        journey_length = lengths[journey_id[mask]]
        credit_parts: list[pa.Table] = []
        summary_parts: list[pa.Table] = []
        paths = _empty_paths()
        # touch credit and paths are by channel, whichever dimensions the summary has
        for dimension in dict.fromkeys(["channel", *self.config.dimensions]):
            names, codes = _codes(labels[dimension])
            journeys = Journeys(
                channels=names,
                journey_id=journey_id,
                position=position,
                channel=codes,
                seconds_before_conversion=seconds,
                is_direct=is_direct,
                converted=converted,
                value=value,
            )
            touches_per_key = np.bincount(codes[mask], minlength=len(names)).astype(np.int64)
            for name, model in self.models.items():
                credit, totals = model.attribute_journeys(journeys)
                if dimension in self.config.dimensions:
                    summary_parts.append(
                        _summary(goal, name, dimension, totals, touches_per_key, self.run_id)
                    )
                if dimension == "channel":
                    credit = np.asarray(credit, dtype=np.float64)[mask]
                    credit_parts.append(
                        _credit(
                            (self.run_id, goal, name),
                            credit_rows,
                            credit,
                            value[mask],
                            journey_length,
                        )
                    )
            if dimension == "channel":
                paths = _paths(goal, journeys, self.run_id)
        credit = pa.concat_tables(credit_parts) if credit_parts else _empty_credit()
        summary = pa.concat_tables(summary_parts) if summary_parts else _empty_summary()
        return stats, credit, summary, paths


# ---------------------------------------------------------------------- helpers
def _records(con: Any, table: str) -> ir.Table:
    recs = con.table("customer_records")
    recs = recs.filter(recs["table"] == table)
    return recs.select(
        _cintel_source=recs.source,
        _cintel_stream=recs.stream,
        _cintel_record_key=recs.record_key,
        customer_id=recs.customer_id,
    )


def _count(expr: ir.IntegerScalar) -> int:
    """A count, through Arrow (``execute`` would go through pandas)."""
    return int(expr.to_pyarrow().as_py() or 0)


def _ints(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _floats(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(pc.fill_null(column, 0.0).to_numpy(), dtype=np.float64)


def _bools(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(pc.fill_null(column, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _micros(column: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    ts = pc.cast(column, _PA_TS).cast(pa.int64())
    return np.asarray(pc.fill_null(ts, 0).to_numpy(), dtype=np.int64)


def _codes(labels: pa.ChunkedArray) -> tuple[list[str], np.ndarray[Any, np.dtype[np.int64]]]:
    """Sorted distinct labels and each row's index into them."""
    encoded = pc.fill_null(labels, "(none)").combine_chunks().dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    order = sorted(range(len(dictionary)), key=lambda i: dictionary[i])
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return [dictionary[i] for i in order], rank[indices] if len(indices) else indices


def _summary(
    goal: str,
    model: str,
    dimension: str,
    totals: ChannelCredit,
    touchpoints: np.ndarray[Any, np.dtype[np.int64]],
    run_id: str,
) -> pa.Table:
    conversions = np.asarray(totals.conversions, dtype=np.float64)
    values = np.asarray(totals.values, dtype=np.float64)
    total_c, total_v = conversions.sum(), values.sum()
    share = conversions / total_c if total_c > 0 else np.zeros_like(conversions)
    value_share = values / total_v if total_v != 0 else np.zeros_like(values)
    n = len(totals.channels)
    return pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "goal": pa.array([goal] * n, pa.string()),
            "model": pa.array([model] * n, pa.string()),
            "dimension": pa.array([dimension] * n, pa.string()),
            "key": pa.array(list(totals.channels), pa.string()),
            "conversions": pa.array(conversions, pa.float64()),
            "value": pa.array(values, pa.float64()),
            "share": pa.array(share, pa.float64()),
            "value_share": pa.array(value_share, pa.float64()),
            "touchpoints": pa.array(touchpoints[:n], pa.int64()),
        }
    )


def _credit(
    labels: tuple[str, str, str],
    rows: pa.Table,
    credit: np.ndarray[Any, np.dtype[np.float64]],
    value: np.ndarray[Any, np.dtype[np.float64]],
    journey_length: np.ndarray[Any, np.dtype[np.int64]],
) -> pa.Table:
    """The attribution_credit rows of one model: ``labels`` is (run id, goal, model)."""
    run_id, goal, model = labels
    n = rows.num_rows
    return pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "goal": pa.array([goal] * n, pa.string()),
            "model": pa.array([model] * n, pa.string()),
            "conversion_id": rows["conversion_id"],
            "customer_id": rows["customer_id"],
            "converted_at": pc.cast(rows["c_at"], _PA_TS),
            "conversion_value": rows["value"],
            "currency": rows["currency"],
            "touchpoint_id": rows["touchpoint_id"],
            "touch_source": rows["source"],
            "touched_at": pc.cast(rows["t_at"], _PA_TS),
            "position": pc.cast(rows["position"], pa.int64()),
            "journey_length": pa.array(journey_length, pa.int64()),
            "channel": rows["channel"],
            "campaign": rows["campaign"],
            "credit": pa.array(credit, pa.float64()),
            "value_credit": pa.array(credit * value, pa.float64()),
        }
    )


def _paths(goal: str, journeys: Journeys, run_id: str) -> pa.Table:
    paths, _ = journeys.to_paths()
    names = journeys.channels
    n = len(paths.paths)
    return pa.table(
        {
            "run_id": pa.array([run_id] * n, pa.string()),
            "goal": pa.array([goal] * n, pa.string()),
            "path": pa.array([" > ".join(names[c] for c in p) for p in paths.paths], pa.string()),
            "length": pa.array(paths.lengths, pa.int64()),
            "journeys": pa.array(np.rint(paths.conversions + paths.nulls), pa.int64()),
            "conversions": pa.array(np.rint(paths.conversions), pa.int64()),
            "value": pa.array(paths.values, pa.float64()),
        }
    )


#: Columns of ``attribution_credit``.
CREDIT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("goal", pa.string()),
        ("model", pa.string()),
        ("conversion_id", pa.string()),
        ("customer_id", pa.string()),
        ("converted_at", _PA_TS),
        ("conversion_value", pa.float64()),
        ("currency", pa.string()),
        ("touchpoint_id", pa.string()),
        ("touch_source", pa.string()),
        ("touched_at", _PA_TS),
        ("position", pa.int64()),
        ("journey_length", pa.int64()),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("credit", pa.float64()),
        ("value_credit", pa.float64()),
    ]
)
#: Columns of ``attribution_summary``.
SUMMARY_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("goal", pa.string()),
        ("model", pa.string()),
        ("dimension", pa.string()),
        ("key", pa.string()),
        ("conversions", pa.float64()),
        ("value", pa.float64()),
        ("share", pa.float64()),
        ("value_share", pa.float64()),
        ("touchpoints", pa.int64()),
    ]
)
#: Columns of ``attribution_paths``.
PATHS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("goal", pa.string()),
        ("path", pa.string()),
        ("length", pa.int64()),
        ("journeys", pa.int64()),
        ("conversions", pa.int64()),
        ("value", pa.float64()),
    ]
)


def _empty_credit() -> pa.Table:
    return CREDIT_SCHEMA.empty_table()


def _empty_summary() -> pa.Table:
    return SUMMARY_SCHEMA.empty_table()


def _empty_paths() -> pa.Table:
    return PATHS_SCHEMA.empty_table()


def _empty_points() -> pa.Table:
    names = ("customer_id", "touchpoint_id", "source", "stream", "record_key")
    return pa.table(
        {c: pa.array([], pa.string()) for c in names}
        | {"at": pa.array([], _PA_TS), "event_type": pa.array([], pa.string())}
        | {c: pa.array([], pa.string()) for c in (*_TUPLE, "url_host")}
    )


def _empty_conversions() -> pa.Table:
    return pa.table(
        {c: pa.array([], pa.string()) for c in ("goal", "customer_id", "conversion_id")}
        | {"at": pa.array([], _PA_TS), "value": pa.array([], pa.float64())}
        | {"currency": pa.array([], pa.string())}
    )


def _typed_conversions(t: ir.Table) -> ir.Table:
    return t.mutate(at=t.at.cast(_TS))
