"""Fixtures of the store's integration tests: one repository per test, on each backend.

``repo_location`` is parametrized over SQLite (always) and PostgreSQL (through ``pg_url``,
skipped when no server answers); ``repo`` is that location initialised and open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import BACKENDS, RepoLocation, drop_database, location_for, make_repo

from aip.repository.store import Repository


@pytest.fixture(params=BACKENDS)
def repo_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RepoLocation]:
    """An initialised repository (prefix ``helpers.PREFIX``) on the parametrized backend."""
    location = location_for(request, request.param, tmp_path / "repo")
    try:
        yield make_repo(location)
    finally:
        if location.db_url is not None:
            drop_database(location.db_url)


@pytest.fixture
def repo(repo_location: RepoLocation) -> Iterator[Repository]:
    """``repo_location`` opened; closed after the test."""
    opened = repo_location.open()
    try:
        yield opened
    finally:
        opened.close()
