"""An HTML report of a pipeline's store: attribution and identity resolution on one page.

>>> from cintel import Pipeline                                   # doctest: +SKIP
>>> from cintel.report import write_report                        # doctest: +SKIP
>>> write_report(Pipeline.from_yaml("cintel.yaml"), "report.html")  # doctest: +SKIP

The page is self-contained and opens offline: CSS inline, charts drawn as inline
SVG in Python, no script and no reference to anything on the network. Every
string from the data is escaped. The numbers are aggregated by the store's
engine through ibis (:mod:`cintel.report.data`), so the report builds on DuckDB
and on Spark alike; a section whose tables are missing or empty is left out
with a note saying why.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cintel.errors import SinkError
from cintel.report.page import Report, SectionInfo, render

if TYPE_CHECKING:
    from cintel.pipeline import Pipeline

__all__ = ["Report", "SectionInfo", "build_report", "pipeline_report", "write_report"]


def build_report(con: Any, *, title: str, generated_at: datetime | None = None) -> str:
    """The report's HTML, read from the ibis backend ``con`` (``sink.ibis()``)."""
    return render(con, title=title, generated_at=generated_at).html


def pipeline_report(pipeline: Pipeline, *, generated_at: datetime | None = None) -> Report:
    """The report of ``pipeline``'s store, with the list of sections it holds.

    Raises :class:`~cintel.errors.SinkError` when the store's file does not exist
    yet (nothing synced), rather than creating an empty one.
    """
    sink = pipeline.sink()
    path = getattr(sink, "path", None)
    if isinstance(path, Path) and not path.exists():
        raise SinkError(
            f"no store at {path} yet: run `cintel sync` first",
            sink=pipeline.config.destination.sink,
        )
    with sink:
        return render(sink.ibis(), title=pipeline.name, generated_at=generated_at)


def write_report(pipeline: Pipeline, path: str | Path = "report.html") -> Path:
    """Write the report of ``pipeline``'s store to ``path``; returns the path written."""
    report = pipeline_report(pipeline)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.html, encoding="utf-8")
    return target
