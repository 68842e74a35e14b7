"""Attribution models: hand-worked examples, edge cases and properties."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction as F
from typing import Any

import numpy as np
import pytest
from cintel.attribution.models import (
    BUILTIN_MODELS,
    AttributionModel,
    Journeys,
    LinearModel,
    MarkovModel,
    Paths,
    PositionBasedModel,
    ShapleyModel,
    TimeDecayModel,
    _subgame_values,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

DAY = 86_400.0
ABC = ("A", "B", "C")

# (path, converted, value, seconds before conversion of each touchpoint)
Journey = tuple[Sequence[int], bool, float, Sequence[float]]


def journeys_of(
    spec: Sequence[Journey], channels: Sequence[str] = ABC, direct: str = "D"
) -> Journeys:
    """Journeys from ``(path, converted, value, seconds)`` tuples; ``direct`` names Direct."""
    ids, pos, chan, secs, conv, val = [], [], [], [], [], []
    for j, (path, converted, value, seconds) in enumerate(spec):
        for k, c in enumerate(path):
            ids.append(j)
            pos.append(k)
            chan.append(c)
            secs.append(seconds[k])
            conv.append(converted)
            val.append(value)
    chan_arr = np.array(chan, dtype=np.int64)
    is_direct = np.array([channels[c] == direct for c in chan], dtype=bool)
    return Journeys(channels, ids, pos, chan_arr, secs, is_direct, conv, val)


def expand(paths: Paths) -> Journeys:
    """One journey per conversion and per null of every path (value split evenly)."""
    spec: list[Journey] = []
    for p, path in enumerate(paths.paths):
        conv, null = int(paths.conversions[p]), int(paths.nulls[p])
        secs = [float(len(path) - k) for k in range(len(path))]
        spec += [(path, True, paths.values[p] / conv, secs)] * conv
        spec += [(path, False, 0.0, secs)] * null
    return journeys_of(spec, paths.channels)


def per_journey(journeys: Journeys, credit: np.ndarray) -> list[list[float]]:
    bounds = [*journeys.starts.tolist(), len(journeys)]
    return [credit[a:b].tolist() for a, b in itertools.pairwise(bounds)]


def model(name: str, **config: Any) -> AttributionModel[Any]:
    return BUILTIN_MODELS[name](config)


# --------------------------------------------------------------------------- rule-based
# One converting journey A -> B -> C -> B (value 100) touched 10, 7, 3 and 0 days
# before the conversion, and one non-converting journey.
FOUR = journeys_of(
    [
        ((0, 1, 2, 1), True, 100.0, (10 * DAY, 7 * DAY, 3 * DAY, 0.0)),
        ((2, 0), False, 0.0, (5 * DAY, DAY)),
    ]
)


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("first_touch", {}, [1, 0, 0, 0]),
        ("last_touch", {}, [0, 0, 0, 1]),
        ("last_non_direct", {}, [0, 0, 0, 1]),  # nothing is Direct here
        ("linear", {}, [0.25, 0.25, 0.25, 0.25]),
        # 40/20/40: the two middle touchpoints share 0.2
        ("position_based", {}, [0.4, 0.1, 0.1, 0.4]),
        ("position_based", {"first": 0.3, "last": 0.5}, [0.3, 0.1, 0.1, 0.5]),
    ],
)
def test_rule_based_models_by_hand(
    name: str, config: dict[str, Any], expected: list[float]
) -> None:
    credit = model(name, **config).credit(FOUR)
    assert per_journey(FOUR, credit) == [pytest.approx(expected, abs=1e-15), [0.0, 0.0]]


def test_time_decay_by_hand() -> None:
    # half-life 7 days: weights 2^(-10/7), 2^(-7/7) = 1/2, 2^(-3/7), 2^0 = 1;
    # 2^(-10/7) = 2^(-1) * 2^(-3/7) = 0.371498572..., 2^(-3/7) = 0.742997144...
    # sum = 0.371498572 + 0.5 + 0.742997144 + 1 = 2.614495716
    # shares = 0.142092, 0.191241, 0.284183, 0.382483
    w = [0.5 * 2 ** (-3 / 7), 0.5, 2 ** (-3 / 7), 1.0]
    expected = [x / sum(w) for x in w]
    assert expected == pytest.approx([0.142092, 0.191241, 0.284183, 0.382483], abs=1e-6)
    credit = TimeDecayModel().credit(FOUR)
    assert per_journey(FOUR, credit)[0] == pytest.approx(expected, abs=1e-15)
    # half-life 1 day: 2^-10, 2^-7, 2^-3, 1 -> the last touchpoint dominates
    w1 = [2.0**-10, 2.0**-7, 2.0**-3, 1.0]
    credit = TimeDecayModel({"half_life_days": 1}).credit(FOUR)
    assert per_journey(FOUR, credit)[0] == pytest.approx([x / sum(w1) for x in w1], abs=1e-15)


def test_time_decay_survives_touchpoints_years_old() -> None:
    # 2^(-3650/7) underflows to 0 in float64; relative to the newest touchpoint it
    # is still 2^0 = 1 for the newest and 2^-1 for one 7 days older.
    old = journeys_of([((0, 1), True, 1.0, (3657 * DAY, 3650 * DAY))])
    assert TimeDecayModel().credit(old).tolist() == pytest.approx([1 / 3, 2 / 3], abs=1e-15)


def test_last_non_direct_skips_direct_and_falls_back_to_last() -> None:
    channels = ("A", "B", "D")
    journeys = journeys_of(
        [
            ((0, 1, 2, 2), True, 1.0, (4, 3, 2, 1)),  # B is the last non-direct
            ((2, 2), True, 1.0, (2, 1)),  # all Direct: the last touchpoint
            ((2, 0, 2), True, 1.0, (3, 2, 1)),
        ],
        channels,
    )
    credit = model("last_non_direct").credit(journeys)
    assert per_journey(journeys, credit) == [[0, 1, 0, 0], [0, 1], [0, 1, 0]]
    assert per_journey(journeys, model("last_touch").credit(journeys))[0] == [0, 0, 0, 1]


def test_position_based_short_journeys() -> None:
    journeys = journeys_of(
        [((0,), True, 1.0, (1,)), ((0, 1), True, 1.0, (2, 1)), ((0, 1, 2), True, 1.0, (3, 2, 1))]
    )
    assert per_journey(journeys, PositionBasedModel().credit(journeys)) == [
        [1.0],
        [0.5, 0.5],  # two touchpoints: 0.4/0.8 and 0.4/0.8
        pytest.approx([0.4, 0.2, 0.4]),
    ]
    skewed = PositionBasedModel({"first": 0.3, "last": 0.5}).credit(journeys)
    # two touchpoints: 0.3/0.8 = 0.375 and 0.5/0.8 = 0.625
    assert per_journey(journeys, skewed)[1] == pytest.approx([0.375, 0.625], abs=1e-15)
    nothing_at_the_ends = PositionBasedModel({"first": 0, "last": 0}).credit(journeys)
    assert per_journey(journeys, nothing_at_the_ends)[1:] == [[0.5, 0.5], [0, 1, 0]]


def test_rule_based_channel_totals() -> None:
    # linear on FOUR: A 0.25, B 0.5, C 0.25 of one conversion worth 100
    totals = LinearModel().channel_credit(FOUR)
    assert totals.as_dict() == {"A": (0.25, 25.0), "B": (0.5, 50.0), "C": (0.25, 25.0)}


# --------------------------------------------------------------------------- Markov
# Channels A, B, C; four paths (conversions, nulls, value):
#   A > B > C        3  1  30
#   A                1  4   5
#   B > B > A        2  2  40
#   C > A > A > A    1  5   7
HAND = Paths(
    ABC,
    [(0, 1, 2), (0,), (1, 1, 0), (2, 0, 0, 0)],
    np.array([3.0, 1, 2, 1]),
    np.array([30.0, 5, 40, 7]),
    np.array([1.0, 4, 2, 5]),
)


def test_markov_order_1_by_hand() -> None:
    # Transition counts, each path weighted by its 4, 5, 4 and 6 journeys; the
    # self-loops B>B and A>A change nothing (see the model's docstring) and are dropped:
    #   start -> A 9, B 4, C 6                    (of 19)
    #   A -> B 4, conversion 4, null 11           (of 19)
    #   B -> C 4, A 4                             (of 8)
    #   C -> conversion 3, null 1, A 6            (of 10)
    # x_s = P(conversion | in s):
    #   x_A = 4/19 + 4/19 x_B,  x_B = x_C/2 + x_A/2,  x_C = 3/10 + 6/10 x_A
    #   => x_B = 3/20 + 4/5 x_A, x_A (1 - 3.2/19) = 4.6/19 => x_A = 23/79,
    #      x_B = 121/316, x_C = 75/158
    #   P = (9 x_A + 4 x_B + 6 x_C) / 19 = (207 + 121 + 225)/79/19 = 7/19 (= 7 conversions
    #   of 19 journeys: the fitted chain conserves flow)
    # Without A (x_A = 0): x_C = 3/10, x_B = 3/20, P = (0.6 + 1.8)/19 = 12/95
    #   RE_A = 1 - (12/95)/(7/19) = 23/35
    # Without B: x_A = 4/19, x_C = 3/10 + 12/95 = 81/190, P = (36/19 + 243/95)/19 = 423/95/19
    #   RE_B = 1 - 423/665 = 242/665
    # Without C: x_B = x_A/2, x_A = 4/19 + 2/19 x_A = 4/17, x_B = 2/17, P = 44/17/19
    #   RE_C = 1 - 44/119 = 75/119
    removal = [F(23, 35), F(242, 665), F(75, 119)]
    conversions = [7 * r / sum(removal) for r in removal]
    # Value: conversions ending in A are worth 5 + 40 + 7 = 52 (4 conversions), in C 30;
    # the reward of a step is (value of conversions from s) / (journeys leaving s):
    # r_A = 52/19, r_C = 30/10 = 3, and y solves the same system with r for x:
    #   y_A = 52/19 + 4/19 y_B, y_B = y_C/2 + y_A/2, y_C = 3 + 3/5 y_A; V = 82/19 (flow)
    # Without A: y_C = 3, y_B = 3/2, V = (6 + 18)/19 = 24/19      REv_A = 1 - 24/82 = 29/41
    # Without B: y_A = 52/19, y_C = 3 + 156/95 = 441/95,
    #   V = (468/19 + 2646/95)/19 = 4986/95/19                     REv_B = 1 - 4986/7790
    # Without C: y_B = y_A/2, y_A = 52/19 + 2/19 y_A = 52/17,
    #   V = (468/17 + 104/17)/19 = 572/17/19                       REv_C = 1 - 572/1394
    value_removal = [F(29, 41), 1 - F(4986, 7790), 1 - F(572, 1394)]
    values = [82 * r / sum(value_removal) for r in value_removal]

    result = MarkovModel().attribute(HAND)
    assert result.p_conversion == pytest.approx(7 / 19, abs=1e-12)
    assert result.expected_value == pytest.approx(82 / 19, abs=1e-12)
    assert result.removal_effects.tolist() == pytest.approx([float(r) for r in removal], abs=1e-12)
    assert result.conversions.tolist() == pytest.approx([float(c) for c in conversions], abs=1e-12)
    assert result.value_removal_effects.tolist() == pytest.approx(
        [float(r) for r in value_removal], abs=1e-12
    )
    assert result.values.tolist() == pytest.approx([float(v) for v in values], abs=1e-12)
    # value_effects="conversions": the value is split like the conversions
    by_conv = MarkovModel({"value_effects": "conversions"}).attribute(HAND)
    assert by_conv.values.tolist() == pytest.approx(
        [float(82 * r / sum(removal)) for r in removal], abs=1e-12
    )
    # the iterative solver gives the same numbers
    iterative = MarkovModel({"dense_limit": 1}).attribute(HAND)
    assert (iterative.solver, result.solver) == ("iterative", "dense")
    assert iterative.removal_effects == pytest.approx(result.removal_effects, abs=1e-14)
    assert iterative.value_removal_effects == pytest.approx(result.value_removal_effects, abs=1e-14)


def test_markov_touchpoint_credit_by_hand() -> None:
    # A converting journey's credit goes to its channels in proportion to their removal
    # effects, and a channel's share is divided among its touchpoints:
    #   A > B > C: 23/35 : 242/665 : 75/119 normalised
    #   B > B > A: B gets 242/665 / (23/35 + 242/665), split over two touchpoints
    #   C > A > A > A: A gets 23/35 / (23/35 + 75/119), split over three touchpoints
    ra, rb, rc = F(23, 35), F(242, 665), F(75, 119)
    journeys = expand(HAND)
    credit = per_journey(journeys, MarkovModel().credit(journeys))
    s = ra + rb + rc
    assert credit[0] == pytest.approx([float(ra / s), float(rb / s), float(rc / s)], abs=1e-12)
    # expand(HAND): journeys 0-2 convert on A > B > C, 3 does not; 4 converts on A;
    # 9 and 10 convert on B > B > A; 13 converts on C > A > A > A
    assert credit[3] == [0.0, 0.0, 0.0]
    assert credit[4] == [1.0]
    bb = float(rb / (ra + rb) / 2)
    assert credit[9] == pytest.approx([bb, bb, float(ra / (ra + rb))], abs=1e-12)
    a3 = float(ra / (ra + rc) / 3)
    assert credit[13] == pytest.approx([float(rc / (ra + rc)), a3, a3, a3], abs=1e-12)


def test_markov_order_2_by_hand() -> None:
    # Paths (conversions, nulls): A > B > A (2, 0), A > B > B (0, 2), B (1, 1).
    # Order 2 states are windows: (A,B) -> (B,A); (A,B) -> (B,B); a path shorter
    # than 2 is one state (B).
    #   start -> (A,B) 4, (B) 2;  (A,B) -> (B,A) 2, (B,B) 2
    #   (B,A) -> conversion 2;  (B,B) -> null 2;  (B) -> conversion 1, null 1
    # P = 4/6 * (1/2 * 1 + 1/2 * 0) + 2/6 * 1/2 = 1/2
    # Without A: (A,B) and (B,A) go, P = 2/6 * 1/2 = 1/6, RE_A = 1 - (1/6)/(1/2) = 2/3
    # Without B: every state holds B, P = 0, RE_B = 1
    # Conversions: A 3 * (2/3)/(5/3) = 6/5, B 3 * 1/(5/3) = 9/5
    paths = Paths(
        ("A", "B"),
        [(0, 1, 0), (0, 1, 1), (1,)],
        np.array([2.0, 0, 1]),
        np.array([20.0, 0, 10]),
        np.array([0.0, 2, 1]),
    )
    second = MarkovModel({"order": 2}).attribute(paths)
    assert second.n_states == 5  # start, (A,B), (B,A), (B,B), (B)
    assert second.p_conversion == pytest.approx(0.5, abs=1e-12)
    assert second.removal_effects.tolist() == pytest.approx([2 / 3, 1.0], abs=1e-12)
    assert second.conversions.tolist() == pytest.approx([6 / 5, 9 / 5], abs=1e-12)
    # Order 1 on the same paths (B > B dropped as a self-loop):
    #   start -> A 4, B 2;  A -> B 4, conversion 2 (of 6);  B -> A 2, conv 1, null 3 (of 6)
    #   x_A = 1/3 + 2/3 x_B, x_B = 1/6 + 1/3 x_A => x_A = 4/7, x_B = 5/14, P = 1/2
    #   Without A: x_B = 1/6, P = 2/6 * 1/6 = 1/18, RE_A = 8/9
    #   Without B: x_A = 1/3, P = 4/6 * 1/3 = 2/9, RE_B = 5/9
    first = MarkovModel({"order": 1}).attribute(paths)
    assert first.removal_effects.tolist() == pytest.approx([8 / 9, 5 / 9], abs=1e-12)
    assert first.conversions.tolist() == pytest.approx([24 / 13, 15 / 13], abs=1e-12)


def test_markov_collapse_repeats_changes_states_from_order_2() -> None:
    # A > A > B at order 2 is (A,A) -> (A,B); collapsed to A > B it is the one state (A,B)
    paths = Paths(("A", "B"), [(0, 0, 1)], np.array([1.0]), np.array([1.0]), np.array([1.0]))
    assert MarkovModel({"order": 2}).attribute(paths).n_states == 3
    assert MarkovModel({"order": 2, "collapse_repeats": True}).attribute(paths).n_states == 2
    # at order 1 the run A > A is one state either way
    assert MarkovModel({"collapse_repeats": True}).attribute(paths).n_states == 3


def test_markov_channel_that_never_converts_gets_nothing() -> None:
    # C ends non-converting journeys only (A > C, C, A > C > C): from C the chain can
    # only reach null, so removing C (sending C's transitions to null) changes nothing.
    paths = Paths(
        ABC,
        [(0, 1), (2,), (0, 2), (0, 2, 2)],
        np.array([2.0, 0, 0, 0]),
        np.array([10.0, 0, 0, 0]),
        np.array([1.0, 3, 2, 1]),
    )
    for order in (1, 2, 3):
        result = MarkovModel({"order": order}).attribute(paths)
        assert result.removal_effects[2] == 0.0
        assert result.conversions[2] == 0.0
        assert result.values[2] == 0.0
        assert result.conversions.sum() == pytest.approx(2.0, abs=1e-12)


def test_markov_credits_a_non_converting_channel_that_leads_into_converting_ones() -> None:
    # C appears in no converting journey, but C > A does: in the chain, C leads to A,
    # which converts. start -> A 3, C 2 (of 5); C -> A 2 (of 2);
    # A -> B 3 (of 5), A -> null 2; B -> conversion 2, null 1 (of 3).
    # x_B = 2/3, x_A = 3/5 * 2/3 = 2/5, x_C = x_A = 2/5, P = (3 + 2) / 5 * 2/5 = 2/5
    # (2 conversions of 5 journeys). Without C: P = 3/5 * 2/5 = 6/25, RE_C = 1 - 3/5 = 2/5.
    paths = Paths(
        ABC,
        [(0, 1), (2, 0)],
        np.array([2.0, 0.0]),
        np.array([10.0, 0.0]),
        np.array([1.0, 2.0]),
    )
    result = MarkovModel().attribute(paths)
    assert result.p_conversion == pytest.approx(2 / 5, abs=1e-12)
    assert result.removal_effects[2] == pytest.approx(2 / 5, abs=1e-12)
    # A and B are in every converting path of the chain: RE 1 each
    assert result.removal_effects[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    assert result.conversions.tolist() == pytest.approx([2 / 2.4, 2 / 2.4, 0.8 / 2.4], abs=1e-12)


# --------------------------------------------------------------------------- Shapley
def brute_force_shapley(paths: Paths, worth: np.ndarray) -> list[float]:
    """Shapley values from the definition, over every coalition of every channel.

    v(S) = sum of ``worth`` of the paths whose channel set is a subset of S;
    phi_i = sum over S without i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S)).
    """
    n = len(paths.channels)
    sets = [frozenset(p) for p in paths.paths]

    def v(coalition: frozenset[int]) -> float:
        return float(sum(w for s, w in zip(sets, worth, strict=True) if s <= coalition))

    phi = []
    for i in range(n):
        others = [c for c in range(n) if c != i]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(others, size):
                coalition = frozenset(s)
                total += weight * (v(coalition | {i}) - v(coalition))
        phi.append(total)
    return phi


def test_shapley_by_hand() -> None:
    # Channel sets of HAND and their conversions R (value V):
    #   {A,B,C} 3 (30), {A} 1 (5), {A,B} 2 (40), {A,C} 1 (7)
    # Two channels by the definition: phi_A = 1/2 (v(A) - 0) + 1/2 (v(AB) - v(B)), and
    # with v(S) = sum of R(T), T ⊆ S, this is R(A) + R(AB)/2: each set's conversions
    # split equally among its members. So for HAND:
    #   phi_A = 3/3 + 1 + 2/2 + 1/2 = 3.5,  phi_B = 3/3 + 2/2 = 2,  phi_C = 3/3 + 1/2 = 1.5
    #   values: A 30/3 + 5 + 40/2 + 7/2 = 38.5,  B 10 + 20 = 30,  C 10 + 3.5 = 13.5
    result = ShapleyModel().attribute(HAND)
    assert result.conversions.tolist() == pytest.approx([3.5, 2.0, 1.5], abs=1e-12)
    assert result.values.tolist() == pytest.approx([38.5, 30.0, 13.5], abs=1e-12)
    assert result.conversions.tolist() == pytest.approx(
        brute_force_shapley(HAND, HAND.conversions), abs=1e-12
    )
    assert result.values.tolist() == pytest.approx(
        brute_force_shapley(HAND, HAND.values), abs=1e-12
    )


def test_shapley_touchpoint_credit_by_hand() -> None:
    # Subgame split: a journey with channel set S gives i phi_i(v on subsets of S) / v(S).
    #   A > B > C: S = {A,B,C}, every set is a subset: (3.5, 2, 1.5) / 7 = 1/2, 2/7, 3/14
    #   B > B > A: subsets {A} 1, {A,B} 2: phi_A = 1 + 2/2 = 2, phi_B = 2/2 = 1, v = 3:
    #              A 2/3, B 1/3 over two touchpoints = 1/6 each
    #   C > A > A > A: subsets {A} 1, {A,C} 1: phi_A = 1 + 1/2, phi_C = 1/2, v = 2:
    #              C 1/4, A 3/4 over three touchpoints = 1/4 each
    journeys = expand(HAND)
    credit = per_journey(journeys, ShapleyModel().credit(journeys))
    assert credit[0] == pytest.approx([1 / 2, 2 / 7, 3 / 14], abs=1e-12)
    assert credit[4] == [1.0]
    assert credit[9] == pytest.approx([1 / 6, 1 / 6, 2 / 3], abs=1e-12)
    assert credit[13] == pytest.approx([1 / 4, 1 / 4, 1 / 4, 1 / 4], abs=1e-12)
    # equal split: 1/|S| per channel, divided among its touchpoints
    equal = per_journey(journeys, ShapleyModel({"journey_split": "equal"}).credit(journeys))
    assert equal[0] == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=1e-15)
    assert equal[9] == pytest.approx([1 / 4, 1 / 4, 1 / 2], abs=1e-15)
    assert equal[13] == pytest.approx([1 / 2, 1 / 6, 1 / 6, 1 / 6], abs=1e-15)
    # the equal split adds up to the channel totals
    totals = np.bincount(
        journeys.channel, ShapleyModel({"journey_split": "equal"}).credit(journeys)
    )
    assert totals.tolist() == pytest.approx([3.5, 2.0, 1.5], abs=1e-12)


def test_shapley_with_more_channels_than_the_lattice_holds() -> None:
    # 30 channels (beyond the 22 of the 2**n lattice): the subsets are enumerated; the
    # answer is that of the same journeys over only the channels they use
    spec: list[Journey] = [
        ((3, 17, 29), True, 9.0, (3, 2, 1)),
        ((17,), True, 1.0, (1,)),
        ((29, 3, 3), True, 4.0, (3, 2, 1)),
        ((17, 29), False, 0.0, (2, 1)),
    ]
    wide = journeys_of(spec, [f"c{i}" for i in range(30)])
    compact = {3: 0, 17: 1, 29: 2}
    narrow = journeys_of(
        [(tuple(compact[c] for c in p), *rest) for p, *rest in spec], ("c3", "c17", "c29")
    )
    credit, totals = ShapleyModel().attribute_journeys(wide)
    credit2, totals2 = ShapleyModel().attribute_journeys(narrow)
    assert credit.tolist() == pytest.approx(credit2.tolist(), abs=1e-15)
    assert totals.conversions[[3, 17, 29]].tolist() == pytest.approx(totals2.conversions.tolist())
    # by hand: R({3,17,29}) = 1, R({17}) = 1, R({3,29}) = 1 -> phi = 1/3 + 1/2, 1/3 + 1, 1/3 + 1/2
    assert totals2.conversions.tolist() == pytest.approx([5 / 6, 4 / 3, 5 / 6], abs=1e-12)


def test_shapley_channel_that_never_converts_gets_nothing() -> None:
    paths = Paths(
        ABC,
        [(0, 1), (2,), (2, 0)],
        np.array([2.0, 0, 0]),
        np.array([10.0, 0, 0]),
        np.array([1.0, 3, 2]),
    )
    result = ShapleyModel().attribute(paths)
    assert result.conversions.tolist() == [1.0, 1.0, 0.0]
    assert result.values.tolist() == [5.0, 5.0, 0.0]


# --------------------------------------------------------------------------- edge cases
ALL_MODELS = [
    *[(name, {}) for name in BUILTIN_MODELS],
    ("markov", {"order": 2}),
    ("markov", {"order": 3}),
    ("markov", {"dense_limit": 1}),
    ("shapley", {"journey_split": "equal"}),
]
MODEL_IDS = [name + "".join(f"-{k}={v}" for k, v in c.items()) for name, c in ALL_MODELS]


@pytest.mark.parametrize(("name", "config"), ALL_MODELS, ids=MODEL_IDS)
def test_edge_cases(name: str, config: dict[str, Any]) -> None:
    m = model(name, **config)
    # a journey of one touchpoint gets 1.0, whatever else is in the data
    one = journeys_of([((1,), True, 5.0, (DAY,)), ((0, 2, 1), True, 1.0, (3, 2, 1))])
    assert m.credit(one)[0] == pytest.approx(1.0, abs=1e-15)

    # a single channel gets all the credit
    single = journeys_of(
        [((0, 0, 0), True, 10.0, (3, 2, 1)), ((0,), True, 4.0, (1,)), ((0, 0), False, 0, (2, 1))],
        ("Only",),
    )
    credit, totals = m.attribute_journeys(single)
    assert per_journey(single, credit)[1:] == [[1.0], [0.0, 0.0]]
    assert sum(per_journey(single, credit)[0]) == pytest.approx(1.0, abs=1e-15)
    assert totals.conversions.tolist() == pytest.approx([2.0], abs=1e-12)
    assert totals.values.tolist() == pytest.approx([14.0], abs=1e-12)

    # zero-value conversions: value credit 0, conversion credit still sums to 1
    free = journeys_of([((0, 1), True, 0.0, (2, 1)), ((1, 2), True, 0.0, (2, 1))])
    credit, totals = m.attribute_journeys(free)
    assert [sum(c) for c in per_journey(free, credit)] == pytest.approx([1.0, 1.0], abs=1e-15)
    assert totals.values.tolist() == [0.0, 0.0, 0.0]
    assert totals.conversions.sum() == pytest.approx(2.0, abs=1e-12)

    # empty input: empty results, no error
    empty = journeys_of([])
    credit, totals = m.attribute_journeys(empty)
    assert credit.shape == (0,)
    assert totals.conversions.tolist() == [0.0, 0.0, 0.0]

    # no conversion at all: zeros, and no division by zero (warnings are errors here)
    nulls = journeys_of([((0, 1), False, 0.0, (2, 1)), ((2,), False, 0.0, (1,))])
    credit, totals = m.attribute_journeys(nulls)
    assert credit.tolist() == [0.0, 0.0, 0.0]
    assert totals.conversions.tolist() == [0.0, 0.0, 0.0]
    assert totals.values.tolist() == [0.0, 0.0, 0.0]


def test_path_models_on_empty_and_all_null_paths() -> None:
    empty = Paths(ABC, [], np.zeros(0), np.zeros(0), np.zeros(0))
    none = Paths(ABC, [(0, 1), (2,)], np.zeros(2), np.zeros(2), np.array([3.0, 1.0]))
    for m in (MarkovModel(), MarkovModel({"order": 3}), ShapleyModel()):
        for paths in (empty, none):
            result = m.attribute(paths)
            assert result.conversions.tolist() == [0.0, 0.0, 0.0]
            assert result.values.tolist() == [0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- properties
@st.composite
def journey_data(draw: st.DrawFn, max_channels: int = 5) -> Journeys:
    n = draw(st.integers(1, max_channels))
    channels = [f"c{i}" for i in range(n - 1)] + ["D"]
    spec: list[Journey] = []
    for _ in range(draw(st.integers(1, 12))):
        path = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
        seconds = sorted(
            draw(st.lists(st.floats(0, 60 * DAY), min_size=len(path), max_size=len(path))),
            reverse=True,
        )
        converted = draw(st.booleans())
        value = draw(st.sampled_from([0.0, 1.0, 25.5, 100.0])) if converted else 0.0
        spec.append((path, converted, value, seconds))
    return journeys_of(spec, channels)


FAST = settings(max_examples=40, deadline=None)


@FAST
@given(journeys=journey_data())
def test_credits_of_a_conversion_sum_to_one_for_every_model(journeys: Journeys) -> None:
    converted = journeys.converted[journeys.starts]
    for name, config in ALL_MODELS:
        credit = model(name, **config).credit(journeys)
        sums = np.bincount(journeys.journey_index, credit, minlength=journeys.n_journeys)
        assert sums[converted] == pytest.approx(1.0, abs=1e-12), name
        assert (sums[~converted] == 0).all(), name


@FAST
@given(journeys=journey_data(), seed=st.integers(0, 2**32 - 1))
def test_relabelling_channels_permutes_the_results(journeys: Journeys, seed: int) -> None:
    n = len(journeys.channels)
    perm = np.random.default_rng(seed).permutation(n)  # old index i -> new index perm[i]
    names = [""] * n
    for i, c in enumerate(journeys.channels):
        names[perm[i]] = c
    relabelled = Journeys(
        names,
        journeys.journey_id,
        journeys.position,
        perm[journeys.channel],
        journeys.seconds_before_conversion,
        journeys.is_direct,
        journeys.converted,
        journeys.value,
    )
    for name, config in ALL_MODELS:
        m = model(name, **config)
        credit, totals = m.attribute_journeys(journeys)
        credit2, totals2 = m.attribute_journeys(relabelled)
        assert credit2 == pytest.approx(credit, abs=1e-9), name
        assert totals2.conversions[perm] == pytest.approx(totals.conversions, abs=1e-9), name
        assert totals2.values[perm] == pytest.approx(totals.values, abs=1e-9), name


@FAST
@given(
    data=st.data(),
    n=st.integers(1, 6),
    conversions=st.integers(1, 5),
)
def test_linear_equals_shapley_when_converting_journeys_share_one_channel_set(
    data: st.DataObject, n: int, conversions: int
) -> None:
    # The exact case: every converting journey visits the same channel set S, each
    # channel once, in any order; non-converting journeys are arbitrary. Then the only
    # subset of S with conversions is S itself, the game restricted to S is symmetric
    # (v(T) = R(S) if T = S else 0), every channel of S gets R(S)/|S|, and a
    # journey's touchpoints get 1/|S| each: exactly linear.
    channel_set = data.draw(st.lists(st.integers(0, n - 1), min_size=1, unique=True))
    spec: list[Journey] = []
    for _ in range(conversions):
        order = data.draw(st.permutations(channel_set))
        spec.append((order, True, 1.0, list(range(len(order), 0, -1))))
    for _ in range(data.draw(st.integers(0, 4))):
        path = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))
        spec.append((path, False, 0.0, list(range(len(path), 0, -1))))
    journeys = journeys_of(spec, [f"c{i}" for i in range(n)])
    shapley = ShapleyModel().credit(journeys)
    assert shapley == pytest.approx(LinearModel().credit(journeys), abs=1e-12)


@FAST
@given(journeys=journey_data())
def test_equal_split_shapley_is_linear_when_no_channel_repeats(journeys: Journeys) -> None:
    paths, _ = journeys.to_paths()
    if any(len(set(p)) < len(p) for p in paths.paths):
        return
    equal = ShapleyModel({"journey_split": "equal"}).credit(journeys)
    assert equal == pytest.approx(LinearModel().credit(journeys), abs=1e-12)


@FAST
@given(journeys=journey_data(max_channels=4))
def test_shapley_totals_equal_the_definition(journeys: Journeys) -> None:
    paths, _ = journeys.to_paths()
    result = ShapleyModel().attribute(paths)
    assert result.conversions.tolist() == pytest.approx(
        brute_force_shapley(paths, paths.conversions), abs=1e-9
    )
    assert result.conversions.sum() == pytest.approx(paths.total_conversions, abs=1e-9)


def shapley_of(players: Sequence[int], v: Any) -> dict[int, float]:
    """Shapley values of the game ``v`` (a function of frozensets) over ``players``."""
    n = len(players)
    phi = {}
    for i in players:
        others = [c for c in players if c != i]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(others, size):
                coalition = frozenset(s)
                total += weight * (v(coalition | {i}) - v(coalition))
        phi[i] = total
    return phi


@FAST
@given(journeys=journey_data(max_channels=4))
def test_shapley_touchpoint_credit_equals_the_subgame_definition(journeys: Journeys) -> None:
    # R(T): conversions of journeys whose channel set is exactly T
    bounds = [*journeys.starts.tolist(), len(journeys)]
    paths = [journeys.channel[a:b].tolist() for a, b in itertools.pairwise(bounds)]
    converted = journeys.converted[journeys.starts].tolist()
    conversions: dict[frozenset[int], int] = {}
    for path, conv in zip(paths, converted, strict=True):
        conversions[frozenset(path)] = conversions.get(frozenset(path), 0) + conv
    expected: list[float] = []
    for path, conv in zip(paths, converted, strict=True):
        if not conv:
            expected += [0.0] * len(path)
            continue
        own = frozenset(path)

        def v(coalition: frozenset[int]) -> float:
            return float(sum(r for t, r in conversions.items() if t <= coalition))

        phi = shapley_of(sorted(own), v)
        expected += [phi[c] / v(own) / path.count(c) for c in path]
    assert ShapleyModel().credit(journeys).tolist() == pytest.approx(expected, abs=1e-12)


@FAST
@given(
    sets=st.lists(st.sets(st.integers(0, 11), min_size=1, max_size=7), min_size=1, max_size=25),
    data=st.data(),
)
def test_shapley_subgame_methods_agree(sets: list[set[int]], data: st.DataObject) -> None:
    # the lattice (zeta transform), subset enumeration by hash and 0/1 matrix products
    distinct = sorted({tuple(sorted(s)) for s in sets})
    worth = np.array(
        [data.draw(st.sampled_from([0.0, 1.0, 2.5, 7.0])) for _ in distinct], dtype=np.float64
    )
    members = np.array([c for s in distinct for c in s], dtype=np.int64)
    size = np.array([len(s) for s in distinct], dtype=np.int64)
    results = {
        method: _subgame_values(members, size, worth, 12, method=method)
        for method in ("lattice", "enumerate", "product")
    }
    # the definition: sum over T ⊆ S containing i of worth(T) / |T|
    expected = [
        sum(w / len(t) for t, w in zip(distinct, worth, strict=True) if set(t) <= set(s) and i in t)
        for s in distinct
        for i in s
    ]
    for method, values in results.items():
        assert values.tolist() == pytest.approx(expected, abs=1e-12), method


@FAST
@given(journeys=journey_data(), order=st.integers(1, 3))
def test_markov_chain_properties(journeys: Journeys, order: int) -> None:
    paths, _ = journeys.to_paths()
    dense = MarkovModel({"order": order}).attribute(paths)
    total, nulls = paths.total_conversions, float(paths.nulls.sum())
    if total == 0:
        assert dense.conversions.sum() == 0
        return
    # the fitted chain conserves flow: P(conversion) is the observed conversion rate
    assert dense.p_conversion == pytest.approx(total / (total + nulls), abs=1e-12)
    assert dense.expected_value == pytest.approx(paths.total_value / (total + nulls), abs=1e-9)
    assert ((dense.removal_effects >= 0) & (dense.removal_effects <= 1)).all()
    assert dense.conversions.sum() == pytest.approx(total, abs=1e-9)
    # a channel that only ends non-converting paths (nothing but itself after it)
    # cannot lead to a conversion: removal effect 0
    for c in range(len(paths.channels)):
        tail_only = all(
            k == 0 and all(x == c for x in p[p.index(c) :])
            for p, k in zip(paths.paths, paths.conversions, strict=True)
            if c in p
        )
        if tail_only:
            assert dense.removal_effects[c] == 0.0
    iterative = MarkovModel({"order": order, "dense_limit": 1}).attribute(paths)
    assert iterative.removal_effects == pytest.approx(dense.removal_effects, abs=1e-12)
    assert iterative.values == pytest.approx(dense.values, abs=1e-9)
    if order == 1:  # at order 1 collapsing runs only drops self-loops: the same chain
        collapsed = MarkovModel({"collapse_repeats": True}).attribute(paths)
        assert collapsed.removal_effects == pytest.approx(dense.removal_effects, abs=1e-12)


# --------------------------------------------------------------------------- plumbing
def test_journeys_to_paths_aggregates() -> None:
    journeys = journeys_of(
        [
            ((0, 1), True, 10.0, (2, 1)),
            ((2,), False, 0.0, (1,)),
            ((0, 1), False, 0.0, (2, 1)),
            ((0, 1), True, 5.0, (2, 1)),
            ((1, 0), True, 1.0, (2, 1)),
        ]
    )
    paths, index = journeys.to_paths()
    assert paths.paths == [(0, 1), (2,), (1, 0)]  # in order of first appearance
    assert index.tolist() == [0, 1, 0, 0, 2]
    assert paths.conversions.tolist() == [2, 0, 1]
    assert paths.values.tolist() == [15, 0, 1]
    assert paths.nulls.tolist() == [1, 1, 0]


def test_journeys_from_channel_names() -> None:
    journeys = Journeys.from_columns(
        journey_id=[1, 1, 2],
        position=[0, 5, 0],
        channel=["Email", "Direct", "Direct"],
        seconds_before_conversion=[10, 0, 0],
        converted=[True, True, False],
        value=[3, 3, 0],
    )
    assert journeys.channels == ("Direct", "Email")
    assert journeys.channel.tolist() == [1, 0, 0]
    assert journeys.is_direct.tolist() == [False, True, True]
    assert model("last_non_direct").credit(journeys).tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"journey_id": [2, 1, 1]}, "sorted"),
        ({"position": [1, 0, 0]}, "sorted"),
        ({"channel": [0, 3, 1]}, "outside"),
        ({"value": [1, 2, 0]}, "same on every touchpoint"),
        ({"converted": [True, False, False]}, "same on every touchpoint"),
        ({"is_direct": [True, False]}, "rows"),
    ],
)
def test_journeys_validation(change: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "channels": ABC,
        "journey_id": [1, 1, 2],
        "position": [0, 1, 0],
        "channel": [0, 1, 2],
        "seconds_before_conversion": [2, 1, 1],
        "is_direct": [False, False, False],
        "converted": [True, True, False],
        "value": [1, 1, 0],
    }
    with pytest.raises(ValueError, match=message):
        Journeys(**{**fields, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paths": [(0,), ()]}, "at least one touchpoint"),
        ({"paths": [(0,), (5,)]}, "outside"),
        ({"nulls": [1.0, -1.0]}, "not negative"),
        ({"values": [1.0]}, "rows"),
    ],
)
def test_paths_validation(change: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "channels": ABC,
        "paths": [(0,), (1, 2)],
        "conversions": [1.0, 0.0],
        "values": [1.0, 0.0],
        "nulls": [0.0, 1.0],
    }
    with pytest.raises(ValueError, match=message):
        Paths(**{**fields, **change})


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("position_based", {"first": 0.7, "last": 0.4}),
        ("time_decay", {"half_life_days": 0}),
        ("markov", {"order": 4}),
        ("markov", {"orders": 2}),
        ("shapley", {"journey_split": "random"}),
    ],
)
def test_bad_model_config(name: str, config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model(name, **config)


def test_builtin_models_register_through_the_hook_signature() -> None:
    registered: dict[str, type[AttributionModel[Any]]] = {}

    def register(name: str, cls: Any) -> None:
        assert name not in registered
        registered[name] = cls

    from cintel.attribution.models import register_builtin_models

    register_builtin_models(register)
    assert set(registered) == {
        "first_touch",
        "last_touch",
        "last_non_direct",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
    }
    for name, cls in registered.items():
        assert cls.name == name
        for field, info in cls.Config.model_fields.items():
            assert info.description, f"{name}.{field} has no description"
