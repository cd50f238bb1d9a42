"""Fixtures of the corpus tests: a seeded repository per test, the corpus in a scratch folder.

``seeded`` is a copy of one template made once per session exactly as ``make_bad_aips.py``
makes its repository before adding the corpus objects (``seeded_repository``), so the
parents the packages name exist and the objects they restore do not.  ``baseline`` is the
template's observable state (``helpers.snapshot``), taken once: every refused package must
leave a copy exactly so.  ``corpus`` is a copy of ``tests/corpus`` (bad-aips/, good-aips/) in
a scratch folder, so that a package which escaped its folder would be seen there and not in
the source tree, and child pointers still find their siblings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import make_bad_aips
import pytest
from helpers import RepoLocation, Snapshot, snapshot

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def _seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bad_aips.seeded_repository(
        tmp_path_factory.mktemp("corpus-template") / "seeded").folder


def copy_repo(template: Path, folder: Path) -> RepoLocation:
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    return RepoLocation(folder)


@pytest.fixture(scope="session")
def baseline(_seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The state of every fresh ``seeded`` copy (taken on a throwaway copy)."""
    return snapshot(copy_repo(_seeded_template, tmp_path_factory.mktemp("baseline") / "r"))


@pytest.fixture
def seeded(tmp_path: Path, _seeded_template: Path) -> RepoLocation:
    return copy_repo(_seeded_template, tmp_path / "repo")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of tests/corpus: ``corpus / "bad-aips"`` and ``corpus / "good-aips"``."""
    root = tmp_path_factory.mktemp("corpus") / "work"
    for name in ("bad-aips", "good-aips"):
        shutil.copytree(HERE / name, root / name)
    return root
