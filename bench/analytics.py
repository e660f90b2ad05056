"""Analytics (issue 15): what the analytics consumer costs in DynamoDB per event and per message, and what
reading its reports costs.

The real consumer (``emma.analytics.service.AnalyticsService.on_event``, with the bus source each event
comes from) over the real store (``emma.adapters.analytics.DynamoAnalyticsStore``), against in-process moto
(``mock_aws``) with the profiles table created from ``emma.resources.PROFILES_TABLE`` as `emma dev` creates it
(``emma_local.provision.create_table``) and the shop from a ``StaticShopDirectory``. Every AWS call is
recorded at botocore (bench.aws_calls.CallRecorder) and billed by DynamoDB's sizing rules (bench.capacity,
README section 3): moto does not report consumed capacity faithfully, and the adapter does not ask for it.

Billing follows the items: a shadow copy of every item the recorded calls wrote (PutItem and the
transaction's Put as sent, its counter ``ADD``/``SET if_not_exists`` applied to the counter item) gives
each write the larger of the item's size before and after (1 WRU per started KB, 2x in a transaction) and
each read the size of what it returned (GetItem strongly consistent 1 RRU per started 4 KB, a missing key
still 1; Query eventually consistent, the page's items added up, 0.5 per started 4 KB). At the end of each
scenario the shadow is compared with a scan of the table (not recorded): every item and every size must
agree, or the figures are wrong and the run says so.

Scenarios: a) one message's life; b) a skipped message; c) an order touched by three messages and an
experiment, then its cancellation; d) a journey's progress; e) those events delivered again (a-e on one
table, distinct customers); c2) the order of a customer with a year of messages; f) a mixed stream of a
shop's month (seeded), then the item sizes, the counter items per day and the read cost of each report over
those 30 days (c2 and f each on a fresh table).

    python -m bench.analytics [--customers N] [--output F.json]   (about 2 minutes for 1,000 customers)
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.aws_calls import Call, CallRecorder  # noqa: E402
from bench.capacity import item_size, query_read_units, read_units, write_units  # noqa: E402

SHOP = "elektro-emma"
PRICES = Path(__file__).with_name("prices.json")
REGION = "eu-central-1"
MONTH = (date(2026, 11, 1), date(2026, 11, 30))  # the mixed stream's 30 days (the shop's days, Europe/Berlin)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # the single scenarios: a Monday, 10:00 in Berlin
QUERY_PAGE = 1024 * 1024  # DynamoDB ends a Query page at 1 MB (moto does not)

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
APPLE_PROXY = ("Mozilla/5.0", "17.58.101.23")  # Apple Mail Privacy Protection: a machine open


@dataclass(frozen=True)
class Rates:
    """The mixed stream's feedback, per message sent (opens, clicks, complaints, unsubscribes: of those
    delivered), and its orders (per customer) and cancellations (per order)."""

    skipped: float = 0.03  # requests dispatch skips (consent, caps...): not sent, no feedback
    delivered: float = 0.98
    bounced: float = 0.005  # the rest (1.5 %): no feedback within the month
    human_open: float = 0.35
    second_open: float = 0.25  # of the human openers: a second open event
    machine_open: float = 0.20
    click: float = 0.04  # clickers are human openers
    second_click: float = 0.30  # of the clickers
    complaint: float = 0.0005
    unsubscribe: float = 0.002  # email.unsubscribed and consent.changed (email withdrawn)
    order: float = 0.03  # customers who order, 1-72 hours after one of their messages
    cancel: float = 0.05  # of the orders, two days later


RATES = Rates()
CUSTOMERS = 1000
JOURNEY_MIX = (("abandoned-cart", 0.55), ("winback", 0.25), ("smartphone-onboarding", 0.20))


# ---- billing: the calls, item by item ------------------------------------------------------------


def item_kind(pk: str, sk: str) -> str:
    """What an analytics item is (docs/data-model.md), from its key."""
    if "#AN#" in pk:
        kind = pk.split("#AN#", 1)[1].split("#", 1)[0]
        return "snapshot" if kind == "snapshot" else f"counter: {kind}"
    for prefix, name in (("AN#M#", "touch"), ("AN#X#", "assignment"), ("AN#O#", "order credit"), ("AN#J#", "progress")):
        if sk.startswith(prefix):
            return name
    return "other"


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


_ADD = re.compile(r"ADD (?P<add>#\w+ :\w+(?:, #\w+ :\w+)*)(?: SET (?P<set>.+))?")
_SET_IF_MISSING = re.compile(r"(#\w+) = if_not_exists\((#\w+), (:\w+)\)")


def apply_update(before: Mapping[str, Any] | None, key: Mapping[str, Any], op: Mapping[str, Any]) -> dict[str, Any]:
    """The item after one of the store's counter updates (``ADD #c0 :c0, ... SET #e = if_not_exists(#e, :e)``).
    Any other update expression raises: the bench would bill it wrongly."""
    found = _ADD.fullmatch(op["UpdateExpression"])
    if not found:
        raise ValueError(f"an update the analytics bench cannot follow: {op['UpdateExpression']!r}")
    names, values = op.get("ExpressionAttributeNames", {}), op.get("ExpressionAttributeValues", {})
    item = dict(before) if before else dict(key)
    for part in found["add"].split(", "):
        name, value = part.split(" ")
        attr = names[name]
        old = Decimal(item[attr]["N"]) if attr in item else Decimal(0)
        item[attr] = {"N": str(old + Decimal(values[value]["N"]))}
    sets = _SET_IF_MISSING.findall(found["set"] or "")
    if ", ".join(f"{a} = if_not_exists({b}, {v})" for a, b, v in sets) != (found["set"] or "") or any(
        a != b for a, b, _ in sets
    ):
        raise ValueError(f"an update the analytics bench cannot follow: {op['UpdateExpression']!r}")
    for name, _, value in sets:
        item.setdefault(names[name], values[value])
    return item


@dataclass
class Bill:
    """DynamoDB requests and request units of some calls, by API and by item kind."""

    requests: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    rru_by_item: Counter[str] = field(default_factory=Counter)
    wru_by_item: Counter[str] = field(default_factory=Counter)
    items_written: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    keys_missing: int = 0
    bytes_read: int = 0
    max_query_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    other_aws: Counter[str] = field(default_factory=Counter)

    def __iadd__(self, other: Bill) -> Bill:
        self.requests += other.requests
        self.rru += other.rru
        self.wru += other.wru
        self.rru_by_item.update(other.rru_by_item)
        self.wru_by_item.update(other.wru_by_item)
        self.items_written += other.items_written
        self.items_read += other.items_read
        self.keys_missing += other.keys_missing
        self.bytes_read += other.bytes_read
        self.max_query_bytes = max(self.max_query_bytes, other.max_query_bytes)
        self.errors += other.errors
        self.other_aws += other.other_aws
        return self

    def usd(self, prices: Mapping[str, Any]) -> float:
        ddb = prices["services"]["dynamodb_on_demand"]
        return (self.rru * ddb["usd_per_million_rru"] + self.wru * ddb["usd_per_million_wru"]) / 1e6

    def view(self, prices: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "requests": sum(self.requests.values()),
            "requests_by_api": dict(sorted(self.requests.items())),
            "rru": self.rru,
            "wru": self.wru,
            "usd": self.usd(prices),
            "items_written": dict(sorted(self.items_written.items())),
            "wru_by_item": dict(sorted(self.wru_by_item.items())),
            "rru_by_item": dict(sorted(self.rru_by_item.items())),
            "items_read": self.items_read,
            "keys_missing": self.keys_missing,
            "bytes_read": self.bytes_read,
            "errors": list(self.errors),
            "other_aws_requests": dict(sorted(self.other_aws.items())),
        }


class Meter:
    """Bills recorded calls against a shadow of the table (every item as the recorded writes left it)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.read_mismatches = 0  # a GetItem returned an item of another size than the shadow's

    def size(self, key: tuple[str, str]) -> int:
        item = self.items.get(key)
        return item_size(item) if item else 0

    def bill(self, calls: list[Call]) -> Bill:
        b = Bill()
        for c in calls:
            if c.service != "dynamodb":
                b.other_aws[f"{c.service}:{c.operation}"] += 1
                continue
            b.requests[c.operation] += 1
            if c.error:
                b.errors.append(f"{c.operation}: {c.error}")
            self._call(b, c)
        return b

    def _write(self, b: Bill, key: tuple[str, str], after: dict[str, Any] | None, tx: bool, store: bool) -> None:
        units = write_units(max(self.size(key), item_size(after) if after else 0), transactional=tx)
        kind = item_kind(*key)
        b.wru += units
        b.wru_by_item[kind] += units
        b.items_written[kind] += 1
        if store:
            if after is None:
                self.items.pop(key, None)
            else:
                self.items[key] = after

    def _call(self, b: Bill, c: Call) -> None:
        p, r, ok = c.params, c.response or {}, c.error is None
        op = c.operation
        if op == "GetItem":
            found = r.get("Item")
            size = item_size(found) if found else 0
            if found and size != self.size(_key(found)):
                self.read_mismatches += 1
            units = read_units(size, consistent=bool(p.get("ConsistentRead")))
            b.rru += units
            b.rru_by_item[f"GetItem {item_kind(p['Key']['pk']['S'], p['Key']['sk']['S'])}"] += units
            b.items_read += 1 if found else 0
            b.keys_missing += 0 if found else 1
            b.bytes_read += size
        elif op in ("Query", "Scan"):
            sizes = [item_size(i) for i in r.get("Items") or []]
            units = query_read_units(sizes, consistent=bool(p.get("ConsistentRead")))
            pk = (p.get("ExpressionAttributeValues") or {}).get(":pk", {}).get("S", "")
            label = f"{op} " + ("customer's items" if "#AN#" not in pk else item_kind(pk, "").removeprefix("counter: "))
            b.rru += units
            b.rru_by_item[label] += units
            b.items_read += len(sizes)
            b.bytes_read += sum(sizes)
            b.max_query_bytes = max(b.max_query_bytes, sum(sizes))
            if sum(sizes) > QUERY_PAGE:  # DynamoDB would have cut it into pages (more requests, other units)
                b.errors.append(f"{op}: a page of {sum(sizes):,} bytes, over DynamoDB's 1 MB")
        elif op == "PutItem":
            self._write(b, _key(p["Item"]), p["Item"], False, ok)
        elif op == "UpdateItem":
            key = _key(p["Key"])
            self._write(b, key, apply_update(self.items.get(key), p["Key"], p), False, ok)
        elif op == "TransactWriteItems":
            for entry in p["TransactItems"]:
                ((action, body),) = entry.items()
                if action == "Put":
                    self._write(b, _key(body["Item"]), body["Item"], True, ok)
                elif action == "Update":
                    key = _key(body["Key"])
                    self._write(b, key, apply_update(self.items.get(key), body["Key"], body), True, ok)
                else:
                    raise ValueError(f"a transaction entry the analytics bench does not bill: {action}")
        else:
            raise ValueError(f"a DynamoDB call the analytics bench does not bill: {op}")

    def check(self, ddb: Any, table: str) -> dict[str, int]:
        """The shadow against the table (a scan, not recorded): items missing either side, sizes differing."""
        stored: dict[tuple[str, str], int] = {}
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                stored[_key(item)] = item_size(item)
        shadow = {k: item_size(v) for k, v in self.items.items()}
        return {
            "items": len(stored),
            "missing_in_shadow": len(stored.keys() - shadow.keys()),
            "missing_in_table": len(shadow.keys() - stored.keys()),
            "sizes_differing": sum(1 for k in stored.keys() & shadow.keys() if stored[k] != shadow[k]),
            "reads_differing": self.read_mismatches,
        }


