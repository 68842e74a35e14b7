"""``cintel attribution``: which channels and campaigns drive conversions, model by model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cintel.cli.identity import phases

if TYPE_CHECKING:
    from cintel.attribution.engine import AttributionResult
    from cintel.pipeline import Pipeline

__all__ = ["By", "comparison_table", "print_attribution", "register", "run_attribution"]

ConfigArg = Annotated[
    Path, typer.Argument(help="Pipeline config file (cintel.yaml).", show_default=False)
]
#: Campaigns shown at most in the comparison (the rest are summed in a last row).
TOP = 20


class By(StrEnum):
    """What the comparison credits."""

    channel = "channel"
    campaign = "campaign"


def run_attribution(pipeline: Pipeline, console: Any) -> AttributionResult:
    """Attribute with a progress spinner on ``console``."""
    with phases(console, "attribution") as phase:
        return pipeline.attribute(progress=phase)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _goal_of(rows: Sequence[dict[str, Any]], goal: str | None) -> str | None:
    goals: dict[str, float] = {}
    for r in rows:
        if r["dimension"] == "channel":
            goals[r["goal"]] = goals.get(r["goal"], 0.0) + r["conversions"]
    if goal is not None:
        if goal not in goals:
            known = ", ".join(sorted(goals)) or "none"
            raise typer.BadParameter(f"no goal {goal!r} (goals: {known})", param_hint="--goal")
        return goal
    return max(goals, key=lambda g: goals[g]) if goals else None


def comparison_table(
    rows: Sequence[dict[str, Any]],
    *,
    by: By = By.channel,
    model: str | None = None,
    goal: str | None = None,
) -> Table:
    """The attribution_summary rows as a table: keys by models (share of conversions), or,
    for one ``model``, its conversions, value and shares."""
    chosen = _goal_of(rows, goal)
    rows = [r for r in rows if r["goal"] == chosen and r["dimension"] == by.value]
    models = list(dict.fromkeys(r["model"] for r in rows))
    if model is not None:
        if model not in models:
            known = ", ".join(models) or "none"
            raise typer.BadParameter(f"no model {model!r} (models: {known})", param_hint="--model")
        models = [model]
    cell = {(r["key"], r["model"]): r for r in rows}
    sort_model = model or ("markov" if "markov" in models else (models[-1] if models else ""))
    keys = sorted(
        {r["key"] for r in rows},
        key=lambda k: (
            -(cell[(k, sort_model)]["conversions"] if (k, sort_model) in cell else 0),
            k,
        ),
    )
    total = sum(r["conversions"] for r in rows if r["model"] == sort_model)
    title = f"attribution of {total:,.0f} {chosen or 'conversion'}s by {by.value}"
    table = Table(title=title, title_justify="left")
    table.add_column(by.value)
    shown = keys[:TOP] if by is By.campaign else keys
    if model is not None:
        for col in ("conversions", "share", "value", "value share", "touchpoints"):
            table.add_column(col, justify="right")
        for k in shown:
            r = cell[(k, model)]
            table.add_row(
                k,
                f"{r['conversions']:,.1f}",
                _pct(r["share"]),
                f"{r['value']:,.2f}",
                _pct(r["value_share"]),
                f"{r['touchpoints']:,}",
            )
        return table
    for m in models:
        table.add_column(m.replace("_", " "), justify="right")
    for k in shown:
        table.add_row(k, *[_pct(cell[(k, m)]["share"]) if (k, m) in cell else "-" for m in models])
    if len(keys) > len(shown):
        rest = keys[len(shown) :]
        shares = [sum(cell[(k, m)]["share"] for k in rest if (k, m) in cell) for m in models]
        table.add_row(f"({len(rest)} more)", *[_pct(s) for s in shares])
    return table


def print_attribution(
    result: AttributionResult,
    console: Any,
    *,
    by: By = By.channel,
    model: str | None = None,
    goal: str | None = None,
) -> None:
    """The run's figures and the comparison table."""
    for name, g in result.goals.items():
        console.print(
            f"attribution [bold]{name}[/]: {g.conversions:,} conversions "
            f"(value {g.value:,.2f}) over {g.journeys:,} journeys, {g.touches:,} touches; "
            f"lookback {result.lookback_days:g} days",
            highlight=False,
        )
    if result.unattributable_conversions:
        console.print(
            f"{result.unattributable_conversions:,} conversions belong to no customer "
            "(their identifiers were all blocked or shared): not attributed",
            highlight=False,
        )
    if result.summary:
        console.print(comparison_table(result.summary, by=by, model=model, goal=goal))
    console.print(
        "per touchpoint: table [bold]attribution_credit[/]; totals: [bold]attribution_summary[/]"
    )


def _stored(pipeline: Pipeline) -> list[dict[str, Any]]:
    with pipeline.sink() as sink:
        con = sink.ibis()
        if "attribution_summary" not in con.list_tables():
            raise typer.BadParameter(
                "no attribution in the store yet: run `cintel attribution CONFIG` without "
                "--stored (or `cintel sync`)",
                param_hint="--stored",
            )
        rows: list[dict[str, Any]] = con.table("attribution_summary").to_pyarrow().to_pylist()
        return rows


def register(app: typer.Typer, *, load: Callable[[Any], Pipeline], out: Any, errors: Any) -> None:
    """Add ``attribution`` to the CLI."""

    @app.command()
    def attribution(
        config: ConfigArg,
        model: Annotated[
            str | None, typer.Option("--model", "-m", help="Show one model in detail.")
        ] = None,
        by: Annotated[By, typer.Option("--by", help="Credit channels or campaigns.")] = By.channel,
        goal: Annotated[
            str | None, typer.Option("--goal", help="Goal to show (default: the largest).")
        ] = None,
        stored: Annotated[
            bool, typer.Option("--stored", help="Show the last run's results; compute nothing.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Attribute conversions to channels and campaigns with every model, and compare."""
        with errors():
            pipeline = load(config)
            if stored:
                rows = _stored(pipeline)
                if as_json:
                    out.print_json(data=rows)
                else:
                    out.print(comparison_table(rows, by=by, model=model, goal=goal))
                return
            result = run_attribution(pipeline, out)
            if as_json:
                out.print_json(data={**result.as_dict(), "summary": result.summary})
            else:
                print_attribution(result, out, by=by, model=model, goal=goal)
