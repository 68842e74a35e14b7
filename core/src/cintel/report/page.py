"""The report page: one HTML document with its CSS and SVG charts inline.

Sections are functions returning ``(html, note)``: the section's body when its
tables hold something, else ``None`` and a sentence saying why it is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from cintel.report import charts
from cintel.report.charts import (
    MISSING,
    ChannelPalette,
    Segment,
    esc,
    fmt_int,
    fmt_money,
    fmt_num,
    fmt_pct,
)
from cintel.report.data import (
    LONG_JOURNEY,
    PATHS,
    SUMMARY,
    Attribution,
    Identity,
    Store,
    load_attribution,
    load_identity,
)

__all__ = ["MODEL_LABELS", "Report", "SectionInfo", "render"]

MODEL_LABELS = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "last_non_direct": "Last non-direct",
    "linear": "Linear",
    "time_decay": "Time decay",
    "position_based": "Position-based",
    "markov": "Markov",
    "shapley": "Shapley",
}
_REFUSALS = {
    "blocklist": "Blocked values (placeholders, test@, noreply@…): never used to merge",
    "shared": "Shared identifiers (held by too many profiles of one source): merge nobody",
    "limit": "Merges that would break a per-customer limit (two user ids…): left out",
}
_MERGE_KINDS = {"merge": "Customers merged (old ids still resolve)", "split": "Customers split"}
_NO_ATTRIBUTION = (
    "No attribution results in this store yet: <code>{table}</code> is missing or empty. "
    "Attribution runs after <code>cintel sync</code> has loaded touchpoints and conversions."
)
_SEE_ABOVE = "No attribution results: <code>{table}</code> is missing or empty (see above)."


def model_label(model: str) -> str:
    """``time_decay`` → ``Time decay``."""
    return MODEL_LABELS.get(model) or model.replace("_", " ").capitalize()


@dataclass(slots=True)
class SectionInfo:
    """A section of the report: rendered, or left out with the reason."""

    key: str
    title: str
    rendered: bool
    note: str = ""


@dataclass(slots=True)
class Report:
    """The rendered report: the HTML and which sections it holds."""

    html: str
    title: str
    generated_at: datetime
    sections: list[SectionInfo] = field(default_factory=list)

    @property
    def rendered(self) -> list[str]:
        """Titles of the sections shown."""
        return [s.title for s in self.sections if s.rendered]

    @property
    def skipped(self) -> list[str]:
        """Titles of the sections left out."""
        return [s.title for s in self.sections if not s.rendered]

    def summary(self) -> str:
        """One line: how many sections, which were left out."""
        line = f"{len(self.rendered)} of {len(self.sections)} sections"
        if self.skipped:
            line += f" (no data for: {', '.join(self.skipped)})"
        return line


Body = tuple[str | None, str]


def _swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'


def _channel_cell(name: str | None, palette: ChannelPalette) -> str:
    if name is None:
        return '<span class="muted">&ndash;</span>'
    return f'<span class="ch">{_swatch(palette.colour(name))}{esc(name)}</span>'


def _whole(x: float | None) -> bool:
    return x is None or abs(x - round(x)) < 1e-9


def _conversions(x: float | None) -> str:
    """Whole numbers without decimals, credited fractions with one."""
    return fmt_int(x) if _whole(x) else fmt_num(x)


def _credited(values: Sequence[float | None]) -> Callable[[float | None], str]:
    """One format for a column of credited conversions: decimals only if some need them."""
    return fmt_int if all(_whole(v) for v in values) else fmt_num


def _table(head: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table from ``(header, css class)`` columns and rows of ready (escaped) cells."""
    out = [f'<div class="tablewrap"><table class="{cls}"><thead><tr>']
    out += [f'<th class="{c}">{h}</th>' for h, c in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        out += [f'<td class="{c}">{cell}</td>' for (_, c), cell in zip(head, row, strict=True)]
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f"<span>{_swatch(colour)}{esc(text)}</span>" for text, colour in items)
        + "</div>"
    )


