"""The ``identity:`` section of ``cintel.yaml``: normalization, stitching guards, survivorship.

::

    identity:
      normalize: {phone_region: GB}
      identifiers:                      # priority 1 is the strongest; limit is per customer
        user_id: {priority: 1, limit: 1}
        email: {priority: 2, limit: 5}
      blocklist:
        email: ['^info@', '@example\\.org$']
      max_profiles_per_identifier: 3
      survivorship:
        source_priority: [crm, web]
        attributes: {title: source_priority}

The defaults follow Segment Unify's: at most one ``user_id`` and five of any other
type per customer, priority ``user_id`` > ``email`` > the rest, and placeholder
values (``0``, ``-1``, ``null``, ``anonymous``, ``test@…``, ``noreply@…``) never merge.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cintel.identity.normalize import NormalizeSettings

__all__ = [
    "DEFAULT_BLOCKLIST",
    "GOLDEN_ATTRIBUTES",
    "IdentifierRule",
    "IdentityConfig",
    "ProbabilisticConfig",
    "SurvivorshipConfig",
]

#: Values that never identify anyone (matched case-insensitively against the normalized value).
DEFAULT_BLOCKLIST: dict[str, list[str]] = {
    "*": [
        r"^[0-]*$",
        r"^-1$",
        r"^(null|none|nil|nan|undefined|anonymous|unknown|n/?a|test|guest|default)$",
    ],
    "email": [
        r"^(test|noreply|no-reply|donotreply|do-not-reply|mailer-daemon|postmaster)@",
        r"@(test\.com|mailinator\.com)$",
    ],
    "phone": [r"^\+\d{0,3}0{7,}$", r"^\+\d{0,3}1234567(89?)?$"],
}

SurvivorshipRule = Literal["most_recent", "source_priority", "most_frequent"]
#: Golden-record attributes taken from source profiles by survivorship.
GOLDEN_ATTRIBUTES = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "company",
    "title",
    "city",
    "country",
)
#: Profile attributes the probabilistic stage can compare.
Comparison = Literal[
    "first_name", "last_name", "email", "phone", "birth_date", "postal_code", "city", "street"
]
_DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    "first_name",
    "last_name",
    "email",
    "birth_date",
    "postal_code",
    "city",
)
#: What blocking rules may require equal: the attributes, an email's local part
#: (before the ``@``; catches a typo in the domain) or its domain, and ``email_typo``:
#: the email with one character of its local part deleted, any one (two emails one
#: typo apart, a letter dropped, added, changed or two swapped, share such a variant).
BlockingKey = Literal[
    "first_name",
    "last_name",
    "email",
    "email_local",
    "email_domain",
    "email_typo",
    "phone",
    "birth_date",
    "postal_code",
    "city",
    "street",
]
_DEFAULT_BLOCKING: tuple[tuple[BlockingKey, ...], ...] = (
    ("first_name", "last_name"),
    ("last_name", "birth_date"),
    ("first_name", "postal_code"),
    ("last_name", "postal_code"),
    ("email_local",),
    ("email_typo",),
)
_DEFAULT_EM_BLOCKING: tuple[BlockingKey, ...] = ("first_name", "last_name")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentifierRule(_Strict):
    """How one identifier type takes part in stitching."""

    priority: int = Field(ge=1, description="1 is the strongest; ties are broken by type name.")
    limit: int | None = Field(
        None, ge=1, description="Most values of this type one customer may hold; none = no limit."
    )


class SurvivorshipConfig(_Strict):
    """Which source's value a customer's golden attribute takes."""

    default: SurvivorshipRule = Field(
        "most_recent", description="Rule for attributes not listed in `attributes`."
    )
    attributes: dict[str, SurvivorshipRule] = Field(
        default_factory=dict, description="Per attribute rule, e.g. {title: source_priority}."
    )
    source_priority: list[str] = Field(
        default_factory=list,
        description="Sources in order of trust for `source_priority` (unlisted ones come last).",
    )

    @field_validator("attributes")
    @classmethod
    def _known(cls, value: dict[str, SurvivorshipRule]) -> dict[str, SurvivorshipRule]:
        unknown = sorted(set(value) - set(GOLDEN_ATTRIBUTES))
        if unknown:
            raise ValueError(
                f"unknown golden attribute(s) {', '.join(unknown)}; "
                f"known: {', '.join(GOLDEN_ATTRIBUTES)}"
            )
        return value


class ProbabilisticConfig(_Strict):
    """The optional probabilistic stage (extra ``cintel[probabilistic]``, Splink).

    After deterministic stitching, source profiles of *different* customers are
    compared on names, email, dates and addresses (Fellegi-Sunter); a pair whose
    match probability reaches ``threshold`` merges the two customers, unless the
    merge would break an identifier limit (then it is refused and recorded).
    """

    enabled: bool = Field(False, description="Run the probabilistic stage after stitching.")
    matcher: str = Field(
        "splink", description="Registered identity matcher (plugin hook cintel_identity_matchers)."
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Match probability from which a pair merges two customers."
    )
    comparisons: list[Comparison] = Field(
        default_factory=lambda: list(_DEFAULT_COMPARISONS),
        min_length=1,
        description="Profile attributes compared (names fuzzily, email by edit distance, dates "
        "within a tolerance, postal code and city exactly, as one location comparison when "
        "both are listed).",
    )
    blocking: list[list[BlockingKey]] = Field(
        default_factory=lambda: [list(rule) for rule in _DEFAULT_BLOCKING],
        min_length=1,
        description="Blocking rules: two profiles are only compared when all the attributes "
        "of at least one rule are equal.",
    )
    em_blocking: list[BlockingKey] | None = Field(
        default_factory=lambda: list(_DEFAULT_EM_BLOCKING),
        min_length=1,
        description="Profiles of different customers equal on these attributes are the "
        "sample on which expectation maximisation refines the m values (how matches that "
        "stitching missed compare); none = m values from the deterministic customers only.",
    )
    u_max_pairs: int = Field(
        1_000_000,
        ge=10_000,
        description="Random pairs sampled to estimate how often non-matches agree (u values); "
        "a level never seen among them counts as seen once.",
    )
    deterministic_recall: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Share of true matches the deterministic stage is taken to find; sets the "
        "prior probability that two random profiles match.",
    )
    seed: int = Field(1, description="Seed of the random sampling, so re-runs agree.")

    @field_validator("comparisons")
    @classmethod
    def _distinct(cls, value: list[Comparison]) -> list[Comparison]:
        if len(set(value)) != len(value):
            raise ValueError("an attribute is listed twice")
        return value

    @field_validator("blocking")
    @classmethod
    def _rules(cls, value: list[list[BlockingKey]]) -> list[list[BlockingKey]]:
        for i, rule in enumerate(value):
            if not rule:
                raise ValueError(f"rule {i} is empty; list at least one attribute")
        return value


class IdentityConfig(_Strict):
    """Normalization, stitching guards and golden-record rules."""

    unify: bool = Field(True, description="Run the unify step after each `cintel sync`.")
    normalize: NormalizeSettings = Field(
        default_factory=NormalizeSettings, description="How identifiers and names are normalized."
    )
    identifiers: dict[str, IdentifierRule] = Field(
        default_factory=dict,
        description="Rules per identifier type, over the defaults user_id {1, 1}, email {2, 5}.",
    )
    default_priority: int = Field(10, ge=1, description="Priority of types without a rule.")
    default_limit: int | None = Field(
        5, ge=1, description="Per-customer limit of types without a rule; none = no limit."
    )
    blocklist: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Regular expressions per identifier type ('*' for all) that never merge.",
    )
    default_blocklist: bool = Field(
        True, description="Also block placeholder values (0, -1, null, test@…, noreply@…)."
    )
    max_profiles_per_identifier: int | None = Field(
        3,
        ge=1,
        description=(
            "Refuse to merge through an identifier held by more than this many profiles of "
            "one source (a shared info@ address, a family tablet); none = no limit."
        ),
    )
    survivorship: SurvivorshipConfig = Field(
        default_factory=SurvivorshipConfig, description="Golden-record survivorship."
    )
    probabilistic: ProbabilisticConfig = Field(
        default_factory=ProbabilisticConfig, description="Optional Splink matching stage."
    )

    @field_validator("blocklist")
    @classmethod
    def _patterns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, patterns in value.items():
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{kind}[{i}]: not a regular expression: {exc}") from None
                if re.search(r"\\[1-9]|\(\?[=!<]", pattern):
                    raise ValueError(
                        f"{kind}[{i}]: back-references and look-arounds are not supported "
                        "(patterns run in the store's SQL engine, RE2 syntax)"
                    )
        return value

    def rule(self, kind: str) -> IdentifierRule:
        """The rule for an identifier type (configured, default, or the fallback)."""
        if kind in self.identifiers:
            return self.identifiers[kind]
        defaults = {
            "user_id": IdentifierRule(priority=1, limit=1),
            "email": IdentifierRule(priority=2, limit=5),
        }
        return defaults.get(
            kind, IdentifierRule(priority=self.default_priority, limit=self.default_limit)
        )

    def blocked_patterns(self) -> dict[str, list[str]]:
        """Blocklist per type (``*`` = every type), defaults included unless turned off."""
        merged: dict[str, list[str]] = {}
        if self.default_blocklist:
            for kind, patterns in DEFAULT_BLOCKLIST.items():
                merged.setdefault(kind, []).extend(patterns)
        for kind, patterns in self.blocklist.items():
            merged.setdefault(kind, []).extend(patterns)
        return merged
