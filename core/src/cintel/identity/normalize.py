"""Normalization of identifiers and profile attributes, so identity resolution can match them.

Connectors emit canonical rows as their sources spell them; before loading,
:meth:`Normalizer.normalize_rows` rewrites them into one spelling per value:

=============  ===========================================================================
value          normalized form
=============  ===========================================================================
email          trimmed, ``mailto:``/``<…>``/display name removed, NFC, local part
               lower-cased (``str.lower``, not ``casefold``: ``ß`` stays ``ß``), domain in
               IDNA ASCII (punycode) lower case: ``Jöhn@Bücher.Example`` and
               ``jöhn@xn--bcher-kva.example`` are both ``jöhn@xn--bcher-kva.example``.
               Optional: Gmail rules (dots and ``+tag`` dropped, googlemail.com →
               gmail.com) and sub-address removal (``+tag`` dropped for every domain).
phone          E.164 (``+14155550134``); extensions are dropped. Only numbers
               ``phonenumbers`` considers *valid* are kept (a merely *possible* number
               could be anything); the fictional ranges of test data pass: US
               ``555-01XX``, UK ``020 7946 0XXX`` and ``07700 900XXX``.
names          trimmed, inner whitespace collapsed, NFC; ALL CAPS or all lower
               input is capitalised after spaces, hyphens, apostrophes and periods
               (``o'brien`` → ``O'Brien``, ``JEAN-LUC`` → ``Jean-Luc``, ``mcdonald`` →
               ``Mcdonald``); mixed-case input is kept as typed.
country        ISO 3166-1 alpha-2, from alpha-2/alpha-3/numeric codes, English names
               (official, common, accents and case ignored) and aliases: ``USA``,
               ``U.S.``, ``UK``, ``Great Britain``, the UK's nations (``England``,
               ``Scotland``, ``Wales``, ``Northern Ireland`` → ``GB``), older names
               (``Turkey``, ``Swaziland``, ``Burma``…) and a few endonyms
               (``Deutschland``, ``España``…).
other ids      ``str(value).strip()``.
=============  ===========================================================================

An invalid value raises :class:`InvalidValue` with a ``reason``; ``normalize_rows``
turns those into :class:`Problem` entries instead (an identifier, a field or a
whole identity link left out).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from pydantic import BaseModel, Field, field_validator

__all__ = [
    "InvalidValue",
    "NormalizeSettings",
    "Normalizer",
    "Problem",
    "normalize_country",
    "normalize_email",
    "normalize_name",
    "normalize_phone",
]


class InvalidValue(ValueError):
    """A value that cannot be normalized; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NormalizeSettings(BaseModel, extra="forbid"):
    """The ``identity.normalize`` section of ``cintel.yaml``."""

    phone_region: str = Field(
        "US",
        description=(
            "Region (ISO 3166-1 alpha-2) assumed for phone numbers written without "
            "a country code, e.g. US, GB, DE."
        ),
    )
    email_provider_rules: bool = Field(
        False,
        description=(
            "Apply Gmail's own rules: drop dots and '+tag' in the local part, "
            "googlemail.com becomes gmail.com."
        ),
    )
    email_subaddress: bool = Field(
        False, description="Drop a '+tag' sub-address from emails of every domain."
    )
    title_case_names: bool = Field(
        True,
        description="Capitalise names typed in ALL CAPS or all lower case (o'brien → O'Brien).",
    )

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown phone region {value!r}: use an ISO 3166-1 alpha-2 code "
                "such as US, GB or DE"
            )
        return region


# --------------------------------------------------------------------------- helpers

# Whitespace (``\s`` covers tabs, newlines, NBSP) and zero-width characters at either end.
_EDGES = re.compile(r"^[\s\u200b-\u200d\u2060\ufeff]+|[\s\u200b-\u200d\u2060\ufeff]+$")
_SPACES = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")


def _trim(value: str) -> str:
    return _EDGES.sub("", value)


