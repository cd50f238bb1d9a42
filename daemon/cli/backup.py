"""``aipsync backup`` (one cycle: export, then mirror) and ``aipsync mirror`` (upload, once).

Both turn SIGTERM/SIGINT into a stop request: the transfers in flight finish, no new one
starts, no snapshot is written, and the exit code is 128 + the signal number.  Both show
their progress (``daemon.cli.common.progress``); ``backup`` tells the ``[notify]`` hooks.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from aip import constants as C
from daemon.cli.common import (
    CONFIG,
    JSON,
    add_command,
    load,
    print_json,
    progress,
    stop_on_signals,
)
from daemon.cli.common import stopped_exit_code as _stopped

__all__ = ["add_backup_commands"]


def cmd_backup(args: argparse.Namespace, out: TextIO) -> int:
    # Imported when the command runs (here and below): the cycle pulls in boto3 and
    # SQLAlchemy, which the other commands and ``--help`` do not need (about a second).
    from daemon.service.hooks import Hooks
    from daemon.sync.backup import run_cycle
    from daemon.targets import open_target

    config = load(args)
    with Hooks(config.notify).watch("backup") as hook:
        target = open_target(config.target)
        try:
            with stop_on_signals() as (stop, got), progress(args, config):
                result = run_cycle(config, stop=stop, target=target, force_full=args.full)
        finally:
            target.close()
        hook.finish(result)
    staged, mirrored = result.staging, result.mirror
    if args.json:
        print_json(result.as_json() | {"requests": sum(target.requests.values()),
                                       "target": config.target.display_url}, out)
    else:
        print(f"backup: {result.plan.kind} export ({result.plan.reason})", file=out)
        if staged is not None:
            print(f"  staging: {len(staged.staged)} AIPs exported, {staged.unchanged} "
                  f"unchanged since updatedAfter, {len(staged.removed)} removed "
                  f"(objects deleted)", file=out)
        if mirrored is not None:
            print(f"  mirror to {config.target.display_url}: {len(mirrored.uploaded)} "
                  f"uploaded ({mirrored.bytes_uploaded} bytes), {mirrored.skipped} "
                  f"unchanged; snapshot "
                  f"{'written' if mirrored.snapshot_written else 'unchanged'}", file=out)
        if result.status != "ok":
            print("  stopped before the end: the previous snapshot stays the newest", file=out)
        print(f"snapshot {result.snapshot_id or '(none)'}", file=out)
    if result.status != "ok" and got:
        return _stopped(got)
    return C.EXIT_OK


def cmd_mirror(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.sync.mirror import run_mirror
    from daemon.targets import open_target

    config = load(args)
    target = open_target(config.target)
    try:
        with stop_on_signals() as (stop, got), progress(args, config):
            result = run_mirror(config, dry_run=args.dry_run, stop=stop, target=target)
    finally:
        target.close()
    requests = sum(target.requests.values())
    if args.json:
        print_json(result.as_json() | {"requests": requests, "by_op": dict(target.requests),
                                       "target": config.target.display_url}, out)
    elif result.dry_run:
        for name, size in result.to_upload:
            print(f"would upload {name} ({size} bytes)", file=out)
        more = result.plan.uploads - len(result.to_upload)
        if more > 0:
            print(f"... and {more} more", file=out)
        print(f"dry run: {result.plan.uploads} to upload "
              f"({result.plan.bytes_to_upload} bytes), {result.plan.skips} unchanged",
              file=out)
    else:
        print(f"mirror to {config.target.display_url}: {len(result.uploaded)} uploaded "
              f"({result.bytes_uploaded} bytes), {result.skipped} unchanged, "
              f"{requests} requests; snapshot "
              f"{'written' if result.snapshot_written else 'unchanged'}", file=out)
        if result.stopped:
            print("stopped before the end: the previous snapshot stays the newest", file=out)
        print(f"snapshot {result.snapshot_id or '(none)'}", file=out)
    if result.stopped and got:
        return _stopped(got)
    return C.EXIT_OK


def add_backup_commands(sub: Any) -> None:
    """``backup`` and ``mirror``."""
    p = add_command(sub, "backup", cmd_backup,
                    "run one backup cycle (export, then mirror) and exit", (CONFIG, JSON))
    p.add_argument("--full", action="store_true",
                   help="a full export, whatever the schedule says")
    p = add_command(sub, "mirror", cmd_mirror,
                    "mirror what staging holds now to the target, once", (CONFIG, JSON))
    p.add_argument("--dry-run", action="store_true", help="plan only; send nothing")
