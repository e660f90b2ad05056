import threading
from decimal import Decimal

import pytest

from emma.errors import ConcurrencyConflict, ProfileNotFound, PublishError, TransientError
from emma.ingest.service import IngestService
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event, order


@pytest.fixture
def repo():
    return InMemoryProfileRepository()


@pytest.fixture
def publisher():
    return InMemoryPublisher()


@pytest.fixture
def service(repo, publisher):
    return IngestService(repo, InMemoryCatalog(repo), publisher, FixedClock(T0), sleep=lambda s: None)


LENA = {"customer_id": "7008001", "email": "lena@example.de"}


def test_first_event_creates_profile_and_publishes_with_profile_id(service, publisher):
    report = service.ingest([order("o1", "999.00", customer=LENA)])
    assert len(report.accepted) == 1 and report.published == 1
    profile = service.resolve("elektro-emma", "lena@example.de")
    assert profile.orders.count == 1 and profile.orders.revenue == Decimal("999.0000")
    assert publisher.published[0].customer.profile_id == profile.profile_id


def test_same_delivery_ten_times_changes_profile_once_and_publishes_once(service, publisher, repo):
    e = order("o1", "100.00", customer=LENA, id="shopify-delivery-1")
    reports = [service.ingest([e]) for _ in range(10)]
    assert sum(len(r.accepted) for r in reports) == 1
    assert sum(len(r.duplicates) for r in reports) == 9
    assert len(publisher.published) == 1
    profile = service.resolve("elektro-emma", "cid:7008001")
    assert profile.orders.count == 1 and profile.version == 1


def test_anonymous_visitor_becomes_known_on_identify(service):
    service.ingest(
        [
            event(
                "product.viewed",
                customer={"anonymous_id": "anon-9"},
                product={"product_id": "pixel-9", "category": "smartphones"},
            )
        ]
    )
    anon = service.resolve("elektro-emma", "anon:anon-9")
    assert not anon.is_known
    service.ingest([event("customer.identified", customer={"anonymous_id": "anon-9", **LENA})])
    known = service.resolve("elektro-emma", "lena@example.de")
    assert known.profile_id == anon.profile_id and known.is_known
    assert known.affinities.categories["smartphones"].score > 0


def test_merging_two_existing_profiles_keeps_both_histories(service):
    service.ingest(
        [
            event(
                "product.viewed",
                customer={"anonymous_id": "anon-phone"},
                product={"product_id": "case-1", "category": "accessories"},
            )
        ]
    )
    service.ingest([order("o1", "50.00", customer=LENA)])
    service.ingest([order("o2", "70.00", customer={"email": "lena@example.de"}, minutes=5)])
    before_anon = service.resolve("elektro-emma", "anon:anon-phone")
    before_known = service.resolve("elektro-emma", "cid:7008001")
    assert before_anon.profile_id != before_known.profile_id
    # A login on the phone links the two.
    report = service.ingest(
        [
            event(
                "customer.identified",
                minutes=10,
                customer={"anonymous_id": "anon-phone", "customer_id": "7008001"},
            )
        ]
    )
    assert report.merges == [(before_anon.profile_id, before_known.profile_id)]
    merged = service.resolve("elektro-emma", "anon:anon-phone")
    assert merged.profile_id == before_known.profile_id
    assert merged.orders.count == 2 and merged.orders.revenue == Decimal("120.0000")
    assert "accessories" in merged.affinities.categories
    assert before_anon.profile_id in merged.merged_from
    # The loser's id still resolves, to the winner.
    assert service.resolve("elektro-emma", before_anon.profile_id).profile_id == merged.profile_id
    history = {e["type"] for e in service.history(merged)}
    assert {"product.viewed", "order.placed", "customer.identified"} <= history


def test_cancellation_reverses_order_aggregates_once(service):
    service.ingest([order("o1", "100.00", customer=LENA), order("o2", "40.00", customer=LENA)])
    service.ingest([order("o1", "100.00", type_="order.cancelled", customer=LENA)])
    service.ingest([order("o1", "100.00", type_="order.cancelled", customer=LENA)])  # another delivery
    p = service.resolve("elektro-emma", "7008001")
    assert p.orders.count == 1 and p.orders.revenue == Decimal("40.0000") and p.orders.cancelled == 1
    assert p.products_owned["pixel-9"].quantity == 1


