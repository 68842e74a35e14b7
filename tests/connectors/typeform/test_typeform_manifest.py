"""The typeform connector's manifest is a working (forms-only) connector alone."""

from __future__ import annotations

from pathlib import Path

from cintel import ConnectorContext
from cintel.declarative import load_connector
from cintel.testing import LoopbackServer, read_stream
from cintel_typeform.connector import MANIFEST_PATH, manifest
from typeform_fake import TOKEN, TypeformFake


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
