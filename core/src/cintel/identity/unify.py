"""The unify step: canonical rows in, unified customers out, written once against ibis.

How it goes (every step an ibis expression run by the store's engine; DuckDB by
default, the same code on Spark or Postgres):

1. **Occurrences.** Every identifier of every canonical row (profiles, touchpoints,
   conversions, survey responses, interactions, both sides of identity links),
   with the row it came from (a *group*: its identifiers were seen together).
2. **Guards.** Identifiers matching the blocklist never take part (reason
   ``blocklist``). An identifier held by more than ``max_profiles_per_identifier``
   profiles of one source (``info@``, a family tablet) is *shared*: it does not
   merge anything, and is listed under every customer that holds it.
3. **Stitching.** The remaining identifiers are nodes, co-occurrence in a group is
   an edge; connected components by min-label propagation with pointer jumping
   (a handful of passes, whatever the component size).
4. **Limits.** A component holding more values of a type than its limit (two
   ``user_id`` when the limit is 1) is re-stitched group by group in time order,
   as a streaming CDP would have: a group's identifiers join in priority order,
   and one whose merge would break a limit is dropped from the merge (recorded
   in ``identity_refusals`` with the reason), not the whole record.
4b. **Probabilistic stage** (optional, ``identity.probabilistic``): a matcher
   plugin (Splink by default) compares source profiles of different components
   on names, email, dates and addresses; pairs at or above the threshold merge
   their components, most probable first, within the same limits. Every pair is
   kept in ``customer_matches``.
5. **Stable ids.** Each component keeps the ``customer_id`` most of its
   identifiers had in the previous run. When components merge, the oldest id
   survives and the others are recorded in ``customer_merges`` (and still
   resolve); when one splits, the part holding most of the old identifiers keeps
   the id. New customers get ``cus_`` + a hash of their strongest identifier, so a
   rebuild from scratch gives the same ids.
6. **Golden records** (``customers``): per-attribute survivorship (most recent,
   source priority, most frequent), first/last seen, sources seen, lifetime value,
   latest NPS. Ties (same time, same count) are broken by the values themselves,
   never by the order an engine read the rows in, so DuckDB and Spark agree.

Tables written (all replaced atomically at the end, in one transaction where the
store has them): ``customers``, ``customer_identifiers``, ``customer_records``,
``customer_merges``, ``identity_refusals``, ``customer_matches``, ``_cintel_customer_ids``,
``_cintel_unify_runs``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import structlog

from cintel.errors import ConfigError
from cintel.identity.config import GOLDEN_ATTRIBUTES, IdentityConfig
from cintel.identity.matchers import MATCH_SCHEMA, Matcher
from cintel.staging import Staging

__all__ = ["OUTPUT_TABLES", "RUNS_TABLE", "Unifier", "UnifyResult", "customer_id_for"]

log = structlog.get_logger("cintel.identity")

#: Canonical tables carrying ``identifiers``, with the column that dates a row.
_EVENT_TABLES: dict[str, tuple[str, ...]] = {
    "source_profiles": ("updated_at", "created_at"),
    "touchpoints": ("occurred_at",),
    "conversions": ("occurred_at",),
    "survey_responses": ("submitted_at",),
    "interactions": ("occurred_at",),
}

#: Golden-record attributes taken from source profiles.
ATTRIBUTES = GOLDEN_ATTRIBUTES

_REGISTRY = "_cintel_customer_ids"
#: The unify runs table: one row appended per run (its summary as JSON).
RUNS_TABLE = _RUNS = "_cintel_unify_runs"
#: The tables each unify run replaces together.
OUTPUT_TABLES = (
    "customers",
    "customer_identifiers",
    "customer_records",
    "customer_merges",
    "identity_refusals",
    "customer_matches",
    _REGISTRY,
)
_STAGE = "_cintel_stage_"
_SEP = "\x1f"
_MAX_PASSES = 64
_NODE_SPAN = 1 << 40  # node ids stay below this: priority * span + node orders by both
_TS = ibis.dtype("timestamp('UTC', 6)")
_EPOCH = ibis.literal(datetime(1970, 1, 1, tzinfo=UTC)).cast(_TS)


def customer_id_for(kind: str, value: str, salt: str = "") -> str:
    """The id a new customer anchored on ``(kind, value)`` gets (same formula as in SQL)."""
    digest = hashlib.md5(f"{kind}:{value}{salt}".encode(), usedforsecurity=False).hexdigest()
    return f"cus_{digest[:20]}"


@dataclass(slots=True)
class UnifyResult:
    """What a unify run did."""

    run_id: str
    started_at: datetime
    seconds: float = 0.0
    records: int = 0
    profiles: int = 0
    identifiers: int = 0
    customers: int = 0
    created: int = 0
    merged: int = 0
    split: int = 0
    passes: int = 0
    matched: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "records": self.records,
            "profiles": self.profiles,
            "identifiers": self.identifiers,
            "customers": self.customers,
            "created": self.created,
            "merged": self.merged,
            "split": self.split,
            "passes": self.passes,
            "matched": self.matched,
            "refused": dict(self.refused),
        }


class Unifier:
    """Runs the unify step on an ibis backend holding the canonical tables.

    ``transaction`` makes the final swap of output tables atomic (the sink's
    :meth:`~cintel.sink.Sink.transaction`); ``progress`` is told each phase.
    """

    def __init__(
        self,
        con: Any,
        config: IdentityConfig | None = None,
        *,
        transaction: Callable[[], AbstractContextManager[None]] | None = None,
        progress: Callable[[str], None] | None = None,
        now: datetime | None = None,
        matchers: Mapping[str, Matcher] | None = None,
    ) -> None:
        self.con = con
        self.config = config or IdentityConfig()
        self._matchers = dict(matchers or {})
        probabilistic = self.config.probabilistic
        #: the columns the matcher is given: compared attributes and blocking keys
        rules = [*probabilistic.blocking, probabilistic.em_blocking or []]
        self._match_keys: tuple[str, ...] = tuple(
            sorted({*probabilistic.comparisons, *(a for r in rules for a in r)})
        )
        #: attributes the probabilistic stage reads beyond the golden ones
        wanted = {_MATCH_SOURCE.get(a, a) for a in self._match_keys} - set(ATTRIBUTES)
        self._extra: tuple[str, ...] = tuple(sorted(wanted)) if probabilistic.enabled else ()
        self._staging = Staging(con, _STAGE, transaction=transaction)
        self._progress = progress or (lambda _phase: None)
        self.now = now or datetime.now(UTC)
        self.run_id = uuid.uuid4().hex[:16]
        self._started = time.perf_counter()

    # ------------------------------------------------------------------ helpers
    def _tables(self) -> set[str]:
        return self._staging.tables()

    def _stage(self, name: str, expr: ir.Table | pa.Table, *, output: bool = False) -> ir.Table:
        """Materialize ``expr`` (see :meth:`cintel.staging.Staging.stage`)."""
        return self._staging.stage(name, expr, output=output)

    def _unstage(self, table: ir.Table) -> None:
        """Drop a staged table no longer needed (frees the memory of a temporary one)."""
        self._staging.unstage(table)

    def _priority(self, kind: ir.StringValue) -> ir.IntegerValue:
        rules = {k: r.priority for k, r in self.config.identifiers.items()}
        rules.setdefault("user_id", self.config.rule("user_id").priority)
        rules.setdefault("email", self.config.rule("email").priority)
        return ibis.cases(
            *[(kind == k, p) for k, p in sorted(rules.items())],
            else_=self.config.default_priority,
        ).cast("int64")

    def _limits(self) -> tuple[dict[str, int | None], int | None]:
        limits: dict[str, int | None] = {
            k: self.config.rule(k).limit for k in {"user_id", "email", *self.config.identifiers}
        }
        return limits, self.config.default_limit

    # ------------------------------------------------------------------ phases
    def _groups(self, present: set[str]) -> ir.Table | None:
        """Every canonical row with identifiers, as a *group* (its identifiers were seen
        together): ``gid, tbl, source, stream, record_key, profile_id, seen_at, idents``,
        and what the golden records need of it (so that they join on ``gid``, never on
        string keys): a profile's attributes and date, a conversion's value and currency,
        a survey answer's NPS."""
        parts: list[ir.Table] = []
        for name, time_columns in _EVENT_TABLES.items():
            if name not in present:
                continue
            t = self.con.table(name)
            payload = _payload(t if name == "source_profiles" else None, self._extra)
            parts.append(
                t.select(
                    tbl=ibis.literal(name),
                    source=t._cintel_source,
                    stream=t._cintel_stream,
                    record_key=t._cintel_record_key,
                    profile_id=t.profile_id if name == "source_profiles" else ibis.null("string"),
                    seen_at=ibis.coalesce(*[t[c] for c in time_columns if c in t.columns]),
                    idents=t.identifiers,
                    **payload,
                    value=t.value.cast("float64") if name == "conversions" else _NULL_FLOAT,
                    currency=t.currency if name == "conversions" else ibis.null("string"),
                    nps=t.nps.cast("int64") if name == "survey_responses" else _NULL_INT,
                )
            )
        if "identity_links" in present:
            t = self.con.table("identity_links")
            parts.append(
                t.select(
                    tbl=ibis.literal("identity_links"),
                    source=t._cintel_source,
                    stream=t._cintel_stream,
                    record_key=t._cintel_record_key,
                    profile_id=ibis.null("string"),
                    seen_at=t.seen_at,
                    idents=ibis.array([t["left"], t["right"]]),
                    **_payload(None, self._extra),
                    value=_NULL_FLOAT,
                    currency=ibis.null("string"),
                    nps=_NULL_INT,
                )
            )
        if not parts:
            return None
        union = ibis.union(*parts, distinct=False)
        # numbered as the engine reads the rows: a gid only names a group (where the order
        # of groups matters, _restitch breaks ties by content, not by gid)
        return union.mutate(gid=ibis.row_number())

    def _blocked(self, t: ir.Table) -> ir.BooleanValue:
        cond: ir.BooleanValue = ibis.literal(False)
        for kind, patterns in self.config.blocked_patterns().items():
            for pattern in patterns:
                hit = t.value.re_search(f"(?i){pattern}")
                cond = cond | (hit if kind == "*" else ((t.type == kind) & hit))
        return cond

    def run(self) -> UnifyResult:
        """Unify every canonical row in the store; replaces the output tables."""
        start = self._started = time.perf_counter()
        result = UnifyResult(run_id=self.run_id, started_at=self.now)
        try:
            self._run(result)
        finally:
            self._staging.drop_all()
        result.seconds = time.perf_counter() - start
        log.info("unify finished", **result.as_dict())
        return result

    def _run(self, result: UnifyResult) -> None:
        matcher = self._matcher()
        present = self._tables()
        self._progress("reading identifiers")
        groups_expr = self._groups(present)
        if groups_expr is None:
            log.info("nothing to unify: no canonical tables with identifiers yet")
            return
        groups = self._stage("groups", groups_expr)
        # ``Array.unnest`` in a select, not ``Table.unnest``: ibis writes the latter as a
        # lateral ``CROSS JOIN UNNEST``, which DuckDB runs ~80x slower
        exploded = groups.select("gid", ident=groups.idents.unnest())
        # not made distinct here: the same identifier twice in one record is rare, and
        # ``occ`` below drops such repeats on integers, far cheaper than on strings
        pairs = exploded.select("gid", type=exploded.ident["type"], value=exploded.ident["value"])
        present_value = pairs.type.notnull() & pairs.value.notnull() & (pairs.value != "")
        pairs = self._stage("pairs", pairs.filter(present_value))
        # node ids: one integer per distinct identifier; the blocklist is checked once per value
        distinct = pairs.select("type", "value").distinct()
        nodes_all = distinct.mutate(
            # ordered: a component's label (its smallest node) then means the same everywhere
            node=ibis.row_number().over(order_by=[distinct.type, distinct.value]),
            priority=self._priority(distinct.type),
            blocked=self._blocked(distinct),
        )
        nodes_all = self._stage("nodes_all", nodes_all)
        blocked = nodes_all.filter(nodes_all.blocked)
        blocked_hits = pairs.join(blocked, ["type", "value"]).select("gid", "type", "value")
        blocked_hits = blocked_hits.distinct()
        refusals: list[ir.Table] = [
            self._stage(
                "blocked",
                blocked_hits.group_by(["type", "value"]).aggregate(
                    reason=ibis.literal("blocklist"),
                    detail=ibis.literal("the value matches the identifier blocklist"),
                    records=blocked_hits.count(),
                ),
            )
        ]
        kept = nodes_all.filter(~nodes_all.blocked)
        nodes = self._stage("nodes", kept.select("type", "value", "node", "priority"))
        occ = pairs.join(nodes, ["type", "value"]).select("gid", "node").distinct()
        occ = self._stage("occ", occ)
        self._unstage(pairs)
        self._unstage(nodes_all)
        result.records = _count(groups.count())
        result.identifiers = _count(nodes.count())
        if "source_profiles" in present:
            result.profiles = _count(self.con.table("source_profiles").count())

        # shared identifiers: held by too many profiles of one source
        shared = self._shared(occ, groups, nodes)
        refusals.append(shared.select("type", "value", "reason", "detail", "records"))
        shared_nodes = shared.select("node")
        links = self._stage("links", occ.anti_join(shared_nodes, "node"))

        self._progress("stitching")
        labels, passes = self._components(nodes.anti_join(shared_nodes, "node"), links)
        result.passes = passes

        self._progress("checking limits")
        labels, limit_refusals = self._enforce_limits(nodes, links, groups, labels)
        if limit_refusals is not None:
            refusals.append(limit_refusals)

        # each group belongs to the component of its strongest identifier
        ranked = links.join(nodes.select("node", "priority"), "node")
        best = ranked.group_by("gid").aggregate(
            key=(ranked.priority.cast("int64") * _NODE_SPAN + ranked.node).min()
        )
        best = best.select("gid", node=best.key % _NODE_SPAN)
        group_label = self._stage("group_label", best.join(labels, "node").select("gid", "label"))

        matches = self._stage("matches", ibis.memtable(_empty_matches()))
        if matcher is not None:
            self._progress("matching profiles")
            labels, group_label, matches = self._match(matcher, groups, nodes, labels, group_label)
            result.matched = _count(matches.filter(matches.accepted).count())
            refused = matches.filter(~matches.accepted)
            refusals.append(
                refused.select(
                    type=ibis.literal("profile_match"),
                    value=refused.left_key.concat(" ~ ", refused.right_key),
                    reason=ibis.literal("limit"),
                    detail=refused.detail,
                    records=ibis.literal(2).cast("int64"),
                )
            )

        self._progress("assigning customer ids")
        ids, history, created = self._assign_ids(nodes, labels, present)
        result.created = created

        self._progress("building golden records")
        outputs = self._outputs(occ, groups, nodes, labels, group_label, shared, ids)
        outputs_staged = set(outputs)  # customers, customer_identifiers, customer_records
        outputs["customers"] = self._stage("customers", outputs["customers"], output=True)
        all_refusals = ibis.union(*refusals, distinct=False)
        outputs["identity_refusals"] = all_refusals.mutate(
            run_id=ibis.literal(self.run_id), at=ibis.literal(self.now).cast(_TS)
        )
        outputs["customer_matches"] = self._matches_out(matches, group_label, ids)
        outputs["customer_merges"] = history["customer_merges"]
        outputs[_REGISTRY] = history[_REGISTRY]

        staged = {
            name: expr if name in outputs_staged else self._stage(name, expr, output=True)
            for name, expr in outputs.items()
        }
        counts = (
            staged["identity_refusals"]
            .group_by("reason")
            .aggregate(n=staged["identity_refusals"].records.sum())
            .to_pyarrow()
            .to_pylist()
        )
        result.refused = {str(r["reason"]): int(r["n"] or 0) for r in counts}
        result.customers = _count(staged["customers"].count())
        merges = staged["customer_merges"]
        this_run = merges.filter(merges.run_id == self.run_id)
        kinds = this_run.group_by("kind").aggregate(n=this_run.count()).to_pyarrow().to_pylist()
        by_kind = {str(r["kind"]): int(r["n"]) for r in kinds}
        result.merged = by_kind.get("merge", 0)
        result.split = by_kind.get("split", 0)
        self._progress("saving")
        self._swap(staged, result)

    # ------------------------------------------------------------------ guards
    def _shared(self, occ: ir.Table, groups: ir.Table, nodes: ir.Table) -> ir.Table:
        limit = self.config.max_profiles_per_identifier
        owners = groups.filter((groups.tbl == "source_profiles") & groups.profile_id.notnull())
        profiles = occ.join(owners.select("gid", "source", "profile_id"), "gid")
        per_source = profiles.group_by(["node", "source"]).aggregate(
            holders=profiles.profile_id.nunique()
        )
        if limit is None:
            per_source = per_source.filter(ibis.literal(False))
        else:
            per_source = per_source.filter(per_source.holders > limit)
        worst = per_source.group_by("node").aggregate(
            holders=per_source.holders.max(), source=per_source.source.min()
        )
        hits = occ.semi_join(worst, "node")
        records = hits.group_by("node").aggregate(records=hits.count())
        shared = worst.join(nodes, "node").join(records, "node")
        shared = shared.select(
            "node",
            "type",
            "value",
            "records",
            reason=ibis.literal("shared"),
            detail=ibis.literal("held by ")
            .concat(shared.holders.cast("string"))
            .concat(" profiles of source ")
            .concat(shared.source)
            .concat(f" (more than max_profiles_per_identifier={limit}); it merges nothing"),
        )
        return self._stage("shared", shared)

    def _components(self, nodes: ir.Table, links: ir.Table) -> tuple[ir.Table, int]:
        """Connected components: ``node -> label`` (the smallest node id in the component)."""
        centre = links.group_by("gid").aggregate(c=links.node.min())
        star = links.join(centre, "gid").select(a=links.node, b=centre.c)
        star = star.filter(star.a != star.b).distinct()
        edges = self._stage(
            "edges", ibis.union(star, star.select(a=star.b, b=star.a), distinct=True)
        )
        labels = self._stage("labels", nodes.select("node", label=nodes.node))
        total = _count(labels.label.sum())
        passes = 0
        for passes in range(1, _MAX_PASSES + 1):  # noqa: B007 - the count is reported
            nb = edges.join(labels, edges.b == labels.node).select(edges.a, labels.label)
            low = nb.group_by("a").aggregate(low=nb.label.min())
            step = labels.left_join(low, labels.node == low.a).select(
                node=labels.node, label=ibis.least(labels.label, low.low.fill_null(labels.label))
            )
            step = self._stage("step", step)
            self._unstage(labels)
            parent = step.view()
            jumped = step.join(parent, step.label == parent.node).select(
                node=step.node, label=parent.label
            )
            labels = self._stage("labels", jumped)
            self._unstage(step)
            # labels only ever decrease, so an unchanged sum means nothing changed
            now = _count(labels.label.sum())
            if now == total:
                break
            total = now
        else:
            raise RuntimeError(f"identity graph did not converge in {_MAX_PASSES} passes")
        return labels, passes

    def _enforce_limits(
        self, nodes: ir.Table, links: ir.Table, groups: ir.Table, labels: ir.Table
    ) -> tuple[ir.Table, ir.Table | None]:
        """Re-stitch, in time order and by priority, components breaking a type limit."""
        limits, default = self._limits()
        typed = labels.join(nodes, "node")
        counts = typed.group_by(["label", "type"]).aggregate(n=typed.count())
        limit_of = ibis.cases(
            *[(counts.type == k, v if v is not None else 2**62) for k, v in sorted(limits.items())],
            else_=default if default is not None else 2**62,
        )
        bad = counts.filter(counts.n > limit_of).select("label").distinct()
        if _count(bad.count()) == 0:
            return labels, None
        bad_nodes = typed.semi_join(bad, "label").select("node")
        rows = links.semi_join(bad_nodes, "node").join(nodes, "node")
        rows = rows.join(groups.select("gid", "seen_at"), "gid")
        rows = rows.select("gid", "seen_at", "node", "type", "value", "priority")
        table = rows.to_pyarrow()
        new_labels, refused = _restitch(table, limits, default)
        overrides = self._stage("limit_labels", new_labels)
        merged = labels.left_join(overrides, labels.node == overrides.node).select(
            node=labels.node, label=overrides.label.fill_null(labels.label)
        )
        labels = self._stage("labels_limited", merged)
        refusals = self._stage("limit_refusals", refused)
        return labels, refusals.select("type", "value", "reason", "detail", "records")

    # ------------------------------------------------------------------ probabilistic
    def _matcher(self) -> Matcher | None:
        """The configured matcher when the probabilistic stage is on."""
        cfg = self.config.probabilistic
        if not cfg.enabled:
            return None
        if cfg.matcher in self._matchers:
            return self._matchers[cfg.matcher]
        if cfg.matcher == "splink":  # the built-in, also when no plugin registry is at hand
            from cintel.identity.matchers import SplinkMatcher

            return SplinkMatcher()
        known = ", ".join(sorted({"splink", *self._matchers}))
        raise ConfigError(
            f"identity.probabilistic.matcher: no identity matcher {cfg.matcher!r} is "
            f"registered (known: {known})"
        )

    def _match(
        self,
        matcher: Matcher,
        groups: ir.Table,
        nodes: ir.Table,
        labels: ir.Table,
        group_label: ir.Table,
    ) -> tuple[ir.Table, ir.Table, ir.Table]:
        """Compare profiles of different components; merge those the matcher pairs,
        strongest first, unless the merge breaks an identifier limit."""
        cfg = self.config.probabilistic
        profiles = self._stage(
            "match_profiles", self._match_profiles(groups, nodes, labels, group_label)
        )
        found = matcher.match(self.con, profiles, cfg)
        missing = set(MATCH_SCHEMA.names) - set(found.column_names)
        if missing:
            raise TypeError(
                f"identity matcher {cfg.matcher!r} returned no {', '.join(sorted(missing))} column"
            )
        pairs = self._stage("match_pairs", found.select(MATCH_SCHEMA.names).cast(MATCH_SCHEMA))
        left = profiles.select(l_id=profiles.unique_id, l_label=profiles.cluster)
        right = profiles.select(r_id=profiles.unique_id, r_label=profiles.cluster)
        keyed = pairs.join(left, pairs.unique_id_l == left.l_id).join(
            right, pairs.unique_id_r == right.r_id
        )
        keyed = keyed.filter(keyed.l_label != keyed.r_label)
        rows = keyed.select(
            "unique_id_l", "unique_id_r", "match_probability", "l_label", "r_label"
        ).to_pyarrow()
        involved = pa.table(
            {
                "label": pa.array(
                    sorted({*rows["l_label"].to_pylist(), *rows["r_label"].to_pylist()}), pa.int64()
                )
            }
        )
        typed = labels.join(self._stage("match_labels", involved), "label").join(nodes, "node")
        counts = typed.group_by(["label", "type"]).aggregate(n=typed.count()).to_pyarrow()
        limits, default = self._limits()
        remap, verdicts = _merge_matches(rows, counts, limits, default)
        decided = self._stage("match_verdicts", verdicts)
        moved = self._stage("match_remap", remap)
        labels = labels.left_join(moved, labels.label == moved.old).select(
            node=labels.node, label=moved.new.fill_null(labels.label)
        )
        labels = self._stage("labels_matched", labels)
        group_label = group_label.left_join(moved, group_label.label == moved.old).select(
            gid=group_label.gid, label=moved.new.fill_null(group_label.label)
        )
        group_label = self._stage("group_label_matched", group_label)
        key = groups.source.concat("/", groups.stream, "/", groups.record_key)
        keys = groups.select("gid", key=key)
        lk = keys.select(l_gid=keys.gid, left_key=keys.key)
        rk = keys.select(r_gid=keys.gid, right_key=keys.key)
        matches = pairs.join(decided, ["unique_id_l", "unique_id_r"])
        matches = matches.join(lk, matches.unique_id_l == lk.l_gid)
        matches = matches.join(rk, matches.unique_id_r == rk.r_gid)
        matches = matches.select(
            gid_l=matches.unique_id_l,
            gid_r=matches.unique_id_r,
            left_key=matches.left_key,
            right_key=matches.right_key,
            match_probability=matches.match_probability,
            match_weight=matches.match_weight,
            accepted=matches.accepted,
            detail=matches.detail,
        )
        return labels, group_label, self._stage("matches_found", matches)

    def _match_profiles(
        self, groups: ir.Table, nodes: ir.Table, labels: ir.Table, group_label: ir.Table
    ) -> ir.Table:
        """What the matcher compares: one row per source profile, ``unique_id`` (its group),
        ``cluster`` (its component) and the match keys, trimmed and lower-case.

        * An email stitching refused (blocklisted, or shared by too many profiles: a
          role address) says nothing about who holds it: null.
        * A profile lacking an attribute takes its customer's most frequent value (ties
          to the smallest), so that a contact without a birth date is compared with the
          one its customer's survey answer gave. Emails are not filled: a customer may
          hold several, and each profile is compared on its own.
        * ``email_local``/``email_domain`` are the email around the ``@``; ``email_typo``
          the variants of the email with one character of the local part deleted.
        """
        prof = groups.filter(groups.tbl == "source_profiles").join(group_label, "gid")
        sources = sorted({_MATCH_SOURCE.get(key, key) for key in self._match_keys})
        clean = {}
        for name in sources:
            value = prof[name].strip().lower()
            clean[name] = ibis.ifelse(value == "", ibis.null("string"), value)
        base = prof.select(unique_id=prof.gid, cluster=prof.label, **clean)
        if "email" in clean:
            emails = nodes.filter(nodes.type == "email")
            shared = emails.anti_join(labels, "node")
            base = base.mutate(type=ibis.literal("email"), value=base.email)
            refused = base.email.isin(shared.value) | self._blocked(base)
            base = base.mutate(email=ibis.ifelse(refused, ibis.null("string"), base.email))
            base = base.drop("type", "value")
        # staged: each fill below reads it twice, and engines re-run an unstaged chain
        base = self._stage("match_base", base)
        filled = base
        for name in sources:
            if name == "email":
                continue
            present = base.filter(base[name].notnull())
            counts = present.group_by(["cluster", name]).aggregate(n=present.count())
            rank = ibis.row_number().over(
                group_by=counts.cluster, order_by=[ibis.desc(counts.n), counts[name]]
            )
            best = counts.mutate(rank=rank)
            best = best.filter(best["rank"] == 0).select(fill_cluster=best.cluster, fill=best[name])
            filled = filled.left_join(best, filled.cluster == best.fill_cluster)
            filled = filled.mutate(**{name: filled[name].fill_null(filled.fill)})
            filled = filled.drop("fill_cluster", "fill")
        keys = set(self._match_keys)
        if keys & {"email_local", "email_domain", "email_typo"}:
            filled = filled.mutate(
                email_local=filled.email.split("@")[0], email_domain=filled.email.split("@")[1]
            )
        out = self._stage("match_filled", filled)
        self._unstage(base)
        if "email_typo" in keys:
            out = out.left_join(_typo_variants(out), "unique_id")
        return out.select("unique_id", "cluster", *self._match_keys)

    def _matches_out(self, matches: ir.Table, group_label: ir.Table, ids: ir.Table) -> ir.Table:
        """``customer_matches``: every pair the matcher found, with both customers."""
        named = group_label.join(ids, "label").select("gid", "customer_id")
        left = named.select(l_gid=named.gid, customer_id=named.customer_id)
        right = named.select(r_gid=named.gid, matched_customer_id=named.customer_id)
        out = matches.join(left, matches.gid_l == left.l_gid)
        out = out.join(right, out.gid_r == right.r_gid)
        return out.select(
            "customer_id",
            "matched_customer_id",
            profile=out.left_key,
            matched_profile=out.right_key,
            match_probability=out.match_probability,
            match_weight=out.match_weight,
            accepted=out.accepted,
            detail=out.detail,
            run_id=ibis.literal(self.run_id),
        )

    # ------------------------------------------------------------------ ids
    def _assign_ids(
        self, nodes: ir.Table, labels: ir.Table, present: set[str]
    ) -> tuple[ir.Table, dict[str, ir.Table], int]:
        """``label -> customer_id``, and the merge history and registry to write."""
        members = labels.join(nodes, "node")
        # the anchor of a component: its strongest identifier
        anchor = members.mutate(
            rk=ibis.row_number().over(
                group_by=members.label,
                order_by=[members.priority, members.type, members.value],
            )
        )
        anchor = anchor.filter(anchor.rk == 0)
        fresh = anchor.select(
            "label",
            customer_id=ibis.literal("cus_").concat(
                ibis.literal("")
                .concat(anchor.type, ibis.literal(":"), anchor.value)
                .hexdigest("md5")
                .substr(0, 20)
            ),
        )
        empty_registry = ibis.memtable(
            pa.table(
                {
                    "customer_id": pa.array([], pa.string()),
                    "created_at": pa.array([], pa.timestamp("us", tz="UTC")),
                    "created_run": pa.array([], pa.string()),
                    "retired_at": pa.array([], pa.timestamp("us", tz="UTC")),
                    "merged_into": pa.array([], pa.string()),
                }
            )
        )
        has_previous = "customer_identifiers" in present and _REGISTRY in present
        registry = _utc(self.con.table(_REGISTRY)) if has_previous else empty_registry
        old_merges = (
            _utc(self.con.table("customer_merges"))
            if "customer_merges" in present
            else ibis.memtable(_empty_merges())
        )
        now = ibis.literal(self.now).cast(_TS)
        run = ibis.literal(self.run_id)
        if not has_previous:
            ids = self._stage("ids", fresh)
            created = _count(ids.count())
            new_registry = ids.select(
                "customer_id",
                created_at=now,
                created_run=run,
                retired_at=ibis.null(_TS),
                merged_into=ibis.null("string"),
            )
            return ids, {_REGISTRY: new_registry, "customer_merges": old_merges}, created

        prev = self.con.table("customer_identifiers")
        prev = prev.filter(~prev.shared).select("type", "value", "customer_id")
        claims = members.join(prev, ["type", "value"])
        claims = claims.group_by(["label", "customer_id"]).aggregate(n=claims.count())
        # an old id goes to the component holding most of its identifiers
        claims = claims.mutate(
            rk=ibis.row_number().over(
                group_by=claims.customer_id, order_by=[claims.n.desc(), claims.label]
            )
        )
        won = claims.filter(claims.rk == 0).join(registry, "customer_id")
        won = won.mutate(
            rk2=ibis.row_number().over(
                group_by=won.label, order_by=[won.created_at, won.customer_id]
            )
        )
        won = self._stage("won", won.select("label", "customer_id", "rk2"))
        survivors = won.filter(won.rk2 == 0).select("label", "customer_id")
        retired = won.filter(won.rk2 > 0)
        retired = retired.join(survivors, "label").select(
            retired_id=retired.customer_id, survivor_id=survivors.customer_id
        )
        # components without an old id: a fresh one (salted if it is taken)
        newcomers = fresh.anti_join(survivors, "label")
        taken = registry.select(taken_id=registry.customer_id)
        newcomers = newcomers.left_join(taken, newcomers.customer_id == taken.taken_id)
        newcomers = newcomers.select(
            "label",
            customer_id=ibis.ifelse(
                newcomers.taken_id.isnull(),
                newcomers.customer_id,
                ibis.literal("cus_").concat(
                    newcomers.customer_id.concat(":", run).hexdigest("md5").substr(0, 20)
                ),
            ),
        )
        ids = self._stage("ids", ibis.union(survivors, newcomers, distinct=False))
        # splits: a component that claimed an old id but lost it to another
        lost = claims.filter(claims.rk > 0).select("label", old_id=claims.customer_id)
        splits = lost.join(newcomers, "label").select(
            retired_id=lost.old_id, survivor_id=newcomers.customer_id
        )
        splits = splits.distinct()
        history = ibis.union(
            old_merges,
            retired.select(
                "retired_id",
                "survivor_id",
                kind=ibis.literal("merge"),
                run_id=run,
                at=now,
            ),
            splits.select(
                "retired_id",
                "survivor_id",
                kind=ibis.literal("split"),
                run_id=run,
                at=now,
            ),
            distinct=False,
        )
        # registry: old rows (retired ones marked), newcomers added
        retired_ids = retired.select(rid=retired.retired_id, into=retired.survivor_id)
        old = registry.left_join(retired_ids, registry.customer_id == retired_ids.rid)
        old = old.select(
            "customer_id",
            "created_at",
            "created_run",
            retired_at=ibis.ifelse(old.rid.notnull(), now, old.retired_at),
            merged_into=ibis.ifelse(old.rid.notnull(), old.into, old.merged_into),
        )
        # ids no component claims any more (their records are gone) retire without a successor
        active = ids.select(aid=ids.customer_id)
        old = old.left_join(active, old.customer_id == active.aid)
        old = old.select(
            "customer_id",
            "created_at",
            "created_run",
            retired_at=ibis.ifelse(old.aid.isnull() & old.retired_at.isnull(), now, old.retired_at),
            merged_into=old.merged_into,
        )
        additions = newcomers.select(
            "customer_id",
            created_at=now,
            created_run=run,
            retired_at=ibis.null(_TS),
            merged_into=ibis.null("string"),
        )
        additions = additions.anti_join(registry, "customer_id")
        new_registry = ibis.union(old, additions, distinct=False)
        created = _count(newcomers.count())
        return ids, {_REGISTRY: new_registry, "customer_merges": history}, created

    # ------------------------------------------------------------------ outputs
    def _outputs(
        self,
        occ: ir.Table,
        groups: ir.Table,
        nodes: ir.Table,
        labels: ir.Table,
        group_label: ir.Table,
        shared: ir.Table,
        ids: ir.Table,
    ) -> dict[str, ir.Table]:
        """The output tables, staged under their final names (``customers``,
        ``customer_identifiers``, ``customer_records``)."""
        members = self._stage("members", groups.join(group_label, "gid"))
        rows = members.join(ids, "label")
        rows = rows.select(
            table=rows.tbl,
            source=rows.source,
            stream=rows.stream,
            record_key=rows.record_key,
            customer_id=rows.customer_id,
            seen_at=rows.seen_at,
        )
        # one row per record and customer (an identify call gives several link rows)
        recs = self._stage("customer_records", rows.distinct(), output=True)
        # identifiers: own ones, and shared ones under every customer whose records hold them
        dated = occ.join(groups.select("gid", "seen_at"), "gid")
        stats = dated.group_by("node").aggregate(
            first_seen=dated.seen_at.min(), last_seen=dated.seen_at.max(), records=dated.count()
        )
        own = labels.anti_join(shared, "node").join(ids, "label").join(nodes, "node")
        own = own.join(stats, "node").select(
            "customer_id",
            "type",
            "value",
            "priority",
            "first_seen",
            "last_seen",
            "records",
            shared=ibis.literal(False),
        )
        shared_occ = dated.semi_join(shared, "node")
        holders = shared_occ.join(group_label, "gid").join(ids, "label").join(nodes, "node")
        holders = holders.group_by(["customer_id", "type", "value", "priority"]).aggregate(
            first_seen=holders.seen_at.min(),
            last_seen=holders.seen_at.max(),
            records=holders.count(),
        )
        holders = holders.mutate(shared=ibis.literal(True))
        identifiers = ibis.union(own, holders, distinct=False)
        identifiers = self._stage("customer_identifiers", identifiers, output=True)
        customers = self._golden(members, recs, identifiers, ids)
        return {
            "customers": customers,
            "customer_identifiers": identifiers,
            "customer_records": recs,
        }

    def _golden(
        self, members: ir.Table, recs: ir.Table, identifiers: ir.Table, ids: ir.Table
    ) -> ir.Table:
        """One row per customer. ``members`` is the groups with their component ``label``:
        aggregates run on integer labels, the customer id joins last."""
        seen = recs.group_by("customer_id").aggregate(
            first_seen=recs.seen_at.min(),
            last_seen=recs.seen_at.max(),
            channels=recs.source.collect(distinct=True).sort(),
            record_count=recs.count(),
        )
        if self.con.name == "pyspark":
            # Spark has no ordered collect (``collect(order_by=...)``): sort (priority, type,
            # value) structs, then keep type and value. Not for every engine: ibis writes the
            # lambda with ``->``, which DuckDB 2.0 refuses.
            keyed = ibis.struct(
                {
                    "priority": identifiers.priority,
                    "type": identifiers.type,
                    "value": identifiers.value,
                }
            )
            idents = identifiers.group_by("customer_id").aggregate(
                identifiers=keyed.collect().sort()
            )
            idents = idents.select(
                "customer_id",
                identifiers=idents.identifiers.map(
                    lambda i: ibis.struct({"type": i["type"], "value": i["value"]})
                ),
            )
        else:
            pair = ibis.struct({"type": identifiers.type, "value": identifiers.value})
            idents = identifiers.group_by("customer_id").aggregate(
                identifiers=pair.collect(
                    order_by=[identifiers.priority, identifiers.type, identifiers.value]
                ),
            )
        by_label = self._attributes(members)
        by_label = by_label.join(self._value(members), "label", how="outer")
        by_label = _coalesce_keys(by_label, "label")
        by_label = by_label.join(self._nps(members), "label", how="outer")
        by_label = _coalesce_keys(by_label, "label")
        extra = ids.join(by_label, "label").drop("label")
        golden = ids.select("customer_id")
        for part in (seen, idents, extra):
            golden = golden.left_join(part, "customer_id").select(
                ~ibis.selectors.endswith("_right")
            )
        return golden.select(
            "customer_id",
            "identifiers",
            *ATTRIBUTES,
            "first_seen",
            "last_seen",
            "channels",
            "profile_count",
            "record_count",
            "lifetime_value",
            "currency",
            "latest_nps",
            unified_at=ibis.literal(self.now).cast(_TS),
        )

    def _attributes(self, members: ir.Table) -> ir.Table:
        """Survivorship per attribute over each component's source profiles."""
        prof = members.filter(members.tbl == "source_profiles")
        sources = self.config.survivorship.source_priority
        rank = (
            ibis.cases(
                *[(prof.source == s, len(sources) - i) for i, s in enumerate(sources)], else_=0
            ).cast("int64")
            if sources
            else ibis.literal(0).cast("int64")
        )
        prof = prof.mutate(_rank=rank)
        aggs: dict[str, Any] = {"profile_count": prof.count()}
        frequent: list[str] = []
        for attr in ATTRIBUTES:
            rule = self.config.survivorship.attributes.get(attr, self.config.survivorship.default)
            value = prof[attr]
            # the keys end with the value itself: a tie (same time, same source) goes to the
            # same value on every engine, not to whichever row the engine read last
            if rule == "most_recent":
                key = ibis.struct({"at": prof._recent, "v": value})
                aggs[attr] = value.argmax(key, where=value.notnull())
            elif rule == "source_priority":
                key = ibis.struct({"rank": prof._rank, "at": prof._recent, "v": value})
                aggs[attr] = value.argmax(key, where=value.notnull())
            else:
                frequent.append(attr)
        table = prof.group_by("label").aggregate(**aggs)
        for attr in frequent:
            known = prof.filter(prof[attr].notnull())
            counted = known.group_by(["label", known[attr].name("v")]).aggregate(
                n=known.count(), recent=known._recent.max()
            )
            counted = counted.mutate(
                rk=ibis.row_number().over(
                    group_by=counted.label,
                    order_by=[counted.n.desc(), counted.recent.desc(), counted.v],
                )
            )
            best = counted.filter(counted.rk == 0).select("label", **{attr: counted.v})
            table = table.drop(attr) if attr in table.columns else table
            table = table.left_join(best, "label").select(~ibis.selectors.endswith("_right"))
        return table

    def _value(self, members: ir.Table) -> ir.Table:
        rows = members.filter(members.tbl == "conversions")
        value = rows.group_by("label").aggregate(lifetime_value=rows.value.sum())
        # the most frequent currency, ties to the first in alphabetical order (``mode()``
        # breaks ties as the engine happens to read the rows)
        known = rows.filter(rows.currency.notnull())
        used = known.group_by(["label", "currency"]).aggregate(n=known.count())
        top = used.group_by("label").aggregate(
            currency=used.currency.argmin(ibis.struct({"n": -used.n, "c": used.currency}))
        )
        return value.left_join(top, "label").select(~ibis.selectors.endswith("_right"))

    def _nps(self, members: ir.Table) -> ir.Table:
        rows = members.filter(members.tbl == "survey_responses")
        dated = rows.nps.notnull() & rows.seen_at.notnull()
        # two answers at the same moment: the higher score, on every engine
        key = ibis.struct({"at": rows.seen_at, "nps": rows.nps})
        return rows.group_by("label").aggregate(latest_nps=rows.nps.argmax(key, where=dated))

    # ------------------------------------------------------------------ saving
    def _swap(self, staged: dict[str, ir.Table], result: UnifyResult) -> None:
        """Replace the output tables by the staged ones, in one transaction where possible."""
        result.seconds = time.perf_counter() - self._started
        self._staging.swap(
            staged,
            runs_table=_RUNS,
            run_id=result.run_id,
            started_at=result.started_at,
            summary=result.as_dict(),
        )


