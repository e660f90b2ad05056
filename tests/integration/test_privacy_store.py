"""The privacy store and service against moto: what an erasure finds and deletes, a crash half-way and the
retry, the counters taken out once, suppressions, the audit trail, retention by the activity index, and
a shop's own event log retention."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emma.adapters import keys
from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.adapters.privacy import DynamoPrivacyStore, SuppressionCheck
from emma.adapters.rules_store import DynamoRulesStore, derived_of
from emma.errors import ProfileNotFound, TransientError
from emma.ingest.ports import AliasKey, Commit, CommitConflict
from emma.ingest.service import RESERVATION_GRACE, IngestService
from emma.privacy.ports import StaleJob
from emma.privacy.service import PrivacyService
from emma.profiles.model import new_profile
from emma.resources import CATALOG_TABLE, PROFILES_TABLE, SCHEDULE_TABLE
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma.rules.state import counter_shard, member_key, member_shard
from emma.shops import PrivacyConfig
from emma_local.fakes import FixedClock, InMemoryPublisher, StaticShopDirectory
from emma_local.streams import relayed
from factories import event

from .conftest import SHOP

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SALTED = SHOP.model_copy(update={"privacy": PrivacyConfig(salt="a-salt-of-sixteen-or-more")})


class Stops:
    def __init__(self):
        self.stopped = []

    def stop(self, arn, cause):
        self.stopped.append(arn)


class Exports:
    def __init__(self):
        self.docs = {}

    def put(self, shop, job_id, document, profile_id):
        location = f"mem://{shop}/{profile_id or '_'}/{job_id}"
        self.docs[location] = document
        return location

    def get(self, location):
        return self.docs.get(location)

    def delete(self, shop, profile_ids):
        prefixes = (f"mem://{shop}/",) if profile_ids is None else tuple(f"mem://{shop}/{p}/" for p in profile_ids)
        gone = [loc for loc in self.docs if loc.startswith(prefixes)]
        for loc in gone:
            del self.docs[loc]
        return len(gone)


class NoNotifier:
    def notify(self, shop, payload):
        raise AssertionError("no notify_url configured")


class World:
    def __init__(self, session, shop=SALTED):
        self.ddb = session.client("dynamodb")
        self.clock = FixedClock(NOW)
        self.shops = StaticShopDirectory([shop])
        self.store = DynamoPrivacyStore(
            self.ddb, PROFILES_TABLE.name, CATALOG_TABLE.name, SCHEDULE_TABLE.name, clock=self.clock
        )
        self.repo = DynamoProfileRepository(
            self.ddb, PROFILES_TABLE.name, log_days=lambda s: self.shops.get(s).privacy.event_log_days
        )
        catalog = DynamoCatalog(self.ddb, CATALOG_TABLE.name, PROFILES_TABLE.name)
        self.bus = InMemoryPublisher()
        self.ingest = relayed(
            IngestService(
                self.repo, catalog, self.bus, self.clock, suppressions=SuppressionCheck(self.store, self.shops)
            ),
            session,
            PROFILES_TABLE.name,
            self.bus,
        )
        self.stops = Stops()
        self.service = PrivacyService(
            self.store,
            self.ingest.resolve,
            self.shops,
            self.stops,
            Exports(),
            NoNotifier(),
            self.clock,
            release=self.ingest.release,
        )

    def customer(self, cid, at=NOW - timedelta(days=1), n=3, backfill=False):
        events = self.last_events = self.events(cid, at, n)
        now, self.clock.at = self.clock.at, at  # received and stored then, as live
        try:
            self.ingest.ingest(events, backfill=backfill)
        finally:
            self.clock.at = now
        return self.ingest.resolve(SHOP.shop, f"cid:{cid}")

    @staticmethod
    def events(cid, at=NOW - timedelta(days=1), n=3):
        refs = {"customer_id": cid, "email": f"{cid}@example.de", "anonymous_id": f"anon-{cid}"}
        return [event("page.viewed", customer=refs, at=at + timedelta(minutes=i), url=f"/p/{i}") for i in range(n)]

    def items(self):
        """Every item, as DynamoDB would hold it now: moto keeps items past their TTL, DynamoDB deletes them."""
        out = []
        now = self.clock.now().timestamp()
        for table in (PROFILES_TABLE.name, CATALOG_TABLE.name, SCHEDULE_TABLE.name):
            for page in self.ddb.get_paginator("scan").paginate(TableName=table):
                live = [i for i in page["Items"] if float(i.get("expires_at", {}).get("N", "inf")) > now]
                out += [(table, i["pk"]["S"], i["sk"]["S"], str(i)) for i in live]
        return out


def in_vip_of_five(world, profile_id):
    """The customer in segment vip (derived state), and vip's counter at 5 in their shard; the shard's key."""
    shard = keys.counter_pk(SHOP.shop, counter_shard(profile_id))
    world.ddb.put_item(
        TableName=PROFILES_TABLE.name, Item={"pk": {"S": shard}, "sk": {"S": keys.SIZES_SK}, "seg_vip": {"N": "5"}}
    )
    world.ddb.put_item(
        TableName=PROFILES_TABLE.name,
        Item={
            "pk": {"S": keys.profile_pk(SHOP.shop, profile_id)},
            "sk": {"S": keys.DERIVED_SK},
            "version": {"N": "1"},
            "doc": {"S": f'{{"profile_id": "{profile_id}", "segments": ["vip"]}}'},
        },
    )
    return shard


@pytest.fixture
def world(aws):
    session, _ = aws
    return World(session)


def test_an_erasure_deletes_every_item_of_the_customer_and_only_theirs(world):
    erased = world.customer("c-1")
    kept = world.customer("c-2")
    outcome = world.service.erase(SALTED, "c-1@example.de", "key:test")
    assert outcome.finished and outcome.job.status == "done" and outcome.job.plan is None
    counts = outcome.job.counts
    # the three events of one request: one log entry (the commit's); no idempotency record (the profile held the ids)
    assert counts["profile"] == 1 and counts["alias"] == 3 and counts["event log entry"] == 1
    assert "idempotency record" not in counts and outcome.job.suppressed == 1
    left = [i for i in world.items() if "c-1" in i[3] or erased.profile_id in i[3]]
    assert left == []
    assert world.ingest.resolve(SHOP.shop, "cid:c-2").profile_id == kept.profile_id
    # the same ref again: the same job, nothing more
    again = world.service.erase(SALTED, "c-1@example.de", "key:test")
    assert again.job.job_id == outcome.job.job_id and again.job.counts == counts


def test_an_erasure_of_an_identity_claimed_for_a_profile_never_stored_deletes_it(world):
    """A new customer's request claims the aliases first; one that died before writing the profile leaves them
    pointing at nothing (reservations). Erasing the reference finds no customer and leaves nothing of it."""
    kept = world.customer("c-2")
    profile = new_profile(SHOP.shop, "p_dead", NOW)
    profile.version = 1
    aliases = [AliasKey("email", "c-1@example.de"), AliasKey("cid", "c-1")]
    with pytest.raises(CommitConflict):  # its email claimed, then its customer id taken: it died
        world.repo.commit(Commit(SHOP.shop, profile, None, [], 1, claim_aliases=[*aliases, AliasKey("cid", "c-2")]))
    assert world.repo.reservations(SHOP.shop, aliases)
    with pytest.raises(TransientError):  # its request may still be storing the profile: asked again later
        world.service.erase(SALTED, "c-1@example.de", "key:test")
    world.clock.at += RESERVATION_GRACE + timedelta(seconds=1)
    with pytest.raises(ProfileNotFound):
        world.service.erase(SALTED, "c-1@example.de", "key:test")
    with pytest.raises(ProfileNotFound):
        world.service.erase(SALTED, "cid:c-1", "key:test")
    assert world.repo.reservations(SHOP.shop, aliases) == {}
    assert [i for i in world.items() if "c-1" in i[3]] == []
    assert world.ingest.resolve(SHOP.shop, "cid:c-2").profile_id == kept.profile_id
    # a stored customer's identity is never released
    assert not world.ingest.release(SHOP.shop, "cid:c-2")


def test_bare_event_ids_stay_as_duplicates_without_the_profile_id(world):
    customer = world.customer("c-1")
    world.service.erase(SALTED, "cid:c-1", "key:test")
    erased = [i for i in world.items() if "#XID#" in i[3]]
    assert erased and all(customer.profile_id not in str(i) and "c-1" not in str(i) for i in erased)  # names nobody
    # the shop retries the deliveries after the erasure: duplicates, the customer is not re-created
    report = world.ingest.ingest(world.last_events)
    assert len(report.duplicates) == 3 and not report.accepted
    with pytest.raises(ProfileNotFound):
        world.ingest.resolve(SHOP.shop, "cid:c-1")


def test_a_retried_call_carrying_only_one_identity_of_the_erased_customer_is_still_a_duplicate(world):
    """The erasure keeps the ids in the shard of every identity of the customer; a retried call is looked for in
    the shard of the first identity it carries (here a visitor's anonymous id alone, sent before they identified),
    and a new customer's request reads one shard for all its events, not one per event."""
    refs = {"customer_id": "c-1", "email": "c-1@example.de", "anonymous_id": "anon-c-1"}
    anonymous = [
        event("page.viewed", customer={"anonymous_id": "anon-c-1"}, at=NOW - timedelta(hours=2, minutes=i))
        for i in range(3)
    ]
    world.ingest.ingest([*anonymous, event("customer.identified", customer=refs, at=NOW - timedelta(hours=1))])
    world.service.erase(SALTED, "cid:c-1", "key:test")
    reads = []
    world.ddb.meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem",
        lambda params, **_: reads.extend(k["pk"]["S"] for t in params["RequestItems"].values() for k in t["Keys"]),
    )
    report = world.ingest.ingest(anonymous)
    assert len(report.duplicates) == 3 and not report.accepted
    assert len([pk for pk in reads if "#XID#" in pk]) == 1
    with pytest.raises(ProfileNotFound):
        world.ingest.resolve(SHOP.shop, "anon:anon-c-1")


