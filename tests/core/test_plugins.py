"""Plugin discovery: real entry points, blocking, broken and duplicate plugins, laziness."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cintel
import pytest
from cintel.errors import DuplicatePluginError, PluginError, UnknownPluginError
from cintel.plugins import Plugins, module_plugin
from conftest import ROOT, install_dist, install_example, run_cli, site_env

DUP_SOURCE = """
from cintel import Connector, hookimpl

class Files(Connector):
    name = "files"
    Config = None
    def streams(self):
        return []

@hookimpl
def cintel_connectors(register):
    register(Files)
"""


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin package installed (no deps) into a fresh target directory."""
    return install_example(ROOT / "examples" / "plugin_example", tmp_path_factory.mktemp("site"))


def test_installed_example_plugin_is_discovered_with_its_distribution(example_site: Path) -> None:
    assert list(example_site.glob("cintel_example_plugin-0.3.1.dist-info"))
    proc = run_cli("plugins", env=site_env(example_site, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "cintel-example-plugin" in ln)
    assert "0.3.1" in line
    assert "loaded" in line
    assert "connector:sample" in line


def test_installed_example_plugin_syncs_and_its_run_hook_fires(
    example_site: Path, tmp_path: Path
) -> None:
    config = tmp_path / "cintel.yaml"
    config.write_text(
        "name: demo\nsources:\n  s:\n    connector: sample\n    config: {customers: 60}\n",
        encoding="utf-8",
    )
    audit = tmp_path / "audit.jsonl"
    env = site_env(example_site, CINTEL_EXAMPLE_AUDIT_LOG=str(audit))
    proc = run_cli("sync", str(config), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["records"] == 60
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert lines == [
        {"run_id": lines[0]["run_id"], "pipeline": "demo", "status": "succeeded", "records": 60}
    ]


def test_disabled_plugin_is_not_loaded(example_site: Path, tmp_path: Path) -> None:
    config = tmp_path / "cintel.yaml"
    config.write_text("sources:\n  s:\n    connector: sample\n", encoding="utf-8")
    env = site_env(example_site, CINTEL_DISABLE_PLUGINS="example", COLUMNS="200")
    listed = run_cli("plugins", env=env)
    line = next(ln for ln in listed.stdout.splitlines() if "cintel-example-plugin" in ln)
    assert "disabled" in line
    proc = run_cli("check", str(config), env=env)
    assert proc.returncode == 2
    assert "sources.s.connector: unknown connector 'sample'" in proc.stderr


def test_broken_plugin_is_a_warning_naming_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(
        site,
        "cintel-broken",
        "1.0",
        "cintel_broken",
        "raise ImportError('needs libfoo')\n",
        {"broken": "cintel_broken"},
    )
    proc = run_cli("plugins", env=site_env(site, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    warning = next(json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{"))
    assert warning["plugin"] == "broken"
    assert warning["distribution"] == "cintel-broken"
    assert "needs libfoo" in warning["error"]
    assert warning["level"] == "warning"
    # the healthy plugins are still there
    assert "connector:files" in proc.stdout
    assert "sink:duckdb" in proc.stdout


def test_two_plugins_claiming_one_connector_name_is_an_error_naming_both(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_dist(site, "cintel-dup", "1.0", "cintel_dup", DUP_SOURCE, {"dup": "cintel_dup"})
    proc = run_cli("plugins", env=site_env(site))
    assert proc.returncode == 2
    assert "connector 'files' is registered by two plugins" in proc.stderr
    assert "'dup'" in proc.stderr
    assert "'files'" in proc.stderr


def test_duplicate_in_process() -> None:
    class A:
        name = "x"

    def reg(register: object) -> None:
        register(A)  # type: ignore[operator]

    plugins = Plugins(
        builtins=[module_plugin("one", cintel_sinks=reg), module_plugin("two", cintel_sinks=reg)],
        entry_points=False,
    )
    with pytest.raises(DuplicatePluginError, match="registered by two plugins, 'one' and 'two'"):
        plugins.sinks()


def test_unknown_hook_name_is_an_error() -> None:
    from cintel import hookimpl

    mod = module_plugin("typo")
    mod.cintel_conectors = hookimpl(lambda register: None)  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="unknown hook"):
        Plugins(builtins=[mod], entry_points=False).connectors()


def test_unknown_connector_lists_the_installed_ones() -> None:
    installed = r"files, hubspot, mailchimp, segment, typeform"
    with pytest.raises(
        UnknownPluginError, match=rf"unknown connector 'nope' \(installed: {installed}\)"
    ):
        Plugins().connector("nope")


def test_entry_points_found_and_allow_list() -> None:
    assert set(Plugins().connectors()) >= {"files"}
    assert "duckdb" in Plugins().sinks()
    only_files = Plugins(allowed=["files"])
    assert "duckdb" not in only_files.sinks()
    assert "files" in only_files.connectors()


def test_plugins_are_loaded_lazily_not_at_import() -> None:
    code = (
        "import sys, cintel, cintel.pipeline, cintel.cli\n"
        "print(any(m.startswith(('cintel_duckdb', 'cintel_files')) for m in sys.modules))\n"
        "p = cintel.Plugins(); print(any(m.startswith('cintel_files') for m in sys.modules))\n"
        "p.connectors(); print(any(m.startswith('cintel_files') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["False", "False", "True"]


def test_public_api_is_exactly_exported() -> None:
    assert set(cintel.__all__) == {
        "AuthError",
        "BadRecord",
        "CheckResult",
        "CintelError",
        "ConfigError",
        "Connector",
        "ConnectorConfig",
        "ConnectorContext",
        "CursorTracker",
        "DeadLetter",
        "DeadLetterRow",
        "DuplicatePluginError",
        "ErrorBudgetExceeded",
        "HttpError",
        "Pipeline",
        "PipelineLockedError",
        "PluginError",
        "Plugins",
        "RateLimitError",
        "RecordBatch",
        "ResponseError",
        "RunFailedError",
        "RunRecord",
        "RunResult",
        "Sink",
        "SinkContext",
        "SinkError",
        "SourceError",
        "Stream",
        "UnknownPluginError",
        "WriteBatch",
        "__version__",
        "hookimpl",
    }
    for name in cintel.__all__:
        assert getattr(cintel, name) is not None
    assert (Path(cintel.__file__).parent / "py.typed").exists()
