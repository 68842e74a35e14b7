"""The unify step on Spark (local mode) gives, row for row, what it gives on DuckDB.

The same canonical rows are loaded into an in-memory DuckDB store and into a Spark
database, :class:`~cintel.identity.unify.Unifier` runs on each (same clock, same run
id), and every output table is compared whole: customer ids per identifier, records
per customer, refusals, merge history, registry and golden records.

Spark needs Java 17+ and the ``spark`` extra (in the dev group). Without them the
tests skip locally and fail under CI (``CI=true``), which installs Java itself.
"""

from __future__ import annotations

import gc
import math
import os
import re
import shutil
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ibis
import pyarrow as pa
import pytest
from cintel.identity.config import IdentityConfig
from cintel.identity.unify import OUTPUT_TABLES, Unifier, UnifyResult
from cintel.model import to_arrow
from cintel.testing.people import Scenario, generate
from test_unify import Store, at, ids, link, profile, touch

pytestmark = [
    # pandas 3 deprecations hit inside pyspark 4.0 and ibis 12 (results come through pandas)
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The 'future.infer_string' option is deprecated:DeprecationWarning"
    ),
    # py4j leaves its client sockets to the garbage collector
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]

#: Output tables compared between the engines (the run log holds wall times: not compared).
COMPARED = OUTPUT_TABLES

Item = tuple[str, dict[str, Any]]

#: What a :class:`UnifyResult` holds that depends on the engine or the clock.
_RESULT_NOISE = {"run_id", "started_at", "seconds"}


def _java_problem() -> str | None:
    """Why Spark cannot start here (no Java, or Java older than 17), or ``None``."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return "Java is not installed (Spark 4 needs Java 17+; .ci/run installs it)"
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if not found or int(found.group(1)) < 17:
        return f"Spark 4 needs Java 17+, found: {(out.stderr or out.stdout).strip()[:80]}"
    return None


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local SparkSession for the module, stopped at the end."""
    problem = _java_problem()
    try:
        import pyspark  # noqa: F401
    except ImportError:
        problem = "pyspark is not installed (the `spark` extra of cintel)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark tests cannot run under CI: {problem}")
        pytest.skip(problem)
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, and no warning about it
        session = _session(str(warehouse))
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        _stop_jvm()


