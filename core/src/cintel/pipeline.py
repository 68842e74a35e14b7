"""Placeholder; the sync engine is being written."""
from __future__ import annotations

from typing import Any

BatchInfo = Any
RunContext = Any
RunResult = Any
