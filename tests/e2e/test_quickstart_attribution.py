"""The quickstart, attributed: the story its generator tells shows in every model.

``examples/quickstart/generate.py`` plays web sessions whose entry (direct, organic
search, Google Ads — some auto-tagged with a ``gclid`` only —, Facebook/Instagram
ads, referrals, newsletter clicks) it draws at random; whether a session buys
depends on the person (engaged people buy, and only people with an account or an
email can) and an email click raises the chance. Engaged people are also the ones
who open and click newsletters. So journeys touching Email convert far more often
than the others, and every model should give Email more credit than its share of
touches; ``examples/quickstart/README.md`` tells the story with the numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

QUICKSTART = ROOT / "examples" / "quickstart"
MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    target = tmp_path_factory.mktemp("attribution") / "quickstart"
    shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns("cintel.duckdb*", "*.lock"))
    done = run_cli("sync", str(target / "cintel.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    return target, json.loads(done.stdout)


def _connect(target: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(target / "cintel.duckdb"), read_only=True)


def test_every_order_is_attributed_once_by_every_model(store: tuple[Path, dict]) -> None:
    target, result = store
    manifest = json.loads((target / "data" / "MANIFEST.json").read_text(encoding="utf-8"))
    orders = manifest["web"]["orders"]
    attribution = result["attribution"]
    assert attribution["conversions"] == orders
    assert attribution["unattributable_conversions"] == 0
    assert attribution["models"] == list(MODELS)
    with _connect(target) as con:
        revenue = con.execute(
            "SELECT sum(json_extract(_cintel_payload, '$.properties.revenue')::DOUBLE) "
            "FROM raw_web__events "
            "WHERE json_extract_string(_cintel_payload, '$.event') = 'Order Completed'"
        ).fetchone()
        totals = con.execute(
            "SELECT model, sum(conversions), sum(value), sum(share) FROM attribution_summary "
            "WHERE dimension = 'channel' GROUP BY model"
        ).fetchall()
        per_order = con.execute(
            "SELECT count(*) FROM (SELECT model, conversion_id, sum(credit) AS c "
            "FROM attribution_credit GROUP BY ALL) WHERE abs(c - 1) > 1e-9"
        ).fetchone()
    assert revenue is not None
    assert per_order == (0,)
    assert {m for m, *_ in totals} == set(MODELS)
    for model, conversions, value, share in totals:
        assert conversions == pytest.approx(orders), model
        assert value == pytest.approx(revenue[0]), model
        assert share == pytest.approx(1.0), model


def test_the_channels_of_the_story_and_auto_tagged_clicks(store: tuple[Path, dict]) -> None:
    target, result = store
    assert set(result["attribution"]["channels"]) == {
        "Direct",
        "Email",
        "Organic Search",
        "Organic Social",
        "Organic Video",
        "Paid Search",
        "Paid Shopping",
        "Paid Social",
        "Referral",
    }
    with _connect(target) as con:
        gclid_only = con.execute(
            "SELECT a.channel, count(*) FROM attribution_touchpoints a JOIN touchpoints t "
            "USING (touchpoint_id) WHERE t.url LIKE '%?gclid=%' AND t.utm_source IS NULL "
            "AND a.starts_touch GROUP BY ALL"
        ).fetchall()
    assert gclid_only, "the generator auto-tags some Google Ads clicks"
    assert {c for c, _ in gclid_only} == {"Paid Search"}


def test_email_earns_more_than_its_share_of_touches_in_every_model(
    store: tuple[Path, dict],
) -> None:
    target, _ = store
    with _connect(target) as con:
        touches = dict(
            con.execute(
                "SELECT channel, count(*) / sum(count(*)) OVER () FROM attribution_touchpoints "
                "WHERE starts_touch GROUP BY channel"
            ).fetchall()
        )
        shares = {
            m: s
            for m, s in con.execute(
                "SELECT model, share FROM attribution_summary "
                "WHERE dimension = 'channel' AND key = 'Email'"
            ).fetchall()
        }
        rates = dict(
            con.execute(
                "SELECT path LIKE '%Email%', sum(conversions) / sum(journeys) "
                "FROM attribution_paths GROUP BY 1"
            ).fetchall()
        )
    assert rates[True] > 2 * rates[False]  # email clickers are the engaged buyers
    for model in MODELS:
        assert shares[model] > 1.3 * touches["Email"], (model, shares[model], touches["Email"])
    # a newsletter click opens many journeys: first touch credits Email more than last
    assert shares["first_touch"] > shares["last_touch"]


def test_cintel_attribution_shows_the_stored_comparison(store: tuple[Path, dict]) -> None:
    target, _ = store
    done = run_cli("attribution", str(target / "cintel.yaml"), "--stored")
    assert done.returncode == 0, done.stderr
    assert "Email" in done.stdout
    assert "markov" in done.stdout
    one = run_cli(
        "attribution", str(target / "cintel.yaml"), "--stored", "--model", "shapley", "--json"
    )
    assert one.returncode == 0, one.stderr
    rows = json.loads(one.stdout)
    assert {r["dimension"] for r in rows} == {"channel", "campaign"}
    bad = run_cli("attribution", str(target / "cintel.yaml"), "--stored", "--model", "nope")
    assert bad.returncode != 0
    assert "no model 'nope'" in bad.stdout + bad.stderr