#: Blocking keys derived from another attribute.
_MATCH_SOURCE = {"email_local": "email", "email_domain": "email", "email_typo": "email"}
_NULL_FLOAT = ibis.null("float64")
_NULL_INT = ibis.null("int64")


def _typo_variants(profiles: ir.Table) -> ir.Table:
    """``unique_id, email_typo``: a profile's email with one character of its local part
    deleted, each one in turn, and the email itself. Two emails one typo apart (a letter
    dropped, added, changed, or two swapped) share one of these."""
    has = profiles.filter(profiles.email_local.notnull() & profiles.email_domain.notnull())
    spots = has.select(
        "unique_id",
        "email_local",
        "email_domain",
        at=ibis.range(0, has.email_local.length() + 1).unnest(),
    )
    local = spots.email_local
    variant = local.substr(0, spots.at).concat(local.substr(spots.at + 1), "@", spots.email_domain)
    variants = spots.select("unique_id", variant=variant)
    return variants.group_by("unique_id").aggregate(email_typo=variants.variant.collect())


def _payload(profiles: ir.Table | None, extra: tuple[str, ...] = ()) -> dict[str, ir.Value]:
    """The golden-record attributes of a source profile (as text), the moment that dates
    them (an undated profile counts as the oldest: the epoch) and the ``extra`` attributes
    the probabilistic stage compares; nulls for other rows."""
    names = (*ATTRIBUTES, *extra)
    if profiles is None:
        return {**{a: ibis.null("string") for a in names}, "_recent": ibis.null(_TS)}
    when = ibis.coalesce(profiles.updated_at, profiles.created_at).cast(_TS).fill_null(_EPOCH)
    return {**{a: profiles[a].cast("string") for a in names}, "_recent": when}