# ---- events ------------------------------------------------------------------------------------


def _hex(*parts: object, n: int = 24) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:n]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Message:
    """One message request, as dispatch and SES tag its events."""

    ref: str
    template: str
    journey: str | None = None
    step: str | None = None
    variant: str | None = None
    coupon: str | None = None
    channel: str = "email"

    @property
    def ses_id(self) -> str:
        return (
            f"0102019{_hex('ses', self.ref, n=9)}-{_hex('ses-b', self.ref, n=8)}-{_hex('ses-c', self.ref, n=4)}-000000"
        )

    def props(self, **more: Any) -> dict[str, Any]:
        out = {
            "message": self.ref,
            "message_id": self.ses_id,
            "template": self.template,
            "journey": self.journey,
            "step": self.step,
            "variant": self.variant,
            **more,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class Person:
    n: int
    profile_id: str
    email: str
    customer_id: str

    @classmethod
    def of(cls, n: int, tag: str = "mix") -> Person:
        return cls(n, "p_" + _hex("profile", tag, n, n=32), f"kunde{n}.{tag}@example.de", str(7_100_000_000 + n))

    @property
    def refs(self) -> dict[str, str]:
        return {"profile_id": self.profile_id, "email": self.email, "customer_id": self.customer_id}


@dataclass(order=True)
class Delivery:
    """One event as the analytics queue delivers it: the canonical event (as JSON) and the bus source."""

    at: datetime
    seq: int
    event: dict[str, Any] = field(compare=False)
    source: str = field(compare=False)
    label: str = field(compare=False, default="")

    def parsed(self) -> Any:
        from emma.events.model import parse_event

        return parse_event(self.event)


class Events:
    """Builds canonical events as ingest, dispatch and the journeys publish them."""

    def __init__(self) -> None:
        self.seq = 0

    def _make(
        self,
        type_: str,
        id_: str,
        at: datetime,
        source: tuple[str, str, str],  # bus source, source kind, source name
        customer: dict[str, str],
        props: dict[str, Any],
        context: dict[str, Any] | None = None,
        label: str = "",
    ) -> Delivery:
        self.seq += 1
        event = {
            "id": id_,
            "type": type_,
            "shop": SHOP,
            "occurred_at": at.isoformat(),
            "received_at": (at + timedelta(seconds=1)).isoformat(),
            "source": {"kind": source[1], "name": source[2]},
            "customer": customer,
            "properties": props,
            "context": context or {},
        }
        return Delivery(at, self.seq, event, source[0], label or type_)

    # -- messages ----------------------------------------------------------------------------------

    def sent(self, p: Person, m: Message, at: datetime) -> Delivery:
        from emma.resources import EVENT_SOURCE

        props = m.props(coupon=m.coupon, recommended=[])
        return self._make(
            f"{m.channel}.sent", f"dispatch:{m.ref}:sent", at, (EVENT_SOURCE, "emma", "dispatch"), p.refs, props
        )

    def skipped(self, p: Person, m: Message, at: datetime, reason: str = "frequency") -> Delivery:
        from emma.resources import DISPATCH_SOURCE

        props = m.props(channel=m.channel, reason=reason, detail="2 marketing messages in 7 days (cap 2)")
        props.pop("message_id")
        customer = {"profile_id": p.profile_id}
        return self._make(
            "message.skipped",
            f"dispatch:{m.ref}:skipped",
            at,
            (DISPATCH_SOURCE, "emma", "dispatch"),
            customer,
            props,
        )

    def ses(
        self,
        p: Person,
        m: Message,
        type_: str,
        at: datetime,
        ses_type: str,
        context: dict[str, Any] | None = None,
        label: str = "",
        **more: Any,
    ) -> Delivery:
        from emma.resources import EVENT_SOURCE

        context = {"emma_profile": p.profile_id, "emma_message": m.ref, **(context or {})}
        customer = {"profile_id": p.profile_id, "email": p.email}
        return self._make(
            type_,
            f"ses:{m.ses_id}:{ses_type}:0:{_stamp(at)}",
            at,
            (EVENT_SOURCE, "ses", ses_type),
            customer,
            m.props(**more),
            context,
            label,
        )

    def delivered(self, p: Person, m: Message, at: datetime) -> Delivery:
        return self.ses(p, m, "email.delivered", at, "Delivery")

    def opened(self, p: Person, m: Message, at: datetime, machine: bool = False) -> Delivery:
        agent, ip = APPLE_PROXY if machine else (IPHONE, "84.171.20.5")
        label = "email.opened (machine)" if machine else "email.opened (person)"
        return self.ses(p, m, "email.opened", at, "Open", {"user_agent": agent, "ip": ip}, label)

    def clicked(self, p: Person, m: Message, at: datetime) -> Delivery:
        url = f"https://www.elektro-emma.de/c/smartphones?utm_source=emma&utm_campaign={m.template}"
        return self.ses(p, m, "email.clicked", at, "Click", {"user_agent": DESKTOP, "ip": "84.171.20.5"}, url=url)

    def bounced(self, p: Person, m: Message, at: datetime) -> Delivery:
        return self.ses(p, m, "email.bounced", at, "Bounce", {"bounce_sub_type": "General"}, bounce_type="Permanent")

    def complained(self, p: Person, m: Message, at: datetime) -> Delivery:
        return self.ses(p, m, "email.complained", at, "Complaint", {"complaint_type": "abuse"})

    def unsubscribed(self, p: Person, m: Message, at: datetime) -> list[Delivery]:
        from emma.resources import EVENT_SOURCE

        withdrawn = {
            "channel": "email",
            "granted": False,
            "proof": {"source": "emma:unsubscribe", "at": at.isoformat(), "wording": "Abmelden"},
        }
        return [
            self.ses(p, m, "email.unsubscribed", at, "Subscription"),
            self._make(
                "consent.changed",
                f"emma:unsubscribe:{m.ref}",
                at,
                (EVENT_SOURCE, "emma", "unsubscribe"),
                p.refs,
                withdrawn,
            ),
        ]

    # -- orders --------------------------------------------------------------------------------------

    def order(
        self, p: Person, order_id: str, total: Decimal, at: datetime, codes: tuple[str, ...] = (), discount: Decimal = 0
    ) -> Delivery:
        from emma.resources import EVENT_SOURCE

        props: dict[str, Any] = {
            "order_id": order_id,
            "order_number": f"#{order_id[-5:]}",
            "total": str(total),
            "currency": "EUR",
            "items": [{"product_id": "sku-4711", "quantity": 1, "price": str(total)}],
        }
        if codes:
            props["discount_codes"] = list(codes)
            props["discount_total"] = str(discount)
        return self._make(
            "order.placed",
            f"shopify:orders/create:{_hex('order', order_id, n=16)}",
            at,
            (EVENT_SOURCE, "shopify", "orders/create"),
            p.refs,
            props,
        )

    def cancelled(self, p: Person, order_id: str, total: Decimal, at: datetime) -> Delivery:
        from emma.resources import EVENT_SOURCE

        props = {"order_id": order_id, "total": str(total), "currency": "EUR"}
        return self._make(
            "order.cancelled",
            f"shopify:orders/cancelled:{_hex('cancel', order_id, n=16)}",
            at,
            (EVENT_SOURCE, "shopify", "orders/cancelled"),
            p.refs,
            props,
        )

    # -- journeys ------------------------------------------------------------------------------------

    def journey(
        self, p: Person, journey: str, execution: str, type_: str, step: str, at: datetime, **more: Any
    ) -> Delivery:
        from emma.resources import JOURNEYS_SOURCE

        kind = type_.split(".")[1]
        props = {"journey": journey, "execution": execution, "step": step, **more}
        label = f"{type_} ({step})"
        return self._make(
            type_,
            f"journey:{_hex(execution, step, kind, n=32)}:{kind}",
            at,
            (JOURNEYS_SOURCE, "emma", f"journey:{journey}"),
            {"profile_id": p.profile_id},
            props,
            label=label,
        )


# ---- the world -----------------------------------------------------------------------------------


class EventClock:
    """The store's clock (items' TTLs): a moment after the event being counted, so that the figures do not
    move with the time of the run (a TTL's number of significant digits is part of an item's size)."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at


class World:
    """The consumer and the reports over one fresh profiles table, every call billed."""

    def __init__(self, session: Any, recorder: CallRecorder, prices: Mapping[str, Any]) -> None:
        from emma.adapters.analytics import DynamoAnalyticsStore
        from emma.analytics.service import AnalyticsService
        from emma.resources import PROFILES_TABLE
        from emma.shops import ShopConfig
        from emma_local.fakes.shops import StaticShopDirectory
        from emma_local.provision import create_table

        self.ddb = session.client("dynamodb", region_name=REGION)
        self.table = PROFILES_TABLE.name
        if self.table in self.ddb.list_tables()["TableNames"]:
            self.ddb.delete_table(TableName=self.table)
        create_table(self.ddb, PROFILES_TABLE)
        self.shop = ShopConfig(shop=SHOP, name="Elektro Emma", timezone="Europe/Berlin", currency="EUR")
        self.clock = EventClock()
        self.store = DynamoAnalyticsStore(self.ddb, self.table, self.clock)
        self.service = AnalyticsService(self.store, StaticShopDirectory([self.shop]))
        self.recorder, self.prices, self.meter = recorder, prices, Meter()
        self.events = Events()

    def feed(self, d: Delivery) -> tuple[str, Bill]:
        """One delivery through ``on_event``; what it did and what it cost."""
        event = d.parsed()
        self.clock.at = d.at + timedelta(seconds=2)
        with self.recorder.recording() as calls:
            outcome = self.service.on_event(event, source=d.source)
        return str(outcome), self.meter.bill(calls)

    def measured(self, run: Callable[[], Any]) -> tuple[Any, Bill]:
        with self.recorder.recording() as calls:
            result = run()
        return result, self.meter.bill(calls)

    def row(self, d: Delivery, outcome: str, bill: Bill) -> dict[str, Any]:
        return {"event": d.label, "outcome": outcome, **bill.view(self.prices)}

    def steps(self, deliveries: list[Delivery]) -> tuple[list[dict[str, Any]], Bill]:
        rows, total = [], Bill()
        for d in deliveries:
            outcome, bill = self.feed(d)
            rows.append(self.row(d, outcome, bill))
            total += bill
        return rows, total

    def check(self) -> dict[str, int]:
        return self.meter.check(self.ddb, self.table)


def _total(w: World, bill: Bill, events: int) -> dict[str, Any]:
    return {"events": events, **bill.view(w.prices)}


# ---- scenarios a-e --------------------------------------------------------------------------------


def message_life(w: World) -> dict[str, Any]:
    """a) One email from send to two clicks; b) a skipped message."""
    p, e = Person.of(1, "life"), w.events
    m = Message(_hex("msg", "life"), "cart-reminder", "abandoned-cart", "reminder")
    life = [
        e.sent(p, m, T0),
        e.delivered(p, m, T0 + timedelta(seconds=4)),
        e.opened(p, m, T0 + timedelta(hours=2)),
        e.opened(p, m, T0 + timedelta(hours=2, minutes=1), machine=True),
        e.clicked(p, m, T0 + timedelta(hours=2, minutes=2)),
        e.clicked(p, m, T0 + timedelta(hours=2, minutes=5)),
    ]
    rows, total = w.steps(life)
    skipped = Message(_hex("msg", "skipped"), "winback-coupon", "winback", "coupon")
    skip_rows, skip_total = w.steps([e.skipped(p, skipped, T0 + timedelta(days=1))])
    return {
        "events": rows,
        "per_message": _total(w, total, len(life)),
        "skipped": {"events": skip_rows, "per_message": _total(w, skip_total, 1)},
        "_redeliver": [life[2], life[0]],
    }


def _touches(e: Events, p: Person, at: datetime, variant: str = "interests") -> tuple[list[Delivery], str]:
    """Three messages that touch an order at ``at`` (a newsletter opened 4 days before, the split arm's picks
    clicked 2 days before, a cart coupon clicked 3 hours before) after an experiment assignment 5 days before;
    and the coupon code."""
    execution = f"{p.profile_id}-{_hex('nl', p.profile_id, n=16)}"
    coupon = f"EMMA-{_hex('coupon', p.profile_id, n=4).upper()}-{_hex('coupon2', p.profile_id, n=4).upper()}"
    split_at = at - timedelta(days=5)
    news = Message(_hex("news", p.profile_id), "newsletter")
    picks = Message(_hex("picks", p.profile_id), "newsletter-interest-picks", "newsletter-interest", "interest-picks")
    picks.variant = variant
    cart = Message(_hex("cart", p.profile_id), "cart-coupon", "abandoned-cart", "coupon", coupon=coupon)
    out = [
        e.journey(
            p,
            "newsletter-interest",
            execution,
            "journey.split",
            "which-content",
            split_at,
            variant=variant,
            holdout=False,
        ),
        e.sent(p, news, at - timedelta(days=4, hours=1)),
        e.opened(p, news, at - timedelta(days=4)),
        e.sent(p, picks, split_at + timedelta(minutes=1)),
        e.clicked(p, picks, at - timedelta(days=2)),
        e.sent(p, cart, at - timedelta(hours=4)),
        e.clicked(p, cart, at - timedelta(hours=3)),
    ]
    return out, coupon


def order_and_cancel(w: World, history_weeks: int = 0, label: str = "order") -> dict[str, Any]:
    """c) An order touched by three messages and counted in one experiment, then cancelled. With
    ``history_weeks``: the customer had two more messages a week (sent, delivered, opened) for that long
    before, whose touches the order's Query reads too."""
    p, e = Person.of(3 + history_weeks, label), w.events
    at = T0 + timedelta(days=400 if history_weeks else 10)
    setup: list[Delivery] = []
    for week in range(history_weeks):
        for k, template in enumerate(("newsletter", "cart-reminder")):
            m = Message(_hex("old", p.profile_id, week, k), template, None if k == 0 else "abandoned-cart")
            sent_at = at - timedelta(days=7 * (history_weeks - week) + 6, hours=k)
            setup += [e.sent(p, m, sent_at), e.delivered(p, m, sent_at + timedelta(seconds=5))]
            setup.append(e.opened(p, m, sent_at + timedelta(hours=3)))
    touches, coupon = _touches(e, p, at)
    setup += touches
    _, setup_bill = w.steps(sorted(setup))
    order_id = f"{5_200_000_000_000 + history_weeks}"
    total = Decimal("129.90")
    placed = e.order(p, order_id, total, at, (coupon,), Decimal("10.00"))
    cancelled = e.cancelled(p, order_id, total, at + timedelta(days=2))
    rows, bill = w.steps([placed, cancelled])
    return {
        "customer": {
            "messages": 3 + 2 * history_weeks,
            "setup_events": len(setup),
            "setup": _total(w, setup_bill, len(setup)),
        },
        "events": rows,
        "total": _total(w, bill, 2),
        "_redeliver": [placed],
    }


