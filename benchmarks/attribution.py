"""Attribution models on 1M journeys, and exact Markov against ChannelAttribution.

    uv run python benchmarks/attribution.py                    # 1M journeys
    uv run python benchmarks/attribution.py --journeys 200000

    # with the ChannelAttribution comparison (it is not a project dependency):
    uv venv /tmp/ca-venv -p 3.11
    VIRTUAL_ENV=/tmp/ca-venv uv pip install channelattribution matplotlib numpy \\
        pydantic pyarrow psutil pluggy structlog orjson pydantic-settings rich
    PYTHONPATH=core/src /tmp/ca-venv/bin/python benchmarks/attribution.py

What it does:

1. draws ``--journeys`` journeys (seeded) over 12 channels: path lengths geometric
   (mean ~2.9, capped at 20), channels by popularity with a quarter of touchpoints
   repeating the previous channel, a conversion probability that rises with each
   touchpoint by a channel-dependent amount (logistic), log-normal order values and
   exponential gaps between touchpoints; saved once to a temporary ``.npz``;
2. times channel grouping (:func:`cintel.attribution.channels.classify`) of a utm
   table as long as the touchpoints;
3. runs every built-in model (Markov at orders 1, 2 and 3) in a **fresh subprocess**
   on the same journeys: ``attribute_journeys`` (touchpoint credit and channel
   totals; path models include aggregating the journeys to paths). Prints seconds,
   the process's peak RSS (``ru_maxrss``) and the peak RSS sampled during the model
   alone, and checks that every converting journey's credits sum to 1;
4. in one more subprocess, aggregates to paths and runs our exact Markov (order 1)
   and ChannelAttribution's ``markov_model`` (simulation; order 1, ``var_null``,
   ``var_value``, ``sep=">"``, one core) on the same paths, and prints the time
   ratio (ChannelAttribution / ours) and the largest relative difference in channel
   conversions and value. Skipped, saying so, when ``ChannelAttribution`` is not
   importable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULT_PREFIX = "BENCH_RESULT "
CHANNELS = [
    "Paid Search",
    "Organic Search",
    "Direct",
    "Email",
    "Paid Social",
    "Organic Social",
    "Display",
    "Referral",
    "Affiliates",
    "Paid Video",
    "SMS",
    "Organic Shopping",
]
POPULARITY = np.array([18, 16, 14, 10, 9, 8, 7, 5, 4, 4, 2, 3], dtype=float)
EFFECT = np.array([0.9, 0.5, 0.6, 0.8, 0.2, 0.1, 0.05, 0.3, 0.4, 0.1, 0.5, 0.6])
# a plausible (source, medium, referrer host) for each channel, for the grouping timing
UTM = [
    ("google", "cpc", ""),
    ("", "", "www.google.com"),
    ("", "", ""),
    ("newsletter", "email", ""),
    ("facebook", "paid_social", ""),
    ("", "", "t.co"),
    ("gdn", "display", ""),
    ("", "", "blog.example.org"),
    ("partner", "affiliate", ""),
    ("youtube", "cpv", ""),
    ("sms", "sms", ""),
    ("amazon", "", ""),
]
SPECS: list[tuple[str, dict[str, Any]]] = [
    ("first_touch", {}),
    ("last_touch", {}),
    ("last_non_direct", {}),
    ("linear", {}),
    ("time_decay", {}),
    ("position_based", {}),
    ("markov", {"order": 1}),
    ("markov", {"order": 2}),
    ("markov", {"order": 3}),
    ("shapley", {}),
]


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class _RssSampler:
    """Peak RSS of this process while the ``with`` block runs (sampled every 2 ms)."""

    def __enter__(self) -> _RssSampler:
        import psutil

        self._process = psutil.Process()
        self.peak = self.baseline = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


# --------------------------------------------------------------------------- data
def generate(n_journeys: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.geometric(0.35, n_journeys), 20)
    total = int(lengths.sum())
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    journey = np.repeat(np.arange(n_journeys), lengths)
    rank = np.arange(total) - starts[journey]
    channel = rng.choice(len(CHANNELS), total, p=POPULARITY / POPULARITY.sum())
    repeat = (rng.random(total) < 0.25) & (rank > 0)
    channel[1:][repeat[1:]] = channel[:-1][repeat[1:]]
    score = np.add.reduceat(EFFECT[channel], starts)
    converted = rng.random(n_journeys) < 1 / (1 + np.exp(3.2 - score))
    value = np.where(converted, np.round(rng.lognormal(4.0, 0.8, n_journeys), 2), 0.0)
    gap = rng.exponential(2 * 86_400.0, total)
    before = np.cumsum(gap) - gap
    seconds = np.add.reduceat(gap, starts)[journey] - (before - before[starts][journey])
    return {
        "journey_id": journey.astype(np.int64),
        "position": rank.astype(np.int64),
        "channel": channel.astype(np.int64),
        "seconds": seconds,
        "converted": converted[journey],
        "value": value[journey],
    }


def load_journeys(path: str) -> Any:
    from cintel.attribution.models import Journeys

    data = np.load(path)
    return Journeys(
        CHANNELS,
        data["journey_id"],
        data["position"],
        data["channel"],
        data["seconds"],
        data["channel"] == CHANNELS.index("Direct"),
        data["converted"],
        data["value"],
    )


# --------------------------------------------------------------------------- steps
def step_grouping(path: str) -> dict[str, Any]:
    import pyarrow as pa
    from cintel.attribution.channels import ChannelRules, classify

    channel = np.load(path)["channel"]
    columns = {
        field: pa.array(np.array([u[i] for u in UTM], dtype=object)[channel], pa.string())
        for i, field in enumerate(("source", "medium", "referrer_host"))
    }
    rules = ChannelRules.ga4_default()
    start = time.perf_counter()
    result = classify(rules, columns)
    seconds = time.perf_counter() - start
    expected = [rules.classify_one(source=s, medium=m, referrer_host=r) for s, m, r in UTM]
    ok = result.to_numpy(zero_copy_only=False).tolist() == [expected[c] for c in channel]
    return {"rows": len(channel), "seconds": seconds, "ok": ok}


def step_model(path: str, name: str, config: dict[str, Any]) -> dict[str, Any]:
    from cintel.attribution.models import BUILTIN_MODELS, PathModel

    journeys = load_journeys(path)
    model = BUILTIN_MODELS[name](config)
    aggregate = 0.0
    with _RssSampler() as rss:
        start = time.perf_counter()
        if isinstance(model, PathModel):
            journeys.to_paths()
            aggregate = time.perf_counter() - start
        credit, totals = model.attribute_journeys(journeys)
        seconds = time.perf_counter() - start
    per_journey = np.bincount(journeys.journey_index, credit)[journeys.converted[journeys.starts]]
    return {
        "seconds": seconds,
        "aggregate_seconds": aggregate,
        "peak_rss_mb": _peak_rss_mb(),
        "model_peak_mb": (rss.peak - rss.baseline) / 2**20,
        "max_sum_error": float(np.abs(per_journey - 1).max()) if len(per_journey) else 0.0,
        "conversions": totals.conversions.tolist(),
        "n_paths": len(journeys.to_paths()[0].paths),
        "touchpoints": len(journeys),
    }


def step_compare(path: str, ncore: int, nsim: float, conv_par: float) -> dict[str, Any]:
    from cintel.attribution.models import MarkovModel

    journeys = load_journeys(path)
    paths, _ = journeys.to_paths()
    start = time.perf_counter()
    ours = MarkovModel({"order": 1}).attribute(paths)
    our_seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "ours_seconds": our_seconds,
        "ours_conversions": ours.conversions.tolist(),
        "ours_values": ours.values.tolist(),
        "ours_removal": ours.removal_effects.tolist(),
        "n_paths": len(paths.paths),
    }
    try:
        import ChannelAttribution as ca  # type: ignore[import-not-found]
        import pandas as pd
    except ImportError as exc:
        out["skipped"] = f"{exc} (pip install channelattribution matplotlib to compare)"
        return out
    frame = pd.DataFrame(
        {
            "path": [" > ".join(CHANNELS[c] for c in p) for p in paths.paths],
            "total_conversions": paths.conversions.astype(np.int64),
            "total_null": paths.nulls.astype(np.int64),
            "total_conversion_value": paths.values,
        }
    )
    start = time.perf_counter()
    result = ca.markov_model(
        frame,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        order=1,
        sep=">",
        ncore=ncore,
        nsim_start=nsim,
        conv_par=conv_par,
        out_more=True,
        verbose=False,
        flg_pro=False,
    )
    out["ca_seconds"] = time.perf_counter() - start
    table = result["result"].set_index("channel_name")
    removal = result["removal_effects"].set_index("channel_name")
    out["ca_conversions"] = [float(table.loc[c, "total_conversions"]) for c in CHANNELS]
    out["ca_values"] = [float(table.loc[c, "total_conversion_value"]) for c in CHANNELS]
    out["ca_removal"] = [float(removal.loc[c, "removal_effects_conversion"]) for c in CHANNELS]
    return out


def step_store(path: str) -> dict[str, Any]:
    """The whole attribution step on a unified DuckDB store, phase by phase."""
    import duckdb
    import ibis
    from cintel.attribution.engine import Attributor
    from cintel_duckdb.compat import patch

    patch()  # ibis 12 on duckdb 2 (see cintel_duckdb.compat)
    con = duckdb.connect(path, config={"memory_limit": "4GB"})
    backend = ibis.duckdb.from_connection(con)
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    result = Attributor(
        backend, progress=lambda p: marks.append((p, time.perf_counter() - start))
    ).run()
    total = time.perf_counter() - start
    ends = [t for _, t in marks[1:]] + [total]
    con.close()
    return {
        "seconds": total,
        "phases": {n: round(e - a, 2) for (n, a), e in zip(marks, ends, strict=True)},
        "result": result.as_dict(),
        "peak_rss_mb": _peak_rss_mb(),
    }


STEPS = {
    "grouping": step_grouping,
    "model": step_model,
    "compare": step_compare,
    "store": step_store,
}


def store_benchmark(profiles: int, seed: int) -> None:
    """Generate people, unify them (benchmarks/identity.py's steps), then attribute."""
    identity = str(Path(__file__).with_name("identity.py"))

    def identity_step(*argv: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, identity, *argv], capture_output=True, text=True, check=False
        )
        for line in proc.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                return dict(json.loads(line[len(RESULT_PREFIX) :]))
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"identity step {argv} failed (exit {proc.returncode})")

    with tempfile.TemporaryDirectory(prefix="cintel-attribution-store-") as tmp:
        path = str(Path(tmp) / "store.duckdb")
        gen = identity_step("--step", "generate", "--path", path, "--profiles", str(profiles),
                            "--difficulty", "hard", "--seed", str(seed))  # fmt: skip
        rows = gen["rows"]
        print(
            f"generated {profiles:,} profiles (hard): touchpoints {rows['touchpoints']:,}, "
            f"conversions {rows['conversions']:,}"
        )
        unified = identity_step("--step", "unify", "--path", path)
        print(f"unify: {unified['seconds']} s -> {unified['result']['customers']:,} customers")
        r = run_child("store", path=path)
        res = r["result"]
        goal = res["goals"]["conversion"]
        print(
            f"\nattribution step: {r['seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB; "
            f"{res['touchpoints']:,} touchpoints "
            f"({res['touchpoints'] / r['seconds']:,.0f}/s) -> {res['touches']:,} touches, "
            f"{goal['journeys']:,} journeys, {goal['conversions']:,} conversions, "
            f"{len(res['models'])} models x 2 dimensions"
        )
        for name, secs in r["phases"].items():
            print(f"  {name:<24} {secs:8.2f} s")


