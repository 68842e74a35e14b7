"""Test helpers for connector and sink authors (a pytest plugin, ``cintel.testing.plugin``)."""