def journey_progress(w: World) -> dict[str, Any]:
    """d) A newsletter-interest run of a clicker: entered, 4 steps, waiting, split, ended."""
    p, e = Person.of(4, "journey"), w.events
    j, execution = "newsletter-interest", f"{Person.of(4, 'journey').profile_id}-{_hex('nl-entry', n=16)}"
    t = T0
    run = [
        e.journey(p, j, execution, "journey.entered", "clicked", t, reason="trigger.fired"),
        e.journey(p, j, execution, "journey.step", "clicked", t + timedelta(seconds=1)),
        e.journey(p, j, execution, "journey.waiting", "clicked", t + timedelta(seconds=2), reason="for email.clicked"),
        e.journey(p, j, execution, "journey.step", "more-of-it", t + timedelta(hours=20)),
        e.journey(p, j, execution, "journey.step", "which-content", t + timedelta(hours=20, seconds=1)),
        e.journey(
            p, j, execution, "journey.split", "which-content", t + timedelta(hours=20, seconds=2), variant="digest"
        ),
        e.journey(p, j, execution, "journey.step", "digest", t + timedelta(hours=20, seconds=3)),
        e.journey(p, j, execution, "journey.ended", "done", t + timedelta(hours=20, seconds=4), status="completed"),
    ]
    rows, bill = w.steps(run)
    return {"events": rows, "per_run": _total(w, bill, len(run)), "_redeliver": [run[3]]}


