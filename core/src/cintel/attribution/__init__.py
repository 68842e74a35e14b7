"""Cross-channel attribution: channel grouping and attribution models.

:mod:`cintel.attribution.channels` assigns each touchpoint a channel (GA4's default
channel group unless configured otherwise); :mod:`cintel.attribution.models` holds
the models (rule-based, Markov, Shapley) that split each conversion among the
touchpoints and channels of its journey.
"""

from __future__ import annotations

from cintel.attribution.channels import ChannelRule, ChannelRules, classify
from cintel.attribution.models import (
    BUILTIN_MODELS,
    AttributionModel,
    ChannelCredit,
    Journeys,
    MarkovAttribution,
    PathAttribution,
    Paths,
    register_builtin_models,
)

__all__ = [
    "BUILTIN_MODELS",
    "AttributionModel",
    "ChannelCredit",
    "ChannelRule",
    "ChannelRules",
    "Journeys",
    "MarkovAttribution",
    "PathAttribution",
    "Paths",
    "classify",
    "register_builtin_models",
]
