"""A fake Mailchimp Marketing API v3 for LoopbackServer (shapes from apis.md section 6)."""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cintel.testing import Reply, Request

API_KEY = "0123456789abcdef0123456789abcdef-us6"
T0 = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)
ERRORS = "https://mailchimp.com/developer/marketing/docs/errors/"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def email_id(email: str) -> str:
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(
        status,
        {
            "type": ERRORS,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
        },
        headers={"Content-Type": "application/problem+json"},
    )


def member(list_id: str, n: int, changed: datetime) -> dict[str, Any]:
    email = f"person{n}@example.com"
    return {
        "id": email_id(email),
        "email_address": email,
        "unique_email_id": f"u{n:08d}",
        "contact_id": f"c{n:08d}",
        "email_type": "html",
        "status": "subscribed" if n % 4 else "unsubscribed",
        "merge_fields": {
            "FNAME": f"First{n}",
            "LNAME": f"Last{n}",
            "PHONE": "",
            "ADDRESS": {
                "addr1": f"{n} Main St",
                "addr2": "",
                "city": "Springfield",
                "state": "IL",
                "zip": "62701",
                "country": "US",
            },
            "SHOE": "42",
        },
        "interests": {"a1b2": True, "c3d4": False},
        "stats": {"avg_open_rate": 0.5, "avg_click_rate": 0.1},
        "ip_signup": "",
        "timestamp_signup": "",
        "ip_opt": "198.51.100.7",
        "timestamp_opt": iso(T0 - timedelta(days=30)),
        "member_rating": 3,
        "last_changed": iso(changed),
        "language": "en",
        "vip": n % 5 == 0,
        "location": {
            "latitude": 0,
            "longitude": 0,
            "country_code": "US",
            "timezone": "America/Chicago",
        },
        "source": "API - Generic",
        "tags_count": 1,
        "tags": [{"id": 101, "name": "vip"}],
        "list_id": list_id,
        "_links": [{"rel": "self", "href": "…"}],
    }