def redelivered(w: World, deliveries: list[Delivery]) -> dict[str, Any]:
    """e) Events delivered again after they were counted: what recognising them costs."""
    rows = []
    for d in deliveries:
        outcome, bill = w.feed(d)
        rows.append(w.row(d, outcome, bill))
    return {"events": rows}


# ---- f) the mixed stream --------------------------------------------------------------------------


def _between(rng: random.Random, at: datetime, low: timedelta, high: timedelta) -> datetime:
    return at + timedelta(seconds=rng.uniform(low.total_seconds(), high.total_seconds()))


class Month:
    """A shop's month of analytics events (seeded): every customer gets two newsletters (Saturdays) and
    runs one journey with two messages (abandoned cart 55 %, win-back 25 %, smartphone onboarding 20 %,
    started on a random day); a person's open of the first newsletter enters newsletter-interest, whose
    clickers are split into interest picks, digest and a holdout (one more message). Feedback at ``rates``;
    3 % of customers order 1-72 hours after one of their messages (a coupon message's code redeemed half the
    time), 5 % of orders are cancelled two days later. Events after the month's end are left out."""

    def __init__(self, customers: int, rates: Rates = RATES, seed: int = 15) -> None:
        from zoneinfo import ZoneInfo

        self.rates, self.seed, self.customers = rates, seed, customers
        zone = ZoneInfo("Europe/Berlin")
        self.start = datetime.combine(MONTH[0], datetime.min.time(), zone)
        self.end = datetime.combine(MONTH[1] + timedelta(days=1), datetime.min.time(), zone)
        self.e = Events()
        self.deliveries: list[Delivery] = []
        for n in range(customers):
            self._customer(Person.of(n), random.Random(f"{seed}-{n}"))
        self.deliveries = sorted(d for d in self.deliveries if d.at < self.end)

    def _add(self, *ds: Delivery) -> None:
        self.deliveries += ds

    def _message(self, rng: random.Random, p: Person, m: Message, at: datetime, sends: list) -> dict[str, datetime]:
        """The message's events at ``at``; when it was opened / clicked by a person (for what follows)."""
        r, e = self.rates, self.e
        if rng.random() < r.skipped:
            self._add(e.skipped(p, m, at, rng.choice(("frequency", "consent", "preferences"))))
            return {}
        sends.append((m, at))
        self._add(e.sent(p, m, at))
        fate = rng.random()
        if fate < r.bounced:
            self._add(e.bounced(p, m, _between(rng, at, timedelta(seconds=3), timedelta(minutes=2))))
            return {}
        if fate >= r.bounced + r.delivered:
            return {}
        delivered = _between(rng, at, timedelta(seconds=2), timedelta(seconds=60))
        self._add(e.delivered(p, m, delivered))
        seen: dict[str, datetime] = {}
        if rng.random() < r.machine_open:
            self._add(e.opened(p, m, _between(rng, delivered, timedelta(seconds=5), timedelta(minutes=10)), True))
        if rng.random() < r.human_open:
            opened = _between(rng, delivered, timedelta(minutes=5), timedelta(hours=48))
            seen["opened"] = opened
            self._add(e.opened(p, m, opened))
            if rng.random() < r.second_open:
                self._add(e.opened(p, m, _between(rng, opened, timedelta(hours=1), timedelta(hours=72))))
            if rng.random() < r.click / r.human_open:
                clicked = _between(rng, opened, timedelta(seconds=10), timedelta(minutes=20))
                seen["clicked"] = clicked
                self._add(e.clicked(p, m, clicked))
                if rng.random() < r.second_click:
                    self._add(e.clicked(p, m, _between(rng, clicked, timedelta(minutes=1), timedelta(minutes=15))))
            if rng.random() < r.unsubscribe / r.human_open:
                self._add(*e.unsubscribed(p, m, _between(rng, opened, timedelta(seconds=20), timedelta(minutes=5))))
        if rng.random() < r.complaint:
            self._add(e.complained(p, m, _between(rng, delivered, timedelta(hours=1), timedelta(days=3))))
        return seen

    def _customer(self, p: Person, rng: random.Random) -> None:
        sends: list[tuple[Message, datetime]] = []
        for k, saturday in enumerate((date(2026, 11, 7), date(2026, 11, 21))):
            at = datetime.combine(saturday, datetime.min.time(), UTC) + timedelta(hours=9, seconds=rng.uniform(0, 7200))
            news = Message(_hex("news", p.profile_id, k), "newsletter")
            seen = self._message(rng, p, news, at, sends)
            if k == 0 and "opened" in seen:
                self._interest(p, rng, seen)
        journey = rng.choices([j for j, _ in JOURNEY_MIX], [w for _, w in JOURNEY_MIX])[0]
        start = _between(rng, self.start, timedelta(0), timedelta(days=26))
        getattr(self, "_" + journey.replace("-", "_"))(p, rng, start, sends)
        if rng.random() < self.rates.order and sends:
            self._order(p, rng, sends)

    def _run(self, p: Person, journey: str, start: datetime) -> Callable[..., Delivery]:
        execution = f"{p.profile_id}-{_hex(journey, p.profile_id, start.isoformat(), n=16)}"

        def step(type_: str, step_id: str, at: datetime, **more: Any) -> Delivery:
            d = self.e.journey(p, journey, execution, type_, step_id, at, **more)
            self._add(d)
            return d

        return step

    def _abandoned_cart(self, p: Person, rng: random.Random, t: datetime, sends: list) -> None:
        j = self._run(p, "abandoned-cart", t)
        j("journey.entered", "reminder", t, reason="trigger.fired")
        j("journey.step", "reminder", t + timedelta(seconds=1))
        self._message(
            rng, p, Message(_hex("ac1", p.profile_id), "cart-reminder", "abandoned-cart", "reminder"), t, sends
        )
        t += timedelta(days=1, seconds=5)
        j("journey.step", "needs-incentive", t)
        coupon = rng.random() < 0.4
        step = "coupon" if coupon else "last-call"
        j("journey.step", step, t + timedelta(seconds=1))
        code = f"EMMA-{_hex('c', p.profile_id, n=4).upper()}-{_hex('d', p.profile_id, n=4).upper()}" if coupon else None
        m = Message(_hex("ac2", p.profile_id), f"cart-{step}", "abandoned-cart", step, coupon=code)
        self._message(rng, p, m, t + timedelta(seconds=2), sends)
        j("journey.ended", "done", t + timedelta(seconds=3), status="completed")

    def _winback(self, p: Person, rng: random.Random, t: datetime, sends: list) -> None:
        j = self._run(p, "winback", t)
        j("journey.entered", "miss-you", t, reason="segment.entered")
        j("journey.step", "miss-you", t + timedelta(seconds=1))
        seen = self._message(
            rng, p, Message(_hex("wb1", p.profile_id), "winback-miss-you", "winback", "miss-you"), t, sends
        )
        j("journey.step", "interested", t + timedelta(seconds=3))
        j("journey.waiting", "interested", t + timedelta(seconds=4), reason="for email.clicked")
        if "clicked" in seen:
            t, step, code = seen["clicked"] + timedelta(seconds=2), "new-arrivals", None
        else:
            t, step = t + timedelta(days=14, seconds=4), "coupon"
            code = f"EMMA-{_hex('w', p.profile_id, n=4).upper()}-{_hex('x', p.profile_id, n=4).upper()}"
        j("journey.step", step, t)
        self._message(
            rng, p, Message(_hex("wb2", p.profile_id), f"winback-{step}", "winback", step, coupon=code), t, sends
        )
        j("journey.ended", "done", t + timedelta(seconds=1), status="completed")

    def _smartphone_onboarding(self, p: Person, rng: random.Random, t: datetime, sends: list) -> None:
        j = self._run(p, "smartphone-onboarding", t)
        j("journey.entered", "grant-warranty", t, reason="trigger.fired")
        j("journey.step", "grant-warranty", t + timedelta(seconds=1))
        j("journey.step", "warranty-mail", t + timedelta(seconds=2))
        m = Message(_hex("so1", p.profile_id), "warranty-extension", "smartphone-onboarding", "warranty-mail")
        self._message(rng, p, m, t + timedelta(seconds=3), sends)
        t += timedelta(days=7, seconds=5)
        j("journey.step", "tutorial-camera", t)
        m = Message(_hex("so2", p.profile_id), "tutorial-camera", "smartphone-onboarding", "tutorial-camera")
        self._message(rng, p, m, t + timedelta(seconds=1), sends)
        j("journey.step", "watched-camera", t + timedelta(seconds=2))
        j("journey.waiting", "watched-camera", t + timedelta(seconds=3), reason="for tutorial.watched")
        # the journey goes on for months: no journey.ended within the month

    def _interest(self, p: Person, rng: random.Random, seen: dict[str, datetime]) -> None:
        from emma.journeys.service import split_variant

        t = seen["opened"] + timedelta(minutes=1)
        j = self._run(p, "newsletter-interest", t)
        j("journey.entered", "clicked", t, reason="trigger.fired")
        j("journey.step", "clicked", t + timedelta(seconds=1))
        j("journey.waiting", "clicked", t + timedelta(seconds=2), reason="for email.clicked")
        if "clicked" not in seen:
            t += timedelta(days=3, seconds=2)
            j("journey.step", "quieter", t)
            j("journey.ended", "done", t + timedelta(seconds=1), status="completed")
            return
        t = seen["clicked"] + timedelta(seconds=2)
        j("journey.step", "more-of-it", t)
        j("journey.step", "which-content", t + timedelta(seconds=1))
        arm = split_variant(self._arms(), p.profile_id, "newsletter-interest:which-content")
        j("journey.split", "which-content", t + timedelta(seconds=2), variant=arm.name, holdout=arm.holdout)
        if not arm.holdout:
            step = "interest-picks" if arm.name == "interests" else "digest"
            j("journey.step", step, t + timedelta(seconds=3))
            m = Message(_hex("ni", p.profile_id), f"newsletter-{step}", "newsletter-interest", step, variant=arm.name)
            self._message(rng, p, m, t + timedelta(seconds=4), [])
        j("journey.ended", "done", t + timedelta(seconds=5), status="completed")

    @staticmethod
    def _arms() -> Any:
        from emma.journeys.definitions import Variant

        return [
            Variant(name="interests", weight=45, goto="interest-picks"),
            Variant(name="digest", weight=45, goto="digest"),
            Variant(name="holdout", weight=10, goto="done", holdout=True),
        ]

    def _order(self, p: Person, rng: random.Random, sends: list[tuple[Message, datetime]]) -> None:
        _, sent_at = rng.choice(sends)
        at = _between(rng, sent_at, timedelta(hours=1), timedelta(hours=72))
        total = Decimal(str(round(min(2000.0, rng.lognormvariate(math.log(90), 0.8)), 2)))
        coupons = [x.coupon for x, t in sends if x.coupon and t < at]
        codes = (coupons[-1],) if coupons and rng.random() < 0.5 else ()
        order_id = str(5_300_000_000_000 + p.n)
        self._add(self.e.order(p, order_id, total, at, codes, Decimal("10.00") if codes else Decimal(0)))
        if rng.random() < self.rates.cancel:
            self._add(self.e.cancelled(p, order_id, total, at + timedelta(days=2)))


