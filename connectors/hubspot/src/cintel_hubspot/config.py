"""Settings of the ``hubspot`` source (``sources.<name>.config`` in cintel.yaml).

Every field has a description; ``docs/connectors/hubspot.md`` lists them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cintel import ConnectorConfig
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "COMPANY_PROPERTIES",
    "CONTACT_PROPERTIES",
    "DEAL_PROPERTIES",
    "CompaniesConfig",
    "ContactsConfig",
    "DealsConfig",
    "HubSpotConfig",
    "ObjectConfig",
    "ObjectType",
    "OwnersConfig",
]

ObjectType = Literal["contacts", "companies", "deals"]

#: Contact properties read by default: what the canonical mapping uses, and the
#: original-source fields attribution likes to see.
CONTACT_PROPERTIES = (
    "email",
    "hs_additional_emails",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "hs_email_optout",
    "hs_merged_object_ids",
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_source_data_2",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
)

COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "numberofemployees",
    "annualrevenue",
    "lifecyclestage",
    "hubspot_owner_id",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
)

#: HubSpot's own default deal properties (reference/apis.md) plus currency,
#: the closed-won flag, type, owner and original source.
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "closedate",
    "pipeline",
    "dealstage",
    "hs_is_closed_won",
    "dealtype",
    "hubspot_owner_id",
    "hs_analytics_source",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
)


def _associated(*types: ObjectType) -> list[ObjectType]:
    return list(types)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectConfig(_Section):
    """What is read of one CRM object type."""

    enabled: bool = Field(True, description="Read this object type (one stream of that name).")
    properties: list[str] = Field(
        default_factory=list,
        description=(
            "HubSpot properties to read (internal names). The default is a list per object "
            "(see the docs); setting it replaces that list. The id and last-modified "
            "properties are always added."
        ),
    )
    extra_properties: list[str] = Field(
        default_factory=list,
        description="Properties read in addition to `properties` (custom properties).",
    )
    associations: list[ObjectType] = Field(
        default_factory=list,
        description=(
            "Object types whose associated record ids are added to each record under "
            "`associations.<type>` (v4 associations batch read, 1,000 records a request)."
        ),
    )
    incremental: bool = Field(
        True,
        description=(
            "Read only what changed since the last run (search endpoint on the last-modified "
            "date). False: every run reads the whole list endpoint."
        ),
    )

    @field_validator("properties", "extra_properties")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v or "," in v for v in cleaned):
            raise ValueError("property names must be non-empty and contain no comma")
        return list(dict.fromkeys(cleaned))

    @field_validator("associations")
    @classmethod
    def _unique(cls, value: list[ObjectType]) -> list[ObjectType]:
        return list(dict.fromkeys(value))


class ContactsConfig(ObjectConfig):
    """Contacts: people (mapped to source profiles)."""

    properties: list[str] = Field(
        default_factory=lambda: list(CONTACT_PROPERTIES),
        description=ObjectConfig.model_fields["properties"].description,
    )
    associations: list[ObjectType] = Field(
        default_factory=lambda: _associated("companies"),
        description=ObjectConfig.model_fields["associations"].description,
    )


class CompaniesConfig(ObjectConfig):
    """Companies: accounts (raw table only)."""

    properties: list[str] = Field(
        default_factory=lambda: list(COMPANY_PROPERTIES),
        description=ObjectConfig.model_fields["properties"].description,
    )


class DealsConfig(ObjectConfig):
    """Deals: won deals become conversions."""

    properties: list[str] = Field(
        default_factory=lambda: list(DEAL_PROPERTIES),
        description=ObjectConfig.model_fields["properties"].description,
    )
    associations: list[ObjectType] = Field(
        default_factory=lambda: _associated("contacts", "companies"),
        description=ObjectConfig.model_fields["associations"].description,
    )
    won_stages: list[str] = Field(
        default_factory=lambda: ["closedwon"],
        description=(
            "Deal stage ids that count as won (besides `hs_is_closed_won` = true, which "
            "HubSpot sets for every pipeline's won stage)."
        ),
    )
    default_currency: str | None = Field(
        None,
        description=(
            "Currency of a won deal without `deal_currency_code` (single-currency "
            "accounts): ISO 4217, e.g. EUR."
        ),
    )
    link_contacts: bool = Field(
        False,
        description=(
            "Also write identity links between the contacts of one deal. Off by default: "
            "they merge every contact of a deal into one customer."
        ),
    )

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("default_currency must be a three-letter ISO 4217 code")
        return value


class OwnersConfig(_Section):
    """Owners: the account's users (raw table only)."""

    enabled: bool = Field(True, description="Read the owners stream (full refresh).")


