"""The simulated electronics shop with known preferences (seeded), on which the recommendations are
evaluated (``emma_local.lab.recommend.protocol``).

The world (``simulate_world``): devices (smartphones, tablets, headphones, smartwatches, laptops) of
several brands, and accessories of many kinds: some fit one device model (cases, screen protectors,
bands, sleeves), some every device of a brand (chargers, cables, styluses), some every device of a
kind (power banks, controllers, hubs); many carry topic tags (camera, fitness, gaming, music,
travel, work), a few are partners' offers (protection plans), a few are out of stock. Every product
has an intrinsic appeal drawn Zipf-like, so popularity is a real baseline.

Each customer has latent preferences: a device category and a favourite brand, an accessory maker,
one or two topics (more likely the ones that go with the device). They buy a device first, then
accessories and sometimes a second device; each later purchase is drawn from a mixture: the partner
of something they own (case and screen protector for the same phone, charger and cable, lens kit and
tripod: "bought together"; 30 %), an accessory that fits their device (30 %), a product of one of
their topics (15 %), a second device (7 %, their brand preferred), or anything (18 %, by appeal).
Brand and maker preferences weigh on every draw. Between purchases they browse: product views drawn
from the same preferences with noise, searches for their topics, tutorials. Everything the system
sees is canonical events folded into profiles with ``apply_event``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_SEED = 7
DEFAULT_CUSTOMERS = 3000
DEFAULT_PRODUCTS = 600
SHOP = "sim-electronics"
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 365

# ---- the catalog --------------------------------------------------------------------------------

DEVICE_BRANDS: dict[str, tuple[str, ...]] = {
    "smartphones": ("Apple", "Samsung", "Google", "Xiaomi"),
    "tablets": ("Apple", "Samsung", "Lenovo"),
    "headphones": ("Sony", "Bose", "Apple", "Sennheiser"),
    "smartwatches": ("Apple", "Samsung", "Garmin"),
    "laptops": ("Apple", "Lenovo", "Dell", "Asus"),
}
DEVICE_SHARE = {"smartphones": 0.45, "laptops": 0.18, "tablets": 0.13, "smartwatches": 0.13, "headphones": 0.11}
DEVICE_PRICE = {"smartphones": 750, "tablets": 550, "headphones": 250, "smartwatches": 380, "laptops": 1300}
DEVICE_CATEGORY_NAME = {
    "smartphones": "Smartphones",
    "tablets": "Tablets",
    "headphones": "Headphones",
    "smartwatches": "Smartwatches",
    "laptops": "Laptops",
}
TOPICS = ("camera", "fitness", "gaming", "music", "travel", "work")
# How likely each topic is for the owner of a device kind (the rest: uniform).
TOPIC_LEAN: dict[str, dict[str, float]] = {
    "smartphones": {"camera": 3, "gaming": 2, "travel": 2, "fitness": 1, "music": 1},
    "tablets": {"work": 3, "gaming": 2, "camera": 1},
    "headphones": {"music": 4, "travel": 2},
    "smartwatches": {"fitness": 4, "travel": 1},
    "laptops": {"work": 3, "gaming": 2, "music": 1},
}
SAME_BRAND = "*"  # an accessory maker slot filled by the device's brand (first-party accessories)
MAKERS = ("Anker", "Belkin", "Spigen", "Logitech", "ESR", "Nomad")


@dataclass(frozen=True)
class Kind:
    name: str
    category: str  # the catalog category, as the shop spells it
    fits: tuple[str, ...]  # device categories it fits
    scope: str  # device: one model (sometimes its sibling); brand: the brand's devices; all: every device
    topics: tuple[str, ...] = ()
    pairs: tuple[str, ...] = ()  # kinds bought together with it
    price: float = 25.0
    share: float = 1.0  # relative number of catalog items
    brands: tuple[str, ...] = ("Anker", "Belkin")
    partner: str | None = None


KINDS: tuple[Kind, ...] = (
    Kind("case", "Cases", ("smartphones", "tablets"), "device", (), ("screen-protector",), 25, 3.0,
         ("Spigen", "ESR", "OtterBox", SAME_BRAND)),
    Kind("screen-protector", "Screen protectors", ("smartphones", "tablets", "smartwatches"), "device", (),
         ("case",), 15, 2.0, ("PanzerGlass", "Spigen", "ESR")),
    Kind("charger", "Chargers", ("smartphones", "tablets", "laptops"), "brand", ("travel",), ("cable",), 30, 1.0,
         ("Anker", "Belkin", SAME_BRAND)),
    Kind("cable", "Cables", ("smartphones", "tablets", "laptops", "headphones"), "brand", (), ("charger",), 12, 1.0,
         ("Anker", "Belkin", SAME_BRAND)),
    Kind("power-bank", "Power banks", ("smartphones", "tablets", "headphones", "smartwatches"), "all", ("travel",),
         ("cable",), 45, 0.5, ("Anker", "Belkin")),
    Kind("car-mount", "Mounts", ("smartphones",), "all", ("travel",), ("charger",), 25, 0.3, ("Belkin", "Spigen")),
    Kind("lens-kit", "Camera accessories", ("smartphones",), "device", ("camera", "photography"), ("tripod",), 60,
         0.6, ("Moment", "ShiftCam")),
    Kind("tripod", "Camera accessories", ("smartphones", "tablets"), "all", ("camera", "video"),
         ("lens-kit", "gimbal"), 35, 0.3, ("Joby", "Manfrotto")),
    Kind("gimbal", "Camera accessories", ("smartphones",), "all", ("camera", "video"), ("tripod",), 120, 0.25,
         ("DJI", "Zhiyun")),
    Kind("band", "Watch bands", ("smartwatches",), "device", (), ("watch-charger",), 40, 1.2, ("Nomad", SAME_BRAND)),
    Kind("sport-band", "Watch bands", ("smartwatches",), "device", ("fitness", "running"), ("heart-rate-strap",), 35,
         0.7, ("Nomad", SAME_BRAND)),
    Kind("watch-charger", "Chargers", ("smartwatches",), "brand", ("travel",), ("band",), 30, 0.3,
         ("Belkin", SAME_BRAND)),
    Kind("heart-rate-strap", "Fitness", ("smartwatches", "smartphones"), "all", ("fitness", "running"),
         ("sport-band", "armband"), 70, 0.25, ("Polar", "Garmin")),
    Kind("armband", "Fitness", ("smartphones",), "all", ("fitness", "running"), ("heart-rate-strap",), 20, 0.25,
         ("Spigen", "Belkin")),
    Kind("ear-tips", "Headphone accessories", ("headphones",), "device", ("music",), ("carry-case",), 20, 0.8,
         ("Comply", SAME_BRAND)),
    Kind("carry-case", "Headphone accessories", ("headphones",), "device", ("travel",), ("ear-tips",), 30, 0.6,
         ("Spigen", SAME_BRAND)),
    Kind("dac", "Audio", ("headphones", "smartphones", "laptops"), "all", ("music", "hifi"), ("ear-tips",), 90, 0.25,
         ("FiiO", "AudioQuest")),
    Kind("speaker", "Audio", (), "none", ("music", "party"), (), 80, 0.4, ("JBL", "Bose", "Sony")),
    Kind("stylus", "Tablet accessories", ("tablets",), "brand", ("drawing", "work"), ("keyboard",), 90, 0.4,
         (SAME_BRAND, "Logitech")),
    Kind("keyboard", "Keyboards", ("tablets", "laptops"), "brand", ("work",), ("stylus", "mouse"), 110, 0.5,
         ("Logitech", SAME_BRAND)),
    Kind("sleeve", "Bags", ("laptops", "tablets"), "device", ("travel",), ("hub",), 35, 0.8, ("Incase", "Tomtoc")),
    Kind("hub", "Docks and hubs", ("laptops", "tablets"), "all", ("work",), ("mouse", "sleeve"), 60, 0.4,
         ("Anker", "Satechi")),
    Kind("mouse", "Mice", ("laptops", "tablets"), "all", ("work",), ("hub", "keyboard"), 40, 0.4, ("Logitech",)),
    Kind("controller", "Gaming", ("smartphones", "tablets", "laptops"), "all", ("gaming",), ("cooling-pad",), 60,
         0.4, ("Razer", "Backbone", "8BitDo")),
    Kind("cooling-pad", "Gaming", ("laptops", "smartphones"), "all", ("gaming",), ("controller",), 40, 0.25,
         ("Razer", "Klim")),
    Kind("protection-plan", "Protection plans", tuple(DEVICE_BRANDS), "category", (), (), 79, 0.12, ("Wertgarantie",),
         partner="Wertgarantie"),
)  # fmt: skip
KIND_BY_NAME = {k.name: k for k in KINDS}
ZIPF_EXPONENT = 1.0
OUT_OF_STOCK_SHARE = 0.05
NEW_PRODUCT_SHARE = 0.2  # added to the catalog during the simulated year (the rest before it)
MAX_COMPATIBLE = 50  # devices an accessory names at most, a sample of them in a large catalog (the event
# model allows 200: emma.events.model.ProductInfo.compatible_with)


@dataclass(frozen=True)
class SimProduct:
    product_id: str
    name: str
    category: str  # as the shop spells it
    brand: str
    price: float
    kind: str  # "device" or a Kind's name
    device_category: str | None  # devices: their category
    compatible_with: tuple[str, ...]
    topics: tuple[str, ...]
    partner: str | None
    appeal: float  # Zipf-like intrinsic popularity
    created_at: datetime
    sold_out_at: datetime | None  # out of stock from then on (and at the end)

    @property
    def is_device(self) -> bool:
        return self.kind == "device"

    def item(self) -> dict[str, Any]:
        """The catalog item as the catalog table stores it."""
        return {
            "product_id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": f"{self.price:.2f}",
            "currency": "EUR",
            "url": f"https://shop.example/p/{self.product_id}",
            "in_stock": self.sold_out_at is None,
            "tags": [*self.topics, *([f"partner:{self.partner}"] if self.partner else [])],
            "compatible_with": list(self.compatible_with),
            "partner": self.partner,
            "created_at": self.created_at.isoformat(),
        }

    def available(self, at: datetime) -> bool:
        return self.created_at <= at and (self.sold_out_at is None or at < self.sold_out_at)


def _catalog(rng: random.Random, size: int, start: datetime, end: datetime) -> list[SimProduct]:
    n_devices = max(len(DEVICE_SHARE) * 2, size // 10)
    devices: list[tuple[str, str, str, str, float]] = []  # (id, category, brand, name, price)
    counts = {c: max(2, round(n_devices * share)) for c, share in DEVICE_SHARE.items()}
    for category, count in counts.items():
        brands = DEVICE_BRANDS[category]
        for n in range(count):
            brand = brands[n % len(brands)]
            generation = n // len(brands) + 1
            name = f"{brand} {category[:-1].title()} {generation}"
            price = DEVICE_PRICE[category] * rng.uniform(0.6, 1.5)
            devices.append((f"{category[:5]}-{brand.lower()}-{generation}", category, brand, name, price))
    by_category: dict[str, list[int]] = {c: [i for i, d in enumerate(devices) if d[1] == c] for c in DEVICE_SHARE}
    n_accessories = max(len(KINDS), size - len(devices))
    total_share = sum(k.share for k in KINDS)
    exact = [n_accessories * kind.share / total_share for kind in KINDS]
    counts = [max(1, math.floor(x)) for x in exact]
    by_remainder = sorted(range(len(KINDS)), key=lambda i: exact[i] - math.floor(exact[i]), reverse=True)
    for i in itertools.islice(itertools.cycle(by_remainder), max(0, n_accessories - sum(counts))):
        counts[i] += 1
    while sum(counts) > n_accessories:  # the minimum of one each overshot: take from the largest
        counts[counts.index(max(counts))] -= 1
    plan = [kind for kind, count in zip(KINDS, counts, strict=True) for _ in range(count)]
    raw: list[dict[str, Any]] = []
    for d_id, category, brand, name, price in devices:
        raw.append(
            {"id": d_id, "name": name, "category": DEVICE_CATEGORY_NAME[category], "brand": brand, "price": price,
             "kind": "device", "device_category": category, "fits": (), "topics": (), "partner": None}
        )  # fmt: skip
    next_device = Counter[str]()
    for n, kind in enumerate(plan):
        fits: list[str] = []
        target_brand: str | None = None
        if kind.scope == "device":
            pool = [i for c in kind.fits for i in by_category[c]]
            i = pool[next_device[kind.name] % len(pool)]  # round-robin: every model gets some
            next_device[kind.name] += 1
            fits = [devices[i][0]]
            siblings = [j for j in by_category[devices[i][1]] if devices[j][2] == devices[i][2] and j != i]
            if siblings and rng.random() < 0.3:
                fits.append(devices[rng.choice(siblings)][0])
            target_brand, label = devices[i][2], devices[i][3]
        elif kind.scope == "brand":
            brands = sorted({devices[i][2] for c in kind.fits for i in by_category[c]})
            target_brand = brands[next_device[kind.name] % len(brands)]
            next_device[kind.name] += 1
            fits = [devices[i][0] for c in kind.fits for i in by_category[c] if devices[i][2] == target_brand]
            label = f"{target_brand} devices"
        elif kind.scope == "category":
            category = kind.fits[next_device[kind.name] % len(kind.fits)]
            next_device[kind.name] += 1
            fits = [devices[i][0] for i in by_category[category]]
            label = DEVICE_CATEGORY_NAME[category]
        elif kind.scope == "all":
            fits = [devices[i][0] for c in kind.fits for i in by_category[c]]
            label = "/".join(DEVICE_CATEGORY_NAME[c] for c in kind.fits)
        else:
            label = ""
        if len(fits) > MAX_COMPATIBLE:  # a large catalog: the event model's bound
            fits = sorted(rng.sample(fits, MAX_COMPATIBLE))
        makers = [b for b in kind.brands if b != SAME_BRAND or target_brand]
        maker = rng.choice(makers)
        maker = target_brand if maker == SAME_BRAND else maker
        title = kind.name.replace("-", " ").title()
        raw.append(
            {"id": f"{kind.name}-{n:04d}", "name": f"{maker} {title}" + (f" for {label}" if label else ""),
             "category": kind.category, "brand": maker, "price": kind.price * rng.uniform(0.6, 1.8),
             "kind": kind.name, "device_category": None, "fits": tuple(fits),
             "topics": tuple(t for t in kind.topics if rng.random() < 0.9) or kind.topics[:1],
             "partner": kind.partner}
        )  # fmt: skip
    ranks = list(range(len(raw)))
    rng.shuffle(ranks)
    days = (end - start).days
    products = []
    for r, spec in zip(ranks, raw, strict=True):
        if rng.random() < NEW_PRODUCT_SHARE:
            created = start + timedelta(days=rng.uniform(0, days - 10))
        else:
            created = start - timedelta(days=rng.uniform(10, 720))
        sold_out = end - timedelta(days=rng.uniform(1, 60)) if rng.random() < OUT_OF_STOCK_SHARE else None
        products.append(
            SimProduct(
                product_id=spec["id"],
                name=spec["name"],
                category=spec["category"],
                brand=spec["brand"],
                price=round(spec["price"], 2),
                kind=spec["kind"],
                device_category=spec["device_category"],
                compatible_with=spec["fits"],
                topics=spec["topics"],
                partner=spec["partner"],
                appeal=1.0 / (r + 1) ** ZIPF_EXPONENT,
                created_at=created,
                sold_out_at=sold_out,
            )
        )
    return products


# ---- customers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mixture:
    """How a later purchase is chosen (normalised over the components that have candidates)."""

    pair: float = 0.30  # the partner of something owned (bought together)
    fits: float = 0.30  # an accessory that fits their device
    topic: float = 0.15  # a product of one of their topics
    device: float = 0.07  # a second device (another category)
    anything: float = 0.18  # anything, by appeal
    brand_boost: float = 3.0  # the favourite brand (devices, first-party accessories)
    maker_boost: float = 3.0  # the favourite accessory maker
    topic_fit_boost: float = 3.0  # a topic product that also fits their device


@dataclass(frozen=True)
class Browsing:
    view_fits: float = 0.35
    view_topic: float = 0.25
    view_devices: float = 0.15  # devices of their category (their brand preferred)
    view_noise: float = 0.25  # any product, uniformly (the rest: documents the mixture)
    search_share: float = 0.35  # of sessions with a search
    tutorial_share: float = 0.15
    topic_noise: float = 0.25  # a search or tutorial about a random topic


@dataclass(frozen=True)
class WorldParams:
    mixture: Mixture = field(default_factory=Mixture)
    browsing: Browsing = field(default_factory=Browsing)
    join_days: float = 300.0  # first purchases uniformly in the first join_days
    mean_gap_days: float = 35.0
    stop_after_purchase: float = 0.35  # probability of no further purchase after each one
    first_repeat: float = 0.8  # probability of a second purchase at all
    bundle_share: float = 0.3  # device orders that include a case or protector for it
    plan_share: float = 0.08  # device orders that include a protection plan
    test_share: float = 0.5  # of the customers with two purchases or more


@dataclass
class SimCustomer:
    customer_id: str
    device_category: str
    brand: str
    maker: str
    topics: tuple[str, ...]
    orders: list[tuple[datetime, list[str]]] = field(default_factory=list)
    browsing: list[dict[str, Any]] = field(default_factory=list)  # canonical event dicts, not orders
    test: bool = False


@dataclass
class SimWorld:
    seed: int
    start: datetime
    end: datetime
    products: list[SimProduct]
    customers: list[SimCustomer]

    def catalog_items(self) -> list[dict[str, Any]]:
        return [p.item() for p in self.products]


class _Sampler:
    """Weighted draws from product pools (cumulative weights computed once per pool and weighting)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def draw(
        self, pool: Sequence[SimProduct], weights: Sequence[float], ok: Callable[[SimProduct], bool], tries: int = 12
    ) -> SimProduct | None:
        if not pool:
            return None
        cum = list(itertools.accumulate(weights))
        if cum[-1] <= 0:
            return None
        for _ in range(tries):
            p = pool[min(len(pool) - 1, bisect.bisect_right(cum, self.rng.random() * cum[-1]))]
            if ok(p):
                return p
        return None


