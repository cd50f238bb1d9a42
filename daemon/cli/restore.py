"""``aipsync restore``: objects back from a snapshot, verified, then ingested.

``--mode replace`` asks for confirmation on a terminal (``--yes`` answers it, and is required
without one; the progress display pauses while it asks).  A stop signal before the ingest
leaves the repository unchanged and exits with 128 + the signal number.  The ``[notify]``
hooks are told.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from aip.packager.modes import IngestMode
from daemon.cli.common import (
    CONFIG,
    JSON,
    add_command,
    load,
    print_json,
    progress,
    stop_on_signals,
    stopped_exit_code,
)
from daemon.core.errors import StopRequestedError

__all__ = ["add_restore_command"]


def _ask(question: str) -> bool:
    """Ask on the terminal (stdin is a TTY); EOF or anything but y/yes is a no."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_restore(args: argparse.Namespace, out: TextIO) -> int:
    # Imported when the command runs: a restore pulls in boto3 and the packager (SQLAlchemy,
    # lxml), which the other commands and ``--help`` do not need.
    from daemon.restore.plan import parse_at
    from daemon.restore.run import RestoreRequest, run_restore
    from daemon.service.hooks import Hooks

    request = RestoreRequest(
        handle=args.handle, site=args.site, snapshot_id=args.snapshot,
        at=parse_at(args.at) if args.at else None, mode=args.mode, parent=args.parent,
        dry_run=args.dry_run, yes=args.yes)
    config = load(args)
    confirm = _ask if sys.stdin is not None and sys.stdin.isatty() else None
    with Hooks(config.notify).watch("restore") as hook, stop_on_signals() as (stop, got):
        try:
            with progress(args, config) as display:
                if confirm is not None and display is not None:
                    confirm = display.paused(confirm)
                result = run_restore(config, request, confirm=confirm, stop=stop)
            hook.finish(result)
        except StopRequestedError as exc:
            if got:
                hook.failed(exc)
                print("restore stopped before the ingest: nothing was changed; downloaded "
                      "AIPs are kept and the next run resumes them", file=out)
                return stopped_exit_code(got)
            raise
    if args.json:
        print_json(result.as_json(), out)
        return result.exit_code
    for line in _lines(result):
        print(line, file=out)
    return result.exit_code


def _lines(result: Any) -> Iterator[str]:
    """The report, a line at a time as it is printed (a whole-site restore: one per object)."""
    snap = result.snapshot
    yield (f"restore of {result.root.handle} ({result.root.type.lower()}) from snapshot "
           f"{snap.id} ({snap.created.isoformat(timespec='seconds')}), mode {result.mode}, "
           f"into {result.source}")
    yield (f"  {result.packages} AIP(s): {result.stats.downloaded} downloaded "
           f"({result.stats.bytes} bytes), {result.stats.reused} reused; every SHA-256 "
           "matched the snapshot inventory")
    counts = ", ".join(f"{n} {a}" for a, n in result.summary.items())
    if result.dry_run:
        for p in result.planned:
            state = {True: "exists", False: "missing", None: "unknown"}[p.exists]
            yield f"  would {p.action:<8} {p.handle:<22} {state:<8} {p.detail}"
        yield (f"dry run: nothing was changed ({counts}); the verified AIPs stay in "
               f"{result.work_dir} for the real run")
        if any(p.action == "fail" for p in result.planned):
            yield "dry run: the restore would fail as asked; see the lines marked 'would fail'"
        return
    for o in result.objects:
        yield f"  {o.line()}"
    for warning in result.warnings:
        yield f"  warning    {warning}"
    yield f"restore: {counts or 'nothing to do'}"


def add_restore_command(sub: Any) -> None:
    """``restore``."""
    p = add_command(sub, "restore", cmd_restore,
                    "restore one object (and everything below it) or the whole site from a "
                    "snapshot: download, verify every SHA-256, then ingest", (CONFIG, JSON))
    which = p.add_mutually_exclusive_group()
    which.add_argument("--snapshot", metavar="ID", help="the snapshot (default: the newest)")
    which.add_argument("--at", metavar="ISO-TIME",
                       help="the newest snapshot not newer than this time (UTC unless an "
                            "offset is given), e.g. 2026-03-01T02:15:00Z")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--handle", metavar="H", help="the object to restore, e.g. 123456789/42")
    what.add_argument("--site", action="store_true",
                      help="the whole site (DSpace's full restore: -r -a -f -i <prefix>/0)")
    p.add_argument("--mode", choices=list(IngestMode), type=IngestMode,
                   help="; ".join(f"{m.value}: {m.rule}" for m in IngestMode)
                   + f" (default: restore.mode; {IngestMode.REPLACE} with --site)")
    p.add_argument("--parent", metavar="H", help="the parent to restore (or submit) under")
    p.add_argument("--dry-run", action="store_true",
                   help="download and verify, say what would happen; change nothing")
    p.add_argument("--yes", action="store_true",
                   help="confirm --mode replace without asking (required with no terminal)")
