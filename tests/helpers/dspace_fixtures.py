"""Where the tests find real AIPs made by DSpace, and what they do when a set is absent.

Two sets of DSpace 1.7.0 AIPs:

- ``DSPACE_SAMPLES``: DSpace's own documentation samples (SITE, COMMUNITY, COLLECTION, ITEM),
  vendored in ``tests/fixtures/dspace-aips/dspace-1.7.0`` under DSpace's BSD-style licence
  (the README there says where they come from).  Always present.
- ``UBC``: a collection and its nine items exported from the University of British Columbia's
  repository.  It has no licence, so it is never part of this repository: it is read from the
  folder named by ``AIPSYNC_UBC_FIXTURES`` when that variable is set, else from
  ``../shared/fixtures/dspace-aips/archivematica-sampledata-dspace-1.7.0`` beside the clone.
  ``None`` when that folder is not there; ``UBC_MISSING`` is then the skip reason, naming
  both places.

The variable is read at import, as test modules are collected: the autouse fixture of
``tests/conftest.py`` removes every ``AIPSYNC_*`` variable before each test runs.

Tests over the UBC set are written so that it costs one skip per module at most when absent
(one test over all its packages with ``needs_ubc``, a ``fixture_sets`` param, or a
module-level ``pytest.skip`` with ``UBC_MISSING``), not a skip per package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aip import constants as C

#: The project's root (``tests/helpers`` is two levels below it).
_ROOT = Path(__file__).resolve().parents[2]

#: DSpace's documentation samples, vendored.
DSPACE_SAMPLES = _ROOT / "tests" / "fixtures" / "dspace-aips" / "dspace-1.7.0"

#: The environment variable that names the UBC set's folder.
UBC_ENV = f"{C.ENV_PREFIX}UBC_FIXTURES"
#: Where the UBC set is looked for when ``UBC_ENV`` is not set.
UBC_BESIDE = (_ROOT.parent / "shared" / "fixtures" / "dspace-aips"
              / "archivematica-sampledata-dspace-1.7.0")


def _ubc_folder() -> tuple[Path | None, str]:
    """The UBC set's folder (or None) and the reason to skip when there is none."""
    named = os.environ.get(UBC_ENV, "")
    if named:
        folder = Path(named).expanduser().resolve()
        if folder.is_dir():
            return folder, ""
        return None, (f"UBC DSpace 1.7.0 AIPs not found: {UBC_ENV}={named} is not a folder "
                      f"(without {UBC_ENV}, they are read from {UBC_BESIDE})")
    if UBC_BESIDE.is_dir():
        return UBC_BESIDE, ""
    return None, (f"UBC DSpace 1.7.0 AIPs not found (unlicensed, never in the repository): "
                  f"set {UBC_ENV} to their folder or place them at {UBC_BESIDE}")


UBC, UBC_MISSING = _ubc_folder()

#: Marks a test that reads the UBC set.
needs_ubc = pytest.mark.skipif(UBC is None, reason=UBC_MISSING)


def manifests(folder: Path) -> list[Path]:
    """The ``*.mets.xml`` manifests of one set, sorted by name."""
    return sorted(folder.glob("*.mets.xml"))


def fixture_sets() -> list[Any]:
    """``pytest.param`` for each set's folder (ids ``dspace-1.7.0`` and ``ubc``); the UBC one
    skipped when absent."""
    return [pytest.param(DSPACE_SAMPLES, id="dspace-1.7.0"),
            pytest.param(UBC, id="ubc", marks=needs_ubc)]