class Pools:
    """Product pools of the simulated catalog (by device fitted, topic, kind)."""

    def __init__(self, products: list[SimProduct]) -> None:
        self.products = products
        self.by_id = {p.product_id: p for p in products}
        self.accessories = [p for p in products if not p.is_device]
        self.fits: dict[str, list[SimProduct]] = {}
        for p in self.accessories:
            for d in p.compatible_with:
                self.fits.setdefault(d, []).append(p)
        self.topic: dict[str, list[SimProduct]] = {}
        for p in self.accessories:
            for t in p.topics:
                self.topic.setdefault(t, []).append(p)
        self.devices: dict[str, list[SimProduct]] = {}
        for p in products:
            if p.is_device:
                self.devices.setdefault(p.device_category or "", []).append(p)
        self.kind_fits: dict[tuple[str, str], list[SimProduct]] = {}
        self.kind: dict[str, list[SimProduct]] = {}
        for p in self.accessories:
            self.kind.setdefault(p.kind, []).append(p)
            for d in p.compatible_with:
                self.kind_fits.setdefault((p.kind, d), []).append(p)

    def partners(self, owned: SimProduct, devices: set[str]) -> list[SimProduct]:
        """What is bought together with ``owned``: the paired kinds fitting the same device (or, for
        products that fit no device, any of the paired kinds)."""
        if owned.is_device:
            return []
        targets = set(owned.compatible_with) & devices or set(owned.compatible_with)
        out: dict[str, SimProduct] = {}
        for kind in KIND_BY_NAME[owned.kind].pairs:
            if targets:
                for d in sorted(targets):
                    out.update((p.product_id, p) for p in self.kind_fits.get((kind, d), []))
            else:
                out.update((p.product_id, p) for p in self.kind.get(kind, []))
        return list(out.values())


