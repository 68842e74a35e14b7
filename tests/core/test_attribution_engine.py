"""The attribution step on a store: channels, touches, journeys, goals and the tables.

Each test puts a few canonical rows in an in-memory DuckDB store, unifies them and
runs :class:`~cintel.attribution.engine.Attributor`; the expected numbers are worked
out in the test from the rules in :mod:`cintel.attribution.engine`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from cintel.attribution.config import AttributionConfig
from cintel.attribution.engine import (
    OUTPUT_TABLES,
    RUNS_TABLE,
    AttributionError,
    Attributor,
    resolve_models,
)
from cintel.attribution.models import BUILTIN_MODELS, ModelConfig, TouchpointModel
from cintel.errors import ConfigError
from test_unify import Store, at, ids

SITE = "https://shop.example"
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)


def page(
    key: str,
    when: datetime,
    anon: str,
    *,
    path: str = "/",
    source: str | None = None,
    medium: str | None = None,
    campaign: str | None = None,
    referrer: str | None = None,
    query: str = "",
    event_type: str = "page",
    channel: str | None = None,
    origin: str = "web",
    **more_ids: str,
) -> tuple[str, dict[str, Any]]:
    return "touchpoints", {
        "touchpoint_id": key,
        "occurred_at": when,
        "event_type": event_type,
        "utm_source": source,
        "utm_medium": medium,
        "utm_campaign": campaign,
        "referrer": referrer,
        "url": f"{SITE}{path}{query}",
        "channel": channel,
        "identifiers": ids(anonymous_id=anon, **more_ids),
        "_cintel_source": origin,
        "_cintel_stream": "events",
        "_cintel_record_key": key,
    }


def order(
    key: str,
    when: datetime,
    anon: str,
    value: float | None = 100.0,
    *,
    kind: str = "purchase",
    currency: str | None = "USD",
) -> tuple[str, dict[str, Any]]:
    return "conversions", {
        "conversion_id": key,
        "occurred_at": when,
        "type": kind,
        "value": value,
        "currency": currency,
        "identifiers": ids(anonymous_id=anon),
        "_cintel_source": "web",
        "_cintel_stream": "events",
        "_cintel_record_key": key,
    }


def attribute(store: Store, config: AttributionConfig | None = None, **kw: Any) -> Any:
    store.unify()
    return Attributor(store.con, config or AttributionConfig(**kw), now=at(2000)).run()


def rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return store.duck.execute(sql, list(params)).fetchall()


def credit(store: Store, model: str) -> dict[str, list[tuple[str | None, str, float]]]:
    """Per conversion: (touchpoint, channel, credit) in journey order."""
    out: dict[str, list[tuple[str | None, str, float]]] = defaultdict(list)
    for conv, tp, ch, c in rows(
        store,
        "SELECT conversion_id, touchpoint_id, channel, credit FROM attribution_credit "
        "WHERE model = ? ORDER BY conversion_id, position",
        model,
    ):
        out[conv].append((tp, ch, c))
    return dict(out)


def summary(store: Store, model: str, dimension: str = "channel") -> dict[str, float]:
    return {
        k: c
        for k, c in rows(
            store,
            "SELECT key, conversions FROM attribution_summary WHERE model = ? AND dimension = ?",
            model,
            dimension,
        )
    }


T0 = at(0)


# ------------------------------------------------------------------ touches and channels
def test_a_session_is_one_touch_with_the_channel_its_landing_page_brought() -> None:
    # a1: lands from a Google ad (utm on the landing page only), browses 3 pages
    # (internal referrers), comes back 2 h later typing the address (Direct: new
    # session), then clicks a newsletter link, and orders in that session.
    s = Store().put(
        page("p1", T0, "a1", source="google", medium="cpc", campaign="brand", query="?utm=1"),
        page("p2", T0 + 2 * MIN, "a1", path="/jackets", referrer=f"{SITE}/?utm=1"),
        page("p3", T0 + 4 * MIN, "a1", path="/jackets/1", referrer=f"{SITE}/jackets"),
        page("p4", T0 + 120 * MIN, "a1"),
        page("p5", T0 + 125 * MIN, "a1", path="/sale", referrer=f"{SITE}/"),
        page("p6", T0 + 200 * MIN, "a1", source="newsletter", medium="email", campaign="fall"),
        page("p7", T0 + 203 * MIN, "a1", path="/cart", referrer=f"{SITE}/"),
        order("o1", T0 + 204 * MIN, "a1", 90.0),
    )
    result = attribute(s)
    labelled = dict(
        rows(s, "SELECT touchpoint_id, channel FROM attribution_touchpoints ORDER BY 1")
    )
    assert labelled == {
        "p1": "Paid Search",
        "p2": "Paid Search",  # internal navigation keeps the session's channel
        "p3": "Paid Search",
        "p4": "Direct",  # 116 min pause: a new session, nothing brought a channel
        "p5": "Direct",
        "p6": "Email",  # 75 min pause and utm tags
        "p7": "Email",
    }
    starts = rows(s, "SELECT touchpoint_id FROM attribution_touchpoints WHERE starts_touch")
    assert sorted(r[0] for r in starts) == ["p1", "p4", "p6"]
    assert result.touches == 3
    # three touches: first touch 1 to Paid Search, last touch 1 to Email, linear 1/3 each
    assert credit(s, "first_touch") == {
        "o1": [("p1", "Paid Search", 1.0), ("p4", "Direct", 0.0), ("p6", "Email", 0.0)]
    }
    assert [c for *_, c in credit(s, "last_touch")["o1"]] == [0.0, 0.0, 1.0]
    assert [c for *_, c in credit(s, "linear")["o1"]] == pytest.approx([1 / 3] * 3)
    # position based 40/20/40: first 0.4, the one in between 0.2, last 0.4
    assert [c for *_, c in credit(s, "position_based")["o1"]] == pytest.approx([0.4, 0.2, 0.4])
    # last non-direct: Email is last and not direct
    assert summary(s, "last_non_direct") == pytest.approx(
        {"Paid Search": 0.0, "Direct": 0.0, "Email": 1.0}
    )
    values = rows(s, "SELECT sum(value_credit) FROM attribution_credit WHERE model = 'linear'")
    assert values[0][0] == pytest.approx(90.0)


def test_a_touchpoint_bringing_another_channel_starts_a_touch_inside_a_session() -> None:
    # typed the address, then 5 minutes later came back through a Facebook ad (same
    # session by time, but the ad brought Paid Social); then a page of the same ad's
    # landing again (same channel: no new touch)
    s = Store().put(
        page("p1", T0, "a1"),
        page("p2", T0 + 5 * MIN, "a1", source="facebook", medium="paid_social", campaign="c"),
        page("p3", T0 + 6 * MIN, "a1", source="facebook", medium="paid_social", campaign="c"),
        order("o1", T0 + 7 * MIN, "a1"),
    )
    attribute(s)
    assert [(tp, ch) for tp, ch, _ in credit(s, "linear")["o1"]] == [
        ("p1", "Direct"),
        ("p2", "Paid Social"),
    ]


def test_referrers_click_ids_and_preset_channels() -> None:
    s = Store().put(
        # outside referrer: Referral; a search engine: Organic Search
        page("r1", T0, "a1", referrer="https://gearlab.example/reviews/boots"),
        page("r2", T0 + DAY, "a1", referrer="https://www.google.com/"),
        # auto-tagged ad click: only a gclid in the URL
        page("r3", T0 + 2 * DAY, "a1", query="?gclid=abc123", referrer="https://www.google.com/"),
        # a connector that knows the channel says so
        page("r4", T0 + 3 * DAY, "a1", channel="Partners", origin="crm"),
        # the site's own host as referrer after a pause: Direct, not Referral
        page("r5", T0 + 4 * DAY, "a1", referrer=f"{SITE}/jackets"),
        order("o1", T0 + 4 * DAY + MIN, "a1"),
    )
    attribute(s)
    assert [ch for _, ch, _ in credit(s, "linear")["o1"]] == [
        "Referral",
        "Organic Search",
        "Paid Search",
        "Partners",
        "Direct",
    ]


def test_own_domains_from_config_and_user_rules_in_front_of_the_defaults() -> None:
    s = Store().put(
        page("r1", T0, "a1", referrer="https://blog.shop.example/post"),
        page("r2", T0 + DAY, "a1", source="partnerx", medium="partner"),
        order("o1", T0 + DAY + MIN, "a1"),
    )
    config = AttributionConfig.model_validate(
        {
            "channels": {
                "own_domains": ["shop.example"],  # and so its subdomains
                "rules": [{"name": "Partners", "medium": "partner"}],
            }
        }
    )
    attribute(s, config)
    assert [ch for _, ch, _ in credit(s, "linear")["o1"]] == ["Direct", "Partners"]


def test_mail_sends_opens_and_bounces_are_no_touches() -> None:
    s = Store().put(
        page("m1", T0, "a1", source="newsletter", medium="email", event_type="email_sent"),
        page("m2", T0 + DAY, "a1", source="newsletter", medium="email", event_type="email_open"),
        page("m3", T0 + 2 * DAY, "a1", source="newsletter", medium="email", event_type="bounce"),
        page("m4", T0 + 3 * DAY, "a1", source="newsletter", medium="email", event_type="click"),
        order("o1", T0 + 3 * DAY + MIN, "a1"),
    )
    result = attribute(s)
    assert result.excluded_touchpoints == 3
    assert [tp for tp, _, _ in credit(s, "linear")["o1"]] == ["m4"]
    # opens count when the user says so
    attribute(s, exclude_events=["*sent", "*bounce*"])
    assert [tp for tp, _, _ in credit(s, "linear")["o1"]] == ["m2", "m4"]


# ------------------------------------------------------------------ journeys
def test_the_lookback_window_and_the_previous_conversion_bound_a_journey() -> None:
    s = Store().put(
        page("old", T0, "a1", referrer="https://www.bing.com/"),  # 40 days before o1
        page("t1", T0 + 35 * DAY, "a1", source="google", medium="cpc"),
        order("o1", T0 + 40 * DAY, "a1"),
        page("t2", T0 + 41 * DAY, "a1", referrer="https://gearlab.example/"),
        order("o2", T0 + 42 * DAY, "a1"),
    )
    attribute(s)
    journeys = credit(s, "linear")
    assert [tp for tp, _, _ in journeys["o1"]] == ["t1"]  # "old" is past 30 days
    assert [tp for tp, _, _ in journeys["o2"]] == ["t2"]  # t1 belongs to o1 only
    attribute(s, lookback_days=45)
    assert [tp for tp, _, _ in credit(s, "linear")["o1"]] == ["old", "t1"]


def test_a_conversion_without_touches_goes_to_the_empty_journey_channel() -> None:
    # a1's only page came after the order; the order's journey is empty
    s = Store().put(order("o1", T0, "a1", 50.0), page("p1", T0 + DAY, "a1"))
    result = attribute(s)
    assert credit(s, "markov") == {"o1": [(None, "Direct", 1.0)]}
    assert result.goals["conversion"].without_touch == 1
    attribute(s, empty_journey_channel="(none)")
    assert credit(s, "shapley") == {"o1": [(None, "(none)", 1.0)]}


def test_non_converting_journeys_are_kept_for_markov_and_in_the_paths() -> None:
    s = Store().put(
        # b converts after Paid Search > Email; c browses through Referral and leaves;
        # a1 converts, then comes back through Referral (its open journey)
        page("b1", T0, "b", source="google", medium="cpc"),
        page("b2", T0 + DAY, "b", source="newsletter", medium="email"),
        order("ob", T0 + DAY + MIN, "b"),
        page("c1", T0, "c", referrer="https://gearlab.example/"),
        page("a1", T0, "a", referrer="https://gearlab.example/"),
        order("oa", T0 + MIN, "a"),
        page("a2", T0 + 2 * DAY, "a", referrer="https://gearlab.example/"),
    )
    result = attribute(s)
    paths = {
        p: (j, c)
        for p, j, c in rows(s, "SELECT path, journeys, conversions FROM attribution_paths")
    }
    assert paths == {
        "Paid Search > Email": (1, 1),
        "Referral": (3, 1),  # c's and a's open journeys, and a's converting one
    }
    stats = result.goals["conversion"]
    assert (stats.journeys, stats.converting_journeys, stats.conversions) == (4, 2, 2)
    # Markov, order 1: start -> Referral with p 3/4 (converts 1 in 3), start -> Paid
    # Search 1/4 -> Email -> conversion. P(conv) = 3/4 * 1/3 + 1/4 = 1/2. Removing
    # Referral leaves 1/4: RE 1/2; removing Paid Search or Email leaves 1/4: RE 1/2 each.
    # Shares 1/3 each of 2 conversions.
    assert summary(s, "markov") == pytest.approx(
        {"Referral": 2 / 3, "Paid Search": 2 / 3, "Email": 2 / 3}
    )


def test_goals_from_types_events_fixed_values_and_currency() -> None:
    s = Store().put(
        page("p1", T0, "a1", source="google", medium="cpc"),
        page("p2", T0 + MIN, "a1", event_type="Signed Up", path="/register"),
        order("o1", T0 + DAY, "a1", 120.0),
        order("o2", T0 + 2 * DAY, "a1", 80.0, currency="EUR"),
        order("l1", T0 + 3 * DAY, "a1", None, kind="lead", currency=None),
    )
    config = AttributionConfig.model_validate(
        {
            "goals": [
                {"name": "purchase", "types": ["purchase"], "currency": "usd"},
                {"name": "signup", "events": ["Signed Up"], "value": 20},
                {"name": "everything"},
            ]
        }
    )
    result = attribute(s, config)
    got = {
        (g, c): v
        for g, c, v in rows(
            s,
            "SELECT goal, conversion_id, sum(value_credit) FROM attribution_credit "
            "WHERE model = 'linear' GROUP BY ALL",
        )
    }
    assert got == pytest.approx(
        {
            ("purchase", "o1"): 120.0,  # o2 is in EUR, l1 a lead
            ("signup", "p2"): 20.0,  # the event's fixed value
            ("everything", "o1"): 120.0,
            ("everything", "o2"): 80.0,
            ("everything", "l1"): 0.0,  # no value: 0
        }
    )
    assert {g: st.conversions for g, st in result.goals.items()} == {
        "purchase": 1,
        "signup": 1,
        "everything": 3,
    }


def test_a_conversion_seen_twice_counts_once_and_orphans_are_labelled_not_attributed() -> None:
    twice = order("o1", T0 + MIN, "a1", 60.0)
    again = dict(twice[1], _cintel_source="crm", _cintel_record_key="crm-o1")
    s = Store().put(
        page("p1", T0, "a1", source="google", medium="cpc"),
        twice,
        ("conversions", again),
        # nobody: its only identifier is a blocked placeholder
        page("x1", T0, "anonymous", referrer="https://gearlab.example/"),
    )
    result = attribute(s)
    assert result.goals["conversion"].conversions == 1
    orphan = rows(
        s, "SELECT customer_id, channel FROM attribution_touchpoints WHERE touchpoint_id = 'x1'"
    )
    assert orphan == [(None, "Referral")]


# ------------------------------------------------------------------ outputs
def test_every_conversions_credits_sum_to_one_and_reruns_give_the_same_tables() -> None:
    items = []
    channels = [
        {"source": "google", "medium": "cpc"},
        {"source": "newsletter", "medium": "email"},
        {"referrer": "https://gearlab.example/"},
        {"source": "facebook", "medium": "paid_social"},
        {},
    ]
    for person in range(40):
        anon = f"a{person}"
        for k in range(1 + person % 4):
            spec = channels[(person * 7 + k * 3) % len(channels)]
            items.append(page(f"{anon}-{k}", T0 + k * DAY + person * MIN, anon, **spec))
        if person % 3:
            items.append(order(f"o{person}", T0 + 5 * DAY + person * MIN, anon, 10.0 + person))
    s = Store().put(*items)
    first = attribute(s)
    sums = rows(
        s,
        "SELECT model, conversion_id, sum(credit), sum(value_credit), any_value(conversion_value)"
        " FROM attribution_credit GROUP BY ALL",
    )
    assert {m for m, *_ in sums} == set(BUILTIN_MODELS)
    for model, conv, total, value, conv_value in sums:
        assert total == pytest.approx(1.0), (model, conv)
        assert value == pytest.approx(conv_value), (model, conv)
    for model in BUILTIN_MODELS:
        shares = summary(s, model)
        assert sum(shares.values()) == pytest.approx(first.goals["conversion"].conversions)

    def query(table: str) -> str:
        run = "" if table == "attribution_touchpoints" else " EXCLUDE (run_id)"
        return f"SELECT *{run} FROM {table} ORDER BY ALL"

    tables = {t: rows(s, query(t)) for t in OUTPUT_TABLES}
    attribute(s)
    for name, before in tables.items():
        assert rows(s, query(name)) == before, name
    assert rows(s, f"SELECT count(*) FROM {RUNS_TABLE}") == [(2,)]
    leftovers = rows(
        s, "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '_cintel_attr_')"
    )
    assert leftovers == []


def test_the_campaign_dimension_falls_back_to_the_channel_in_brackets() -> None:
    s = Store().put(
        page("p1", T0, "a1", source="google", medium="cpc", campaign="brand_search"),
        page("p2", T0 + DAY, "a1", referrer="https://www.google.com/"),
        page("p3", T0 + 2 * DAY, "a1"),
        order("o1", T0 + 2 * DAY + MIN, "a1"),
    )
    attribute(s)
    assert summary(s, "linear", "campaign") == pytest.approx(
        {"brand_search": 1 / 3, "(Organic Search)": 1 / 3, "(Direct)": 1 / 3}
    )
    # Direct is the touch's channel in either dimension: the last non-direct touch wins
    assert summary(s, "last_non_direct", "campaign") == pytest.approx(
        {"brand_search": 0.0, "(Organic Search)": 1.0, "(Direct)": 0.0}
    )
    # a summary by campaign alone still leaves the touch credit and paths by channel
    attribute(s, dimensions=["campaign"])
    assert rows(s, "SELECT DISTINCT dimension FROM attribution_summary") == [("campaign",)]
    assert [ch for _, ch, _ in credit(s, "linear")["o1"]] == [
        "Paid Search",
        "Organic Search",
        "Direct",
    ]
    assert rows(s, "SELECT path FROM attribution_paths") == [
        ("Paid Search > Organic Search > Direct",)
    ]


def test_attribution_needs_unify_first() -> None:
    s = Store().put(page("p1", T0, "a1"))
    for table, rows_ in s.rows.items():
        from cintel.model import to_arrow

        s.duck.register("incoming", to_arrow(table, list(rows_.values())))
        s.duck.execute(f"CREATE TABLE {table} AS SELECT * FROM incoming")
    with pytest.raises(AttributionError, match="run `cintel unify` first"):
        Attributor(s.con).run()


# ------------------------------------------------------------------ models and config
class HalfAndHalf(TouchpointModel[ModelConfig]):
    """Half to the first touch, half to the last (a plugin's model)."""

    name = "half_and_half"

    def shares(self, journeys: Any) -> Any:
        import numpy as np

        n = journeys.lengths[journeys.journey_index]
        first = journeys.rank == 0
        last = journeys.rank == n - 1
        return np.where(n == 1, 1.0, 0.5 * first + 0.5 * last)


def test_models_are_picked_configured_and_extended_by_plugins() -> None:
    s = Store().put(
        page("p1", T0, "a1", source="google", medium="cpc"),
        page("p2", T0 + DAY, "a1", referrer="https://gearlab.example/"),
        page("p3", T0 + 2 * DAY, "a1", source="newsletter", medium="email"),
        order("o1", T0 + 2 * DAY + MIN, "a1"),
    )
    config = AttributionConfig.model_validate(
        {
            "models": {
                "mine": {"model": "half_and_half"},
                "decay_1d": {"model": "time_decay", "half_life_days": 1},
            }
        }
    )
    s.unify()
    registered = {**BUILTIN_MODELS, "half_and_half": HalfAndHalf}
    result = Attributor(s.con, config, models=registered).run()
    assert result.models == ["mine", "decay_1d"]
    assert [c for *_, c in credit(s, "mine")["o1"]] == [0.5, 0.0, 0.5]
    # half-life 1 day: weights 2^-2, 2^-1, 2^0 (ages 2 d, 1 d, 1 min: ~1)
    w = [2 ** (-(2 * 1440 + 1) / 1440), 2 ** (-(1440 + 1) / 1440), 2 ** (-1 / 1440)]
    assert [c for *_, c in credit(s, "decay_1d")["o1"]] == pytest.approx([x / sum(w) for x in w])


@pytest.mark.parametrize(
    ("models", "where", "message"),
    [
        ({"nope": {}}, "attribution.models.nope", "unknown model 'nope'"),
        ({"markov": {"order": 5}}, "attribution.models.markov.order", "less than or equal to 3"),
        ({"linear": {"colour": "red"}}, "attribution.models.linear.colour", "unknown field"),
    ],
)
def test_model_config_errors_name_the_field(
    models: dict[str, Any], where: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_models(models, BUILTIN_MODELS)
    text = str(info.value)
    assert where in text, text
    assert message in text, text


def test_config_errors_name_the_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="goal name\\(s\\) used twice: a"):
        AttributionConfig.model_validate({"goals": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ValidationError, match="lookback_days"):
        AttributionConfig.model_validate({"lookback_days": 0})
    with pytest.raises(ValidationError, match="invalid regular expression"):
        AttributionConfig.model_validate({"channels": {"rules": [{"name": "X", "medium": "("}]}})
    assert AttributionConfig.model_validate({"models": ["linear", "markov"]}).models == {
        "linear": {},
        "markov": {},
    }


def test_glob_patterns_become_anchored_regexes() -> None:
    import re

    from cintel.attribution.config import glob_regex

    pattern = re.compile(glob_regex("email.*open?"))
    assert pattern.match("email.xopen1")
    assert not pattern.match("emailxopen1")  # the dot is literal
    assert not pattern.match("my email.open1")  # anchored
