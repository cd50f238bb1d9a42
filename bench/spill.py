"""Per-object structures of a million-object run: aipsync's (kept in ``aip.spill``'s scratch
files past a few thousand entries) against the same work on plain lists, dicts and sets.

Each case does one job of a run that touches every object of a large site, twice, each time
in a process of its own measured from outside (``measure.run``: wall time with start-up,
whole-tree peak RSS):

- ``walk``: a restore's walk of the AIP tree (``daemon.restore.plan.walk_tree``), over a
  synthetic site of N items in 40 collections, each container's child keys given as the
  restore's fetcher gives them (a ``SpillList``); against the same breadth-first walk on
  dicts and lists with the keys in lists.
- ``claims``: the result lines of a DSpace site restore (``packager -r -a``), one per
  object, read by the driver's sink (``IngestLines``: each handle once, first claim kept);
  against a dict of handle -> outcome.
- ``manifest``: a restore's parse of the largest collection's AIP manifest (a synthetic
  collection listing 3 in 10 of the N items, made once in ``--out``): ``parse_package``
  as it reads a manifest past ``LIFT_ABOVE`` (pointer divs lifted out of the tree as they
  end, kept in a ``SpillList``), against the same call reading it as one lxml tree (what
  it does below ``LIFT_ABOVE``).
- ``listing``: a DSpace export's listing (``CREATED package file: ...`` for N packages)
  checked against its folder of N files (``DSpaceSource._check_listing``); against the sets
  of both and their differences.  The folder is made once in ``--out`` and kept.

Both sides of a case print a digest of what they computed (the walk's entries, the claims,
the names), and the script checks that the digests agree, so the two sides did the same work.

    .venv/bin/python bench/spill.py --items 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import measure

REPO = Path(__file__).resolve().parents[1]
CASES = ("walk", "claims", "listing", "manifest")
#: Each case's two sides: aipsync's, and the plain way of doing the same.
SIDES = {"walk": ("aipsync", "in memory"), "claims": ("aipsync", "in memory"),
         "listing": ("aipsync", "in memory"), "manifest": ("aipsync", "whole tree")}
COLLECTIONS = 40
SITE = "SITE@123456789-0.zip"


# --- the jobs (run in the measured child) ------------------------------------------------------
def _children(key: str, items: int) -> Iterator[str]:
    """The child keys of ``key`` in the synthetic site: 10 communities of 4 collections."""
    per = items // COLLECTIONS
    kind, _, rest = key.partition("@")
    number = int(rest.split("-")[1].split(".")[0])
    if kind == "SITE":
        yield from (f"COMMUNITY@123456789-{c}.zip" for c in range(1, 11))
    elif kind == "COMMUNITY":
        yield from (f"COLLECTION@123456789-{100 + number * 4 + j}.zip" for j in range(4))
    elif kind == "COLLECTION":
        first = 1000 + (number - 104) * per
        yield from (f"ITEM@123456789-{first + i}.zip" for i in range(per))


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def walk(items: int, spilled: bool) -> str:
    if spilled:
        from aip.spill import SpillList
        from daemon.restore.plan import walk_tree

        def expand(level: Iterable[str]) -> dict[str, SpillList[str]]:
            return {key: found for key in level
                    if (found := SpillList(_children(key, items)))}

        tree = walk_tree(SITE, expand)
        return _digest(f"{e.key} {e.depth} {','.join(e.listed_by)}" for e in tree)
    first: dict[str, str] = {SITE: ""}
    levels: list[list[str]] = []
    level = [SITE]
    while level:
        children = {key: found for key in level if (found := list(_children(key, items)))}
        levels.append(level)
        following: list[str] = []
        for key in level:
            for child in children.get(key, ()):
                if child not in first:
                    first[child] = key
                    following.append(child)
        level = following
    entries = [(key, depth, first[key]) for depth, keys in enumerate(levels) for key in keys]
    return _digest(f"{key} {depth} {lister}" for key, depth, lister in entries)


def _claim_lines(items: int) -> Iterator[str]:
    for n in range(1, items + 1):
        yield f"RESTORED DSpace ITEM [ hdl=123456789/{n}, dbID={n:032x} ] "


def claims(items: int, spilled: bool) -> str:
    from aip.errors import Outcome
    from daemon.source.dspaceout import IngestLines

    if spilled:
        sink = IngestLines()
        for line in _claim_lines(items):
            sink("stdout", line)
        return _digest(f"{o.handle} {o.action} {o.detail}" for o in sink.objects)
    objects: dict[str, Outcome] = {}
    for line in _claim_lines(items):
        inner = line.split("[ ", 1)[1].split(" ]", 1)[0]
        handle, dbid = (part.split("=", 1)[1] for part in inner.split(", "))
        objects.setdefault(handle, Outcome(handle, "restored", f"DSpace ITEM, dbID={dbid}"))
    return _digest(f"{o.handle} {o.action} {o.detail}" for o in objects.values())


def _names(items: int) -> Iterator[str]:
    yield SITE
    yield from (f"ITEM@123456789-{n}.zip" for n in range(1, items + 1))


def listing(items: int, spilled: bool, folder: Path) -> str:
    from daemon.core.config import parse_config
    from daemon.source.dspace import DSpaceSource
    from daemon.source.dspaceout import ExportLines

    printed = (f"CREATED package file: {folder / name}" for name in _names(items))
    if spilled:
        lines = ExportLines()
        lines("stdout", f"CREATED a total of {items + 1} dissemination package files.")
        for line in printed:
            lines("stdout", line)
        scratch = folder.parent / "scratch"
        config = parse_config({
            "repository": {"kind": "dspace", "dspace_bin": "/nonexistent/bin/dspace",
                           "eperson": "admin@example.org", "site_handle": "123456789/0"},
            "staging": {"dir": str(scratch / "s")}, "state": {"dir": str(scratch / "t")},
            "target": {"url": f"file://{scratch}"}})
        written = DSpaceSource(config)._check_listing(folder, lines, recursive=True)
        return _digest(written)
    listed = [os.path.basename(line.split(": ", 1)[1]) for line in printed]
    on_disk = [name for name in os.listdir(folder) if name.endswith(".zip")]
    if set(listed) != set(on_disk):
        raise SystemExit("the listing does not match the folder")
    return _digest(sorted(set(listed)))


def manifest(items: int, lifted: bool, folder: Path) -> str:
    """``parse_package`` of the largest collection's manifest (3 in 10 of the items)."""
    from aip.packager import manifest as M
    from aip.packager.config import IngestConfig
    from aip.packager.reader import PackageZip

    if not lifted:
        # the whole-tree parse, which manifests below LIFT_ABOVE get
        setattr(M, "LIFT_ABOVE", 1 << 62)  # noqa: B010 - not exported by the module
    path = folder.parent / f"collection-{items}.zip"
    with PackageZip(path) as package:
        data = package.read_manifest()
    parsed = M.parse_package(data, config=IngestConfig(), path=path.name)
    del data
    return _digest(f"{c.type} {c.handle} {c.href}" for c in parsed.children)


