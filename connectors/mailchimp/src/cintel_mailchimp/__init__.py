"""cintel-mailchimp: Mailchimp audience members, campaigns and email activity as a cintel source.

Streams ``members`` (per audience, incremental on ``last_changed``), ``campaigns``
and ``email_activity`` (per sent campaign, incremental on ``since``; one record
per open, click or bounce with the campaign's name). Members map onto
``source_profiles``, activity onto ``touchpoints`` (channel Email). See
``docs/connectors/mailchimp.md``.
"""

from __future__ import annotations

from cintel_mailchimp.config import MailchimpConfig, data_centre
from cintel_mailchimp.connector import MailchimpConnector
from cintel_mailchimp.mapping import map_activity, map_members
from cintel_mailchimp.streams import Campaigns, EmailActivity, Members

__all__ = [
    "Campaigns",
    "EmailActivity",
    "MailchimpConfig",
    "MailchimpConnector",
    "Members",
    "data_centre",
    "map_activity",
    "map_members",
]