def test_an_erasure_keeps_at_most_the_newest_ids_of_a_profile_in_each_shard(world, monkeypatch):
    """A flood (a bot, a shared point-of-sale customer) must not pass the 400 KB a shard's item holds."""
    import emma.adapters.privacy as privacy_adapter

    monkeypatch.setattr(privacy_adapter, "MAX_ERASED_IDS", 2)
    world.customer("c-1", n=5)
    world.service.erase(SALTED, "cid:c-1", "key:test")
    shards = [(pk, sk) for _, pk, sk, _ in world.items() if "#XID#" in pk]
    assert len(shards) == 3  # the customer id, the email, the anonymous id (distinct shards here)
    raw = world.ddb.batch_get_item(
        RequestItems={PROFILES_TABLE.name: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in shards]}}
    )["Responses"][PROFILES_TABLE.name]
    assert [len(item["ids"]["BS"]) for item in raw] == [2, 2, 2]


def test_a_crash_half_way_is_finished_by_the_retry(world, monkeypatch):
    customer = world.customer("c-1")
    real_erase = world.store.erase
    calls = {"n": 0}

    def crash_once(items, profile_ids, identifiers=()):
        calls["n"] += 1
        if calls["n"] == 1:
            real_erase([i for i in items if i.kind == "alias"], profile_ids, identifiers)  # the aliases went
            raise RuntimeError("the function timed out")
        return real_erase(items, profile_ids, identifiers)

    monkeypatch.setattr(world.store, "erase", crash_once)
    with pytest.raises(RuntimeError):
        world.service.erase(SALTED, "c-1@example.de", "key:test")
    # The email no longer resolves (its alias is gone), yet the retry with the same ref finishes the job.
    outcome = world.service.erase(SALTED, "c-1@example.de", "key:test")
    assert outcome.finished and outcome.job.steps == ["stopped", "counted", "suppressed", "exports"]
    assert [i for i in world.items() if customer.profile_id in i[3]] == []


