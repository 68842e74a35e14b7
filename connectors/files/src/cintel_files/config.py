"""Config of the ``files`` connector: streams of CSV / JSONL files matched by globs.

::

    sources:
      web:
        connector: files
        config:
          streams:
            - name: events
              path: data/events/*/*.jsonl.gz
              primary_key: [messageId]

Relative paths are resolved against the pipeline config's directory (the
``base_dir`` of the validation context), else against the working directory.
"""

from __future__ import annotations

import codecs
import glob
import os
import re
from pathlib import Path
from typing import Any, Literal, Self

from cintel import ConnectorConfig
from cintel.mapping import CanonicalSpec
from cintel.source import WriteDisposition
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "CsvOptions",
    "FileFormat",
    "FileStreamConfig",
    "FilesConfig",
    "base_dir_from",
    "format_of",
    "has_wildcard",
    "resolve_pattern",
    "static_prefix",
]

FileFormat = Literal["csv", "jsonl"]

_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_NAME = re.compile(r"[A-Za-z0-9_]+")


def has_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` is a glob (``*``, ``?`` or ``[...]``) rather than one path."""
    return any(c in pattern for c in "*?[")


def static_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard (``""`` if none)."""
    parts = pattern.replace(os.sep, "/").split("/")
    fixed: list[str] = []
    for part in parts[:-1]:
        if has_wildcard(part):
            break
        fixed.append(part)
    return "/".join(fixed) if fixed != [""] else "/"


def format_of(name: str) -> FileFormat | None:
    """The format a file name (or a glob's last part) implies; ``None`` if unknown."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return _EXTENSIONS.get(os.path.splitext(lower)[1])


def base_dir_from(info: ValidationInfo) -> Path:
    """The directory relative paths are relative to: ``context["base_dir"]`` or the cwd."""
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def resolve_pattern(path: str, base_dir: Path) -> str:
    """``path`` (a file or a glob) made absolute against ``base_dir``."""
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.join(base_dir, expanded)


def _matches(pattern: str) -> list[str]:
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CsvOptions(_Strict):
    """How CSV files are parsed (the ``csv`` module's dialect options)."""

    delimiter: str | None = Field(
        None,
        min_length=1,
        max_length=1,
        description="Field separator; `,` by default, a tab for `.tsv` files.",
    )
    quotechar: str = Field('"', min_length=1, max_length=1, description="Quote character.")
    encoding: str = Field(
        "utf-8", description="Text encoding; must be ASCII-compatible (utf-8, latin-1, cp1252…)."
    )
    header: bool = Field(
        True, description="Whether the first row of each file holds the column names."
    )
    columns: list[str] | None = Field(
        None,
        description="Column names when `header` is false (default: column_1, column_2, …).",
    )

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        probe = "\n\r,;\t\"'a0"
        try:
            compatible = probe.encode(value) == probe.encode("ascii")
        except (UnicodeError, LookupError):
            compatible = False
        if not compatible:
            raise ValueError(
                f"encoding {value!r} is not ASCII-compatible; convert the files to UTF-8"
            )
        return value

    @model_validator(mode="after")
    def _columns(self) -> Self:
        if self.columns is not None and self.header:
            raise ValueError("columns is only used with header: false")
        return self


class FileStreamConfig(_Strict):
    """One stream: the files a glob matches, read as one table."""

    name: str = Field(description="Stream name (letters, digits and `_`); unique in the source.")
    path: str = Field(
        description=(
            "A file or a glob (`*`, `?`, `[…]`, `**` for any depth), relative to the "
            "pipeline config's directory."
        )
    )
    format: Literal["auto", "csv", "jsonl"] = Field(
        "auto",
        validate_default=True,
        description=(
            "`csv` or `jsonl`; `auto` picks by extension after stripping `.gz` "
            "(.csv/.tsv: csv, .jsonl/.ndjson/.json: jsonl)."
        ),
    )
    compression: Literal["auto", "none", "gzip"] = Field(
        "auto", description="`gzip`, `none`, or `auto` (gzip when the name ends in `.gz`)."
    )
    primary_key: list[str] = Field(
        default_factory=list,
        description="Field(s) that identify a record; a single name is accepted.",
    )
    cursor_field: str | None = Field(
        None,
        description=(
            "A record field used as an incremental cursor: records at or below the "
            "last run's highest value are skipped when a file is re-read."
        ),
    )
    write_disposition: WriteDisposition | None = Field(
        None,
        description=(
            "append, merge (needs primary_key) or replace (re-read every file each run); "
            "default: merge with a primary key, else append."
        ),
    )
    csv: CsvOptions = Field(default_factory=CsvOptions, description="CSV parsing options.")
    include_file_metadata: bool = Field(
        False,
        description=(
            "Add `_file` (path relative to the config directory) and `_line` (1-based "
            "line number) to every record."
        ),
    )
    canonical: list[CanonicalSpec] = Field(
        default_factory=list,
        description=(
            "Mapping of the records onto canonical tables (see docs/canonical-model.md); "
            "CSV values are text, converted to the model's types when loaded."
        ),
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(f"stream name {value!r} may only use letters, digits and _")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("path must not be empty")
        base = base_dir_from(info)
        where = "" if os.path.isabs(os.path.expanduser(value)) else f" (in {base})"
        if has_wildcard(value):
            # files may come later (check() reports an empty match), but into a
            # directory that exists: a missing one is most likely a typo
            directory = static_prefix(value)
            if directory and not os.path.isdir(resolve_pattern(directory, base)):
                raise ValueError(
                    f"file not found: {value} matches nothing and its directory "
                    f"{directory} does not exist{where}"
                )
            return value
        resolved = resolve_pattern(value, base)
        if not os.path.exists(resolved):
            raise ValueError(f"file not found: {value}{where}")
        if os.path.isdir(resolved):
            raise ValueError(
                f"{value} is a directory; use a glob such as {value.rstrip('/')}/*.csv"
            )
        return value

    @field_validator("format")
    @classmethod
    def _format(cls, value: str, info: ValidationInfo) -> str:
        if value != "auto":
            return value
        path = info.data.get("path")
        if not isinstance(path, str):
            return value  # the path itself is invalid and already reported
        found = format_of(os.path.basename(path))
        if found is not None:
            return found
        formats: set[str] = set()
        for match in _matches(resolve_pattern(path, base_dir_from(info))):
            fmt = format_of(os.path.basename(match))
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {match} from its extension; "
                    "set format: csv or jsonl"
                )
            formats.add(fmt)
        if len(formats) == 1:
            return formats.pop()
        if formats:
            raise ValueError(
                f"files matching {path} have different formats ({', '.join(sorted(formats))}); "
                "split them into streams or set format"
            )
        raise ValueError(
            f"cannot tell the format of {path} from its extension; set format: csv or jsonl"
        )

    @field_validator("primary_key", mode="before")
    @classmethod
    def _primary_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("write_disposition")
    @classmethod
    def _disposition(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "merge" and not info.data.get("primary_key"):
            raise ValueError("write_disposition merge needs a primary_key")
        return value

    @field_validator("csv", mode="before")
    @classmethod
    def _csv_only(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("format") == "jsonl":
            raise ValueError("csv options are only for CSV streams")
        return value

    @property
    def file_format(self) -> FileFormat:
        """The resolved format (``auto`` is resolved during validation)."""
        if self.format == "auto":
            return format_of(os.path.basename(self.path)) or "jsonl"
        return self.format


class FilesConfig(ConnectorConfig):
    """Config of the ``files`` connector: one entry per stream."""

    streams: list[FileStreamConfig] = Field(
        description="The streams of this source, each a glob of CSV or JSONL files."
    )

    pause_gc: bool = Field(
        True,
        description=(
            "Pause Python's cyclic garbage collector while a JSONL batch is parsed "
            "(parsed records hold no cycles); about 1.5x faster. Set false if the "
            "embedding process must never have the collector paused."
        ),
    )

    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[FileStreamConfig]) -> list[FileStreamConfig]:
        if not value:
            raise ValueError("at least one stream is required")
        seen: set[str] = set()
        for stream in value:
            if stream.name in seen:
                raise ValueError(f"duplicate stream name {stream.name!r}")
            seen.add(stream.name)
        return value

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> Self:
        context = info.context if isinstance(info.context, dict) else {}
        if context.get("base_dir") is not None:
            self._base_dir = Path(context["base_dir"])
        return self

    def base_dir(self, default: Path) -> Path:
        """The directory the config was validated against, else ``default``."""
        return self._base_dir if self._base_dir is not None else default
