"""The ``cintel`` command line (typer + rich).

Exit codes: 0 success, 1 a run or check failed, 2 a usage or config error.
Plugins add commands through the ``cintel_register_commands`` hook.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from cintel.cli.attribution import print_attribution, run_attribution
from cintel.cli.attribution import register as _register_attribution
from cintel.cli.identity import print_unify, run_unify
from cintel.cli.identity import register as _register_identity
from cintel.cli.report import register as _register_report
from cintel.errors import CintelError, ConfigError, PluginError
from cintel.logs import configure_logging, redact
from cintel.pipeline import Pipeline, ProgressEvent, RunResult
from cintel.plugins import Plugins
from cintel.settings import CintelSettings

__all__ = ["app", "main"]


def _width(stream: object) -> int | None:
    """Rich's 80 columns truncate tables in CI logs and pipes: use more when not a terminal."""
    isatty = getattr(stream, "isatty", None)
    if os.environ.get("COLUMNS") or (isatty is not None and isatty()):
        return None
    return 160


out = Console(soft_wrap=False, width=_width(sys.stdout))
err = Console(stderr=True, width=_width(sys.stderr))


class LogFormat(StrEnum):
    """Log output format."""

    console = "console"
    json = "json"


app = typer.Typer(
    name="cintel",
    help="Customer intelligence: sync sources, stitch identities, attribute conversions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
state_app = typer.Typer(
    help="Show or reset the incremental state of a pipeline.", no_args_is_help=True
)
deadletter_app = typer.Typer(
    help="Inspect and replay records that could not be loaded.", no_args_is_help=True
)
new_app = typer.Typer(help="Create a connector package from a template.", no_args_is_help=True)
app.add_typer(new_app, name="new")
app.add_typer(state_app, name="state")
app.add_typer(deadletter_app, name="deadletter")

ConfigArg = Annotated[
    Path, typer.Argument(help="Pipeline config file (cintel.yaml).", show_default=False)
]


@app.callback()
def _global(
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format", help="Log lines as console text or JSON (env CINTEL_LOG_FORMAT)."
        ),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option("-v", "--verbose", count=True, help="More log output: -v info, -vv debug."),
    ] = 0,
) -> None:
    settings = CintelSettings()
    level = {0: settings.log_level, 1: "info"}.get(verbose, "debug")
    configure_logging((log_format.value if log_format else settings.log_format), level)