def test_the_segment_counters_lose_the_customer_once_however_often_the_step_is_retried(world):
    customer = world.customer("c-1")
    shard = in_vip_of_five(world, customer.profile_id)
    job = world.service.erase(SALTED, "cid:c-1", "key:test").job
    assert job.status == "done"
    size = world.ddb.get_item(TableName=PROFILES_TABLE.name, Key={"pk": {"S": shard}, "sk": {"S": keys.SIZES_SK}})
    assert size["Item"]["seg_vip"]["N"] == "4"
    # A stale writer of the job (another worker) cannot apply the counters again.
    job.steps.remove("counted")
    job.version -= 1
    with pytest.raises(StaleJob):
        world.store.put_job(job, {customer.profile_id: {"vip": -1}})
    size = world.ddb.get_item(TableName=PROFILES_TABLE.name, Key={"pk": {"S": shard}, "sk": {"S": keys.SIZES_SK}})
    assert size["Item"]["seg_vip"]["N"] == "4"


def test_suppressions_are_salted_hashes_and_guard_a_later_grant(world):
    world.customer("c-1")
    world.service.erase(SALTED, "cid:c-1", "key:test")
    suppressions = [i for i in world.items() if "#SUP#" in i[1]]
    assert len(suppressions) == 1 and "c-1" not in suppressions[0][3]
    proof = {"source": "shop:signup", "at": NOW.isoformat(), "wording": "Newsletter"}
    refs = {"customer_id": "c-1", "email": "C-1@Example.de"}
    world.ingest.ingest([event("consent.changed", customer=refs, at=NOW, channel="email", granted=True, proof=proof)])
    state = world.ingest.resolve(SHOP.shop, "cid:c-1").consent["email"]
    assert state.granted and state.confirm_required


