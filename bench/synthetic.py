"""Synthetic customers of an electronics shop: profiles with two years of history, and new events.

Profiles are built directly as the stored document (``Profile.model_dump(mode="json")``, what
``InMemoryProfileRepository`` keeps), not by folding every historical event through ingest: that
would take minutes for 100,000 customers. The documents hold what folding would have produced
(order records and totals, products owned, event counts, the newest MAX_EVENT_TIMES times per event
type, email channel counters, the last cart, decayed affinities computed with ingest's own update
rule) and validate as ``Profile``. Everything is drawn from one seeded ``random.Random``: the same
seed gives the same customers.

The mix (per customer):
- first seen uniformly in the last 730 days; 20 % anonymous visitors (no email, no orders), 80 % known;
- known customers: 75 % get the weekly newsletter (each opened with a per-customer rate of 0-70 %,
  a fifth of opens clicked); 70 % have ordered (1 order 45 %, 2: 20 %, 3: 12 %, 4-5: 12 %, 6-10: 8 %,
  11-30: 3 %), 3 % of orders cancelled, order totals log-normal around 90 EUR (1-3 items);
- half of the customers stop being active at a random point after their first visit (orders and
  visits stop, newsletter deliveries go on, opens drop to a quarter);
- visits: 2 per order plus a geometric number (mean 6; anonymous: mean 2), each with 1-6 page and
  0-4 product views; a cart on every order visit and on a quarter of the others, a checkout on order
  visits; some reviews, referrals, coupons, surveys.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emma.profiles.model import AFFINITY_HALF_LIFE_DAYS, MAX_AFFINITY_KEYS, MAX_EVENT_TIMES, MAX_RECENT_ORDERS

SHOP = "elektro-emma"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # fixed, so that runs are comparable
DAY = 86400.0
HISTORY_DAYS = 730
NEWSLETTER_PHASE = 2 * DAY + 10 * 3600  # weekly, some Tuesday morning relative to NOW's week

# category -> (brands, price range, share of views)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[float, float], float]] = {
    "smartphones": (("Google", "Apple", "Samsung"), (250.0, 1300.0), 0.2),
    "laptops": (("Lenovo", "Apple", "Dell"), (500.0, 2400.0), 0.12),
    "tablets": (("Apple", "Samsung"), (200.0, 1100.0), 0.08),
    "headphones": (("Sony", "Bose", "Apple"), (40.0, 450.0), 0.12),
    "tv": (("Samsung", "LG", "Sony"), (350.0, 2800.0), 0.08),
    "cameras": (("Sony", "Canon"), (300.0, 2200.0), 0.05),
    "accessories": (("Anker", "Belkin"), (9.0, 80.0), 0.15),
    "smart-home": (("Google", "Amazon", "Philips"), (25.0, 250.0), 0.1),
    "gaming": (("Sony", "Nintendo", "Microsoft"), (40.0, 600.0), 0.07),
    "cables": (("Anker", "Belkin"), (5.0, 35.0), 0.03),
}
PRODUCTS_PER_CATEGORY = 40
PAGE_PATHS = ("/", "/sale", "/new", "/service", "/blog/tests", "/c/{cat}", "/c/{cat}", "/c/{cat}")
SEARCHES = ("usb-c kabel", "pixel", "iphone hülle", "noise cancelling", "oled tv", "powerbank", "ssd")


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    brand: str
    price: float

    def line(self, quantity: int = 1) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "category": self.category,
            "brand": self.brand,
            "quantity": quantity,
            "price": f"{self.price:.2f}",
        }

    def info(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "category": self.category,
            "brand": self.brand,
            "price": f"{self.price:.2f}",
            "currency": "EUR",
        }


def catalog(seed: int = 7) -> list[Product]:
    rng = random.Random(seed)
    products = []
    for cat, (brands, (low, high), _) in CATEGORIES.items():
        for n in range(PRODUCTS_PER_CATEGORY):
            price = round(math.exp(rng.uniform(math.log(low), math.log(high))), 0) - 0.01
            products.append(Product(f"{cat}-{n:03d}", cat, brands[n % len(brands)], max(price, 1.99)))
    return products


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


@dataclass
class Customer:
    """One synthetic customer: the stored profile document and the newest event of its history."""

    profile_id: str
    customer_id: str | None
    email: str | None
    anonymous_id: str | None
    doc: dict[str, Any]  # as InMemoryProfileRepository stores it
    last_event: dict[str, Any]  # canonical event data (EVENT_ADAPTER.validate_python), profile id set

    def refs(self) -> dict[str, Any]:
        refs = {"customer_id": self.customer_id, "email": self.email, "anonymous_id": self.anonymous_id}
        return {k: v for k, v in refs.items() if v}


class Population:
    """Customers drawn from one seeded generator; ``customer(i)`` for i = 0, 1, 2, ... in order."""

    def __init__(self, seed: int = 2026, now: datetime = NOW, shop: str = SHOP) -> None:
        self.rng = random.Random(seed)
        self.now = now.timestamp()
        self.shop = shop
        self.products = catalog()
        self.by_category: dict[str, list[Product]] = {}
        for p in self.products:
            self.by_category.setdefault(p.category, []).append(p)
        self.categories = list(CATEGORIES)
        self.category_weights = [w for _, _, w in CATEGORIES.values()]
        self._order_ids = 0

    # ---- pieces ---------------------------------------------------------------------------------

    def _orders_count(self) -> int:
        r = self.rng.random()
        for limit, count in ((0.45, 1), (0.65, 2), (0.77, 3)):
            if r < limit:
                return count
        if r < 0.89:
            return self.rng.randint(4, 5)
        if r < 0.97:
            return self.rng.randint(6, 10)
        return self.rng.randint(11, 30)

    def _geometric(self, mean: float) -> int:
        return int(math.log(1.0 - self.rng.random()) / math.log(1.0 - 1.0 / (mean + 1.0)))

    def _product(self, favourites: list[str]) -> Product:
        rng = self.rng
        cat = rng.choice(favourites) if rng.random() < 0.7 else rng.choices(self.categories, self.category_weights)[0]
        return rng.choice(self.by_category[cat])

    @staticmethod
    def ids(index: int, known: bool) -> tuple[str, str | None, str | None, str]:
        """Profile id, customer id, email and anonymous id of customer ``index``; the same length for
        every index below 10**8, so that copies of a profile have items of the same size."""
        customer_id = f"{10**8 + index}" if known else None
        email = f"kunde{index:08d}@example.de" if known else None
        return f"p_bench{index:08d}", customer_id, email, f"anon-{index:08d}"

    # ---- one customer ---------------------------------------------------------------------------

    def customer(self, index: int) -> Customer:
        rng, now, shop = self.rng, self.now, self.shop
        known = rng.random() >= 0.2
        pid, cid, email, anon = self.ids(index, known)
        first_seen = now - rng.uniform(1.0, HISTORY_DAYS) * DAY
        active_until = first_seen + rng.random() * (now - first_seen) if rng.random() < 0.5 else now
        favourites = rng.choices(self.categories, self.category_weights, k=2)
        times: dict[str, list[float]] = {}  # event type -> occurrence times (unsorted)
        counts: dict[str, int] = {}
        signals: list[tuple[float, float, str | None, str | None, str | None, str | None]] = []  # affinity bumps

        def occurred(type_: str, t: float) -> None:
            times.setdefault(type_, []).append(t)

        # orders
        recent: list[dict[str, Any]] = []
        owned: dict[str, dict[str, Any]] = {}
        order_count, revenue, cancelled, coupons = 0, 0.0, 0, []
        order_times: list[float] = []
        if known and rng.random() < 0.7:
            order_times = sorted(rng.uniform(first_seen, active_until) for _ in range(self._orders_count()))
        last_order: dict[str, Any] | None = None
        for t in order_times:
            self._order_ids += 1
            lines = [self._product(favourites) for _ in range(1 + int(rng.random() < 0.35) + int(rng.random() < 0.1))]
            total = sum(p.price for p in lines)
            counted = rng.random() >= 0.03
            record = {
                "order_id": f"ord-{self._order_ids}",
                "status": ("fulfilled" if now - t > 5 * DAY else "paid") if counted else "cancelled",
                "total": f"{total:.2f}",
                "currency": "EUR",
                "placed_at": iso(t),
                "items": {p.product_id: 1 for p in lines},
                "counted": counted,
                "test": False,
                "refunded": "0",
                "refunds": {},
                "refund_items": {},
            }
            recent.append(record)
            occurred("order.placed", t)
            if counted:
                order_count += 1
                revenue += total
                for p in lines:
                    got = owned.get(p.product_id)
                    if got is None:
                        owned[p.product_id] = {
                            "quantity": 1,
                            "first_bought_at": iso(t),
                            "last_bought_at": iso(t),
                            "category": p.category,
                            "brand": p.brand,
                        }
                    else:
                        got["quantity"] += 1
                        got["last_bought_at"] = iso(t)
                    signals.append((t, 5.0, p.category, p.brand, p.product_id, None))
                occurred("order.paid", t + 60)
                if now - t > 5 * DAY:
                    occurred("order.fulfilled", t + 2 * DAY)
            else:
                cancelled += 1
                occurred("order.cancelled", t + 3600)
            if rng.random() < 0.2:
                code = rng.choice(("WELCOME10", "SPRING15", "NEWSLETTER5", "BLACKWEEK", "VIP20"))
                occurred("coupon.redeemed", t)
                if code not in coupons:
                    coupons.append(code)
            last_order = {"t": t, "record": record, "lines": lines}
        del recent[: max(0, len(recent) - MAX_RECENT_ORDERS)]
        # what ingest counted once per order id (emma.profiles.apply._COUNTED: placed, paid, fulfilled, cancelled)
        counted_ids = {
            r["order_id"]: "pc" if r["status"] == "cancelled" else "paf" if r["status"] == "fulfilled" else "pa"
            for r in recent
        }

        # visits: one with every order, others at random while active
        visits = [(t - rng.uniform(300, 3600), True) for t in order_times]
        extra = self._geometric(6.0 if known else 2.0) + (0 if order_times else 1)  # every profile was seen
        visits += [(rng.uniform(first_seen, active_until), False) for _ in range(extra)]
        visits.sort()
        cart: dict[str, Any] | None = None
        last_visit_event: dict[str, Any] | None = None
        for t, ordering in visits:
            for k in range(rng.randint(1, 6)):
                cat = rng.choice(favourites)
                path = rng.choice(PAGE_PATHS).format(cat=cat)
                occurred("page.viewed", t + 30 * k)
                signals.append((t + 30 * k, 1.0, cat if path.startswith("/c/") else None, None, None, None))
                last_visit_event = {"type": "page.viewed", "t": t + 30 * k, "path": path, "category": cat}
            seen = None
            for k in range(rng.randint(0, 4)):
                seen = self._product(favourites)
                occurred("product.viewed", t + 200 + 40 * k)
                signals.append((t + 200 + 40 * k, 1.0, seen.category, seen.brand, seen.product_id, None))
                last_visit_event = {"type": "product.viewed", "t": t + 200 + 40 * k, "product": seen}
            if rng.random() < 0.05:
                occurred("search.performed", t + 100)
            if ordering or rng.random() < 0.25:
                lines = [seen or self._product(favourites)]
                at = t + 400
                occurred("cart.updated", at)
                signals.append((at, 3.0, lines[0].category, lines[0].brand, lines[0].product_id, None))
                cart = {
                    "cart_id": f"cart-{pid}-{int(at)}",
                    "value": f"{sum(p.price for p in lines):.2f}",
                    "currency": "EUR",
                    "items": {p.product_id: 1 for p in lines},
                    "updated_at": iso(at),
                    "checkout_started_at": None,
                    "recovery_url": None,
                }
                last_visit_event = {"type": "cart.updated", "t": at, "lines": lines, "cart_id": cart["cart_id"]}
                if ordering or rng.random() < 0.1:
                    occurred("checkout.started", at + 120)
                    cart["checkout_started_at"] = iso(at + 120)
                    last_visit_event = {
                        "type": "checkout.started",
                        "t": at + 120,
                        "lines": lines,
                        "cart_id": cart["cart_id"],
                    }

        # the weekly newsletter
        channels: dict[str, Any] = {}
        consent: dict[str, Any] = {}
        if known and rng.random() < 0.75:
            rate = rng.uniform(0.0, 0.7)
            week = 7 * DAY
            slot = now - ((now - NEWSLETTER_PHASE) % week)  # the last send at or before now
            delivered = opened = clicked = 0
            last_open = last_click = None
            while slot > first_seen:
                occurred("email.delivered", slot)
                delivered += 1
                if rng.random() < (rate if slot <= active_until else rate / 4):
                    at = min(now, slot + rng.uniform(600, 2 * DAY))
                    occurred("email.opened", at)
                    opened += 1
                    last_open = max(last_open or at, at)
                    if rng.random() < 0.2:
                        occurred("email.clicked", min(now, at + 60))
                        clicked += 1
                        last_click = max(last_click or at, at)
                        signals.append((at, 2.0, None, None, None, f"newsletter-{int(slot // week)}"))
                slot -= week
            channels["email"] = {
                "sent": delivered,
                "delivered": delivered,
                "opened": opened,
                "clicked": clicked,
                "bounced": 0,
                "complained": 0,
                "last_open_at": iso(last_open) if last_open else None,
                "last_click_at": iso(last_click) if last_click else None,
                "hours": [],
            }
            consent["email"] = {
                "granted": True,
                "proof": {
                    "source": "shopify:customers/create",
                    "at": iso(first_seen),
                    "wording": "Ja, ich möchte den Newsletter erhalten.",
                    "wording_version": None,
                    "double_opt_in": True,
                    "ip": None,
                    "user_agent": None,
                },
                "since": None,
                "confirm_required": False,
            }

        reviews = sum(1 for _ in order_times if rng.random() < 0.1)
        referrals = int(known and rng.random() < 0.03)
        for _ in range(reviews):
            occurred("review.submitted", rng.uniform(first_seen, active_until))
        for _ in range(referrals):
            occurred("referral.made", rng.uniform(first_seen, active_until))
        last_survey = None
        if order_times and rng.random() < 0.05:
            at = rng.uniform(order_times[0], now)
            occurred("survey.answered", at)
            last_survey = {"survey_id": "nps", "score": float(rng.randint(0, 10)), "at": iso(at)}

        event_counts: dict[str, int] = {}
        event_times: dict[str, list[int]] = {}
        everything: list[float] = []
        for type_, ts in times.items():
            ts.sort()
            counts[type_] = len(ts)
            event_counts[type_] = len(ts)
            event_times[type_] = [int(t) for t in ts[-MAX_EVENT_TIMES:]]
            everything.append(ts[0])
            everything.append(ts[-1])
        first_at = min(everything) if everything else first_seen
        last_at = max(everything) if everything else first_seen

        traits = {}
        if known:
            for name, value in (
                ("first_name", rng.choice(("Lena", "Jonas", "Mia", "Paul", "Emma", "Ben", "Lea", "Finn"))),
                ("last_name", rng.choice(("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer"))),
                ("locale", "de-DE"),
                ("country", "DE"),
            ):
                traits[name] = {"value": value, "at": iso(first_seen)}
        last_seen = {"tracker": iso(max((t for t, _ in visits), default=first_seen))}
        if order_times:
            last_seen["shopify"] = iso(order_times[-1] + (2 * DAY if now - order_times[-1] > 5 * DAY else 60))
        ses = [t for type_ in ("email.delivered", "email.opened", "email.clicked") for t in times.get(type_, [])]
        if ses:
            last_seen["ses"] = iso(max(ses))
        doc = {
            "shop": shop,
            "profile_id": pid,
            "created_at": iso(first_at),
            "updated_at": iso(last_at),
            "version": 1 + sum(counts.values()) // 3,
            "customer_ids": [cid] if cid else [],
            "emails": [email] if email else [],
            "anonymous_ids": [anon],
            "phones": [],
            "traits": traits,
            "consent": consent,
            "topic_consent": {},
            "pause": None,
            "suppressions": {},
            "orders": {
                "count": order_count,
                "revenue": f"{revenue:.2f}",
                "currency": "EUR" if order_times else None,
                "first_order_at": iso(order_times[0]) if order_times else None,
                "last_order_at": iso(order_times[-1]) if order_times else None,
                "cancelled": cancelled,
                "recent": recent,
                "dropped": None,  # fewer orders than the profile keeps
            },
            "products_owned": owned,
            "affinities": _affinities(signals),
            "channels": channels,
            "cart": cart,
            "coupons_redeemed": coupons,
            "recommended": {},
            "upgrade": None,  # computed when events are applied; a stored profile may not have it yet
            "tutorials_watched": {},
            "content_sent": {},
            "last_survey": last_survey,
            "reviews": reviews,
            "referrals": referrals,
            "event_counts": event_counts,
            "event_times": event_times,
            "counted": {"order": counted_ids} if counted_ids else {},
            "invalid_addresses": [],
            "first_seen_at": iso(first_at),
            "last_seen_at": iso(last_at),
            "last_active_at": iso(last_at),
            "last_seen": last_seen,
            "imported_at": None,
            "log_seq": sum(counts.values()),
            "merged_from": [],
            "merged_into": None,
        }
        customer = Customer(pid, cid, email, anon, doc, {})
        customer.last_event = self._last_event(customer, times, last_order, last_visit_event)
        return customer

    def customers(self, count: int) -> Iterator[Customer]:
        for i in range(count):
            yield self.customer(i)

    def _last_event(
        self,
        customer: Customer,
        times: dict[str, list[float]],
        last_order: dict[str, Any] | None,
        visit: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The newest event of the history (an order, a visit's last step, or an email event)."""
        candidates = []
        if last_order is not None:
            candidates.append((last_order["t"], "order"))
        if visit is not None:
            candidates.append((visit["t"], "visit"))
        for type_ in ("email.delivered", "email.opened", "email.clicked"):
            if times.get(type_):
                candidates.append((times[type_][-1], type_))
        at, what = max(candidates)
        refs = customer.refs()
        if what == "order":
            assert last_order is not None
            record = last_order["record"]
            type_, source = "order.placed", ("shopify", "orders/create")
            props: dict[str, Any] = {
                "order_id": record["order_id"],
                "total": record["total"],
                "currency": "EUR",
                "items": [p.line() for p in last_order["lines"]],
            }
        elif what == "visit":
            assert visit is not None
            type_, source = visit["type"], ("tracker", "track")
            if type_ == "page.viewed":
                props = {"path": visit["path"], "category": visit["category"]}
            elif type_ == "product.viewed":
                props = {"product": visit["product"].info()}
            else:
                lines = visit["lines"]
                props = {
                    "cart_id": visit["cart_id"],
                    "items": [p.line() for p in lines],
                    "value": f"{sum(p.price for p in lines):.2f}",
                    "currency": "EUR",
                }
        else:
            type_, source = what, ("ses", "Open" if what == "email.opened" else "Delivery")
            props = {"template": "newsletter", "journey": "weekly"}
        return canonical(type_, f"bench-last-{customer.profile_id}", at, source, refs, props, customer.profile_id)


