"""Crontab's day-of-week numbering (0 = Sunday) kept under APScheduler (0 = Monday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger

from aip.errors import ConfigError
from daemon.core.cron import cron_fields


def fire_days(expr: str) -> list[str]:
    """The weekdays (Mon..Sun) on which ``expr`` fires in one week starting on a Sunday."""
    trigger = CronTrigger(**cron_fields(expr), timezone=UTC)
    start = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
    days, when = [], start
    while (when := trigger.get_next_fire_time(None, when)) and when < start + timedelta(days=7):
        days.append(when.strftime("%a"))
        when += timedelta(minutes=1)
    return days


@pytest.mark.parametrize(("expr", "days"), [
    ("15 2 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),  # weekdays, as crontab(5) says
    ("30 4 * * 0", ["Sun"]),
    ("30 4 * * 7", ["Sun"]),
    ("30 4 * * 5-7", ["Sun", "Fri", "Sat"]),
    ("30 4 * * 0,3", ["Sun", "Wed"]),
    ("30 4 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
    ("30 4 * * 1/2", ["Sun", "Mon", "Wed", "Fri"]),  # 1, 3, 5, 7
    ("30 4 * * mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
    ("30 4 * * sat,sun", ["Sun", "Sat"]),
    ("30 4 * * *", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
])
def test_days_of_the_week_are_crontabs(expr: str, days: list[str]) -> None:
    assert fire_days(expr) == days


@pytest.mark.parametrize("expr", ["* * * *", "0 0 * * 8", "0 0 * * 5-2", "0 0 * * x",
                                  "0 0 * * */0"])
def test_bad_fields_are_config_errors(expr: str) -> None:
    with pytest.raises(ConfigError):
        cron_fields(expr)
