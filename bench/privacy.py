"""GDPR export and erasure (issue 14): what one export and one erasure of a customer cost in DynamoDB
requests and request units, for a customer with a typical history and one with a full event log.

Each customer is built through the real code against the emulator: its history through the ingest
service of the wiring (``PrivacyWiring(...).ingest.intake.service``: profile, aliases, event log,
idempotency records, a merged-away anonymous visitor), every event it published through
``RulesService.on_event`` (derived state, markers, timers, segment counters), and the dispatcher's and
journeys' items through their DynamoDB adapters (message log entries, short links, the frequency cap
item, a deferred message, journey states). Then ``PrivacyService.export`` and ``PrivacyService.erase``
(the wiring's store, resolver and shop directory) run once each while every AWS call is recorded at
botocore (bench.aws_calls.CallRecorder) and turned into request units (bench.capacity.CapacityMeter,
primed with a scan of every table just before, so that a delete or an overwrite counts the stored
item's size). Step Functions (stopping a running journey) and S3 / the shop notification (used only by
queued exports) are fakes that count their calls.

    python -m bench.run    (make bench) runs it with the rest; alone: python -m bench.privacy [--output F]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.aws_calls import Call, CallRecorder  # noqa: E402
from bench.capacity import CapacityMeter, Units  # noqa: E402
from bench.synthetic import CATEGORIES, Product, canonical  # noqa: E402
from bench.synthetic import catalog as synthetic_catalog  # noqa: E402

SHOP = "elektro-emma"
PRICES = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class Size:
    """A customer to build: ``events`` ingested in all over ``history_days`` (9 of them the anonymous first
    visit, the identify with consent, a second device that logs in), ``messages`` sent (every third an SMS
    with two short links) plus one deferred, and ``journeys`` journey states (the newest still running)."""

    label: str
    events: int
    messages: int
    journeys: int
    history_days: int


SIZES = (
    Size("typical", events=40, messages=2, journeys=2, history_days=60),
    Size("heavy", events=520, messages=24, journeys=6, history_days=365),  # the event log full: 500 entries
)
JOURNEYS = ("abandoned-cart", "smartphone-onboarding", "post-purchase-cross-sell", "newsletter-interest", "winback")
PAGES = ("/", "/sale", "/new", "/service", "/c/{cat}", "/c/{cat}")


# ---- the customer's history ---------------------------------------------------------------------


@dataclass
class Person:
    tag: str
    customer_id: str
    email: str
    phone: str
    anonymous_id: str


def _session(
    rng: random.Random, p: Person, products: list[Product], t: float, n: list[int]
) -> tuple[list[dict[str, Any]], float]:
    """One visit of a known customer (pages, products, maybe cart, checkout, order), or a newsletter
    opened (and clicked); the events and the time after it."""

    def one(type_: str, at: float, source: tuple[str, str], props: dict[str, Any]) -> dict[str, Any]:
        n[0] += 1
        refs: dict[str, Any] = {"customer_id": p.customer_id}
        if source[0] == "ses":
            refs = {"email": p.email}
        elif source[0] == "shopify":
            refs = {"customer_id": p.customer_id, "email": p.email}
        return canonical(type_, f"{p.tag}-{n[0]}", at, source, refs, props)

    out = []
    if rng.random() < 0.2:
        out.append(one("email.opened", t, ("ses", "Open"), {"template": "newsletter", "journey": "newsletter"}))
        if rng.random() < 0.4:
            out.append(one("email.clicked", t + 30, ("ses", "Click"), {"template": "newsletter"}))
        return out, t + 60
    category = rng.choice(sorted(CATEGORIES))
    for k in range(rng.randint(1, 4)):
        path = rng.choice(PAGES).format(cat=category)
        out.append(one("page.viewed", t + 20 * k, ("tracker", "page"), {"path": path, "title": "Elektro Emma"}))
    t += 100
    seen = None
    for k in range(rng.randint(0, 3)):
        seen = rng.choice([x for x in products if x.category == category])
        out.append(one("product.viewed", t + 30 * k, ("tracker", "track"), {"product": seen.info()}))
    t += 120
    if seen is not None and rng.random() < 0.35:
        cart = {
            "cart_id": f"cart-{p.tag}-{n[0]}",
            "items": [seen.line()],
            "value": f"{seen.price:.2f}",
            "currency": "EUR",
        }
        out.append(one("cart.updated", t, ("tracker", "track"), cart))
        if rng.random() < 0.5:
            out.append(one("checkout.started", t + 60, ("tracker", "track"), cart))
            if rng.random() < 0.7:
                order = {
                    "order_id": f"{p.tag}-o{n[0]}",
                    "total": f"{seen.price:.2f}",
                    "currency": "EUR",
                    "items": [seen.line()],
                }
                out.append(one("order.placed", t + 240, ("shopify", "orders/create"), order))
        t += 300
    return out, t


def history(size: Size, person: Person, now: datetime, seed: int = 14) -> list[list[dict[str, Any]]]:
    """The customer's events as the requests that carried them, oldest first: an anonymous visit (3 page
    views), the identify (email, phone, consent to email and SMS with proof), visits and newsletter
    opens spread evenly over ``history_days`` (the newest an hour ago), and half-way a visit on a second
    device that logs in (its anonymous profile is merged into the customer's): ``size.events`` in all."""
    rng = random.Random(f"{seed}-{size.label}")
    products = synthetic_catalog()
    start = (now - timedelta(days=size.history_days)).timestamp()
    anon = {"anonymous_id": person.anonymous_id}
    first_visit = [
        canonical("page.viewed", f"{person.tag}-a{k}", start + 20 * k, ("tracker", "page"), anon, {"path": path})
        for k, path in enumerate(("/", "/c/smartphones", "/sale"))
    ]
    at = start + 600
    proof = {"source": "tracker:identify", "at": datetime.fromtimestamp(at, UTC), "wording": "Newsletter: ja"}
    refs = {"customer_id": person.customer_id, "email": person.email, "anonymous_id": person.anonymous_id}
    traits = {
        "first_name": "Erika",
        "last_name": "Muster",
        "phone": person.phone,
        "locale": "de",
        "timezone": "Europe/Berlin",
    }
    identify = [
        canonical("customer.identified", f"{person.tag}-id", at, ("tracker", "identify"), refs, traits),
        canonical(
            "consent.changed",
            f"{person.tag}-c-email",
            at,
            ("tracker", "identify"),
            refs,
            {"channel": "email", "granted": True, "proof": {**proof, "double_opt_in": True}},
        ),
        canonical(
            "consent.changed",
            f"{person.tag}-c-sms",
            at,
            ("tracker", "identify"),
            refs,
            {"channel": "sms", "granted": True, "proof": {**proof, "wording": "SMS: ja"}},
        ),
    ]
    left = size.events - 9
    sessions: list[list[dict[str, Any]]] = []
    n = [0]
    while left > 0:
        events, _ = _session(rng, person, products, 0.0, n)
        sessions.append(events[:left])
        left -= len(sessions[-1])
    device = {"anonymous_id": f"{person.anonymous_id}-2"}
    login = {"customer_id": person.customer_id, "anonymous_id": device["anonymous_id"]}
    second_device = [
        [
            canonical("page.viewed", f"{person.tag}-b{k}", 20.0 * k, ("tracker", "page"), device, {"path": "/"})
            for k in (0, 1)
        ],
        [canonical("customer.identified", f"{person.tag}-login", 60.0, ("tracker", "identify"), login, {})],
    ]
    half = len(sessions) // 2
    sessions[half:half] = second_device
    first = at + 3600
    span = (now - timedelta(hours=1)).timestamp() - 900 - first
    for k, events in enumerate(sessions):
        begin = first + span * (k + 1) / len(sessions)
        for e in events:
            e["occurred_at"] = e["received_at"] = datetime.fromtimestamp(begin + e["occurred_at"].timestamp(), UTC)
    (login_event,) = second_device[1]  # a minute after the second device's visit, as its own request
    login_event["occurred_at"] = login_event["received_at"] = second_device[0][-1]["occurred_at"] + timedelta(minutes=1)
    return [first_visit, identify, *sessions]


# ---- the world: emulator, wiring, adapters ------------------------------------------------------


class Executions:
    """Step Functions, a fake: counts the executions an erasure stops."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop(self, arn: str, cause: str) -> None:
        self.stopped.append(arn)


class Exports:
    """S3, a fake: a direct export returns its document; only queued exports are kept (counted), and an
    erasure lists and deletes the customer's (counted as S3 requests)."""

    def __init__(self) -> None:
        self.puts = 0
        self.deletes = 0
        self.docs: dict[str, dict[str, Any]] = {}

    def put(self, shop: str, job_id: str, document: dict[str, Any], profile_id: str | None) -> str:
        self.puts += 1
        location = f"fake://{shop}/{profile_id or '_'}/{job_id}.json"
        self.docs[location] = document
        return location

    def get(self, location: str) -> dict[str, Any] | None:
        return self.docs.get(location)

    def delete(self, shop: str, profile_ids: Any) -> int:
        self.deletes += 1
        prefixes = [f"fake://{shop}/"] if profile_ids is None else [f"fake://{shop}/{p}/" for p in profile_ids]
        gone = [loc for loc in self.docs if loc.startswith(tuple(prefixes))]
        for loc in gone:
            del self.docs[loc]
        return len(gone)


class Notifier:
    def __init__(self) -> None:
        self.sent = 0

    def notify(self, shop: Any, payload: dict[str, Any]) -> None:
        self.sent += 1


class _Tee:
    """The ingest service's publisher, also keeping what it published (with the profile ids) for the
    rules, as EventBridge hands it to the triggers function."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.events: list[Any] = []

    def publish(self, events: Any) -> None:
        self.inner.publish(events)
        self.events += list(events)


class World:
    """The wiring and adapters over one provisioned account (an emulator, or in-process moto)."""

    def __init__(self, session: Any, resources: Any) -> None:
        from emma.adapters.dispatch import DynamoCapStore, DynamoDeferrals, DynamoLinks, DynamoMessageLog
        from emma.adapters.journeys import DynamoJourneyStore
        from emma.clock import CLOCK_FILE_ENV
        from emma.config import PrivacySettings, RulesSettings
        from emma.privacy.service import PrivacyService
        from emma.resources import PROFILES_TABLE, SCHEDULE_TABLE
        from emma.wiring.privacy import PrivacyWiring
        from emma.wiring.rules import build_rules

        self.session = session
        self.clock_file = Path(os.environ[CLOCK_FILE_ENV])
        self.tables = dict(resources.tables)
        self.wiring = PrivacyWiring(PrivacySettings(), session=session)  # type: ignore[call-arg]
        ingest = self.wiring.ingest
        self.intake = ingest.intake
        self.tee = _Tee(self.intake.service._publisher)
        self.intake.service._publisher = self.tee  # see _Tee
        from emma.resources import PROFILES_TABLE as _PROFILES
        from emma_local.streams import relayed

        # the profiles table's stream: each ingest's outbox goes to the bus (through the tee) as in AWS
        relayed(self.intake.service, session, os.environ[_PROFILES.env_var], self.tee)
        self.rules = build_rules(RulesSettings(), session).service  # type: ignore[call-arg]
        self.ddb = ingest.dynamodb
        profiles = os.environ[PROFILES_TABLE.env_var]
        schedule = os.environ[SCHEDULE_TABLE.env_var]
        self.messages = DynamoMessageLog(self.ddb, profiles)
        self.links = DynamoLinks(self.ddb, profiles)
        self.caps = DynamoCapStore(self.ddb, profiles)
        self.deferrals = DynamoDeferrals(self.ddb, schedule)
        self.journeys = DynamoJourneyStore(self.ddb, profiles)
        self.executions, self.exports, self.notifier = Executions(), Exports(), Notifier()
        self.shop = self.intake.shops.get(SHOP)  # read once here: not part of what is measured
        self.privacy = PrivacyService(
            self.wiring.store,
            self.intake.service.resolve,
            self.intake.shops,
            self.executions,
            self.exports,
            self.notifier,
            ingest.clock,
        )
        self.clock = ingest.clock

    def set_time(self, at: datetime | None) -> None:
        """Move every component's clock (EMMA_CLOCK_FILE) to ``at``; None: the real time."""
        from emma.clock import FileClock

        offset = 0.0 if at is None else at.timestamp() - time.time()
        FileClock.write(self.clock_file, offset=offset, anchor=time.time())


def _ingest(w: World, requests: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Each request through the ingest service at the time it was sent (the clock file moved there), every
    event it published through the rules, and the rules' scheduled job before each request (the timers
    due meanwhile); at the end once more at the real time."""
    from emma.events.model import parse_event

    accepted, types, evaluated, timers = 0, Counter(), 0, 0
    for request in requests:
        w.set_time(max(e["received_at"] for e in request) + timedelta(seconds=2))
        timers += w.rules.on_schedule([SHOP]).timers
        w.tee.events.clear()
        report = w.intake.service.ingest([parse_event(e) for e in request])
        accepted += len(report.accepted)
        types.update(e["type"] for e in request)
        for event in list(w.tee.events):  # the triggers function's part, for each event published
            evaluated += w.rules.on_event(event).evaluated
    w.set_time(None)
    timers += w.rules.on_schedule([SHOP]).timers
    return {
        "events_ingested": accepted,
        "events_by_type": dict(types.most_common()),
        "rules_evaluations": evaluated,
        "rules_timers_run": timers,
    }


def _expire(w: World) -> dict[str, int]:
    """What DynamoDB's TTL would have deleted by now (items whose ``expires_at`` has passed: idempotency
    records after 35 days, rules markers after 14, event log entries after 400, ...): deleted, not
    recorded, counted per item type."""
    from emma.adapters.ddb import key

    now = time.time()
    gone: Counter[str] = Counter()
    for table in w.tables.values():
        for page in w.ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if "expires_at" in item and float(item["expires_at"]["N"]) < now:
                    w.ddb.delete_item(TableName=table, Key=key(item["pk"]["S"], item["sk"]["S"]))
                    gone[_kind(SHOP, item)] += 1
    return dict(sorted(gone.items()))


def _dispatch_items(w: World, size: Size, person: Person, profile_id: str, now: datetime) -> dict[str, int]:
    """Message log entries as the dispatcher leaves them (claimed, sending, sent; SMS with two short links;
    marketing messages reserve a slot in the cap item) and one message deferred by quiet hours."""
    from emma.dispatch.request import MessageRequest
    from emma.dispatch.tokens import link_code, message_ref

    links = 0
    for n in range(size.messages):
        sms = n % 3 == 0
        at = now - timedelta(days=size.history_days * (size.messages - n) / (size.messages + 1))
        journey = "abandoned-cart" if sms else "newsletter-interest"
        request = MessageRequest(
            key=f"{person.tag}-x{n}:send:{at.strftime('%Y%m%d%H%M%S')}",
            shop=SHOP,
            profile_id=profile_id,
            template="cart-reminder" if sms else "newsletter",
            channel="sms" if sms else "email",
            requested_at=at,
            journey=journey,
            execution=f"{person.tag}-x{n}",
            step="send",
        )
        record = w.messages.claim(request, at, at + timedelta(minutes=5))
        assert record is not None
        decisions = [
            {"stage": "consent", "outcome": "pass", "reason": f"{request.channel} granted"},
            {"stage": "caps", "outcome": "pass", "reason": "1 of 3 in 7 days"},
        ]
        w.caps.reserve(SHOP, profile_id, request.key, at, ())
        w.messages.update(record, "sending", decisions, at, channel=request.channel, locale="de", lease_until=at)
        codes = []
        if sms:
            from emma.adapters.keys import LINK_TTL

            for url in ("https://elektro-emma.example/cart", "https://elektro-emma.example/p/case-1"):
                code = link_code(request.key, url)
                link = {
                    "url": url,
                    "profile_id": profile_id,
                    "channel": "sms",
                    "template": request.template,
                    "journey": journey,
                    "message": message_ref(request.key),
                }
                if now - at < LINK_TTL:  # older ones: gone by TTL (DynamoLinks stamps the real time)
                    w.links.save(SHOP, code, link)
                codes.append(code)
            preview = "Erika, dein Warenkorb wartet: https://emma.example/v1/r/elektro-emma/" + codes[0]
            subject = None
        else:
            preview = "Neu bei Elektro Emma: die Angebote der Woche. " * 6
            subject = "Die Angebote der Woche"
        recommended = (
            None if sms else [{"product_id": f"p-{k}", "url": f"https://elektro-emma.example/p/{k}"} for k in range(4)]
        )
        w.messages.update(
            record,
            "sent",
            [{"stage": "send", "outcome": "pass", "reason": f"{request.channel} to e***@example.de"}],
            at,
            subject=subject,
            preview=preview[:280],
            provider_id=f"prov-{person.tag}-{n}",
            recommended=recommended,
            links=sorted(codes) or None,
        )
        links += len(codes)
    # One deferred by quiet hours: the log entry and the deferral in the schedule table.
    request = MessageRequest(
        key=f"{person.tag}-d:send:1",
        shop=SHOP,
        profile_id=profile_id,
        template="cart-last-call",
        channel="sms",
        requested_at=now,
        journey="abandoned-cart",
        execution=f"{person.tag}-d",
        step="last-call",
    )
    due = (now + timedelta(hours=10)).replace(microsecond=0)
    record = w.messages.claim(request, now, now + timedelta(minutes=5))
    assert record is not None
    w.messages.update(
        record, "deferred", [{"stage": "quiet_hours", "outcome": "defer", "reason": "22:00-08:00"}], now, not_before=due
    )
    w.deferrals.defer(request, due)
    return {"messages_sent": size.messages, "messages_deferred": 1, "short_links": links}


def _journey_states(w: World, size: Size, person: Person, profile_id: str, now: datetime) -> int:
    from emma.journeys.state import JourneyState, LogEntry

    for n in range(size.journeys):
        running = n == size.journeys - 1
        journey = JOURNEYS[n % len(JOURNEYS)] + ("" if n < len(JOURNEYS) else f"-{n}")
        entered = now - timedelta(days=size.history_days * (size.journeys - n) / (size.journeys + 1))
        execution = f"{person.tag}-{journey}-{n}"
        log = [
            LogEntry(at=entered + timedelta(hours=k), execution=execution, step=step, what=what, key=f"{execution}:{k}")
            for k, (step, what) in enumerate(
                (("start", "entered"), ("wait", "waiting"), ("send", "sent"), ("wait-2", "waiting"))
            )
        ]
        state = JourneyState(
            journey=journey,
            status="active" if running else "completed",
            execution=execution,
            execution_arn=f"arn:aws:states:eu-central-1:123456789012:execution:emma-{journey}:{execution}",
            entered_at=entered,
            step="wait-2" if running else None,
            step_since=entered + timedelta(hours=3),
            waiting_for="order.placed" if running else None,
            token="tok-" + execution if running else None,
            messages=1,
            ended_at=None if running else entered + timedelta(days=3),
            end_reason=None if running else "completed",
            log=log,
        )
        w.journeys.put(SHOP, profile_id, state)
    return size.journeys


def build_customer(w: World, size: Size, seed: int = 14) -> dict[str, Any]:
    tag = f"pv-{size.label}"
    person = Person(
        tag, f"cust-{tag}", f"{tag}@example.de", "+4915100000" + str(len(size.label)).zfill(3), f"anon-{tag}"
    )
    now = w.clock.now()
    started = time.perf_counter()
    built = _ingest(w, history(size, person, now, seed))
    profile_id = w.intake.service.resolve(SHOP, f"cid:{person.customer_id}").profile_id
    built |= _dispatch_items(w, size, person, profile_id, now)
    built["journey_states"] = _journey_states(w, size, person, profile_id, now)
    built["expired_before_measuring"] = _expire(w)
    built["build_s"] = time.perf_counter() - started
    return {"person": person, "profile_id": profile_id, **built}


# ---- metering -----------------------------------------------------------------------------------


def _kind(shop: str, key: Mapping[str, Any]) -> str:
    """The item type of a key (docs/data-model.md names), in any table."""
    from emma.adapters import keys
    from emma.adapters.privacy import _classify

    pk, sk = (key.get("pk") or {}).get("S", ""), (key.get("sk") or {}).get("S", "")
    if not pk:
        return "?"
    for prefix, item_type in (
        (keys.privacy_job_pk(shop, ""), keys.PRIVACY_JOB),
        (keys.audit_pk(shop, ""), keys.AUDIT),
    ):
        if pk.startswith(prefix):
            return item_type.name
    if pk == keys.PRIVACY_QUEUE_PK:
        return keys.PRIVACY_QUEUE.name
    return _classify(shop, {"pk": {"S": pk}, "sk": {"S": sk}})


def _schema(tables: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    from emma.resources import TABLES

    return {tables[t.logical_id]: tuple(k for k in (t.partition_key, t.sort_key) if k) for t in TABLES}


def _primed_meter(w: World) -> CapacityMeter:
    """A meter that knows the size of every stored item (a scan of every table, not recorded)."""
    meter = CapacityMeter(_schema(w.tables))
    for table in w.tables.values():
        for page in w.ddb.get_paginator("scan").paginate(TableName=table):
            meter.units("Scan", {"TableName": table}, page)
    return meter


def _writes(calls: list[Call]) -> dict[str, Counter[str]]:
    """Item writes by action (delete, put, update) and item type, from the requests' parameters."""
    out: dict[str, Counter[str]] = {"delete": Counter(), "put": Counter(), "update": Counter()}
    for c in calls:
        if c.service != "dynamodb" or c.error:
            continue
        p = c.params
        if c.operation == "DeleteItem":
            out["delete"][_kind(SHOP, p["Key"])] += 1
        elif c.operation == "PutItem":
            out["put"][_kind(SHOP, p["Item"])] += 1
        elif c.operation == "UpdateItem":
            out["update"][_kind(SHOP, p["Key"])] += 1
        elif c.operation == "BatchWriteItem":
            left = c.response.get("UnprocessedItems") if c.response else None
            if left:
                raise RuntimeError("BatchWriteItem left items unprocessed: retried writes are not counted here")
            for requests in p["RequestItems"].values():
                for r in requests:
                    if "DeleteRequest" in r:
                        out["delete"][_kind(SHOP, r["DeleteRequest"]["Key"])] += 1
                    else:
                        out["put"][_kind(SHOP, r["PutRequest"]["Item"])] += 1
        elif c.operation == "TransactWriteItems":
            for entry in p["TransactItems"]:
                ((action, body),) = entry.items()
                name = {"Put": "put", "Delete": "delete", "Update": "update"}.get(action)
                if name:
                    out[name][_kind(SHOP, body.get("Item") or body["Key"])] += 1
    return {k: Counter(dict(sorted(v.items()))) for k, v in out.items()}