# ---------------------------------------------------------------------------- sections
def _models_section(a: Attribution, palette: ChannelPalette) -> Body:
    if not a.has_summary:
        return None, _NO_ATTRIBUTION.format(table=SUMMARY)
    if not a.channels:
        return None, f"No channel results for goal {esc(a.goal)}."
    names = [c.channel for c in a.channels]
    values = {(c.channel, m): c.share.get(m, 0.0) for c in a.channels for m in a.models}
    tips = {
        (c.channel, m): (
            f"{c.channel} · {model_label(m)}: {fmt_pct(c.share.get(m, 0.0))} of conversions "
            f"({_conversions(c.conversions.get(m, 0.0))})"
        )
        for c in a.channels
        for m in a.models
    }
    chart = charts.grouped_bars(
        names,
        a.models,
        values,
        colours={n: palette.colour(n) for n in names},
        series_labels={m: model_label(m) for m in a.models},
        highlight=a.model,
        tips=tips,
        label=f"Share of conversions per channel under each model, goal {a.goal}",
    )
    head = [("Channel", "")] + [
        (esc(model_label(m)), "num hl" if m == a.model else "num") for m in a.models
    ]
    totals = {m: sum(c.conversions.get(m, 0.0) for c in a.channels) for m in a.models}
    fmt = _credited([v for c in a.channels for v in c.conversions.values()])
    total_fmt = _credited(list(totals.values()))
    rows = [
        [_channel_cell(c.channel, palette)]
        + [fmt(c.conversions.get(m)) if m in c.conversions else MISSING for m in a.models]
        for c in a.channels
    ]
    rows.append(["<b>Total</b>"] + [f"<b>{total_fmt(totals[m])}</b>" for m in a.models])
    lede = (
        f"How each model splits the conversions of goal <b>{esc(a.goal)}</b> among channels. "
        f"Bars are each model's share of conversions; <b>{esc(model_label(a.model or ''))}</b> "
        "(solid) is the model used in the sections below. The table gives the conversions "
        "each model credits to each channel."
    )
    return f'<p class="lede">{lede}</p>{chart}<h3>Conversions credited</h3>' + _table(
        head, rows, "matrix"
    ), ""


def _share_section(a: Attribution, palette: ChannelPalette) -> Body:
    if not a.has_summary:
        return None, _SEE_ABOVE.format(table=SUMMARY)
    if not a.channels or a.model is None:
        return None, f"No channel results for goal {esc(a.goal)}."
    m = a.model
    label = model_label(m)

    def segments(share: Callable[[Any], float], what: str) -> list[Segment]:
        return [
            Segment(
                c.channel,
                share(c),
                palette.colour(c.channel),
                f"{c.channel}: {fmt_pct(share(c))} of {what} ({label})",
            )
            for c in a.channels
        ]

    chart = charts.stacked_shares(
        [
            ("Conversions", segments(lambda c: c.share.get(m, 0.0), "conversions")),
            ("Value", segments(lambda c: c.value_share.get(m, 0.0), "value")),
        ],
        label=f"Channel share of conversions and of value, {label} model",
    )
    cur = f" ({esc(a.currency)})" if a.currency else ""
    head = [
        ("Channel", ""),
        ("Conversions", "num"),
        ("Share", "num hl"),
        (f"Value{cur}", "num"),
        ("Value share", "num hl"),
        ("Touchpoints", "num"),
    ]
    fmt = _credited([c.conversions.get(m) for c in a.channels])
    rows = [
        [
            _channel_cell(c.channel, palette),
            fmt(c.conversions.get(m)),
            fmt_pct(c.share.get(m)),
            fmt_money(c.value.get(m)),
            fmt_pct(c.value_share.get(m)),
            fmt_int(c.touchpoints),
        ]
        for c in a.channels
    ]
    lede = (
        f"Share of conversions and of conversion value per channel under the "
        f"<b>{esc(label)}</b> model."
    )
    return f'<p class="lede">{lede}</p>{chart}' + _table(head, rows), ""