@functools.cache
def _segments() -> list[Any]:
    from emma.rules.loader import load_definitions

    return load_definitions(ROOT).segments


def _kpi_values(shop: Any, customers: int, day: int) -> dict[str, Decimal]:
    """The shop's daily KPI snapshot as ``emma.analytics.snapshot`` writes it from the repository's segments
    (KPIs, stages, every segment's size), with made-up sizes: its size is what matters here."""
    from emma.analytics.snapshot import snapshot_values

    segments = _segments()
    sizes = {s.id: int(customers * (int(_hex(s.id, n=4), 16) % 90 + 5) / 100) + day for s in segments}
    return snapshot_values(shop, segments, sizes)


def mixed_stream(w: World, customers: int, rates: Rates = RATES) -> dict[str, Any]:
    """f) A month's events in time order through ``on_event``, each billed; then the item sizes, the counter
    items per day and the reports over those 30 days."""
    started = time.perf_counter()
    month = Month(customers, rates)
    built_s = time.perf_counter() - started
    total, by_type, outcomes = Bill(), {}, Counter()
    bills_by_type: dict[str, Bill] = {}
    message_events = Bill()
    from emma.analytics.service import MESSAGE_TYPES

    started = time.perf_counter()
    for d in month.deliveries:
        outcome, bill = w.feed(d)
        outcomes[
            "duplicate" if outcome == "duplicate" else "ignored" if outcome.startswith("ignored") else "counted"
        ] += 1
        total += bill
        type_ = d.event["type"]
        bills_by_type.setdefault(type_, Bill())
        bills_by_type[type_] += bill
        by_type[type_] = by_type.get(type_, 0) + 1
        if type_ in {t.value for t in MESSAGE_TYPES}:
            message_events += bill
    fed_s = time.perf_counter() - started
    # each message in the stream has exactly one send or skip event: counted, not assumed
    events, sent = len(month.deliveries), sum(by_type.get(f"{c}.sent", 0) for c in ("email", "sms", "push"))
    messages = sent + by_type.get("message.skipped", 0)
    usd = total.usd(w.prices)
    result = {
        "customers": customers,
        "rates": rates.__dict__,
        "days": [d.isoformat() for d in MONTH],
        "events": events,
        "events_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "outcomes": dict(outcomes.most_common()),
        "messages": messages,
        "messages_sent": sent,
        "orders": by_type.get("order.placed", 0),
        "total": _total(w, total, events),
        "per_event": {
            "requests": sum(total.requests.values()) / events,
            "rru": total.rru / events,
            "wru": total.wru / events,
            "usd_per_million": usd / events * 1e6,
        },
        "per_message": {
            "events": events / messages,
            "message_events": sum(by_type.get(t.value, 0) for t in MESSAGE_TYPES) / messages,
            "wru_message_events": message_events.wru / messages,
            "rru_message_events": message_events.rru / messages,
            "wru_all": total.wru / messages,
            "rru_all": total.rru / messages,
            "usd_per_1000_all": usd / messages * 1000,
            "usd_per_1000_message_events": message_events.usd(w.prices) / messages * 1000,
        },
        "by_type": {
            t: {
                "events": by_type[t],
                "requests_per_event": sum(b.requests.values()) / by_type[t],
                "rru_per_event": b.rru / by_type[t],
                "wru_per_event": b.wru / by_type[t],
                "requests_by_api": dict(sorted(b.requests.items())),
            }
            for t, b in sorted(bills_by_type.items(), key=lambda kv: -by_type[kv[0]])
        },
        "build_s": built_s,
        "feed_s": fed_s,
    }
    result["stored"] = stored_items(w)
    result["reports"] = report_reads(w, customers)
    return result


