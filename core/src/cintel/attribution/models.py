"""Attribution models: how much of each conversion every touchpoint and channel earns.

Inputs
------
:class:`Journeys` holds touchpoints as numpy arrays, sorted by journey and position:
journey id, position, channel index, seconds before the conversion, whether the
touchpoint is Direct, and, repeated on each touchpoint of a journey, whether the
journey converted and its conversion value. Non-converting journeys are kept: the
Markov model needs them.

:class:`Paths` is the same data aggregated: each distinct channel sequence once,
with the number of conversions ending it, their total value and the number of
non-converting ("null") journeys that followed it. ``Journeys.to_paths()`` builds
it without a Python loop over journeys.

Outputs
-------
Every model gives **per-touchpoint credit** (:meth:`AttributionModel.credit`): a
float per touchpoint; the credits of one converting journey sum to 1, those of a
non-converting journey are 0. Its value credit is that share of the journey's
value. Every model also gives **per-channel totals** (:class:`ChannelCredit`:
conversions and value attributed to each channel). For the rule-based models the
totals are the sums of the touchpoint credits. For Markov and Shapley the totals are
the model's own answer and the touchpoint credits spread it over journeys (see
those models), so summing the touchpoint rows of a channel need not give exactly
its total.

Models
------
=================  ================================================================
``first_touch``    1 to the first touchpoint.
``last_touch``     1 to the last touchpoint.
``last_non_direct``  1 to the last touchpoint that is not Direct; when every
                   touchpoint is Direct, to the last one.
``linear``         1/n to each of the n touchpoints.
``time_decay``     weight ``2 ** (-t / half_life)`` with ``t`` the seconds before
                   the conversion (``half_life_days``, 7 by default), normalised to
                   sum to 1.
``position_based`` ``first`` (0.4) to the first touchpoint, ``last`` (0.4) to the
                   last, the rest split equally over those in between. One
                   touchpoint gets 1; two get ``first/(first+last)`` and
                   ``last/(first+last)`` (0.5/0.5 with the defaults: nothing is
                   left for a middle, GA's convention).
``markov``         removal effects of an order-k absorbing Markov chain, computed
                   exactly; see :class:`MarkovModel`.
``shapley``        Shapley values of the coalition game of Zhao et al. (2018),
                   computed exactly; see :class:`ShapleyModel`.
=================  ================================================================

Edge cases, for every model: a journey of one touchpoint gives it 1; a single
channel gets all the credit; zero-value conversions give value credit 0 while the
conversion credit still sums to 1; empty input gives empty results; input without
any conversion gives zeros (no division by zero).

Plugins add models through the ``cintel_attribution_models(register)`` hook;
:func:`register_builtin_models` registers these.
"""

from __future__ import annotations

import functools
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BUILTIN_MODELS",
    "AttributionModel",
    "ChannelCredit",
    "FirstTouchModel",
    "Journeys",
    "LastNonDirectModel",
    "LastTouchModel",
    "LinearModel",
    "MarkovAttribution",
    "MarkovConfig",
    "MarkovModel",
    "ModelConfig",
    "PathAttribution",
    "PathModel",
    "Paths",
    "PositionBasedConfig",
    "PositionBasedModel",
    "ShapleyConfig",
    "ShapleyModel",
    "TimeDecayConfig",
    "TimeDecayModel",
    "TouchpointModel",
    "register_builtin_models",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_SECONDS_PER_DAY = 86_400.0


# =========================================================================== inputs
def _int_array(values: ArrayLike) -> IntArray:
    return np.ascontiguousarray(values, dtype=np.int64).reshape(-1)


def _float_array(values: ArrayLike) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64).reshape(-1)


def _bool_array(values: ArrayLike) -> BoolArray:
    return np.ascontiguousarray(values, dtype=np.bool_).reshape(-1)


def _offsets(lengths: IntArray) -> IntArray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def _wsum(index: IntArray, weights: ArrayLike, size: int) -> FloatArray:
    """``out[k] = sum of weights[index == k]`` for k < size."""
    return np.bincount(index, weights, minlength=size).astype(np.float64, copy=False)


