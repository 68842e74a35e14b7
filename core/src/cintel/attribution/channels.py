"""Channel grouping: which marketing channel a touchpoint came through.

A touchpoint is described by five strings, any of which may be missing:

=================  ============================================================
``source``         ``utm_source`` (``google``, ``newsletter``, ``(direct)``)
``medium``         ``utm_medium`` (``cpc``, ``email``, ``(none)``)
``campaign``       ``utm_campaign``
``referrer_host``  host of the referring page, see :func:`referrer_host`
``click_id``       which ad click id the landing URL carries (``gclid``,
                   ``fbclid``…), see :func:`click_id_kind`
=================  ============================================================

A :class:`ChannelRule` names a channel and a few conditions; all of them must hold.
A regex condition matches the **whole** value, case-insensitively; a missing value
is the empty string, so ``source: ""`` means "no utm_source" and a rule without a
``source`` condition ignores the source. ``source_category`` (and
``referrer_category``) require the source (the referrer host) to be a known
``search``, ``social``, ``shopping`` or ``video`` site: ``google``, ``google.com``,
``www.google.co.uk`` and ``cn.bing.com`` are all search sites; the lists are
:data:`SOURCE_CATEGORIES`. Rules are tried **in order and the first match wins**; a
touchpoint no rule matches gets the fallback channel, ``Unassigned``.

The default rules (:meth:`ChannelRules.ga4_default`) follow Google Analytics 4's
default channel group, in GA4's own order, with two additions GA4 makes from data we
do not have (the Google Ads ad network; its own parsing of the referrer):

1. **utm tags**, GA4's rules as published. ``PAID`` is the medium regex
   ``.*cp.*|ppc|retargeting|paid.*``; ``SHOP`` the campaign regex
   ``.*(([^a-df-z]|^)shop|shopping).*``.

   ======================  ====================================================
   Direct                  source ``(direct)`` and medium ``(not set)``/``(none)``
   Cross-network           campaign contains ``cross-network``
   Paid Shopping           (shopping site source, or SHOP campaign) and PAID
   Paid Search             search site source and PAID
   Paid Social             social site source and PAID
   Paid Video              video site source and PAID
   Display                 medium ``display|banner|expandable|interstitial|cpm``
   ======================  ====================================================

2. **click ids** (auto-tagging): a click id proves a paid click on that platform,
   and wins over the generic utm rules below (GA4 lets auto-tagging win too):
   ``gclid``/``gbraid``/``wbraid``/``msclkid`` → Paid Search; ``dclid`` →
   Display; ``fbclid`` with a PAID medium → Paid Social; ``ttclid``,
   ``li_fat_id``, ``twclid`` → Paid Social.

3. **utm tags**, the rest of GA4's rules: Paid Other (PAID); Organic Shopping
   (shopping source, or SHOP campaign); Organic Social (social source, or medium
   ``social|social-network|social-media|sm|social network|social media``, or an
   ``fbclid`` — Facebook adds it to every outbound link); Organic Video (video
   source, or a medium containing ``video``); Organic Search (search source, or
   medium ``organic``); Referral (medium ``referral|app|link``); Email (source or
   medium ``email|e-mail|e_mail|e mail``); Affiliates (medium ``affiliate``); Audio
   (medium ``audio``); SMS (source or medium ``sms``); Mobile Push Notifications
   (medium ending in ``push`` or containing ``mobile``/``notification``, or
   source ``firebase``).

4. **no utm source and no utm medium**: the referrer decides, as GA4 does when it
   derives source and medium from the referrer. A shopping, social, video or search
   site → Organic Shopping/Social/Video/Search (in that order); any other referrer →
   Referral; no referrer and no click id → Direct.

Everything else is ``Unassigned`` (a utm_source without a medium, say).

Users put their own rules in front (``ChannelRules.from_config(rules=[...])``), so
they override the defaults for what they match and leave the rest alone, or replace
the defaults entirely with ``extend_default=False``.

Classification is vectorised: :func:`classify` takes whole Arrow arrays (or lists),
normalises them with ``pyarrow.compute`` (trim, lower case, nulls to ``""``), finds
the distinct ``(source, medium, campaign, referrer_host, click_id)`` tuples — a few
hundred where there are millions of rows — runs the rules once per distinct tuple
and maps the answers back with a ``take``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from cintel.errors import ConfigError

__all__ = [
    "CLICK_ID_PARAMETERS",
    "FIELDS",
    "SOURCE_CATEGORIES",
    "ChannelRule",
    "ChannelRules",
    "SourceCategory",
    "classify",
    "click_id_kind",
    "referrer_host",
]

SourceCategory = Literal["search", "social", "shopping", "video"]
#: The touchpoint fields a rule can test, in the order :func:`classify` reads them.
FIELDS = ("source", "medium", "campaign", "referrer_host", "click_id")
#: Ad click-id query parameters :func:`click_id_kind` recognises.
CLICK_ID_PARAMETERS = (
    "gclid",
    "gbraid",
    "wbraid",
    "dclid",
    "msclkid",
    "fbclid",
    "ttclid",
    "li_fat_id",
    "twclid",
)

Column: TypeAlias = "pa.Array | pa.ChunkedArray | Sequence[str | None]"

# --------------------------------------------------------------------------- site lists
#: Known sites per category. ``names`` match the bare name (``google``) and the name
#: as a domain under any TLD and subdomain (``www.google.co.uk``); ``domains`` match
#: that domain and its subdomains; ``exact`` match only as written.
SOURCE_CATEGORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "search": {
        "names": (
            "google",
            "bing",
            "yahoo",
            "duckduckgo",
            "baidu",
            "yandex",
            "ecosia",
            "ask",
            "aol",
            "naver",
            "daum",
            "seznam",
            "sogou",
            "startpage",
            "qwant",
            "brave",
            "msn",
            "mojeek",
            "kagi",
            "dogpile",
            "petalsearch",
        ),
        "domains": ("so.com", "ya.ru", "search.naver.com"),
        "exact": ("google search", "yahoo search"),
    },
    "social": {
        "names": (
            "facebook",
            "fb",
            "instagram",
            "linkedin",
            "lnkd",
            "twitter",
            "tiktok",
            "pinterest",
            "reddit",
            "snapchat",
            "tumblr",
            "quora",
            "vk",
            "weibo",
            "whatsapp",
            "telegram",
            "discord",
            "threads",
            "mastodon",
            "messenger",
            "wechat",
            "xing",
            "nextdoor",
            "bsky",
            "meta",
        ),
        "domains": ("t.co", "x.com", "m.me", "pin.it", "redd.it"),
        "exact": ("x", "ig", "meta ads", "facebook ads", "linkedin ads"),
    },
    "shopping": {
        "names": (
            "amazon",
            "ebay",
            "etsy",
            "shopify",
            "walmart",
            "alibaba",
            "aliexpress",
            "mercadolibre",
            "mercadolivre",
            "rakuten",
            "zalando",
            "bestbuy",
            "wayfair",
            "temu",
            "shein",
            "idealo",
            "shopzilla",
        ),
        "domains": ("shopping.google.com", "shop.app", "shopping.yahoo.com"),
        "exact": ("google shopping", "igshopping", "shopping"),
    },
    "video": {
        "names": (
            "youtube",
            "youtu",
            "vimeo",
            "twitch",
            "dailymotion",
            "wistia",
            "vidyard",
            "netflix",
            "hulu",
            "disneyplus",
        ),
        "domains": ("video.google.com",),
        "exact": ("yt",),
    },
}

# Sub-domains of search and social brands that are not search or social at all
# (webmail, documents, ad consoles): they fall through to Referral.
_NOT_A_SITE_OF_ITS_BRAND = r"(?!(?:mail|email|webmail|accounts|docs|drive|calendar|ads|business)\.)"


def _category_regex(spec: Mapping[str, tuple[str, ...]]) -> str:
    sub = r"(?:[a-z0-9-]+\.)*"
    alternatives = [
        f"{sub}{re.escape(name)}(?:\\.[a-z]{{2,6}}){{1,2}}|{re.escape(name)}"
        for name in spec.get("names", ())
    ]
    alternatives += [f"{sub}{re.escape(domain)}" for domain in spec.get("domains", ())]
    alternatives += [re.escape(value) for value in spec.get("exact", ())]
    return _NOT_A_SITE_OF_ITS_BRAND + "(?:" + "|".join(alternatives) + ")"


_CATEGORY_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(_category_regex(spec), re.IGNORECASE)
    for name, spec in SOURCE_CATEGORIES.items()
}


# --------------------------------------------------------------------------- rules
class ChannelRule(BaseModel):
    """One rule: ``name`` is the channel; every condition given must hold.

    Regex conditions match the whole value, case-insensitively; a missing value is
    ``""``. At least one condition is required (the catch-all is
    :attr:`ChannelRules.fallback`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Channel this rule assigns, e.g. `Paid Search`.")
    source: str | None = Field(None, description="Regex the utm source must match in full.")
    medium: str | None = Field(None, description="Regex the utm medium must match in full.")
    campaign: str | None = Field(None, description="Regex the utm campaign must match in full.")
    referrer_host: str | None = Field(
        None, description="Regex the referrer's host (without `www.`) must match in full."
    )
    click_id: str | None = Field(
        None, description="Regex the click-id kind (`gclid`, `fbclid`…) must match in full."
    )
    source_category: SourceCategory | None = Field(
        None, description="The utm source must be a known site of this category."
    )
    referrer_category: SourceCategory | None = Field(
        None, description="The referrer host must be a known site of this category."
    )

    @field_validator("source", "medium", "campaign", "referrer_host", "click_id")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_a_condition(self) -> ChannelRule:
        conditions = (*FIELDS, "source_category", "referrer_category")
        if all(getattr(self, f) is None for f in conditions):
            raise ValueError(
                f"rule {self.name!r} has no condition; give at least one of "
                "source, medium, campaign, referrer_host, click_id, source_category, "
                "referrer_category"
            )
        return self

    def _compiled(self) -> _CompiledRule:
        tests: list[tuple[int, re.Pattern[str]]] = []
        for i, field in enumerate(FIELDS):
            pattern = getattr(self, field)
            if pattern is not None:
                tests.append((i, re.compile(pattern, re.IGNORECASE)))
        if self.source_category is not None:
            tests.append((0, _CATEGORY_PATTERNS[self.source_category]))
        if self.referrer_category is not None:
            tests.append((3, _CATEGORY_PATTERNS[self.referrer_category]))
        return self.name, tuple(tests)


_CompiledRule: TypeAlias = "tuple[str, tuple[tuple[int, re.Pattern[str]], ...]]"

_PAID = r".*cp.*|ppc|retargeting|paid.*"
_SHOP = r".*(([^a-df-z]|^)shop|shopping).*"
_EMAIL = r"email|e-mail|e_mail|e mail"
_SOCIAL_MEDIUM = r"social|social-network|social-media|sm|social network|social media"


def _ga4_rules() -> list[ChannelRule]:
    r = ChannelRule
    no_utm = {"source": "", "medium": ""}
    return [
        # 1. utm tags: GA4's rules up to Display
        r(name="Direct", source=r"\(direct\)", medium=r"\(not set\)|\(none\)"),
        r(name="Cross-network", campaign=r".*cross-network.*"),
        r(name="Paid Shopping", source_category="shopping", medium=_PAID),
        r(name="Paid Shopping", campaign=_SHOP, medium=_PAID),
        r(name="Paid Search", source_category="search", medium=_PAID),
        r(name="Paid Social", source_category="social", medium=_PAID),
        r(name="Paid Video", source_category="video", medium=_PAID),
        r(name="Display", medium=r"display|banner|expandable|interstitial|cpm"),
        # 2. click ids (auto-tagging)
        r(name="Paid Search", click_id=r"gclid|gbraid|wbraid|msclkid"),
        r(name="Display", click_id=r"dclid"),
        r(name="Paid Social", click_id=r"fbclid", medium=_PAID),
        r(name="Paid Social", click_id=r"ttclid|li_fat_id|twclid"),
        # 3. utm tags: the rest of GA4's rules
        r(name="Paid Other", medium=_PAID),
        r(name="Organic Shopping", source_category="shopping"),
        r(name="Organic Shopping", campaign=_SHOP),
        r(name="Organic Social", source_category="social"),
        r(name="Organic Social", medium=_SOCIAL_MEDIUM),
        r(name="Organic Social", click_id=r"fbclid"),
        r(name="Organic Video", source_category="video"),
        r(name="Organic Video", medium=r".*video.*"),
        r(name="Organic Search", source_category="search"),
        r(name="Organic Search", medium=r"organic"),
        r(name="Referral", medium=r"referral|app|link"),
        r(name="Email", source=_EMAIL),
        r(name="Email", medium=_EMAIL),
        r(name="Affiliates", medium=r"affiliate"),
        r(name="Audio", medium=r"audio"),
        r(name="SMS", source=r"sms"),
        r(name="SMS", medium=r"sms"),
        r(name="Mobile Push Notifications", medium=r".*push|.*mobile.*|.*notification.*"),
        r(name="Mobile Push Notifications", source=r"firebase"),
        # 4. no utm source and medium: the referrer decides
        r(name="Organic Shopping", referrer_category="shopping", **no_utm),
        r(name="Organic Social", referrer_category="social", **no_utm),
        r(name="Organic Video", referrer_category="video", **no_utm),
        r(name="Organic Search", referrer_category="search", **no_utm),
        r(name="Referral", referrer_host=r".+", **no_utm),
        r(name="Direct", referrer_host="", click_id="", **no_utm),
    ]


class ChannelRules(BaseModel):
    """An ordered rule list; the first matching rule names the channel.

    ``ChannelRules.ga4_default()`` is GA4's default channel group (see the module
    docstring); ``ChannelRules.from_config(rules=[...])`` puts user rules in front
    of it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[ChannelRule] = Field(
        default_factory=list, description="Rules in order; the first that matches wins."
    )
    fallback: str = Field(
        "Unassigned", min_length=1, description="Channel of a touchpoint no rule matches."
    )
    _compiled_rules: tuple[_CompiledRule, ...] | None = PrivateAttr(None)

    @classmethod
    def ga4_default(cls) -> ChannelRules:
        """GA4's default channel group, with click ids and referrers (module docstring)."""
        return cls(rules=_ga4_rules())

    @classmethod
    def from_config(
        cls,
        rules: Sequence[ChannelRule | Mapping[str, Any]] = (),
        *,
        extend_default: bool = True,
        fallback: str | None = None,
    ) -> ChannelRules:
        """User rules, in front of the GA4 defaults unless ``extend_default`` is false.

        Raises :class:`~cintel.errors.ConfigError` naming the field, e.g.
        ``rules[1].medium: invalid regular expression '(cpc': missing ), …``.
        """
        data: dict[str, Any] = {
            "rules": [r.model_dump() if isinstance(r, ChannelRule) else r for r in rules]
        }
        if fallback is not None:
            data["fallback"] = fallback
        try:
            user = cls.model_validate(data)
        except ValidationError as exc:
            from cintel.config import format_validation_error

            raise ConfigError(format_validation_error(exc)) from None
        if not extend_default:
            return user
        return cls(rules=[*user.rules, *_ga4_rules()], fallback=user.fallback)

    def compiled(self) -> tuple[_CompiledRule, ...]:
        """The rules with their regexes compiled (once per instance)."""
        if self._compiled_rules is None:
            self._compiled_rules = tuple(rule._compiled() for rule in self.rules)
        return self._compiled_rules

    def classify_one(
        self,
        *,
        source: str | None = None,
        medium: str | None = None,
        campaign: str | None = None,
        referrer_host: str | None = None,
        click_id: str | None = None,
    ) -> str:
        """The channel of one touchpoint (the rule semantics :func:`classify` applies)."""
        values = tuple(
            _normalize_value(v) for v in (source, medium, campaign, referrer_host, click_id)
        )
        return self._first_match(values)

    def _first_match(self, values: tuple[str, ...]) -> str:
        for name, tests in self.compiled():
            if all(pattern.fullmatch(values[i]) for i, pattern in tests):
                return name
        return self.fallback


def _normalize_value(value: str | None) -> str:
    return "" if value is None else value.strip().lower()


# --------------------------------------------------------------------------- vectorised
def _string_array(values: Column | None, length: int | None) -> pa.Array:
    if values is None:
        if length is None:
            raise ValueError("classify needs at least one column")
        return pa.nulls(length, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    return arr


def _normalize(arr: pa.Array) -> pa.Array:
    return pc.fill_null(pc.utf8_lower(pc.utf8_trim_whitespace(arr)), "")


def _codes(arr: pa.Array) -> tuple[NDArray[np.int64], list[str]]:
    encoded = arr.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary.to_pylist()


def classify(rules: ChannelRules, columns: Mapping[str, Column]) -> pa.Array:
    """The channel of every row: a string array as long as the columns.

    ``columns`` maps some of :data:`FIELDS` to equally long Arrow arrays or lists of
    strings (a missing column counts as all-empty). Rules run once per distinct
    normalised tuple; the per-row work is done by ``pyarrow.compute`` and numpy.
    """
    unknown = set(columns) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown column(s) {sorted(unknown)}; expected some of {FIELDS}")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    length = lengths.pop() if lengths else None
    if length is None:
        raise ValueError("classify needs at least one column")
    if length == 0:
        return pa.array([], type=pa.string())

    key: NDArray[np.int64] = np.zeros(length, dtype=np.int64)
    radix = 1
    dictionaries: list[list[str]] = []
    per_field_codes: list[NDArray[np.int64]] = []
    for field in FIELDS:
        codes, dictionary = _codes(_normalize(_string_array(columns.get(field), length)))
        dictionaries.append(dictionary)
        per_field_codes.append(codes)
        if radix * max(len(dictionary), 1) >= 2**62:
            # refactor the combined key so far to keep it within int64
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64, copy=False)
            radix = int(key.max()) + 1
        key = key * max(len(dictionary), 1) + codes
        radix *= max(len(dictionary), 1)

    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    names: list[str] = []
    index_of: dict[str, int] = {}
    channel_of_tuple = np.empty(len(first), dtype=np.int64)
    for t, row in enumerate(first):
        values = tuple(dictionaries[f][per_field_codes[f][row]] for f in range(len(FIELDS)))
        name = rules._first_match(values)
        if name not in index_of:
            index_of[name] = len(names)
            names.append(name)
        channel_of_tuple[t] = index_of[name]
    indices = channel_of_tuple[inverse.reshape(-1)]
    return pc.take(pa.array(names, type=pa.string()), pa.array(indices))


_HOST = r"^\s*(?:(?:[a-zA-Z][a-zA-Z0-9+.\-]*:)?//)?(?:[^@/?#]*@)?(?P<host>\[[^\]/]*\]|[^:/?#\s]*)"


def referrer_host(urls: Column, *, own_hosts: Sequence[str] = ()) -> pa.Array:
    """The host of each referrer URL, lower case, without ``www.`` and a trailing dot.

    ``https://www.Google.com/search?q=x`` → ``google.com``. A missing or unparsable
    URL gives null; so does a host in ``own_hosts`` (or a subdomain of one), so
    that internal navigation does not count as a referral.
    """
    arr = _string_array(urls, None)
    hosts = pc.struct_field(pc.extract_regex(arr, _HOST), [0])
    hosts = pc.utf8_lower(hosts)
    hosts = pc.replace_substring_regex(hosts, r"^www\.|\.$", "")
    empty = pc.equal(hosts, "")
    if own_hosts:
        own = "|".join(re.escape(h.lower().removeprefix("www.")) for h in own_hosts)
        empty = pc.or_(empty, pc.match_substring_regex(hosts, f"^(?:[a-z0-9-]+\\.)*(?:{own})$"))
    return pc.if_else(empty, pa.scalar(None, pa.string()), hosts)


_CLICK_ID = "(?i)^[^#]*?[?&](?P<kind>" + "|".join(CLICK_ID_PARAMETERS) + ")=[^&#]"


def click_id_kind(urls: Column) -> pa.Array:
    """Which ad click id each landing URL carries (``gclid``, ``fbclid``…), else null.

    The first recognised parameter (:data:`CLICK_ID_PARAMETERS`) with a non-empty
    value in the query string wins; parameters after ``#`` do not count.
    """
    arr = _string_array(urls, None)
    return pc.utf8_lower(pc.struct_field(pc.extract_regex(arr, _CLICK_ID), [0]))