def stored_items(w: World) -> dict[str, Any]:
    """Item sizes by kind and counter items per day, from a scan of the table (not recorded)."""
    sizes: dict[str, list[int]] = {}
    per_day: dict[str, Counter[str]] = {}
    keys_per_day: dict[str, set[tuple[str, str, str]]] = {}
    for page in w.ddb.get_paginator("scan").paginate(TableName=w.table):
        for item in page["Items"]:
            pk, sk = _key(item)
            kind = item_kind(pk, sk)
            sizes.setdefault(kind, []).append(item_size(item))
            if kind in ("counter: message", "counter: journey", "counter: shop"):
                day, _, counter_key = sk.partition("#")
                per_day.setdefault(day, Counter())[kind.removeprefix("counter: ")] += 1
                keys_per_day.setdefault(day, set()).add((kind, day, counter_key))
    days = sorted(d for d in per_day if MONTH[0].isoformat() <= d <= MONTH[1].isoformat())
    totals = [sum(per_day[d].values()) for d in days]
    kinds = sorted({k for d in days for k in per_day[d]})
    return {
        "item_sizes": {
            k: {"items": len(v), "mean_bytes": statistics.mean(v), "max_bytes": max(v), "wru_each": write_units(max(v))}
            for k, v in sorted(sizes.items())
        },
        "counter_items_per_day": {
            "days_with_counters": len(days),
            "mean": statistics.mean(totals) if totals else 0,
            "max": max(totals) if totals else 0,
            "max_day": days[totals.index(max(totals))] if totals else None,
            "mean_by_kind": {k: statistics.mean(per_day[d].get(k, 0) for d in days) for k in kinds},
            "counter_keys_mean": statistics.mean(len(keys_per_day[d]) for d in days) if days else 0,
            "by_day": {d: dict(per_day[d]) for d in days},
        },
        "arm_items": len(sizes.get("counter: arm", [])),
    }


