"""Sync throughput: Segment-style NDJSON into DuckDB, cintel against dlt.

    uv run --group bench python benchmarks/sync_throughput.py            # 200,000 rows
    uv run --group bench python benchmarks/sync_throughput.py 1000000

What it does:

1. writes ``--rows`` Segment events (the quickstart generator's event shape,
   compact: ~680 bytes a line, every ``messageId`` unique) as NDJSON split over
   ``--files`` files under ``benchmarks/.data/`` (kept and reused while rows,
   files and generator are unchanged; ``--workdir`` to put them elsewhere);
2. for each scenario (``append``, ``merge`` by ``messageId``) and each tool, runs
   one load in a **fresh subprocess**, so the peak RSS reported
   (``getrusage(RUSAGE_SELF).ru_maxrss``, or that of its children if larger) is
   that load's alone:

   - cintel, in-process: ``Pipeline(PipelineConfig.model_validate(...))`` with the
     ``files`` connector and the ``duckdb`` sink, ``batch_size`` 20,000;
   - dlt (the ``bench`` dependency group): ``dlt.pipeline(destination="duckdb")``,
     a resource reading the same files with orjson in 20,000-row lists,
     ``loader_file_format="parquet"``, ``primary_key="messageId"``;

3. counts the rows each destination holds and fails (exit 1) unless both hold
   exactly ``--rows``; prints a table and, per scenario, the throughput ratio
   ``cintel/dlt`` (rows/s over rows/s: above 1 means cintel is faster).

Generation time is not measured; each tool's time runs from building its
pipeline to the end of its load.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATOR = ROOT / "examples" / "quickstart" / "generate.py"
RESULT_PREFIX = "BENCH_RESULT "
TOOLS = ("cintel", "dlt")
SCENARIOS = ("append", "merge")


# --------------------------------------------------------------------------- data
def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("quickstart_generate", GENERATOR)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def make_events(directory: Path, rows: int, files: int, seed: int) -> dict[str, Any]:
    """Write ``rows`` events over ``files`` NDJSON files, unless already there."""
    import orjson

    digest = hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:16]
    stamp = directory / "STAMP.json"
    wanted = {"rows": rows, "files": files, "seed": seed, "generator": digest}
    if stamp.exists():
        info = json.loads(stamp.read_text())
        if {k: info.get(k) for k in wanted} == wanted:
            return info
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    gen = _generator()
    started = time.perf_counter()
    per_file = -(-rows // files)
    handles = [(directory / f"part-{i:02d}.jsonl").open("wb") for i in range(files)]
    total_bytes = 0
    try:
        for i, event in enumerate(gen.synthetic_events(rows, seed=seed)):
            line = orjson.dumps(event) + b"\n"
            total_bytes += len(line)
            handles[i // per_file].write(line)
    finally:
        for handle in handles:
            handle.close()
    info = {**wanted, "bytes": total_bytes, "seconds": round(time.perf_counter() - started, 1)}
    stamp.write_text(json.dumps(info, indent=2) + "\n")
    return info


# --------------------------------------------------------------------------- children
def _peak_rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, children_kb) / 1024  # Linux reports KiB


def _count(database: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        return int(con.sql(f"select count(*) from {table}").fetchall()[0][0])


def child_cintel(
    scenario: str, events_dir: Path, out: Path, batch_size: int, sink_config: dict[str, Any]
) -> dict[str, Any]:
    from cintel.config import PipelineConfig
    from cintel.pipeline import Pipeline

    started = time.perf_counter()
    config = PipelineConfig.model_validate(
        {
            "name": f"bench_{scenario}",
            "sources": {
                "web": {
                    "connector": "files",
                    "config": {
                        "streams": [
                            {
                                "name": "events",
                                "path": str(events_dir / "*.jsonl"),
                                "format": "jsonl",
                                "primary_key": ["messageId"],
                                "write_disposition": scenario,
                            }
                        ]
                    },
                }
            },
            "destination": {"sink": "duckdb", "config": {"path": "bench.duckdb", **sink_config}},
            "run": {"batch_size": batch_size},
            "base_dir": out,
        }
    )
    result = Pipeline(config).run()
    seconds = time.perf_counter() - started
    rss = _peak_rss_mb()
    result.raise_for_status()
    return {
        "seconds": seconds,
        "peak_rss_mb": rss,
        "rows_loaded": _count(out / "bench.duckdb", "raw_web__events"),
        "records_reported": result.records,
    }


def child_dlt(scenario: str, events_dir: Path, out: Path, batch_size: int) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import orjson

    files = sorted(events_dir.glob("*.jsonl"))

    @dlt.resource(name="events", write_disposition=scenario, primary_key="messageId")
    def events() -> Any:
        for path in files:
            with path.open("rb") as handle:
                batch = []
                for line in handle:
                    batch.append(orjson.loads(line))
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
                if batch:
                    yield batch

    started = time.perf_counter()
    database = out / "dlt.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{scenario}",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="bench",
        pipelines_dir=str(out / ".dlt"),
    )
    info = pipeline.run(events(), loader_file_format="parquet")
    seconds = time.perf_counter() - started
    rss = _peak_rss_mb()
    info.raise_on_failed_jobs()
    return {
        "seconds": seconds,
        "peak_rss_mb": rss,
        "rows_loaded": _count(database, "bench.events"),
    }


def run_child(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    events_dir = Path(args.events)
    if args.child == "cintel":
        result = child_cintel(
            args.scenario, events_dir, out, args.batch_size, json.loads(args.sink_config)
        )
    else:
        result = child_dlt(args.scenario, events_dir, out, args.batch_size)
    result.update(tool=args.child, scenario=args.scenario)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent
def measure(
    tool: str, scenario: str, events_dir: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    out = workdir / f"{tool}-{scenario}"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        tool,
        "--scenario",
        scenario,
        "--events",
        str(events_dir),
        "--out",
        str(out),
        "--batch-size",
        str(args.batch_size),
        "--sink-config",
        json.dumps(args.sink_config),
    ]
    print(f"  {scenario:6} {tool:6} ...", end=" ", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        print("FAILED")
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"{tool} / {scenario} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["rows"] = args.rows
    result["rows_per_s"] = args.rows / result["seconds"]
    print(f"{result['seconds']:.1f} s")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"python {platform.python_version()}", f"{os.cpu_count()} cpu"]
    for name in ("cintel", "duckdb", "pyarrow", "dlt"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    return ", ".join(parts)


def report(results: list[dict[str, Any]], scenarios: list[str], tools: list[str]) -> None:
    header = (
        f"{'scenario':8}  {'tool':6}  {'rows':>10}  {'seconds':>8}  {'rows/s':>9}  "
        f"{'peak RSS MB':>11}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['scenario']:8}  {r['tool']:6}  {r['rows']:>10,}  {r['seconds']:>8.1f}  "
            f"{r['rows_per_s']:>9,.0f}  {r['peak_rss_mb']:>11,.0f}"
        )
    if set(tools) >= {"cintel", "dlt"}:
        print()
        by = {(r["scenario"], r["tool"]): r for r in results}
        for scenario in scenarios:
            ratio = by[scenario, "cintel"]["rows_per_s"] / by[scenario, "dlt"]["rows_per_s"]
            # the headline (append) as `ratio: X`, the others named
            label = "ratio" if scenario == "append" else f"ratio ({scenario})"
            print(f"{label}: {ratio:.2f}  (cintel rows/s over dlt rows/s, {scenario})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "n", nargs="?", type=int, default=None, help="events to load (same as --rows)"
    )
    parser.add_argument("--rows", type=int, default=200_000, help="events to load")
    parser.add_argument("--files", type=int, default=10, help="NDJSON files to spread them over")
    parser.add_argument("--batch-size", type=int, default=10_000, help="records per batch")
    parser.add_argument("--seed", type=int, default=7, help="event generator seed")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated: append,merge"
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: cintel,dlt")
    parser.add_argument(
        "--sink-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra cintel duckdb sink config, e.g. memory_limit=200MB (repeatable)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=HERE / ".data", help="where data and stores go"
    )
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB files afterwards")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    # internal: one measured load in this (fresh) process
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--sink-config", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n is not None:
        args.rows = args.n

    if args.child:
        run_child(args)
        return

    scenarios = [s for s in args.scenarios.split(",") if s]
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted((set(scenarios) - set(SCENARIOS)) | (set(tools) - set(TOOLS)))
    if unknown or args.rows < 1 or args.files < 1:
        parser.error(f"bad --rows/--files/--scenarios/--tools ({', '.join(unknown)})")
    args.sink_config = {}
    for option in args.sink_option:
        key, sep, value = option.partition("=")
        if not sep:
            parser.error(f"--sink-option {option!r}: expected KEY=VALUE")
        args.sink_config[key] = value

    workdir = args.workdir.resolve()
    events_dir = workdir / f"events-{args.rows}x{args.files}"
    print(f"sync throughput: {versions()}")
    info = make_events(events_dir, args.rows, args.files, args.seed)
    print(
        f"data: {args.rows:,} events, {info['bytes'] / 1e6:,.0f} MB NDJSON "
        f"({info['bytes'] / args.rows:.0f} bytes/event) in {args.files} files at {events_dir}"
    )
    results = [
        measure(tool, scenario, events_dir, workdir, args)
        for scenario in scenarios
        for tool in tools
    ]
    report(results, scenarios, tools)
    wrong = [r for r in results if r["rows_loaded"] != args.rows]
    if args.json:
        args.json.write_text(json.dumps({"versions": versions(), "results": results}, indent=2))
    if wrong:
        for r in wrong:
            print(
                f"ROW COUNT MISMATCH: {r['tool']} / {r['scenario']} holds {r['rows_loaded']:,} "
                f"rows, expected {args.rows:,}",
                file=sys.stderr,
            )
        raise SystemExit(1)
    print(f"\nrow counts verified: every destination holds exactly {args.rows:,} rows")


if __name__ == "__main__":
    main()
