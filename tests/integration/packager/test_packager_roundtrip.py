"""The backup promise: export a seeded site, restore it into a freshly
initialised repository with ``-r -a -f -i <prefix>/0``, and get the same repository back
(``repo dump --json`` byte-identical) and the same AIPs back (every zip byte-identical).

Runs on SQLite and on PostgreSQL (skipped when no server answers), through the CLI with
``--repo`` or ``--db-url``/``--assetstore``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import SITE, RepoLocation, dangling_references, repo_cli
from helpers.packager import export, ingest, seed, write_tx, zips

from aip.repository import objects

BACKEND_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _cli_dump(location: RepoLocation) -> str:
    return repo_cli(location, "dump", "--json").out


@pytest.mark.parametrize("backend_factory", BACKEND_PARAMS, indirect=True)
def test_site_round_trip(backend_factory: Callable[[str], RepoLocation],
                         tmp_path: Path) -> None:
    source = backend_factory("source")
    seed(source, items=14)
    with write_tx(source) as tx:  # a withdrawn item must survive too
        handle = next(iter(objects.collection_items(tx, sorted(objects.collection_handles(tx))[0])))
        objects.withdraw_item(tx, objects.item_id(tx, handle))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    export(source, first / "site.zip", SITE, "passwords=true")

    target = backend_factory("target")
    result = ingest(target, first / "site.zip", "-r", "-a", "-f", "-i", SITE)
    assert "replaced" in result.out and "restored" in result.out

    assert _cli_dump(target) == _cli_dump(source)
    assert dangling_references(target) == {}
    export(target, second / "site.zip", SITE, "passwords=true")
    assert zips(second) == zips(first)


@pytest.mark.postgres
def test_sqlite_and_postgresql_export_identical_bytes(request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    """The same seed on both backends: the same AIPs, and each restores into the other."""
    from helpers import drop_database, location_for, make_repo

    lite = make_repo(RepoLocation(tmp_path / "lite"))
    pg = make_repo(location_for(request, "postgresql", tmp_path / "pg"))
    assert pg.db_url is not None
    try:
        for location in (lite, pg):
            seed(location, items=14)
        a, b = tmp_path / "a", tmp_path / "b"
        a.mkdir()
        b.mkdir()
        export(lite, a / "site.zip", SITE, "passwords=true")
        export(pg, b / "site.zip", SITE, "passwords=true")
        assert zips(a) == zips(b)
        assert _cli_dump(lite) == _cli_dump(pg)
    finally:
        drop_database(pg.db_url)


@pytest.mark.parametrize("backend_factory", BACKEND_PARAMS, indirect=True)
def test_a_restored_repository_keeps_working(backend_factory: Callable[[str], RepoLocation],
                                             tmp_path: Path) -> None:
    """After a full restore (explicit ids, restored handles), new objects of every kind can
    be made: no id or handle collides with a restored one."""
    source = backend_factory("source")
    seed(source)
    (tmp_path / "a").mkdir()
    export(source, tmp_path / "a" / "site.zip", SITE, "passwords=true")
    target = backend_factory("target")
    ingest(target, tmp_path / "a" / "site.zip", "-r", "-a", "-f", "-i", SITE)
    restored = json.loads(_cli_dump(target))
    taken = {o["handle"] for kind in ("communities", "collections", "items")
             for o in restored[kind]}
    comm = repo_cli(target, "create-community", "--name", "New").last
    coll = repo_cli(target, "create-collection", "--name", "New", "--parent", comm).last
    item = repo_cli(target, "create-item", "--collection", coll, "--title", "New").last
    assert not {comm, coll, item} & taken
    repo_cli(target, "create-eperson", "--email", "new@example.org")
    repo_cli(target, "create-group", "--name", "New group")
    repo_cli(target, "add-member", "New group", "--eperson", "new@example.org")
    repo_cli(target, "add-policy", item, "--action", "READ", "--group", "New group")
    (tmp_path / "b").mkdir()
    export(target, tmp_path / "b" / "site.zip", SITE)
    assert dangling_references(target) == {}


def test_replacing_a_site_with_its_own_backup_changes_nothing(
        backend_factory: Callable[[str], RepoLocation], tmp_path: Path) -> None:
    """``-r -a -f`` of a site over itself (every object exists and is replaced): the same
    dump, the same number of stored files, the same AIPs."""
    from helpers import snapshot

    source = backend_factory("source")
    seed(source)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    export(source, first / "site.zip", SITE, "passwords=true")
    before = snapshot(source)
    result = ingest(source, first / "site.zip", "-r", "-a", "-f", "-i", SITE)
    assert "restored" not in result.out
    after = snapshot(source)
    assert after.dump == before.dump
    assert len(after.files) == len(before.files)
    assert dangling_references(source) == {}
    export(source, second / "site.zip", SITE, "passwords=true")
    assert zips(second) == zips(first)
