"""Load benchmark: a seeded repository of N items (default 100,000), every command an operator
runs at that size, each timed and its whole process tree's peak memory taken.

Steps, each a separate ``python -m daemon`` process started the way an operator would and
measured from outside by ``bench/measure.py`` (wall time, start-up included; peak RSS of the
process and all its descendants, sampled every 50 ms and summed):

1. ``repo init`` + ``repo seed --items N`` (reused when the repository under ``--out`` already
   has that shape; the seed's own time is printed, not judged);
2. ``backup``: the first cycle (a full export of the site into staging, every AIP copied to
   the target);
3. ``--edit-percent`` of the items (default 1%, a seeded sample) changed with
   ``repo set-metadata`` (not timed as a figure);
4. ``backup``: the incremental cycle.  Checked, not timed: what it uploaded is *exactly* the
   edited items' AIPs plus the containers whose staged bytes changed (staging is hashed
   before and after), and nothing else;
5. ``backup`` with nothing changed: checked to upload nothing;
6. ``verify``: the fixity and extent audit of the newest snapshot (metadata);
7. ``restore --site --yes`` into an empty repository, from the target;
8. ``packager -d -a`` of the site into an empty folder.

The target is a folder (``file://``, the default) or moto's S3 server on 127.0.0.1 in its own
process (``--target s3``; its CPU and memory are not in the figures).  Prints each step's
time and tree peak against the targets (tree peak under 200 MB = 190.7 MiB at 100,000 items;
incremental at most 5% and no-op at most 2% of the full backup's time; with
``--compare-to scale-100000.json``, each peak at most 1.25x that run's) and writes
``<out>/<N>/scale-<N>.json``.  Asserts the upload sets, never a time.

Usage::

    .venv/bin/python bench/scale.py                       # 100,000 items to a folder
    .venv/bin/python bench/scale.py --items 20000
    .venv/bin/python bench/scale.py --items 1000000 \
        --compare-to bench/out/scale/100000/scale-100000.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import measure
from measure import aipsync
from s3server import environment, moto_server

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
#: The issue's targets: whole-tree peak RSS at 100,000 items, and time ratios to the full run.
PEAK_TARGET = 200_000_000
INCREMENTAL_TARGET = 0.05
NOOP_TARGET = 0.02
GROWTH_TARGET = 1.25
PREFIX = "123456789"
ADMIN = "admin@example.org"


def hash_staging(staging: Path) -> dict[str, str]:
    found = {}
    with os.scandir(staging) as it:
        for entry in it:
            if entry.name.endswith(".zip") and not entry.name.startswith("."):
                with open(entry.path, "rb") as handle:
                    found[entry.name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return found


def size_of(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def handle_of(name: str) -> str:
    return name.partition("@")[2].removesuffix(".zip").replace("-", "/", 1)


def kind_of(name: str) -> str:
    return name.partition("@")[0]


def seed_repository(repo: Path, items: int, seed: int, env: dict[str, str]
                    ) -> measure.Measured | None:
    """Seed ``repo`` unless it already has this shape; the seed's figures (None: reused)."""
    marker = repo / ".bench-shape.json"
    shape = json.dumps({"items": items, "seed": seed})
    if marker.exists() and marker.read_text() == shape:
        return None
    if repo.exists():
        shutil.rmtree(repo)
    measure.run(aipsync("--repo", str(repo), "repo", "init", "--handle-prefix", PREFIX,
                        "--admin", ADMIN), env=env, cwd=REPO)
    seeded = measure.run(aipsync("--repo", str(repo), "repo", "seed", "--items", str(items),
                                 "--seed", str(seed)), env=env, cwd=REPO)
    marker.write_text(shape)
    return seeded


#: The cycles run back to back here, minutes apart, not an hour as scheduled: without this,
#: the default overlap (300 s before the previous cycle's start) would make the no-op cycle
#: export again the items edited just before the incremental one.
SCHEDULE = ["[schedule]", "overlap_seconds = 0"]


def folder_config(path: Path, *, repo: Path, staging: Path, state: Path, target: Path) -> Path:
    """An aipsync config backing ``repo`` up to the folder ``target``."""
    path.write_text("\n".join([
        "[repository]", f'path = "{repo}"', f'eperson = "{ADMIN}"',
        "[staging]", f'dir = "{staging}"', "[state]", f'dir = "{state}"',
        "[target]", f'url = "{target.resolve().as_uri()}"', *SCHEDULE, ""]))
    return path


