"""Fixtures of the entities tests: real SQLite repositories on ``tmp_path``.

``location`` is an initialised, empty repository; ``entity_site`` the same with
``helpers.entities.build_site`` (returned with its handles); ``fresh(name)`` makes further
empty repositories (restore targets).  Copies of templates made once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import RepoLocation, copy_repo, make_repo
from helpers.entities import Site, build_site


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("entity-templates")
    empty = make_repo(RepoLocation(root / "empty"))
    built = make_repo(RepoLocation(root / "site"))
    site = build_site(built)
    return {"empty": empty.folder, "site": built.folder, "handles": site}


@pytest.fixture
def location(tmp_path: Path, _templates: dict[str, object]) -> RepoLocation:
    template = _templates["empty"]
    assert isinstance(template, Path)
    return copy_repo(template, tmp_path / "repo")


@pytest.fixture
def entity_site(tmp_path: Path, _templates: dict[str, object]) -> tuple[RepoLocation, Site]:
    template, site = _templates["site"], _templates["handles"]
    assert isinstance(template, Path) and isinstance(site, Site)
    return copy_repo(template, tmp_path / "site"), site


@pytest.fixture
def fresh(tmp_path: Path, _templates: dict[str, object]) -> Callable[[str], RepoLocation]:
    def make(name: str) -> RepoLocation:
        template = _templates["empty"]
        assert isinstance(template, Path)
        return copy_repo(template, tmp_path / name)
    return make
