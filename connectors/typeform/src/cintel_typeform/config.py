"""Config of the ``typeform`` connector (``sources.<name>.config`` in cintel.yaml).

::

    sources:
      surveys:
        connector: typeform
        config:
          token: ${TYPEFORM_TOKEN}
          form_ids: [u6nXL7]          # empty: every form of the account
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from cintel import ConnectorConfig
from pydantic import Field, SecretStr, StringConstraints, field_validator

__all__ = ["DEFAULT_BASE_URL", "EU_BASE_URL", "TypeformConfig"]

DEFAULT_BASE_URL = "https://api.typeform.com"
EU_BASE_URL = "https://api.eu.typeform.com"

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class TypeformConfig(ConnectorConfig):
    """Settings of a Typeform source."""

    token: SecretStr = Field(
        description="Personal access token (Account > Personal tokens) with the scopes "
        "`forms:read` and `responses:read`; sent as `Authorization: Bearer`."
    )
    base_url: str = Field(
        DEFAULT_BASE_URL,
        description="API root: https://api.typeform.com, or https://api.eu.typeform.com for "
        "accounts in the EU data centre (a test server in tests).",
    )
    form_ids: list[_Name] = Field(
        default_factory=list,
        description="Forms whose responses are read (the id in the form's URL, "
        "`/to/<id>`). Empty: every form the token can see, listed at each sync.",
    )
    page_size: int = Field(
        1000, ge=1, le=1000, description="Responses per request (Typeform allows 1000)."
    )
    start_date: datetime | None = Field(
        None,
        description="First sync only: read responses submitted at or after this time "
        "(ISO 8601, UTC when no zone is given). Empty: all responses.",
    )
    overlap_minutes: float = Field(
        30.0,
        ge=0,
        description="Each sync asks again for the responses submitted this many minutes "
        "before the newest one already read, because Typeform may list a response up to "
        "about 30 minutes late; those already read are dropped by `response_id`.",
    )
    requests_per_second: float = Field(
        2.0,
        gt=0,
        le=100,
        description="Client-side request rate. Typeform allows 2 requests a second per "
        "account: lower it when other tools use the same account.",
    )
    hidden_identifiers: dict[_Name, _Name] = Field(
        default_factory=lambda: {"email": "email", "user_id": "user_id"},
        description="Identifier type -> hidden field that carries it (`?email=…&user_id=…` "
        "in the form's URL). Values become the response's identifiers.",
    )
    email_answers_as_identifier: bool = Field(
        False,
        description="Also use the first answer of type email as the respondent's email "
        "identifier when no hidden field gives one. Off by default: a form may ask for "
        "someone else's address (refer a friend).",
    )
    nps_fields: list[_Name] = Field(
        default_factory=list,
        description="Refs (or ids) of the questions that are the NPS score. Empty: detected "
        "(an `nps` field or a 0-10 opinion scale).",
    )
    csat_fields: list[_Name] = Field(
        default_factory=list,
        description="Refs (or ids) of the CSAT questions. Empty: detected (a rating, or a "
        "1-5 opinion scale).",
    )
    ces_fields: list[_Name] = Field(
        default_factory=list,
        description="Refs (or ids) of the customer-effort (CES) questions; never detected.",
    )
    detect_scores: bool = Field(
        True,
        description="Detect NPS and CSAT questions from the form definition (read once per "
        "form and sync, only when there are new responses). Off: only the configured refs.",
    )
    touchpoints: bool = Field(
        True,
        description="Also map each response onto a `survey` touchpoint (utm_* from hidden "
        "fields or the form URL), so attribution sees it.",
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for each response.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a test server)")
        return value
