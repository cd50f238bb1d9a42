"""aip.heap: the allocator's free pages go back to the kernel; one trimming thread a process."""

from __future__ import annotations

import os
import re
import threading

from aip import heap


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        found = re.search(r"VmRSS:\s+(\d+)", status.read())
    assert found is not None
    return int(found.group(1))


def test_trim_returns_freed_memory_held_below_live_blocks() -> None:
    """Free 60 MB of 1 KB blocks, every 64th kept so no heap top is free (glibc's own trim
    on free does not fire): only malloc_trim gives the pages back."""
    assert heap.available()  # CI and this project's machines run glibc
    blocks = [bytes(1024) for _ in range(60_000)]
    kept = blocks[::64]
    del blocks
    before = _rss_kib()
    heap.trim()
    after = _rss_kib()
    assert before - after > 30_000, (before, after)
    assert len(kept) == 938


def test_one_trimming_thread_per_process_and_none_inherited_by_a_fork() -> None:
    heap.keep_trimmed()
    heap.keep_trimmed()
    names = [t.name for t in threading.enumerate()]
    assert names.count("aipsync-heap-trim") == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the flag came along, the thread did not; it starts its own
        inherited = len(heap._threads)
        heap.keep_trimmed()
        alive = [t.name for t in threading.enumerate()].count("aipsync-heap-trim")
        os.write(write, f"{inherited} {alive}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as got:
        assert got.read() == "0 1"
