"""Ingest modes and options: restore conflicts and rollback, keep-existing, submit
(new parent, new handles, workflow), handle/parent options by mode, missing parents, the
metadata registry, item mappings in any order, and the handle counter.

Judged by ``repo dump --json`` (whole, or the relevant object) and, for "nothing changed", by
the dump plus the set of assetstore files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import SITE, RepoLocation, dump_text, repo_cli, snapshot
from helpers.packager import (
    DSpaceTree,
    build_dspace_tree,
    delete,
    export,
    ingest,
    new_collection,
    new_community,
    new_item,
    resolves,
    write_tx,
)

from aip import constants as C
from aip.model import MetadataField, MetadataValue
from aip.packager import ingester
from aip.repository import objects, registry
from aip.repository import tables as T


@pytest.fixture
def tree(location: RepoLocation) -> DSpaceTree:
    return build_dspace_tree(location)


def _dump(location: RepoLocation) -> dict[str, Any]:
    return dict(json.loads(dump_text(location)))


def _items(location: RepoLocation) -> dict[str, dict[str, Any]]:
    return {i["handle"]: i for i in _dump(location)["items"]}


def _collections(location: RepoLocation) -> dict[str, dict[str, Any]]:
    return {c["handle"]: c for c in _dump(location)["collections"]}


def _values(item: dict[str, Any], field: str) -> list[str]:
    return [m["value"] for m in item["metadata"] if m["field"] == field]


# =============================================================================================
# Restore when objects exist: error naming the object, whole run rolled back
# =============================================================================================
def test_restore_of_an_existing_hierarchy_fails_and_changes_nothing(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "top.zip", tree.top)
    before = snapshot(location)
    result = ingest(location, out / "top.zip", "-r", "-a", expect=C.EXIT_EXISTS)
    assert tree.top in result.err and "already exists" in result.err
    assert snapshot(location) == before


def _move_item4_under_new_collection(location: RepoLocation, tree: DSpaceTree,
                                     out: Path) -> str:
    """Delete the whole tree, then bring ITEM item4 back alone under a new collection."""
    export(location, out / "top.zip", tree.top)
    delete(location, tree.top)
    with write_tx(location) as tx:
        elsewhere = new_collection(tx, new_community(tx, None, "Elsewhere"), "Holding")
    item4 = out / f"ITEM@{tree.item4.replace('/', '-')}.zip"
    ingest(location, item4, "-r", "-p", elsewhere)
    assert _items(location)[tree.item4]["owning_collection"] == elsewhere
    return elsewhere


def test_restore_rolls_back_everything_when_a_late_object_exists(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """Communities, a collection and an item are created before the run meets the existing
    item4: all of it is rolled back, rows and files, and the error names item4."""
    _move_item4_under_new_collection(location, tree, out)
    before = snapshot(location)
    result = ingest(location, out / "top.zip", "-r", "-a", expect=C.EXIT_EXISTS)
    assert tree.item4 in result.err
    assert snapshot(location) == before
    assert not resolves(location, tree.top)


def test_keep_existing_skips_existing_objects_and_restores_the_rest(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    elsewhere = _move_item4_under_new_collection(location, tree, out)
    result = ingest(location, out / "top.zip", "-r", "-k", "-a")
    assert any(line.startswith("skipped") and tree.item4 in line for line in result.lines)
    items = _items(location)
    assert items[tree.item4]["owning_collection"] == elsewhere  # left alone
    for handle in tree.all_handles():
        assert resolves(location, handle)
    assert items[tree.item3]["owning_collection"] == tree.greatgrandchild_collection
    assert items[tree.mapped_item]["mapped_collections"] == [tree.greatgrandchild_collection]


def test_keep_existing_does_not_visit_the_children_of_a_skipped_object(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "top.zip", tree.top)
    delete(location, tree.grandchild_collection)
    before = snapshot(location)
    result = ingest(location, out / "top.zip", "-r", "-k", "-a")
    assert [line.split()[:2] for line in result.lines if line.startswith("skipped")] == \
        [["skipped", tree.top]]
    assert snapshot(location) == before
    assert not resolves(location, tree.grandchild_collection)


# =============================================================================================
# Submit: new handles, new parent, workflow
# =============================================================================================
def test_submit_hierarchy_under_a_new_parent_gets_new_handles(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """``-s -a -p H``: the collection goes under H, and its items under the NEW collection
    (DSpace would attach them to the old collection: a known flaw aipsync does not copy)."""
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    with write_tx(location) as tx:
        parent = new_community(tx, None, "New home")
    old = _dump(location)
    result = ingest(location, out / "coll.zip", "-s", "-a", "-w", "-p", parent)
    new = _dump(location)
    old_handles = {o["handle"] for kind in ("communities", "collections", "items")
                   for o in old[kind]}
    [new_coll] = [c for c in new["collections"] if c["handle"] not in old_handles]
    assert new_coll["parents"] == [parent]
    new_items = [i for i in new["items"] if i["handle"] not in old_handles]
    assert len(new_items) == 3
    assert {i["owning_collection"] for i in new_items} == {new_coll["handle"]}
    assert sorted(new_coll["items"]) == sorted(i["handle"] for i in new_items)
    assert {_values(i, "dc.title")[0] for i in new_items} == {
        "Mapped Item", "GreatGrandchild Collection Item #1", "GreatGrandchild Collection Item #2"}
    # the originals are untouched
    for kind in ("collections", "items"):
        for obj in old[kind]:
            assert obj in new[kind]
    assert "submitted" in result.out


def test_submit_community_hierarchy_attaches_children_to_the_new_parents(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """``-s -a -p H`` of the whole tree: a copy under H, every child under its new parent,
    the original tree untouched."""
    export(location, out / "top.zip", tree.top)
    with write_tx(location) as tx:
        home = new_community(tx, None, "New home")
    old = _dump(location)
    ingest(location, out / "top.zip", "-s", "-a", "-w", "-p", home)
    new = _dump(location)
    old_handles = {o["handle"] for kind in ("communities", "collections", "items")
                   for o in old[kind]}
    fresh = {kind: {o["handle"]: o for o in new[kind] if o["handle"] not in old_handles}
             for kind in ("communities", "collections", "items")}
    assert len(fresh["communities"]) == 3 and len(fresh["collections"]) == 2
    assert len(fresh["items"]) == 4
    [copy_top] = [c for c in fresh["communities"].values() if c["parent"] == home]
    [copy_child] = [c for c in fresh["communities"].values()
                    if c["parent"] == copy_top["handle"]]
    [copy_grandchild] = [c for c in fresh["communities"].values()
                         if c["parent"] == copy_child["handle"]]
    assert {c["parents"][0] for c in fresh["collections"].values()} == {
        copy_child["handle"], copy_grandchild["handle"]}
    assert {i["owning_collection"] for i in fresh["items"].values()} <= set(fresh["collections"])
    for kind in ("communities", "collections", "items"):
        for obj in old[kind]:
            if obj["handle"] != home:
                assert obj in new[kind]


def test_submit_adds_a_licence_and_new_system_metadata(location: RepoLocation,
                                                       tree: DSpaceTree, out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    ingest(location, out / "item.zip", "-s", "-w", "-p", tree.greatgrandchild_collection)
    old = _items(location)[tree.item]
    [new] = [i for h, i in _items(location).items()
             if h not in {tree.item, tree.mapped_item, tree.item3, tree.item4}]
    assert new["owning_collection"] == tree.greatgrandchild_collection
    assert new["handle"] != tree.item
    licence = [b for b in new["bundles"] if b["name"] == "LICENSE"]
    assert licence and licence[0]["bitstreams"][0]["name"] == "license.txt"
    assert not [b for b in old["bundles"] if b["name"] == "LICENSE"]
    # the old values stay, new ones are added
    assert len(_values(new, "dc.date.accessioned")) == len(_values(old, "dc.date.accessioned")) + 1
    assert f"http://hdl.handle.net/{new['handle']}" in _values(new, "dc.identifier.uri")
    assert len(_values(new, "dc.description.provenance")) == \
        len(_values(old, "dc.description.provenance")) + 1
    assert new["bundles"][0]["bitstreams"][0]["md5"] == old["bundles"][0]["bitstreams"][0]["md5"]


def _workflow_collection(location: RepoLocation, parent: str) -> str:
    with write_tx(location) as tx:
        coll = new_collection(tx, parent, "Reviewed")
        objects.ensure_role_group(tx, C.TYPE_COLLECTION, objects.collection_id(tx, coll),
                                  C.ROLE_WORKFLOW_2)
    return coll


def _in_progress(location: RepoLocation) -> list[tuple[str, int]]:
    with location.opened() as repo, repo.transaction(write=False) as tx:
        return [(r.stage, r.step) for r in tx.execute(sa.select(T.workspace_item))]


def test_submit_without_install_waits_in_the_workflow(location: RepoLocation,
                                                      tree: DSpaceTree, out: Path) -> None:
    coll = _workflow_collection(location, tree.top)
    export(location, out / "item.zip", tree.item, recursive=False)
    before_items = set(_items(location))
    result = ingest(location, out / "item.zip", "-s", "-p", coll)
    assert set(_items(location)) == before_items  # not archived, no handle
    assert _in_progress(location) == [("workflow", 2)]
    assert "workflow" in result.out
    tree_out = repo_cli(location, "tree").out
    assert any(coll in line and "1 in progress" in line for line in tree_out.splitlines())


def test_submit_with_install_skips_the_workflow(location: RepoLocation, tree: DSpaceTree,
                                                out: Path) -> None:
    coll = _workflow_collection(location, tree.top)
    export(location, out / "item.zip", tree.item, recursive=False)
    ingest(location, out / "item.zip", "-s", "-w", "-p", coll)
    assert _in_progress(location) == []
    assert _collections(location)[coll]["items"] != []


def test_submit_into_a_collection_without_workflow_installs(location: RepoLocation,
                                                            tree: DSpaceTree,
                                                            out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    ingest(location, out / "item.zip", "-s", "-p", tree.greatgrandchild_collection)
    assert _in_progress(location) == []
    assert len(_collections(location)[tree.greatgrandchild_collection]["items"]) == 4


def test_submit_needs_a_parent(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-s", expect=C.EXIT_USAGE)
    assert "-p" in result.err
    assert snapshot(location) == before


def test_a_site_package_cannot_be_submitted(location: RepoLocation, tree: DSpaceTree,
                                            out: Path) -> None:
    export(location, out / "site.zip", SITE, recursive=False)
    before = snapshot(location)
    ingest(location, out / "site.zip", "-s", "-o", "ignoreParent=false", expect=C.EXIT_USAGE)
    assert snapshot(location) == before


# =============================================================================================
# ignoreHandle / ignoreParent by mode
# =============================================================================================
def test_submit_keeps_the_handle_with_ignore_handle_false(location: RepoLocation,
                                                          tree: DSpaceTree,
                                                          out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    delete(location, tree.item)
    ingest(location, out / "item.zip", "-s", "-w", "-p", tree.grandchild_collection,
           "-o", "ignoreHandle=false")
    assert _items(location)[tree.item]["owning_collection"] == tree.grandchild_collection


def test_submit_uses_the_package_parent_with_ignore_parent_false(location: RepoLocation,
                                                                 tree: DSpaceTree,
                                                                 out: Path) -> None:
    export(location, out / "item.zip", tree.item4, recursive=False)
    before = set(_items(location))
    ingest(location, out / "item.zip", "-s", "-w", "-o", "ignoreParent=false")
    [new] = set(_items(location)) - before
    assert _items(location)[new]["owning_collection"] == tree.greatgrandchild_collection


def test_restore_with_ignore_handle_makes_a_copy_with_a_new_handle(location: RepoLocation,
                                                                   tree: DSpaceTree,
                                                                   out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    original = _items(location)[tree.item]
    ingest(location, out / "item.zip", "-r", "-o", "ignoreHandle=true")
    items = _items(location)
    assert items[tree.item] == original
    [copy] = [i for h, i in items.items() if h not in set(tree.all_handles())]
    assert copy["owning_collection"] == original["owning_collection"]
    assert copy["metadata"] == original["metadata"]  # restore adds no system metadata


def test_restore_parent_comes_from_p_unless_ignore_parent_false(location: RepoLocation,
                                                                tree: DSpaceTree,
                                                                out: Path) -> None:
    export(location, out / "item.zip", tree.item4, recursive=False)
    delete(location, tree.item4)
    ingest(location, out / "item.zip", "-r", "-p", tree.grandchild_collection,
           "-o", "ignoreParent=false")
    assert _items(location)[tree.item4]["owning_collection"] == tree.greatgrandchild_collection
    delete(location, tree.item4)
    ingest(location, out / "item.zip", "-r", "-p", tree.grandchild_collection)
    assert _items(location)[tree.item4]["owning_collection"] == tree.grandchild_collection


def test_replace_never_moves_the_object(location: RepoLocation, tree: DSpaceTree,
                                        out: Path) -> None:
    before = dump_text(location)
    export(location, out / "item.zip", tree.item4, recursive=False)
    ingest(location, out / "item.zip", "-r", "-f", "-p", tree.grandchild_collection)
    assert dump_text(location) == before


def test_replace_of_a_hierarchy_leaves_objects_not_in_the_package_alone(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    with write_tx(location) as tx:
        extra = new_item(tx, tree.greatgrandchild_collection, "Added after the backup")
    _set(location, tree.item3, "dc.title", "Edited after the backup")
    ingest(location, out / "coll.zip", "-r", "-a", "-f", "-i", tree.greatgrandchild_collection)
    items = _items(location)
    assert _values(items[tree.item3], "dc.title") == ["GreatGrandchild Collection Item #1"]
    assert _values(items[extra], "dc.title") == ["Added after the backup"]
    assert extra in _collections(location)[tree.greatgrandchild_collection]["items"]


def _set(location: RepoLocation, handle: str, field: str, value: str) -> None:
    with write_tx(location) as tx:
        obj_type, obj_id = objects.handles.require(tx, handle)
        schema, element, qualifier = registry.parse_field_name(field)
        objects.replace_field(tx, obj_type, obj_id, field,
                              [MetadataValue(schema, element, qualifier, value)])


def test_replace_type_mismatch(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-r", "-f", "-i", tree.grandchild_collection,
                    expect=C.EXIT_TYPE_MISMATCH)
    assert "ITEM" in result.err and "COLLECTION" in result.err
    assert snapshot(location) == before


# =============================================================================================
# Missing parents
# =============================================================================================
def test_missing_parent_is_an_error_naming_it(location: RepoLocation, tree: DSpaceTree,
                                              out: Path) -> None:
    export(location, out / "item.zip", tree.item3, recursive=False)
    delete(location, tree.greatgrandchild_collection)
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-r", expect=C.EXIT_MISSING_PARENT)
    assert "Could not find a parent" in result.err
    assert tree.greatgrandchild_collection in result.err
    assert snapshot(location) == before


def test_skip_if_parent_missing_turns_it_into_a_warning(location: RepoLocation,
                                                        tree: DSpaceTree, out: Path) -> None:
    export(location, out / "item.zip", tree.item3, recursive=False)
    delete(location, tree.greatgrandchild_collection)
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-r", "-o", "skipIfParentMissing=true",
                    expect=C.EXIT_WARN_PARENT_MISSING)
    assert "warning" in result.out and tree.greatgrandchild_collection in result.out
    assert snapshot(location) == before


# =============================================================================================
# The metadata registry
# =============================================================================================
@pytest.fixture
def custom_field_item(location: RepoLocation, tree: DSpaceTree, out: Path) -> Path:
    """An item package with a value of ``dc.aipsync.extra``, a field a fresh repository lacks."""
    with write_tx(location) as tx:
        registry.create_field(tx, MetadataField("dc", "aipsync", "extra", None))
        objects.add_metadata(tx, C.TYPE_ITEM, objects.item_id(tx, tree.item),
                             [MetadataValue("dc", "aipsync", "extra", "custom value")])
    export(location, out / "item.zip", tree.item, recursive=False)
    return out / "item.zip"


def _fresh_with_collection(fresh, name: str) -> tuple[RepoLocation, str]:  # type: ignore[no-untyped-def]
    target: RepoLocation = fresh(name)
    with write_tx(target) as tx:
        coll = new_collection(tx, new_community(tx, None, "Target"), "Landing")
    return target, coll


def test_missing_fields_are_created_by_default(custom_field_item: Path, fresh) -> None:  # type: ignore[no-untyped-def]
    target, coll = _fresh_with_collection(fresh, "target")
    ingest(target, custom_field_item, "-r", "-p", coll)
    [item] = _dump(target)["items"]
    assert _values(item, "dc.aipsync.extra") == ["custom value"]
    assert {"name": "dc.aipsync.extra", "scope_note": None} in \
        _dump(target)["registry"]["fields"]


def test_create_metadata_fields_false_fails_on_a_missing_field(custom_field_item: Path,
                                                               fresh) -> None:  # type: ignore[no-untyped-def]
    target, coll = _fresh_with_collection(fresh, "target")
    before = snapshot(target)
    result = ingest(target, custom_field_item, "-r", "-p", coll,
                    "-o", "createMetadataFields=false", expect=C.EXIT_METADATA_REGISTRY)
    assert "dc.aipsync.extra" in result.err
    assert snapshot(target) == before


def test_a_missing_schema_fails_with_dspace_message(seeded: RepoLocation, out: Path,
                                                    fresh) -> None:  # type: ignore[no-untyped-def]
    handle = next(i["handle"] for i in _dump(seeded)["items"]
                  if any(m["field"].startswith("seed.") for m in i["metadata"]))
    export(seeded, out / "item.zip", handle, recursive=False)
    target, coll = _fresh_with_collection(fresh, "target")
    before = snapshot(target)
    result = ingest(target, out / "item.zip", "-r", "-p", coll,
                    expect=C.EXIT_METADATA_REGISTRY)
    assert ("Unknown Metadata Schema encountered (seed) when attempting to ingest an Item. "
            "You will need to create this Metadata Schema") in result.err
    assert snapshot(target) == before


# =============================================================================================
# Mappings whatever the order, and the handle counter
# =============================================================================================
def test_restoring_a_deleted_collection_remaps_items_of_other_collections(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    before = dump_text(location)
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    delete(location, tree.greatgrandchild_collection)
    assert _items(location)[tree.mapped_item]["mapped_collections"] == []
    result = ingest(location, out / "coll.zip", "-r", "-a")
    assert any(line.startswith("mapped") and tree.mapped_item in line for line in result.lines)
    assert dump_text(location) == before


@pytest.mark.parametrize("chunk", [5000, 1], ids=["one look-up", "one item per look-up"])
def test_a_mapping_is_completed_when_its_collection_is_restored_later(
        location: RepoLocation, tree: DSpaceTree, out: Path, chunk: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingester, "_REMAP_CHUNK", chunk)
    before = dump_text(location)
    export(location, out / "item.zip", tree.mapped_item, recursive=False)
    export(location, out / "coll.zip", tree.greatgrandchild_collection, recursive=False)
    delete(location, tree.greatgrandchild_collection)
    delete(location, tree.mapped_item)
    ingest(location, out / "item.zip", "-r")  # its mapped collection is not there yet
    assert _items(location)[tree.mapped_item]["mapped_collections"] == []
    ingest(location, out / "coll.zip", "-r")
    assert _items(location)[tree.mapped_item]["mapped_collections"] == \
        [tree.greatgrandchild_collection]
    # the item is exactly as it was; the collection's own items were not restored (no -a)
    was = {i["handle"]: i for i in json.loads(before)["items"]}[tree.mapped_item]
    assert _items(location)[tree.mapped_item] == was
    assert _collections(location)[tree.greatgrandchild_collection]["items"] == [tree.mapped_item]


def test_new_handles_never_collide_with_restored_ones(seeded: RepoLocation, out: Path,
                                                      fresh) -> None:  # type: ignore[no-untyped-def]
    export(seeded, out / "site.zip", SITE)
    target: RepoLocation = fresh("target")
    ingest(target, out / "site.zip", "-r", "-a", "-f", "-i", SITE)
    data = _dump(target)
    restored = {o["handle"] for kind in ("communities", "collections", "items")
                for o in data[kind]}
    top = data["communities"][0]["handle"]
    made = repo_cli(target, "create-community", "--name", "After the restore",
                    "--parent", top).last
    assert made not in restored
    assert int(made.split("/")[1]) > max(int(h.split("/")[1]) for h in restored)
    coll = repo_cli(target, "create-collection", "--name", "C", "--parent", made).last
    item = repo_cli(target, "create-item", "--collection", coll, "--title", "T").last
    assert not {coll, item} & restored


def test_restore_under_a_deleted_handle_is_allowed_but_new_objects_skip_it(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """A deleted object's handle may come back by restore, never by minting."""
    export(location, out / "item.zip", tree.item4, recursive=False)
    delete(location, tree.item4)
    with write_tx(location) as tx:
        fresh_item = new_item(tx, tree.greatgrandchild_collection, "New")
    assert fresh_item != tree.item4
    ingest(location, out / "item.zip", "-r")
    assert resolves(location, tree.item4)


