from decimal import Decimal

import pytest

from emma.adapters.dynamodb import DynamoCatalog, DynamoProfileRepository
from emma.ingest.ports import AliasKey, Commit, CommitConflict
from emma.ingest.service import IngestService
from emma.profiles.model import new_profile
from emma_local.fakes import FixedClock, InMemoryPublisher
from emma_local.streams import relayed
from factories import T0, event, order

LENA = {"customer_id": "7008001", "email": "lena@example.de"}


@pytest.fixture
def repo(aws):
    session, res = aws
    return DynamoProfileRepository(session.client("dynamodb"), res.tables["ProfilesTable"], log_cap=5)


@pytest.fixture
def service(aws, repo):
    session, res = aws
    catalog = DynamoCatalog(session.client("dynamodb"), res.tables["CatalogTable"], res.tables["ProfilesTable"])
    # mock_aws is not thread-safe in-process: customers one at a time (the e2e tests run them in parallel)
    bus = InMemoryPublisher()
    service = IngestService(repo, catalog, bus, FixedClock(T0), parallel_customers=1)
    return relayed(service, session, res.tables["ProfilesTable"], bus, log_cap=repo.log_cap)


def test_duplicates_are_detected_by_the_transaction(repo):
    profile = new_profile("elektro-emma", "p_1", T0)
    profile.version = 1
    e = order("o1", "10.00", customer=LENA, id="dup-1")
    repo.commit(Commit("elektro-emma", profile, None, [e], 1, claim_aliases=[AliasKey("cid", "7008001")]))
    again = profile.model_copy(update={"version": 2})
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", again, 1, [e], 2))
    assert info.value.duplicates == {"dup-1"} and not info.value.stale


def test_stale_version_and_taken_alias_are_conflicts(repo):
    first = new_profile("elektro-emma", "p_1", T0)
    first.version = 1
    repo.commit(Commit("elektro-emma", first, None, [], 1, claim_aliases=[AliasKey("email", "a@example.de")]))
    second = new_profile("elektro-emma", "p_2", T0)
    second.version = 1
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", second, None, [], 1, claim_aliases=[AliasKey("email", "a@example.de")]))
    assert info.value.alias_taken
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", first.model_copy(update={"version": 2}), 0, [], 1))
    assert info.value.stale


def test_ten_deliveries_one_effect_and_one_publish(service):
    e = order("o1", "99.90", customer=LENA, id="shopify-webhook-abc")
    reports = [service.ingest([e]) for _ in range(10)]
    assert [len(r.accepted) for r in reports] == [1] + [0] * 9
    assert sum(r.published for r in reports) == 1
    p = service.resolve("elektro-emma", "lena@example.de")
    assert p.orders.count == 1 and p.orders.revenue == Decimal("99.9000") and p.version == 1


def test_merge_moves_history_into_the_winner_partition(service, repo):
    service.ingest([event("page.viewed", customer={"anonymous_id": "anon-7"}, path="/smartphones")])
    service.ingest([order("o1", "50.00", customer=LENA)])
    anon = service.resolve("elektro-emma", "anon:anon-7")
    service.ingest([event("customer.identified", minutes=3, customer={"anonymous_id": "anon-7", **LENA})])
    winner = service.resolve("elektro-emma", "anon:anon-7")
    assert winner.profile_id != anon.profile_id and anon.profile_id in winner.merged_from
    assert repo.read_log("elektro-emma", anon.profile_id, 50) == []
    types = [e["type"] for e in service.history(winner)]
    assert sorted(types) == ["customer.identified", "order.placed", "page.viewed"]


def test_event_log_is_a_bounded_ring(service, repo):
    for i in range(8):
        service.ingest([event("page.viewed", minutes=i, customer=LENA, path=f"/p{i}")])
    p = service.resolve("elektro-emma", "7008001")
    log = service.history(p, limit=50)
    assert len(log) == 5  # log_cap
    assert [e["properties"]["path"] for e in log] == ["/p7", "/p6", "/p5", "/p4", "/p3"]
    assert p.event_counts["page.viewed"] == 8  # aggregates keep counting