def _coalesce_keys(table: ir.Table, key: str) -> ir.Table:
    """After an outer join on ``key``: one ``key`` column again."""
    right = f"{key}_right"
    return table.mutate(**{key: ibis.coalesce(table[key], table[right])}).drop(right)


def _count(expr: ir.IntegerScalar) -> int:
    """A count, through Arrow (``execute`` would go through pandas)."""
    return int(expr.to_pyarrow().as_py() or 0)


def _utc(table: ir.Table) -> ir.Table:
    """``table`` with its timestamps typed as written (Spark reads every one back without a
    time zone, and a union wants the same types on both sides); a no-op on DuckDB."""
    return table.mutate(
        **{
            name: table[name].cast(_TS)
            for name, dtype in table.schema().items()
            if dtype.is_timestamp()
        }
    )


def _empty_matches() -> pa.Table:
    return pa.table(
        {
            "gid_l": pa.array([], pa.int64()),
            "gid_r": pa.array([], pa.int64()),
            "left_key": pa.array([], pa.string()),
            "right_key": pa.array([], pa.string()),
            "match_probability": pa.array([], pa.float64()),
            "match_weight": pa.array([], pa.float64()),
            "accepted": pa.array([], pa.bool_()),
            "detail": pa.array([], pa.string()),
        }
    )


