"""Where a site export's time and memory go: ``packager -d -a`` profiled in one process.

Seeds a site (default 3,000 items; reused under ``--workdir``) and exports it twice in this
process with ``--workers 1`` (no worker processes, so everything the export does runs
here: the main thread and its zip-writing threads):

1. under ``cProfile``, on every thread (a profile hook installed with ``threading.setprofile``
   starts a profiler of its own in each new thread; the profiles are merged).  Prints, per
   step, the time spent inside the step's functions (cumulative, every thread), per item
   and as a share of the whole, and the functions with the most time of their own.  The
   steps are named by function (``STEPS``); a function that no longer exists prints as not
   found, so the table says when the code moved on.  The clock is cProfile's default (wall
   time per thread); the profiler's own cost per call makes Python-heavy steps look
   dearer than they are, so read shares, not absolute milliseconds, and compare with
   ``bench/export.py`` for real times.
2. under ``tracemalloc``: the peak of the Python heap during the export, next to the
   process's peak RSS (``ru_maxrss``), which adds the interpreter, the modules and C
   libraries (lxml, SQLite).

    .venv/bin/python bench/profile_export.py
    .venv/bin/python bench/profile_export.py --items 1000 --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PREFIX = "123456789"
ADMIN = "admin@example.org"
#: Step -> the functions (module, name) whose cumulative time is the step's.  Nested steps
#: (a function inside another step's) are indented under it.
STEPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("plan the export (handles, order)", [("aip/packager/disseminator.py", "iter_plan")]),
    ("load items (SQL, model objects)", [("aip/packager/disseminator.py", "_prefetch"),
                                          ("aip/packager/disseminator.py", "_item_for_export")]),
    ("build manifests (every package)", [("aip/packager/manifest.py", "build_item_package"),
                                          ("aip/packager/manifest.py",
                                           "build_collection_package"),
                                          ("aip/packager/manifest.py",
                                           "build_community_package"),
                                          ("aip/packager/manifest.py", "build_site_package")]),
    ("  of which: METS text to lxml tree", [("aip/mets/build.py", "to_tree")]),
    ("validate (METS schema, IDs)", [("aip/packager/zipwriter.py", "validate_built")]),
    ("  of which: METS schema", [("aip/mets/validate.py", "mets_schema_problems")]),
    ("write zips (deflate, bitstreams, MD5)", [("aip/packager/zipwriter.py", "write_temp")]),
    ("  of which: bitstream entries", [("aip/packager/zipwriter.py", "_copy_entry")]),
    ("make durable and rename (batches)", [("aip/files.py", "commit")]),
]
#: Built-ins in which a thread only waits (their own time is not work).
WAITING = {"<method 'get' of '_queue.SimpleQueue' objects>",
           "<method 'acquire' of '_thread.lock' objects>",
           "<method 'acquire' of '_thread.RLock' objects>"}


def seed(repo: Path, items: int) -> None:
    for argv in (["repo", "init", "--handle-prefix", PREFIX, "--admin", ADMIN],
                 ["repo", "seed", "--items", str(items), "--seed", "7",
                  "--bitstream-size", "20000"]):
        subprocess.run([sys.executable, "-m", "daemon", "--repo", str(repo), *argv],
                       check=True, stdout=subprocess.DEVNULL)


def export_once(repo: Path, out: Path) -> int:
    from aip.packager.disseminator import ExportRequest, export
    from aip.repository.store import Repository

    result = export(Repository.open(repo), ExportRequest(
        handle=f"{PREFIX}/0", eperson=ADMIN, output=out / f"SITE@{PREFIX}-0.zip",
        recursive=True, workers=1))
    return result.written


def profiled(repo: Path, out: Path) -> tuple[pstats.Stats, float, int]:
    """The export under cProfile on every thread: merged stats, wall seconds, packages."""
    extra: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(*_: object) -> None:
        profile = cProfile.Profile()
        with lock:
            extra.append(profile)
        profile.enable()  # replaces this hook for the thread

    main = cProfile.Profile()
    threading.setprofile(start_in_thread)
    started = time.monotonic()
    main.enable()
    try:
        packages = export_once(repo, out)
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
    seconds = time.monotonic() - started
    stats = pstats.Stats(main)
    for profile in extra:
        stats.add(profile)
    return stats, seconds, packages


def step_table(stats: pstats.Stats, items: int, wall: float) -> list[str]:
    """One line per step: cumulative seconds, ms per item, share of the export's wall time
    (threads overlap, so the shares can add up to more than 100%)."""
    table = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [f"{'step':<40} {'seconds':>8} {'ms/item':>8} {'of wall':>7}  functions"]
    for label, functions in STEPS:
        found, seconds = [], 0.0
        for (path, _, name), (_, _, _, cumulative, _) in table.items():
            for module, wanted in functions:
                if name == wanted and path.endswith(module):
                    found.append(name)
                    seconds += cumulative
        if not found:
            lines.append(f"{label:<40} {'not found':>8}  "
                         f"{', '.join(n for _, n in functions)} (renamed or moved?)")
            continue
        lines.append(f"{label:<40} {seconds:>8.2f} {seconds * 1000 / items:>8.2f} "
                     f"{seconds / wall:>7.1%}  {', '.join(sorted(set(found)))}")
    waiting = sum(own for (_, _, name), (_, _, own, _, _) in table.items()
                  if name in WAITING)
    lines.append(f"{'threads waiting (queues, locks)':<40} {waiting:>8.2f} "
                 f"{waiting * 1000 / items:>8.2f} {waiting / wall:>7.1%}")
    lines.append(f"{'all threads, waiting excluded':<40} {total - waiting:>8.2f} "
                 f"{(total - waiting) * 1000 / items:>8.2f} {(total - waiting) / wall:>7.1%}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--top", type=int, default=20, help="functions by own time to list")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the seeded repository here between runs")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import measure

    work = Path(args.workdir or tempfile.mkdtemp(prefix="aipsync-profile-"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()  # configs name folders; relative ones would be read as the configs'
    print(measure.machine(work), flush=True)
    repo = work / f"site-{args.items}"
    if not (repo / "repository.sqlite").exists():
        shutil.rmtree(repo, ignore_errors=True)
        seed(repo, args.items)
    outs = [work / f"profile-out-{os.getpid()}-{n}" for n in (1, 2)]
    for out in outs:
        out.mkdir()

    stats, seconds, packages = profiled(repo, outs[0])
    print(f"\ncProfile, packager -d -a --workers 1 of {args.items} items ({packages} packages) "
          f"in this process: {seconds:.1f} s wall under the profiler")
    print("\n".join(step_table(stats, args.items, seconds)))
    print(f"\nfunctions with the most time of their own (top {args.top}):")
    stats.sort_stats("tottime").print_stats(args.top)

    tracemalloc.start()
    started = time.monotonic()
    export_once(repo, outs[1])
    seconds = time.monotonic() - started
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"tracemalloc, the same export again ({seconds:.1f} s under tracemalloc): Python heap "
          f"peak {heap_peak / measure.MiB:.1f} MiB; this process's peak RSS "
          f"{rss / measure.MiB:.1f} MiB (both exports, interpreter and libraries included)")
    for out in outs:
        shutil.rmtree(out, ignore_errors=True)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
