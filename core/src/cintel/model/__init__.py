"""The canonical customer model: what every connector maps its records onto.

=================  ==================  =============================================
entity             table               holds
=================  ==================  =============================================
SourceProfile      source_profiles     one person record of one source
Identifier         (inside rows)       ``(type, value)``: email, phone, user_id…
IdentityLink       identity_links      two identifiers seen together
Touchpoint         touchpoints         a marketing or interaction event
Conversion         conversions         a purchase, won deal, signup…
SurveyResponse     survey_responses    a survey answer with NPS/CSAT/CES scores
Interaction        interactions        a support or contact-centre contact
Customer           customers           the unified golden record (written by unify)
=================  ==================  =============================================

A stream's ``to_canonical(records)`` returns ``{table: rows}``; each row is a
dict that validates against the entity's model, plus ``_cintel_record_index``
(the position of the raw record it came from, so re-loading a record replaces
its canonical rows). :func:`validate_rows` checks a batch of rows at once.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, ClassVar

import orjson
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ENTITIES",
    "CanonicalEntity",
    "Conversion",
    "Customer",
    "Identifier",
    "IdentityLink",
    "Interaction",
    "SourceProfile",
    "SurveyResponse",
    "Touchpoint",
    "arrow_schema",
    "entity_for",
    "to_arrow",
    "validate_rows",
]


class Identifier(BaseModel):
    """A way to recognise a person: ``email``, ``phone`` (E.164), ``user_id``,
    ``anonymous_id``, ``device_id`` or ``<source>_id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, description="Identifier type, e.g. email, phone, user_id.")
    value: str = Field(min_length=1, description="The identifier value.")


class CanonicalEntity(BaseModel):
    """Base of every canonical entity: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")
    table: ClassVar[str]


class SourceProfile(CanonicalEntity):
    """One person record of one source (CRM contact, list member, respondent)."""

    table: ClassVar[str] = "source_profiles"

    profile_id: str = Field(min_length=1, description="The record's id in its source.")
    identifiers: list[Identifier] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    company: str | None = None
    title: str | None = None
    birth_date: date | None = None
    street: str | None = Field(None, description="Street address line.")
    postal_code: str | None = None
    city: str | None = None
    country: str | None = Field(None, description="ISO 3166-1 alpha-2 after normalization.")
    consent: str | None = Field(None, description="subscribed, unsubscribed, pending…")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    traits: dict[str, Any] = Field(default_factory=dict)


class IdentityLink(CanonicalEntity):
    """Two identifiers seen together (one profile, an identify or alias call)."""

    table: ClassVar[str] = "identity_links"

    left: Identifier
    right: Identifier
    kind: str = Field("profile", description="profile, identify, alias, click…")
    seen_at: datetime | None = None


class _Event(CanonicalEntity):
    identifiers: list[Identifier] = Field(default_factory=list)


class Touchpoint(_Event):
    """A marketing or interaction event with its campaign parameters."""

    table: ClassVar[str] = "touchpoints"

    touchpoint_id: str = Field(min_length=1)
    occurred_at: datetime
    event_type: str = Field(min_length=1, description="page, click, open, email_sent, survey…")
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    referrer: str | None = None
    url: str | None = None
    click_id: str | None = None
    channel: str | None = None
    cost: float | None = None


class Conversion(_Event):
    """A purchase, a won deal, a signup: something worth attributing."""

    table: ClassVar[str] = "conversions"

    conversion_id: str = Field(min_length=1)
    occurred_at: datetime
    type: str = Field(min_length=1)
    value: float | None = None
    currency: str | None = None


class SurveyResponse(_Event):
    """One survey response with its scores and answers."""

    table: ClassVar[str] = "survey_responses"

    response_id: str = Field(min_length=1)
    survey_id: str = Field(min_length=1)
    submitted_at: datetime
    nps: int | None = Field(None, ge=0, le=10)
    csat: float | None = None
    ces: float | None = None
    answers: dict[str, Any] = Field(default_factory=dict)
    text: str | None = None


class Interaction(_Event):
    """A support or contact-centre contact."""

    table: ClassVar[str] = "interactions"

    interaction_id: str = Field(min_length=1)
    occurred_at: datetime
    channel: str | None = None
    reason: str | None = None
    text: str | None = None
    sentiment: float | None = None


class Customer(CanonicalEntity):
    """The unified golden record of one person (written by the unify step)."""

    table: ClassVar[str] = "customers"

    customer_id: str = Field(min_length=1)
    identifiers: list[Identifier] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    city: str | None = None
    country: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    channels: list[str] = Field(default_factory=list, description="Sources the customer is in.")
    profile_count: int | None = Field(None, description="Source profiles unified.")
    record_count: int | None = Field(None, description="Canonical records of the customer.")
    lifetime_value: float | None = Field(None, description="Sum of conversion values.")
    currency: str | None = Field(None, description="Most common conversion currency.")
    latest_nps: int | None = None
    unified_at: datetime | None = Field(None, description="When unify last wrote the record.")


ENTITIES: dict[str, type[CanonicalEntity]] = {
    cls.table: cls
    for cls in (
        SourceProfile,
        IdentityLink,
        Touchpoint,
        Conversion,
        SurveyResponse,
        Interaction,
        Customer,
    )
}


def entity_for(name: str) -> type[CanonicalEntity]:
    """The entity class for a table name (``touchpoints``) or entity name (``Touchpoint``)."""
    if name in ENTITIES:
        return ENTITIES[name]
    for cls in ENTITIES.values():
        if cls.__name__ == name or cls.__name__.lower() == name.replace("_", "").lower():
            return cls
    raise KeyError(f"unknown canonical entity {name!r} (known: {', '.join(sorted(ENTITIES))})")


def validate_rows(
    table: str, rows: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Validate rows of one table: ``(valid rows as dicts, [(row index, reason)])``.

    ``_cintel_*`` bookkeeping keys pass through untouched.
    """
    cls = entity_for(table)
    valid: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        extra = {k: v for k, v in row.items() if k.startswith("_cintel_")}
        data = {k: v for k, v in row.items() if not k.startswith("_cintel_")}
        try:
            model = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            problems.append((i, f"{cls.__name__}.{where}: {first['msg']}"))
            continue
        valid.append({**model.model_dump(), **extra})
    return valid, problems