def _factorize(values: IntArray, space: int) -> tuple[IntArray, IntArray]:
    """Sorted distinct ``values`` (all in ``[0, space)``) and each value's index among them.

    A presence table instead of a sort when ``space`` is small.
    """
    if space <= max(2**22, 2 * len(values)):
        present = np.zeros(space, dtype=bool)
        present[values] = True
        rank = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present).astype(np.int64), rank[values]
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def _segment_sum(values: FloatArray, starts: IntArray, total: int) -> FloatArray:
    """Sum of each non-empty segment ``values[starts[i]:starts[i+1]]`` (last to the end)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.float64)
    if total == 0:
        return np.zeros(len(starts), dtype=np.float64)
    return np.add.reduceat(values, starts)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xD6E8FEB86659FD93)


def _mix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps around)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _group_sequences(flat: IntArray, offsets: IntArray) -> tuple[IntArray, IntArray]:
    """Group equal integer sequences (each non-empty).

    Returns the group of every sequence, groups numbered in order of first
    appearance, and each group's first sequence. Sequences are hashed with numpy and
    the grouping is verified element by element; a hash collision (never seen in
    practice) falls back to exact grouping with Python tuples.
    """
    n_seq = len(offsets) - 1
    if n_seq == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.diff(offsets)
    seq_of = np.repeat(np.arange(n_seq, dtype=np.int64), lengths)
    pos = np.arange(len(flat), dtype=np.int64) - offsets[:-1][seq_of]
    with np.errstate(over="ignore"):
        terms = _mix64(flat.astype(np.uint64) * _K1 + pos.astype(np.uint64) * _K2)
        hashes = _mix64(np.add.reduceat(terms, offsets[:-1]) + lengths.astype(np.uint64) * _K1)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    rep = first[inverse]
    same = np.array_equal(lengths, lengths[rep]) and bool(
        np.array_equal(flat, flat[offsets[:-1][rep][seq_of] + pos])
    )
    if not same:  # a hash collision: group exactly
        seen: dict[tuple[int, ...], int] = {}
        values = flat.tolist()
        bounds = offsets.tolist()
        groups = np.array(
            [seen.setdefault(tuple(values[a:b]), len(seen)) for a, b in itertools.pairwise(bounds)],
            dtype=np.int64,
        )
        firsts = np.full(len(seen), n_seq, dtype=np.int64)
        np.minimum.at(firsts, groups, np.arange(n_seq, dtype=np.int64))
        return groups, firsts
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first), dtype=np.int64)
    return rank[inverse], first[order].astype(np.int64)


def _gather(starts: IntArray, lengths: IntArray) -> IntArray:
    """Indices of the concatenated segments ``[starts[i], starts[i] + lengths[i])``."""
    offsets = _offsets(lengths)
    return np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Journeys:
    """Touchpoints of customer journeys, one array element per touchpoint.

    Sorted by ``journey_id`` then ``position`` (the touchpoints of a journey are
    contiguous, in time order). ``converted`` and ``value`` are the journey's own,
    repeated on each of its touchpoints. ``seconds_before_conversion`` is the time
    from the touchpoint to the conversion (to the end of the lookback window for a
    journey without conversion); only ``time_decay`` reads it.
    """

    channels: Sequence[str]
    journey_id: IntArray
    position: IntArray
    channel: IntArray
    seconds_before_conversion: FloatArray
    is_direct: BoolArray
    converted: BoolArray
    value: FloatArray

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("channels", tuple(self.channels))
        set_("journey_id", _int_array(self.journey_id))
        set_("position", _int_array(self.position))
        set_("channel", _int_array(self.channel))
        set_("seconds_before_conversion", _float_array(self.seconds_before_conversion))
        set_("is_direct", _bool_array(self.is_direct))
        set_("converted", _bool_array(self.converted))
        set_("value", _float_array(self.value))
        n = len(self.journey_id)
        for name in (
            "position",
            "channel",
            "seconds_before_conversion",
            "is_direct",
            "converted",
            "value",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Journeys.{name} has {len(getattr(self, name))} rows, not {n}")
        if n == 0:
            return
        if self.channel.min() < 0 or self.channel.max() >= len(self.channels):
            raise ValueError(f"Journeys.channel holds an index outside 0..{len(self.channels) - 1}")
        step = np.diff(self.journey_id)
        if (step < 0).any() or ((step == 0) & (np.diff(self.position) <= 0)).any():
            raise ValueError(
                "Journeys must be sorted by journey_id, then by strictly increasing position"
            )
        if not np.isfinite(self.seconds_before_conversion).all():
            raise ValueError("Journeys.seconds_before_conversion must be finite")
        if not np.isfinite(self.value).all():
            raise ValueError("Journeys.value must be finite")
        first = self.starts[self.journey_index]
        if (self.converted != self.converted[first]).any() or (
            self.value != self.value[first]
        ).any():
            raise ValueError("Journeys.converted and .value must be the same on every touchpoint")

    @classmethod
    def from_columns(
        cls,
        *,
        journey_id: ArrayLike,
        position: ArrayLike,
        channel: Sequence[str] | ArrayLike,
        seconds_before_conversion: ArrayLike,
        converted: ArrayLike,
        value: ArrayLike,
        channels: Sequence[str] | None = None,
        direct_channels: Sequence[str] = ("Direct",),
    ) -> Journeys:
        """Journeys from channel *names*; ``is_direct`` from ``direct_channels``.

        ``channels`` fixes the channel list (and its order); by default it is the
        sorted distinct names. The rows must already be sorted by journey and position.
        """
        names = np.asarray(channel, dtype=object)
        if channels is None:
            channels = sorted({str(c) for c in names.tolist()})
        index = {c: i for i, c in enumerate(channels)}
        try:
            codes = np.fromiter((index[c] for c in names.tolist()), np.int64, len(names))
        except KeyError as exc:
            raise ValueError(f"channel {exc.args[0]!r} is not in channels") from None
        direct = np.isin(codes, [index[c] for c in direct_channels if c in index])
        return cls(
            channels=tuple(channels),
            journey_id=_int_array(journey_id),
            position=_int_array(position),
            channel=codes,
            seconds_before_conversion=_float_array(seconds_before_conversion),
            is_direct=direct,
            converted=_bool_array(converted),
            value=_float_array(value),
        )

    def __len__(self) -> int:
        return len(self.journey_id)

    @functools.cached_property
    def starts(self) -> IntArray:
        """Index of each journey's first touchpoint."""
        if len(self.journey_id) == 0:
            return np.zeros(0, dtype=np.int64)
        change = np.flatnonzero(np.diff(self.journey_id)) + 1
        return np.concatenate(([0], change)).astype(np.int64)

    @functools.cached_property
    def lengths(self) -> IntArray:
        """Number of touchpoints of each journey."""
        return np.diff(np.append(self.starts, len(self.journey_id))).astype(np.int64)

    @functools.cached_property
    def journey_index(self) -> IntArray:
        """For each touchpoint, its journey's number (0 .. n_journeys - 1)."""
        return np.repeat(np.arange(len(self.starts), dtype=np.int64), self.lengths)

    @functools.cached_property
    def rank(self) -> IntArray:
        """For each touchpoint, its 0-based place in its journey."""
        return np.arange(len(self.journey_id), dtype=np.int64) - self.starts[self.journey_index]

    @property
    def n_journeys(self) -> int:
        """Number of journeys."""
        return len(self.starts)

    @functools.cached_property
    def _path_grouping(self) -> tuple[Paths, IntArray]:
        starts, lengths = self.starts, self.lengths
        group, rep = _group_sequences(self.channel, np.append(starts, len(self.channel)))
        n_paths = len(rep)
        conv = self.converted[starts].astype(np.float64)
        conversions = _wsum(group, conv, n_paths)
        values = _wsum(group, conv * self.value[starts], n_paths)
        nulls = _wsum(group, 1.0 - conv, n_paths)
        rep_lengths = lengths[rep]
        flat = self.channel[_gather(starts[rep], rep_lengths)]
        paths = Paths._from_flat(self.channels, flat, rep_lengths, conversions, values, nulls)
        return paths, group

    def to_paths(self) -> tuple[Paths, IntArray]:
        """Aggregate to :class:`Paths`; also returns each journey's path index."""
        return self._path_grouping