def test_interleaved_writers_on_one_profile_lose_no_increment(aws, service, repo):
    """moto is not thread-safe in-process, so the race is staged: writer B commits between writer
    A's read and A's commit. A's conditional write fails, A re-reads and both orders count.
    (Free-running threads are exercised against the in-memory store in tests/unit.)"""
    session, res = aws
    service.ingest([order("o0", "1.00", customer=LENA)])
    other = IngestService(
        repo,
        DynamoCatalog(session.client("dynamodb"), res.tables["CatalogTable"], res.tables["ProfilesTable"]),
        InMemoryPublisher(),
        FixedClock(T0),
    )

    class Interleaving(DynamoProfileRepository):
        staged = False

        def commit(self, commit):
            if not self.staged:
                self.staged = True
                other.ingest([order("o-b", "2.00", customer=LENA)])
            super().commit(commit)

    racing = Interleaving(session.client("dynamodb"), res.tables["ProfilesTable"], log_cap=5)
    IngestService(
        racing,
        DynamoCatalog(session.client("dynamodb"), res.tables["CatalogTable"], res.tables["ProfilesTable"]),
        InMemoryPublisher(),
        FixedClock(T0),
    ).ingest([order("o-a", "4.00", customer=LENA)])
    p = service.resolve("elektro-emma", "7008001")
    assert p.orders.count == 3 and p.orders.revenue == Decimal("7.0000") and p.version == 3


def test_catalog_keeps_the_newest_update(aws):
    session, res = aws
    catalog = DynamoCatalog(session.client("dynamodb"), res.tables["CatalogTable"], res.tables["ProfilesTable"])
    newer = event(
        "catalog.product_upserted",
        customer={},
        minutes=10,
        id="p-2",
        product={"product_id": "pixel-9", "name": "Pixel 9 Pro", "price": "899.00"},
    )
    older = event(
        "catalog.product_upserted",
        customer={},
        minutes=0,
        id="p-1",
        product={"product_id": "pixel-9", "name": "Pixel 9", "price": "999.00"},
    )
    assert catalog.upsert_product(newer) is True
    assert catalog.upsert_product(older) is True  # recorded, not applied
    assert catalog.upsert_product(older) is False  # duplicate
    assert catalog.get_product("elektro-emma", "pixel-9")["name"] == "Pixel 9 Pro"


def test_partial_product_updates_merge_instead_of_blanking(aws):
    session, res = aws
    catalog = DynamoCatalog(session.client("dynamodb"), res.tables["CatalogTable"], res.tables["ProfilesTable"])
    full = event(
        "catalog.product_upserted",
        customer={},
        id="p-full",
        variants=["v1"],
        product={
            "product_id": "pixel-9",
            "name": "Pixel 9 Pro",
            "price": "999.00",
            "category": "smartphones",
            "in_stock": True,
            "tags": ["5g"],
        },
    )
    partial = event(
        "catalog.product_upserted",
        customer={},
        id="p-partial",
        minutes=5,
        product={"product_id": "pixel-9", "in_stock": False},
    )
    assert catalog.upsert_product(full) and catalog.upsert_product(partial)
    product = catalog.get_product("elektro-emma", "pixel-9")
    assert product["name"] == "Pixel 9 Pro" and product["price"] == "999.00" and product["in_stock"] is False
    assert product["tags"] == ["5g"] and product["variants"] == ["v1"]