@contextmanager
def target_configs(kind: str, out: Path, repo: Path, fresh: Path, staging: Path, state: Path,
                   transfers: int, env: dict[str, str]) -> Iterator[tuple[Path, Path, list[int]]]:
    """(backup config, restore config, companion pids) for a folder or a moto S3 target."""
    backup, restore = out / "aipsync.toml", out / "restore.toml"
    if kind == "folder":
        target = out / "target"
        target.mkdir()
        folder_config(backup, repo=repo, staging=staging, state=state, target=target)
        folder_config(restore, repo=fresh, staging=out / "restore-staging",
                      state=out / "restore-state", target=target)
        yield backup, restore, []
        return
    with moto_server(out / "moto.log", env) as server:
        server.client().create_bucket(Bucket="scale")
        server.write_config(backup, repo=repo, staging=staging, state=state, bucket="scale",
                            transfers=transfers)
        with open(backup, "a") as config:
            config.write("\n".join(SCHEDULE) + "\n")
        server.write_config(restore, repo=fresh, staging=out / "restore-staging",
                            state=out / "restore-state", bucket="scale", transfers=transfers)
        yield backup, restore, [server.pid]


def edit_items(repo: Path, names: list[str], env: dict[str, str]) -> float:
    """Change each item's title with ``repo set-metadata`` (in this process); seconds taken."""
    from aip import cli

    started = time.monotonic()
    with open(os.devnull, "w") as sink:
        for n, name in enumerate(names):
            rc = cli.run(["--repo", str(repo), "repo", "set-metadata", handle_of(name),
                          "dc.title", f"Edited for the scale bench ({n})"], out=sink)
            if rc != 0:
                raise SystemExit(f"set-metadata {handle_of(name)} exited {rc}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--edit-percent", type=float, default=1.0,
                        help="percent of the items edited before the incremental cycle")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", choices=("folder", "s3"), default="folder")
    parser.add_argument("--transfers", type=int, default=8, help="S3 target only")
    parser.add_argument("--cpus", default=None, metavar="LIST",
                        help="pin every measured process to these CPUs (e.g. 0,1)")
    parser.add_argument("--skip", nargs="*", default=[], metavar="STEP",
                        choices=("verify", "restore", "export"),
                        help="leave out these steps (e.g. at 1,000,000 items)")
    parser.add_argument("--compare-to", type=Path, default=None, metavar="JSON",
                        help="another run's scale-<N>.json: print each peak's growth")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "scale")
    parser.add_argument("--phases", type=Path, default=None, metavar="LOG",
                        help="only print where each backup cycle of an earlier run's "
                             "aipsync.log spent its time")
    parser.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("RUN", "BASE"),
                        help="only print each step's peaks of two earlier runs' "
                             "scale-<N>.json and RUN's growth over BASE")
    args = parser.parse_args(argv)
    if args.phases is not None:
        print("\n".join(phases(args.phases)))
        return 0
    if args.compare is not None:
        print("\n".join(compare(*(json.loads(p.read_text()) for p in args.compare))))
        return 0
    cpus = measure.cpu_list(args.cpus)

    out: Path = args.out / str(args.items)
    out.mkdir(parents=True, exist_ok=True)
    print(measure.machine(out), flush=True)
    repo, staging, state = out / "repo", out / "staging", out / "state"
    fresh, exported = out / "restored", out / "exported"
    for folder in (staging, state, out / "target", out / "restore-staging",
                   out / "restore-state", fresh, exported):
        if folder.exists():
            shutil.rmtree(folder)
    log = out / "aipsync.log"
    log.write_text("")
    env = environment()
    figures: dict[str, Any] = {"items": args.items, "seed": args.seed, "target": args.target,
                               "machine": measure.machine(out)}

    print(f"seeding {args.items} items (seed {args.seed}) in {repo} ...", flush=True)
    seeded = seed_repository(repo, args.items, args.seed, env)
    figures["seed_seconds"] = seeded.seconds if seeded else None
    print(f"  {'reused' if seeded is None else f'{seeded.seconds:.1f} s'}", flush=True)

    steps: dict[str, measure.Measured] = {}
    commands: dict[str, list[str]] = {}

    def step(label: str, argv: list[str], companions: list[int]) -> measure.Measured:
        print(f"{label} ...", flush=True)
        with open(log, "a") as err:
            got = measure.run(argv, env=env, cwd=REPO, cpus=cpus, stderr=err, capture=True,
                              companions=companions)
        steps[label], commands[label] = got, argv
        print(f"  {got.seconds:.1f} s, tree peak {got.peak_tree_mib:.0f} MiB RSS, "
              f"{got.peak_pss_mib:.0f} MiB PSS (largest process "
              f"{got.peak_largest_rss / MiB:.0f} MiB, {got.processes} processes), others "
              f"{got.others_cores:.2f} cores", flush=True)
        return got

    with target_configs(args.target, out, repo, fresh, staging, state, args.transfers,
                        env) as (config, restore_config, companions):
        backup = aipsync("--log-level", "info", "--log-format", "json", "backup", "--json",
                         "--config", str(config))

        def cycle(label: str) -> dict[str, Any]:
            got = step(label, backup, companions)
            doc = json.loads(got.stdout)
            return {"kind": doc["kind"], "exported": doc["exported"],
                    "uploaded": doc["uploaded"],
                    "state_db_bytes": size_of([state / "state.db", state / "state.db-wal"])}

        first = cycle("backup, full")
        before = hash_staging(staging)
        items = sorted(n for n in before if kind_of(n) == "ITEM")
        count = max(1, round(len(items) * args.edit_percent / 100))
        edited = random.Random(args.seed).sample(items, min(count, len(items)))
        print(f"editing {len(edited)} items with 'aipsync repo set-metadata' ...", flush=True)
        figures["edit_seconds"] = edit_items(repo, edited, env)
        second = cycle(f"backup, incremental ({len(edited)} items edited)")
        after = hash_staging(staging)
        changed = {n for n in after if before.get(n) != after[n]}
        uploaded = set(second["uploaded"])
        assert {n for n in changed if kind_of(n) == "ITEM"} == set(edited), \
            "the staged items that changed are not the edited ones"
        assert uploaded == changed, (
            f"uploaded {len(uploaded)} AIPs, {len(changed)} changed: extra "
            f"{sorted(uploaded - changed)[:5]}, missing {sorted(changed - uploaded)[:5]}")
        third = cycle("backup, nothing changed")
        assert third["uploaded"] == [], "a no-op cycle uploaded something"
        if "verify" not in args.skip:
            step("verify", aipsync("--log-level", "warning", "verify", "--json", "--config",
                                   str(config)), companions)
        if "restore" not in args.skip:
            measure.run(aipsync("--repo", str(fresh), "repo", "init", "--handle-prefix",
                                PREFIX, "--admin", ADMIN), env=env, cwd=REPO)
            step("restore --site (empty repository)",
                 aipsync("--log-level", "warning", "restore", "--config", str(restore_config),
                         "--site", "--yes"), companions)
        if "export" not in args.skip:
            exported.mkdir()
            step("packager -d -a", aipsync("--repo", str(repo), "packager", "-d", "-a", "-t",
                                            "AIP", "-e", ADMIN, "-i", f"{PREFIX}/0",
                                            str(exported / f"SITE@{PREFIX}-0.zip")), [])

    staged = list(staging.glob("*.zip"))
    figures.update(
        edited=len(edited), staged=len(staged), staging_bytes=size_of(staged),
        first={k: v for k, v in first.items() if k != "uploaded"} | {
            "uploaded": len(first["uploaded"])},
        incremental={"uploaded_by_type": dict(Counter(kind_of(n) for n in second["uploaded"])),
                     "exported": second["exported"]},
        noop={"exported": third["exported"]},
        steps={label: {"seconds": got.seconds, "peak_tree_rss": got.peak_tree_rss,
                       "peak_tree_pss": got.peak_tree_pss,
                       "peak_largest_rss": got.peak_largest_rss, "processes": got.processes,
                       "cpu_seconds": got.tree_cpu, "others_cores": got.others_cores,
                       "command": " ".join(commands[label])}
               for label, got in steps.items()})
    (out / f"scale-{args.items}.json").write_text(json.dumps(figures, indent=1))

    full = steps["backup, full"].seconds
    earlier = json.loads(args.compare_to.read_text()) if args.compare_to else None
    print(f"\n{args.items} items, {args.target} target, [schedule] overlap_seconds = 0; "
          f"pinned to CPUs {cpus or 'not pinned'}; each step a process timed from outside; "
          "tree = the process and its descendants, RSS summed (a page shared by two "
          "processes counted twice) and PSS summed (counted once)")
    for label in steps:
        print(f"  {label}: {' '.join(commands[label])}")
    head = f"{'step':<40} {'wall s':>8} {'of full':>8} {'tree RSS MiB':>12} " \
           f"{'tree PSS MiB':>12} {'1 proc MiB':>10} {'procs':>6} {'CPU s':>7}  RSS vs 200 MB"
    print(head + ("   vs --compare-to" if earlier else ""))
    for label, got in steps.items():
        verdict = "met" if got.peak_tree_rss < PEAK_TARGET else "NOT met"
        line = (f"{label:<40} {got.seconds:>8.1f} {got.seconds / full:>8.1%} "
                f"{got.peak_tree_mib:>12.1f} {got.peak_pss_mib:>12.1f} "
                f"{got.peak_largest_rss / MiB:>10.1f} "
                f"{got.processes:>6} {got.tree_cpu:>7.1f}  {verdict}")
        if earlier is not None:
            base = _matching(earlier["steps"], label)
            if base is not None:
                growth = got.peak_tree_rss / base["peak_tree_rss"]
                line += (f"   {growth:.2f}x ({'met' if growth <= GROWTH_TARGET else 'NOT met'}"
                         f" <= {GROWTH_TARGET}x)")
        print(line)
    inc = steps[f"backup, incremental ({len(edited)} items edited)"].seconds / full
    noop = steps["backup, nothing changed"].seconds / full
    print(f"incremental / full: {inc:.2%} (target at most {INCREMENTAL_TARGET:.0%}: "
          f"{'met' if inc <= INCREMENTAL_TARGET else 'NOT met'}); no-op / full: {noop:.2%} "
          f"(target at most {NOOP_TARGET:.0%}: {'met' if noop <= NOOP_TARGET else 'NOT met'})")
    print(f"incremental: {len(edited)} items edited; uploaded exactly those item AIPs plus the "
          f"containers whose bytes changed {figures['incremental']['uploaded_by_type']}; "
          f"exported {second['exported']} (no-op: {third['exported']})")
    print(f"staging {figures['staging_bytes'] / MiB:.0f} MiB in {len(staged)} AIPs; state db "
          f"{first['state_db_bytes'] / MiB:.1f} MiB; seed "
          f"{'reused' if seeded is None else f'{seeded.seconds:.1f} s'}; edits "
          f"{figures['edit_seconds']:.1f} s")
    print(measure.others_note(steps.values()))
    print("where each backup cycle's time went (aipsync's own log; the process start-up is the "
          "difference to the wall time above):")
    print("\n".join(phases(log)))
    print(f"figures in {out / f'scale-{args.items}.json'}")
    return 0


