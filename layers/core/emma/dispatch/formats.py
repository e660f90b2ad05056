"""How money and dates read in messages, per locale."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def format_money(amount: Decimal | float | str | None, currency: str | None, locale: str) -> str | None:
    if amount is None:
        return None
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    symbol = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}.get(currency or "EUR", currency or "")
    if locale == "de":
        text = f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        return f"{text} {symbol}"
    return f"{symbol}{value:,.2f}" if len(symbol) == 1 else f"{symbol} {value:,.2f}"


def format_date(at: datetime, locale: str) -> str:
    return at.strftime("%d.%m.%Y") if locale == "de" else at.strftime("%-d %b %Y")
