"""``cintel sync`` in a real subprocess against a faulty HTTP server: exact, or a clear failure.

The server is :class:`~cintel.testing.LoopbackServer` on 127.0.0.1, serving the
fictional :class:`~cintel.testing.AcmeApi` and injecting latency, 429 with and
without ``Retry-After``, 500, 503, dropped connections, truncated bodies and
malformed JSON. The connector is the example YAML manifest
(``examples/declarative/acme.cintel.yaml``), adapted per paging style. A sync
through the faults must load exactly the API's contacts (ids and content, no
duplicates); when the faults outlast the retry budget the run must fail with an
error naming what happened and the stream, keep a consistent prefix, and a re-run
against the healed server must finish to the exact result.

Every request of one run is sequential (one stream, one page at a time), so the
seeded fault generator meets the same requests in the same order on every run: the
seeds below were picked so that each fault kind happens. Retries wait the client's
real backoff (there is no way to scale it from outside the process), so the runs
keep the number of backoff faults small.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from cintel.sink import raw_table_name
from cintel.testing import AcmeApi, Faults, LoopbackServer, Reply, Request
from conftest import ROOT, run_cli, write_yaml

pytestmark = pytest.mark.slow

MANIFEST = ROOT / "examples" / "declarative" / "acme.cintel.yaml"
CONTACTS = 300
PAGE_SIZE = 25
PAGES = CONTACTS // PAGE_SIZE  # every keyset style needs exactly this many requests
TABLE = raw_table_name("crm", "contacts")

#: How the manifest's contacts stream reads each paging style of the Acme API.
PAGING: dict[str, dict[str, Any]] = {
    "cursor": {
        "params": {},
        "record_path": "data",
        "paginator": {"type": "cursor", "cursor_path": "meta.next_cursor", "param": "cursor"},
    },
    "link": {
        "params": {"paging": "link"},
        "record_path": None,  # a bare JSON list; the next page is in the Link header
        "paginator": {"type": "link_header"},
    },
    "next_url": {
        "params": {"paging": "next_url"},
        "record_path": "data",
        "paginator": {"type": "next_url", "url_path": "next"},
    },
}

#: Every fault kind on the 12 pages of a run (seed 34: 429 with and without Retry-After,
#: 500, 503, malformed, truncated, dropped; also with up to 3 extra requests up front).
MIXED_FAULTS = Faults(
    latency=0.01,
    rate_429=0.16,
    retry_after=None,  # every other 429 carries Retry-After, starting with the first
    retry_after_seconds=1,
    rate_500=0.14,  # 500 and 503 alternately
    rate_drop=0.07,
    rate_truncate=0.07,
    rate_malformed=0.07,
    max_consecutive=2,
    seed=34,
)
ALL_KINDS = {"429", "500", "503", "drop", "truncate", "malformed"}


def write_pipeline(tmp_path: Path, server: LoopbackServer, paging: str, attempts: int) -> Path:
    """The example manifest with this paging style and retry budget, and a cintel.yaml."""
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    # fast backoff when the server gives no hint; Retry-After (1 s) is still honoured
    manifest["retry"] = {
        "max_attempts": attempts,
        "max_wait": 60,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
    }
    (stream,) = manifest["streams"]
    style = PAGING[paging]
    stream["params"] = {**stream["params"], **style["params"]}
    stream["paginator"] = style["paginator"]
    if style["record_path"] is None:
        stream.pop("record_path", None)
    else:
        stream["record_path"] = style["record_path"]
    write_yaml(tmp_path / "acme.cintel.yaml", manifest)
    return write_yaml(
        tmp_path / "cintel.yaml",
        {
            "name": "faults",
            "sources": {
                "crm": {
                    "connector": "./acme.cintel.yaml",
                    "config": {
                        "base_url": server.base_url,
                        "api_token": "${ACME_API_TOKEN}",
                        "page_size": PAGE_SIZE,
                    },
                }
            },
            "destination": {"sink": "duckdb", "config": {"path": "store.duckdb"}},
            "run": {"batch_size": PAGE_SIZE},  # one page, one commit: failures leave a prefix
        },
    )


def sync(config: Path, api: AcmeApi) -> subprocess.CompletedProcess[str]:
    """``cintel sync --json`` in a subprocess (JSON logs on stderr), checked for the token.

    Load only (``--no-unify``): the identity step is not what these tests are about.
    """
    args = ("sync", str(config), "--json", "--no-unify")
    proc = run_cli(*args, cwd=config.parent, env={"ACME_API_TOKEN": api.token})
    assert api.token not in proc.stdout + proc.stderr, "the API token leaked into the output"
    return proc


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines on stderr."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def loaded(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(id, record) of every raw row, in id order (duplicates kept)."""
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as con:
        rows = con.execute(f"SELECT id, _cintel_payload FROM {TABLE} ORDER BY id").fetchall()
    return [(cid, json.loads(payload)) for cid, payload in rows]