def meter_calls(meter: CapacityMeter, calls: list[Call], prices: Mapping[str, Any]) -> dict[str, Any]:
    """Requests by API, read and write units (total, by API, by item type) and their list price."""
    by_api: Counter[str] = Counter()
    units_by_api: dict[str, Units] = {}
    units_by_item: dict[str, Units] = {}

    def on_item(operation: str, table: str, key: Mapping[str, Any], units: Units) -> None:
        label = f"{operation} {_kind(SHOP, key) if key else 'partition'}"
        units_by_item[label] = units_by_item.get(label, Units()) + units

    meter.on_item = on_item
    total = Units()
    errors = []
    for c in calls:
        by_api[f"{c.service}:{c.operation}"] += 1
        if c.error:
            errors.append(f"{c.service}:{c.operation}: {c.error}")
        if c.service != "dynamodb":
            continue
        u = meter.units(c.operation, c.params, c.response, failed=c.error is not None)
        units_by_api[c.operation] = units_by_api.get(c.operation, Units()) + u
        total += u
    meter.on_item = None
    ddb = prices["services"]["dynamodb_on_demand"]
    usd = total.rru * ddb["usd_per_million_rru"] / 1e6 + total.wru * ddb["usd_per_million_wru"] / 1e6
    dynamodb_requests = {k.split(":", 1)[1]: v for k, v in sorted(by_api.items()) if k.startswith("dynamodb:")}
    return {
        "dynamodb_requests": sum(dynamodb_requests.values()),
        "dynamodb_requests_by_api": dynamodb_requests,
        "other_aws_requests": {k: v for k, v in sorted(by_api.items()) if not k.startswith("dynamodb:")},
        "errors": errors,
        "rru": total.rru,
        "wru": total.wru,
        "units": total.as_dict(),
        "units_by_api": {k: {"rru": u.rru, "wru": u.wru} for k, u in sorted(units_by_api.items())},
        "units_by_item": {
            k: {"rru": u.rru, "wru": u.wru, "items_read": u.items_read, "items_written": u.items_written}
            for k, u in sorted(units_by_item.items())
        },
        "item_writes": {k: dict(v) for k, v in _writes(calls).items()},
        "usd_dynamodb": usd,
        "usd_dynamodb_per_1000": usd * 1000,
    }


