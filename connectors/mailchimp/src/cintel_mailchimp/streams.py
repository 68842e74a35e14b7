"""Mailchimp streams: ``members`` (per audience), ``campaigns``, ``email_activity`` (per campaign).

Every listing is offset-paged (``count`` up to 1000, ``offset``) and ends as
Mailchimp signals it: ``offset >= total_items`` (or an empty page).

- ``members``: one child per audience, ``GET /lists/{id}/members`` sorted by
  ``last_changed`` ascending, incremental with ``since_last_changed`` (the
  checkpoint is the newest ``last_changed`` read; members on it are not loaded
  twice).
- ``campaigns``: ``GET /campaigns``, every sync (a campaign's status and report
  summary change after it is created).
- ``email_activity``: one child per sent campaign, ``GET
  /reports/{id}/email-activity`` incremental with ``since``; each email's
  ``activity`` list is flattened into one record per open, click or bounce, with
  the campaign's name joined in (the campaigns are listed first).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from cintel import HttpError, RecordBatch
from cintel.http import (
    HttpClient,
    HttpStream,
    OffsetPaginator,
    Partition,
    PartitionedStream,
    parse_datetime,
)

from cintel_mailchimp.config import MailchimpConfig
from cintel_mailchimp.mapping import map_activity, map_members

__all__ = [
    "CampaignActivity",
    "Campaigns",
    "EmailActivity",
    "ListMembers",
    "Members",
    "activity_id",
    "campaign_label",
    "explain",
]

Record = dict[str, Any]

_TITLE = re.compile(r'"title"\s*:\s*"((?:[^"\\]|\\.)*)"')
_DETAIL = re.compile(r'"detail"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def problem(body: str) -> str | None:
    """``title: detail`` of a Mailchimp problem+json error body (or its excerpt)."""
    title = _TITLE.search(body)
    detail = _DETAIL.search(body)
    parts = [m.group(1).replace('\\"', '"') for m in (title, detail) if m and m.group(1)]
    return ": ".join(parts) or None


def explain(exc: HttpError) -> HttpError:
    """The same error with Mailchimp's ``title: detail`` as its message (no secret in it)."""
    said = problem(exc.body)
    if said is None:
        return exc
    return type(exc)(
        f"Mailchimp says {said}",
        method=exc.method,
        url=exc.url,
        status=exc.status,
        attempts=exc.attempts,
        source=exc.source,
        stream=exc.stream,
    )


def _paginator(config: MailchimpConfig) -> OffsetPaginator:
    # the end is Mailchimp's: offset >= total_items (a short page is not the end)
    return OffsetPaginator(
        limit=config.page_size,
        limit_param="count",
        total_path="total_items",
        short_page_ends=False,
    )


def _start(config: MailchimpConfig) -> str | None:
    when = parse_datetime(config.start_date)
    return when.isoformat() if when else None


class _Explained(HttpStream):
    """An HttpStream whose HTTP errors carry Mailchimp's title and detail."""

    def __init__(self, client: HttpClient, config: MailchimpConfig) -> None:
        super().__init__(client)
        self.config = config

    def paginator(self) -> OffsetPaginator:
        return _paginator(self.config)

    def read(self, state: Mapping[str, Any] | None) -> Iterator[RecordBatch]:
        try:
            yield from super().read(state)
        except HttpError as exc:
            raise explain(exc) from None


# ----------------------------------------------------------------------------- listings
class _Lists(_Explained):
    """The audiences of the account (partitions of ``members``)."""

    name = "lists"
    path = "/lists"
    record_path = "lists"
    primary_key = ("id",)

    def __init__(self, client: HttpClient, config: MailchimpConfig) -> None:
        super().__init__(client, config)
        self.params = {"fields": "lists.id,lists.name,total_items"}


_CAMPAIGN_FIELDS = ",".join(
    [
        "campaigns.id",
        "campaigns.status",
        "campaigns.send_time",
        "campaigns.settings.title",
        "campaigns.settings.subject_line",
        "campaigns.tracking.google_analytics",
        "campaigns.recipients.list_id",
        "total_items",
    ]
)


