"""``cintel unify`` and ``cintel profile``: unified customers from the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from cintel.identity.profile import CustomerProfile
    from cintel.identity.unify import UnifyResult
    from cintel.pipeline import Pipeline

__all__ = ["phases", "print_unify", "register", "run_unify"]

ConfigArg = Annotated[
    Path, typer.Argument(help="Pipeline config file (cintel.yaml).", show_default=False)
]

_REFUSAL_TEXT = {
    "blocklist": "blocked values (placeholders, test@, noreply@…)",
    "shared": "shared identifiers (too many profiles of one source)",
    "limit": "merges over a per-customer limit",
}


@contextmanager
def phases(console: Any, step: str) -> Iterator[Callable[[str], None]]:
    """A spinner naming the current phase of ``step`` (unify, attribution)."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn(f"{step}: {{task.description}}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("starting", total=None)
    with progress:
        yield lambda phase: progress.update(task, description=phase)


def run_unify(pipeline: Pipeline, console: Any) -> UnifyResult:
    """Unify with a progress spinner on ``console``."""
    with phases(console, "unify") as phase:
        return pipeline.unify(progress=phase)


def print_unify(result: UnifyResult, console: Any) -> None:
    """The unify summary table."""
    table = Table(title=f"unify {result.run_id}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("canonical records in", result.records),
        ("source profiles in", result.profiles),
        ("distinct identifiers", result.identifiers),
        ("customers out", result.customers),
        ("  new this run", result.created),
        ("  merged this run (old ids still resolve)", result.merged),
        ("  split this run", result.split),
    ]
    for what, n in rows:
        table.add_row(what, f"{n:,}")
    for reason, n in sorted(result.refused.items()):
        table.add_row(f"refused: {_REFUSAL_TEXT.get(reason, reason)}", f"{n:,}")
    table.add_row("seconds", f"{result.seconds:.2f}")
    console.print(table)
    if result.refused:
        console.print("why each merge was refused: table [bold]identity_refusals[/]")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ":".join(str(v) for v in value.values())
    return str(value)


def _panel(profile: CustomerProfile) -> Panel:
    golden = Table(show_header=False, box=None)
    golden.add_column(style="bold")
    golden.add_column()
    for key in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "title",
        "city",
        "country",
        "first_seen",
        "last_seen",
        "channels",
        "lifetime_value",
        "currency",
        "latest_nps",
    ):
        if key in profile.golden:
            golden.add_row(key, _fmt(profile.golden.get(key)))
    idents = Table(title="identifiers", title_justify="left")
    for col in ("type", "value", "records", "last seen", "note"):
        idents.add_column(col)
    for row in profile.identifiers:
        idents.add_row(
            row["type"],
            row["value"],
            f"{row['records']:,}",
            _fmt(row["last_seen"]),
            "shared, merges nobody" if row["shared"] else "",
        )
    sources = Table(title="source profiles", title_justify="left")
    for col in ("source", "profile", "name", "email", "phone", "company", "updated"):
        sources.add_column(col)
    for p in profile.profiles:
        name = " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x)
        sources.add_row(
            f"{p['source']}.{p['stream']}",
            _fmt(p["profile_id"]),
            name or "-",
            _fmt(p.get("email")),
            _fmt(p.get("phone")),
            _fmt(p.get("company")),
            _fmt(p.get("updated_at")),
        )
    timeline = Table(title="timeline (newest first)", title_justify="left")
    for col in ("when", "what", "source", "detail"):
        timeline.add_column(col)
    for e in profile.timeline:
        timeline.add_row(_fmt(e["at"]), e["kind"], e["source"], e["detail"] or "")
    title = profile.customer_id
    if profile.resolved_from and profile.resolved_from != profile.matched:
        title += f"  (found by {profile.matched or profile.resolved_from})"
    return Panel(Group(golden, idents, sources, timeline), title=title, title_align="left")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def register(app: typer.Typer, *, load: Callable[[Any], Pipeline], out: Any, errors: Any) -> None:
    """Add ``unify`` and ``profile`` to the CLI."""

    @app.command()
    def unify(
        config: ConfigArg,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Stitch identities into unified customers with stable ids and golden records."""
        with errors():
            pipeline = load(config)
            result = run_unify(pipeline, out)
            if as_json:
                out.print_json(data=result.as_dict())
            else:
                print_unify(result, out)

    @app.command()
    def profile(
        config: ConfigArg,
        identifier: Annotated[
            str,
            typer.Argument(
                help="Email, phone, type:value (crm_id:50136, anonymous_id:…) or a customer id.",
                show_default=False,
            ),
        ],
        limit: Annotated[int, typer.Option("--limit", "-n", help="Timeline events shown.")] = 30,
        as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    ) -> None:
        """Show the unified customer an identifier belongs to."""
        with errors():
            profiles = load(config).profile(identifier, limit=limit)
            if as_json:
                out.print_json(data=[_jsonable(p.as_dict()) for p in profiles])
            elif not profiles:
                out.print(f"no customer has {identifier!r} (has `cintel unify` run?)")
            else:
                if len(profiles) > 1:
                    out.print(
                        f"{identifier!r} is shared by {len(profiles)} customers (it merged nobody):"
                    )
                for p in profiles:
                    out.print(_panel(p))
            if not profiles:
                raise typer.Exit(1)
