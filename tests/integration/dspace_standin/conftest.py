"""Fixtures of the DSpace stand-in's tests: an embedded repository holding DSpace's own test
hierarchy (``helpers.packager.build_dspace_tree``: communities, collections, a mapped item)
with one item withdrawn, and stand-in installs over copies of it.

- ``tree``: the handles (``Tree``) of the template repository.
- ``repo``: a fresh copy of the template (an SQLite folder) for one test.
- ``standin(version, repository=None, database=False, **options)``: an install for that
  DSpace version over ``repository`` (default: ``repo``); ``database=True`` gives it its own
  PostgreSQL database (through ``pg_url``: skipped when no server answers), dropped after
  the test.
- ``blank(name)``: another initialised, empty repository (a restore target).

Every item of the template was last modified at ``FIXED_NOW`` (2024-05-06T07:08:09Z).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import RepoLocation, drop_database, make_repo
from helpers.dspace_standin import Standin, make_standin
from helpers.packager import build_dspace_tree, fixed_clock, write_tx
from standin_support import Tree

from aip.repository import objects


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tree]:
    root = tmp_path_factory.mktemp("standin-template")
    location = make_repo(RepoLocation(root / "repo"))
    dspace = build_dspace_tree(location, clock=fixed_clock())
    with write_tx(location, fixed_clock()) as tx:
        objects.withdraw_item(tx, objects.item_id(tx, dspace.item4))
    return location.folder, Tree(dspace, dspace.item4)


@pytest.fixture(scope="session")
def _empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(RepoLocation(tmp_path_factory.mktemp("standin-empty") / "repo")).folder


@pytest.fixture
def tree(_template: tuple[Path, Tree]) -> Tree:
    return _template[1]


@pytest.fixture
def repo(tmp_path: Path, _template: tuple[Path, Tree]) -> RepoLocation:
    target = tmp_path / "repo"
    shutil.copytree(_template[0], target)
    return RepoLocation(target)


@pytest.fixture
def blank(tmp_path: Path, _empty: Path) -> Callable[[str], RepoLocation]:
    def make(name: str) -> RepoLocation:
        target = tmp_path / name
        shutil.copytree(_empty, target)
        return RepoLocation(target)
    return make


@pytest.fixture
def standin(request: pytest.FixtureRequest, tmp_path: Path, repo: RepoLocation
            ) -> Iterator[Callable[..., Standin]]:
    made: list[Standin] = []
    server: list[str] = []

    def make(version: str, repository: RepoLocation | None = None, *,
             database: bool = False, name: str | None = None, **options: Any) -> Standin:
        pg = None
        if database:
            if not server:
                server.append(request.getfixturevalue("pg_url"))
            pg = server[0]
        folder = tmp_path / (name or f"dspace-{version}-{len(made)}")
        installed = make_standin(folder, (repository or repo).folder, version, pg_url=pg,
                                 **options)
        made.append(installed)
        return installed

    yield make
    for installed in made:
        installed.drop()
    if server:
        drop_database(server[0])
