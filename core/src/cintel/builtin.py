"""cintel's own plugins, found like anyone else's: through the entry point ``cintel-builtin``
(group ``cintel``) in cintel's ``pyproject.toml``.

They register the built-in identity matcher (``splink``, see
:mod:`cintel.identity.matchers`) and the built-in attribution models (see
:mod:`cintel.attribution.models`). Nothing heavy is imported here: Splink loads only
when the probabilistic stage runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cintel.hookspecs import hookimpl

__all__ = ["cintel_attribution_models", "cintel_identity_matchers"]


@hookimpl
def cintel_identity_matchers(register: Callable[[str, Any], None]) -> None:
    """The built-in Splink matcher."""
    from cintel.identity.matchers import SplinkMatcher

    register("splink", SplinkMatcher())


@hookimpl
def cintel_attribution_models(register: Callable[[str, Any], None]) -> None:
    """The built-in models: rule-based, Markov and Shapley."""
    from cintel.attribution.models import register_builtin_models

    register_builtin_models(register)