def _session(warehouse: str) -> Any:
    """Local mode on two cores, small shuffles, UTC, loopback only, no UI."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("cintel-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", warehouse)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
        .getOrCreate()
    )


def _stop_jvm() -> None:
    """End the JVM now (its sockets would otherwise close at some later test's GC)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gateway.shutdown()
        if proc is not None:
            proc.stdin.close()  # the JVM exits when its stdin closes
            proc.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None
        gc.collect()


class Both:
    """The same canonical rows in DuckDB (the reference) and in a Spark database."""

    def __init__(self, spark: Any) -> None:
        self.duck = Store()
        self.spark = spark
        self.db = f"unify_{uuid.uuid4().hex[:8]}"
        spark.sql(f"CREATE DATABASE {self.db}")
        self.runs = 0
        self.seconds = {"duckdb": 0.0, "spark": 0.0}

    def put(self, *items: Item) -> Both:
        self.duck.put(*items)
        return self

    def put_another(self, item: Item) -> Both:
        """A second row under a record key already put (an identify call's second link)."""
        table, row = item
        rows = self.duck.rows.setdefault(table, {})
        rows[f"{row['_cintel_record_key']}#{len(rows)}"] = row
        return self

    def drop(self, table: str, key: str) -> Both:
        self.duck.drop(table, key)
        return self

    def close(self) -> None:
        self.spark.sql(f"DROP DATABASE IF EXISTS {self.db} CASCADE")

    def _load_spark(self, tables: dict[str, pa.Table]) -> Any:
        self.spark.catalog.setCurrentDatabase(self.db)
        for name, table in tables.items():
            frame = self.spark.createDataFrame(table)
            frame.write.saveAsTable(name, mode="overwrite", format="parquet")
        return ibis.pyspark.connect(self.spark)

    def unify(
        self, config: IdentityConfig | None = None, hours: float = 0
    ) -> tuple[UnifyResult, UnifyResult]:
        """Unify on both engines; every output table must come out equal."""
        tables = {t: to_arrow(t, list(rows.values())) for t, rows in self.duck.rows.items()}
        return self.unify_tables(tables, config, hours)

    def unify_tables(
        self, tables: dict[str, pa.Table], config: IdentityConfig | None = None, hours: float = 0
    ) -> tuple[UnifyResult, UnifyResult]:
        self.runs += 1
        run_id = f"run{self.runs:04d}"  # the salted id of a reused anchor hashes the run id
        now = at(1000 + hours)
        for name, table in tables.items():
            self.duck.duck.register("incoming", table)
            self.duck.duck.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
            self.duck.duck.unregister("incoming")
        duck = Unifier(self.duck.con, config, now=now)
        duck.run_id = run_id
        start = time.perf_counter()
        on_duck = duck.run()
        self.seconds["duckdb"] += time.perf_counter() - start
        con = self._load_spark(tables)
        spark = Unifier(con, config, now=now)
        spark.run_id = run_id
        start = time.perf_counter()
        on_spark = spark.run()
        self.seconds["spark"] += time.perf_counter() - start
        self.assert_equal(on_duck, on_spark)
        return on_duck, on_spark

    # ------------------------------------------------------------------ comparing
    def duck_rows(self, table: str) -> list[dict[str, Any]]:
        return self.duck.con.table(table).to_pyarrow().to_pylist()

    def spark_rows(self, table: str) -> list[dict[str, Any]]:
        self.spark.catalog.setCurrentDatabase(self.db)
        return self.spark.table(table).toArrow().to_pylist()

    def assert_equal(self, on_duck: UnifyResult, on_spark: UnifyResult) -> None:
        for table in COMPARED:
            duck, spark = _canonical(self.duck_rows(table)), _canonical(self.spark_rows(table))
            assert len(duck) == len(spark), f"{table}: {len(duck)} rows on DuckDB, {len(spark)}"
            for d, s in zip(duck, spark, strict=True):
                assert d == s, f"{table} differs:\n duckdb {d}\n spark  {s}"
        same = {k: v for k, v in on_duck.as_dict().items() if k not in _RESULT_NOISE}
        assert {k: v for k, v in on_spark.as_dict().items() if k not in _RESULT_NOISE} == same

    def customer_of(self, kind: str, value: str) -> str | None:
        return self.duck.customer_of(kind, value)


def _value(v: Any) -> Any:
    """One cell made comparable across engines: timestamps in UTC, floats rounded."""
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 9)
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def _canonical(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((_value(r) for r in rows), key=repr)


@pytest.fixture
def both(spark: Any) -> Iterator[Both]:
    store = Both(spark)
    try:
        yield store
    finally:
        store.close()


# --------------------------------------------------------------------------- cases
def _order(key: str, when: datetime, value: float, currency: str, **idents: str) -> Item:
    return "conversions", {
        "conversion_id": key,
        "occurred_at": when,
        "type": "purchase",
        "value": value,
        "currency": currency,
        "identifiers": ids(**idents),
        "_cintel_source": "shop",
        "_cintel_stream": "orders",
        "_cintel_record_key": key,
    }


def _nps(key: str, when: datetime, score: int, **idents: str) -> Item:
    return "survey_responses", {
        "response_id": key,
        "survey_id": "nps",
        "submitted_at": when,
        "nps": score,
        "identifiers": ids(**idents),
        "_cintel_source": "survey",
        "_cintel_stream": "nps",
        "_cintel_record_key": key,
    }


def test_hand_built_cases_give_the_same_customers_on_spark(both: Both) -> None:
    """Cross-source stitching, a shared device over a type limit, a shared address,
    blocked placeholders and golden records with ties, in one store (one Spark run)."""
    both.put(
        # stitching across sources: CRM, an identify call, browsing before signing in, email
        profile("c1", identifiers=ids(crm_id="c1", email="ana@acme.example"), first_name="Ana"),
        link("i1", at(1), ("user_id", "u1"), ("email", "ana@acme.example")),
        link("i2", at(1), ("user_id", "u1"), ("anonymous_id", "anon-1")),
        touch("t1", at(0), anonymous_id="anon-1"),
        touch("t2", at(2), source="email", email="ana@acme.example"),
        profile("c2", identifiers=ids(crm_id="c2", email="bo@acme.example")),
        # blocked placeholders (the (?i) patterns run as Java regexes on Spark)
        touch("t3", at(3), anonymous_id="00000000", email="NoReply@acme.example"),
        # a household laptop: u1 logs in first, then u2 (user_id limit 1)
        touch("t4", at(1), anonymous_id="laptop", user_id="u11"),
        touch("t5", at(2), anonymous_id="laptop"),
        touch("t6", at(3), anonymous_id="laptop", user_id="u12"),
        link("i3", at(3), ("user_id", "u12"), ("email", "kim@home.example")),
        link("i4", at(4), ("user_id", "u13"), ("anonymous_id", "tablet")),
        # info@ held by four CRM profiles (more than max_profiles_per_identifier=3)
        *[
            profile(f"b{i}", identifiers=ids(crm_id=f"b{i}", email="info@bayside.example"))
            for i in range(4)
        ],
        touch("t7", at(1), source="email", email="info@bayside.example"),
        # golden records: ties in time and in counts must break alike on both engines
        profile("p1", identifiers=ids(email="lu@x.example"), first_name="Lu", updated_at=at(5)),
        profile(
            "p2", "web", identifiers=ids(email="lu@x.example"), first_name="Lou", updated_at=at(5)
        ),
        profile("p3", "mail", identifiers=ids(email="lu@x.example"), city="Porto", country="PT"),
        _order("o1", at(6), 40.0, "EUR", email="lu@x.example"),
        _order("o2", at(7), 2.5, "USD", email="lu@x.example"),
        _order("o3", at(8), 0.1, "EUR", email="ana@acme.example"),
        _nps("r1", at(2), 3, email="lu@x.example"),
        _nps("r2", at(9), 8, email="lu@x.example"),
        _nps("r3", at(9), 10, email="lu@x.example"),
    )
    # one identify call, two link rows: same record key, same time
    both.put_another(link("i4", at(4), ("user_id", "u14"), ("anonymous_id", "tablet")))
    config = IdentityConfig.model_validate(
        {
            "survivorship": {
                "source_priority": ["crm", "mail"],
                "attributes": {"city": "most_frequent"},
            }
        }
    )
    result, _ = both.unify(config)
    assert result.refused == {"blocklist": 2, "limit": 2, "shared": 5}
    ana = both.customer_of("crm_id", "c1")
    assert ana == both.customer_of("anonymous_id", "anon-1") == both.customer_of("user_id", "u1")
    assert ana not in (None, both.customer_of("crm_id", "c2"))
    assert both.customer_of("user_id", "u11") != both.customer_of("user_id", "u12")
    assert len({both.customer_of("crm_id", f"b{i}") for i in range(4)}) == 4


def test_stable_ids_a_merge_and_a_split_on_rerun_are_the_same_on_spark(both: Both) -> None:
    both.put(
        # one customer held together by a bridging touch (anchor: user_id u7)
        profile("c1", identifiers=ids(crm_id="c1", email="a@x.example", phone="+14155550101")),
        touch("t1", at(1), email="a@x.example", anonymous_id="n1"),
        touch("bridge", at(2), anonymous_id="n1", user_id="u7"),
        touch("u7-own", at(3), user_id="u7", phone="+14155550199"),
        # two customers a later CRM row will merge
        profile("x1", identifiers=ids(crm_id="x1", email="ana@work.example")),
        touch("y1", at(1), source="email", email="ana@home.example"),
    )
    first, _ = both.unify()
    assert first.customers == 3
    whole = both.customer_of("user_id", "u7")
    both.drop("touchpoints", "bridge")
    both.put(
        profile("x9", identifiers=ids(crm_id="x9", email=["ana@work.example", "ana@home.example"]))
    )
    second, _ = both.unify(hours=1)
    assert (second.customers, second.merged, second.split) == (3, 1, 1)
    # the bigger part keeps the id; u7's part gets a fresh one, salted: its anchor's is taken
    assert both.customer_of("crm_id", "c1") == whole
    assert both.customer_of("user_id", "u7") not in (None, whole)


def test_generated_people_give_the_same_clusters_and_ids_on_spark(both: Both) -> None:
    synthetic = generate(Scenario(n_people=500, difficulty="hard", seed=3))
    result, _ = both.unify_tables(dict(synthetic.tables))
    assert result.customers > 300
    print(
        f"\nunify, 500 people (hard): {result.records} records -> {result.customers} customers;"
        f" duckdb {both.seconds['duckdb']:.2f}s, spark {both.seconds['spark']:.2f}s"
    )


def test_attribution_gives_the_same_journeys_and_credit_on_spark(both: Both) -> None:
    """Journeys, channels and the credit of linear, Markov (orders 1 and 2) and Shapley
    come out equal on both engines, from the same unified store."""
    from cintel.attribution.config import AttributionConfig
    from cintel.attribution.engine import OUTPUT_TABLES as ATTRIBUTION_TABLES
    from cintel.attribution.engine import Attributor

    synthetic = generate(Scenario(n_people=400, difficulty="hard", seed=5))
    both.unify_tables(dict(synthetic.tables))
    config = AttributionConfig.model_validate(
        {
            "models": {
                "linear": {},
                "markov": {},
                "markov_2": {"model": "markov", "order": 2},
                "shapley": {},
            },
            "goals": [{"name": "purchase"}, {"name": "signup", "events": ["page"], "value": 1}],
        }
    )
    results = []
    for con in (both.duck.con, ibis.pyspark.connect(both.spark)):
        attributor = Attributor(con, config.model_copy(deep=True), now=at(2000))
        attributor.run_id = "attr0001"
        start = time.perf_counter()
        results.append(attributor.run())
        both.seconds["attribution"] = time.perf_counter() - start
    on_duck, on_spark = results
    assert on_duck.goals["purchase"].conversions > 20
    assert len(on_duck.channels) >= 4
    noise = {"seconds", "started_at"}
    assert {k: v for k, v in on_spark.as_dict().items() if k not in noise} == {
        k: v for k, v in on_duck.as_dict().items() if k not in noise
    }
    for table in ATTRIBUTION_TABLES:
        duck, spark = _canonical(both.duck_rows(table)), _canonical(both.spark_rows(table))
        assert len(duck) == len(spark), f"{table}: {len(duck)} rows on DuckDB, {len(spark)}"
        for d, s in zip(duck, spark, strict=True):
            assert d == s, f"{table} differs:\n duckdb {d}\n spark  {s}"
