"""Normalization of identifiers, names, countries and canonical rows."""

from __future__ import annotations

import copy
import re
import string

import phonenumbers
import pytest
from cintel.identity.normalize import (
    InvalidValue,
    Normalizer,
    NormalizeSettings,
    Problem,
    normalize_country,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("  Jane.Doe@Example.COM\t\n", "jane.doe@example.com"),
        ("\xa0jane@example.com\xa0", "jane@example.com"),
        ("\u200bjane@example.com\ufeff", "jane@example.com"),
        ("<jane@example.com>", "jane@example.com"),
        ("mailto:Jane@Example.com", "jane@example.com"),
        ("MAILTO:<jane@example.com>", "jane@example.com"),
        ("Jane Doe <Jane@Example.com>", "jane@example.com"),
        ("bob@something.example", "bob@something.example"),
        ("bob@qa.test", "bob@qa.test"),
        ("Bob+News@Example.com", "bob+news@example.com"),
        ("STRASSE@example.de", "strasse@example.de"),
        ("straße@example.de", "straße@example.de"),
    ],
)
def test_email_formats(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_email_idn_domain_and_unicode_local_part_are_equivalent() -> None:
    a = normalize_email("Jöhn@Bücher.Example")
    b = normalize_email("jöhn@xn--bcher-kva.example")
    assert a == b == "jöhn@xn--bcher-kva.example"


def test_email_unicode_is_nfc() -> None:
    decomposed = "jo\u0308hn@example.com"  # o + combining diaeresis
    assert normalize_email(decomposed) == "j\u00f6hn@example.com"


def test_email_provider_rules_are_off_by_default() -> None:
    assert normalize_email("Jane.Doe+news@GoogleMail.com") == "jane.doe+news@googlemail.com"


def test_email_provider_rules() -> None:
    expected = "janedoe@gmail.com"
    for raw in ("Jane.Doe+news@GoogleMail.com", "j.a.n.e.doe@gmail.com", "janedoe@gmail.com"):
        assert normalize_email(raw, provider_rules=True) == expected
    # other providers are not touched by provider rules
    other = "jane.doe+x@example.com"
    assert normalize_email(other, provider_rules=True) == other


def test_email_subaddress() -> None:
    assert normalize_email("jane+news@example.com", subaddress=True) == "jane@example.com"
    assert normalize_email("jane+a+b@example.com", subaddress=True) == "jane@example.com"
    # a bare "+tag" local part is kept rather than emptied
    assert normalize_email("+tag@example.com", subaddress=True) == "+tag@example.com"
    # as is one whose base would end with a period
    assert normalize_email("jane.+tag@example.com", subaddress=True) == "jane.+tag@example.com"
    assert normalize_email("jane.+tag@gmail.com", provider_rules=True) == "jane@gmail.com"
    # dots stay: only the provider rules remove them, and only for Gmail
    assert normalize_email("j.ane+x@gmail.com", subaddress=True) == "j.ane@gmail.com"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \t", "empty"),
        ("jane.example.com", "email has no @"),
        ("jane@", "after the @-sign"),
        ("@example.com", "before the @-sign"),
        ("jane doe@example.com", "SPACE"),
        ("jane@localhost", "period"),
        ("jane@example", "period"),
        ("jane..doe@example.com", "two periods"),
        ("jane@example..com", "period"),
        ('"jane doe"@example.com', "Quoting"),
        ("jane@[192.0.2.1]", "bracketed IP"),
        ("jane@bad-.com", "hyphen"),
    ],
)
def test_email_invalid(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_email(raw)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)
    assert str(info.value) == info.value.reason


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (415) 555-0134", "+14155550134"),
        ("+1 415 555 0134", "+14155550134"),
        ("415.555.0134", "+14155550134"),
        ("(415) 555-0134", "+14155550134"),
        ("1-415-555-0134", "+14155550134"),
        ("4155550134", "+14155550134"),
        ("+14155550134", "+14155550134"),
        ("0044 20 7946 0958", "+442079460958"),
        ("011 44 20 7946 0958", "+442079460958"),
        ("00 1 415 555 0134", "+14155550134"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 415 555 0134 x123", "+14155550134"),
        ("415-555-0134 ext. 5", "+14155550134"),
        ("1-800-FLOWERS", "+18003569377"),
        (" \t+1 415 555 0134\n", "+14155550134"),
    ],
)
def test_phone_formats(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_phone_region() -> None:
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("020 7946 0958", "gb") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("030 901820", "DE") == "+4930901820"
    # an explicit country code wins over the region
    assert normalize_phone("+1 415 555 0134", "GB") == "+14155550134"


def test_fictional_ranges_are_valid() -> None:
    """The ranges test data uses are valid for phonenumbers, so strict validity is safe."""
    for number in ("+1 415 555 0134", "+1 212 555 0199", "+44 20 7946 0000", "+61 491 570 156"):
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))
        assert normalize_phone(number).startswith("+")


