"""A fake Typeform API for LoopbackServer, following the documented shapes (apis.md section 8)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cintel.testing import Reply, Request

TOKEN = "tfp_conformance_secret_token_123"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def definition(form_id: str) -> dict[str, Any]:
    """A form with an NPS opinion scale, a 5-star rating, a choice, a text and an email."""
    return {
        "id": form_id,
        "title": f"Survey {form_id}",
        "fields": [
            {
                "id": "fNps",
                "ref": "nps",
                "type": "opinion_scale",
                "properties": {"steps": 11, "start_at_one": False},
            },
            {
                "id": "fGroup",
                "ref": "group",
                "type": "group",
                "properties": {
                    "fields": [
                        {
                            "id": "fStars",
                            "ref": "stars",
                            "type": "rating",
                            "properties": {"steps": 5},
                        }
                    ]
                },
            },
            {"id": "fReason", "ref": "reason", "type": "multiple_choice", "properties": {}},
            {"id": "fComment", "ref": "comment", "type": "long_text"},
            {"id": "fEmail", "ref": "contact_email", "type": "email"},
        ],
    }


def response(form_id: str, n: int, submitted: datetime) -> dict[str, Any]:
    token = f"{form_id}r{n:05d}"
    return {
        "landing_id": token,
        "token": token,
        "response_id": token,
        "response_type": "completed",
        "landed_at": iso(submitted - timedelta(minutes=2)),
        "submitted_at": iso(submitted),
        "metadata": {
            "user_agent": "Mozilla/5.0",
            "platform": "other",
            "referer": f"https://acme.typeform.com/to/{form_id}?utm_source=newsletter&utm_medium=email",
            "network_id": "e9c0b1a2f3",
            "browser": "default",
        },
        "hidden": {"utm_campaign": "spring", "user_id": f"u_{n}", "email": f"p{n}@example.com"},
        "calculated": {"score": 0},
        "answers": [
            {
                "field": {"id": "fNps", "type": "opinion_scale", "ref": "nps"},
                "type": "number",
                "number": n % 11,
            },
            {
                "field": {"id": "fStars", "type": "rating", "ref": "stars"},
                "type": "number",
                "number": 1 + n % 5,
            },
            {
                "field": {"id": "fReason", "type": "multiple_choice", "ref": "reason"},
                "type": "choice",
                "choice": {"label": "Price"},
            },
            {
                "field": {"id": "fComment", "type": "long_text", "ref": "comment"},
                "type": "text",
                "text": f"comment {n}",
            },
        ],
    }


def _parse_since(value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass
class TypeformFake:
    """Forms and responses in memory; ``handler`` answers like api.typeform.com."""

    forms: int = 3
    responses_per_form: int = 7
    token: str = TOKEN
    forms_page_cap: int = 200
    _responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for f in range(self.forms):
            form_id = f"form{f}"
            self._responses[form_id] = []
            self.add_responses(form_id, self.responses_per_form)

    @property
    def form_ids(self) -> list[str]:
        return sorted(self._responses)

    def add_responses(self, form_id: str, count: int) -> None:
        with self._lock:
            items = self._responses[form_id]
            for _ in range(count):
                n = len(items)
                items.append(response(form_id, n, T0 + timedelta(minutes=7 * n)))

    def _ordered(self, form_id: str) -> list[dict[str, Any]]:
        items = list(self._responses[form_id])
        items.sort(key=lambda r: (r["submitted_at"], r["token"]), reverse=True)
        return items

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                {
                    "code": "AUTHENTICATION_FAILED",
                    "description": "Authentication credentials not found on the Request Headers",
                },
            )
        parts = [p for p in request.path.split("/") if p]
        if parts == ["forms"]:
            return self._forms(request)
        if len(parts) == 2 and parts[0] == "forms":
            if parts[1] not in self._responses:
                return Reply(404, {"code": "FORM_NOT_FOUND", "description": "no such form"})
            return Reply(200, definition(parts[1]))
        if len(parts) == 3 and parts[0] == "forms" and parts[2] == "responses":
            return self._responses_page(parts[1], request)
        return Reply(404, {"code": "NOT_FOUND", "description": request.path})

    def _forms(self, request: Request) -> Reply:
        size = min(int(request.query.get("page_size", 10)), self.forms_page_cap)
        page = int(request.query.get("page", 1))
        ids = self.form_ids
        chunk = ids[(page - 1) * size : page * size]
        items = [
            {
                "id": i,
                "title": f"Survey {i}",
                "last_updated_at": iso(T0),
                "created_at": iso(T0),
                "settings": {"is_public": True},
                "self": {"href": f"https://api.typeform.com/forms/{i}"},
                "_links": {"display": f"https://acme.typeform.com/to/{i}"},
            }
            for i in chunk
        ]
        pages = max(1, -(-len(ids) // size))
        return Reply(200, {"total_items": len(ids), "page_count": pages, "items": items})

    def _responses_page(self, form_id: str, request: Request) -> Reply:
        if form_id not in self._responses:
            return Reply(404, {"code": "FORM_NOT_FOUND", "description": "no such form"})
        size = min(int(request.query.get("page_size", 25)), 1000)
        with self._lock:
            items = self._ordered(form_id)
        if "since" in request.query:
            since = _parse_since(request.query["since"])
            items = [r for r in items if datetime.fromisoformat(r["submitted_at"]) >= since]
        total = len(items)
        before = request.query.get("before")
        if before:
            tokens = [r["token"] for r in items]
            items = items[tokens.index(before) + 1 :] if before in tokens else []
        page = items[:size]
        return Reply(
            200, {"total_items": total, "page_count": max(1, -(-total // size)), "items": page}
        )


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
