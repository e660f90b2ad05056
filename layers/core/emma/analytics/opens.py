"""Machine opens: an open that no person caused.

Apple Mail Privacy Protection loads every message's images through Apple's proxy as soon as the
message arrives, whether or not anybody reads it; security gateways and link scanners fetch them
too. Counted as opens, they would make every message look read (since iOS 15, often half of all
opens). SES reports each open with the user agent and IP address that fetched the pixel, and Apple's
proxy is recognisable: it sends the bare user agent ``Mozilla/5.0`` from Apple's network
(17.0.0.0/8). Such opens, opens with no user agent, and opens by user agents of known scanners are
machine opens: counted apart, never a touch for attribution, never a unique open.

Gmail's image proxy (``GoogleImageProxy``) is not a machine open: Gmail fetches images when the
recipient opens the message.
"""

from __future__ import annotations

import ipaddress

APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
BARE_AGENTS = frozenset({"mozilla/5.0"})
SCANNER_TOKENS = (
    "bot",
    "crawler",
    "spider",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trendmicro",
    "sophos",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "headlesschrome",
    "okhttp",
)


def is_machine_open(user_agent: str | None, ip: str | None) -> bool:
    agent = (user_agent or "").strip().lower()
    if not agent or agent in BARE_AGENTS:
        return True
    if any(token in agent for token in SCANNER_TOKENS):
        return True
    if ip:
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        if address in APPLE_NETWORK and "mozilla/5.0 (" not in agent:
            return True
    return False
