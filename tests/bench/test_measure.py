"""``bench/measure.py``: what every benchmark's figures rest on (whole-tree memory, timing
from outside, pinning, summaries).  Nothing here asserts a time."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import measure

MiB = 1024 * 1024

#: A child that starts two grandchildren at once, each holding 64 MiB of touched memory for
#: a second; the child itself stays small.
TREE = textwrap.dedent("""
    import subprocess, sys
    grandchild = ("import time; block = bytearray(64 * 1024 * 1024); "
                  "block[::4096] = b'x' * len(block[::4096]); time.sleep(1.0)")
    both = [subprocess.Popen([sys.executable, "-c", grandchild]) for _ in range(2)]
    assert all(p.wait() == 0 for p in both)
""")


def test_the_peak_sums_every_descendant() -> None:
    got = measure.run([sys.executable, "-c", TREE])
    assert got.returncode == 0
    assert got.processes >= 3
    assert got.peak_tree_rss >= 128 * MiB
    # the largest single process holds one block, not both
    assert 64 * MiB <= got.peak_largest_rss < 128 * MiB
    assert got.seconds > 0
    assert any("python" in name for name in got.names.values())


def test_a_failing_command_names_itself_and_its_error() -> None:
    with pytest.raises(SystemExit, match=r"exited 3:\n.*bad thing"):
        measure.run([sys.executable, "-c", "import sys; sys.exit('bad thing' and 3) "
                     "if print('bad thing', file=sys.stderr) is None else 0"])
    got = measure.run([sys.executable, "-c", "raise SystemExit(4)"], check=False)
    assert got.returncode == 4


def test_pinning_and_captured_output() -> None:
    got = measure.run([sys.executable, "-c",
                       "import os; print(sorted(os.sched_getaffinity(0)))"],
                      cpus=[0], capture=True)
    assert got.stdout.strip() == "[0]"


def test_cpu_lists_and_spreads() -> None:
    assert measure.cpu_list(None) is None
    assert measure.cpu_list("0-2,5") == [0, 1, 2, 5]
    spread = measure.Spread.of([3.0, 1.0, 2.0, 5.0])
    assert (spread.best, spread.median, spread.worst, spread.count) == (1.0, 2.5, 5.0, 4)
    assert spread.noise == 4.0
    assert "best 1.00 s, median 2.50 s" in spread.seconds()


def test_the_machine_line_names_cores_memory_disk_and_python(tmp_path: Path) -> None:
    line = measure.machine(tmp_path)
    assert line.startswith("machine: ")
    for part in ("cores", "GiB RAM", "disk ", "Python 3."):
        assert part in line
