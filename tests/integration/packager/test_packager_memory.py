"""Memory stays flat whatever the bitstream size: a 48 MiB bitstream is exported and restored
in a subprocess whose peak RSS grows by far less than the file.

The subprocess first does a small export and restore (imports, schema compilation, caches).
Then, for each of the big export and the big restore, it resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``, Linux) and compares the peak afterwards (``VmHWM``) with the
resident size before (``VmRSS``).  Random bytes do not compress, so a packager that held the
file (or the zip) in memory would grow by at least its size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import PROJECT_ROOT, RepoLocation, console_env
from helpers.packager import new_collection, new_community, new_item, write_tx

SIZE = 48 * 1024 * 1024
LIMIT = 16 * 1024 * 1024  # a third of the file, and several times the 1 MiB copy blocks

SCRIPT = textwrap.dedent(r"""
    import json, re, sys
    from pathlib import Path
    from aip.packager.disseminator import ExportRequest, export
    from aip.packager.ingester import IngestRequest, ingest
    from aip.packager.modes import IngestMode
    from aip.packager.options import IngestOptions
    from aip.repository import objects
    from aip.repository.store import Repository

    repo_dir, out, small, big = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    admin = "admin@example.org"
    options = IngestOptions.parse({}, restore=True, parent_given=False)

    def status(key):
        with open("/proc/self/status") as f:
            return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) * 1024

    def measure(action):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident size
        before = status("VmRSS")
        action()
        return status("VmHWM") - before

    def round_trip(handle, name):
        repo = Repository.open(repo_dir)
        try:
            export(repo, ExportRequest(handle=handle, eperson=admin, output=out / name))
            with repo.transaction() as tx:
                objects.delete_object(tx, handle)
            ingest(repo, IngestRequest(package=out / name, eperson=admin, mode=IngestMode.RESTORE,
                                       options=options))
        finally:
            repo.close()

    def export_big():
        repo = Repository.open(repo_dir)
        try:
            export(repo, ExportRequest(handle=big, eperson=admin, output=out / "big.zip"))
        finally:
            repo.close()

    round_trip(small, "small.zip")
    print(json.dumps({"export": measure(export_big),
                      "round_trip": measure(lambda: round_trip(big, "big2.zip"))}))
""")


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux /proc/self/clear_refs to reset the peak RSS")
def test_export_and_restore_of_a_big_bitstream_use_little_memory(location: RepoLocation,
                                                                 tmp_path: Path) -> None:
    with write_tx(location) as tx:
        coll = new_collection(tx, new_community(tx, None, "Big"), "Files")
        small = new_item(tx, coll, "small", {"small.bin": os.urandom(1000)})
        big = new_item(tx, coll, "big", {"big.bin": os.urandom(SIZE)})
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(location.folder), str(out), small, big],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=console_env(), timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stderr
    growth = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out / "big.zip").stat().st_size > SIZE  # the bytes really went through
    assert growth["export"] < LIMIT, growth
    assert growth["round_trip"] < LIMIT, growth
