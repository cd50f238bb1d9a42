"""Export benchmark: ``packager -d -a`` of a seeded site against a floor that writes the same
AIP bytes with the same number of processes, in one run.

The floor: before the timed runs, one export of the site is read back (untimed) into a plan:
for every package, its zip comment and, per entry, its name, time and size, and where its
bytes come from: a bitstream's file in the assetstore (``bitstream_<seq>`` entries of items,
found by sequence id; container logos), or, for ``mets.xml`` and anything else, the bytes the
export wrote, kept in one side file.  The floor then writes every package of that plan as a
deflated zip with Python's ``zipfile`` (the same entry order, times, host and compression
level as the export), in the same number of worker processes as the export uses (the
export's own rule, ``aip.packager.pool.worker_count``) plus its main process, under
temp names made durable and renamed in batches of 256 (``aip.files.BatchWriter``, the export's
own), tasks of 16 packages per worker round trip (the export's ``ITEMS_PER_TASK``).  What it
does not do is what aipsync's export does besides writing bytes: read the database, build and
validate each METS manifest, check each bitstream's MD5 while copying it.  After the first
round, every zip the floor wrote is compared with the export's (SHA-256): the figure says
how many are byte-identical (all of them, unless the export changed its bytes since the plan).

Both sides are separate processes started the same way (``python ...``) and timed from
outside, start-up included; each side's peak memory is the whole process tree's (the
export's worker processes included), sampled by ``bench/measure.py``, which
also says how busy the rest of the machine was.  ``--cpus`` pins both sides to the same
cores.  The runs go in ABBA order (export, floor, floor, export, ...), each into a folder of
its own, nothing deleted until the end (on ext4, creating files soon after many were deleted
costs far more, which would fall on whichever run came after a deletion).  Best and median
of each side are compared.

With ``--entities`` the same number of items is also seeded with ``repo seed --entities``
and exported in the same rotation.  ``--big-mib`` then exports one item holding a bitstream
of that size and prints its time and tree peak.  Figures only, no assertions.

    .venv/bin/python bench/export.py                          # 3,000 items + a 1 GiB item
    .venv/bin/python bench/export.py --items 3000 --repeat 5 --big-mib 0
    .venv/bin/python bench/export.py --items 2000 --big-mib 0 --entities
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import measure  # noqa: E402  (bench/ is on sys.path only from here on)
from measure import aipsync  # noqa: E402

PREFIX = "123456789"
ADMIN = "admin@example.org"
SITE_FILE = f"SITE@{PREFIX}-0.zip"
#: Packages per task sent to a floor worker (the export's ITEMS_PER_TASK).
FLOOR_TASK = 16
COPY_BLOCK = 1024 * 1024
_BITSTREAM_ENTRY = re.compile(r"^bitstream_(-?\d+)(\.[^/]*)?$")


def export_argv(repo: Path, out: Path, workers: int) -> list[str]:
    return aipsync("--repo", str(repo), "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN,
                   "-i", f"{PREFIX}/0", "--workers", str(workers), str(out / SITE_FILE))


def floor_argv(plan: Path, out: Path, workers: int) -> list[str]:
    from aip.packager.disseminator import BATCH_BYTES, BATCH_FILES  # the export's batches

    return [sys.executable, __file__, "--phase", "floor", str(plan), str(out), str(workers),
            str(BATCH_FILES), str(BATCH_BYTES)]


def seed(repo: Path, items: int, entities: bool) -> float:
    """``repo init`` + ``repo seed`` (not part of any figure); the seconds the seed took."""
    measure.run(aipsync("--repo", str(repo), "repo", "init", "--handle-prefix", PREFIX,
                        "--admin", ADMIN))
    return measure.run(aipsync("--repo", str(repo), "repo", "seed", "--items", str(items),
                               "--seed", "7", "--bitstream-size", "20000",
                               *(["--entities"] if entities else []))).seconds


# -- the floor's plan (untimed) ----------------------------------------------------------------
def make_plan(repo: Path, exported: Path, plan: Path) -> int:
    """Read an export back into the floor's plan (``plan`` and ``plan.bin``); returns the
    number of packages."""
    import sqlalchemy as sa

    from aip.repository import tables as T
    from aip.repository.store import Repository

    r = Repository.open(repo)
    keys: dict[tuple[str, str], str] = {}  # (handle, entry stem) -> assetstore key
    with r.engine.connect() as conn:
        for handle, seq, key in conn.execute(
                sa.select(T.item.c.handle, T.bitstream.c.sequence_id, T.bitstream.c.store_key)
                .join(T.bundle, T.bundle.c.item_id == T.item.c.id)
                .join(T.bitstream, T.bitstream.c.bundle_id == T.bundle.c.id)
                .where(T.item.c.handle.is_not(None))):
            keys[(handle, f"bitstream_{seq}")] = key
        for table in (T.community, T.collection):
            for handle, key in conn.execute(
                    sa.select(table.c.handle, T.bitstream.c.store_key)
                    .join(T.bitstream, T.bitstream.c.id == table.c.logo_id)):
                keys[(handle, "logo")] = key
    count = 0
    with open(plan, "w") as lines, open(plan.with_suffix(".bin"), "wb") as blob:
        for path in sorted(exported.glob("*.zip")):
            handle = path.name.partition("@")[2].removesuffix(".zip").replace("-", "/", 1)
            entries = []
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.compress_type != zipfile.ZIP_DEFLATED:
                        raise SystemExit(f"{path.name}: entry {info.filename} is not "
                                         "deflated; the floor deflates every entry")
                    match = _BITSTREAM_ENTRY.match(info.filename)
                    stem = (f"bitstream_{match.group(1)}" if match
                            else "logo" if info.filename.startswith("logo") else None)
                    key = keys.get((handle, stem)) if stem else None
                    if key is not None and r.assetstore.path(key).stat().st_size == \
                            info.file_size:
                        source: list[object] = ["file", str(r.assetstore.path(key))]
                    else:  # the manifest, and any entry not found in the assetstore
                        data = zf.read(info)
                        source = ["blob", blob.tell()]
                        blob.write(data)
                    entries.append([info.filename, list(info.date_time), info.file_size,
                                    info.create_system, info.external_attr, *source])
                comment = zf.comment.decode("ascii")
            lines.write(json.dumps({"name": path.name, "comment": comment,
                                    "entries": entries}) + "\n")
            count += 1
    return count


# -- the floor (a measured process of its own) -------------------------------------------------
def _floor_write(task: tuple[str, str, list[dict[str, Any]]]) -> list[tuple[str, str, int]]:
    """Write a task's packages under temp names (in a floor worker): (temp, final, size)."""
    from aip.files import create_temp

    out, blob_path, packages = task
    done = []
    with open(blob_path, "rb") as blob:
        for package in packages:
            final = Path(out) / str(package["name"])
            fd, tmp = create_temp(final)
            with os.fdopen(fd, "wb") as handle:
                with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED,
                                     allowZip64=True) as zf:
                    zf.comment = str(package["comment"]).encode("ascii")
                    for name, when, size, host, attr, kind, where in package["entries"]:
                        info = zipfile.ZipInfo(name, date_time=tuple(when))
                        info.compress_type = zipfile.ZIP_DEFLATED
                        info.create_system = host
                        info.external_attr = attr
                        info.file_size = size
                        with zf.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as dst:
                            if kind == "blob":
                                dst.write(os.pread(blob.fileno(), size, where))
                            else:
                                with open(where, "rb") as src:
                                    while block := src.read(COPY_BLOCK):
                                        dst.write(block)
                handle.flush()
                done.append((str(tmp), str(final), handle.tell()))
    return done


