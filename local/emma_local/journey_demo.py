"""The smartphone onboarding for four customers who behave differently, end to end on the local
runtime. Time is stepped: the local clock stands still while Emma and the customers act, and moves
eight days per tick while someone may still react (thirty days per tick after that); before the clock moves
again the demo waits until the runtime has settled (every queue dry, every journey execution parked on
a wait or an event), so nothing is late or early however slow or busy the machine is. First the shop's
catalog is imported (events/catalog/) and the recommendation model built from earlier customers'
orders, so the messages carry recommendations:

    Anna   watches every tutorial she gets, is happy in the survey
    Ben    ignores everything (every wait for him times out)
    Clara  watches no tutorial and is unhappy in the survey
    David  watches the camera tutorial on the shop's site and the tutorials he gets, is happy, and refers a
           friend: Eva orders with the referral code his invitation gave him, at the shop's checkout (the
           Shopify stand-in); Emma sees the code in her order, rewards David and welcomes Eva with a coupon

The tutorials come from the library (content/*.yaml): each week the next one, picked by what the customer
watched so far, so Anna's, Clara's and David's series differ.

Each persona reacts to what the journey waits for (as a person would react to the message), over
the tracker API (David's friend over the shop's order webhook); progress is printed live and each customer's
timeline at the end."""

from __future__ import annotations

import email
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from emma.adapters.journeys import DynamoJourneyStore
from emma.resources import PROFILES_TABLE
from emma.sources.signatures import sign_base64
from emma_local.catalog_import import run_import
from emma_local.runtime import LocalRuntime

JOURNEY = "smartphone-onboarding"
# While someone may still react (tutorials, survey, referral: the first ~7 weeks) a tick is eight days: each
# customer reacts in the tick that shows what the journey waits for, while the clock stands still, and a weekly
# wait ends on the next tick (day 8, 16, ... as with shorter ticks); a 7-day reaction timeout too. Then thirty days
# per tick through the wait for the upgrade (the monthly check's 30-day wait ends on the next tick). Every tick
# settles the runtime, and the ticks are most of the section's time: as few as tell the same story.
REACTING_TICK_DAYS = 8
TAIL_TICK_DAYS = 30
SCHEDULE_EVERY_DAYS = 3  # the scheduled functions (deferred messages, time triggers) run every third local day
TIMEZONE = "Europe/Berlin"  # the customers'
SHOP, WRITE_KEY, ADMIN_KEY = "elektro-emma", "wk_local_elektro_emma", "ak_local_elektro_emma"
PHONE = {"product_id": "pixel-9-pro", "price": 999.0, "category": "smartphones", "brand": "Google"}
CATALOG = Path(__file__).resolve().parents[2] / "events" / "catalog" / "elektro-emma.csv"
# Earlier customers of the shop, whose purchases the recommendation model learns from.
SHOPPERS = [
    ["pixel-9-pro", "case-9", "glass-pixel-9-pro"],
    ["pixel-9-pro", "case-9", "charger-45w"],
    ["pixel-9-pro", "glass-pixel-9-pro", "wertgarantie-smartphone"],
    ["pixel-9", "case-9-base", "pixel-stand-2"],
    ["galaxy-s25", "case-s25", "glass-galaxy-s25"],
    ["iphone-16", "case-iphone-16", "charger-magsafe"],
    ["pixel-buds-pro-2", "charger-45w"],
]


@dataclass
class Persona:
    user: str
    name: str
    reacts: dict[str, dict[str, Any]]  # awaited event type -> the tracker call this customer makes
    friend: str | None = None  # a friend who orders with this customer's referral code once it is issued
    watches: bool = False  # watches each tutorial the series sends
    first_watch: dict[str, Any] | None = None  # a tutorial watched on the shop's site before the series starts
    consent: dict[str, Any] = field(default_factory=dict)  # the tracker's context.consent at sign-up
    seen: int = 0
    done: set[str] = field(default_factory=set)
    watched: list[str] = field(default_factory=list)  # the tutorials this customer watched, in order


