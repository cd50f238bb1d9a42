"""Seeded items' last-modified times: deterministic, distinct for neighbours, in the past."""

from __future__ import annotations

import datetime as dt

from aip.repository.seed import BASE_TIME, item_time


def test_seeded_items_are_modified_in_the_past_however_many() -> None:
    # A time in the future would make every incremental export (updatedAfter) write the
    # item again: bench/scale.py's 100,000 items once reached 2035.
    now = dt.datetime(2026, 11, 26)
    assert all(BASE_TIME <= item_time(n) < now for n in (0, 1, 19_999, 20_000, 99_999, 10**6))


def test_neighbouring_items_have_distinct_times() -> None:
    times = [item_time(n) for n in range(5_000)]
    assert len(set(times)) == len(times)
    assert item_time(1) - item_time(0) == dt.timedelta(hours=1, seconds=1)