def expected(api: AcmeApi) -> list[tuple[str, dict[str, Any]]]:
    return sorted((c["id"], c) for c in api.contacts)


def in_api_order(api: AcmeApi) -> list[str]:
    """Contact ids in the order the API pages through them: (updated_at, id)."""
    return [c["id"] for c in sorted(api.contacts, key=lambda c: (c["updated_at"], c["id"]))]


@pytest.mark.parametrize("paging", ["cursor", "link"])
def test_sync_through_every_fault_is_exact(tmp_path: Path, paging: str) -> None:
    api = AcmeApi(contacts=CONTACTS)
    with LoopbackServer(api, faults=MIXED_FAULTS) as server:
        config = write_pipeline(tmp_path, server, paging, attempts=MIXED_FAULTS.max_consecutive + 1)
        proc = sync(config, api)
        fault_log = list(server.fault_log)
        requests = [r for r in server.requests if r.path == "/v1/contacts"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "succeeded"
    assert summary["records"] == CONTACTS

    kinds = [kind for kind, _ in fault_log]
    assert set(kinds) == ALL_KINDS, kinds
    assert kinds.count("429") >= 2, "one 429 with Retry-After and one without"
    lines = [line for _, line in fault_log]
    assert any(a == b for a, b in itertools.pairwise(lines)), "a request faulted twice in a row"
    assert all(line.startswith("GET /v1/contacts") for line in lines)
    # each fault was followed by exactly one retry and each page was fetched once unfaulted
    assert len(requests) == PAGES + len(fault_log)
    retries = [e for e in log_events(proc.stderr) if e["event"] == "retrying request"]
    assert len(retries) == len(fault_log)
    # the first 429 carried Retry-After: the client waited at least that long
    first_429 = next(e for e in retries if e["status"] == 429)
    assert first_429["wait"] >= MIXED_FAULTS.retry_after_seconds

    assert loaded(tmp_path) == expected(api)


class UnavailableAfter:
    """The Acme API, answering 503 to every contacts request after the first ``pages``.

    ``healed`` switches the fault off (between runs, never during one).
    """

    def __init__(self, api: AcmeApi, pages: int) -> None:
        self.api = api
        self.pages = pages
        self.served = 0
        self.refused = 0
        self.healed = False

    def __call__(self, request: Request) -> Reply:
        if request.path == "/v1/contacts" and not self.healed:
            if self.served >= self.pages:
                self.refused += 1
                return Reply(503, json={"error": {"code": "unavailable", "message": "down"}})
            self.served += 1
        return self.api(request)


#: Truncated bodies half of the time, without limit on repeats: with seed 1 pages 1 and 2
#: get through (page 2 after one retry) and page 3 is cut short on all 3 attempts.
TRUNCATING = Faults(latency=0.01, rate_truncate=0.5, max_consecutive=1000, seed=1)


@pytest.mark.parametrize(
    ("paging", "fault", "clue"),
    [
        pytest.param("next_url", "503", "HTTP 503", id="next_url-503"),
        pytest.param(
            "cursor",
            "truncate",
            "peer closed connection without sending complete message body",
            id="cursor-truncated",
        ),
    ],
)
def test_faults_past_the_retry_budget_fail_clearly_and_resume_exactly(
    tmp_path: Path, paging: str, fault: str, clue: str
) -> None:
    api = AcmeApi(contacts=CONTACTS)
    handler = UnavailableAfter(api, 2) if fault == "503" else None
    faults = TRUNCATING if fault == "truncate" else None
    with LoopbackServer(handler or api, faults=faults) as server:
        config = write_pipeline(tmp_path, server, paging, attempts=3)
        proc = sync(config, api)

        assert proc.returncode == 1, proc.stdout + proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["status"] == "failed"
        assert clue in summary["error"]
        # stderr says which stream failed and why, in the log of the failure
        (failed,) = [e for e in log_events(proc.stderr) if e["event"] == "stream failed"]
        assert failed["level"] == "error"
        assert failed["stream"] == "crm.contacts"
        assert clue in failed["error"]
        assert "3 attempts" in failed["error"]
        if handler is not None:
            assert handler.refused == 3, "page 3 was tried max_attempts times"
        else:
            assert [k for k, _ in server.fault_log] == ["truncate"] * 4

        # a consistent prefix: the two whole pages before the failure, no duplicates
        prefix = loaded(tmp_path)
        first_pages = set(in_api_order(api)[: 2 * PAGE_SIZE])
        assert prefix == [row for row in expected(api) if row[0] in first_pages]

        if handler is not None:
            handler.healed = True
        server.faults = Faults()
        server.reset_stats()
        proc = sync(config, api)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        resumed = json.loads(proc.stdout)["records"]
        assert resumed == CONTACTS - len(prefix), "the re-run goes on after the prefix"
        assert not server.fault_log
    assert loaded(tmp_path) == expected(api)
