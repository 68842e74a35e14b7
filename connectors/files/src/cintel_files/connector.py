"""The ``files`` connector: CSV and JSONL (NDJSON) exports on local disk, gzip or not."""

from __future__ import annotations

import structlog
from cintel import CheckResult, Connector, Stream

from cintel_files.config import FilesConfig
from cintel_files.stream import FileStream

__all__ = ["FilesConnector"]

log = structlog.get_logger(__name__)


class FilesConnector(Connector):
    """Streams of local CSV / JSONL files matched by globs, read incrementally."""

    name = "files"
    Config = FilesConfig

    @property
    def files_config(self) -> FilesConfig:
        """The validated config."""
        if not isinstance(self.config, FilesConfig):
            raise TypeError(f"expected a FilesConfig, got {type(self.config).__name__}")
        return self.config

    def streams(self) -> list[Stream]:
        """One :class:`FileStream` per configured stream."""
        return list(self.file_streams())

    def file_streams(self) -> list[FileStream]:
        """The streams, typed as :class:`FileStream`."""
        cfg = self.files_config
        base_dir = cfg.base_dir(self.context.base_dir)
        return [
            FileStream(s, base_dir=base_dir, source=self.context.source, pause_gc=cfg.pause_gc)
            for s in cfg.streams
        ]

    def check(self) -> CheckResult:
        """Every stream's glob matches at least one file and every matched file opens."""
        ok = True
        messages: list[str] = []
        for stream in self.file_streams():
            files = stream.files()
            if not files:
                ok = False
                messages.append(f"no file matches {stream.config.path!r} for stream {stream.name}")
                continue
            unreadable = None
            for entry in files:
                try:
                    with stream.open(entry) as fh:
                        fh.read(1)
                except (OSError, EOFError) as exc:
                    unreadable = f"cannot read {entry.rel} of stream {stream.name}: {exc}"
                    break
            if unreadable is not None:
                ok = False
                messages.append(unreadable)
                continue
            messages.append(f"{len(files)} file(s) match for stream {stream.name}")
        log.debug("check done", ok=ok)
        return CheckResult(ok, "; ".join(messages))