class Campaigns(_Explained):
    """``campaigns``: every campaign, read in full each sync (merged by ``id``)."""

    name = "campaigns"
    path = "/campaigns"
    record_path = "campaigns"
    primary_key = ("id",)
    write_disposition = "merge"

    def __init__(
        self, client: HttpClient, config: MailchimpConfig, *, fields: str | None = None
    ) -> None:
        super().__init__(client, config)
        params: dict[str, Any] = {"sort_field": "create_time", "sort_dir": "ASC"}
        if fields:
            params["fields"] = fields
        else:
            params["exclude_fields"] = "campaigns._links,_links"
        self.params = params

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "web_id": {"type": "integer"},
                "type": {"type": "string"},
                "status": {"type": "string"},
                "create_time": {"type": "string", "format": "date-time"},
                "send_time": {"type": ["string", "null"]},
                "emails_sent": {"type": "integer"},
                "recipients": {"type": "object"},
                "settings": {"type": "object"},
                "tracking": {"type": "object"},
                "report_summary": {"type": "object"},
            },
            "required": ["id"],
            "additionalProperties": True,
        }


def campaign_label(campaign: Mapping[str, Any], choice: str) -> str:
    """The campaign's name for ``utm_campaign``: ``choice`` if set, else title, else id."""
    settings = _obj(campaign.get("settings"))
    tracking = _obj(campaign.get("tracking"))
    candidates = {
        "title": settings.get("title"),
        "subject_line": settings.get("subject_line"),
        "google_analytics": tracking.get("google_analytics"),
    }
    for value in (candidates.get(choice), settings.get("title"), settings.get("subject_line")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(campaign.get("id") or "")


# ----------------------------------------------------------------------------- members
class ListMembers(_Explained):
    """The members of one audience, oldest change first (a partition of ``members``)."""

    name = "members"
    record_path = "members"
    primary_key = ("list_id", "id")
    cursor_field = "last_changed"
    cursor_param = "since_last_changed"  # Mailchimp's lower bound; re-read inclusively

    def __init__(self, client: HttpClient, config: MailchimpConfig, list_id: str) -> None:
        super().__init__(client, config)
        self.list_id = list_id
        self.path = f"/lists/{quote(list_id, safe='')}/members"
        self.params = {
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "exclude_fields": "members._links,_links",
        }
        self.start = _start(config)

    def transform(self, records: list[Record]) -> list[Record]:
        for record in records:
            record.setdefault("list_id", self.list_id)
        return records


class Members(PartitionedStream):
    """``members``: every member of every configured (or listed) audience."""

    name = "members"
    primary_key = ("list_id", "id")
    cursor_field = "last_changed"

    def __init__(self, client: HttpClient, config: MailchimpConfig) -> None:
        self.client = client
        self.config = config

    def __repr__(self) -> str:
        return f"<Members lists={self.config.list_ids or 'all'!r}>"

    def partitions(self) -> Iterator[Partition]:
        if self.config.list_ids:
            for list_id in self.config.list_ids:
                yield Partition(list_id)
            return
        lists = _Lists(self.client, self.config)
        for batch in lists.read(None):
            for record in batch.records:
                if isinstance(record.get("id"), str) and record["id"]:
                    yield Partition(record["id"], record)

    def child(self, partition: Partition) -> ListMembers:
        return ListMembers(self.client, self.config, partition.key)

    def json_schema(self) -> dict[str, Any]:
        text = {"type": ["string", "null"]}
        return {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "list_id": {"type": "string"},
                "email_address": {"type": "string"},
                "unique_email_id": text,
                "contact_id": text,
                "status": {"type": "string"},
                "merge_fields": {"type": "object"},
                "tags": {"type": "array"},
                "timestamp_signup": text,
                "timestamp_opt": text,
                "last_changed": {"type": "string", "format": "date-time"},
            },
            "required": ["list_id", "id"],
            "additionalProperties": True,
        }

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        return map_members(records, self.config)