def test_the_audit_trail_names_nobody_and_is_read_newest_first(world):
    world.customer("c-1")
    world.service.export(SALTED, "cid:c-1", "key:aaa")
    world.clock.advance(minutes=1)
    world.service.erase(SALTED, "cid:c-1", "key:bbb")
    trail = world.service.audit_log(SALTED)
    assert [(e.action, e.actor) for e in trail] == [("erase", "key:bbb"), ("export", "key:aaa")]
    assert all("c-1" not in e.model_dump_json() for e in trail)
    assert world.service.audit_log(SALTED, "2026-05") == []


def test_retention_in_a_shop_without_a_salt_queues_each_customer_once(aws):
    session, _ = aws
    shop = SHOP.model_copy(update={"privacy": PrivacyConfig(inactive_months=6)})  # no salt, no signing secret
    world = World(session, shop)
    world.customer("old", at=NOW - timedelta(days=200))
    assert world.service.run_retention() == world.service.run_retention() == {SHOP.shop: 1}
    assert len(world.store.queued(10)) == 1
    assert world.service.run_queued(budget_seconds=30)["done"] == 1
    trail = world.service.audit_log(shop)
    assert [(e.action, e.subject) for e in trail] == [("retention", "unsalted")]  # no hash anyone could recompute


def test_retention_queues_the_inactive_and_the_queue_erases_them(aws):
    session, _ = aws
    shop = SALTED.model_copy(update={"privacy": SALTED.privacy.model_copy(update={"inactive_months": 6})})
    world = World(session, shop)
    old = world.customer("old", at=NOW - timedelta(days=200))
    recent = world.customer("recent", at=NOW - timedelta(days=20))
    queued = world.service.run_retention()
    assert queued == {SHOP.shop: 1}
    assert world.service.run_retention() == {SHOP.shop: 1}  # still there: the same job, not a second
    report = world.service.run_queued(budget_seconds=30)
    assert report == {"done": 1, "failed": 0, "waiting": 0}
    assert [i for i in world.items() if old.profile_id in i[3]] == []
    assert world.ingest.resolve(SHOP.shop, "cid:recent").profile_id == recent.profile_id
    assert world.service.run_retention() == {}
    assert [e.action for e in world.service.audit_log(shop)] == ["retention"]


def test_emmas_own_sends_are_no_activity(aws):
    session, _ = aws
    shop = SALTED.model_copy(update={"privacy": SALTED.privacy.model_copy(update={"inactive_months": 6})})
    world = World(session, shop)
    world.customer("quiet", at=NOW - timedelta(days=200))
    refs = {"customer_id": "quiet"}
    world.ingest.ingest([event("email.delivered", customer=refs, at=NOW - timedelta(days=1), message_id="m-1")])
    assert world.service.run_retention() == {SHOP.shop: 1}


