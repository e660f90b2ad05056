"""What a template may use: the variables (checked at build time) and sample contexts that every
template is rendered with during validation (a well-known customer, a brand-new one, long values)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ALLOWED_VARIABLES = frozenset(
    {
        "customer",  # first_name, last_name, name, email, city, country, locale, traits, orders_count
        "shop",  # name, url, support_email, address, color, logo_url
        "last_purchase",  # None or product_id, title, category, brand, url
        "recommendations",  # [product_id, title, url, price, reason]
        "coupon",  # None or code, percent, valid_until
        "cart",  # None or items [product_id, title, quantity, price], value, recovery_url
        "message",  # channel, template, journey, locale
        "unsubscribe_url",
        "preheader",  # the rendered preheader (the layout shows it)
        "link",  # link(url): a tracked short link (SMS, push); the URL itself in email (SES tracks clicks)
    }
)

Link = Callable[[str], str]


def sample_link(url: str) -> str:
    return "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/r/elektro-emma/AbCdEfGhIjKl"


def _shop(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "url": "https://www.elektro-emma.example",
        "support_email": "hilfe@elektro-emma.example",
        "address": "Hauptstraße 1, 10115 Berlin",
        "color": "#0f766e",
        "logo_url": None,
    }


def _message(locale: str, channel: str = "email") -> dict[str, Any]:
    return {"channel": channel, "template": "sample", "journey": "sample-journey", "locale": locale}


def sample_contexts(locale: str, channel: str = "email") -> list[tuple[str, dict[str, Any]]]:
    """(name, context) pairs: a template must render with each of them, in each locale."""
    full = {
        "customer": {
            "first_name": "Anna",
            "last_name": "Schmidt",
            "name": "Anna Schmidt",
            "email": "anna@example.com",
            "city": "Berlin",
            "country": "DE",
            "locale": locale,
            "traits": {"plan": "plus"},
            "orders_count": 3,
        },
        "shop": _shop("Elektro Emma"),
        "last_purchase": {
            "product_id": "phone-x",
            "title": "Phone X 128 GB",
            "category": "smartphones",
            "brand": "Acme",
            "url": "https://www.elektro-emma.example/p/phone-x",
        },
        "recommendations": [
            {
                "product_id": f"acc-{n}",
                "title": f"Accessory {n}",
                "url": f"https://www.elektro-emma.example/p/acc-{n}",
                "price": "19,99 €",
                "reason": "Passt zu deinem Phone X",
            }
            for n in range(3)
        ],
        "coupon": {"code": "EMMA-7K2P-Q9XD", "percent": 10, "valid_until": "06.12.2026"},
        "cart": {
            "items": [
                {"product_id": "cam-1", "title": "Kamera 1", "quantity": 1, "price": "299,00 €"},
                {"product_id": "sd-64", "title": "SD-Karte 64 GB", "quantity": 2, "price": "12,99 €"},
            ],
            "value": "324,98 €",
            "recovery_url": "https://www.elektro-emma.example/cart/recover/abc",
        },
        "message": _message(locale, channel),
        "unsubscribe_url": "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/v1/unsubscribe?t=x",
        "preheader": "",
        "link": sample_link,
    }
    new = {
        **full,
        "customer": {
            "first_name": None,
            "last_name": None,
            "name": "",
            "email": "new@example.com",
            "city": None,
            "country": None,
            "locale": locale,
            "traits": {},
            "orders_count": 0,
        },
        "last_purchase": None,
        "recommendations": [],
        "coupon": None,
        "cart": None,
    }
    long = {
        **full,
        "customer": {**full["customer"], "first_name": "Maximiliane-Charlotte", "name": "Maximiliane-Charlotte B."},
        "shop": _shop("Elektrofachmarkt Emma & Söhne"),
        "last_purchase": {**full["last_purchase"], "title": "Phone X Pro Max Ultra 1 TB Titan Edition"},
    }
    return [("a known customer", full), ("a new customer", new), ("long names", long)]