def report_reads(w: World, customers: int) -> dict[str, Any]:
    """Each report over the month as the API serves it (the journeys of the repository), requests and RRU."""
    from emma.analytics.reports import Reports, date_range
    from emma.analytics.service import windows_of
    from emma.wiring.definitions import read_journeys

    def snapshots() -> int:  # the daily KPI snapshots the kpis report reads (written by the hourly job)
        for n in range((MONTH[1] - MONTH[0]).days + 1):
            w.clock.at = datetime.combine(MONTH[0] + timedelta(days=n), datetime.min.time(), UTC) + timedelta(hours=22)
            w.store.put_snapshot(SHOP, (MONTH[0] + timedelta(days=n)).isoformat(), _kpi_values(w.shop, customers, n))
        return n + 1

    written, snapshot_bill = w.measured(snapshots)
    reports = Reports(w.store, read_journeys(ROOT))
    days = date_range(MONTH[0], MONTH[1], MONTH[1])
    windows = windows_of(w.shop).__dict__
    runs: dict[str, Callable[[], Any]] = {
        "messages": lambda: reports.messages(SHOP, days),
        "attribution": lambda: reports.attribution(SHOP, days, "EUR", windows),
        "journey abandoned-cart": lambda: reports.journey(SHOP, "abandoned-cart", days),
        "experiments": lambda: reports.experiments(SHOP, w.shop.analytics.experiment_days),
        "kpis": lambda: reports.kpis(SHOP, days, "EUR"),
    }
    out: dict[str, Any] = {}
    for name, run in runs.items():
        _, bill = w.measured(run)
        view = bill.view(w.prices)
        out[name] = {
            "requests": view["requests"],
            "requests_by_api": view["requests_by_api"],
            "rru": bill.rru,
            "items_read": bill.items_read,
            "bytes_read": bill.bytes_read,
            "largest_page_bytes": bill.max_query_bytes,
            "scans": bill.requests.get("Scan", 0),
            "usd_per_1000": bill.usd(w.prices) * 1000,
            "errors": list(bill.errors),
        }
    # the funnel of one journey reads every journey's counters of the range and keeps its own
    month = (MONTH[0].isoformat(), MONTH[1].isoformat() + "#~")
    journey_items = [sk for pk, sk in w.meter.items if "#AN#journey#" in pk and month[0] <= sk <= month[1]]
    out["journey abandoned-cart"]["items_of_the_journey"] = sum(
        1 for sk in journey_items if sk.partition("#")[2].startswith("abandoned-cart|")
    )
    out["journey abandoned-cart"]["journey_items_in_range"] = len(journey_items)
    snapshot_sizes = [item_size(v) for (pk, _), v in w.meter.items.items() if pk.endswith("#AN#snapshot")]
    return {
        "kpi_snapshots_written": {
            "items": written,
            "wru": snapshot_bill.wru,
            "mean_bytes": statistics.mean(snapshot_sizes),
            "values_each": len(_kpi_values(w.shop, customers, 0)),
        },
        "by_report": out,
    }


# ---- all of it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    customers: int = CUSTOMERS
    history_weeks: int = 52  # the order of a customer with two messages a week for a year (c2)


def _strip(x: Any) -> Any:
    """The result without the deliveries kept for redelivery (keys starting with _)."""
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def _run(session: Any, plan: Plan, prices: Mapping[str, Any]) -> dict[str, Any]:
    recorder = CallRecorder()
    recorder.install()
    checks: dict[str, dict[str, int]] = {}
    try:
        w = World(session, recorder, prices)  # a-e on one table: distinct customers
        life = message_life(w)
        order = order_and_cancel(w)
        journey = journey_progress(w)
        again = redelivered(w, [*life["_redeliver"], *order["_redeliver"], *journey["_redeliver"]])
        checks["single"] = w.check()
        w = World(session, recorder, prices)
        heavy = order_and_cancel(w, plan.history_weeks, "heavy") if plan.history_weeks else None
        if heavy:
            checks["heavy_customer"] = w.check()
        w = World(session, recorder, prices)
        mixed = mixed_stream(w, plan.customers)
        checks["mixed"] = w.check()
    finally:
        recorder.uninstall()
    return _strip(
        {
            "shop": SHOP,
            "plan": plan.__dict__,
            "message_life": {k: v for k, v in life.items() if k != "skipped"},
            "skipped": life["skipped"],
            "order": order,
            "order_heavy_customer": heavy,
            "journey": journey,
            "redelivered": again,
            "mixed": mixed,
            "checks": checks,
            "prices_as_of": prices["as_of"],
            "git_commit": _commit(),
            "method": "in-process moto (mock_aws); units from item sizes (bench/capacity.py rules), writes billed at "
            "the larger of the item before and after, checked against a scan of the table",
        }
    )


