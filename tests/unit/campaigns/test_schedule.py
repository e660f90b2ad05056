"""When campaign runs happen and when each recipient's message is due: the shop's and the recipients' clocks,
weekly and monthly runs, summer time, a one-off in the past."""

from __future__ import annotations

from datetime import UTC, date, datetime

from emma.campaigns.definitions import Schedule
from emma.campaigns.schedule import next_run_day, run_day, run_start, send_at

BERLIN = "Europe/Berlin"
MONDAY = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # 08:30 in Berlin, a Monday


def s(**kw) -> Schedule:
    return Schedule.model_validate(kw)


def test_now_runs_today_and_starts_at_once():
    schedule = s(now=True)
    day = run_day(schedule, MONDAY, BERLIN)
    assert day == date(2026, 12, 7) and send_at(schedule, day, MONDAY, "Asia/Tokyo", BERLIN) == MONDAY
    assert next_run_day(schedule, day) is None


def test_at_in_the_shops_time_is_today_until_it_passed_then_tomorrow():
    schedule = s(at="09:00")
    assert run_day(schedule, MONDAY, BERLIN) == date(2026, 12, 7)
    assert run_start(schedule, date(2026, 12, 7), BERLIN) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    later = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: today's 09:00 passed
    assert run_day(schedule, later, BERLIN) == date(2026, 12, 8)


def test_weekly_on_monday_at_nine_in_each_recipients_time():
    schedule = s(at="09:00", timezone="recipient", every={"weekday": "monday"})
    tuesday = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    day = run_day(schedule, tuesday, BERLIN)
    assert day == date(2026, 12, 14) and day.weekday() == 0
    start = run_start(schedule, day, BERLIN)
    assert start == datetime(2026, 12, 13, 23, 0, tzinfo=UTC)  # the shop's Monday begins
    assert send_at(schedule, day, start, "Europe/Berlin", BERLIN) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    assert send_at(schedule, day, start, "America/New_York", BERLIN) == datetime(2026, 12, 14, 14, 0, tzinfo=UTC)
    # Auckland's Monday 09:00 comes before the shop's Monday began: sent when the run starts, never before
    assert send_at(schedule, day, start, "Pacific/Auckland", BERLIN) == start
    assert send_at(schedule, day, start, "Not/AZone", BERLIN) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    assert send_at(schedule, day, start, None, BERLIN) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    assert next_run_day(schedule, day) == date(2026, 12, 21)


def test_monthly_on_the_first_and_summer_time():
    schedule = s(at="09:00", every={"day": 1})
    day = run_day(schedule, datetime(2027, 3, 2, tzinfo=UTC), BERLIN)
    assert day == date(2027, 4, 1)
    assert run_start(schedule, day, BERLIN) == datetime(2027, 4, 1, 7, 0, tzinfo=UTC)  # CEST: UTC+2
    assert next_run_day(schedule, day) == date(2027, 5, 1)


def test_a_one_off_on_a_moment_and_one_in_the_past():
    at = datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    schedule = s(on=at.isoformat())
    assert (
        run_day(schedule, MONDAY, BERLIN) == date(2026, 12, 24)
        and run_start(schedule, date(2026, 12, 24), BERLIN) == at
    )
    assert run_day(schedule, datetime(2026, 12, 25, tzinfo=UTC), BERLIN) is None


def test_best_hour_runs_on_the_day_and_leaves_the_hour_to_dispatch():
    schedule = s(best_hour=True, every={"weekday": "thursday"})
    day = run_day(schedule, MONDAY, BERLIN)
    assert day == date(2026, 12, 10)
    start = run_start(schedule, day, BERLIN)
    assert send_at(schedule, day, start, "Asia/Tokyo", BERLIN) == start