# --------------------------------------------------------------------------- email

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)


def normalize_email(value: str, *, provider_rules: bool = False, subaddress: bool = False) -> str:
    """An email address in its canonical spelling, or :class:`InvalidValue`.

    The syntax is checked by ``email_validator`` (no DNS lookups; reserved test
    domains such as ``example.com``, ``*.example`` and ``*.test`` are accepted,
    ``localhost`` and dotless domains are not). The local part is lower-cased with
    ``str.lower`` (mailboxes are case-insensitive in practice; ``casefold`` would
    also rewrite ``ß`` to ``ss``, which is a different mailbox), the domain is
    IDNA ASCII. ``provider_rules`` applies Gmail's rules, ``subaddress`` drops a
    ``+tag`` for every domain.
    """
    text = _trim(value)
    if not text:
        raise InvalidValue("empty")
    text = _MAILTO.sub("", text, count=1)
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    text = unicodedata.normalize("NFC", _trim(text))
    if "@" not in text:
        raise InvalidValue("email has no @")
    try:
        result = validate_email(
            text,
            check_deliverability=False,
            test_environment=True,
            allow_display_name=True,
        )
    except EmailNotValidError as exc:
        raise InvalidValue(str(exc)) from None
    local = unicodedata.normalize("NFC", result.local_part.lower())
    domain = result.ascii_domain.lower()
    if provider_rules and domain in _GMAIL_DOMAINS:
        domain = "gmail.com"
        local = _drop_tag(local.replace(".", ""))
    elif subaddress:
        local = _drop_tag(local)
    return f"{local}@{domain}"


def _drop_tag(local: str) -> str:
    base, plus, _ = local.partition("+")
    # "+tag@…" and "jane.+tag@…" keep their tag: dropping it would leave an invalid address.
    return base if plus and base and not base.endswith(".") else local


# --------------------------------------------------------------------------- phone

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_INTERNATIONAL_PREFIX = re.compile(r"^(?:00|011)[\s.\-]*(?=[1-9])")  # no country code starts 0
# Fictional ranges phonenumbers does not consider valid but test data uses: Ofcom's
# drama mobile numbers 07700 900000-900999. (US 555-0100..0199 and UK 020 7946 0XXX
# are valid for phonenumbers already.)
_FICTIONAL = re.compile(r"^\+447700900\d{3}$")


def normalize_phone(value: str, region: str = "US") -> str:
    """A phone number in E.164 (``+14155550134``), or :class:`InvalidValue`.

    ``region`` is assumed for numbers without a country code. A number written
    with an ``00`` or ``011`` international prefix is read as international even
    when the region dials out differently (``0044 20 7946 0958`` with region US).
    Extensions (``x123``, ``ext. 5``) are dropped; letters of vanity numbers are
    read as their digits. Only numbers ``phonenumbers`` considers valid pass,
    plus Ofcom's fictional ``07700 900XXX`` mobiles (test data).
    """
    text = _trim(value)
    if not text:
        raise InvalidValue("empty")
    region = region.upper()
    try:
        return _e164(text, region)
    except InvalidValue:
        match = _INTERNATIONAL_PREFIX.match(text)
        if match is None:
            raise
    # The international prefix of another region: the international reading's
    # reason is the more useful one.
    return _e164("+" + text[match.end() :], region)


