"""The one structlog configuration; imported only by entry points (``aip.cli``, ``daemon``).

JSON lines when stderr is not a terminal (journald, CI), the console renderer on a terminal.
Libraries only call ``structlog.get_logger(__name__)``; they never configure output.
A redaction processor removes anything that looks like a credential from every event.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

from aip.errors import ConfigError

_SECRET_KEYS = re.compile(r"(password|secret|token|credential|access_key|authorization)",
                          re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@",
                           re.IGNORECASE)
REDACTED = "***"
#: Where log lines go now (``configure`` sets it; ``routed_to`` swaps it for a while).
_output: list[TextIO] = [sys.stderr]


#: The values of ``[log] level`` and ``[log] format`` (the daemon's ``LogConfig`` takes the same).
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("auto", "json", "console")


@dataclass(frozen=True, slots=True)
class FileSettings:
    """What a configuration file's ``[log]`` table sets (None: not set there)."""

    level: str | None = None
    format: str | None = None
    progress_interval_seconds: float | None = None


def file_settings(table: Mapping[str, Any]) -> FileSettings:
    """The ``[log]`` table's level, format and progress interval, for commands that read a
    configuration file for other tables (``packager --config``); the daemon's own commands
    read the whole file through ``daemon.core.config``.  Other keys are left to that reader.

    Raises:
        ConfigError: a value of the wrong type or outside its choices, naming the key.
    """
    def choice(key: str, choices: tuple[str, ...]) -> str | None:
        value = table.get(key)
        if value is not None and value not in choices:
            raise ConfigError(f"log.{key}: expected one of {', '.join(choices)}, "
                              f"got {value!r}")
        return value

    interval = table.get("progress_interval_seconds")
    if interval is not None and (isinstance(interval, bool)
                                 or not isinstance(interval, (int, float)) or interval <= 0):
        raise ConfigError(f"log.progress_interval_seconds: expected a number above 0, "
                          f"got {interval!r}")
    return FileSettings(level=choice("level", LEVELS), format=choice("format", FORMATS),
                        progress_interval_seconds=None if interval is None else float(interval))


def redact_text(text: str) -> str:
    """Replace passwords embedded in URLs (``scheme://user:pw@host``)."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:{REDACTED}@", text)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]
            ) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if _SECRET_KEYS.search(key) and value not in (None, "", False):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger once per process.

    Args:
        level: ``debug``, ``info``, ``warning`` or ``error``.
        fmt: ``json``, ``console`` or ``auto`` (console on a terminal, else JSON).
        stream: where to write (default stderr).
    """
    stream = stream or sys.stderr
    numeric = getattr(logging, level.upper(), logging.INFO)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (structlog.processors.JSONRenderer(sort_keys=True) if use_json
                     else structlog.dev.ConsoleRenderer(colors=stream.isatty()))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=stream, force=True)
    _output[0] = stream
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "apscheduler", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def routed_to(stream: TextIO) -> Iterator[None]:
    """Write log lines (structlog's and the standard library's) to ``stream`` meanwhile, in
    the format ``configure`` chose; a live progress display passes a stream that prints
    above itself."""
    previous = _output[0]

    def use(source: TextIO, target: TextIO) -> None:
        _output[0] = target
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=target))
        for handler in logging.getLogger().handlers:  # only the handler ``configure`` made
            if isinstance(handler, logging.StreamHandler) and handler.stream is source:
                handler.setStream(target)

    use(previous, stream)
    try:
        yield
    finally:
        use(stream, previous)
