"""Export benchmark: aipsync's site export against a bare-zipfile floor, in one run.

Prints, for a seeded site (default 10,000 items), objects per second, MB/s and peak memory
of ``packager -d -a`` and of a plain baseline that copies the same bitstreams into one zip
per item with Python's zipfile plus a minimal manifest, and the ratio.  Then exports one
item with a 1 GiB bitstream and prints its peak memory.  Each measured phase runs in its own
process and reports its own peak RSS (the export's worker processes, used from 64 items up,
each stay near the single-process figure; ``--workers 1`` measures one process alone).
No assertions: figures only.

The two runs are repeated in ABBA order (export, baseline, baseline, export, ...) and each
side's best time is compared, and the medians too, so drift on the machine falls on both
alike.  Every run writes into a folder of its own and nothing is deleted until the end: on
ext4, creating files soon after many were deleted costs far more (the allocator skips
recently deleted inodes), which would fall on whichever run came after a deletion.

With ``--entities`` the same number of items is also seeded with ``repo seed --entities``
(typed items and their relationships: rels structMaps and AIPSYNC-EXT relationships in the
item AIPs) and exported in the same rotation, so the two sites' figures print side by side.

    .venv/bin/python bench/export.py                   # 10,000 items + the 1 GiB item
    .venv/bin/python bench/export.py --items 2000 --big-mib 256
    .venv/bin/python bench/export.py --items 2000 --big-mib 0 --entities
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--phase", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- phases (each runs in its own process) -----------------------------------------------------
def phase_seed(repo: str, items: str, entities: str = "") -> None:
    from aip import cli

    started = time.monotonic()
    for argv in (["--repo", repo, "repo", "init", "--handle-prefix", "123456789",
                  "--admin", "admin@example.org"],
                 ["--repo", repo, "repo", "seed", "--items", items, "--seed", "7",
                  "--bitstream-size", "20000", *(["--entities"] if entities else [])]):
        with open(os.devnull, "w") as sink:
            assert cli.run(argv, out=sink) == 0
    print(json.dumps({"seconds": time.monotonic() - started, "peak_mib": _peak_mib()}))


def phase_export(repo: str, out: str, workers: str = "0") -> None:
    from aip.packager.disseminator import ExportRequest, export
    from aip.repository.store import Repository

    started = time.monotonic()
    r = Repository.open(Path(repo))
    result = export(r, ExportRequest(handle="123456789/0", eperson="admin@example.org",
                                     output=Path(out) / "site.zip", recursive=True,
                                     workers=int(workers)))
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": seconds, "objects": len(result.written),
                      "bytes": result.bytes_in, "peak_mib": _peak_mib()}))


def phase_baseline(repo: str, out: str) -> None:
    """The floor: same bitstreams, one zip per item, Python's zipfile, a minimal manifest."""
    import sqlalchemy as sa

    from aip.repository import tables as T
    from aip.repository.store import Repository

    started = time.monotonic()
    r = Repository.open(Path(repo))
    objects = 0
    copied = 0
    with r.engine.connect() as conn:
        rows = conn.execute(
            sa.select(T.item.c.handle, T.bitstream.c.sequence_id, T.bitstream.c.store_key,
                      T.bitstream.c.name)
            .join(T.bundle, T.bundle.c.item_id == T.item.c.id)
            .join(T.bitstream, T.bitstream.c.bundle_id == T.bundle.c.id)
            .where(T.item.c.handle.is_not(None))
            .order_by(T.item.c.id, T.bundle.c.position, T.bitstream.c.position)).all()
    by_item: dict[str, list[tuple[int, str, str]]] = {}
    for handle, seq, key, name in rows:
        by_item.setdefault(handle, []).append((seq, key, name or ""))
    for handle, files in by_item.items():
        path = Path(out) / f"ITEM@{handle.replace('/', '-')}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            manifest = "".join(f'<file seq="{s}" name="{n}"/>' for s, _, n in files)
            zf.writestr("mets.xml", f"<mets>{manifest}</mets>")
            for seq, key, _ in files:
                src = r.assetstore.path(key)
                zf.write(src, f"bitstream_{seq}")
                copied += src.stat().st_size
        objects += 1
    print(json.dumps({"seconds": time.monotonic() - started, "objects": objects,
                      "bytes": copied, "peak_mib": _peak_mib()}))


