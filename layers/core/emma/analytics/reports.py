"""The reports: counters summed over days and grouped, with the rates a marketer reads, the attribution
by model, the journeys' funnels and the experiments' readouts. Every report reads counter items by key
range (one Query per shard and kind), never the customers.

The same reports serve the API (GET /v1/analytics/...), `emma report` and the console."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from emma.analytics.model import (
    ALL_MESSAGE_COUNTERS,
    ARM_COUNTERS,
    DIMENSIONS,
    INCENTIVE_PREFIX,
    JOURNEY_COUNTERS,
    NONE,
    Dims,
    band_of_step,
)
from emma.analytics.ports import AnalyticsStore
from emma.analytics.stats import ArmStats, readout
from emma.errors import BadRequest, NotFound
from emma.journeys.definitions import Journey, SplitStep
from emma.offers.config import IncentiveConfig
from emma.offers.uplift import ArmCounts, UpliftTable, estimate

MAX_DAYS = 400
Dimension = Literal["journey", "step", "template", "variant", "channel", "day"]
ATTRIBUTION_MODELS = ("last_touch", "linear", "position", "coupon")


class DateRange(BaseModel):
    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def date_range(since: date | None, until: date | None, today: date, default_days: int = 30) -> DateRange:
    """The report's days (inclusive); 400 at most, never reversed (BadRequest)."""
    until = until or today
    try:
        since = since or until - timedelta(days=default_days - 1)
    except OverflowError:
        raise BadRequest(f"until ({until}) leaves no room for a {default_days}-day range; give since") from None
    if since > until:
        raise BadRequest(f"since ({since}) is after until ({until})")
    if (until - since).days + 1 > MAX_DAYS:
        raise BadRequest(f"a report covers at most {MAX_DAYS} days; {since} to {until} is {(until - since).days + 1}")
    return DateRange(since=since, until=until)


def _ratio(part: Decimal | float, whole: Decimal | float) -> float | None:
    return float(part) / float(whole) if whole else None


def _sum(rows: Iterable[dict[str, Decimal]], names: Sequence[str]) -> dict[str, Decimal]:
    out = {n: Decimal(0) for n in names}
    for row in rows:
        for name, value in row.items():
            out[name] = out.get(name, Decimal(0)) + value
    return out


class MessageRow(BaseModel):
    group: dict[str, str] = Field(description="the grouping dimensions' values ('-': none)")
    counts: dict[str, float] = Field(description="every message counter (MESSAGE_COUNTERS, skipped_<stage>)")
    rates: dict[str, float | None] = Field(description="delivery, open, click, click-to-open, bounce, complaint, ...")


def message_rates(c: dict[str, Decimal]) -> dict[str, float | None]:
    delivered = c.get("delivered", Decimal(0)) or c.get("sent", Decimal(0))
    return {
        "delivery_rate": _ratio(c.get("delivered", 0), c.get("sent", 0)),
        "open_rate": _ratio(c.get("opened", 0), delivered),
        "machine_open_rate": _ratio(c.get("opened_machine", 0), delivered),
        "click_rate": _ratio(c.get("clicked", 0), delivered),
        "click_to_open_rate": _ratio(c.get("clicked", 0), c.get("opened", 0)),
        "bounce_rate": _ratio(c.get("bounced", 0), c.get("sent", 0)),
        "complaint_rate": _ratio(c.get("complained", 0), delivered),
        "unsubscribe_rate": _ratio(c.get("unsubscribed", 0), delivered),
        "skip_rate": _ratio(c.get("skipped", 0), c.get("requested", 0)),
        "conversion_rate": _ratio(c.get("conversions_last_touch", 0), delivered),
        "revenue_per_message": _ratio(c.get("revenue_last_touch", 0), c.get("sent", 0)),
    }


class MessageReport(BaseModel):
    shop: str
    since: date
    until: date
    group_by: list[str]
    rows: list[MessageRow]
    total: MessageRow


