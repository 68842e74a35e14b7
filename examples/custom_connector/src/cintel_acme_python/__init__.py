"""Acme CRM connector for cintel, written in Python (an example third-party package)."""

from __future__ import annotations

from cintel_acme_python.plugin import AcmeConfig, AcmeConnector, Contacts

__all__ = ["AcmeConfig", "AcmeConnector", "Contacts"]
