"""Seeded synthetic people seen through four sources, with ground truth.

:func:`generate` turns a :class:`Scenario` into the canonical tables identity
resolution reads (``source_profiles``, ``identity_links``, ``touchpoints``,
``conversions``, ``survey_responses``, each exactly :func:`cintel.model.arrow_schema`)
and a ``truth`` table naming the person behind every record, so a resolver's
output can be scored with :func:`cintel.identity.evaluate.pairwise_scores`::

    syn = generate(Scenario(n_people=20_000, difficulty="hard", seed=1))
    syn.tables["source_profiles"]           # pa.Table, arrow_schema("source_profiles")
    syn.truth                               # table, _cintel_source, _cintel_stream,
                                            # _cintel_record_key, person_id, entity_id

The sources
===========

``crm`` / ``contacts`` (source_profiles)
    One contact per CRM person; identifiers ``crm_id`` (the contact id), ``email``,
    ``phone`` (E.164) and, after an email change, the previous address too (the CRM
    keeps it, like HubSpot's additional emails). Names, company, title, street,
    postal code, city, country, birth date (half of them), consent, traits.
``crm`` / ``deals`` (conversions)
    ``Deal Won`` for one CRM contact in ten; identifier ``crm_id``.
``web`` / ``events`` (touchpoints, conversions, identity_links)
    Segment-like: each web person browses on one or two devices (an
    ``anonymous_id`` each); ``page``/``track`` touchpoints carry the
    ``anonymous_id`` and, from the login on, the ``user_id``; ``Order Completed``
    conversions likewise. A login is an identify call: two identity_links rows
    with the call's record key, ``anonymous_id -> user_id`` and ``user_id -> email``
    (kind ``identify``). A device reached through a tracked newsletter click adds
    ``anonymous_id -> email`` (kind ``click``, the page's record key).
``web`` / ``users`` (source_profiles)
    One profile per person who logged in: ``user_id`` and current ``email``.
``email`` / ``members`` (source_profiles) and ``email`` / ``activities`` (touchpoints)
    One newsletter member per subscriber (identifier ``email``), opens and clicks
    with the newsletter's utm fields (identifier ``email``).
``survey`` / ``respondents`` (source_profiles) and ``survey`` / ``responses``
    One respondent profile and one or two responses (NPS 0-10, CSAT, CES, answers)
    per respondent, identifier ``email``.

Values are what the unify step sees **after** normalization: emails lower-case and
trimmed, phones E.164, countries ISO alpha-2. Casing and whitespace noise is
therefore absent on purpose (normalization removes it; a duplicate CRM contact
"with the same email in other casing" shows up as the same email). The noise
here is what normalization cannot fix: typos, changed addresses, shared
addresses and devices, missing fields, nicknames.

Profile rows never produce ``profile`` identity_links: a resolver links the
identifiers listed on one row (``identifiers``) by itself.

Ground truth decisions
======================

* Every row of every table carries identifiers, and ``truth`` has exactly one
  row per distinct ``(table, _cintel_source, _cintel_stream, _cintel_record_key)``.
  The two identity_links rows of one identify call share the call's record key
  (as :func:`cintel.mapping.map_records` does) and its truth row.
* Shared device: in a household pair (A, B) both log in on A's first device, A
  first. Its anonymous events before A's login belong to **A, the device's
  owner** (the first person to log in on it); events carrying a ``user_id``
  belong to that user (after B's login the device is B's); each identify call
  belongs to the person logging in.
  The ``anonymous_id`` thus co-occurs with two ``user_id`` values.
* ``person_id`` is an ``int64`` in ``0 .. n_people - 1``; every person appears in
  at least one source.
* A typo'd email belongs to the person who meant to type the real one.
* A role address (``info@…``) shared by 3-8 CRM contacts belongs to nobody: each
  contact row belongs to its own person.
* ``entity_id`` is what the records' evidence can name, for scoring a resolver
  fairly: the ``person_id``, except for the records of a device no one ever
  identified on (no login, no tracked email click). Those carry nothing but the
  device's ``anonymous_id``, so no method, deterministic or probabilistic, can
  tell whose they are; there each device is an entity of its own
  (``n_people + device index``). Score against both: ``person_id`` says how much
  of each person was found, ``entity_id`` how much of what could be found.

Sizes
=====

With the defaults, a person has about 1.7-1.8 source profiles
(:meth:`Scenario.profiles_per_person`). ``Scenario.for_profiles(1_000_000, "hard")``
(591,716 people) gives 999,607 source profiles, 1,720,241 touchpoints, 66,886
conversions, 147,432 survey responses and 609,210 identity_links rows: 5.26M
identifier occurrences (identifiers lists plus both sides of each link), 5.26 per
source profile (5.5 on medium, 5.6 on easy). It generates in ~6.5 s with a peak RSS
of ~1.4 GB (the tables themselves are ~750 MB) on two cores.

Rows come in generation order (grouped by source and stream), not sorted by time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cintel.model import arrow_schema

__all__ = ["DIFFICULTY_DEFAULTS", "Rates", "Scenario", "Synthetic", "generate"]

Difficulty = Literal["easy", "medium", "hard"]

#: The tables :func:`generate` returns, in this order.
TABLES = ("source_profiles", "identity_links", "touchpoints", "conversions", "survey_responses")


@dataclass(frozen=True)
class Rates:
    """The concrete knob values of a :class:`Scenario` (see its docstring)."""

    p_crm: float
    p_web: float
    p_email: float
    p_survey: float
    p_web_login: float
    p_second_device: float
    p_email_click: float
    p_phone: float
    p_duplicate_crm: float
    p_email_change: float
    p_typo: float
    p_missing: float
    p_shared_device: float
    p_generic_email: float
    p_nickname: float
    p_name_typo: float
    p_order: float
    events_per_web_person: float
    email_events_per_member: float


_COMMON = {
    "p_crm": 0.5,
    "p_web": 0.6,
    "p_email": 0.5,
    "p_survey": 0.2,
    "p_order": 0.06,
    "events_per_web_person": 3.0,
    "email_events_per_member": 2.0,
}

#: Default knob values per difficulty (coverage and volume knobs are the same for all).
DIFFICULTY_DEFAULTS: dict[str, Rates] = {
    "easy": Rates(
        **_COMMON,
        p_web_login=0.9,
        p_second_device=0.1,
        p_email_click=0.5,
        p_phone=0.8,
        p_duplicate_crm=0.02,
        p_email_change=0.01,
        p_typo=0.005,
        p_missing=0.03,
        p_shared_device=0.004,
        p_generic_email=0.003,
        p_nickname=0.02,
        p_name_typo=0.005,
    ),
    "medium": Rates(
        **_COMMON,
        p_web_login=0.75,
        p_second_device=0.25,
        p_email_click=0.3,
        p_phone=0.7,
        p_duplicate_crm=0.05,
        p_email_change=0.04,
        p_typo=0.03,
        p_missing=0.1,
        p_shared_device=0.02,
        p_generic_email=0.01,
        p_nickname=0.08,
        p_name_typo=0.02,
    ),
    "hard": Rates(
        **_COMMON,
        p_web_login=0.6,
        p_second_device=0.4,
        p_email_click=0.15,
        p_phone=0.55,
        p_duplicate_crm=0.1,
        p_email_change=0.1,
        p_typo=0.08,
        p_missing=0.25,
        p_shared_device=0.06,
        p_generic_email=0.04,
        p_nickname=0.15,
        p_name_typo=0.05,
    ),
}


@dataclass(frozen=True)
class Scenario:
    """What to generate. Knobs left ``None`` take :data:`DIFFICULTY_DEFAULTS`.

    Coverage (share of people using a source; a person drawn into none becomes a
    newsletter member, so every person exists somewhere):

    * ``p_crm``: has a CRM contact. ``p_web``: visits the website.
      ``p_email``: is a newsletter member. ``p_survey``: answers a survey.

    Web behaviour:

    * ``p_web_login``: a web person has an account and logs in on their first
      device; each further device is logged in on with this probability too
      (a device never logged in on, and not reached through a tracked email click,
      is an island: nothing in the data names its owner; see ``entity_id``).
    * ``p_second_device``: a web person uses a second device.
    * ``p_email_click``: a newsletter member's first device arrives through a tracked
      email click (an ``anonymous_id -> email`` link of kind ``click``).
    * ``p_shared_device``: share of logged-in web people living in a two-person
      household whose members both log in on one device (same address; same last
      name six times in ten).
    * ``events_per_web_person`` (mean page/track/order events per web person),
      ``p_order`` (share of web events after the first that are orders),
      ``email_events_per_member`` (mean opens and clicks per newsletter member).

    Identifier noise (what normalization cannot fix):

    * ``p_phone``: a CRM contact has a phone number (before ``p_missing``).
    * ``p_duplicate_crm``: a CRM person has a second contact: half with the same
      email, half with another personal email and the same phone.
    * ``p_email_change``: a person changed email (only people with a CRM contact or
      a web login, so a link exists): the newsletter and the first identify call
      have the old address, CRM, survey and later identify calls the new one; the
      CRM contact lists both, and a second identify call links the new one.
    * ``p_typo``: a person with a hand-typed email (CRM contact or survey) has a
      real typo in one of those sources: a different identifier, linkable only on
      name + birth date / postal code.
    * ``p_missing``: each optional profile field is missing (the CRM email with
      half this probability).
    * ``p_generic_email``: share of CRM contacts whose email is a role address
      (``info@…``) shared by a group of 3-8 colleagues.

    Name noise for the probabilistic stage (per profile row):

    * ``p_nickname``: first name replaced by its nickname (Robert -> Bob).
    * ``p_name_typo``: two adjacent letters of the first or last name transposed.

    Timestamps fall in ``[start, start + days)`` (UTC).
    """

    n_people: int
    seed: int = 0
    difficulty: Difficulty = "medium"
    p_crm: float | None = None
    p_web: float | None = None
    p_email: float | None = None
    p_survey: float | None = None
    p_web_login: float | None = None
    p_second_device: float | None = None
    p_email_click: float | None = None
    p_phone: float | None = None
    p_duplicate_crm: float | None = None
    p_email_change: float | None = None
    p_typo: float | None = None
    p_missing: float | None = None
    p_shared_device: float | None = None
    p_generic_email: float | None = None
    p_nickname: float | None = None
    p_name_typo: float | None = None
    p_order: float | None = None
    events_per_web_person: float | None = None
    email_events_per_member: float | None = None
    start: date = date(2024, 1, 1)
    days: int = 540

    def __post_init__(self) -> None:
        if self.difficulty not in DIFFICULTY_DEFAULTS:
            raise ValueError(f"difficulty must be easy, medium or hard, not {self.difficulty!r}")
        if not 1 <= self.n_people < 10**8:
            raise ValueError("n_people must be between 1 and 10^8")
        if self.days < 121:
            raise ValueError("days must be at least 121")
        defaults = DIFFICULTY_DEFAULTS[self.difficulty]
        for f in fields(Rates):
            value = getattr(self, f.name)
            if value is None:
                object.__setattr__(self, f.name, getattr(defaults, f.name))
            elif f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} must be within [0, 1], not {value}")
            elif value < 0:
                raise ValueError(f"{f.name} must not be negative")

    @property
    def rates(self) -> Rates:
        """The resolved knob values."""
        return Rates(**{f.name: getattr(self, f.name) for f in fields(Rates)})

    def profiles_per_person(self) -> float:
        """Expected source profiles per person (CRM contacts incl. duplicates, web
        users, newsletter members, survey respondents)."""
        r = self.rates
        none = (1 - r.p_crm) * (1 - r.p_web) * (1 - r.p_email) * (1 - r.p_survey)
        return (
            r.p_crm * (1 + r.p_duplicate_crm)
            + r.p_web * r.p_web_login
            + r.p_email
            + none
            + r.p_survey
        )

    @classmethod
    def for_profiles(
        cls,
        n_profiles: int,
        difficulty: Difficulty = "medium",
        seed: int = 0,
        **knobs: float,
    ) -> Scenario:
        """A scenario whose ``source_profiles`` has about ``n_profiles`` rows.

        With the default knobs that means 5.3 (hard) to 5.6 (easy) identifier occurrences
        per source profile over all tables: 1M hard profiles ≈ 5.26M occurrences.
        """
        probe = cls(n_people=1, difficulty=difficulty, seed=seed, **knobs)  # type: ignore[arg-type]
        n_people = max(1, round(n_profiles / probe.profiles_per_person()))
        return cls(n_people=n_people, difficulty=difficulty, seed=seed, **knobs)  # type: ignore[arg-type]


@dataclass
class Synthetic:
    """Generated tables, the truth behind them, and counts of the injected noise."""

    scenario: Scenario
    tables: dict[str, pa.Table]
    truth: pa.Table
    stats: dict[str, int] = field(default_factory=dict)

    def identifier_occurrences(self) -> int:
        """Identifiers over all tables: list entries plus both sides of each link."""
        total: int = 2 * self.tables["identity_links"].num_rows
        for name in TABLES:
            if name != "identity_links":
                lengths = pc.list_value_length(self.tables[name]["identifiers"])
                total += int(pc.sum(lengths).as_py())
        return total


# --------------------------------------------------------------------------- pools

# first name -> nickname (None: no common nickname)
_FIRST: list[tuple[str, str | None]] = [
    ("Robert", "Bob"), ("William", "Bill"), ("Elizabeth", "Liz"), ("Katherine", "Kate"),
    ("Margaret", "Maggie"), ("Richard", "Rick"), ("James", "Jim"), ("Michael", "Mike"),
    ("Jennifer", "Jen"), ("Thomas", "Tom"), ("Christopher", "Chris"), ("Daniel", "Dan"),
    ("Matthew", "Matt"), ("Anthony", "Tony"), ("Joseph", "Joe"), ("Alexander", "Alex"),
    ("Benjamin", "Ben"), ("Samuel", "Sam"), ("Nicholas", "Nick"), ("Jonathan", "Jon"),
    ("Patricia", "Pat"), ("Susan", "Sue"), ("Rebecca", "Becky"), ("Jessica", "Jess"),
    ("Victoria", "Vicky"), ("Catherine", "Cathy"), ("Edward", "Ed"), ("Andrew", "Andy"),
    ("Steven", "Steve"), ("Peter", "Pete"), ("Timothy", "Tim"), ("Gregory", "Greg"),
    ("Kenneth", "Ken"), ("Ronald", "Ron"), ("Frederick", "Fred"), ("Theodore", "Ted"),
    ("Johannes", "Hans"), ("Stefanie", "Steffi"), ("Alexandra", "Sasha"), ("Elisabeth", "Lisa"),
    ("Isabelle", "Isa"), ("Maximilian", "Max"), ("Charlotte", "Lotte"), ("Abigail", "Abby"),
    ("Deborah", "Debbie"), ("Jacqueline", "Jackie"), ("Kimberly", "Kim"), ("Nathaniel", "Nate"),
    ("Zachary", "Zach"), ("Valentina", "Vale"),
    ("Anna", None), ("Emma", None), ("Sophie", None), ("Lucas", None), ("Lea", None),
    ("Noah", None), ("Mia", None), ("Liam", None), ("Olivia", None), ("Pierre", None),
    ("Marie", None), ("Jan", None), ("Daan", None), ("Sanne", None), ("Fleur", None),
    ("Jeroen", None), ("Camille", None), ("Louis", None), ("Chloe", None), ("Hugo", None),
    ("Lena", None), ("Felix", None), ("Jonas", None), ("Laura", None), ("Julia", None),
    ("Paul", None), ("Clara", None), ("Emily", None), ("Grace", None), ("Oscar", None),
    ("Ruby", None), ("Jack", None), ("Harry", None), ("Amelia", None), ("Ella", None),
    ("Mason", None), ("Ethan", None), ("Aiden", None), ("Ava", None), ("Zoe", None),
    ("Leon", None), ("Milan", None), ("Sara", None), ("Eva", None), ("Nina", None),
    ("Tess", None), ("Bram", None), ("Ines", None), ("Manon", None), ("Jules", None),
]  # fmt: skip

_LAST = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell",
    "Rose", "Davis", "Rodriguez", "Martinez", "Garcia", "Miller", "Anderson", "Thomas", "Moore",
    "Martin", "Lee", "Perez", "Harris", "Sanchez", "Clark", "Ramirez", "Young", "Allen", "King",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Adams", "Nelson", "Baker", "Rivera",
    "Campbell", "Carter", "Gomez", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper",
    "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox", "Diaz", "Richardson", "Watson",
    "Brooks", "Bennett", "Gray", "Hughes", "Price", "Myers", "Long", "Foster", "Sanders", "Ross",
    "Morales", "Powell", "Sullivan", "Russell", "Ortiz", "Jenkins", "Gutierrez", "Perry", "Butler",
    "Barnes", "Fisher", "Henderson", "Coleman", "Simmons", "Patterson", "Jordan", "Reynolds",
    "Hamilton", "Graham", "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
    "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schroeder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krueger", "Hofmann", "Hartmann", "Lange", "Werner",
    "Krause", "Lehmann", "Kaiser", "Fuchs", "Vogel", "Bernard", "Dubois", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Fournier", "Girard", "Bonnet", "Dupont",
    "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Faure", "Andre", "Mercier", "Blanc",
    "Guerin", "Boyer", "Garnier", "Chevalier", "Francois", "Legrand", "Gauthier", "Devries",
    "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Peters", "Hendriks",
    "Dekker", "Brouwer", "Dijkstra", "Kok", "Jacobs", "Vermeulen", "Willems", "Schouten",
    "Huisman", "Kuipers", "Postma", "Koster", "Prins", "Blom", "Molenaar", "Kramer", "Vink",
    "Wouters", "Maas", "Verhoeven", "Bosman", "Hoekstra", "Sahin", "Kaya", "Demir", "Celik",
    "Novak", "Kowalski", "Nowak", "Horvat", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
    "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Costa",
    "Giordano", "Mancini", "Rizzo", "Lombardi", "Moretti", "Silva", "Santos", "Oliveira",
    "Pereira", "Ferreira", "Almeida", "Carvalho", "Gomes", "Ribeiro", "Lopes", "Sousa",
    "Fernandes", "Goncalves"
]  # fmt: skip

_COUNTRIES = ["GB", "US", "DE", "FR", "NL"]
_COUNTRY_WEIGHTS = [0.3, 0.25, 0.2, 0.15, 0.1]
_CURRENCY = ["GBP", "USD", "EUR", "EUR", "EUR"]
_PHONE_PREFIX = ["+4475", "+120", "+49151", "+336", "+316"]
# (city, postal base): the postal codes of a city are base + 0.._POSTAL_PER_CITY-1
_CITIES: list[list[tuple[str, int]]] = [
    [("London", 0), ("Manchester", 1), ("Birmingham", 2), ("Leeds", 3), ("Bristol", 4),
     ("Glasgow", 5), ("Liverpool", 6), ("Edinburgh", 7), ("Cardiff", 8), ("Oxford", 9)],
    [("New York", 10001), ("Los Angeles", 90001), ("Chicago", 60601), ("Houston", 77001),
     ("Seattle", 98101), ("Boston", 2108), ("Denver", 80201), ("Austin", 73301),
     ("Miami", 33101), ("Portland", 97201)],
    [("Berlin", 10115), ("Hamburg", 20095), ("Muenchen", 80331), ("Koeln", 50667),
     ("Frankfurt am Main", 60311), ("Stuttgart", 70173), ("Duesseldorf", 40210),
     ("Leipzig", 4103), ("Dresden", 1067), ("Bremen", 28195)],
    [("Paris", 75001), ("Lyon", 69001), ("Marseille", 13001), ("Toulouse", 31000),
     ("Nice", 6000), ("Nantes", 44000), ("Strasbourg", 67000), ("Bordeaux", 33000),
     ("Lille", 59000), ("Rennes", 35000)],
    [("Amsterdam", 1011), ("Rotterdam", 3011), ("Den Haag", 2511), ("Utrecht", 3511),
     ("Eindhoven", 5611), ("Groningen", 9711), ("Tilburg", 5011), ("Almere", 1315),
     ("Breda", 4811), ("Nijmegen", 6511)],
]  # fmt: skip
_GB_OUTWARD = ["SW1A", "M1", "B1", "LS1", "BS1", "G1", "L1", "EH1", "CF10", "OX1"]
_POSTAL_PER_CITY = 60
_STREETS = [
    ["High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane",
     "Green Lane", "Kings Road", "Queens Road", "London Road", "Manor Way", "York Street"],
    ["Main Street", "Oak Avenue", "Maple Drive", "Elm Street", "Washington Blvd", "Lake Road",
     "Pine Street", "Cedar Lane", "Sunset Blvd", "Hill Street", "2nd Avenue", "Broadway"],
    ["Hauptstrasse", "Schulstrasse", "Gartenstrasse", "Bahnhofstrasse", "Dorfstrasse",
     "Bergstrasse", "Lindenstrasse", "Kirchweg", "Parkstrasse", "Ringstrasse", "Waldweg",
     "Rosenweg"],
    ["rue de la Paix", "rue Victor Hugo", "avenue Jean Jaures", "rue Pasteur", "rue de la Gare",
     "boulevard Voltaire", "rue des Lilas", "place de la Mairie", "rue Nationale",
     "rue du Moulin", "allee des Tilleuls", "rue Jules Ferry"],
    ["Kerkstraat", "Dorpsstraat", "Schoolstraat", "Molenweg", "Stationsweg", "Julianastraat",
     "Beatrixlaan", "Prinsengracht", "Wilhelminastraat", "Nieuwstraat", "Markt", "Lindelaan"],
]  # fmt: skip
_PERSONAL_DOMAINS = [
    "gmail.example", "outlook.example", "yahoo.example", "icloud.example", "proton.example",
    "web.example", "orange.example", "ziggo.example", "btinternet.example", "aol.example",
]  # fmt: skip
_COMPANY_A = [
    "North", "Blue", "Bright", "Silver", "Green", "Red", "Iron", "Cedar", "Summit", "Harbor",
    "Pioneer", "Atlas", "Nova", "Vertex", "Quantum", "Crescent", "Falcon", "Orbit", "Maple",
    "Granite"
]  # fmt: skip
_COMPANY_B = [
    "Labs", "Systems", "Logistics", "Foods", "Retail", "Partners", "Studio", "Works", "Health",
    "Energy"
]  # fmt: skip
_TITLES = [
    "Head of Marketing", "Marketing Manager", "CEO", "CTO", "Sales Director", "Buyer",
    "Office Manager", "Founder", "Product Manager", "Analyst", "Operations Lead", "Consultant",
]  # fmt: skip
_ROLES = ["info", "sales", "office", "contact", "hello", "admin", "team", "support"]
_CAMPAIGNS: list[tuple[str, str, str, str]] = [  # source, medium, campaign, channel
    ("google", "cpc", "brand_search", "paid_search"),
    ("google", "cpc", "generic_search", "paid_search"),
    ("bing", "cpc", "generic_search", "paid_search"),
    ("facebook", "paid_social", "spring_sale", "paid_social"),
    ("instagram", "paid_social", "influencer_q2", "paid_social"),
    ("linkedin", "paid_social", "b2b_leads", "paid_social"),
    ("partner", "referral", "affiliate_x", "referral"),
    ("newsletter", "email", "weekly_digest", "email"),
]
_NEWSLETTER = 7  # index of the newsletter campaign in _CAMPAIGNS
_PATHS = [
    "/", "/pricing", "/products", "/products/shoes", "/products/bags", "/products/jackets",
    "/blog/how-to-choose", "/blog/spring-trends", "/cart", "/checkout", "/account", "/contact",
]  # fmt: skip
_EMAIL_CAMPAIGNS = [f"newsletter_{y}_{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
_SURVEYS = ["nps_relationship", "nps_post_purchase", "csat_support"]
_REASONS = ["price", "quality", "delivery", "support", "range", "website"]
_TEXTS = [
    "Great service, fast delivery.", "Too expensive for what it is.", "Support was helpful.",
    "Website is hard to use on mobile.", "Love the product range!", "Delivery was late.",
]  # fmt: skip
_NPS_P = [0.03, 0.02, 0.03, 0.04, 0.04, 0.08, 0.08, 0.15, 0.2, 0.16, 0.17]

_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, name: str) -> np.random.Generator:
    """An independent stream per component: changing one knob leaves the others' draws."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _strings(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string())


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    """``pool[idx]`` with negative indices as nulls."""
    idx = np.asarray(idx, dtype=np.int64)
    missing = idx < 0
    if missing.any():
        return pool.take(pa.array(np.where(missing, 0, idx), mask=missing))
    return pool.take(pa.array(idx))


