"""Errors raised by cintel.

Every error cintel raises on purpose derives from :class:`CintelError`, so a
caller embedding the library can catch one type. The messages are written for
the person at the terminal; context (source, stream, config path) is kept as
attributes too.

::

    CintelError
    ├── ConfigError              a pipeline or connector config is invalid (CLI exit code 2)
    ├── PluginError              a plugin could not be loaded or registered
    │   └── DuplicatePluginError two plugins claim the same name
    ├── UnknownPluginError       a config names a connector or sink nobody provides
    ├── PipelineLockedError      another sync of the same pipeline is running
    ├── SourceError              a connector failed while checking or reading
    │   └── HttpError            an HTTP request failed for good (status, method, safe URL)
    │       ├── AuthError        the API rejected the credentials (401/403, refresh failed)
    │       ├── RateLimitError   the rate limit did not clear within the retry budget
    │       └── ResponseError    the response was not what the API documents (malformed body)
    ├── SinkError                a sink failed to write or read
    └── RunFailedError           a run finished, but not successfully (CLI exit code 1)
        └── ErrorBudgetExceeded  too many records went to the dead-letter table
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "CintelError",
    "ConfigError",
    "DuplicatePluginError",
    "ErrorBudgetExceeded",
    "HttpError",
    "PipelineLockedError",
    "PluginError",
    "RateLimitError",
    "ResponseError",
    "RunFailedError",
    "SinkError",
    "SourceError",
    "UnknownPluginError",
]


class CintelError(Exception):
    """Root of every error cintel raises on purpose."""


class ConfigError(CintelError):
    """A configuration is invalid.

    ``problems`` holds ``(path, message)`` pairs such as
    ``("sources.crm.config.path", "file not found")``.
    """

    def __init__(self, problems: list[tuple[str, str]] | str, *, file: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = problems
        self.file = file
        lines = [f"{path}: {msg}" if path else msg for path, msg in problems]
        head = f"invalid config {file}" if file else "invalid config"
        if len(lines) == 1:
            text = f"{head}: {lines[0]}"
        else:
            text = head + ":\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(text)


class PluginError(CintelError):
    """A plugin could not be loaded or registered."""

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(message)


class DuplicatePluginError(PluginError):
    """Two plugins registered a connector, sink or model under the same name."""


class UnknownPluginError(CintelError):
    """A config names a connector, sink or model that no installed plugin provides."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = available
        known = ", ".join(sorted(available)) or "none"
        super().__init__(f"unknown {kind} {name!r} (installed: {known}); see `cintel plugins`")


class PipelineLockedError(CintelError):
    """Another sync of the same pipeline holds the lock."""

    def __init__(self, pipeline: str, holder: str | None = None) -> None:
        self.pipeline = pipeline
        self.holder = holder
        who = f" (held by {holder})" if holder else ""
        super().__init__(
            f"pipeline {pipeline!r} is already being synced by another process{who}; "
            "wait for it to finish or stop it"
        )


class SourceError(CintelError):
    """A connector failed while checking or reading a stream."""

    def __init__(
        self, message: str, *, source: str | None = None, stream: str | None = None
    ) -> None:
        self.source = source
        self.stream = stream
        where = ".".join(p for p in (source, stream) if p)
        super().__init__(f"{where}: {message}" if where else message)


class HttpError(SourceError):
    """An HTTP request failed for good (after retries where they make sense).

    ``status`` is ``None`` when no response arrived (connection refused, timeout).
    ``url`` never holds a secret: credentials in the query string and user info
    are masked before the error is built. ``body`` is a short excerpt.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int | None = None,
        body: str = "",
        attempts: int = 1,
        source: str | None = None,
        stream: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        self.attempts = attempts
        head = f"{method} {url}"
        if status is not None:
            head += f" -> HTTP {status}"
        text = f"{head}: {message}"
        if attempts > 1:
            text += f" (after {attempts} attempts)"
        if body:
            text += f"; response body: {body}"
        super().__init__(text, source=source, stream=stream)


class AuthError(HttpError):
    """The API rejected the credentials: check the token, key or OAuth grant."""


class RateLimitError(HttpError):
    """The API kept rate limiting beyond the retry budget (or asked for a longer wait)."""


class ResponseError(HttpError):
    """A response could not be used: not JSON, or not the shape the API documents."""


class SinkError(CintelError):
    """A sink failed to write or read."""

    def __init__(self, message: str, *, sink: str | None = None, table: str | None = None) -> None:
        self.sink = sink
        self.table = table
        super().__init__(message)


class RunFailedError(CintelError):
    """A run finished, but not successfully; ``result`` holds what it did."""

    def __init__(self, message: str, result: object | None = None) -> None:
        self.result = result
        super().__init__(message)


class ErrorBudgetExceeded(RunFailedError):
    """More records went to the dead-letter table than the error budget allows."""