def _measured(w: World, recorder: CallRecorder, prices: Mapping[str, Any], run: Callable[[], Any]) -> tuple[Any, dict]:
    meter = _primed_meter(w)
    with recorder.recording() as calls:
        started = time.perf_counter()
        result = run()
        wall = time.perf_counter() - started
    return result, {**meter_calls(meter, calls, prices), "wall_s_local_emulator": wall}


# ---- one customer, and all of it ------------------------------------------------------------------


def measure_customer(w: World, size: Size, recorder: CallRecorder, prices: Mapping[str, Any]) -> dict[str, Any]:
    from emma.errors import ProfileNotFound

    built = build_customer(w, size)
    person: Person = built.pop("person")
    ref = person.email
    stopped_before, puts_before = len(w.executions.stopped), w.exports.puts
    document, export = _measured(w, recorder, prices, lambda: w.privacy.export(w.shop, ref, "bench"))
    holds = document["summary"]["items"]
    outcome, erase = _measured(
        w, recorder, prices, lambda: w.privacy.erase(w.shop, f"cid:{person.customer_id}", "bench")
    )
    job = outcome.job
    left = w.wiring.store.holdings(SHOP, document["summary"]["profile_ids"], [])
    try:
        w.intake.service.resolve(SHOP, ref)
        resolvable = True
    except ProfileNotFound:
        resolvable = False
    deleted = sum(erase["item_writes"]["delete"].values())
    return {
        "customer": {
            **{k: v for k, v in built.items() if k != "profile_id"},
            "profile_ids": len(document["summary"]["profile_ids"]),
            "holds": holds,
            "holds_total": sum(holds.values()),
            "export_json_bytes": len(json.dumps(document, default=str).encode()),
        },
        "export": export,
        "erase": {
            **erase,
            "job_status": job.status,
            "counts": dict(sorted(job.counts.items())),
            "counts_total": sum(job.counts.values()),
            "items_deleted": deleted,
            "stopped_executions": job.stopped_executions,
            "suppressed": job.suppressed,
            "left_after": len(left),
            "still_resolvable": resolvable,
        },
        "fakes": {
            "stepfunctions_stop_execution": len(w.executions.stopped) - stopped_before,
            "s3_put_object": w.exports.puts - puts_before,
        },
    }