@dataclass(frozen=True, eq=False)
class Paths:
    """Journeys aggregated by channel sequence.

    ``paths[i]`` is a sequence of channel indices in time order (non-empty);
    ``conversions[i]`` the number of converting journeys that followed it,
    ``values[i]`` their total conversion value and ``nulls[i]`` the number of
    journeys that followed it without converting.
    """

    channels: Sequence[str]
    paths: list[tuple[int, ...]]
    conversions: FloatArray
    values: FloatArray
    nulls: FloatArray
    #: All paths concatenated: ``flat[offsets[i]:offsets[i+1]]`` is path ``i``.
    flat: IntArray = field(init=False, repr=False)
    #: Length of each path.
    lengths: IntArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("channels", tuple(self.channels))
        set_("conversions", _float_array(self.conversions))
        set_("values", _float_array(self.values))
        set_("nulls", _float_array(self.nulls))
        n = len(self.paths)
        for name in ("conversions", "values", "nulls"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Paths.{name} has {len(getattr(self, name))} rows, not {n}")
        if "flat" not in self.__dict__:  # not built by _from_flat
            set_("paths", [tuple(p) for p in self.paths])
            lengths = np.fromiter(map(len, self.paths), np.int64, n)
            flat = np.fromiter(itertools.chain.from_iterable(self.paths), np.int64, lengths.sum())
            set_("lengths", lengths)
            set_("flat", flat)
        if n and self.lengths.min() == 0:
            raise ValueError("Paths: a path must have at least one touchpoint")
        if len(self.flat) and (self.flat.min() < 0 or self.flat.max() >= len(self.channels)):
            raise ValueError(f"Paths: a channel index is outside 0..{len(self.channels) - 1}")
        for name in ("conversions", "nulls"):
            arr = getattr(self, name)
            if not (np.isfinite(arr).all() and (arr >= 0).all()):
                raise ValueError(f"Paths.{name} must be finite and not negative")
        if not np.isfinite(self.values).all():
            raise ValueError("Paths.values must be finite")

    @classmethod
    def _from_flat(
        cls,
        channels: Sequence[str],
        flat: IntArray,
        lengths: IntArray,
        conversions: FloatArray,
        values: FloatArray,
        nulls: FloatArray,
    ) -> Paths:
        items = flat.tolist()
        bounds = _offsets(lengths).tolist()
        paths = [tuple(items[a:b]) for a, b in itertools.pairwise(bounds)]
        self = cls.__new__(cls)
        self.__dict__["flat"], self.__dict__["lengths"] = flat, lengths
        cls.__init__(self, channels, paths, conversions, values, nulls)
        return self

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @functools.cached_property
    def offsets(self) -> IntArray:
        """Where each path starts in :attr:`flat`, and the end."""
        return _offsets(self.lengths)

    @functools.cached_property
    def path_of(self) -> IntArray:
        """For each element of :attr:`flat`, its path."""
        return np.repeat(np.arange(len(self.paths), dtype=np.int64), self.lengths)

    @functools.cached_property
    def pairs(self) -> _Pairs:
        """The distinct (path, channel) pairs: a path's channel set and multiplicities."""
        n = max(self.n_channels, 1)
        keys, inverse = _factorize(self.path_of * n + self.flat, len(self.paths) * n)
        return _Pairs(
            path=keys // n,
            channel=keys % n,
            count=np.bincount(inverse, minlength=len(keys)).astype(np.int64),
            of_flat=inverse,
        )

    @property
    def total_conversions(self) -> float:
        """Sum of conversions."""
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        """Sum of conversion values."""
        return float(self.values.sum())


@dataclass(frozen=True, eq=False)
class _Pairs:
    path: IntArray  # sorted by path, then channel
    channel: IntArray
    count: IntArray  # touchpoints of that channel in that path
    of_flat: IntArray  # for each flat element, its pair


def _spread(paths: Paths, pair_weight: FloatArray) -> FloatArray:
    """Touchpoint shares from (path, channel) weights.

    Within a path the channels share 1 in proportion to ``pair_weight`` (equally when
    the weights of the path sum to 0 or less), and a channel's share is divided
    equally among its touchpoints in the path. Aligned with :attr:`Paths.flat`.
    """
    pairs = paths.pairs
    total = _wsum(pairs.path, pair_weight, len(paths.paths))
    distinct = np.bincount(pairs.path, minlength=len(paths.paths)).astype(np.float64)
    path_total = total[pairs.path]
    ok = path_total > 0
    share = np.divide(pair_weight, path_total, out=np.zeros_like(pair_weight), where=ok)
    share = np.where(ok, share, 1.0 / distinct[pairs.path])
    return (share / pairs.count)[pairs.of_flat]


# =========================================================================== outputs
@dataclass(frozen=True, eq=False)
class ChannelCredit:
    """Conversions and conversion value attributed to each channel (index-aligned)."""

    channels: tuple[str, ...]
    conversions: FloatArray
    values: FloatArray

    def as_dict(self) -> dict[str, tuple[float, float]]:
        """``{channel: (conversions, value)}``."""
        return {
            c: (float(n), float(v))
            for c, n, v in zip(self.channels, self.conversions, self.values, strict=True)
        }


@dataclass(frozen=True, eq=False)
class PathAttribution(ChannelCredit):
    """A path model's result: channel totals and the touchpoint shares of every path.

    ``shares`` is aligned with :attr:`Paths.flat`; the shares of one path sum to 1.
    """

    shares: FloatArray


@dataclass(frozen=True, eq=False)
class MarkovAttribution(PathAttribution):
    """Markov result with the chain's figures.

    ``p_conversion`` is the chain's probability of reaching conversion from start
    (equal to the observed conversion rate: the fitted chain conserves flow),
    ``expected_value`` the expected conversion value per journey, ``removal_effects``
    and ``value_removal_effects`` per channel (0 for channels absent from the data).
    """

    removal_effects: FloatArray
    value_removal_effects: FloatArray
    p_conversion: float
    expected_value: float
    n_states: int
    solver: Literal["dense", "iterative", "none"]


# =========================================================================== models
class ModelConfig(BaseModel):
    """Base of the models' configs (none of the built-ins needs a field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


C = TypeVar("C", bound=ModelConfig)


class AttributionModel(ABC, Generic[C]):
    """An attribution model: ``name``, a pydantic ``Config`` and :meth:`credit`.

    ``Model(config)`` takes a ``Config`` instance, a mapping validated into one, or
    nothing for the defaults.
    """

    name: ClassVar[str]
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    config: C

    def __init__(self, config: C | Mapping[str, Any] | None = None) -> None:
        if isinstance(config, ModelConfig):
            if not isinstance(config, self.Config):
                raise TypeError(f"{self.name} takes a {self.Config.__name__}")
            self.config = config
        else:
            self.config = cast(C, self.Config.model_validate(dict(config or {})))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @abstractmethod
    def attribute_journeys(self, journeys: Journeys) -> tuple[FloatArray, ChannelCredit]:
        """Touchpoint credit and channel totals in one pass."""

    def credit(self, journeys: Journeys) -> FloatArray:
        """Credit of every touchpoint: a converting journey's sum to 1, others are 0."""
        return self.attribute_journeys(journeys)[0]

    def channel_credit(self, journeys: Journeys) -> ChannelCredit:
        """Conversions and value attributed to each channel."""
        return self.attribute_journeys(journeys)[1]


def _sum_by_channel(journeys: Journeys, credit: FloatArray) -> ChannelCredit:
    n = len(journeys.channels)
    conversions = _wsum(journeys.channel, credit, n)
    values = _wsum(journeys.channel, credit * journeys.value, n)
    return ChannelCredit(tuple(journeys.channels), conversions, values.astype(np.float64))


class TouchpointModel(AttributionModel[C]):
    """A rule-based model: each journey's shares depend on that journey alone."""

    @abstractmethod
    def shares(self, journeys: Journeys) -> FloatArray:
        """Shares of every journey's touchpoints (each journey's sum to 1)."""

    def attribute_journeys(self, journeys: Journeys) -> tuple[FloatArray, ChannelCredit]:
        """Touchpoint credit (the shares of converting journeys) and their channel sums."""
        if len(journeys) == 0:
            credit = np.zeros(0, dtype=np.float64)
        else:
            credit = np.where(journeys.converted, self.shares(journeys), 0.0)
        return credit, _sum_by_channel(journeys, credit)


class FirstTouchModel(TouchpointModel[ModelConfig]):
    """All the credit to the journey's first touchpoint."""

    name = "first_touch"

    def shares(self, journeys: Journeys) -> FloatArray:
        shares: FloatArray = (journeys.rank == 0).astype(np.float64)
        return shares


class LastTouchModel(TouchpointModel[ModelConfig]):
    """All the credit to the journey's last touchpoint."""

    name = "last_touch"

    def shares(self, journeys: Journeys) -> FloatArray:
        shares: FloatArray = (journeys.rank == journeys.lengths[journeys.journey_index] - 1).astype(
            np.float64
        )
        return shares


class LastNonDirectModel(TouchpointModel[ModelConfig]):
    """All the credit to the last touchpoint that is not Direct (``is_direct``).

    A journey of Direct touchpoints only gives it to its last touchpoint (GA's
    "last non-direct click" falls back the same way).
    """

    name = "last_non_direct"

    def shares(self, journeys: Journeys) -> FloatArray:
        index = np.arange(len(journeys), dtype=np.int64)
        candidate = np.where(journeys.is_direct, -1, index)
        chosen = np.maximum.reduceat(candidate, journeys.starts)
        last = journeys.starts + journeys.lengths - 1
        chosen = np.where(chosen >= 0, chosen, last)
        out = np.zeros(len(journeys), dtype=np.float64)
        out[chosen] = 1.0
        return out


class LinearModel(TouchpointModel[ModelConfig]):
    """Equal credit to every touchpoint: 1/n each of a journey of n."""

    name = "linear"

    def shares(self, journeys: Journeys) -> FloatArray:
        return 1.0 / journeys.lengths[journeys.journey_index].astype(np.float64)


class TimeDecayConfig(ModelConfig):
    """Config of ``time_decay``."""

    half_life_days: float = Field(
        7.0, gt=0, description="Days before the conversion at which a touchpoint's weight halves."
    )


class TimeDecayModel(TouchpointModel[TimeDecayConfig]):
    """Weight ``2 ** (-t / half_life)``, ``t`` = seconds before the conversion, normalised.

    Computed relative to the journey's most recent touchpoint (weight 1), so old
    touchpoints never make every weight of a journey underflow to 0.
    """

    name = "time_decay"
    Config = TimeDecayConfig

    def shares(self, journeys: Journeys) -> FloatArray:
        t = journeys.seconds_before_conversion
        newest = np.minimum.reduceat(t, journeys.starts)[journeys.journey_index]
        half_life = self.config.half_life_days * _SECONDS_PER_DAY
        weight = np.exp2(-(t - newest) / half_life)
        total = _segment_sum(weight, journeys.starts, len(t))
        return weight / total[journeys.journey_index]


class PositionBasedConfig(ModelConfig):
    """Config of ``position_based`` (the 40/20/40 model by default)."""

    first: float = Field(0.4, ge=0, le=1, description="Share of the first touchpoint.")
    last: float = Field(0.4, ge=0, le=1, description="Share of the last touchpoint.")

    @model_validator(mode="after")
    def _at_most_one(self) -> PositionBasedConfig:
        if self.first + self.last > 1 + 1e-12:
            raise ValueError(f"first + last must be at most 1, not {self.first + self.last:g}")
        return self


class PositionBasedModel(TouchpointModel[PositionBasedConfig]):
    """``first`` to the first touchpoint, ``last`` to the last, the rest to the middle.

    n = 1: the touchpoint gets 1. n = 2: ``first/(first+last)`` and
    ``last/(first+last)`` (0.5 each when both are 0), since there is no middle to
    take the remainder. n >= 3: the middle touchpoints share ``1 - first - last``
    equally.
    """

    name = "position_based"
    Config = PositionBasedConfig

    def shares(self, journeys: Journeys) -> FloatArray:
        first, last = self.config.first, self.config.last
        n = journeys.lengths[journeys.journey_index]
        rank = journeys.rank
        is_first, is_last = rank == 0, rank == n - 1
        ends = first + last
        two_first, two_last = (first / ends, last / ends) if ends > 0 else (0.5, 0.5)
        middle = (1.0 - ends) / np.maximum(n - 2, 1)
        many = np.where(is_first, first, np.where(is_last, last, middle))
        two = np.where(is_first, two_first, two_last)
        return np.where(n == 1, 1.0, np.where(n == 2, two, many)).astype(np.float64)


class PathModel(AttributionModel[C]):
    """A model computed on aggregated :class:`Paths` (Markov, Shapley)."""

    @abstractmethod
    def attribute(self, paths: Paths) -> PathAttribution:
        """Channel totals and per-path touchpoint shares."""

    def attribute_journeys(self, journeys: Journeys) -> tuple[FloatArray, ChannelCredit]:
        """Aggregate to paths, attribute, and spread each path's shares to its journeys."""
        paths, path_index = journeys.to_paths()
        result = self.attribute(paths)
        if len(journeys) == 0:
            credit = np.zeros(0, dtype=np.float64)
        else:
            flat_index = paths.offsets[path_index[journeys.journey_index]] + journeys.rank
            credit = np.where(journeys.converted, result.shares[flat_index], 0.0)
        totals = ChannelCredit(result.channels, result.conversions, result.values)
        return credit, totals


# --------------------------------------------------------------------------- Markov
class MarkovConfig(ModelConfig):
    """Config of ``markov``."""

    order: int = Field(
        1, ge=1, le=3, description="Order k of the chain: a state is the last k channels."
    )
    collapse_repeats: bool = Field(
        False,
        description=(
            "Collapse runs of one channel in a path (A > A > B becomes A > B) before the "
            "states are built. No effect at order 1."
        ),
    )
    value_effects: Literal["value", "conversions"] = Field(
        "value",
        description=(
            "`value`: value is attributed with removal effects of the expected conversion "
            "value (as ChannelAttribution does); `conversions`: with the conversion removal "
            "effects."
        ),
    )
    dense_limit: int = Field(
        500,
        ge=1,
        description=(
            "Largest number of chain states solved with a dense LU factorisation; larger "
            "chains are solved by iteration to machine precision."
        ),
    )


class MarkovModel(PathModel[MarkovConfig]):
    """Markov-chain removal effects (Anderl et al. 2016; ChannelAttribution's model).

    **Chain.** States are ``start``, ``conversion``, ``null`` and channel states. At
    order k a path's channel states are its windows of k consecutive channels
    (``A > B > C`` at order 2: ``start → (A,B) → (B,C) → conversion``); a path shorter
    than k is one state holding the whole path. That is ChannelAttribution's
    construction (it does not pad the start). Transition probabilities are the
    observed transition counts, each path weighted by its journeys (conversions +
    nulls), normalised per state. A state followed by itself (``A > A`` at order 1)
    is a self-loop: it changes how long the chain stays in a state, never where it
    is absorbed, so it is dropped; ChannelAttribution drops it as well, and both
    give the same probabilities. ``collapse_repeats`` is something else: it
    collapses runs of a channel *before* windows are built, which changes the states
    at order 2 and above.

    **Exact absorption.** With ``Q`` the transitions among transient states and
    ``r`` the one-step probabilities of conversion, ``P(conversion) = x[start]`` with
    ``(I - Q) x = r``; solved with numpy (dense LU up to ``dense_limit`` states,
    otherwise by iteration on the sparse transitions to machine precision). No
    simulation: ChannelAttribution estimates the same quantities by simulating paths
    (and cuts simulated paths at the longest observed path length).

    **Removal effect** of channel c: remove every state containing c (its
    transitions go to ``null``), ``RE(c) = 1 - P_without_c / P``. Conversions
    attributed to c: ``total conversions * RE(c) / sum of RE``. A channel from whose
    states the chain cannot reach conversion has RE 0; note that a channel seen only
    in non-converting journeys can still earn credit when, in the chain, it leads
    into states that convert (``C > A`` not converting, ``A > B`` converting).

    **Value.** With ``value_effects="value"`` (default) the same is done with the
    expected conversion *value*: each conversion transition carries the mean value
    of the conversions that ended in that state (what ChannelAttribution simulates),
    and value attributed to c is ``total value * REv(c) / sum of REv``. With
    ``"conversions"`` the value is split with the conversion removal effects.

    **Touchpoints.** A converting path's credit is split among its channels in
    proportion to their (conversion) removal effects, and a channel's share equally
    among its touchpoints in the path.
    """

    name = "markov"
    Config = MarkovConfig

    def attribute(self, paths: Paths) -> MarkovAttribution:
        n = paths.n_channels
        zeros = np.zeros(n, dtype=np.float64)
        total_conv, total_value = paths.total_conversions, paths.total_value
        if total_conv <= 0:
            return MarkovAttribution(
                tuple(paths.channels),
                zeros,
                zeros.copy(),
                _spread(paths, np.ones(len(paths.pairs.path))),
                zeros.copy(),
                zeros.copy(),
                0.0,
                0.0,
                0,
                "none",
            )
        chain = _Chain.build(paths, self.config.order, collapse=self.config.collapse_repeats)
        # channels with a state from which conversion is reachable; the others have
        # removal effect exactly 0 (removing them changes no converting path)
        present = np.flatnonzero((chain.contains & chain.converts[:, None]).any(axis=0))
        masks = [np.ones(chain.n_states, dtype=bool)]
        for c in present:
            keep = ~chain.contains[:, c]
            keep[0] = True
            masks.append(keep)
        if chain.n_states <= self.config.dense_limit:
            solver: Literal["dense", "iterative"] = "dense"
            starts = _absorb_dense(chain, masks)
        else:
            solver = "iterative"
            starts = _absorb_iterative(chain, masks)
        p_conv, exp_value = float(starts[0, 0]), float(starts[0, 1])
        removal = zeros.copy()
        value_removal = zeros.copy()
        removal[present] = np.clip(1.0 - starts[1:, 0] / p_conv, 0.0, 1.0)
        if exp_value != 0:
            value_removal[present] = np.clip(1.0 - starts[1:, 1] / exp_value, 0.0, 1.0)
        conversions = total_conv * removal / removal.sum()
        if self.config.value_effects == "value" and value_removal.sum() > 0:
            values = total_value * value_removal / value_removal.sum()
        else:
            values = total_value * removal / removal.sum()
        shares = _spread(paths, removal[paths.pairs.channel])
        return MarkovAttribution(
            tuple(paths.channels),
            conversions,
            values,
            shares,
            removal,
            value_removal,
            p_conv,
            exp_value,
            chain.n_states,
            solver,
        )


@dataclass(frozen=True, eq=False)
class _Chain:
    """Transient states 0 (start) .. n_states-1 and their transitions."""

    n_states: int
    src: IntArray  # transitions among transient states, self-loops dropped
    dst: IntArray
    prob: FloatArray
    reward: FloatArray  # (n_states, 2): P(-> conversion), E[value of conversion next step]
    contains: BoolArray  # (n_states, n_channels): the state holds that channel

    @functools.cached_property
    def converts(self) -> BoolArray:
        """Whether conversion can be reached from each state (a search backwards)."""
        reach = self.reward[:, 0] > 0
        while True:
            more = reach.copy()
            more[self.src[reach[self.dst]]] = True
            if (more == reach).all():
                return reach
            reach = more

    @classmethod
    def build(cls, paths: Paths, order: int, *, collapse: bool) -> _Chain:
        n = paths.n_channels
        weight_all = paths.conversions + paths.nulls
        used = np.flatnonzero(weight_all > 0)
        lengths = paths.lengths[used]
        flat = paths.flat[_gather(paths.offsets[used], lengths)]
        if collapse:
            seq = np.repeat(np.arange(len(used), dtype=np.int64), lengths)
            keep = np.ones(len(flat), dtype=bool)
            keep[1:] = (flat[1:] != flat[:-1]) | (seq[1:] != seq[:-1])
            flat = flat[keep]
            lengths = np.bincount(seq[keep], minlength=len(used)).astype(np.int64)
        offsets = _offsets(lengths)
        seq = np.repeat(np.arange(len(used), dtype=np.int64), lengths)
        pos = np.arange(len(flat), dtype=np.int64) - offsets[:-1][seq]
        length = lengths[seq]
        is_window = np.where(length <= order, pos == 0, pos <= length - order)
        width = np.minimum(length, order)
        base = n + 1
        code = np.zeros(len(flat), dtype=np.int64)
        for j in range(order):
            nxt = flat[np.minimum(np.arange(len(flat)) + j, len(flat) - 1)] + 1
            code += np.where(j < width, nxt, 0) * base**j
        windows = code[is_window]
        window_seq = seq[is_window]
        codes, state = _factorize(windows, base**order)
        state = state + 1  # 0 is start
        n_states = len(codes) + 1
        n_windows = np.bincount(window_seq, minlength=len(used))
        w_off = _offsets(n_windows)
        weight = weight_all[used]
        # transitions: start -> first window, window -> next window of the same path
        inner = np.ones(len(state), dtype=bool)
        inner[w_off[:-1]] = False
        src = np.concatenate(
            (np.zeros(len(used), dtype=np.int64), state[np.flatnonzero(inner) - 1])
        )
        dst = np.concatenate((state[w_off[:-1]], state[inner]))
        wts = np.concatenate((weight, weight[window_seq[inner]]))
        last = state[w_off[1:] - 1]
        conv_w = _wsum(last, paths.conversions[used], n_states)
        value_w = _wsum(last, paths.values[used], n_states)
        null_w = _wsum(last, paths.nulls[used], n_states)
        loop = src == dst
        src, dst, wts = src[~loop], dst[~loop], wts[~loop]
        key, inverse = _factorize(src * n_states + dst, n_states * n_states)
        wts = _wsum(inverse, wts, len(key))
        src, dst = key // n_states, key % n_states
        out = _wsum(src, wts, n_states) + conv_w + null_w
        prob = wts / out[src]
        reward = np.stack((conv_w / out, value_w / out), axis=1)
        contains = np.zeros((n_states, max(n, 1)), dtype=bool)
        rest = codes.copy()
        for _ in range(order):
            digit = rest % base
            has = digit > 0
            contains[np.flatnonzero(has) + 1, digit[has] - 1] = True
            rest //= base
        return cls(n_states, src, dst, prob.astype(np.float64), reward, contains[:, :n])


def _absorb_dense(chain: _Chain, masks: list[BoolArray]) -> FloatArray:
    """``x[start]`` of ``(I - Q) x = r`` restricted to each mask's states, densely."""
    a = np.eye(chain.n_states)
    np.subtract.at(a, (chain.src, chain.dst), chain.prob)
    out = np.empty((len(masks), 2), dtype=np.float64)
    for i, keep in enumerate(masks):
        idx = np.flatnonzero(keep)  # start (0) stays first
        x = np.linalg.solve(a[np.ix_(idx, idx)], chain.reward[idx])
        out[i] = x[0]
    return out


def _absorb_iterative(chain: _Chain, masks: list[BoolArray]) -> FloatArray:
    """Same as :func:`_absorb_dense` by iterating ``x <- Q x + r`` to machine precision.

    Every mask is one pair of columns, all iterated together. From ``x = r`` the
    iterates increase to the solution (with non-negative values); the loop stops when
    the geometric bound on what is left is below 1e-15 of the solution.
    """
    keep = np.repeat(np.stack(masks, axis=1).astype(np.float64), 2, axis=1)  # (S, 2m)
    reward = np.tile(chain.reward, (1, len(masks))) * keep
    x = reward.copy()
    order = np.argsort(chain.src, kind="stable")
    src, dst, prob = chain.src[order], chain.dst[order], chain.prob[order]
    rows, row_start = np.unique(src, return_index=True)
    previous = 0.0
    for _ in range(1_000_000):
        step = np.zeros_like(x)
        if len(src):
            step[rows] = np.add.reduceat(prob[:, None] * x[dst], row_start, axis=0)
        new = step * keep + reward
        delta = float(np.abs(new - x).max())
        x = new
        scale = float(np.abs(x).max())
        ratio = delta / previous if previous > 0 else 1.0  # the first step has no ratio
        previous = delta
        if delta == 0 or (ratio < 1 and delta * ratio / (1 - ratio) <= 1e-15 * scale):
            break
    else:  # pragma: no cover - the chain is absorbing, so this converges
        raise RuntimeError("Markov attribution: the iteration did not converge")
    starts: FloatArray = x[0].reshape(len(masks), 2)
    return starts


# --------------------------------------------------------------------------- Shapley
class ShapleyConfig(ModelConfig):
    """Config of ``shapley``."""

    journey_split: Literal["subgame", "equal"] = Field(
        "subgame",
        description=(
            "How a converting journey's credit is split among its channels: `subgame`, "
            "Shapley values of the game restricted to the journey's channels; `equal`, "
            "equally (the split that adds up to the channel totals)."
        ),
    )


class ShapleyModel(PathModel[ShapleyConfig]):
    """Shapley values of the marketing coalition game of Zhao et al. (2018).

    **Game.** ``R(T)`` is the number of conversions of journeys whose set of
    channels is exactly ``T``; a coalition ``S`` is worth ``v(S) = sum of R(T) for T
    a subset of S`` (the conversions its channels could have produced on their own).
    Only conversions enter; non-converting journeys do not.

    **Channel totals.** The Shapley value of channel i,
    ``sum over S not containing i of |S|! (n-|S|-1)! / n! * (v(S+i) - v(S))``, is for
    this game exactly ``sum over T containing i of R(T) / |T|`` — Zhao et al.'s
    "simplified Shapley value" (v is a sum of unanimity games, each of which gives
    ``1/|T|`` to each of its members), exact for any number of channels without
    sampling. The value totals are the same with conversion values in place of
    counts.

    **Journeys** (``journey_split="subgame"``, default). A converting journey with
    channel set ``S`` gives channel i in S the share ``phi_i(v restricted to the
    subsets of S) / v(S)``, that is ``sum over T ⊆ S containing i of R(T)/|T|``
    divided by ``sum over T ⊆ S of R(T)``; the shares sum to 1 (efficiency) and a
    channel whose own journeys convert more gets more of shared journeys. These
    touchpoint credits do not add up to the channel totals in general.
    ``journey_split="equal"`` gives each channel of the set ``1/|S|`` instead — the
    per-conversion decomposition that adds up exactly to the channel totals (and
    equals linear attribution over distinct channels). Either way a channel's share
    is divided equally among its touchpoints in the journey.

    **Computation.** Everything is exact; nothing is sampled. The channel totals take
    one pass over the distinct channel sets. The subgame shares need, for each
    distinct set S, ``Z(S) - Z(S without i)`` with ``Z(X) = sum over T ⊆ X of
    R(T)/|T|``: up to 22 channels ``Z`` is tabulated on all ``2**n`` channel
    bitmasks by one subset-sum (zeta) transform (``n * 2**n`` additions, 32 MB at
    22 channels); beyond, the subsets of each S are enumerated and looked up by
    hash, so the time grows with ``2**|S|`` for journeys touching many distinct
    channels (a set too large for that is matched against every converting set with
    a matrix product instead).
    """

    name = "shapley"
    Config = ShapleyConfig

    def attribute(self, paths: Paths) -> PathAttribution:
        n = paths.n_channels
        pairs = paths.pairs
        n_paths = len(paths.paths)
        if n_paths == 0:
            empty = np.zeros(n, dtype=np.float64)
            return PathAttribution(tuple(paths.channels), empty, empty.copy(), np.zeros(0))
        pair_offsets = _offsets(np.bincount(pairs.path, minlength=n_paths).astype(np.int64))
        set_of_path, rep_path = _group_sequences(pairs.channel, pair_offsets)
        n_sets = len(rep_path)
        conv = _wsum(set_of_path, paths.conversions, n_sets)
        value = _wsum(set_of_path, paths.values, n_sets)
        # the members of each distinct set, from its first path's pairs
        size = np.diff(pair_offsets)[rep_path]
        member_index = _gather(pair_offsets[rep_path], size)
        member_channel = pairs.channel[member_index]
        member_set = np.repeat(np.arange(n_sets, dtype=np.int64), size)
        conversions = _wsum(member_channel, (conv / size)[member_set], n)
        values = _wsum(member_channel, (value / size)[member_set], n)
        if self.config.journey_split == "equal":
            weight = np.ones(len(pairs.path), dtype=np.float64)
        else:
            member_phi = _subgame_values(member_channel, size, conv, n)
            set_offsets = _offsets(size)
            rank = np.arange(len(pairs.path), dtype=np.int64) - pair_offsets[pairs.path]
            weight = member_phi[set_offsets[set_of_path[pairs.path]] + rank]
        return PathAttribution(
            tuple(paths.channels),
            conversions.astype(np.float64),
            values.astype(np.float64),
            _spread(paths, weight),
        )


_LATTICE_CHANNELS = 22  # a 2**22 lattice of float64 is 32 MB


def _subgame_values(
    member_channel: IntArray,
    size: IntArray,
    worth: FloatArray,
    n: int,
    *,
    method: Literal["auto", "lattice", "enumerate", "product"] = "auto",
) -> FloatArray:
    """For each distinct set S and member i: ``sum over T ⊆ S, i ∈ T of worth(T)/|T|``.

    ``member_channel`` lists the members of each set, set after set (``size`` of
    each). Only sets with ``worth > 0`` contribute. With ``Z(X) = sum over T ⊆ X of
    worth(T)/|T|``, the value is ``Z(S) - Z(S without i)``. Methods (``auto`` picks):

    - ``lattice`` (n <= 22): ``Z`` on all ``2**n`` bitmasks by one subset-sum (zeta)
      transform, ``n * 2**n`` additions;
    - ``enumerate``: the ``2**|S|`` subsets of each S, looked up by hash among the
      contributing sets (a set's hash is the wrapping sum of two independent 64-bit
      keys of its members, so subset hashes add up; a false match needs both to
      collide);
    - ``product``: a 0/1 matrix product of S with every contributing set T
      (``T ⊆ S`` iff ``|T ∩ S| = |T|``); ``auto`` uses it for the sets whose
      ``2**|S|`` exceeds that product's size.
    """
    offsets = _offsets(size)
    out = np.zeros(len(member_channel), dtype=np.float64)
    contributing = np.flatnonzero(worth > 0)
    if len(contributing) == 0 or n == 0:
        return out
    per_size = worth / size
    if method == "lattice" or (method == "auto" and n <= _LATTICE_CHANNELS):
        bit = np.left_shift(np.int64(1), member_channel)
        masks = np.bitwise_or.reduceat(bit, offsets[:-1])
        z = np.zeros(2**n, dtype=np.float64)
        z[masks[contributing]] = per_size[contributing]
        for j in range(n):  # zeta transform: z[X] = sum of z[T] for T ⊆ X
            view = z.reshape(-1, 2, 2**j)
            view[:, 1, :] += view[:, 0, :]
        member_mask = np.repeat(masks, size)
        out[:] = z[member_mask] - z[member_mask ^ bit]
        return out
    max_subsets = {"enumerate": 2**62, "product": 0}.get(method, len(contributing) * n)
    channel_ids = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        keys = (_mix64(channel_ids * _K1 + np.uint64(1)), _mix64(channel_ids * _K2 + np.uint64(2)))
        hashes = [np.add.reduceat(k[member_channel], offsets[:-1]) for k in keys]
    order = np.argsort(hashes[0][contributing], kind="stable")
    table = [h[contributing][order] for h in hashes]
    table_worth = per_size[contributing][order]
    if (np.diff(table[0]) == 0).any():  # two contributing sets share a hash: no lookups
        max_subsets = 0
    by_product: list[IntArray] = []
    for s in np.unique(size).tolist():
        rows = np.flatnonzero(size == s)
        if 2**s > max_subsets:
            by_product.append(rows)
            continue
        chunk = max(1, 2**21 >> s)
        for lo in range(0, len(rows), chunk):
            idx = offsets[rows[lo : lo + chunk], None] + np.arange(s)
            out[idx] = _enumerated(member_channel[idx], keys, table, table_worth)
    if by_product:
        _by_product(out, np.concatenate(by_product), member_channel, size, per_size, n)
    return out


def _enumerated(
    members: IntArray,
    keys: tuple[NDArray[np.uint64], NDArray[np.uint64]],
    table: list[NDArray[np.uint64]],
    table_worth: FloatArray,
) -> FloatArray:
    """:func:`_subgame_values` for sets of one size ``s`` (rows of ``members``)."""
    rows, s = members.shape
    subset_hashes = []
    with np.errstate(over="ignore"):
        for key in keys:
            h = np.zeros((rows, 2**s), dtype=np.uint64)
            member_keys = key[members]
            for j in range(s):  # subsets with bit j = those without it, plus member j
                h[:, 2**j : 2 ** (j + 1)] = h[:, : 2**j] + member_keys[:, j : j + 1]
            subset_hashes.append(h)
    pos = np.minimum(np.searchsorted(table[0], subset_hashes[0]), len(table[0]) - 1)
    hit = (table[0][pos] == subset_hashes[0]) & (table[1][pos] == subset_hashes[1])
    worth = np.where(hit, table_worth[pos], 0.0)
    phi = np.empty((rows, s), dtype=np.float64)
    for j in range(s):  # the subsets holding member j
        phi[:, j] = worth.reshape(rows, -1, 2, 2**j)[:, :, 1, :].sum(axis=(1, 2))
    return phi


def _by_product(
    out: FloatArray,
    rows: IntArray,
    member_channel: IntArray,
    size: IntArray,
    per_size: FloatArray,
    n: int,
) -> None:
    """:func:`_subgame_values` for the sets ``rows`` by 0/1 matrix products."""
    offsets = _offsets(size)

    def matrix(sets: IntArray) -> FloatArray:
        m = np.zeros((len(sets), n), dtype=np.float64)
        idx = _gather(offsets[sets], size[sets])
        m[np.repeat(np.arange(len(sets)), size[sets]), member_channel[idx]] = 1.0
        return m

    contributing = np.flatnonzero(per_size > 0)
    m_t = matrix(contributing)
    per_member = m_t * per_size[contributing][:, None]
    t_size = size[contributing].astype(np.float64)
    block = max(1, 4_000_000 // len(contributing))  # a block's subset matrix: ~32 MB
    for lo in range(0, len(rows), block):
        sets = rows[lo : lo + block]
        subset = (m_t @ matrix(sets).T == t_size[:, None]).astype(np.float64)
        phi = subset.T @ per_member  # (len(sets), n)
        idx = _gather(offsets[sets], size[sets])
        which = np.repeat(np.arange(len(sets)), size[sets])
        out[idx] = phi[which, member_channel[idx]]


# =========================================================================== registry
BUILTIN_MODELS: dict[str, type[AttributionModel[Any]]] = {
    model.name: model
    for model in (
        FirstTouchModel,
        LastTouchModel,
        LastNonDirectModel,
        LinearModel,
        TimeDecayModel,
        PositionBasedModel,
        MarkovModel,
        ShapleyModel,
    )
}


def register_builtin_models(register: Callable[[str, Any], None]) -> None:
    """Register the built-in models; the body of a ``cintel_attribution_models`` hookimpl."""
    for name, model in BUILTIN_MODELS.items():
        register(name, model)
