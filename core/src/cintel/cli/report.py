"""``cintel report``: the store's attribution and identity results as one HTML page."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from cintel.pipeline import Pipeline

__all__ = ["register"]

ConfigArg = Annotated[
    Path, typer.Argument(help="Pipeline config file (cintel.yaml).", show_default=False)
]


def register(app: typer.Typer, *, load: Callable[[Any], Pipeline], out: Any, errors: Any) -> None:
    """Add ``report`` to the CLI."""

    @app.command()
    def report(
        config: ConfigArg,
        output: Annotated[
            Path,
            typer.Option("--output", "-o", help="Where to write the HTML (`-` for stdout)."),
        ] = Path("report.html"),
    ) -> None:
        """Write a self-contained HTML report: attribution by channel, campaign and path,
        and identity resolution. Opens offline, no script."""
        from cintel.report import pipeline_report  # ibis only when reporting

        with errors():
            pipeline = load(config)
            result = pipeline_report(pipeline)
            if str(output) == "-":
                sys.stdout.write(result.html)
                return
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(result.html, encoding="utf-8")
            out.print(f"wrote [bold]{output}[/]: {result.summary()}", highlight=False)
