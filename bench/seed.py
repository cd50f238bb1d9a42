"""Seed benchmark: wall-clock seconds and peak memory of ``repo seed`` for N items.

For each N (default 10,000 and 100,000) a fresh embedded repository (SQLite) is made in a
temporary folder with ``repo init``, then ``repo seed --items N`` runs in a child process
(``python -m daemon``, the console path).  Only the seed is timed, from outside, start-up
included; peak memory is the process tree's peak RSS (``bench/measure.py``).  Prints a table and
asserts nothing: a benchmark reports, the tests judge.  "assetstore MiB" is the bitstreams'
content; "on disk MiB" is what the whole repository folder occupies (``du``), which the
assetstore's three levels of small folders make much larger.

Usage::

    .venv/bin/python bench/seed.py                        # 10,000 and 100,000 items
    .venv/bin/python bench/seed.py --items 10000
    .venv/bin/python bench/seed.py --items 1000 --keep /tmp/seeded   # keep the repositories
    .venv/bin/python bench/seed.py --items 10000 100000 --project 1000000

``--project N`` prints what seeding N items would take: at the largest run's rate (linear),
and by the power law t = a * n^b through the two largest runs (b > 1 when the seed slows
down as the repository grows); the same for the database and the folder on disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import measure
from measure import aipsync

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ITEMS = (10_000, 100_000)


@dataclass(frozen=True)
class Run:
    """One measured seed."""

    items: int
    seconds: float
    peak_rss_bytes: int
    assetstore_bytes: int
    database_bytes: int
    disk_bytes: int
    report: str


def _env() -> dict[str, str]:
    """Our environment without AIPSYNC_* (the repository is named on the command line)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIPSYNC_")}


def _tree_bytes(path: Path) -> int:
    """Content bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _disk_bytes(path: Path) -> int:
    """Allocated bytes under ``path``, folders included (what ``du`` shows)."""
    return sum(p.stat().st_blocks * 512 for p in [path, *path.rglob("*")])


def seed_once(items: int, folder: Path, *, seed: int, bitstream_size: int) -> Run:
    """Initialise ``folder`` and time ``repo seed --items N`` there (``bench/measure.py``:
    timed from outside, peak RSS of the process tree)."""
    repo = ["--repo", str(folder), "repo"]
    measure.run(aipsync(*repo, "init", "--handle-prefix", "123456789", "--admin",
                        "admin@example.org"), cwd=PROJECT_ROOT, env=_env())
    got = measure.run(aipsync(*repo, "seed", "--items", str(items), "--seed", str(seed),
                              "--bitstream-size", str(bitstream_size)),
                      cwd=PROJECT_ROOT, env=_env(), capture=True)
    report = got.stdout.strip().splitlines()
    seconds = got.seconds
    return Run(items=items, seconds=seconds, peak_rss_bytes=got.peak_tree_rss,
               assetstore_bytes=_tree_bytes(folder / "assetstore"),
               database_bytes=sum(p.stat().st_size for p in folder.glob("repository.sqlite*")),
               disk_bytes=_disk_bytes(folder), report=report[0] if report else "")


def table(runs: list[Run]) -> str:
    """The results as a fixed-width table."""
    header = (f"{'items':>9}  {'seconds':>9}  {'items/s':>9}  {'peak RSS MiB':>12}  "
              f"{'assetstore MiB':>14}  {'database MiB':>12}  {'on disk MiB':>11}")
    lines = [header, "-" * len(header)]
    mib = 1024 * 1024
    for run in runs:
        lines.append(f"{run.items:>9,}  {run.seconds:>9.1f}  {run.items / run.seconds:>9,.0f}  "
                     f"{run.peak_rss_bytes / mib:>12.1f}  {run.assetstore_bytes / mib:>14.1f}  "
                     f"{run.database_bytes / mib:>12.1f}  {run.disk_bytes / mib:>11.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=list(DEFAULT_ITEMS),
                        metavar="N", help="item counts to seed (default: 10000 100000)")
    parser.add_argument("--seed", type=int, default=1, help="the seed's --seed (default 1)")
    parser.add_argument("--bitstream-size", type=int, default=2048, metavar="BYTES",
                        help="the seed's --bitstream-size (default 2048)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="make the repositories under DIR and keep them")
    parser.add_argument("--project", type=int, metavar="N",
                        help="project the seed's time and size at N items from these runs")
    args = parser.parse_args(argv)

    runs = []
    for items in args.items:
        base = Path(tempfile.mkdtemp(prefix="aipsync-bench-", dir=args.keep))
        try:
            print(f"seeding {items:,} items in {base} ...", file=sys.stderr, flush=True)
            run = seed_once(items, base / "repo", seed=args.seed,
                          bitstream_size=args.bitstream_size)
            print(f"  {run.report}", file=sys.stderr, flush=True)
            runs.append(run)
        finally:
            if args.keep is None:
                shutil.rmtree(base, ignore_errors=True)
    print(f"repo seed --seed {args.seed} --bitstream-size {args.bitstream_size} "
          f"(SQLite, {sys.platform}, Python {sys.version.split()[0]})")
    print(table(runs))
    if args.project:
        print(projection(runs, args.project))
    return 0


def projection(runs: list[Run], target: int) -> str:
    """What seeding ``target`` items would take, from the measured runs (see the usage)."""
    import math

    ordered = sorted(runs, key=lambda r: r.items)
    last = ordered[-1]
    scale = target / last.items
    lines = [f"projected for {target:,} items from the {last.items:,}-item run: "
             f"{last.seconds * scale:,.0f} s at its rate (linear), database "
             f"{last.database_bytes * scale / 1024**3:.1f} GiB, on disk "
             f"{last.disk_bytes * scale / 1024**3:.1f} GiB"]
    if len(ordered) > 1:
        small = ordered[-2]
        b = math.log(last.seconds / small.seconds) / math.log(last.items / small.items)
        lines.append(f"  power law through {small.items:,} and {last.items:,} items: "
                     f"t ~ n^{b:.2f}, {last.seconds * scale ** b:,.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
