"""Which messages an order is credited to, under three models side by side, and what a coupon earned.

A message is a touchpoint for an order when the customer opened or clicked it within its channel's
window before the order (``Windows``: Klaviyo's defaults, configurable per shop); a delivery alone is
no touch, and neither is a machine open (Apple Mail Privacy Protection opens every message). A message
both opened and clicked is one touchpoint, at its newest touch in the window.

- **last touch**: the newest touchpoint gets the order (1 conversion, all its revenue);
- **linear**: every touchpoint gets an equal share;
- **position-based** (40/20/40): the first and the last touchpoint get 40 % each, the ones between
  share 20 %; with two touchpoints 50/50, with one 100 %.

Each model's shares add up to exactly one conversion and exactly the order's revenue (shares are
rounded to 1/10,000 and the rounding remainder goes to the newest touchpoint). Independently of the
windows, an order that redeems the coupon code a message carried (and sent before the order) is
credited to that message (``coupon``): a code is the strongest evidence there is, whenever it is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from emma.analytics.model import Credit, MessageTouch, Model, Windows

QUANTUM = Decimal("0.0001")
ONE = Decimal(1)


MAX_TOUCHPOINTS = 40  # the newest; an order's credits stay well inside one DynamoDB transaction (100 items)


def touchpoints(messages: Sequence[MessageTouch], placed_at: datetime, windows: Windows) -> list[MessageTouch]:
    """The messages that touched the customer within their window before ``placed_at``, oldest first
    (by their newest touch in the window); the newest MAX_TOUCHPOINTS of them."""
    found: list[tuple[datetime, str, MessageTouch]] = []
    for message in messages:
        if message.status != "sent":
            continue
        best: datetime | None = None
        for at, kind in message.touches():
            hours = windows.hours(message.dims.channel, kind)
            if hours is None or at > placed_at or placed_at - at > timedelta(hours=hours):
                continue
            best = at if best is None or at > best else best
        if best is not None:
            found.append((best, message.ref, message))
    found.sort(key=lambda t: (t[0], t[1]))
    return [m for _, _, m in found][-MAX_TOUCHPOINTS:]


def weights(model: Model, n: int) -> list[Decimal]:
    """Each touchpoint's share (oldest first) under ``model``; they add up to 1."""
    if n <= 0:
        return []
    if model == "last_touch":
        return [Decimal(0)] * (n - 1) + [ONE]
    if model == "linear" or n <= 2:
        return [ONE / n] * n
    middle = Decimal("0.2") / (n - 2)
    return [Decimal("0.4")] + [middle] * (n - 2) + [Decimal("0.4")]


def split(total: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split by ``shares`` (which add up to 1), each rounded to QUANTUM, the remainder on the
    last share, so that the parts add up to ``total`` exactly."""
    if not shares:
        return []
    parts = [(total * s).quantize(QUANTUM, rounding=ROUND_HALF_EVEN) for s in shares]
    parts[-1] += total - sum(parts, Decimal(0))
    return parts


def attribute(
    messages: Sequence[MessageTouch],
    placed_at: datetime,
    revenue: Decimal,
    windows: Windows,
    discount_codes: Sequence[str] = (),
    discount: Decimal = Decimal(0),
) -> list[Credit]:
    """Every credit of one order: per model, one per touchpoint with a non-zero share; and one
    ``coupon`` credit per message whose coupon the order redeemed (split equally if several)."""
    credits: list[Credit] = []
    points = touchpoints(messages, placed_at, windows)
    for model in ("last_touch", "linear", "position"):
        shares = weights(model, len(points))  # type: ignore[arg-type]
        conversions = split(ONE, shares)
        amounts = split(revenue, shares)
        for message, share, conv, amount in zip(points, shares, conversions, amounts, strict=True):
            if share:
                credits.append(Credit(model, message.dims, message.ref, conv, amount))  # type: ignore[arg-type]
    codes = {c.strip().casefold() for c in discount_codes if c and c.strip()}
    redeemed = sorted(  # a code sent after the order cannot have brought it
        (
            m
            for m in messages
            if m.status == "sent"
            and m.coupon
            and m.coupon.strip().casefold() in codes
            and m.sent_at is not None
            and m.sent_at <= placed_at
        ),
        key=lambda m: (m.sent_at or placed_at, m.ref),
    )[-MAX_TOUCHPOINTS:]
    if redeemed:
        equal = [ONE / len(redeemed)] * len(redeemed)
        for message, conv, amount, off in zip(
            redeemed, split(ONE, equal), split(revenue, equal), split(discount, equal), strict=True
        ):
            credits.append(Credit("coupon", message.dims, message.ref, conv, amount, off))
    return credits
