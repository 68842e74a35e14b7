"""``cintel report`` opened in a real browser: headless Chromium renders it offline.

The page is written by the CLI from the hand-made store of ``tests/core/test_report.py``,
then Chromium (with networking features off) takes a screenshot and dumps the DOM.
The screenshot must not be blank and must show the charts' palette colours.

Chromium comes from Debian's ``chromium`` package. Without it the tests skip
locally and fail under CI (``CI=true``), which installs it itself.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import duckdb
import pytest
from cintel.report.charts import ACCENT, CONVERTING, KNOWN_CHANNELS, NON_CONVERTING
from conftest import ROOT, run_cli, write_yaml

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 2400
#: Channels of the sample store, drawn in the charts in their fixed colours.
CHANNELS = ("Paid Search", "Email", "Organic Search", "Direct", "Paid Social")


def _chromium() -> str:
    """The Chromium binary; skip (locally) or fail (under CI) without one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.path.exists("/usr/bin/chromium"):
        return "/usr/bin/chromium"
    problem = "Chromium is not installed (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the report browser test cannot run under CI: {problem}")
    pytest.skip(problem)


def _sample() -> ModuleType:
    """tests/core/test_report.py, for its store builder (another test directory)."""
    path = ROOT / "tests" / "core" / "test_report.py"
    spec = importlib.util.spec_from_file_location("report_sample_store", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reports written by ``cintel report``: of the full sample store, and of one without
    ``attribution_summary`` (so the journey-length and identity charts come first)."""
    out = {}
    for kind in ("full", "no_summary"):
        base = tmp_path_factory.mktemp(kind)
        (base / "data").mkdir()
        (base / "data" / "people.csv").write_text("id,email\n1,a@example.com\n", encoding="utf-8")
        config = write_yaml(
            base / "cintel.yaml",
            {
                "name": "acme_shop",
                "sources": {
                    "src": {
                        "connector": "files",
                        "config": {"streams": [{"name": "people", "path": "data/*.csv"}]},
                    }
                },
            },
        )
        store = _sample().write_store(base / "cintel.duckdb")
        if kind == "no_summary":
            with duckdb.connect(str(store)) as con:
                con.execute("DROP TABLE attribution_summary")
        target = base / "report.html"
        done = run_cli("report", str(config), "-o", str(target))
        assert done.returncode == 0, done.stderr
        out[kind] = target
    return out


def _browse(html: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    chromium = _chromium()
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={WIDTH},{HEIGHT}",
            *args,
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.mark.parametrize(
    ("kind", "colours"),
    [
        # header band, the five channels in the model comparison and channel share
        ("full", ["#172a45", *(KNOWN_CHANNELS[c] for c in CHANNELS)]),
        # journey-length histogram, path chips, customers by number of sources
        ("no_summary", [CONVERTING, NON_CONVERTING, ACCENT, KNOWN_CHANNELS["Paid Search"]]),
    ],
)
def test_screenshot_shows_the_charts(
    reports: dict[str, Path], tmp_path: Path, kind: str, colours: list[str]
) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    done = _browse(reports[kind], tmp_path, f"--screenshot={shot}")
    assert shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = image.convert("RGB")
    counts = pixels.getcolors(maxcolors=WIDTH * HEIGHT)
    assert counts is not None
    assert len(counts) > 300, f"only {len(counts)} colours: a blank page?"
    # mostly the page's light background, but far from a single-colour canvas
    most, _ = max(counts)
    assert most < WIDTH * HEIGHT * 0.85
    found = {rgb for n, rgb in counts if n >= 40}

    def shown(colour: str) -> bool:
        r, g, b = _rgb(colour)
        return any(abs(r - x) + abs(g - y) + abs(b - z) <= 6 for x, y, z in found)

    missing = [c for c in colours if not shown(c)]
    assert not missing, f"palette colours not in the screenshot: {missing}"


def test_dom_holds_every_section_and_no_script(reports: dict[str, Path], tmp_path: Path) -> None:
    done = _browse(reports["full"], tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.count("<svg") == 4
    for section in ("models", "share", "campaigns", "lengths", "paths", "identity"):
        assert f'id="{section}"' in dom
    assert "<script" not in dom
    assert "acme_shop" in dom
    assert "brand_search_q4" in dom
    assert "Paid Search" in dom
