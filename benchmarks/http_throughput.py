"""HTTP read throughput of cintel's toolkit: concurrency against latency and a rate limit.

    uv run python benchmarks/http_throughput.py                     # 400 pages, 50 ms a page
    uv run python benchmarks/http_throughput.py --pages 800 --latency 0.1

What it does:

1. serves the fictional Acme CRM (``cintel.testing.AcmeApi``, 20,000 contacts = 200 pages
   of 100) on a :class:`~cintel.testing.LoopbackServer` in this process, with
   ``Faults(latency=...)`` delaying every response (a slow API, not a slow network);
2. for each concurrency level K in 1, 4 and 16, runs a **fresh subprocess** (so the peak
   RSS reported, ``getrusage(RUSAGE_SELF).ru_maxrss``, is that read's alone) in which K
   threads read ``--pages`` pages through **one** shared :class:`~cintel.http.HttpClient`
   and **one** :class:`~cintel.http.RateLimiter` (``max_concurrency=K``, ``--rate``
   requests a second as ``rate/10`` per 0.1 s window, so bursts stay small). Worker ``w``
   reads pages ``w, w+K, w+2K…`` with ``paging=offset`` (disjoint, the page index
   modulo 200 picks the offset, so the server's data does not grow with ``--pages``);
   each page's records are counted and dropped, as a sink would after writing;
3. prints pages/s, records/s, elapsed, RSS after imports and peak RSS per level, the
   speed-up over K=1, and then reads ``--pages`` and 4x ``--pages`` at K=4 to show the
   peak RSS does not grow with the number of pages read.

Expected shape: K=1 and K=4 are latency-bound (about K/latency pages/s); K=16 would
reach 16/latency but is held at the rate limit. The script fails (exit 1) if any read
returns the wrong number of records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "
PAGE_SIZE = 100
SERVED_PAGES = 200
TOKEN = "bench-token"  # noqa: S105 - the fictional API's token


def _rss_now_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# --------------------------------------------------------------------------- worker
def worker(url: str, pages: int, concurrency: int, rate: int) -> dict[str, Any]:
    """Read ``pages`` pages with ``concurrency`` threads; runs in its own process."""
    from cintel.http import BearerAuth, HttpClient, RateLimiter

    rss_start = _rss_now_mb()
    limiter = RateLimiter(
        requests=max(1, rate // 10), per=0.1, max_concurrency=concurrency, reserve=0
    )
    client = HttpClient(base_url=url, auth=BearerAuth(TOKEN), limiter=limiter, source="bench")
    counts = [0] * concurrency
    errors: list[BaseException] = []

    def run(w: int) -> None:
        try:
            for page in range(w, pages, concurrency):
                offset = (page % SERVED_PAGES) * PAGE_SIZE
                body = client.get_json(
                    "/v1/contacts",
                    params={"paging": "offset", "offset": offset, "limit": PAGE_SIZE},
                ).body
                counts[w] += len(body["data"])
        except BaseException as exc:  # reported by the parent
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    client.close()
    return {
        "concurrency": concurrency,
        "pages": pages,
        "records": sum(counts),
        "elapsed": elapsed,
        "rss_start_mb": rss_start,
        "peak_rss_mb": _peak_rss_mb(),
        "limiter_waited": limiter.stats.waited,
        "requests": client.requests_sent,
        "retries": client.retries,
        "error": repr(errors[0]) if errors else None,
    }


def run_level(url: str, pages: int, concurrency: int, rate: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        url,
        "--pages",
        str(pages),
        "--concurrency",
        str(concurrency),
        "--rate",
        str(rate),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(line[len(RESULT_PREFIX) :])


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400, help="pages read per level")
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per page")
    parser.add_argument("--rate", type=int, default=200, help="client limit, requests/s")
    parser.add_argument("--levels", default="1,4,16", help="concurrency levels")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker(args.worker, args.pages, args.concurrency, args.rate)
        print(RESULT_PREFIX + json.dumps(result))
        return 0 if result["error"] is None else 1

    from cintel.testing import AcmeApi, Faults, LoopbackServer

    levels = [int(x) for x in args.levels.split(",")]
    api = AcmeApi(contacts=SERVED_PAGES * PAGE_SIZE, token=TOKEN)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"{args.pages} pages of {PAGE_SIZE} records, {args.latency * 1000:g} ms latency a page, "
        f"client limit {args.rate} requests/s ({max(1, args.rate // 10)} per 0.1 s)"
    )
    ok = True
    with LoopbackServer(api, faults=Faults(latency=args.latency)) as server:
        print()
        header = (
            f"{'concurrency':>11} {'pages':>6} {'elapsed s':>9} {'pages/s':>8} "
            f"{'records/s':>10} {'speed-up':>8} {'server max':>10} "
            f"{'RSS start MB':>12} {'peak RSS MB':>11}"
        )
        print(header)
        print("-" * len(header))
        base: float | None = None

        def show(r: dict[str, Any], in_flight: int) -> None:
            nonlocal base, ok
            pps = r["pages"] / r["elapsed"]
            base = base or pps
            if r["records"] != r["pages"] * PAGE_SIZE or r["error"]:
                ok = False
                print(f"  !! K={r['concurrency']}: {r['records']} records, error {r['error']}")
            print(
                f"{r['concurrency']:>11} {r['pages']:>6} {r['elapsed']:>9.2f} {pps:>8.1f} "
                f"{r['records'] / r['elapsed']:>10,.0f} {pps / base:>7.2f}x {in_flight:>10} "
                f"{r['rss_start_mb']:>12.1f} {r['peak_rss_mb']:>11.1f}"
            )

        for k in levels:
            server.reset_stats()
            show(run_level(server.base_url, args.pages, k, args.rate), server.max_in_flight)

        print()
        print("memory against pages read (concurrency 4):")
        small = run_level(server.base_url, args.pages, 4, args.rate)
        large = run_level(server.base_url, args.pages * 4, 4, args.rate)
        for r in (small, large):
            if r["records"] != r["pages"] * PAGE_SIZE or r["error"]:
                ok = False
            print(
                f"  {r['pages']:>5} pages ({r['records']:>7,} records): "
                f"{r['elapsed']:6.2f} s, RSS start {r['rss_start_mb']:.1f} MB, "
                f"peak {r['peak_rss_mb']:.1f} MB (+{r['peak_rss_mb'] - r['rss_start_mb']:.1f})"
            )
        growth = large["peak_rss_mb"] - small["peak_rss_mb"]
        print(f"  peak RSS difference for 4x the pages: {growth:+.1f} MB")
        if server.errors:
            ok = False
            print(f"server errors: {server.errors[:3]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
