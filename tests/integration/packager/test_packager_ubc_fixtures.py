"""A real DSpace 1.7 export, the UBC collection ``2429/1314`` with its nine items, restored
through ``packager -r``.

The set has no licence and is never in this repository: ``tests/helpers/dspace_fixtures.py``
says where it is looked for, and this module is skipped (once, with that reason) without it.
What the manifests say is read with lxml (``dspace_manifest_support``), independently of
aipsync's own parser, and compared with ``repo dump --json``: metadata (DIM), files (bundle,
size, MD5 of the zip entry), groups and their members, and the METSRights contexts as
policies.  Then a restored fixture is exported again and its manifest structure compared with
DSpace's own, with the structural diff of ``tests/component/format/test_fixture_compat.py``.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dspace_manifest_support import (
    DIM,
    M,
    contexts,
    dim_values,
    dump_of,
    files_of,
    object_dmd,
    policy_subjects,
    root_of,
)
from helpers import ADMIN, RepoLocation, dangling_references, make_repo, snapshot
from helpers.dspace_fixtures import UBC, UBC_MISSING
from helpers.packager import export, ingest, manifest_of, packager, write_tx, zips
from lxml import etree

from aip import constants as C
from aip.model import EPerson, MetadataValue
from aip.repository import auth, objects

if UBC is None:  # one skip for the module, not one per test
    pytest.skip(UBC_MISSING, allow_module_level=True)
UBC_PEOPLE = ("svpr@exchange.ubc.ca", "andy.torr@ubc.ca")
UBC_ITEMS = sorted(p.name for p in UBC.glob("ITEM@2429-*.zip"))


def _compat() -> ModuleType:
    """The structural diff helper (a test module, so loaded by path)."""
    path = Path(__file__).resolve().parents[2] / "component" / "format" / \
        "test_fixture_compat.py"
    spec = importlib.util.spec_from_file_location("aipsync_fixture_compat", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the restores ---------------------------------------------------------------------------------
#: The collection's parent community (isPartOf) and the two others it is in (isReferencedBy),
#: titled so that they sort in the manifest's order.
UBC_PARENTS = (("2429/1076", "A: Office of the Vice President Research"),
               ("2429/1073", "B: UBC Publications"), ("2429/21386", "C: Research Magazines"))


def _ubc_repository(location: RepoLocation) -> RepoLocation:
    """What an administrator prepares first: the parent communities and the two e-people the
    collection's role groups name (the packages define neither)."""
    with write_tx(location) as tx:
        for handle, title in UBC_PARENTS:
            objects.create_community(tx, parent_id=None, handle=handle, metadata_values=[
                MetadataValue("dc", "title", None, title)])
        for email in UBC_PEOPLE:
            auth.create_eperson(tx, EPerson(email=email, can_log_in=True))
    return location


@pytest.fixture(scope="module")
def ubc(tmp_path_factory: pytest.TempPathFactory) -> RepoLocation:
    """The UBC collection restored once for the module (the tests using it only read)."""
    folder = tmp_path_factory.mktemp("ubc") / "repo"
    location = _ubc_repository(make_repo(RepoLocation(folder), prefix="2429"))
    ingest(location, UBC / "aip_1314.zip", "-r", "-a")
    return location


def test_ubc_collection_restores_with_its_nine_items(ubc: RepoLocation) -> None:
    data = dump_of(ubc)
    [coll] = data["collections"]
    root = root_of(UBC / "aip_1314.zip")
    assert coll["handle"] == "2429/1314"
    assert coll["parents"] == [h for h, _ in UBC_PARENTS]
    assert sorted(coll["items"]) == sorted(
        f"2429/{n.removesuffix('.zip').split('-')[1]}" for n in UBC_ITEMS)
    assert len(coll["items"]) == 9
    # collection DIM: the container fields DSpace exports (empty ones are not values)
    wanted = {(f, v, lang) for f, v, lang in dim_values(root, object_dmd(root))
              if v and f != "dc.identifier.uri"}
    assert {(m["field"], m["value"], m["language"]) for m in coll["metadata"]} == wanted
    # the item template
    template = dim_values(root, object_dmd(root, "DSpace ITEM Template"))
    assert [(m["field"], m["value"], m["language"]) for m in coll["template"]] == template
    # role groups with their members, and the collection's own policies
    assert coll["roles"] == {"ADMIN": "COLLECTION_hdl:2429/1314_ADMIN",
                             "SUBMIT": "COLLECTION_hdl:2429/1314_SUBMIT",
                             "WORKFLOW_STEP_2": "COLLECTION_hdl:2429/1314_WORKFLOW_STEP_2"}
    groups = {g["name"]: g for g in data["groups"]}
    for role_group in coll["roles"].values():
        assert groups[role_group]["members"] == sorted(UBC_PEOPLE)
    main = next(d for d in root.iter(f"{M}div") if d.get("TYPE") == "DSpace Object Contents")
    assert policy_subjects(coll["policies"]) == contexts(root, main.get("ADMID"))
    assert [p["action"] for p in coll["policies"]] == [
        "READ", "DEFAULT_ITEM_READ", "DEFAULT_BITSTREAM_READ", "ADD", "ADD", "ADMIN"]
    assert dangling_references(ubc) == {}


