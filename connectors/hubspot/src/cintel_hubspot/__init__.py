"""cintel-hubspot: HubSpot CRM as a cintel source.

Streams ``contacts``, ``companies``, ``deals`` (with their associations) and
``owners``, read with a private app token. Object streams are incremental: the
first run walks the list endpoint, later runs search on the last-modified date
(restarting before the 10,000-result cap). HubSpot's ten-second and daily limits
are honoured from its headers before a 429. Contacts map onto source profiles,
won deals onto conversions. See ``docs/connectors/hubspot.md``.
"""

from __future__ import annotations

from cintel_hubspot.config import (
    CompaniesConfig,
    ContactsConfig,
    DealsConfig,
    HubSpotConfig,
    ObjectConfig,
    OwnersConfig,
)
from cintel_hubspot.connector import HubSpotConnector
from cintel_hubspot.limits import DailyLimitError, HubSpotLimiter, HubSpotQuota
from cintel_hubspot.mapping import contacts_to_canonical, deals_to_canonical
from cintel_hubspot.streams import (
    Associations,
    CompaniesStream,
    ContactsStream,
    DealsStream,
    ObjectStream,
    OwnersStream,
    SearchPaginator,
)

__all__ = [
    "Associations",
    "CompaniesConfig",
    "CompaniesStream",
    "ContactsConfig",
    "ContactsStream",
    "DailyLimitError",
    "DealsConfig",
    "DealsStream",
    "HubSpotConfig",
    "HubSpotConnector",
    "HubSpotLimiter",
    "HubSpotQuota",
    "ObjectConfig",
    "ObjectStream",
    "OwnersConfig",
    "OwnersStream",
    "SearchPaginator",
    "contacts_to_canonical",
    "deals_to_canonical",
]