def _campaigns_section(a: Attribution, palette: ChannelPalette) -> Body:
    if not a.has_summary:
        return None, _SEE_ABOVE.format(table=SUMMARY)
    if not a.campaigns or a.model is None:
        return None, (
            f"No campaign results for goal {esc(a.goal)}: the touchpoints carry no campaign."
        )
    m = a.model
    others = a.campaign_models[1:]
    cur = f" ({esc(a.currency)})" if a.currency else ""
    head = [
        ("#", "num rank"),
        ("Campaign", ""),
        ("Main channel", ""),
        (esc(model_label(m)), "num hl"),
        ("Share", "num"),
        (f"Value{cur}", "num"),
    ] + [(esc(model_label(o)), "num") for o in others]
    fmt = _credited([v for c in a.campaigns for v in c.conversions.values()])
    rows = []
    for i, c in enumerate(a.campaigns, 1):
        name = '<span class="muted">(no campaign)</span>' if c.campaign is None else esc(c.campaign)
        rows.append(
            [
                str(i),
                name,
                _channel_cell(c.channel, palette),
                fmt(c.conversions.get(m)),
                fmt_pct(c.share.get(m)),
                fmt_money(c.value.get(m)),
            ]
            + [fmt(c.conversions.get(o)) if o in c.conversions else MISSING for o in others]
        )
    shown = len(a.campaigns)
    lede = (
        f"Top {shown} of {fmt_int(a.campaign_count)} campaigns by conversions credited by "
        f"<b>{esc(model_label(m))}</b>"
        + (
            ", with what "
            + ", ".join(f"<b>{esc(model_label(o))}</b>" for o in others)
            + " credit them."
            if others
            else "."
        )
    )
    return f'<p class="lede">{lede}</p>' + _table(head, rows), ""


def _lengths_section(a: Attribution) -> Body:
    if not a.has_paths:
        return None, _NO_ATTRIBUTION.format(table=PATHS)
    if not a.lengths:
        return None, f"No journeys for goal {esc(a.goal)}."
    chart = charts.histogram(
        a.lengths,
        label="Journeys by number of touchpoints, converting and not",
        x_title="touchpoints in the journey",
    )
    journeys = sum(c + n for _, c, n in a.lengths)
    converting = sum(c for _, c, _n in a.lengths)
    lede = (
        f"{fmt_int(journeys)} journeys by number of touchpoints; {fmt_int(converting)} "
        f"({fmt_pct(converting / journeys if journeys else 0)}) converted. Journeys of "
        f"{LONG_JOURNEY} or more touchpoints are counted under {LONG_JOURNEY}+. Above each "
        "bar: its journeys and their conversion rate."
    )
    legend = _legend([("Converting", charts.CONVERTING), ("Not converting", charts.NON_CONVERTING)])
    return f'<p class="lede">{lede}</p>{legend}{chart}', ""


def _runs(steps: list[str]) -> list[tuple[str, int]]:
    """Consecutive repeats collapsed: ``[a, a, b]`` → ``[(a, 2), (b, 1)]``."""
    out: list[tuple[str, int]] = []
    for step in steps:
        if out and out[-1][0] == step:
            out[-1] = (step, out[-1][1] + 1)
        else:
            out.append((step, 1))
    return out


def _path_cell(steps: list[str], palette: ChannelPalette, most: int = 6) -> str:
    """The path as coloured chips (repeats shown once with a count), cut after ``most``."""
    if not steps:
        return '<span class="muted">(no touchpoint)</span>'
    runs = _runs(steps)
    shown = runs if len(runs) <= most else runs[: most - 1]
    chips = []
    for i, (step, n) in enumerate(shown):
        colour = palette.colour(step)
        times = f' <span class="x">&times;{n}</span>' if n > 1 else ""
        arrow = '<span class="arrow">&rsaquo;</span>' if i else ""
        chips.append(
            f'<span class="step">{arrow}<span class="chip" style="background:{colour};'
            f'color:{charts.ink_on(colour)}">{esc(step)}{times}</span></span>'
        )
    if len(shown) < len(runs):
        rest = sum(n for _, n in runs[len(shown) :])
        chips.append(f'<span class="step"><span class="more">+{rest} more</span></span>')
    return f'<span class="pathcell">{"".join(chips)}</span>'