def test_paid_after_placed_does_not_count_twice(service):
    service.ingest([order("o1", "100.00", customer=LENA), order("o1", "100.00", type_="order.paid", customer=LENA)])
    p = service.resolve("elektro-emma", "7008001")
    assert p.orders.count == 1 and p.orders.recent[0].status == "paid"


def test_concurrent_updates_of_one_profile_lose_nothing(repo, publisher):
    service = IngestService(repo, InMemoryCatalog(repo), publisher, FixedClock(T0))  # real backoff sleeps
    service.ingest([order("o0", "1.00", customer=LENA)])
    errors = []

    def worker(n):
        try:
            for i in range(10):
                service.ingest([order(f"o-{n}-{i}", "1.00", customer=LENA)])
        except Exception as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    p = service.resolve("elektro-emma", "7008001")
    assert p.orders.count == 81 and p.orders.revenue == Decimal("81.0000")


def test_conflict_that_never_clears_is_reported(repo):
    class AlwaysStale(InMemoryProfileRepository):
        def commit(self, commit):
            from emma.ingest.ports import CommitConflict

            raise CommitConflict(stale=True)

    svc = IngestService(AlwaysStale(), InMemoryCatalog(repo), InMemoryPublisher(), FixedClock(T0), sleep=lambda s: None)
    with pytest.raises(ConcurrencyConflict):
        svc.ingest([order("o1", "1.00", customer=LENA)])


def test_publish_failure_leaves_event_unpublished_and_a_later_retry_publishes_it(repo):
    clock = FixedClock(T0)
    failing = InMemoryPublisher(fail_ids=["d-1"])
    e = order("o1", "10.00", customer=LENA, id="d-1")
    with pytest.raises(PublishError):
        IngestService(repo, InMemoryCatalog(repo), failing, clock, sleep=lambda s: None).ingest([e])
    ok = InMemoryPublisher()
    svc = IngestService(repo, InMemoryCatalog(repo), ok, clock, sleep=lambda s: None)
    with pytest.raises(TransientError):  # within the lease the first delivery may still be publishing:
        svc.ingest([e])  # the sender is told to retry (503), never "done" while nothing was published
    clock.advance(seconds=16)
    report = svc.ingest([e])
    assert report.duplicates == ["d-1"] and report.published == 1
    assert svc.resolve("elektro-emma", "7008001").orders.count == 1  # stored once
    assert svc.ingest([e]).published == 0  # marked published now


def test_a_duplicate_racing_the_first_delivery_waits_for_its_publish(repo):
    clock = FixedClock(T0)
    e = order("o1", "10.00", customer=LENA, id="d-2")
    waits = []

    class PublishesLate(InMemoryProfileRepository):
        pass

    svc = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), clock, sleep=waits.append)
    svc.ingest([e])
    record = repo.seen[("elektro-emma", "d-2")]
    repo.seen[("elektro-emma", "d-2")] = type(record)(record.event_id, record.profile_id, record.stored_at, False)

    def publish_meanwhile(pause):  # the first delivery finishes publishing while we wait
        waits.append(pause)
        repo.mark_published("elektro-emma", [record])

    svc._sleep = publish_meanwhile
    assert svc.ingest([e]).duplicates == ["d-2"] and waits == [0.2]


def test_the_same_id_twice_in_one_request_is_stored_once(service, publisher):
    e = event("page.viewed", id="m-1", customer=LENA)
    report = service.ingest([e, e])
    assert report.accepted == ["m-1"] and report.duplicates == ["m-1"] and len(publisher.published) == 1


def test_the_same_id_in_two_shops_in_one_request_is_two_events(service, publisher, repo):
    """Per-call write keys put two shops into one batch; their messageIds may coincide."""
    mine = event("page.viewed", id="tracker:m-1", customer={"anonymous_id": "a"})
    theirs = event("page.viewed", id="tracker:m-1", shop="fahrrad-franz", customer={"anonymous_id": "a"})
    report = service.ingest([mine, theirs])
    assert report.accepted == ["tracker:m-1", "tracker:m-1"] and report.duplicates == []
    assert {(e.shop, e.id) for e in publisher.published} == {
        ("elektro-emma", "tracker:m-1"),
        ("fahrrad-franz", "tracker:m-1"),
    }
    assert ("fahrrad-franz", "tracker:m-1") in repo.seen