# ----------------------------------------------------------------------------- activity
def activity_id(record: Mapping[str, Any]) -> str:
    """A stable id of one activity event: campaign, email, action, time, url and type."""
    parts = [
        str(record.get(k) or "")
        for k in ("campaign_id", "email_id", "action", "timestamp", "url", "type")
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class CampaignActivity(_Explained):
    """Opens, clicks and bounces of one campaign, one record each (a partition)."""

    name = "email_activity"
    record_path = "emails"
    primary_key = ("activity_id",)
    cursor_field = "timestamp"
    cursor_param = "since"

    def __init__(
        self, client: HttpClient, config: MailchimpConfig, campaign_id: str, campaign_name: str
    ) -> None:
        super().__init__(client, config)
        self.campaign_id = campaign_id
        self.campaign_name = campaign_name
        self.path = f"/reports/{quote(campaign_id, safe='')}/email-activity"
        self.params = {"exclude_fields": "emails._links,_links"}
        self.start = _start(config)

    def transform(self, records: list[Record]) -> list[Record]:
        out: list[Record] = []
        for email in records:
            base = {k: v for k, v in email.items() if k not in ("activity", "_links")}
            base.setdefault("campaign_id", self.campaign_id)
            base["campaign_name"] = self.campaign_name
            for event in email.get("activity") or []:
                if not isinstance(event, dict):
                    continue
                record = {**base, **event}
                record["activity_id"] = activity_id(record)
                out.append(record)
        return out


class EmailActivity(PartitionedStream):
    """``email_activity``: every open, click and bounce of every sent campaign."""

    name = "email_activity"
    primary_key = ("activity_id",)
    cursor_field = "timestamp"

    def __init__(
        self, client: HttpClient, config: MailchimpConfig, *, now: Callable[[], datetime]
    ) -> None:
        self.client = client
        self.config = config
        self.now = now

    def __repr__(self) -> str:
        return "<EmailActivity>"

    def partitions(self) -> Iterator[Partition]:
        cfg = self.config
        oldest = (
            self.now() - timedelta(days=cfg.activity_window_days)
            if cfg.activity_window_days
            else None
        )
        campaigns = Campaigns(self.client, cfg, fields=_CAMPAIGN_FIELDS)
        for batch in campaigns.read(None):
            for campaign in batch.records:
                cid = campaign.get("id")
                if not isinstance(cid, str) or not cid:
                    continue
                if campaign.get("status") not in ("sent", "sending"):
                    continue  # no report before it is sent
                recipients = campaign.get("recipients")
                list_id = recipients.get("list_id") if isinstance(recipients, dict) else None
                if cfg.list_ids and list_id not in cfg.list_ids:
                    continue
                sent = parse_datetime(campaign.get("send_time"))
                if oldest is not None and sent is not None and sent < oldest:
                    continue
                yield Partition(cid, campaign_label(campaign, cfg.campaign_name))

    def child(self, partition: Partition) -> CampaignActivity:
        return CampaignActivity(self.client, self.config, partition.key, str(partition.value))

    def json_schema(self) -> dict[str, Any]:
        text = {"type": ["string", "null"]}
        return {
            "type": "object",
            "properties": {
                "activity_id": {"type": "string"},
                "campaign_id": {"type": "string"},
                "campaign_name": {"type": "string"},
                "list_id": text,
                "list_is_active": {"type": ["boolean", "null"]},
                "email_id": {"type": "string"},
                "email_address": {"type": "string"},
                "action": {"type": "string", "enum": ["open", "click", "bounce"]},
                "timestamp": {"type": "string", "format": "date-time"},
                "ip": text,
                "url": text,
                "type": text,
            },
            "required": ["activity_id", "campaign_id", "action", "timestamp"],
            "additionalProperties": True,
        }

    def to_canonical(self, records: Sequence[Record]) -> Mapping[str, Sequence[Record]]:
        return map_activity(records, self.config)
