"""DSpace's tables in PostgreSQL (``item``, ``handle``, ``collection2item``) as the stand-in
keeps them: DSpace's columns and types per generation (the Flyway migrations), equal to the
embedded repository after an install, after each ingest, and after ``sync_db``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ADMIN, RepoLocation
from helpers.packager import export, write_tx
from standin_support import Make, Tree

from aip.repository import objects

pytestmark = pytest.mark.postgres


def withdrawn_query(version: str) -> str:
    """The read-only query a driver uses to find withdrawn items (DSpace's schema)."""
    key = "i.item_id" if version.startswith("5") else "i.uuid"
    return (f"SELECT h.handle FROM item i JOIN handle h ON h.resource_id = {key} "
            "AND h.resource_type_id = 2 WHERE i.withdrawn ORDER BY h.handle")


def column_types(dspace, table: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = dspace.db_rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_name = '{table}'")
    return dict(rows)


@pytest.mark.parametrize("version", ["5.10", "6.3", "7.6.2", "10.0"])
def test_tables_follow_dspace_schema_and_match_the_repository(standin: Make, tree: Tree,
                                                              version: str) -> None:
    dspace = standin(version, database=True)
    assert dspace.db_rows(withdrawn_query(version)) == [(tree.withdrawn,)]
    item = column_types(dspace, "item")
    handle = column_types(dspace, "handle")
    assert item["in_archive"] == item["withdrawn"] == item["discoverable"] == "boolean"
    assert item["last_modified"] == "timestamp with time zone"
    assert handle["handle"] == "character varying"
    assert handle["resource_type_id"] == "integer"
    if version.startswith("5"):
        # V1.1: item_id INTEGER PRIMARY KEY; handle.resource_id INTEGER; no site handle row
        assert item["item_id"] == handle["resource_id"] == "integer"
        assert "uuid" not in item
        assert dspace.db_rows(f"SELECT count(*) FROM handle WHERE handle = '{tree.site}'") \
            == [(0,)]
    else:
        # V6.0 DS-2701: uuid keys; handle.resource_id UUID
        assert item["uuid"] == handle["resource_id"] == item["owning_collection"] == "uuid"
        assert dspace.db_rows(
            f"SELECT resource_type_id FROM handle WHERE handle = '{tree.site}'") == [(5,)]
    key = "i.item_id" if version.startswith("5") else "i.uuid"
    archived = dspace.db_rows(
        f"SELECT h.handle FROM item i JOIN handle h ON h.resource_id = {key} "
        "AND h.resource_type_id = 2 WHERE i.in_archive ORDER BY h.handle")
    d = tree.dspace
    assert archived == sorted((h,) for h in (d.item, d.mapped_item, d.item3))
    # collection2item: every item in its owning collection, plus the mapping
    assert dspace.db_rows("SELECT count(*) FROM collection2item") == [(5,)]


def test_an_ingest_updates_the_tables_at_its_commit(
        standin: Make, repo: RepoLocation, blank: Callable[[str], RepoLocation], tree: Tree,
        tmp_path: Path) -> None:
    out = tmp_path / "aips"
    out.mkdir()
    export(repo, out / "SITE@123456789-0.zip", tree.site)
    top = out / f"COMMUNITY@{tree.dspace.top.replace('/', '-')}.zip"
    target = blank("target")
    dspace = standin("7.6.2", target, database=True)
    assert dspace.db_rows(withdrawn_query("7.6.2")) == []
    dspace.set_faults(fail_at="commit")
    dspace.run("packager", "-r", "-a", "-u", "-t", "AIP", "-e", ADMIN, str(top), expect=1)
    assert dspace.db_rows("SELECT count(*) FROM handle") == [(1,)]  # the site only
    dspace.set_faults()
    result = dspace.run("packager", "-r", "-a", "-u", "-t", "AIP", "-e", ADMIN, str(top),
                        expect=0)
    assert dspace.db_rows(withdrawn_query("7.6.2")) == [(tree.withdrawn,)]
    # the dbID the list prints is the row's uuid
    line = next(x for x in result.lines if f"hdl={tree.withdrawn}," in x)
    printed = re.search(r"dbID=([0-9a-f-]+)", line).group(1)  # type: ignore[union-attr]
    rows = dspace.db_rows(f"SELECT resource_id::text FROM handle "
                          f"WHERE handle = '{tree.withdrawn}'")
    assert rows == [(printed,)]


def test_sync_db_after_a_direct_change(standin: Make, repo: RepoLocation,
                                       tree: Tree) -> None:
    dspace = standin("6.3", database=True)
    with write_tx(repo) as tx:
        objects.withdraw_item(tx, objects.item_id(tx, tree.dspace.item3))
    assert dspace.db_rows(withdrawn_query("6.3")) == [(tree.withdrawn,)]
    dspace.sync_db()
    assert dspace.db_rows(withdrawn_query("6.3")) == sorted(
        [(tree.withdrawn,), (tree.dspace.item3,)])


def test_a_jdbc_url_with_parameters(standin: Make, tree: Tree) -> None:
    dspace = standin("8.1", database=True, jdbc_form="params")
    assert "?ApplicationName=DSpace&sslmode=disable" in dspace.config_file.read_text()
    dspace.sync_db()
    assert dspace.db_rows(withdrawn_query("8.1")) == [(tree.withdrawn,)]
