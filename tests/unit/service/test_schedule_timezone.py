"""One time zone for the schedule: the cron trigger and the missed-run check read ``cron`` in
the same zone (``[schedule] timezone``, else the server's), across daylight-saving changes.

The server's zone is ``America/New_York`` here (``TZ``, as a server's environment or
``/etc/localtime`` would say), where clocks jump from 02:00 to 03:00 on 8 March 2026 and fall
back from 02:00 to 01:00 on 1 November 2026.  Before the fix the check read the expression in
UTC while the trigger read it in local time: a restart in the evening "found" a missed 02:00
run (02:00 UTC is 21:00 or 22:00 in New York) and ran a spurious catch-up cycle.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import tzlocal

from daemon.core.config import ScheduleConfig
from daemon.service.scheduler import build_trigger, missed_run, schedule_zone

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    tzlocal.reload_localzone()
    yield
    monkeypatch.undo()
    time.tzset()
    tzlocal.reload_localzone()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


def next_fire(schedule: ScheduleConfig, after: datetime) -> datetime:
    fire = build_trigger(schedule).get_next_fire_time(None, after)
    assert fire is not None
    return fire  # type: ignore[no-any-return]


def test_the_servers_zone_is_the_default() -> None:
    schedule = ScheduleConfig(cron="0 2 * * *")
    assert str(schedule_zone(schedule)) == "America/New_York"
    assert next_fire(schedule, local(2026, 3, 2, 12, 0)) == local(2026, 3, 3, 2, 0)


@pytest.mark.parametrize(("last", "now", "missed"), [
    # The evening before the spring change: 02:00 UTC has passed, 02:00 local has not.
    (local(2026, 3, 7, 2, 0, 5), local(2026, 3, 7, 22, 0), False),
    # Down over the night of the change (02:00 does not exist that night) and later.
    (local(2026, 3, 7, 2, 0, 5), local(2026, 3, 9, 8, 0), True),
    # The evening after the autumn change (01:00-02:00 happened twice that night).
    (local(2026, 10, 31, 2, 0, 5), local(2026, 10, 31, 21, 30), False),
    (local(2026, 10, 31, 2, 0, 5), local(2026, 11, 1, 9, 0), True),
])
def test_missed_run_reads_cron_as_the_trigger_does(last: datetime, now: datetime,
                                                   missed: bool) -> None:
    schedule = ScheduleConfig(cron="0 2 * * *")
    # The daemon's clock is UTC: the check must not read the expression in UTC for that.
    # (``last`` is a cycle's start, a moment after the fire time that started it.)
    last_utc, now_utc = last.astimezone(UTC), now.astimezone(UTC)
    assert missed_run(schedule, last_utc, now_utc) is missed
    assert (next_fire(schedule, last_utc) <= now_utc) is missed


def test_a_configured_zone_wins_over_the_servers() -> None:
    schedule = ScheduleConfig(cron="0 2 * * *", timezone="Europe/Paris")
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    fire = next_fire(schedule, datetime(2026, 3, 28, 12, 0, tzinfo=paris))
    # Paris moves its clocks on 29 March 2026: the 02:00 run that night is at 03:00 CEST.
    assert fire.astimezone(paris).date().isoformat() in ("2026-03-29", "2026-03-30")
    assert next_fire(schedule, datetime(2026, 4, 1, 12, 0, tzinfo=paris)) == datetime(
        2026, 4, 2, 2, 0, tzinfo=paris)
    # 20:30 in New York is 02:30 in Paris: that night's 02:00 Paris run is due.
    last = datetime(2026, 4, 1, 2, 0, 5, tzinfo=paris).astimezone(UTC)
    assert missed_run(schedule, last, local(2026, 4, 1, 20, 30).astimezone(UTC))
    assert not missed_run(schedule, last, local(2026, 4, 1, 19, 30).astimezone(UTC))