def test_the_idempotency_record_remembers_a_repeat_through_publishing(repo):
    """A republished repeat must stay a repeat: the record carries it, and marking published keeps it."""
    from emma.ingest.ports import IdempotencyRecord

    profile = new_profile("elektro-emma", "p_r", T0)
    profile.version = 1
    first = order("o1", "10.00", customer=LENA, id="shopify:first")
    repeat = order("o1", "10.00", customer=LENA, id="shopify:again").model_copy(update={"repeat": True})
    repo.commit(Commit("elektro-emma", profile, None, [first, repeat], 1))
    _, seen = repo.lookup("elektro-emma", [], ["shopify:first", "shopify:again"])
    assert (seen["shopify:first"].repeat, seen["shopify:again"].repeat) == (False, True)
    record = seen["shopify:again"]
    repo.mark_published("elektro-emma", [IdempotencyRecord(record.event_id, "p_r", record.stored_at, True, True)])
    _, seen = repo.lookup("elektro-emma", [], ["shopify:again"])
    assert seen["shopify:again"].published and seen["shopify:again"].repeat


def test_an_import_into_a_live_profile_keeps_its_memory_of_event_ids(service):
    from datetime import timedelta

    live = order("o1", "10.00", customer=LENA, id="webhook-1")
    service.ingest([live])
    history = order("o0", "5.00", customer=LENA, id="import:o0", at=T0 - timedelta(days=40))
    service.ingest([history], backfill=True)  # the profile's item is written whole: the ids it absorbed stay
    again = service.ingest([live])  # Shopify retries the webhook
    assert again.duplicates == ["webhook-1"] and not again.accepted
    assert service.resolve("elektro-emma", "cid:7008001").orders.count == 2


def _calls(client):
    """The DynamoDB operations a client sends, in order."""
    sent: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: sent.append(model.name))
    return sent


def test_a_new_customer_is_one_write_per_alias_and_one_for_the_profile_without_a_transaction(aws):
    session, res = aws
    client = session.client("dynamodb")
    repo = DynamoProfileRepository(client, res.tables["ProfilesTable"])
    sent = _calls(client)
    profile = new_profile("elektro-emma", "p_1", T0)
    profile.version = 1
    aliases = [AliasKey("cid", "7008001"), AliasKey("email", "lena@example.de")]
    repo.commit(Commit("elektro-emma", profile, None, [], 1, claim_aliases=aliases, outbox=True))
    assert sent == ["PutItem", "PutItem", "PutItem"]
    held = repo.reservations("elektro-emma", [*aliases, AliasKey("anon", "nobody")])
    assert {a: r.profile_id for a, r in held.items()} == dict.fromkeys(aliases, "p_1")
    assert held[aliases[0]].since == T0


def test_an_alias_taken_half_way_leaves_the_aliases_claimed_before_it_as_reservations(aws):
    session, res = aws
    repo = DynamoProfileRepository(session.client("dynamodb"), res.tables["ProfilesTable"])
    cid, email = AliasKey("cid", "7008001"), AliasKey("email", "lena@example.de")
    other = new_profile("elektro-emma", "p_other", T0)
    other.version = 1
    repo.commit(Commit("elektro-emma", other, None, [], 1, claim_aliases=[email]))
    mine = new_profile("elektro-emma", "p_mine", T0)
    mine.version = 1
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", mine, None, [], 1, claim_aliases=[cid, email]))
    assert info.value.alias_taken
    assert repo.get_profiles("elektro-emma", ["p_mine"]) == {}
    assert repo.reservations("elektro-emma", [cid])[cid].profile_id == "p_mine"  # claimed, its profile not stored