def _find(parent: dict[int, int], x: int) -> int:
    """Union-find root of ``x`` (a node absent from ``parent`` is its own root), with
    path compression."""
    root = x
    while parent.get(root, root) != root:
        root = parent[root]
    while parent.get(x, x) != root:
        parent[x], x = root, parent[x]
    return root


def _merge_matches(
    rows: pa.Table, counts: pa.Table, limits: dict[str, int | None], default: int | None
) -> tuple[pa.Table, pa.Table]:
    """Merge the components of matched profile pairs, most probable pair first.

    A merge that would give a customer more values of an identifier type than its
    limit (two ``user_id``) is refused. Returns ``old -> new`` labels (the smallest
    label of each merged set) and each pair's verdict.
    """
    held: dict[int, Counter[str]] = {}
    for row in counts.to_pylist():
        held.setdefault(int(row["label"]), Counter())[str(row["type"])] = int(row["n"])
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        return _find(parent, x)

    order = sorted(
        rows.to_pylist(),
        key=lambda r: (-r["match_probability"], r["unique_id_l"], r["unique_id_r"]),
    )
    verdicts: dict[str, list[Any]] = {
        "unique_id_l": [],
        "unique_id_r": [],
        "accepted": [],
        "detail": [],
    }
    for r in order:
        a, b = find(int(r["l_label"])), find(int(r["r_label"]))
        detail = None
        if a != b:
            ca, cb = held.get(a, Counter()), held.get(b, Counter())
            for kind in sorted(set(ca) | set(cb)):
                lim = limits.get(kind, default)
                if lim is not None and ca[kind] + cb[kind] > lim:
                    detail = (
                        f"match probability {r['match_probability']:.4f}, but merging would give "
                        f"a customer more {kind} values than its limit ({lim}); not merged"
                    )
                    break
            if detail is None:
                keep, gone = min(a, b), max(a, b)
                parent[gone] = keep
                held[keep] = ca + cb
                held.pop(gone, None)
        verdicts["unique_id_l"].append(r["unique_id_l"])
        verdicts["unique_id_r"].append(r["unique_id_r"])
        verdicts["accepted"].append(detail is None)
        verdicts["detail"].append(detail)
    old = [x for x in parent if find(x) != x]
    remap = pa.table(
        {"old": pa.array(old, pa.int64()), "new": pa.array([find(x) for x in old], pa.int64())}
    )
    schema = pa.schema(
        [
            ("unique_id_l", pa.int64()),
            ("unique_id_r", pa.int64()),
            ("accepted", pa.bool_()),
            ("detail", pa.string()),
        ]
    )
    return remap, pa.table(verdicts, schema=schema)


