"""The ``cintel`` command line."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``cintel`` script."""
    raise SystemExit(0)