def test_a_take_over_checks_the_reservation_and_stores_its_id_as_a_tombstone(aws):
    session, res = aws
    client = session.client("dynamodb")
    repo = DynamoProfileRepository(client, res.tables["ProfilesTable"])
    anon = AliasKey("anon", "a-1")
    dead = new_profile("elektro-emma", "p_dead", T0)
    dead.version = 1
    repo.commit(Commit("elektro-emma", dead, None, [], 1, claim_aliases=[anon]))
    profiles = res.tables["ProfilesTable"]
    dead_key = {"pk": {"S": "S#elektro-emma#P#p_dead"}, "sk": {"S": "PROFILE"}}
    client.delete_item(TableName=profiles, Key=dead_key)  # as a request that died between alias and profile leaves it

    def taking_over(held):
        new = new_profile("elektro-emma", "p_new", T0)
        new.version = 1
        tomb = new_profile("elektro-emma", held, T0)
        tomb.merged_into, tomb.version = "p_new", 1
        return Commit("elektro-emma", new, None, [], 1, take_over=[(anon, held)], tombstones=[(tomb, None)])

    with pytest.raises(CommitConflict):  # the alias no longer points at that reservation
        repo.commit(taking_over("p_someone"))
    sent = _calls(client)
    repo.commit(taking_over("p_dead"))
    assert sent == ["TransactWriteItems"]
    assert repo.reservations("elektro-emma", [anon])[anon].profile_id == "p_new"
    assert repo.get_profiles("elektro-emma", ["p_dead"])["p_dead"].merged_into == "p_new"
    # the request that reserved p_dead can no longer store it
    late = new_profile("elektro-emma", "p_dead", T0)
    late.version = 1
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", late, None, [], 1))
    assert info.value.stale
    # adopting: the aliases must still point at the id adopted, and the profile must not be stored yet
    again = new_profile("elektro-emma", "p_new", T0)
    again.version = 1
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", again, None, [], 1, reserved=[anon]))
    assert info.value.stale


def test_a_new_customers_request_that_died_after_its_aliases_is_adopted_by_the_retry(aws, service, repo):
    session, res = aws
    cid = AliasKey("cid", "7008001")
    dead = new_profile("elektro-emma", "p_dead", T0)
    dead.version = 1
    repo.commit(Commit("elektro-emma", dead, None, [], 1, claim_aliases=[cid]))
    session.client("dynamodb").delete_item(  # its cid claimed, then it died before its email and profile
        TableName=res.tables["ProfilesTable"], Key={"pk": {"S": "S#elektro-emma#P#p_dead"}, "sk": {"S": "PROFILE"}}
    )
    report = service.ingest([order("o1", "10.00", customer=LENA)])
    assert len(report.accepted) == 1
    profile = service.resolve("elektro-emma", "lena@example.de")
    assert profile.profile_id == "p_dead" and profile.orders.count == 1


def test_after_the_first_alias_the_others_are_claimed_at_once_and_one_taken_is_a_conflict(aws):
    import threading

    session, res = aws
    client = session.client("dynamodb")
    repo = DynamoProfileRepository(client, res.tables["ProfilesTable"])
    threads: list[tuple[str, str]] = []
    client.meta.events.register(
        "before-parameter-build.dynamodb.PutItem",
        lambda params, **_: threads.append((params["Item"]["pk"]["S"], threading.current_thread().name)),
    )
    cid, email, anon = AliasKey("cid", "7008001"), AliasKey("email", "lena@example.de"), AliasKey("anon", "a-1")
    other = new_profile("elektro-emma", "p_other", T0)
    other.version = 1
    repo.commit(Commit("elektro-emma", other, None, [], 1, claim_aliases=[anon]))
    mine = new_profile("elektro-emma", "p_mine", T0)
    mine.version = 1
    threads.clear()
    with pytest.raises(CommitConflict) as info:
        repo.commit(Commit("elektro-emma", mine, None, [], 1, claim_aliases=[cid, email, anon]))
    assert info.value.alias_taken
    first, *others = threads
    assert "#A#cid#" in first[0] and not first[1].startswith("claim")
    assert len(others) == 2 and all(name.startswith("claim") for _, name in others)  # no profile write
    held = repo.reservations("elektro-emma", [cid, email, anon])
    assert {a: r.profile_id for a, r in held.items()} == {cid: "p_mine", email: "p_mine", anon: "p_other"}


def test_the_claim_order_puts_the_shops_customer_id_first_and_an_anonymous_id_last():
    from emma.ingest.ports import claim_order

    aliases = [AliasKey("anon", "a"), AliasKey("email", "b@example.de"), AliasKey("cid", "z")]
    assert sorted(aliases, key=claim_order) == [aliases[2], aliases[1], aliases[0]]
