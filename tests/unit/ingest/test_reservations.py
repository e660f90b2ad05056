"""A new customer's aliases are claimed before its profile is written (ProfileRepository.commit, claims_first):
what a request that died in between leaves (reservations), what requests creating one customer at once do, and
that nothing is lost or split either way."""

import random
import threading
import time

import pytest

from emma.ingest.ports import AliasKey, Commit, CommitConflict
from emma.ingest.service import RESERVATION_GRACE, IngestService
from emma.profiles.model import new_profile
from emma_local.fakes import FixedClock, InMemoryCatalog, InMemoryProfileRepository, InMemoryPublisher
from factories import T0, event, order

SHOP = "elektro-emma"
LENA = {"customer_id": "7008001", "email": "lena@example.de"}
CID, EMAIL, ANON = AliasKey("cid", "7008001"), AliasKey("email", "lena@example.de"), AliasKey("anon", "a-1")


@pytest.fixture(params=[True, False], ids=["outbox", "records"])
def repo(request):
    return InMemoryProfileRepository(outbox=request.param)


@pytest.fixture
def clock():
    return FixedClock(T0)


def service(repo, clock, **kwargs):
    return IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), clock, sleep=lambda s: None, **kwargs)


def reserve(repo, alias, profile_id, at):
    """What a request that claimed ``alias`` for ``profile_id`` and died before writing the profile leaves."""
    repo.aliases[(SHOP, alias)] = profile_id
    repo.alias_since[(SHOP, alias)] = at


def live_profiles(repo):
    return [p for (shop, _), p in repo.profiles.items() if shop == SHOP and not p.get("merged_into")]


def test_a_new_customer_claims_each_alias_before_the_profile(repo, clock):
    claimed = []
    repo.before_claim = lambda alias: claimed.append((alias, dict(repo.profiles)))
    service(repo, clock).ingest([order("o1", "10.00", customer=LENA)])
    assert [alias for alias, _ in claimed] == sorted([CID, EMAIL])  # one order for every request
    assert all(not profiles for _, profiles in claimed)  # each alias before the profile
    (profile,) = live_profiles(repo)
    assert repo.aliases[(SHOP, CID)] == repo.aliases[(SHOP, EMAIL)] == profile["profile_id"]


def test_a_returning_customer_with_a_new_alias_claims_it_with_the_profile(repo, clock):
    svc = service(repo, clock)
    svc.ingest([order("o1", "10.00", customer=LENA)])
    repo.before_claim = lambda alias: pytest.fail(f"{alias} claimed on its own for a stored profile")
    svc.ingest([event("page.viewed", customer={**LENA, "anonymous_id": "a-1"}, minutes=1)])
    (profile,) = live_profiles(repo)
    assert repo.aliases[(SHOP, ANON)] == profile["profile_id"]


def test_the_retry_of_a_request_that_died_after_claiming_adopts_what_it_claimed(repo, clock):
    reserve(repo, CID, "p_dead", clock.now())  # died after its first alias, seconds ago
    clock.advance(seconds=5)
    report = service(repo, clock).ingest([order("o1", "10.00", customer=LENA)])
    assert len(report.accepted) == 1
    (profile,) = live_profiles(repo)
    assert profile["profile_id"] == "p_dead" and profile["orders"]["count"] == 1
    assert repo.aliases[(SHOP, CID)] == repo.aliases[(SHOP, EMAIL)] == "p_dead"