def _paths_section(a: Attribution, palette: ChannelPalette) -> Body:
    if not a.has_paths:
        return None, _SEE_ABOVE.format(table=PATHS)
    if not a.paths:
        return None, f"No paths for goal {esc(a.goal)}."
    cur = f" ({esc(a.currency)})" if a.currency else ""
    head = [
        ("#", "num rank"),
        ("Path", "path"),
        ("Length", "num"),
        ("Journeys", "num"),
        ("Conversions", "num hl"),
        ("Rate", "num"),
        (f"Value{cur}", "num"),
    ]
    rows = [
        [
            str(i),
            f'<span title="{esc(p.path)}">{_path_cell(p.steps, palette)}</span>',
            fmt_int(p.length),
            fmt_int(p.journeys),
            fmt_int(p.conversions),
            fmt_pct(p.rate),
            fmt_money(p.value),
        ]
        for i, p in enumerate(a.paths, 1)
    ]
    lede = (
        f"Top {len(a.paths)} of {fmt_int(a.path_count)} distinct channel paths by conversions "
        f"(goal <b>{esc(a.goal)}</b>)."
    )
    return f'<p class="lede">{lede}</p>' + _table(head, rows, "paths"), ""


def _identity_section(ident: Identity) -> Body:
    if ident.customers is None and ident.profiles is None:
        return None, (
            "No identity tables yet: <code>cintel sync</code> runs the unify step after loading "
            "(or run <code>cintel unify</code>)."
        )
    if ident.customers is None:
        return None, (
            f"{fmt_int(ident.profiles)} source profiles are loaded but no customers yet: run "
            "<code>cintel unify</code>."
        )
    stats: list[tuple[str, str, str]] = []
    if ident.profiles is not None:
        stats.append(("Profiles in", fmt_int(ident.profiles), "source profiles loaded"))
    if ident.records is not None:
        stats.append(("Records in", fmt_int(ident.records), "canonical records read"))
    if ident.identifiers is not None:
        stats.append(("Identifiers", fmt_int(ident.identifiers), "distinct emails, phones, ids"))
    stats.append(("Customers out", fmt_int(ident.customers), "unified customers"))
    if ident.multi_source is not None and ident.customers:
        stats.append(
            (
                "Multi-source",
                fmt_int(ident.multi_source),
                f"{fmt_pct(ident.multi_source / ident.customers)} of customers",
            )
        )
    parts = ['<div class="stats">']
    for name, value, sub in stats:
        parts.append(
            f'<div class="stat"><div class="k">{esc(name)}</div><div class="v">{value}</div>'
            f'<div class="s">{esc(sub)}</div></div>'
        )
    parts.append("</div>")
    if ident.by_sources:
        parts.append("<h3>Customers by number of sources they were seen in</h3>")
        parts.append(
            charts.bars(
                [(str(n), float(c)) for n, c in ident.by_sources],
                label="Customers by number of sources",
                x_title="sources a customer was seen in",
                unit="customers",
            )
        )
    if ident.by_combination:
        parts.append("<h3>Sources customers were seen in</h3>")
        parts.append(
            _table(
                [("Sources", ""), ("Customers", "num"), ("Share", "num")],
                [
                    [esc(combo), fmt_int(n), fmt_pct(n / ident.customers if ident.customers else 0)]
                    for combo, n in ident.by_combination
                ],
            )
        )
    parts.append("<h3>Merges and refusals</h3>")
    rows: list[list[str]] = []
    for kind in sorted(ident.merges, key=lambda k: (k not in _MERGE_KINDS, k)):
        rows.append([esc(_MERGE_KINDS.get(kind, kind)), fmt_int(ident.merges[kind]), MISSING])
    for r in ident.refusals:
        text = _REFUSALS.get(r.reason, r.reason)
        rows.append([f"Refused: {esc(text)}", fmt_int(r.identifiers), fmt_int(r.records)])
    if ident.matches is not None and any(ident.matches):
        accepted, refused = ident.matches
        rows.append(["Probabilistic matches accepted", fmt_int(accepted), MISSING])
        rows.append(["Probabilistic pairs below the threshold", fmt_int(refused), MISSING])
    if rows:
        parts.append(
            _table([("What", ""), ("Identifiers / events", "num"), ("Records", "num")], rows)
        )
    else:
        parts.append('<p class="note">No merges, splits or refusals recorded.</p>')
    if ident.matches is not None and not any(ident.matches):
        parts.append(
            '<p class="note">Probabilistic matching compared no pairs (it runs when '
            "<code>identity.probabilistic</code> is enabled).</p>"
        )
    examples = [(r.reason, e) for r in ident.refusals for e in r.examples]
    if examples:
        parts.append("<h3>Refused identifiers: examples</h3>")
        parts.append(
            _table(
                [
                    ("Reason", ""),
                    ("Type", ""),
                    ("Value", "mono"),
                    ("Detail", ""),
                    ("Records", "num"),
                ],
                [
                    [
                        esc(reason),
                        esc(e.get("type") or ""),
                        f'<span title="{esc(e.get("value") or "")}">'
                        f"{esc(e.get('value') or '')}</span>",
                        esc(e.get("detail") or ""),
                        fmt_int(e.get("records")),
                    ]
                    for reason, e in examples
                ],
            )
        )
    return "".join(parts), ""


