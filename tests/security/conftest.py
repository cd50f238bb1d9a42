"""Fixtures of the security tests: ``secured``, a copy (per test) of one session template
made by ``security_support.secured_repository`` (seeded, passwords, a privileged
non-administrator)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import RepoLocation
from security_support import secured_repository


@pytest.fixture(scope="session")
def _secured_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return secured_repository(tmp_path_factory.mktemp("security") / "repo").folder


@pytest.fixture
def secured(tmp_path: Path, _secured_template: Path) -> RepoLocation:
    folder = tmp_path / "repo"
    shutil.copytree(_secured_template, folder)
    return RepoLocation(folder)
