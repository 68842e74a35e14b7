"""Entry point of the ``mailchimp`` connector.

``[project.entry-points.cintel] mailchimp = "cintel_mailchimp.plugin"``
"""

from __future__ import annotations

from collections.abc import Callable

from cintel import Connector, hookimpl

from cintel_mailchimp.connector import MailchimpConnector

__all__ = ["cintel_connectors"]


@hookimpl
def cintel_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register :class:`MailchimpConnector` as ``mailchimp``."""
    register(MailchimpConnector)
