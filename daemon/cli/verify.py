"""``aipsync verify``: the fixity and extent audit of a snapshot (progress shown; the
``[notify]`` hooks told)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from aip.errors import UsageError
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

__all__ = ["add_verify_command"]


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    # Imported when the command runs: the audit pulls in boto3 and SQLAlchemy.
    from daemon.audit import run_audit
    from daemon.service.hooks import Hooks

    if args.sample is not None and not 0 < args.sample <= 100:
        raise UsageError("--sample must be a percentage above 0 and at most 100")
    config = load(args)
    with Hooks(config.notify).watch("audit") as hook, stop_on_signals() as (stop, got), \
            progress(args, config):
        result = run_audit(config, snapshot_id=args.snapshot, deep=args.deep,
                           sample_percent=args.sample, seed=args.seed, stop=stop)
        hook.finish(result)
    counts = result.counts
    if args.json:
        print_json(result.as_json() | {"target": config.target.display_url}, out)
    else:
        for p in result.problems:
            print(f"{p.kind:<14} {p.key}: {p.detail}", file=out)
        sample = (f", a {result.sample_percent:g}% sample, seed {result.seed}"
                  if result.sample_percent is not None else "")
        deep = (f", {counts.downloaded} downloaded and re-hashed ({counts.bytes_read} bytes"
                f"{sample})" if result.deep else "")
        extent = (f"; extent: {result.extent_objects} repository objects (from "
                  f"{result.extent_basis}), {counts.not_backed_up} without a copy"
                  if result.extent_checked else "")
        if result.extent_note:
            print(f"extent: {result.extent_note}", file=out)
        print(f"verify {result.snapshot.id}: {counts.checked} keys checked by metadata{deep}"
              f"{extent}; {counts.missing} missing, {counts.corrupted} corrupted, "
              f"{counts.unverifiable} unverifiable: {result.status}", file=out)
    if result.stopped and got:
        return stopped_exit_code(got)
    return result.exit_code


def add_verify_command(sub: Any) -> None:
    """``verify``."""
    p = add_command(sub, "verify", cmd_verify,
                    "fixity audit: every key of a snapshot present with its size and SHA-256, "
                    "and every repository object backed up", (CONFIG, JSON))
    p.add_argument("--snapshot", metavar="ID", help="the snapshot (default: the newest)")
    p.add_argument("--deep", action="store_true",
                   help="also download and re-hash (streamed; all keys, or the --sample)")
    p.add_argument("--sample", type=float, metavar="PERCENT",
                   help="download and re-hash a random PERCENT of the keys (implies --deep)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="the sample's seed (default: new each run; printed, so a run can be "
                        "repeated)")
