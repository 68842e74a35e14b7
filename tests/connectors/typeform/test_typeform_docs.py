"""The typeform docs page covers every config field; the manifest is a working connector alone."""

from __future__ import annotations

from pathlib import Path

from cintel import ConnectorContext
from cintel.declarative import load_connector
from cintel.plugins import Plugins
from cintel.testing import LoopbackServer, read_stream
from cintel_typeform import TypeformConfig
from cintel_typeform.connector import MANIFEST_PATH, manifest
from conftest import ROOT
from typeform_fake import TOKEN, TypeformFake

PAGE = ROOT / "docs" / "connectors" / "typeform.md"


def test_every_config_field_has_a_description_and_a_row_in_the_docs() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert Plugins().connector("typeform").Config is TypeformConfig
    for name, info in TypeformConfig.model_fields.items():
        assert info.description, f"{name} has no description"
        assert f"| `{name}` |" in text, f"{name} is not in {PAGE.name}"


def test_the_docs_name_the_declarative_and_the_python_parts() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "manifest.yaml" in text
    assert "## Declarative and Python" in text


def test_the_manifest_alone_is_a_forms_connector(tmp_path: Path) -> None:
    assert manifest().name == "typeform-forms"
    cls = load_connector(MANIFEST_PATH)
    with LoopbackServer(TypeformFake(forms=3)) as server:
        cfg = cls.Config.model_validate({"token": TOKEN, "base_url": server.base_url})
        conn = cls(cfg, context=ConnectorContext(source="forms", base_dir=tmp_path))
        try:
            assert conn.check().ok
            (forms,) = conn.streams()
            records, _, _ = read_stream(forms)
        finally:
            conn.close()
    assert [r["id"] for r in records] == ["form0", "form1", "form2"]
    assert Path(MANIFEST_PATH).parent.name == "cintel_typeform"
