"""``aip.progress`` (what long work reports) and ``aip.terminal`` (its display), with a fake
clock: rates and ETA, the one-line description, the rate-limited log line, meters reported
from many threads, and the display paused around a question."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
import structlog

from aip.progress import (
    Meter,
    Progress,
    ProgressLog,
    describe,
    human_bytes,
    human_duration,
    listening,
    rates,
    reporting,
)
from aip.terminal import TerminalProgress, is_terminal, progress_output


def report(**fields: Any) -> Progress:
    base: dict[str, Any] = {"phase": "export", "label": "exporting", "unit": "objects",
                            "objects_done": 0, "objects_total": None, "started": 0.0}
    return Progress(**(base | fields))


@pytest.mark.parametrize(("p", "now", "text"), [
    (report(objects_done=41_200, objects_total=100_011), 240.0,
     "exporting 41,200 of 100,011 objects, ETA 6 min"),
    (report(objects_done=5, objects_total=10, bytes_done=1_000_000, bytes_total=4_000_000),
     10.0, "exporting 5 of 10 objects (1.0 MB of 4.0 MB), ETA 30 s"),
    (report(objects_done=3), 10.0, "exporting 3 objects"),
    (report(objects_done=10, objects_total=10, finished=True), 7_500.0,
     "exporting 10 of 10 objects, done in 2 h 5 min"),
    (report(phase="wait", label="waiting for", current="the repository lock"), 90.0,
     "waiting for the repository lock, 2 min so far"),
])
def test_describe(p: Progress, now: float, text: str) -> None:
    assert describe(p, now) == text


def test_rates_prefer_bytes_for_the_eta() -> None:
    # Half the objects but a tenth of the bytes: the bytes say how long the rest takes.
    p = report(objects_done=50, objects_total=100, bytes_done=100, bytes_total=1_000)
    r = rates(p, 10.0)
    assert r.objects_per_s == 5.0 and r.bytes_per_s == 10.0 and r.eta_s == 90.0
    assert rates(report(objects_done=0, objects_total=10), 5.0).eta_s is None


@pytest.mark.parametrize(("n", "text"), [(999, "999 B"), (1_234_567, "1.2 MB"),
                                         (5 * 10**12, "5.0 TB")])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_human_duration() -> None:
    assert [human_duration(s) for s in (35, 250, 7_500)] == ["35 s", "4 min", "2 h 5 min"]


def test_a_meter_reports_to_the_listener_of_its_context_from_any_thread() -> None:
    got: list[Progress] = []
    lock = threading.Lock()

    def listener(p: Progress) -> None:
        with lock:
            got.append(p)

    assert not listening()
    with reporting(listener):
        assert listening()
        meter = Meter("upload", label="uploading", unit="AIPs", objects_total=400)
    # Made inside the block, it reports there even from threads started outside it.
    threads = [threading.Thread(target=lambda: [meter.advance(nbytes=10) for _ in range(100)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    meter.finish()
    assert len(got) == 401
    assert got[-1].finished and got[-1].objects_done == 400 and got[-1].bytes_done == 4_000
    assert max(p.objects_done for p in got[:-1]) == 400
    assert len({p.serial for p in got}) == 1
    silent = Meter("upload")
    silent.advance()  # no listener: nothing happens, nothing fails
    assert not silent.active


def test_grow_and_finish_set_the_totals() -> None:
    got: list[Progress] = []
    with reporting(got.append):
        meter = Meter("download")
    meter.grow(1, 100)
    meter.advance(nbytes=100)
    meter.grow(3, 300)
    assert (got[-1].objects_total, got[-1].bytes_total) == (4, 400)
    meter.advance(nbytes=100)
    meter.finish()
    meter.finish()  # once only
    assert [p.finished for p in got].count(True) == 1
    assert (got[-1].objects_done, got[-1].objects_total, got[-1].bytes_total) == (2, 2, 200)


def test_the_progress_log_is_rate_limited_but_always_logs_an_end(
        all_log_levels: None) -> None:
    now = [0.0]
    log = ProgressLog(10, clock=lambda: now[0])
    with structlog.testing.capture_logs() as logs:
        for t in (1, 5, 11, 15, 21.5):
            now[0] = t
            log(report(objects_done=int(t), objects_total=100))
        log(report(objects_done=100, objects_total=100, finished=True))
    assert [e["objects_done"] for e in logs] == [11, 21, 100]
    assert all(e["event"] == "progress" and e["phase"] == "export" for e in logs)
    assert logs[-1]["finished"] and logs[-1]["eta_s"] == 0
    assert logs[0]["detail"].startswith("exporting 11 of 100 objects, ETA")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_display_draws_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert is_terminal(FakeTerminal()) and not is_terminal(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not is_terminal(FakeTerminal())
    plain = io.StringIO()
    with progress_output(plain) as view:
        assert view is None
        Meter("export").advance()
    assert plain.getvalue() == ""


def test_the_display_pauses_for_a_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = FakeTerminal()
    asked: list[str] = []
    with progress_output(screen) as view:
        assert isinstance(view, TerminalProgress)
        meter = Meter("download", label="downloading", unit="AIPs", objects_total=2)
        meter.advance(current="ITEM@1-1.zip")
        answer = view.paused(lambda q: asked.append(q) or "yes")("Replace? [y/N] ")
        meter.advance()
        meter.finish()
    assert answer == "yes" and asked == ["Replace? [y/N] "]
    text = screen.getvalue()
    assert "downloading" in text and "2/2 AIPs" in text
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l") >= 0
