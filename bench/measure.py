"""How every benchmark in ``bench/`` measures a command: from outside, the whole process tree.

Each measured side of a comparison (aipsync, its floor, rclone) is started as its own process
by ``run``, so both sides are timed the same way: wall seconds from ``Popen`` until the
process has been reaped, interpreter or binary start-up included.  While it runs, a thread
samples every ``INTERVAL`` seconds the resident memory (RSS) of the process *and all its
descendants* (the packager's worker processes, a DSpace driver's child; rclone's threads are
one process) from ``/proc``, summed, and keeps the highest sum: the "peak tree RSS".

Why sampling ``/proc`` and not a memory cgroup: this VM runs a hybrid cgroup layout (v1
controllers; the v2 hierarchy at ``/sys/fs/cgroup/unified`` has no memory controller), so
v2's ``memory.peak`` does not exist, and v1's ``memory.max_usage_in_bytes`` counts the page
cache, which an export writing gigabytes of zips fills with reclaimable pages.  Summed RSS
counts a page shared by two processes (a library both map, a page a fork shares) twice, so it
is an upper bound of what the tree needs; the same samples also sum each process's PSS
(``/proc/<pid>/smaps_rollup``: a shared page counted once, split between its sharers), the
tree's own share of memory, given beside it.  A peak shorter than one interval can be missed.
``wait4``'s ``ru_maxrss`` is not used for memory: a child started by fork (or vfork) and exec
inherits the starting process's high-water mark at exec (Linux keeps the old address
space's peak in the process's ``maxrss``), so it reports at least the measuring process's
own size.

The sampler reads the process table once (``/proc/<pid>/stat`` of every process) and then
only the stat file of new processes and of the tree's own, so a sample costs well under a
millisecond and does not steal CPU from what it measures.  It also sums the CPU time of the
tree (user + system, the highest value seen per process) and, from ``/proc/stat``, how busy
the machine was meanwhile: the CPU time of every *other* process during the run, in cores,
which is how noisy a shared machine was for that run.

``machine()`` describes the host for the figures (cores, CPU model, RAM, the disk under a
folder from ``/sys/block`` and ``lsblk``, Python, kernel).  Nothing here asserts a time.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: Seconds between two samples of the process tree.
INTERVAL = 0.05
MiB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """One measured command."""

    argv: list[str]
    seconds: float
    peak_tree_rss: int
    peak_largest_rss: int  # the largest single process of the tree (sampled)
    peak_tree_pss: int  # the tree's summed PSS (shared pages counted once)
    processes: int  # the most processes alive in the tree at one sample
    tree_cpu: float  # CPU seconds of the tree's processes (sampled)
    others_cores: float  # CPU used meanwhile by every other process, in cores
    returncode: int
    companion_cpu: float = 0.0  # CPU seconds of the ``companions`` (a server) meanwhile
    stdout: str = ""
    names: dict[int, str] = field(default_factory=dict)  # pid -> first words of its cmdline

    @property
    def peak_tree_mib(self) -> float:
        return self.peak_tree_rss / MiB

    @property
    def peak_pss_mib(self) -> float:
        return self.peak_tree_pss / MiB


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, RSS bytes, CPU seconds) of ``pid``, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rsplit(b")", 1)[1].split()
    # Fields after "(comm)": state ppid ... utime(12) stime(13) ... rss(22), 1-based after comm.
    return int(fields[1]), int(fields[21]) * _PAGE, (int(fields[11]) + int(fields[12])) / _TICK


def _pss(pid: int) -> int:
    """The proportional set size of ``pid`` in bytes (0 when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle since boot (``/proc/stat``)."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    busy = [v for i, v in enumerate(parts[:8]) if i not in (3, 4)]
    return sum(busy) / _TICK


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words[:4]))


class TreeSampler:
    """Samples the process tree under ``root`` until ``stop()``; see the module docstring."""

    def __init__(self, root: int, interval: float = INTERVAL) -> None:
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.largest = 0
        self.processes = 0
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._parent: dict[int, int] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def sample(self) -> int:
        """Take one sample now; returns the tree's summed RSS."""
        alive = {int(e) for e in os.listdir("/proc") if e.isdigit()}
        for gone in self._parent.keys() - alive:
            del self._parent[gone]
        for pid in alive - self._parent.keys():
            found = _stat(pid)
            if found is not None:
                self._parent[pid] = found[0]
        children: dict[int, list[int]] = {}
        for pid, ppid in self._parent.items():
            children.setdefault(ppid, []).append(pid)
        total, pss, count, todo = 0, 0, 0, [self.root]
        while todo:
            pid = todo.pop()
            found = _stat(pid)
            if found is None:
                continue
            _, rss, cpu = found
            total += rss
            pss += _pss(pid)
            self.largest = max(self.largest, rss)
            count += 1
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu)
            if pid not in self.names:
                self.names[pid] = _cmdline(pid)
            todo.extend(children.get(pid, ()))
        self.peak_rss = max(self.peak_rss, total)
        self.peak_pss = max(self.peak_pss, pss)
        self.processes = max(self.processes, count)
        return total

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._done.wait(self.interval):
                return


def aipsync(*args: str) -> list[str]:
    """The command line of ``aipsync ARGS`` as an operator runs it (the console path)."""
    return [sys.executable, "-m", "daemon", *args]


