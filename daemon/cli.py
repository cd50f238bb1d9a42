"""The ``aipsync`` entry point: aip's command groups plus the daemon's commands.

Owns: the ``daemon``, ``backup``, ``mirror``, ``status``, ``prune``, ``snapshots``,
``restore`` and ``verify`` commands (each takes ``--config FILE``), mounted next to aip's
``repo`` and ``packager`` through ``aip.cli.run(extra=...)``, which also maps errors to one
``aipsync: error:`` line and the exit code of ``aip.constants``.  ``daemon`` hands over to
``daemon.service.lifecycle`` (which logs its own errors, style E5).

One-shot commands (``backup``, ``mirror``, ``restore``, ``verify``) turn SIGTERM and SIGINT
into a stop request: the transfers in flight finish, no new one starts (no snapshot is
written, no ingest begins), and the exit code is 128 + the signal number (borg's convention;
only the service exits 0 on SIGTERM).  ``restore --mode replace`` asks for confirmation on a
terminal (``--yes`` answers it, and is required without one).

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
from datetime import UTC
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aip import cli as aip_cli
from aip import constants as C
from aip.errors import UsageError
from aip.packager.modes import IngestMode
from daemon.core import faultpoints
from daemon.core.config import Config, load_config
from daemon.core.errors import StopRequestedError

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
    from daemon.service.lifecycle import run_service

    return run_service(args.config, environ=os.environ)


# --- backup -----------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.sync.backup import run_cycle
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
    from daemon.sync.mirror import run_mirror
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
    from daemon.service.status import collect_status, render_status

    doc = collect_status(_config(args))
    if args.json:
        _print_json(doc, out)
    else:
        print(render_status(doc), file=out)
    return C.EXIT_OK


# --- prune ------------------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.sync.prune import prune

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


# --- snapshots --------------------------------------------------------------------------------
def cmd_snapshots(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.sync.snapshots import list_snapshots
    from daemon.targets import open_target

    config = _config(args)
    target = open_target(config.target)
    try:
        snaps = list_snapshots(target)
    finally:
        target.close()
    if args.json:
        _print_json({"target": config.target.display_url,
                     "snapshots": [{"id": s.id, "created": s.created.isoformat(),
                                    "objects": s.objects, "bytes": s.bytes} for s in snaps]},
                    out)
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


# --- restore ----------------------------------------------------------------------------------
def _ask(question: str) -> bool:
    """Ask on the terminal (stdin is a TTY); EOF or anything but y/yes is a no."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_restore(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.restore.plan import parse_at
    from daemon.restore.run import RestoreRequest, run_restore

    request = RestoreRequest(
        handle=args.handle, site=args.site, snapshot_id=args.snapshot,
        at=parse_at(args.at) if args.at else None, mode=args.mode, parent=args.parent,
        dry_run=args.dry_run, yes=args.yes)
    config = _config(args)
    confirm = _ask if sys.stdin is not None and sys.stdin.isatty() else None
    with _stop_on_signals() as (stop, got):
        try:
            result = run_restore(config, request, confirm=confirm, stop=stop)
        except StopRequestedError:
            if got:
                print("restore stopped before the ingest: nothing was changed; downloaded "
                      "AIPs are kept and the next run resumes them", file=out)
                return C.EXIT_SIGNAL_BASE + got[0]
            raise
    if args.json:
        _print_json(_restore_doc(result), out)
        return result.exit_code
    for line in _restore_lines(result):
        print(line, file=out)
    return result.exit_code


def _restore_doc(result: Any) -> dict[str, Any]:
    rows = ([{"handle": p.handle, "type": p.type, "package": p.key, "exists": p.exists,
              "action": p.action, "detail": p.detail} for p in result.planned]
            if result.dry_run else
            [{"handle": o.handle, "action": o.action, "detail": o.detail,
              "package": o.package} for o in result.objects])
    return {
        "snapshot": {"id": result.snapshot.id, "created": result.snapshot.created.isoformat(),
                     "objects": result.snapshot.objects, "bytes": result.snapshot.bytes},
        "handle": result.root.handle, "type": result.root.type, "package": result.root.key,
        "mode": result.mode, "dry_run": result.dry_run, "source": result.source,
        "packages": len(result.tree), "downloaded": result.stats.downloaded,
        "reused": result.stats.reused, "bytes_downloaded": result.stats.bytes,
        "work_dir": str(result.work_dir), "lock_wait_seconds": round(result.lock_wait_seconds,
                                                                      3),
        "handles": rows, "summary": result.summary, "warnings": list(result.warnings),
        "exit_code": result.exit_code,
    }


