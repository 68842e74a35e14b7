"""Global settings from the environment (prefix ``CINTEL_``) via pydantic-settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CintelSettings"]


class CintelSettings(BaseSettings):
    """Settings that apply to every pipeline of a process.

    Each field is read from ``CINTEL_<FIELD>`` (case-insensitive), e.g.
    ``CINTEL_LOG_FORMAT=json``.
    """

    model_config = SettingsConfigDict(env_prefix="CINTEL_", extra="ignore")

    log_format: Literal["console", "json"] = Field(
        "console", description="Log output: human-readable console lines or JSON lines."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "warning", description="Lowest level of log lines printed."
    )
    disable_plugins: str | None = Field(
        None, description="Comma-separated entry-point or distribution names not to load."
    )
    load_plugins: str | None = Field(
        None, description="Comma-separated allow-list of entry-point names to load."
    )
