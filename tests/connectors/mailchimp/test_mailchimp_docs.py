"""The mailchimp docs page covers every config field."""

from __future__ import annotations

from cintel.plugins import Plugins
from cintel_mailchimp import MailchimpConfig
from conftest import ROOT

PAGE = ROOT / "docs" / "connectors" / "mailchimp.md"


def test_every_config_field_has_a_description_and_a_row_in_the_docs() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert Plugins().connector("mailchimp").Config is MailchimpConfig
    for name, info in MailchimpConfig.model_fields.items():
        assert info.description, f"{name} has no description"
        assert f"| `{name}` |" in text, f"{name} is not in {PAGE.name}"


def test_the_docs_name_the_connection_limit_and_the_end_of_data_signal() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "10 simultaneous connections" in text
    assert "offset >= total_items" in text
