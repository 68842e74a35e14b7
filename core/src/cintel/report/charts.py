"""Charts as inline SVG, drawn in Python: no script, no library, nothing fetched.

Every string that comes from the data goes through :func:`esc` before it lands in
the markup. Each mark carries a ``<title>`` so hovering shows its exact numbers.
Colours come only from this module's palettes, never from the data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ACCENT",
    "CONVERTING",
    "MISSING",
    "NON_CONVERTING",
    "WIDTH",
    "ChannelPalette",
    "Segment",
    "bars",
    "esc",
    "fmt_int",
    "fmt_money",
    "fmt_num",
    "fmt_pct",
    "grouped_bars",
    "histogram",
    "ink_on",
    "stacked_shares",
]

#: Fixed colours of GA4's default channel groups (Tableau 10, colour-blind safe
#: in the pairs that sit next to each other); a channel keeps its colour everywhere.
KNOWN_CHANNELS: dict[str, str] = {
    "Paid Search": "#4e79a7",
    "Email": "#f28e2b",
    "Display": "#e15759",
    "Organic Social": "#76b7b2",
    "Organic Search": "#59a14f",
    "Referral": "#edc948",
    "Paid Social": "#b07aa1",
    "Paid Video": "#ff9da7",
    "Affiliates": "#9c755f",
    "Direct": "#8c8c8c",
    "Organic Video": "#d37295",
    "Paid Shopping": "#499894",
    "Organic Shopping": "#8cd17d",
    "Cross-network": "#b6992d",
    "SMS": "#f1ce63",
    "Mobile Push Notifications": "#a0cbe8",
    "Audio": "#ffbe7d",
    "Paid Other": "#86bcb6",
    "Unassigned": "#bab0ac",
}
#: Colours for channels outside GA4's list, given out in name order.
EXTRA_COLOURS = (
    "#2f6c9f",
    "#c9541a",
    "#3d8b3d",
    "#8e5ea2",
    "#b8860b",
    "#2a9d8f",
    "#c0392b",
    "#6d6875",
    "#d4a6c8",
    "#79706e",
)
#: Colour of single-series charts (customers by number of sources).
ACCENT = "#3a5f8f"
#: Converting and non-converting journeys in the journey-length histogram.
CONVERTING = "#1b7f5f"
NON_CONVERTING = "#c5ced9"

_GRID = "#e3e8ef"
_AXIS = "#6b7585"
_INK = "#1f2937"
_MUTED = "#5b6472"
#: Width of a chart: the inner width of a report section, so text keeps its size.
WIDTH = 940.0
_CHAR = 6.6  # average width of a 12px character, to fit labels
#: What a missing number shows (an en dash).
MISSING = "\u2013"


def esc(text: object) -> str:
    """Escape text for HTML and SVG (quotes too: values go into attributes)."""
    return html.escape(str(text), quote=True)


def _finite(x: float | None) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def fmt_int(n: float | None) -> str:
    """``12,345``."""
    return f"{round(n):,}" if n is not None and _finite(n) else MISSING


def fmt_num(x: float | None) -> str:
    """Credited conversions, fractional: ``1,234.5``."""
    return f"{x:,.1f}" if x is not None and _finite(x) else MISSING


def fmt_money(x: float | None) -> str:
    """Values: ``12,345.67``."""
    return f"{x:,.2f}" if x is not None and _finite(x) else MISSING


def fmt_pct(share: float | None) -> str:
    """A 0..1 share as ``23.4%``."""
    return f"{share * 100:.1f}%" if share is not None and _finite(share) else MISSING


class ChannelPalette:
    """Channel → colour, fixed for known channels; others get the extra colours by name."""

    def __init__(self, channels: Sequence[str] = ()) -> None:
        self._colours: dict[str, str] = dict(KNOWN_CHANNELS)
        self._next = 0
        for name in sorted(set(channels)):
            self.colour(name)

    def colour(self, channel: str | None) -> str:
        """The colour of ``channel`` (assigned on first sight when unknown)."""
        key = channel if channel is not None else "Unassigned"
        found = self._colours.get(key)
        if found is None:
            found = EXTRA_COLOURS[self._next % len(EXTRA_COLOURS)]
            self._next += 1
            self._colours[key] = found
        return found


def _fit(text: str, width: float, char: float = _CHAR) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    room = max(int(width / char), 2)
    return text if len(text) <= room else text[: room - 1] + "…"


def _nice_step(top: float, ticks: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) for about ``ticks`` grid lines."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return float(mult * power)
    return float(10 * power)


def _svg(width: float, height: float, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-label="{esc(label)}"><title>{esc(label)}</title>' + "".join(body) + "</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: int = 12,
    fill: str = _INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}" font-weight="{weight}" dominant-baseline="middle">{esc(text)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, extra: str = "") -> str:
    return (
        f'<g><title>{esc(tip)}</title><rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
        f'height="{h:.1f}" fill="{fill}" rx="2"{extra}/></g>'
    )


def ink_on(colour: str) -> str:
    """Black or white text, whichever reads better on ``colour`` (WCAG relative luminance)."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#111827" if lum > 0.36 else "#ffffff"


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[str],
    values: dict[tuple[str, str], float],
    *,
    colours: dict[str, str],
    series_labels: dict[str, str],
    highlight: str | None = None,
    tips: dict[tuple[str, str], str] | None = None,
    label: str = "",
    width: float = WIDTH,
) -> str:
    """Horizontal bars grouped by ``groups`` (channels), one bar per ``series`` (models).

    ``values`` are 0..1 shares. A group's bars take the group's colour; the
    ``highlight`` series is drawn solid, the others lighter.
    """
    bar, gap, group_gap, top = (
        (13.0, 3.0, 16.0, 30.0) if len(series) <= 4 else (10.0, 2.0, 14.0, 30.0)
    )
    label_w, series_w, value_w = 178.0, 118.0, 56.0
    x0 = label_w + series_w
    plot = width - x0 - value_w
    peak = max([v for v in values.values() if _finite(v)] + [0.01])
    step = _nice_step(peak, 5)
    scale_top = step * math.ceil(peak / step)
    body: list[str] = []
    group_h = len(series) * (bar + gap) - gap
    height = top + len(groups) * (group_h + group_gap) + 4
    tick = 0.0
    while tick <= scale_top + 1e-9:
        x = x0 + plot * tick / scale_top
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{height - 4:.1f}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
        )
        body.append(_text(x, 12, fmt_pct(tick).replace(".0%", "%"), anchor="middle", size=11))
        tick += step
    y = top
    for group in groups:
        colour = colours[group]
        mid = y + group_h / 2
        body.append(
            f'<rect x="0" y="{mid - 5:.1f}" width="10" height="10" rx="2" fill="{colour}"/>'
        )
        body.append(
            f"<g><title>{esc(group)}</title>"
            + _text(16, mid, _fit(group, label_w - 24), weight="600")
            + "</g>"
        )
        for s in series:
            value = values.get((group, s), 0.0)
            value = value if _finite(value) else 0.0
            strong = s == highlight
            w = plot * value / scale_top
            tip = (tips or {}).get((group, s), f"{group} · {series_labels[s]}: {fmt_pct(value)}")
            opacity = "" if strong or highlight is None else ' fill-opacity="0.5"'
            body.append(
                _text(
                    label_w,
                    y + bar / 2,
                    _fit(series_labels[s], series_w - 8, 6.0),
                    size=11,
                    fill=_INK if strong else _MUTED,
                    weight="600" if strong else "normal",
                )
            )
            body.append(_rect(x0, y, w, bar, colour, tip, opacity))
            body.append(_text(x0 + w + 5, y + bar / 2, fmt_pct(value), size=11, fill=_MUTED))
            y += bar + gap
        y += group_gap - gap
    return _svg(width, height, label, body)


