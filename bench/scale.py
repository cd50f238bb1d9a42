"""Load benchmark: a seeded repository of N items (default 100,000) backed up to moto's S3.

Steps, each a separate ``python -m daemon`` process started the way an operator would:

1. ``repo init`` + ``repo seed --items N`` (reused when the repository under ``--out`` already
   has that shape);
2. a first ``aipsync backup`` (a full export of the site into staging, then every AIP
   uploaded to moto's S3 server, which runs in its own process on 127.0.0.1 as in
   ``bench/mirror.py``): wall time, the backup process's peak RSS (``os.wait4``), the peak RSS
   of its whole process tree (sampled; the export's worker processes are separate), the
   state database size and the staging size;
3. ``--edit`` items (default 100, a seeded sample) changed with ``aipsync repo set-metadata``;
4. an incremental ``aipsync backup``: the same figures, what was uploaded counted by type,
   and the check that it is *exactly* the edited items' AIPs plus the containers whose
   staged bytes changed (staging is hashed before and after), and nothing else;
5. a cycle with nothing changed: no upload at all.

Prints a table and writes ``<out>/scale-<N>.json``.  Asserts the upload sets, never a time.

Usage::

    .venv/bin/python bench/scale.py                  # 100,000 items
    .venv/bin/python bench/scale.py --items 10000    # a smaller run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from s3server import environment, moto_server

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def aipsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "daemon", *args]


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and its descendants now (Linux /proc), 0 when gone."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * page
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measure(cmd: list[str], env: dict[str, str], log_to: Path) -> dict[str, Any]:
    """Run ``cmd``: wall seconds, its peak RSS (wait4), the tree's sampled peak, stdout."""
    peak_tree = 0
    with open(log_to, "a") as log, open(log_to.with_suffix(".out"), "w+") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=log)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.2):
                peak_tree = max(peak_tree, tree_rss(proc.pid))

        sampler = threading.Thread(target=sample, name="rss-sampler")
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed with exit code {proc.returncode}; "
                         f"see {log_to}")
    return {"seconds": elapsed, "peak_rss": usage.ru_maxrss * 1024,
            "peak_tree_rss": max(peak_tree, usage.ru_maxrss * 1024), "stdout": stdout}


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


