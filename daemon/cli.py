"""The ``aipsync`` entry point: aip's command groups plus the daemon's commands.

Owns: the ``daemon``, ``backup``, ``mirror``, ``status`` and ``prune`` commands (each takes
``--config FILE``), mounted next to aip's ``repo`` and ``packager`` through
``aip.cli.run(extra=...)``, which also maps errors to one ``aipsync: error:`` line and the
exit code of ``aip.constants``.  ``daemon`` hands over to ``daemon.service`` (which logs its
own errors, style E5).

One-shot commands (``backup``, ``mirror``) turn SIGTERM and SIGINT into a stop request:
the uploads in flight finish, no new one starts, no snapshot is written, and the exit code
is 128 + the signal number (borg's convention; only the service exits 0 on SIGTERM).

Must not: hold logic of its own beyond parsing and printing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aip import cli as aip_cli
from aip import constants as C
from aip.errors import UsageError
from daemon.config import Config, load_config

__all__ = ["add_daemon_commands", "main"]


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


@contextmanager
def _stop_on_signals() -> Iterator[tuple[threading.Event, list[int]]]:
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


def _print_json(doc: Any, out: TextIO) -> None:
    print(json.dumps(doc, indent=1, sort_keys=True, default=str), file=out)


# --- daemon -----------------------------------------------------------------------------------
def cmd_daemon(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.service import run_service

    return run_service(args.config, environ=os.environ)


# --- backup -----------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.backup import run_cycle
    from daemon.targets import open_target

    config = _config(args)
    target = open_target(config.target)
    try:
        with _stop_on_signals() as (stop, got):
            result = run_cycle(config, stop=stop, target=target, force_full=args.full)
    finally:
        target.close()
    staged, mirrored = result.staging, result.mirror
    if args.json:
        _print_json({
            "run_id": result.run_id, "kind": result.plan.kind, "reason": result.plan.reason,
            "status": result.status,
            "updated_after": (result.plan.updated_after.isoformat()
                              if result.plan.updated_after else None),
            "exported": len(staged.staged) if staged else 0,
            "unchanged": len(staged.unchanged) if staged else 0,
            "removed_from_staging": list(staged.removed) if staged else [],
            "uploaded": list(mirrored.uploaded) if mirrored else [],
            "skipped": len(mirrored.skipped) if mirrored else 0,
            "bytes_uploaded": mirrored.bytes_uploaded if mirrored else 0,
            "snapshot_id": result.snapshot_id,
            "snapshot_written": bool(mirrored and mirrored.snapshot_written),
            "requests": sum(target.requests.values()),
            "target": config.target.display_url,
        }, out)
    else:
        print(f"backup: {result.plan.kind} export ({result.plan.reason})", file=out)
        if staged is not None:
            print(f"  staging: {len(staged.staged)} AIPs exported, {len(staged.unchanged)} "
                  f"unchanged since updatedAfter, {len(staged.removed)} removed "
                  f"(objects deleted)", file=out)
        if mirrored is not None:
            print(f"  mirror to {config.target.display_url}: {len(mirrored.uploaded)} "
                  f"uploaded ({mirrored.bytes_uploaded} bytes), {len(mirrored.skipped)} "
                  f"unchanged; snapshot "
                  f"{'written' if mirrored.snapshot_written else 'unchanged'}", file=out)
        if result.status != "ok":
            print("  stopped before the end: the previous snapshot stays the newest", file=out)
        print(f"snapshot {result.snapshot_id or '(none)'}", file=out)
    if result.status != "ok" and got:
        return C.EXIT_SIGNAL_BASE + got[0]
    return C.EXIT_OK


# --- mirror -----------------------------------------------------------------------------------
def cmd_mirror(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.mirror import run_mirror
    from daemon.targets import open_target

    config = _config(args)
    target = open_target(config.target)
    try:
        with _stop_on_signals() as (stop, got):
            result = run_mirror(config, dry_run=args.dry_run, stop=stop, target=target)
    finally:
        target.close()
    requests = sum(target.requests.values())
    if args.json:
        _print_json({
            "dry_run": result.dry_run, "stopped": result.stopped,
            "to_upload": [f.name for f in result.plan.uploads] if result.dry_run else None,
            "uploaded": len(result.uploaded), "skipped": len(result.skipped),
            "bytes_uploaded": result.bytes_uploaded, "snapshot_id": result.snapshot_id,
            "snapshot": result.snapshot_written, "requests": requests,
            "by_op": dict(target.requests), "target": config.target.display_url,
        }, out)
    elif result.dry_run:
        for f in result.plan.uploads:
            print(f"would upload {f.name} ({f.size} bytes)", file=out)
        print(f"dry run: {len(result.plan.uploads)} to upload "
              f"({result.plan.bytes_to_upload} bytes), {len(result.plan.skips)} unchanged",
              file=out)
    else:
        print(f"mirror to {config.target.display_url}: {len(result.uploaded)} uploaded "
              f"({result.bytes_uploaded} bytes), {len(result.skipped)} unchanged, "
              f"{requests} requests; snapshot "
              f"{'written' if result.snapshot_written else 'unchanged'}", file=out)
        if result.stopped:
            print("stopped before the end: the previous snapshot stays the newest", file=out)
        print(f"snapshot {result.snapshot_id or '(none)'}", file=out)
    if result.stopped and got:
        return C.EXIT_SIGNAL_BASE + got[0]
    return C.EXIT_OK


# --- status -----------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.status import collect_status, render_status

    doc = collect_status(_config(args))
    if args.json:
        _print_json(doc, out)
    else:
        print(render_status(doc), file=out)
    return C.EXIT_OK


# --- prune ------------------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.snapshots import prune

    for name in ("keep_snapshots", "keep_days"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "keep_snapshots" else 0):
            raise UsageError(f"--{name.replace('_', '-')} must be at least "
                             f"{1 if name == 'keep_snapshots' else 0}")
    config = _config(args)
    result = prune(config, keep_snapshots=args.keep_snapshots, keep_days=args.keep_days,
                   dry_run=args.dry_run)
    if args.json:
        _print_json({"dry_run": result.dry_run, "kept_snapshots": list(result.kept_snapshots),
                     "deleted_snapshots": list(result.deleted_snapshots),
                     "deleted_objects": [{"key": k, "version": v}
                                         for k, v in result.deleted_objects]}, out)
        return C.EXIT_OK
    verb = "would delete" if result.dry_run else "deleted"
    for key, version in result.deleted_objects:
        print(f"{verb} {key}{f' (version {version})' if version else ''}", file=out)
    print(f"prune: kept {len(result.kept_snapshots)} snapshot(s), {verb} "
          f"{len(result.deleted_snapshots)} snapshot(s) and {len(result.deleted_objects)} "
          f"object(s)", file=out)
    return C.EXIT_OK


# --- wiring -----------------------------------------------------------------------------------
def add_daemon_commands(sub: Any) -> None:
    """Add ``daemon``, ``backup``, ``mirror``, ``status`` and ``prune`` to ``aipsync``."""

    def command(name: str, handler: aip_cli.Handler, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--config", required=True, type=Path, metavar="FILE",
                       help="the TOML configuration (see config.example.toml)")
        p.set_defaults(handler=handler)
        return p

    command("daemon", cmd_daemon,
            "run the backup service in the foreground (for systemd Type=notify)")
    p = command("backup", cmd_backup, "run one backup cycle (export, then mirror) and exit")
    p.add_argument("--full", action="store_true",
                   help="a full export, whatever the schedule says")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = command("mirror", cmd_mirror, "mirror what staging holds now to the target, once")
    p.add_argument("--dry-run", action="store_true", help="plan only; send nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = command("status", cmd_status,
                "last run, last success, recovery point, pending and failed uploads")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p = command("prune", cmd_prune,
                "delete snapshots and object versions outside the retention policy")
    p.add_argument("--keep-snapshots", type=int, metavar="N",
                   help="keep the N newest snapshots (default: target.keep_snapshots)")
    p.add_argument("--keep-days", type=int, metavar="D",
                   help="keep snapshots younger than D days (default: target.keep_days)")
    p.add_argument("--dry-run", action="store_true", help="report only; delete nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    return aip_cli.run(argv, extra=add_daemon_commands)


if __name__ == "__main__":
    sys.exit(main())
