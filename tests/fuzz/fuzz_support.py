"""What the fuzz targets share: seeds, the budget, the oracle and resource bounds.

- ``SEED_MANIFESTS`` / ``SEED_ZIPS``: valid packages to mutate: the corpus controls
  (``tests/corpus/good-aips``) and DSpace's sample AIPs (``tests/fixtures/dspace-aips``),
  always there, and the UBC export when present (``tests/helpers/dspace_fixtures.py``).
- ``FUZZ_SECONDS``: ``AIPSYNC_FUZZ_SECONDS`` read at import (the autouse fixture of
  ``tests/conftest.py`` clears AIPSYNC_* before each test runs).  0 (the default): one short
  hypothesis run per target, for ``make test``.  N > 0: each target keeps starting new
  hypothesis runs (fresh random seeds) until its share of N seconds is used.
- ``fuzz(name, strategy, body)``: runs ``body`` on examples under that budget; returns how
  many ran.
- ``only_aip_errors``: the oracle: the call returns, or raises an ``AipError`` subclass with
  a specific exit code (not 2, "unexpected"); it allocates less than ``MAX_PY_BYTES`` in
  Python (tracemalloc) and raises the process's peak RSS by less than ``MAX_RSS_STEP``
  (libxml2's and zlib's own memory).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers.dspace_fixtures import DSPACE_SAMPLES, UBC
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

from aip import constants as C
from aip.errors import AipError

HERE = Path(__file__).resolve().parent
GOOD = HERE.parent / "corpus" / "good-aips"

FUZZ_SECONDS = float(os.environ.get("AIPSYNC_FUZZ_SECONDS", "0") or 0)
#: Targets share the long budget (tests/fuzz/README.md).
TARGETS = 2
#: Examples per target in the short (default) run.
SHORT_EXAMPLES = 150
#: Per example: wall time (hypothesis deadline) and Python allocations.
DEADLINE_MS = 5000
MAX_PY_BYTES = 64 * 1024 * 1024
#: Per example: how much one call may raise the process's peak RSS (C allocations of
#: libxml2 and zlib included, which tracemalloc does not see).  Not checked over a whole run:
#: hypothesis itself grows by a few MiB per round.
MAX_RSS_STEP = 256 * 1024 * 1024
#: pytest-timeout of a target test: its budget plus time to shrink a failure.
TIMEOUT = int(FUZZ_SECONDS / TARGETS) + 240


def _zips() -> list[Path]:
    found = sorted(GOOD.glob("*.zip"))
    for folder in (DSPACE_SAMPLES, UBC):
        if folder is not None:
            found += sorted(p for p in folder.glob("*.zip") if p.stat().st_size < 512 * 1024)
    return found


SEED_ZIPS: list[bytes] = [p.read_bytes() for p in _zips()]


def _manifests() -> list[bytes]:
    out = []
    for path in _zips():
        with zipfile.ZipFile(path) as zf:
            out.append(zf.read(C.MANIFEST_NAME))
    return out


SEED_MANIFESTS: list[bytes] = _manifests()

BASE_SETTINGS = settings(
    max_examples=SHORT_EXAMPLES, deadline=DEADLINE_MS, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])

COUNTS: dict[str, int] = {}


def fuzz(name: str, strategy: SearchStrategy[Any], body: Callable[[Any], None]) -> int:
    """Run ``body`` on examples of ``strategy`` under the budget; returns how many ran.

    Each round is a new ``@given`` test (a fresh random seed); the long run starts rounds
    until its time is used.
    """
    COUNTS[name] = COUNTS[f"{name}.ok"] = 0
    started = time.monotonic()
    if FUZZ_SECONDS <= 0:
        BASE_SETTINGS(given(strategy)(body))()
    else:
        until = started + FUZZ_SECONDS / TARGETS
        while time.monotonic() < until:
            settings(BASE_SETTINGS, max_examples=2000)(given(strategy)(body))()
    print(f"\n{name}: {COUNTS[name]} examples ({COUNTS[f'{name}.ok']} accepted) in "
          f"{time.monotonic() - started:.1f} s")
    return COUNTS[name]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


@contextlib.contextmanager
def traced() -> Iterator[None]:
    """tracemalloc on for the block (new allocations only; it is off outside)."""
    was_on = tracemalloc.is_tracing()
    if was_on:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        yield
    finally:
        if not was_on:
            tracemalloc.stop()


def only_aip_errors(name: str, call: Callable[[], Any]) -> Any:
    """The oracle: ``call()`` returns or raises an ``AipError``; nothing else, not too big.

    Returns what ``call`` returned, or None when it raised an ``AipError``.
    """
    COUNTS[name] = COUNTS.get(name, 0) + 1
    rss_before = _peak_rss()
    with traced():  # only around the call: tracing hypothesis itself slows it tenfold
        try:
            result = call()
            COUNTS[f"{name}.ok"] = COUNTS.get(f"{name}.ok", 0) + 1
        except AipError as exc:
            # An AipError with the "unexpected" code (a bare AipError, SchemaLoadError) is a
            # bug too: the administrator would get exit 2 for a bad package.
            assert exc.exit_code != C.EXIT_UNEXPECTED, f"{type(exc).__name__}: {exc}"
            result = None
        _, peak = tracemalloc.get_traced_memory()
    assert peak < MAX_PY_BYTES, f"{peak >> 20} MiB of Python allocations for one example"
    step = _peak_rss() - rss_before
    assert step < MAX_RSS_STEP, f"one example raised the peak RSS by {step >> 20} MiB"
    return result
