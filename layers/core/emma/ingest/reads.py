"""What the admin API reads about a customer: the profile with what the other functions keep about it
(segments, lifecycle stage, loyalty tier, RFM and predictions from the rules; where it stands in each journey; the
message log), and the shop's segment sizes and member lists. Reads only; every store is a port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emma.dispatch.ports import MessageLog
from emma.ingest.service import IngestService
from emma.journeys.ports import JourneyStore
from emma.predict.model import score_profile
from emma.predict.prior import Prior, default_prior
from emma.profiles.model import Profile
from emma.rules.ports import RulesStore

STALE_PREDICTIONS = timedelta(hours=24)  # stored predictions older than this are scored again when read


@dataclass(frozen=True)
class ProfileReads:
    ingest: IngestService  # resolves references, reads the event log
    rules: RulesStore
    journeys: JourneyStore
    messages: MessageLog

    def view(self, profile: Profile, *, history: int, messages: int) -> dict[str, Any]:
        """The profile as GET /v1/profiles/{ref} answers it (the ProfileView schema)."""
        shop, profile_id = profile.shop, profile.profile_id
        body = profile.view()
        derived = self.rules.derived(shop, profile_id)
        body["segments"] = derived.segments if derived else []
        body["lifecycle_stage"] = derived.lifecycle_stage if derived else None
        body["loyalty_tier"] = derived.loyalty_tier if derived else None
        body["rfm"] = derived.rfm if derived else None
        body["predictions"] = self._current(profile, derived.predictions) if derived else None
        states = self.journeys.list(shop, profile_id)
        body["journeys"] = [s.view() for s in sorted(states, key=lambda s: s.entered_at, reverse=True)]
        body["messages"] = [m.view() for m in self.messages.recent(shop, profile_id, messages)] if messages else []
        if history:
            body["history"] = self.ingest.history(profile, history)
        return body

    def _current(self, profile: Profile, stored: dict[str, Any] | None) -> dict[str, Any] | None:
        """The predictions as of now: stored ones are dated at the profile's last event or review (a dormant
        customer's would show last month's numbers), so when they are older than STALE_PREDICTIONS the profile
        is scored again with the shop's prior, here, for the answer only (nothing is written; segments and
        triggers go on using the stored ones, which the rules' review timers refresh). ``stored_scored_at``
        says when the stored ones were made."""
        if stored is None or profile.merged_into:
            return stored
        now = self.ingest.clock.now()
        try:
            scored_at = datetime.fromisoformat(str(stored.get("scored_at")))
        except ValueError:
            scored_at = None
        if scored_at is None or now - scored_at <= STALE_PREDICTIONS:
            return stored  # fresh (or of unknown age: shown as stored)
        found = self.rules.prior(profile.shop)
        prior = Prior.model_validate(found[0]) if found else default_prior()
        fresh = score_profile(profile, now, prior, horizon_days=float(stored.get("horizon_days") or 30.0))
        return {**fresh.model_dump(mode="json"), "stored_scored_at": stored.get("scored_at")}

    def segment_sizes(self, shop: str) -> dict[str, int]:
        return self.rules.segment_sizes(shop)

    def segment_members(
        self, shop: str, segment: str, query: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the segment's member list and the next page's cursor (emma.rules.ports.RulesStore)."""
        return self.rules.segment_members(shop, segment, query or None, limit, cursor or None)