def _floor_tasks(plan: Path, out: str) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    blob = str(plan.with_suffix(".bin"))
    batch: list[dict[str, Any]] = []
    with open(plan) as lines:
        for line in lines:
            batch.append(json.loads(line))
            if len(batch) == FLOOR_TASK:
                yield out, blob, batch
                batch = []
    if batch:
        yield out, blob, batch


def phase_floor(plan: str, out: str, workers: str, batch_files: str, batch_bytes: str) -> None:
    """The floor's process: only ``aip.files`` is imported (no database layer), so its
    start-up and memory are what writing the packages needs."""
    import multiprocessing

    from aip.files import BatchWriter

    writer = BatchWriter()

    def take(written: list[tuple[str, str, int]]) -> None:
        for tmp, final, size in written:
            writer.adopt(Path(tmp), Path(final), size)
        if len(writer.pending) >= int(batch_files) or writer.bytes_pending >= int(batch_bytes):
            writer.commit()

    tasks = _floor_tasks(Path(plan), out)
    if int(workers) > 1:
        with multiprocessing.get_context("fork").Pool(int(workers)) as pool:
            for written in pool.imap(_floor_write, tasks):
                take(written)
    else:
        for task in tasks:
            take(_floor_write(task))
    writer.commit()


def phase_plan(repo: str, exported: str, plan: str) -> None:
    print(json.dumps({"packages": make_plan(Path(repo), Path(exported), Path(plan))}))


