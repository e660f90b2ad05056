"""Sending campaigns: start, pause, resume, cancel, test sends and live progress for the shop's admins, and the
campaign state machine's tasks (emma.campaigns.machine) that decide a run's audience and hand it to the
dispatcher at the campaign's rate.

    start     the run of the schedule's day, once (a second start finds it: a no-op), and its execution
    open      the run begins: selecting, one task per member-list shard (the Map)
    select    one shard of the audience decided (emma.campaigns.audience.decide), its recipients stored in
              chunks by phase (A/B sample first) and send time, with each one's variant
    selected  the shards' counts summed on the run; sending
    wave      the next rate x WAVE_SECONDS recipients whose time has come onto the messages queue, each with a
              delay that spreads them over the wave; the wait until the next wave (or the next send time, or
              the A/B decision)
    finish    done; a recurring campaign's next run is created and started

Every recipient's request has the key ``campaign:<id>:<run>:<profile>``: the dispatcher's message log claims it,
so a wave handed over twice (a task retried after a crash, a run resumed) sends nothing twice. The dispatcher
checks the run's status before each message: cancelled ones are skipped with the reason, paused ones deferred.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from emma.campaigns.audience import AudienceReader, decide, pages, recipients, segments_of
from emma.campaigns.definitions import Campaign
from emma.campaigns.runs import (
    REST,
    VARIANTS,
    CampaignRuns,
    CampaignState,
    Chunk,
    MessageCounts,
    RequestQueue,
    RunExecutions,
    RunState,
    Selection,
    dimension,
    execution_name,
    message_key,
)
from emma.campaigns.schedule import next_run_day, run_day, run_start, send_at
from emma.clock import Clock
from emma.dispatch.policy import best_hour, customer_timezone
from emma.dispatch.request import MessageRequest
from emma.errors import EmmaError, NotFound
from emma.profiles.model import Profile
from emma.rules.state import MEMBER_SHARDS
from emma.shops import ShopConfig, ShopDirectory

WAVE_SECONDS = 10  # a wave hands over this many seconds' worth of messages at least, spread over them
MAX_WAVES = 1000  # waves per run at most (an execution's history holds 25,000 events): longer runs, longer waves
CHUNK = 400  # recipients per chunk item (about 14 KB)
MAX_DELAY = 900  # SQS's longest per-message delay
MAX_WAIT = 86_400 * 7  # a wave never waits longer than this in one go (it looks again after)


class CampaignError(EmmaError):
    """The campaign cannot do that now (a run already finished, no seed list, a time in the past)."""

    status = 409
    code = "campaign_conflict"


@dataclass(frozen=True)
class Started:
    run: RunState
    started: bool  # False: the run existed (a second start), nothing changed


def _u(*parts: str) -> float:
    """A stable number in [0, 1) for these parts (the A/B sample and its split)."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class CampaignService:
    def __init__(
        self,
        *,
        campaigns: Sequence[Campaign],
        shops: ShopDirectory,
        runs: CampaignRuns,
        executions: RunExecutions,
        queue: RequestQueue,
        reader: AudienceReader,
        counts: MessageCounts,
        clock: Clock,
        spread: bool = True,
    ) -> None:
        self._campaigns = list(campaigns)
        self._shops = shops
        self._runs = runs
        self._executions = executions
        self._queue = queue
        self._reader = reader
        self._counts = counts
        self._clock = clock
        self._spread = spread

    # ---- the admin's commands -------------------------------------------------------------------

    def campaign(self, shop: str, campaign_id: str) -> Campaign:
        found = self._defined(shop, campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r} for shop {shop!r}")
        return found

    def _defined(self, shop: str, campaign_id: str) -> Campaign | None:
        return next((c for c in self._campaigns if c.id == campaign_id and c.applies_to(shop)), None)

    def start(self, shop_id: str, campaign_id: str) -> Started:
        """Start the campaign: the run of its schedule's day, created once and started on the state machine. A
        second start of the same run changes nothing. For a recurring campaign this also turns its recurrence on
        (each run's finish starts the next); started after a cancel, it resumes with the next run."""
        campaign = self.campaign(shop_id, campaign_id)
        shop = self._shops.get(shop_id)
        now = self._clock.now()
        state = self._runs.campaign_state(shop_id, campaign_id)
        reactivated = state is not None and state.status == "stopped"
        if state is None or reactivated:
            self._runs.put_campaign_state(
                CampaignState(shop=shop_id, campaign=campaign_id, status="active", since=now, version=0)
            )
        if not campaign.schedule.recurring:  # a one-off runs once, whenever it is started again
            earlier = self._runs.runs(shop_id, campaign_id, limit=1)
            if earlier:
                return self._repaired(earlier[0])
        day = run_day(campaign.schedule, now, shop.timezone)
        if day is None:
            raise CampaignError(f"campaign {campaign_id!r} was due on {campaign.schedule.on}: that has passed")
        existing = self._runs.get(shop_id, campaign_id, day.isoformat())
        while existing is not None and existing.finished and reactivated and campaign.schedule.recurring:
            following = next_run_day(campaign.schedule, day)
            assert following is not None
            day = following
            existing = self._runs.get(shop_id, campaign_id, day.isoformat())
        if existing is not None:
            return self._repaired(existing)
        return self._create(campaign, shop, day.isoformat(), now)

    def _repaired(self, run: RunState) -> Started:
        """A start of a run that exists: nothing changes, unless its execution never started (a start that
        failed half way): then it is started now."""
        if run.execution is None and not run.finished:
            return Started(self._launch(run), True)
        return Started(run, False)

    def _create(self, campaign: Campaign, shop: ShopConfig, day: str, now: datetime) -> Started:
        run = RunState(
            shop=shop.shop,
            campaign=campaign.id,
            run=day,
            status="scheduled",
            created_at=now,
            start=run_start(campaign.schedule, date.fromisoformat(day), shop.timezone),
            rate=min(campaign.rate, shop.dispatch.send_rate or campaign.rate),  # the shop's SES quota caps it
            updated_at=now,
        )
        if not self._runs.create(run):  # a start racing this one created it first
            found = self._runs.get(shop.shop, campaign.id, day)
            assert found is not None
            return Started(found, False)
        return Started(self._launch(run.model_copy(update={"version": 1})), True)  # create stored version 1

    def _launch(self, run: RunState) -> RunState:
        arn = self._executions.start(
            execution_name(run.shop, run.campaign, run.run),
            {"shop": run.shop, "campaign": run.campaign, "run": run.run},
        )
        return self._update(run, lambda r: r.model_copy(update={"execution": arn}))

    def current(self, shop: str, campaign_id: str) -> RunState:
        """The run a pause, resume or cancel acts on: the newest that has not finished."""
        self.campaign(shop, campaign_id)
        for run in self._runs.runs(shop, campaign_id):
            if not run.finished:
                return run
        raise CampaignError(f"campaign {campaign_id!r} has no run in progress")

    def pause(self, shop: str, campaign_id: str) -> RunState:
        """No more waves; messages already queued are held back by the dispatcher (deferred) until resumed."""
        run = self.current(shop, campaign_id)
        if run.status == "paused":
            return run
        now = self._clock.now()
        return self._update(run, lambda r: r.model_copy(update={"status": "paused", "paused_at": now}))

    def resume(self, shop: str, campaign_id: str) -> RunState:
        """The run goes on where it stopped, on a new execution (a paused run's execution has ended)."""
        run = self.current(shop, campaign_id)
        if run.status != "paused":
            if run.resumes and not (run.execution or "").endswith(f"-r{run.resumes}"):
                return self._relaunch(run)  # resumed before, but its new execution never started
            return run
        now = self._clock.now()

        restart = [False]  # the run's execution had ended (held): a new one is started

        def resumed(r: RunState) -> RunState:
            restart[0] = r.held and r.status == "paused"
            if r.status != "paused":
                return r
            update: dict[str, Any] = {"status": _resumed(r, now), "paused_at": None, "held": False}
            if r.held:
                update["resumes"] = r.resumes + 1
            return r.model_copy(update=update)

        run = self._update(run, resumed)
        if not restart[0]:
            return run  # its execution is still running: it finds the run going again at its next wave
        return self._relaunch(run)

    def _relaunch(self, run: RunState) -> RunState:
        """The resumed run's new execution, at the waves (its name numbered: started once however often asked)."""
        payload: dict[str, object] = {"shop": run.shop, "campaign": run.campaign, "run": run.run, "resume": True}
        arn = self._executions.start(execution_name(run.shop, run.campaign, run.run, run.resumes), payload)
        return self._update(run, lambda r: r.model_copy(update={"execution": arn}))

    def cancel(self, shop: str, campaign_id: str) -> RunState:
        """Stop the run for good (its execution too) and the campaign's recurrence; messages still queued are
        skipped by the dispatcher with the reason. Cancelling a cancelled run changes nothing."""
        campaign = self.campaign(shop, campaign_id)
        now = self._clock.now()
        state = self._runs.campaign_state(shop, campaign_id)
        if campaign.schedule.recurring or state is not None:
            self._runs.put_campaign_state(
                CampaignState(shop=shop, campaign=campaign_id, status="stopped", since=now, version=0)
            )
        runs = self._runs.runs(shop, campaign_id)
        run = next((r for r in runs if not r.finished), None)
        if run is None:
            if runs and runs[0].status == "cancelled":
                return runs[0]
            raise CampaignError(f"campaign {campaign_id!r} has no run in progress")
        cancelled = self._update(run, lambda r: r.model_copy(update={"status": "cancelled", "cancelled_at": now}))
        if cancelled.execution:
            self._executions.stop(cancelled.execution, "cancelled by the shop's admin")
        return cancelled

    def test(self, shop_id: str, campaign_id: str, profile_id: str | None = None) -> dict[str, Any]:
        """Test sends to the campaign's seed list, rendered for a real recipient (``profile_id``, else the first
        customer of the audience), one per A/B subject: the dispatcher sends them to the seeds only, decides
        nothing and records nothing on the customer (their links name no customer)."""
        campaign = self.campaign(shop_id, campaign_id)
        if campaign.test is None:
            raise CampaignError(f"campaign {campaign_id!r} has no test seeds (test: seeds: [...])")
        if campaign.channel not in ("email", "best"):
            raise CampaignError(f"test sends are emails; campaign {campaign_id!r} sends {campaign.channel}")
        now = self._clock.now()
        if profile_id is None:
            found = next(recipients(campaign, shop_id, self._reader, now), None)
            if found is None:
                raise CampaignError(f"campaign {campaign_id!r} has nobody in its audience to personalise a test with")
            profile_id = found.profile_id
        elif not self._reader.candidates(shop_id, [profile_id], []):
            raise NotFound(f"no profile {profile_id!r} in shop {shop_id!r}")
        subjects: list[Any] = list(campaign.ab.subjects) if campaign.ab else [None]
        stamp = now.strftime("%Y%m%dT%H%M%S%f")
        requests = [
            MessageRequest(
                key=f"campaign-test:{campaign_id}:{stamp}:{i}:{j}",
                shop=shop_id,
                profile_id=profile_id,
                template=campaign.template,
                channel="email",
                requested_at=now,
                journey=dimension(campaign_id),
                step="test",
                campaign=campaign_id,
                subject=subject,
                test_to=seed,
            )
            for i, seed in enumerate(campaign.test.seeds)
            for j, subject in enumerate(subjects)
        ]
        self._queue.put([(r, 0) for r in requests])
        return {
            "profile_id": profile_id,
            "sends": [{"to": r.test_to, "subject": r.subject, "key": r.key} for r in requests],
        }

    def progress(self, shop: str, campaign_id: str, run_id: str | None = None) -> dict[str, Any]:
        """The run (the newest if ``run_id`` is None) as it stands: its status, the audience decided, how many
        were handed to the dispatcher, and what the dispatcher and the customers did with them (analytics'
        counters: sent, skipped by reason, delivered, opened, clicked, orders), per A/B variant."""
        campaign = self.campaign(shop, campaign_id)
        if run_id is None:
            runs = self._runs.runs(shop, campaign_id, limit=1)
            if not runs:
                raise NotFound(f"campaign {campaign_id!r} has not run for shop {shop!r}")
            run = runs[0]
        else:
            found = self._runs.get(shop, campaign_id, run_id)
            if found is None:
                raise NotFound(f"campaign {campaign_id!r} has no run {run_id!r}")
            run = found
        now = self._clock.now()
        by_variant = self._variant_counts(run, now)
        totals: Counter[str] = Counter()
        for counts in by_variant.values():
            totals.update({k: int(v) for k, v in counts.items()})
        settled = totals.get("requested", 0)
        remaining = max(0, run.included - run.queued)
        view = run.model_dump(mode="json", exclude={"version", "cursor", "offset"})
        view.update(
            {
                "settled": settled,
                "sent": totals.get("sent", 0),
                "skipped": totals.get("skipped", 0),
                "skipped_by": {
                    k.removeprefix("skipped_"): v for k, v in sorted(totals.items()) if k.startswith("skipped_") and v
                },
                "delivered": totals.get("delivered", 0),
                "opened": totals.get("opened", 0),
                "clicked": totals.get("clicked", 0),
                "orders": totals.get("conversions_last_touch", 0),
                "variants": {v: {k: int(n) for k, n in sorted(c.items()) if n} for v, c in sorted(by_variant.items())},
                "eta_seconds": math.ceil(remaining / run.rate) if run.status in ("sending", "selecting") else None,
                "subjects": dict(zip(VARIANTS, campaign.ab.subjects, strict=False)) if campaign.ab else None,
            }
        )
        return view

    def history(self, shop: str, campaign_id: str) -> list[RunState]:
        self.campaign(shop, campaign_id)
        return self._runs.runs(shop, campaign_id)

    # ---- the state machine's tasks ----------------------------------------------------------------

    def begin(self, shop: str, campaign_id: str, run_id: str) -> dict[str, Any]:
        """How long the run waits before it begins (its start)."""
        run = self._run(shop, campaign_id, run_id)
        wait = (run.start - self._clock.now()).total_seconds()
        return {"wait": min(MAX_WAIT, max(0, math.ceil(wait)))}

    def open(self, shop: str, campaign_id: str, run_id: str) -> dict[str, Any]:
        """The run begins: the shards to decide (none for a cancelled run; a paused one is decided and waits)."""
        run = self._run(shop, campaign_id, run_id)
        if run.start > self._clock.now():  # a long wait looks again (MAX_WAIT)
            return {"shards": [], "early": True}
        if run.status == "cancelled":
            return {"shards": [], "early": False}
        if run.status == "scheduled":
            self._update(run, lambda r: r.model_copy(update={"status": "selecting"}) if r.status == "scheduled" else r)
        return {"shards": list(range(MEMBER_SHARDS)), "early": False}

    def select(self, shop_id: str, campaign_id: str, run_id: str, shard: int) -> dict[str, Any]:
        """Decide one shard of the audience; its recipients in chunks by phase and send time."""
        campaign = self.campaign(shop_id, campaign_id)
        shop = self._shops.get(shop_id)
        run = self._run(shop_id, campaign_id, run_id)
        if run.status == "cancelled":
            return {"shard": shard, "included": 0}
        now = self._clock.now()
        day = datetime.fromisoformat(run_id).date()
        journeys = list(campaign.audience.exclude.journeys)
        left_out: Counter[str] = Counter()
        candidates = 0
        groups: dict[tuple[int, datetime], list[tuple[str, str | None]]] = {}
        for page in pages(self._shard_ids(campaign, shop_id, shard)):
            for candidate in self._reader.candidates(shop_id, page, journeys):
                candidates += 1
                reason = decide(campaign, candidate, now)
                if reason is not None:
                    left_out[reason] += 1
                    continue
                profile = candidate.profile
                phase, variant = self._arm(campaign, run_id, profile.profile_id)
                due = self._send_at(campaign, profile, day, run.start, shop)
                groups.setdefault((phase, due), []).append((profile.profile_id, variant))
        chunks = []
        for (phase, due), members in sorted(groups.items()):
            members.sort()
            for seq, at in enumerate(range(0, len(members), CHUNK)):
                chunks.append(
                    Chunk(phase=phase, send_at=due, shard=shard, seq=seq, recipients=members[at : at + CHUNK])
                )
        self._runs.put_chunks(shop_id, campaign_id, run_id, chunks)
        included = sum(len(c.recipients) for c in chunks)
        self._runs.put_selection(
            shop_id,
            campaign_id,
            run_id,
            Selection(
                shard=shard, candidates=candidates, included=included, left_out=dict(left_out), chunks=len(chunks)
            ),
        )
        return {"shard": shard, "included": included}

    def selected(self, shop: str, campaign_id: str, run_id: str) -> dict[str, Any]:
        """The shards' counts on the run; it is sending (unless paused or cancelled meanwhile)."""
        found = self._runs.selections(shop, campaign_id, run_id)
        left_out: Counter[str] = Counter()
        for s in found:
            left_out.update(s.left_out)

        def counted(r: RunState) -> RunState:
            status = "sending" if r.status in ("scheduled", "selecting") else r.status
            return r.model_copy(
                update={
                    "status": status,
                    "candidates": sum(s.candidates for s in found),
                    "included": sum(s.included for s in found),
                    "left_out": dict(sorted(left_out.items(), key=lambda kv: (-kv[1], kv[0]))),
                    "shards_selected": len(found),
                }
            )

        run = self._update(self._run(shop, campaign_id, run_id), counted)
        return {"included": run.included}

    def wave(self, shop: str, campaign_id: str, run_id: str) -> dict[str, Any]:
        """Hand the next wave of recipients to the dispatcher. ``state``: ``more`` (wait ``wait`` seconds, then
        the next wave) or ``done``."""
        defined = self._defined(shop, campaign_id)
        run = self._run(shop, campaign_id, run_id)
        if defined is None:  # the campaign was removed from campaigns/ while it ran: it ends here
            now = self._clock.now()
            self._update(
                run, lambda r: r if r.finished else r.model_copy(update={"status": "cancelled", "cancelled_at": now})
            )
            return {"state": "done", "wait": 0}
        campaign = defined
        if run.status == "cancelled":
            return {"state": "done", "wait": 0}
        if run.status == "paused":  # the execution ends (held); a resume starts another
            held = self._update(run, lambda r: r.model_copy(update={"held": True}) if r.status == "paused" else r)
            return {"state": "paused", "wait": 0} if held.held else {"state": "more", "wait": 1}
        now = self._clock.now()
        seconds = wave_seconds(run)
        budget = max(1, int(run.rate * seconds))
        batch: list[tuple[MessageRequest, int]] = []
        updates: dict[str, Any] = {}
        wait: int | None = None
        testing = False  # waiting for the A/B test's decision
        cursor, offset = run.cursor, run.offset
        limit = 2 + budget // CHUNK
        while len(batch) < budget and wait is None:
            progressed = False
            for chunk in self._runs.chunks_from(shop, campaign_id, run_id, cursor, limit):
                if chunk.position != cursor:
                    cursor, offset = chunk.position, 0
                if offset >= len(chunk.recipients):
                    continue  # the chunk at the cursor is through
                if chunk.phase == 1 and campaign.ab is not None and run.winner is None and "winner" not in updates:
                    wait = self._decide(campaign, run, now, updates)
                    if wait is not None:
                        testing = True
                        break
                if chunk.send_at > now:
                    wait = math.ceil((chunk.send_at - now).total_seconds())
                    break
                take = chunk.recipients[offset : offset + budget - len(batch)]
                winner = updates.get("winner") or run.winner
                batch += [(self._request(campaign, run, pid, variant, winner, now), 0) for pid, variant in take]
                offset += len(take)
                progressed = True
                if len(batch) >= budget:
                    break
            if not progressed:
                break  # nothing left, or a wait
        if self._spread:
            batch = [(r, min(MAX_DELAY, int(i / run.rate))) for i, (r, _) in enumerate(batch)]
        if batch:
            self._queue.put(batch)
        updates.update({"cursor": cursor, "offset": offset, "queued": run.queued + len(batch)})
        more = wait is not None or len(batch) >= budget
        updates["status"] = "testing" if testing else ("sending" if run.status == "testing" else run.status)
        self._update(run, lambda r: r.model_copy(update=updates if r.status == run.status else _keep(updates, r)))
        if not more:
            return {"state": "done", "wait": 0}
        pause = seconds if wait is None else max(1, min(MAX_WAIT, wait))
        return {"state": "more", "wait": pause, "queued": len(batch)}

    def finish(self, shop: str, campaign_id: str, run_id: str) -> dict[str, Any]:
        """The run is done; a recurring campaign whose recurrence is on gets its next run started."""
        campaign = self._defined(shop, campaign_id)
        now = self._clock.now()

        def finished(r: RunState) -> RunState:
            if r.finished:
                return r
            if r.status == "paused":  # paused as the last wave went out: a resume starts the waves again
                return r.model_copy(update={"held": True})
            return r.model_copy(update={"status": "done", "finished_at": now})

        run = self._update(self._run(shop, campaign_id, run_id), finished)
        if campaign is None or run.status != "done":
            return {"next": None}
        following = next_run_day(campaign.schedule, datetime.fromisoformat(run_id).date())
        state = self._runs.campaign_state(shop, campaign_id)
        if following is None or state is None or state.status != "active":
            return {"next": None}
        existing = self._runs.get(shop, campaign_id, following.isoformat())
        if existing is None:
            existing = self._create(campaign, self._shops.get(shop), following.isoformat(), now).run
        elif existing.execution is None and not existing.finished:  # created before, its start failed
            existing = self._launch(existing)
        state = self._runs.campaign_state(shop, campaign_id)
        if state is not None and state.status == "stopped" and not existing.finished:  # cancelled meanwhile
            existing = self._update(
                existing, lambda r: r.model_copy(update={"status": "cancelled", "cancelled_at": now})
            )
            if existing.execution:
                self._executions.stop(existing.execution, "the campaign was cancelled")
            return {"next": None}
        return {"next": existing.run}

    # ---- helpers ------------------------------------------------------------------------------------

    def _run(self, shop: str, campaign_id: str, run_id: str) -> RunState:
        run = self._runs.get(shop, campaign_id, run_id)
        if run is None:
            raise NotFound(f"campaign {campaign_id!r} has no run {run_id!r} in shop {shop!r}")
        return run

    def _update(self, run: RunState, change: Any) -> RunState:
        """Apply ``change`` to the run and save it; on a concurrent change (a pause during a wave) read again and
        apply it to what is stored."""
        from emma.errors import ConcurrencyConflict

        for _ in range(5):
            changed = change(run)
            if changed == run:
                return run
            try:
                return self._runs.save(changed.model_copy(update={"updated_at": self._clock.now()}))
            except ConcurrencyConflict:
                run = self._run(run.shop, run.campaign, run.run)
        raise ConcurrencyConflict(f"campaign run {run.campaign}/{run.run} keeps changing")

    def _shard_ids(self, campaign: Campaign, shop: str, shard: int) -> Iterator[str]:
        seen: set[str] = set()
        for segment in segments_of(campaign):
            for pid in self._reader.members_in_shard(shop, segment, shard):
                if pid not in seen:
                    seen.add(pid)
                    yield pid

    def _arm(self, campaign: Campaign, run: str, profile_id: str) -> tuple[int, str | None]:
        """(phase, variant): the A/B sample (phase 0) split evenly over the subjects; everyone else phase 1."""
        if campaign.ab is None:
            return 1, None
        u = _u(campaign.id, run, profile_id)
        if u >= campaign.ab.sample:
            return 1, REST
        return 0, VARIANTS[int(u / campaign.ab.sample * len(campaign.ab.subjects))]

    def _send_at(self, campaign: Campaign, profile: Profile, day: date, start: datetime, shop: ShopConfig) -> datetime:
        """When this recipient's message is due: their best hour (the dispatcher's send-time optimisation, from
        the run's start on), ``at`` on their own clock, or the run's start."""
        if campaign.schedule.best_hour:
            best = best_hour(profile)
            if best is None:
                return start
            at = start.astimezone(UTC).replace(hour=best[0], minute=0, second=0, microsecond=0)
            return at if at >= start else at + timedelta(days=1)
        return send_at(campaign.schedule, day, start, customer_timezone(profile, shop), shop.timezone)

    def _request(
        self, campaign: Campaign, run: RunState, profile_id: str, variant: str | None, winner: str | None, now: datetime
    ) -> MessageRequest:
        subject: str | dict[str, str] | None = None
        if campaign.ab is not None and variant is not None:
            chosen = winner if variant == REST else variant
            if chosen is not None:
                subject = campaign.ab.subjects[VARIANTS.index(chosen)]
        return MessageRequest(
            key=message_key(campaign.id, run.run, profile_id),
            shop=run.shop,
            profile_id=profile_id,
            template=campaign.template,
            channel=campaign.channel,
            requested_at=now,
            journey=dimension(campaign.id),
            step=run.run,
            variant=variant,
            campaign=campaign.id,
            run=run.run,
            subject=subject,
            released=True,  # the campaign's schedule settled the time (quiet hours still apply)
        )

    def _variant_counts(self, run: RunState, now: datetime) -> dict[str, dict[str, Decimal]]:
        since = run.start - timedelta(days=1)
        until = now + timedelta(days=1)
        if since > until:  # a run that has not begun: nothing counted yet (DynamoDB refuses a reversed range)
            return {}
        return self._counts.by_variant(
            run.shop, run.campaign, run.run, since.date().isoformat(), until.date().isoformat()
        )

    def _decide(self, campaign: Campaign, run: RunState, now: datetime, updates: dict[str, Any]) -> int | None:
        """The A/B test's winner once ``decide_after`` has passed since the sample went out (into ``updates``);
        else the seconds to wait for it."""
        assert campaign.ab is not None
        done_at = run.sample_done_at or updates.get("sample_done_at")
        if done_at is None:
            done_at = updates["sample_done_at"] = now
        due = done_at + campaign.ab.decide_after
        if now < due:
            return math.ceil((due - now).total_seconds())
        counts = self._variant_counts(run, now)
        measure = "clicked" if campaign.ab.by == "clicks" else "conversions_last_touch"
        figures: dict[str, dict[str, float]] = {}
        for i in range(len(campaign.ab.subjects)):
            label = VARIANTS[i]
            c = counts.get(label, {})
            sent = float(c.get("sent", 0))
            hits = float(c.get(measure, 0))
            figures[label] = {"sent": sent, measure: hits, "rate": hits / sent if sent else 0.0}
        winner = max(figures, key=lambda v: (figures[v]["rate"], figures[v][measure], -VARIANTS.index(v)))
        updates["winner"], updates["decision"] = winner, figures
        return None


def wave_seconds(run: RunState) -> int:
    """How many seconds' worth of messages a wave hands over: WAVE_SECONDS, longer where a run would take more
    than MAX_WAVES waves (never longer than SQS can delay a message)."""
    return min(MAX_DELAY, max(WAVE_SECONDS, math.ceil(run.included / run.rate / MAX_WAVES)))


def _resumed(run: RunState, now: datetime) -> str:
    """What a paused run goes back to: where its execution stands."""
    if run.shards_selected == 0:
        return "scheduled" if run.start > now else "selecting"
    return "testing" if run.sample_done_at is not None and run.winner is None else "sending"


def _keep(updates: dict[str, Any], stored: RunState) -> dict[str, Any]:
    """A wave's updates to a run whose status changed meanwhile (paused, cancelled): the progress, not the status."""
    return {k: v for k, v in updates.items() if k != "status"}
