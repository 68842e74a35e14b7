"""Identity matchers: the probabilistic stage of the unify step, as plugins.

A matcher compares the source profiles of *different* customers after
deterministic stitching and returns the pairs it believes are one person. The
built-in one, ``splink``, is registered through cintel's own entry point like
any other plugin; a third-party matcher registers itself with the hook
``cintel_identity_matchers``::

    @hookimpl
    def cintel_identity_matchers(register):
        register("acme", AcmeMatcher())

and is chosen with ``identity.probabilistic.matcher: acme``. A matcher gets the
profiles table (an ibis table on the store's engine) with these columns:

``unique_id`` (int64)
    the profile's row in this run (its *group*);
``cluster`` (int64)
    the customer deterministic stitching put it in (pairs within one cluster are
    already merged and must not be returned);
one column per configured comparison or blocking key
    strings ``first_name``, ``last_name``, ``email``, ``email_local``,
    ``email_domain``, ``phone``, ``birth_date`` (ISO date), ``postal_code``,
    ``city``, ``street``: trimmed, lower-case, null when unknown. A profile
    lacking one (not the email) has its customer's most frequent value; an email
    stitching refused (blocklisted, or shared by too many profiles) is null.
    ``email_typo`` is a list of strings: the email with one character of its local
    part deleted, each in turn, and the email itself.

It returns an Arrow table ``unique_id_l, unique_id_r, match_probability,
match_weight`` of the pairs at or above the configured threshold. The unify step
merges their customers (within the identifier limits) and records every pair in
``customer_matches``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from cintel.errors import ConfigError
from cintel.identity.config import ProbabilisticConfig

__all__ = ["MATCH_SCHEMA", "Matcher", "SplinkMatcher"]

#: What a matcher returns.
MATCH_SCHEMA = pa.schema(
    [
        ("unique_id_l", pa.int64()),
        ("unique_id_r", pa.int64()),
        ("match_probability", pa.float64()),
        ("match_weight", pa.float64()),
    ]
)

#: Fewer pairs of different customers than this in ``em_blocking``: no EM (too few to
#: estimate anything from).
EM_MIN_PAIRS = 100


class Matcher(Protocol):
    """What ``cintel_identity_matchers`` registers."""

    def match(self, con: Any, profiles: ir.Table, config: ProbabilisticConfig) -> pa.Table:
        """Pairs of profiles of different clusters at or above ``config.threshold``."""
        ...


class SplinkMatcher:
    """Fellegi-Sunter matching with Splink, trained on the data it links.

    * **Comparisons**: first and last names by Jaro-Winkler levels with term
      frequency adjustments (a shared rare surname says more than "Smith"); email
      by edit distance 1 and 2 (typos: a dropped, doubled or swapped letter);
      birth dates exact, within a month, a year, ten years; postal code and city
      as one location comparison (same postal code, else same city: the two are
      not independent evidence), each term frequency adjusted; phone exactly;
      street within two edits.
    * **Blocking**: only profiles equal on every key of one blocking rule, and in
      different clusters, are compared (``email_typo`` rules compare profiles
      sharing one variant).
    * **Training**, no labels needed from the user: the prior from the pairs
      deterministic stitching found (divided by ``deterministic_recall``); the u
      values from ``u_max_pairs`` random pairs (seeded), a level none of them
      reached (two emails one typo apart) counting as reached once; the m values
      from the deterministic clusters themselves, whose profiles are known
      matches, then refined by expectation maximisation on the pairs of different
      clusters equal on ``em_blocking``. Those are the pairs the stage decides on,
      and their matches differ from a cluster's: two profiles with one email are
      already stitched, so the matches left have a typo'd or another email.

    Runs where Splink has a backend for the store: DuckDB and Spark.
    """

    name = "splink"

    def match(self, con: Any, profiles: ir.Table, config: ProbabilisticConfig) -> pa.Table:
        try:  # typed as Any: Splink is an optional extra, loaded when the stage runs
            splink: Any = importlib.import_module("splink")
            cl: Any = importlib.import_module("splink.comparison_library")
            cll: Any = importlib.import_module("splink.comparison_level_library")
            brl: Any = importlib.import_module("splink.blocking_rule_library")
        except ImportError as exc:
            raise ConfigError(
                "identity.probabilistic: the splink matcher needs Splink; install the extra "
                "with `pip install 'cintel[probabilistic]'` (or `uv add 'cintel[probabilistic]'`)"
            ) from exc
        n = _count(profiles)
        if n < 2 or not _has_pairs(profiles):
            # the prior and the m values are learnt from stitched customers of two profiles
            # or more; without one there is nothing to learn from
            return MATCH_SCHEMA.empty_table()
        db_api = _db_api(splink, con)
        settings = splink.SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            comparisons=_comparisons(cl, cll, config.comparisons),
            # exploding rules first: Splink keeps in their exploded rows the columns the
            # rules before them need (to skip pairs those found), ~160 MB at 100k profiles
            blocking_rules_to_generate_predictions=[
                _rule(brl, r)
                for r in sorted(config.blocking, key=lambda rule: "email_typo" not in rule)
            ],
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=False,
        )
        frame = db_api.register(profiles.get_name().rsplit(".", 1)[-1])
        linkers = [splink.Linker(frame, settings, log_level=logging.ERROR)]
        try:
            train = linkers[0].training
            train.estimate_probability_two_random_records_match(
                [splink.block_on("cluster")], recall=config.deterministic_recall
            )
            train.estimate_u_using_random_sampling(
                max_pairs=float(config.u_max_pairs), seed=config.seed
            )
            train.estimate_m_from_label_column("cluster")
            em = config.em_blocking
            if em and _cross_pairs(profiles, em) >= EM_MIN_PAIRS:
                train.estimate_parameters_using_expectation_maximisation(
                    _rule(brl, em), estimate_without_term_frequencies=True
                )
            sampled = min(float(config.u_max_pairs), n * (n - 1) / 2)
            model = _settle(linkers[0].misc.save_model_to_json(), 1.0 / sampled)
            linkers.append(splink.Linker(frame, model, log_level=logging.ERROR))
            found = linkers[1].inference.predict(
                threshold_match_probability=config.threshold, warning_mode="never"
            )
            pairs = found.as_pyarrow_table()
        finally:
            for linker in linkers:
                linker.table_management.delete_tables_created_by_splink_from_db()
        out = pa.table({name: pairs[name] for name in MATCH_SCHEMA.names})
        return out.cast(MATCH_SCHEMA)


def _comparisons(cl: Any, cll: Any, names: Sequence[str]) -> list[Any]:
    """Splink comparisons of the configured attributes, in their order; postal code and
    city make one location comparison when both are listed."""
    location = {"postal_code", "city"} <= set(names)
    out: list[Any] = []
    for name in names:
        if name in ("first_name", "last_name"):
            out.append(cl.NameComparison(name).configure(term_frequency_adjustments=True))
        elif name == "email":
            out.append(
                cl.CustomComparison(
                    output_column_name="email",
                    comparison_description="exact, within 1 edit, within 2 edits",
                    comparison_levels=[
                        cll.NullLevel("email"),
                        cll.ExactMatchLevel("email"),
                        _edits(cll, "email", 1),
                        _edits(cll, "email", 2),
                        cll.ElseLevel(),
                    ],
                )
            )
        elif name == "phone":
            out.append(cl.ExactMatch("phone"))
        elif name == "birth_date":
            out.append(cl.DateOfBirthComparison("birth_date", input_is_string=True))
        elif name == "street":
            out.append(cl.LevenshteinAtThresholds("street", [2]))
        elif location and name == "postal_code":
            out.append(
                cl.CustomComparison(
                    output_column_name="location",
                    comparison_description="same postal code, else same city",
                    comparison_levels=[
                        cll.And(cll.NullLevel("postal_code"), cll.NullLevel("city")),
                        cll.ExactMatchLevel("postal_code").configure(
                            tf_adjustment_column="postal_code"
                        ),
                        cll.ExactMatchLevel("city").configure(tf_adjustment_column="city"),
                        cll.ElseLevel(),
                    ],
                )
            )
        elif not (location and name == "city"):  # postal code or city alone
            out.append(cl.ExactMatch(name).configure(term_frequency_adjustments=True))
    return out


def _edits(cll: Any, column: str, k: int) -> Any:
    """Within ``k`` edits (Levenshtein; a swap costs two, but Damerau-Levenshtein makes
    DuckDB ~6x slower). Lengths are compared first: most pairs differ by more than
    ``k``, and skipping their distance makes the u sampling of 1M pairs 3.5x faster."""
    left, right = f"{column}_l", f"{column}_r"
    return cll.CustomLevel(
        f"abs(length({left}) - length({right})) <= {k} AND levenshtein({left}, {right}) <= {k}",
        label_for_charts=f"{column} within {k} edit{'s' if k > 1 else ''}",
    )


def _rule(brl: Any, keys: Sequence[str]) -> Any:
    """A blocking rule: profiles of different clusters equal on every key (sharing one
    ``email_typo`` variant)."""
    sql = " AND ".join([*(f"l.{key} = r.{key}" for key in keys), "l.cluster <> r.cluster"])
    explode = ["email_typo"] if "email_typo" in keys else None
    return brl.CustomRule(sql, arrays_to_explode=explode)


def _settle(model: dict[str, Any], floor: float) -> dict[str, Any]:
    """The trained ``model`` as predictions use it.

    * A level no sampled pair reached keeps Splink's placeholder u (1/480 for an
      email one edit away, where the truth is one in millions): it counts as
      reached once, ``floor``.
    * Probabilities are rounded to 10 significant digits. EM sums floats, and an
      engine that adds them in another order on another run (Spark's partitions)
      changes their last bits; rounded, they cannot reorder the pairs, whose order
      decides which merge an identifier limit refuses. (DuckDB gave the same values
      run after run.)
    """

    def settle(p: float) -> float:
        return float(f"{p:.10g}")

    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            level.setdefault("u_probability", floor)
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float):
                    level[key] = settle(level[key])
    prior = model.get("probability_two_random_records_match")
    if isinstance(prior, float):
        model["probability_two_random_records_match"] = settle(prior)
    return model


def _db_api(splink: Any, con: Any) -> Any:
    if con.name == "duckdb":
        return splink.DuckDBAPI(connection=con.con)
    if con.name == "pyspark":
        return splink.SparkAPI(spark_session=con._session)
    raise ConfigError(
        f"identity.probabilistic: the splink matcher runs on DuckDB or Spark, "
        f"not on the {con.name} store"
    )


def _count(table: ir.Table) -> int:
    return int(table.count().to_pyarrow().as_py() or 0)


def _has_pairs(profiles: ir.Table) -> bool:
    """Whether some cluster holds two profiles."""
    sizes = profiles.group_by("cluster").aggregate(n=profiles.count())
    return int(sizes.n.max().to_pyarrow().as_py() or 0) > 1


def _cross_pairs(profiles: ir.Table, keys: Sequence[str]) -> int:
    """Pairs of profiles of different clusters equal on every key (email_typo: on the
    whole list, a lower bound)."""
    known = profiles.filter(ibis.and_(*(profiles[k].notnull() for k in keys)))

    def pairs(by: list[str]) -> int:
        sizes = known.group_by(by).aggregate(n=known.count())
        return int((sizes.n * (sizes.n - 1) / 2).sum().to_pyarrow().as_py() or 0)

    return pairs([*keys]) - pairs([*keys, "cluster"])
