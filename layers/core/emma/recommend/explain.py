"""The short explanation that comes with each recommendation, in the customer's language."""

from __future__ import annotations

_REASONS: dict[str, dict[str, str]] = {
    "en": {
        "accessory": "Fits your {arg}",
        "co": "Often bought together with {arg}",
        "upgrade": "The next step up from your {arg}",
        "viewed": "Because you viewed {arg}",
        "searched": "Because you searched for {arg}",
        "watched": "Because you watched tutorials about {arg}",
        "clicked": "Because you clicked on {arg}",
        "carted": "Because you had {arg} in your cart",
        "bought": "Because you like {arg}",
        "interest": "Because you are interested in {arg}",
        "trending": "Popular right now",
        "popular": "A customer favourite",
        "new": "New in {arg}",
        "partner": "{reason} - an offer from our partner {arg}",
    },
    "de": {
        "accessory": "Passt zu deinem {arg}",
        "co": "Wird oft zusammen mit {arg} gekauft",
        "upgrade": "Der nächste Schritt nach deinem {arg}",
        "viewed": "Weil du dir {arg} angesehen hast",
        "searched": "Weil du nach {arg} gesucht hast",
        "watched": "Weil du Tutorials zu {arg} angesehen hast",
        "clicked": "Weil du dich für {arg} interessiert hast",
        "carted": "Weil du {arg} im Warenkorb hattest",
        "bought": "Weil dir {arg} gefällt",
        "interest": "Weil du dich für {arg} interessierst",
        "trending": "Gerade besonders gefragt",
        "popular": "Bei unseren Kunden beliebt",
        "new": "Neu in {arg}",
        "partner": "{reason} - ein Angebot unseres Partners {arg}",
    },
}


def reason(kind: str, arg: str | None, locale: str, partner: str | None = None) -> str:
    texts = _REASONS.get(locale) or _REASONS["en"]
    text = texts[kind].format(arg=arg or "")
    return texts["partner"].format(reason=text, arg=partner) if partner else text