def test_a_shops_event_log_retention_sets_the_log_entries_ttl(aws):
    session, _ = aws
    shop = SALTED.model_copy(update={"privacy": SALTED.privacy.model_copy(update={"event_log_days": 42})})
    world = World(session, shop)
    customer = world.customer("c-1")
    entries = world.ddb.query(
        TableName=PROFILES_TABLE.name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :l)",
        ExpressionAttributeValues={":pk": {"S": keys.profile_pk(SHOP.shop, customer.profile_id)}, ":l": {"S": "LOG#"}},
    )["Items"]
    assert entries
    for entry in entries:
        days = (int(entry["expires_at"]["N"]) - NOW.timestamp()) / 86400
        assert 40 < days <= 42  # received a day ago, kept 42 days instead of 400


def test_events_older_than_their_idempotency_records_are_not_looked_up(world):
    pid = world.customer("c-1", backfill=True).profile_id  # imported a day ago: a backfill keeps its records
    held = world.store.holdings(SALTED.shop, [pid], [])
    assert len([h for h in held if h.kind == "idempotency record"]) == 3
    world.clock.advance(days=41)  # 42 days after: the records may still linger (TTL deletion takes days)
    assert len([h for h in world.store.holdings(SALTED.shop, [pid], []) if h.kind == "idempotency record"]) == 3
    world.clock.advance(days=2)  # 43 days after: beyond the 35 days of EMMA_IDEMPOTENCY_TTL_DAYS + 7
    assert [h for h in world.store.holdings(SALTED.shop, [pid], []) if h.kind == "idempotency record"] == []


def test_an_erasure_out_of_time_is_queued_and_the_schedule_finishes_it(world):
    customer = world.customer("c-1")
    outcome = world.service.erase(SALTED, "cid:c-1", "key:test", budget_seconds=0)
    assert not outcome.finished and outcome.job.status == "running" and outcome.job.queued
    assert [q[:2] for q in world.store.queued(10)] == [(SALTED.shop, outcome.job.job_id)]
    assert world.service.erase(SALTED, "cid:c-1", "key:test", budget_seconds=0).job.job_id == outcome.job.job_id
    assert world.service.run_queued(budget_seconds=30) == {"done": 1, "failed": 0, "waiting": 0}
    assert world.store.queued(10) == []
    assert world.service.job(SALTED, outcome.job.job_id).status == "done"
    assert [i for i in world.items() if customer.profile_id in i[3]] == []