# ---------------------------------------------------------------------------- page
def _when(value: Any) -> str:
    if not isinstance(value, datetime):
        return str(value) if value else ""
    when: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cards(a: Attribution, ident: Identity) -> str:
    cards: list[tuple[str, str, str]] = []
    if a.conversions is not None:
        cards.append(("Conversions", _conversions(a.conversions), f"goal {a.goal}"))
    if a.value is not None and a.has_summary:
        cur = f" ({a.currency})" if a.currency else ""
        cards.append((f"Value{cur}", f"{a.value:,.0f}", f"conversion value, goal {a.goal}"))
    if a.journeys is not None:
        rate = (a.conversions or 0) / a.journeys if a.journeys else 0.0
        cards.append(("Journeys", fmt_int(a.journeys), f"{fmt_pct(rate)} converted"))
    if a.models:
        cards.append(
            ("Models", str(len(a.models)), f"compared; shown: {model_label(a.model or '')}")
        )
    if ident.customers is not None:
        sub = f"from {fmt_int(ident.profiles)} source profiles" if ident.profiles else ""
        cards.append(("Customers", fmt_int(ident.customers), sub))
    if ident.multi_source is not None and ident.customers:
        cards.append(
            (
                "Multi-source",
                fmt_pct(ident.multi_source / ident.customers),
                f"{fmt_int(ident.multi_source)} seen in 2+ sources",
            )
        )
    if not cards:
        return ""
    return (
        '<section class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{v}</div>'
            f'<div class="s">{esc(s)}</div></div>'
            for k, v, s in cards
        )
        + "</section>"
    )


def _goal_note(a: Attribution) -> str:
    if len(a.goals) <= 1:
        return ""
    others = ", ".join(
        f"<b>{esc(g if g is not None else '(no goal)')}</b> ({_conversions(n)})"
        for g, n in a.goals[1:]
    )
    return (
        f'<p class="callout">The store holds {len(a.goals)} goals. Shown: '
        f"<b>{esc(a.goal)}</b>, the one with the most conversions "
        f"({_conversions(a.goals[0][1])}). Others: {others}.</p>"
    )