def test_two_fresh_reservations_one_is_adopted_the_other_tombstoned_and_its_request_folds_in(repo, clock):
    """Two requests in flight (or given up) each hold an alias of the customer: the next request does not wait for
    them. It adopts the lowest id and stores the other as a tombstone merged into it, so the request that reserved
    that one can never store it: its write fails, it reads again and adds its order to the same profile."""
    reserve(repo, CID, "p_other", clock.now())
    reserve(repo, EMAIL, "p_third", clock.now())
    report = service(repo, clock).ingest([order("o1", "10.00", customer=LENA, id="d-1")])
    assert len(report.accepted) == 1
    (profile,) = live_profiles(repo)
    assert profile["profile_id"] == "p_other" and profile["orders"]["count"] == 1
    assert repo.aliases[(SHOP, CID)] == repo.aliases[(SHOP, EMAIL)] == "p_other"
    assert repo.profiles[(SHOP, "p_third")]["merged_into"] == "p_other"
    # p_third's own request, still running, now tries to store its profile: refused
    third = new_profile(SHOP, "p_third", T0)
    third.version = 1
    with pytest.raises(CommitConflict):
        repo.commit(Commit(SHOP, third, None, [], 1, claim_aliases=[EMAIL]))
    # ... and its retry (the run keeps its id) finds the customer's profile
    own = service(repo, clock, new_id=lambda: "p_third")
    own.ingest([order("o2", "20.00", customer={"email": "lena@example.de"}, id="d-2", minutes=1)])
    (profile,) = live_profiles(repo)
    assert profile["profile_id"] == "p_other" and profile["orders"]["count"] == 2


def test_a_stored_customer_takes_over_a_fresh_reservation_of_its_new_alias_at_once(repo, clock):
    """Another request (in flight, or given up) holds the visitor id the customer now carries: no waiting; the
    reservation's id becomes a tombstone merged into the customer, the alias points at the customer."""
    svc = service(repo, clock)
    svc.ingest([order("o1", "10.00", customer=LENA)])
    reserve(repo, ANON, "p_other", clock.now())
    report = svc.ingest([event("page.viewed", customer={**LENA, "anonymous_id": "a-1"}, id="v-1")])
    assert report.accepted == ["v-1"]
    (profile,) = live_profiles(repo)
    assert repo.aliases[(SHOP, ANON)] == profile["profile_id"]
    assert repo.profiles[(SHOP, "p_other")]["merged_into"] == profile["profile_id"]
    # the request that reserved it, running on: its profile write fails, its retry lands on the customer
    own = service(repo, clock, new_id=lambda: "p_other")
    own.ingest([event("page.viewed", customer={"anonymous_id": "a-1"}, id="v-2", minutes=1)])
    assert [p["profile_id"] for p in live_profiles(repo)] == [profile["profile_id"]]
    assert svc.resolve(SHOP, "anon:a-1").event_counts["page.viewed"] == 2


def test_crossed_reservations_and_a_stored_profile_resolve_without_waiting(repo, clock):
    """Two requests each hold one identity of a customer who also has a stored profile (claims made at once can
    cross): the next request of that customer takes both over (no deadlock), and so do their retries."""
    svc = service(repo, clock)
    svc.ingest([event("page.viewed", customer={"email": "lena@example.de"}, id="v-0")])
    reserve(repo, CID, "p_1", clock.now())
    reserve(repo, ANON, "p_2", clock.now())
    report = svc.ingest([order("o1", "10.00", customer={**LENA, "anonymous_id": "a-1"}, id="d-1")])
    assert report.accepted == ["d-1"]
    (profile,) = live_profiles(repo)
    assert {repo.aliases[(SHOP, a)] for a in (CID, EMAIL, ANON)} == {profile["profile_id"]}
    for held in ("p_1", "p_2"):
        assert repo.profiles[(SHOP, held)]["merged_into"] == profile["profile_id"]
        retry = service(repo, clock, new_id=lambda held=held: held)
        retry.ingest([order(f"o-{held}", "5.00", customer={**LENA, "anonymous_id": "a-1"}, id=f"d-{held}")])
    assert [p["profile_id"] for p in live_profiles(repo)] == [profile["profile_id"]]
    assert svc.resolve(SHOP, "cid:7008001").orders.count == 3


