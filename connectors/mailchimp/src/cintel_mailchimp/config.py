"""Config of the ``mailchimp`` connector (``sources.<name>.config`` in cintel.yaml).

::

    sources:
      newsletter:
        connector: mailchimp
        config:
          api_key: ${MAILCHIMP_API_KEY}   # "…-us6": the data centre is the suffix
          list_ids: [601b55d9dc]          # empty: every audience
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Self

from cintel import ConnectorConfig
from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

__all__ = ["DEFAULT_MERGE_FIELDS", "MERGE_TARGETS", "MailchimpConfig", "data_centre"]

_DC = re.compile(r"^[a-z]+[0-9]+$")
_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: Profile fields a merge field can fill (``merge_fields`` keys).
MERGE_TARGETS = ("first_name", "last_name", "full_name", "phone", "company", "title", "address")
MergeTarget = Literal[
    "first_name", "last_name", "full_name", "phone", "company", "title", "address"
]

#: Mailchimp's default merge tags of a new audience.
DEFAULT_MERGE_FIELDS: dict[MergeTarget, str] = {
    "first_name": "FNAME",
    "last_name": "LNAME",
    "phone": "PHONE",
    "address": "ADDRESS",
    "company": "COMPANY",
}


def data_centre(api_key: str) -> str | None:
    """The data centre of a Mailchimp API key: the part after the last dash (``us6``)."""
    if "-" not in api_key:
        return None
    dc = api_key.rsplit("-", 1)[1].strip().lower()
    return dc if _DC.match(dc) else None


class MailchimpConfig(ConnectorConfig):
    """Settings of a Mailchimp source."""

    api_key: SecretStr = Field(
        description="Marketing API key (Profile > Extras > API keys), e.g. `…-us6`; the part "
        "after the last dash is the data centre. Sent with HTTP basic auth."
    )
    base_url: str | None = Field(
        None,
        description="API root override (a test server). Default: "
        "`https://<dc>.api.mailchimp.com/3.0` from the key's suffix.",
    )
    list_ids: list[_Name] = Field(
        default_factory=list,
        description="Audiences (lists) whose members and email activity are read. Empty: "
        "every audience, listed at each sync.",
    )
    page_size: int = Field(
        1000, ge=1, le=1000, description="Records per request (`count`; Mailchimp allows 1000)."
    )
    max_connections: int = Field(
        10,
        ge=1,
        le=10,
        description="Requests in flight at once, shared by every stream of the source. "
        "Mailchimp allows 10 simultaneous connections per user, across all apps: lower it "
        "when other integrations use the same account.",
    )
    start_date: datetime | None = Field(
        None,
        description="First sync only: members changed and email activity at or after this "
        "time (ISO 8601, UTC when no zone is given). Empty: everything.",
    )
    activity_window_days: int | None = Field(
        None,
        ge=1,
        description="Read email activity only of campaigns sent in the last N days (older "
        "campaigns rarely get new opens and clicks, and each costs a request per sync). "
        "Empty: every sent campaign.",
    )
    utm_source: str = Field(
        "mailchimp", min_length=1, description="`utm_source` of email touchpoints."
    )
    utm_medium: str = Field("email", min_length=1, description="`utm_medium` of email touchpoints.")
    campaign_name: Literal["title", "subject_line", "google_analytics"] = Field(
        "title",
        description="What becomes `utm_campaign` of email touchpoints: the campaign's "
        "internal `title`, its `subject_line`, or the `google_analytics` campaign name "
        "Mailchimp adds to tracked links (so email and web sessions share one name); "
        "the title when the chosen one is empty.",
    )
    merge_fields: dict[MergeTarget, _Name] = Field(
        default_factory=lambda: dict(DEFAULT_MERGE_FIELDS),
        description="Profile field -> merge tag. `address` takes an address merge field "
        "(addr1, addr2, city, zip, country). Other merge fields go to the profile's traits.",
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for each response.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// for a test server)")
        return value

    @model_validator(mode="after")
    def _data_centre(self) -> Self:
        if self.base_url is None and data_centre(self.api_key.get_secret_value()) is None:
            # never echo the key: it is the secret
            raise ValueError(
                "api_key must end with its data centre after a dash (like `…-us6`), as "
                "Mailchimp shows it; or set base_url"
            )
        return self

    def api_root(self) -> str:
        """``base_url``, or ``https://<dc>.api.mailchimp.com/3.0`` from the key."""
        if self.base_url:
            return self.base_url
        return f"https://{data_centre(self.api_key.get_secret_value())}.api.mailchimp.com/3.0"