def _run(session: Any, resources: Any, sizes: tuple[Size, ...], prices: Mapping[str, Any]) -> dict[str, Any]:
    import tempfile

    from emma.clock import CLOCK_FILE_ENV

    clock_dir = tempfile.TemporaryDirectory(prefix="emma-bench-privacy-")
    os.environ[CLOCK_FILE_ENV] = str(Path(clock_dir.name) / "clock.json")  # restored by _with_env
    w = World(session, resources)
    w.set_time(None)
    recorder = CallRecorder()
    recorder.install()
    try:
        customers = {size.label: measure_customer(w, size, recorder, prices) for size in sizes}
    finally:
        recorder.uninstall()
        clock_dir.cleanup()
    return {
        "shop": SHOP,
        "sizes": {s.label: s.__dict__ for s in sizes},
        "customers": customers,
        "prices_as_of": prices["as_of"],
        "fakes": "Step Functions StopExecution and S3 (queued exports only) are fakes that count calls; "
        "the shop directory is read before the clock starts",
    }


def measure(
    prices: Mapping[str, Any] | None = None, sizes: tuple[Size, ...] = SIZES, session: Any = None, resources: Any = None
) -> dict[str, Any]:
    """Build each customer and measure one export and one erasure. Without ``session``: a fresh emulator
    (moto server, as `emma dev`); with one (and its ``resources``, from emma_local.provision): that
    account, e.g. in-process moto in a unit test."""
    from emma.resources import DEFINITIONS_ENV

    prices = prices or json.loads(PRICES.read_text())
    if session is not None:
        return _with_env(
            resources.env() | {DEFINITIONS_ENV: str(ROOT)}, lambda: _run(session, resources, sizes, prices)
        )
    from emma_local.config import load_config
    from emma_local.emulator import start_emulator
    from emma_local.provision import provision

    emulator = start_emulator()
    try:

        def run() -> dict[str, Any]:
            session = emulator.session()
            resources = provision(session, load_config().shops)
            os.environ.update(resources.env())
            return _run(session, resources, sizes, prices)

        result = _with_env(emulator.env() | {DEFINITIONS_ENV: str(ROOT)}, run)
        result["emulator"] = "moto server (emma_local.emulator), over HTTP"
        return result
    finally:
        emulator.stop()


