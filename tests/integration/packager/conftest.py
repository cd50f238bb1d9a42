"""Fixtures of the packager's integration tests: real repositories on ``tmp_path``.

``location`` is an initialised SQLite repository (prefix ``helpers.PREFIX``, administrator
``helpers.ADMIN``); ``seeded`` is the same with small ``repo seed`` content; ``fresh`` makes
further empty repositories (restore targets).  ``backend_factory`` (parametrized indirectly
with ``"sqlite"`` or ``"postgresql"``) makes initialised repositories on that backend, the
latter through ``pg_url`` (skipped when no server answers).

The SQLite repositories are copies of two templates made once per session (a closed SQLite
database and its assetstore are plain files), which keeps each test to milliseconds of set-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import RepoLocation, copy_repo, drop_database, location_for, make_repo
from helpers.packager import seed


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("templates")
    empty = make_repo(RepoLocation(root / "empty")).folder
    seeded = make_repo(RepoLocation(root / "seeded"))
    seed(seeded)
    return {"empty": empty, "seeded": seeded.folder}


@pytest.fixture
def location(tmp_path: Path, _templates: dict[str, Path]) -> RepoLocation:
    return copy_repo(_templates["empty"], tmp_path / "repo")


@pytest.fixture
def seeded(location: RepoLocation, _templates: dict[str, Path]) -> RepoLocation:
    """``location`` with the content of ``helpers.packager.seed()``."""
    return copy_repo(_templates["seeded"], location.folder)


@pytest.fixture
def fresh(tmp_path: Path, _templates: dict[str, Path]) -> Callable[[str], RepoLocation]:
    """``fresh(name)``: another initialised, empty SQLite repository."""
    def make(name: str) -> RepoLocation:
        return copy_repo(_templates["empty"], tmp_path / name)
    return make


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty output folder."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path
                    ) -> Iterator[Callable[[str], RepoLocation]]:
    """``make(name)``: initialised repositories on the backend of ``request.param``."""
    made: list[RepoLocation] = []
    backend = getattr(request, "param", "sqlite")

    def make(name: str) -> RepoLocation:
        loc = location_for(request, backend, tmp_path / name)
        if loc.db_url is not None and any(m.db_url == loc.db_url for m in made):
            # pg_url gives one database per test; a second repository needs its own
            loc = RepoLocation(loc.folder, _another_database(loc.db_url))
        made.append(loc)
        return make_repo(loc)

    try:
        yield make
    finally:
        for loc in made:
            if loc.db_url is not None:
                drop_database(loc.db_url)


def _another_database(db_url: str) -> str:
    import uuid

    import sqlalchemy as sa

    url = sa.engine.make_url(db_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(drivername="postgresql+psycopg", database="postgres"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)

