"""Look a unified customer up by any identifier: the API behind ``cintel profile``.

>>> profiles = pipeline.profile("Emma.Sato@example.net ")   # doctest: +SKIP
>>> profiles[0].customer_id, profiles[0].golden["first_name"]  # doctest: +SKIP

The identifier is normalized as loading normalized it (so any spelling finds the
person); ``type:value`` picks a type (``crm_id:50136``), a bare value is tried as
an email, a phone number, then any type; a ``cus_…`` id is followed through
recorded merges to the customer it lives on in.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

from cintel.identity.normalize import InvalidValue, Normalizer

__all__ = ["CustomerProfile", "find_customers", "load_profile"]

_TIMELINE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # table: (time column, kind label, columns shown)
    "touchpoints": (
        "occurred_at",
        "touchpoint",
        ("event_type", "channel", "utm_source", "utm_medium", "utm_campaign", "url"),
    ),
    "conversions": ("occurred_at", "conversion", ("type", "value", "currency")),
    "survey_responses": ("submitted_at", "survey", ("survey_id", "nps", "csat", "text")),
    "interactions": ("occurred_at", "interaction", ("channel", "reason", "text")),
}
_PHONEISH = re.compile(r"^[\s+()0-9.\-]{7,}$")


@dataclass(slots=True)
class CustomerProfile:
    """One unified customer: golden record, identifiers, source profiles and a timeline."""

    customer_id: str
    golden: dict[str, Any]
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    resolved_from: str | None = None
    matched: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "customer_id": self.customer_id,
            "resolved_from": self.resolved_from,
            "matched": self.matched,
            "golden": self.golden,
            "identifiers": self.identifiers,
            "profiles": self.profiles,
            "timeline": self.timeline,
        }


def _candidates(text: str, normalizer: Normalizer) -> list[tuple[str | None, str]]:
    """``(type or None, value)`` pairs to look up, strongest guess first."""
    text = text.strip()
    kind, sep, rest = text.partition(":")
    if sep and re.fullmatch(r"[a-z][a-z0-9_]*", kind) and kind != "mailto":
        try:
            return [(kind, normalizer.identifier(kind, rest))]
        except InvalidValue:
            return [(kind, rest.strip())]
    out: list[tuple[str | None, str]] = []
    if "@" in text:
        with contextlib.suppress(InvalidValue):
            out.append(("email", normalizer.identifier("email", text)))
    if _PHONEISH.match(text):
        with contextlib.suppress(InvalidValue):
            out.append(("phone", normalizer.identifier("phone", text)))
    out.append((None, text))
    return out


def _resolve(con: Any, customer_id: str, tables: set[str]) -> str:
    """Follow recorded merges from a (possibly retired) id to the live one."""
    if "customer_merges" not in tables:
        return customer_id
    merges = con.table("customer_merges")
    merges = merges.filter(merges.kind == "merge")
    seen = {customer_id}
    current = customer_id
    while True:
        hit = merges.filter(merges.retired_id == current).select("survivor_id").to_pyarrow()
        if hit.num_rows == 0:
            return current
        current = str(hit.column(0)[0].as_py())
        if current in seen:  # a cycle would be a bug; stop rather than spin
            return current
        seen.add(current)


def find_customers(con: Any, text: str, normalizer: Normalizer) -> list[tuple[str, str, str]]:
    """Customers an identifier (or customer id) points at: ``[(customer_id, matched, from)]``."""
    tables = set(con.list_tables())
    if "customers" not in tables:
        return []
    stripped = text.strip()
    if stripped.startswith("cus_"):
        live = _resolve(con, stripped, tables)
        customers = con.table("customers")
        found = customers.filter(customers.customer_id == live).count().to_pyarrow().as_py()
        return [(live, "customer_id", stripped)] if found else []
    idents = con.table("customer_identifiers")
    for kind, value in _candidates(stripped, normalizer):
        cond = idents.value == value
        if kind is not None:
            cond = cond & (idents.type == kind)
        rows = idents.filter(cond).select("customer_id", "type", "value").to_pyarrow().to_pylist()
        if rows:
            return sorted({(r["customer_id"], f"{r['type']}:{r['value']}", stripped) for r in rows})
    return []


def _records(con: Any, customer_id: str, table: str, tables: set[str]) -> ir.Table | None:
    if table not in tables or "customer_records" not in tables:
        return None
    recs = con.table("customer_records")
    recs = recs.filter((recs.customer_id == customer_id) & (recs.table == table))
    t = con.table(table)
    return t.join(
        recs,
        [
            t._cintel_source == recs.source,
            t._cintel_stream == recs.stream,
            t._cintel_record_key == recs.record_key,
        ],
    )


def load_profile(
    con: Any, customer_id: str, *, limit: int = 50, matched: str | None = None
) -> CustomerProfile:
    """The whole profile of one (live) customer id; timeline newest first, ``limit`` events."""
    tables = set(con.list_tables())
    customers = con.table("customers")
    golden_rows = customers.filter(customers.customer_id == customer_id).to_pyarrow().to_pylist()
    golden = golden_rows[0] if golden_rows else {"customer_id": customer_id}
    idents = con.table("customer_identifiers")
    identifiers = (
        idents.filter(idents.customer_id == customer_id)
        .order_by(["priority", "type", "value"])
        .select("type", "value", "shared", "records", "first_seen", "last_seen")
        .to_pyarrow()
        .to_pylist()
    )
    profiles: list[dict[str, Any]] = []
    joined = _records(con, customer_id, "source_profiles", tables)
    if joined is not None:
        profiles = (
            joined.select(
                source=joined._cintel_source,
                stream=joined._cintel_stream,
                profile_id=joined.profile_id,
                email=joined.email,
                phone=joined.phone,
                first_name=joined.first_name,
                last_name=joined.last_name,
                company=joined.company,
                updated_at=ibis.coalesce(joined.updated_at, joined.created_at),
            )
            .order_by(["source", "profile_id"])
            .to_pyarrow()
            .to_pylist()
        )
    events: list[ir.Table] = []
    for table, (when, label, columns) in _TIMELINE.items():
        joined = _records(con, customer_id, table, tables)
        if joined is None:
            continue
        detail = ibis.literal("")
        for col in columns:
            value = joined[col].cast("string")
            detail = detail.concat(
                ibis.ifelse(value.isnull(), "", ibis.literal(f"{col}=").concat(value, " "))
            )
        events.append(
            joined.select(
                at=joined[when],
                kind=ibis.literal(label),
                source=joined._cintel_source,
                detail=detail.strip(),
            )
        )
    timeline: list[dict[str, Any]] = []
    if events:
        union = ibis.union(*events, distinct=False)
        timeline = union.order_by(union.at.desc()).limit(limit).to_pyarrow().to_pylist()
    return CustomerProfile(
        customer_id=customer_id,
        golden=golden,
        identifiers=identifiers,
        profiles=profiles,
        timeline=timeline,
        matched=matched,
    )