def _meta(generated_at: datetime, a: Attribution, ident: Identity) -> str:
    bits = [f"Generated {_when(generated_at)}"]
    if a.run_at is not None or a.run:
        run = "Attribution run " + _when(a.run_at)
        lookback = a.run.get("lookback_days")
        if isinstance(lookback, int | float):
            run += f" · lookback {lookback:g} days"
        bits.append(run.strip())
    if ident.run_at is not None:
        bits.append(f"Unify run {_when(ident.run_at)}")
    return " · ".join(bits)


_CSS = """
:root{--ink:#1f2937;--muted:#5b6472;--line:#e3e8ef;--bg:#f4f6f9;--panel:#fff;--accent:#3a5f8f;
--hl:#f3f7fc}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"Noto Sans","Liberation Sans",sans-serif}
.wrap{max-width:1040px;margin:0 auto;padding:0 24px}
header.top{background:#172a45;color:#fff;padding:28px 0 22px}
header.top .eyebrow{text-transform:uppercase;letter-spacing:.12em;font-size:11px;color:#9fb3cf;
font-weight:600}
header.top h1{margin:4px 0 6px;font-size:28px;font-weight:650;letter-spacing:-.01em}
header.top .meta{color:#c4d1e3;font-size:13px}
nav.toc{border-bottom:1px solid var(--line);background:#fff;font-size:13px}
nav.toc .wrap{display:flex;flex-wrap:wrap;gap:6px 18px;padding-top:11px;padding-bottom:11px}
nav.toc a{color:var(--accent);text-decoration:none}
nav.toc a.off{color:#9aa3af}
main.wrap{padding-top:22px;padding-bottom:40px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;
margin-bottom:18px}
.card,.stat{background:var(--panel);border:1px solid var(--line);border-radius:10px;
padding:14px 16px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.card .k,.stat .k{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;
letter-spacing:.04em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.stat .k{font-size:11px;letter-spacing:.03em}
.card .v{font-size:26px;font-weight:650;margin:2px 0;font-variant-numeric:tabular-nums}
.stat .v{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.card .s,.stat .s{font-size:12px;color:var(--muted)}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(135px,1fr));gap:10px;
margin:6px 0 8px}
.stat{background:#fafbfc;box-shadow:none}
section.panel{background:var(--panel);border:1px solid var(--line);border-radius:12px;
padding:20px 24px 22px;margin:0 0 18px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
section.panel h2{margin:0 0 4px;font-size:18px;font-weight:650}
section.panel h2 .n{color:#9aa3af;font-weight:600;margin-right:6px}
section.panel h3{margin:20px 0 8px;font-size:14px;font-weight:650}
section.panel.off{background:transparent;box-shadow:none;border-style:dashed;padding:14px 24px}
section.panel.off h2{font-size:15px;color:var(--muted)}
.lede{margin:0 0 14px;color:var(--muted);max-width:820px}
.note{margin:6px 0 0;color:var(--muted)}
.callout{background:#fff8e6;border:1px solid #f3d58a;border-radius:10px;padding:10px 14px;
margin:0 0 18px}
.empty{background:#fff;border:1px solid var(--line);border-radius:12px;padding:28px;
text-align:center;font-size:16px}
.empty p{margin:6px 0}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
background:#eef2f7;padding:1px 5px;border-radius:4px}
svg.chart{display:block;width:100%;height:auto;margin:4px 0 8px}
svg.chart text{font-family:inherit}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th{text-align:left;font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);font-weight:600;border-bottom:1px solid #cfd6df;padding:7px 10px;
white-space:nowrap}
td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:middle}
tbody tr:hover td{background:#f8fafc}
th.num,td.num{text-align:right;white-space:nowrap}
td.hl,th.hl{background:var(--hl)}
td.rank{color:#9aa3af;width:1%}
table.paths td.path{min-width:300px}
td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
white-space:nowrap;max-width:300px;overflow:hidden;text-overflow:ellipsis}
table.matrix tbody tr:last-child td{border-top:1px solid #cfd6df}
table.matrix th{white-space:normal;vertical-align:bottom}
table.matrix th,table.matrix td{padding-left:8px;padding-right:8px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:7px;
vertical-align:-1px}
.ch{white-space:nowrap}
.muted{color:#9aa3af}
.pathcell{display:flex;flex-wrap:wrap;gap:3px 0;align-items:center}
.step{white-space:nowrap;display:inline-flex;align-items:center}
.chip{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;line-height:18px;
font-weight:500}
.chip .x{opacity:.85;font-weight:600}
.arrow{color:#9aa3af;margin:0 4px}
.more{font-size:12px;color:var(--muted);margin-left:3px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;color:var(--muted);
margin:0 0 4px}
footer{color:#8a94a3;font-size:12px;text-align:center;padding:0 24px 30px}
@media print{body{background:#fff}section.panel{break-inside:avoid;box-shadow:none}
nav.toc{display:none}}
"""


