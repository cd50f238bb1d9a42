"""What every daemon command shares: its parent parsers, the configuration, stop signals, JSON.

Owns: ``CONFIG`` and ``JSON`` (argparse parent parsers for ``--config FILE`` and ``--json``,
so every command spells them the same), ``add_command`` (one subcommand with its handler),
``load`` (the configuration a command names, whose ``[log]`` table then configures the
command's logging unless ``--log-level``/``--log-format`` say otherwise), ``progress`` (the
progress display of a long command, or its ``progress`` log lines), ``stop_on_signals``
(SIGTERM/SIGINT set a stop event instead of killing a one-shot run), ``stopped_exit_code``
(128 + the signal, borg's convention) and ``print_json``.

Must not: run anything itself.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aip import cli as aip_cli
from aip import constants as C
from aip import logconfig
from daemon.core import jsondoc
from daemon.core.config import Config, load_config

__all__ = ["CONFIG", "JSON", "add_command", "load", "print_json", "progress",
           "stop_on_signals", "stopped_exit_code"]


def _parent(*arguments: tuple[Sequence[str], dict[str, Any]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    for flags, kwargs in arguments:
        parser.add_argument(*flags, **kwargs)
    return parser


#: ``--config FILE``: the TOML configuration every daemon command reads.
CONFIG = _parent((("--config",), {"required": True, "type": Path, "metavar": "FILE",
                                  "help": "the TOML configuration (see config.example.toml)"}))
#: ``--json``: print the result as JSON (the result's ``as_json()``).
JSON = _parent((("--json",), {"action": "store_true", "help": "print the result as JSON"}))


def add_command(sub: Any, name: str, handler: aip_cli.Handler, help_: str,
                parents: Sequence[argparse.ArgumentParser] = (CONFIG,)
                ) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` (with ``parents``' flags) that runs ``handler``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_,
                                                     parents=list(parents))
    parser.set_defaults(handler=handler)
    return parser


def load(args: argparse.Namespace) -> Config:
    """The configuration ``--config`` names; its ``[log]`` table configures logging from
    here on (``--log-level`` and ``--log-format`` win over it)."""
    config = load_config(args.config)
    logconfig.configure(args.log_level or config.log.level,
                        args.log_format or config.log.format,
                        getattr(args, "err_stream", sys.stderr))
    return config


def progress(args: argparse.Namespace, config: Config) -> AbstractContextManager[Any]:
    """The progress of the command's work: a display on a terminal (not with
    ``--no-progress``), else ``progress`` log lines every ``[log] progress_interval_seconds``.
    Yields the display (``paused`` wraps a question), or None."""
    return aip_cli.show_progress(args, config.log.progress_interval_seconds)


@contextmanager
def stop_on_signals() -> Iterator[tuple[threading.Event, list[int]]]:
    """SIGTERM/SIGINT set an event instead of killing the run; yields (event, signals got)."""
    stop = threading.Event()
    got: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield stop, got
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def stopped_exit_code(got: Sequence[int]) -> int:
    """128 + the first signal that stopped a one-shot run."""
    return C.EXIT_SIGNAL_BASE + got[0]


def print_json(doc: Any, out: TextIO) -> None:
    """``doc`` as indented, key-sorted JSON on ``out``, written as it is encoded, its lists
    an entry at a time (a whole-site restore's document has a row per object, a full
    backup's a name per AIP uploaded): ``daemon.core.jsondoc``."""
    jsondoc.write(doc, out)