def _empty_merges() -> pa.Table:
    return pa.table(
        {
            "retired_id": pa.array([], pa.string()),
            "survivor_id": pa.array([], pa.string()),
            "kind": pa.array([], pa.string()),
            "run_id": pa.array([], pa.string()),
            "at": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def _restitch(
    table: pa.Table, limits: dict[str, int | None], default: int | None
) -> tuple[pa.Table, pa.Table]:
    """Stream the groups of over-limit components through a union-find, in time order.

    A group's identifiers join its strongest one in priority order; one whose
    merge would give the cluster more values of a type than its limit is left
    out of that merge. Returns ``node -> label`` and the refusals.
    """
    rows = table.to_pylist()
    by_group: dict[int, list[dict[str, Any]]] = {}
    when: dict[int, Any] = {}
    for row in rows:
        by_group.setdefault(row["gid"], []).append(row)
        when[row["gid"]] = row["seen_at"]
    # in time order; groups seen at the same moment by their identifiers, so that every
    # engine (whatever order it numbered the groups in) re-stitches alike
    content = {
        g: sorted((r["priority"], r["type"], r["value"]) for r in members)
        for g, members in by_group.items()
    }
    order = sorted(by_group, key=lambda g: (when[g] is None, when[g] or 0, content[g], g))
    parent: dict[int, int] = {}
    kinds: dict[int, dict[str, set[str]]] = {}

    def find(x: int) -> int:
        return _find(parent, x)

    def limit(kind: str) -> int | None:
        return limits.get(kind, default)

    refused: Counter[tuple[str, str, str]] = Counter()
    for gid in order:
        members = sorted(by_group[gid], key=lambda r: (r["priority"], r["type"], r["value"]))
        for r in members:
            if r["node"] not in parent:
                parent[r["node"]] = r["node"]
                kinds[r["node"]] = {r["type"]: {r["value"]}}
        head = find(members[0]["node"])
        for r in members[1:]:
            other = find(r["node"])
            if other == head:
                continue
            a, b = kinds[head], kinds[other]
            broken = next(
                (
                    k
                    for k in sorted(set(a) | set(b))
                    if (lim := limit(k)) is not None
                    and len(a.get(k, set()) | b.get(k, set())) > lim
                ),
                None,
            )
            if broken is not None:
                refused[(r["type"], r["value"], broken)] += 1
                continue
            keep, gone = (head, other) if head < other else (other, head)
            parent[gone] = keep
            for k, values in kinds.pop(gone).items():
                kinds[keep].setdefault(k, set()).update(values)
            head = keep
    node_ids = list(parent)
    labels = pa.table(
        {
            "node": pa.array(node_ids, pa.int64()),
            "label": pa.array([find(n) for n in node_ids], pa.int64()),
        }
    )
    refusals = pa.table(
        {
            "type": pa.array([k[0] for k in refused], pa.string()),
            "value": pa.array([k[1] for k in refused], pa.string()),
            "reason": pa.array(["limit"] * len(refused), pa.string()),
            "detail": pa.array(
                [
                    f"merging would give a customer more {k[2]} values than its limit "
                    f"({limit(k[2])}); left out of the merge"
                    for k in refused
                ],
                pa.string(),
            ),
            "records": pa.array(list(refused.values()), pa.int64()),
        }
    )
    return labels, refusals