def run_child(step: str, **kwargs: Any) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", json.dumps({"step": step, **kwargs})]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    sys.stderr.write(proc.stdout + proc.stderr)
    raise SystemExit(f"step {step} {kwargs} failed (exit {proc.returncode})")


def _max_rel(ours: list[float], theirs: list[float]) -> tuple[float, str]:
    rel = [abs(a - b) / abs(a) if a else float(b != 0) for a, b in zip(ours, theirs, strict=True)]
    worst = int(np.argmax(rel))
    return rel[worst], CHANNELS[worst]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--ca-ncore", type=int, default=1, help="ChannelAttribution threads")
    parser.add_argument(
        "--ca-nsim", type=float, default=1e5, help="ChannelAttribution nsim_start (its default)"
    )
    parser.add_argument(
        "--ca-conv-par", type=float, default=0.05, help="ChannelAttribution conv_par (its default)"
    )
    parser.add_argument(
        "--store",
        type=int,
        metavar="PROFILES",
        help="instead: the whole attribution step on a store of this many generated, "
        "unified profiles",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        result = STEPS[spec.pop("step")](**spec)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return
    if args.store:
        print(f"python {platform.python_version()}, {os.cpu_count()} cores")
        store_benchmark(args.store, args.seed)
        return

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores, {args.journeys:,} journeys, seed {args.seed}"
    )
    with tempfile.TemporaryDirectory(prefix="cintel-attribution-") as tmp:
        data_path = str(Path(tmp) / "journeys.npz")
        start = time.perf_counter()
        np.savez(data_path, **generate(args.journeys, args.seed))
        print(f"generated in {time.perf_counter() - start:.1f} s")

        grouping = run_child("grouping", path=data_path)
        print(
            f"channel grouping: {grouping['rows']:,} rows in {grouping['seconds']:.2f} s "
            f"({'same as' if grouping['ok'] else 'DIFFERENT FROM'} row-by-row)"
        )

        rows = []
        for name, config in SPECS:
            result = run_child("model", path=data_path, name=name, config=config)
            label = name + "".join(f" {k}={v}" for k, v in config.items())
            rows.append((label, result))
        first = rows[0][1]
        print(f"{first['touchpoints']:,} touchpoints, {first['n_paths']:,} distinct paths")
        print()
        print(
            "| model | seconds | of which paths | peak RSS MB | model's own peak MB | sum error |"
        )
        print("|---|---|---|---|---|---|")
        for label, r in rows:
            print(
                f"| {label} | {r['seconds']:.2f} | {r['aggregate_seconds']:.2f} | "
                f"{r['peak_rss_mb']:.0f} | {r['model_peak_mb']:.0f} | {r['max_sum_error']:.1e} |"
            )
        total = sum(r["seconds"] for _, r in rows)
        print(f"\nall models: {total:.1f} s (target < 60 s)")

        compare = run_child(
            "compare",
            path=data_path,
            ncore=args.ca_ncore,
            nsim=args.ca_nsim,
            conv_par=args.ca_conv_par,
        )
        ours_s = compare["ours_seconds"]
        print(f"\nexact Markov order 1 on {compare['n_paths']:,} paths: {ours_s:.3f} s")
        if "skipped" in compare:
            print(f"ChannelAttribution comparison skipped: {compare['skipped']}")
            return
        ratio = compare["ca_seconds"] / compare["ours_seconds"]
        conv, conv_at = _max_rel(compare["ours_conversions"], compare["ca_conversions"])
        value, value_at = _max_rel(compare["ours_values"], compare["ca_values"])
        print(
            f"ChannelAttribution markov_model (order 1, nsim_start {args.ca_nsim:g}, "
            f"conv_par {args.ca_conv_par:g}, ncore {args.ca_ncore}): {compare['ca_seconds']:.3f} s"
        )
        print(f"ratio: {ratio:.1f} (ChannelAttribution time / ours; above 1 means ours is faster)")
        print(f"largest relative difference, conversions: {conv:.2%} ({conv_at})")
        print(f"largest relative difference, value: {value:.2%} ({value_at})")
        print("\n| channel | ours conv | CA conv | ours RE | CA RE |")
        print("|---|---|---|---|---|")
        for i, c in enumerate(CHANNELS):
            print(
                f"| {c} | {compare['ours_conversions'][i]:,.1f} | "
                f"{compare['ca_conversions'][i]:,.1f} | {compare['ours_removal'][i]:.4f} | "
                f"{compare['ca_removal'][i]:.4f} |"
            )


if __name__ == "__main__":
    main()