def _weights(pool: Sequence[SimProduct], c: SimCustomer, mix: Mixture, devices: set[str]) -> list[float]:
    out = []
    for p in pool:
        w = p.appeal
        if p.brand == c.brand:
            w *= mix.brand_boost
        if p.brand == c.maker:
            w *= mix.maker_boost
        if devices and devices & set(p.compatible_with):
            w *= mix.topic_fit_boost if p.topics else 1.0
        out.append(w)
    return out


def _event(kind: str, c: SimCustomer, at: datetime, properties: dict[str, Any], ids: itertools.count) -> dict[str, Any]:
    source = "shopify" if kind.startswith("order.") else "tracker"
    return {
        "id": f"sim-{next(ids)}",
        "shop": SHOP,
        "type": kind,
        "occurred_at": at.isoformat(),
        "received_at": at.isoformat(),
        "source": {"kind": source, "name": kind},
        "customer": {"customer_id": c.customer_id},
        "properties": properties,
    }


def order_event(c: SimCustomer, at: datetime, products: list[SimProduct], ids: itertools.count) -> dict[str, Any]:
    items = [
        {
            "product_id": p.product_id,
            "category": p.category,
            "brand": p.brand,
            "price": f"{p.price:.2f}",
            "quantity": 1,
        }
        for p in products
    ]
    total = f"{sum(p.price for p in products):.2f}"
    oid = f"o-{c.customer_id}-{at.strftime('%Y%m%d%H%M')}"
    return _event("order.placed", c, at, {"order_id": oid, "total": total, "currency": "EUR", "items": items}, ids)


