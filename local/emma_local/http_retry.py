"""The CLIs' one way of calling a running API again when it is busy: `emma import`, `emma catalog import` and
`emma coupons upload` send their batches through it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BUSY = frozenset({429, 502, 503, 504})  # answers worth asking again after a pause


def with_retries(
    call: Callable[[], Any],
    *,
    delays: Iterable[float],
    sleep: Callable[[float], None],
    unreachable: Callable[[Exception], Exception],
    statuses: frozenset[int] = BUSY,
) -> Any:
    """``call()``'s response, asked again after each of ``delays`` while it cannot connect (requests'
    RequestException) or answers one of ``statuses``; the last answer is returned whatever its status, and
    ``unreachable(exc)`` is raised when the last try could not connect."""
    import requests

    for delay in (*delays, None):
        try:
            resp = call()
        except requests.RequestException as exc:
            if delay is None:
                raise unreachable(exc) from None
            sleep(delay)
            continue
        if resp.status_code in statuses and delay is not None:
            sleep(delay)
            continue
        return resp
    raise AssertionError("unreachable")  # the loop returns or raises at its last delay (None)