def seed_repository(repo: Path, items: int, seed: int, log: Path) -> float | None:
    """Seed ``repo`` unless it already has this shape; the seconds it took (None: reused)."""
    marker = repo / ".bench-shape.json"
    shape = json.dumps({"items": items, "seed": seed})
    if marker.exists() and marker.read_text() == shape:
        return None
    if repo.exists():
        shutil.rmtree(repo)
    env = environment()
    subprocess.run(aipsync("--repo", str(repo), "repo", "init", "--handle-prefix",
                           "123456789", "--admin", "admin@example.org"),
                   check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    with open(log, "a") as err:
        subprocess.run(aipsync("--repo", str(repo), "repo", "seed", "--items", str(items),
                               "--seed", str(seed)),
                       check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
    marker.write_text(shape)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--edit", type=int, default=100, help="items edited before the "
                        "incremental run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--transfers", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "scale")
    args = parser.parse_args(argv)

    out: Path = args.out / str(args.items)
    out.mkdir(parents=True, exist_ok=True)
    repo, staging, state = out / "repo", out / "staging", out / "state"
    for folder in (staging, state):
        if folder.exists():
            shutil.rmtree(folder)
    log = out / "aipsync.log"
    log.write_text("")
    figures: dict[str, Any] = {"items": args.items, "seed": args.seed, "edited": args.edit}

    print(f"seeding {args.items} items (seed {args.seed}) in {repo} ...", flush=True)
    seeded = seed_repository(repo, args.items, args.seed, log)
    figures["seed_seconds"] = seeded
    print(f"  {'reused' if seeded is None else f'{seeded:.1f} s'}", flush=True)

    env = environment()
    with moto_server(out / "moto.log", env) as server:
        s3 = server.client()
        s3.create_bucket(Bucket="scale")
        config = out / "aipsync.toml"
        server.write_config(config, repo=repo, staging=staging, state=state, bucket="scale",
                            transfers=args.transfers)
        backup = aipsync("--log-level", "info", "--log-format", "json", "backup", "--json",
                         "--config", str(config))

        def cycle(label: str) -> dict[str, Any]:
            print(f"{label} ...", flush=True)
            run = measure(backup, env, log)
            doc = json.loads(run.pop("stdout"))
            run.update(kind=doc["kind"], exported=doc["exported"],
                       uploaded=len(doc["uploaded"]),
                       uploaded_by_type=dict(Counter(kind_of(n) for n in doc["uploaded"])),
                       bytes_uploaded=doc["bytes_uploaded"], requests=doc["requests"],
                       state_db_bytes=size_of([state / "state.db", state / "state.db-wal"]),
                       staging_bytes=sum(p.stat().st_size for p in staging.glob("*.zip")),
                       staged=sum(1 for _ in staging.glob("*.zip")))
            run["uploaded_names"] = doc["uploaded"]
            print(f"  {run['seconds']:.1f} s, peak RSS {run['peak_rss'] / MiB:.0f} MiB "
                  f"(tree {run['peak_tree_rss'] / MiB:.0f} MiB), {run['uploaded']} uploaded "
                  f"{run['uploaded_by_type']}, state db {run['state_db_bytes'] / MiB:.1f} MiB",
                  flush=True)
            return run

        first = cycle("first backup (full export, every AIP uploaded)")
        before = hash_staging(staging)
        items = sorted(n for n in before if kind_of(n) == "ITEM")
        edited = random.Random(args.seed).sample(items, min(args.edit, len(items)))
        print(f"editing {len(edited)} items with 'aipsync repo set-metadata' ...", flush=True)
        from aip import cli

        started = time.monotonic()
        with open(os.devnull, "w") as sink:
            for n, name in enumerate(edited):
                rc = cli.run(["--repo", str(repo), "repo", "set-metadata", handle_of(name),
                              "dc.title", f"Edited for the scale bench ({n})"], out=sink)
                if rc != 0:
                    raise SystemExit(f"set-metadata {handle_of(name)} exited {rc}")
        figures["edit_seconds"] = time.monotonic() - started

        second = cycle(f"incremental backup after {len(edited)} edits")
        after = hash_staging(staging)
        changed = {n for n in after if before.get(n) != after[n]}
        uploaded = set(second.pop("uploaded_names"))
        assert {n for n in changed if kind_of(n) == "ITEM"} == set(edited), \
            "the staged items that changed are not the edited ones"
        assert uploaded == changed, (
            f"uploaded {len(uploaded)} AIPs, {len(changed)} changed: extra "
            f"{sorted(uploaded - changed)[:5]}, missing {sorted(changed - uploaded)[:5]}")
        second["changed_containers"] = dict(Counter(kind_of(n) for n in changed
                                                    if kind_of(n) != "ITEM"))
        third = cycle("a cycle with nothing changed")
        assert third.pop("uploaded_names") == [], "a no-op cycle uploaded something"
        first.pop("uploaded_names")
        objects = sum(page.get("KeyCount", 0) for page in
                      s3.get_paginator("list_objects_v2").paginate(Bucket="scale"))
        figures.update(first=first, incremental=second, noop=third, bucket_objects=objects,
                       repository_bytes=sum(p.stat().st_size for p in repo.rglob("*")
                                            if p.is_file()))

    (out / f"scale-{args.items}.json").write_text(json.dumps(figures, indent=1))
    print(f"\n{args.items} items, moto S3 in its own process on 127.0.0.1, transfers "
          f"{args.transfers}")
    print(f"{'run':<13} {'wall s':>8} {'peak RSS MiB':>13} {'tree MiB':>9} {'exported':>9} "
          f"{'uploaded':>9} {'requests':>9} {'state db MiB':>13}  uploaded by type")
    for label, run in (("full", figures["first"]), ("incremental", figures["incremental"]),
                       ("no change", figures["noop"])):
        print(f"{label:<13} {run['seconds']:>8.1f} {run['peak_rss'] / MiB:>13.0f} "
              f"{run['peak_tree_rss'] / MiB:>9.0f} {run['exported']:>9} {run['uploaded']:>9} "
              f"{run['requests']:>9} {run['state_db_bytes'] / MiB:>13.1f}  "
              f"{run['uploaded_by_type']}")
    inc = figures["incremental"]
    print(f"incremental: {len(edited)} items edited; uploaded exactly those "
          f"{inc['uploaded_by_type'].get('ITEM', 0)} item AIPs plus the containers whose "
          f"bytes changed {inc['changed_containers']}; nothing else")
    print(f"staging {figures['first']['staging_bytes'] / MiB:.0f} MiB in "
          f"{figures['first']['staged']} AIPs; bucket {figures['bucket_objects']} objects; "
          f"seed {seeded if seeded is None else round(seeded, 1)} s; figures in "
          f"{out / f'scale-{args.items}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