def test_a_take_over_fails_when_the_reservation_was_stored_meanwhile(repo, clock):
    """A take-over stores the reservation's id as a tombstone on condition that it is not stored: a request that
    adopted it and stored the profile just before makes the take-over fail (read again: the profiles then merge)."""
    reserve(repo, ANON, "p_mine", clock.now())
    service(repo, clock).ingest([event("page.viewed", customer={"anonymous_id": "a-1"})])  # adopts p_mine
    tomb = new_profile(SHOP, "p_mine", T0)
    tomb.merged_into, tomb.version = "p_new", 1
    commit = Commit(
        SHOP, new_profile(SHOP, "p_new", T0), None, [], 1, take_over=[(ANON, "p_mine")], tombstones=[(tomb, None)]
    )
    with pytest.raises(CommitConflict):
        repo.commit(commit)
    assert repo.aliases[(SHOP, ANON)] == "p_mine" and (SHOP, "p_new") not in repo.profiles


@pytest.mark.parametrize("outbox", [True, False], ids=["outbox", "records"])
def test_requests_creating_one_customer_at_once_make_one_profile_and_lose_nothing(clock, outbox):
    """Four requests of one new customer, each naming two of its three identities (or one), read that nothing is
    stored and then meet at their first claim (a barrier), after which they run freely (a random pause before each
    later claim), round after round: one profile in the end, every order counted once, every identity on it."""
    rng = random.Random(7)
    sets = [
        {"customer_id": "c-{n}"},
        {"customer_id": "c-{n}", "email": "x{n}@example.de"},
        {"email": "x{n}@example.de", "anonymous_id": "a-{n}"},
        {"anonymous_id": "a-{n}", "customer_id": "c-{n}"},
    ]
    repo = InMemoryProfileRepository(outbox=outbox)
    meet, state = threading.Barrier(len(sets), timeout=5), threading.local()

    def before_claim(alias):
        if not getattr(state, "met", False):
            state.met = True
            meet.wait()  # nothing is written before all four have read
        else:
            time.sleep(rng.random() / 2000)

    repo.before_claim = before_claim
    conflicts = []
    commit = repo.commit

    def counted(c):
        try:
            commit(c)
        except CommitConflict as conflict:
            conflicts.append(conflict)
            raise

    repo.commit = counted
    svc = IngestService(repo, InMemoryCatalog(repo), InMemoryPublisher(), clock)  # real backoff sleeps
    rounds, errors = 12, []

    def request(n, k):
        state.met = False
        refs = {key: value.format(n=n) for key, value in sets[k].items()}
        try:
            svc.ingest([order(f"o-{n}-{k}", "1.00", customer=refs, id=f"d-{n}-{k}")])
        except Exception as exc:  # pragma: no cover - surfaced by the assert below
            errors.append(exc)

    for n in range(rounds):
        threads = [threading.Thread(target=request, args=(n, k)) for k in range(len(sets))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(conflicts) >= 2 * rounds  # two pairs claim the same alias first (cid, anon): one of each loses
    for n in range(rounds):
        profile = svc.resolve(SHOP, f"cid:c-{n}")
        assert profile.orders.count == len(sets), n
        for ref in (f"x{n}@example.de", f"anon:a-{n}"):
            assert svc.resolve(SHOP, ref).profile_id == profile.profile_id
    assert len(live_profiles(repo)) == rounds


def test_reservations_are_read_with_when_they_were_claimed(repo, clock):
    service(repo, clock).ingest([order("o1", "10.00", customer=LENA)])
    held = repo.reservations(SHOP, [CID, ANON])
    assert set(held) == {CID} and held[CID].since == T0 and held[CID].profile_id == repo.aliases[(SHOP, CID)]


def test_the_first_read_is_eventually_consistent_and_a_stale_one_is_read_again(repo, clock):
    """A request's first read may miss the writes of the last moment (eventually consistent, half the price): every
    write is conditional on what was read, so a stale read fails the write and the request reads again, strongly
    consistent. A delivery retried at once stays a duplicate; a second order on a profile read stale counts."""
    svc = service(repo, clock)
    repo.lag()  # eventually consistent reads still see the empty store
    first = svc.ingest([order("o1", "10.00", customer=LENA, id="d-1")])
    assert repo.eventual_reads >= 1 and len(first.accepted) == 1
    again = svc.ingest([order("o1", "10.00", customer=LENA, id="d-1")])  # read stale: no customer yet
    assert again.accepted == [] and again.duplicates == ["d-1"]
    repo.lag()  # now they see the profile at version 1
    svc.ingest([order("o2", "20.00", customer=LENA, id="d-2", minutes=1)])
    svc.ingest([order("o3", "30.00", customer=LENA, id="d-3", minutes=2)])  # read version 1, stored is 2
    (profile,) = live_profiles(repo)
    assert profile["orders"]["count"] == 3 and profile["version"] == 3
    if repo.publishes_outbox:
        assert sorted(e.id for o in repo.take_stream() for e in o.events) == ["d-1", "d-2", "d-3"]


def test_a_reservation_left_longer_than_the_grace_is_not_adopted_but_taken_over(repo, clock):
    reserve(repo, CID, "p_dead", clock.now())
    clock.advance(seconds=RESERVATION_GRACE.total_seconds() + 1)  # its request ended long ago, without a profile
    service(repo, clock, new_id=lambda: "p_new").ingest([order("o1", "10.00", customer=LENA)])
    (profile,) = live_profiles(repo)
    assert profile["profile_id"] == "p_new" and repo.aliases[(SHOP, CID)] == "p_new"
    assert repo.profiles[(SHOP, "p_dead")]["merged_into"] == "p_new"


def test_an_erasure_releases_a_reservation_only_once_its_request_cannot_be_running(repo, clock):
    from emma.errors import TransientError

    reserve(repo, CID, "p_dead", clock.now())
    svc = service(repo, clock)
    with pytest.raises(TransientError):  # its request may still store the profile: the erasure asks again later
        svc.release(SHOP, "cid:7008001")
    assert repo.aliases[(SHOP, CID)] == "p_dead"
    clock.advance(seconds=RESERVATION_GRACE.total_seconds() + 1)
    assert svc.release(SHOP, "cid:7008001") and (SHOP, CID) not in repo.aliases
    assert not svc.release(SHOP, "cid:7008001")
    svc.ingest([order("o1", "10.00", customer=LENA)])
    assert not svc.release(SHOP, "cid:7008001")  # a stored customer's identity is never released


def test_a_stale_read_of_an_idempotency_record_does_not_republish_what_was_published(clock):
    """Stores without an outbox keep a record per event, marked published once published: a duplicate whose first
    (eventually consistent) read still shows it unpublished reads it again before taking the lease to republish."""
    from dataclasses import replace

    repo, bus = InMemoryProfileRepository(), InMemoryPublisher()
    svc = IngestService(repo, InMemoryCatalog(repo), bus, clock, sleep=lambda s: None)
    svc.ingest([order("o1", "10.00", customer=LENA, id="d-1")])
    assert len(bus.published) == 1
    repo.lag()
    stale = repo._lagging[3][(SHOP, "d-1")]
    repo._lagging[3][(SHOP, "d-1")] = replace(stale, published=False)  # as a replica not yet told
    clock.advance(minutes=5)  # past the lease: a record still unpublished then is one whose delivery died
    report = svc.ingest([order("o1", "10.00", customer=LENA, id="d-1")])
    assert report.duplicates == ["d-1"] and len(bus.published) == 1


def test_two_requests_whose_claims_crossed_both_pick_the_lowest_id(repo, clock):
    """A holds the customer id, B the email (claims made at once crossed); both retry. Each picks the lowest id of
    the fresh reservations, its own included, so they write the same profile instead of tombstoning each other's."""
    reserve(repo, CID, "p_a", clock.now())
    reserve(repo, EMAIL, "p_b", clock.now())
    service(repo, clock, new_id=lambda: "p_b").ingest([order("o-b", "5.00", customer=LENA, id="d-b")])
    assert [p["profile_id"] for p in live_profiles(repo)] == ["p_a"]
    service(repo, clock, new_id=lambda: "p_a").ingest([order("o-a", "7.00", customer=LENA, id="d-a")])
    assert [p["profile_id"] for p in live_profiles(repo)] == ["p_a"]
    assert repo.profiles[(SHOP, "p_b")]["merged_into"] == "p_a"
    assert service(repo, clock).resolve(SHOP, "lena@example.de").orders.count == 2
