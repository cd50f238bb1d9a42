"""Counterparts of DSpace's own AIP tests, judged by ``repo dump --json``.

DSpace/DSpace ``dspace-api/src/test/java/org/dspace/content/packager/ITDSpaceAIP.java`` (all 13
tests), ``.../app/packager/PackagerIT.java`` (the scenarios that do not depend on entities,
relationships or UUIDs) and ``.../content/packager/PackageUtilsTest.java`` (group-name
translation).  The hierarchy is ITDSpaceAIP's ``setUpClass`` (``helpers.packager
.build_dspace_tree``); every package is written and read through the CLI.

Where DSpace asserts a count or a name, these tests compare the whole dump (or the object's
subtree) before the delete with the dump after the restore: a restore must be exact.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import SITE, RepoLocation, dangling_references, dump_text, snapshot
from helpers.packager import (
    DSpaceTree,
    build_dspace_tree,
    delete,
    export,
    ingest,
    manifest_attr,
    manifest_of,
    new_collection,
    new_community,
    new_item,
    resolves,
    write_tx,
    zips,
)

from aip import constants as C
from aip.model import Action, MetadataValue, ResourcePolicy
from aip.repository import auth, objects


@pytest.fixture
def tree(location: RepoLocation) -> DSpaceTree:
    return build_dspace_tree(location)


def _dump(location: RepoLocation, handle: str | None = None) -> dict[str, Any]:
    return dict(json.loads(dump_text(location, handle)))


def _by_handle(data: dict[str, Any], kind: str, handle: str) -> dict[str, Any]:
    return next(o for o in data[kind] if o["handle"] == handle)


def _set_title(location: RepoLocation, handle: str, text: str) -> None:
    with write_tx(location) as tx:
        obj_type, obj_id = objects.handles.require(tx, handle)
        objects.replace_field(tx, obj_type, obj_id, "dc.title",
                              [MetadataValue("dc", "title", None, text)])
        if obj_type == C.TYPE_ITEM:
            objects.touch_item(tx, obj_id)


# =============================================================================================
# ITDSpaceAIP
# =============================================================================================
def test_restore_community_hierarchy(location: RepoLocation, tree: DSpaceTree,
                                     out: Path) -> None:
    """ITDSpaceAIP.testRestoreCommunityHierarchy (with skipIfParentMissing, as there)."""
    before = dump_text(location)
    export(location, out / "top.zip", tree.top)
    delete(location, tree.top)
    assert not any(resolves(location, h) for h in tree.all_handles())
    ingest(location, out / "top.zip", "-r", "-a", "-o", "skipIfParentMissing=true")
    assert dump_text(location) == before
    mapped = _by_handle(_dump(location), "items", tree.mapped_item)
    assert mapped["owning_collection"] == tree.grandchild_collection
    assert mapped["mapped_collections"] == [tree.greatgrandchild_collection]
    assert dangling_references(location) == {}


def test_restore_community_hierarchy_without_skip_if_parent_missing(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """aipsync restores mappings whatever the visiting order, so the option is not needed."""
    before = dump_text(location)
    export(location, out / "top.zip", tree.top)
    delete(location, tree.top)
    ingest(location, out / "top.zip", "-r", "-a")
    assert dump_text(location) == before


def _special_users_policy(location: RepoLocation, handle: str) -> list[dict[str, Any]]:
    """ITDSpaceAIP: a "Special Users" group and only a "Special Read Only" READ policy."""
    with write_tx(location) as tx:
        if auth.group_id_by_name(tx, "Special Users") is None:
            auth.create_group(tx, "Special Users")
        obj_type, obj_id = objects.handles.require(tx, handle)
        auth.set_policies(tx, obj_type, obj_id, [ResourcePolicy(
            Action.READ, group="Special Users", name="Special Read Only")])
    return [{"action": "READ", "group": "Special Users", "eperson": None,
             "name": "Special Read Only", "description": None, "policy_type": None,
             "start_date": None, "end_date": None}]


def test_restore_restricted_community(location: RepoLocation, tree: DSpaceTree,
                                      out: Path) -> None:
    """ITDSpaceAIP.testRestoreRestrictedCommunity."""
    with write_tx(location) as tx:
        restricted = new_community(tx, tree.top, "Restricted Community")
    expected = _special_users_policy(location, restricted)
    before = dump_text(location)
    export(location, out / "c.zip", restricted, recursive=False)
    delete(location, restricted)
    assert not resolves(location, restricted)
    ingest(location, out / "c.zip", "-r")
    assert _by_handle(_dump(location), "communities", restricted)["policies"] == expected
    assert dump_text(location) == before


def test_replace_community_hierarchy(location: RepoLocation, tree: DSpaceTree,
                                     out: Path) -> None:
    """ITDSpaceAIP.testReplaceCommunityHierarchy: a deleted collection and its items come
    back; everything else is as it was."""
    before = dump_text(location)
    export(location, out / "top.zip", tree.top)
    delete(location, tree.grandchild_collection)
    assert not resolves(location, tree.grandchild_collection)
    assert not resolves(location, tree.item)
    ingest(location, out / "top.zip", "-r", "-a", "-f", "-i", tree.top,
           "-o", "skipIfParentMissing=true")
    assert resolves(location, tree.grandchild_collection) and resolves(location, tree.item)
    assert dump_text(location) == before
    assert dangling_references(location) == {}


def test_replace_community_only(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """ITDSpaceAIP.testReplaceCommunityOnly: the name reverts, nothing else changes."""
    before = dump_text(location)
    export(location, out / "top.zip", tree.top, recursive=False)
    _set_title(location, tree.top, "This is NOT my Community name!")
    assert before != dump_text(location)
    ingest(location, out / "top.zip", "-r", "-f", "-i", tree.top)
    assert dump_text(location) == before


def test_restore_collection_hierarchy(location: RepoLocation, tree: DSpaceTree,
                                      out: Path) -> None:
    """ITDSpaceAIP.testRestoreCollectionHierarchy."""
    before = dump_text(location)
    export(location, out / "coll.zip", tree.grandchild_collection)
    delete(location, tree.grandchild_collection)
    for handle in (tree.grandchild_collection, tree.item, tree.mapped_item):
        assert not resolves(location, handle)
    ingest(location, out / "coll.zip", "-r", "-a")
    assert dump_text(location) == before


def test_restore_restricted_collection(location: RepoLocation, tree: DSpaceTree,
                                       out: Path) -> None:
    """ITDSpaceAIP.testRestoreRestrictedCollection."""
    with write_tx(location) as tx:
        restricted = new_collection(tx, tree.top, "Restricted Collection")
    expected = _special_users_policy(location, restricted)
    before = dump_text(location)
    export(location, out / "c.zip", restricted, recursive=False)
    delete(location, restricted)
    ingest(location, out / "c.zip", "-r")
    assert _by_handle(_dump(location), "collections", restricted)["policies"] == expected
    assert dump_text(location) == before


def test_replace_collection_hierarchy(location: RepoLocation, tree: DSpaceTree,
                                      out: Path) -> None:
    """ITDSpaceAIP.testReplaceCollectionHierarchy: a deleted item comes back."""
    before = dump_text(location)
    count = len(_by_handle(_dump(location), "collections", tree.grandchild_collection)["items"])
    export(location, out / "coll.zip", tree.grandchild_collection)
    delete(location, tree.item)
    after_delete = _by_handle(_dump(location), "collections", tree.grandchild_collection)
    assert len(after_delete["items"]) == count - 1
    ingest(location, out / "coll.zip", "-r", "-a", "-f", "-i", tree.grandchild_collection)
    assert len(_by_handle(_dump(location), "collections",
                          tree.grandchild_collection)["items"]) == count
    assert dump_text(location) == before


def test_replace_collection_only(location: RepoLocation, tree: DSpaceTree,
                                 out: Path) -> None:
    """ITDSpaceAIP.testReplaceCollectionOnly."""
    before = dump_text(location)
    export(location, out / "coll.zip", tree.grandchild_collection, recursive=False)
    _set_title(location, tree.grandchild_collection, "This is NOT my Collection name!")
    ingest(location, out / "coll.zip", "-r", "-f", "-i", tree.grandchild_collection)
    assert dump_text(location) == before


def test_restore_item(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """ITDSpaceAIP.testRestoreItem: the item and its bitstream (name, checksum) come back."""
    before = dump_text(location)
    item_before = _by_handle(_dump(location), "items", tree.item)
    [bitstream] = item_before["bundles"][0]["bitstreams"]
    assert bitstream["name"] == "Test Bitstream"
    export(location, out / "item.zip", tree.item, recursive=False)
    delete(location, tree.item)
    assert not resolves(location, tree.item)
    ingest(location, out / "item.zip", "-r")
    restored = _by_handle(_dump(location), "items", tree.item)
    assert restored["bundles"][0]["bitstreams"] == [bitstream]
    assert dump_text(location) == before
    assert dangling_references(location) == {}


def test_restore_restricted_item(location: RepoLocation, tree: DSpaceTree,
                                 out: Path) -> None:
    """ITDSpaceAIP.testRestoreRestrictedItem: replaceAllItemPolicies with one Administrator
    READ policy named "Admin Read-Only" (item, bundles and bitstreams)."""
    with write_tx(location) as tx:
        handle = new_item(tx, tree.grandchild_collection, "Test Restricted Item",
                          {"Test Bitstream": b"restricted bytes"})
        iid = objects.item_id(tx, handle)
        only = [ResourcePolicy(Action.READ, group=C.GROUP_ADMINISTRATOR,
                               name="Admin Read-Only")]
        auth.set_policies(tx, C.TYPE_ITEM, iid, only)
        bundle = objects.bundle_id(tx, iid, C.BUNDLE_ORIGINAL, create=False)
        assert bundle is not None
        auth.set_policies(tx, C.TYPE_BUNDLE, bundle, only)
        for bsid in tx.execute(objects.sa.select(objects.T.bitstream.c.id).where(
                objects.T.bitstream.c.bundle_id == bundle)).scalars():
            auth.set_policies(tx, C.TYPE_BITSTREAM, bsid, only)
    before = dump_text(location)
    export(location, out / "item.zip", handle, recursive=False)
    delete(location, handle)
    ingest(location, out / "item.zip", "-r")
    item = _by_handle(_dump(location), "items", handle)
    expected = [{"action": "READ", "group": "Administrator", "eperson": None,
                 "name": "Admin Read-Only", "description": None, "policy_type": None,
                 "start_date": None, "end_date": None}]
    assert item["policies"] == expected
    assert item["bundles"][0]["policies"] == expected
    assert item["bundles"][0]["bitstreams"][0]["policies"] == expected
    assert dump_text(location) == before


def test_restore_item_without_policies(location: RepoLocation, tree: DSpaceTree,
                                       out: Path) -> None:
    """ITDSpaceAIP.testRestoreItemNoPolicies: zero policies stay zero (the collection's
    default read policies are not added)."""
    with write_tx(location) as tx:
        handle = new_item(tx, tree.grandchild_collection, "Test No Policies Item",
                          {"Test Bitstream": b"no policies"})
        auth.clear_policies(tx, C.TYPE_ITEM, objects.item_id(tx, handle))
    before = dump_text(location)
    assert _by_handle(_dump(location), "items", handle)["policies"] == []
    export(location, out / "item.zip", handle, recursive=False)
    delete(location, handle)
    ingest(location, out / "item.zip", "-r")
    assert _by_handle(_dump(location), "items", handle)["policies"] == []
    assert dump_text(location) == before


def test_replace_item(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """ITDSpaceAIP.testReplaceItem; aipsync also checks that every other change since the
    export is undone: a new bitstream, a new bundle, changed policies, a withdrawal."""
    before = snapshot(location)
    export(location, out / "item.zip", tree.item, recursive=False)
    _set_title(location, tree.item, "This is NOT my Item name!")
    with write_tx(location) as tx:
        iid = objects.item_id(tx, tree.item)
        objects.add_bitstream(tx, iid, C.BUNDLE_ORIGINAL, io.BytesIO(b"added"), name="new")
        objects.add_bitstream(tx, iid, "EXTRA", io.BytesIO(b"more"), name="extra")
        auth.set_policies(tx, C.TYPE_ITEM, iid, [ResourcePolicy(Action.ADMIN,
                                                                group=C.GROUP_ANONYMOUS)])
        objects.withdraw_item(tx, iid)
    ingest(location, out / "item.zip", "-r", "-f", "-i", tree.item)
    after = snapshot(location)
    assert after.dump == before.dump
    # the bytes are stored anew (new keys); the replaced ones are gone, none is orphaned
    assert len(after.files) == len(before.files)
    assert dangling_references(location) == {}


def test_restore_mapped_item(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """ITDSpaceAIP.testRestoreMappedItem: back in both collections."""
    before = dump_text(location)
    export(location, out / "item.zip", tree.mapped_item, recursive=False)
    delete(location, tree.mapped_item)
    for coll in (tree.grandchild_collection, tree.greatgrandchild_collection):
        assert tree.mapped_item not in _by_handle(_dump(location), "collections", coll)["items"]
    ingest(location, out / "item.zip", "-r")
    for coll in (tree.grandchild_collection, tree.greatgrandchild_collection):
        assert tree.mapped_item in _by_handle(_dump(location), "collections", coll)["items"]
    assert dump_text(location) == before


# =============================================================================================
# PackagerIT (the command line; entity/relationship/UUID/-z scenarios have no counterpart)
# =============================================================================================
def test_cli_force_restore_of_a_deleted_item(location: RepoLocation, tree: DSpaceTree,
                                             out: Path) -> None:
    """PackagerIT.packagerImportUUIDTest: ``-r -f -u`` brings a deleted item back (aipsync
    keys objects by handle: the item comes back under its handle)."""
    before = dump_text(location)
    export(location, out / "item.zip", tree.item, recursive=False)
    assert manifest_attr(manifest_of(out / "item.zip"), "ID") == \
        f"DSpace_ITEM_{tree.item.replace('/', '-')}"  # packagerExportUUIDTest, <=7.0 form
    delete(location, tree.item)
    ingest(location, out / "item.zip", "-r", "-f")
    assert dump_text(location) == before


def test_cli_force_restore_of_a_deleted_collection(location: RepoLocation, tree: DSpaceTree,
                                                   out: Path) -> None:
    """PackagerIT.packagerImportColUUIDTest (non-recursive: the collection alone)."""
    export(location, out / "coll.zip", tree.greatgrandchild_collection, recursive=False)
    coll_before = _by_handle(_dump(location), "collections", tree.greatgrandchild_collection)
    delete(location, tree.greatgrandchild_collection)
    ingest(location, out / "coll.zip", "-r", "-f")
    restored = _by_handle(_dump(location), "collections", tree.greatgrandchild_collection)
    # its own items were deleted with it and not restored (no -a); the mapped item of the
    # other collection is mapped back in
    assert restored["items"] == [tree.mapped_item]
    assert {k: v for k, v in restored.items() if k != "items"} == \
        {k: v for k, v in coll_before.items() if k != "items"}


def test_cli_restore_when_the_item_exists_changes_nothing(location: RepoLocation,
                                                          tree: DSpaceTree,
                                                          out: Path) -> None:
    """PackagerIT.packagerUUIDAlreadyExistWithoutForceTest: without -f an existing object is
    not overwritten (aipsync: an error naming it, and nothing changed)."""
    export(location, out / "item.zip", tree.item, recursive=False)
    _set_title(location, tree.item, "Changed after the export")
    before = snapshot(location)
    result = ingest(location, out / "item.zip", "-r", expect=C.EXIT_EXISTS)
    assert tree.item in result.err
    assert snapshot(location) == before


def test_cli_replace_reverts_a_title_edit(location: RepoLocation, tree: DSpaceTree,
                                          out: Path) -> None:
    """PackagerIT.packagerRestoreRevertsTitleEditTest: ``-r -f -u`` without ``-i`` finds the
    object by the package's OBJID."""
    before = dump_text(location)
    export(location, out / "item.zip", tree.item, recursive=False)
    _set_title(location, tree.item, "Modified Title")
    ingest(location, out / "item.zip", "-r", "-f")
    assert dump_text(location) == before


