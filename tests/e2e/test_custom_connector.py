"""examples/custom_connector, installed like a third-party package: found, conformant, syncs.

The example is installed (no deps) into a fresh target directory with ``uv pip install``,
the way tests/core/test_plugins.py installs examples/plugin_example, and put on
PYTHONPATH of subprocesses only: this test process never imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from cintel.sink import raw_table_name
from cintel.testing import AcmeApi, LoopbackServer
from conftest import ROOT, install_example, run_cli, site_env, write_yaml

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "custom_connector"
TOKEN = "acme-e2e-token-7f3a"


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example connector package installed (no deps) into a fresh target directory."""
    return install_example(EXAMPLE, tmp_path_factory.mktemp("acme-site"))


def test_installed_package_has_typed_module_and_entry_point(acme_site: Path) -> None:
    (info,) = acme_site.glob("cintel_acme_python-0.1.0.dist-info")
    assert "acme_python = cintel_acme_python.plugin" in (info / "entry_points.txt").read_text()
    assert (acme_site / "cintel_acme_python" / "py.typed").exists()


def test_connector_is_discovered_through_its_entry_point(acme_site: Path) -> None:
    probe = (
        "import json\n"
        "from cintel.plugins import Plugins\n"
        "p = Plugins()\n"
        "cls = p.connector('acme_python')\n"
        "info = next(i for i in p.infos() if i.name == 'acme_python')\n"
        "print(json.dumps({'cls': f'{cls.__module__}.{cls.__qualname__}',\n"
        "    'dist': info.distribution, 'version': info.version, 'status': info.status,\n"
        "    'provides': info.provides,\n"
        "    'fields': sorted(cls.Config.model_fields)}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **site_env(acme_site)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found == {
        "cls": "cintel_acme_python.plugin.AcmeConnector",
        "dist": "cintel-acme-python",
        "version": "0.1.0",
        "status": "loaded",
        "provides": ["connector:acme_python"],
        "fields": ["api_token", "base_url", "page_size"],
    }

    listed = run_cli("plugins", env=site_env(acme_site, COLUMNS="200"))
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if "cintel-acme-python" in ln)
    assert "0.1.0" in line
    assert "loaded" in line
    assert "connector:acme_python" in line


def test_example_conformance_suite_passes(acme_site: Path) -> None:
    # cintel's pytest plugin (pytest11 entry point) is active without -p; the run picks up
    # the workspace's pytest settings (warnings are errors), which the suite must survive.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE,
        env={**os.environ, **site_env(acme_site, PYTHONDONTWRITEBYTECODE="1")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "9 passed" in proc.stdout, proc.stdout[-2000:]


def test_cli_sync_loads_every_contact_into_duckdb(acme_site: Path, tmp_path: Path) -> None:
    api = AcmeApi(contacts=230, token=TOKEN)
    with LoopbackServer(api) as server:
        config = write_yaml(
            tmp_path / "cintel.yaml",
            {
                "name": "acme-e2e",
                "sources": {
                    "crm": {
                        "connector": "acme_python",
                        "config": {
                            "base_url": server.base_url,
                            "api_token": "${ACME_API_TOKEN}",
                            "page_size": 40,
                        },
                    }
                },
                "destination": {"sink": "duckdb", "config": {"path": "acme.duckdb"}},
            },
        )
        env = site_env(acme_site, ACME_API_TOKEN=TOKEN)
        checked = run_cli("check", str(config), env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        first = run_cli("sync", str(config), "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["records"] == 230
        pages = api.requests_by_path["/v1/contacts"]
        assert pages == 6  # 230 contacts, 40 a page

        api.add_contacts(5)
        second = run_cli("sync", str(config), "--json", env=env)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["records"] == 5
    assert TOKEN not in first.stdout + first.stderr + second.stdout + second.stderr

    with duckdb.connect(str(tmp_path / "acme.duckdb"), read_only=True) as con:
        table = raw_table_name("crm", "contacts")
        ids = [r[0] for r in con.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]
        profiles = con.execute(
            "SELECT count(*), count(DISTINCT profile_id) FROM source_profiles"
        ).fetchone()
        email = con.execute(
            "SELECT email FROM source_profiles WHERE profile_id = 'c_0001'"
        ).fetchone()
    assert ids == sorted(c["id"] for c in api.contacts)
    assert len(ids) == 235
    assert profiles == (235, 235)
    assert email == (next(c["email"] for c in api.contacts if c["id"] == "c_0001"),)