def _e164(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidValue(_PARSE_REASONS.get(exc.error_type, str(exc))) from None
    return _checked(number, text, region)


def _checked(number: phonenumbers.PhoneNumber, text: str, region: str) -> str:
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if _FICTIONAL.match(e164):
        return e164
    code = number.country_code
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_SHORT:
        raise InvalidValue("too short")
    if possible == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise InvalidValue("too short: a local number without area code")
    if possible == ValidationResult.TOO_LONG:
        raise InvalidValue("too long")
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidValue(f"invalid country code +{code}")
    if possible == ValidationResult.INVALID_LENGTH:
        raise InvalidValue(f"invalid length for country code +{code}")
    if text.startswith("+"):
        raise InvalidValue(f"not a valid phone number for country code +{code}")
    raise InvalidValue(f"not a valid phone number for region {region}")


# --------------------------------------------------------------------------- names

_NAME_BOUNDARIES = frozenset(" -'’‘ʼ.")  # noqa: RUF001 - typographic apostrophes are the point


def normalize_name(value: str | None, *, title_case: bool = True) -> str | None:
    """A person's name trimmed, with single spaces and NFC; ``None`` when empty.

    With ``title_case``, a name typed in ALL CAPS or all lower case is
    capitalised after spaces, hyphens, apostrophes and periods (``o'brien`` →
    ``O'Brien``); a mixed-case name is kept as typed (``McDonald``, ``van der Berg``).
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", _SPACES.sub(" ", value).strip())
    if not text:
        return None
    if title_case and (text == text.lower() or text == text.upper()):
        text = unicodedata.normalize("NFC", _capitalise(text.lower()))
    return text


def _capitalise(text: str) -> str:
    out: list[str] = []
    boundary = True
    for ch in text:
        if boundary and ch.isalpha():
            upper = ch.title()
            out.append(upper if len(upper) == 1 else ch)  # ß stays ß, not Ss
            boundary = False
        else:
            out.append(ch)
            if ch in _NAME_BOUNDARIES:
                boundary = True
            elif ch.isalpha():
                boundary = False
    return "".join(out)


# --------------------------------------------------------------------------- country

# Keys are in the form _country_key produces (case, accents, dots and apostrophes ignored).
_COUNTRY_ALIASES: dict[str, str] = {
    # United States
    "us of a": "US",
    "america": "US",
    "united states of america": "US",
    # United Kingdom: its nations map to GB, the only ISO 3166-1 code they have.
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    # Former or colloquial English names
    "russia": "RU",
    "south korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "turkey": "TR",
    "ivory coast": "CI",
    "macedonia": "MK",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "vatican": "VA",
    "vatican city": "VA",
    "holy see": "VA",
    "micronesia": "FM",
    "palestine": "PS",
    "dr congo": "CD",
    "drc": "CD",
    "democratic republic of the congo": "CD",
    "congo kinshasa": "CD",
    "republic of the congo": "CG",
    "congo brazzaville": "CG",
    "brunei": "BN",
    "macau": "MO",
    "holland": "NL",
    "uae": "AE",
    "czech republic": "CZ",
    "east timor": "TL",
    "laos": "LA",
    "syria": "SY",
    "iran": "IR",
    "vietnam": "VN",
    "taiwan": "TW",
    # Common endonyms
    "deutschland": "DE",
    "espana": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "osterreich": "AT",
    "nederland": "NL",
    "belgie": "BE",
    "belgique": "BE",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "polska": "PL",
    "brasil": "BR",
}

_KEY_DROP = re.compile(r"[.'’‘ʼ]")  # noqa: RUF001 - typographic apostrophes are the point
_KEY_SPACE = re.compile(r"[^0-9a-z]+")
_SAINT = re.compile(r"\bst\b")


def _country_key(value: str) -> str:
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _KEY_SPACE.sub(" ", _KEY_DROP.sub("", text.replace("&", " and "))).strip()
    if text.startswith("the "):
        text = text[4:]
    return _SAINT.sub("saint", text)


@functools.cache
def _country_index() -> dict[str, str]:
    exact: dict[str, str] = {}
    derived: dict[str, set[str]] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        for attr in ("alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                exact.setdefault(_country_key(name), code)
        # "Iran, Islamic Republic of" → "iran"; "Saint Martin (French part)" → "saint martin"
        for name in (country.name, getattr(country, "official_name", None)):
            if not name:
                continue
            for short in (name.split(",")[0], re.sub(r"\s*\(.*?\)", "", name)):
                derived.setdefault(_country_key(short), set()).add(code)
    index = {key: codes.pop() for key, codes in derived.items() if len(codes) == 1}
    index.update(exact)
    index.update(_COUNTRY_ALIASES)
    return index


@functools.lru_cache(maxsize=4096)
def _lookup_country(value: str) -> str | None:
    return _country_index().get(_country_key(value))


def normalize_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 of a country code or name; ``None`` when empty.

    Accepts alpha-2, alpha-3 and numeric codes, English names (case, accents and
    punctuation ignored) and common aliases (``USA``, ``UK``, ``England`` → ``GB``).
    Unknown values raise :class:`InvalidValue`.
    """
    if value is None:
        return None
    text = _trim(value)
    if not text:
        return None
    code = _lookup_country(text)
    if code is None:
        raise InvalidValue(f"unknown country {text!r}")
    return code


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Problem:
    """A value :meth:`Normalizer.normalize_rows` could not normalize, and what it left out."""

    row: int
    """Index of the row in the input rows."""
    field: str
    """Where: ``identifiers[2]``, ``phone``, ``left``…"""
    value: str
    """The value as it came in."""
    reason: str
    dropped: Literal["identifier", "field", "row"]
    """What was left out: the identifier, the field (set to ``None``) or the whole row."""


_NAME_FIELDS = ("first_name", "last_name", "full_name")
_CONTACT_FIELDS = ("email", "phone")


_DIRECT_KINDS = frozenset({"email", "phone", "user_id", "anonymous_id", "device_id"})


def _kind(type_: str) -> str:
    """The type name the rules are chosen by: ``Email`` and ``email`` are both emails."""
    return type_.strip().lower()


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


class Normalizer:
    """Normalizes identifiers and canonical rows with the given settings.

    Results are cached per instance (the same identifiers repeat across
    millions of events), so keep one normalizer for a run.
    """

    CACHE_SIZE = 200_000

    def __init__(self, settings: NormalizeSettings | None = None) -> None:
        self.settings = settings if settings is not None else NormalizeSettings()
        self._cached = functools.lru_cache(maxsize=self.CACHE_SIZE)(self._normalize)

    def _normalize(self, kind: str, text: str) -> tuple[bool, str]:
        settings = self.settings
        try:
            if kind == "email":
                return True, normalize_email(
                    text,
                    provider_rules=settings.email_provider_rules,
                    subaddress=settings.email_subaddress,
                )
            if kind == "phone":
                return True, normalize_phone(text, settings.phone_region)
        except InvalidValue as exc:
            return False, exc.reason
        value = text.strip()
        return (True, value) if value else (False, "empty")

    def identifier(self, type: str, value: Any) -> str:
        """The normalized value of an identifier of this type, or :class:`InvalidValue`.

        ``email`` and ``phone`` (type names are matched case-insensitively) get
        their own rules; every other type (``user_id``, ``<source>_id``…) is
        ``str(value).strip()``.
        """
        if value is None:
            raise InvalidValue("empty")
        text = value if isinstance(value, str) else str(value)
        ok, result = self._cached(type if type in _DIRECT_KINDS else _kind(type), text)
        if ok:
            return result
        raise InvalidValue(result)

    def cache_info(self) -> Any:
        """Hits and misses of the identifier cache (``functools`` cache info)."""
        return self._cached.cache_info()

    def normalize_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[Problem]]:
        """Normalized copies of one table's rows, and the problems met.

        * ``identifiers``: each normalized; invalid ones are left out
          (``dropped="identifier"``), duplicates after normalization silently.
        * ``source_profiles``: ``email``/``phone`` normalized (invalid → ``None``,
          ``dropped="field"``) and added to ``identifiers`` when missing; names
          tidied; ``country`` to ISO alpha-2 (unknown → ``None``, ``dropped="field"``).
        * ``identity_links``: ``left`` and ``right`` normalized; a link with an
          invalid side is left out (``dropped="row"``), one whose sides are equal
          after normalization silently.

        The input rows are not modified; ``_cintel_*`` keys pass through.
        """
        out: list[dict[str, Any]] = []
        problems: list[Problem] = []
        profiles = table == "source_profiles"
        links = table == "identity_links"
        for i, row in enumerate(rows):
            new = dict(row)
            identifiers = row.get("identifiers")
            if isinstance(identifiers, list):
                new["identifiers"] = self._identifiers(i, identifiers, problems)
            if profiles:
                self._profile(i, new, problems)
            elif links and not self._link(i, new, problems):
                continue
            out.append(new)
        return out, problems

    def _identifiers(
        self, row: int, identifiers: list[Any], problems: list[Problem]
    ) -> list[dict[str, Any]]:
        # The hot loop of a load: the cache is called directly, dicts checked exactly first.
        cached = self._cached
        kept: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for j, ident in enumerate(identifiers):
            if type(ident) is dict or isinstance(ident, Mapping):
                kind = ident.get("type")
                raw = ident.get("value")
            else:
                kind = raw = None
            if not isinstance(kind, str) or not kind:
                problems.append(
                    Problem(
                        row,
                        f"identifiers[{j}]",
                        _as_text(ident),
                        "not an identifier {type, value}",
                        "identifier",
                    )
                )
                continue
            if raw is None:
                ok, value = False, "empty"
            else:
                text = raw if type(raw) is str else str(raw)
                ok, value = cached(kind if kind in _DIRECT_KINDS else _kind(kind), text)
            if not ok:
                problems.append(
                    Problem(row, f"identifiers[{j}]", _as_text(raw), value, "identifier")
                )
                continue
            key = (kind, value)
            if key in seen:
                continue
            seen.add(key)
            kept.append({**ident, "value": value})
        return kept

    def _profile(self, row: int, new: dict[str, Any], problems: list[Problem]) -> None:
        for field in _CONTACT_FIELDS:
            raw = new.get(field)
            if raw is None:
                continue
            try:
                value: str | None = self.identifier(field, raw)
            except InvalidValue as exc:
                value = None
                if exc.reason != "empty":
                    problems.append(Problem(row, field, _as_text(raw), exc.reason, "field"))
            new[field] = value
            if value is None:
                continue
            identifiers = new.get("identifiers")
            if not isinstance(identifiers, list):
                identifiers = new["identifiers"] = []
            if not any(
                isinstance(ident, Mapping)
                and ident.get("type") == field
                and ident.get("value") == value
                for ident in identifiers
            ):
                identifiers.append({"type": field, "value": value})
        title_case = self.settings.title_case_names
        for field in _NAME_FIELDS:
            raw = new.get(field)
            if raw is not None:
                new[field] = normalize_name(_as_text(raw), title_case=title_case)
        raw = new.get("country")
        if raw is not None:
            try:
                new["country"] = normalize_country(_as_text(raw))
            except InvalidValue as exc:
                new["country"] = None
                problems.append(Problem(row, "country", _as_text(raw), exc.reason, "field"))

    def _link(self, row: int, new: dict[str, Any], problems: list[Problem]) -> bool:
        sides: list[tuple[str, str]] = []
        for side in ("left", "right"):
            ident = new.get(side)
            kind = ident.get("type") if isinstance(ident, Mapping) else None
            if not isinstance(ident, Mapping) or not isinstance(kind, str) or not kind:
                problems.append(
                    Problem(row, side, _as_text(ident), "not an identifier {type, value}", "row")
                )
                return False
            raw = ident.get("value")
            try:
                value = self.identifier(kind, raw)
            except InvalidValue as exc:
                problems.append(Problem(row, side, _as_text(raw), exc.reason, "row"))
                return False
            new[side] = {**ident, "value": value}
            sides.append((kind, value))
        return sides[0] != sides[1]
