"""Write the multichannel example's data: the same fictional people seen by four tools.

    python examples/multichannel/scenario.py            # rewrite examples/multichannel/data
    python examples/multichannel/scenario.py --out /tmp/m

Standard library only, one fixed seed: the same command always writes the same
bytes (gzip members carry mtime 0 and no file name), so the committed files are
exactly what this script writes. What it writes under the output directory:

- ``api/hubspot.json``: contacts, companies, deals (five closed-won), owners and
  their associations, as HubSpot's CRM API returns them (``server.py`` serves it);
- ``api/mailchimp.json``: one audience, its members, three campaigns and their
  email activity (opens and clicks), as Mailchimp's Marketing API returns them;
- ``api/typeform.json``: one NPS form, its definition and its responses, with
  hidden fields ``email``, ``user_id`` and utm parameters;
- ``segment-logs/Xy12AbC/<received day in epoch ms>/<file>.gz``: Segment's S3
  export of the web store (page, identify and track calls, ``Order Completed``);
- ``scenario.json``: every person, their group, and the attribution the story
  implies (``tests/e2e/test_multichannel.py`` checks the sync against it).

The story (README.md tells it with the numbers):

- ``newsletter_then_search`` (10): click the *October Newsletter*, come back a
  week later through a Google ad and buy. First touch Email, last touch Paid Search.
- ``social_then_newsletter`` (8): arrive from an Instagram ad and sign in, then
  click the *Fall Layers Sale* mail and buy. First touch Paid Social, last Email.
- ``organic_buyer`` (6): find the store on Google (organic) and buy; not in the
  CRM or the newsletter.
- ``b2b_buyer`` (5): CRM contacts of three companies who click the *B2B Webinar
  Invite*, later visit the store directly, and close a deal in HubSpot. First
  touch Email, last touch Direct, last non-direct Email.
- ``reader`` (11): CRM contacts who read the newsletter and never buy.
- ``anonymous`` (6): browsers that never sign in (web only).

Every buyer answers the NPS survey (a link in a mail, after every purchase and
deal). Emails are on ``example.*`` domains, phones in the 555-01XX range.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261024
HERE = Path(__file__).resolve().parent
SITE = "https://shop.ridgeline-outdoor.example"
SEGMENT_SOURCE = "Xy12AbC"
LIST_ID = "5e1d0c9a7b"
FORM_ID = "nQ7xP2"


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment in UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


GROUPS: tuple[tuple[str, int], ...] = (
    ("newsletter_then_search", 10),
    ("social_then_newsletter", 8),
    ("organic_buyer", 6),
    ("b2b_buyer", 5),
    ("reader", 11),
)
ANONYMOUS_VISITORS = 6
SOURCES_OF = {
    "newsletter_then_search": ["crm", "email", "survey", "web"],
    "social_then_newsletter": ["crm", "email", "survey", "web"],
    "organic_buyer": ["survey", "web"],
    "b2b_buyer": ["crm", "email", "survey", "web"],
    "reader": ["crm", "email"],
}
FIRST = [
    "Ana",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Mateo",
    "Ava",
    "Lucas",
    "Sophia",
    "Ethan",
    "Mia",
    "Priya",
    "Mei",
    "Omar",
    "Astrid",
    "Ravi",
    "Camille",
    "Diego",
    "Hana",
    "Tomás",
    "Noor",
    "Felix",
    "Keiko",
    "Arjun",
    "Beatriz",
    "Hugo",
    "Anika",
    "Marco",
    "Siobhan",
    "Maya",
    "Clara",
    "Kwame",
    "Léa",
    "Rafael",
    "Sana",
    "Oscar",
    "Wren",
    "Javier",
    "Tessa",
    "Malik",
]
LAST = [
    "Ruiz",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Moreau",
    "Haddad",
    "Kowalski",
    "Mensah",
    "Fischer",
    "Nakamura",
    "Costa",
    "Byrne",
    "Patel",
    "Dubois",
    "Larsen",
    "Almeida",
    "Romano",
    "Novak",
    "Schmidt",
    "Ivanova",
    "Walsh",
    "Kim",
    "Chen",
    "Silva",
    "Berg",
    "Vidal",
    "Santos",
    "Rahman",
    "Horvat",
    "Greco",
    "Petrov",
    "Dahl",
    "Holm",
    "Laurent",
    "Bauer",
    "Weber",
    "Murphy",
    "Singh",
    "Shah",
    "Levi",
]
COMPANIES = (
    ("Granite Peak Guides", "granitepeak.example"),
    ("Harbor Lights Hostels", "harborlights.example"),
    ("Cedar Ridge Camps", "cedarridge.example"),
)
CAMPAIGNS = (
    # id, title, google_analytics slug, send time
    ("c0a1b2c3d4", "October Newsletter", "october_newsletter", _at(2026, 10, 6, 9, 0)),
    ("c1d2e3f4a5", "B2B Webinar Invite", "b2b_webinar", _at(2026, 10, 8, 14, 0)),
    ("c2e3f4a5b6", "Fall Layers Sale", "fall_layers_sale_2026", _at(2026, 10, 15, 9, 0)),
)
PRODUCTS = (
    ("SKU-1042", "Trailhead Rain Shell", 149.0),
    ("SKU-2210", "Alpine Down Vest", 119.0),
    ("SKU-3307", "Ridge Merino Base Layer", 69.0),
    ("SKU-4415", "Summit 45L Pack", 189.0),
    ("SKU-5120", "Canyon Hiking Boots", 165.0),
    ("SKU-6031", "Camp Mug", 18.5),
)


def utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def iso_ms(when: datetime) -> str:
    """``2026-10-06T09:00:00.000Z``, as HubSpot and analytics.js write times."""
    return utc(when).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(when).microsecond // 1000:03d}Z"


def iso_s(when: datetime) -> str:
    return utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(when: datetime) -> str:
    """``2026-10-06T09:00:00+00:00``, as Mailchimp writes times."""
    return utc(when).replace(microsecond=0).isoformat()


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Person:
    index: int
    group: str
    first_name: str
    last_name: str
    email: str
    phone: str
    user_id: str | None = None
    anonymous_id: str | None = None
    hubspot_id: str | None = None
    company: int | None = None  # index into COMPANIES (b2b buyers)
    orders: list[dict[str, Any]] = field(default_factory=list)
    deal: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "person": f"p{self.index:02d}",
            "group": self.group,
            "name": f"{self.first_name} {self.last_name}",
            "email": self.email,
            "phone": self.phone,
            "hubspot_id": self.hubspot_id,
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "sources": SOURCES_OF[self.group],
            "orders": [{"order_id": o["order_id"], "revenue": o["revenue"]} for o in self.orders],
            "deal": self.deal,
        }


class Scenario:
    """Builds every record of every tool from one list of people."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.people: list[Person] = []
        self.events: list[dict[str, Any]] = []
        self.activity: dict[str, dict[str, list[dict[str, Any]]]] = {c[0]: {} for c in CAMPAIGNS}
        self.responses: list[dict[str, Any]] = []
        self._make_people()

    # ------------------------------------------------------------------------- people
    def _uuid(self) -> str:
        return "%08x-%04x-4%03x-%04x-%012x" % (  # noqa: UP031 (a uuid4 from the seeded rng)
            self.rng.getrandbits(32),
            self.rng.getrandbits(16),
            self.rng.getrandbits(12),
            0x8000 | self.rng.getrandbits(14),
            self.rng.getrandbits(48),
        )

    def _make_people(self) -> None:
        index = 0
        b2b = 0
        for group, count in GROUPS:
            for _ in range(count):
                first, last = FIRST[index], LAST[index]
                if group == "b2b_buyer":
                    company = b2b % len(COMPANIES)
                    domain = COMPANIES[company][1]
                    b2b += 1
                else:
                    company = None
                    domain = ("example.com", "example.net", "example.org")[index % 3]
                person = Person(
                    index=index,
                    group=group,
                    first_name=first,
                    last_name=last,
                    email=f"{first.lower()}.{last.lower()}@{domain}".replace("á", "a")
                    .replace("é", "e")
                    .replace("ó", "o"),
                    phone=f"+141555501{index:02d}",
                    company=company,
                )
                if group != "reader":
                    person.user_id = f"u_{4100 + index}"
                    person.anonymous_id = self._uuid()
                if group != "organic_buyer":
                    person.hubspot_id = str(1201 + index)
                self.people.append(person)
                index += 1

    def group(self, name: str) -> list[Person]:
        return [p for p in self.people if p.group == name]

    # ------------------------------------------------------------------------- segment
    def _event(
        self,
        kind: str,
        when: datetime,
        person: Person | None,
        *,
        anonymous_id: str,
        signed_in: bool,
        campaign: dict[str, str] | None = None,
        referrer: str = "",
        path: str = "/",
        **extra: Any,
    ) -> dict[str, Any]:
        url = SITE + path
        if campaign:
            url += "?" + "&".join(f"utm_{k}={v}" for k, v in campaign.items())
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "ip": f"198.51.100.{self.rng.randint(2, 250)}",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15",
            "locale": "en-US",
            "page": {"path": path, "referrer": referrer, "url": url, "title": "Ridgeline Outdoor"},
        }
        if campaign:
            context["campaign"] = dict(campaign)
        sent = utc(when) + timedelta(milliseconds=self.rng.randint(20, 400))
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"ajs-next-{self._uuid().replace('-', '')}",
            "anonymousId": anonymous_id,
            "context": context,
            "integrations": {},
            "originalTimestamp": iso_ms(when),
            "timestamp": iso_ms(when),
            "sentAt": iso_ms(sent),
            "receivedAt": iso_ms(sent + timedelta(milliseconds=self.rng.randint(40, 900))),
            "version": 2,
            **extra,
        }
        if signed_in and person is not None:
            event["userId"] = person.user_id
        self.events.append(event)
        return event

    def _visit(
        self,
        person: Person | None,
        start: datetime,
        *,
        anonymous_id: str,
        signed_in: bool,
        campaign: dict[str, str] | None = None,
        referrer: str = "",
        identify: bool = False,
        order: bool = False,
    ) -> datetime:
        """One web session: landing, a few pages, maybe identify and an order."""
        when = start
        pages = ["/", "/collections/fall", f"/products/{self.rng.choice(PRODUCTS)[0].lower()}"]
        for n, path in enumerate(pages):
            self._event(
                "page",
                when,
                person,
                anonymous_id=anonymous_id,
                signed_in=signed_in,
                campaign=campaign if n == 0 else None,
                referrer=referrer if n == 0 else SITE + pages[n - 1],
                path=path,
                name=path.strip("/").split("/")[0].title() or "Home",
                properties={"path": path, "url": SITE + path},
            )
            when += timedelta(seconds=self.rng.randint(20, 140))
        if identify and person is not None:
            self._event(
                "identify",
                when,
                person,
                anonymous_id=anonymous_id,
                signed_in=True,
                path="/account/login",
                traits={
                    "email": person.email,
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                },
            )
            signed_in = True
            when += timedelta(seconds=self.rng.randint(5, 30))
        if order and person is not None:
            items = self.rng.sample(PRODUCTS, self.rng.randint(1, 3))
            revenue = round(sum(price for _, _, price in items), 2)
            order_id = f"RO-{20000 + len(self.events)}"
            self._event(
                "track",
                when,
                person,
                anonymous_id=anonymous_id,
                signed_in=signed_in,
                campaign=campaign,  # the shop keeps the landing's utm through checkout
                path="/checkout/thank-you",
                event="Order Completed",
                properties={
                    "order_id": order_id,
                    "revenue": revenue,
                    "currency": "USD",
                    "products": [
                        {"product_id": sku, "name": name, "price": price, "quantity": 1}
                        for sku, name, price in items
                    ],
                },
            )
            person.orders.append({"order_id": order_id, "revenue": revenue, "at": iso_ms(when)})
        return when

    # ------------------------------------------------------------------------- mailchimp
    def _mail(self, campaign: int, person: Person, when: datetime, *, click: bool) -> None:
        cid, _, slug, _ = CAMPAIGNS[campaign]
        actions = self.activity[cid].setdefault(person.email, [])
        actions.append({"action": "open", "timestamp": iso_offset(when), "ip": "203.0.113.24"})
        if click:
            actions.append(
                {
                    "action": "click",
                    "timestamp": iso_offset(when + timedelta(seconds=40)),
                    "url": f"{SITE}/?utm_source=newsletter&utm_medium=email&utm_campaign={slug}",
                    "ip": "203.0.113.24",
                }
            )

    # ------------------------------------------------------------------------- story
    def play(self) -> None:
        rng = self.rng
        for n, person in enumerate(self.group("newsletter_then_search")):
            assert person.anonymous_id is not None
            clicked = CAMPAIGNS[0][3] + timedelta(minutes=25 + 9 * n)
            self._mail(0, person, clicked, click=True)
            self._visit(  # the newsletter click's session, before signing in
                person,
                clicked + timedelta(seconds=44),
                anonymous_id=person.anonymous_id,
                signed_in=False,
                campaign={"source": "newsletter", "medium": "email", "name": "october_newsletter"},
            )
            back = _at(2026, 10, 12, 10, 0) + timedelta(hours=7 * n, minutes=rng.randint(0, 50))
            self._visit(
                person,
                back,
                anonymous_id=person.anonymous_id,
                signed_in=False,
                campaign={"source": "google", "medium": "cpc", "name": "fall_boots_search"},
                identify=True,
                order=True,
            )
        for n, person in enumerate(self.group("social_then_newsletter")):
            assert person.anonymous_id is not None
            first = _at(2026, 10, 10, 18, 0) + timedelta(hours=3 * n, minutes=rng.randint(0, 40))
            self._visit(
                person,
                first,
                anonymous_id=person.anonymous_id,
                signed_in=False,
                campaign={"source": "instagram", "medium": "paid_social", "name": "fall_layers_ig"},
                referrer="https://l.instagram.com/",
                identify=True,
            )
            clicked = CAMPAIGNS[2][3] + timedelta(minutes=15 + 11 * n)
            self._mail(2, person, clicked, click=True)
            self._visit(
                person,
                clicked + timedelta(seconds=44),
                anonymous_id=person.anonymous_id,
                signed_in=True,
                campaign={"source": "newsletter", "medium": "email", "name": CAMPAIGNS[2][2]},
                order=True,
            )
        for n, person in enumerate(self.group("organic_buyer")):
            assert person.anonymous_id is not None
            self._visit(
                person,
                _at(2026, 10, 16, 11, 0) + timedelta(hours=13 * n, minutes=rng.randint(0, 50)),
                anonymous_id=person.anonymous_id,
                signed_in=False,
                referrer="https://www.google.com/",
                identify=True,
                order=True,
            )
        for n, person in enumerate(self.group("b2b_buyer")):
            assert person.anonymous_id is not None
            self._mail(1, person, CAMPAIGNS[1][3] + timedelta(minutes=30 + 17 * n), click=True)
            self._visit(
                person,
                _at(2026, 10, 14, 9, 30) + timedelta(hours=5 * n),
                anonymous_id=person.anonymous_id,
                signed_in=False,
                identify=True,
            )
            amount = float(rng.choice((2400, 3150, 4800, 5600, 7200)))
            person.deal = {
                "deal_id": str(9301 + n),
                "amount": amount,
                "closedate": iso_ms(_at(2026, 10, 20, 15, 0) + timedelta(hours=11 * n)),
            }
        for n, person in enumerate(self.group("reader")):
            self._mail(0, person, CAMPAIGNS[0][3] + timedelta(minutes=70 + 6 * n), click=n % 3 == 0)
            if n % 2 == 0:
                self._mail(2, person, CAMPAIGNS[2][3] + timedelta(minutes=200 + 5 * n), click=False)
        for person in self.group("newsletter_then_search") + self.group("social_then_newsletter"):
            if person.index % 2 == 0:  # opens of the other campaign: engagement, not touches
                other = 2 if person.group == "newsletter_then_search" else 0
                self._mail(other, person, CAMPAIGNS[other][3] + timedelta(hours=3), click=False)
        for n in range(ANONYMOUS_VISITORS):
            self._visit(
                None,
                _at(2026, 10, 13, 8, 0) + timedelta(hours=19 * n),
                anonymous_id=self._uuid(),
                signed_in=False,
                referrer="https://duckduckgo.com/" if n % 2 else "",
            )
        buyers = [p for p in self.people if p.orders or p.deal]
        for n, person in enumerate(buyers):
            self._response(person, _at(2026, 10, 27, 9, 0) + timedelta(minutes=47 * n), n)

    def _response(self, person: Person, landed: datetime, n: int) -> None:
        score = (10, 9, 9, 8, 10, 7, 6, 10, 9, 3)[n % 10]
        token = md5(f"response-{person.index}")[:24]
        email = person.email.title() if n % 4 == 1 else person.email  # typed as remembered
        answers: list[dict[str, Any]] = [
            {
                "field": {"id": "Xk3fNps01", "type": "opinion_scale", "ref": "nps"},
                "type": "number",
                "number": score,
            }
        ]
        if n % 3 == 0:
            answers.append(
                {
                    "field": {"id": "Xk3fWhy02", "type": "long_text", "ref": "comment"},
                    "type": "text",
                    "text": ("Fast delivery, great fit.", "Boots run small.", "Love the shell!")[
                        (n // 3) % 3
                    ],
                }
            )
        hidden = {
            "email": email,
            "user_id": person.user_id or "",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_campaign": "nps_after_purchase",
        }
        referer = f"https://ridgeline.typeform.com/to/{FORM_ID}"
        self.responses.append(
            {
                "landing_id": token,
                "token": token,
                "response_id": token,
                "response_type": "completed",
                "landed_at": iso_s(landed),
                "submitted_at": iso_s(landed + timedelta(seconds=40 + n)),
                "metadata": {
                    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
                    "platform": "mobile",
                    "referer": referer,
                    "network_id": md5(f"net-{person.index}")[:10],
                    "browser": "default",
                },
                "hidden": hidden,
                "calculated": {"score": 0},
                "answers": answers,
            }
        )

    # ------------------------------------------------------------------------- outputs
    def hubspot(self) -> dict[str, Any]:
        contacts: list[dict[str, Any]] = []
        deals: list[dict[str, Any]] = []
        companies: list[dict[str, Any]] = []
        links: dict[str, dict[str, list[str]]] = {"contacts>companies": {}, "deals>contacts": {}}
        for c, (name, domain) in enumerate(COMPANIES):
            cid = str(5101 + c)
            stamp = iso_ms(_at(2026, 9, 2, 10, 0) + timedelta(minutes=c))
            companies.append(
                {
                    "id": cid,
                    "properties": {
                        "name": name,
                        "domain": domain,
                        "industry": "LEISURE_TRAVEL_TOURISM",
                        "country": "United States",
                        "createdate": stamp,
                        "hs_lastmodifieddate": stamp,
                        "hs_object_id": cid,
                    },
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "archived": False,
                }
            )
        links["deals>companies"] = {}
        for person in self.people:
            if person.hubspot_id is None:
                continue
            created = _at(2026, 9, 1, 8, 0) + timedelta(hours=5 * person.index)
            modified = _at(2026, 10, 25, 6, 0) + timedelta(minutes=person.index, seconds=17)
            phone = person.phone  # +1415555 01XX written as people type it
            typed_phone = (
                f"+1 (415) 555-{phone[-4:]}" if person.index % 2 else f"415.555.{phone[-4:]}"
            )
            email = person.email if person.index % 5 else person.email.upper()
            company = COMPANIES[person.company][0] if person.company is not None else None
            buyer = person.orders or person.deal
            contacts.append(
                {
                    "id": person.hubspot_id,
                    "properties": {
                        "email": email,
                        "firstname": person.first_name,
                        "lastname": person.last_name,
                        "phone": typed_phone,
                        "company": company,
                        "jobtitle": "Operations Manager" if company else None,
                        "city": "San Francisco",
                        "country": "United States",
                        "lifecyclestage": "customer" if buyer else "subscriber",
                        "hubspot_owner_id": "77001" if company else None,
                        "hs_analytics_source": "EMAIL_MARKETING",
                        "createdate": iso_ms(created),
                        "lastmodifieddate": iso_ms(modified),
                        "hs_object_id": person.hubspot_id,
                    },
                    "createdAt": iso_ms(created),
                    "updatedAt": iso_ms(modified),
                    "archived": False,
                }
            )
            if person.company is not None:
                links["contacts>companies"][person.hubspot_id] = [str(5101 + person.company)]
            if person.deal is not None:
                deal = person.deal
                created = _at(2026, 10, 9, 11, 0) + timedelta(hours=person.index)
                deal_modified = iso_ms(
                    datetime.fromisoformat(deal["closedate"].replace("Z", "+00:00"))
                    + timedelta(minutes=3)
                )
                deals.append(
                    {
                        "id": deal["deal_id"],
                        "properties": {
                            "dealname": f"{COMPANIES[person.company or 0][0]} - team kit",
                            "amount": f"{deal['amount']:.2f}",
                            "deal_currency_code": "USD",
                            "closedate": deal["closedate"],
                            "pipeline": "default",
                            "dealstage": "closedwon",
                            "hs_is_closed_won": "true",
                            "dealtype": "newbusiness",
                            "hubspot_owner_id": "77001",
                            "createdate": iso_ms(created),
                            "hs_lastmodifieddate": deal_modified,
                            "hs_object_id": deal["deal_id"],
                        },
                        "createdAt": iso_ms(created),
                        "updatedAt": deal_modified,
                        "archived": False,
                    }
                )
                links["deals>contacts"][deal["deal_id"]] = [person.hubspot_id]
                links["deals>companies"][deal["deal_id"]] = [str(5101 + (person.company or 0))]
        # one open deal: no conversion
        open_id = str(9301 + len(deals))
        stamp = iso_ms(_at(2026, 10, 23, 10, 0))
        deals.append(
            {
                "id": open_id,
                "properties": {
                    "dealname": "Cedar Ridge Camps - spring order",
                    "amount": "3900.00",
                    "deal_currency_code": "USD",
                    "closedate": iso_ms(_at(2026, 12, 1, 12, 0)),
                    "pipeline": "default",
                    "dealstage": "presentationscheduled",
                    "hs_is_closed_won": "false",
                    "dealtype": "newbusiness",
                    "hubspot_owner_id": "77001",
                    "createdate": stamp,
                    "hs_lastmodifieddate": stamp,
                    "hs_object_id": open_id,
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
        )
        b2b = self.group("b2b_buyer")
        links["deals>contacts"][open_id] = [str(b2b[-1].hubspot_id)]
        owners = [
            {
                "id": "77001",
                "email": "dana.reyes@ridgeline-outdoor.example",
                "firstName": "Dana",
                "lastName": "Reyes",
                "userId": 3120001,
                "createdAt": "2025-01-10T09:00:00.000Z",
                "updatedAt": "2026-09-01T09:00:00.000Z",
                "archived": False,
            }
        ]
        return {
            "contacts": contacts,
            "companies": companies,
            "deals": deals,
            "owners": owners,
            "associations": links,
        }

    def mailchimp(self) -> dict[str, Any]:
        members = []
        for person in self.people:
            if person.group not in (
                "newsletter_then_search",
                "social_then_newsletter",
                "b2b_buyer",
                "reader",
            ):
                continue
            opted = _at(2026, 8, 1, 12, 0) + timedelta(hours=9 * person.index)
            members.append(
                {
                    "id": md5(person.email.lower()),
                    "email_address": person.email,
                    "unique_email_id": md5(f"u{person.index}")[:10],
                    "contact_id": md5(f"c{person.index}")[:24],
                    "full_name": f"{person.first_name} {person.last_name}",
                    "email_type": "html",
                    "status": "subscribed",
                    "merge_fields": {
                        "FNAME": person.first_name,
                        "LNAME": person.last_name,
                        "PHONE": f"415-555-{person.phone[-4:]}" if person.index % 3 else "",
                        "ADDRESS": "",
                        "COMPANY": COMPANIES[person.company][0]
                        if person.company is not None
                        else "",
                    },
                    "stats": {"avg_open_rate": 0.42, "avg_click_rate": 0.12},
                    "ip_signup": "",
                    "timestamp_signup": "",
                    "ip_opt": "203.0.113.24",
                    "timestamp_opt": iso_offset(opted),
                    "member_rating": 3,
                    "last_changed": iso_offset(opted),
                    "language": "en",
                    "vip": False,
                    "email_client": "",
                    "location": {
                        "latitude": 0,
                        "longitude": 0,
                        "gmtoff": 0,
                        "dstoff": 0,
                        "country_code": "US",
                        "timezone": "America/Los_Angeles",
                    },
                    "source": "Hosted Signup Form",
                    "tags_count": 1 if person.company is not None else 0,
                    "tags": [{"id": 2201, "name": "b2b"}] if person.company is not None else [],
                    "list_id": LIST_ID,
                }
            )
        campaigns: list[dict[str, Any]] = []
        activity: dict[str, list[dict[str, Any]]] = {}
        for cid, title, slug, sent in CAMPAIGNS:
            book = self.activity[cid]
            campaigns.append(
                {
                    "id": cid,
                    "web_id": 100 + len(campaigns),
                    "type": "regular",
                    "create_time": iso_offset(sent - timedelta(days=2)),
                    "archive_url": f"https://eepurl.example/{cid}",
                    "status": "sent",
                    "emails_sent": len(members),
                    "send_time": iso_offset(sent),
                    "content_type": "template",
                    "recipients": {
                        "list_id": LIST_ID,
                        "list_is_active": True,
                        "list_name": "Ridgeline Outdoor News",
                        "recipient_count": len(members),
                    },
                    "settings": {
                        "subject_line": f"{title} from Ridgeline",
                        "title": title,
                        "from_name": "Ridgeline Outdoor",
                        "reply_to": "news@ridgeline-outdoor.example",
                    },
                    "tracking": {"opens": True, "html_clicks": True, "google_analytics": slug},
                    "report_summary": {
                        "opens": sum(a["action"] == "open" for v in book.values() for a in v),
                        "clicks": sum(a["action"] == "click" for v in book.values() for a in v),
                    },
                }
            )
            activity[cid] = [
                {
                    "campaign_id": cid,
                    "list_id": LIST_ID,
                    "list_is_active": True,
                    "email_id": md5(email.lower()),
                    "email_address": email,
                    "activity": actions,
                }
                for email, actions in sorted(book.items())
            ]
        return {
            "lists": [{"id": LIST_ID, "name": "Ridgeline Outdoor News"}],
            "members": {LIST_ID: members},
            "campaigns": campaigns,
            "email_activity": activity,
        }

    def typeform(self) -> dict[str, Any]:
        definition = {
            "id": FORM_ID,
            "title": "How likely are you to recommend Ridgeline Outdoor?",
            "hidden": ["email", "user_id", "utm_source", "utm_medium", "utm_campaign"],
            "fields": [
                {
                    "id": "Xk3fNps01",
                    "ref": "nps",
                    "title": "How likely are you to recommend us to a friend?",
                    "type": "opinion_scale",
                    "properties": {"steps": 11, "start_at_one": False},
                },
                {"id": "Xk3fWhy02", "ref": "comment", "title": "Why?", "type": "long_text"},
            ],
        }
        form = {
            "id": FORM_ID,
            "title": definition["title"],
            "last_updated_at": "2026-10-20T08:00:00Z",
            "created_at": "2026-10-01T08:00:00Z",
            "settings": {"is_public": True},
            "self": {"href": f"https://api.typeform.com/forms/{FORM_ID}"},
            "theme": {"href": "https://api.typeform.com/themes/qHWOQ7"},
            "_links": {"display": f"https://ridgeline.typeform.com/to/{FORM_ID}"},
        }
        return {
            "forms": [form],
            "definitions": {FORM_ID: definition},
            "responses": {FORM_ID: self.responses},
        }

    def expected(self) -> dict[str, Any]:
        counts = {g: len(self.group(g)) for g, _ in GROUPS}
        n_search, n_social = counts["newsletter_then_search"], counts["social_then_newsletter"]
        n_organic, n_b2b = counts["organic_buyer"], counts["b2b_buyer"]
        return {
            "people": [p.as_json() for p in self.people],
            "anonymous_visitors": ANONYMOUS_VISITORS,
            "purchases": {
                "conversions": n_search + n_social + n_organic,
                "revenue": round(sum(o["revenue"] for p in self.people for o in p.orders), 2),
                "first_touch": {
                    "Email": n_search,
                    "Paid Social": n_social,
                    "Organic Search": n_organic,
                },
                "last_touch": {
                    "Paid Search": n_search,
                    "Email": n_social,
                    "Organic Search": n_organic,
                },
            },
            "deals": {
                "conversions": n_b2b,
                "revenue": sum(p.deal["amount"] for p in self.people if p.deal),
                "first_touch": {"Email": n_b2b},
                "last_touch": {"Direct": n_b2b},
                "last_non_direct": {"Email": n_b2b},
            },
        }


def _gzip(text: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as fh:
        fh.write(text.encode("utf-8"))
    return buffer.getvalue()


def _json(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write(out: Path) -> dict[str, Any]:
    """Play the scenario and write every file under ``out``; returns ``scenario.json``."""
    scenario = Scenario()
    scenario.play()
    api = out / "api"
    api.mkdir(parents=True, exist_ok=True)
    (api / "hubspot.json").write_text(_json(scenario.hubspot()), encoding="utf-8")
    (api / "mailchimp.json").write_text(_json(scenario.mailchimp()), encoding="utf-8")
    (api / "typeform.json").write_text(_json(scenario.typeform()), encoding="utf-8")
    root = out / "segment-logs" / SEGMENT_SOURCE
    by_day: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(scenario.events, key=lambda e: e["receivedAt"]):
        by_day.setdefault(event["receivedAt"][:10], []).append(event)
    for day, events in by_day.items():
        midnight = datetime.fromisoformat(day).replace(tzinfo=UTC)
        folder = root / str(int(midnight.timestamp() * 1000))
        folder.mkdir(parents=True, exist_ok=True)
        first = datetime.fromisoformat(events[0]["receivedAt"].replace("Z", "+00:00"))
        name = f"{int(first.timestamp() * 1000)}.{md5(day)[:8]}.gz"
        lines = "".join(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events
        )
        (folder / name).write_bytes(_gzip(lines))
    expected = scenario.expected()
    (out / "scenario.json").write_text(_json(expected), encoding="utf-8")
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    expected = write(args.out)
    print(
        f"wrote {len(expected['people'])} people, {expected['purchases']['conversions']} orders, "
        f"{expected['deals']['conversions']} won deals under {args.out}"
    )


if __name__ == "__main__":
    main()