def test_a_long_run_is_split_to_fit_a_transaction(service, repo):
    calls = [
        event("page.viewed", minutes=i, customer={"customer_id": "7008001", "anonymous_id": f"a-{i}"})
        for i in range(60)
    ]
    service.ingest(calls)
    assert repo.commits >= 2
    assert service.resolve("elektro-emma", "7008001").event_counts["page.viewed"] == 60


def test_catalog_events_unpublished_by_a_crash_are_republished(repo):
    clock = FixedClock(T0)
    e = event(
        "catalog.product_upserted",
        customer={},
        id="p-1",
        source="shopify",
        product={"product_id": "pixel-9", "name": "Pixel 9 Pro"},
    )
    with pytest.raises(PublishError):
        IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(fail_ids=["p-1"]), clock).ingest([e])
    clock.advance(seconds=16)
    ok = InMemoryPublisher()
    assert IngestService(repo, InMemoryCatalog(repo), ok, clock).ingest([e]).published == 1
    assert [x.id for x in ok.published] == ["p-1"]


def test_unknown_ref_is_not_found(service):
    with pytest.raises(ProfileNotFound):
        service.resolve("elektro-emma", "nobody@example.de")


def test_catalog_events_upsert_products_once(service):
    e = event(
        "catalog.product_upserted",
        customer={},
        source="shopify",
        product={"product_id": "pixel-9", "name": "Pixel 9 Pro", "price": "999.00"},
    )
    assert service.ingest([e]).accepted == [e.id]
    assert service.ingest([e]).duplicates == [e.id]


def test_person_events_without_any_customer_reference_are_skipped(service, publisher):
    e = order("pos-1", "20.00", customer={})
    report = service.ingest([e])
    assert report.skipped == [e.id] and not report.accepted and not publisher.published


def test_a_tracker_session_is_one_lookup_and_one_commit(service, repo):
    session = [
        event("page.viewed", customer={"anonymous_id": "anon-s"}, path="/"),
        event("product.viewed", minutes=1, customer={"anonymous_id": "anon-s"}, product={"product_id": "pixel-9"}),
        event("customer.identified", minutes=2, customer={"anonymous_id": "anon-s", **LENA}),
        event("page.viewed", minutes=3, customer={"customer_id": "7008001"}, path="/konto"),
    ]
    service.ingest(session)
    assert repo.commits == 1
    profile = service.resolve("elektro-emma", "anon:anon-s")
    assert profile.customer_id == "7008001" and profile.event_counts["page.viewed"] == 2


def test_unconnected_customers_in_one_batch_get_their_own_profiles(service, repo):
    service.ingest(
        [event("page.viewed", customer={"anonymous_id": "a"}), event("page.viewed", customer={"anonymous_id": "b"})]
    )
    assert repo.commits == 2
    assert service.resolve("elektro-emma", "anon:a").profile_id != service.resolve("elektro-emma", "anon:b").profile_id


def test_a_batch_of_many_customers_is_handled_in_parallel_and_completely(service):
    calls = [event("page.viewed", minutes=i % 7, customer={"anonymous_id": f"visitor-{i}"}) for i in range(120)]
    report = service.ingest(calls)
    assert len(report.accepted) == 120
    assert service.resolve("elektro-emma", "anon:visitor-77").event_counts["page.viewed"] == 1


# ---- no size that breaks a write (issue 12) ------------------------------------------------------


def _big(i: int, customer: dict, kilobytes: int) -> object:
    """A custom event carrying ``kilobytes`` of barely compressible text (as a tracker call may)."""
    import base64
    import random as _random

    blob = base64.b64encode(_random.Random(i).randbytes(kilobytes * 768)).decode()
    return event("custom", id=f"big-{i}", minutes=i, customer=customer, name="Scan", properties={"blob": blob})


