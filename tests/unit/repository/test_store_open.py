"""Opening a store: clear errors for a missing repository or database, no leaked passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import RepoLocation, make_repo

from aip import constants as C
from aip.errors import AlreadyExistsError, InputFileError, StoreError
from aip.repository import setup as setupmod
from aip.repository.store import Repository, make_engine, redact_url


def test_redact_url_hides_the_password() -> None:
    assert redact_url("postgresql://u:hunter2@db/x") == "postgresql://u:***@db/x"
    assert redact_url("::not a url::") == "<database url>"


def test_no_repository_given() -> None:
    with pytest.raises(StoreError, match="no repository given") as info:
        Repository.open(None)
    assert info.value.exit_code == C.EXIT_STORE


def test_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not an aipsync repository"):
        Repository.open(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_db_url_needs_an_assetstore() -> None:
    with pytest.raises(StoreError, match="--assetstore"):
        Repository.open(db_url="sqlite://")


def test_sqlite_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        make_engine(f"sqlite:///{tmp_path}/missing/repository.sqlite")
    assert info.value.exit_code == C.EXIT_INPUT_FILE


def test_unreachable_database_is_a_store_error_without_password(tmp_path: Path) -> None:
    url = "postgresql://user:hunter2@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as info:
        Repository.open(db_url=url, assetstore=tmp_path)
    assert "cannot open database" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_initialise_twice_is_refused(tmp_path: Path) -> None:
    location = make_repo(RepoLocation(tmp_path / "repo"))
    with location.opened() as repo:
        assert repo.is_initialised()
        with pytest.raises(AlreadyExistsError) as info:
            setupmod.initialise(repo, handle_prefix="123456789", admin_email="x@example.org")
    assert info.value.exit_code == C.EXIT_EXISTS


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    location = make_repo(RepoLocation(tmp_path / "repo"))
    with location.opened() as repo, repo.transaction(write=False) as tx:
        assert tx.conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert tx.conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