DOI = {"email": {"granted": True, "double_opt_in": True, "wording": "Ja, ich möchte Tipps und Angebote per E-Mail."}}
PERSONAS = [
    Persona(
        "demo-anna",
        "Anna",
        {"survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 9}}},
        consent=DOI,
        watches=True,
    ),
    # Ben ticked the box but never confirmed the double opt-in mail: Emma sends him that mail, once, and nothing else.
    Persona("demo-ben", "Ben", {}, consent={"email": {"granted": True, "double_opt_in": False}}),
    Persona(
        "demo-clara",
        "Clara",
        {
            "survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 3}},
        },
        consent={**DOI, "sms": {"granted": True, "wording": "SMS zu meiner Bestellung und Service"}},
    ),
    Persona(
        "demo-david",
        "David",
        {
            "survey.answered": {"event": "Survey Answered", "properties": {"survey_id": "onboarding", "score": 10}},
        },  # referral.made: nobody reports it; Emma sees the code in Eva's order
        friend="demo-eva",
        consent=DOI,
        watches=True,
        first_watch={"tutorial_id": "smartphone-camera", "topic": "camera"},
    ),
]


class JourneyDemo:
    def __init__(self, runtime: LocalRuntime, timeout: float = 300.0, max_ticks: int = 200) -> None:
        self.rt, self.timeout, self.max_ticks = runtime, timeout, max_ticks
        self.http = requests.Session()
        self.states: dict[str, dict[str, Any]] = {}
        self.profile_ids: dict[str, str] = {}
        self.friends: dict[str, tuple[Persona, str]] = {}  # friend -> (the referrer, the code used)
        assert runtime.emulator is not None
        self.store = DynamoJourneyStore(
            runtime.emulator.session().client("dynamodb", endpoint_url=runtime.emulator.endpoint),
            PROFILES_TABLE.name,
        )

    def _call(self, path: str, user: str, **fields: Any) -> None:
        body = {"userId": user, "messageId": str(uuid.uuid4()), **fields}
        resp = self.http.post(f"{self.rt.api_url}{path}", json=body, auth=(WRITE_KEY, ""), timeout=10)
        resp.raise_for_status()

    def _track(self, user: str, event: str, properties: dict[str, Any]) -> None:
        self._call("/v1/track", user, event=event, properties=properties)

    def _profile_id(self, user: str) -> str | None:
        """Emma's id of the customer (over the admin API, once: the personas never merge)."""
        if user not in self.profile_ids:
            resp = self.http.get(
                f"{self.rt.api_url}/v1/profiles/cid:{user}?history=0&messages=0",
                headers={"authorization": f"Bearer {ADMIN_KEY}"},
                timeout=10,
            )
            if resp.status_code != 200:
                return None
            self.profile_ids[user] = resp.json()["profile_id"]
        return self.profile_ids[user]

    def _state(self, user: str) -> dict[str, Any] | None:
        """Where the customer stands in the journey, read from the journey store (what the profile API
        shows under "journeys")."""
        profile_id = self._profile_id(user)
        if profile_id is None:
            return None
        return next((s.view() for s in self.store.list(SHOP, profile_id) if s.journey == JOURNEY), None)

    def _settle(self) -> None:
        if not self.rt.settle():
            print("  (the local runtime did not settle within two minutes; going on)", flush=True)

    def run(self) -> int:
        print(
            f"\n13. Journeys: the smartphone onboarding for {len(PERSONAS)} customers, "
            f"{REACTING_TICK_DAYS} days per tick ({TAIL_TICK_DAYS} once nobody reacts any more)"
        )
        print("  (journeys/smartphone-onboarding.yaml compiled to a Step Functions state machine; the emulator")
        print("   executes it, its tasks run the journey-steps function, waits run on the local clock, moved in ticks)")
        self._catalog()
        self._morning()
        for p in PERSONAS:
            traits = {"email": f"{p.user.removeprefix('demo-')}@example.com", "first_name": p.name}
            self._call(
                "/v1/identify",
                p.user,
                type="identify",
                traits={**traits, "timezone": TIMEZONE, "phone": "+49 151 2345678"},
                context={"consent": p.consent},
            )
            self._track(
                p.user,
                "Order Completed",
                {"order_id": f"{p.user}-order", "total": 999.0, "currency": "EUR", "products": [PHONE]},
            )
            if p.first_watch:
                self._track(p.user, "Tutorial Watched", p.first_watch)
                p.watched.append(p.first_watch["tutorial_id"])
        self.rt.drain()
        started = time.monotonic()
        days = since_schedule = 0
        for _ in range(self.max_ticks):
            if time.monotonic() - started > self.timeout:
                break
            self._settle()  # the waits the new time ended have ended, the steps due have run
            if days - since_schedule >= SCHEDULE_EVERY_DAYS:
                ran = self.rt.run_schedule(only={"scheduler"}).get("scheduler") or {}  # deferred messages go out,
                since_schedule = days  # time triggers fire
                if any(ran.values()):  # what the run set off has run (a run that found nothing set nothing off)
                    self._settle()
            live = [p for p in PERSONAS if self.states.get(p.user, {}).get("status", "active") == "active"]
            if not live:
                break
            reacted = 0
            for p in live:
                state = self._state(p.user)
                if state is not None:
                    self.states[p.user] = state
                    self._show(p, state)
                    reacted += self._react(p, state)
                    reacted += self._watch(p)
            if reacted:  # the journeys act on the reactions before the clock moves on
                self._settle()
            pending = any(len(p.done) < len(p.reacts) + bool(p.friend) for p in live)
            tick = REACTING_TICK_DAYS if pending else TAIL_TICK_DAYS
            self.rt.advance(days=tick)
            days += tick
        self.rt.set_speedup(1.0)
        return self._timelines(time.monotonic() - started)

    def _morning(self) -> None:
        """Stop the local clock at the next 10:00 in the customers' timezone: ticks move it by whole
        days, so every tick lands at 10:00 (a clock stopped at 22:00 would keep every marketing
        message in quiet hours)."""
        self.rt.set_speedup(0.0)  # the local clock stands still from here; each tick below moves it
        now = self.rt.now().astimezone(ZoneInfo(TIMEZONE))
        morning = now.replace(hour=10, minute=0, second=0, microsecond=0)
        if morning <= now:
            morning += timedelta(days=1)
        self.rt.advance(seconds=(morning - now).total_seconds())

    def _catalog(self) -> None:
        """The shop's catalog (the import command), earlier customers' orders, the model build."""
        out = io.StringIO()
        status = run_import(
            CATALOG, shop=SHOP, api=self.rt.api_url, admin_key=ADMIN_KEY, stdout=out, stderr=io.StringIO(), tty=False
        )
        print(f"  Catalog: {out.getvalue().strip() or f'import failed ({status})'}")
        for n, basket in enumerate(SHOPPERS):
            user = f"demo-shopper-{n}"
            items = [{"product_id": pid, "price": 10.0} for pid in basket]
            self._call("/v1/identify", user, type="identify", traits={"email": f"shopper{n}@example.com"})
            self._track(
                user, "Order Completed", {"order_id": f"{user}-o", "total": 10.0, "currency": "EUR", "products": items}
            )
        self.rt.drain()
        built = self.rt.run_schedule(force=True).get("recommendations", {}).get("shops", {}).get(SHOP, {})
        print(
            f"  Recommendation model built from {built.get('customers', 0)} customers' purchases "
            f"({built.get('lists', 0)} lists: co-purchase, popularity, compatible accessories, categories, tags)"
        )

    def _react(self, p: Persona, state: dict[str, Any]) -> bool:
        wanted = state.get("waiting_for")
        key = f"{state['step']}:{wanted}"
        if not wanted or key in p.done:
            return False
        if wanted == "referral.made" and p.friend:
            p.done.add(key)
            self._friend_orders(p, p.friend)
            return True
        if wanted not in p.reacts:
            return False
        p.done.add(key)  # the customer acts while the local clock stands still
        call = p.reacts[wanted]
        self._track(p.user, call["event"], call["properties"])
        return True

    def _friend_orders(self, p: Persona, friend: str) -> None:
        """The friend signs up (double opt-in) and orders with the referral code the invitation gave ``p``, as a
        guest at the shop's checkout: the Shopify stand-in's order, signed and delivered as orders/create. Nobody
        reports the referral: Emma finds the code in the order (docs/offers.md#referrals)."""
        name = friend.removeprefix("demo-").title()
        code = self._profile(p.user).get("traits", {}).get("referral_code")
        stand_in = self.rt.shop_apis.stand_ins.get(SHOP) if self.rt.shop_apis else None
        if not code or stand_in is None:
            print(f"  {'':<10} {'':<7} {p.name} has no referral code in the shop: {name} does not order", flush=True)
            return
        address = f"{name.lower()}@example.com"
        self._call(
            "/v1/identify",
            friend,
            type="identify",
            traits={"email": address, "first_name": name, "timezone": TIMEZONE},
            context={"consent": DOI},
        )
        line = {
            "id": 13379001,
            "product_id": "case-9",
            "title": "Pixel 9 Case",
            "vendor": "Google",
            "price": "49.00",
            "quantity": 1,
        }
        order = stand_in.redeem(code, 820982911946159001, address, "49.00", line_items=[line])
        body = json.dumps(order).encode()
        secret = next(s for s in self.rt.config.shops if s.shop == SHOP).webhook_secrets["shopify"]
        resp = self.http.post(
            f"{self.rt.api_url}/webhooks/shopify/{SHOP}",
            data=body,
            headers={
                "content-type": "application/json",
                "x-shopify-topic": "orders/create",
                "x-shopify-webhook-id": f"demo-referral-{uuid.uuid4()}",
                "x-shopify-hmac-sha256": sign_base64(secret, body),
            },
            timeout=10,
        )
        self.friends[friend] = (p, code)
        deadline = time.monotonic() + 30  # the order reaches Eva's profile before the clock moves on
        while time.monotonic() < deadline and code not in (self._profile(friend).get("coupons_redeemed") or []):
            self.rt.drain()
            time.sleep(0.1)
        print(
            f"  {'':<10} {name:<7} referred by {p.name}, orders at the shop's checkout with his code {code} "
            f"({order['total_discounts']} EUR off): orders/create -> HTTP {resp.status_code}",
            flush=True,
        )

    def _referrals(self) -> list[str]:
        """Both sides of each referral got a real code: the referrer's reward and the friend's welcome coupon,
        each created in the shop (the stand-in) before its mail named it."""
        stand_in = self.rt.shop_apis.stand_ins.get(SHOP) if self.rt.shop_apis else None
        problems = []
        for friend, (p, code) in self.friends.items():
            name = friend.removeprefix("demo-").title()
            print(f"\n  The referral ({p.name}'s code {code}, {name}'s first order; docs/offers.md#referrals):")
            made = [
                e
                for e in self._profile(p.user, history=100).get("history", [])
                if e["type"] == "referral.made" and e["source"]["kind"] == "emma"
            ]
            print(f"    referral.made on {p.name}'s profile, recorded by Emma from the order: {len(made)}")
            if len(made) != 1:
                problems.append(f"{p.name}: {len(made)} referral.made events from Emma, expected 1")
            for who, user, template in ((p.name, p.user, "referral-reward"), (name, friend, "referral-friend-reward")):
                sent = [
                    m
                    for m in self._profile(user).get("messages", [])
                    if m["template"] == template and m["status"] == "sent"
                ]
                coupon = sent[0].get("coupon") if sent else None
                found = stand_in.codes.get(coupon) if stand_in is not None and coupon else None
                if found is None:
                    problems.append(f"{who} got no {template} with a code that exists in the shop")
                    continue
                print(
                    f"    {who:<6} {template:<24} code {coupon}: in the shop, {found.percent:g} %, "
                    f"{found.usage_limit} use, until {found.ends_at:%Y-%m-%d}"
                )
        return problems

    def _watch(self, p: Persona) -> int:
        """A customer who watches tutorials watches each one the series sent them (as its mail's link would
        take them there): the next one is picked by what they watched."""
        if not p.watches:
            return 0
        messages = self._profile(p.user).get("messages", [])
        watched = 0
        for m in sorted(messages, key=lambda m: m["requested_at"]):
            if m["template"] != "tutorial-next" or m["status"] != "sent" or not m.get("content"):
                continue
            block = m["content"][0]
            if block["block_id"] in p.watched:
                continue
            self._track(p.user, "Tutorial Watched", {"tutorial_id": block["block_id"], "topic": block["topics"][0]})
            p.watched.append(block["block_id"])
            print(f"  {'':<10} {p.name:<7} watches the tutorial {block['block_id']}", flush=True)
            watched += 1
        return watched

    def _show(self, p: Persona, state: dict[str, Any]) -> int:
        """Print the new entries of this customer's journey log; returns how many there were."""
        entries = state["log"][p.seen :]
        for entry in entries:
            print(f"  {entry['at'][:10]} {p.name:<7} {_describe(entry)}", flush=True)
        p.seen += len(entries)
        return len(entries)

    def _timelines(self, seconds: float) -> int:
        print(f"\n14. Timelines (local clock; {seconds:.0f} s of wall time for the journey)")
        problems = []
        for p in PERSONAS:
            state = self.states.get(p.user)
            if state is None:
                problems.append(f"{p.name} never entered the journey")
                continue
            start = datetime.fromisoformat(state["entered_at"])
            print(f"  {p.name}: {state['status']} ({state.get('end_reason') or 'at ' + str(state['step'])})")
            for entry in state["log"]:
                day = (datetime.fromisoformat(entry["at"]) - start).days
                if entry["what"] in (
                    "sent",
                    "branched",
                    "arrived",
                    "timed_out",
                    "updated",
                    "emitted",
                    "capped",
                    "split",
                    "completed",
                    "exited",
                    "failed",
                ):
                    print(f"    day {day:>3}  {_describe(entry)}")
            if state["status"] != "completed":
                problems.append(f"{p.name}: journey {state['status']} at {state['step']}")
            # Journeys that know each other: lapsed after 180 days, but winback excludes the onboarding.
            for other in self._profile(p.user).get("journeys", []):
                refusals = [e for e in other["log"] if e["what"] == "refused"]
                if other["status"] == "never" and refusals:
                    print(f"    {other['journey']}: never entered ({refusals[-1]['detail']})")
        problems += self._messages()
        for problem in problems:
            print(f"PROBLEM: {problem}")
        return 1 if problems else 0

    def _tutorials(self) -> list[str]:
        """The tutorial series each customer got: the next one each week, picked by what they watched."""
        print("\n  The tutorial series (content/*.yaml), each week the next one by what the customer watched:")
        series: dict[str, list[str]] = {}
        for p in PERSONAS:
            messages = sorted(self._profile(p.user).get("messages", []), key=lambda m: m["requested_at"])
            got = [
                m["content"][0]["block_id"] for m in messages if m["template"] == "tutorial-next" and m.get("content")
            ]
            series[p.name] = got
            watched = f" (watched: {', '.join(p.watched)})" if p.watched else ""
            print(f"    {p.name:<6} {', '.join(got) or 'none (no confirmed email consent)'}{watched}")
        if series["Anna"] and series["Anna"] == series["David"]:
            return ["Anna's and David's tutorial series are the same although David watched the camera tutorial"]
        return []

    def _accessory_offer(self, emails: list[Any]) -> list[str]:
        """The accessory offer's recommendations, with their explanations, as the customer sees them."""
        offers = sorted((m for m in emails if m.template == "accessory-offer"), key=lambda m: m.to)
        if not offers:
            return ["no accessory-offer email in the outbox"]
        shown = [(m, _recommendations(m.path)) for m in offers]
        print("\n  The accessory offers' recommendations, as the outbox shows them (products recommended in the")
        print("  cross-sell mail days before and not clicked are rested for 30 days):")
        for m, items in shown:
            print(f"    to {m.to}:")
            for title, why in items or [("none", "")]:
                print(f"      {title[:60]:<60} {why}")
        return [] if any(items for _, items in shown) else ["the accessory offers recommend nothing"]

    def _profile(self, user: str, **params: Any) -> dict[str, Any]:
        return self.http.get(
            f"{self.rt.api_url}/v1/profiles/cid:{user}",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            params=params,
            timeout=10,
        ).json()

    def _messages(self) -> list[str]:
        """What the dispatcher did with each message request, the outbox, and a one-click unsubscribe."""
        self.rt.run_schedule()  # deferred messages that came due go out (or wait for the morning again)
        self.rt.drain()
        outbox = self.rt.outbox
        assert outbox is not None
        print("\n15. Messages: what the dispatcher decided (consent, cap, quiet hours, channel) and sent")
        problems = []
        for p in PERSONAS:
            messages = self._profile(p.user).get("messages", [])
            counts: dict[str, int] = {}
            for m in messages:
                counts[m["status"]] = counts.get(m["status"], 0) + 1
            print(f"  {p.name}: {len(messages)} requests: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
            for m in sorted(messages, key=lambda m: m["requested_at"])[:40]:
                last = m["decisions"][-1] if m["decisions"] else {"reason": ""}
                what = f"{m['channel']}: {m.get('subject') or ''}" if m["status"] == "sent" else last["reason"]
                print(f"    {m['requested_at'][:10]} {m['template']:<28} {m['status']:<8} {what[:90]}")
            winback = sorted({m["template"] for m in messages if m["template"].startswith("winback-")})
            if winback:  # issue 18: "wir vermissen dich" and a coupon to a customer still in the onboarding
                problems.append(f"{p.name} got winback messages during the onboarding: {', '.join(winback)}")
            if p.consent.get("email", {}).get("double_opt_in") and not counts.get("sent"):
                problems.append(f"{p.name} consented with double opt-in but got no message")
            if not p.consent.get("email", {}).get("double_opt_in"):
                sent = [m["template"] for m in messages if m["status"] == "sent"]
                if any(t != "doi-confirmation" for t in sent):
                    problems.append(f"{p.name} never confirmed the double opt-in but got a message")
                if sent.count("doi-confirmation") != 1:
                    problems.append(f"{p.name} should get one double opt-in mail, got {sent.count('doi-confirmation')}")
        emails = [m for m in outbox.messages if m.channel == "email"]
        problems += self._tutorials()
        problems += self._accessory_offer(emails)
        problems += self._referrals()
        print(
            f"\n  Outbox: {len(outbox.messages)} messages in {outbox.directory}"
            " (open index.html in a browser; .eml files in a mail client)"
        )
        # Clara has had enough: the List-Unsubscribe one-click POST from her mail client.
        clara = next((m for m in reversed(emails) if "clara@" in m.to), None)
        if clara is None:
            return [*problems, "no email to Clara in the outbox"]
        url = email.message_from_bytes(clara.path.read_bytes(), policy=policy.default)["List-Unsubscribe"].strip("<>")
        resp = self.http.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        consent = self._profile("demo-clara")["consent"].get("email", {})
        print(
            f"  Clara unsubscribes with one click (RFC 8058 POST): HTTP {resp.status_code}; email consent now "
            f"{'granted' if consent.get('granted') else 'withdrawn'} ({consent.get('proof', {}).get('wording')})"
        )
        if resp.status_code != 200 or consent.get("granted"):
            problems.append("the one-click unsubscribe did not withdraw Clara's consent")
        return problems


def _recommendations(eml: Path) -> list[tuple[str, str]]:
    """(title, reason) of the recommendations in a rendered email (its HTML part)."""
    import re
    from html import unescape

    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("html",))
    html = body.get_content() if body is not None else ""
    out = []
    for block in re.findall(r'<td class="product"[^>]*>(.*?)</td>', html, re.S):
        title = re.search(r"<strong>(.*?)</strong>", block, re.S)
        why = re.search(r'<span class="reason"[^>]*>(.*?)</span>', block, re.S)
        if title and why:
            out.append((unescape(title.group(1)), unescape(why.group(1))))
    return out


def _describe(entry: dict[str, Any]) -> str:
    what, detail, step = entry["what"], entry["detail"], entry["step"]
    if what == "sent":
        return f"message: {detail.split(' via ')[0]} ({detail.split(' via ')[1]})"
    if what == "waiting":
        return f"waits for {detail}"
    if what == "arrived":
        return f"{detail} arrived"
    if what == "timed_out":
        return f"no {detail} in time"
    if what == "branched":
        return f"decision at {step}: {detail}"
    return f"{what} {detail}".strip()
