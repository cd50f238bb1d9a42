"""Cron expressions as a crontab reads them, for APScheduler's trigger.

Owns: ``cron_fields``: the five fields of a crontab line as APScheduler's ``CronTrigger``
arguments, with the one field whose meaning differs translated.  In crontab(5) the
day-of-week field counts from Sunday (0 or 7 = Sunday, 1 = Monday); APScheduler 3 counts
from Monday (0 = Monday, 6 = Sunday) and ``CronTrigger.from_crontab`` passes the field
through unchanged, so ``1-5`` would run Tuesday to Saturday.  Numbers, ranges, lists and
steps are expanded to the days they name and given to APScheduler by name.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from aip.errors import ConfigError

__all__ = ["cron_fields"]

#: APScheduler's day names, indexed by crontab's day numbers (0 = Sunday).
_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_BY_NAME = {name: n for n, name in enumerate(_NAMES)}


def cron_fields(expr: str, key: str = "cron") -> dict[str, str]:
    """``minute``, ``hour``, ``day``, ``month`` and ``day_of_week`` for ``CronTrigger``.

    Raises:
        ConfigError: not five fields, or a day-of-week field crontab would not accept.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"{key}: expected five cron fields (minute hour day month weekday), "
                          f"got {expr!r}")
    minute, hour, day, month, weekday = fields
    return {"minute": minute, "hour": hour, "day": day, "month": month,
            "day_of_week": _weekdays(weekday, key, expr)}


def _weekdays(field: str, key: str, expr: str) -> str:
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        days |= _part(part.lower(), key, expr)
    return ",".join(_NAMES[n] for n in sorted(days))


def _part(part: str, key: str, expr: str) -> set[int]:
    body, _, step_text = part.partition("/")
    try:
        step = int(step_text) if step_text else 1
    except ValueError:
        step = 0
    if step < 1:
        raise ConfigError(f"{key}: bad step in the day-of-week field of {expr!r}")
    if body == "*":
        first, last = 0, 6
    elif "-" in body:
        start, _, end = body.partition("-")
        first, last = _day(start, key, expr), _day(end, key, expr, upper=True)
    else:
        first = last = _day(body, key, expr)
        if step_text:  # "1/2" in crontab: from Monday to the end of the week, every 2
            last = 7
    if first > last:
        raise ConfigError(f"{key}: a day-of-week range runs backwards in {expr!r}")
    return {n % 7 for n in range(first, last + 1, step)}


def _day(text: str, key: str, expr: str, *, upper: bool = False) -> int:
    if text in _BY_NAME:
        return 7 if upper and text == "sun" else _BY_NAME[text]
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    raise ConfigError(f"{key}: {text!r} is not a day of the week (0-7 or sun-sat) in {expr!r}")