PHASES = {"floor": phase_floor, "plan": phase_plan}


def _digests(folder: Path) -> dict[str, str]:
    found = {}
    for path in folder.glob("*.zip"):
        with open(path, "rb") as handle:
            found[path.name] = hashlib.file_digest(handle, "sha256").hexdigest()
    return found


def _zips(folder: Path) -> tuple[int, int]:
    paths = list(folder.glob("*.zip"))
    return len(paths), sum(p.stat().st_size for p in paths)


def big_item(work: Path, mib: int, cpus: list[int] | None) -> measure.Measured:
    """Export one item holding a ``mib`` MiB bitstream (the item made first, untimed)."""
    base = Path(tempfile.mkdtemp(prefix="big-", dir=work))
    repo, data = base / "big-repo", base / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(data, "wb") as out:
        for _ in range(mib):
            out.write(block)
    for argv in (["repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN],
                 ["repo", "create-community", "--name", "C"],
                 ["repo", "create-collection", "--name", "K", "--parent", f"{PREFIX}/1"],
                 ["repo", "create-item", "--collection", f"{PREFIX}/2", "--title", "Big"],
                 ["repo", "add-bitstream", f"{PREFIX}/3", str(data)]):
        measure.run(aipsync("--repo", str(repo), *argv))
    data.unlink()
    try:
        return measure.run(aipsync("--repo", str(repo), "packager", "-d", "-t", "AIP", "-e",
                                   ADMIN, "-i", f"{PREFIX}/3", str(base / "big.zip")),
                           cpus=cpus)
    finally:
        shutil.rmtree(base)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        PHASES[sys.argv[2]](*sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--big-mib", type=int, default=1024,
                        help="size of the large bitstream (0 to skip)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the seeded repositories here between runs")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each side, in ABBA order")
    parser.add_argument("--workers", type=int, default=0,
                        help="the export's --workers (0 = its default); the floor uses as "
                             "many worker processes as the export does")
    parser.add_argument("--cpus", default=None, metavar="LIST",
                        help="pin both sides to these CPUs (e.g. 0,1); default: not pinned")
    parser.add_argument("--entities", action="store_true",
                        help="also export a site seeded with --entities (same item count)")
    args = parser.parse_args()
    from aip.packager.pool import worker_count  # the export's own rule

    cpus = measure.cpu_list(args.cpus)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()  # configs name folders; relative ones would be read as the configs'
    print(measure.machine(work), flush=True)
    repos = {"export": work / f"site-{args.items}"}
    if args.entities:
        repos["entities"] = work / f"site-{args.items}-entities"
    for name, path in repos.items():
        if not (path / "repository.sqlite").exists():
            shutil.rmtree(path, ignore_errors=True)
            took = seed(path, args.items, name == "entities")
            print(f"seeded {args.items} items{' with --entities' if name == 'entities' else ''}"
                  f" in {took:.1f} s", flush=True)
    # The plan, from an export of its own (untimed).
    first = work / f"plan-source-{os.getpid()}"
    first.mkdir()
    measure.run(export_argv(repos["export"], first, args.workers))
    plan = work / "floor-plan.jsonl"
    packages = json.loads(measure.run(
        [sys.executable, __file__, "--phase", "plan", str(repos["export"]), str(first),
         str(plan)], capture=True).stdout)["packages"]
    workers = worker_count(args.workers, args.items)
    print(f"floor plan: {packages} packages; the export uses {workers} worker process(es) "
          f"for {args.items} items, so the floor does too", flush=True)

    sides = ["export", "floor"] + (["entities"] if args.entities else [])
    runs: dict[str, list[measure.Measured]] = {name: [] for name in sides}
    outputs: dict[str, list[Path]] = {name: [] for name in sides}
    argvs: dict[str, list[str]] = {}
    for rep in range(args.repeat):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for name in order:
            out = work / f"out-{name}-{rep}-{os.getpid()}"
            out.mkdir()
            outputs[name].append(out)
            argv = (floor_argv(plan, out, workers) if name == "floor"
                    else export_argv(repos[name], out, args.workers))
            argvs[name] = argv
            got = measure.run(argv, cpus=cpus)
            runs[name].append(got)
            print(f"  round {rep + 1} {name:<9} {got.seconds:7.2f} s, tree peak "
                  f"{got.peak_tree_mib:6.1f} MiB, {got.processes} processes, others "
                  f"{got.others_cores:.2f} cores", flush=True)
    same = _digests(outputs["export"][0])
    floor_made = _digests(outputs["floor"][0])
    identical = sum(1 for n, d in floor_made.items() if same.get(n) == d)

    print(f"\nsite of {args.items} items; pinned to CPUs {cpus or 'not pinned'}; both sides "
          "timed from outside (process start-up included), memory = whole process tree")
    for name in sides:
        print(f"  {name}: {' '.join(argvs[name])}")
    print(f"\n{'side':<9} {'zips':>6} {'MB':>7} {'best s':>7} {'median s':>9} {'worst s':>8}"
          f" {'zips/s':>7} {'tree MiB':>9} {'1 proc MiB':>10} {'procs':>6} {'CPU s':>6}")
    spreads = {}
    for name in sides:
        zips, size = _zips(outputs[name][0])
        spread = spreads[name] = measure.Spread.of(r.seconds for r in runs[name])
        print(f"{name:<9} {zips:>6} {size / 1e6:>7.1f} {spread.best:>7.2f} "
              f"{spread.median:>9.2f} {spread.worst:>8.2f} {zips / spread.best:>7.1f} "
              f"{max(r.peak_tree_mib for r in runs[name]):>9.1f} "
              f"{max(r.peak_largest_rss for r in runs[name]) / measure.MiB:>10.1f} "
              f"{max(r.processes for r in runs[name]):>6} "
              f"{sorted(r.tree_cpu for r in runs[name])[len(runs[name]) // 2]:>6.1f}")
    print(f"floor zips byte-identical to the export's: {identical} of {len(floor_made)} "
          f"(the export wrote {len(same)})")
    e, f = spreads["export"], spreads["floor"]
    ratio = e.best / f.best
    print(f"\nexport time / floor time: {ratio:.2f}x best to best, {e.median / f.median:.2f}x "
          f"median to median (target: at most 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    print(f"export {e.seconds()}; floor {f.seconds()}")
    print(measure.others_note(r for v in runs.values() for r in v))
    if args.entities:
        n = spreads["entities"]
        print(f"entity site / plain site export time: {n.best / e.best:.2f}x best to best, "
              f"{n.median / e.median:.2f}x median to median")
    for folder in [first, *(o for v in outputs.values() for o in v)]:
        shutil.rmtree(folder, ignore_errors=True)
    if args.big_mib:
        big = big_item(work, args.big_mib, cpus)
        print(f"\n1 item with a {args.big_mib} MiB bitstream (packager -d, one item): "
              f"{big.seconds:.1f} s, tree peak {big.peak_tree_mib:.1f} MiB in "
              f"{big.processes} process(es) (target under 200 MiB: "
              f"{'met' if big.peak_tree_mib < 200 else 'NOT met'})")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