def _with_env(env: Mapping[str, str], run: Callable[[], Any]) -> Any:
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return run()
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---- report --------------------------------------------------------------------------------------


def _ops(requests: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in requests.items())


def report(r: dict[str, Any]) -> str:
    out = [
        "\n12. Privacy: one GDPR export and one erasure per customer (PrivacyService, the wiring's DynamoDB store,"
        " on the emulator;\n  units by the rules of section 3, USD for DynamoDB on-demand at list prices;"
        " Step Functions and S3 are counting fakes)"
    ]
    for label, c in r["customers"].items():
        cust, ex, er = c["customer"], c["export"], c["erase"]
        expired = ", ".join(f"{k} {v}" for k, v in cust["expired_before_measuring"].items()) or "nothing"
        out.append(
            f"  {label}: {cust['events_ingested']} events ingested over {r['sizes'][label]['history_days']} days"
            f" ({cust['rules_evaluations']} rules evaluations, {cust['rules_timers_run']} timers run),"
            f" {cust['messages_sent']} messages sent + {cust['messages_deferred']} deferred,"
            f" {cust['journey_states']} journey states; TTL had removed {expired}.\n"
            f"    Holds {cust['holds_total']} items under {cust['profile_ids']} profile ids"
            f" (export {cust['export_json_bytes'] / 1024:,.0f} KB of JSON): "
            + ", ".join(f"{k} {v}" for k, v in cust["holds"].items())
        )
        rows = [
            [
                name,
                str(m["dynamodb_requests"]),
                f"{m['rru']:g}",
                f"{m['wru']:g}",
                f"${m['usd_dynamodb']:.7f}",
                f"${m['usd_dynamodb_per_1000']:.4f}",
                f"{m['wall_s_local_emulator'] * 1000:.0f}",
            ]
            for name, m in (("export", ex), ("erasure", er))
        ]
        header = ["", "requests", "RRU", "WRU", "USD each", "USD per 1,000", "ms (local emulator, not AWS)"]
        widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
        for row in (header, *rows):
            out.append("    " + "  ".join(x.rjust(w) for x, w in zip(row, widths, strict=True)))
        out.append(f"    export requests:  {_ops(ex['dynamodb_requests_by_api'])}")
        out.append(f"    erasure requests: {_ops(er['dynamodb_requests_by_api'])}")
        out.append(
            f"    erasure: {er['counts_total']} items erased ({er['items_deleted']} deletes incl. the privacy queue"
            f" entry; {er['counts'].get('idempotency record', 0)} idempotency records rewritten without the profile"
            f" id), {er['stopped_executions']} execution stopped (fake), {er['suppressed']} addresses kept as salted"
            f" hashes; found afterwards: {er['left_after']}"
        )
    return "\n".join(out)


