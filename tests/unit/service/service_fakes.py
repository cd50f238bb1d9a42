"""Fakes for the service's unit tests: a clock that only moves when told, and a source.

``FakeClock`` is the ``Clock`` protocol of ``daemon.core.clock`` (docs/style.md T3): tests
advance it, so scheduling decisions (full or incremental, the watermark, the weekly full) are
tested without waiting.  ``FakeSource`` is the ``Source`` protocol: it records the
``updated_after`` of each call, writes a fixed set of AIP-named files (all of them on a full
export, the containers plus changed items on an incremental one) and can block on a gate or
fail.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.core.config import Config, parse_config
from daemon.core.errors import SourceError
from daemon.source.base import ExportOutcome, IngestOutcome, IngestSpec

T0 = datetime(2026, 3, 2, 2, 15, tzinfo=UTC)


class FakeClock:
    """Wall and monotonic time that move only with ``advance``."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, delta: timedelta) -> None:
        self.t += delta
        self.mono += delta.total_seconds()


class FakeSource:
    """Writes ``SITE``, a collection and the items in ``items`` (name -> bytes)."""

    name = "fake source"

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {"ITEM@123456789-3.zip": b"item 3 v1",
                                        "ITEM@123456789-4.zip": b"item 4 v1"}
        self.changed: set[str] = set()
        self.calls: list[datetime | None] = []
        self.fail: str | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: Any = None, staged: Any = ()) -> ExportOutcome:
        self.calls.append(updated_after)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.fail:
            raise SourceError(source=self.name, detail=self.fail)
        files = {"SITE@123456789-0.zip": b"site", "COLLECTION@123456789-2.zip": b"coll"}
        full = updated_after is None
        for name, data in self.items.items():
            if full or name in self.changed:
                files[name] = data
        for name, data in files.items():
            (out_dir / name).write_bytes(data)
        unchanged = sum(1 for n in self.items if n not in files)
        self.changed = set()
        return ExportOutcome(written=tuple(sorted(files)), full=full, unchanged=unchanged,
                             expected=frozenset(files) if full else None,
                             bytes=sum(len(d) for d in files.values()))

    def describe(self) -> dict[str, str]:
        return {"fake": "a source that writes fixed files"}

    def ingest(self, spec: IngestSpec, *, stop: Any = None) -> IngestOutcome:
        raise NotImplementedError


def folder_config(root: Path, **sections: dict[str, Any]) -> Config:
    """A configuration with a file:// target, staging and state under ``root``."""
    (root / "target").mkdir(parents=True, exist_ok=True)
    doc: dict[str, dict[str, Any]] = {
        "repository": {"path": str(root / "repo"), "eperson": "admin@example.org"},
        "staging": {"dir": str(root / "staging")},
        "state": {"dir": str(root / "state")},
        "target": {"url": f"file://{root / 'target'}"},
    }
    for name, table in sections.items():
        doc.setdefault(name, {}).update(table)
    return parse_config(doc)
