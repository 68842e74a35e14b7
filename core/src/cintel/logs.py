"""Logging: structlog configuration and secret redaction.

Every secret value a pipeline knows (``SecretStr`` fields of connector and sink
configs) is registered with :func:`register_secrets`; the redaction processor
replaces it with ``**********`` in every log line, and :func:`redact` does the
same for error texts stored in the runs and dead-letter tables.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["collect_secrets", "configure_logging", "redact", "register_secrets"]

MASK = "**********"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Add secret values to redact from logs and error texts (values shorter than 4 are ignored)."""
    with _secrets_lock:
        _secrets.update(v for v in values if len(v) >= 4)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by a mask."""
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def collect_secrets(value: Any) -> list[str]:
    """Secret values inside a pydantic model (nested models, lists and dicts included)."""
    found: list[str] = []
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, SecretBytes):
        found.append(value.get_secret_value().decode(errors="replace"))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(collect_secrets(getattr(value, name)))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(collect_secrets(item))
    elif isinstance(value, list | tuple | set):
        for item in value:
            found.extend(collect_secrets(item))
    return found


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if not _secrets:
        return event_dict
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = redact(value)
        elif isinstance(value, BaseException):
            event_dict[key] = redact(f"{type(value).__name__}: {value}")
    return event_dict


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def configure_logging(fmt: str = "console", level: str = "warning") -> None:
    """Configure structlog for the CLI: console or JSON lines on stderr, secrets redacted."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, 30)),
        # looked up at each call: follows sys.stderr when it is swapped (pytest, notebooks)
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def ensure_logging() -> None:
    """Configure logging from ``CINTEL_LOG_*`` unless the application already configured structlog.

    An embedding service that configures structlog keeps its setup (and should
    add :func:`redaction_processor`); otherwise cintel logs warnings and errors
    to stderr, secrets redacted, instead of structlog's default of printing
    everything to stdout unredacted.
    """
    if structlog.is_configured():
        return
    from cintel.settings import CintelSettings

    settings = CintelSettings()
    configure_logging(settings.log_format, settings.log_level)


#: The redaction step, for applications that configure structlog themselves.
redaction_processor = _redact_processor