class AttributionRow(BaseModel):
    group: dict[str, str]
    conversions: dict[str, float] = Field(description="per model (last_touch, linear, position, coupon)")
    revenue: dict[str, float] = Field(description="per model")
    discount: float = Field(description="coupon discounts granted on the orders credited to these messages")


class AttributionReport(BaseModel):
    shop: str
    since: date
    until: date
    currency: str
    orders: float = Field(description="orders placed in the range (not cancelled)")
    revenue: float = Field(description="their revenue")
    attributed: dict[str, float] = Field(description="revenue credited to Emma's messages, per model")
    attributed_share: dict[str, float | None]
    windows_hours: dict[str, int] = Field(description="the shop's attribution windows")
    group_by: list[str]
    rows: list[AttributionRow]
    days: list[dict[str, Any]] = Field(description="per day: orders, revenue, attributed revenue per model")


class FunnelStep(BaseModel):
    step: str
    kind: str
    counts: dict[str, float] = Field(description="entered, waiting, completed, exited, failed, converted, revenue")


class JourneyFunnel(BaseModel):
    shop: str
    journey: str
    since: date
    until: date
    totals: dict[str, float]
    steps: list[FunnelStep]
    edges: list[tuple[str, str]] = Field(description="step -> next step, for drawing the graph")


class ArmView(BaseModel):
    name: str
    holdout: bool
    is_control: bool
    customers: int
    converted: int
    orders: int
    revenue: float
    conversion_rate: float
    conversion_ci: tuple[float, float]
    revenue_per_customer: float
    unsubscribe_rate: float
    discount: float
    lift_abs: float | None = None
    lift_abs_ci: tuple[float, float] | None = None
    lift_rel: float | None = None
    lift_rel_ci: tuple[float, float] | None = None
    p_value: float | None = None
    significant: bool | None = None
    prob_beat_control: float | None = None
    revenue_diff: float | None = None
    revenue_diff_ci: tuple[float, float] | None = None
    revenue_p_value: float | None = None
    incremental_revenue: float | None = None
    discount_cost: float | None = None
    net_incremental: float | None = None
    sample_size_needed: int | None = None
    more_customers_needed: int | None = None


class Experiment(BaseModel):
    journey: str
    step: str
    control: str
    window_days: int
    arms: list[ArmView]
    chi_square: float | None
    chi_square_p: float | None
    winner: str | None
    note: str


class ExperimentReport(BaseModel):
    shop: str
    experiments: list[Experiment]


class IncentiveTemplate(BaseModel):
    template: str
    comparisons: list[Experiment] = Field(
        description="per band of P(buy) (step band-<i>; band-none: no prediction yet): the coupon against the "
        "control group, and the exploration group against those it was withheld from"
    )
    uplift: UpliftTable = Field(description="per band: the conversions the coupon adds and whether it pays")


class IncentiveReport(BaseModel):
    shop: str
    window_days: int = Field(description="orders this long after the message count for its arm")
    templates: list[IncentiveTemplate]


