"""The analytics reports for the shop's admins (Bearer admin key), each also as CSV (``format=csv``):

    GET /v1/analytics/messages       message metrics by journey, step, template, variant, channel or day
    GET /v1/analytics/attribution    orders and revenue, and what each model credits to Emma's messages
    GET /v1/analytics/journeys       every journey's totals; /v1/analytics/journeys/{id}: its funnel by step
    GET /v1/analytics/experiments    every split's readout (lift over control with its interval, p, P(beat))
    GET /v1/analytics/kpis           the shop's KPIs per day: snapshot, orders, revenue, deliverability

Dates are the shop's days (its timezone), ``since`` and ``until`` inclusive, 400 days at most (400 if
longer or reversed); without them, the last 30 days.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from emma.analytics.reports import (
    AttributionReport,
    DateRange,
    ExperimentReport,
    IncentiveReport,
    JourneyFunnel,
    KpiReport,
    MessageReport,
    date_range,
)
from emma.analytics.service import shop_day, windows_of
from emma.errors import BadRequest, NotFound
from emma.shops import ShopConfig
from ingest import deps
from ingest.http import admin_shop, json_response
from ingest.schemas import Error

router = APIGatewayHttpRouter()

_SHOP = Query(description="the shop the caller means; 403 if the admin key is another shop's")
_SINCE = Query(description="first day (the shop's timezone), YYYY-MM-DD; default: 29 days before until")
_UNTIL = Query(description="last day, inclusive; default: today")
_FORMAT = Query(description="json (default) or csv")
Format = Literal["json", "csv"]


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


def _responses(model: type[BaseModel], description: str) -> dict[int, Any]:
    return {
        200: _json(model, description),
        400: _json(Error, "A date range over 400 days or reversed, or an unknown grouping"),
        401: _json(Error, "Missing or wrong admin key"),
        403: _json(Error, "The admin key is another shop's"),
        404: _json(Error, "No such journey or template"),
    }


def _admin(shop: str | None) -> ShopConfig:
    return admin_shop(deps.intake().shops, router.current_event, shop)


def _days(config: ShopConfig, since: date | None, until: date | None) -> DateRange:
    today = date.fromisoformat(shop_day(config, deps.wiring().clock.now()))
    return date_range(since, until, today)


def _group(value: str, allowed: tuple[str, ...]) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise BadRequest(f"group_by: unknown {', '.join(unknown)}; use any of {', '.join(allowed)}")
    return names


def _csv(rows: list[dict[str, Any]], name: str) -> Response:
    out = io.StringIO()
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=out.getvalue(),
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _answer(report: BaseModel, fmt: Format, rows: list[dict[str, Any]], name: str) -> Response:
    if fmt == "csv":
        return _csv(rows, name)
    return json_response(200, report.model_dump(mode="json"))


MESSAGE_DIMENSIONS = ("journey", "step", "template", "variant", "channel", "day")


@router.get(
    "/v1/analytics/messages",
    cors=False,
    summary="Message metrics",
    tags=["analytics"],
    description="Requested, skipped (by the dispatch stage that skipped), sent, delivered, opened (by people; "
    "machine opens such as Apple Mail Privacy Protection apart), clicked (unique and total), bounced, complained, "
    "unsubscribed, and the conversions and revenue attributed under each model, with the rates. Counted on the day "
    "of the message's send. group_by: any of journey, step, template, variant, channel, day (comma-separated); "
    "journey, template, channel filter. Bearer admin key.",
    responses=_responses(MessageReport, "The metrics per group and in total"),
)
def get_message_metrics(
    shop: Annotated[str | None, _SHOP] = None,
    since: Annotated[date | None, _SINCE] = None,
    until: Annotated[date | None, _UNTIL] = None,
    group_by: str = "journey,template,channel",
    journey: str | None = None,
    template: str | None = None,
    channel: Literal["email", "sms", "push"] | None = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    reports = deps.analytics()
    if template is not None and not deps.has_template(config.shop, template):
        raise NotFound(f"no template {template!r}")
    report = reports.messages(
        config.shop,
        _days(config, since, until),
        _group(group_by, MESSAGE_DIMENSIONS),
        {"journey": journey or "", "template": template or "", "channel": channel or ""},
    )
    rows = [{**r.group, **r.counts, **r.rates} for r in report.rows]
    return _answer(report, format, rows, "messages")


@router.get(
    "/v1/analytics/attribution",
    cors=False,
    summary="Revenue attributed to Emma's messages",
    tags=["analytics"],
    description="Every order placed (and not cancelled) in the range, and the share each model credits to the "
    "messages that preceded it: last touch within per-channel windows (the shop's analytics settings; by default "
    "an email opened or clicked 5 days, an SMS clicked 5 days, a push opened 1 day), linear, position-based "
    "(40/20/40), and coupon (the message whose coupon the order redeemed, whenever). group_by: any of journey, "
    "step, template, variant, channel. Bearer admin key.",
    responses=_responses(AttributionReport, "Orders, revenue, and the revenue each model attributes"),
)
def get_attribution(
    shop: Annotated[str | None, _SHOP] = None,
    since: Annotated[date | None, _SINCE] = None,
    until: Annotated[date | None, _UNTIL] = None,
    group_by: str = "journey,channel",
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    w = windows_of(config)
    report = deps.analytics().attribution(
        config.shop,
        _days(config, since, until),
        config.currency,
        {
            "email_open": w.email_open,
            "email_click": w.email_click,
            "sms_click": w.sms_click,
            "push_click": w.push_click,
        },
        _group(group_by, MESSAGE_DIMENSIONS[:-1]),
    )
    rows = [
        {**r.group, **{f"conversions_{m}": v for m, v in r.conversions.items()}}
        | {f"revenue_{m}": v for m, v in r.revenue.items()}
        for r in report.rows
    ]
    return _answer(report, format, rows, "attribution")


class JourneyList(BaseModel):
    shop: str
    since: date
    until: date
    journeys: list[dict[str, Any]]


@router.get(
    "/v1/analytics/journeys",
    cors=False,
    summary="Every journey's totals",
    tags=["analytics"],
    description="Per journey: customers who entered, completed, exited early, failed, and the orders and revenue "
    "attributed (last touch) to its messages. Bearer admin key.",
    responses=_responses(JourneyList, "Totals per journey"),
)
def get_journeys(
    shop: Annotated[str | None, _SHOP] = None,
    since: Annotated[date | None, _SINCE] = None,
    until: Annotated[date | None, _UNTIL] = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    days = _days(config, since, until)
    rows = deps.analytics().journey_totals(config.shop, days)
    report = JourneyList(shop=config.shop, since=days.since, until=days.until, journeys=rows)
    return _answer(report, format, rows, "journeys")


@router.get(
    "/v1/analytics/journeys/<journey>",
    cors=False,
    summary="A journey's funnel",
    tags=["analytics"],
    description="Per step of the journey (in its order, with the edges of its graph): customers who reached it, "
    "began waiting there, completed, exited or failed there, and the orders and revenue attributed (last touch) "
    "to its messages. Steps that only wait a fixed time run no code and count nothing. 404: no such journey.",
    responses=_responses(JourneyFunnel, "The funnel"),
)
def get_journey_funnel(
    journey: str,
    shop: Annotated[str | None, _SHOP] = None,
    since: Annotated[date | None, _SINCE] = None,
    until: Annotated[date | None, _UNTIL] = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    report = deps.analytics().journey(config.shop, journey, _days(config, since, until))
    rows = [{"step": s.step, "kind": s.kind, **s.counts} for s in report.steps]
    return _answer(report, format, rows, f"journey-{journey}")


@router.get(
    "/v1/analytics/experiments",
    cors=False,
    summary="Experiment readouts",
    tags=["analytics"],
    description="For every split step of every journey (or of ``journey``): per arm, from the moment of assignment "
    "and within the shop's experiment window (30 days by default), customers, conversion rate with its 95 % "
    "interval, revenue per customer, unsubscribe rate; against the control (the holdout, else the first arm): the "
    "lift with its 95 % interval (absolute: Newcombe; relative: Katz), the p-value, the probability to beat "
    "control, the revenue difference (Welch), incremental revenue against the discounts granted, and the customers "
    "still needed to detect the observed difference. 404: no such journey.",
    responses=_responses(ExperimentReport, "The readouts"),
)
def get_experiments(
    shop: Annotated[str | None, _SHOP] = None,
    journey: str | None = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    report = deps.analytics().experiments(config.shop, config.analytics.experiment_days, journey)
    rows = [
        {"journey": e.journey, "step": e.step, "control": e.control, **arm.model_dump(mode="json")}
        for e in report.experiments
        for arm in e.arms
    ]
    return _answer(report, format, rows, "experiments")


@router.get(
    "/v1/analytics/incentives",
    cors=False,
    summary="The incentive policy's readout",
    tags=["analytics"],
    description="Per template with a coupon and per band of the customers' purchase probability: the coupon "
    "against the control group that got the message without it, and the exploration group against those the "
    "`predicted` policy withheld it from (conversions with their intervals, incremental revenue against the "
    "discounts, docs/offers.md); and per band the uplift estimate: the conversions the coupon adds, its value per "
    "customer at the shop's margin, and whether it pays (the dispatcher follows it once both arms have "
    "incentives.min_per_arm customers). Bearer admin key.",
    responses=_responses(IncentiveReport, "The incentive arms and the uplift per band"),
)
def get_incentives(
    shop: Annotated[str | None, _SHOP] = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    report = deps.analytics().incentives(config.shop, config.incentives, deps.wiring().clock.now())
    rows = [
        {"template": t.template, "band": e.step, "control": e.control, **arm.model_dump(mode="json")}
        for t in report.templates
        for e in t.comparisons
        for arm in e.arms
    ]
    return _answer(report, format, rows, "incentives")


@router.get(
    "/v1/analytics/kpis",
    cors=False,
    summary="The shop's KPIs per day",
    tags=["analytics"],
    description="Per day: the shop's snapshot (customers known, reachable per channel, active in 30 and 90 days, "
    "new, lapsed, lifecycle stages and segment sizes, the share of recipients who never open), orders and revenue "
    "with what each model attributes to Emma, and deliverability (sent, delivered, bounce and complaint rates; "
    "Gmail refuses bulk senders at a 0.3 % complaint rate). Bearer admin key.",
    responses=_responses(KpiReport, "KPIs per day, the newest snapshot and the totals"),
)
def get_kpis(
    shop: Annotated[str | None, _SHOP] = None,
    since: Annotated[date | None, _SINCE] = None,
    until: Annotated[date | None, _UNTIL] = None,
    format: Annotated[Format, _FORMAT] = "json",
):
    config = _admin(shop)
    report = deps.analytics().kpis(config.shop, _days(config, since, until), config.currency)
    rows = [
        {"day": d.day.isoformat(), **d.snapshot}
        | {k: v for k, v in d.model_dump(mode="json").items() if k not in ("day", "snapshot", "attributed")}
        | {f"attributed_{m}": v for m, v in d.attributed.items()}
        for d in report.days
    ]
    return _answer(report, format, rows, "kpis")