def test_a_data_request_is_exported_kept_and_the_shop_notified_with_a_signature(aws):
    import hashlib
    import hmac
    import json as jsonlib

    from emma.adapters.privacy import WebhookNotifier

    session, _ = aws
    sent = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def opener(request, timeout):
        sent.append(request)
        return Response()

    shop = SALTED.model_copy(
        update={
            "signing_secret": "sig-secret",
            "privacy": PrivacyConfig(salt="a-salt-of-sixteen-or-more", notify_url="https://shop.example/privacy"),
        }
    )
    world = World(session, shop)
    world.service._notifier = WebhookNotifier(opener=opener)  # the real adapter, without the network
    world.customer("c-1")
    refs = ["cid:c-1", "email:c-1@example.de"]
    job = world.service.request(shop, "export", refs, "shopify:x", request_id="dr-1", notify=True)
    assert world.service.request(shop, "export", ["cid:c-1"], "shopify:x", request_id="dr-1").job_id == job.job_id
    world.service.run_queued(budget_seconds=30)
    world.clock.advance(minutes=1)
    document = world.service.exported(shop, job.job_id, "key:admin")
    assert document["summary"]["items"]["profile"] == 1
    (request,) = sent
    body = request.data
    stamp = request.get_header("X-emma-timestamp")
    expected = hmac.new(b"sig-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert request.get_header("X-emma-signature") == f"sha256={expected}"
    assert jsonlib.loads(body)["fetch"] == f"/v1/privacy/jobs/{job.job_id}/export"
    assert "c-1" not in body.decode()  # the notification names nobody
    actions = [e.action for e in world.service.audit_log(shop)]
    assert actions == ["export", "data_request"]  # the fetch, then the request's job


def test_a_customer_who_came_back_is_erased_again_by_the_same_reference(world):
    world.customer("c-1")
    first = world.service.erase(SALTED, "c-1@example.de", "key:test").job
    again = world.customer("c-1")  # a new order, a new profile under the same address
    second = world.service.erase(SALTED, "c-1@example.de", "key:test")
    assert second.finished and second.job.job_id == first.job_id and second.job.generation == 1
    assert second.job.counts["profile"] == 1
    assert [i for i in world.items() if again.profile_id in i[3]] == []
    assert world.service.erase(SALTED, "c-1@example.de", "key:test").job.generation == 1  # nothing new: same


def test_two_erasures_of_one_customer_take_them_out_of_the_counts_once(world):
    customer = world.customer("c-1")
    shard = in_vip_of_five(world, customer.profile_id)
    # DELETE by email runs out of time after counting; DELETE by customer id (or a redact) starts meanwhile.
    first = world.service.erase(SALTED, "c-1@example.de", "key:a", budget_seconds=0)
    assert not first.finished and "counted" in first.job.steps
    second = world.service.erase(SALTED, "cid:c-1", "key:b")
    assert second.finished
    size = world.ddb.get_item(TableName=PROFILES_TABLE.name, Key={"pk": {"S": shard}, "sk": {"S": "SIZES"}})
    assert size["Item"]["seg_vip"]["N"] == "4"
    assert world.service.run_queued(budget_seconds=30)["done"] == 1  # the first one finishes: nothing left


def test_a_crash_after_the_derived_state_went_still_finds_the_timers_and_links(world, monkeypatch):
    customer = world.customer("c-1")
    rules = __import__("emma.adapters.rules_store", fromlist=["DynamoRulesStore"]).DynamoRulesStore
    timer_at = NOW + timedelta(days=3)
    world.ddb.put_item(
        TableName=PROFILES_TABLE.name,
        Item={
            "pk": {"S": keys.profile_pk(SHOP.shop, customer.profile_id)},
            "sk": {"S": keys.DERIVED_SK},
            "version": {"N": "1"},
            "doc": {"S": f'{{"profile_id": "{customer.profile_id}", "next_review_at": "{timer_at.isoformat()}"}}'},
        },
    )
    from emma.rules.state import Timer

    timer = Timer(SHOP.shop, customer.profile_id, "review", timer_at)
    world.ddb.put_item(TableName=SCHEDULE_TABLE.name, Item=rules._timer_item(timer))
    real_erase = world.store.erase
    calls = {"n": 0}

    def crash_after_the_first_phase(items, profile_ids, identifiers=()):
        calls["n"] += 1
        if calls["n"] == 1:  # what the others lead to goes first: the timer is gone before the derived state
            real_erase([i for i in items if i.kind in world.store._LED_TO], profile_ids, identifiers)
            raise RuntimeError("killed")
        return real_erase(items, profile_ids, identifiers)

    monkeypatch.setattr(world.store, "erase", crash_after_the_first_phase)
    with pytest.raises(RuntimeError):
        world.service.erase(SALTED, "cid:c-1", "key:test")
    assert not [i for i in world.items() if i[1].startswith("DUE#")]  # the timer went first
    assert world.service.run_queued(budget_seconds=30)["done"] == 1  # queued from the start: the schedule finishes
    assert [i for i in world.items() if customer.profile_id in i[3]] == []


def test_a_job_that_keeps_failing_is_marked_failed_and_leaves_the_queue(aws):
    from emma.errors import TransientError

    session, _ = aws
    shop = SALTED.model_copy(
        update={"privacy": SALTED.privacy.model_copy(update={"notify_url": "https://shop.example/down"})}
    )
    world = World(session, shop)

    class Down:
        def notify(self, shop, payload):
            raise TransientError("the shop's privacy notify_url answered 503")

    world.service._notifier = Down()
    world.customer("c-1")
    job = world.service.request(shop, "export", ["cid:c-1"], "shopify:x", request_id="dr-1", notify=True)
    newer = world.service.request(shop, "erase", ["cid:c-1"], "shopify:y", request_id="rd-1")
    for run in range(12):
        report = world.service.run_queued(budget_seconds=30)
        if run == 0:
            assert report["failed"] == 1 and report["done"] == 1  # the failing one does not block the newer one
    failed = world.service.job(shop, job.job_id)
    assert failed.status == "failed" and failed.attempts == 12 and "503" in (failed.note or "")
    assert world.store.queued(10) == []
    assert world.service.job(shop, newer.job_id).status == "done"


def with_rules(world):
    """Everything ingested so far through the rules function too: segments, with member list entries."""
    store = DynamoRulesStore(world.ddb, PROFILES_TABLE.name, SCHEDULE_TABLE.name)
    rules = RulesService(store, InMemoryPublisher(), load_definitions(Path(__file__).resolve().parents[2]), world.clock)
    for published in world.bus.published:
        rules.on_event(published)


def member_items(world):
    return [i for i in world.items() if i[1].startswith(keys.members_prefix(SHOP.shop))]


def test_segment_member_entries_are_exported_and_erased_first(world, monkeypatch):
    customer = world.customer("c-1")
    kept = world.customer("c-2")
    with_rules(world)
    theirs = [i for i in member_items(world) if customer.profile_id in i[2]]
    assert theirs and all(i[2].startswith("c-1@example.de#") for i in theirs)  # the email in the key
    document = world.service.export(SALTED, "cid:c-1", "key:test")
    exported = document["items"]["segment member"]
    assert sorted((m["pk"], m["sk"]) for m in exported) == sorted(i[1:3] for i in theirs)
    derived = world.ddb.get_item(
        TableName=PROFILES_TABLE.name,
        Key={"pk": {"S": keys.profile_pk(SHOP.shop, customer.profile_id)}, "sk": {"S": keys.DERIVED_SK}},
    )["Item"]
    assert {m["segment"] for m in exported} == set(derived_of(derived).segments)
    real_erase = world.store.erase
    calls = {"n": 0}

    def crash_after_the_first_phase(items, profile_ids, identifiers=()):
        calls["n"] += 1
        if calls["n"] == 1:  # what the derived state leads to goes first: the member list entries
            real_erase([i for i in items if i.kind in world.store._LED_TO], profile_ids, identifiers)
            raise RuntimeError("killed")
        return real_erase(items, profile_ids, identifiers)

    monkeypatch.setattr(world.store, "erase", crash_after_the_first_phase)
    with pytest.raises(RuntimeError):
        world.service.erase(SALTED, "cid:c-1", "key:test")
    assert not [i for i in member_items(world) if customer.profile_id in i[2]]
    assert world.service.run_queued(budget_seconds=30)["done"] == 1
    assert [i for i in world.items() if "c-1" in i[3] or customer.profile_id in i[3]] == []
    assert [i for i in member_items(world) if kept.profile_id in i[2]]  # the other customer's stay


def test_an_erasure_finds_the_entries_a_merged_away_profile_left_to_delete(world):
    customer = world.customer("c-1")
    loser = "p_merged"
    stale_sk = member_key("old@example.de", None, loser)
    world.ddb.put_item(
        TableName=PROFILES_TABLE.name,
        Item={
            "pk": {"S": keys.member_pk(SHOP.shop, "vip", member_shard(loser))},
            "sk": {"S": stale_sk},
            "segment": {"S": "vip"},
            "profile_id": {"S": loser},
            "email": {"S": "old@example.de"},
        },
    )
    doc = {
        "profile_id": customer.profile_id,
        "stale_member_keys": [{"segment": "vip", "profile_id": loser, "sk": stale_sk}],
    }
    world.ddb.put_item(
        TableName=PROFILES_TABLE.name,
        Item={
            "pk": {"S": keys.profile_pk(SHOP.shop, customer.profile_id)},
            "sk": {"S": keys.DERIVED_SK},
            "version": {"N": "1"},
            "doc": {"S": json.dumps(doc)},
        },
    )
    held = world.store.holdings(SHOP.shop, [customer.profile_id], [])
    assert [(h.kind, h.sk) for h in held if h.kind == "segment member"] == [("segment member", stale_sk)]
    assert world.service.erase(SALTED, "cid:c-1", "key:test").job.counts["segment member"] == 1
    assert member_items(world) == []


def test_a_shop_erasure_knows_member_list_entries(world):
    world.customer("c-1")
    with_rules(world)
    kinds, cursor = [], None
    while True:
        items, cursor = world.store.shop_items(SHOP.shop, cursor, 100)
        kinds += [i.kind for i in items]
        if cursor is None:
            break
    assert "segment member" in kinds and "other" not in kinds


def test_an_erasure_deletes_the_record_of_each_coupon_code_made_for_the_customer(world):
    from emma.adapters.dispatch import DynamoMessageLog
    from emma.adapters.offers import DynamoCoupons
    from emma.dispatch.request import MessageRequest
    from emma.offers.ports import CouponRecord

    customer = world.customer("c-1")
    other = world.customer("c-2")
    log = DynamoMessageLog(world.ddb, PROFILES_TABLE.name)
    coupons = DynamoCoupons(world.ddb, PROFILES_TABLE.name)
    for who, code in ((customer, "EMMA-AAAA-BBBB"), (other, "EMMA-CCCC-DDDD")):
        request = MessageRequest(
            key=f"exec-{who.profile_id}:coupon:1",
            shop=SHOP.shop,
            profile_id=who.profile_id,
            template="cart-coupon",
            channel="email",
            requested_at=NOW,
        )
        record = log.claim(request, NOW, NOW + timedelta(minutes=3))
        log.update(record, "processing", [], NOW, coupon=code)  # named before the send, as dispatch does
        coupons.save(
            CouponRecord(SHOP.shop, code, who.profile_id, request.key, "cart-coupon", "offer", "shopify", "gid:1", NOW)
        )
    referral = CouponRecord(
        SHOP.shop, "EMMA-REFE-RRAL", customer.profile_id, "referral:x", "invite", "referral", "x", "1", NOW
    )
    coupons.save(referral)
    world.ingest.ingest(
        [event("customer.updated", customer={"customer_id": "c-1"}, at=NOW, traits={"referral_code": "EMMA-REFE-RRAL"})]
    )
    job = world.service.erase(SALTED, "cid:c-1", "key:test").job
    assert job.counts.get(keys.COUPON.name) == 2 and coupons.get(SHOP.shop, "EMMA-REFE-RRAL") is None
    assert coupons.get(SHOP.shop, "EMMA-AAAA-BBBB") is None  # the customer's code record went with them
    assert coupons.get(SHOP.shop, "EMMA-CCCC-DDDD") is not None  # another customer's stays


def test_timers_already_due_are_erased_too_and_another_profiles_in_the_shard_stay(world):
    from emma.adapters.rules_store import DynamoRulesStore
    from emma.rules.state import Timer, timer_shard

    customer = world.customer("c-1")
    other = world.customer("c-2")
    mine = [  # due timers are not deleted when done: they expire; the derived state names none of these
        Timer(SHOP.shop, customer.profile_id, "absence", NOW - timedelta(days=2), "cart-abandoned", NOW - timedelta(2)),
        Timer(SHOP.shop, customer.profile_id, "review", NOW - timedelta(hours=1)),
        Timer(SHOP.shop, customer.profile_id, "review", NOW + timedelta(days=5)),
    ]
    theirs = Timer(SHOP.shop, other.profile_id, "review", NOW - timedelta(hours=1))
    for timer in [*mine, theirs]:
        world.ddb.put_item(TableName=SCHEDULE_TABLE.name, Item=DynamoRulesStore._timer_item(timer))
    document = world.service.export(SALTED, "cid:c-1", "key:test")
    assert len(document["items"][keys.TIMER.name]) == 3
    assert world.service.erase(SALTED, "cid:c-1", "key:test").finished
    left = [i for i in world.items() if i[1].startswith("DUE#")]
    assert [i[1] for i in left] == [keys.timer_pk(timer_shard(other.profile_id))]
    assert [i for i in world.items() if customer.profile_id in i[3]] == []
