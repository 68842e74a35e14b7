"""Channel grouping: GA4's default rules, user overrides, the vectorised classifier."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from cintel.attribution.channels import (
    ChannelRule,
    ChannelRules,
    classify,
    click_id_kind,
    referrer_host,
)
from cintel.errors import ConfigError

GA4 = ChannelRules.ga4_default()


def channel_of(
    *,
    source: str | None = None,
    medium: str | None = None,
    campaign: str | None = None,
    referrer: str | None = None,
    url: str | None = None,
    rules: ChannelRules = GA4,
) -> str:
    """Classify one touchpoint the way the pipeline does: URL helpers, then classify."""
    result = classify(
        rules,
        {
            "source": [source],
            "medium": [medium],
            "campaign": [campaign],
            "referrer_host": referrer_host([referrer]),
            "click_id": click_id_kind([url]),
        },
    )
    return str(result[0].as_py())


@pytest.mark.parametrize(
    ("touchpoint", "expected"),
    [
        # utm tags
        ({"source": "google", "medium": "cpc"}, "Paid Search"),
        ({"source": "Google", "medium": "CPC "}, "Paid Search"),  # case and spaces ignored
        ({"source": "bing", "medium": "ppc"}, "Paid Search"),
        ({"source": "facebook", "medium": "paid_social"}, "Paid Social"),
        ({"source": "l.instagram.com", "medium": "paid"}, "Paid Social"),
        ({"source": "youtube", "medium": "cpc"}, "Paid Video"),
        ({"source": "amazon", "medium": "cpc"}, "Paid Shopping"),
        # GA4's shopping-campaign regex wins over the search source
        ({"source": "google", "medium": "cpc", "campaign": "summer_shopping"}, "Paid Shopping"),
        ({"source": "google", "medium": "cpc", "campaign": "pmax cross-network"}, "Cross-network"),
        ({"source": "gdn", "medium": "display"}, "Display"),
        ({"source": "criteo", "medium": "retargeting"}, "Paid Other"),
        ({"source": "etsy", "medium": "referral"}, "Organic Shopping"),
        ({"source": "linkedin", "medium": "social"}, "Organic Social"),
        ({"source": "x", "medium": "post"}, "Organic Social"),
        ({"source": "forum", "medium": "social-network"}, "Organic Social"),
        ({"source": "vimeo", "medium": "embed"}, "Organic Video"),
        ({"source": "google", "medium": "organic"}, "Organic Search"),
        ({"source": "duckduckgo", "medium": "referral"}, "Organic Search"),
        ({"source": "partner-blog", "medium": "referral"}, "Referral"),
        ({"source": "newsletter", "medium": "email"}, "Email"),
        ({"source": "e-mail", "medium": "weekly"}, "Email"),
        ({"source": "partner", "medium": "affiliate"}, "Affiliates"),
        ({"source": "spotify", "medium": "audio"}, "Audio"),
        ({"source": "twilio", "medium": "sms"}, "SMS"),
        ({"source": "onesignal", "medium": "web_push"}, "Mobile Push Notifications"),
        ({"source": "(direct)", "medium": "(none)"}, "Direct"),
        ({"source": "(direct)", "medium": "(not set)"}, "Direct"),
        ({"source": "newsletter"}, "Unassigned"),  # a source without a medium
        # click ids
        ({"url": "https://shop.example/?gclid=Cj0KCQ"}, "Paid Search"),
        ({"url": "https://shop.example/p?x=1&msclkid=abc"}, "Paid Search"),
        ({"url": "https://shop.example/?ttclid=E.C.P"}, "Paid Social"),
        ({"url": "https://shop.example/?fbclid=IwAR"}, "Organic Social"),
        (
            {"url": "https://shop.example/?fbclid=IwAR", "source": "meta_ads", "medium": "paid"},
            "Paid Social",
        ),
        # auto-tagging wins over generic utm rules (GA4's default) ...
        (
            {"url": "https://shop.example/?gclid=1", "source": "news", "medium": "email"},
            "Paid Search",
        ),
        # ... but a click id after '#' or without a value is no click id
        ({"url": "https://shop.example/#gclid=1"}, "Direct"),
        ({"url": "https://shop.example/?gclid="}, "Direct"),
        # no utm: the referrer decides
        ({"referrer": "https://www.google.com/"}, "Organic Search"),
        ({"referrer": "https://www.google.co.uk/search?q=shoes"}, "Organic Search"),
        ({"referrer": "https://cn.bing.com/"}, "Organic Search"),
        ({"referrer": "https://t.co/abc"}, "Organic Social"),
        ({"referrer": "https://m.facebook.com/"}, "Organic Social"),
        ({"referrer": "https://www.youtube.com/watch?v=1"}, "Organic Video"),
        ({"referrer": "https://www.amazon.de/dp/1"}, "Organic Shopping"),
        ({"referrer": "https://mail.google.com/mail/u/0/"}, "Referral"),  # webmail is no search
        ({"referrer": "https://blog.example.org/post"}, "Referral"),
        ({}, "Direct"),
        ({"referrer": ""}, "Direct"),
        # utm tags beat the referrer
        ({"source": "newsletter", "medium": "email", "referrer": "https://google.com"}, "Email"),
    ],
)
def test_ga4_default_grouping(touchpoint: dict[str, str], expected: str) -> None:
    assert channel_of(**touchpoint) == expected


def test_a_user_rule_comes_first_and_overrides_only_what_it_matches() -> None:
    rules = ChannelRules.from_config(
        rules=[
            {"name": "Partners", "source": "partner.*", "medium": "affiliate|referral"},
            {"name": "Brand Search", "source_category": "search", "campaign": "brand.*"},
        ]
    )
    assert channel_of(source="partner-a", medium="affiliate", rules=rules) == "Partners"
    assert channel_of(source="partner-b", medium="referral", rules=rules) == "Partners"
    assert channel_of(source="other", medium="affiliate", rules=rules) == "Affiliates"
    brand = {"source": "google", "medium": "cpc", "campaign": "Brand_2026"}
    assert channel_of(**brand, rules=rules) == "Brand Search"
    assert channel_of(**brand) == "Paid Search"  # the defaults are untouched
    assert channel_of(source="google", medium="cpc", rules=rules) == "Paid Search"


def test_without_the_defaults_unmatched_touchpoints_get_the_fallback() -> None:
    rules = ChannelRules.from_config(
        rules=[ChannelRule(name="Email", medium="email")], extend_default=False, fallback="Other"
    )
    assert [r.name for r in rules.rules] == ["Email"]
    assert channel_of(source="x", medium="email", rules=rules) == "Email"
    assert channel_of(source="google", medium="cpc", rules=rules) == "Other"


def test_a_bad_regex_is_reported_with_its_path_and_the_regex() -> None:
    with pytest.raises(ConfigError) as info:
        ChannelRules.from_config(
            rules=[{"name": "ok", "source": "a"}, {"name": "x", "medium": "(cpc"}]
        )
    assert info.value.problems[0][0] == "rules[1].medium"
    assert "'(cpc'" in info.value.problems[0][1]
    assert "rules[1].medium: invalid regular expression '(cpc'" in str(info.value)


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"name": "x", "sorce": "a"}, "rules[0].sorce", "unknown field"),
        ({"name": "x", "source_category": "news"}, "rules[0].source_category", "'search'"),
        ({"name": "x"}, "rules[0]", "has no condition"),
        ({"medium": "cpc"}, "rules[0].name", "Field required"),
    ],
)
def test_other_rule_errors_name_the_field(rule: dict[str, str], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ChannelRules.from_config(rules=[rule])
    assert info.value.problems[0][0] == path
    assert message in info.value.problems[0][1]


def test_referrer_host() -> None:
    urls = [
        "https://www.Google.com/search?q=1",
        "http://user:pw@shop.example.org:8080/a",
        "android-app://com.google.android.gm/",
        "google.com/x",
        "https://app.acme.com/page",
        "https://acme.com/",
        "https://notacme.com/",
        "/relative/path",
        "",
        None,
    ]
    assert referrer_host(urls, own_hosts=["www.acme.com"]).to_pylist() == [
        "google.com",
        "shop.example.org",
        "com.google.android.gm",
        "google.com",
        None,  # a subdomain of an own host
        None,
        "notacme.com",
        None,
        None,
        None,
    ]


def test_click_id_kind() -> None:
    urls = [
        "https://a.example/?utm_source=x&gclid=abc",
        "https://a.example/?FBCLID=zz&gclid=1",  # the first one wins, lower-cased
        "https://a.example/?li_fat_id=1",
        "https://a.example/?xgclid=1",  # not that parameter
        "https://a.example/?gclid=",
        "https://a.example/#gclid=1",
        None,
    ]
    assert click_id_kind(urls).to_pylist() == [
        "gclid",
        "fbclid",
        "li_fat_id",
        None,
        None,
        None,
        None,
    ]


def test_classify_takes_arrow_arrays_chunked_and_dictionary_arrays_and_missing_columns() -> None:
    source = pa.chunked_array([["google", None], ["newsletter"]])
    medium = pa.array(["cpc", None, "email"]).dictionary_encode()
    result = classify(GA4, {"source": source, "medium": medium})
    assert result.to_pylist() == ["Paid Search", "Direct", "Email"]
    assert classify(GA4, {"source": []}).to_pylist() == []


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"source": ["a"], "medium": ["a", "b"]}, "differ in length"),
        ({"utm_source": ["a"]}, "unknown column"),
        ({}, "at least one column"),
    ],
)
def test_classify_rejects_bad_columns(columns: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classify(GA4, columns)


def test_vectorised_classification_equals_row_by_row() -> None:
    rng = random.Random(11)
    sources = ["google", "Google ", "facebook", "newsletter", "(direct)", "amazon", "", None]
    mediums = ["cpc", "CPC", "email", "social", "(none)", "referral", "", None]
    campaigns = ["spring_shop", "brand", None]
    referrers = ["google.com", "t.co", "blog.example.org", None]
    click_ids = ["gclid", "fbclid", None]
    fields = (sources, mediums, campaigns, referrers, click_ids)
    distinct: set[tuple[str | None, ...]] = set()
    while len(distinct) < 50:
        distinct.add(tuple(rng.choice(values) for values in fields))
    tuples = sorted(distinct, key=repr)
    rows = [rng.choice(tuples) for _ in range(100_000)]
    names = ("source", "medium", "campaign", "referrer_host", "click_id")
    columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(names)}
    vectorised = classify(GA4, columns).to_pylist()
    row_by_row = [GA4.classify_one(**dict(zip(names, r, strict=True))) for r in rows]
    assert vectorised == row_by_row
    assert len(set(row_by_row)) >= 8  # the rows really span many channels