def canonical(
    type_: str,
    event_id: str,
    at: float,
    source: tuple[str, str],
    refs: dict[str, Any],
    properties: dict[str, Any],
    profile_id: str | None = None,
    shop: str = SHOP,
) -> dict[str, Any]:
    """Canonical event data as ingest publishes it (validate with EVENT_ADAPTER)."""
    occurred = datetime.fromtimestamp(at, UTC)
    return {
        "id": event_id,
        "shop": shop,
        "type": type_,
        "occurred_at": occurred,
        "received_at": occurred,
        "source": {"kind": source[0], "name": source[1]},
        "customer": {**refs, **({"profile_id": profile_id} if profile_id else {})},
        "properties": properties,
    }


def _affinities(signals: list[tuple[float, float, str | None, str | None, str | None, str | None]]) -> dict:
    """Ingest's rule (emma.profiles.apply._bump) applied to the signals in time order."""
    tables: dict[str, dict[str, list[float]]] = {"categories": {}, "brands": {}, "products": {}, "topics": {}}
    half_life = AFFINITY_HALF_LIFE_DAYS * DAY
    signals.sort(key=lambda s: s[0])
    for t, weight, category, brand, product, topic in signals:
        for name, key in (("categories", category), ("brands", brand), ("products", product), ("topics", topic)):
            if not key:
                continue
            key = key.strip().lower()[:128]
            table = tables[name]
            current = table.get(key)
            if current is None:
                table[key] = [weight, t]
            else:
                current[0] = current[0] * 0.5 ** (max(0.0, t - current[1]) / half_life) + weight
                current[1] = t
            if len(table) > MAX_AFFINITY_KEYS:
                weakest = min(table, key=lambda k: table[k][0] * 0.5 ** ((t - table[k][1]) / half_life))
                del table[weakest]
    return {
        name: {k: {"score": round(score, 6), "at": iso(at), "via": None} for k, (score, at) in table.items()}
        for name, table in tables.items()
    }


