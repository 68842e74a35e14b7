"""cintel: customer intelligence.

Connectors and sinks are plugins found through entry points in group
``cintel``; a :class:`Pipeline` syncs sources into a sink incrementally.
"""

from __future__ import annotations

from cintel.errors import (
    CintelError,
    ConfigError,
    DuplicatePluginError,
    ErrorBudgetExceeded,
    PipelineLockedError,
    PluginError,
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

__version__ = "0.1.0"

__all__ = [
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
    "PipelineLockedError",
    "PluginError",
    "Plugins",
    "RecordBatch",
    "RunFailedError",
    "RunRecord",
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