def test_uk_drama_mobiles_are_accepted_although_phonenumbers_rejects_them() -> None:
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+44 7700 900123"))
    assert normalize_phone("07700 900123", "GB") == "+447700900123"
    assert normalize_phone("+44 7700 900999") == "+447700900999"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("555-0134", "too short: a local number without area code"),
        ("12", "too short"),
        ("not a phone", "not a phone number"),
        ("+999 123", "invalid country code"),
        ("+1 415 555 01345555555", "too long"),
        ("+1 555 555 5555", "not a valid phone number for country code +1"),
        ("000 555 0134", "not a valid phone number for region US"),
        ("0044 12", "too short"),
        ("00 999 123 456", "invalid country code"),
    ],
)
def test_phone_invalid(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_phone(raw)
    assert info.value.reason == reason


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JOHN", "John"),
        ("john", "John"),
        ("  john   smith ", "John Smith"),
        ("JOHN\tO'BRIEN", "John O'Brien"),
        ("o'brien", "O'Brien"),
        ("o\u2019brien", "O\u2019Brien"),  # typographic apostrophe
        ("mary-jane watson", "Mary-Jane Watson"),
        ("JEAN-LUC", "Jean-Luc"),
        ("j.r.r. tolkien", "J.R.R. Tolkien"),
        ("ÉLODIE", "Élodie"),
        ("mcdonald", "Mcdonald"),
        ("McDonald", "McDonald"),
        ("van der Berg", "van der Berg"),
        ("DeShawn", "DeShawn"),
        ("Jo\u0308rg", "J\u00f6rg"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_names(raw: str | None, expected: str | None) -> None:
    assert normalize_name(raw) == expected


def test_names_without_title_case() -> None:
    assert normalize_name("  JOHN   O'BRIEN ", title_case=False) == "JOHN O'BRIEN"


# --------------------------------------------------------------------------- countries


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("U.S.", "US"),
        ("U.S.A.", "US"),
        ("United States", "US"),
        ("united states of america", "US"),
        ("GB", "GB"),
        ("GBR", "GB"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("DEU", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("276", "DE"),
        ("The Netherlands", "NL"),
        ("Holland", "NL"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d'Ivoire", "CI"),
        ("Iran", "IR"),
        ("Bolivia", "BO"),
        ("Russia", "RU"),
        ("South Korea", "KR"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("St. Lucia", "LC"),
        ("  france ", "FR"),
        ("", None),
        (None, None),
    ],
)
def test_countries(raw: str | None, expected: str | None) -> None:
    assert normalize_country(raw) == expected


@pytest.mark.parametrize("raw", ["Narnia", "XX", "Korea", "Virgin Islands"])
def test_country_unknown_or_ambiguous(raw: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_country(raw)
    assert info.value.reason == f"unknown country {raw!r}"


# --------------------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    settings = NormalizeSettings()
    assert settings.phone_region == "US"
    assert not settings.email_provider_rules
    assert not settings.email_subaddress
    assert settings.title_case_names
    for name, field in NormalizeSettings.model_fields.items():
        assert field.description, name


def test_settings_region_is_upper_cased() -> None:
    assert NormalizeSettings(phone_region=" gb ").phone_region == "GB"


def test_settings_unknown_region_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        NormalizeSettings(phone_region="XX")
    assert "phone_region" in str(info.value)
    assert "unknown phone region 'XX'" in str(info.value)


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="phone_regoin"):
        NormalizeSettings.model_validate({"phone_regoin": "GB"})


# --------------------------------------------------------------------------- Normalizer


def test_identifier_dispatch() -> None:
    n = Normalizer()
    assert n.identifier("email", " Jane@Example.com ") == "jane@example.com"
    assert n.identifier("Email", "Jane@Example.com") == "jane@example.com"
    assert n.identifier("phone", "(415) 555-0134") == "+14155550134"
    assert n.identifier("phone", 4155550134) == "+14155550134"
    assert n.identifier("user_id", "  U-42 ") == "U-42"
    assert n.identifier("user_id", 42) == "42"
    assert n.identifier("hubspot_id", "AbC") == "AbC"  # opaque ids keep their case
    for empty in (None, "", "  "):
        with pytest.raises(InvalidValue, match="empty"):
            n.identifier("user_id", empty)
    with pytest.raises(InvalidValue, match="email has no @"):
        n.identifier("email", "nope")


def test_identifier_uses_settings() -> None:
    n = Normalizer(
        NormalizeSettings(phone_region="GB", email_provider_rules=True, email_subaddress=True)
    )
    assert n.identifier("phone", "020 7946 0958") == "+442079460958"
    assert n.identifier("email", "J.Doe+x@googlemail.com") == "jdoe@gmail.com"
    assert n.identifier("email", "j.doe+x@example.com") == "j.doe@example.com"


def test_identifier_cache_repeats_results_and_errors() -> None:
    n = Normalizer()
    for _ in range(3):
        assert n.identifier("email", "A@Example.com") == "a@example.com"
        with pytest.raises(InvalidValue, match="too short"):
            n.identifier("phone", "12")
    info = n.cache_info()
    assert info.misses == 2
    assert info.hits == 4


def test_rows_identifiers_normalized_invalid_dropped_and_deduplicated() -> None:
    rows = [
        {
            "touchpoint_id": "t1",
            "identifiers": [
                {"type": "email", "value": "Jane@Example.com"},
                {"type": "email", "value": " jane@example.com"},
                {"type": "phone", "value": "not a phone"},
                {"type": "phone", "value": "+1 415 555 0134"},
                {"type": "anonymous_id", "value": " a-1 "},
                {"type": "email", "value": "broken"},
                {"type": "phone", "value": "(415) 555-0134"},
                {"type": "user_id", "value": None},
            ],
            "_cintel_record_index": 7,
        },
        {"touchpoint_id": "t2", "identifiers": []},
    ]
    before = copy.deepcopy(rows)
    out, problems = Normalizer().normalize_rows("touchpoints", rows)
    assert rows == before  # input untouched
    assert out[0]["identifiers"] == [
        {"type": "email", "value": "jane@example.com"},
        {"type": "phone", "value": "+14155550134"},
        {"type": "anonymous_id", "value": "a-1"},
    ]
    assert out[0]["_cintel_record_index"] == 7
    assert out[1] == {"touchpoint_id": "t2", "identifiers": []}
    assert problems == [
        Problem(0, "identifiers[2]", "not a phone", "not a phone number", "identifier"),
        Problem(0, "identifiers[5]", "broken", "email has no @", "identifier"),
        Problem(0, "identifiers[7]", "", "empty", "identifier"),
    ]


def test_rows_malformed_identifier_is_a_problem() -> None:
    rows = [{"conversion_id": "c", "identifiers": ["jane@example.com", {"value": "x"}]}]
    out, problems = Normalizer().normalize_rows("conversions", rows)
    assert out[0]["identifiers"] == []
    assert [(p.field, p.dropped) for p in problems] == [
        ("identifiers[0]", "identifier"),
        ("identifiers[1]", "identifier"),
    ]


def test_rows_other_tables_only_touch_identifiers() -> None:
    rows = [{"interaction_id": "i", "channel": "PHONE", "text": "  hi  ", "country": "Narnia"}]
    out, problems = Normalizer().normalize_rows("interactions", rows)
    assert out == rows
    assert out[0] is not rows[0]
    assert problems == []


def test_rows_source_profiles() -> None:
    rows = [
        {
            "profile_id": "p1",
            "identifiers": [{"type": "crm_id", "value": "p1"}],
            "email": " Jane@Example.com ",
            "phone": "415.555.0134",
            "first_name": "JANE",
            "last_name": "o'brien",
            "full_name": "  Jane   McDonald ",
            "country": "U.S.A.",
            "company": "ACME",
            "_cintel_record_index": 0,
        },
        {
            "profile_id": "p2",
            "email": "no-at-sign",
            "phone": "555-0134",
            "country": "Narnia",
            "first_name": "   ",
        },
        {
            "profile_id": "p3",
            "identifiers": [{"type": "email", "value": "BOB@example.com"}],
            "email": "bob@example.com",
            "phone": "",
            "country": None,
        },
    ]
    before = copy.deepcopy(rows)
    out, problems = Normalizer().normalize_rows("source_profiles", rows)
    assert rows == before
    assert out[0] == {
        "profile_id": "p1",
        "identifiers": [
            {"type": "crm_id", "value": "p1"},
            {"type": "email", "value": "jane@example.com"},
            {"type": "phone", "value": "+14155550134"},
        ],
        "email": "jane@example.com",
        "phone": "+14155550134",
        "first_name": "Jane",
        "last_name": "O'Brien",
        "full_name": "Jane McDonald",
        "country": "US",
        "company": "ACME",
        "_cintel_record_index": 0,
    }
    assert out[1]["email"] is None
    assert out[1]["phone"] is None
    assert out[1]["country"] is None
    assert out[1]["first_name"] is None
    assert "identifiers" not in out[1] or out[1]["identifiers"] == []
    assert problems == [
        Problem(1, "email", "no-at-sign", "email has no @", "field"),
        Problem(1, "phone", "555-0134", "too short: a local number without area code", "field"),
        Problem(1, "country", "Narnia", "unknown country 'Narnia'", "field"),
    ]
    # the email already among the identifiers (after normalization) is not added twice
    assert out[2]["identifiers"] == [{"type": "email", "value": "bob@example.com"}]
    assert out[2]["phone"] is None  # empty attribute: None, not a problem


def test_rows_source_profiles_respect_title_case_setting() -> None:
    n = Normalizer(NormalizeSettings(title_case_names=False))
    out, _ = n.normalize_rows("source_profiles", [{"profile_id": "p", "first_name": " JANE "}])
    assert out[0]["first_name"] == "JANE"


def test_rows_identity_links() -> None:
    rows = [
        {
            "left": {"type": "email", "value": "Jane@Example.com"},
            "right": {"type": "phone", "value": "(415) 555-0134"},
            "kind": "profile",
            "_cintel_record_index": 0,
        },
        {  # invalid right side: the link goes
            "left": {"type": "email", "value": "jane@example.com"},
            "right": {"type": "phone", "value": "12"},
            "kind": "profile",
        },
        {  # invalid left side
            "left": {"type": "email", "value": "broken"},
            "right": {"type": "user_id", "value": "u1"},
        },
        {  # equal after normalization: silently dropped
            "left": {"type": "email", "value": "JANE@example.com"},
            "right": {"type": "email", "value": " jane@Example.com"},
        },
        {  # same value, different types: kept
            "left": {"type": "user_id", "value": "42"},
            "right": {"type": "crm_id", "value": "42"},
        },
    ]
    before = copy.deepcopy(rows)
    out, problems = Normalizer().normalize_rows("identity_links", rows)
    assert rows == before
    assert out == [
        {
            "left": {"type": "email", "value": "jane@example.com"},
            "right": {"type": "phone", "value": "+14155550134"},
            "kind": "profile",
            "_cintel_record_index": 0,
        },
        {"left": {"type": "user_id", "value": "42"}, "right": {"type": "crm_id", "value": "42"}},
    ]
    assert problems == [
        Problem(1, "right", "12", "too short", "row"),
        Problem(2, "left", "broken", "email has no @", "row"),
    ]


# --------------------------------------------------------------------------- properties

_UPPER_ASCII = re.compile(r"[A-Z]")
_local_chars = st.sampled_from(string.ascii_letters + string.digits + "_-+" + "éöüßçñø")
_local_parts = st.lists(st.text(_local_chars, min_size=1, max_size=12), min_size=1, max_size=3).map(
    ".".join
)
_labels = st.text(st.sampled_from(string.ascii_letters + string.digits + "äöüé"), min_size=1)
_example_domains = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_labels.filter(lambda s: len(s) <= 20), min_size=1, max_size=3),
    st.sampled_from(["com", "example", "test", "de", "CO.UK", "Org"]),
)
_emails = st.builds(lambda local, domain: f"{local}@{domain}", _local_parts, _example_domains)
_decorations = st.sampled_from(["{}", " {} ", "\t{}\n", "<{}>", "mailto:{}", "\xa0{}"])


def _valid_email(raw: str, **flags: bool) -> str:
    try:
        return normalize_email(raw, **flags)
    except InvalidValue:
        assume(False)
        raise


@given(_emails, _decorations, st.booleans(), st.booleans())
def test_email_idempotent_and_clean(raw: str, decoration: str, rules: bool, sub: bool) -> None:
    flags = {"provider_rules": rules, "subaddress": sub}
    once = _valid_email(decoration.format(raw), **flags)
    assert normalize_email(once, **flags) == once
    assert not any(ch.isspace() for ch in once)
    assert not _UPPER_ASCII.search(once)
    assert once.rsplit("@", 1)[1].isascii()  # domain in IDNA ASCII


_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


@given(_emails)
def test_email_ascii_case_and_decoration_do_not_matter(raw: str) -> None:
    base = _valid_email(raw)
    assert normalize_email(f"  <{raw.translate(_ASCII_UPPER)}> ") == base


_regions = st.sampled_from(["US", "GB", "DE", "FR", "CA", "AU", "IN", "BR", "JP", "NL"])
_formats = st.sampled_from(
    [
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.RFC3966,
    ]
)


@given(_regions, _formats, st.integers(0, 9999), st.booleans())
def test_phone_idempotent(region: str, fmt: int, tail: int, mobile: bool) -> None:
    types = phonenumbers.PhoneNumberType
    kind = types.MOBILE if mobile else types.FIXED_LINE
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    digits = str(example.national_number)
    example.national_number = int(digits[:-4] + f"{tail:04d}")
    assume(phonenumbers.is_valid_number(example))
    written = phonenumbers.format_number(example, fmt)
    once = normalize_phone(written, region)
    assert once == phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(once, region) == once
    assert normalize_phone(once, "US") == once


_name_chars = st.sampled_from(string.ascii_letters + "éÉöÖüÜßçÇñÑøØ '-’." + "\t ")  # noqa: RUF001


@given(st.text(_name_chars, max_size=30), st.booleans())
def test_name_idempotent(raw: str, title_case: bool) -> None:
    once = normalize_name(raw, title_case=title_case)
    assert normalize_name(once, title_case=title_case) == once
    if once is not None:
        assert once == once.strip()
        assert "  " not in once
        assert "\t" not in once


@given(st.text(st.sampled_from(string.ascii_lowercase + " -'"), min_size=1, max_size=30))
def test_name_all_lower_gets_capitalised(raw: str) -> None:
    once = normalize_name(raw)
    if once is not None:
        words = re.split(r"[ \-']", once)
        assert all(w[:1] == w[:1].upper() for w in words)
        assert once.lower() == re.sub(r"\s+", " ", raw).strip().lower()