def make_collection(path: Path, items: int) -> None:
    """A collection AIP listing 3 in 10 of ``items`` (made once; a marker says for which N)."""
    import datetime
    import zipfile

    from aip.model import Collection, HandleList, MetadataValue
    from aip.packager import manifest as M

    marker = path.with_suffix(".done")
    if marker.exists() and marker.read_text() == str(items):
        return
    members = HandleList((n, f"123456789/{n}") for n in range(1000, 1000 + items * 3 // 10))
    collection = Collection(handle="123456789/7", parents=("123456789/2",),
                            metadata=(MetadataValue("dc", "title", None, "Largest"),),
                            items=members)
    ctx = M.BuildContext(site_handle="123456789/0", site_url="https://repo.example.org",
                         today=datetime.date(2026, 1, 1))
    built = M.build_collection_package(collection, (), ctx)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("mets.xml", "w", force_zip64=True) as out:
        for chunk in built.manifest_chunks():
            out.write(chunk)
    marker.write_text(str(items))


def make_folder(folder: Path, items: int) -> None:
    """N empty package files (made once; a marker says for which N)."""
    marker = folder.parent / f"{folder.name}.done"
    if marker.exists() and marker.read_text() == str(items):
        return
    if folder.exists():
        for entry in os.scandir(folder):
            os.unlink(entry.path)
    folder.mkdir(parents=True, exist_ok=True)
    for name in _names(items):
        with open(folder / name, "wb"):
            pass
    marker.write_text(str(items))


# --- the comparison -----------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--cases", nargs="*", choices=CASES, default=list(CASES))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "spill")
    parser.add_argument("--cpus", metavar="LIST", help="pin both sides to these CPUs")
    parser.add_argument("--run", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = args.out / f"listing-{args.items}"
    if args.run:
        case, mode = args.run
        spilled = mode == "aipsync"
        if case == "walk":
            digest = walk(args.items, spilled)
        elif case == "claims":
            digest = claims(args.items, spilled)
        elif case == "listing":
            digest = listing(args.items, spilled, folder)
        else:
            digest = manifest(args.items, spilled, folder)
        print(json.dumps({"digest": digest}))
        return 0
    cpus = measure.cpu_list(args.cpus)
    args.out.mkdir(parents=True, exist_ok=True)
    print(measure.machine(args.out), flush=True)
    print(f"{args.items:,} objects; each side a process of its own, timed from start to exit, "
          "peak RSS of its whole tree", flush=True)
    if "listing" in args.cases:
        make_folder(folder, args.items)
    if "manifest" in args.cases:
        make_collection(args.out / f"collection-{args.items}.zip", args.items)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"{'case':<8} {'side':<10} {'seconds':>8} {'peak MiB':>9} {'others':>7}")
    runs = []
    for case in args.cases:
        got = {}
        for mode in SIDES[case]:
            argv = [sys.executable, str(Path(__file__).resolve()), "--items", str(args.items),
                    "--out", str(args.out), "--run", case, mode]
            measured = measure.run(argv, env=env, cwd=REPO, cpus=cpus, capture=True)
            runs.append(measured)
            got[mode] = (measured, json.loads(measured.stdout or "{}").get("digest"))
            print(f"{case:<8} {mode:<10} {measured.seconds:>8.1f} "
                  f"{measured.peak_tree_mib:>9.1f} {measured.others_cores:>7.2f}", flush=True)
        (ours, ours_digest), (plain, plain_digest) = (got[side] for side in SIDES[case])
        same = "same result" if ours_digest == plain_digest else "RESULTS DIFFER"
        print(f"{case:<8} {' / '.join(SIDES[case])}: peak "
              f"{ours.peak_tree_mib / plain.peak_tree_mib:.2f}x, "
              f"time {ours.seconds / plain.seconds:.2f}x ({same})", flush=True)
        if ours_digest != plain_digest:
            return 1
    print(measure.others_note(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