def _version() -> str:
    try:
        return str(metadata.version("cintel"))
    except metadata.PackageNotFoundError:
        return ""


def render(con: Any, *, title: str, generated_at: datetime | None = None) -> Report:
    """Read the store through the ibis backend ``con`` and render the report."""
    when = generated_at or datetime.now(UTC)
    store = Store(con)
    a = load_attribution(store)
    ident = load_identity(store)
    palette = ChannelPalette(
        [c.channel for c in a.channels]
        + [s for p in a.paths for s in p.steps]
        + [c.channel for c in a.campaigns if c.channel]
    )
    specs: list[tuple[str, str, Callable[[], Body]]] = [
        ("models", "Attribution — model comparison", lambda: _models_section(a, palette)),
        ("share", "Channel share", lambda: _share_section(a, palette)),
        ("campaigns", "Campaigns", lambda: _campaigns_section(a, palette)),
        ("lengths", "Journey length distribution", lambda: _lengths_section(a)),
        ("paths", "Top paths", lambda: _paths_section(a, palette)),
        ("identity", "Identity resolution", lambda: _identity_section(ident)),
    ]
    infos: list[SectionInfo] = []
    panels: list[str] = []
    for n, (key, name, build) in enumerate(specs, 1):
        body, note = build()
        infos.append(SectionInfo(key, name, body is not None, note))
        head = f'<h2><span class="n">{n}</span>{esc(name)}</h2>'
        if body is None:
            panels.append(
                f'<section class="panel off" id="{key}">{head}<p class="note">{note}</p></section>'
            )
        else:
            panels.append(f'<section class="panel" id="{key}">{head}{body}</section>')
    nothing = not any(i.rendered for i in infos)
    if nothing:
        content = (
            '<div class="empty"><p><b>Nothing to report yet.</b></p><p>This store holds no '
            "attribution or identity tables: run <code>cintel sync CONFIG</code> first (it "
            "loads the sources and unifies customers), then build the report again.</p></div>"
        )
        nav = ""
    else:
        content = _cards(a, ident) + _goal_note(a) + "".join(panels)
        nav = (
            '<nav class="toc"><div class="wrap">'
            + "".join(
                f'<a href="#{i.key}"{"" if i.rendered else " class=off"}>{esc(i.title)}</a>'
                for i in infos
            )
            + "</div></nav>"
        )
    version = _version()
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="cintel {esc(version)}">'
        f"<title>{esc(title)} · cintel report</title><style>{_CSS}</style></head><body>"
        '<header class="top"><div class="wrap"><div class="eyebrow">cintel report</div>'
        f'<h1>{esc(title)}</h1><div class="meta">{esc(_meta(when, a, ident))}</div>'
        f"</div></header>{nav}"
        f'<main class="wrap">{content}</main>'
        f"<footer>cintel {esc(version)} · a self-contained page: no scripts, nothing loaded "
        "from the network.</footer></body></html>\n"
    )
    return Report(html=page, title=title, generated_at=when, sections=infos)
