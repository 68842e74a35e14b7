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
one string column per configured comparison or blocking key
    ``first_name``, ``last_name``, ``email``, ``email_local``, ``email_domain``,
    ``phone``, ``birth_date`` (ISO date), ``postal_code``, ``city``, ``street``;
    trimmed, lower-case, null when unknown.

It returns an Arrow table ``unique_id_l, unique_id_r, match_probability,
match_weight`` of the pairs at or above the configured threshold. The unify step
merges their customers (within the identifier limits) and records every pair in
``customer_matches``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

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
      birth dates exact, within a month, a year, ten years;
      postal code and city exactly (term frequency adjusted); phone exactly;
      street within two edits.
    * **Blocking**: only profiles equal on every key of one blocking rule, and in
      different clusters, are compared (``email_local`` and ``email_domain`` are
      the parts of the email around the ``@``).
    * **Training**, no labels needed from the user: the prior from the pairs
      deterministic stitching found (divided by ``deterministic_recall``); the u
      values from ``u_max_pairs`` random pairs (seeded); the m values from the
      deterministic clusters themselves, whose profiles are known matches.

    Runs where Splink has a backend for the store: DuckDB and Spark.
    """

    name = "splink"

    def match(self, con: Any, profiles: ir.Table, config: ProbabilisticConfig) -> pa.Table:
        try:  # typed as Any: Splink is an optional extra, loaded when the stage runs
            splink: Any = importlib.import_module("splink")
            cl: Any = importlib.import_module("splink.comparison_library")
        except ImportError as exc:
            raise ConfigError(
                "identity.probabilistic: the splink matcher needs Splink; install the extra "
                "with `pip install 'cintel[probabilistic]'` (or `uv add 'cintel[probabilistic]'`)"
            ) from exc
        if _count(profiles) < 2:
            return MATCH_SCHEMA.empty_table()
        db_api = _db_api(splink, con)
        comparisons = {
            "first_name": lambda: cl.NameComparison("first_name").configure(
                term_frequency_adjustments=True
            ),
            "last_name": lambda: cl.NameComparison("last_name").configure(
                term_frequency_adjustments=True
            ),
            # Levenshtein, not Damerau: a swap costs two edits instead of one, but DuckDB's
            # damerau_levenshtein makes training ~6x slower
            "email": lambda: cl.LevenshteinAtThresholds("email", [1, 2]),
            "phone": lambda: cl.ExactMatch("phone"),
            "birth_date": lambda: cl.DateOfBirthComparison("birth_date", input_is_string=True),
            "postal_code": lambda: cl.ExactMatch("postal_code").configure(
                term_frequency_adjustments=True
            ),
            "city": lambda: cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            "street": lambda: cl.LevenshteinAtThresholds("street", [2]),
        }
        rules = [
            " AND ".join([*(f"l.{a} = r.{a}" for a in rule), "l.cluster <> r.cluster"])
            for rule in config.blocking
        ]
        settings = splink.SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="unique_id",
            comparisons=[comparisons[name]() for name in config.comparisons],
            blocking_rules_to_generate_predictions=rules,
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=False,
        )
        table = profiles.get_name().rsplit(".", 1)[-1]
        linker = splink.Linker(db_api.register(table), settings, log_level=logging.ERROR)
        try:
            train = linker.training
            train.estimate_probability_two_random_records_match(
                [splink.block_on("cluster")], recall=config.deterministic_recall
            )
            train.estimate_u_using_random_sampling(
                max_pairs=float(config.u_max_pairs), seed=config.seed
            )
            if _has_pairs(profiles):
                train.estimate_m_from_label_column("cluster")
            found = linker.inference.predict(
                threshold_match_probability=config.threshold, warning_mode="never"
            )
            pairs = found.as_pyarrow_table()
        finally:
            linker.table_management.delete_tables_created_by_splink_from_db()
        out = pa.table({name: pairs[name] for name in MATCH_SCHEMA.names})
        return out.cast(MATCH_SCHEMA)


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
    """Whether some cluster holds two profiles (m values are learnt from those)."""
    sizes = profiles.group_by("cluster").aggregate(n=profiles.count())
    return int(sizes.n.max().to_pyarrow().as_py() or 0) > 1