def simulate_world(
    customers: int = DEFAULT_CUSTOMERS,
    products: int = DEFAULT_PRODUCTS,
    seed: int = DEFAULT_SEED,
    params: WorldParams | None = None,
    start: datetime = START,
) -> SimWorld:
    """Generate the shop; the same seed, sizes and parameters always give the same shop."""
    params = params or WorldParams()
    rng = random.Random(seed)
    end = start + timedelta(days=DAYS)
    catalog = _catalog(rng, products, start, end)
    shop = Pools(catalog)
    sampler = _Sampler(rng)
    ids = itertools.count(1)
    out = [_customer(n, rng, sampler, shop, params, ids, start, end) for n in range(customers)]
    return SimWorld(seed=seed, start=start, end=end, products=catalog, customers=out)


def simulate_customers(
    world: SimWorld, customers: int, seed: int, params: WorldParams | None = None
) -> list[SimCustomer]:
    """More customers of ``world``'s catalog (their own random stream): e.g. profiles for a benchmark."""
    rng = random.Random(seed)
    shop, sampler, ids = Pools(world.products), _Sampler(rng), itertools.count(1)
    params = params or WorldParams()
    return [_customer(n, rng, sampler, shop, params, ids, world.start, world.end) for n in range(customers)]


def _customer(
    n: int,
    rng: random.Random,
    sampler: _Sampler,
    shop: Pools,
    params: WorldParams,
    ids: itertools.count,
    start: datetime,
    end: datetime,
) -> SimCustomer:
    mix = params.mixture
    categories = list(DEVICE_SHARE)
    category = rng.choices(categories, weights=[DEVICE_SHARE[c] for c in categories])[0]
    lean = TOPIC_LEAN[category]
    first_topic = rng.choices(TOPICS, weights=[lean.get(t, 0.5) for t in TOPICS])[0]
    topics: tuple[str, ...] = (first_topic,)
    if rng.random() < 0.5:
        topics = (first_topic, rng.choice([t for t in TOPICS if t != first_topic]))
    c = SimCustomer(
        customer_id=f"c{n:06d}",
        device_category=category,
        brand=rng.choice(DEVICE_BRANDS[category]),
        maker=rng.choice(MAKERS),
        topics=topics,
    )
    joined = start + timedelta(days=rng.uniform(0, params.join_days), minutes=rng.uniform(0, 600))

    # The device, after a little browsing of devices of its kind.
    pool = shop.devices[category]
    device = sampler.draw(pool, _weights(pool, c, mix, set()), lambda p: p.available(joined), tries=40)
    if device is None:
        device = next((p for p in pool if p.available(joined)), pool[0])
    for k in range(rng.randint(1, 3)):
        at = joined - timedelta(days=rng.uniform(0.1, 7))
        seen = sampler.draw(pool, _weights(pool, c, mix, set()), lambda p, at=at: p.created_at <= at) or device
        c.browsing.append(_view(c, seen, at - timedelta(minutes=k), ids))
    first = [device]
    devices = {device.product_id}
    fits_now = [p for p in shop.fits.get(device.product_id, []) if KIND_BY_NAME[p.kind].scope == "device"]
    if fits_now and rng.random() < params.bundle_share:
        extra = sampler.draw(fits_now, _weights(fits_now, c, mix, devices), lambda p: p.available(joined))
        if extra:
            first.append(extra)
    plans = [p for p in shop.fits.get(device.product_id, []) if p.partner]
    if plans and rng.random() < params.plan_share:
        first.append(plans[0])
    c.orders.append((joined, [p.product_id for p in first]))
    owned = {p.product_id: p for p in first}

    at = joined
    if rng.random() < params.first_repeat:
        while True:
            nxt = at + timedelta(days=1.0 + rng.expovariate(1.0 / params.mean_gap_days))
            if nxt >= end:
                break
            _browse(c, rng, sampler, shop, devices, at, nxt, params, ids)
            bought = _choose(c, rng, sampler, shop, owned, devices, nxt, mix)
            if bought is None:
                break
            c.orders.append((nxt, [bought.product_id]))
            owned[bought.product_id] = bought
            if bought.is_device:
                devices.add(bought.product_id)
            at = nxt
            if rng.random() < params.stop_after_purchase:
                break
    c.test = len(c.orders) >= 2 and rng.random() < params.test_share
    return c


