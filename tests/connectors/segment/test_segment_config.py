"""Config validation, fsspec protocols, secrets in storage_options, check(), docs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import fsspec
import pytest
import structlog
from cintel import ConnectorContext
from cintel.logs import collect_secrets
from cintel.plugins import Plugins
from cintel_segment import SegmentConfig, SegmentConnector
from conftest import ROOT
from pydantic import BaseModel, SecretStr, ValidationError
from segment_helpers import connector_for, events, ndjson, write


def validate(**config: Any) -> SegmentConfig:
    return SegmentConfig.model_validate(config, context={"base_dir": Path.cwd()})


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_s3_without_s3fs_says_what_to_install() -> None:
    with pytest.raises(ValidationError) as info:
        validate(path="s3://acme-events/segment-logs/abc")
    text = str(info.value)
    assert "reading s3:// URLs needs a package that is not installed" in text
    assert "pip install s3fs" in text


def test_a_registered_protocol_whose_package_is_missing_says_what_to_install() -> None:
    fsspec.register_implementation(
        "cintelnope",
        "cintel_no_such_package.NopeFileSystem",
        clobber=True,
        errtxt="Install cintel-no-such-package to access nope",
    )
    with pytest.raises(ValidationError, match=r"Install cintel-no-such-package to access nope"):
        validate(path="cintelnope://bucket/x")


def test_unknown_protocol_and_credentials_in_the_url_are_errors() -> None:
    with pytest.raises(ValidationError, match=r"unknown URL protocol nosuchproto://"):
        validate(path="nosuchproto://bucket/x")
    with pytest.raises(ValidationError, match=r"put credentials in storage_options"):
        validate(path="memory://user:hunter22@bucket/x")
    with pytest.raises(ValidationError, match=r"path must not be empty"):
        validate(path="  ")


def test_secret_storage_options_are_secret_strs_and_never_shown() -> None:
    cfg = validate(
        path="memory://bucket/x",
        storage_options={
            "key": "AKIAEXAMPLEKEY",
            "secret": "wJalrXUtnFEMI/K7MDENG",
            "token": "anon",
            "endpoint_url": "http://127.0.0.1:9000",
            "client_kwargs": {"aws_session_token": "FQoGZXIvYXdzEXAMPLE"},
        },
    )
    options = cfg.storage_options
    assert isinstance(options["key"], SecretStr)
    assert isinstance(options["secret"], SecretStr)
    assert options["token"] == "anon"  # a mode, not a secret
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert isinstance(options["client_kwargs"]["aws_session_token"], SecretStr)
    assert set(collect_secrets(cfg)) == {
        "AKIAEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG",
        "FQoGZXIvYXdzEXAMPLE",
    }
    for text in (repr(cfg), str(cfg), cfg.model_dump_json()):
        assert "wJalrXUtnFEMI" not in text


def test_check_passes_on_a_readable_export_and_notes_an_empty_one(tmp_path: Path) -> None:
    write(tmp_path / "export", "src/2024-05-01/a.gz", ndjson(events(2)))
    result = connector_for("export", tmp_path).check()
    assert result.ok, result.message
    assert result.message == "export is readable"
    (tmp_path / "empty").mkdir()
    empty = connector_for("empty", tmp_path).check()
    assert empty.ok
    assert "holds no export files yet" in empty.message


def test_check_fails_clearly_on_a_missing_or_unreadable_path(tmp_path: Path) -> None:
    result = connector_for("nowhere", tmp_path).check()
    assert not result.ok
    assert result.message == "nowhere not found"
    remote = connector_for(f"memory://missing-{tmp_path.name}/x", tmp_path).check()
    assert not remote.ok
    assert "not found (an object store may also say so" in remote.message
    write(tmp_path / "bad", "2024-05-01/a.json", b"")
    (tmp_path / "bad" / "2024-05-01" / "a.json").write_bytes(b"\x1f\x8b\x08garbage")
    corrupt = connector_for("bad", tmp_path).check()
    assert not corrupt.ok
    assert corrupt.message.startswith("cannot read bad: ")


def test_check_reports_access_denied_without_the_secret(tmp_path: Path) -> None:
    class Denied(fsspec.AbstractFileSystem):  # type: ignore[misc]
        protocol = "cinteldenied"
        cachable = False

        def __init__(self, secret: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)

        def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
            raise PermissionError("403 AccessDenied")

    fsspec.register_implementation("cinteldenied", Denied, clobber=True)
    connector = connector_for(
        "cinteldenied://bucket/x", tmp_path, storage_options={"secret": "s3cr3t-value-123"}
    )
    with structlog.testing.capture_logs() as logs:
        result = connector.check()
    assert not result.ok
    assert result.message == (
        "access denied to cinteldenied://bucket/x: 403 AccessDenied; "
        "check the credentials in storage_options"
    )
    assert "s3cr3t-value-123" not in repr(logs)


def test_registered_as_segment_with_an_events_stream(tmp_path: Path) -> None:
    cls = Plugins().connector("segment")
    assert cls is SegmentConnector
    cfg = cls.Config.model_validate({"path": str(tmp_path)})
    [stream] = cls(cfg, context=ConnectorContext(source="web")).streams()
    assert (stream.name, stream.primary_key, stream.write_disposition) == (
        "events",
        ("messageId",),
        "merge",
    )
    assert stream.cursor_field == "receivedAt"
    assert "messageId" in stream.json_schema()["properties"]


def fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        out.append((prefix + name, info))
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(fields(ann, f"{prefix}{name}."))
    return out


def test_every_config_field_is_described_and_documented() -> None:
    text = (ROOT / "docs" / "connectors" / "segment.md").read_text(encoding="utf-8")
    for path, info in fields(SegmentConfig):
        assert info.description, f"{path} has no description"
        leaf = path.rsplit(".", 1)[-1]
        assert f"`{leaf}`" in text, f"{path} is not in docs/connectors/segment.md"