def test_one_customers_large_events_are_committed_in_transactions_under_4_mb(service, repo, publisher):
    """40 events of 160 KB each: today's run of 40 events is one 5 MB transaction, which DynamoDB (and
    the in-memory twin, which checks the very items the DynamoDB adapter would send) refuses."""
    events = [_big(i, LENA, 160) for i in range(40)]
    report = service.ingest(events)
    assert len(report.accepted) == 40 and report.duplicates == [] and len(publisher.published) == 40
    assert repo.commits >= 2
    profile = service.resolve("elektro-emma", "7008001")
    assert profile.event_counts["custom"] == 40 and profile.log_seq == 40 and profile.version == repo.commits
    assert sorted(e["id"] for e in service.history(profile, limit=100)) == sorted(e.id for e in events)


def test_a_customer_whose_many_profiles_merge_at_once_is_committed_within_100_items(service, repo):
    """30 visitors' profiles, then one batch naming the customer with each visitor id: the merge
    writes 29 tombstones and repoints 30 aliases; today's run of 29 events is a 118-item transaction."""
    service.ingest([event("page.viewed", id=f"v-{i}", customer={"anonymous_id": f"a-{i}"}) for i in range(30)])
    batch = [
        event("page.viewed", id=f"u-{i}", minutes=i, customer={"customer_id": "u1", "anonymous_id": f"a-{i}"})
        for i in range(30)
    ]
    report = service.ingest(batch)
    assert len(report.accepted) == 30 and len(report.merges) == 29
    profile = service.resolve("elektro-emma", "u1")
    assert profile.event_counts["page.viewed"] == 60
    assert {service.resolve("elektro-emma", f"anon:a-{i}").profile_id for i in range(30)} == {profile.profile_id}


def test_a_commit_the_grouping_misjudged_is_cut_to_what_fits(repo, publisher, monkeypatch):
    """The second line of defence: whatever the run, a commit over the byte limit is cut to the events
    that fit and the rest follow (the store is asked only for commits that fit)."""
    import emma.ingest.service as ingest_service

    monkeypatch.setattr(ingest_service, "STORE_MAX_BYTES", 560 * 1024)
    svc = IngestService(repo, InMemoryCatalog(repo), publisher, FixedClock(T0), sleep=lambda s: None)
    events = [_big(i, LENA, 100) for i in range(12)]  # about 104 KB each: 5 a commit
    report = svc.ingest(events)
    assert len(report.accepted) == 12 and repo.commits == 3
    assert svc.resolve("elektro-emma", "7008001").event_counts["custom"] == 12


def test_one_customer_with_1000_events_in_one_request(service, repo, publisher):
    events = [
        event("page.viewed", id=f"p-{i}", minutes=i, customer={"customer_id": "u1", "anonymous_id": "a1"}, path=f"/{i}")
        for i in range(1000)
    ]
    report = service.ingest(events)
    assert len(report.accepted) == 1000 and report.duplicates == [] and len(publisher.published) == 1000
    profile = service.resolve("elektro-emma", "u1")
    assert profile.event_counts["page.viewed"] == 1000 and profile.log_seq == 1000
    assert profile.version == repo.commits and repo.commits >= 1000 // 49
    again = service.ingest(events)
    assert len(again.accepted) == 0 and len(again.duplicates) == 1000


def test_events_stored_by_an_earlier_commit_are_published_when_a_later_commit_of_the_run_fails(
    service, repo, publisher, monkeypatch
):
    """A run split into several commits: the second fails (the store is down). The first commit's events
    are stored; they must be published before the error travels up, or nothing would ever publish them
    unless the sender retried."""
    from emma.errors import StoreError

    commit, calls = repo.commit, []

    def second_fails(c):
        if calls:  # one commit went through: the next one finds the store down
            raise StoreError("the store is down")
        result = commit(c)  # may refuse an oversized commit: then nothing was written
        calls.append(c)
        return result

    monkeypatch.setattr(repo, "commit", second_fails)
    events = [_big(i, LENA, 160) for i in range(40)]  # one run of 5 MB: several commits
    with pytest.raises(StoreError):
        service.ingest(events)
    first = calls[0].events
    assert 0 < len(first) < 40
    assert [e.id for e in publisher.published] == [e.id for e in first]