def _interval(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    return (float(value.low), float(value.high))


class KpiDay(BaseModel):
    day: date
    snapshot: dict[str, float] = Field(description="the shop's daily snapshot (customers, reachable, segments...)")
    orders: float
    revenue: float
    attributed: dict[str, float] = Field(description="revenue attributed to Emma's messages, per model")
    sent: float
    delivered: float
    bounced: float
    complained: float
    bounce_rate: float | None
    complaint_rate: float | None


class KpiReport(BaseModel):
    shop: str
    since: date
    until: date
    currency: str
    latest: dict[str, float] = Field(description="the newest snapshot in the range")
    latest_day: date | None
    totals: dict[str, float] = Field(description="orders, revenue, attributed revenue, messages over the range")
    days: list[KpiDay]


class Reports:
    def __init__(self, store: AnalyticsStore, journeys: Sequence[Journey]) -> None:
        self._store = store
        self._journeys = {j.id: j for j in journeys}

    # ---- messages -----------------------------------------------------------------------------

    def messages(
        self,
        shop: str,
        days: DateRange,
        group_by: Sequence[str] = ("journey", "template", "channel"),
        where: dict[str, str] | None = None,
    ) -> MessageReport:
        for name in group_by:
            if name not in (*DIMENSIONS, "day"):
                raise BadRequest(f"group_by: unknown dimension {name!r}; one of {', '.join((*DIMENSIONS, 'day'))}")
        where = {k: v for k, v in (where or {}).items() if v}
        self._check(shop, where)
        grouped: dict[tuple[str, ...], list[dict[str, Decimal]]] = {}
        for day, key, counts in self._store.counters(shop, "message", days.since.isoformat(), days.until.isoformat()):
            dims = Dims.decode(key)
            if any(dims.value(k) != v for k, v in where.items()):
                continue
            group = tuple(day if name == "day" else dims.value(name) for name in group_by)
            grouped.setdefault(group, []).append(counts)
        rows = []
        for group, counts in sorted(grouped.items()):
            total = _sum(counts, ALL_MESSAGE_COUNTERS)
            rows.append(
                MessageRow(
                    group=dict(zip(group_by, group, strict=True)),
                    counts={k: float(v) for k, v in total.items()},
                    rates=message_rates(total),
                )
            )
        everything = _sum((c for cs in grouped.values() for c in cs), ALL_MESSAGE_COUNTERS)
        return MessageReport(
            shop=shop,
            since=days.since,
            until=days.until,
            group_by=list(group_by),
            rows=rows,
            total=MessageRow(
                group={}, counts={k: float(v) for k, v in everything.items()}, rates=message_rates(everything)
            ),
        )

    def _check(self, shop: str, where: dict[str, str]) -> None:
        journey = where.get("journey")
        if journey and journey != NONE:
            self._journey(shop, journey)

    # ---- attribution --------------------------------------------------------------------------

    def attribution(
        self,
        shop: str,
        days: DateRange,
        currency: str,
        windows_hours: dict[str, int],
        group_by: Sequence[str] = ("journey", "channel"),
    ) -> AttributionReport:
        for name in group_by:
            if name not in DIMENSIONS:
                raise BadRequest(f"group_by: unknown dimension {name!r}; one of {', '.join(DIMENSIONS)}")
        since, until = days.since.isoformat(), days.until.isoformat()
        grouped: dict[tuple[str, ...], list[dict[str, Decimal]]] = {}
        for _day, key, counts in self._store.counters(shop, "message", since, until):
            dims = Dims.decode(key)
            group = tuple(dims.value(name) for name in group_by)
            grouped.setdefault(group, []).append(counts)
        rows = []
        for group, counts in sorted(grouped.items()):
            total = _sum(counts, ())
            conversions = {m: float(total.get(f"conversions_{m}", 0)) for m in ATTRIBUTION_MODELS}
            if not any(conversions.values()):
                continue
            rows.append(
                AttributionRow(
                    group=dict(zip(group_by, group, strict=True)),
                    conversions=conversions,
                    revenue={m: float(total.get(f"revenue_{m}", 0)) for m in ATTRIBUTION_MODELS},
                    discount=float(total.get("discount_coupon", 0)),
                )
            )
        per_day = sorted(self._store.counters(shop, "shop", since, until), key=lambda r: r[0])
        shop_total = _sum((c for _, _, c in per_day), ())
        revenue = shop_total.get("revenue", Decimal(0))
        attributed = {m: float(shop_total.get(f"revenue_{m}", 0)) for m in ATTRIBUTION_MODELS}
        return AttributionReport(
            shop=shop,
            since=days.since,
            until=days.until,
            currency=currency,
            orders=float(shop_total.get("orders", 0)),
            revenue=float(revenue),
            attributed=attributed,
            attributed_share={m: _ratio(v, revenue) for m, v in attributed.items()},
            windows_hours=windows_hours,
            group_by=list(group_by),
            rows=rows,
            days=[
                {"day": day, "orders": float(c.get("orders", 0)), "revenue": float(c.get("revenue", 0))}
                | {f"revenue_{m}": float(c.get(f"revenue_{m}", 0)) for m in ATTRIBUTION_MODELS}
                for day, _, c in per_day
            ],
        )

    # ---- shop KPIs and deliverability ---------------------------------------------------------

    def kpis(self, shop: str, days: DateRange, currency: str) -> KpiReport:
        since, until = days.since.isoformat(), days.until.isoformat()
        snapshots = dict(self._store.snapshots(shop, since, until))
        orders = {day: c for day, _, c in self._store.counters(shop, "shop", since, until)}
        messages: dict[str, dict[str, Decimal]] = {}
        for day, _key, counts in self._store.counters(shop, "message", since, until):
            row = messages.setdefault(day, {})
            for name in ("sent", "delivered", "bounced", "complained"):
                row[name] = row.get(name, Decimal(0)) + counts.get(name, Decimal(0))
        out = []
        for n in range(days.days):
            day = (days.since + timedelta(days=n)).isoformat()
            o, m = orders.get(day, {}), messages.get(day, {})
            if not (o or m or day in snapshots):
                continue
            out.append(
                KpiDay(
                    day=date.fromisoformat(day),
                    snapshot={k: float(v) for k, v in snapshots.get(day, {}).items()},
                    orders=float(o.get("orders", 0)),
                    revenue=float(o.get("revenue", 0)),
                    attributed={m_: float(o.get(f"revenue_{m_}", 0)) for m_ in ATTRIBUTION_MODELS},
                    sent=float(m.get("sent", 0)),
                    delivered=float(m.get("delivered", 0)),
                    bounced=float(m.get("bounced", 0)),
                    complained=float(m.get("complained", 0)),
                    bounce_rate=_ratio(m.get("bounced", 0), m.get("sent", 0)),
                    complaint_rate=_ratio(m.get("complained", 0), m.get("delivered", 0)),
                )
            )
        latest_day = max(snapshots) if snapshots else None
        totals: dict[str, float] = {
            "orders": sum(d.orders for d in out),
            "revenue": sum(d.revenue for d in out),
            "sent": sum(d.sent for d in out),
            "delivered": sum(d.delivered for d in out),
            "bounced": sum(d.bounced for d in out),
            "complained": sum(d.complained for d in out),
        }
        for model in ATTRIBUTION_MODELS:
            totals[f"attributed_{model}"] = sum(d.attributed[model] for d in out)
        return KpiReport(
            shop=shop,
            since=days.since,
            until=days.until,
            currency=currency,
            latest={k: float(v) for k, v in snapshots.get(latest_day, {}).items()} if latest_day else {},
            latest_day=date.fromisoformat(latest_day) if latest_day else None,
            totals=totals,
            days=out,
        )

    # ---- journeys -----------------------------------------------------------------------------

    def _journey(self, shop: str, journey_id: str) -> Journey:
        """The journey, if it runs for this shop (``shops``: the shop or "*"); NotFound otherwise."""
        journey = self._journeys.get(journey_id)
        if journey is None or ("*" not in journey.shops and shop not in journey.shops):
            raise NotFound(f"no journey {journey_id!r} for shop {shop!r}")
        return journey

    def _journey_counts(self, shop: str, days: DateRange) -> dict[str, dict[str, list[dict[str, Decimal]]]]:
        """The journey counters of the range, journey -> step ("-": the journey's own) -> the days' counts."""
        found: dict[str, dict[str, list[dict[str, Decimal]]]] = {}
        for _day, key, counts in self._store.counters(shop, "journey", days.since.isoformat(), days.until.isoformat()):
            jid, _, step = key.partition("|")
            found.setdefault(jid, {}).setdefault(step, []).append(counts)
        return found

    def journey_totals(self, shop: str, days: DateRange) -> list[dict[str, Any]]:
        """Every journey of the shop with its totals over the range, from one read of the counters."""
        counted = self._journey_counts(shop, days)
        return [
            {"journey": j, **{k: float(v) for k, v in _sum(counted.get(j, {}).get(NONE, []), JOURNEY_COUNTERS).items()}}
            for j in self.journey_ids(shop)
        ]

    def journey(self, shop: str, journey_id: str, days: DateRange) -> JourneyFunnel:
        journey = self._journey(shop, journey_id)
        per_step = self._journey_counts(shop, days).get(journey_id, {})
        steps = [
            FunnelStep(
                step=s.id,
                kind=_kind(s),
                counts={k: float(v) for k, v in _sum(per_step.get(s.id, []), JOURNEY_COUNTERS).items()},
            )
            for s in journey.steps
        ]
        edges = [(s.id, nxt) for i, s in enumerate(journey.steps) for nxt in journey.successors(i)]
        totals = {k: float(v) for k, v in _sum(per_step.get(NONE, []), JOURNEY_COUNTERS).items()}
        return JourneyFunnel(
            shop=shop, journey=journey_id, since=days.since, until=days.until, totals=totals, steps=steps, edges=edges
        )

    def journey_ids(self, shop: str | None = None) -> list[str]:
        """The journeys (that run for ``shop``, when given)."""
        return sorted(j.id for j in self._journeys.values() if shop is None or "*" in j.shops or shop in j.shops)

    # ---- experiments --------------------------------------------------------------------------

    def experiments(self, shop: str, window_days: int, journey_id: str | None = None) -> ExperimentReport:
        if journey_id is not None:
            self._journey(shop, journey_id)
        mine = set(self.journey_ids(shop))
        counted: dict[tuple[str, str], dict[str, dict[str, Decimal]]] = {}
        for _day, key, counts in self._store.arms(shop, journey_id):
            jid, step, variant = key.split("|", 2)
            counted.setdefault((jid, step), {})[variant] = counts
        experiments = []
        for journey in sorted(self._journeys.values(), key=lambda j: j.id):
            if (journey_id is not None and journey.id != journey_id) or journey.id not in mine:
                continue
            for step in journey.steps:
                if not isinstance(step, SplitStep):
                    continue
                arms_counted = counted.get((journey.id, step.id), {})
                experiments.append(self._experiment(journey.id, step, arms_counted, window_days))
        return ExperimentReport(shop=shop, experiments=experiments)

    @staticmethod
    def _experiment(
        journey: str, step: SplitStep, counted: dict[str, dict[str, Decimal]], window_days: int
    ) -> Experiment:
        variants = [(v.name, v.holdout) for v in step.split]
        return Reports._readout(journey, step.id, variants, counted, window_days)

    # ---- incentives ---------------------------------------------------------------------------

    def incentives(self, shop: str, config: IncentiveConfig, now: datetime) -> IncentiveReport:
        """The incentive policy's arms per template and band of P(buy) (emma.offers.policy): coupon against
        control and explore against withheld, read out like an experiment (incremental revenue against the
        discount), and per band the uplift estimate that decides whether the coupon pays there."""
        counted: dict[str, dict[str, dict[str, dict[str, Decimal]]]] = {}
        for _day, key, counts in self._store.arms(shop, None):
            if not key.startswith(INCENTIVE_PREFIX):
                continue
            journey, step, arm = key.split("|", 2)
            counted.setdefault(journey.removeprefix(INCENTIVE_PREFIX), {}).setdefault(step, {})[arm] = counts
        templates = []
        for template, steps in sorted(counted.items()):
            comparisons = []
            bands: dict[int, dict[str, ArmCounts]] = {}
            for step, arms in sorted(steps.items(), key=lambda kv: band_of_step(kv[0])):
                for treated, untreated in (("coupon", "control"), ("explore", "withheld")):
                    if treated in arms or untreated in arms:
                        comparisons.append(
                            self._readout(
                                f"{INCENTIVE_PREFIX}{template}",
                                step,
                                [(untreated, True), (treated, False)],
                                arms,
                                config.window_days,
                            )
                        )
                band = band_of_step(step)
                if band >= 0:
                    bands[band] = {
                        arm: ArmCounts(
                            customers=int(c.get("customers", 0)),
                            converted=max(0, min(int(c.get("converted", 0)), int(c.get("customers", 0)))),
                            orders=int(c.get("orders", 0)),
                            revenue=float(c.get("revenue", 0)),
                            discount=float(c.get("discount", 0)),
                        )
                        for arm, c in arms.items()
                    }
            table = estimate(bands, now, margin=config.margin, min_per_arm=config.min_per_arm)
            templates.append(IncentiveTemplate(template=template, comparisons=comparisons, uplift=table))
        return IncentiveReport(shop=shop, window_days=config.window_days, templates=templates)

    @staticmethod
    def _readout(
        journey: str,
        step_id: str,
        variants: list[tuple[str, bool]],
        counted: dict[str, dict[str, Decimal]],
        window_days: int,
    ) -> Experiment:
        arms = []
        for name, holdout in variants:
            c = _sum([counted.get(name, {})], ARM_COUNTERS)
            arms.append(
                ArmStats(
                    name=name,
                    customers=int(c["customers"]),
                    converted=max(0, min(int(c["converted"]), int(c["customers"]))),
                    orders=int(c["orders"]),
                    revenue=float(c["revenue"]),
                    revenue_sq=float(c["revenue_sq"]),
                    unsubscribed=max(0, min(int(c["unsubscribed"]), int(c["customers"]))),
                    discount=float(c["discount"]),
                    holdout=holdout,
                )
            )
        result = readout(arms)
        views = []
        for arm, out in zip(arms, result.arms, strict=True):
            views.append(
                ArmView(
                    name=arm.name,
                    holdout=arm.holdout,
                    is_control=out.is_control,
                    customers=arm.customers,
                    converted=arm.converted,
                    orders=arm.orders,
                    revenue=arm.revenue,
                    conversion_rate=out.conversion_rate,
                    conversion_ci=_interval(out.conversion_ci) or (0.0, 0.0),
                    revenue_per_customer=out.revenue_per_customer,
                    unsubscribe_rate=out.unsubscribe_rate,
                    discount=arm.discount,
                    lift_abs=out.lift_abs,
                    lift_abs_ci=_interval(out.lift_abs_ci),
                    lift_rel=out.lift_rel,
                    lift_rel_ci=_interval(out.lift_rel_ci),
                    p_value=out.p_value,
                    significant=out.significant,
                    prob_beat_control=out.prob_beat_control,
                    revenue_diff=out.revenue_diff,
                    revenue_diff_ci=_interval(out.revenue_diff_ci),
                    revenue_p_value=out.revenue_p_value,
                    incremental_revenue=out.incremental_revenue,
                    discount_cost=out.discount_cost,
                    net_incremental=out.net_incremental,
                    sample_size_needed=out.sample_size_needed,
                    more_customers_needed=out.more_customers_needed,
                )
            )
        return Experiment(
            journey=journey,
            step=step_id,
            control=result.control,
            window_days=window_days,
            arms=views,
            chi_square=result.chi_square,
            chi_square_p=result.chi_square_p,
            winner=result.winner,
            note=result.note,
        )


def _kind(step: Any) -> str:
    for name in ("send", "wait", "branch", "split", "update", "emit", "exit"):
        if getattr(step, name, None) is not None:
            return name
    return "step"