def _restore_lines(result: Any) -> list[str]:
    snap = result.snapshot
    lines = [f"restore of {result.root.handle} ({result.root.type.lower()}) from snapshot "
             f"{snap.id} ({snap.created.isoformat(timespec='seconds')}), mode {result.mode}, "
             f"into {result.source}",
             f"  {len(result.tree)} AIP(s): {result.stats.downloaded} downloaded "
             f"({result.stats.bytes} bytes), {result.stats.reused} reused; every SHA-256 "
             "matched the snapshot inventory"]
    if result.dry_run:
        for p in result.planned:
            state = {True: "exists", False: "missing", None: "unknown"}[p.exists]
            lines.append(f"  would {p.action:<8} {p.handle:<22} {state:<8} {p.detail}")
        counts = ", ".join(f"{n} {a}" for a, n in result.summary.items())
        lines.append(f"dry run: nothing was changed ({counts}); the verified AIPs stay in "
                     f"{result.work_dir} for the real run")
        if any(p.action == "fail" for p in result.planned):
            lines.append("dry run: the restore would fail as asked; see the lines marked "
                         "'would fail'")
        return lines
    for o in result.objects:
        detail = f" ({o.detail})" if o.detail else ""
        package = f" [{o.package}]" if o.package else ""
        lines.append(f"  {o.action:<10} {o.handle}{detail}{package}")
    for warning in result.warnings:
        lines.append(f"  warning    {warning}")
    counts = ", ".join(f"{n} {a}" for a, n in result.summary.items())
    lines.append(f"restore: {counts or 'nothing to do'}")
    return lines


# --- verify -----------------------------------------------------------------------------------
def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from daemon.audit import run_audit

    if args.sample is not None and not 0 < args.sample <= 100:
        raise UsageError("--sample must be a percentage above 0 and at most 100")
    config = _config(args)
    with _stop_on_signals() as (stop, got):
        result = run_audit(config, snapshot_id=args.snapshot, deep=args.deep,
                           sample_percent=args.sample, seed=args.seed, stop=stop)
    counts = result.counts
    if args.json:
        _print_json({
            "audit_id": result.audit_id, "snapshot": result.snapshot.id,
            "status": result.status, "deep": result.deep,
            "sample_percent": result.sample_percent, "seed": result.seed,
            "checked": counts.checked, "downloaded": counts.downloaded,
            "bytes_read": counts.bytes_read, "missing": counts.missing,
            "corrupted": counts.corrupted, "unverifiable": counts.unverifiable,
            "not_backed_up": counts.not_backed_up, "extent_checked": result.extent_checked,
            "extent_objects": result.extent_objects,
            "problems": [p.as_dict() for p in result.problems],
            "exit_code": result.exit_code, "target": config.target.display_url,
        }, out)
    else:
        for p in result.problems:
            print(f"{p.kind:<14} {p.key}: {p.detail}", file=out)
        sample = (f", a {result.sample_percent:g}% sample, seed {result.seed}"
                  if result.sample_percent is not None else "")
        deep = (f", {counts.downloaded} downloaded and re-hashed ({counts.bytes_read} bytes"
                f"{sample})" if result.deep else "")
        extent = (f"; extent: {result.extent_objects} repository objects, "
                  f"{counts.not_backed_up} without a copy" if result.extent_checked else "")
        print(f"verify {result.snapshot.id}: {counts.checked} keys checked by metadata{deep}"
              f"{extent}; {counts.missing} missing, {counts.corrupted} corrupted, "
              f"{counts.unverifiable} unverifiable: {result.status}", file=out)
    if result.stopped and got:
        return C.EXIT_SIGNAL_BASE + got[0]
    return result.exit_code


# --- wiring -----------------------------------------------------------------------------------
def add_daemon_commands(sub: Any) -> None:
    """Add the daemon's commands (``daemon``, ``backup``, ``mirror``, ``status``, ``prune``,
    ``snapshots``, ``restore``, ``verify``) to ``aipsync``."""

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
    p = command("snapshots", cmd_snapshots,
                "the complete snapshots in the target, newest first")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p = command("restore", cmd_restore,
                "restore one object (and everything below it) or the whole site from a "
                "snapshot: download, verify every SHA-256, then ingest")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--snapshot", metavar="ID", help="the snapshot (default: the newest)")
    which.add_argument("--at", metavar="ISO-TIME",
                       help="the newest snapshot not newer than this time (UTC unless an "
                            "offset is given), e.g. 2026-03-01T02:15:00Z")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--handle", metavar="H", help="the object to restore, e.g. 123456789/42")
    what.add_argument("--site", action="store_true",
                      help="the whole site (DSpace's full restore: -r -a -f -i <prefix>/0)")
    p.add_argument("--mode", choices=[m.value for m in IngestMode], type=IngestMode,
                   help="restore: fail if an object exists; keep-existing: skip existing "
                        "objects; replace: overwrite them; submit: new objects under "
                        "--parent (default: restore.mode; replace with --site)")
    p.add_argument("--parent", metavar="H", help="the parent to restore (or submit) under")
    p.add_argument("--dry-run", action="store_true",
                   help="download and verify, say what would happen; change nothing")
    p.add_argument("--yes", action="store_true",
                   help="confirm --mode replace without asking (required with no terminal)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = command("verify", cmd_verify,
                "fixity audit: every key of a snapshot present with its size and SHA-256, "
                "and every repository object backed up")
    p.add_argument("--snapshot", metavar="ID", help="the snapshot (default: the newest)")
    p.add_argument("--deep", action="store_true",
                   help="also download and re-hash (streamed; all keys, or the --sample)")
    p.add_argument("--sample", type=float, metavar="PERCENT",
                   help="download and re-hash a random PERCENT of the keys (implies --deep)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="the sample's seed (default: new each run; printed, so a run can be "
                        "repeated)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    # The crash tests' hook (daemon/faultpoints.py): read here, at the entry point, only.
    faultpoints.arm(os.environ.get(f"{C.ENV_PREFIX}TEST_CRASH_AT"))
    return aip_cli.run(argv, extra=add_daemon_commands)


if __name__ == "__main__":
    sys.exit(main())
