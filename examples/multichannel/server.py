"""Serve the example's HubSpot, Mailchimp and Typeform data on 127.0.0.1.

    python examples/multichannel/server.py          # port 8765, or $MULTICHANNEL_PORT
    python examples/multichannel/server.py 0        # a free port, printed

One server, three APIs under their own prefixes, answering only the requests the
connectors make, in the vendors' documented shapes:

- ``/hubspot``: ``GET /crm/v3/objects/{type}`` (list, ``after`` paging),
  ``POST /crm/v3/objects/{type}/search`` (later syncs), ``POST
  /crm/v4/associations/{from}/{to}/batch/read`` (207 for ids without any) and
  ``GET /crm/v3/owners``; a ``Bearer`` token is required;
- ``/mailchimp/3.0``: ``/ping``, ``/lists``, ``/lists/{id}/members``
  (``since_last_changed``), ``/campaigns`` and ``/reports/{id}/email-activity``
  (``since``), paged with ``count``/``offset``; HTTP basic auth is required;
- ``/typeform``: ``GET /forms``, ``/forms/{id}``, ``/forms/{id}/responses``
  (newest first, ``since``, ``before``); a ``Bearer`` token is required.

The data are the JSON files under ``data/api/`` that ``scenario.py`` writes.
Any token is accepted (this is a demo server), but one must be sent.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cintel.testing import LoopbackServer, Reply, Request

HERE = Path(__file__).resolve().parent
DEFAULT_PORT = 8765
HUBSPOT_CURSOR = {"contacts": "lastmodifieddate"}  # others: hs_lastmodifieddate


def _when(value: str) -> datetime:
    if value.isdigit():  # epoch seconds (Typeform) or milliseconds (HubSpot)
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _bearer(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


class HubSpot:
    """HubSpot's CRM v3/v4 endpoints over ``data/api/hubspot.json``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {
            kind: sorted(data[kind], key=lambda r: int(r["id"]))
            for kind in ("contacts", "companies", "deals")
        }
        self.owners: list[dict[str, Any]] = data["owners"]
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {}
        for key, pairs in data["associations"].items():
            a, b = key.split(">")
            for left, rights in pairs.items():
                for right in rights:
                    self.links.setdefault((a, b), {}).setdefault(left, []).append(right)
                    self.links.setdefault((b, a), {}).setdefault(right, []).append(left)

    def __call__(self, request: Request, path: list[str]) -> Reply:
        if not _bearer(request):
            return self.error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            )
        reply = self.route(request, path)
        reply.headers.update(
            {
                "X-HubSpot-RateLimit-Max": "190",
                "X-HubSpot-RateLimit-Remaining": "189",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Daily": "500000",
                "X-HubSpot-RateLimit-Daily-Remaining": "499000",
            }
        )
        return reply

    @staticmethod
    def error(status: int, message: str, category: str) -> Reply:
        return Reply(
            status,
            {
                "status": "error",
                "message": message,
                "correlationId": "0b6b3c1e-6a2f-4f0e-9c1d-5d2a7e8f9a10",
                "category": category,
            },
        )

    def route(self, request: Request, path: list[str]) -> Reply:
        if path[:3] == ["crm", "v3", "objects"] and len(path) == 4 and path[3] in self.objects:
            return self.list(path[3], request.query)
        if path[:3] == ["crm", "v3", "objects"] and path[4:] == ["search"]:
            return self.search(path[3], request.json())
        if path[:3] == ["crm", "v4", "associations"] and path[5:] == ["batch", "read"]:
            return self.associations(path[3], path[4], request.json())
        if path == ["crm", "v3", "owners"]:
            return Reply(json={"results": self.owners})
        return self.error(
            404, f"Unable to route {request.method} {request.path}", "OBJECT_NOT_FOUND"
        )

    @staticmethod
    def shape(record: dict[str, Any], properties: list[str]) -> dict[str, Any]:
        props = record["properties"]
        return {**record, "properties": {p: props.get(p) for p in properties}}

    def list(self, kind: str, query: dict[str, str]) -> Reply:
        limit = min(int(query.get("limit", "10")), 100)
        properties = [p for p in query.get("properties", "").split(",") if p]
        rows = self.objects[kind]
        if "after" in query:
            last = int(base64.b64decode(query["after"]).decode())
            rows = [r for r in rows if int(r["id"]) > last]
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self.shape(r, properties) for r in page]}
        if len(rows) > limit:
            after = base64.b64encode(page[-1]["id"].encode()).decode()
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return Reply(json=body)

    def search(self, kind: str, body: dict[str, Any]) -> Reply:
        if kind not in self.objects:
            return self.error(400, f"Unknown object type {kind}", "VALIDATION_ERROR")
        ops: dict[str, Callable[[int, int], bool]] = {
            "GTE": int.__ge__,
            "GT": int.__gt__,
            "LTE": int.__le__,
            "LT": int.__lt__,
            "EQ": int.__eq__,
        }

        def stamp(record: dict[str, Any], name: str) -> int:
            value = record["properties"].get(name)
            return int(_when(value).timestamp() * 1000) if value else -1

        def keep(record: dict[str, Any]) -> bool:
            groups = body.get("filterGroups") or []
            return not groups or any(
                all(
                    ops[f["operator"]](stamp(record, f["propertyName"]), int(f["value"]))
                    for f in group.get("filters", [])
                )
                for group in groups
            )

        rows = [r for r in self.objects[kind] if keep(r)]
        for sort in reversed(body.get("sorts") or []):
            name: str = sort["propertyName"]
            rows.sort(
                key=lambda r: stamp(r, name),
                reverse=sort.get("direction") == "DESCENDING",
            )
        after, limit = int(body.get("after") or 0), min(int(body.get("limit", 10)), 200)
        page = rows[after : after + limit]
        out: dict[str, Any] = {
            "total": len(rows),
            "results": [self.shape(r, body.get("properties") or []) for r in page],
        }
        if after + limit < len(rows):
            out["paging"] = {
                "next": {"after": str(after + limit), "link": f"?after={after + limit}"}
            }
        return Reply(json=out)

    def associations(self, from_type: str, to_type: str, body: dict[str, Any]) -> Reply:
        store = self.links.get((from_type, to_type), {})
        results, errors = [], []
        for item in body.get("inputs") or []:
            oid = str(item["id"])
            targets = sorted(set(store.get(oid, [])), key=int)
            if not targets:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {to_type} is associated with {from_type} {oid}.",
                        "context": {"fromObjectId": [oid]},
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": oid},
                    "to": [
                        {
                            "toObjectId": int(t),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": None}
                            ],
                        }
                        for t in targets
                    ],
                }
            )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            out |= {"numErrors": len(errors), "errors": errors}
        return Reply(207 if errors else 200, out)


