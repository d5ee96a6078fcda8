"""Who lives in the synthetic world: archetypes, households, homes, names and true identifiers.

Each person is a pure function of (seed, index): separate seeded streams decide the archetype, the
household, the home and the identifiers, so a person is the same whichever chunk or worker builds it.
Identifiers that must be unique (email, phone, loyalty number) are built from an affine permutation of
the index rather than drawn at random, so they never collide, even with millions of people.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from footfall.synth.geography import FAR_TOWNS, STORE_CITIES, City, Store, clear_of_stores, nearest_store
from footfall.synth.geography import postcode as make_postcode
from footfall.synth.geography import scatter
from footfall.synth.setting import Setting

ARCHETYPE_MIX: dict[str, float] = {
    "online_only": 0.25,
    "store_only": 0.20,
    "ropo": 0.15,
    "showroomer": 0.08,
    "omnichannel": 0.15,
    "event_goer": 0.07,
    "lapsed": 0.10,
}
ARCHETYPES = tuple(ARCHETYPE_MIX)
MAX_CUSTOMERS = 10_000_000  # the email-number permutation's domain
NEAR_HOME_M = 8_000.0  # near people live within this of some store (so < 10 km from the nearest)
FAR_HOME_M = 30_000.0  # far people live further than this from every store
SHARED_HOUSEHOLD_SHARE = 0.08
_HOUSEHOLD_BLOCK = 64
# Chance that a run of indices starts a 2-3 person household, solved so ~8% of people share one.
_HOUSEHOLD_START = SHARED_HOUSEHOLD_SHARE / (7 / 3 * (1 - SHARED_HOUSEHOLD_SHARE) + SHARED_HOUSEHOLD_SHARE)


@dataclass(frozen=True)
class Profile:
    """How likely a person of an archetype is to have the app, location consent, an account, a card."""

    app: float
    consent: float  # given the app
    account: float
    loyalty: float


PROFILES: dict[str, Profile] = {
    "online_only": Profile(app=0.45, consent=0.6, account=0.85, loyalty=0.15),
    "store_only": Profile(app=0.0, consent=0.0, account=0.0, loyalty=0.55),
    "ropo": Profile(app=0.4, consent=0.6, account=0.9, loyalty=0.7),
    "showroomer": Profile(app=0.97, consent=0.98, account=0.95, loyalty=0.3),
    "omnichannel": Profile(app=0.7, consent=0.7, account=1.0, loyalty=0.7),  # pickups need an account
    "event_goer": Profile(app=0.5, consent=0.6, account=0.9, loyalty=0.6),
    "lapsed": Profile(app=0.35, consent=0.6, account=0.9, loyalty=0.5),
}

FIRST_NAMES = (
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Oscar", "Charlie", "Jacob",
    "Thomas", "Henry", "William", "James", "Alfie", "Joshua", "Daniel", "Samuel", "Mohammed", "Ethan",
    "Liam", "Ryan", "Aaron", "David", "Olivia", "Amelia", "Isla", "Ava", "Ivy", "Freya", "Lily", "Florence",
    "Mia", "Willow", "Rosie", "Sophia", "Isabella", "Grace", "Evie", "Poppy", "Emily", "Sienna", "Ella",
    "Charlotte", "Aisha", "Priya", "Zara", "Hannah", "Chloe", "Sarah", "Laura", "Rachel", "Megan", "Niamh",
    "Siobhan", "Fatima", "Amir", "Kwame", "Chen", "Wei", "Anya", "Mateusz", "Katarzyna", "Eilidh", "Callum",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
    "Patel", "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell", "Rose", "Davis", "Rodriguez",
    "Cox", "Alexander", "Morris", "Ward", "Turner", "Hughes", "Edwards", "Harris", "Martin", "Cooper",
    "Hill", "Ahmed", "Ali", "Begum", "Singh", "Macdonald", "Campbell", "Stewart", "Murray", "O'Brien",
    "Kowalski", "Nowak", "Chen", "Wang", "Okafor", "Mensah", "Fraser", "Reid", "Bell", "Shaw",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "icloud.com", "btinternet.com")
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
)
_PHONES = (
    ("ios", "Apple", "iPhone15,2", "17.3"),
    ("ios", "Apple", "iPhone13,1", "16.7"),
    ("android", "Google", "Pixel 8", "14"),
    ("android", "samsung", "SM-S911B", "14"),
)


@dataclass
class Device:
    """A browser or an app install: one anonymous id; the app also has a device id. Mutable login state."""

    kind: str  # "web" or "app"
    anonymous_id: str
    user_agent: str | None = None
    device_id: str | None = None
    platform: tuple[str, str, str, str] | None = None  # (os, manufacturer, model, os version)
    sessions: int = 0
    logged_in: bool = False


@dataclass
class Person:
    """One customer with their true attributes; the behaviour modules read it, the truth tables list it."""

    index: int
    person_id: str
    archetype: str
    household_id: str
    household_email: str | None  # shared with 1-2 others, used on receipts and kiosk sign-ups
    first_name: str
    last_name: str
    email: str
    phone: str
    postcode: str
    home_lat: float
    home_lon: float
    home_store: Store
    home_store_m: float
    ip: str
    has_app: bool
    location_consent: bool
    has_account: bool
    loyalty_member: bool
    user_id: str | None
    loyalty_id: str | None
    card_tokens: tuple[str, ...]
    devices: list[Device] = field(default_factory=list)
    usual_stores: list[Store] = field(default_factory=list)  # nearest first, within a short trip

    @property
    def app(self) -> Device | None:
        return next((d for d in self.devices if d.kind == "app"), None)

    @property
    def browsers(self) -> list[Device]:
        return [d for d in self.devices if d.kind == "web"]

    @property
    def pings(self) -> bool:
        """Whether the app reports this person's location."""
        return self.has_app and self.location_consent

    @property
    def contact_email(self) -> str:
        """The email given at tills and kiosks: the household's when there is one."""
        return self.household_email or self.email


