"""Identity resolution: normalization, deterministic stitching with guards, stable
customer ids, golden records, and an optional probabilistic (Splink) stage.

The unify step (:mod:`cintel.identity.unify`) is written once against ibis, so it
runs on the store's own engine: DuckDB by default, Spark or Postgres at scale.
"""