@dataclass(slots=True)
class Segment:
    """One part of a stacked bar: a channel, its share and the text of its tooltip."""

    key: str
    share: float
    colour: str
    tip: str


def stacked_shares(
    rows: Sequence[tuple[str, Sequence[Segment]]], *, label: str = "", width: float = WIDTH
) -> str:
    """100% stacked horizontal bars, one per ``(row label, segments)``."""
    label_w, bar_h, gap, top = 110.0, 34.0, 18.0, 22.0
    plot = width - label_w - 8
    height = top + len(rows) * (bar_h + gap)
    body: list[str] = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + plot * tick
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6:.1f}" x2="{x:.1f}" y2="{height - gap + 4:.1f}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
        )
        anchor = "start" if tick == 0 else "end" if tick == 1 else "middle"
        body.append(_text(x, 9, f"{tick * 100:.0f}%", anchor=anchor, size=11, fill=_AXIS))
    y = top
    for row_label, segments in rows:
        body.append(_text(0, y + bar_h / 2, _fit(row_label, label_w - 8), weight="600"))
        total = sum(s.share for s in segments if _finite(s.share) and s.share > 0) or 1.0
        x = label_w
        for seg in segments:
            if not _finite(seg.share) or seg.share <= 0:
                continue
            w = plot * seg.share / total
            body.append(
                f'<g><title>{esc(seg.tip)}</title><rect x="{x:.1f}" y="{y:.1f}" '
                f'width="{w:.1f}" height="{bar_h:.1f}" fill="{seg.colour}" '
                f'stroke="#ffffff" stroke-width="1"/>'
            )
            text = fmt_pct(seg.share)
            if w >= len(text) * _CHAR + 8:
                body.append(
                    _text(
                        x + w / 2,
                        y + bar_h / 2,
                        text,
                        anchor="middle",
                        size=11,
                        fill=ink_on(seg.colour),
                        weight="600",
                    )
                )
            body.append("</g>")
            x += w
        y += bar_h + gap
    return _svg(width, height, label, body)


