"""Every hook a cintel plugin can implement.

A plugin is a module found through an entry point in group ``cintel``::

    # pyproject.toml
    [project.entry-points.cintel]
    acme = "cintel_acme.plugin"

    # cintel_acme/plugin.py
    from cintel import hookimpl

    @hookimpl
    def cintel_connectors(register):
        register(AcmeConnector)

Registration hooks receive a ``register`` callable instead of returning lists,
so a clash of names is reported with both plugins named. Lifecycle hooks are
called once per run or once per committed **batch**, never per record.
Every hook is optional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from cintel.pipeline import BatchInfo, RunContext, RunResult
    from cintel.sink import Sink
    from cintel.source import Connector

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("cintel")
hookimpl = pluggy.HookimplMarker("cintel")


@hookspec
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register source connector classes.

    Called once when a plugin manager loads. Call ``register(ConnectorClass)``
    for each connector; its ``name`` is what ``connector:`` in ``cintel.yaml``
    refers to. Two plugins registering one name is an error naming both.
    """


@hookspec
def cintel_sinks(register: Callable[[type[Sink]], None]) -> None:
    """Register sink classes; ``sink:`` in ``cintel.yaml`` refers to their ``name``."""


@hookspec
def cintel_attribution_models(register: Callable[[str, Any], None]) -> None:
    """Register attribution models: ``register(name, model)``."""


@hookspec
def cintel_identity_matchers(register: Callable[[str, Any], None]) -> None:
    """Register identity matchers for the unify step: ``register(name, matcher)``."""


@hookspec
def cintel_register_commands(cli: Any) -> None:
    """Add commands to the ``cintel`` CLI; ``cli`` is the root ``typer.Typer``."""


@hookspec
def cintel_run_started(run: RunContext) -> None:
    """A sync run started (after the lock was taken). All implementations are called."""


@hookspec
def cintel_batch_committed(run: RunContext, batch: BatchInfo) -> None:
    """A batch and its state were committed by the sink: counts, not records."""


@hookspec
def cintel_run_finished(run: RunContext, result: RunResult) -> None:
    """A sync run ended, successfully or not; ``result.status`` says which."""
