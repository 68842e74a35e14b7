"""Declarative mapping of raw records onto canonical tables.

A mapping is a list of :class:`CanonicalSpec`: for each record (optionally only
those matching ``when``), one row of ``table`` whose fields come from record
paths, templates, constants or the first non-empty of several paths. Used by
declarative manifests (``streams[].canonical``) and by the files connector
(``streams[].canonical`` in its config), so a CSV export or a Segment dump maps
onto the model without a line of Python::

    canonical:
      - table: touchpoints
        when: {type: [page, track]}
        fields:
          touchpoint_id: messageId
          occurred_at: timestamp
          event_type: {first_of: [event, type]}
          utm_source: context.campaign.source
        identifiers:
          anonymous_id: anonymousId
          user_id: userId

``identity_links`` rows are made from ``identifiers`` too: every identifier
present in the record is linked to the first one present (an ``identify`` call
with ``anonymousId``, ``userId`` and ``traits.email`` gives two links). Empty
strings read as missing values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cintel.http.paginate import select
from cintel.http.stream import render

__all__ = ["CanonicalSpec", "FieldSource", "FieldSpec", "map_records"]

Record = dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    """A canonical field from a record path, the first non-empty of several paths,
    a template, a constant or an object of fields."""

    path: str | None = Field(None, description="Dotted path in the record.")
    first_of: list[str] | None = Field(
        None, description="Dotted paths; the first one with a non-empty value wins."
    )
    template: str | None = Field(None, description='e.g. "{{ record.first }} {{ record.last }}".')
    value: Any = Field(None, description="A constant.")
    fields: dict[str, FieldSource] | None = Field(
        None, description="An object (e.g. traits) made of these fields; empty ones are left out."
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [
            name
            for name in ("path", "first_of", "template", "value", "fields")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give one of path, first_of, template, value, fields; got {given}")
        return self


FieldSource = str | FieldSpec
FieldSpec.model_rebuild()


class CanonicalSpec(_Strict):
    """Rows of one canonical table made from each record."""

    table: Literal[
        "source_profiles",
        "identity_links",
        "touchpoints",
        "conversions",
        "survey_responses",
        "interactions",
    ] = Field(description="Canonical table.")
    when: dict[str, Any] = Field(
        default_factory=dict,
        description="Only records whose dotted paths equal these values (lists mean any of).",
    )
    fields: dict[str, FieldSource] = Field(
        default_factory=dict, description="Canonical field -> record path or spec."
    )
    identifiers: dict[str, FieldSource] = Field(
        default_factory=dict,
        description="Identifier type -> record path or spec (identity_links: the linked pair(s)).",
    )

    @model_validator(mode="after")
    def _links_need_identifiers(self) -> CanonicalSpec:
        if self.table == "identity_links":
            if len(self.identifiers) < 2:
                raise ValueError("identity_links needs at least two identifiers to link")
            if {"left", "right"} & set(self.fields):
                raise ValueError(
                    "identity_links takes its pairs from identifiers, not fields left/right"
                )
        return self


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


Getter = Callable[[Mapping[str, Any]], Any]


def _path_getter(path: str) -> Getter:
    """A fast reader of a dotted path (plain keys; list indexes fall back to ``select``)."""
    parts = tuple(path.split("."))
    if any(p.lstrip("-").isdigit() for p in parts):
        return lambda record: select(record, path)
    if len(parts) == 1:
        key = parts[0]
        return lambda record: record.get(key)

    def get(record: Mapping[str, Any]) -> Any:
        current: Any = record
        for part in parts:
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current

    return get


def _compile(source: FieldSource) -> Getter:
    """A function giving the value of one field for a record (empty strings as ``None``)."""
    if isinstance(source, str):
        source = FieldSpec(path=source)
    if source.path is not None:
        get = _path_getter(source.path)
        return lambda record: None if _empty(value := get(record)) else value
    if source.first_of is not None:
        getters = [_path_getter(p) for p in source.first_of]

        def first(record: Mapping[str, Any]) -> Any:
            for g in getters:
                value = g(record)
                if not _empty(value):
                    return value
            return None

        return first
    if source.template is not None:
        template = source.template
        return lambda record: (
            None if _empty(value := render(template, {"record": record})) else value
        )
    if source.fields is not None:
        parts = [(k, _compile(v)) for k, v in source.fields.items()]

        def obj(record: Mapping[str, Any]) -> Any:
            out = {k: g(record) for k, g in parts}
            return {k: v for k, v in out.items() if v is not None}

        return obj
    constant = source.value
    return lambda _record: constant


def _matcher(when: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    tests = [
        (_path_getter(path), expected if isinstance(expected, list) else [expected])
        for path, expected in when.items()
    ]
    return lambda record: all(get(record) in allowed for get, allowed in tests)


def map_records(
    specs: Sequence[CanonicalSpec], records: Sequence[Mapping[str, Any]]
) -> dict[str, list[Record]]:
    """Canonical rows of a batch: ``{table: rows}``, each row with ``_cintel_record_index``."""
    out: dict[str, list[Record]] = {}
    for spec in specs:
        rows = out.setdefault(spec.table, [])
        fields = [(name, _compile(src)) for name, src in spec.fields.items()]
        idents = [(kind, _compile(src)) for kind, src in spec.identifiers.items()]
        matches = _matcher(spec.when) if spec.when else None
        links = spec.table == "identity_links"
        for index, record in enumerate(records):
            if matches is not None and not matches(record):
                continue
            row: Record = {name: get(record) for name, get in fields}
            found = [
                {"type": kind, "value": str(value)}
                for kind, get in idents
                if (value := get(record)) is not None
            ]
            if links:
                # a star from the first identifier present: n identifiers, n - 1 links
                for other in found[1:]:
                    rows.append(
                        {**row, "left": found[0], "right": other, "_cintel_record_index": index}
                    )
                continue
            if idents:
                row["identifiers"] = found
            row["_cintel_record_index"] = index
            rows.append(row)
    return out
