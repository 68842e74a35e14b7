"""Mailchimp records onto the canonical model.

- a member is a ``source_profiles`` row: ``profile_id`` ``<list_id>:<member id>``,
  email, names, phone, company and address from merge fields (``merge_fields``),
  ``consent`` = the member's ``status``, created (signup, else opt-in time) and
  updated (``last_changed``) times, and traits (tags, the other merge fields,
  rating, language, VIP, location, stats, interests); identifiers ``email`` and
  ``mailchimp_id`` (the member id: the MD5 of the lower-cased email, the same in
  every audience and in email activity);
- an open, click or bounce is a ``touchpoints`` row: event type
  ``email_open`` / ``email_click`` / ``email_bounce``, channel ``Email``,
  ``utm_source`` / ``utm_medium`` from the config, ``utm_campaign`` the campaign's
  name, ``url`` the clicked link; identifiers ``email`` and ``mailchimp_id``.

Pure functions of the records and the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cintel_mailchimp.config import MailchimpConfig

__all__ = ["map_activity", "map_members"]

Record = dict[str, Any]


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _address(value: Any) -> dict[str, str | None]:
    if isinstance(value, dict):
        street = " ".join(p for p in (_text(value.get("addr1")), _text(value.get("addr2"))) if p)
        return {
            "street": street or None,
            "postal_code": _text(value.get("zip")),
            "city": _text(value.get("city")),
            "country": _text(value.get("country")),
        }
    # an address kept in a text merge field: the whole text is the street
    return {"street": _text(value), "postal_code": None, "city": None, "country": None}


def _identifiers(email: str | None, member_id: str | None) -> list[dict[str, str]]:
    out = []
    if email:
        out.append({"type": "email", "value": email})
    if member_id:
        out.append({"type": "mailchimp_id", "value": member_id})
    return out


def map_members(records: Sequence[Record], config: MailchimpConfig) -> dict[str, list[Record]]:
    """``{"source_profiles": [...]}`` for a batch of members."""
    rows: list[Record] = []
    used = set(config.merge_fields.values())
    for index, rec in enumerate(records):
        member_id = _text(rec.get("id"))
        list_id = _text(rec.get("list_id"))
        if member_id is None or list_id is None:
            continue
        merge = _obj(rec.get("merge_fields"))
        row: Record = {
            "profile_id": f"{list_id}:{member_id}",
            "email": _text(rec.get("email_address")),
            "consent": _text(rec.get("status")),
            "created_at": _text(rec.get("timestamp_signup")) or _text(rec.get("timestamp_opt")),
            "updated_at": _text(rec.get("last_changed")),
        }
        for target, tag in config.merge_fields.items():
            value = merge.get(tag)
            if target == "address":
                if value not in (None, ""):
                    row.update({k: v for k, v in _address(value).items() if v})
            else:
                row[target] = _text(value)
        location = _obj(rec.get("location"))
        if not row.get("country") and _text(location.get("country_code")):
            row["country"] = _text(location.get("country_code"))
        tags = [
            t["name"]
            for t in rec.get("tags") or []
            if isinstance(t, dict) and isinstance(t.get("name"), str)
        ]
        other = {k: v for k, v in merge.items() if k not in used and v not in (None, "")}
        interests = _obj(rec.get("interests"))
        traits = {
            "list_id": list_id,
            "tags": tags,
            "merge_fields": other,
            "member_rating": rec.get("member_rating"),
            "vip": rec.get("vip"),
            "language": _text(rec.get("language")),
            "email_type": _text(rec.get("email_type")),
            "source": _text(rec.get("source")),
            "unique_email_id": _text(rec.get("unique_email_id")),
            "contact_id": _text(rec.get("contact_id")),
            "stats": rec.get("stats") if isinstance(rec.get("stats"), dict) else None,
            "timezone": _text(location.get("timezone")),
            "interests": sorted(k for k, v in interests.items() if v is True),
        }
        row["traits"] = {k: v for k, v in traits.items() if v not in (None, "", [], {})}
        row["identifiers"] = _identifiers(row["email"], member_id)
        row["_cintel_record_index"] = index
        rows.append(row)
    return {"source_profiles": rows}


def map_activity(records: Sequence[Record], config: MailchimpConfig) -> dict[str, list[Record]]:
    """``{"touchpoints": [...]}`` for a batch of flattened email-activity records."""
    rows: list[Record] = []
    for index, rec in enumerate(records):
        action = _text(rec.get("action"))
        when = _text(rec.get("timestamp"))
        tid = _text(rec.get("activity_id"))
        if action is None or when is None or tid is None:
            continue
        email = _text(rec.get("email_address"))
        rows.append(
            {
                "touchpoint_id": tid,
                "occurred_at": when,
                "event_type": f"email_{action.lower()}",
                "identifiers": _identifiers(email, _text(rec.get("email_id"))),
                "utm_source": config.utm_source,
                "utm_medium": config.utm_medium,
                "utm_campaign": _text(rec.get("campaign_name")) or _text(rec.get("campaign_id")),
                "url": _text(rec.get("url")) if action == "click" else None,
                "channel": "Email",
                "_cintel_record_index": index,
            }
        )
    return {"touchpoints": rows}
