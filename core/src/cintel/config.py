"""Pipeline configuration: ``cintel.yaml`` validated into typed models.

::

    name: quickstart                 # pipeline name (state, runs and lock are per name)
    sources:
      crm:                           # source name, used in table names
        connector: files             # a registered connector
        config: {...}                # that connector's own config model
        streams: [contacts]          # optional selection (all when omitted)
    destination:                     # optional: DuckDB file cintel.duckdb by default
      sink: duckdb
      config: {path: cintel.duckdb}
    run:
      concurrency: 4
      batch_size: 10000
      max_bad_records: 1%

Strings may use ``${VAR}`` or ``${VAR:-default}``; a variable that is not set
is an error naming the field. Relative paths are relative to the config file.
Every error names the field path, e.g. ``sources.crm.config.path: file not found``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cintel.attribution.config import AttributionConfig
from cintel.errors import ConfigError
from cintel.identity.config import IdentityConfig
from cintel.source import WriteDisposition

__all__ = [
    "DestinationConfig",
    "ErrorBudget",
    "PipelineConfig",
    "RunOptions",
    "SourceConfig",
    "StreamSelection",
    "format_validation_error",
    "interpolate_env",
    "is_manifest_reference",
    "load_config",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def is_manifest_reference(name: str) -> bool:
    """Whether ``connector:`` names a manifest file (``./acme.yaml``) rather than a plugin."""
    return name.endswith((".yaml", ".yml")) or "/" in name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBudget(_Strict):
    """How many bad records a stream may send to the dead-letter table before the run fails."""

    count: int | None = Field(None, ge=0, description="Absolute number of bad records allowed.")
    fraction: float | None = Field(
        None, ge=0, le=1, description="Share of the stream's records allowed to be bad."
    )

    @classmethod
    def parse(cls, value: Any) -> ErrorBudget:
        """Read ``10``, ``"10"``, ``"1%"`` or ``0.01`` (a fraction below 1)."""
        if isinstance(value, ErrorBudget):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a count like 100 or a percentage like '1%'")  # noqa: TRY004
        if isinstance(value, int):
            return cls(count=value)
        if isinstance(value, float):
            if 0 <= value < 1:
                return cls(fraction=value)
            if value.is_integer():
                return cls(count=int(value))
        if isinstance(value, str):
            text = value.strip()
            try:
                if text.endswith("%"):
                    return cls(fraction=float(text[:-1]) / 100)
                return cls(count=int(text))
            except ValueError:
                pass
        raise ValueError(f"expected a count like 100 or a percentage like '1%', got {value!r}")

    def exceeded(self, bad: int, total: int) -> bool:
        """Whether ``bad`` out of ``total`` records breaks the budget."""
        if self.count is not None and bad > self.count:
            return True
        return self.fraction is not None and total > 0 and bad / total > self.fraction

    def __str__(self) -> str:
        if self.fraction is not None:
            return f"{self.fraction * 100:g}%"
        return str(self.count)


class StreamSelection(_Strict):
    """A selected stream, optionally overriding its write disposition."""

    name: str = Field(description="Stream name as `cintel discover` lists it.")
    write_disposition: WriteDisposition | None = Field(
        None, description="append, merge (upsert by primary key) or replace."
    )


class SourceConfig(_Strict):
    """One source of the pipeline."""

    connector: str = Field(description="Name of a registered connector (see `cintel plugins`).")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The connector's own settings (see its docs)."
    )
    streams: list[StreamSelection] | None = Field(
        None, description="Streams to sync; all of the connector's streams when omitted."
    )

    @field_validator("streams", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class DestinationConfig(_Strict):
    """Where the data goes."""

    sink: str = Field("duckdb", description="Name of a registered sink.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The sink's own settings; DuckDB: `path`."
    )


class RunOptions(_Strict):
    """How a sync runs."""

    concurrency: int = Field(4, ge=1, le=64, description="Streams read at the same time.")
    batch_size: int = Field(
        10_000, ge=1, le=1_000_000, description="Records per batch (and per sink transaction)."
    )
    max_bad_records: ErrorBudget = Field(
        default_factory=lambda: ErrorBudget(count=0),
        description="Error budget per stream: a count (`100`) or a share (`1%`).",
    )
    queue_size: int = Field(
        4, ge=1, le=256, description="Batches waiting for the sink; bounds memory."
    )
    switch_interval_us: int = Field(
        100,
        ge=0,
        le=100_000,
        description="Python's thread switch interval during a run, in microseconds (0 keeps "
        "the interpreter's): short, so the sink's native code gets the GIL back quickly "
        "from busy reader threads.",
    )

    @field_validator("max_bad_records", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> ErrorBudget:
        return ErrorBudget.parse(value)


class PipelineConfig(_Strict):
    """A whole ``cintel.yaml``."""

    name: str = Field(
        "cintel",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Pipeline name: state, runs and the lock are kept per name.",
    )
    sources: dict[str, SourceConfig] = Field(description="Sources by name.")
    destination: DestinationConfig = Field(
        default_factory=DestinationConfig,
        description="The sink; a DuckDB file `cintel.duckdb` beside the config when omitted.",
    )
    run: RunOptions = Field(default_factory=RunOptions, description="Run options.")
    identity: IdentityConfig = Field(
        default_factory=IdentityConfig,
        description="Normalization, identity resolution guards and golden-record rules.",
    )
    attribution: AttributionConfig = Field(
        default_factory=AttributionConfig,
        description="Conversions, journeys, channel grouping and attribution models.",
    )
    base_dir: Path = Field(
        default_factory=Path.cwd,
        exclude=True,
        description="Directory relative paths are resolved against.",
    )

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        if not value:
            raise ValueError("at least one source is required")
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ValueError(f"source name {name!r} may only use letters, digits, _ and -")
        return value


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in {"function-after[_budget(), ErrorBudget]"}:
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Turn a pydantic error into ``(field path, message)`` pairs, paths prefixed."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _loc(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        problems.append((path, msg))
    return problems


def interpolate_env(value: Any, env: Mapping[str, str] | None = None, path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value``."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        missing: list[str] = []

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        result = _ENV.sub(sub, value)
        if missing:
            raise ConfigError([(path, f"environment variable {missing[0]} is not set")])
        return result
    if isinstance(value, dict):
        return {
            k: interpolate_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate_env(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read, interpolate and validate a ``cintel.yaml``; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML{where}: {problem}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "the file must hold a mapping (name, sources, destination, run)", file=str(path)
        )
    try:
        data = interpolate_env(data, env)
    except ConfigError as exc:
        raise ConfigError(exc.problems, file=str(path)) from None
    data["base_dir"] = path.resolve().parent
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), file=str(path)) from None