def _const(value: str, n: int) -> pa.Array:
    raw = np.frombuffer(value.encode(), dtype=np.uint8)
    return _fixed_width(np.broadcast_to(raw, (n, raw.size)))


def _fixed_width(chars: np.ndarray) -> pa.Array:
    """A ``(n, w)`` uint8 matrix of ASCII as n strings of width w."""
    n, w = chars.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * w).astype(np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


_DIGITS = np.array([[48 + i // 100, 48 + i // 10 % 10, 48 + i % 10] for i in range(1000)], np.uint8)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + ``numbers`` as zero-padded decimals of ``width`` digits."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    x = np.asarray(numbers, dtype=np.int64)
    chars = np.empty((x.size, head.size + width), dtype=np.uint8)
    chars[:, : head.size] = head
    col = head.size + width
    while col > head.size:
        step = min(3, col - head.size)
        x, chunk = np.divmod(x, 1000)
        chars[:, col - step : col] = _DIGITS[chunk][:, 3 - step :]
        col -= step
    return _fixed_width(chars)


def _keys(prefix: str, rng: np.random.Generator, n: int) -> tuple[pa.Array, np.ndarray]:
    """``n`` unique ids in shuffled order: ``prefix`` + a fixed-width number; also the numbers."""
    width = len(str(n)) + 1
    numbers = rng.permutation(n) + 10 ** (width - 1)
    return _ids(prefix, numbers, width), numbers


def _uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4-looking UUID strings."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    parts = [hexed[:, 0:8], dash, hexed[:, 8:12], dash, hexed[:, 12:16], dash]
    parts += [hexed[:, 16:20], dash, hexed[:, 20:32]]
    return _fixed_width(np.concatenate(parts, axis=1))


def _timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(micros, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))


def _dates(days: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), mask=~present).cast(pa.date32())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of ``counts`` rows: the group of each row and its position in it."""
    group = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(group.size) - starts[group]


def _identifiers(slots: list[tuple[str, pa.Array]]) -> pa.Array:
    """``list<struct<type, value>>`` from per-slot value columns (null: absent)."""
    n = len(slots[0][1])
    if len(slots) == 1 and slots[0][1].null_count == 0:
        kind, values = slots[0]
        struct = pa.StructArray.from_arrays([_const(kind, n), values], names=["type", "value"])
        return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), struct)
    present = np.stack(
        [~v.is_null().to_numpy(zero_copy_only=False) for _, v in slots], axis=1
    ).reshape(n, len(slots))
    rows, cols = np.nonzero(present)
    values = pa.concat_arrays([v for _, v in slots]).take(pa.array(cols * n + rows))
    types = _strings([t for t, _ in slots]).take(pa.array(cols))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    struct = pa.StructArray.from_arrays([types, values], names=["type", "value"])
    return pa.ListArray.from_arrays(pa.array(offsets), struct)


def _struct(kind: pa.Array, value: pa.Array) -> pa.Array:
    return pa.StructArray.from_arrays([kind, value], names=["type", "value"])


def _transpose(word: str, u: float) -> str:
    """Swap two adjacent, different letters (or double one when there are none)."""
    n = len(word)
    start = int(u * max(n - 1, 1))
    for step in range(n - 1):
        i = (start + step) % (n - 1)
        x, y = word[i], word[i + 1]
        if x != y and x.isalpha() and y.isalpha():
            return word[:i] + y + x + word[i + 2 :]
    i = min(start, n - 1)
    return word[: i + 1] + word[i:]


def _email_typo(email: str, kind: int, u: float) -> str:
    """A real typo that keeps the person's number (so it never hits someone else's address)."""
    local, _, domain = email.partition("@")
    digits = len(local) - len(local.rstrip("0123456789"))
    letters, number = local[: len(local) - digits], local[len(local) - digits :]
    if kind == 0:  # transposed letters
        letters = _transpose(letters, u)
    elif kind == 1 and sum(c.isalpha() for c in letters) > 3:  # a letter dropped
        spots = [i for i, c in enumerate(letters) if c.isalpha()]
        i = spots[int(u * len(spots))]
        letters = letters[:i] + letters[i + 1 :]
    elif kind == 2:  # a typo in the domain
        name, _, tld = domain.partition(".")
        domain = _transpose(name, u) + "." + tld
    else:  # a doubled letter
        i = int(u * len(letters))
        letters = letters[: i + 1] + letters[i:]
    return f"{letters}{number}@{domain}"


def _table(name: str, n: int, columns: dict[str, pa.Array]) -> pa.Table:
    """A block of ``name`` rows in its exact schema; absent columns are null (``{}`` for
    JSON dicts)."""
    schema = arrow_schema(name)
    arrays = []
    for f in schema:
        if f.name in columns:
            arr = columns[f.name]
            arrays.append(arr if arr.type == f.type else arr.cast(f.type))
        elif f.name in ("traits", "answers"):
            arrays.append(_const("{}", n))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- people


@dataclass
class _People:
    n: int
    first: np.ndarray  # index into _FIRST
    last: np.ndarray
    country: np.ndarray
    city: np.ndarray  # index into the flat city list
    postal: np.ndarray  # index into the postal pool
    street_no: np.ndarray
    street: np.ndarray  # index into the country's street list
    birth: np.ndarray  # days since 1970-01-01
    company: np.ndarray
    title: np.ndarray
    has_crm: np.ndarray
    has_web: np.ndarray
    has_email: np.ndarray
    has_survey: np.ndarray
    login: np.ndarray
    partner: np.ndarray  # shared-device household: the other person, -1 if none
    owner: np.ndarray  # the partner whose first device is shared


class _Generator:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.r = scenario.rates
        self.start = int(
            (datetime.combine(scenario.start, datetime.min.time(), UTC).timestamp()) * _US_PER_S
        )
        self.end = self.start + scenario.days * _US_PER_DAY
        self.stats: dict[str, int] = {}
        self.blocks: dict[str, list[pa.Table]] = {t: [] for t in TABLES}
        self.truth: list[tuple[str, str, str, pa.Array, np.ndarray, np.ndarray]] = []
        # string pools
        self.first_pool = _strings([f for f, _ in _FIRST] + [k for _, k in _FIRST if k])
        nick = np.full(len(_FIRST), -1, dtype=np.int64)
        j = len(_FIRST)
        for i, (_, k) in enumerate(_FIRST):
            if k:
                nick[i] = j
                j += 1
        self.nick = nick
        self.last_pool = _strings(_LAST)
        cities = [c for country in _CITIES for c, _ in country]
        self.city_pool = _strings(cities)
        self.city_country = np.repeat(np.arange(len(_CITIES)), [len(c) for c in _CITIES])
        self.postal_pool = _strings(self._postal_codes())
        self.company_pool = _strings([f"{a} {b}" for a in _COMPANY_A for b in _COMPANY_B])

    def rng(self, name: str) -> np.random.Generator:
        return _rng(self.s.seed, name)

    @staticmethod
    def _postal_codes() -> list[str]:
        out = []
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        for ci, country in enumerate(_CITIES):
            for cj, (_, base) in enumerate(country):
                for k in range(_POSTAL_PER_CITY):
                    if _COUNTRIES[ci] == "GB":
                        tail = f"{k % 9 + 1}{letters[k % 20]}{letters[(k * 7) % 20]}"
                        out.append(f"{_GB_OUTWARD[cj]} {tail}")
                    elif _COUNTRIES[ci] == "NL":
                        out.append(f"{base + k // 4:04d} {letters[k % 20]}{letters[k % 3]}")
                    else:
                        out.append(f"{base + k:05d}")
        return out

    def times(self, rng: np.random.Generator, n: int, lo: int | None = None) -> np.ndarray:
        lo = self.start if lo is None else lo
        return rng.integers(lo, self.end, n, dtype=np.int64)

    # ---------------------------------------------------------------- people

    def people(self) -> _People:
        r, n = self.r, self.s.n_people
        rng = self.rng("people")
        u = rng.random((n, 4))
        has_crm, has_web = u[:, 0] < r.p_crm, u[:, 1] < r.p_web
        has_email, has_survey = u[:, 2] < r.p_email, u[:, 3] < r.p_survey
        has_email |= ~(has_crm | has_web | has_email | has_survey)
        login = has_web & (rng.random(n) < r.p_web_login)
        country = rng.choice(len(_COUNTRIES), n, p=_COUNTRY_WEIGHTS)
        city_base = np.cumsum([0] + [len(c) for c in _CITIES])[:-1]
        city_in_country = np.minimum(rng.zipf(1.6, n) - 1, 9)
        city = city_base[country] + city_in_country
        postal = city * _POSTAL_PER_CITY + rng.integers(0, _POSTAL_PER_CITY, n)
        birth_lo = (date(1950, 1, 1) - date(1970, 1, 1)).days
        birth_hi = (date(2006, 12, 31) - date(1970, 1, 1)).days
        p = _People(
            n=n,
            first=rng.integers(0, len(_FIRST), n),
            last=rng.integers(0, len(_LAST), n),
            country=country,
            city=city,
            postal=postal,
            street_no=rng.integers(1, 250, n),
            street=rng.integers(0, 12, n),
            birth=rng.integers(birth_lo, birth_hi, n),
            company=rng.integers(0, len(_COMPANY_A) * len(_COMPANY_B), n),
            title=rng.integers(0, len(_TITLES), n),
            has_crm=has_crm,
            has_web=has_web,
            has_email=has_email,
            has_survey=has_survey,
            login=login,
            partner=np.full(n, -1, dtype=np.int64),
            owner=np.zeros(n, dtype=bool),
        )
        # shared-device households: same address, often the same last name
        rng = self.rng("households")
        eligible = np.flatnonzero(login)
        pairs = round(r.p_shared_device * eligible.size / 2)
        chosen = rng.permutation(eligible)[: 2 * pairs]
        a, b = chosen[0::2], chosen[1::2]
        p.partner[a], p.partner[b] = b, a
        p.owner[a] = True
        for arr in (p.country, p.city, p.postal, p.street_no, p.street):
            arr[b] = arr[a]
        same_name = rng.random(b.size) < 0.6
        p.last[b[same_name]] = p.last[a[same_name]]
        self.stats["shared_devices"] = int(pairs)
        return p

    def emails(self, p: _People) -> None:
        """Primary (old) and alternative (personal, new) address of every person; unique
        because each ends in the person's own number."""
        n, rng = p.n, self.rng("emails")
        mod = 10 ** max(6, len(str(n)) + 1)
        number = (np.arange(n, dtype=np.int64) * 7919 + int(rng.integers(0, mod))) % mod
        num = pc.cast(pa.array(number), pa.string())
        first = pc.utf8_lower(_take(self.first_pool, p.first))
        last = pc.utf8_lower(_take(self.last_pool, p.last))
        template = rng.integers(0, 3, n)
        head = pc.if_else(pa.array(template == 1), pc.utf8_slice_codeunits(first, 0, 1), first)
        sep = _take(_strings(["", "."]), (template == 0).astype(np.int64))
        tail = pc.if_else(pa.array(template == 2), _const("", n), last)
        domains = _strings(_PERSONAL_DOMAINS)
        d1 = rng.integers(0, len(_PERSONAL_DOMAINS), n)
        d2 = (d1 + rng.integers(1, len(_PERSONAL_DOMAINS), n)) % len(_PERSONAL_DOMAINS)
        primary = _join(head, sep, tail, num, "@", _take(domains, d1))
        alt = _join(first, "_", last, num, "@", _take(domains, d2))
        self.n_people = n
        self.email_pool_parts: list[pa.Array] = [primary, alt]
        self.email_size = 2 * n
        # phones: unique 8-digit core per person behind a country prefix
        core = (np.arange(n, dtype=np.int64) * 104729 + int(rng.integers(0, 10**8))) % 10**8
        prefix = _take(_strings(_PHONE_PREFIX), p.country)
        self.phone = _join(prefix, _ids("", core, 8))

    def add_emails(self, values: list[str]) -> np.ndarray:
        """Append addresses to the email pool; their pool indices."""
        idx = np.arange(self.email_size, self.email_size + len(values), dtype=np.int64)
        self.email_pool_parts.append(_strings(values))
        self.email_size += len(values)
        return idx

    # ---------------------------------------------------------------- profile attributes

    def names(
        self, p: _People, persons: np.ndarray, rng: np.random.Generator, present: float = 1.0
    ) -> tuple[pa.Array, pa.Array]:
        """First and last name per row, with nicknames, typos and missing values."""
        r, m = self.r, persons.size
        fi = p.first[persons].copy()
        nick = self.nick[fi]
        use = (rng.random(m) < r.p_nickname) & (nick >= 0)
        fi[use] = nick[use]
        li = p.last[persons].copy()
        typo = rng.random(m) < r.p_name_typo
        which = rng.integers(0, 2, m)
        u = rng.random(m)
        rows = np.flatnonzero(typo)
        firsts = self.first_pool.take(pa.array(fi[rows])).to_pylist()
        lasts = self.last_pool.take(pa.array(li[rows])).to_pylist()
        new_first: list[str] = []
        new_last: list[str] = []
        fpool, lpool = len(self.first_pool), len(self.last_pool)
        for k, row in enumerate(rows):
            if which[row] == 0:
                fi[row] = fpool + len(new_first)
                new_first.append(_transpose(firsts[k], u[row]))
            else:
                li[row] = lpool + len(new_last)
                new_last.append(_transpose(lasts[k], u[row]))
        keep = present * (1 - r.p_missing)
        fi[rng.random(m) >= keep] = -1
        li[rng.random(m) >= keep] = -1
        self.stats["nickname_rows"] = self.stats.get("nickname_rows", 0) + int(use.sum())
        self.stats["name_typo_rows"] = self.stats.get("name_typo_rows", 0) + int(rows.size)
        first_pool = pa.concat_arrays([self.first_pool, _strings(new_first)])
        last_pool = pa.concat_arrays([self.last_pool, _strings(new_last)])
        return _take(first_pool, fi), _take(last_pool, li)

    def present(self, rng: np.random.Generator, m: int, share: float) -> np.ndarray:
        return rng.random(m) < share * (1 - self.r.p_missing)

    def address(
        self, p: _People, persons: np.ndarray, rng: np.random.Generator, share: float
    ) -> dict[str, pa.Array]:
        m = persons.size
        country = p.country[persons]
        has = {k: self.present(rng, m, share) for k in ("street", "postal", "city", "country")}
        streets = [s for country_streets in _STREETS for s in country_streets]
        street_name = _take(_strings(streets), country * 12 + p.street[persons])
        number = pc.cast(pa.array(p.street_no[persons]), pa.string())
        number_first = pa.array(np.isin(country, [0, 1, 3]))  # GB, US, FR
        street = pc.if_else(
            number_first, _join(number, " ", street_name), _join(street_name, " ", number)
        )
        street = pc.if_else(pa.array(has["street"]), street, pa.nulls(m, pa.string()))
        return {
            "street": street,
            "postal_code": _take(self.postal_pool, np.where(has["postal"], p.postal[persons], -1)),
            "city": _take(self.city_pool, np.where(has["city"], p.city[persons], -1)),
            "country": _take(_strings(_COUNTRIES), np.where(has["country"], country, -1)),
        }

    def birth_dates(
        self, p: _People, persons: np.ndarray, rng: np.random.Generator, share: float
    ) -> pa.Array:
        return _dates(p.birth[persons], self.present(rng, persons.size, share))

    def emit(
        self,
        table: str,
        source: str,
        stream: str,
        columns: dict[str, pa.Array],
        keys: pa.Array,
        persons: np.ndarray,
        entities: np.ndarray | None = None,
    ) -> None:
        n = len(keys)
        columns = {
            **columns,
            "_cintel_source": _const(source, n),
            "_cintel_stream": _const(stream, n),
            "_cintel_record_key": keys,
        }
        self.blocks[table].append(_table(table, n, columns))
        self.truth.append(
            (table, source, stream, keys, persons, persons if entities is None else entities)
        )

    # ---------------------------------------------------------------- assignments

    def assign(self, p: _People) -> None:
        """Who gets a role address, a changed email, a typo."""
        r, rng = self.r, self.rng("assign")
        n = p.n
        # generic role addresses: groups of 3-8 CRM people, colleagues at one company
        crm = np.flatnonzero(p.has_crm)
        want = round(r.p_generic_email * crm.size)
        sizes = rng.integers(3, 9, max(1, want // 3 + 1))
        ends = np.cumsum(sizes)
        sizes = sizes[ends <= want]
        members = rng.permutation(crm)[: int(sizes.sum())]
        group_of, _ = _segments(sizes)
        self.generic = np.full(n, -1, dtype=np.int64)
        if sizes.size:
            company = rng.integers(0, len(_COMPANY_A) * len(_COMPANY_B), sizes.size)
            role = rng.integers(0, len(_ROLES), sizes.size)
            names = self.company_pool.take(pa.array(company)).to_pylist()
            addresses = [
                f"{_ROLES[role[g]]}@{names[g].lower().replace(' ', '-')}-{g + 1}.example"
                for g in range(sizes.size)
            ]
            self.generic[members] = self.add_emails(addresses)[group_of]
            p.company[members] = company[group_of]
        self.stats["generic_groups"] = int(sizes.size)
        self.stats["generic_contacts"] = int(members.size)
        # email changes: only where a link exists (CRM update or identify call)
        generic = self.generic >= 0
        eligible = (p.has_crm & ~generic) | p.login
        self.changed = eligible & (rng.random(n) < r.p_email_change)
        self.stats["email_changes"] = int(self.changed.sum())
        # current address: the alternative one after a change
        self.current = np.where(self.changed, n + np.arange(n), np.arange(n))
        # typos in hand-typed addresses (CRM contact or survey)
        typed_crm, typed_survey = p.has_crm & ~generic, p.has_survey
        typo = (typed_crm | typed_survey) & (rng.random(n) < r.p_typo)
        in_crm = typo & typed_crm & (~typed_survey | (rng.random(n) < 0.5))
        in_survey = typo & ~in_crm
        who = np.flatnonzero(typo)
        kinds, us = rng.integers(0, 4, who.size), rng.random(who.size)
        pool = pa.concat_arrays(self.email_pool_parts[:2])
        base = pool.take(pa.array(self.current[who])).to_pylist()
        typos = [_email_typo(e, int(k), float(u)) for e, k, u in zip(base, kinds, us, strict=True)]
        self.typo_email = np.full(n, -1, dtype=np.int64)
        self.typo_email[who] = self.add_emails(typos)
        self.typo_in_crm, self.typo_in_survey = in_crm, in_survey
        self.stats["typo_people"] = int(who.size)

    # ---------------------------------------------------------------- CRM

    def crm(self, p: _People) -> None:
        r, rng = self.r, self.rng("crm")
        people = np.flatnonzero(p.has_crm)
        dup = rng.random(people.size) < r.p_duplicate_crm
        same_email = rng.random(people.size) < 0.5
        persons = np.concatenate([people, people[dup]])
        is_dup = np.concatenate([np.zeros(people.size, bool), np.ones(int(dup.sum()), bool)])
        dup_same = np.concatenate([np.zeros(people.size, bool), same_email[dup]])
        dup_phone = np.concatenate([dup & ~same_email, ~same_email[dup]])
        m = persons.size
        self.stats["duplicate_crm"] = int(dup.sum())
        # email
        email = self.current[persons].copy()
        generic = self.generic[persons]
        email = np.where(generic >= 0, generic, email)
        typo = self.typo_in_crm[persons]
        email = np.where(typo, self.typo_email[persons], email)
        missing = (rng.random(m) < r.p_missing / 2) & ~typo & (generic < 0)
        email = np.where(missing, -1, email)
        primary_email = email[: people.size][np.flatnonzero(dup)]
        alt = self.n_people + persons
        email[people.size :] = np.where(
            dup_same[people.size :],
            np.where(primary_email >= 0, primary_email, self.current[persons[people.size :]]),
            alt[people.size :],
        )
        self.stats["typo_records"] = self.stats.get("typo_records", 0) + int(typo.sum())
        old = np.where(self.changed[persons] & (generic < 0) & ~is_dup, persons, -1)
        pool = pa.concat_arrays(self.email_pool_parts)
        email_col = _take(pool, email)
        phone = dup_phone | (rng.random(m) < r.p_phone * (1 - r.p_missing))
        phone_col = _take(self.phone, np.where(phone, persons, -1))
        ids, _ = _keys("003", rng, m)
        first, last = self.names(p, persons, rng)
        created = self.times(rng, m)
        updated = np.minimum(
            created + rng.exponential(60 * _US_PER_DAY, m).astype(np.int64), self.end - 1
        )
        stage = _strings(
            [
                '{"lifecycle_stage":"lead"}',
                '{"lifecycle_stage":"opportunity"}',
                '{"lifecycle_stage":"customer"}',
            ]
        )
        columns = {
            "profile_id": ids,
            "identifiers": _identifiers(
                [
                    ("crm_id", ids),
                    ("email", email_col),
                    ("email", _take(pool, old)),
                    ("phone", phone_col),
                ]
            ),
            "email": email_col,
            "phone": phone_col,
            "first_name": first,
            "last_name": last,
            "full_name": _join(first, " ", last),
            "company": _take(
                self.company_pool, np.where(self.present(rng, m, 0.9), p.company[persons], -1)
            ),
            "title": _take(
                _strings(_TITLES), np.where(self.present(rng, m, 0.7), p.title[persons], -1)
            ),
            "birth_date": self.birth_dates(p, persons, rng, 0.5),
            **self.address(p, persons, rng, 0.9),
            "created_at": _timestamps(created),
            "updated_at": _timestamps(updated),
            "traits": _take(stage, rng.integers(0, 3, m)),
        }
        # consent: 20% unknown
        consent_idx = rng.choice(4, m, p=[0.55, 0.2, 0.05, 0.2])
        columns["consent"] = _take(
            _strings(["subscribed", "unsubscribed", "pending"]),
            np.where(consent_idx == 3, -1, consent_idx),
        )
        self.emit("source_profiles", "crm", "contacts", columns, ids, persons)
        # won deals
        won = np.flatnonzero(rng.random(m) < 0.1)
        deal_ids, _ = _keys("006", rng, won.size)
        currency = _take(_strings(_CURRENCY), p.country[persons[won]])
        deals = {
            "conversion_id": deal_ids,
            "identifiers": _identifiers([("crm_id", ids.take(pa.array(won)))]),
            "occurred_at": _timestamps(np.maximum(updated[won], self.start)),
            "type": _const("Deal Won", won.size),
            "value": pa.array(np.round(rng.lognormal(8.0, 0.8, won.size), 2)),
            "currency": currency,
        }
        self.emit("conversions", "crm", "deals", deals, deal_ids, persons[won])

    # ---------------------------------------------------------------- email

    def email(self, p: _People) -> None:
        r, rng = self.r, self.rng("email")
        persons = np.flatnonzero(p.has_email)
        m = persons.size
        # the newsletter knows the address people signed up with: the old one
        email_col = _take(self.email_pool_parts[0], persons)
        ids, _ = _keys("M", rng, m)
        first, last = self.names(p, persons, rng)
        last = pc.if_else(pa.array(rng.random(m) < 0.6), last, pa.nulls(m, pa.string()))
        created = self.times(rng, m)
        address = self.address(p, persons, rng, 0.4)
        columns = {
            "profile_id": ids,
            "identifiers": _identifiers([("email", email_col)]),
            "email": email_col,
            "first_name": first,
            "last_name": last,
            "birth_date": self.birth_dates(p, persons, rng, 0.3),
            "postal_code": address["postal_code"],
            "country": address["country"],
            "consent": _take(
                _strings(["subscribed", "unsubscribed"]), (rng.random(m) < 0.12).astype(np.int64)
            ),
            "created_at": _timestamps(created),
            "traits": _take(
                _strings(['{"lists":["weekly"]}', '{"lists":["weekly","offers"]}']),
                rng.integers(0, 2, m),
            ),
        }
        self.emit("source_profiles", "email", "members", columns, ids, persons)
        # opens and clicks
        counts = rng.poisson(r.email_events_per_member, m)
        member, _ = _segments(counts)
        e = member.size
        click = rng.random(e) < 0.3
        since = created[member]  # after the member signed up
        when = since + (rng.random(e) * (self.end - since)).astype(np.int64)
        month = ((when - self.start) // (30 * _US_PER_DAY)) % len(_EMAIL_CAMPAIGNS)
        eids, _ = _keys("E", rng, e)
        urls = _strings([f"https://shop.example{path}" for path in _PATHS])
        events = {
            "identifiers": _identifiers([("email", email_col.take(pa.array(member)))]),
            "touchpoint_id": eids,
            "occurred_at": _timestamps(when),
            "event_type": _take(_strings(["open", "click"]), click.astype(np.int64)),
            "utm_source": _const("newsletter", e),
            "utm_medium": _const("email", e),
            "utm_campaign": _take(_strings(_EMAIL_CAMPAIGNS), month),
            "url": _take(urls, np.where(click, rng.integers(0, len(_PATHS), e), -1)),
            "channel": _const("email", e),
        }
        self.emit("touchpoints", "email", "activities", events, eids, persons[member])

    # ---------------------------------------------------------------- survey

    def survey(self, p: _People) -> None:
        rng = self.rng("survey")
        persons = np.flatnonzero(p.has_survey)
        m = persons.size
        email = np.where(
            self.typo_in_survey[persons], self.typo_email[persons], self.current[persons]
        )
        self.stats["typo_records"] = self.stats.get("typo_records", 0) + int(
            self.typo_in_survey[persons].sum()
        )
        pool = pa.concat_arrays(self.email_pool_parts)
        email_col = _take(pool, email)
        counts = 1 + (rng.random(m) < 0.25)
        resp, _ = _segments(counts)
        n = resp.size
        submitted = self.times(rng, n)
        first_seen = np.full(m, np.iinfo(np.int64).max)
        np.minimum.at(first_seen, resp, submitted)
        ids, _ = _keys("R", rng, m)
        first, last = self.names(p, persons, rng, present=0.8)
        columns = {
            "profile_id": ids,
            "identifiers": _identifiers([("email", email_col)]),
            "email": email_col,
            "first_name": first,
            "last_name": last,
            "birth_date": self.birth_dates(p, persons, rng, 0.3),
            "postal_code": self.address(p, persons, rng, 0.5)["postal_code"],
            "created_at": _timestamps(first_seen),
        }
        self.emit("source_profiles", "survey", "respondents", columns, ids, persons)
        rids, _ = _keys("S", rng, n)
        nps = rng.choice(11, n, p=_NPS_P)
        reason = rng.integers(0, len(_REASONS), n)
        answers = _take(_strings([f'{{"reason":"{x}"}}' for x in _REASONS]), reason)
        responses = {
            "identifiers": _identifiers([("email", email_col.take(pa.array(resp)))]),
            "response_id": rids,
            "survey_id": _take(_strings(_SURVEYS), rng.integers(0, len(_SURVEYS), n)),
            "submitted_at": _timestamps(submitted),
            "nps": pa.array(nps.astype(np.int64)),
            "csat": pa.array(np.clip(np.round(nps / 2.0 + rng.normal(0, 0.7, n)), 1, 5)),
            "ces": pa.array(rng.integers(1, 8, n).astype(np.float64)),
            "answers": answers,
            "text": _take(
                _strings(_TEXTS),
                np.where(rng.random(n) < 0.3, rng.integers(0, len(_TEXTS), n), -1),
            ),
        }
        self.emit("survey_responses", "survey", "responses", responses, rids, persons[resp])

    # ---------------------------------------------------------------- web

    def web(self, p: _People) -> None:
        r, rng = self.r, self.rng("web")
        people = np.flatnonzero(p.has_web)
        w = people.size
        n_dev = 1 + (rng.random(w) < r.p_second_device)
        dev_web, rank = _segments(n_dev)
        owner = people[dev_web]
        d = owner.size
        first_dev = np.full(p.n, -1, dtype=np.int64)
        first_dev[owner[rank == 0]] = np.flatnonzero(rank == 0)
        login = p.login[owner] & ((rank == 0) | (rng.random(d) < r.p_web_login))
        second = np.full(d, -1, dtype=np.int64)
        a = np.flatnonzero(p.owner)
        second[first_dev[a]] = p.partner[a]
        shared = second >= 0
        lam = max(r.events_per_web_person / (1 + r.p_second_device) - 1, 0.0)
        k = 1 + rng.poisson(lam, d)
        k[shared] = np.maximum(k[shared], 3)
        u1, u2 = rng.random(d), rng.random(d)
        at = np.where(shared, (u1 * (k - 1)).astype(np.int64), (u1 * k).astype(np.int64))
        at2 = np.where(shared, at + 1 + (u2 * (k - 1 - at)).astype(np.int64), k)
        anon = _uuids(rng, d)
        # events
        ev_dev, j = _segments(k)
        e = ev_dev.size
        by_second = j >= at2[ev_dev]
        person = np.where(by_second, second[ev_dev], owner[ev_dev])
        has_user = login[ev_dev] & (j >= at[ev_dev])
        t0 = rng.integers(self.start, self.end - 120 * _US_PER_DAY, d, dtype=np.int64)
        gaps = rng.exponential(1.5 * _US_PER_DAY, e).astype(np.int64) + _US_PER_S
        gaps[j == 0] = 0
        total = np.cumsum(gaps)
        starts = np.cumsum(k) - k
        when = np.minimum(t0[ev_dev] + total - total[starts][ev_dev], self.end - 1)
        # identify calls: owner at `at`, partner at `at2`, a changed email later
        id_dev = np.concatenate([np.flatnonzero(login), np.flatnonzero(shared)])
        id_person = np.concatenate([owner[login], second[shared]])
        id_at = np.concatenate([at[login], at2[shared]])
        id_email = id_person.copy()  # the old (primary) address at first login
        id_when = when[starts[id_dev] + id_at] - rng.integers(1, 30, id_dev.size) * _US_PER_S
        changed = np.flatnonzero(self.changed & p.login)
        ch_dev = first_dev[changed]
        last_event = when[starts[ch_dev] + k[ch_dev] - 1]
        id_dev = np.concatenate([id_dev, ch_dev])
        id_person = np.concatenate([id_person, changed])
        id_email = np.concatenate([id_email, p.n + changed])
        id_when = np.concatenate([id_when, last_event + 3600 * _US_PER_S])
        id_when = np.clip(id_when, self.start, self.end - 1)
        n_id = id_dev.size
        # email clicks: a member's first device arrives from the newsletter
        clicked = (rank == 0) & p.has_email[owner] & (rng.random(d) < r.p_email_click)
        # record keys: one message id space for the whole stream
        _, msg = _keys("", rng, e + n_id)
        width = len(str(e + n_id)) + 1
        ev_msg, id_keys = msg[:e], _ids("m", msg[e:], width)
        user_ids = _ids("u", (np.arange(p.n) * 7907 + 1234567) % (10**8) + 10**8, 9)
        # campaigns, as indices; strings only for the rows that need them
        first_ev = j == 0
        campaign = np.where(
            rng.random(e) < np.where(first_ev, 0.5, 0.1), rng.integers(0, _NEWSLETTER, e), -1
        )
        campaign = np.where(first_ev & clicked[ev_dev], _NEWSLETTER, campaign)
        organic = (campaign < 0) & first_ev & (rng.random(e) < 0.4)
        src, med, cmp = (_strings(list(c)) for c in list(zip(*_CAMPAIGNS, strict=True))[:3])
        channels = _strings([c[3] for c in _CAMPAIGNS] + ["organic_search", "direct"])
        channel = np.where(organic, len(_CAMPAIGNS), campaign)
        channel = np.where(channel < 0, len(_CAMPAIGNS) + 1, channel)
        cpc = np.isin(campaign, [0, 1, 2])
        gclids = _join("gclid_", _uuids(rng, int(cpc.sum())))
        gclid = np.where(cpc, np.cumsum(cpc) - 1, -1)
        urls = _strings([f"https://shop.example{path}" for path in _PATHS])
        url = rng.integers(0, len(_PATHS), e)
        track = rng.random(e) < 0.25
        order = (j > 0) & (rng.random(e) < r.p_order)

        def identifiers(rows: np.ndarray) -> pa.Array:
            anon_rows = anon.take(pa.array(ev_dev[rows]))
            user_rows = _take(user_ids, np.where(has_user[rows], person[rows], -1))
            return _identifiers([("anonymous_id", anon_rows), ("user_id", user_rows)])

        tp = np.flatnonzero(~order)
        tp_keys = _ids("m", ev_msg[tp], width)
        touch = {
            "identifiers": identifiers(tp),
            "touchpoint_id": tp_keys,
            "occurred_at": _timestamps(when[tp]),
            "event_type": _take(_strings(["page", "track"]), track[tp].astype(np.int64)),
            "utm_source": _take(src, campaign[tp]),
            "utm_medium": _take(med, campaign[tp]),
            "utm_campaign": _take(cmp, campaign[tp]),
            "referrer": _take(
                _strings(["https://www.google.com/"]), organic[tp].astype(np.int64) - 1
            ),
            "url": _take(urls, url[tp]),
            "click_id": _take(gclids, gclid[tp]),
            "channel": _take(channels, channel[tp]),
        }
        # a device no one identified on (no login, no tracked email click) carries nothing
        # that names its owner: in ``entity_id`` its records are the device's own entity
        island = ~login & ~shared & ~clicked
        entity = np.where(island[ev_dev], p.n + ev_dev, person)
        self.stats["island_devices"] = int(island.sum())
        self.emit("touchpoints", "web", "events", touch, tp_keys, person[tp], entity[tp])
        od = np.flatnonzero(order)
        od_keys = _ids("m", ev_msg[od], width)
        orders = {
            "identifiers": identifiers(od),
            "conversion_id": od_keys,
            "occurred_at": _timestamps(when[od]),
            "type": _const("Order Completed", od.size),
            "value": pa.array(np.round(rng.lognormal(4.0, 0.6, od.size), 2)),
            "currency": _take(_strings(_CURRENCY), p.country[person[od]]),
        }
        self.emit("conversions", "web", "events", orders, od_keys, person[od], entity[od])
        # identity links: identify calls (two rows, one key) and email clicks
        pool = pa.concat_arrays(self.email_pool_parts)
        anon_id = anon.take(pa.array(id_dev))
        user_id = user_ids.take(pa.array(id_person))
        email_id = pool.take(pa.array(id_email))
        cl = np.flatnonzero(clicked)
        cl_keys = _ids("m", ev_msg[starts[cl]], width)
        both = np.concatenate
        t_anon, t_user, t_email = (
            _const("anonymous_id", n_id),
            _const("user_id", n_id),
            _const("email", n_id),
        )
        links = {
            "left": _struct(
                pa.concat_arrays([t_anon, t_user, _const("anonymous_id", cl.size)]),
                pa.concat_arrays([anon_id, user_id, anon.take(pa.array(cl))]),
            ),
            "right": _struct(
                pa.concat_arrays([t_user, t_email, _const("email", cl.size)]),
                pa.concat_arrays(
                    [user_id, email_id, self.email_pool_parts[0].take(pa.array(owner[cl]))]
                ),
            ),
            "kind": pa.concat_arrays([_const("identify", 2 * n_id), _const("click", cl.size)]),
            "seen_at": _timestamps(both([id_when, id_when, when[starts[cl]]])),
        }
        link_keys = pa.concat_arrays([id_keys, id_keys, cl_keys])
        n_links = len(link_keys)
        links_cols = {
            **links,
            "_cintel_source": _const("web", n_links),
            "_cintel_stream": _const("events", n_links),
            "_cintel_record_key": link_keys,
        }
        self.blocks["identity_links"].append(_table("identity_links", n_links, links_cols))
        # truth: one row per record (an identify call's two rows share one)
        self.truth.append(
            (
                "identity_links",
                "web",
                "events",
                pa.concat_arrays([id_keys, cl_keys]),
                both([id_person, owner[cl]]),
                both([id_person, owner[cl]]),
            )
        )
        self.stats["email_click_links"] = int(cl.size)
        self.stats["identify_calls"] = int(n_id)
        self.stats["anonymous_devices"] = int((~login & ~shared).sum())
        # web user profiles: one per person who logged in
        users = np.flatnonzero(p.login)
        mu = users.size
        created = np.full(p.n, np.iinfo(np.int64).max)
        np.minimum.at(created, id_person, id_when)
        uid = user_ids.take(pa.array(users))
        email_col = pool.take(pa.array(self.current[users]))
        first, last = self.names(p, users, rng, present=0.7)
        profiles = {
            "profile_id": uid,
            "identifiers": _identifiers([("user_id", uid), ("email", email_col)]),
            "email": email_col,
            "first_name": first,
            "last_name": last,
            "created_at": _timestamps(created[users]),
            "traits": _take(
                _strings(['{"plan":"free"}', '{"plan":"plus"}']),
                (rng.random(mu) < 0.2).astype(np.int64),
            ),
        }
        self.emit("source_profiles", "web", "users", profiles, uid, users)

    # ---------------------------------------------------------------- run

    def run(self) -> Synthetic:
        p = self.people()
        self.emails(p)
        self.assign(p)
        self.crm(p)
        self.email(p)
        self.survey(p)
        self.web(p)
        tables = {name: pa.concat_tables(self.blocks[name]) for name in TABLES}
        parts = []
        for table, source, stream, keys_, persons, entities in self.truth:
            n = len(keys_)
            parts.append(
                pa.table(
                    {
                        "table": _const(table, n),
                        "_cintel_source": _const(source, n),
                        "_cintel_stream": _const(stream, n),
                        "_cintel_record_key": keys_,
                        "person_id": pa.array(np.asarray(persons, dtype=np.int64)),
                        "entity_id": pa.array(np.asarray(entities, dtype=np.int64)),
                    }
                )
            )
        truth = pa.concat_tables(parts)
        self.stats["people"] = p.n
        seen = np.bincount(truth["person_id"].to_numpy(), minlength=p.n)
        self.stats["people_seen"] = int((seen > 0).sum())
        return Synthetic(self.s, tables, truth, dict(sorted(self.stats.items())))


def generate(scenario: Scenario) -> Synthetic:
    """The tables and ground truth of ``scenario``; the same scenario gives byte-identical
    tables."""
    return _Generator(scenario).run()
