"""cintel: customer intelligence.

Connectors and sinks are plugins found through entry points in group
``cintel``; a :class:`Pipeline` syncs sources into a sink incrementally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cintel.errors import (
    AuthError,
    CintelError,
    ConfigError,
    DuplicatePluginError,
    ErrorBudgetExceeded,
    HttpError,
    PipelineLockedError,
    PluginError,
    RateLimitError,
    ResponseError,
    RunFailedError,
    SinkError,
    SourceError,
    UnknownPluginError,
)
from cintel.hookspecs import hookimpl
from cintel.plugins import Plugins
from cintel.sink import DeadLetter, DeadLetterRow, RunRecord, Sink, SinkContext, WriteBatch
from cintel.source import (
    BadRecord,
    CheckResult,
    Connector,
    ConnectorConfig,
    ConnectorContext,
    RecordBatch,
    Stream,
)
from cintel.state import CursorTracker

if TYPE_CHECKING:
    from cintel.pipeline import Pipeline, RunResult

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BadRecord",
    "CheckResult",
    "CintelError",
    "ConfigError",
    "Connector",
    "ConnectorConfig",
    "ConnectorContext",
    "CursorTracker",
    "DeadLetter",
    "DeadLetterRow",
    "DuplicatePluginError",
    "ErrorBudgetExceeded",
    "HttpError",
    "Pipeline",
    "PipelineLockedError",
    "PluginError",
    "Plugins",
    "RateLimitError",
    "RecordBatch",
    "ResponseError",
    "RunFailedError",
    "RunRecord",
    "RunResult",
    "Sink",
    "SinkContext",
    "SinkError",
    "SourceError",
    "Stream",
    "UnknownPluginError",
    "WriteBatch",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # the engine (and its imports) load on first use, not with `import cintel`
    if name in {"Pipeline", "RunResult"}:
        from cintel import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'cintel' has no attribute {name!r}")