def compare(run: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """Each step of ``run`` that ``base`` has too: both tree peaks (RSS, MiB) and the growth,
    against ``GROWTH_TARGET``."""
    out = [f"{run['items']:,} items against {base['items']:,}: tree peak RSS MiB (whole "
           f"process tree), growth at most {GROWTH_TARGET}x",
           f"{'step':<40} {'run':>8} {'base':>8} {'growth':>7}"]
    for label, got in run["steps"].items():
        earlier = _matching(base["steps"], label)
        if earlier is None:
            continue
        growth = got["peak_tree_rss"] / earlier["peak_tree_rss"]
        out.append(f"{label:<40} {got['peak_tree_rss'] / MiB:>8.1f} "
                   f"{earlier['peak_tree_rss'] / MiB:>8.1f} {growth:>6.2f}x "
                   f"{'met' if growth <= GROWTH_TARGET else 'NOT met'}")
    return out


#: The ``*.done`` log events whose ``duration_s`` splits a backup cycle into its phases.
PHASES = {"staging.export.done": "export into staging", "mirror.hash.done": "mirror: hash scan",
          "mirror.run.done": "mirror (all)", "backup.cycle.done": "cycle"}


def phases(log: Path) -> list[str]:
    """Where each backup cycle in ``log`` (aipsync's JSON log lines) spent its time, from
    the durations aipsync logs itself; one line per cycle."""
    lines, cycle = [], {}
    with open(log) as handle:
        for line in handle:
            if '"duration_s"' not in line and "backup.cycle.start" not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            name = event.get("event")
            if name == "backup.cycle.start":
                cycle = {"kind": event.get("kind", "?")}
            elif name in PHASES:
                cycle[name] = float(event.get("duration_s", 0.0))
                if name == "backup.cycle.done":
                    rest = cycle[name] - cycle.get("staging.export.done", 0.0) \
                        - cycle.get("mirror.run.done", 0.0)
                    lines.append(
                        f"  {cycle['kind']:<12} cycle {cycle[name]:7.1f} s: export into "
                        f"staging {cycle.get('staging.export.done', 0.0):6.1f} s, mirror "
                        f"{cycle.get('mirror.run.done', 0.0):6.1f} s (of which the hash scan "
                        f"{cycle.get('mirror.hash.done', 0.0):5.1f} s), the rest {rest:5.1f} s")
    return lines


def _matching(steps: dict[str, Any], label: str) -> dict[str, Any] | None:
    """The step of another run with the same label (the edit count aside)."""
    stem = label.partition(" (")[0] if label.startswith("backup, incremental") else label
    for other, figures in steps.items():
        if other == label or other.partition(" (")[0] == stem:
            return dict(figures)
    return None


if __name__ == "__main__":
    sys.exit(main())