def pinned(argv: Sequence[str], cpus: Sequence[int] | None) -> list[str]:
    """``argv`` run by ``taskset`` on ``cpus`` (it execs the command in the same process, so
    the command and everything it starts keep to those CPUs); unchanged without ``cpus``."""
    if not cpus:
        return [str(a) for a in argv]
    return ["taskset", "-c", ",".join(str(c) for c in cpus), *(str(a) for a in argv)]


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        cpus: Sequence[int] | None = None, stdout: IO[Any] | int | None = None,
        stderr: IO[Any] | int | None = None, capture: bool = False,
        check: bool = True, companions: Sequence[int] = ()) -> Measured:
    """Run ``argv`` as a process and measure it from outside (see the module docstring).

    ``companions``: processes the command talks to (moto's server), whose CPU time during
    the run is reported apart (``companion_cpu``) instead of as other processes' load.

    ``capture``: keep its standard output (in a temporary file, so a large output cannot
    block it) in ``Measured.stdout``.  ``check``: a non-zero exit raises ``SystemExit``
    naming the command.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as captured, tempfile.TemporaryFile("w+") as errors:
        out = captured if capture else (subprocess.DEVNULL if stdout is None else stdout)
        busy0 = _busy_seconds()
        own0 = _own_cpu()
        helpers0 = _cpu_of(companions)
        started = time.monotonic()
        proc = subprocess.Popen(pinned(argv, cpus), env=env, cwd=cwd, stdout=out,
                                stderr=errors if stderr is None else stderr)
        sampler = TreeSampler(proc.pid).start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        sampler.stop()
        busy = _busy_seconds() - busy0
        helpers = _cpu_of(companions) - helpers0
        proc.returncode = os.waitstatus_to_exitcode(status)
        captured.seek(0)
        text = captured.read() if capture else ""
        errors.seek(0)
        tail = errors.read()[-3000:]
    tree_cpu = max(sum(sampler.cpu.values()), usage.ru_utime + usage.ru_stime)
    others = max(0.0, busy - tree_cpu - helpers - (_own_cpu() - own0))
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(str(a) for a in argv)} exited {proc.returncode}"
                         + (f":\n{tail}" if tail else ""))
    return Measured(argv=[str(a) for a in argv], seconds=seconds,
                    peak_tree_rss=sampler.peak_rss, peak_largest_rss=sampler.largest,
                    peak_tree_pss=sampler.peak_pss,
                    processes=sampler.processes, tree_cpu=tree_cpu,
                    others_cores=others / seconds if seconds > 0 else 0.0,
                    returncode=proc.returncode, stdout=text, names=dict(sampler.names),
                    companion_cpu=helpers)


def _cpu_of(pids: Sequence[int]) -> float:
    return sum(found[2] for found in map(_stat, pids) if found is not None)


def _own_cpu() -> float:
    """CPU seconds of this (measuring) process so far, sampler thread included."""
    usage = os.times()
    return usage.user + usage.system


# -- summaries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """Best, median and worst of repeated figures (smaller is better)."""

    best: float
    median: float
    worst: float
    count: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        got = sorted(values)
        return cls(got[0], statistics.median(got), got[-1], len(got))

    @property
    def noise(self) -> float:
        """(worst - best) / best: how far apart the repeats were."""
        return (self.worst - self.best) / self.best if self.best else 0.0

    def seconds(self) -> str:
        return (f"best {self.best:.2f} s, median {self.median:.2f} s, worst {self.worst:.2f} s"
                f" ({self.count} runs, spread {self.noise:.0%})")


def others_note(runs: Iterable[Measured]) -> str:
    """How busy the rest of the machine was during ``runs``: mean and highest, in cores."""
    loads = [r.others_cores for r in runs]
    if not loads:
        return ""
    return (f"other processes on the machine used {statistics.mean(loads):.2f} cores on "
            f"average during these runs (highest {max(loads):.2f}) of {os.cpu_count()}")


# -- the machine -------------------------------------------------------------------------------
def _disk_of(folder: Path) -> str:
    """The block device under ``folder``: name, rotational flag, size, model (``lsblk``)."""
    dev = os.stat(folder).st_dev
    major, minor = os.major(dev), os.minor(dev)
    fs = "?"
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            parts = line.split()
            if parts[2] == f"{major}:{minor}":
                fs = parts[parts.index("-") + 1]
                break
    except (OSError, ValueError):
        pass
    try:
        block = Path(f"/sys/dev/block/{major}:{minor}").resolve().name
    except OSError:
        return f"device {major}:{minor} ({fs})"
    lsblk = subprocess.run(["lsblk", "-dno", "NAME,ROTA,SIZE,MODEL,TRAN", f"/dev/{block}"],
                           capture_output=True, text=True, check=False).stdout.split()
    rotational = Path(f"/sys/block/{block}/queue/rotational")
    rota = rotational.read_text().strip() if rotational.exists() else "?"
    kind = "virtio" if block.startswith("vd") else block
    return (f"/dev/{block} ({kind}, {fs}, {' '.join(lsblk[2:]) or '?'}, rotational flag "
            f"{rota})")


def machine(folder: Path) -> str:
    """One line describing this host, for the head of a benchmark's output."""
    model = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kib = int(handle.readline().split()[1])
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0))
    return (f"machine: {cores} cores ({model}; {usable} usable by this process), "
            f"{mem_kib / 1024 / 1024:.1f} GiB RAM, disk {_disk_of(folder)}, Python "
            f"{platform.python_version()}, Linux {platform.release()}; load average "
            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def cpu_list(text: str | None) -> list[int] | None:
    """``--cpus 0,1`` or ``0-1`` as a list (None: not pinned)."""
    if not text:
        return None
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus
