"""Typeform responses onto the canonical model: survey responses and survey touchpoints.

A pure function of the raw record and the config, so a re-mapping (a dead-letter
replay, a changed config) gives the same rows. Per response:

- one ``survey_responses`` row: ``survey_id`` = form id, ``submitted_at``,
  answers by field ``ref`` (else id) with their typed value (text, number,
  boolean, date, the label of a choice, the labels of choices…), free text (the
  text answers, one per line), NPS / CSAT / CES scores;
- identifiers from hidden fields (``hidden_identifiers``: ``email``, ``user_id`` by
  default) and optionally the first email answer;
- one ``touchpoints`` row (event type ``survey``): ``utm_*`` and click id from
  hidden fields, else from the query string of ``metadata.referer``; ``url`` is
  ``metadata.referer``, the page the form was opened on.

Scores: configured refs win (``nps_fields``, ``csat_fields``, ``ces_fields``);
otherwise, with ``detect_scores``, the scale of each question (``form_scales``,
added to the record from the form definition when it was read): an ``nps``
field or a 0-10 opinion scale is NPS, a rating or a 1-5 opinion scale is CSAT.
Without a definition, a rating is CSAT and an opinion scale whose ref or id
says ``nps`` is NPS. The first matching question of each kind counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cintel_typeform.config import TypeformConfig

__all__ = ["answer_value", "map_responses", "score_kind"]

Record = dict[str, Any]

_UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
_CLICK_IDS = ("gclid", "fbclid", "msclkid", "dclid", "ttclid", "li_fat_id")


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def answer_value(answer: Mapping[str, Any]) -> Any:
    """The typed value of one answer: the value under its ``type`` key, labels for choices."""
    kind = answer.get("type")
    if not isinstance(kind, str):
        return None
    value = answer.get(kind)
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other") or value.get("ref")
    if kind == "choices" and isinstance(value, dict):
        labels = [x for x in value.get("labels") or [] if x not in (None, "")]
        if value.get("other"):
            labels.append(value["other"])
        return labels
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _field(answer: Mapping[str, Any]) -> dict[str, Any]:
    field = answer.get("field")
    return field if isinstance(field, dict) else {}


def score_kind(
    field: Mapping[str, Any], scales: Mapping[str, Any], config: TypeformConfig
) -> str | None:
    """``nps``, ``csat``, ``ces`` or ``None`` for the question ``field`` of an answer."""
    names = {str(field[k]) for k in ("ref", "id") if field.get(k)}
    for kind, configured in (
        ("nps", config.nps_fields),
        ("csat", config.csat_fields),
        ("ces", config.ces_fields),
    ):
        if names & set(configured):
            return kind
    if not config.detect_scores:
        return None
    ftype = field.get("type")
    scale = scales.get(str(field.get("id"))) if field.get("id") else None
    if isinstance(scale, dict):
        ftype = scale.get("type") or ftype
        bounds = (scale.get("min"), scale.get("max"))
    else:
        bounds = None
    auto_nps = not config.nps_fields
    auto_csat = not config.csat_fields
    if ftype == "nps":
        return "nps" if auto_nps else None
    if ftype == "rating":
        return "csat" if auto_csat else None
    if ftype == "opinion_scale":
        if bounds == (0, 10):
            return "nps" if auto_nps else None
        if bounds == (1, 5):
            return "csat" if auto_csat else None
        if bounds is None and auto_nps and any("nps" in n.lower() for n in names):
            return "nps"
    return None


def _score(kind: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind == "nps":
        return int(value) if float(value).is_integer() and 0 <= value <= 10 else None
    return float(value)


def _query(url: Any) -> dict[str, str]:
    if not isinstance(url, str) or "?" not in url:
        return {}
    try:
        pairs = parse_qs(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return {}
    return {k: v[0] for k, v in pairs.items() if v and v[0].strip()}


def map_responses(
    records: Sequence[Record], config: TypeformConfig
) -> dict[str, list[dict[str, Any]]]:
    """``{"survey_responses": [...], "touchpoints": [...]}`` for a batch of responses."""
    responses: list[dict[str, Any]] = []
    touchpoints: list[dict[str, Any]] = []
    for index, rec in enumerate(records):
        rid = _text(rec.get("response_id") or rec.get("token"))
        form_id = _text(rec.get("form_id"))
        submitted = rec.get("submitted_at")
        if rid is None or form_id is None or not submitted:
            continue  # a partial response without submitted_at: raw only
        hidden = _obj(rec.get("hidden"))
        metadata = _obj(rec.get("metadata"))
        scales = _obj(rec.get("form_scales"))
        answers: dict[str, Any] = {}
        texts: list[str] = []
        scores: dict[str, Any] = {}
        email_answer: str | None = None
        for answer in rec.get("answers") or []:
            if not isinstance(answer, dict):
                continue
            field = _field(answer)
            key = _text(field.get("ref")) or _text(field.get("id"))
            value = answer_value(answer)
            if key is not None:
                answers[key] = value
            if answer.get("type") == "text" and (t := _text(value)):
                texts.append(t)
            if answer.get("type") == "email" and email_answer is None:
                email_answer = _text(value)
            kind = score_kind(field, scales, config)
            if kind is not None and kind not in scores:
                score = _score(kind, value)
                if score is not None:
                    scores[kind] = score
        identifiers: list[dict[str, str]] = []
        for id_type, hidden_name in config.hidden_identifiers.items():
            value = _text(hidden.get(hidden_name))
            if value is not None:
                identifiers.append({"type": id_type, "value": value})
        if (
            config.email_answers_as_identifier
            and email_answer
            and not any(i["type"] == "email" for i in identifiers)
        ):
            identifiers.append({"type": "email", "value": email_answer})
        responses.append(
            {
                "response_id": rid,
                "survey_id": form_id,
                "submitted_at": submitted,
                "identifiers": identifiers,
                "nps": scores.get("nps"),
                "csat": scores.get("csat"),
                "ces": scores.get("ces"),
                "answers": answers,
                "text": "\n".join(texts) or None,
                "_cintel_record_index": index,
            }
        )
        if not config.touchpoints:
            continue
        referer = _text(metadata.get("referer"))
        query = _query(referer)
        campaign = {k: _text(hidden.get(k)) or query.get(k) for k in _UTM}
        click_id = next(
            (v for k in _CLICK_IDS if (v := _text(hidden.get(k)) or query.get(k))), None
        )
        touchpoints.append(
            {
                "touchpoint_id": rid,
                "occurred_at": rec.get("landed_at") or submitted,
                "event_type": "survey",
                "identifiers": identifiers,
                **campaign,
                "url": referer,
                "click_id": click_id,
                "_cintel_record_index": index,
            }
        )
    out: dict[str, list[dict[str, Any]]] = {"survey_responses": responses}
    if config.touchpoints:
        out["touchpoints"] = touchpoints
    return out
