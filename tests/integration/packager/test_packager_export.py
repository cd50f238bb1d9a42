"""``packager -d``: what a site or object export writes, and every export option.

Each test runs the CLI in-process against a real SQLite repository on ``tmp_path`` and reads
the zips it wrote with :mod:`zipfile` and lxml.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from helpers import SITE, RepoLocation
from helpers.packager import (
    FIXED_NOW,
    child_hrefs,
    export,
    fixed_clock,
    folder_listing,
    manifest_attr,
    manifest_files,
    manifest_of,
    manifest_refs,
    md5,
    new_collection,
    new_community,
    new_item,
    seed,
    write_tx,
    zips,
)

from aip import constants as C
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.model import EPerson, package_file_name
from aip.repository import auth, handles, objects
from aip.repository.dump import dump, to_json


def _dump(location: RepoLocation) -> dict:
    with location.opened() as repo, repo.transaction(write=False) as tx:
        return json.loads(to_json(dump(tx)))


def _withdraw_first_item(location: RepoLocation) -> str:
    handle = str(_dump(location)["items"][0]["handle"])
    with write_tx(location) as tx:
        objects.withdraw_item(tx, objects.item_id(tx, handle))
    return handle


def _expected_names(data: dict, top: str) -> set[str]:
    names = {top}
    names |= {package_file_name(C.TYPE_COMMUNITY, c["handle"]) for c in data["communities"]}
    names |= {package_file_name(C.TYPE_COLLECTION, c["handle"]) for c in data["collections"]}
    names |= {package_file_name(C.TYPE_ITEM, i["handle"]) for i in data["items"]}
    return names


# =============================================================================================
# The whole site, -d -a
# =============================================================================================
def test_site_export_writes_one_zip_per_object_with_dspace_names(seeded: RepoLocation,
                                                                 out: Path) -> None:
    withdrawn = _withdraw_first_item(seeded)
    result = export(seeded, out / "site.zip")
    data = _dump(seeded)
    assert any(i["withdrawn"] for i in data["items"])
    assert folder_listing(out) == _expected_names(data, "site.zip")
    assert package_file_name(C.TYPE_ITEM, withdrawn) in folder_listing(out)
    assert f"exported {len(folder_listing(out))} package(s)" in result.out
    # the top file is the SITE package; every other file is the object its name says
    assert manifest_attr(manifest_of(out / "site.zip"), "TYPE") == "DSpace SITE"
    for name in folder_listing(out) - {"site.zip"}:
        obj_type, _, ident = name.removesuffix(".zip").partition("@")
        manifest = manifest_of(out / name)
        assert manifest_attr(manifest, "TYPE") == f"DSpace {obj_type}"
        prefix, _, suffix = ident.partition("-")
        assert manifest_attr(manifest, "OBJID") == f"hdl:{prefix}/{suffix}"


def test_every_manifest_validates_offline_and_every_file_matches_its_entry(
        seeded: RepoLocation, out: Path) -> None:
    export(seeded, out / "site.zip")
    checked = 0
    for name, data in zips(out).items():
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = zf.read(C.MANIFEST_NAME)
            assert validate_manifest(parse_bytes(manifest)) == [], name
            entries = {i.filename for i in zf.infolist()}
            assert manifest_refs(manifest) == entries - {C.MANIFEST_NAME}, name
            for f in manifest_files(manifest):
                body = zf.read(f.href)
                assert f.size == len(body), (name, f.href)
                assert f.checksum_type == "MD5"
                assert f.checksum == md5(body), (name, f.href)
                checked += 1
    assert checked > 20  # bitstreams and logos were really compared


def test_a_second_run_writes_identical_bytes(seeded: RepoLocation, tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    export(seeded, first / "site.zip")
    export(seeded, second / "site.zip")
    assert zips(first) == zips(second)
    again = zips(first)
    export(seeded, first / "site.zip")  # over the files of the first run
    assert zips(first) == again
    assert folder_listing(first) == set(again)  # no temporary files left


def test_two_repositories_seeded_alike_export_identical_bytes(
        fresh, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one, two = fresh("one"), fresh("two")
    seed(one)
    seed(two)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    export(one, tmp_path / "a" / "site.zip")
    export(two, tmp_path / "b" / "site.zip")
    a, b = zips(tmp_path / "a"), zips(tmp_path / "b")
    assert len(a) > 10
    assert a == b


# =============================================================================================
# One object of each type
# =============================================================================================
@pytest.mark.parametrize("obj_type", [C.TYPE_SITE, C.TYPE_COMMUNITY, C.TYPE_COLLECTION,
                                      C.TYPE_ITEM])
def test_single_object_export_writes_exactly_that_object(seeded: RepoLocation, out: Path,
                                                         obj_type: str) -> None:
    data = _dump(seeded)
    handle = {C.TYPE_SITE: SITE, C.TYPE_COMMUNITY: data["communities"][0]["handle"],
              C.TYPE_COLLECTION: data["collections"][0]["handle"],
              C.TYPE_ITEM: data["items"][0]["handle"]}[obj_type]
    export(seeded, out / "one.zip", handle, recursive=False)
    assert folder_listing(out) == {"one.zip"}
    manifest = manifest_of(out / "one.zip")
    assert manifest_attr(manifest, "TYPE") == f"DSpace {obj_type}"
    assert manifest_attr(manifest, "OBJID") == f"hdl:{handle}"
    assert validate_manifest(parse_bytes(manifest)) == []
    if obj_type != C.TYPE_ITEM:  # containers point at their children without writing them
        assert child_hrefs(manifest)


def test_recursive_collection_export_names_children_after_dspace(seeded: RepoLocation,
                                                                 out: Path) -> None:
    coll = _dump(seeded)["collections"][0]
    export(seeded, out / "coll.zip", coll["handle"])
    items = {package_file_name(C.TYPE_ITEM, h) for h in coll["items"]}
    assert folder_listing(out) == {"coll.zip"} | items
    assert set(child_hrefs(manifest_of(out / "coll.zip"))) == items


# =============================================================================================
# Options
# =============================================================================================
def _item_with_derivatives(location: RepoLocation) -> str:
    """An item that has TEXT and THUMBNAIL bundles besides ORIGINAL and LICENSE."""
    for item in _dump(location)["items"]:
        names = {b["name"] for b in item["bundles"]}
        if {"ORIGINAL", "TEXT", "THUMBNAIL", "LICENSE"} <= names:
            return str(item["handle"])
    raise AssertionError("the seed made no item with derivatives")


def _groups(package: Path) -> set[str]:
    return {f.group for f in manifest_files(manifest_of(package))}


def _entries(package: Path) -> set[str]:
    with zipfile.ZipFile(package) as zf:
        return set(zf.namelist())


def test_default_export_has_every_bundle(seeded: RepoLocation, out: Path) -> None:
    handle = _item_with_derivatives(seeded)
    export(seeded, out / "i.zip", handle, recursive=False)
    assert _groups(out / "i.zip") == {"ORIGINAL", "TEXT", "THUMBNAIL", "LICENSE"}


@pytest.mark.parametrize(("option", "kept"), [
    ("filterBundles=TEXT,THUMBNAIL", {"ORIGINAL", "LICENSE"}),
    ("filterBundles=+ORIGINAL", {"ORIGINAL"}),
    ("filterBundles=+ORIGINAL,LICENSE", {"ORIGINAL", "LICENSE"}),
    ("includeBundles=ORIGINAL,TEXT", {"ORIGINAL", "TEXT"}),
    ("includeBundles=all", {"ORIGINAL", "TEXT", "THUMBNAIL", "LICENSE"}),
])
def test_bundle_filters(seeded: RepoLocation, out: Path, option: str, kept: set[str]) -> None:
    handle = _item_with_derivatives(seeded)
    export(seeded, out / "i.zip", handle, option, recursive=False)
    manifest = manifest_of(out / "i.zip")
    assert _groups(out / "i.zip") == kept
    assert validate_manifest(parse_bytes(manifest)) == []
    # the zip holds exactly what the manifest points at: excluded files are gone
    assert _entries(out / "i.zip") - {C.MANIFEST_NAME} == manifest_refs(manifest)
    for gone in {"ORIGINAL", "TEXT", "THUMBNAIL", "LICENSE"} - kept:
        assert f'USE="{gone}"'.encode() not in manifest


def test_filter_and_include_bundles_together_is_an_error(seeded: RepoLocation,
                                                         out: Path) -> None:
    handle = _item_with_derivatives(seeded)
    result = export(seeded, out / "i.zip", handle, "filterBundles=TEXT",
                    "includeBundles=ORIGINAL", recursive=False, expect=C.EXIT_BAD_OPTION)
    assert "filterBundles" in result.err and "includeBundles" in result.err
    assert folder_listing(out) == set()


def test_manifest_only_writes_bare_mets_files_named_xml(seeded: RepoLocation,
                                                        out: Path) -> None:
    coll = _dump(seeded)["collections"][0]
    export(seeded, out / "coll.xml", coll["handle"], "manifestOnly=true")
    names = folder_listing(out)
    assert names == {"coll.xml"} | {package_file_name(C.TYPE_ITEM, h, "xml")
                                    for h in coll["items"]}
    for name in names:
        data = (out / name).read_bytes()
        assert not zipfile.is_zipfile(out / name)
        assert data.startswith(b"<?xml")
        assert validate_manifest(parse_bytes(data)) == []
    # children point at .xml files; files are addressed by absolute URL
    assert all(h.endswith(".xml") for h in child_hrefs((out / "coll.xml").read_bytes()))
    item = (out / package_file_name(C.TYPE_ITEM, coll["items"][0], "xml")).read_bytes()
    hrefs = [f.href for f in manifest_files(item)]
    assert hrefs and all(h.startswith("http") for h in hrefs)


@pytest.mark.parametrize(("options", "hashes"), [((), False), (("passwords=true",), True),
                                                 (("passwords=false",), False)])
def test_passwords_only_when_asked(seeded: RepoLocation, out: Path,
                                   options: tuple[str, ...], hashes: bool) -> None:
    export(seeded, out / "site.zip", SITE, *options, recursive=False)
    manifest = manifest_of(out / "site.zip")
    assert (b"PasswordHash" in manifest) is hashes
    assert b"<dsroles:Person" in manifest or b"Person" in manifest


# -- unauthorized -------------------------------------------------------------------------------
READER = "reader@example.org"


@pytest.fixture
def restricted(location: RepoLocation) -> str:
    """An item a non-admin e-person may read, except its second bitstream."""
    with write_tx(location) as tx:
        auth.create_eperson(tx, EPerson(email=READER, can_log_in=True))
        comm = new_community(tx, None, "Public")
        coll = new_collection(tx, comm, "Papers")
        handle = new_item(tx, coll, "Half secret", {"open.txt": b"for everyone\n",
                                                   "secret.txt": b"for the admins only\n"})
        iid = objects.item_id(tx, handle)
        bundle = objects.bundle_id(tx, iid, C.BUNDLE_ORIGINAL, create=False)
        secret = objects.bitstream_row(tx, int(tx.scalar(
            objects.T.bitstream.select().with_only_columns(objects.T.bitstream.c.id)
            .where(objects.T.bitstream.c.bundle_id == bundle,
                   objects.T.bitstream.c.name == "secret.txt"))))
        auth.clear_policies(tx, C.TYPE_BITSTREAM, secret.id)
    return handle


def test_unauthorized_unset_fails_naming_the_bitstream(location: RepoLocation, out: Path,
                                                       restricted: str) -> None:
    result = export(location, out / "i.zip", restricted, recursive=False, eperson=READER,
                    expect=C.EXIT_UNAUTHORIZED_CONTENT)
    assert "secret.txt" in result.err and READER in result.err
    assert folder_listing(out) == set()


def test_unauthorized_does_not_affect_an_administrator(location: RepoLocation, out: Path,
                                                       restricted: str) -> None:
    export(location, out / "i.zip", restricted, recursive=False)
    assert {f.size for f in manifest_files(manifest_of(out / "i.zip"))} == {13, 20}


def test_unauthorized_skip_leaves_the_bitstream_out(location: RepoLocation, out: Path,
                                                    restricted: str) -> None:
    export(location, out / "i.zip", restricted, "unauthorized=skip", recursive=False,
           eperson=READER)
    manifest = manifest_of(out / "i.zip")
    assert b"secret.txt" not in manifest
    [kept] = manifest_files(manifest)
    with zipfile.ZipFile(out / "i.zip") as zf:
        assert zf.read(kept.href) == b"for everyone\n"
        assert len(zf.namelist()) == 2
    assert validate_manifest(parse_bytes(manifest)) == []


def test_unauthorized_zero_writes_an_empty_placeholder(location: RepoLocation, out: Path,
                                                       restricted: str) -> None:
    export(location, out / "i.zip", restricted, "unauthorized=zero", recursive=False,
           eperson=READER)
    manifest = manifest_of(out / "i.zip")
    files = {f.size: f for f in manifest_files(manifest)}
    assert set(files) == {0, 13}
    placeholder = files[0]
    assert placeholder.checksum is None and placeholder.checksum_type is None
    with zipfile.ZipFile(out / "i.zip") as zf:
        assert zf.read(placeholder.href) == b""
        assert zf.getinfo(placeholder.href).file_size == 0
    assert b"secret.txt" in manifest  # still described, only its bytes are withheld
    assert validate_manifest(parse_bytes(manifest)) == []


def test_bundles_left_out_by_the_filter_are_not_checked(location: RepoLocation, out: Path,
                                                        restricted: str) -> None:
    """DSpace applies the bundle filter before the READ check (AbstractMETSDisseminator)."""
    export(location, out / "i.zip", restricted, "filterBundles=ORIGINAL", recursive=False,
           eperson=READER)
    assert manifest_files(manifest_of(out / "i.zip")) == []


def test_unauthorized_in_a_hierarchy_writes_nothing(location: RepoLocation, out: Path,
                                                    restricted: str) -> None:
    """The permission problem is found before the first file is written."""
    with write_tx(location) as tx:
        coll = objects.item_row(tx, objects.item_id(tx, restricted)).owning_collection_id
        coll_handle = handles.handle_of(tx, C.TYPE_COLLECTION, coll)
        comm = objects.collection_parents(tx, coll)[0]
    assert coll_handle is not None
    export(location, out / "c.zip", comm, eperson=READER, expect=C.EXIT_UNAUTHORIZED_CONTENT)
    assert folder_listing(out) == set()


# -- updatedAfter --------------------------------------------------------------------------------
def test_updated_after_writes_only_newer_items_and_all_containers(seeded: RepoLocation,
                                                                  out: Path) -> None:
    data = _dump(seeded)
    coll = max(data["collections"], key=lambda c: len(c["items"]))
    times = {i["handle"]: i["last_modified"] for i in data["items"]
             if i["handle"] in coll["items"]}
    ordered = sorted(times, key=times.__getitem__)
    cutoff = times[ordered[len(ordered) // 2 - 1]]  # the newer half is "after" it
    old = [h for h in ordered if times[h] <= cutoff]
    new = [h for h in ordered if times[h] > cutoff]
    assert old and new
    # an old file of an unchanged item, and an old container file
    stale = out / package_file_name(C.TYPE_ITEM, old[0])
    stale.write_bytes(b"from an earlier run")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    (out / "coll.zip").write_bytes(b"from an earlier run")

    result = export(seeded, out / "coll.zip", coll["handle"],
                    f"updatedAfter={cutoff.removesuffix('Z')}")
    assert stale.read_bytes() == b"from an earlier run"
    assert stale.stat().st_mtime == 1_000_000_000
    for handle in old[1:]:
        assert not (out / package_file_name(C.TYPE_ITEM, handle)).exists()
    for handle in new:
        assert zipfile.is_zipfile(out / package_file_name(C.TYPE_ITEM, handle))
    assert zipfile.is_zipfile(out / "coll.zip")  # containers are always written
    assert f"{len(old)} unchanged since updatedAfter" in result.out


def test_updated_after_loads_only_the_changed_items(seeded: RepoLocation, out: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The unchanged items are passed over without loading them: a regression guard for the
    look-ahead that, asked about each unchanged item, scanned the rest of the plan again
    (an incremental run over 2,000 items took 22 s instead of 1)."""
    data = _dump(seeded)
    times = sorted(i["last_modified"] for i in data["items"])
    cutoff = times[-2]  # only the newest item is "after" it
    newest = [i["handle"] for i in data["items"] if i["last_modified"] > cutoff]
    loaded: list[list[int]] = []
    real = objects.item_models

    def counting(tx: object, ids: list[int]) -> dict:
        loaded.append(list(ids))
        return real(tx, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(objects, "item_models", counting)
    result = export(seeded, out / "site.zip", SITE, f"updatedAfter={cutoff.removesuffix('Z')}")
    assert len(loaded) == 1 and len(loaded[0]) == len(newest) == 1, loaded
    assert f"{len(data['items']) - 1} unchanged since updatedAfter" in result.out


@pytest.mark.parametrize("value", ["2020-01-01", "yesterday", "2020-13-01T00:00:00", ""])
def test_updated_after_needs_a_date_and_a_time(seeded: RepoLocation, out: Path,
                                               value: str) -> None:
    result = export(seeded, out / "site.zip", SITE, f"updatedAfter={value}",
                    expect=C.EXIT_BAD_OPTION)
    assert ("Invalid date passed in via 'updatedAfter' option. Date must be in ISO-8601 "
            "format, and include both a day and time (e.g. 2010-01-01T00:00:00).") in result.err
    assert folder_listing(out) == set()


def test_updated_after_accepts_a_zone(seeded: RepoLocation, out: Path) -> None:
    # every seeded item is older than this, so only containers are written
    export(seeded, out / "site.zip", SITE, "updatedAfter=2030-01-01T00:00:00+02:00")
    assert not any(n.startswith("ITEM@") for n in folder_listing(out))
    assert any(n.startswith("COLLECTION@") for n in folder_listing(out))


# -- validate ------------------------------------------------------------------------------------
def test_validate_is_on_by_default_and_off_with_validate_false(
        seeded: RepoLocation, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a validator that rejects everything, only ``validate=false`` exports."""
    from aip.errors import Problem
    from aip.packager import zipwriter

    calls: list[int] = []

    def reject(root):  # type: ignore[no-untyped-def]
        calls.append(1)
        return [Problem("AIP-E044", "rejected by the test")]

    monkeypatch.setattr(zipwriter, "mets_schema_problems", reject)
    result = export(seeded, out / "site.zip", SITE, recursive=False,
                    expect=C.EXIT_PACKAGE_INVALID)
    assert "rejected by the test" in result.err and calls
    assert folder_listing(out) == set()
    calls.clear()
    export(seeded, out / "site.zip", SITE, "validate=false", recursive=False)
    assert not calls
    assert folder_listing(out) == {"site.zip"}


def test_ingest_only_options_are_accepted_and_ignored_on_export(seeded: RepoLocation,
                                                                tmp_path: Path) -> None:
    plain, other = tmp_path / "plain", tmp_path / "other"
    plain.mkdir()
    other.mkdir()
    export(seeded, plain / "site.zip", SITE, recursive=False)
    export(seeded, other / "site.zip", SITE, "ignoreHandle=false", "skipIfParentMissing=true",
           "createMetadataFields=false", "dmd=MODS", recursive=False)
    assert zips(plain) == zips(other)


def test_item_entry_times_come_from_the_item(location: RepoLocation, out: Path) -> None:
    with write_tx(location, fixed_clock()) as tx:
        comm = new_community(tx, None, "C")
        coll = new_collection(tx, comm, "K")
        item = new_item(tx, coll, "I", {"a.txt": b"a"})
    export(location, out / "i.zip", item, recursive=False)
    with zipfile.ZipFile(out / "i.zip") as zf:
        times = {i.date_time for i in zf.infolist()}
    assert times == {(FIXED_NOW.year, FIXED_NOW.month, FIXED_NOW.day, FIXED_NOW.hour,
                      FIXED_NOW.minute, FIXED_NOW.second - FIXED_NOW.second % 2)}


def test_export_is_read_only(seeded: RepoLocation, out: Path) -> None:
    from helpers import snapshot

    before = snapshot(seeded)
    export(seeded, out / "site.zip")
    assert snapshot(seeded) == before

