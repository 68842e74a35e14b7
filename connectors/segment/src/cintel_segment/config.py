"""Config of the ``segment`` connector: where the export is and how events map.

::

    sources:
      web:
        connector: segment
        config:
          path: s3://acme-events/segment-logs/Xy12AbC
          storage_options: {key: "${AWS_ACCESS_KEY_ID}", secret: "${AWS_SECRET_ACCESS_KEY}"}
          conversions:
            events: [Order Completed]

``path`` is a local directory or file (relative to the pipeline config's
directory) or any fsspec URL. ``storage_options`` go to the fsspec filesystem;
values under secret-looking keys become ``SecretStr`` (redacted everywhere).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from cintel import ConnectorConfig
from cintel.mapping import CanonicalSpec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "ConversionsConfig",
    "Layout",
    "SegmentConfig",
    "TouchpointsConfig",
    "display_url",
    "is_secret_option",
    "protocol_of",
    "reveal",
]

Layout = Literal["auto", "segment", "rudderstack"]
TouchType = Literal["page", "screen", "track"]

#: Keys of ``storage_options`` whose values are secrets (matched anywhere in the key).
_SECRET_KEY = re.compile(
    r"key|secret|token|password|passwd|credential|sas|connection_string|signature|auth",
    re.IGNORECASE,
)
#: Values of such keys that name a mode rather than hold a secret (gcsfs ``token``).
_NOT_SECRET_VALUES = frozenset({"anon", "cloud", "google_default", "browser", "cache", "true"})
#: Protocol -> what to install, for the messages of a missing implementation.
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "adl": "adlfs",
    "hf": "huggingface_hub",
    "sftp": "paramiko",
    "ssh": "paramiko",
    "http": "aiohttp",
    "https": "aiohttp",
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_secret_option(key: str, value: Any) -> bool:
    """Whether a ``storage_options`` entry holds a secret (by its key's name)."""
    if not isinstance(value, str) or not _SECRET_KEY.search(key):
        return False
    return value.strip().lower() not in _NOT_SECRET_VALUES


def _protect(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            out[key] = _protect(value)
        elif is_secret_option(str(key), value):
            out[key] = SecretStr(value)
        else:
            out[key] = value
    return out


def reveal(options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` with their secrets as plain strings, for fsspec (never logged)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, SecretStr):
            out[key] = value.get_secret_value()
        elif isinstance(value, dict):
            out[key] = reveal(value)
        else:
            out[key] = value
    return out


def protocol_of(path: str) -> str | None:
    """The URL scheme of ``path`` (``s3``, ``memory``…), ``None`` for a plain local path."""
    if not _URL.match(path):
        return None
    return path.split("://", 1)[0].lower()


def display_url(path: str) -> str:
    """``path`` as shown in messages: a URL without its user info."""
    if protocol_of(path) is None:
        return path
    parts = urlsplit(path)
    if "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"***@{host}").geturl()
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversionsConfig(_Strict):
    """Which track events are conversions, and where their value and currency are."""

    events: dict[str, str] = Field(
        default_factory=lambda: {"Order Completed": "purchase"},
        description=(
            "Track event names that are conversions: a list (each gets `type`) or a "
            "mapping event name -> conversion type (`{Order Completed: purchase, "
            "Signed Up: signup}`)."
        ),
    )
    type: str = Field(
        "purchase",
        min_length=1,
        description="Conversion type of the events given as a list.",
    )
    id_fields: list[str] = Field(
        default_factory=lambda: ["properties.order_id", "properties.checkout_id"],
        description=(
            "Dotted paths tried in order for the conversion id; the event's `messageId` "
            "when none is set."
        ),
    )
    value_fields: list[str] = Field(
        default_factory=lambda: ["properties.revenue", "properties.total", "properties.value"],
        description="Dotted paths tried in order for the conversion value.",
    )
    currency_field: str = Field(
        "properties.currency", description="Dotted path of the currency code."
    )
    default_currency: str | None = Field(
        "USD",
        description="Currency of a conversion with a value but no currency (null: leave it empty).",
    )

    @model_validator(mode="before")
    @classmethod
    def _events_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("events"), list | tuple):
            kind = data.get("type", "purchase")
            data = {**data, "events": dict.fromkeys(data["events"], kind)}
        return data

    @field_validator("events")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for event, kind in value.items():
            if not event.strip() or not str(kind).strip():
                raise ValueError("conversion event names and types must not be empty")
        return value


class TouchpointsConfig(_Strict):
    """Which events are touchpoints."""

    types: list[TouchType] = Field(
        default_factory=lambda: list[TouchType](["page", "screen", "track"]),
        description="Event types that become touchpoints.",
    )
    exclude_events: list[str] = Field(
        default_factory=list,
        description="Track event names that are not touchpoints (noisy events, heartbeats).",
    )
    utm_from_url: bool = Field(
        True,
        description=(
            "Fill utm parameters missing from `context.campaign` from the page URL's "
            "query string (server-side events often only carry the URL)."
        ),
    )


class SegmentConfig(ConnectorConfig):
    """Config of the ``segment`` connector."""

    path: str = Field(
        description=(
            "The export: a local directory or file (relative to the pipeline config's "
            "directory, `~` expanded) or an fsspec URL such as `s3://bucket/segment-logs/"
            "<source-id>`, `gs://…`, `file://…`, `memory://…`."
        )
    )
    layout: Layout = Field(
        "auto",
        description=(
            "`segment` (folders named by received day in epoch ms), `rudderstack` "
            "(MM-DD-YYYY folders) or `auto` (either, and YYYY-MM-DD / dt=YYYY-MM-DD)."
        ),
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Options of the fsspec filesystem (s3fs: key, secret, endpoint_url, "
            "client_kwargs…). Values of keys that look secret (key, secret, token, "
            "password, credential…) are secrets: redacted in logs and errors."
        ),
    )
    start_date: date | None = Field(
        None, description="Ignore dated folders before this day (YYYY-MM-DD)."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description=(
            "Glob patterns of files not to read, matched against the path relative to "
            "`path` and against the file name (`manifest*.json`, `*/test-source/*`)."
        ),
    )
    lookback_days: int = Field(
        2,
        ge=0,
        le=366,
        description=(
            "Dated folders up to this many days before the newest one read are listed "
            "again on each run, for files that arrive late; older folders are never "
            "listed again."
        ),
    )
    changed_files: Literal["reread", "skip", "fail"] = Field(
        "reread",
        description=(
            "What to do with a file already read whose size or ETag changed: read it "
            "again whole (merge makes that harmless), skip it, or fail the stream. "
            "Each is logged as a warning."
        ),
    )
    dedupe_window: int = Field(
        20_000,
        ge=0,
        description=(
            "Drop an event whose messageId was among the last this-many events of the "
            "run (at least: two generations are kept). 0: only within a batch. The "
            "sink's merge on messageId covers duplicates further apart."
        ),
    )
    max_tracked_files: int = Field(
        2000,
        ge=1,
        description="Files outside dated folders remembered by name (see the docs).",
    )
    pause_gc: bool = Field(
        True,
        description=(
            "Pause Python's cyclic garbage collector while a batch is parsed (never "
            "across a yield); about 1.5x faster."
        ),
    )
    builtin_mapping: bool = Field(
        True,
        description=(
            "Map events onto the canonical tables with the built-in Segment-spec "
            "mapping (false: only the extra `canonical` specs, if any)."
        ),
    )
    touchpoints: TouchpointsConfig = Field(
        default_factory=TouchpointsConfig, description="page/screen/track -> touchpoints."
    )
    conversions: ConversionsConfig = Field(
        default_factory=ConversionsConfig, description="Configured track events -> conversions."
    )
    profiles: bool = Field(True, description="Make a source profile of each `identify` call.")
    alias_previous_id: str = Field(
        "anonymous_id",
        min_length=1,
        description="Identifier type of an `alias` call's `previousId`.",
    )
    email_identifier: bool = Field(
        True,
        description=(
            "Add the email in `context.traits` (or `traits`) to the identifiers of "
            "touchpoints and conversions when the event carries one."
        ),
    )
    canonical: list[CanonicalSpec] = Field(
        default_factory=list,
        description=(
            "Extra declarative canonical specs applied after the built-in mapping "
            "(same form as the files connector's; see docs/canonical-model.md)."
        ),
    )

    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("path must not be empty")
        protocol = protocol_of(value)
        if protocol is None:
            return value
        if "@" in urlsplit(value).netloc and ":" in urlsplit(value).netloc.rsplit("@", 1)[0]:
            raise ValueError(
                "put credentials in storage_options, not in the URL (it is shown in logs)"
            )
        check_protocol(protocol)
        return value

    @field_validator("storage_options")
    @classmethod
    def _secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _protect(value)

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> Self:
        context = info.context if isinstance(info.context, dict) else {}
        if context.get("base_dir") is not None:
            self._base_dir = Path(context["base_dir"])
        return self

    def url(self, default_base: Path) -> str:
        """``path`` as fsspec takes it: URLs as given, local paths absolute."""
        if protocol_of(self.path) is not None:
            return self.path
        expanded = os.path.expanduser(self.path)
        if os.path.isabs(expanded):
            return expanded
        base = self._base_dir if self._base_dir is not None else default_base
        return os.path.join(base, expanded)


def check_protocol(protocol: str) -> None:
    """Raise ``ValueError`` naming the package to install when fsspec cannot serve ``protocol``."""
    import fsspec  # type: ignore[import-untyped]

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        package = _PACKAGES.get(protocol)
        hint = (
            f"pip install {package} (or uv add {package})"
            if package
            else f"install the fsspec implementation of {protocol}://"
        )
        raise ValueError(
            f"reading {protocol}:// URLs needs a package that is not installed: {hint} ({exc})"
        ) from None
    except ValueError:
        raise ValueError(
            f"unknown URL protocol {protocol}:// (fsspec knows s3, gs, az, file, memory, …)"
        ) from None
