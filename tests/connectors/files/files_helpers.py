"""Helpers shared by the files connector tests."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

from cintel import ConnectorContext
from cintel_files import FilesConnector, FileStream

NS = 1_700_000_000_000_000_000


def write(path: Path, data: bytes, mtime_ns: int | None = None) -> Path:
    """Write ``data`` (gzip-compressed when the name ends in .gz), with a fixed mtime if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def stream_of(base: Path, batch_size: int = 10_000, **config: Any) -> FileStream:
    """The one stream of a files connector configured with ``config``."""
    config.setdefault("name", "s")
    cfg = FilesConnector.Config.model_validate({"streams": [config]}, context={"base_dir": base})
    connector = FilesConnector(cfg, context=ConnectorContext(source="src", base_dir=base))
    [stream] = connector.streams()
    assert isinstance(stream, FileStream)
    stream.batch_size = batch_size
    return stream