def archetype_of(seed: int, index: int) -> str:
    """The archetype of person `index`, drawn from `ARCHETYPE_MIX` by its own seeded stream."""
    rng = random.Random(f"{seed}:archetype:{index}")
    return rng.choices(ARCHETYPES, weights=list(ARCHETYPE_MIX.values()))[0]


@lru_cache(maxsize=1024)
def _household_block(seed: int, customers: int, block: int) -> dict[int, tuple[int, ...]]:
    """The shared households among one block of consecutive indices (pure, hence cacheable)."""
    rng = random.Random(f"{seed}:households:{block}")
    low, high = block * _HOUSEHOLD_BLOCK, min((block + 1) * _HOUSEHOLD_BLOCK, customers)
    plan: dict[int, tuple[int, ...]] = {}
    index = low
    while index < high:
        if rng.random() < _HOUSEHOLD_START:
            members = tuple(range(index, min(index + rng.choice((2, 2, 3)), high)))
            if len(members) > 1:
                plan.update(dict.fromkeys(members, members))
            index += len(members)
        else:
            index += 1
    return plan


def household_of(seed: int, customers: int, index: int) -> tuple[int, ...]:
    """The indices of everyone sharing a household email with `index` (just itself for most people)."""
    return _household_block(seed, customers, index // _HOUSEHOLD_BLOCK).get(index, (index,))


def _permuted(index: int, seed: int, multiplier: int, modulus: int) -> int:
    """A bijection of [0, modulus): distinct indices give distinct numbers (multiplier coprime to 10)."""
    return (index * multiplier + seed * 7_654_321 + 1_234_567) % modulus


def _home(setting: Setting, head: int, near: bool) -> tuple[float, float, City]:
    """A home near some store (but clear of every geofence) or far (> 30 km) from all of them."""
    rng = random.Random(f"{setting.seed}:home:{head}:{near}")
    stores = list(setting.stores)
    if near:
        for _ in range(200):
            anchor = rng.choice(stores)
            lat, lon = scatter(rng, anchor.lat, anchor.lon, NEAR_HOME_M, 500.0)
            if clear_of_stores(stores, lat, lon):
                return lat, lon, anchor.city
        return lat, lon, anchor.city
    store_cities = {s.city.name for s in stores}
    towns = FAR_TOWNS + tuple(c for c in STORE_CITIES if c.name not in store_cities)
    for _ in range(200):
        town = rng.choice(towns)
        lat, lon = scatter(rng, town.lat, town.lon, town.spread_km * 1000)
        if nearest_store(stores, lat, lon)[1] > FAR_HOME_M:
            return lat, lon, town
    return lat, lon, town


def _devices(rng: random.Random, has_app: bool, online: bool) -> list[Device]:
    if not online:
        return []
    devices = [
        Device("web", str(uuid.UUID(int=rng.getrandbits(128), version=4)), user_agent=rng.choice(_BROWSERS))
        for _ in range(rng.randint(1, 2) if has_app else rng.choices((1, 2, 3), (5, 3, 2))[0])
    ]
    if has_app:
        platform = rng.choice(_PHONES)
        device_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        devices.append(
            Device(
                "app",
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                device_id=device_id.upper() if platform[0] == "ios" else device_id,
                platform=platform,
            )
        )
    return devices


def make_person(setting: Setting, index: int) -> Person:
    """Person number `index` of the world (0-based)."""
    seed = setting.seed
    archetype = archetype_of(seed, index)
    members = household_of(seed, setting.customers, index)
    head = members[0]
    rng = random.Random(f"{seed}:person:{index}")
    profile = PROFILES[archetype]
    # Shared households always live near a store: their members visit stores whatever the head does.
    near = len(members) > 1 or archetype != "online_only" or rng.random() < 0.3
    home_lat, home_lon, city = _home(setting, head if len(members) > 1 else index, near)
    house = random.Random(f"{seed}:household:{head}")
    last_name = house.choice(LAST_NAMES)
    octets = (house.choice((81, 86, 92, 109, 151, 212)), house.randint(0, 255), house.randint(0, 255))
    ip = ".".join(map(str, (*octets, house.randint(1, 254))))  # the household's broadband
    home_postcode = make_postcode(house, city)
    household_email = None
    if len(members) > 1:
        family_number = _permuted(head, seed, 7_368_787, MAX_CUSTOMERS)
        family_name = last_name.lower().replace("'", "")
        household_email = f"{family_name}.family{family_number}@{house.choice(EMAIL_DOMAINS)}"

    first_name = rng.choice(FIRST_NAMES)
    number = _permuted(index, seed, 7_368_787, MAX_CUSTOMERS)
    first, last = first_name.lower(), last_name.lower().replace("'", "")
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first, f"{last}.{first}")) + str(number)
    has_app = rng.random() < profile.app
    location_consent = has_app and rng.random() < profile.consent
    has_account = rng.random() < profile.account
    loyalty_member = rng.random() < profile.loyalty
    home_store, home_store_m = nearest_store(list(setting.stores), home_lat, home_lon)
    usual = setting.stores_near(home_lat, home_lon, 12_000.0) or [home_store]
    return Person(
        index=index,
        person_id=f"P{index + 1:07d}",
        archetype=archetype,
        household_id=f"H{head + 1:07d}",
        household_email=household_email,
        first_name=first_name,
        last_name=last_name,
        email=f"{local}@{rng.choice(EMAIL_DOMAINS)}",
        phone=f"+4477{_permuted(index, seed, 48_271_137, 100_000_000):08d}",
        postcode=home_postcode,
        home_lat=round(home_lat, 6),
        home_lon=round(home_lon, 6),
        home_store=home_store,
        home_store_m=home_store_m,
        ip=ip,
        has_app=has_app,
        location_consent=location_consent,
        has_account=has_account,
        loyalty_member=loyalty_member,
        user_id=f"u_{rng.getrandbits(64):016x}" if has_account else None,
        loyalty_id=f"LOY{_permuted(index, seed, 3_141_592_653, 10_000_000_000):010d}" if loyalty_member else None,
        card_tokens=tuple(f"tok_{rng.getrandbits(96):024x}" for _ in range(rng.choice((1, 1, 2)))),
        devices=_devices(rng, has_app, online=archetype != "store_only"),
        usual_stores=usual,
    )
