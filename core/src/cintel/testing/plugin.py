"""pytest plugin registered under ``pytest11``: fixtures for cintel connector authors."""