#: Bookkeeping columns of every canonical table: which source record a row came from.
BOOKKEEPING: dict[str, pa.DataType] = {
    "_cintel_source": pa.string(),
    "_cintel_stream": pa.string(),
    "_cintel_record_key": pa.string(),
}

_IDENTIFIER = pa.struct([("type", pa.string()), ("value", pa.string())])


def _arrow_type(annotation: Any) -> pa.DataType:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner[0])
    if annotation is str:
        return pa.string()
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    if annotation is bool:
        return pa.bool_()
    if annotation is datetime:
        return pa.timestamp("us", tz="UTC")
    if annotation is date:
        return pa.date32()
    if annotation is Identifier:
        return _IDENTIFIER
    if origin is list:
        return pa.list_(_arrow_type(typing.get_args(annotation)[0]))
    if origin is dict or annotation is dict:
        return pa.string()  # JSON text: traits and answers are free-form
    raise TypeError(f"no Arrow type for {annotation!r}")


@cache
def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of a canonical table, derived from its model, plus bookkeeping.

    Free-form dicts (``traits``, ``answers``) are JSON text; identifiers are
    ``list<struct<type, value>>``; datetimes are UTC microseconds.
    """
    cls = entity_for(table)
    fields = [pa.field(name, _arrow_type(f.annotation)) for name, f in cls.model_fields.items()]
    fields += [pa.field(name, kind) for name, kind in BOOKKEEPING.items()]
    return pa.schema(fields)


def _naive_utc(value: Any) -> Any:
    # naive UTC: pyarrow reads it as UTC, and converting aware values would import pandas
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _json_text(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return value


def _column(name: str, kind: pa.DataType, rows: Sequence[Mapping[str, Any]]) -> pa.Array:
    values = [r.get(name) for r in rows]
    if pa.types.is_timestamp(kind):
        values = [_naive_utc(v) for v in values]
    elif pa.types.is_string(kind) and any(isinstance(v, dict | list) for v in values):
        values = [_json_text(v) for v in values]
    return pa.array(values, kind)


def to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Validated rows (dicts of model fields and bookkeeping) as an Arrow table of the schema."""
    schema = arrow_schema(table)
    columns = {f.name: _column(f.name, f.type, rows) for f in schema}
    return pa.table(columns, schema=schema)
