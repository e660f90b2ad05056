"""Sending a campaign: started once, its audience decided shard by shard, handed to the dispatcher in waves at
its rate, each recipient exactly once (redelivery, a crashed wave, a resume), paused and cancelled, at each
recipient's local time, an A/B subject test decided by clicks, recurring runs, test sends to the seed list.

The state machine's steps are driven here as the machine drives them (emma.campaigns.machine), the waits on a
fixed clock; every request goes through the real dispatcher over in-memory ports (tests/unit/dispatch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from emma.campaigns.audience import Candidate
from emma.campaigns.definitions import Campaign
from emma.campaigns.runs import execution_name, message_key
from emma.campaigns.service import CHUNK, WAVE_SECONDS, CampaignError, CampaignService, wave_seconds
from emma.dispatch.service import DispatchService
from emma.errors import ConcurrencyConflict, NotFound
from emma.rules.state import MEMBER_SHARDS, member_shard
from emma_local.fakes import InMemoryCampaignRuns, ListRequestQueue, RecordingExecutions
from tests.unit.dispatch.conftest import World

SHOP = "elektro-emma"


class Reader:
    """The audience reader over the world's profiles: segment -> members, and each one's segments."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.segments: dict[str, set[str]] = {}  # profile id -> segments
        self.journeys: dict[str, set[str]] = {}

    def add(self, pid: str, *segments: str) -> None:
        self.segments.setdefault(pid, set()).update(segments)

    def members(self, shop: str, segment: str) -> Iterator[str]:
        for shard in range(MEMBER_SHARDS):
            yield from self.members_in_shard(shop, segment, shard)

    def members_in_shard(self, shop: str, segment: str, shard: int) -> Iterator[str]:
        yield from sorted(p for p, s in self.segments.items() if segment in s and member_shard(p) == shard)

    def candidates(self, shop: str, profile_ids: Sequence[str], journeys: Sequence[str]) -> list[Candidate]:
        out = []
        for pid in profile_ids:
            try:
                profile = self.world.ingest.resolve(shop, pid)
            except NotFound:
                continue
            active = frozenset(self.journeys.get(pid, set()) & set(journeys))
            out.append(Candidate(profile, frozenset(self.segments.get(pid, set())), active))
        return out