class HubSpotConfig(ConnectorConfig):
    """Settings of a HubSpot source."""

    access_token: SecretStr = Field(
        description=(
            "Private app access token (pat-…): Settings > Integrations > Private Apps. "
            "Scopes: crm.objects.contacts.read, crm.objects.companies.read, "
            "crm.objects.deals.read, crm.objects.owners.read."
        )
    )
    base_url: str = Field(
        "https://api.hubapi.com", description="API root URL (a proxy or a test server)."
    )
    start_date: datetime | None = Field(
        None,
        description=(
            "First run of an incremental stream: read only records modified since then "
            "(search endpoint). Unset: the first run reads everything (list endpoint)."
        ),
    )
    contacts: ContactsConfig = Field(
        default_factory=ContactsConfig, description="The contacts stream."
    )
    companies: CompaniesConfig = Field(
        default_factory=CompaniesConfig, description="The companies stream."
    )
    deals: DealsConfig = Field(default_factory=DealsConfig, description="The deals stream.")
    owners: OwnersConfig = Field(default_factory=OwnersConfig, description="The owners stream.")
    page_size: int = Field(
        100, ge=1, le=100, description="Records per list request (HubSpot allows at most 100)."
    )
    search_page_size: int = Field(
        200, ge=1, le=200, description="Records per search request (HubSpot allows at most 200)."
    )
    search_max_results: int = Field(
        10_000,
        ge=1,
        description=(
            "Results HubSpot returns for one search query (10,000; it answers 400 past "
            "them). The query restarts from the last modified date read before reaching it."
        ),
    )
    settle_seconds: float = Field(
        60.0,
        ge=0,
        description=(
            "Records modified in the last this many seconds are left to the next run: "
            "HubSpot's search index takes a few seconds to show a change."
        ),
    )
    requests_per_10_seconds: int = Field(
        100,
        ge=1,
        description=(
            "Client-side limit per rolling 10 s, for all streams (HubSpot: 100 on "
            "Free/Starter, 190 on Professional/Enterprise, 250 with the API add-on)."
        ),
    )
    search_requests_per_second: int = Field(
        4, ge=1, description="Client-side limit for the search endpoints (HubSpot: about 4-5/s)."
    )
    max_concurrency: int = Field(4, ge=1, le=32, description="Requests in flight at most.")
    daily_reserve: int = Field(
        0,
        ge=0,
        description=(
            "Stop before the daily limit's remaining requests (X-HubSpot-RateLimit-Daily-"
            "Remaining) fall to this many, leaving them to the account's other integrations."
        ),
    )
    timeout: float = Field(30.0, gt=0, description="Seconds before a request times out.")
    max_retry_wait: float = Field(
        300.0,
        gt=0,
        description="Total seconds one request may spend waiting between retries.",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> HubSpotConfig:
        if not any(
            section.enabled for section in (self.contacts, self.companies, self.deals, self.owners)
        ):
            raise ValueError("every stream is disabled; enable at least one")
        return self

    def objects(self) -> dict[ObjectType, ObjectConfig]:
        """The enabled object types and their settings, in stream order."""
        sections: dict[ObjectType, ObjectConfig] = {
            "contacts": self.contacts,
            "companies": self.companies,
            "deals": self.deals,
        }
        return {name: section for name, section in sections.items() if section.enabled}
