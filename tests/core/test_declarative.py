"""Declarative connectors: manifest validation, JSON Schema, and a YAML-only connector
syncing a paginated, incremental, rate-limited API end to end on a loopback server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from cintel import ConfigError, Pipeline
from cintel.declarative import load_connector, load_manifest, manifest_json_schema
from cintel.errors import ResponseError
from cintel.source import ConnectorContext
from cintel.testing import AcmeApi, ConnectorConformance, Faults, LoopbackServer, Reply, Request
from conftest import ROOT, run_cli, write_yaml

MANIFEST = ROOT / "examples" / "declarative" / "acme.cintel.yaml"
SCHEMA_DOC = ROOT / "docs" / "declarative-manifest.schema.json"


class Counting:
    """Wraps the API handler to count the 429s the server answered."""

    def __init__(self, api: AcmeApi) -> None:
        self.api = api
        self.statuses: list[int] = []

    def __call__(self, request: Request) -> Reply:
        reply = self.api(request)
        self.statuses.append(reply.status)
        return reply


def test_published_json_schema_is_current() -> None:
    assert SCHEMA_DOC.exists(), "run: uv run cintel schema manifest > " + str(SCHEMA_DOC)
    assert json.loads(SCHEMA_DOC.read_text()) == manifest_json_schema(), (
        "docs/declarative-manifest.schema.json is stale; regenerate it with "
        "`uv run cintel schema manifest`"
    )


def test_manifest_errors_name_the_path(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "name": "bad",
        "base_url": "http://x",
        "streams": [
            {"name": "ok", "path": "/a"},
            {"name": "things", "path": "/b", "paginator": {"type": "cursor", "param": "c"}},
        ],
    }
    path = write_yaml(tmp_path / "bad.yaml", data)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    text = str(info.value)
    assert "streams[1].paginator" in text
    assert "cursor_path" in text
    assert str(path) in text


def test_manifest_unknown_key_and_duplicate_stream(tmp_path: Path) -> None:
    data = {
        "name": "bad",
        "base_url": "http://x",
        "streams": [{"name": "a", "path": "/a", "paht": "x"}, {"name": "a", "path": "/b"}],
    }
    with pytest.raises(ConfigError) as info:
        load_manifest(write_yaml(tmp_path / "bad.yaml", data))
    assert "streams[0].paht" in str(info.value)


def test_connector_config_is_validated_with_paths(tmp_path: Path) -> None:
    shutil.copy(MANIFEST, tmp_path / "acme.cintel.yaml")
    config = {
        "name": "decl",
        "sources": {"crm": {"connector": "./acme.cintel.yaml", "config": {"page_size": "x"}}},
    }
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml(write_yaml(tmp_path / "cintel.yaml", config))
    text = str(info.value)
    assert "sources.crm.config.api_token" in text
    assert "sources.crm.config.page_size" in text


def test_missing_manifest_file_names_the_field(tmp_path: Path) -> None:
    config = {"name": "decl", "sources": {"crm": {"connector": "./nope.yaml"}}}
    with pytest.raises(ConfigError) as info:
        Pipeline.from_yaml(write_yaml(tmp_path / "cintel.yaml", config))
    assert "sources.crm.connector" in str(info.value)


def _pipeline_yaml(tmp_path: Path, server: LoopbackServer, token: str) -> Path:
    shutil.copy(MANIFEST, tmp_path / "acme.cintel.yaml")
    return write_yaml(
        tmp_path / "cintel.yaml",
        {
            "name": "decl",
            "sources": {
                "crm": {
                    "connector": "./acme.cintel.yaml",
                    "config": {"base_url": server.base_url, "api_token": token, "page_size": 40},
                }
            },
            "destination": {"sink": "duckdb", "config": {"path": "store.duckdb"}},
        },
    )


def test_yaml_only_connector_syncs_paginated_incremental_rate_limited_api(
    tmp_path: Path,
) -> None:
    api = AcmeApi(contacts=230, rate_limit=(4, 1.0))
    counting = Counting(api)
    with LoopbackServer(counting) as server:
        path = _pipeline_yaml(tmp_path, server, api.token)
        pipeline = Pipeline.from_yaml(path)
        first = pipeline.run()
        first.raise_for_status()
        assert first.records == 230
        # 230 contacts at 40 a page is 6 pages, against 4 requests a second: the limiter
        # read the server's remaining quota and held back instead of running into a 429
        assert counting.statuses.count(200) == 6
        assert 429 not in counting.statuses

        api.add_contacts(9)
        api.touch(["c_0001", "c_0002"])
        second = Pipeline.from_yaml(path).run()
        second.raise_for_status()
        assert second.records == 11, "the second run must fetch only new and changed contacts"

    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT id FROM raw_crm__contacts ORDER BY id").fetchall()]
        assert ids == sorted(c["id"] for c in api.contacts)
        profiles = con.execute(
            "SELECT count(*), count(DISTINCT profile_id) FROM source_profiles"
        ).fetchone()
        assert profiles == (239, 239)
        email = con.execute(
            "SELECT email FROM source_profiles WHERE profile_id = 'c_0001'"
        ).fetchone()
        expected = next(c["email"] for c in api.contacts if c["id"] == "c_0001")
        assert email == (expected,)
    finally:
        con.close()


def test_yaml_only_connector_survives_faults_exactly(tmp_path: Path) -> None:
    api = AcmeApi(contacts=300)
    faults = Faults(rate_429=0.15, rate_500=0.15, rate_drop=0.05, rate_malformed=0.05, seed=3)
    with LoopbackServer(api, faults=faults) as server:
        pipeline = Pipeline.from_yaml(_pipeline_yaml(tmp_path, server, api.token))
        from cintel.http import HttpClient

        HttpClient.backoff_scale = 0.01
        try:
            result = pipeline.run()
        finally:
            HttpClient.backoff_scale = 1.0
        result.raise_for_status()
        assert server.fault_log, "no fault was injected"
    con = duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT count(*), count(DISTINCT id) FROM raw_crm__contacts").fetchone()
    finally:
        con.close()
    assert rows == (300, 300)


def test_a_misspelt_record_path_fails_the_read_instead_of_syncing_nothing(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(MANIFEST.read_text())
    data["streams"][0]["record_path"] = "dta"
    cls = load_connector(write_yaml(tmp_path / "misspelt.cintel.yaml", data))
    api = AcmeApi(contacts=5)
    with LoopbackServer(api) as server:
        base_url = server.base_url
        config = cls.Config.model_validate({"base_url": base_url, "api_token": api.token})
        connector = cls(config, context=ConnectorContext(source="crm", base_dir=tmp_path))
        try:
            (stream,) = connector.streams()
            with pytest.raises(ResponseError) as info:
                list(stream.read(None))
        finally:
            connector.close()
    err = info.value
    assert (err.source, err.stream, err.status) == ("crm", "contacts", 200)
    assert err.url.startswith(f"{base_url}/v1/contacts")
    text = str(err)
    assert "record path 'dta' is not in the response" in text
    assert "keys present: data, meta" in text
    assert api.token not in text


@pytest.mark.parametrize("optional", [True, False])
def test_record_path_optional_reads_an_omitted_list_as_an_empty_page(
    tmp_path: Path, optional: bool
) -> None:
    """GA4 leaves out ``rows`` on an empty report: only record_path_optional allows it."""
    stream: dict[str, Any] = {"name": "report", "path": "/v1/report", "record_path": "rows"}
    if optional:
        stream["record_path_optional"] = True
    data = {
        "name": "ga_like",
        "config": {"base_url": {"required": True}},
        "base_url": "{{ config.base_url }}",
        "streams": [stream],
    }
    cls = load_connector(write_yaml(tmp_path / f"ga_like_{optional}.cintel.yaml", data))

    def handler(request: Request) -> Reply:
        return Reply(200, json={"rowCount": 0, "kind": "analyticsData#runReport"})

    with LoopbackServer(handler) as server:
        config = cls.Config.model_validate({"base_url": server.base_url})
        connector = cls(config, context=ConnectorContext(source="ga", base_dir=tmp_path))
        try:
            (report,) = connector.streams()
            if optional:
                batches = list(report.read(None))
                assert sum(len(b.records) for b in batches) == 0
            else:
                with pytest.raises(ResponseError) as info:
                    list(report.read(None))
        finally:
            connector.close()
    if not optional:
        text = str(info.value)
        assert "record path 'rows' is not in the response" in text
        assert "keys present: kind, rowCount" in text


def test_check_with_bad_token_is_clear_and_secret_free(tmp_path: Path) -> None:
    api = AcmeApi(contacts=5)
    with LoopbackServer(api) as server:
        path = _pipeline_yaml(tmp_path, server, "not-the-token-123")
        proc = run_cli("check", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "401" in out
    assert "not-the-token-123" not in out


class TestAcmeManifestConformance(ConnectorConformance):
    """The conformance suite over the example YAML connector."""

    connector = MANIFEST

    @pytest.fixture
    def api(self):
        self.acme = AcmeApi(contacts=120)
        with LoopbackServer(self.acme) as server:
            yield server

    def make_config(self, api):
        return {"base_url": api.base_url, "api_token": "acme-secret-token", "page_size": 25}

    def make_bad_config(self, api):
        return {"base_url": api.base_url, "api_token": "wrong-token-456", "page_size": 25}

    def grow(self, api):
        self.acme.add_contacts(7)
        return {"contacts": 7}


def test_load_connector_caches_until_the_file_changes(tmp_path: Path) -> None:
    target = tmp_path / "acme.yaml"
    shutil.copy(MANIFEST, target)
    first = load_connector(target)
    assert load_connector(target) is first
    text = target.read_text().replace("name: acme\n", "name: acme2\n")
    target.write_text(text)
    import os

    os.utime(target, ns=(1, 10**18))
    assert load_connector(target).name == "acme2"