def _choose(
    c: SimCustomer,
    rng: random.Random,
    sampler: _Sampler,
    shop: Pools,
    owned: dict[str, SimProduct],
    devices: set[str],
    at: datetime,
    mix: Mixture,
) -> SimProduct | None:
    components: list[tuple[float, list[SimProduct], bool]] = []  # (probability, pool, boost fitting topics)
    partners = [q for p in owned.values() for q in shop.partners(p, devices)]
    components.append((mix.pair, partners, False))
    fitting = [q for d in sorted(devices) for q in shop.fits.get(d, [])]
    components.append((mix.fits, fitting, False))
    topical = [q for t in c.topics for q in shop.topic.get(t, [])]
    components.append((mix.topic, topical, True))
    others = [q for cat, pool in shop.devices.items() if cat != c.device_category for q in pool]
    components.append((mix.device, others, False))
    components.append((mix.anything, shop.products, False))
    components = [x for x in components if x[1]]
    for _ in range(6):
        _, pool, boost = rng.choices(components, weights=[x[0] for x in components])[0]
        weights = _weights(pool, c, mix, devices if boost else set())
        if pool is others:  # a second device: mostly the favourite brand (ecosystems)
            weights = [w * (3.0 if p.brand == c.brand else 1.0) for w, p in zip(weights, pool, strict=True)]
        got = sampler.draw(pool, weights, lambda p: p.product_id not in owned and p.available(at))
        if got is not None:
            return got
    return None


