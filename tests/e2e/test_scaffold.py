"""`cintel new connector NAME` writes a package that installs, is discovered through its
entry point and passes its own conformance suite without edits (real `uv` subprocesses)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow

UV = shutil.which("uv")


def _uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    assert UV, "uv is needed to test the scaffold (pip install uv)"
    return subprocess.run(
        [UV, "run", "--quiet", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("declarative", [False, True], ids=["python", "declarative"])
def test_new_connector_passes_its_own_tests(tmp_path: Path, declarative: bool) -> None:
    name = "acme_yaml" if declarative else "acme"
    args = ["new", "connector", name, "--dir", str(tmp_path)]
    if declarative:
        args.append("--declarative")
    made = run_cli(*args)
    assert made.returncode == 0, made.stdout + made.stderr
    root = tmp_path / f"cintel-{name.replace('_', '-')}"
    assert (root / "pyproject.toml").exists()
    assert (root / "tests" / "test_conformance.py").exists()

    tests = _uv("pytest", "-q", "-p", "no:cacheprovider", cwd=root)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-4000:]
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout

    listed = _uv("cintel", "plugins", cwd=root)
    assert listed.returncode == 0, listed.stderr
    assert f"connector:{name}" in listed.stdout.replace(" ", "") or name in listed.stdout


def test_new_connector_refuses_bad_names_and_existing_dirs(tmp_path: Path) -> None:
    bad = run_cli("new", "connector", "Acme-CRM", "--dir", str(tmp_path))
    assert bad.returncode == 2
    assert "must start with a letter" in bad.stdout + bad.stderr
    first = run_cli("new", "connector", "acme", "--dir", str(tmp_path))
    assert first.returncode == 0
    again = run_cli("new", "connector", "acme", "--dir", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stdout + again.stderr
