"""The shop's daily KPI snapshot: customers known, reachable per channel, active, new, lapsed, the share of
recipients who never open, the lifecycle stages and every segment's size, as they stand on the shop's day.

Nothing here counts customers. The rules function keeps every segment's size as it decides memberships
(sharded counters, emma.rules; time-based segments are left by its review timers as time passes), and the
shipped segments (segments/known-customers.yaml, reachable-*.yaml, active-*.yaml, new-30d.yaml,
never-opens.yaml, lapsed.yaml) are the KPIs' definitions. A snapshot reads those sizes (one BatchGetItem
per shop) and writes them as one item per shop and day (one PutItem): the hourly job overwrites today's
item, so today's figures stay current and yesterday's are those of the day's last run. Trends are then read
from the snapshots (emma.analytics.reports.Reports.kpis), never computed from the customers.

Pure: the store, the sizes, the shops and the clock are passed in (emma.wiring.analytics.build_snapshot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from emma.analytics.ports import AnalyticsStore
from emma.analytics.reports import Reports
from emma.analytics.service import shop_day
from emma.clock import Clock
from emma.events.model import Channel
from emma.offers.ports import UpliftTables
from emma.rules.definitions import Segment
from emma.rules.loader import Definitions
from emma.shops import ShopConfig, ShopDirectory

log = logging.getLogger(__name__)

# KPI -> the shipped segment whose size it is (reachable_email depends on the shop's policy, below).
KPI_SEGMENTS: dict[str, str] = {
    "customers": "known-customers",
    "reachable_sms": "reachable-sms",
    "reachable_push": "reachable-push",
    "active_30d": "active-30d",
    "active_90d": "active-90d",
    "new_30d": "new-30d",
    "lapsed": "lapsed",
    "never_opens": "never-opens",
}
REACHABLE_EMAIL = "reachable-email"  # consent granted, not suppressed, an address
REACHABLE_EMAIL_CONFIRMED = "reachable-email-confirmed"  # ... and confirmed by double opt-in
STAGE_PREFIX = "stage-"
SHARE_PLACES = Decimal("0.0001")


class SegmentSizes(Protocol):
    """The rules function's segment size counters (emma.rules.ports.RulesStore has this method)."""

    def segment_sizes(self, shop: str) -> dict[str, int]:
        """Members per segment id: the sum over the counter shards (one BatchGetItem)."""
        ...


def reachable_email_segment(shop: ShopConfig) -> str:
    """Whom dispatch may email in this shop: confirmed by double opt-in where the shop requires it."""
    return REACHABLE_EMAIL_CONFIRMED if shop.dispatch.double_opt_in else REACHABLE_EMAIL


def push_ready(shop: ShopConfig) -> bool:
    """Whether the shop can send push at all (as dispatch decides: a push application, or the webhook)."""
    return bool(shop.dispatch.push_application_arn) or shop.dispatch.providers.get(Channel.PUSH) == "webhook"


def stage_name(segment_id: str) -> str:
    """``stage-buy`` -> ``buy`` (a lifecycle segment named otherwise keeps its id)."""
    return segment_id.removeprefix(STAGE_PREFIX) or segment_id


def snapshot_values(shop: ShopConfig, segments: Sequence[Segment], sizes: dict[str, int]) -> dict[str, Decimal]:
    """The snapshot of one shop from its segment sizes: ``segment:<id>`` for every segment defined for the
    shop (0 when the counters never saw a member), ``stage:<stage>`` for each lifecycle stage, and the KPIs
    of the shipped segments. A KPI whose segment the shop does not have is left out (not 0: unknown);
    ``never_opens_share`` is left out when nobody is reachable by email."""
    size = {s.id: max(0, int(sizes.get(s.id, 0))) for s in segments if s.applies_to(shop.shop)}
    values: dict[str, Decimal] = {}
    for kpi, segment_id in KPI_SEGMENTS.items():
        if segment_id in size:
            values[kpi] = Decimal(size[segment_id])
    email = reachable_email_segment(shop)
    if email in size:
        values["reachable_email"] = Decimal(size[email])
    if "reachable_push" in values and not push_ready(shop):
        values["reachable_push"] = Decimal(0)  # dispatch sends no push for this shop: nobody is reachable
    reachable, never = values.get("reachable_email"), values.get("never_opens")
    if reachable and never is not None:
        values["never_opens_share"] = min(Decimal(1), never / reachable).quantize(SHARE_PLACES)
    for segment in segments:
        if segment.id in size and segment.kind == "lifecycle":
            values[f"stage:{stage_name(segment.id)}"] = Decimal(size[segment.id])
    for segment_id, members in sorted(size.items()):
        values[f"segment:{segment_id}"] = Decimal(members)
    return values


@dataclass
class SnapshotReport:
    shops: int = 0
    written: dict[str, str] = field(default_factory=dict)  # shop -> the day written
    failed: list[str] = field(default_factory=list)  # shops whose snapshot failed (logged)

    def view(self) -> dict[str, object]:
        return {"shops": self.shops, "written": dict(self.written), "failed": list(self.failed)}


class KpiSnapshots:
    """Writes each shop's snapshot for the shop's current day (its timezone): an idempotent overwrite."""

    def __init__(
        self,
        store: AnalyticsStore,
        sizes: SegmentSizes,
        shops: ShopDirectory,
        definitions: Definitions,
        clock: Clock,
        uplift: UpliftTables | None = None,
    ) -> None:
        self._store = store
        self._sizes = sizes
        self._shops = shops
        self._definitions = definitions
        self._clock = clock
        self._uplift = uplift

    def take(self, shop: ShopConfig) -> tuple[str, dict[str, Decimal]]:
        """Write one shop's snapshot now, and its uplift estimate per template (emma.offers.uplift, from the
        incentive arms' counters: a few queries, no customer read); (day, values)."""
        now = self._clock.now()
        day = shop_day(shop, now)
        values = snapshot_values(shop, self._definitions.segments, self._sizes.segment_sizes(shop.shop))
        self._store.put_snapshot(shop.shop, day, values)
        if self._uplift is not None:
            report = Reports(self._store, []).incentives(shop.shop, shop.incentives, now)
            self._uplift.save(shop.shop, {t.template: t.uplift for t in report.templates}, now)
        return day, values

    def run(self) -> SnapshotReport:
        """Every shop; one that fails is logged and reported, the others are written."""
        report = SnapshotReport()
        for shop in self._shops.all():
            report.shops += 1
            try:
                day, _ = self.take(shop)
            except Exception:
                log.exception("the KPI snapshot of shop %s failed", shop.shop)
                report.failed.append(shop.shop)
                continue
            report.written[shop.shop] = day
        return report