class Counts:
    """Analytics' counters of the run by variant, as a test sets them."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Decimal]] = {}

    def by_variant(self, shop: str, campaign: str, run: str, since: str, until: str) -> dict[str, dict[str, Decimal]]:
        return self.rows


def definition(**overrides: Any) -> Campaign:
    data: dict[str, Any] = {
        "id": "news",
        "template": "personalised-newsletter",
        "channel": "email",
        "audience": {"segments": ["reachable-email"], "topic": "newsletter"},
        "schedule": {"now": True},
        "rate": 5,
        "test": {"seeds": ["seed@elektro-emma.example"]},
    }
    data.update(overrides)
    return Campaign.model_validate(data)


class Setup:
    def __init__(self, campaign: Campaign | None = None, customers: int = 30, **kw: Any) -> None:
        self.world = World()
        self.reader = Reader(self.world)
        self.ids = [self.world.customer(f"c-{i:03d}", **kw) for i in range(customers)]
        for pid in self.ids:
            self.reader.add(pid, "reachable-email")
        self.runs = InMemoryCampaignRuns()
        self.executions = RecordingExecutions()
        self.queue = ListRequestQueue()
        self.counts = Counts()
        self.world.service._campaigns = self.runs  # the dispatcher's look at the run (no cache here)
        self.campaign = campaign or definition()
        self.service = CampaignService(
            campaigns=[self.campaign],
            shops=self.world.shops,
            runs=self.runs,
            executions=self.executions,
            queue=self.queue,
            reader=self.reader,
            counts=self.counts,
            clock=self.world.clock,
        )
        self.dispatched: list[Any] = []

    @property
    def dispatcher(self) -> DispatchService:
        return self.world.service

    def dispatch(self) -> list[Any]:
        """Hand what is queued to the dispatcher (a consumer receiving it)."""
        reports = [self.dispatcher.dispatch(r) for r in self.queue.take()]
        self.dispatched += reports
        return reports

    def select(self, run: str) -> None:
        opened = self.service.open(SHOP, "news", run)
        for shard in opened["shards"]:
            self.service.select(SHOP, "news", run, shard)
        self.service.selected(SHOP, "news", run)

    def waves(self, run: str, *, dispatch: bool = True, limit: int = 500) -> list[dict[str, Any]]:
        """Wave, wait, wave... as the machine does, until done or paused; the clock moves by each wait."""
        results = []
        for _ in range(limit):
            result = self.service.wave(SHOP, "news", run)
            results.append(result)
            if dispatch:
                self.dispatch()
            if result["state"] != "more":
                return results
            self.world.clock.advance(seconds=result["wait"])
        raise AssertionError("the run did not end")

    def run_through(self) -> str:
        started = self.service.start(SHOP, "news")
        run = started.run.run
        wait = self.service.begin(SHOP, "news", run)["wait"]
        self.world.clock.advance(seconds=wait)
        self.select(run)
        self.waves(run)
        self.service.finish(SHOP, "news", run)
        return run

    def sent_to(self) -> Counter[str]:
        return Counter(m.to for m in self.world.sent("email"))


def test_a_run_sends_each_recipient_exactly_once_with_a_key_per_recipient():
    s = Setup()
    run = s.run_through()
    state = s.runs.get(SHOP, "news", run)
    assert state is not None and state.status == "done"
    assert (state.candidates, state.included, state.queued) == (30, 30, 30)
    sent = s.sent_to()
    assert len(sent) == 30 and set(sent.values()) == {1}
    keys = {r.key for r in s.dispatched}
    assert keys == {message_key("news", run, pid) for pid in s.ids}
    record = s.world.log.records[(SHOP, s.ids[0], message_key("news", run, s.ids[0]))]
    assert record.status == "sent" and record.journey == "campaign.news"
    assert record.request["step"] == run and record.request["campaign"] == "news"


def test_a_second_start_is_a_no_op():
    s = Setup()
    first = s.service.start(SHOP, "news")
    second = s.service.start(SHOP, "news")
    assert first.started and not second.started
    assert second.run.run == first.run.run and len(s.executions.started) == 1
    assert execution_name(SHOP, "news", first.run.run) in s.executions.started


def test_waves_hold_the_rate_and_spread_each_wave_over_its_seconds():
    s = Setup(definition(rate=2))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    per_second: Counter[float] = Counter()
    t0 = s.world.clock.now()
    for _ in range(10):
        result = s.service.wave(SHOP, "news", run)
        offset = (s.world.clock.now() - t0).total_seconds()
        for _, delay in s.queue.items:
            per_second[offset + delay] += 1
        assert len(s.queue.items) <= 2 * WAVE_SECONDS
        s.queue.items.clear()
        if result["state"] != "more":
            break
        s.world.clock.advance(seconds=result["wait"])
    assert sum(per_second.values()) == 30
    assert max(per_second.values()) <= 2  # never more than the rate in any second
    assert (s.world.clock.now() - t0).total_seconds() >= 10  # 30 at 2/s: the third wave starts after 20 s


def test_a_long_run_gets_longer_waves_but_never_more_than_sqs_can_delay():
    s = Setup(definition(rate=1), customers=0)
    run = s.service.start(SHOP, "news").run
    assert wave_seconds(run.model_copy(update={"included": 50})) == WAVE_SECONDS
    assert wave_seconds(run.model_copy(update={"included": 100_000})) == 100
    assert wave_seconds(run.model_copy(update={"included": 10_000_000})) == 900


def test_a_wave_that_crashes_after_queueing_is_retried_and_nobody_gets_two():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.runs.fail_next_save = RuntimeError("the worker died after SendMessageBatch")
    with pytest.raises(RuntimeError):
        s.service.wave(SHOP, "news", run)
    queued_before_crash = len(s.queue.items)
    assert queued_before_crash == WAVE_SECONDS  # handed over, but the cursor was not saved
    s.dispatch()
    s.waves(run)  # the retry hands the same wave over again, then the rest
    assert len([r for r in s.dispatched if r.outcome == "duplicate"]) == queued_before_crash
    sent = s.sent_to()
    assert len(sent) == 30 and set(sent.values()) == {1}


def test_redelivered_requests_send_nothing_twice():
    s = Setup()
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.wave(SHOP, "news", run)
    batch = s.queue.take()
    reports = [s.dispatcher.dispatch(r) for r in batch + batch + batch]
    assert Counter(r.outcome for r in reports) == {"sent": len(batch), "duplicate": 2 * len(batch)}
    assert len(s.world.sent("email")) == len(batch)


def test_pause_holds_back_what_is_queued_and_resume_goes_on_on_a_new_execution():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.wave(SHOP, "news", run)  # 10 queued
    paused = s.service.pause(SHOP, "news")
    assert paused.status == "paused" and s.service.pause(SHOP, "news").version == paused.version
    reports = s.dispatch()
    assert {r.outcome for r in reports} == {"deferred"} and len(reports) == 10
    assert "paused" in reports[0].reason
    assert s.service.wave(SHOP, "news", run)["state"] == "paused"  # the execution ends (Held)
    assert s.runs.get(SHOP, "news", run).held
    resumed = s.service.resume(SHOP, "news")
    assert resumed.status == "sending" and resumed.resumes == 1
    name = execution_name(SHOP, "news", run, 1)
    assert s.executions.started[name] == {"shop": SHOP, "campaign": "news", "run": run, "resume": True}
    s.waves(run)
    s.world.clock.advance(minutes=6)
    for _, request in s.world.deferrals.due(s.world.clock.now(), 100):  # the scheduled job releases them
        s.dispatcher.dispatch(request.model_copy(update={"released": True}))
    sent = s.sent_to()
    assert len(sent) == 30 and set(sent.values()) == {1}


def test_resume_before_the_execution_noticed_the_pause_starts_no_second_execution():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.pause(SHOP, "news")
    s.service.resume(SHOP, "news")
    assert len(s.executions.started) == 1
    s.waves(run)
    assert len(s.sent_to()) == 30


def test_cancel_stops_the_run_its_execution_and_skips_what_is_queued_with_the_reason():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.wave(SHOP, "news", run)
    s.dispatch()  # the first 10 go out
    s.service.wave(SHOP, "news", run)  # 10 more queued
    cancelled = s.service.cancel(SHOP, "news")
    assert cancelled.status == "cancelled" and s.executions.stopped == [cancelled.execution]
    reports = s.dispatch()
    assert {r.outcome for r in reports} == {"skipped"}
    assert reports[0].reason == f"campaign news run {run} was cancelled"
    assert s.service.wave(SHOP, "news", run)["state"] == "done"
    assert len(s.sent_to()) == 10
    assert s.service.cancel(SHOP, "news").status == "cancelled"  # again: nothing changes
    with pytest.raises(CampaignError):
        s.service.pause(SHOP, "news")


def test_the_audience_is_decided_when_the_run_begins_with_reasons_counted():
    s = Setup(definition(audience={"segments": ["reachable-email"], "exclude": {"segments": ["lapsed"]}}))
    for pid in s.ids[:4]:
        s.reader.add(pid, "lapsed")
    stranger = s.world.customer("no-consent", email=False)
    s.reader.add(stranger, "reachable-email")
    run = s.run_through()
    state = s.runs.get(SHOP, "news", run)
    assert state.candidates == 31 and state.included == 26
    assert state.left_out == {"excluded: segment lapsed": 4, "no email consent": 1}
    assert len(s.sent_to()) == 26


def test_each_recipient_gets_it_at_their_local_time():
    campaign = definition(schedule={"at": "09:00", "timezone": "recipient"})
    s = Setup(campaign, customers=0)
    berlin = s.world.customer("berlin", timezone="Europe/Berlin")
    new_york = s.world.customer("ny", timezone="America/New_York")
    for pid in (berlin, new_york):
        s.reader.add(pid, "reachable-email")
    s.world.clock.at = s.world.clock.at.replace(hour=20)  # Monday 21:00 in Berlin: Tuesday's run
    started = s.service.start(SHOP, "news")
    assert started.run.run == "2026-03-03"
    s.world.clock.advance(seconds=s.service.begin(SHOP, "news", "2026-03-03")["wait"])
    s.select("2026-03-03")
    s.waves("2026-03-03")
    sent = {m.to: m for m in s.world.sent("email")}
    assert set(sent) == {"berlin@example.com", "ny@example.com"}
    times = {
        r.key.rsplit(":", 1)[1]: s.world.log.records[(SHOP, r.key.rsplit(":", 1)[1], r.key)].updated_at
        for r in s.dispatched
        if r.outcome == "sent"
    }
    assert times[berlin].isoformat() == "2026-03-03T08:00:00+00:00"  # 09:00 CET
    assert times[new_york].isoformat() == "2026-03-03T14:00:00+00:00"  # 09:00 EST


def test_an_ab_test_sends_the_sample_first_and_the_winner_by_clicks_to_the_rest():
    campaign = definition(
        ab={"subjects": ["Subject A", "Subject B"], "sample": 0.4, "decide_after": "2h", "by": "clicks"}, rate=100
    )
    s = Setup(campaign, customers=60)
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    first = s.service.wave(SHOP, "news", run)
    sample = s.dispatch()
    assert first["state"] == "more" and first["wait"] == 7200  # waits for the decision
    assert s.runs.get(SHOP, "news", run).status == "testing"
    subjects = Counter(m.subject for m in s.world.sent("email"))
    assert set(subjects) == {"Subject A", "Subject B"} and 10 <= len(sample) <= 40
    s.counts.rows = {
        "a": {"sent": Decimal(subjects["Subject A"]), "clicked": Decimal(1)},
        "b": {"sent": Decimal(subjects["Subject B"]), "clicked": Decimal(5)},
    }
    s.world.clock.advance(seconds=first["wait"])
    s.waves(run)
    state = s.runs.get(SHOP, "news", run)
    assert state.winner == "b" and state.decision["b"]["clicked"] == 5 and state.status == "sending"
    rest = [m for m in s.world.sent("email")][len(sample) :]
    assert rest and {m.subject for m in rest} == {"Subject B"}
    assert len(s.sent_to()) == 60 and set(s.sent_to().values()) == {1}
    variants = Counter(r.request["variant"] for r in s.world.log.records.values())
    assert set(variants) == {"a", "b", "rest"} and variants["rest"] == 60 - len(sample)


def test_a_recurring_campaign_starts_its_next_run_until_cancelled():
    campaign = definition(schedule={"at": "09:00", "timezone": "shop", "every": {"weekday": "monday"}})
    s = Setup(campaign, customers=3)
    started = s.service.start(SHOP, "news")
    assert started.run.run == "2026-03-09"  # Monday 11:00 in Berlin: 09:00 has passed, next Monday
    assert s.service.begin(SHOP, "news", "2026-03-09")["wait"] == 6 * 86400 + 22 * 3600
    s.world.clock.at = started.run.start
    s.select("2026-03-09")
    s.waves("2026-03-09")
    assert s.service.finish(SHOP, "news", "2026-03-09") == {"next": "2026-03-16"}
    assert execution_name(SHOP, "news", "2026-03-16") in s.executions.started
    s.service.cancel(SHOP, "news")
    assert s.runs.get(SHOP, "news", "2026-03-16").status == "cancelled"
    assert s.runs.campaign_state(SHOP, "news").status == "stopped"
    again = s.service.start(SHOP, "news")  # started again after a cancel: the next run after it
    assert again.started and again.run.run == "2026-03-23"


def test_a_one_off_whose_time_passed_is_refused():
    s = Setup(definition(schedule={"on": "2026-01-01T09:00:00+00:00"}), customers=0)
    with pytest.raises(CampaignError, match="has passed"):
        s.service.start(SHOP, "news")


def test_test_sends_go_to_the_seeds_only_personalised_and_record_nothing_on_the_customer():
    campaign = definition(ab={"subjects": ["Subject A", "Subject B"], "sample": 0.2})
    s = Setup(campaign, customers=2)
    result = s.service.test(SHOP, "news")
    assert result["profile_id"] in s.ids and len(result["sends"]) == 2
    reports = s.dispatch()
    assert [r.outcome for r in reports] == ["sent", "sent"]
    sent = s.world.sent("email")
    assert {m.to for m in sent} == {"seed@elektro-emma.example"}
    assert {m.subject for m in sent} == {"[Test] Subject A", "[Test] Subject B"}
    assert all(m.tags == {"emma-test": SHOP, "emma-template": "personalised-newsletter"} for m in sent)
    assert "test-send" in sent[0].raw_email.decode() or "Anna" in sent[0].html
    assert not s.world.log.records  # nothing on any customer's message log
    with pytest.raises(NotFound):
        s.service.test(SHOP, "news", "no-such-profile")


def test_no_seed_list_no_test_send():
    s = Setup(definition(test=None), customers=1)
    with pytest.raises(CampaignError, match="no test seeds"):
        s.service.test(SHOP, "news")


def test_progress_shows_the_audience_the_queue_and_what_analytics_counted():
    s = Setup()
    run = s.run_through()
    s.counts.rows = {
        "-": {
            "requested": Decimal(30),
            "sent": Decimal(28),
            "skipped": Decimal(2),
            "skipped_frequency": Decimal(2),
            "clicked": Decimal(4),
        }
    }
    view = s.service.progress(SHOP, "news")
    assert view["run"] == run and view["status"] == "done" and view["included"] == 30 and view["queued"] == 30
    assert (view["sent"], view["skipped"], view["skipped_by"], view["clicked"]) == (28, 2, {"frequency": 2}, 4)
    assert view["eta_seconds"] is None
    with pytest.raises(NotFound):
        s.service.progress(SHOP, "news", "2020-01-01")


def test_chunks_are_bounded_and_handed_over_in_order():
    s = Setup(definition(rate=1000), customers=0)
    for i in range(CHUNK * 2 + 7):
        s.reader.segments[f"ghost-{i}"] = {"reachable-email"}  # unknown profiles are left out, not chunked
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    assert s.runs.get(SHOP, "news", run).candidates == 0


def test_a_concurrent_pause_during_a_wave_is_not_lost():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    real_save = s.runs.save
    paused = []

    def pause_then_save(state):
        if not paused:  # the admin pauses between the wave's read and its write
            paused.append(real_save(s.runs.get(SHOP, "news", run).model_copy(update={"status": "paused"})))
        return real_save(state)

    s.runs.save = pause_then_save
    s.service.wave(SHOP, "news", run)
    state = s.runs.get(SHOP, "news", run)
    assert state.status == "paused" and state.queued == WAVE_SECONDS and state.cursor is not None
    with pytest.raises(ConcurrencyConflict):
        real_save(state.model_copy(update={"version": 1}))


def test_an_ab_subject_given_per_locale_goes_out_in_each_recipients_language():
    campaign = definition(
        ab={"subjects": [{"de": "Hallo A", "en": "Hello A"}, {"de": "Hallo B", "en": "Hello B"}], "sample": 0.5},
        rate=100,
    )
    s = Setup(campaign, customers=0)
    for i in range(24):
        s.reader.add(s.world.customer(f"de-{i}", locale="de-DE"), "reachable-email")
        s.reader.add(s.world.customer(f"en-{i}", locale="en-GB"), "reachable-email")
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.wave(SHOP, "news", run)
    s.dispatch()
    by_language = {(m.to.startswith("de-"), m.subject) for m in s.world.sent("email")}
    assert by_language and all(subject.startswith("Hallo" if german else "Hello") for german, subject in by_language)


def test_the_shops_sending_quota_caps_the_campaigns_rate():
    s = Setup(definition(rate=100), customers=0)
    quota = s.world.shops.get(SHOP).model_copy(
        update={"dispatch": s.world.shops.get(SHOP).dispatch.model_copy(update={"send_rate": 7})}
    )
    s.service._shops = type(s.world.shops)([quota])
    assert s.service.start(SHOP, "news").run.rate == 7


def test_a_one_off_started_again_on_a_later_day_sends_nothing_again():
    s = Setup(customers=3)
    run = s.run_through()
    s.world.clock.advance(days=1)
    again = s.service.start(SHOP, "news")
    assert not again.started and again.run.run == run and len(s.executions.started) == 1
    assert len(s.sent_to()) == 3


def test_a_start_that_failed_half_way_is_repaired_by_the_next_start_and_by_finish():
    campaign = definition(schedule={"at": "09:00", "timezone": "shop", "every": {"weekday": "monday"}})
    s = Setup(campaign, customers=1)
    real_start = s.executions.start
    s.executions.start = lambda name, payload: (_ for _ in ()).throw(RuntimeError("StartExecution failed"))
    with pytest.raises(RuntimeError):
        s.service.start(SHOP, "news")
    assert s.runs.get(SHOP, "news", "2026-03-09").execution is None
    s.executions.start = real_start
    assert s.service.start(SHOP, "news").started  # the run's execution is started now
    # finish creates the next run; its start fails; the retried finish starts it
    s.world.clock.at = s.runs.get(SHOP, "news", "2026-03-09").start
    s.select("2026-03-09")
    s.waves("2026-03-09")
    s.executions.start = lambda name, payload: (_ for _ in ()).throw(RuntimeError("StartExecution failed"))
    with pytest.raises(RuntimeError):
        s.service.finish(SHOP, "news", "2026-03-09")
    s.executions.start = real_start
    assert s.service.finish(SHOP, "news", "2026-03-09") == {"next": "2026-03-16"}
    assert s.runs.get(SHOP, "news", "2026-03-16").execution is not None


def test_a_cancel_while_finish_creates_the_next_run_cancels_that_run():
    campaign = definition(schedule={"at": "09:00", "timezone": "shop", "every": {"weekday": "monday"}})
    s = Setup(campaign, customers=1)
    s.service.start(SHOP, "news")
    s.world.clock.at = s.runs.get(SHOP, "news", "2026-03-09").start
    s.select("2026-03-09")
    s.waves("2026-03-09")
    real_create = s.runs.create

    def cancel_meanwhile(run):  # the admin cancels between finish's look at the recurrence and the new run
        from emma.campaigns.runs import CampaignState

        s.runs.put_campaign_state(
            CampaignState(shop=SHOP, campaign="news", status="stopped", since=s.world.clock.now())
        )
        return real_create(run)

    s.runs.create = cancel_meanwhile
    assert s.service.finish(SHOP, "news", "2026-03-09") == {"next": None}
    assert s.runs.get(SHOP, "news", "2026-03-16").status == "cancelled" and s.executions.stopped


def test_a_resume_whose_new_execution_did_not_start_is_started_by_the_next_resume():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service.pause(SHOP, "news")
    assert s.service.wave(SHOP, "news", run)["state"] == "paused"
    real_start = s.executions.start
    s.executions.start = lambda name, payload: (_ for _ in ()).throw(RuntimeError("StartExecution failed"))
    with pytest.raises(RuntimeError):
        s.service.resume(SHOP, "news")
    s.executions.start = real_start
    resumed = s.service.resume(SHOP, "news")
    assert resumed.execution.endswith("-r1") and execution_name(SHOP, "news", run, 1) in s.executions.started


def test_a_pause_after_the_last_wave_keeps_the_run_paused_until_resumed():
    s = Setup(definition(rate=100), customers=3)
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    assert s.service.wave(SHOP, "news", run)["state"] == "done"
    s.service.pause(SHOP, "news")
    s.service.finish(SHOP, "news", run)
    state = s.runs.get(SHOP, "news", run)
    assert state.status == "paused" and state.held
    assert s.service.resume(SHOP, "news").resumes == 1  # a new execution finds nothing left and finishes


def test_progress_of_a_run_that_has_not_begun_reads_no_counters():
    campaign = definition(schedule={"at": "09:00", "timezone": "shop", "every": {"weekday": "monday"}})
    s = Setup(campaign, customers=0)
    s.service.start(SHOP, "news")
    s.counts.by_variant = lambda *a: (_ for _ in ()).throw(AssertionError("a reversed day range"))
    view = s.service.progress(SHOP, "news")
    assert view["status"] == "scheduled" and view["sent"] == 0


def test_a_campaign_removed_while_it_runs_ends_cancelled():
    s = Setup(definition(rate=1))
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    s.service._campaigns = []
    assert s.service.wave(SHOP, "news", run) == {"state": "done", "wait": 0}
    assert s.runs.get(SHOP, "news", run).status == "cancelled"
    assert s.service.finish(SHOP, "news", run) == {"next": None}


def test_a_recipient_merged_into_another_after_the_selection_gets_the_campaign_once():
    s = Setup(customers=0)
    first = s.world.customer("m-1")
    second = s.world.customer("m-2")
    for pid in (first, second):
        s.reader.add(pid, "reachable-email")
    s.service.start(SHOP, "news")
    run = s.runs.runs(SHOP, "news")[0].run
    s.select(run)
    # m-2 turns out to be m-1 (the same email, say): the profiles merge after the run chose both
    from tests.factories import event

    s.world.ingest.ingest([event("customer.updated", customer={"customer_id": "m-2", "email": "m-1@example.com"})])
    s.waves(run)
    sent = s.sent_to()
    assert sum(sent.values()) == 1, sent
    assert any("handed on" in r.reason or r.outcome == "duplicate" for r in s.dispatched)