def test_ingest_needs_an_administrator(location: RepoLocation, tree: DSpaceTree,
                                       out: Path) -> None:
    export(location, out / "item.zip", tree.item, recursive=False)
    delete(location, tree.item)
    repo_cli(location, "create-eperson", "--email", "joe@example.org")
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-r", eperson="joe@example.org",
                    expect=C.EXIT_PERMISSION)
    assert "joe@example.org" in result.err
    assert snapshot(location) == before


def test_seeded_site_restores_with_keep_existing_into_itself(seeded: RepoLocation,
                                                             out: Path) -> None:
    """``-r -k -a`` of a full site into the repository it came from changes nothing."""
    export(seeded, out / "site.zip", SITE)
    before = snapshot(seeded)
    ingest(seeded, out / "site.zip", "-r", "-k", "-a", "-i", SITE, expect=C.EXIT_USAGE)
    result = ingest(seeded, out / "site.zip", "-r", "-k", "-a")
    assert "skipped" in result.out
    assert snapshot(seeded) == before



# =============================================================================================
# Ingest options validate, manifestOnly, dmd
# =============================================================================================
def test_validate_true_checks_every_manifest_before_writing(location: RepoLocation,
                                                            tree: DSpaceTree,
                                                            out: Path) -> None:
    """A manifest the METS schema refuses (an attribute METS does not define) but the reader
    accepts: restored by default (``validate=false``), refused up front with
    ``validate=true`` although it is the last package of the tree."""
    from helpers.packager import rewrite_zip

    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    last = out / f"ITEM@{tree.item4.replace('/', '-')}.zip"
    rewrite_zip(last, out / "x.zip", lambda n, d: (n, d.replace(
        b"<metsHdr ", b'<metsHdr FOO="not in METS" ', 1) if n == C.MANIFEST_NAME else d))
    (out / "x.zip").replace(last)
    delete(location, tree.greatgrandchild_collection)
    before = snapshot(location)
    result = ingest(location, out / "coll.zip", "-r", "-a", "-o", "validate=true",
                    expect=C.EXIT_PACKAGE_INVALID)
    assert last.name in result.err and "AIP-E044" in result.err
    assert snapshot(location) == before
    ingest(location, out / "coll.zip", "-r", "-a")
    assert resolves(location, tree.item4)