def phase_big(base: str, mib: str) -> None:
    """An item with one large bitstream: export it and report the exporter's peak memory."""
    from aip import cli
    from aip.packager.disseminator import ExportRequest, export
    from aip.repository.store import Repository

    base = tempfile.mkdtemp(prefix="big-", dir=base)  # a workdir kept between runs
    repo = Path(base) / "big-repo"
    data = Path(base) / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(data, "wb") as out:
        for _ in range(int(mib)):
            out.write(block)
    with open(os.devnull, "w") as sink:
        for argv in (["--repo", str(repo), "repo", "init", "--handle-prefix", "123456789",
                      "--admin", "admin@example.org"],
                     ["--repo", str(repo), "repo", "create-community", "--name", "C"],
                     ["--repo", str(repo), "repo", "create-collection", "--name", "K",
                      "--parent", "123456789/1"],
                     ["--repo", str(repo), "repo", "create-item", "--collection",
                      "123456789/2", "--title", "Big"],
                     ["--repo", str(repo), "repo", "add-bitstream", "123456789/3",
                      str(data)]):
            assert cli.run(argv, out=sink) == 0
    data.unlink()
    before = _peak_mib()
    started = time.monotonic()
    export(Repository.open(repo), ExportRequest(
        handle="123456789/3", eperson="admin@example.org", output=Path(base) / "big.zip"))
    seconds = time.monotonic() - started
    shutil.rmtree(base)
    print(json.dumps({"seconds": seconds, "bytes": int(mib) * 1024 * 1024,
                      "peak_mib": _peak_mib(), "peak_before_export_mib": before}))


PHASES = {"seed": phase_seed, "export": phase_export, "baseline": phase_baseline,
          "big": phase_big}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        PHASES[sys.argv[2]](*sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--big-mib", type=int, default=1024,
                        help="size of the large bitstream (0 to skip)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the seeded repository here between runs")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each side, in ABBA order; the best of each is compared")
    parser.add_argument("--workers", type=int, default=0,
                        help="export worker processes (0 = one per CPU, 1 = none)")
    parser.add_argument("--entities", action="store_true",
                        help="also export a site seeded with --entities (same item count)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    repo = work / f"site-{args.items}"
    repos = {"export": repo, "baseline": repo}
    if args.entities:
        repos["entities"] = work / f"site-{args.items}-entities"
    for name, path in repos.items():
        if not (path / "repository.sqlite").exists():
            seeded = _child("seed", str(path), str(args.items),
                            "entities" if name == "entities" else "")
            print(f"seeded {args.items} items{' with --entities' if name == 'entities' else ''}"
                  f" in {seeded['seconds']:.1f} s")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in repos}
    outputs = []
    for rep in range(args.repeat):
        order = list(repos) if rep % 2 == 0 else list(reversed(repos))
        for name in order:
            out = work / f"out-{name}-{rep}-{os.getpid()}"
            out.mkdir()
            outputs.append(out)
            extra = [str(args.workers)] if name != "baseline" else []
            runs[name].append(_child("baseline" if name == "baseline" else "export",
                                     str(repos[name]), str(out), *extra))
    print(f"\n{'run':<10} {'objects':>8} {'seconds':>8} {'obj/s':>9} {'MB/s':>8} {'peak MiB':>9}"
          "   (best of the runs; all runs in seconds)")
    best = {}
    for name, figs in runs.items():
        fig = best[name] = min(figs, key=lambda f: f["seconds"])
        every = ", ".join(f"{f['seconds']:.2f}" for f in figs)
        print(f"{name:<10} {int(fig['objects']):>8} {fig['seconds']:>8.2f} "
              f"{fig['objects'] / fig['seconds']:>9.1f} "
              f"{fig['bytes'] / 1e6 / fig['seconds']:>8.1f} "
              f"{max(f['peak_mib'] for f in figs):>9.1f}   ({every})")
    ratio = best["export"]["seconds"] / best["baseline"]["seconds"]
    medians = {name: statistics.median(f["seconds"] for f in figs)
               for name, figs in runs.items()}
    print(f"\naipsync export time / bare-zipfile baseline time: {ratio:.2f}x best to best, "
          f"{medians['export'] / medians['baseline']:.2f}x median to median "
          "(target: within 2x; the export also writes container AIPs, full METS and "
          "validates every manifest)")
    if args.entities:
        print(f"entity site / plain site export time: "
              f"{best['entities']['seconds'] / best['export']['seconds']:.2f}x best to best, "
              f"{medians['entities'] / medians['export']:.2f}x median to median")
    for out in outputs:
        shutil.rmtree(out, ignore_errors=True)
    if args.big_mib:
        big = _child("big", str(work), str(args.big_mib))
        print(f"\n1 item with a {args.big_mib} MiB bitstream: {big['seconds']:.1f} s, "
              f"peak memory {big['peak_mib']:.1f} MiB (target under 200 MiB)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