def _commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def measure(
    prices: Mapping[str, Any] | None = None, plan: Plan = Plan(), session: Any = None, patch_moto: bool = True
) -> dict[str, Any]:
    """Every scenario against in-process moto. ``session``: a boto3 session already inside ``mock_aws`` (a
    unit test's); without one, this starts its own with fake credentials. ``patch_moto``: apply
    emma_local.moto_fixes (key-level transaction rollback, partition queries: moto otherwise copies the
    whole table on every transaction, quadratic over a month's stream)."""
    import boto3
    from moto import mock_aws

    prices = prices or json.loads(PRICES.read_text())
    if patch_moto:
        from emma_local import moto_fixes

        moto_fixes.install()
    started = time.perf_counter()
    if session is not None:
        result = _run(session, plan, prices)
    else:
        env = {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        with _env(env, drop=("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN")), mock_aws():
            result = _run(boto3.Session(region_name=REGION), plan, prices)
    result["run_s"] = time.perf_counter() - started
    return result


class _env:
    def __init__(self, values: Mapping[str, str], drop: tuple[str, ...] = ()) -> None:
        self.values, self.drop = values, drop

    def __enter__(self) -> None:
        self.saved = dict(os.environ)
        for name in self.drop:
            os.environ.pop(name, None)
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


# ---- report -------------------------------------------------------------------------------------


def _ops(requests: Mapping[str, int]) -> str:
    short = {"TransactWriteItems": "Transact", "GetItem": "Get", "PutItem": "Put", "Query": "Query"}
    return " + ".join(f"{n} {short.get(op, op)}" for op, n in requests.items()) or "-"


def _table(rows: list[list[str]], header: list[str], indent: str = "    ") -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    return [
        indent
        + "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(row, widths, strict=True)))
        for row in (header, *rows)
    ]


def _event_rows(rows: list[dict[str, Any]], total: dict[str, Any] | None, total_label: str) -> list[str]:
    out = [
        [r["event"], _ops(r["requests_by_api"]), f"{r['rru']:g}", f"{r['wru']:g}", f"${r['usd'] * 1e6:,.2f}"]
        for r in rows
    ]
    if total:
        out.append(
            [
                total_label,
                _ops(total["requests_by_api"]),
                f"{total['rru']:g}",
                f"{total['wru']:g}",
                f"${total['usd'] * 1e6:,.2f}",
            ]
        )
    return _table(out, ["event", "requests", "RRU", "WRU", "USD per 1M"])


def report(r: dict[str, Any]) -> str:
    out = [
        "\nAnalytics: the consumer's DynamoDB requests and units per event and per message, and the reports' reads"
        "\n  (AnalyticsService.on_event over DynamoAnalyticsStore on in-process moto; units by the rules of section 3,"
        " USD for DynamoDB on-demand at list prices)"
    ]
    life = r["message_life"]
    out.append("  a) one email's life:")
    out += _event_rows(life["events"], life["per_message"], "per message")
    out.append("  b) a skipped message:")
    out += _event_rows(r["skipped"]["events"], None, "")
    o = r["order"]
    out.append(f"  c) an order touched by {o['customer']['messages']} messages and one experiment, then cancelled:")
    out += _event_rows(o["events"], None, "")
    h = r.get("order_heavy_customer")
    if h:
        out.append(f"     the same for a customer with {h['customer']['messages']} messages (a year, two a week):")
        out += _event_rows(h["events"], None, "")
    out.append("  d) a journey's progress (newsletter-interest, a clicker):")
    out += _event_rows(r["journey"]["events"], r["journey"]["per_run"], "per run")
    out.append("  e) redelivered after being counted:")
    out += _event_rows(r["redelivered"]["events"], None, "")
    m = r["mixed"]
    pe, pm = m["per_event"], m["per_message"]
    out.append(
        f"  f) a month of {m['customers']:,} customers: {m['events']:,} events, {m['messages']:,} messages"
        f" ({m['messages_sent']:,} sent), {m['orders']} orders; {m['total']['requests']:,} requests,"
        f" {m['total']['rru']:,.1f} RRU, {m['total']['wru']:,.0f} WRU, ${m['total']['usd']:.4f}"
    )
    out.append(
        f"     per event {pe['requests']:.2f} requests, {pe['rru']:.2f} RRU, {pe['wru']:.2f} WRU:"
        f" ${pe['usd_per_million']:.2f} per million events"
    )
    out.append(
        f"     per message {pm['events']:.2f} events ({pm['message_events']:.2f} about the message),"
        f" {pm['wru_all']:.2f} WRU ({pm['wru_message_events']:.2f} by its own events):"
        f" ${pm['usd_per_1000_all']:.4f} per 1,000 messages (${pm['usd_per_1000_message_events']:.4f} its own events)"
    )
    rows = [
        [
            t,
            f"{b['events']:,}",
            _ops({k: round(v / b["events"], 2) for k, v in b["requests_by_api"].items()}),
            f"{b['rru_per_event']:.2f}",
            f"{b['wru_per_event']:.2f}",
        ]
        for t, b in m["by_type"].items()
    ]
    out += _table(rows, ["event type", "events", "requests each", "RRU each", "WRU each"], "     ")
    s = m["stored"]
    sizes = ", ".join(
        f"{k} {v['mean_bytes']:.0f} B (max {v['max_bytes']})" for k, v in s["item_sizes"].items() if k != "snapshot"
    )
    out.append(f"     item sizes (mean): {sizes}")
    c = s["counter_items_per_day"]
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in c["mean_by_kind"].items())
    out.append(
        f"     counter items per day: {c['mean']:.0f} on average ({kinds}), at most {c['max']} ({c['max_day']});"
        f" {c['counter_keys_mean']:.0f} distinct counters a day before sharding; {s['arm_items']} arm items"
    )
    rows = [
        [
            name,
            _ops(x["requests_by_api"]),
            f"{x['rru']:g}",
            f"{x['items_read']:,}",
            f"{x['bytes_read'] / 1024:,.1f}",
            str(x["scans"]),
        ]
        for name, x in m["reports"]["by_report"].items()
    ]
    out.append("     reports over the 30 days:")
    out += _table(rows, ["report", "requests", "RRU", "items", "KB read", "scans"], "       ")
    j = m["reports"]["by_report"]["journey abandoned-cart"]
    out.append(
        f"     (the funnel of abandoned-cart reads all {j['journey_items_in_range']} journey counter items of the"
        f" range; {j['items_of_the_journey']} are its own)"
    )
    bad = {k: v for k, v in r["checks"].items() if any(n for name, n in v.items() if name != "items")}
    out.append("  shadow vs table: " + ("every item and size agree" if not bad else f"DISAGREE: {bad}"))
    return "\n".join(out)


def findings(r: dict[str, Any]) -> list[str]:
    m, life = r["mixed"], r["message_life"]
    pm = m["per_message"]
    sent = life["events"][0]
    found = [
        f"analytics: a month's stream costs ${pm['usd_per_1000_all']:.4f} of DynamoDB per 1,000 messages"
        f" ({pm['wru_all']:.1f} WRU and {pm['rru_all']:.1f} RRU a message, orders and journeys included);"
        f" ${m['per_event']['usd_per_million']:.2f} per million events.",
        f"analytics: every counted message event is one read and one transaction of"
        f" {sum(sent['items_written'].values())} items: {sent['wru']:g} WRU, twice what the same writes cost"
        " outside a transaction (exactly-once).",
    ]
    h = r.get("order_heavy_customer")
    if h:
        placed = h["events"][0]
        found.append(
            f"analytics: an order reads every analytics item of its customer (one Query): {placed['rru']:g} RRU for a"
            f" customer with {h['customer']['messages']} messages in the touches' 400-day TTL, against"
            f" {r['order']['events'][0]['rru']:g} with {r['order']['customer']['messages']}."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Analytics: DynamoDB requests and units per event and per message")
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="customers in the mixed stream")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = measure(plan=Plan(customers=args.customers))
    print(report(result))
    print("\nFindings")
    print("\n".join(f"  - {f}" for f in findings(result)))
    print(f"\nTook {result['run_s']:.0f} s.")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