def test_cli_export_names_the_package_file(location: RepoLocation, tree: DSpaceTree,
                                           out: Path) -> None:
    """PackagerIT.packagerExportFileNamingNoPrefixTest: children are ``ITEM@<handle>.zip``."""
    export(location, out / "whatever-name.zip", tree.greatgrandchild_collection)
    assert set(zips(out)) == {"whatever-name.zip",
                              f"ITEM@{tree.mapped_item.replace('/', '-')}.zip",
                              f"ITEM@{tree.item3.replace('/', '-')}.zip",
                              f"ITEM@{tree.item4.replace('/', '-')}.zip"}


# =============================================================================================
# PackageUtilsTest: group names through export and restore
# =============================================================================================
def test_workflow_group_names_survive_export_and_restore(location: RepoLocation,
                                                         tree: DSpaceTree, fresh,  # type: ignore[no-untyped-def]
                                                         out: Path) -> None:
    """testCrosswalkGroupNameWithoutUnderscore / ...UnderscoresNoDSO / ...UnderscoresAndDSO:
    ``TESTGROUP`` and ``TESTGROUP_ABC_TEST`` are exported and imported unchanged; a group the
    collection made (``COLLECTION_<id>_WORKFLOW_STEP_3``) is exported with the handle
    (``COLLECTION_hdl:<handle>_WORKFLOW_STEP_3``) and comes back under the new id."""
    coll = tree.grandchild_collection
    with write_tx(location) as tx:
        cid = objects.collection_id(tx, coll)
        objects.set_role_group(tx, C.TYPE_COLLECTION, cid, C.ROLE_WORKFLOW_1,
                               auth.create_group(tx, "TESTGROUP"))
        objects.set_role_group(tx, C.TYPE_COLLECTION, cid, C.ROLE_WORKFLOW_2,
                               auth.create_group(tx, "TESTGROUP_ABC_TEST"))
        objects.ensure_role_group(tx, C.TYPE_COLLECTION, cid, C.ROLE_WORKFLOW_3)
    export(location, out / "site.zip", SITE)
    manifest = manifest_of(out / f"COLLECTION@{coll.replace('/', '-')}.zip").decode()
    assert 'Name="TESTGROUP"' in manifest and 'Name="TESTGROUP_ABC_TEST"' in manifest
    assert f'Name="COLLECTION_hdl:{coll}_WORKFLOW_STEP_3"' in manifest
    assert f"COLLECTION_{cid}_" not in manifest

    target = fresh("target")
    ingest(target, out / "site.zip", "-r", "-a", "-f", "-i", SITE)
    roles = _by_handle(_dump(target), "collections", coll)["roles"]
    assert roles == {"WORKFLOW_STEP_1": "TESTGROUP", "WORKFLOW_STEP_2": "TESTGROUP_ABC_TEST",
                     "WORKFLOW_STEP_3": f"COLLECTION_hdl:{coll}_WORKFLOW_STEP_3"}
    assert dump_text(target) == dump_text(location)
