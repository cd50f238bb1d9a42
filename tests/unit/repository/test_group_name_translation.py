"""Role-group names: internal ``COLLECTION_<id>_ADMIN`` <-> exported ``COLLECTION_hdl:<h>_ADMIN``
(DSPACE-ROLES), on a throwaway SQLite repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import PREFIX, RepoLocation, make_repo

from aip import constants as C
from aip.errors import NotFoundError
from aip.model import MetadataValue
from aip.repository import auth, objects
from aip.repository.store import Repository, Tx


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    location = make_repo(RepoLocation(tmp_path / "repo"))
    opened = location.open()
    try:
        yield opened
    finally:
        opened.close()


def _containers(tx: Tx) -> tuple[int, str, int, str]:
    title = [MetadataValue("dc", "title", None, "T")]
    com_id, com_h = objects.create_community(tx, parent_id=None, metadata_values=title)
    coll_id, coll_h = objects.create_collection(tx, parent_ids=[com_id], metadata_values=title)
    return com_id, com_h, coll_id, coll_h


def test_role_groups_export_by_handle_and_import_back(repo: Repository) -> None:
    with repo.transaction() as tx:
        com_id, com_h, coll_id, coll_h = _containers(tx)
        admin = objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id, C.ROLE_ADMIN)
        step = objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id, C.ROLE_WORKFLOW_2)
        cadmin = objects.ensure_role_group(tx, C.TYPE_COMMUNITY, com_id, C.ROLE_ADMIN)
        names = auth.group_names(tx)
        assert names[admin] == f"COLLECTION_{coll_id}_ADMIN"
        cases = {
            names[admin]: f"COLLECTION_hdl:{coll_h}_ADMIN",
            names[step]: f"COLLECTION_hdl:{coll_h}_WORKFLOW_STEP_2",
            names[cadmin]: f"COMMUNITY_hdl:{com_h}_ADMIN",
        }
        for internal, exported in cases.items():
            assert auth.export_group_name(tx, internal) == exported
            assert auth.import_group_name(tx, exported) == internal
        # the exported name finds the group, as a restore's policies name it
        assert auth.require_group(tx, f"COLLECTION_hdl:{coll_h}_ADMIN") == admin
        assert coll_h.startswith(PREFIX + "/")


@pytest.mark.parametrize("name", ["Anonymous", "Administrator", "Editors", "COLLECTION_X_ADMIN",
                                  "COLLECTION_hdl_ADMIN"])
def test_plain_names_pass_through(repo: Repository, name: str) -> None:
    with repo.transaction(write=False) as tx:
        assert auth.export_group_name(tx, name) == name
        assert auth.import_group_name(tx, name) == name


def test_group_of_a_missing_object_is_orphaned(repo: Repository) -> None:
    with repo.transaction(write=False) as tx:
        assert auth.export_group_name(tx, "COLLECTION_999_ADMIN") == (
            f"ORPHANED_{C.TYPE_IDS[C.TYPE_COLLECTION]}_GROUP_999_ADMIN")
        assert auth.export_group_name(tx, "COMMUNITY_7_ADMIN") == (
            f"ORPHANED_{C.TYPE_IDS[C.TYPE_COMMUNITY]}_GROUP_7_ADMIN")


def test_import_of_an_unrestored_or_mistyped_handle_is_none(repo: Repository) -> None:
    with repo.transaction() as tx:
        _, com_h, _, coll_h = _containers(tx)
        assert auth.import_group_name(tx, f"COLLECTION_hdl:{PREFIX}/999_ADMIN") is None
        # the handle exists but names a community, not a collection
        assert auth.import_group_name(tx, f"COLLECTION_hdl:{com_h}_ADMIN") is None
        with pytest.raises(NotFoundError):
            auth.require_group(tx, f"COLLECTION_hdl:{coll_h}_ADMIN")  # never created


def test_deleted_collection_leaves_no_role_group(repo: Repository) -> None:
    with repo.transaction() as tx:
        _, _, coll_id, coll_h = _containers(tx)
        objects.ensure_role_group(tx, C.TYPE_COLLECTION, coll_id, C.ROLE_SUBMIT)
    with repo.transaction() as tx:
        objects.delete_object(tx, coll_h)
    with repo.transaction(write=False) as tx:
        assert not [n for n in auth.group_names(tx).values() if n.startswith("COLLECTION_")]