@pytest.mark.parametrize("name", UBC_ITEMS)
def test_ubc_item_appears_as_its_manifest_says(ubc: RepoLocation, name: str) -> None:
    package = UBC / name
    root = root_of(package)
    handle = (root.get("OBJID") or "").removeprefix("hdl:")
    item = next(i for i in dump_of(ubc)["items"] if i["handle"] == handle)
    assert item["owning_collection"] == "2429/1314"
    assert item["submitter"] == "svpr@exchange.ubc.ca"
    hdr = root.find(f"{M}metsHdr")
    assert hdr is not None
    assert item["last_modified"] == f"{hdr.get('LASTMODDATE')}Z"
    # metadata: every DIM value, nothing more (restore adds no system metadata)
    assert Counter((m["field"], m["value"], m["language"]) for m in item["metadata"]) == \
        Counter(dim_values(root, object_dmd(root)))
    # files: each bundle, in order, with the manifest's size and MD5, which are the bytes'
    files = files_of(root, package)
    assert [b["name"] for b in item["bundles"]] == list(files)
    for bundle in item["bundles"]:
        expected = files[bundle["name"]]
        assert [(b["sequence_id"], b["size"], b["md5"]) for b in bundle["bitstreams"]] == \
            [(f["seq"], f["size"], f["md5"]) for f in expected]
        assert all(f["md5"] == f["entry_md5"] and f["size"] == f["entry_size"]
                   for f in expected)
        # policies of the bundle and of each bitstream, as their METSRights contexts say
        assert policy_subjects(bundle["policies"]) == \
            contexts(root, expected[0]["bundle_admid"])
        for bs, f in zip(bundle["bitstreams"], expected, strict=True):
            assert policy_subjects(bs["policies"]) == contexts(root, f["admid"])
    main = next(d for d in root.iter(f"{M}div") if d.get("TYPE") == "DSpace Object Contents")
    assert policy_subjects(item["policies"]) == contexts(root, main.get("ADMID"))


def test_ubc_restore_under_a_parent_given_with_p(tmp_path: Path) -> None:
    """Without 2429/1076: ``-p`` names another community (ignoreParent defaults to true)."""
    location = make_repo(RepoLocation(tmp_path / "ubc"), prefix="2429")
    with write_tx(location) as tx:
        for email in UBC_PEOPLE:
            auth.create_eperson(tx, EPerson(email=email, can_log_in=True))
        _, parent = objects.create_community(tx, parent_id=None, metadata_values=[
            MetadataValue("dc", "title", None, "Landing")])
    ingest(location, UBC / "aip_1314.zip", "-r", "-a", "-p", parent)
    [coll] = dump_of(location)["collections"]
    assert coll["parents"] == [parent] and len(coll["items"]) == 9


def test_ubc_restore_without_its_parent(tmp_path: Path) -> None:
    """The parent 2429/1076 is missing: an error naming it; with skipIfParentMissing a
    warning and nothing restored (the items' own parent is then missing too)."""
    location = make_repo(RepoLocation(tmp_path / "ubc"), prefix="2429")
    before = snapshot(location)
    result = ingest(location, UBC / "aip_1314.zip", "-r", "-a", expect=C.EXIT_MISSING_PARENT)
    assert "2429/1076" in result.err
    assert snapshot(location) == before
    result = ingest(location, UBC / "aip_1314.zip", "-r", "-a", "-o",
                    "skipIfParentMissing=true", expect=C.EXIT_WARN_PARENT_MISSING)
    assert "2429/1076" in result.out
    assert snapshot(location) == before


def test_ubc_restore_without_the_role_group_people(tmp_path: Path) -> None:
    location = make_repo(RepoLocation(tmp_path / "ubc"), prefix="2429")
    with write_tx(location) as tx:
        objects.create_community(tx, parent_id=None, handle="2429/1076")
    before = snapshot(location)
    result = ingest(location, UBC / "aip_1314.zip", "-r", "-a", expect=C.EXIT_NOT_FOUND)
    assert "svpr@exchange.ubc.ca" in result.err
    assert snapshot(location) == before


