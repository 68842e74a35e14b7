"""The ``attribution:`` section of ``cintel.yaml``: conversions, journeys, channels, models.

::

    attribution:
      lookback_days: 30                 # a journey holds the touchpoints of the 30 days
      session_timeout_minutes: 30       #   before its conversion (since the previous one)
      goals:                            # what counts as a conversion (default: every
        - name: purchase                #   row of the conversions table)
          types: [purchase]
        - name: signup
          events: [Signed Up]           # touchpoint event types that count as conversions
          value: 20
      channels:
        own_domains: [northwind.example]
        rules:                          # tried before GA4's default channel group
          - {name: Partners, medium: partner}
      models:                           # default: every registered model, default settings
        markov: {order: 1}
        markov_2: {model: markov, order: 2}
        time_decay: {half_life_days: 3}

Every field has a default; ``cintel sync`` runs attribution after unify unless
``enabled: false`` (or ``--no-attribution``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cintel.attribution.channels import ChannelRule, ChannelRules

__all__ = [
    "DEFAULT_EXCLUDED_EVENTS",
    "AttributionConfig",
    "ChannelGroupingConfig",
    "ConversionGoal",
    "glob_regex",
]

#: Touchpoint event types that are no touch (globs, case-insensitive): a mail sent is
#: not a mail read, a bounce never arrived, and opens are mostly machines' since mail
#: apps prefetch images (Apple's Mail Privacy Protection): a click is the touch.
DEFAULT_EXCLUDED_EVENTS = (
    "*sent",
    "*open",
    "*opened",
    "*bounce*",
    "*unsubscribe*",
    "*delivered",
    "*spam*",
    "*dropped",
)

Dimension = Literal["channel", "campaign"]
_DIMENSIONS: tuple[Dimension, ...] = ("channel", "campaign")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def glob_regex(pattern: str) -> str:
    """A shell-style glob (``*``, ``?``) as an anchored regex that RE2 and Java accept."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char.isalnum() or char in " _-":
            parts.append(char)
        else:
            parts.append("[" + char + "]" if char not in "\\^]" else "\\" + char)
    return "^" + "".join(parts) + "$"


class ConversionGoal(_Strict):
    """One kind of conversion, attributed on its own.

    With neither ``types`` nor ``events``, every row of the ``conversions`` table
    counts.
    """

    name: str = Field(
        "conversion",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.\- ]+$",
        description="Name of the goal in the output tables.",
    )
    types: list[str] | None = Field(
        None,
        description="Conversion types (the `type` of conversions rows, e.g. purchase) that "
        "count; none = all of them (unless `events` is given).",
    )
    events: list[str] = Field(
        default_factory=list,
        description="Touchpoint event types (e.g. `Signed Up`) that count as conversions too.",
    )
    value: float | None = Field(
        None,
        description="A fixed value for each conversion of this goal, instead of the row's "
        "`value` (conversions from `events` are worth 0 unless this is set).",
    )
    currency: str | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="Only conversions in this currency (or without one) count.",
    )

    @property
    def reads_conversions(self) -> bool:
        """Whether rows of the ``conversions`` table count for this goal."""
        return self.types is not None or not self.events


class ChannelGroupingConfig(_Strict):
    """How touchpoints get their channel (GA4's default channel group unless told)."""

    rules: list[ChannelRule] = Field(
        default_factory=list,
        description="Rules tried in order before the defaults (first match wins); see "
        "docs/attribution.md.",
    )
    extend_default: bool = Field(
        True, description="Keep GA4's default rules after yours; false = yours alone."
    )
    fallback: str = Field("Unassigned", min_length=1, description="Channel no rule matches.")
    own_domains: list[str] | None = Field(
        None,
        description="The site's own hosts: a referrer on them is internal navigation, not a "
        "referral. Default: the hosts of the touchpoints' own URLs.",
    )
    direct: list[str] = Field(
        default_factory=lambda: ["Direct"],
        description="Channels that count as direct (for last_non_direct).",
    )

    def ruleset(self) -> ChannelRules:
        """The rules to classify with."""
        return ChannelRules.from_config(
            self.rules, extend_default=self.extend_default, fallback=self.fallback
        )


class AttributionConfig(_Strict):
    """Journeys, conversions, channel grouping and models of the attribution step."""

    enabled: bool = Field(True, description="`cintel sync` runs attribution after unify.")
    lookback_days: float = Field(
        30, gt=0, le=3660, description="Touchpoints older than this before a conversion drop out."
    )
    session_timeout_minutes: float = Field(
        30,
        gt=0,
        description="Touchpoints of a customer less than this apart are one session, one "
        "touch: a new touch starts after a pause, or when a touchpoint brings another channel.",
    )
    goals: list[ConversionGoal] = Field(
        default_factory=lambda: [ConversionGoal()],
        min_length=1,
        description="What counts as a conversion; each goal is attributed on its own.",
    )
    channels: ChannelGroupingConfig = Field(
        default_factory=ChannelGroupingConfig, description="Channel grouping."
    )
    exclude_events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDED_EVENTS),
        description="Touchpoint event types (globs, case-insensitive) that are not touches.",
    )
    models: dict[str, dict[str, Any]] | None = Field(
        None,
        description="Models to run by output name, each with its settings (`model:` names the "
        "registered model when the output name differs). Default: every registered model.",
    )
    dimensions: list[Dimension] = Field(
        default_factory=lambda: list(_DIMENSIONS),
        min_length=1,
        description="What the summary credits: channels, campaigns (utm_campaign) or both.",
    )
    empty_journey_channel: str = Field(
        "Direct",
        min_length=1,
        description="Channel credited with a conversion that has no touchpoint in its window.",
    )

    @field_validator("goals")
    @classmethod
    def _distinct_goals(cls, value: list[ConversionGoal]) -> list[ConversionGoal]:
        names = [g.name for g in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"goal name(s) used twice: {', '.join(twice)}")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _list_of_names(cls, value: Any) -> Any:
        if isinstance(value, list):  # models: [linear, markov] is models: {linear: {}, …}
            return {str(name): {} for name in value}
        return value

    @field_validator("models")
    @classmethod
    def _names(cls, value: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one model, or leave `models` out for all of them")
        for name, settings in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"model name {name!r}: use letters, digits and _")
            if settings is None:
                value[name] = {}
            elif not isinstance(settings, dict):
                raise ValueError(f"{name}: settings must be a mapping")
        return value

    @model_validator(mode="after")
    def _dimensions_once(self) -> AttributionConfig:
        self.dimensions = list(dict.fromkeys(self.dimensions))
        return self

    def excluded_regex(self) -> str | None:
        """One regex for ``exclude_events`` (matched against the lower-cased event type)."""
        if not self.exclude_events:
            return None
        return "|".join(f"(?:{glob_regex(p.lower())})" for p in self.exclude_events)