def test_manifest_only_packages_without_files_restore(location: RepoLocation,
                                                       tree: DSpaceTree, out: Path) -> None:
    before = dump_text(location)
    export(location, out / "coll.xml", tree.greatgrandchild_collection, "manifestOnly=true",
           recursive=False)
    delete(location, tree.greatgrandchild_collection)
    ingest(location, out / "coll.xml", "-r", "-o", "manifestOnly=true")
    restored = _collections(location)[tree.greatgrandchild_collection]
    was = {c["handle"]: c for c in json.loads(before)["collections"]}[
        tree.greatgrandchild_collection]
    assert {k: v for k, v in restored.items() if k != "items"} == \
        {k: v for k, v in was.items() if k != "items"}


def test_manifest_only_packages_with_files_are_refused(location: RepoLocation,
                                                       tree: DSpaceTree, out: Path) -> None:
    export(location, out / "item.xml", tree.item, "manifestOnly=true", recursive=False)
    delete(location, tree.item)
    before = snapshot(location)
    result = ingest(location, out / "item.xml", "-r", "-o", "manifestOnly=true",
                    expect=C.EXIT_PACKAGE)
    assert "item.xml" in result.err and "never fetches" in result.err
    assert snapshot(location) == before


def test_dmd_option_chooses_the_descriptive_section(location: RepoLocation,
                                                    tree: DSpaceTree, out: Path) -> None:
    """DIM by default (exact); ``dmd=MODS`` crosswalks the lossy MODS section instead."""
    _set(location, tree.item, "dc.description.abstract", "An abstract")
    with write_tx(location) as tx:
        objects.add_metadata(tx, C.TYPE_ITEM, objects.item_id(tx, tree.item), [
            MetadataValue("dc", "subject", None, "volcanoes", "en")])
    export(location, out / "item.zip", tree.item, recursive=False)
    was = _items(location)[tree.item]
    delete(location, tree.item)
    ingest(location, out / "item.zip", "-r", "-o", "dmd=MODS")
    from_mods = _items(location)[tree.item]
    assert from_mods["metadata"] != was["metadata"]
    assert "volcanoes" in _values(from_mods, "dc.subject")
    assert all(m["language"] is None for m in from_mods["metadata"])  # MODS has none
    delete(location, tree.item)
    ingest(location, out / "item.zip", "-r", "-o", "dmd=DIM")
    assert _items(location)[tree.item] == was
