"""When a campaign runs, and when each recipient's message goes out: pure time arithmetic over a campaign's
schedule (emma.campaigns.definitions.Schedule), the shop's timezone and each recipient's.

A **run** is one send of a campaign to its audience: for a one-off campaign the only one, for a recurring one
one per week or month, named by its day in the shop's timezone (``2026-12-07``), so a run started twice is the
same run. ``run_day`` says which run a start at a given moment is; ``run_start`` when that run begins (the shop's
clock). ``send_at`` is when one recipient's message is due within a run: at the run's start, or at ``at`` on the
run's day in the recipient's timezone (a recipient whose local time has passed already that day gets it now), or
the recipient's best hour (emma.dispatch's send-time optimisation decides; the run only says the day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from emma.campaigns.definitions import WEEKDAYS, Schedule


def _at(schedule: Schedule) -> time:
    hours, minutes = (schedule.at or "00:00").split(":")
    return time(int(hours), int(minutes))


def _local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def _on_day(day: date, at: time, zone: str) -> datetime:
    """``at`` on ``day`` in ``zone``, as UTC (a time the clocks skip, in spring, is taken as the hour after)."""
    local = datetime.combine(day, at, ZoneInfo(zone))
    return local.astimezone(UTC)


def _recurs_on(schedule: Schedule, day: date) -> bool:
    every = schedule.every
    if every is None:
        return True
    if every.weekday is not None:
        return WEEKDAYS[day.weekday()] == every.weekday
    return day.day == every.day


def run_day(schedule: Schedule, now: datetime, shop_zone: str) -> date | None:
    """The run a start at ``now`` belongs to: for ``now``/``best_hour`` one-offs today's (the shop's day), for
    ``on`` the day of that moment, for ``at`` the next day whose ``at`` has not passed on the shop's clock (also with
    ``timezone: recipient``), for a recurring schedule
    the next day it recurs on whose time has not passed (``best_hour``: today, if it recurs today). None: ``on``
    lies in the past."""
    today = _local(now, shop_zone).date()
    if schedule.on is not None:
        return None if schedule.on < now else _local(schedule.on, shop_zone).date()
    if schedule.now:
        return today
    for ahead in range(0, 62):  # a monthly schedule recurs within 31 days; two months bound every search
        day = today + timedelta(days=ahead)
        if not _recurs_on(schedule, day):
            continue
        if schedule.best_hour:
            return day
        if _on_day(day, _at(schedule), shop_zone) >= now:
            # recipient-local too: the day whose ``at`` has not passed on the shop's clock (started in the evening,
            # tomorrow's); each recipient then gets it at ``at`` on their own clock (see send_at)
            return day
    raise AssertionError("a recurrence within two months")  # pragma: no cover - every weekday/day 1-28 recurs


def run_start(schedule: Schedule, day: date, shop_zone: str) -> datetime:
    """When the run of ``day`` begins (UTC): ``on`` itself, ``at`` in the shop's timezone, else the start of that
    day in the shop's timezone (messages then go out by each recipient's clock or best hour)."""
    if schedule.on is not None:
        return schedule.on.astimezone(UTC)
    if schedule.at is not None and schedule.timezone == "shop":
        return _on_day(day, _at(schedule), shop_zone)
    return _on_day(day, time(0, 0), shop_zone)


def next_run_day(schedule: Schedule, after: date) -> date | None:
    """The day of the run after the one of ``after`` (None for a one-off)."""
    if schedule.every is None:
        return None
    day = after + timedelta(days=1)
    while not _recurs_on(schedule, day):
        day += timedelta(days=1)
    return day


def send_at(schedule: Schedule, day: date, start: datetime, recipient_zone: str | None, shop_zone: str) -> datetime:
    """When one recipient's message of the run of ``day`` is due (UTC), never before the run started: at ``at``
    in the recipient's timezone (the shop's if theirs is unknown); otherwise at the run's start (best hour: the
    dispatcher defers it to the recipient's hour from there)."""
    if schedule.at is None or schedule.timezone == "shop":
        return start
    zone = recipient_zone or shop_zone
    try:
        due = _on_day(day, _at(schedule), zone)
    except (KeyError, ValueError):  # an unknown zone on a profile: the shop's
        due = _on_day(day, _at(schedule), shop_zone)
    return max(due, start)
