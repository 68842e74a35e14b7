"""The ``segment`` connector: Segment / RudderStack event exports on S3, GCS, Azure or disk."""

from __future__ import annotations

from typing import Any

import structlog
from cintel import CheckResult, Connector, ConnectorContext, SourceError, Stream
from cintel.logs import redact
from pydantic import BaseModel

from cintel_segment.config import SegmentConfig, display_url, protocol_of, reveal
from cintel_segment.storage import Retry, date_of_folder, is_export_file, open_lines
from cintel_segment.stream import EventsStream

__all__ = ["SegmentConnector"]

log = structlog.get_logger(__name__)

#: How deep check() descends (source id / day / file) looking for one export file.
_CHECK_DEPTH = 4


class SegmentConnector(Connector):
    """One ``events`` stream over an export's files, mapped onto the canonical model."""

    name = "segment"
    Config = SegmentConfig

    def __init__(self, config: BaseModel, *, context: ConnectorContext) -> None:
        super().__init__(config, context=context)
        self.retry = Retry()
        self._fs: tuple[Any, str] | None = None

    @property
    def segment_config(self) -> SegmentConfig:
        """The validated config."""
        if not isinstance(self.config, SegmentConfig):
            raise TypeError(f"expected a SegmentConfig, got {type(self.config).__name__}")
        return self.config

    def filesystem(self) -> tuple[Any, str]:
        """``(fsspec filesystem, root path)`` of the export (made once per connector)."""
        if self._fs is None:
            from fsspec.core import url_to_fs  # type: ignore[import-untyped]

            cfg = self.segment_config
            url = cfg.url(self.context.base_dir)
            options = reveal(cfg.storage_options)
            try:
                self._fs = url_to_fs(url, **options)
            except ImportError as exc:  # the config validator names the package first
                raise SourceError(
                    f"cannot read {display_url(cfg.path)}: {exc}", source=self.context.source
                ) from None
        return self._fs

    def close(self) -> None:
        """Forget the filesystem; the next run makes it again."""
        self._fs = None

    def streams(self) -> list[Stream]:
        """The ``events`` stream."""
        fs, root = self.filesystem()
        return [
            EventsStream(
                self.segment_config, fs=fs, root=root, source=self.context.source, retry=self.retry
            )
        ]

    def check(self) -> CheckResult:
        """The path exists and is readable: list it and read the start of one export file."""
        cfg = self.segment_config
        url = display_url(cfg.path)
        try:
            fs, root = self.filesystem()
            info = self.retry.call(f"info {root}", lambda: fs.info(root))
            if info.get("type") != "directory":
                return self._read_one(fs, root, url)
            found = self._find_one(fs, root, 0)
            if found is None:
                return CheckResult(
                    True,
                    f"{url} is readable but holds no export files yet "
                    "(.gz, .json, .jsonl, .ndjson)",
                )
            return self._read_one(fs, found, url)
        except FileNotFoundError:
            hint = (
                ""
                if protocol_of(cfg.path) in (None, "file")
                else " (an object store may also say so when the credentials lack list rights)"
            )
            return CheckResult(False, redact(f"{url} not found{hint}"))
        except PermissionError as exc:
            return CheckResult(
                False,
                redact(f"access denied to {url}: {exc}; check the credentials in storage_options"),
            )
        except SourceError as exc:
            return CheckResult(False, redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not crash
            return CheckResult(False, redact(f"cannot read {url}: {type(exc).__name__}: {exc}"))

    def _find_one(self, fs: Any, directory: str, depth: int) -> str | None:
        """An export file under ``directory``: the newest dated folder's first, say."""
        if depth > _CHECK_DEPTH:
            return None
        children = self.retry.call(f"ls {directory}", lambda: fs.ls(directory, detail=True))
        layout = self.segment_config.layout
        files = sorted(
            str(c["name"])
            for c in children
            if c.get("type") != "directory" and is_export_file(str(c["name"]).rsplit("/", 1)[-1])
        )
        if files:
            return files[0]
        folders = [
            str(c["name"]).rstrip("/")
            for c in children
            if c.get("type") == "directory"
            and str(c["name"]).rstrip("/") != directory.rstrip("/")
            and not str(c["name"]).rstrip("/").rsplit("/", 1)[-1].startswith((".", "_"))
        ]
        # newest day first (a fresh export shows its latest folder), then by name
        folders.sort(
            key=lambda p: (date_of_folder(p.rsplit("/", 1)[-1], layout) or "", p), reverse=True
        )
        for folder in folders:
            found = self._find_one(fs, folder, depth + 1)
            if found is not None:
                return found
        return None

    def _read_one(self, fs: Any, path: str, url: str) -> CheckResult:
        def first_line() -> bytes:
            with open_lines(fs, path) as fh:
                return fh.readline()

        self.retry.call(f"read {path}", first_line)
        return CheckResult(True, f"{url} is readable")
