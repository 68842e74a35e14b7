"""``cintel report``: a self-contained HTML page built from a hand-made DuckDB store."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pytest
from cintel.attribution.engine import CREDIT_SCHEMA, PATHS_SCHEMA, SUMMARY_SCHEMA
from cintel.report import build_report, pipeline_report
from cintel.report.page import render
from cintel_duckdb.compat import patch
from conftest import run_cli, write_yaml

patch()

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
RUN = "att_run_0001"
HOSTILE = "<script>alert(1)</script>"
CHANNELS = ["Paid Search", "Email", "Organic Search", "Direct", "Paid Social"]
#: share of the purchase goal's conversions per channel, per model
SHARES = {
    "first_touch": [0.34, 0.12, 0.26, 0.10, 0.18],
    "last_touch": [0.28, 0.25, 0.17, 0.22, 0.08],
    "markov": [0.312, 0.186, 0.224, 0.151, 0.127],
}
VALUE_SHARES = {
    "first_touch": [0.37, 0.10, 0.25, 0.09, 0.19],
    "last_touch": [0.30, 0.22, 0.18, 0.21, 0.09],
    "markov": [0.335, 0.171, 0.219, 0.148, 0.127],
}
GOALS = {"purchase": (1240, 186_420.5), "signup": (310, 0.0)}
CAMPAIGNS = [
    ("brand_search_q4", "Paid Search", 0.21),
    ("black_friday_email", "Email", 0.12),
    ("retargeting_fb", "Paid Social", 0.08),
    ("generic_search_shoes", "Paid Search", 0.07),
    ("newsletter_weekly", "Email", 0.05),
    ("spring_sale", "Paid Social", 0.04),
    ("winback_email", "Email", 0.03),
    ("competitor_terms", "Paid Search", 0.025),
    ("instagram_stories", "Paid Social", 0.02),
    ("cart_abandon", "Email", 0.018),
    ("dsa_catalog", "Paid Search", 0.015),
    ("loyalty_program", "Email", 0.012),
    ("lookalike_1pct", "Paid Social", 0.01),
    ("holiday_gift_guide", "Email", 0.009),
    ("pmax_q4", "Paid Search", 0.008),
    ("tiktok_test", "Paid Social", 0.006),
    ("partner_promo", "Email", 0.004),
]
PATHS = [
    ("Paid Search", 1, 5200, 310, 46_500.0),
    ("Direct", 1, 4100, 150, 21_000.0),
    ("Email > Direct", 2, 900, 120, 18_200.5),
    ("Organic Search > Paid Search", 2, 1100, 95, 14_100.0),
    ("Paid Social > Email > Paid Search", 3, 640, 88, 13_900.0),
    ("Organic Search", 1, 3900, 80, 11_800.0),
    ("Paid Search > Email > Email > Direct", 4, 300, 61, 9_400.0),
    ("Paid Social > Paid Social > Organic Search > Email > Direct", 5, 210, 44, 7_100.0),
    ("Email", 1, 2800, 40, 6_000.0),
    ("Paid Social", 1, 2600, 35, 5_250.0),
    (" > ".join(["Paid Search", "Email", "Direct"] * 2), 6, 150, 30, 4_600.0),
    (" > ".join(["Organic Search", "Paid Social"] * 4), 8, 90, 21, 3_300.0),
    (" > ".join(["Email", "Direct", "Paid Search"] * 4), 12, 60, 18, 2_700.0),
    (" > ".join(["Paid Social", "Email"] * 7), 14, 35, 9, 1_500.0),
    ("Direct > Direct", 2, 700, 25, 3_800.0),
    ("Email > Paid Search", 2, 520, 33, 5_200.0),
    ("Organic Search > Email > Direct", 3, 260, 40, 6_300.0),
    (
        "Paid Search > Paid Search > Paid Search > Paid Search > Direct > Email > Email",
        7,
        80,
        12,
        1_900.0,
    ),
    (" > ".join(["Direct"] * 9), 9, 40, 5, 800.0),
    (" > ".join(["Organic Search"] * 10), 10, 30, 4, 600.0),
]


def _arrow(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def attribution_tables(hostile: bool = False) -> dict[str, pa.Table]:
    channels = [*CHANNELS, HOSTILE] if hostile else CHANNELS
    summary: list[dict[str, Any]] = []
    for goal, (conversions, value) in GOALS.items():
        scale = 1.0 if goal == "purchase" else 0.9
        for model, shares in SHARES.items():
            row_shares = shares
            if hostile:  # the hostile channel takes 5% of every model's conversions
                row_shares = [s * 0.95 for s in shares] + [0.05]
            for i, channel in enumerate(channels):
                share = row_shares[i] * scale if i < len(shares) else row_shares[i]
                vshare = VALUE_SHARES[model][i] if i < len(shares) else 0.05
                summary.append(
                    {
                        "run_id": RUN,
                        "goal": goal,
                        "model": model,
                        "dimension": "channel",
                        "key": channel,
                        "conversions": round(share * conversions, 4),
                        "value": round(vshare * value, 2),
                        "share": share,
                        "value_share": vshare if value else 0.0,
                        "touchpoints": 400 + 37 * i,
                    }
                )
            if goal != "purchase":
                continue
            for j, (campaign, _channel, share) in enumerate(CAMPAIGNS):
                tweak = {"first_touch": 1.1, "last_touch": 0.85, "markov": 1.0}[model]
                cshare = share * (tweak if j % 2 else 2 - tweak)
                summary.append(
                    {
                        "run_id": RUN,
                        "goal": goal,
                        "model": model,
                        "dimension": "campaign",
                        "key": campaign,
                        "conversions": round(cshare * conversions, 4),
                        "value": round(cshare * value, 2),
                        "share": cshare,
                        "value_share": cshare,
                        "touchpoints": 50 + j,
                    }
                )
    paths = [
        {
            "run_id": RUN,
            "goal": "purchase",
            "path": path,
            "length": length,
            "journeys": journeys,
            "conversions": conv,
            "value": value,
        }
        for path, length, journeys, conv, value in PATHS
    ]
    paths.append(
        {
            "run_id": RUN,
            "goal": "signup",
            "path": "Email",
            "length": 1,
            "journeys": 900,
            "conversions": 310,
            "value": 0.0,
        }
    )
    if hostile:
        paths.append({**paths[0], "path": f"Email > {HOSTILE}", "length": 2, "conversions": 999})
        summary += [
            {**row, "key": HOSTILE, "conversions": 900.0}
            for row in summary
            if row["dimension"] == "campaign" and row["key"] == CAMPAIGNS[0][0]
        ]
    credit: list[dict[str, Any]] = []
    for n, (campaign, channel, _share) in enumerate(CAMPAIGNS):
        for k in range(3):
            credit.append(
                {
                    "run_id": RUN,
                    "goal": "purchase",
                    "model": "markov",
                    "conversion_id": f"conv_{n}_{k}",
                    "customer_id": f"cus_{n:04d}",
                    "converted_at": T0 + timedelta(days=n),
                    "conversion_value": 120.0 + n,
                    "currency": "EUR",
                    "touchpoint_id": f"tp_{n}_{k}",
                    "touch_source": "web",
                    "touched_at": T0 + timedelta(days=n, hours=-k),
                    "position": k + 1,
                    "journey_length": 3,
                    "channel": channel if k < 2 else "Direct",
                    "campaign": campaign,
                    "credit": 1 / 3,
                    "value_credit": (120.0 + n) / 3,
                }
            )
    runs = pa.table(
        {
            "run_id": [RUN],
            "started_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "summary": [
                json.dumps(
                    {
                        "goals": list(GOALS),
                        "conversions": 1550,
                        "journeys": 23_000,
                        "touchpoints": 61_234,
                        "models": list(SHARES),
                        "lookback_days": 30,
                    }
                )
            ],
        }
    )
    return {
        "attribution_summary": _arrow(summary, SUMMARY_SCHEMA),
        "attribution_paths": _arrow(paths, PATHS_SCHEMA),
        "attribution_credit": _arrow(credit, CREDIT_SCHEMA),
        "_cintel_attribution_runs": runs,
    }


def identity_tables(hostile: bool = False) -> dict[str, pa.Table]:
    sources = ["crm", "web", "email", "survey"]
    customers = []
    for i in range(48):
        k = 1 if i < 30 else 2 if i < 42 else 3 if i < 47 else 4
        customers.append({"customer_id": f"cus_{i:04d}", "channels": sources[:k]})
    profiles = [{"profile_id": f"p{i}", "_cintel_source": "crm"} for i in range(71)]
    merges = [
        {
            "retired_id": f"cus_old{i}",
            "survivor_id": f"cus_{i:04d}",
            "kind": "split" if i == 4 else "merge",
            "run_id": "u1",
            "at": T0,
        }
        for i in range(6)
    ]
    refusals = [
        ("email", "test@example.com", "blocklist", "matches the blocklist", 9),
        ("email", "noreply@shop.example", "blocklist", "matches the blocklist", 3),
        ("email", "info@acme.example", "shared", "held by 14 crm profiles (limit 5)", 14),
        ("user_id", "u-778", "limit", "customer already has user_id u-777 (limit 1)", 2),
    ]
    if hostile:
        refusals.append(("email", HOSTILE, HOSTILE, f"<b>{HOSTILE}</b>", 99))
    unify = {
        "run_id": "u1",
        "started_at": T0.isoformat(),
        "seconds": 0.4,
        "records": 412,
        "profiles": 71,
        "identifiers": 133,
        "customers": 48,
        "created": 48,
        "merged": 5,
        "split": 1,
        "passes": 3,
        "matched": 2,
        "refused": {"blocklist": 2, "shared": 1, "limit": 1},
    }
    return {
        "source_profiles": pa.Table.from_pylist(profiles),
        "customers": pa.Table.from_pylist(
            customers,
            pa.schema([("customer_id", pa.string()), ("channels", pa.list_(pa.string()))]),
        ),
        "customer_merges": pa.Table.from_pylist(merges),
        "identity_refusals": pa.Table.from_pylist(
            [
                {"type": t, "value": v, "reason": r, "detail": d, "records": n, "run_id": "u1"}
                for t, v, r, d, n in refusals
            ]
        ),
        "customer_matches": pa.table(
            {"customer_id": ["cus_0001", "cus_0002", "cus_0003"], "accepted": [True, True, False]}
        ),
        "_cintel_unify_runs": pa.table(
            {
                "run_id": ["u1"],
                "started_at": pa.array([T0 + timedelta(minutes=5)], pa.timestamp("us", tz="UTC")),
                "summary": [json.dumps(unify)],
            }
        ),
    }


def write_store(
    path: Path, *, attribution: bool = True, identity: bool = True, hostile: bool = False
) -> Path:
    """A DuckDB file holding the report's tables."""
    tables: dict[str, pa.Table] = {}
    if attribution:
        tables.update(attribution_tables(hostile))
    if identity:
        tables.update(identity_tables(hostile))
    with duckdb.connect(str(path)) as con:
        for name, table in tables.items():
            con.from_arrow(table).create(name)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """An ibis backend over a full store."""
    yield from _open(write_store(tmp_path / "store.duckdb"))