# -- re-export and compare with DSpace's own manifests -------------------------------------------
DSPACE_SHAPED = """
[aip.disseminate]
sourceMD = ["AIP-TECHMD"]
extension = false
"""
PREMIS = f"{{{C.NS_PREMIS}}}"


def _as_in_registry(manifest: bytes, formats: dict[str, dict[str, Any]]) -> bytes:
    """DSpace's manifest with each bitstream's format facts as the target registry has them.

    A restore looks a format up by its short description (AIP-TECHMD ``dc.format.medium``)
    and keeps the registry's entry (DSpace does the same); the 1.7 registry of the UBC site
    said ``text/html`` for License and KNOWN for Adobe PDF, aipsync's (DSpace 7's) registry
    says otherwise.  So the MIME type, support level and internal flag a re-export writes are
    the registry's: put those into DSpace's manifest before comparing.
    """
    root = etree.fromstring(manifest)
    for f in root.iter(f"{M}file"):
        amd = root.find(f"{M}amdSec[@ID='{f.get('ADMID')}']")
        if amd is None:
            continue
        fields = {(d.get("element"), d.get("qualifier")): d for d in amd.iter(f"{DIM}field")}
        medium = fields.get(("format", "medium"))
        if medium is None or medium.text not in formats:
            continue
        fmt = formats[medium.text]
        f.set("MIMETYPE", fmt["mimetype"])
        for key, value in ((("format", "mimetype"), fmt["mimetype"]),
                           (("format", "supportlevel"), fmt["support_level"]),
                           (("format", "internal"), "true" if fmt["internal"] else "false")):
            if key in fields:
                fields[key].text = value
        for name in amd.iter(f"{PREMIS}formatName"):
            name.text = fmt["mimetype"]
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _field_key(field: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(part or "" for part in field[:3])  # (schema, element, qualifier)


def _normalised(skeleton: dict[str, Any]) -> dict[str, Any]:
    """Orders that are repository policy, not structure: DIM fields of different names
    (DSpace orders them by registry id, aipsync by name; the order of values *within* a
    field is kept) and the members of a group (aipsync lists them by e-mail)."""
    def walk(value: Any) -> Any:
        if isinstance(value, tuple):
            if len(value) == 2 and value[0] in ("ITEM", "COLLECTION", "COMMUNITY", "SITE") \
                    and isinstance(value[1], tuple) and all(
                        isinstance(v, tuple) and len(v) == 7 for v in value[1]):
                return (value[0], tuple(sorted(value[1], key=_field_key)))
            if len(value) == 4 and isinstance(value[0], str) and value[0].startswith(
                    ("COLLECTION_", "COMMUNITY_")) and isinstance(value[2], tuple):
                return (value[0], value[1], tuple(sorted(value[2])), tuple(sorted(value[3])))
            return tuple(walk(v) for v in value)
        return value
    return {key: walk(value) for key, value in skeleton.items()}


@pytest.mark.parametrize("name", ["aip_1314.zip", *UBC_ITEMS])
def test_reexport_of_a_restored_fixture_has_dspace_structure(ubc: RepoLocation,
                                                             tmp_path: Path,
                                                             name: str) -> None:
    """Same sections per object, same DIM values, same METSRights contexts, same groups,
    same files: DSpace's skeleton (``test_fixture_compat.skeleton``) of the fixture and of
    aipsync's re-export of the restored object are equal, once the registry's format facts
    and the two orders above are set aside."""
    compat = _compat()
    config = tmp_path / "dspace.toml"
    config.write_text(DSPACE_SHAPED)
    theirs = manifest_of(UBC / name)
    handle = (etree.fromstring(theirs).get("OBJID") or "").removeprefix("hdl:")
    out = tmp_path / "out"
    out.mkdir()
    packager(ubc, "-d", "-t", "AIP", "-e", ADMIN, "-i", handle, "--config", str(config),
             str(out / "again.zip"), expect=0)
    ours = manifest_of(out / "again.zip")
    formats = {f["short_description"]: f for f in dump_of(ubc)["registry"]["formats"]}
    problems = compat.diff(_normalised(compat.skeleton(_as_in_registry(theirs, formats))),
                           _normalised(compat.skeleton(ours)))
    assert not problems, "\n".join(problems)


def test_reexport_of_restored_fixtures_is_stable(ubc: RepoLocation, tmp_path: Path) -> None:
    """Export, restore into another repository, export again: the same bytes."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    export(ubc, first / "coll.zip", "2429/1314")
    other = _ubc_repository(make_repo(RepoLocation(tmp_path / "other"), prefix="2429"))
    ingest(other, first / "coll.zip", "-r", "-a")
    export(other, second / "coll.zip", "2429/1314")
    assert zips(first) == zips(second)
    assert dump_of(other)["items"] == dump_of(ubc)["items"]
