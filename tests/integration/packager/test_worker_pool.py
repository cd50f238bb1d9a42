"""The packager's worker pool: real worker processes, real pipes, real signals.

Tasks are standard-library functions (or this module's, which the workers import through
the ``sys.path`` they are given), so each test says what a worker does without a stand-in.
"""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest

from aip.errors import NotFoundError, WorkerLostError
from aip.packager.pool import RemoteTraceback, WorkerPool, end_pool, worker_environment


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    started = WorkerPool(2, preload=["operator"])
    try:
        yield started
    finally:
        end_pool(started)
        assert not [pid for pid in started.pids if _alive(pid)], "workers left running"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still alive after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def raise_not_found(key: str) -> None:
    raise NotFoundError(what="item", key=key)


def raise_unpicklable() -> None:
    raise ValueError(threading.Lock())


def test_tasks_run_in_other_processes_and_answer_each_future(pool: WorkerPool) -> None:
    futures = [pool.submit(operator.add, n, 1000) for n in range(300)]
    assert [f.result(timeout=60) for f in futures] == [n + 1000 for n in range(300)]
    pids = {pool.submit(os.getpid).result(timeout=60) for _ in range(20)}
    assert pids <= set(pool.pids) and os.getpid() not in pids


def test_a_task_exception_comes_back_with_its_fields_and_remote_traceback(
        pool: WorkerPool) -> None:
    failing = pool.submit(operator.truediv, 1, 0)
    with pytest.raises(ZeroDivisionError) as caught:
        failing.result(timeout=60)
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "ZeroDivisionError" in caught.value.__cause__.text
    with pytest.raises(NotFoundError) as found:
        pool.submit(raise_not_found, "123456789/7").result(timeout=60)
    assert found.value.fields == {"what": "item", "key": "123456789/7"}
    assert found.value.exit_code == NotFoundError.exit_code
    # the pool goes on after a task's failure
    assert pool.submit(operator.mul, 6, 7).result(timeout=60) == 42


def test_what_does_not_pickle_fails_its_own_task_only(pool: WorkerPool) -> None:
    with pytest.raises(TypeError):  # an argument that cannot be sent
        pool.submit(len, threading.Lock()).result(timeout=60)
    with pytest.raises(TypeError, match="cannot be sent back"):  # a result that cannot
        pool.submit(threading.Lock).result(timeout=60)
    with pytest.raises(TypeError, match=r"exception ValueError.*cannot be sent back"):
        pool.submit(raise_unpicklable).result(timeout=60)
    assert pool.submit(operator.add, 2, 3).result(timeout=60) == 5


def test_a_worker_killed_during_a_task_fails_it_and_every_later_task(
        pool: WorkerPool) -> None:
    killed = pool.submit(os.abort)
    with pytest.raises(WorkerLostError, match="SIGABRT"):
        killed.result(timeout=60)
    with pytest.raises(WorkerLostError):
        pool.submit(operator.add, 1, 2)
    end_pool(pool)
    assert not [pid for pid in pool.pids if _alive(pid)]


def test_shutdown_drops_the_queued_tasks_and_waits_for_those_under_way() -> None:
    started = WorkerPool(1, preload=[])
    futures: list[Future[object]] = [started.submit(time.sleep, 0.3) for _ in range(6)]
    deadline = time.monotonic() + 60
    while not futures[0].running() and time.monotonic() < deadline:
        time.sleep(0.01)  # the worker has the first task
    end_pool(started)
    cancelled = [f for f in futures if f.cancelled()]
    ran = [f for f in futures if not f.cancelled()]
    assert cancelled, "queued tasks were run instead of dropped"
    assert ran and all(f.done() and f.result() is None for f in ran)
    with pytest.raises(CancelledError):
        cancelled[0].result()
    assert not [pid for pid in started.pids if _alive(pid)]
    with pytest.raises(RuntimeError, match="shut down"):
        started.submit(operator.add, 1, 2)


def test_credentials_in_the_environment_do_not_reach_a_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-workers")
    monkeypatch.setenv("AIPSYNC_TARGET_SECRET", "nor-this")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    started = WorkerPool(1, preload=[])
    try:
        seen = {name: started.submit(os.getenv, name).result(timeout=60)
                for name in ("AWS_SECRET_ACCESS_KEY", "AIPSYNC_TARGET_SECRET", "LC_ALL",
                             "PATH")}
    finally:
        end_pool(started)
    assert seen == {"AWS_SECRET_ACCESS_KEY": None, "AIPSYNC_TARGET_SECRET": None,
                    "LC_ALL": "C.UTF-8", "PATH": os.environ["PATH"]}


def test_worker_environment_keeps_what_an_interpreter_needs() -> None:
    env = worker_environment({"PATH": "/bin", "PYTHONHASHSEED": "0", "LC_CTYPE": "C",
                             "PYTHONPATH": "/x", "AWS_ACCESS_KEY_ID": "k", "HOME": "/h",
                             "PGPASSWORD": "p"}, "/src")
    assert env == {"PATH": "/bin", "PYTHONHASHSEED": "0", "LC_CTYPE": "C", "HOME": "/h",
                   "PYTHONPATH": os.pathsep.join(["/src", "/x"])}


def test_workers_end_when_the_calling_process_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of the process holding the pool, its workers busy with a long task and
    more queued: they end on their own, none is left behind."""
    script = textwrap.dedent("""
        import sys, time
        from aip.packager.pool import WorkerPool
        pool = WorkerPool(2, preload=[])
        for _ in range(6):
            pool.submit(time.sleep, 300)
        print(" ".join(map(str, pool.pids)), flush=True)
        time.sleep(300)
    """)
    caller = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        assert caller.stdout is not None
        with caller.stdout:
            pids = [int(p) for p in caller.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        time.sleep(0.5)  # the workers are inside their tasks
        caller.send_signal(signal.SIGKILL)
        caller.wait()
        assert _gone_within(pids, 30) == [], "workers outlived the process that started them"
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()


def test_long_tasks_and_long_replies_cross_without_a_deadlock() -> None:
    """A worker writing a reply longer than its pipe holds reads no task meanwhile: a task
    longer than the pipe is sent only once the worker has answered the one before."""
    started = WorkerPool(1, preload=[])
    big = b"x" * (4 << 20)
    try:
        futures = [started.submit(*call) for _ in range(4)
                   for call in ((os.urandom, 4 << 20), (len, big))]
        results = [f.result(timeout=60) for f in futures]
    finally:
        end_pool(started)
    assert [len(r) if isinstance(r, bytes) else r for r in results] == [4 << 20] * 8