def _open(path: Path) -> Iterator[Any]:
    duck = duckdb.connect(str(path))
    try:
        yield ibis.duckdb.from_connection(duck)
    finally:
        duck.close()


class Page(HTMLParser):
    """The parsed report: nesting checked, sections, attributes and text collected."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "rect", "line"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.sections: dict[str, dict[str, Any]] = {}
        self.section: str | None = None
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed elements: {self.stack}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attr = dict(attrs)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag == "section" and attr.get("id"):
            self.section = attr["id"]
            cls = (attr.get("class") or "").split()
            self.sections[self.section] = {"svg": 0, "off": "off" in cls, "text": []}
        if tag == "svg" and self.section:
            self.sections[self.section]["svg"] += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()
        if tag == "section":
            self.section = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.section:
            self.sections[self.section]["text"].append(data)

    def section_text(self, key: str) -> str:
        return " ".join(self.sections[key]["text"])


def test_full_report_parses_and_shows_the_numbers(store: Any) -> None:
    when = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
    html = build_report(store, title="Acme shop", generated_at=when)
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert "2026-10-15 09:30 UTC" in html
    assert "Acme shop" in " ".join(page.text)
    # one chart per chart section, none elsewhere, nothing left out
    assert {k: s["svg"] for k, s in page.sections.items()} == {
        "models": 1,
        "share": 1,
        "campaigns": 0,
        "lengths": 1,
        "paths": 0,
        "identity": 1,
    }
    assert not any(s["off"] for s in page.sections.values())
    # model comparison: the conversions each model credits, with thousands separators
    models = page.section_text("models")
    assert "First touch" in models
    assert "Last touch" in models
    assert "Markov" in models
    assert "421.6" in models  # first touch, Paid Search: 0.34 * 1240
    assert "1,240" in models  # the total row
    # channel share: the markov share and value share of each channel, one decimal
    share = page.section_text("share")
    for i, channel in enumerate(CHANNELS):
        assert channel in share
        assert f"{SHARES['markov'][i] * 100:.1f}%" in share
        assert f"{VALUE_SHARES['markov'][i] * 100:.1f}%" in share
    assert "EUR" in share
    assert f"{0.335 * 186_420.5:,.2f}" in share
    # campaigns: top 15 of 17, with their main channel from attribution_credit
    campaigns = page.section_text("campaigns")
    assert "Top 15 of 17 campaigns" in campaigns
    assert "brand_search_q4" in campaigns
    assert "pmax_q4" in campaigns
    assert "tiktok_test" not in campaigns
    assert "partner_promo" not in campaigns
    # journey lengths: 10+ bucket and converting share
    lengths = page.section_text("lengths")
    journeys = sum(p[2] for p in PATHS)
    assert f"{journeys:,} journeys" in lengths
    assert "10+" in lengths
    # top paths: 15 rows, conversions and rate
    paths = page.section_text("paths")
    assert "Top 15 of 20 distinct channel paths" in paths
    assert "5,200" in paths
    assert "310" in paths
    assert f"{310 / 5200 * 100:.1f}%" in paths
    assert "46,500.00" in paths
    # identity resolution
    ident = page.section_text("identity")
    assert "71" in ident
    assert "412" in ident
    assert "48" in ident
    assert f"{18 / 48 * 100:.1f}%" in ident  # in 2+ sources
    assert "test@example.com" in ident
    assert "info@acme.example" in ident
    assert "Customers merged" in ident
    assert "Customers split" in ident
    assert "Probabilistic matches accepted" in ident
    # the other goal is named
    assert "signup" in " ".join(page.text)


def test_report_escapes_hostile_data(tmp_path: Path) -> None:
    path = write_store(tmp_path / "hostile.duckdb", hostile=True)
    for con in _open(path):
        html = build_report(con, title=HOSTILE)
    page = Page(html)
    assert "script" not in page.tags
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # parsed back, the text shows the name as it is, in charts and tables alike
    text = " ".join(page.text)
    assert HOSTILE in text
    assert page.sections["models"]["svg"] == 1
    assert "5.0%" in page.section_text("share")
    assert HOSTILE in page.section_text("campaigns")
    assert HOSTILE in page.section_text("paths")
    assert f"<b>{HOSTILE}</b>" in page.section_text("identity")


def test_report_references_nothing_outside_itself(store: Any) -> None:
    html = build_report(store, title="offline")
    page = Page(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    for tag, name, value in page.attrs:
        if name in {"src", "href", "xlink:href", "srcset", "action", "poster"}:
            assert value.startswith("#"), (tag, name, value)
        if name == "style":
            assert "url(" not in value
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", html)


def test_report_with_identity_tables_only(tmp_path: Path) -> None:
    path = write_store(tmp_path / "identity.duckdb", attribution=False)
    for con in _open(path):
        report = render(con, title="ids only")
    page = Page(report.html)
    assert report.rendered == ["Identity resolution"]
    for key in ("models", "share", "campaigns", "lengths", "paths"):
        assert page.sections[key]["off"]
        assert page.sections[key]["svg"] == 0
        assert "No attribution results" in page.section_text(key)
    assert page.sections["identity"]["svg"] == 1
    # which sources customers were seen in, most common first (30 crm, 12 crm + web, ...)
    text = page.section_text("identity")
    combos = ["crm 30", "crm + web 12", "crm + email + web 5", "crm + email + survey + web 1"]
    found = [text.find(c) for c in combos]
    assert -1 not in found, text
    assert found == sorted(found)
    assert report.summary().startswith("1 of 6 sections (no data for: Attribution")


def test_report_on_an_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    for con in _open(path):
        report = render(con, title="empty")
    page = Page(report.html)
    assert report.rendered == []
    assert "<svg" not in report.html
    assert "Nothing to report yet" in report.html
    assert "cintel sync" in " ".join(page.text)


def test_report_without_paths_or_campaigns(tmp_path: Path) -> None:
    path = write_store(tmp_path / "partial.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE attribution_paths")
        con.execute("DELETE FROM attribution_summary WHERE dimension = 'campaign'")
        con.execute("DROP TABLE identity_refusals")
    for con in _open(path):
        report = render(con, title="partial")
    Page(report.html)
    assert report.skipped == ["Campaigns", "Journey length distribution", "Top paths"]
    assert "attribution_paths" in report.html


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "people.csv").write_text("id,email\n1,a@example.com\n", encoding="utf-8")
    return write_yaml(
        tmp_path / "cintel.yaml",
        {
            "name": "reporting",
            "sources": {
                "src": {
                    "connector": "files",
                    "config": {"streams": [{"name": "people", "path": "data/*.csv"}]},
                }
            },
        },
    )


def test_pipeline_report_refuses_a_missing_store(config: Path) -> None:
    from cintel.errors import SinkError
    from cintel.pipeline import Pipeline

    pipeline = Pipeline.from_yaml(config)
    with pytest.raises(SinkError, match="cintel sync"):
        pipeline_report(pipeline)
    assert not (config.parent / "cintel.duckdb").exists()


@pytest.mark.slow
def test_cli_report(config: Path, tmp_path: Path) -> None:
    missing = run_cli("report", str(config), "-o", str(tmp_path / "r.html"))
    assert missing.returncode == 1
    assert "cintel sync" in missing.stderr

    write_store(config.parent / "cintel.duckdb")
    target = tmp_path / "out" / "report.html"
    done = run_cli("report", str(config), "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    assert "6 of 6 sections" in done.stdout
    page = Page(target.read_text(encoding="utf-8"))
    assert "reporting" in " ".join(page.text)

    default = run_cli("report", str(config), cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "report.html").exists()

    stdout = run_cli("report", str(config), "-o", "-")
    assert stdout.returncode == 0, stdout.stderr
    assert stdout.stdout.startswith("<!DOCTYPE html>")
    Page(stdout.stdout)


def test_a_channel_keeps_its_colour_in_every_section(store: Any) -> None:
    from cintel.report.charts import KNOWN_CHANNELS

    html = build_report(store, title="colours")
    sections = {
        part.split('"', 1)[0]: part for part in html.split('<section class="panel" id="')[1:]
    }
    for key in ("models", "share", "campaigns", "paths"):
        assert KNOWN_CHANNELS["Paid Search"] in sections[key], key
        assert KNOWN_CHANNELS["Email"] in sections[key], key
