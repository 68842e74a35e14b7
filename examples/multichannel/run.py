"""Run the multichannel example end to end, with one command.

    uv run python examples/multichannel/run.py            # from the repository root
    uv run python examples/multichannel/run.py --fresh    # start from an empty store

It starts ``server.py``'s HubSpot, Mailchimp and Typeform APIs on 127.0.0.1 (a
free port, or ``$MULTICHANNEL_PORT``) in a background thread, runs ``cintel sync
cintel.yaml`` (load the four sources, unify customers, attribute conversions),
prints the customers stitched across CRM, web, email and survey and the
attribution by channel, writes ``report.html`` with ``cintel report`` and stops
the server. A second run syncs incrementally (nothing new) and prints the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
from cintel.cli import main as cintel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import server  # noqa: E402 (the sibling module, found through the path above)

CONFIG = HERE / "cintel.yaml"
STORE = HERE / "cintel.duckdb"
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "markov")


def run_cli(*args: str) -> None:
    """``cintel ARGS`` in this process; exits like the command when it fails."""
    try:
        cintel(list(args))
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def show(store: Path) -> None:
    """Print the stitched customers and the attribution table."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        print("\nCustomers by the sources they were seen in:")
        con.sql(
            "SELECT array_to_string(channels, ' + ') AS sources, count(*) AS customers "
            "FROM customers GROUP BY ALL ORDER BY customers DESC, sources"
        ).show()
        print("Customers stitched across CRM, web, email and survey (first 10):")
        con.sql(
            "SELECT c.email, c.first_name || ' ' || c.last_name AS name, c.phone, "
            "  count(*) FILTER (r.source = 'crm') AS crm, "
            "  count(*) FILTER (r.source = 'web') AS web, "
            "  count(*) FILTER (r.source = 'email') AS email, "
            "  count(*) FILTER (r.source = 'survey') AS survey, "
            "  c.lifetime_value, c.latest_nps "
            "FROM customers c JOIN customer_records r USING (customer_id) "
            "WHERE len(c.channels) = 4 GROUP BY ALL ORDER BY c.email LIMIT 10"
        ).show(max_width=200)
        models = ", ".join(f"'{m}'" for m in MODELS)
        pivot = ", ".join(
            f"round(sum(conversions) FILTER (model = '{m}'), 2) AS {m}" for m in MODELS
        )
        print("Attributed conversions by channel and model:")
        con.sql(
            f"SELECT goal, key AS channel, {pivot} FROM attribution_summary "
            f"WHERE dimension = 'channel' AND model IN ({models}) "
            "GROUP BY ALL HAVING sum(conversions) > 0 ORDER BY goal DESC, channel"
        ).show(max_width=200)
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="delete the store first")
    parser.add_argument("--report", type=Path, default=HERE / "report.html")
    args = parser.parse_args()
    if args.fresh:
        for path in HERE.glob("cintel.duckdb*"):
            path.unlink()
    api = server.serve(int(os.environ.get("MULTICHANNEL_PORT", "0")))
    os.environ["MULTICHANNEL_PORT"] = str(api.port)  # cintel.yaml's ${MULTICHANNEL_PORT:-8765}
    print(f"HubSpot, Mailchimp and Typeform served on {api.base_url}")
    try:
        run_cli("sync", str(CONFIG))
    finally:
        api.stop()
    show(STORE)
    run_cli("report", str(CONFIG), "-o", str(args.report))
    print(f"report: {args.report}")


if __name__ == "__main__":
    main()