class Mailchimp:
    """Mailchimp Marketing API v3 endpoints over ``data/api/mailchimp.json``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @staticmethod
    def problem(status: int, title: str, detail: str) -> Reply:
        return Reply(
            status,
            {
                "type": "https://mailchimp.com/developer/marketing/docs/errors/",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": "5c1ad7f0-8a4b-4b6e-9a57-3b3e1c0d2f11",
            },
            headers={"Content-Type": "application/problem+json"},
        )

    def __call__(self, request: Request, path: list[str]) -> Reply:
        auth = request.headers.get("authorization", "")
        try:
            password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")[2]
        except ValueError:
            password = ""
        if not auth.startswith("Basic ") or not password:
            return self.problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        if path[:1] == ["3.0"]:
            path = path[1:]
        if path == ["ping"]:
            return Reply(json={"health_status": "Everything's Chimpy!"})
        if path == ["lists"]:
            return self.page(request, "lists", self.data["lists"])
        if len(path) == 3 and path[0] == "lists" and path[2] == "members":
            return self.members(path[1], request)
        if path == ["campaigns"]:
            return self.page(request, "campaigns", self.data["campaigns"])
        if len(path) == 3 and path[0] == "reports" and path[2] == "email-activity":
            return self.activity(path[1], request)
        return self.problem(404, "Resource Not Found", "The requested resource could not be found.")

    @staticmethod
    def page(request: Request, key: str, rows: list[dict[str, Any]], **extra: Any) -> Reply:
        count = min(int(request.query.get("count", "10")), 1000)
        offset = int(request.query.get("offset", "0"))
        body = {key: rows[offset : offset + count], **extra, "total_items": len(rows)}
        return Reply(json=body)

    def members(self, list_id: str, request: Request) -> Reply:
        if list_id not in self.data["members"]:
            return self.problem(
                404, "Resource Not Found", "The requested resource could not be found."
            )
        rows = list(self.data["members"][list_id])
        if since := request.query.get("since_last_changed"):
            rows = [r for r in rows if _when(r["last_changed"]) >= _when(since)]
        if request.query.get("sort_field") == "last_changed":
            rows.sort(
                key=lambda r: (_when(r["last_changed"]), r["id"]),
                reverse=request.query.get("sort_dir") == "DESC",
            )
        return self.page(request, "members", rows, list_id=list_id)

    def activity(self, campaign_id: str, request: Request) -> Reply:
        if campaign_id not in self.data["email_activity"]:
            return self.problem(
                404, "Resource Not Found", "The requested resource could not be found."
            )
        since = request.query.get("since")
        rows = []
        for entry in self.data["email_activity"][campaign_id]:
            events = [
                e for e in entry["activity"] if not since or _when(e["timestamp"]) >= _when(since)
            ]
            if events:
                rows.append({**entry, "activity": events})
        return self.page(request, "emails", rows, campaign_id=campaign_id)


class Typeform:
    """Typeform's forms and Responses API over ``data/api/typeform.json``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __call__(self, request: Request, path: list[str]) -> Reply:
        if not _bearer(request):
            return Reply(
                401,
                {
                    "code": "AUTHENTICATION_FAILED",
                    "description": "Authentication credentials not found on the Request Headers",
                },
            )
        if path == ["forms"]:
            size = int(request.query.get("page_size", "10"))
            page = int(request.query.get("page", "1"))
            forms = self.data["forms"]
            body = {
                "total_items": len(forms),
                "page_count": max(1, -(-len(forms) // size)),
                "items": forms[(page - 1) * size : page * size],
            }
            return Reply(json=body)
        if len(path) in (2, 3) and path[0] == "forms" and path[1] not in self.data["definitions"]:
            return Reply(404, {"code": "FORM_NOT_FOUND", "description": "Form not found"})
        if len(path) == 2 and path[0] == "forms":
            return Reply(json=self.data["definitions"][path[1]])
        if len(path) == 3 and path[0] == "forms" and path[2] == "responses":
            return self.responses(path[1], request.query)
        return Reply(404, {"code": "NOT_FOUND", "description": f"no route {request.path}"})

    def responses(self, form_id: str, query: dict[str, str]) -> Reply:
        items = sorted(
            self.data["responses"][form_id],
            key=lambda r: (r["submitted_at"], r["token"]),
            reverse=True,  # newest first, Typeform's default sort
        )
        if "since" in query:
            items = [r for r in items if _when(r["submitted_at"]) >= _when(query["since"])]
        if "until" in query:
            items = [r for r in items if _when(r["submitted_at"]) <= _when(query["until"])]
        total = len(items)
        size = min(int(query.get("page_size", "25")), 1000)
        if before := query.get("before"):
            tokens = [r["token"] for r in items]
            items = items[tokens.index(before) + 1 :] if before in tokens else []
        body = {
            "total_items": total,
            "page_count": max(1, -(-total // size)),
            "items": items[:size],
        }
        return Reply(json=body)


class MultichannelApi:
    """The three APIs behind one handler, routed by their first path segment."""

    def __init__(self, data_dir: Path = HERE / "data" / "api") -> None:
        def load(name: str) -> dict[str, Any]:
            data: dict[str, Any] = json.loads((data_dir / f"{name}.json").read_text("utf-8"))
            return data

        self.apis: dict[str, Callable[[Request, list[str]], Reply]] = {
            "hubspot": HubSpot(load("hubspot")),
            "mailchimp": Mailchimp(load("mailchimp")),
            "typeform": Typeform(load("typeform")),
        }
        self.lock = threading.Lock()
        self.calls: list[str] = []

    def __call__(self, request: Request) -> Reply:
        path = [p for p in request.path.split("/") if p]
        with self.lock:
            self.calls.append(f"{request.method} {request.path}")
        api = self.apis.get(path[0]) if path else None
        if api is None:
            return Reply(
                404, {"error": f"no API at {request.path}: try /hubspot, /mailchimp, /typeform"}
            )
        return api(request, path[1:])


def serve(port: int = 0, data_dir: Path = HERE / "data" / "api") -> LoopbackServer:
    """Start the server on 127.0.0.1 in a background thread (bound and ready on return)."""
    return LoopbackServer(MultichannelApi(data_dir), port=port).start()


def main() -> None:
    port = (
        int(sys.argv[1])
        if len(sys.argv) > 1
        else int(os.environ.get("MULTICHANNEL_PORT", DEFAULT_PORT))
    )
    server = serve(port)
    print(
        f"serving HubSpot, Mailchimp and Typeform on {server.base_url} (Ctrl-C stops)", flush=True
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
