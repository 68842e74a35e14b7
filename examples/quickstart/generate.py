"""Generate the Northwind Outfitters quickstart data set, deterministically.

    python examples/quickstart/generate.py              # rewrite examples/quickstart/data
    python examples/quickstart/generate.py --out /tmp/q  # somewhere else
    python examples/quickstart/generate.py --scale 10   # ten times the people

Standard library only. The same seed and scale give the same bytes on every
run (gzip members carry mtime 0 and no file name; no set or hash ordering is
used), so the committed files are exactly what this script writes.

What it writes under the output directory:

- ``crm/contacts.csv`` and ``crm/contacts_update_2026-11-02.csv``: a HubSpot-like
  contact export and a later re-export of some contacts (merge by contact_id);
- ``web/events/2026-10-DD/events.jsonl.gz``: Segment-spec events partitioned by
  received day, with at-least-once duplicates and one truncated line;
- ``email/activity.csv``: Mailchimp-like campaign activity;
- ``survey/nps.csv``: NPS responses;
- ``ground_truth.csv``: every synthetic person with every identifier the data
  shows for them, to score identity resolution against;
- ``MANIFEST.json``: row, key, duplicate and bad-line counts per stream.

The module also exposes :func:`synthetic_events` (the same event shape, no people
behind it) for ``benchmarks/sync_throughput.py``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20261102
HERE = Path(__file__).resolve().parent
SITE = "https://www.northwind-outfitters.example"
WEB_START = datetime(2026, 10, 18, tzinfo=UTC)  # first received day of web events
WEB_DAYS = 14  # 2026-10-18 .. 2026-10-31
CRM_EXPORT_AT = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
CRM_UPDATE_DAY = "2026-11-02"
GENERIC_EMAIL = "info@baysiderentals.example"


# ----------------------------------------------------------------------------- word lists
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ana Liam Olivia Noah Emma Mateo Ava Lucas Sophia Ethan Mia Mason Isabella Logan Amelia "
    "Elijah Harper James Evelyn Aiden Abigail Benjamin Emily Sebastian Ella Jackson Chloe Leo "
    "Grace Daniel Zoë Henry Nora Samuel Aria Owen Riley Wyatt Layla Jack Lily Julian Hannah "
    "Levi Aaliyah Isaac Priya Gabriel Mei Anthony Fatima Dylan Sofía Caleb Ingrid Thomas Yuki "
    "Charles Amara Christopher Chiara Josiah Ngozi Andrew Elena Nathan Freya Adrian Rosa Miles "
    "Ines Kai Leila Omar Astrid Ravi Camille Diego Hana Tomás Noor Felix Keiko Arjun Beatriz "
    "Hugo Anika Marco Siobhan Ji-woo Maya Björn Clara Kwame Léa Rafael Sana Oscar Wren Javier "
    "Tessa Malik Ruby Connor Alma Declan Ivy Emeka Greta Finn Lucía Ronan Saoirse Øyvind Zara"
)
LAST_NAMES = _words(
    "Ruiz Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Patel Kim Chen Okafor Schmidt Müller Rossi Dubois Novak Kowalski Silva Santos Haddad "
    "Tanaka Sato Larsen Johansson O'Brien O'Neill MacLeod Fitzgerald Byrne Murphy Kelly Walsh "
    "Singh Kumar Shah Mensah Abara Ivanova Petrov Horvat Costa Ferreira Almeida Moreau Laurent "
    "Bauer Fischer Weber Becker Hoffmann Lindqvist Nakamura Yamamoto Park Choi Zhang Wang Liu "
    "Cohen Levi Friedman Khan Ali Rahman Hussain Bianchi Romano Greco Lund Berg Dahl Holm Vidal"
)
COMPANY_A = _words(
    "Bayside Blue Cedar Granite Harbor Summit Alpine Riverbend Northgate Copper Redwood Juniper "
    "Prairie Coastal Ironwood Silverline Foxglove Tidewater Highland Evergreen Larkspur "
    "Brightwater Stonebridge Maple Westfield Clearwater Oakridge Pinecrest Meridian Ashford"
)
COMPANY_B = _words(
    "Rentals Outdoors Logistics Labs Analytics Supply Partners Studio Health Software Guides "
    "Ventures Builders Media Consulting Foods Robotics Expeditions Systems Collective"
)
COMPANY_SUFFIX = ("", "", "", " Inc.", " LLC", " Ltd", " Co.", " & Sons", ", Inc.")
JOB_TITLES = (
    "Marketing Manager",
    "Operations Lead",
    "Founder",
    "CEO",
    "Office Manager",
    "Procurement Specialist",
    "Head of People",
    "Trip Leader",
    "Software Engineer",
    "Account Executive",
    "Facilities Coordinator",
    "VP Sales",
    "Product Designer",
    "Outdoor Program Director",
    "Buyer",
    "",
)
LIFECYCLE = (
    ("subscriber", 14),
    ("lead", 30),
    ("marketingqualifiedlead", 10),
    ("salesqualifiedlead", 5),
    ("opportunity", 4),
    ("customer", 32),
    ("evangelist", 3),
    ("other", 2),
)
NEXT_STAGE = {
    "subscriber": "lead",
    "lead": "marketingqualifiedlead",
    "marketingqualifiedlead": "salesqualifiedlead",
    "salesqualifiedlead": "opportunity",
    "opportunity": "customer",
    "customer": "evangelist",
    "evangelist": "evangelist",
    "other": "lead",
}
PERSONAL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
US_AREA_CODES = _words(
    "212 213 206 208 303 305 312 404 415 425 503 512 602 608 612 617 646 702 720 802 "
    "804 808 813 857 907 919 971 973 978 510 541 559 619 626 650 707 714 760 805 916"
)
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/141.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
)
LOCALES = ("en-US", "en-US", "en-US", "en-GB", "en-CA", "es-US", "fr-CA", "de-DE")

PRODUCTS = (
    ("Ridgeline Down Jacket", "Jackets", 189.0),
    ("Stormfront Rain Shell", "Jackets", 149.0),
    ("Cascade Fleece Hoodie", "Jackets", 79.0),
    ("Drift Insulated Vest", "Jackets", 99.0),
    ("Talus Softshell", "Jackets", 129.0),
    ("Switchback Hiking Boot", "Boots", 165.0),
    ("Scree Trail Runner", "Boots", 129.0),
    ("Basecamp Winter Boot", "Boots", 185.0),
    ("Meadow Trail Shoe", "Boots", 109.0),
    ("Ascent 45L Pack", "Packs", 179.0),
    ("Daybreak 22L Pack", "Packs", 89.0),
    ("Portage Duffel 60L", "Packs", 119.0),
    ("Trailhead Hip Pack", "Packs", 39.0),
    ("Lakeshore 2P Tent", "Camp", 249.0),
    ("Nightfall 20F Sleeping Bag", "Camp", 219.0),
    ("Ember Camp Stove", "Camp", 59.0),
    ("Featherlite Sleeping Pad", "Camp", 89.0),
    ("Lumen Headlamp", "Camp", 34.0),
    ("Merino Crew Base Layer", "Layers", 69.0),
    ("Merino Hiking Socks 3-Pack", "Layers", 36.0),
    ("Alpine Beanie", "Layers", 28.0),
    ("Summit Gloves", "Layers", 45.0),
    ("Trail Pants", "Layers", 85.0),
    ("Canyon Sun Hoodie", "Layers", 55.0),
)
ARTICLES = (
    ("how-to-layer-for-fall-hikes", "How to layer for fall hikes"),
    ("best-trails-near-seattle", "Ten trails near Seattle for October"),
    ("boot-fit-guide", "The boot fit guide"),
    ("leave-no-trace-basics", "Leave No Trace basics"),
    ("first-overnight-checklist", "Your first overnight: a checklist"),
)
COLLECTIONS = ("jackets", "boots", "packs", "camp", "layers", "sale")

# (source, medium, campaign, content, term, landing path, referrer)
PAID = {
    "google_cpc": (
        ("google", "cpc", "brand_search", "text_ad_a", "northwind outfitters", "/"),
        ("google", "cpc", "nonbrand_jackets", "text_ad_b", "waterproof rain jacket", "jackets"),
        ("google", "cpc", "nonbrand_boots", "text_ad_a", "waterproof hiking boots", "boots"),
        ("google", "cpc", "shopping_fall", "pla", "down jacket women", "product"),
    ),
    "facebook": (
        ("facebook", "paid_social", "fall_layers_prospecting", "carousel_1", "", "layers"),
        ("facebook", "paid_social", "fall_layers_prospecting", "video_15s", "", "jackets"),
        ("facebook", "paid_social", "boots_retargeting", "dpa", "", "product"),
        ("instagram", "paid_social", "fall_layers_prospecting", "story_1", "", "sale"),
    ),
}
ORGANIC_REFERRERS = (
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://search.yahoo.com/",
)
REFERRAL_REFERRERS = (
    "https://www.reddit.com/r/CampingGear/",
    "https://www.reddit.com/r/Ultralight/",
    "https://trailjournal.example/best-rain-jackets-2026",
    "https://gearlab.example/reviews/hiking-boots",
    "https://www.youtube.com/",
    "https://l.instagram.com/",
)

CAMPAIGNS = (
    # campaign_id, name, slug, send time, share of the list sent to
    ("3f9c1a2b7e", "October Trail Notes", "trail_notes_oct_2026", "2026-10-06T15:00:00", 1.0),
    ("8d41e0c6b2", "New: Ridgeline Down Jacket", "ridgeline_launch", "2026-10-13T16:00:00", 0.9),
    ("c27a95f013", "Fall Layers Sale", "fall_layers_sale_2026", "2026-10-20T14:30:00", 1.0),
    ("51be7d3a90", "Weekend Flash: 25% off boots", "flash_boots_25", "2026-10-23T13:00:00", 0.75),
    ("e6043b8f1d", "Trail Notes: first snow", "trail_notes_snow_2026", "2026-10-27T15:00:00", 1.0),
    ("9ab2c4d6e8", "Last chance: Fall Layers", "fall_layers_last_call", "2026-10-30T14:00:00", 0.9),
)

NPS_COMMENTS = {
    "promoter": (
        "Love the Ridgeline jacket, warm and light.",
        "Fast shipping and the boots fit perfectly.",
        "Great customer service, they helped me pick the right pack size.",
        "Everything arrived on time. Will order again!",
        "Best tent I've owned, set up in five minutes.",
        'The "boot fit guide" was super helpful, thanks!',
        "Quality gear, fair prices, easy returns.",
        "",
    ),
    "passive": (
        "Good products, shipping was a bit slow.",
        "Nice stuff but pricier than other shops.",
        "Jacket is fine; sizing runs small.",
        "Checkout asked me to log in twice, otherwise ok.",
        "",
        "",
    ),
    "detractor": (
        "Order arrived late and the box was damaged.",
        "Return took three weeks to be refunded.",
        "Boots gave me blisters, and the exchange process was confusing.",
        "Wrong size shipped, twice.",
        "Website kept logging me out during checkout, very frustrating",
        "",
    ),
}
NPS_MULTILINE = (  # (score, comment): free text with line breaks, as real exports have
    ("6", "Two things:\n1) the rain shell is great\n2) the stuff sack zipper broke after a week"),
    ("8", 'Overall happy.\nBut "free returns" should be free for exchanges too, not just refunds.'),
    ("10", "Loved it.\n\nWill recommend to my hiking group."),
)


# ----------------------------------------------------------------------------- helpers
def iso_ms(t: datetime) -> str:
    """``2026-10-18T08:00:00.123Z`` (Segment and HubSpot style)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_offset(t: datetime) -> str:
    """``2026-10-20T15:02:11+00:00`` (Mailchimp style)."""
    return t.astimezone(UTC).replace(microsecond=0).isoformat()


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def rand_token(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


def slug(text: str) -> str:
    out = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def ascii_name(text: str) -> str:
    table = str.maketrans(
        {
            "é": "e",
            "ë": "e",
            "í": "i",
            "á": "a",
            "ó": "o",
            "ü": "u",
            "ö": "o",
            "ø": "o",
            "Ø": "o",
            "ç": "c",
            "ñ": "n",
            "'": "",
            "-": "",
        }
    )
    return text.lower().translate(table)


def normalize_email(email: str) -> str:
    """How ``ground_truth.csv`` spells emails: trimmed and lower-cased."""
    return email.strip().lower()


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def product_catalog() -> list[dict[str, Any]]:
    items = []
    for i, (name, category, price) in enumerate(PRODUCTS):
        items.append(
            {
                "product_id": f"prd_{1001 + i}",
                "sku": f"NWO-{category[:3].upper()}-{2101 + 17 * i}",
                "name": name,
                "category": category,
                "price": price,
                "slug": slug(name),
            }
        )
    return items


CATALOG = product_catalog()


# ----------------------------------------------------------------------------- people
@dataclass
class Device:
    anonymous_id: str
    user_agent: str
    locale: str
    ip: str
    skew_ms: int  # client clock skew: originalTimestamp = true time + skew


@dataclass
class Person:
    person_id: str
    first: str
    last: str
    company: str = ""
    job_title: str = ""
    work_email: str | None = None
    personal_email: str | None = None
    phone_e164: str | None = None
    phone_kind: str = "us"
    user_id: str | None = None
    new_account: bool = False
    in_crm: bool = False
    subscribed: bool = False
    engagement: float = 0.0
    devices: list[Device] = field(default_factory=list)
    traps: list[str] = field(default_factory=list)
    # identifiers as they appear in the data (dicts as ordered sets)
    seen_contacts: dict[str, None] = field(default_factory=dict)
    seen_emails: dict[str, None] = field(default_factory=dict)
    seen_phones: dict[str, None] = field(default_factory=dict)
    seen_users: dict[str, None] = field(default_factory=dict)
    seen_anons: dict[str, None] = field(default_factory=dict)
    orders: int = 0

    @property
    def email(self) -> str | None:
        return self.personal_email or self.work_email

    def saw_email(self, email: str | None) -> None:
        if email and email.strip():
            self.seen_emails[normalize_email(email)] = None


class Names:
    """Unique emails, phones and ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.emails: dict[str, None] = {}
        self.us_phones = [(a, n) for a in US_AREA_CODES for n in range(100, 200)]
        rng.shuffle(self.us_phones)
        self.uk_phones = list(range(1000))
        rng.shuffle(self.uk_phones)
        self.user_ids: dict[str, None] = {}
        self.extra_phone = 0

    def email(self, local: str, domain: str) -> str:
        base = local
        n = 1
        while f"{local}@{domain}" in self.emails:
            n += 1
            local = f"{base}{n}"
        self.emails[f"{local}@{domain}"] = None
        return f"{local}@{domain}"

    def phone(self, kind: str) -> str:
        if kind == "uk" and self.uk_phones:
            return f"+44207946{self.uk_phones.pop():04d}"
        if self.us_phones:
            area, n = self.us_phones.pop()
            return f"+1{area}555{n:04d}"
        self.extra_phone += 1  # only at large --scale: beyond the 555-01XX fiction range
        return f"+1{US_AREA_CODES[self.extra_phone % 40]}555{2000 + self.extra_phone // 40:04d}"

    def user_id(self) -> str:
        while True:
            uid = rand_hex(self.rng, 13)
            if uid not in self.user_ids:
                self.user_ids[uid] = None
                return uid


def format_phone(rng: random.Random, e164: str) -> str:
    """Write a phone the way people type it into a CRM."""
    if e164.startswith("+44"):
        rest = e164[3:]  # 2079460958
        a, b, c = rest[:2], rest[2:6], rest[6:]
        return rng.choice(
            (f"0044 {a} {b} {c}", f"+44 {a} {b} {c}", f"+44 (0){a} {b} {c}", f"+44{rest}")
        )
    area, ex, num = e164[2:5], e164[5:8], e164[8:]
    return rng.choice(
        (
            f"+1 ({area}) {ex}-{num}",
            f"{area}.{ex}.{num}",
            f"({area}) {ex}-{num}",
            f"{area}-{ex}-{num}",
            f"+1{area}{ex}{num}",
            f"1-{area}-{ex}-{num}",
        )
    )


def messy_email(rng: random.Random, email: str) -> str:
    """An email as typed into a form: mostly lower case, sometimes not, sometimes padded."""
    r = rng.random()
    local, _, domain = email.partition("@")
    if r < 0.68:
        out = email
    elif r < 0.83:
        out = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    elif r < 0.88:
        out = email.upper()
    elif r < 0.94:
        out = local.capitalize() + "@" + domain
    else:
        out = email
    if rng.random() < 0.06:
        out = rng.choice((" ", "  ", "")) + out + rng.choice((" ", "\t", ""))
    return out


def make_company(rng: random.Random) -> tuple[str, str]:
    a, b = rng.choice(COMPANY_A), rng.choice(COMPANY_B)
    return f"{a} {b}{rng.choice(COMPANY_SUFFIX)}", f"{a}{b}".lower() + ".example"


def new_device(rng: random.Random, names: Names) -> Device:
    skew = 0 if rng.random() < 0.85 else rng.choice((-1, 1)) * rng.randint(500, 240_000)
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return Device(
        anonymous_id=rand_uuid(rng),
        user_agent=rng.choice(USER_AGENTS),
        locale=rng.choice(LOCALES),
        ip=f"{net}.{rng.randint(1, 254)}",
        skew_ms=skew,
    )


@dataclass
class World:
    persons: list[Person]
    crm_people: list[Person]
    names: Names


def make_people(rng: random.Random, scale: float) -> World:
    names = Names(rng)
    persons: list[Person] = []

    def person() -> Person:
        p = Person(f"P{len(persons) + 1:05d}", rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        p.engagement = rng.random() ** 1.6
        persons.append(p)
        return p

    def n(x: float) -> int:
        return max(1, round(x * scale))

    companies = [make_company(rng) for _ in range(n(260))]
    crm_people: list[Person] = []
    for _ in range(n(1470)):
        p = person()
        p.in_crm = True
        p.company, domain = rng.choice(companies) if rng.random() < 0.7 else ("", "")
        p.job_title = rng.choice(JOB_TITLES) if p.company else ""
        first, last = ascii_name(p.first), ascii_name(p.last)
        if domain:
            local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first, f"{first}_{last}"))
            p.work_email = names.email(local, domain)
            if rng.random() < 0.22:
                p.personal_email = names.email(
                    f"{first}.{last}{rng.randint(1, 99)}", rng.choice(PERSONAL_DOMAINS)
                )
        else:
            local = rng.choice((f"{first}.{last}", f"{first}{last}{rng.randint(1, 99)}"))
            p.personal_email = names.email(local, rng.choice(PERSONAL_DOMAINS))
        p.phone_kind = "uk" if rng.random() < 0.12 else "us"
        if rng.random() < 0.8:
            p.phone_e164 = names.phone(p.phone_kind)
        crm_people.append(p)

    # trap: several different people at one small company share the company's info@ address
    for p in crm_people[: n(6)]:
        p.company, p.job_title = "Bayside Rentals", rng.choice(("Owner", "Manager", "Guide", ""))
        p.work_email, p.personal_email = GENERIC_EMAIL, None
        p.phone_e164 = p.phone_e164 or names.phone("us")
        p.traps.append("generic_email")

    for p in crm_people:
        if rng.random() < 0.6 and p.work_email != GENERIC_EMAIL:
            p.user_id = names.user_id()
        p.subscribed = p.email is not None and rng.random() < 0.82

    # web accounts the CRM never heard of
    for _ in range(n(220)):
        p = person()
        p.personal_email = names.email(
            f"{ascii_name(p.first)}.{ascii_name(p.last)}", rng.choice(PERSONAL_DOMAINS)
        )
        p.user_id = names.user_id()
        p.new_account = rng.random() < 0.3
        p.subscribed = rng.random() < 0.55

    # newsletter-only subscribers
    for _ in range(n(520)):
        p = person()
        local = rng.choice(
            (
                f"{ascii_name(p.first)}.{ascii_name(p.last)}",
                f"{ascii_name(p.first)}{rng.randint(1, 999)}",
            )
        )
        p.personal_email = names.email(local, rng.choice(PERSONAL_DOMAINS))
        p.subscribed = True

    # anonymous visitors: nothing but a cookie
    for _ in range(n(2350)):
        p = person()
        p.first = p.last = ""

    for p in persons:
        if p.user_id:
            k = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        elif not p.in_crm and not p.subscribed:
            k = 1  # anonymous visitor
        else:
            k = 1 if rng.random() < 0.35 else 0  # browses now and then without an account
        p.devices = [new_device(rng, names) for _ in range(k)]

    # trap: household devices, one browser used by two account holders
    with_accounts = [p for p in persons if p.user_id]
    rng.shuffle(with_accounts)
    for i in range(n(15)):
        a, b = with_accounts[2 * i], with_accounts[2 * i + 1]
        shared = a.devices[0]
        b.devices.append(shared)
        a.traps.append("shared_device")
        b.traps.append("shared_device")
    return World(persons, crm_people, names)


# ----------------------------------------------------------------------------- CRM
CRM_COLUMNS = (
    "contact_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "job_title",
    "lifecycle_stage",
    "created_at",
    "updated_at",
)


def make_crm(rng: random.Random, world: World, scale: float) -> tuple[list[dict], list[dict]]:
    start = datetime(2023, 1, 9, tzinfo=UTC)
    span = (datetime(2026, 10, 15, tzinfo=UTC) - start).total_seconds()
    drafts: list[tuple[datetime, Person, str | None, str]] = []
    for p in world.crm_people:
        created = start + timedelta(seconds=rng.random() * span, microseconds=0)
        email = p.work_email or p.personal_email
        if rng.random() < 0.03 and p.phone_e164 and "generic_email" not in p.traps:
            email = None  # a phone-only contact, entered at a trade show
        drafts.append((created, p, email, "primary"))
    # trap: the same person entered twice
    dupes = [p for p in world.crm_people if "generic_email" not in p.traps]
    rng.shuffle(dupes)
    for i, p in enumerate(dupes[: max(1, round(30 * scale))]):
        created = start + timedelta(seconds=rng.random() * span)
        p.traps.append("duplicate_crm_contact")
        if i % 2 == 0:
            primary = p.work_email or p.personal_email
            drafts.append((created, p, primary, "same_email"))  # a re-import, other casing
        else:
            if not p.personal_email:
                p.personal_email = world.names.email(
                    f"{ascii_name(p.first)}{ascii_name(p.last)}", rng.choice(PERSONAL_DOMAINS)
                )
            if not p.phone_e164:
                p.phone_e164 = world.names.phone(p.phone_kind)
            drafts.append((created, p, p.personal_email, "other_email"))
    drafts.sort(key=lambda d: (d[0], d[1].person_id, d[3]))

    contacts: list[dict] = []
    contact_id = 50_120
    for created, p, email, _kind in drafts:
        contact_id += rng.randint(1, 37)
        created = created.replace(microsecond=rng.randint(0, 999) * 1000)
        updated = created + (CRM_EXPORT_AT - created) * rng.random() ** 3
        phone = format_phone(rng, p.phone_e164) if p.phone_e164 and rng.random() < 0.92 else ""
        row = {
            "contact_id": str(contact_id),
            "email": messy_email(rng, email) if email else "",
            "first_name": p.first if rng.random() > 0.01 else p.first.upper(),
            "last_name": p.last,
            "phone": phone,
            "company": p.company,
            "job_title": p.job_title,
            "lifecycle_stage": weighted(rng, LIFECYCLE),
            "created_at": iso_ms(created),
            "updated_at": iso_ms(updated),
        }
        contacts.append(row)
        p.seen_contacts[row["contact_id"]] = None
        p.saw_email(row["email"])
        if phone:
            p.seen_phones[p.phone_e164] = None
        row["_person"] = p

    # the re-export: ~200 contacts changed after the first export
    changed = rng.sample(contacts, min(len(contacts), max(1, round(200 * scale))))
    changed.sort(key=lambda r: int(r["contact_id"]))
    update_start = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    updates: list[dict] = []
    for old in changed:
        p = old["_person"]
        row = dict(old)
        r = rng.random()
        if r < 0.45:
            row["lifecycle_stage"] = NEXT_STAGE[old["lifecycle_stage"]]
        elif r < 0.65:
            row["job_title"] = rng.choice(JOB_TITLES[:-1])
        elif r < 0.8 and p.phone_e164:
            row["phone"] = format_phone(rng, p.phone_e164)
            p.seen_phones[p.phone_e164] = None
        elif r < 0.9 and row["email"]:
            row["email"] = row["email"].strip().lower()
        else:
            row["company"] = p.company or row["company"]
            row["lifecycle_stage"] = "customer"
        updated = update_start + timedelta(seconds=rng.randint(0, 36 * 3600 - 1))
        row["updated_at"] = iso_ms(updated.replace(microsecond=rng.randint(0, 999) * 1000))
        updates.append(row)
    updates.sort(key=lambda r: (r["updated_at"], r["contact_id"]))
    return contacts, updates


# ----------------------------------------------------------------------------- web events
def page_info(kind: str, rng: random.Random, product: dict | None = None) -> tuple[str, str, str]:
    """(path, name, title) of a page."""
    if kind == "home":
        return "/", "Home", "Northwind Outfitters | Outdoor gear for every season"
    if kind in COLLECTIONS:
        label = "Fall Sale" if kind == "sale" else kind.capitalize()
        return f"/collections/{kind}", "Collection", f"{label} | Northwind Outfitters"
    if kind == "product":
        assert product is not None
        return (
            f"/products/{product['slug']}",
            "Product",
            f"{product['name']} | Northwind Outfitters",
        )
    if kind.startswith("journal"):
        _, _, wanted = kind.partition("/")
        art = next((a for a in ARTICLES if a[0] == wanted), None) or rng.choice(ARTICLES)
        return f"/journal/{art[0]}", "Journal", f"{art[1]} | Northwind Journal"
    if kind == "search":
        return "/search", "Search", "Search | Northwind Outfitters"
    titles = {
        "cart": ("/cart", "Cart", "Your cart | Northwind Outfitters"),
        "checkout": ("/checkout", "Checkout", "Checkout | Northwind Outfitters"),
        "thanks": ("/checkout/thank-you", "Confirmation", "Thank you! | Northwind Outfitters"),
        "login": ("/account/login", "Login", "Sign in | Northwind Outfitters"),
        "register": ("/account/register", "Register", "Create account | Northwind Outfitters"),
    }
    return titles[kind]


def segment_event(
    *,
    kind: str,
    message_id: str,
    anonymous_id: str,
    user_id: str | None,
    at: datetime,
    device: Device,
    rng: random.Random,
    page: tuple[str, str, str, str, str],
    campaign: dict[str, str] | None,
    event: str | None = None,
    properties: dict[str, Any] | None = None,
    traits: dict[str, Any] | None = None,
    compact: bool = False,
) -> dict[str, Any]:
    """One event as a Segment S3/webhook export holds it.

    ``page`` is ``(path, name, title, search, referrer)``; timestamps follow
    Segment's rules: ``originalTimestamp`` is the device clock, ``sentAt`` the
    device clock at send, ``receivedAt`` the server clock, and ``timestamp`` is
    ``receivedAt - (sentAt - originalTimestamp)``. ``compact`` leaves out the
    library, locale, user agent and the page fields analytics.js copies into a
    page call's properties (about 600 instead of 1,050 bytes a line).
    """
    path, name, title, search, referrer = page
    original = at + timedelta(milliseconds=device.skew_ms)
    delay = timedelta(milliseconds=rng.randint(5, 1800))
    latency = timedelta(milliseconds=rng.randint(40, 420))
    sent = original + delay
    received = at + delay + latency
    timestamp = received - (sent - original)
    page_ctx = {
        "path": path,
        "referrer": referrer,
        "search": search,
        "title": title,
        "url": f"{SITE}{path}{search}",
    }
    context: dict[str, Any] = {}
    if campaign:
        context["campaign"] = campaign
    context["ip"] = device.ip
    if not compact:
        context["library"] = {"name": "analytics.js", "version": "next-1.72.0"}
        context["locale"] = device.locale
    context["page"] = page_ctx
    if not compact:
        context["userAgent"] = device.user_agent
    out: dict[str, Any] = {
        "anonymousId": anonymous_id,
        "context": context,
    }
    if kind == "track":
        out["event"] = event
    if not compact:
        out["integrations"] = {}
    out["messageId"] = message_id
    if kind == "page":
        out["name"] = name
        out["properties"] = {} if compact else dict(page_ctx)
    elif kind == "track":
        out["properties"] = properties or {}
    out["originalTimestamp"] = iso_ms(original)
    out["receivedAt"] = iso_ms(received)
    out["sentAt"] = iso_ms(sent)
    out["timestamp"] = iso_ms(timestamp)
    if kind == "identify":
        out["traits"] = traits or {}
    out["type"] = kind
    out["userId"] = user_id
    return out


@dataclass
class SessionSpec:
    start: datetime
    person: Person
    device: Device
    source: str
    mail_link: tuple[str, str, str] | None = None  # email clicks: (campaign slug, kind, content)
    order_seq: int = 0


def session_entry(
    rng: random.Random, spec: SessionSpec
) -> tuple[str, dict | None, dict[str, str] | None, str, str]:
    """(landing kind, landing product, context.campaign, url search, referrer)."""
    product = None
    if spec.source == "email":
        assert spec.mail_link is not None
        slug_, kind, content = spec.mail_link
        campaign = {"name": slug_, "source": "newsletter", "medium": "email", "content": content}
        _, search, product = email_link(rng, slug_, kind, content)
        return kind, product, campaign, search, ""
    if spec.source in PAID:
        src, med, name, content, term, landing = rng.choice(PAID[spec.source])
        if landing == "product":
            product = rng.choice(CATALOG[:5] if "jacket" in term or "fall" in name else CATALOG)
        kind = landing if landing != "/" else "home"
        click_id = ("gclid=" if src == "google" else "fbclid=") + rand_token(rng, 24)
        if src == "google" and rng.random() < 0.15:
            # auto-tagging only: no utm parameters, so no context.campaign
            return kind, product, None, f"?{click_id}", "https://www.google.com/"
        campaign = {"name": name, "source": src, "medium": med, "content": content}
        if term:
            campaign["term"] = term
        search = f"?utm_source={src}&utm_medium={med}&utm_campaign={name}&utm_content={content}"
        if term:
            search += "&utm_term=" + term.replace(" ", "+")
        search += "&" + click_id
        referrer = {
            "google": "https://www.google.com/",
            "facebook": "https://l.facebook.com/",
            "instagram": "https://l.instagram.com/",
        }[src]
        return kind, product, campaign, search, referrer
    if spec.source == "organic":
        kind = rng.choice(("home", "product", "jackets", "boots", "journal", "journal"))
        product = rng.choice(CATALOG) if kind == "product" else None
        return kind, product, None, "", rng.choice(ORGANIC_REFERRERS)
    if spec.source == "referral":
        kind = rng.choice(("product", "journal", "jackets"))
        product = rng.choice(CATALOG) if kind == "product" else None
        return kind, product, None, "", rng.choice(REFERRAL_REFERRERS)
    kind = rng.choice(("home", "home", "home", "product", "sale"))
    product = rng.choice(CATALOG) if kind == "product" else None
    return kind, product, None, "", ""


EMAIL_LINKS = {
    # campaign slug: landing pages its links point at
    "trail_notes_oct_2026": ("journal/how-to-layer-for-fall-hikes", "jackets"),
    "ridgeline_launch": ("product:0", "jackets"),
    "fall_layers_sale_2026": ("sale", "layers", "jackets"),
    "flash_boots_25": ("boots", "product:5", "product:6"),
    "trail_notes_snow_2026": ("journal/first-overnight-checklist", "camp"),
    "fall_layers_last_call": ("sale", "layers"),
}


def email_link(
    rng: random.Random, slug_: str, kind: str, content: str
) -> tuple[str, str, dict[str, Any] | None]:
    """(path, query string, product) of a link in a campaign email."""
    product = None
    if kind.startswith("product:"):
        product = CATALOG[int(kind.partition(":")[2])]
        kind = "product"
    path = page_info(kind, rng, product)[0]
    search = f"?utm_source=newsletter&utm_medium=email&utm_campaign={slug_}&utm_content={content}"
    return path, search, product


class WebSim:
    """Plays sessions in time order, keeping each browser's persisted userId."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.device_user: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        self.order_no = 10_400

    def run(self, spec: SessionSpec) -> None:
        rng = self.rng
        p, dev = spec.person, spec.device
        anon = dev.anonymous_id
        t = spec.start
        kind, product, campaign, search, referrer = session_entry(rng, spec)
        kind = "product" if kind.startswith("product:") else kind
        prev_url = referrer
        cart: list[dict[str, Any]] = []
        can_buy = p.user_id is not None or p.email is not None
        intent = can_buy and rng.random() < 0.07 + 0.4 * p.engagement
        if spec.source == "email" and can_buy and rng.random() < 0.1:
            intent = True
        Page = tuple[str, str, str, str, str]

        def emit(
            ev_kind: str,
            page: Page,
            *,
            event: str | None = None,
            props: dict | None = None,
            traits: dict | None = None,
        ) -> None:
            nonlocal t
            self.events.append(
                segment_event(
                    kind=ev_kind,
                    message_id=rand_uuid(rng),
                    anonymous_id=anon,
                    user_id=self.device_user.get(anon),
                    at=t,
                    device=dev,
                    rng=rng,
                    page=page,
                    campaign=campaign if page[3] else None,  # utm only on the landing URL
                    event=event,
                    properties=props,
                    traits=traits,
                )
            )
            p.seen_anons[anon] = None
            t += timedelta(milliseconds=rng.randint(300, 4000))

        def view(page_kind: str, prod: dict | None = None, *, first: bool = False) -> Page:
            nonlocal t, prev_url
            if not first:
                t += timedelta(seconds=rng.randint(6, 150))
            path, name, title = page_info(page_kind, rng, prod)
            page = (path, name, title, search if first else "", prev_url)
            emit("page", page)
            if page_kind == "product" and prod is not None:
                emit("track", page, event="Product Viewed", props=product_props(prod))
            prev_url = f"{SITE}{path}{page[3]}"
            return page

        def identify(page: Page, *, guest: bool = False) -> None:
            email = p.email or ""
            typed = email if rng.random() < 0.9 else messy_email(rng, email)
            traits: dict[str, Any] = {"email": typed}
            if p.first:
                traits["first_name"] = p.first
                traits["last_name"] = p.last
            if not guest:
                assert p.user_id is not None
                self.device_user[anon] = p.user_id
                p.seen_users[p.user_id] = None
            emit("identify", page, traits=traits)
            p.saw_email(typed)

        page = view(kind, product, first=True)
        if spec.source == "email" and product is not None and intent:
            cart.append(product)
        if p.user_id and self.device_user.get(anon) == p.user_id and rng.random() < 0.5:
            identify(page)  # the app re-identifies a logged-in user on load
        if p.new_account and not p.seen_users:
            page = view("register")
            emit("track", page, event="Signed Up", props={"method": "email"})
            identify(page)
        elif (
            p.user_id
            and self.device_user.get(anon) != p.user_id
            and rng.random() < 0.25 + 0.4 * p.engagement
        ):
            page = view("login")
            identify(page)

        for _ in range(min(12, 1 + int(rng.expovariate(0.45)))):
            r = rng.random()
            if r < 0.5:
                prod = rng.choice(CATALOG)
                page = view("product", prod)
                if intent and rng.random() < 0.5:
                    cart.append(prod)
                    emit(
                        "track",
                        page,
                        event="Product Added",
                        props={**product_props(prod), "quantity": 1},
                    )
            elif r < 0.78:
                page = view(rng.choice(COLLECTIONS))
            elif r < 0.9:
                page = view("journal")
            else:
                page = view("search")
                emit(
                    "track",
                    page,
                    event="Products Searched",
                    props={"query": rng.choice(("rain jacket", "boots", "tent", "socks"))},
                )
        if not (intent and cart):
            return
        page = view("cart")
        subtotal = round(sum(c["price"] for c in cart), 2)
        emit(
            "track",
            page,
            event="Checkout Started",
            props={"value": subtotal, "currency": "USD", "products": len(cart)},
        )
        if rng.random() < 0.3:
            return  # abandoned cart
        if p.user_id and self.device_user.get(anon) != p.user_id:
            identify(view("login"))
            page = view("checkout")
        else:
            page = view("checkout")
            if not p.user_id:
                identify(page, guest=True)  # guest checkout: email, no userId
        t += timedelta(seconds=rng.randint(30, 300))
        page = view("thanks")
        self.order_no += rng.randint(1, 9)
        discount = round(subtotal * 0.25, 2) if spec.source == "email" else 0.0
        revenue = round(subtotal - discount, 2)
        shipping = 0.0 if revenue >= 99 else 8.95
        tax = round(revenue * 0.0825, 2)
        emit(
            "track",
            page,
            event="Order Completed",
            props={
                "order_id": f"NWO-{self.order_no}",
                "total": round(revenue + shipping + tax, 2),
                "revenue": revenue,
                "shipping": shipping,
                "tax": tax,
                "discount": discount,
                "currency": "USD",
                "products": [
                    {"product_id": c["product_id"], "sku": c["sku"], "price": c["price"]}
                    for c in cart
                ],
            },
        )
        p.orders += 1


def product_props(prod: dict[str, Any]) -> dict[str, Any]:
    return {
        "product_id": prod["product_id"],
        "sku": prod["sku"],
        "name": prod["name"],
        "category": prod["category"],
        "price": prod["price"],
        "currency": "USD",
    }


def session_start(rng: random.Random) -> datetime:
    """A time in the web window, busier in the evening (US time), ending before 23:00 UTC."""
    day = rng.randrange(WEB_DAYS)
    hour = rng.choices(
        range(23),
        weights=(6, 5, 4, 3, 2, 2, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 9, 9, 8, 7),
    )[0]
    return WEB_START + timedelta(
        days=day, hours=hour, seconds=rng.randrange(3600), microseconds=rng.randrange(10**6)
    )


def organic_source(rng: random.Random) -> str:
    return rng.choices(
        ("direct", "organic", "google_cpc", "facebook", "referral"),
        weights=(28, 27, 20, 16, 9),
    )[0]


# ----------------------------------------------------------------------------- email
def make_email_activity(
    rng: random.Random, world: World
) -> tuple[list[dict[str, str]], list[SessionSpec]]:
    members = [p for p in world.persons if p.subscribed and p.email]
    rng.shuffle(members)
    member_email = {
        p.person_id: (p.email if rng.random() > 0.04 else messy_email(rng, p.email or ""))
        for p in members
    }
    # the info@ address is one Mailchimp member however many contacts share it
    generic = [p for p in members if p.email == GENERIC_EMAIL]
    for p in generic[1:]:
        members.remove(p)
    gone: dict[str, None] = {}
    rows: list[tuple[datetime, dict[str, str]]] = []
    sessions: list[SessionSpec] = []
    web_end = WEB_START + timedelta(days=WEB_DAYS, hours=-2)
    for cid, name, slug_, when, share in CAMPAIGNS:
        send = datetime.fromisoformat(when).replace(tzinfo=UTC)
        for p in members:
            if p.person_id in gone or rng.random() > share:
                continue
            email = member_email[p.person_id]
            sent = send + timedelta(seconds=rng.randint(0, 900))

            def row(
                action: str, at: datetime, url: str = "", email: str = email, c: tuple = (cid, name)
            ) -> None:
                rows.append(
                    (
                        at,
                        {
                            "campaign_id": c[0],
                            "campaign_name": c[1],
                            "email": email,
                            "action": action,
                            "url": url,
                            "timestamp": iso_offset(at),
                        },
                    )
                )

            row("sent", sent)
            p.saw_email(email)
            if rng.random() < 0.012:
                row("bounce", sent + timedelta(seconds=rng.randint(2, 120)))
                if rng.random() < 0.5:
                    gone[p.person_id] = None  # hard bounce: cleaned from the list
                continue
            if rng.random() < 0.06 + 0.62 * p.engagement:
                opened = sent + timedelta(minutes=rng.expovariate(1 / 240))
                row("open", opened)
                for _ in range(int(rng.expovariate(1.0))):
                    row("open", opened + timedelta(minutes=rng.expovariate(1 / 600)))
                if rng.random() < 0.08 + 0.3 * p.engagement:
                    clicked = opened + timedelta(seconds=rng.randint(4, 600))
                    kind = rng.choice(EMAIL_LINKS[slug_])
                    content = rng.choice(("hero_button", "product_grid", "footer_link"))
                    path, search, _ = email_link(rng, slug_, kind, content)
                    row("click", clicked, f"{SITE}{path}{search}")
                    if WEB_START <= clicked < web_end and rng.random() < 0.9:
                        if not p.devices:
                            p.devices.append(new_device(rng, world.names))
                        sessions.append(
                            SessionSpec(
                                clicked + timedelta(seconds=rng.randint(1, 20)),
                                p,
                                rng.choice(p.devices),
                                "email",
                                (slug_, kind, content),
                            )
                        )
                if rng.random() < 0.004:
                    row("unsubscribe", opened + timedelta(seconds=rng.randint(5, 60)))
                    gone[p.person_id] = None
    rows.sort(key=lambda r: (r[0], r[1]["campaign_id"], r[1]["email"], r[1]["action"]))
    out = []
    ids: dict[str, None] = {}
    for _, r in rows:
        while True:
            aid = rand_hex(rng, 16)
            if aid not in ids:
                ids[aid] = None
                break
        out.append({"activity_id": aid, **r})
    return out, sessions


# ----------------------------------------------------------------------------- NPS
def make_nps(rng: random.Random, world: World, scale: float) -> list[dict[str, str]]:
    pool = [p for p in world.persons if p.email and (p.orders or p.in_crm or p.user_id)]
    weights = [1 + 6 * min(p.orders, 2) + 2 * p.engagement for p in pool]
    total = max(1, round(600 * scale))
    chosen: list[Person] = []
    picked: dict[str, None] = {}
    while len(chosen) < total - max(1, round(20 * scale)):
        p = rng.choices(pool, weights=weights)[0]
        if p.person_id not in picked:
            picked[p.person_id] = None
            chosen.append(p)
    chosen.extend(rng.sample(chosen, total - len(chosen)))  # a few answer twice
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows = []
    ids: dict[str, None] = {}
    for p in chosen:
        band = rng.choices(("promoter", "passive", "detractor"), weights=(52, 30, 18))[0]
        score = {
            "promoter": rng.choice((9, 10, 10)),
            "passive": rng.choice((7, 8)),
            "detractor": rng.choice((0, 2, 3, 4, 5, 5, 6, 6, 6)),
        }[band]
        comment = rng.choice(NPS_COMMENTS[band]) if rng.random() < 0.62 else ""
        email = p.email or ""
        typed = email if rng.random() < 0.85 else messy_email(rng, email)
        while True:
            rid = rand_token(rng, 20)
            if rid not in ids:
                ids[rid] = None
                break
        at = start + timedelta(seconds=rng.randrange(31 * 86400))
        rows.append(
            (at, {"response_id": rid, "email": typed, "score": str(score), "comment": comment})
        )
        p.saw_email(typed)
    rows.sort(key=lambda r: (r[0], r[1]["response_id"]))
    # quoted CSV fields spanning physical lines
    for i, (score, text) in enumerate(NPS_MULTILINE):
        rows[(2 * i + 1) * len(rows) // 7][1].update(score=score, comment=text)
    return [{**r, "submitted_at": iso_offset(at)} for at, r in rows]


# ----------------------------------------------------------------------------- writing
def csv_bytes(columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def make_web(
    rng: random.Random, world: World, email_sessions: list[SessionSpec]
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Events per received day as NDJSON lines, plus the defects put in them."""
    specs = list(email_sessions)
    for p in world.persons:
        if not p.devices:
            continue
        if p.user_id:
            k = 1 + int(rng.expovariate(0.5 + 0.25 * (1 - p.engagement)))
        elif p.in_crm or p.subscribed:
            k = 1 + int(rng.expovariate(1.2))
        else:
            k = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        for _ in range(min(k, 9)):
            specs.append(SessionSpec(session_start(rng), p, rng.choice(p.devices), ""))
    specs.sort(key=lambda s: (s.start, s.person.person_id))
    sim = WebSim(rng)
    for spec in specs:
        if not spec.source:
            spec.source = organic_source(rng)
        sim.run(spec)
    events = sim.events
    events.sort(key=lambda e: (e["receivedAt"], e["messageId"]))

    days: dict[str, list[str]] = {}
    for ev in events:
        days.setdefault(ev["receivedAt"][:10], []).append(dumps(ev))

    # defect 1: at-least-once delivery, ~0.3% of events delivered twice
    names = sorted(days)
    n_dupes = max(1, round(len(events) * 0.003))
    flat = [(d, i) for d in names for i in range(len(days[d]))]
    dupes = sorted(rng.sample(flat, n_dupes))
    # defect 2: one line cut short mid-write, in the middle of one day's file
    bad_day = names[min(6, len(names) - 1)]
    taken = {(d, i) for d, i in dupes}
    per_browser: dict[str, int] = {}
    for ev in events:
        per_browser[ev["anonymousId"]] = per_browser.get(ev["anonymousId"], 0) + 1

    def losable(line: str) -> bool:
        # a page call whose browser shows up in other events, so no identifier is lost with it
        ev = json.loads(line)
        return ev["type"] == "page" and per_browser[ev["anonymousId"]] > 1

    bad_index = len(days[bad_day]) // 2
    while (bad_day, bad_index) in taken or not losable(days[bad_day][bad_index]):
        bad_index += 1
    bad_line = days[bad_day][bad_index]
    days[bad_day][bad_index] = bad_line[: int(len(bad_line) * 0.61)]

    inserts: dict[str, list[tuple[int, str]]] = {d: [] for d in names}
    for d, i in dupes:
        line = days[d][i]
        j = names.index(d)
        if j + 1 < len(names) and rng.random() < 0.2:
            inserts[names[j + 1]].append((rng.randint(0, 40), line))  # retried after midnight
        else:
            inserts[d].append((min(len(days[d]), i + 1 + rng.randint(0, 300)), line))
    for d in names:
        for pos, line in sorted(inserts[d], key=lambda x: -x[0]):
            days[d].insert(pos, line)
    malformed_line = days[bad_day].index(bad_line[: int(len(bad_line) * 0.61)]) + 1
    defects = {
        "duplicate_message_ids": len(dupes),
        "malformed": {"day": bad_day, "line": malformed_line},
        "lost_message_id": json.loads(bad_line)["messageId"],
    }
    return days, defects


def make_ground_truth(world: World) -> list[dict[str, str]]:
    rows = []
    for p in world.persons:
        ids = (p.seen_contacts, p.seen_emails, p.seen_phones, p.seen_users, p.seen_anons)
        if not any(ids):
            continue
        if "shared_device" in p.traps and not any(
            len([q for q in world.persons if a in q.seen_anons]) > 1 for a in p.seen_anons
        ):
            p.traps.remove("shared_device")  # the shared browser was never used by both
        rows.append(
            {
                "person_id": p.person_id,
                "first_name": p.first,
                "last_name": p.last,
                "crm_contact_ids": "|".join(p.seen_contacts),
                "emails": "|".join(p.seen_emails),
                "phones": "|".join(p.seen_phones),
                "user_ids": "|".join(p.seen_users),
                "anonymous_ids": "|".join(p.seen_anons),
                "traps": "|".join(dict.fromkeys(p.traps)),
            }
        )
    return rows


def generate(out: Path, *, seed: int = SEED, scale: float = 1.0) -> dict[str, Any]:
    """Write the whole data set under ``out``; returns the manifest."""
    rng = random.Random(seed)
    world = make_people(random.Random(rng.getrandbits(64)), scale)
    contacts, updates = make_crm(random.Random(rng.getrandbits(64)), world, scale)
    activity, email_sessions = make_email_activity(random.Random(rng.getrandbits(64)), world)
    days, defects = make_web(random.Random(rng.getrandbits(64)), world, email_sessions)
    nps = make_nps(random.Random(rng.getrandbits(64)), world, scale)
    truth = make_ground_truth(world)

    files: dict[str, bytes] = {}
    files["crm/contacts.csv"] = csv_bytes(CRM_COLUMNS, contacts)
    files[f"crm/contacts_update_{CRM_UPDATE_DAY}.csv"] = csv_bytes(CRM_COLUMNS, updates)
    for day, lines in sorted(days.items()):
        files[f"web/events/{day}/events.jsonl.gz"] = gzip_bytes(
            ("\n".join(lines) + "\n").encode("utf-8")
        )
    files["email/activity.csv"] = csv_bytes(
        ("activity_id", "campaign_id", "campaign_name", "email", "action", "url", "timestamp"),
        activity,
    )
    files["survey/nps.csv"] = csv_bytes(
        ("response_id", "email", "score", "comment", "submitted_at"), nps
    )
    files["ground_truth.csv"] = csv_bytes(
        (
            "person_id",
            "first_name",
            "last_name",
            "crm_contact_ids",
            "emails",
            "phones",
            "user_ids",
            "anonymous_ids",
            "traps",
        ),
        truth,
    )

    event_lines = sum(len(v) for v in days.values())
    distinct_events = event_lines - defects["duplicate_message_ids"] - 1
    manifest: dict[str, Any] = {
        "dataset": "Northwind Outfitters quickstart",
        "generator": "examples/quickstart/generate.py",
        "seed": seed,
        "scale": scale,
        "definitions": {
            "lines": "records in the stream's files: NDJSON lines, or CSV rows without the "
            "header (a quoted CSV field may span physical lines)",
            "distinct_keys": "distinct primary keys among the valid records = rows in the raw "
            "table after a merge sync",
            "bad_lines": "records that cannot be parsed = rows in _cintel_dead_letter",
            "duplicate_lines": "valid records whose primary key already appeared earlier",
        },
        "streams": {
            "crm.contacts": {
                "table": "raw_crm__contacts",
                "files": ["crm/contacts.csv", f"crm/contacts_update_{CRM_UPDATE_DAY}.csv"],
                "primary_key": ["contact_id"],
                "lines": len(contacts) + len(updates),
                "distinct_keys": len(contacts),
                "bad_lines": 0,
                "duplicate_lines": len(updates),
            },
            "web.events": {
                "table": "raw_web__events",
                "files": [f"web/events/{d}/events.jsonl.gz" for d in sorted(days)],
                "primary_key": ["messageId"],
                "lines": event_lines,
                "distinct_keys": distinct_events,
                "bad_lines": 1,
                "duplicate_lines": defects["duplicate_message_ids"],
            },
            "email.activity": {
                "table": "raw_email__activity",
                "files": ["email/activity.csv"],
                "primary_key": ["activity_id"],
                "lines": len(activity),
                "distinct_keys": len(activity),
                "bad_lines": 0,
                "duplicate_lines": 0,
            },
            "survey.nps": {
                "table": "raw_survey__nps",
                "files": ["survey/nps.csv"],
                "primary_key": ["response_id"],
                "lines": len(nps),
                "distinct_keys": len(nps),
                "bad_lines": 0,
                "duplicate_lines": 0,
            },
        },
        "web": {
            "days": len(days),
            "duplicate_message_ids": defects["duplicate_message_ids"],
            "malformed_lines": [
                {
                    "file": f"web/events/{defects['malformed']['day']}/events.jsonl.gz",
                    "line": defects["malformed"]["line"],
                    "lost_message_id": defects["lost_message_id"],
                }
            ],
            "event_types": count_by(days, "type"),
            "orders": sum(p.orders for p in world.persons),
        },
        "ground_truth": {
            "persons": len(truth),
            "generic_email": GENERIC_EMAIL,
            "persons_sharing_generic_email": sum(
                1 for r in truth if GENERIC_EMAIL in r["emails"].split("|")
            ),
            "shared_anonymous_ids": shared_anonymous_ids(truth),
            "persons_with_duplicate_crm_contacts": sum(
                1 for r in truth if "|" in r["crm_contact_ids"]
            ),
        },
        "files": {},
    }
    for name in sorted(files):
        data = files[name]
        raw = gzip.decompress(data) if name.endswith(".gz") else data
        manifest["files"][name] = {
            "bytes": len(data),
            "physical_lines": raw.count(b"\n"),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    files["MANIFEST.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()

    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return manifest


def count_by(days: dict[str, list[str]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    seen: dict[str, None] = {}
    for d in sorted(days):
        for line in days[d]:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev["messageId"] in seen:
                continue
            seen[ev["messageId"]] = None
            counts[ev[key]] = counts.get(ev[key], 0) + 1
    return dict(sorted(counts.items()))


def shared_anonymous_ids(truth: list[dict[str, str]]) -> int:
    owners: dict[str, int] = {}
    for r in truth:
        for a in filter(None, r["anonymous_ids"].split("|")):
            owners[a] = owners.get(a, 0) + 1
    return sum(1 for n in owners.values() if n > 1)


# ----------------------------------------------------------------------------- benchmark
def synthetic_events(n: int, *, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """``n`` Segment events of the quickstart's shape (compact, ~600 bytes, unique messageIds).

    No people behind them: short anonymous browsing sessions, some with a
    userId, page views with ``Product Viewed`` tracks and the odd order. Used
    by ``benchmarks/sync_throughput.py``.
    """
    rng = random.Random(seed)
    names = Names(rng)
    t = WEB_START
    emitted = 0
    order_no = 0

    def event(kind: str, page: tuple, **kw: Any) -> dict[str, Any]:
        return segment_event(
            kind=kind,
            message_id=rand_uuid(rng),
            anonymous_id=dev.anonymous_id,
            user_id=user,
            at=t,
            device=dev,
            rng=rng,
            page=page,
            campaign=campaign if page[3] else None,
            compact=True,
            **kw,
        )

    while True:
        dev = new_device(rng, names)
        user = rand_hex(rng, 13) if rng.random() < 0.3 else None
        spec = SessionSpec(t, Person("", "", ""), dev, organic_source(rng))
        kind, prod, campaign, search, referrer = session_entry(rng, spec)
        page: tuple = (*page_info(kind, rng, prod), search, referrer)
        for i in range(1 + int(rng.expovariate(0.4))):
            if i:
                kind = rng.choice(("product", "product", *COLLECTIONS, "journal"))
                prod = rng.choice(CATALOG) if kind == "product" else None
                page = (*page_info(kind, rng, prod), "", f"{SITE}{page[0]}{page[3]}")
            t += timedelta(milliseconds=rng.randint(50, 3000))
            batch = [event("page", page)]
            if prod is not None:
                batch.append(
                    event("track", page, event="Product Viewed", properties=product_props(prod))
                )
                if rng.random() < 0.04:
                    order_no += 1
                    props = {
                        "order_id": f"NWO-B{order_no}",
                        "revenue": prod["price"],
                        "currency": "USD",
                        "products": [{"product_id": prod["product_id"], "price": prod["price"]}],
                    }
                    batch.append(event("track", page, event="Order Completed", properties=props))
            for ev in batch:
                if emitted >= n:
                    return
                emitted += 1
                yield ev


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "data", help="output directory")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of people")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    manifest = generate(args.out, seed=args.seed, scale=args.scale)
    total = sum(f["bytes"] for f in manifest["files"].values())
    print(f"wrote {len(manifest['files']) + 1} files, {total / 1e6:.2f} MB, to {args.out}")
    for key, s in manifest["streams"].items():
        print(
            f"  {key:15} {s['table']:20} lines={s['lines']:>6} "
            f"distinct_keys={s['distinct_keys']:>6} bad_lines={s['bad_lines']}"
        )


if __name__ == "__main__":
    main()
