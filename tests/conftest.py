"""Shared fixtures: an in-memory test connector, pipelines in tmp dirs, plugin installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from cintel import BadRecord, Connector, ConnectorConfig, RecordBatch, Stream
from cintel.config import PipelineConfig
from cintel.pipeline import Pipeline
from cintel.plugins import Plugins, module_plugin
from pydantic import Field, SecretStr

ROOT = Path(__file__).resolve().parents[1]


class MemConfig(ConnectorConfig):
    """Config of the in-memory test connector."""

    count: int = Field(100, ge=0)
    batch_size: int = Field(10, ge=1)
    streams: list[str] = Field(default_factory=lambda: ["items"])
    primary_key: list[str] = Field(default_factory=lambda: ["id"])
    missing_pk_every: int = 0
    bad_every: int = 0
    fail_at_batch: int | None = None
    version: int = 1
    token: SecretStr | None = None
    leak_token_in_error: bool = False
    disposition: Literal["append", "merge", "replace"] | None = None


class MemStream(Stream):
    def __init__(self, name: str, config: MemConfig) -> None:
        self.name = name
        self.config = config
        self.primary_key = tuple(config.primary_key)
        self.cursor_field = "seq"
        self.write_disposition = config.disposition

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        cfg = self.config
        start = int((state or {}).get("next", 0))
        for n, first in enumerate(range(start, cfg.count, cfg.batch_size)):
            if cfg.fail_at_batch is not None and n == cfg.fail_at_batch:
                secret = cfg.token.get_secret_value() if cfg.token else ""
                detail = f" (token {secret})" if cfg.leak_token_in_error else ""
                raise RuntimeError(f"source went away{detail}")
            last = min(first + cfg.batch_size, cfg.count)
            records, bad = [], []
            for i in range(first, last):
                if cfg.bad_every and i % cfg.bad_every == cfg.bad_every - 1:
                    bad.append(BadRecord(f"garbage line {i}", f"unparseable record {i}"))
                    continue
                rec: dict[str, Any] = {
                    "id": i,
                    "seq": i,
                    "name": f"item {i}",
                    "version": cfg.version,
                }
                if cfg.missing_pk_every and i % cfg.missing_pk_every == cfg.missing_pk_every - 1:
                    rec.pop("id")
                records.append(rec)
            yield RecordBatch(records, state={"next": last}, bad=bad)


class MemConnector(Connector):
    name = "memory"
    Config = MemConfig

    def streams(self) -> list[Stream]:
        assert isinstance(self.config, MemConfig)
        return [MemStream(n, self.config) for n in self.config.streams]


def _register(register: Callable[[type[Connector]], None]) -> None:
    register(MemConnector)


def memory_plugin() -> Any:
    """The in-memory test connector as a built-in plugin module."""
    return module_plugin("cintel_tests_memory", cintel_connectors=_register)


@pytest.fixture
def plugins() -> Plugins:
    """Entry-point plugins (duckdb, files) plus the in-memory test connector."""
    return Plugins(builtins=[memory_plugin()])


@pytest.fixture
def plugins_with() -> Callable[..., Plugins]:
    """Entry-point plugins, the in-memory connector and the given extra built-ins."""
    return lambda *extra: Plugins(builtins=[memory_plugin(), *extra])


@pytest.fixture
def make_pipeline(tmp_path: Path, plugins: Plugins) -> Callable[..., Pipeline]:
    """Build a pipeline from a dict like cintel.yaml, based in tmp_path."""

    def make(sources: dict[str, Any] | None = None, **top: Any) -> Pipeline:
        data: dict[str, Any] = {
            "name": top.pop("name", "test"),
            "sources": sources or {"mem": {"connector": "memory", "config": {}}},
            "destination": top.pop(
                "destination", {"sink": "duckdb", "config": {"path": "store.duckdb"}}
            ),
            **top,
        }
        config = PipelineConfig.model_validate({**data, "base_dir": tmp_path})
        pipeline = Pipeline(config, plugins=plugins)
        pipeline.validate()
        return pipeline

    return make


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def install_dist(
    site: Path, dist: str, version: str, module: str, source: str, entry_points: dict[str, str]
) -> None:
    """Lay out an installed distribution (module + dist-info) in ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[cintel]\n{lines}\n", encoding="utf-8")


def install_example(package: Path, target: Path) -> Path:
    """Install an example package (no deps) into ``target`` with uv, as a user would."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is required to install the example packages")
    subprocess.run(
        [
            *(uv, "pip", "install", "--no-deps", "--quiet"),
            *("--target", str(target), "--python", sys.executable, str(package)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return target


def site_env(site: Path, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that sees the packages installed in ``site``."""
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"PYTHONPATH": path, **extra}


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``cintel`` in a real subprocess with this interpreter."""
    full_env = {**os.environ, "CINTEL_LOG_FORMAT": "json", "COLUMNS": "240", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cintel", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
