"""A fake HubSpot CRM API for tests: the shapes of reference/apis.md, section 1.

Served by cintel's :class:`~cintel.testing.LoopbackServer` (the conformance suite) or
through respx (:func:`respx_side_effect`). Routes, all behind ``Authorization: Bearer``:

- ``GET /crm/v3/objects/{type}``: ``limit`` (<= 100), ``after`` (an opaque keyset
  cursor), ``properties``, ``archived``; ``paging.next.after`` until the last page;
- ``POST /crm/v3/objects/{type}/search``: ``filterGroups`` (GTE/GT/LTE/LT/EQ on epoch
  milliseconds as strings), one ascending sort, ``limit`` (<= 200), ``after`` (an
  offset); **400 at ``after >= search_cap``** like HubSpot past 10,000 results;
- ``POST /crm/v4/associations/{from}/{to}/batch/read``: <= 1,000 inputs, ``after`` per
  input, ``association_page`` associations per answer, 207 with ``errors`` for ids
  without associations;
- ``GET /crm/v3/owners``.

Timestamps are written the way HubSpot (Java's ``Instant``) writes them: without the
milliseconds when they are zero. The fake has its own clock (:attr:`now`) that moves
forward as records are created, so a connector given ``now=fake.clock`` sees
settled data.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cintel.testing import Reply, Request

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
BASE = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)
CURSOR = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
STAGES = ("appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost")
# milliseconds between successive modification times: ties, zero and non-zero millis
STEPS_MS = (0, 250, 1000, 0, 3000, 120, 1000)
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Eun", "Femi", "Gus")
LAST = ("Ruiz", "Okafor", "Smith", "Kowalski", "Tanaka")


def stamp(moment: datetime) -> str:
    """``2024-05-01T08:00:03Z`` or ``2024-05-01T08:00:03.120Z`` (HubSpot's style)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    ms = moment.microsecond // 1000
    return text + (f".{ms:03d}Z" if ms else "Z")


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def hubspot_error(status: int, message: str, category: str, **extra: Any) -> Reply:
    body = {
        "status": "error",
        "message": message,
        "correlationId": "9c1f2a56-0d6e-4a8b-bd4e-1f2e3d4c5b6a",
        "category": category,
        **extra,
    }
    return Reply(status=status, json=body)


class FakeHubSpot:
    """A small HubSpot account: contacts, companies, deals, their associations, owners."""

    def __init__(
        self,
        *,
        contacts: int = 60,
        companies: int = 12,
        deals: int = 30,
        owners: int = 3,
        token: str = TOKEN,
        search_cap: int = 10_000,
        association_page: int = 500,
        rate_headers: bool = True,
        real_time: bool = False,
    ) -> None:
        self.token = token
        self.search_cap = search_cap
        self.association_page = association_page
        self.rate_headers = rate_headers
        self.real_time = real_time
        self.now = BASE
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "contacts": {},
            "companies": {},
            "deals": {},
        }
        self.links: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.owners: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.search_bodies: list[dict[str, Any]] = []
        self.daily_remaining = 499_000
        self._ids = {"contacts": 100, "companies": 5000, "deals": 9000}
        self._step = 0
        with self.lock:
            for _ in range(companies):
                self._create("companies")
            for _ in range(contacts):
                self._create("contacts")
            for _ in range(deals):
                self._create("deals")
            for n in range(owners):
                self.owners.append(
                    {
                        "id": str(70 + n),
                        "email": f"owner{n}@agency.example",
                        "firstName": FIRST[n % len(FIRST)],
                        "lastName": LAST[n % len(LAST)],
                        "userId": 1000 + n,
                        "createdAt": stamp(BASE),
                        "updatedAt": stamp(BASE),
                        "archived": False,
                    }
                )
            self._pass_time()

    # -- the clock ------------------------------------------------------------------------
    def clock(self) -> datetime:
        """The fake's wall clock (inject as the connector's ``now``)."""
        return self.now

    def _pass_time(self) -> None:
        if not self.real_time:
            self.now += timedelta(minutes=5)

    def _tick(self) -> datetime:
        if self.real_time:  # records modified now, for connectors that use the real clock
            wall = datetime.now(UTC)
            wall = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
            self.now = max(self.now + timedelta(milliseconds=1), wall)
            return self.now
        self.now += timedelta(milliseconds=STEPS_MS[self._step % len(STEPS_MS)])
        self._step += 1
        return self.now

    # -- data -----------------------------------------------------------------------------
    def _link(self, a_type: str, a: str, b_type: str, b: str) -> None:
        self.links.setdefault((a_type, b_type), {}).setdefault(a, []).append(b)
        self.links.setdefault((b_type, a_type), {}).setdefault(b, []).append(a)

    def _create(self, kind: str) -> dict[str, Any]:
        self._ids[kind] += 1
        n = self._ids[kind]
        oid = str(n)
        when = self._tick()
        created = stamp(when - timedelta(days=n % 40))
        props: dict[str, Any] = {"createdate": created, "hs_object_id": oid}
        if kind == "contacts":
            first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
            props |= {
                "email": f"{first.lower()}.{last.lower()}.{n}@example.com",
                "firstname": first,
                "lastname": last,
                "phone": f"+1 415 555 {n % 10000:04d}",
                "mobilephone": f"+1 415 666 {n % 10000:04d}" if n % 3 == 0 else None,
                "hs_additional_emails": f"{first.lower()}{n}@work.example" if n % 4 == 0 else None,
                "company": "Globex" if n % 2 else None,
                "jobtitle": "Buyer",
                "city": "Lisbon",
                "country": "Portugal",
                "lifecyclestage": "customer" if n % 5 == 0 else "lead",
            }
            companies = sorted(self.objects["companies"])
            if companies and n % 3:
                self._link("contacts", oid, "companies", companies[n % len(companies)])
        elif kind == "companies":
            props |= {"name": f"Company {n}", "domain": f"c{n}.example", "country": "Spain"}
        else:
            stage = STAGES[n % len(STAGES)]
            props |= {
                "dealname": f"Deal {n}",
                "amount": f"{100 + n % 50}.50",
                "deal_currency_code": "EUR" if n % 3 else None,
                "closedate": stamp(when - timedelta(hours=1)),
                "pipeline": "default",
                "dealstage": stage,
                "hs_is_closed_won": "true" if stage == "closedwon" else "false",
            }
            contacts = sorted(self.objects["contacts"], key=int)
            if contacts:
                self._link("deals", oid, "contacts", contacts[n % len(contacts)])
                if n % 4 == 0:
                    self._link("deals", oid, "contacts", contacts[(n * 7) % len(contacts)])
            companies = sorted(self.objects["companies"])
            if companies:
                self._link("deals", oid, "companies", companies[n % len(companies)])
        props[CURSOR[kind]] = stamp(when)
        record = {
            "id": oid,
            "properties": props,
            "createdAt": created,
            "updatedAt": stamp(when),
            "archived": False,
        }
        self.objects[kind][oid] = record
        return record

    def add(self, kind: str, n: int) -> list[str]:
        """Create ``n`` records modified now, then let five minutes pass (fake time)."""
        with self.lock:
            ids = [self._create(kind)["id"] for _ in range(n)]
            self._pass_time()
        return ids

    def touch(self, kind: str, ids: list[str], *, advance: bool = True) -> None:
        """Modify records now (they move to the end of a search)."""
        with self.lock:
            for oid in ids:
                when = stamp(self._tick())
                record = self.objects[kind][oid]
                record["properties"][CURSOR[kind]] = when
                record["updatedAt"] = when
            if advance:
                self._pass_time()

    def records(self, kind: str) -> list[dict[str, Any]]:
        return sorted(self.objects[kind].values(), key=lambda r: int(r["id"]))

    # -- serving --------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.calls.append((request.method, request.path))
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return hubspot_error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            reply = self._route(request)
            if self.rate_headers and not request.path.endswith("/search"):
                self.daily_remaining -= 1
                reply.headers.update(
                    {
                        "X-HubSpot-RateLimit-Max": "190",
                        "X-HubSpot-RateLimit-Remaining": "185",
                        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                        "X-HubSpot-RateLimit-Daily": "500000",
                        "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
                    }
                )
            return reply

    def _route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and request.method == "GET":
            return self._list(parts[3], request.query)
        if parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["search"]:
            return self._search(parts[3], request.json())
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self._associations(parts[3], parts[4], request.json())
        if parts == ["crm", "v3", "owners"]:
            return self._owners(request.query)
        return hubspot_error(404, f"no route {request.path}", "OBJECT_NOT_FOUND")

    @staticmethod
    def _shape(record: dict[str, Any], properties: list[str]) -> dict[str, Any]:
        props = record["properties"]
        return {**record, "properties": {p: props.get(p) for p in properties}}

    def _list(self, kind: str, query: dict[str, str]) -> Reply:
        if kind not in self.objects:
            return hubspot_error(400, f"unknown object type {kind}", "VALIDATION_ERROR")
        limit = int(query.get("limit", "10"))
        if limit > 100:
            return hubspot_error(400, "limit must be at most 100", "VALIDATION_ERROR")
        properties = [p for p in query.get("properties", "").split(",") if p]
        rows = self.records(kind)
        if "after" in query:
            last = int(base64.b64decode(query["after"]).decode().strip())
            rows = [r for r in rows if int(r["id"]) > last]
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self._shape(r, properties) for r in page]}
        if len(rows) > limit:
            after = base64.b64encode(f"{page[-1]['id']}\n".encode()).decode()
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return Reply(json=body)

    def _search(self, kind: str, body: dict[str, Any]) -> Reply:
        self.search_bodies.append(body)
        limit = int(body.get("limit", 10))
        if limit > 200:
            return hubspot_error(400, "limit must be at most 200", "VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= self.search_cap:
            return hubspot_error(
                400,
                f"There was a problem with the request. paging past {self.search_cap} results",
                "VALIDATION_ERROR",
            )
        groups = body.get("filterGroups") or []

        def matches(record: dict[str, Any]) -> bool:
            if not groups:
                return True
            return any(all(_test(record, f) for f in g.get("filters", [])) for g in groups)

        rows = [r for r in self.records(kind) if matches(r)]
        for sort in reversed(body.get("sorts") or []):
            name = sort["propertyName"]
            rows.sort(
                key=lambda r, n=name: epoch_ms(r["properties"][n]),
                reverse=sort.get("direction") == "DESCENDING",
            )
        page = rows[after : after + limit]
        properties = body.get("properties") or []
        out: dict[str, Any] = {
            "total": len(rows),
            "results": [self._shape(r, properties) for r in page],
        }
        if after + limit < len(rows):
            nxt = str(after + limit)
            out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return Reply(json=out)

    def _associations(self, from_type: str, to_type: str, body: dict[str, Any]) -> Reply:
        inputs = body.get("inputs") or []
        if len(inputs) > 1000:
            return hubspot_error(400, "at most 1000 inputs", "VALIDATION_ERROR")
        store = self.links.get((from_type, to_type), {})
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
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
            start = int(item.get("after") or 0)
            chunk = targets[start : start + self.association_page]
            result: dict[str, Any] = {
                "from": {"id": oid},
                "to": [
                    {
                        "toObjectId": int(t),
                        "associationTypes": [
                            {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
                        ],
                    }
                    for t in chunk
                ],
            }
            if start + self.association_page < len(targets):
                result["paging"] = {"next": {"after": str(start + self.association_page)}}
            results.append(result)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": stamp(self.now),
            "completedAt": stamp(self.now),
        }
        if errors:
            out |= {"numErrors": len(errors), "errors": errors}
        return Reply(status=207 if errors else 200, json=out)

    def _owners(self, query: dict[str, str]) -> Reply:
        limit = int(query.get("limit", "100"))
        start = int(query.get("after") or 0)
        page = self.owners[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(self.owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return Reply(json=body)


def _test(record: dict[str, Any], flt: dict[str, Any]) -> bool:
    value = record["properties"].get(flt["propertyName"])
    if value is None:
        return False
    left = epoch_ms(value)
    right = int(flt["value"])
    op = flt["operator"]
    return {
        "GTE": left >= right,
        "GT": left > right,
        "LTE": left <= right,
        "LT": left < right,
        "EQ": left == right,
    }[op]


def respx_side_effect(fake: FakeHubSpot) -> Any:
    """A respx side effect serving ``fake`` (no sockets)."""

    def handle(request: httpx.Request) -> httpx.Response:
        reply = fake(
            Request(
                method=request.method,
                path=request.url.path,
                query=dict(request.url.params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.content,
            )
        )
        content = reply.body if reply.body is not None else json.dumps(reply.json).encode()
        headers = {"Content-Type": "application/json", **reply.headers}
        return httpx.Response(reply.status, content=content, headers=headers)

    return handle
