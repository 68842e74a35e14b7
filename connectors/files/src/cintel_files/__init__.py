"""cintel-files: local CSV and JSONL (NDJSON) files, plain or gzip, as a cintel source.

Each configured stream is a glob; files are read in modification-time order,
incrementally (new files, appended bytes, rewritten files) and with exact
mid-file checkpoints. See ``docs/connectors/files.md``.
"""

from __future__ import annotations

from cintel_files.config import CsvOptions, FilesConfig, FileStreamConfig
from cintel_files.connector import FilesConnector
from cintel_files.stream import FileStream

__all__ = ["CsvOptions", "FileStream", "FileStreamConfig", "FilesConfig", "FilesConnector"]
