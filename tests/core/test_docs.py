"""Docs are checked: every hook and every config field is documented."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from cintel import hookspecs
from cintel.config import ErrorBudget, PipelineConfig
from cintel.plugins import Plugins
from conftest import ROOT
from pydantic import BaseModel

DOCS = ROOT / "docs"


def hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("cintel_")]


def test_every_hook_is_documented_in_architecture_and_has_a_docstring() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    assert len(hook_names()) >= 8
    for name in hook_names():
        assert f"`{name}`" in text or f"`{name}(" in text, name
        assert getattr(hookspecs, name).__doc__, name


def fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        out.append((prefix + name, info))
        ann = info.annotation
        # ErrorBudget is written as a scalar (`1%`), not as a mapping
        if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not ErrorBudget:
            out.extend(fields(ann, f"{prefix}{name}."))
    return out


def test_every_pipeline_config_field_has_a_description_and_a_row_in_config_md() -> None:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    for path, info in fields(PipelineConfig):
        assert info.description, f"{path} has no description"
        leaf = path.rsplit(".", 1)[-1]
        assert re.search(rf"\| `{leaf}` \|", text), f"{path} is not in docs/config.md"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("sink", "duckdb"),
        *[("connector", c) for c in ("files", "hubspot", "mailchimp", "segment", "typeform")],
    ],
)
def test_builtin_plugin_config_fields_are_described_and_documented(kind: str, name: str) -> None:
    plugins = Plugins()
    cls = plugins.sink(name) if kind == "sink" else plugins.connector(name)
    page = DOCS / (f"{kind}s") / f"{name}.md"
    text = page.read_text(encoding="utf-8")
    for path, info in fields(cls.Config):
        assert info.description, f"{name}: {path} has no description"
        leaf = path.rsplit(".", 1)[-1]
        assert f"`{leaf}`" in text, f"{name}: {path} is not in {page.name}"


def test_import_linter_root_packages_match_the_workspace_members() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = set(root["tool"]["importlinter"]["root_packages"])
    members = {"cintel"}
    for group in ("connectors", "sinks"):
        for project in (ROOT / group).glob("*/pyproject.toml"):
            meta = tomllib.loads(project.read_text(encoding="utf-8"))
            members.add(meta["project"]["name"].replace("-", "_"))
    assert packages == members
    contracts = root["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    assert set(forbidden["forbidden_modules"]) == members - {"cintel"}
    dev = set(root["dependency-groups"]["dev"])
    assert {m.replace("_", "-") for m in members} <= dev


def test_readme_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "uv run cintel sync examples/quickstart/cintel.yaml" in readme
    assert "uv run pytest" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv run pytest" in ci
    assert "uv run cintel sync examples/quickstart/cintel.yaml" in ci
