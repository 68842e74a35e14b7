"""Config loading: every error names its field path; env interpolation; CLI exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from cintel.config import ErrorBudget, PipelineConfig, interpolate_env, load_config
from cintel.errors import ConfigError
from cintel.pipeline import Pipeline
from cintel.plugins import Plugins
from conftest import run_cli, write_yaml
from pydantic import ValidationError


def _problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  a: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        load_config(path)


def test_unknown_and_missing_fields_name_their_path(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {"crm": {"conector": "files"}},
            "run": {"concurrency": 0, "max_bad_records": "lots"},
            "destinaton": {},
        },
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = _problems(exc)
    assert problems["sources.crm.conector"] == "unknown field"
    assert problems["sources.crm.connector"] == "Field required"
    assert "greater than or equal to 1" in problems["run.concurrency"]
    assert "expected a count like 100 or a percentage like '1%'" in problems["run.max_bad_records"]
    assert problems["destinaton"] == "unknown field"
    assert str(path) in str(exc.value)


def test_env_interpolation(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "name": "${PIPE:-fallback}",
            "sources": {
                "crm": {"connector": "memory", "config": {"token": "${TOKEN}", "count": 3}}
            },
        },
    )
    cfg = load_config(path, env={"TOKEN": "s3cr3t-value"})
    assert cfg.name == "fallback"
    assert cfg.sources["crm"].config["token"] == "s3cr3t-value"
    assert cfg.base_dir == tmp_path.resolve()
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert _problems(exc) == {"sources.crm.config.token": "environment variable TOKEN is not set"}


def test_interpolation_inside_lists() -> None:
    assert interpolate_env({"a": ["x${B}y", 3]}, {"B": "-"}) == {"a": ["x-y", 3]}
    with pytest.raises(ConfigError, match=r"a\[1\]: environment variable C is not set"):
        interpolate_env({"a": ["ok", "${C}"]}, {})


@pytest.mark.parametrize(
    ("value", "count", "fraction"),
    [
        (0, 0, None),
        (25, 25, None),
        ("25", 25, None),
        ("1%", None, 0.01),
        ("0.5%", None, 0.005),
        (0.02, None, 0.02),
    ],
)
def test_error_budget_parse(value: object, count: int | None, fraction: float | None) -> None:
    budget = ErrorBudget.parse(value)
    assert budget.count == count
    assert budget.fraction == pytest.approx(fraction) if fraction else budget.fraction is None


def test_error_budget_exceeded() -> None:
    assert not ErrorBudget.parse("1%").exceeded(1, 100)
    assert ErrorBudget.parse("1%").exceeded(2, 100)
    assert not ErrorBudget.parse(3).exceeded(3, 10)
    assert ErrorBudget.parse(3).exceeded(4, 10_000)


def test_connector_config_errors_are_prefixed(tmp_path: Path, plugins: Plugins) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {
                "crm": {"connector": "memory", "config": {"count": -1, "colour": "red"}},
                "web": {"connector": "nosuch"},
            },
        },
    )
    with pytest.raises(ConfigError) as exc:
        Pipeline.from_yaml(path, plugins=plugins)
    problems = _problems(exc)
    assert "greater than or equal to 0" in problems["sources.crm.config.count"]
    assert problems["sources.crm.config.colour"] == "unknown field"
    assert problems["sources.web.connector"].startswith("unknown connector 'nosuch'")


def test_unknown_stream_selection(tmp_path: Path, plugins: Plugins) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {"crm": {"connector": "memory", "streams": ["items", "nope"]}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        Pipeline.from_yaml(path, plugins=plugins)
    assert _problems(exc) == {
        "sources.crm.streams[1].name": "unknown stream 'nope' (available: items)"
    }


def test_merge_without_primary_key_is_a_config_error(tmp_path: Path, plugins: Plugins) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {
                "crm": {
                    "connector": "memory",
                    "config": {"primary_key": []},
                    "streams": [{"name": "items", "write_disposition": "merge"}],
                }
            },
        },
    )
    with pytest.raises(ConfigError, match="merge needs a primary_key"):
        Pipeline.from_yaml(path, plugins=plugins)


def test_sink_config_errors_are_prefixed(tmp_path: Path, plugins: Plugins) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {"crm": {"connector": "memory"}},
            "destination": {"sink": "duckdb", "config": {"paht": "x.duckdb"}},
        },
    )
    with pytest.raises(ConfigError) as exc:
        Pipeline.from_yaml(path, plugins=plugins)
    assert _problems(exc) == {"destination.config.paht": "unknown field"}


def test_default_destination_is_duckdb_file_beside_config() -> None:
    cfg = PipelineConfig.model_validate({"sources": {"a": {"connector": "files"}}})
    assert cfg.destination.sink == "duckdb"
    assert cfg.destination.config == {}


def test_source_names_are_checked() -> None:
    with pytest.raises(ValidationError, match="may only use letters"):
        PipelineConfig.model_validate({"sources": {"a b": {"connector": "files"}}})


def test_cli_config_error_exits_2_and_names_the_path(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "c.yaml",
        {
            "sources": {
                "crm": {
                    "connector": "files",
                    "config": {"streams": [{"name": "c", "path": "missing/*.csv"}]},
                }
            },
        },
    )
    proc = run_cli("sync", str(path))
    assert proc.returncode == 2
    assert "sources.crm.config.streams[0].path" in proc.stderr
    assert "file not found" in proc.stderr
    proc = run_cli("check", str(tmp_path / "absent.yaml"))
    assert proc.returncode == 2
    assert "file not found" in proc.stderr


def test_cli_usage_error_exits_2() -> None:
    assert run_cli("sync").returncode == 2
    assert run_cli("frobnicate").returncode == 2
