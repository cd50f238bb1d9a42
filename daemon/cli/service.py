"""``aipsync daemon`` (the service, for systemd ``Type=notify``) and ``aipsync status``."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from aip import constants as C
from daemon.cli.common import CONFIG, JSON, add_command, load, print_json

__all__ = ["add_service_commands"]


def cmd_daemon(args: argparse.Namespace, out: TextIO) -> int:
    # Imported when the command runs: the service pulls in APScheduler, watchdog, boto3 and
    # prometheus-client, which the one-shot commands do not need.
    from daemon.service.lifecycle import run_service

    return run_service(args.config, environ=os.environ, log_level=args.log_level,
                       log_format=args.log_format)


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.service.status import collect_status

    status = collect_status(load(args))
    if args.json:
        print_json(status.as_json(), out)
    else:
        print(status.render(), file=out)
    return C.EXIT_OK


def add_service_commands(sub: Any) -> None:
    """``daemon`` and ``status``."""
    add_command(sub, "daemon", cmd_daemon,
                "run the backup service in the foreground (for systemd Type=notify)")
    add_command(sub, "status", cmd_status,
                "last run, last success, recovery point, pending and failed uploads",
                (CONFIG, JSON))