def findings(r: dict[str, Any]) -> list[str]:
    found = []
    for label, c in r["customers"].items():
        er = c["erase"]
        idem = c["export"]["units_by_item"].get("BatchGetItem idempotency record", {"rru": 0.0, "items_read": 0})
        found.append(
            f"privacy, {label} customer: one erasure costs {er['dynamodb_requests']} DynamoDB requests,"
            f" {er['rru']:g} RRU and {er['wru']:g} WRU: ${er['usd_dynamodb_per_1000']:.4f} per 1,000 erasures"
            f" (one export ${c['export']['usd_dynamodb_per_1000']:.4f} per 1,000)."
        )
        looked_up = c["customer"]["holds"].get("event log entry", 0) + c["customer"]["holds"].get(
            "merged event log entry", 0
        )
        if idem["rru"] > c["export"]["rru"] / 2:
            missing = looked_up - idem["items_read"]
            found.append(
                f"privacy, {label} customer: {idem['rru']:g} of the export's {c['export']['rru']:g} RRU (the erasure's"
                f" first look reads the same) go to looking up an idempotency record for each of the {looked_up}"
                f" logged events (BatchGetItem, strongly consistent); {missing} of them had been removed by TTL"
                " (35 days after the event) and are charged 1 RRU each all the same."
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GDPR export and erasure: DynamoDB requests and units")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = measure()
    print(report(result))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