@dataclass
class MailchimpFake:
    """Audiences, members, campaigns and email activity; answers like {dc}.api.mailchimp.com."""

    lists: int = 2
    members_per_list: int = 9
    campaigns: int = 3
    emails_per_campaign: int = 5
    api_key: str = API_KEY
    _members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _campaigns: list[dict[str, Any]] = field(default_factory=list)
    _activity: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for i in range(self.lists):
            list_id = f"list{i}"
            self._members[list_id] = []
            self.add_members(list_id, self.members_per_list)
        for c in range(self.campaigns):
            cid = f"camp{c}"
            self._campaigns.append(
                {
                    "id": cid,
                    "web_id": 1000 + c,
                    "type": "regular",
                    "create_time": iso(T0 + timedelta(days=c)),
                    "status": "sent" if c < self.campaigns - 1 or c == 0 else "save",
                    "emails_sent": self.emails_per_campaign,
                    "send_time": iso(T0 + timedelta(days=c, hours=1)),
                    "recipients": {"list_id": f"list{c % self.lists}", "list_name": "News"},
                    "settings": {
                        "subject_line": f"Subject {c}",
                        "title": f"Spring sale {c}",
                        "from_name": "Acme",
                    },
                    "tracking": {"opens": True, "html_clicks": True, "google_analytics": f"ga{c}"},
                    "report_summary": {"opens": 3, "unique_opens": 2, "clicks": 1},
                    "_links": [],
                }
            )
            self._activity[cid] = {}
            self.add_activity(cid, self.emails_per_campaign)

    # ------------------------------------------------------------------ growing
    def add_members(self, list_id: str, count: int) -> None:
        with self._lock:
            items = self._members[list_id]
            for _ in range(count):
                n = len(items)
                items.append(member(list_id, n, T0 + timedelta(minutes=n)))

    def add_activity(self, campaign_id: str, emails: int, *, at: datetime | None = None) -> int:
        """Opens (and every other a click) for ``emails`` addresses; returns the events added."""
        added = 0
        with self._lock:
            book = self._activity[campaign_id]
            start = at or T0 + timedelta(hours=2)
            for n in range(emails):
                email = f"person{n}@example.com"
                entry = book.setdefault(
                    email,
                    {
                        "campaign_id": campaign_id,
                        "list_id": "list0",
                        "list_is_active": True,
                        "email_id": email_id(email),
                        "email_address": email,
                        "activity": [],
                    },
                )
                when = start + timedelta(minutes=len(entry["activity"]) * 3 + n)
                entry["activity"].append(
                    {"action": "open", "timestamp": iso(when), "ip": "203.0.113.9"}
                )
                added += 1
                if n % 2 == 0:
                    entry["activity"].append(
                        {
                            "action": "click",
                            "timestamp": iso(when + timedelta(seconds=30)),
                            "url": f"https://shop.example.com/p/{n}",
                            "ip": "203.0.113.9",
                        }
                    )
                    added += 1
        return added

    def sent_campaigns(self) -> list[str]:
        return [c["id"] for c in self._campaigns if c["status"] == "sent"]

    # ------------------------------------------------------------------ serving
    def __call__(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        try:
            user_pass = base64.b64decode(auth.removeprefix("Basic ")).decode()
        except ValueError:
            user_pass = ""
        if not auth.startswith("Basic ") or user_pass.split(":", 1)[-1] != self.api_key:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        parts = [p for p in request.path.split("/") if p]
        if parts and parts[0] == "3.0":
            parts = parts[1:]
        if parts == ["ping"]:
            return Reply(200, {"health_status": "Everything's Chimpy!"})
        if parts == ["lists"]:
            rows = [{"id": i, "name": f"Audience {i}"} for i in sorted(self._members)]
            return self._page(request, "lists", rows)
        if len(parts) == 3 and parts[0] == "lists" and parts[2] == "members":
            return self._members_page(parts[1], request)
        if parts == ["campaigns"]:
            return self._page(request, "campaigns", list(self._campaigns))
        if len(parts) == 3 and parts[0] == "reports" and parts[2] == "email-activity":
            return self._activity_page(parts[1], request)
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _page(self, request: Request, key: str, rows: list[dict[str, Any]], **extra: Any) -> Reply:
        count = min(int(request.query.get("count", 10)), 1000)
        offset = int(request.query.get("offset", 0))
        return Reply(
            200,
            {key: rows[offset : offset + count], "total_items": len(rows), **extra, "_links": []},
        )

    def _members_page(self, list_id: str, request: Request) -> Reply:
        if list_id not in self._members:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        with self._lock:
            rows = list(self._members[list_id])
        since = request.query.get("since_last_changed")
        if since:
            bound = datetime.fromisoformat(since)
            rows = [r for r in rows if datetime.fromisoformat(r["last_changed"]) >= bound]
        if request.query.get("sort_field") == "last_changed":
            rows.sort(
                key=lambda r: (r["last_changed"], r["id"]),
                reverse=request.query.get("sort_dir") == "DESC",
            )
        return self._page(request, "members", rows, list_id=list_id)

    def _activity_page(self, campaign_id: str, request: Request) -> Reply:
        if campaign_id not in self._activity:
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        since = request.query.get("since")
        bound = datetime.fromisoformat(since) if since else None
        rows = []
        with self._lock:
            for email in sorted(self._activity[campaign_id]):
                entry = self._activity[campaign_id][email]
                events = [
                    dict(e)
                    for e in entry["activity"]
                    if bound is None or datetime.fromisoformat(e["timestamp"]) >= bound
                ]
                if events:
                    rows.append({**entry, "activity": events})
        return self._page(request, "emails", rows, campaign_id=campaign_id)


class FakeClock:
    """A monotonic clock that moves only when someone sleeps on it; records the sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
