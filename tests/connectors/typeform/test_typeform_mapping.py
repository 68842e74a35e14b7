"""Typeform responses onto survey_responses and survey touchpoints (apis.md section 8 sample)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cintel.model import validate_rows
from cintel_typeform import TypeformConfig, form_scales, map_responses

# the documented sample response, with the form id the stream adds
SAMPLE: dict[str, Any] = {
    "form_id": "u6nXL7",
    "landing_id": "21085286190ffad1248d17c4135ee56f",
    "token": "21085286190ffad1248d17c4135ee56f",
    "response_id": "21085286190ffad1248d17c4135ee56f",
    "response_type": "completed",
    "landed_at": "2024-05-01T12:00:00Z",
    "submitted_at": "2024-05-01T12:03:10Z",
    "metadata": {
        "user_agent": "Mozilla/5.0",
        "platform": "other",
        "referer": "https://acme.typeform.com/to/u6nXL7?utm_source=newsletter",
        "network_id": "e9c0b1a2f3",
        "browser": "default",
    },
    "hidden": {"utm_source": "newsletter", "user_id": "u_42"},
    "calculated": {"score": 0},
    "answers": [
        {
            "field": {"id": "hVONkQcnSNRj", "type": "opinion_scale", "ref": "nps"},
            "type": "number",
            "number": 9,
        },
        {
            "field": {"id": "RUqkXSeXBXSd", "type": "multiple_choice", "ref": "reason"},
            "type": "choice",
            "choice": {"label": "Price"},
        },
        {
            "field": {"id": "JwWggjAKtOkA", "type": "short_text", "ref": "comment"},
            "type": "text",
            "text": "Great service",
        },
    ],
}


def config(**values: Any) -> TypeformConfig:
    return TypeformConfig.model_validate({"token": "x" * 10, **values})


def mapped(record: dict[str, Any], **cfg: Any) -> dict[str, list[dict[str, Any]]]:
    out = map_responses([record], config(**cfg))
    for table, rows in out.items():
        _, problems = validate_rows(table, rows)
        assert not problems, problems
    return out


def answer(fid: str, ftype: str, value: Any, ref: str | None = None) -> dict[str, Any]:
    kind = "number" if isinstance(value, int | float) and not isinstance(value, bool) else None
    kind = kind or {bool: "boolean"}.get(type(value)) or "text"
    return {"field": {"id": fid, "type": ftype, "ref": ref or fid}, "type": kind, kind: value}


def with_answers(*answers: dict[str, Any], scales: dict[str, Any] | None = None) -> dict[str, Any]:
    rec = copy.deepcopy(SAMPLE)
    rec["answers"] = list(answers)
    if scales is not None:
        rec["form_scales"] = scales
    return rec


def scale(kind: str, low: int, high: int) -> dict[str, Any]:
    return {"type": kind, "ref": None, "min": low, "max": high}


# --------------------------------------------------------------------------- survey response
def test_the_documented_sample_maps_to_a_survey_response() -> None:
    row = mapped(SAMPLE)["survey_responses"][0]
    assert row == {
        "response_id": "21085286190ffad1248d17c4135ee56f",
        "survey_id": "u6nXL7",
        "submitted_at": "2024-05-01T12:03:10Z",
        "identifiers": [{"type": "user_id", "value": "u_42"}],
        "nps": 9,  # no form definition: an opinion scale whose ref says nps
        "csat": None,
        "ces": None,
        "answers": {"nps": 9, "reason": "Price", "comment": "Great service"},
        "text": "Great service",
        "_cintel_record_index": 0,
    }


def test_answers_keep_their_typed_values_by_ref_else_id() -> None:
    rec = with_answers(
        {
            "field": {"id": "a", "type": "yes_no", "ref": "agree"},
            "type": "boolean",
            "boolean": True,
        },
        {"field": {"id": "b", "type": "date"}, "type": "date", "date": "2024-05-01"},
        {"field": {"id": "c", "type": "email", "ref": "c"}, "type": "email", "email": "x@y.z"},
        {"field": {"id": "d", "type": "number", "ref": "d"}, "type": "number", "number": 2.5},
        {
            "field": {"id": "e", "type": "multiple_choice", "ref": "channels"},
            "type": "choices",
            "choices": {"labels": ["Email", "Phone"], "other": "Carrier pigeon"},
        },
        {
            "field": {"id": "f", "type": "multiple_choice", "ref": "other_only"},
            "type": "choice",
            "choice": {"other": "Something else"},
        },
        {
            "field": {"id": "g", "type": "website", "ref": "site"},
            "type": "url",
            "url": "https://a.b",
        },
        {
            "field": {"id": "h", "type": "long_text", "ref": "more"},
            "type": "text",
            "text": "  Line 2 ",
        },
        {
            "field": {"id": "i", "type": "phone_number", "ref": "tel"},
            "type": "phone_number",
            "phone_number": "+4915112345678",
        },
        {
            "field": {"id": "j", "type": "file_upload", "ref": "cv"},
            "type": "file_url",
            "file_url": "https://f/1",
        },
        {
            "field": {"id": "k", "type": "payment", "ref": "pay"},
            "type": "payment",
            "payment": {"amount": "9.99", "success": True},
        },
    )
    row = mapped(rec)["survey_responses"][0]
    assert row["answers"] == {
        "agree": True,
        "b": "2024-05-01",
        "c": "x@y.z",
        "d": 2.5,
        "channels": ["Email", "Phone", "Carrier pigeon"],
        "other_only": "Something else",
        "site": "https://a.b",
        "more": "  Line 2 ",
        "tel": "+4915112345678",
        "cv": "https://f/1",
        "pay": {"amount": "9.99", "success": True},
    }
    assert row["text"] == "Line 2"


def test_free_text_answers_are_joined_one_per_line() -> None:
    rec = with_answers(answer("t1", "short_text", "First"), answer("t2", "long_text", "Second"))
    assert mapped(rec)["survey_responses"][0]["text"] == "First\nSecond"


# --------------------------------------------------------------------------- scores
@pytest.mark.parametrize(
    ("ftype", "bounds", "value", "expected"),
    [
        ("opinion_scale", (0, 10), 7, {"nps": 7}),
        ("nps", (0, 10), 10, {"nps": 10}),
        ("opinion_scale", (1, 5), 4, {"csat": 4.0}),
        ("rating", (1, 5), 5, {"csat": 5.0}),
        ("rating", (1, 10), 8, {"csat": 8.0}),
        ("opinion_scale", (1, 7), 6, {}),  # a Likert scale: neither, unless configured
        ("opinion_scale", (1, 10), 6, {}),  # 1-10 is not the NPS scale
    ],
)
def test_nps_and_csat_are_detected_from_the_form_definition(
    ftype: str, bounds: tuple[int, int], value: int, expected: dict[str, Any]
) -> None:
    rec = with_answers(
        answer("q", ftype, value, ref="how_likely"), scales={"q": scale(ftype, *bounds)}
    )
    row = mapped(rec)["survey_responses"][0]
    got = {k: row[k] for k in ("nps", "csat", "ces") if row[k] is not None}
    assert got == expected


def test_without_a_definition_a_rating_is_csat_and_an_unnamed_scale_is_nothing() -> None:
    rec = with_answers(answer("q1", "opinion_scale", 8, ref="recommend"), answer("q2", "rating", 4))
    row = mapped(rec)["survey_responses"][0]
    assert (row["nps"], row["csat"]) == (None, 4.0)


def test_configured_refs_win_and_turn_detection_of_their_kind_off() -> None:
    rec = with_answers(
        answer("a", "opinion_scale", 9, ref="nps"),
        answer("b", "opinion_scale", 6, ref="recommend"),
        answer("c", "opinion_scale", 3, ref="effort"),
        answer("d", "rating", 2, ref="stars"),
        scales={"a": scale("opinion_scale", 0, 10), "b": scale("opinion_scale", 0, 10)},
    )
    row = mapped(rec, nps_fields=["recommend"], ces_fields=["c"])["survey_responses"][0]
    assert (row["nps"], row["csat"], row["ces"]) == (6, 2.0, 3.0)


def test_detection_can_be_turned_off() -> None:
    rec = with_answers(answer("a", "nps", 9), answer("b", "rating", 3))
    row = mapped(rec, detect_scores=False)["survey_responses"][0]
    assert (row["nps"], row["csat"]) == (None, None)


def test_the_first_question_of_a_kind_counts_and_bad_values_are_skipped() -> None:
    rec = with_answers(
        answer("a", "opinion_scale", 11),  # out of the NPS range: not a score
        answer("b", "opinion_scale", 4),
        answer("c", "opinion_scale", 10),
        scales={k: scale("opinion_scale", 0, 10) for k in "abc"},
    )
    assert mapped(rec)["survey_responses"][0]["nps"] == 4


def test_form_scales_reads_opinion_scales_ratings_nps_and_groups() -> None:
    definition = {
        "fields": [
            {"id": "a", "ref": "nps", "type": "opinion_scale", "properties": {"steps": 11}},
            {
                "id": "b",
                "type": "opinion_scale",
                "properties": {"steps": 5, "start_at_one": True},
            },
            {
                "id": "g",
                "type": "group",
                "properties": {"fields": [{"id": "c", "type": "rating", "properties": {}}]},
            },
            {"id": "d", "type": "nps", "properties": {}},
            {"id": "e", "type": "short_text"},
            "junk",
        ]
    }
    assert form_scales(definition) == {
        "a": {"type": "opinion_scale", "ref": "nps", "min": 0, "max": 10},
        "b": {"type": "opinion_scale", "ref": None, "min": 1, "max": 5},
        "c": {"type": "rating", "ref": None, "min": 1, "max": 5},
        "d": {"type": "nps", "ref": None, "min": 0, "max": 10},
    }
    assert form_scales(None) == {}


# --------------------------------------------------------------------------- identifiers
def test_hidden_fields_give_identifiers_with_configurable_names() -> None:
    rec = copy.deepcopy(SAMPLE)
    rec["hidden"] = {"email": " Ana@Example.com ", "user_id": "u_42", "crm": "c-7", "mail": "m@x.y"}
    row = mapped(rec)["survey_responses"][0]
    assert row["identifiers"] == [
        {"type": "email", "value": "Ana@Example.com"},
        {"type": "user_id", "value": "u_42"},
    ]
    row = mapped(rec, hidden_identifiers={"email": "mail", "crm_id": "crm"})["survey_responses"][0]
    assert row["identifiers"] == [
        {"type": "email", "value": "m@x.y"},
        {"type": "crm_id", "value": "c-7"},
    ]


def test_an_email_answer_is_an_identifier_only_when_asked_for() -> None:
    rec = with_answers(
        {"field": {"id": "e", "type": "email", "ref": "mail"}, "type": "email", "email": "a@b.c"}
    )
    assert mapped(rec)["survey_responses"][0]["identifiers"] == [
        {"type": "user_id", "value": "u_42"}
    ]
    on = mapped(rec, email_answers_as_identifier=True)["survey_responses"][0]
    assert {"type": "email", "value": "a@b.c"} in on["identifiers"]
    rec["hidden"]["email"] = "hidden@b.c"  # a hidden email wins over the answer
    on = mapped(rec, email_answers_as_identifier=True)["survey_responses"][0]
    assert [i["value"] for i in on["identifiers"] if i["type"] == "email"] == ["hidden@b.c"]


# --------------------------------------------------------------------------- touchpoint
def test_each_response_is_a_survey_touchpoint_for_attribution() -> None:
    rec = copy.deepcopy(SAMPLE)
    rec["metadata"]["referer"] = (
        "https://acme.typeform.com/to/u6nXL7?utm_source=ignored&utm_medium=email"
        "&utm_campaign=spring&gclid=abc123"
    )
    touch = mapped(rec)["touchpoints"][0]
    assert touch == {
        "touchpoint_id": "21085286190ffad1248d17c4135ee56f",
        "occurred_at": "2024-05-01T12:00:00Z",  # landed: when the respondent arrived
        "event_type": "survey",
        "identifiers": [{"type": "user_id", "value": "u_42"}],
        "utm_source": "newsletter",  # a hidden field wins over the URL
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_content": None,
        "utm_term": None,
        "url": rec["metadata"]["referer"],
        "click_id": "abc123",
        "_cintel_record_index": 0,
    }


def test_touchpoints_can_be_turned_off() -> None:
    assert set(mapped(SAMPLE, touchpoints=False)) == {"survey_responses"}


def test_records_without_submitted_at_or_ids_map_to_nothing_and_indexes_hold() -> None:
    partial = copy.deepcopy(SAMPLE) | {"submitted_at": None, "response_id": "p1", "token": "p1"}
    nameless = {"form_id": "u6nXL7", "submitted_at": "2024-05-01T12:00:00Z"}
    out = map_responses([partial, nameless, SAMPLE], config())
    assert [r["_cintel_record_index"] for r in out["survey_responses"]] == [2]
    assert [r["_cintel_record_index"] for r in out["touchpoints"]] == [2]