@contextmanager
def _errors() -> Iterator[None]:
    """Map cintel errors onto messages and exit codes."""
    try:
        yield
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {redact(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    except (CintelError, PluginError) as exc:
        err.print(f"[bold red]error:[/] {redact(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(1) from None


_cli_plugins: Plugins | None = None


def _plugins() -> Plugins:
    """The plugins of this CLI process, loaded once."""
    global _cli_plugins
    if _cli_plugins is None:
        _cli_plugins = Plugins()
    return _cli_plugins


def _pipeline(path: Path) -> Pipeline:
    return Pipeline.from_yaml(path, plugins=_plugins())


_register_identity(app, load=lambda path: _pipeline(path), out=out, errors=_errors)
#: Canonical tables attribution reads: ``cintel sync`` attributes when one is there.
_ATTRIBUTED = ("touchpoints", "conversions")

_register_attribution(app, load=lambda path: _pipeline(path), out=out, errors=_errors)
_register_report(app, load=lambda path: _pipeline(path), out=out, errors=_errors)


# ------------------------------------------------------------------ plugins
@app.command()
def plugins() -> None:
    """List plugins found through entry points and what each provides."""
    with _errors():
        infos = _plugins().infos()
        table = Table(title="cintel plugins")
        for col in ("plugin", "distribution", "version", "status", "provides"):
            table.add_column(col)
        for info in infos:
            status = info.status if not info.error else f"{info.status}: {info.error}"
            style = {"loaded": "green", "disabled": "yellow", "broken": "red"}.get(info.status, "")
            table.add_row(
                info.name,
                info.distribution or "-",
                info.version or "-",
                Text(status, style=style),
                ", ".join(info.provides) or "-",
            )
        out.print(table)


# ------------------------------------------------------------------ check / discover
@app.command()
def check(config: ConfigArg) -> None:
    """Validate the config and test every source's connection."""
    with _errors():
        pipeline = _pipeline(config)
        results = pipeline.check()
        table = Table(title=f"check {pipeline.name}")
        for col in ("source", "connector", "result", "message"):
            table.add_column(col)
        for name, res in results.items():
            table.add_row(
                name,
                pipeline.config.sources[name].connector,
                Text("ok", style="green") if res.ok else Text("failed", style="red"),
                res.message,
            )
        out.print(table)
        if not all(r.ok for r in results.values()):
            raise typer.Exit(1)


@app.command()
def discover(
    config: ConfigArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every stream with its keys, write disposition and JSON Schema."""
    with _errors():
        infos = _pipeline(config).discover()
        if as_json:
            out.print_json(
                data=[
                    {
                        "source": i.source,
                        "stream": i.name,
                        "table": i.table,
                        "primary_key": list(i.primary_key),
                        "cursor_field": i.cursor_field,
                        "write_disposition": i.disposition,
                        "json_schema": i.json_schema,
                    }
                    for i in infos
                ]
            )
            return
        table = Table(title="streams")
        for col in ("source", "stream", "table", "primary key", "cursor", "disposition", "fields"):
            table.add_column(col)
        for i in infos:
            props = i.json_schema.get("properties", {})
            table.add_row(
                i.source,
                i.name,
                i.table,
                ", ".join(i.primary_key) or "-",
                i.cursor_field or "-",
                i.disposition,
                ", ".join(list(props)[:12]) + (" …" if len(props) > 12 else ""),
            )
        out.print(table)


# ------------------------------------------------------------------ sync
class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="cyan")


class _RowsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        bad = task.fields.get("bad", 0)
        text = f"{int(task.completed):,} rows"
        return Text(text + (f", {bad:,} bad" if bad else ""))


def _progress_display() -> tuple[Progress, Callable[[ProgressEvent], None]]:
    progress = Progress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}"),
        _RowsColumn(),
        _RateColumn(),
        TextColumn("{task.fields[status]}"),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    ids: dict[str, Any] = {}

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "started":
            ids[event.stream] = progress.add_task(event.stream, total=None, status="", bad=0)
        elif event.kind == "batch":
            progress.update(ids[event.stream], completed=event.records, bad=event.bad)
        else:
            progress.update(
                ids[event.stream],
                completed=event.records,
                bad=event.bad,
                total=event.records,
                status=event.status or "",
            )

    return progress, on_event


def _summary(result: RunResult) -> None:
    table = Table(title=f"run {result.run_id} · {result.pipeline}")
    for col, justify in (
        ("stream", "left"),
        ("table", "left"),
        ("disposition", "left"),
        ("records", "right"),
        ("bad", "right"),
        ("seconds", "right"),
        ("rows/s", "right"),
        ("status", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for res in result.streams.values():
        rate = res.records / res.seconds if res.seconds > 0 else 0
        style = {"succeeded": "green", "failed": "red"}.get(res.status, "")
        table.add_row(
            res.key,
            res.table,
            res.disposition,
            f"{res.records:,}",
            f"{res.bad:,}",
            f"{res.seconds:.2f}",
            f"{rate:,.0f}",
            Text(res.status, style=style),
        )
    out.print(table)
    verdict = "[green]succeeded[/]" if result.ok else "[red]failed[/]"
    out.print(
        f"{verdict} in {result.seconds:.2f}s: {result.records:,} records loaded, "
        f"{result.bad:,} sent to the dead-letter table"
    )
    if result.bad:
        out.print("see them with [bold]cintel deadletter list CONFIG[/]")
    if result.error:
        err.print(f"[bold red]error:[/] {result.error}", highlight=False)


@app.command()
def sync(
    config: ConfigArg,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            "--stream", "-s", help="Only this stream (source.stream, stream or source); repeatable."
        ),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option("--full-refresh", help="Ignore saved state and replace the streams' tables."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_unify: Annotated[
        bool,
        typer.Option("--no-unify", help="Load only; run neither unify nor attribution afterwards."),
    ] = False,
    no_attribution: Annotated[
        bool,
        typer.Option("--no-attribution", help="Unify, but do not run attribution afterwards."),
    ] = False,
) -> None:
    """Sync the pipeline's sources into its destination, unify customers, attribute."""
    with _errors():
        pipeline = _pipeline(config)
        progress, on_event = _progress_display()
        with progress:
            result = pipeline.run(streams=stream, full_refresh=full_refresh, progress=on_event)
        unified = None
        wanted = not no_unify and pipeline.config.identity.unify
        if result.ok and wanted and pipeline.has_canonical():
            unified = run_unify(pipeline, err if as_json else out)
        attributed = None
        attribute = not no_attribution and pipeline.config.attribution.enabled
        if unified is not None and attribute and pipeline.has_canonical(_ATTRIBUTED):
            attributed = run_attribution(pipeline, err if as_json else out)
        if as_json:
            out.print_json(
                data={
                    "run_id": result.run_id,
                    "pipeline": result.pipeline,
                    "status": result.status,
                    "records": result.records,
                    "bad": result.bad,
                    "seconds": round(result.seconds, 3),
                    "error": result.error,
                    "streams": {k: v.as_dict() for k, v in result.streams.items()},
                    "unify": unified.as_dict() if unified else None,
                    "attribution": attributed.as_dict() if attributed else None,
                }
            )
        else:
            _summary(result)
            if unified is not None:
                print_unify(unified, out)
            if attributed is not None:
                print_attribution(attributed, out)
        if not result.ok:
            raise typer.Exit(1)


@app.command()
def runs(
    config: ConfigArg,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs.")] = 20,
) -> None:
    """Show the latest runs of the pipeline."""
    with _errors():
        records = _pipeline(config).runs(limit)
        table = Table(title="runs")
        for col in ("run", "started", "seconds", "status", "records", "bad", "error"):
            table.add_column(col)
        for r in records:
            secs = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
            total = sum(int(s.get("records", 0)) for s in r.streams.values())
            bad = sum(int(s.get("bad", 0)) for s in r.streams.values())
            table.add_row(
                r.run_id,
                r.started_at.isoformat(timespec="seconds"),
                f"{secs:.2f}" if secs is not None else "-",
                r.status,
                f"{total:,}",
                f"{bad:,}",
                (r.error or "")[:80],
            )
        out.print(table)


# ------------------------------------------------------------------ state
@state_app.command("show")
def state_show(config: ConfigArg) -> None:
    """Print the committed state of every stream as JSON."""
    with _errors():
        out.print_json(data=_pipeline(config).state())


@state_app.command("reset")
def state_reset(
    config: ConfigArg,
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", help="Only this source or source.stream.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget state so the next sync reads from the start."""
    with _errors():
        pipeline = _pipeline(config)
        what = stream or "every stream"
        if not yes and not typer.confirm(f"Reset the state of {what} in {pipeline.name}?"):
            raise typer.Exit(1)
        n = pipeline.reset_state(stream)
        out.print(f"reset the state of {n} stream(s)")


# ------------------------------------------------------------------ dead letters
@deadletter_app.command("list")
def deadletter_list(
    config: ConfigArg,
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", help="Only this source or source.stream.")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Example payloads per reason.")] = 1,
) -> None:
    """Show quarantined records grouped by stream and reason."""
    with _errors():
        pipeline = _pipeline(config)
        source, _, name = (stream or "").partition(".")
        groups: Counter[tuple[str, str]] = Counter()
        examples: dict[tuple[str, str], list[str]] = defaultdict(list)
        for row in pipeline.dead_letters(source or None, name or None):
            reason = _reason_group(row.reason)
            if row.kind != "record":  # "where: why ('value')" grouped without the value
                reason = f"({row.kind} left out) {reason.rsplit(' (', 1)[0]}"
            key = (f"{row.source}.{row.stream}", reason)
            groups[key] += 1
            if len(examples[key]) < show:
                examples[key].append(row.payload[:120])
        if not groups:
            out.print("the dead-letter table is empty")
            return
        table = Table(title="dead letters")
        for col, justify in (
            ("stream", "left"),
            ("reason", "left"),
            ("records", "right"),
            ("example", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for (where, reason), count in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(where, reason, f"{count:,}", "\n".join(examples[(where, reason)]))
        out.print(table)
        out.print("after fixing the cause, run [bold]cintel deadletter replay CONFIG[/]")


def _reason_group(reason: str) -> str:
    """Group reasons that differ only by position (``at file:123``)."""
    head = reason.split(" at ", 1)[0]
    return head if len(head) >= 8 else reason


@deadletter_app.command("replay")
def deadletter_replay(
    config: ConfigArg,
    stream: Annotated[
        str | None, typer.Option("--stream", "-s", help="Only this source or source.stream.")
    ] = None,
) -> None:
    """Re-process quarantined records; those that now load leave the table."""
    with _errors():
        pipeline = _pipeline(config)
        source, _, name = (stream or "").partition(".")
        t0 = time.perf_counter()
        result = pipeline.replay_dead_letters(source=source or None, stream=name or None)
        table = Table(title="replay")
        for col in ("stream", "landed", "still bad"):
            table.add_column(col)
        for key, (landed, still) in sorted(result.per_stream.items()):
            table.add_row(key, f"{landed:,}", f"{still:,}")
        out.print(table)
        out.print(
            f"{result.landed:,} landed, {result.still_bad:,} still in the dead-letter table "
            f"({time.perf_counter() - t0:.2f}s)"
        )


@new_app.command("connector")
def new_connector(
    name: Annotated[str, typer.Argument(help="Connector name: lower case, a-z, 0-9 and _.")],
    declarative: Annotated[
        bool, typer.Option("--declarative", help="A YAML manifest instead of Python code.")
    ] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where to create cintel-NAME/.")] = Path(
        "."
    ),
) -> None:
    """Write a connector package that installs, is discovered and passes its own tests."""
    from cintel.scaffold import new_connector as scaffold

    try:
        root = scaffold(name, directory, declarative=declarative)
    except (ValueError, FileExistsError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    out.print(f"created [bold]{root}[/]")
    out.print(f"  cd {root} && uv run pytest      # conformance suite, offline")
    out.print(f"  uv run cintel plugins            # lists {name!r}")


class SchemaKind(StrEnum):
    """Which JSON Schema to print."""

    manifest = "manifest"
    model = "model"


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="manifest or model.")]) -> None:
    """Print a JSON Schema: the declarative manifest's or the canonical model's."""
    import json

    if kind is SchemaKind.manifest:
        from cintel.declarative import manifest_json_schema

        doc = manifest_json_schema()
    else:
        from cintel.model import ENTITIES

        doc = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "cintel canonical customer model",
            "tables": {name: cls.model_json_schema() for name, cls in ENTITIES.items()},
        }
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cintel`` script."""
    settings = CintelSettings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        _plugins().register_commands(app)
    except CintelError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    app(args=argv, prog_name="cintel")