def _view(c: SimCustomer, p: SimProduct, at: datetime, ids: itertools.count) -> dict[str, Any]:
    product = {"product_id": p.product_id, "category": p.category, "brand": p.brand, "name": p.name}
    return _event("product.viewed", c, at, {"product": product}, ids)


def _browse(
    c: SimCustomer,
    rng: random.Random,
    sampler: _Sampler,
    shop: Pools,
    devices: set[str],
    since: datetime,
    until: datetime,
    params: WorldParams,
    ids: itertools.count,
) -> None:
    b, mix = params.browsing, params.mixture
    sessions = 1 + min(4, int(rng.expovariate(1 / 1.5)))
    fitting = [q for d in sorted(devices) for q in shop.fits.get(d, [])]
    topical = [q for t in c.topics for q in shop.topic.get(t, [])]
    own_devices = shop.devices[c.device_category]
    fitting_w = _weights(fitting, c, mix, set())
    topical_w = _weights(topical, c, mix, devices)
    devices_w = _weights(own_devices, c, mix, set())
    span = (until - since).total_seconds()
    times = sorted(since + timedelta(seconds=rng.uniform(0.05, 0.98) * span) for _ in range(sessions))
    for at in times:
        for k in range(rng.randint(1, 4)):
            t = at + timedelta(minutes=2 * k)
            r = rng.random()
            if r < b.view_fits and fitting:
                p = sampler.draw(fitting, fitting_w, lambda p, t=t: p.created_at <= t)
            elif r < b.view_fits + b.view_topic and topical:
                p = sampler.draw(topical, topical_w, lambda p, t=t: p.created_at <= t)
            elif r < b.view_fits + b.view_topic + b.view_devices:
                p = sampler.draw(own_devices, devices_w, lambda p, t=t: p.created_at <= t)
            else:  # noise: any product, uniformly
                p = rng.choice(shop.products)
            if p is not None and p.created_at <= t:
                c.browsing.append(_view(c, p, t, ids))
        if rng.random() < b.search_share:
            topic = rng.choice(TOPICS) if rng.random() < b.topic_noise else rng.choice(c.topics)
            words = [topic]
            kinds = [kind for kind in KINDS if topic in kind.topics]
            if kinds and rng.random() < 0.5:
                words.append(rng.choice(kinds).name.split("-")[0])
            query = " ".join(words)
            c.browsing.append(_event("search.performed", c, at + timedelta(minutes=15), {"query": query}, ids))
        if rng.random() < b.tutorial_share:
            topic = rng.choice(TOPICS) if rng.random() < b.topic_noise else rng.choice(c.topics)
            props = {"tutorial_id": f"{topic}-{rng.randint(1, 20)}", "topic": topic, "category": c.device_category}
            c.browsing.append(_event("tutorial.watched", c, at + timedelta(minutes=20), props, ids))