def _y_axis(body: list[str], top: float, bottom: float, x0: float, x1: float, peak: float) -> float:
    """Horizontal grid lines and count labels; returns the top of the scale."""
    step = _nice_step(peak, 4)
    scale_top = step * math.ceil(peak / step) if peak > 0 else step
    tick = 0.0
    while tick <= scale_top + 1e-9:
        y = bottom - (bottom - top) * tick / scale_top
        body.append(
            f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
        )
        text = fmt_int(tick) if step >= 1 else f"{tick:,.1f}"
        body.append(_text(x0 - 6, y, text, anchor="end", size=11, fill=_AXIS))
        tick += step
    return scale_top


def histogram(
    buckets: Sequence[tuple[str, float, float]],
    *,
    label: str = "",
    x_title: str = "",
    width: float = WIDTH,
    height: float = 300,
) -> str:
    """Vertical bars of ``(bucket label, converting, non-converting)``, stacked."""
    left, right, top, bottom = 64.0, 12.0, 34.0, height - (44.0 if x_title else 28.0)
    peak = max([c + n for _, c, n in buckets] + [0.0])
    body: list[str] = []
    scale_top = _y_axis(body, top, bottom, left, width - right, peak)
    slot = (width - left - right) / max(len(buckets), 1)
    bar_w = min(slot * 0.72, 64.0)
    for i, (bucket, conv, non) in enumerate(buckets):
        x = left + slot * i + (slot - bar_w) / 2
        total = conv + non
        rate = conv / total if total else 0.0
        tip = (
            f"{bucket} touchpoint(s): {fmt_int(total)} journeys, {fmt_int(conv)} converting "
            f"({fmt_pct(rate)}), {fmt_int(non)} not converting"
        )
        h_conv = (bottom - top) * conv / scale_top
        h_non = (bottom - top) * non / scale_top
        body.append(f"<g><title>{esc(tip)}</title>")
        body.append(
            f'<rect x="{x:.1f}" y="{bottom - h_conv - h_non:.1f}" width="{bar_w:.1f}" '
            f'height="{h_non:.1f}" fill="{NON_CONVERTING}"/>'
        )
        body.append(
            f'<rect x="{x:.1f}" y="{bottom - h_conv:.1f}" width="{bar_w:.1f}" '
            f'height="{h_conv:.1f}" fill="{CONVERTING}"/>'
        )
        body.append("</g>")
        body.append(_text(x + bar_w / 2, bottom + 13, bucket, anchor="middle", size=11))
        if total:
            head = bottom - h_conv - h_non
            body.append(_text(x + bar_w / 2, head - 22, fmt_int(total), anchor="middle", size=11))
            body.append(
                _text(
                    x + bar_w / 2,
                    head - 9,
                    fmt_pct(rate),
                    anchor="middle",
                    size=11,
                    fill=CONVERTING,
                    weight="600",
                )
            )
    body.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{width - right:.1f}" y2="{bottom:.1f}" '
        f'stroke="{_AXIS}" stroke-width="1"/>'
    )
    if x_title:
        body.append(
            _text((left + width - right) / 2, height - 8, x_title, anchor="middle", fill=_MUTED)
        )
    return _svg(width, height, label, body)


def bars(
    items: Sequence[tuple[str, float]],
    *,
    colour: str = ACCENT,
    label: str = "",
    x_title: str = "",
    unit: str = "",
    width: float = WIDTH,
    height: float = 260,
) -> str:
    """Vertical bars of ``(label, value)`` with the value printed above each bar."""
    left, right, top, bottom = 64.0, 12.0, 22.0, height - (44.0 if x_title else 28.0)
    peak = max([v for _, v in items] + [0.0])
    body: list[str] = []
    scale_top = _y_axis(body, top, bottom, left, width - right, peak)
    slot = (width - left - right) / max(len(items), 1)
    bar_w = min(slot * 0.62, 72.0)
    total = sum(v for _, v in items) or 1.0
    for i, (name, value) in enumerate(items):
        x = left + slot * i + (slot - bar_w) / 2
        h = (bottom - top) * value / scale_top
        tip = f"{name}: {fmt_int(value)} {unit} ({fmt_pct(value / total)})".replace("  ", " ")
        body.append(_rect(x, bottom - h, bar_w, h, colour, tip))
        body.append(_text(x + bar_w / 2, bottom - h - 9, fmt_int(value), anchor="middle", size=11))
        body.append(_text(x + bar_w / 2, bottom + 13, name, anchor="middle", size=11))
    body.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{width - right:.1f}" y2="{bottom:.1f}" '
        f'stroke="{_AXIS}" stroke-width="1"/>'
    )
    if x_title:
        body.append(
            _text((left + width - right) / 2, height - 8, x_title, anchor="middle", fill=_MUTED)
        )
    return _svg(width, height, label, body)
