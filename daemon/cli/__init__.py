"""The ``aipsync`` entry point: aip's command groups plus the daemon's commands.

Owns: ``main`` and ``add_daemon_commands``, which mounts each daemon command next to aip's
``repo`` and ``packager`` through ``aip.cli.run(extra=...)`` (which also maps errors to one
``aipsync: error:`` line and the exit code of ``aip.constants``).  Each command's parser lives
beside its handler: ``service`` (``daemon``, ``status``), ``backup`` (``backup``, ``mirror``),
``snapshots`` (``snapshots``, ``prune``), ``restore``, ``verify``; the flags they share
(``--config``, ``--json``) come from ``daemon.cli.common``.  ``daemon`` hands over to
``daemon.service.lifecycle``, which logs its own errors.

Must not: hold logic of its own beyond parsing and printing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from aip import cli as aip_cli
from aip import constants as C
from aip import heap
from daemon.cli.backup import add_backup_commands
from daemon.cli.restore import add_restore_command
from daemon.cli.service import add_service_commands
from daemon.cli.snapshots import add_snapshot_commands
from daemon.cli.verify import add_verify_command
from daemon.core import faultpoints

__all__ = ["add_daemon_commands", "main"]


def add_daemon_commands(sub: Any) -> None:
    """Add the daemon's commands to ``aipsync``."""
    add_service_commands(sub)
    add_backup_commands(sub)
    add_snapshot_commands(sub)
    add_restore_command(sub)
    add_verify_command(sub)


def main(argv: Sequence[str] | None = None) -> int:
    # The crash tests' hook (daemon/core/faultpoints.py): read here, at the entry point, only.
    faultpoints.arm(os.environ.get(f"{C.ENV_PREFIX}TEST_CRASH_AT"))
    # The command's process: what the allocator holds free goes back to the system as it
    # runs (aip.heap), from the start-up's imports on.
    heap.keep_trimmed()
    return aip_cli.run(argv, extra=add_daemon_commands)


if __name__ == "__main__":
    sys.exit(main())
