"""HubSpot records onto the canonical model, batch-wise.

- **contacts** -> ``source_profiles``: ``profile_id`` = the contact id; identifiers
  ``hubspot_id`` (the id, and the ids of contacts merged into it), ``email`` (the
  primary and ``hs_additional_emails``) and ``phone`` (``phone``, ``mobilephone``);
  names, company, job title, address, consent (``hs_email_optout``), created and
  updated dates; every other property read goes to ``traits`` (``lifecyclestage`` as
  ``lifecycle_stage``), with the associated company ids as ``hubspot_company_ids``.
- **deals** -> ``conversions`` of type ``deal_won`` for won deals (``hs_is_closed_won``
  or a stage in ``won_stages``): value ``amount``, currency ``deal_currency_code`` or
  ``default_currency``, at ``closedate``, identified by the ``hubspot_id`` of the
  deal's first associated contact (lowest id). With ``link_contacts``, also
  ``identity_links`` from that contact to each other contact of the deal.
- **companies** and **owners** are not people: raw tables only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cintel_hubspot.config import DealsConfig

__all__ = ["ID_TYPE", "contacts_to_canonical", "deals_to_canonical"]

Record = dict[str, Any]

#: The identifier type of a HubSpot contact id.
ID_TYPE = "hubspot_id"

# properties with a field of their own (not repeated in traits)
_CONTACT_FIELDS = frozenset(
    {
        "email",
        "hs_additional_emails",
        "firstname",
        "lastname",
        "phone",
        "mobilephone",
        "company",
        "jobtitle",
        "address",
        "city",
        "zip",
        "country",
        "hs_email_optout",
        "hs_merged_object_ids",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    }
)
_TRAIT_NAMES = {
    "lifecyclestage": "lifecycle_stage",
    "hs_lead_status": "lead_status",
    "hubspot_owner_id": "owner_id",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _split(value: Any) -> list[str]:
    """HubSpot's multi-value text (``a;b``), empty parts dropped."""
    text = _text(value)
    return [part.strip() for part in text.split(";") if part.strip()] if text else []


def _identifiers(pairs: Iterable[tuple[str, str | None]]) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    for kind, value in pairs:
        if value is None or (kind, value) in seen:
            continue
        seen.add((kind, value))
        out.append({"type": kind, "value": value})
    return out


def _properties(record: Mapping[str, Any]) -> Mapping[str, Any]:
    props = record.get("properties")
    return props if isinstance(props, Mapping) else {}


def _associated(record: Mapping[str, Any], kind: str) -> list[str]:
    links = record.get("associations")
    ids = links.get(kind) if isinstance(links, Mapping) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def contacts_to_canonical(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Contacts as ``source_profiles`` rows."""
    rows: list[Record] = []
    for index, record in enumerate(records):
        contact_id = _text(record.get("id"))
        if contact_id is None:
            continue
        p = _properties(record)
        emails = [e for e in [_text(p.get("email")), *_split(p.get("hs_additional_emails"))] if e]
        phones = [n for n in (_text(p.get("phone")), _text(p.get("mobilephone"))) if n]
        merged = [m for m in _split(p.get("hs_merged_object_ids")) if m != contact_id]
        identifiers = _identifiers(
            [
                (ID_TYPE, contact_id),
                *((ID_TYPE, m) for m in merged),
                *(("email", e) for e in emails),
                *(("phone", n) for n in phones),
            ]
        )
        traits: dict[str, Any] = {
            _TRAIT_NAMES.get(name, name): value
            for name, value in sorted(p.items())
            if name not in _CONTACT_FIELDS and _text(value) is not None
        }
        companies = _associated(record, "companies")
        if companies:
            traits["hubspot_company_ids"] = companies
        optout = _text(p.get("hs_email_optout"))
        rows.append(
            {
                "profile_id": contact_id,
                "identifiers": identifiers,
                "email": emails[0] if emails else None,
                "phone": phones[0] if phones else None,
                "first_name": _text(p.get("firstname")),
                "last_name": _text(p.get("lastname")),
                "company": _text(p.get("company")),
                "title": _text(p.get("jobtitle")),
                "street": _text(p.get("address")),
                "postal_code": _text(p.get("zip")),
                "city": _text(p.get("city")),
                "country": _text(p.get("country")),
                "consent": "unsubscribed" if optout and optout.lower() == "true" else None,
                "created_at": _text(p.get("createdate")) or _text(record.get("createdAt")),
                "updated_at": _text(p.get("lastmodifieddate")) or _text(record.get("updatedAt")),
                "traits": traits or None,
                "_cintel_record_index": index,
            }
        )
    return {"source_profiles": rows}


def _amount(value: Any) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def is_won(properties: Mapping[str, Any], won_stages: Iterable[str]) -> bool:
    """``hs_is_closed_won`` is true, or the stage is one of ``won_stages``."""
    flag = _text(properties.get("hs_is_closed_won"))
    if flag is not None and flag.lower() == "true":
        return True
    stage = _text(properties.get("dealstage"))
    return stage is not None and stage in set(won_stages)


def deals_to_canonical(records: Sequence[Record], config: DealsConfig) -> dict[str, list[Record]]:
    """Won deals as ``conversions`` (and, with ``link_contacts``, ``identity_links``)."""
    conversions: list[Record] = []
    links: list[Record] = []
    for index, record in enumerate(records):
        deal_id = _text(record.get("id"))
        if deal_id is None:
            continue
        p = _properties(record)
        contacts = _associated(record, "contacts")  # sorted by id when read
        if config.link_contacts and len(contacts) > 1:
            seen_at = _text(p.get("closedate")) or _text(record.get("updatedAt"))
            links.extend(
                {
                    "left": {"type": ID_TYPE, "value": contacts[0]},
                    "right": {"type": ID_TYPE, "value": other},
                    "kind": "hubspot_deal",
                    "seen_at": seen_at,
                    "_cintel_record_index": index,
                }
                for other in contacts[1:]
            )
        if not is_won(p, config.won_stages):
            continue
        currency = _text(p.get("deal_currency_code")) or config.default_currency
        conversions.append(
            {
                "conversion_id": deal_id,
                "occurred_at": _text(p.get("closedate"))
                or _text(p.get("hs_lastmodifieddate"))
                or _text(record.get("updatedAt")),
                "type": "deal_won",
                "identifiers": [{"type": ID_TYPE, "value": contacts[0]}] if contacts else [],
                "value": _amount(p.get("amount")),
                "currency": currency.upper() if currency else None,
                "_cintel_record_index": index,
            }
        )
    out: dict[str, list[Record]] = {"conversions": conversions}
    if config.link_contacts:
        out["identity_links"] = links
    return out