# ---- new events for the event stream ------------------------------------------------------------


class Stream:
    """New events of known customers after NOW, in time order: visits (pages, products, carts,
    checkouts, orders), newsletter opens and clicks, searches."""

    def __init__(self, customers: list[Customer], seed: int = 11, start: datetime = NOW) -> None:
        self.rng = random.Random(seed)
        self.customers = [c for c in customers if c.customer_id]
        self.population = Population(seed=seed)
        self.t = start.timestamp()
        self.n = 0
        self.pending: list[dict[str, Any]] = []

    def _id(self) -> str:
        self.n += 1
        return f"bench-stream-{self.n}"

    def _one(self, c: Customer, type_: str, at: float, source: tuple[str, str], props: dict[str, Any]) -> dict:
        refs = {"customer_id": c.customer_id} if source[0] == "tracker" else {"email": c.email}
        if source[0] == "shopify":
            refs = {"customer_id": c.customer_id, "email": c.email}
        return canonical(type_, self._id(), at, source, refs, props)

    def session(self) -> list[dict[str, Any]]:
        """One burst of one customer's events (a visit, or a newsletter open)."""
        rng, pop = self.rng, self.population
        c = rng.choice(self.customers)
        self.t += rng.expovariate(1 / 20.0)  # a new burst every 20 s on average
        t, out = self.t, []
        favourites = sorted(set(c.doc["affinities"]["categories"]) & set(CATEGORIES))
        favourites = favourites or ["smartphones"]
        if rng.random() < 0.15:  # a newsletter open (and maybe a click, then a visit)
            out.append(self._one(c, "email.opened", t, ("ses", "Open"), {"template": "newsletter"}))
            if rng.random() < 0.25:
                out.append(self._one(c, "email.clicked", t + 30, ("ses", "Click"), {"template": "newsletter"}))
                t += 40
            else:
                return out
        seen = None
        for k in range(rng.randint(1, 5)):
            path = rng.choice(PAGE_PATHS).format(cat=rng.choice(favourites))
            out.append(self._one(c, "page.viewed", t + 20 * k, ("tracker", "page"), {"path": path}))
        t += 120
        if rng.random() < 0.05:
            out.append(self._one(c, "search.performed", t, ("tracker", "track"), {"query": rng.choice(SEARCHES)}))
        for k in range(rng.randint(0, 4)):
            seen = pop._product(favourites)
            out.append(self._one(c, "product.viewed", t + 30 * k, ("tracker", "track"), {"product": seen.info()}))
        t += 150
        if seen is not None and rng.random() < 0.3:
            lines = [seen]
            cart = {
                "cart_id": f"cart-{c.profile_id}-{int(t)}",
                "items": [p.line() for p in lines],
                "value": f"{sum(p.price for p in lines):.2f}",
                "currency": "EUR",
            }
            out.append(self._one(c, "cart.updated", t, ("tracker", "track"), cart))
            if rng.random() < 0.45:
                out.append(self._one(c, "checkout.started", t + 60, ("tracker", "track"), cart))
                if rng.random() < 0.6:
                    total = f"{sum(p.price for p in lines):.2f}"
                    props = {
                        "order_id": f"ord-s{self.n}",
                        "total": total,
                        "currency": "EUR",
                        "items": [p.line() for p in lines],
                    }
                    if rng.random() < 0.2:
                        props["discount_codes"] = ["NEWSLETTER5"]
                    out.append(self._one(c, "order.placed", t + 240, ("shopify", "orders/create"), props))
        return out

    def events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` events in time order (bursts overlap: events wait until no later burst
        can start before them)."""
        while sum(1 for e in self.pending if e["occurred_at"].timestamp() <= self.t) < count:
            self.pending += self.session()
        self.pending.sort(key=lambda e: e["occurred_at"])
        out, self.pending = self.pending[:count], self.pending[count:]
        return out


def by_type(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
