"""``aipsync snapshots`` (the complete snapshots, newest first) and ``aipsync prune``."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any, TextIO

from aip import constants as C
from aip.errors import UsageError
from daemon.cli.common import CONFIG, JSON, add_command, load, print_json

__all__ = ["add_snapshot_commands"]


def cmd_snapshots(args: argparse.Namespace, out: TextIO) -> int:
    # Imported when the command runs (here and below): the target may pull in boto3.
    from daemon.sync.snapshots import list_snapshots
    from daemon.targets import open_target

    config = load(args)
    target = open_target(config.target)
    try:
        snaps = list_snapshots(target)
    finally:
        target.close()
    if args.json:
        print_json({"target": config.target.display_url,
                    "snapshots": [s.as_json() for s in snaps]}, out)
        return C.EXIT_OK
    if not snaps:
        print(f"no complete snapshot in {config.target.display_url}", file=out)
        return C.EXIT_OK
    print(f"{'snapshot':<24} {'created (UTC)':<20} {'objects':>8} {'bytes':>14}", file=out)
    for s in snaps:
        created = s.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{s.id:<24} {created:<20} {s.objects:>8} {s.bytes:>14}", file=out)
    print(f"{len(snaps)} complete snapshot(s) in {config.target.display_url}, newest first",
          file=out)
    return C.EXIT_OK


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.sync.prune import prune

    for name in ("keep_snapshots", "keep_days"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "keep_snapshots" else 0):
            raise UsageError(f"--{name.replace('_', '-')} must be at least "
                             f"{1 if name == 'keep_snapshots' else 0}")
    config = load(args)
    result = prune(config, keep_snapshots=args.keep_snapshots, keep_days=args.keep_days,
                   dry_run=args.dry_run)
    if args.json:
        print_json(result.as_json(), out)
        return C.EXIT_OK
    verb = "would delete" if result.dry_run else "deleted"
    for key, version in result.deleted_objects:
        print(f"{verb} {key}{f' (version {version})' if version else ''}", file=out)
    for key, version, why in result.kept_locked:
        print(f"kept: {key}{f' (version {version})' if version else ''}: {why}", file=out)
    locked = (f"; {len(result.kept_locked)} version(s) kept under Object Lock"
              if result.kept_locked else "")
    print(f"prune: kept {len(result.kept_snapshots)} snapshot(s), {verb} "
          f"{len(result.deleted_snapshots)} snapshot(s) and {len(result.deleted_objects)} "
          f"object(s){locked}", file=out)
    return C.EXIT_OK


def add_snapshot_commands(sub: Any) -> None:
    """``snapshots`` and ``prune``."""
    add_command(sub, "snapshots", cmd_snapshots,
                "the complete snapshots in the target, newest first", (CONFIG, JSON))
    p = add_command(sub, "prune", cmd_prune,
                    "delete snapshots and object versions outside the retention policy",
                    (CONFIG, JSON))
    p.add_argument("--keep-snapshots", type=int, metavar="N",
                   help="keep the N newest snapshots (default: target.keep_snapshots)")
    p.add_argument("--keep-days", type=int, metavar="D",
                   help="keep snapshots younger than D days (default: target.keep_days)")
    p.add_argument("--dry-run", action="store_true", help="report only; delete nothing")
