"""Hostile and broken packages through ``packager -r``: each is refused with one
error line naming the package file and its own exit code, and the repository is unchanged
(canonical dump and every assetstore file).  Also: bytes that do not match the manifest are
refused before anything is kept ("verify before write").

A focused set; the full bad-AIP corpus is a component-test matter.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from helpers import RepoLocation, snapshot
from helpers.packager import (
    DSpaceTree,
    build_dspace_tree,
    delete,
    export,
    ingest,
    manifest_files,
    manifest_of,
    rewrite_zip,
)

from aip import constants as C


@pytest.fixture
def tree(location: RepoLocation) -> DSpaceTree:
    return build_dspace_tree(location)


@pytest.fixture
def item_zip(location: RepoLocation, tree: DSpaceTree, out: Path) -> Path:
    """The package of an item with a bitstream; the item itself is deleted."""
    export(location, out / "item.zip", tree.item, recursive=False)
    delete(location, tree.item)
    return out / "item.zip"


def _refused(location: RepoLocation, package: Path, code: int, *flags: str,
             culprit: str | None = None) -> str:
    """Restore ``package``: exit ``code``, one error line naming the culprit file (the
    package itself unless given), nothing changed."""
    before = snapshot(location)
    result = ingest(location, package, "-r", *flags, expect=code)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aipsync: error: "), result.err
    assert (culprit or package.name) in lines[0], lines[0]
    assert snapshot(location) == before
    return lines[0]


def _bitstream_entry(package: Path) -> str:
    [f] = [f for f in manifest_files(manifest_of(package)) if f.group == "ORIGINAL"]
    return f.href


def test_the_unbroken_package_restores(location: RepoLocation, item_zip: Path) -> None:
    """The control: the package every test below breaks is fine as it is."""
    ingest(location, item_zip, "-r")


# -- zip container --------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "why"), [
    ("/etc/passwd", "absolute path"),
    ("../../evil.txt", "'..' in path"),
    ("bitstreams/../../evil.txt", "'..' in path"),
    ("C:evil.txt", "drive letter"),
    ("C:\\Windows\\evil.txt", "backslash"),
])
def test_unsafe_entry_names(location: RepoLocation, item_zip: Path, tmp_path: Path,
                            name: str, why: str) -> None:
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (n, d),
                      extra=[(name, b"boo")])
    line = _refused(location, bad, C.EXIT_UNSAFE_PATH)
    assert why in line
    assert not (tmp_path.parent / "evil.txt").exists()


def test_symbolic_link_entry(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (n, d),
                      extra=[(link, b"/etc/passwd")])
    assert "symbolic link" in _refused(location, bad, C.EXIT_UNSAFE_PATH)


def test_zip_bomb(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    bomb = zipfile.ZipInfo("bomb.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (n, d),
                      extra=[(bomb, bytes(32 * 1024 * 1024))])
    assert (tmp_path / "bad.zip").stat().st_size < 1024 * 1024
    assert "bomb.bin" in _refused(location, bad, C.EXIT_ZIP_BOMB)


def test_truncated_zip(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    data = item_zip.read_bytes()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(data[: len(data) // 2])
    _refused(location, bad, C.EXIT_ZIP_FORMAT)


def test_not_a_zip(location: RepoLocation, tmp_path: Path, tree: DSpaceTree) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"this is not a zip file at all\n" * 10)
    _refused(location, bad, C.EXIT_ZIP_FORMAT)


def test_corrupted_entry_data(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    """Flipped bytes inside the deflated data of the bitstream (the zip CRC catches it)."""
    entry = _bitstream_entry(item_zip)
    with zipfile.ZipFile(item_zip) as zf:
        info = zf.getinfo(entry)
    data = bytearray(item_zip.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 5, start + 15):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    line = _refused(location, bad, C.EXIT_ZIP_FORMAT)
    assert entry in line


def test_duplicate_entries(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    entry = _bitstream_entry(item_zip)
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (n, d),
                          extra=[(entry, b"a second copy")])
    assert entry in _refused(location, bad, C.EXIT_DUPLICATE_ENTRY)


# -- the manifest ---------------------------------------------------------------------------------
def _with_manifest(item_zip: Path, dst: Path, change) -> Path:  # type: ignore[no-untyped-def]
    return rewrite_zip(item_zip, dst, lambda n, d: (n, change(d) if n == C.MANIFEST_NAME
                                                    else d))


XXE = b'<!DOCTYPE mets [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
LAUGHS = (b'<!DOCTYPE mets [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
          b'<!ENTITY x "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n')
EXTERNAL = b'<!DOCTYPE mets SYSTEM "http://example.org/evil.dtd">\n'


@pytest.mark.parametrize(("prolog", "use_entity", "why"), [
    (XXE, True, "DOCTYPE"),                      # never expanded, never fetched
    (LAUGHS, True, "DOCTYPE"),
    (XXE, False, "DOCTYPE"),                     # declared but unused: still refused
    (LAUGHS, False, "DOCTYPE"),
    (EXTERNAL, False, "external resource 'http://example.org/evil.dtd' refused"),
], ids=["xxe", "laughs", "xxe-unused", "laughs-unused", "external-dtd"])
def test_doctype_and_entities(location: RepoLocation, item_zip: Path, tmp_path: Path,
                              prolog: bytes, use_entity: bool, why: str) -> None:
    def change(data: bytes) -> bytes:
        decl, _, rest = data.partition(b"\n")
        if use_entity:
            rest = rest.replace(b"Grandchild Collection Item #1", b"&x;", 1)
        return decl + b"\n" + prolog + rest

    bad = _with_manifest(item_zip, tmp_path / "bad.zip", change)
    line = _refused(location, bad, C.EXIT_MANIFEST_PARSE)
    assert "cannot parse METS manifest" in line and why in line


def test_manifest_not_well_formed(location: RepoLocation, item_zip: Path,
                                  tmp_path: Path) -> None:
    bad = _with_manifest(item_zip, tmp_path / "bad.zip", lambda d: d[: len(d) // 2])
    _refused(location, bad, C.EXIT_MANIFEST_PARSE)


def test_no_manifest(location: RepoLocation, item_zip: Path, tmp_path: Path) -> None:
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip",
                      lambda n, d: None if n == C.MANIFEST_NAME else (n, d))
    assert "No METS Manifest found" in _refused(location, bad, C.EXIT_MANIFEST_MISSING)


def test_manifest_names_a_missing_file(location: RepoLocation, item_zip: Path,
                                       tmp_path: Path) -> None:
    entry = _bitstream_entry(item_zip)
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip",
                      lambda n, d: None if n == entry else (n, d))
    assert entry in _refused(location, bad, C.EXIT_MISSING_FILE)


@pytest.mark.parametrize(("old", "new", "message"), [
    (b'PROFILE="http://www.dspace.org/schema/aip/mets_aip_1_0.xsd"',
     b'PROFILE="http://example.org/other-profile"', "unacceptable PROFILE"),
    (b' PROFILE="http://www.dspace.org/schema/aip/mets_aip_1_0.xsd"', b"",
     "no PROFILE attribute"),
])
def test_wrong_profile(location: RepoLocation, item_zip: Path, tmp_path: Path, old: bytes,
                       new: bytes, message: str) -> None:
    bad = _with_manifest(item_zip, tmp_path / "bad.zip", lambda d: d.replace(old, new))
    assert message in _refused(location, bad, C.EXIT_PROFILE)


# -- verify before write ------------------------------------------------------------------------
def test_bitstream_bytes_that_do_not_match_the_md5(location: RepoLocation, item_zip: Path,
                                                   tmp_path: Path) -> None:
    entry = _bitstream_entry(item_zip)
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (
        n, bytes(reversed(d)) if n == entry else d))  # same size, other bytes
    line = _refused(location, bad, C.EXIT_CHECKSUM)
    assert "MD5" in line and entry in line


def test_bitstream_bytes_of_another_size(location: RepoLocation, item_zip: Path,
                                         tmp_path: Path) -> None:
    entry = _bitstream_entry(item_zip)
    bad = rewrite_zip(item_zip, tmp_path / "bad.zip", lambda n, d: (
        n, d + b"tail" if n == entry else d))
    assert entry in _refused(location, bad, C.EXIT_CHECKSUM)


def test_a_bad_item_late_in_a_hierarchy_rolls_back_the_whole_run(
        location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    """The collection and its first items are written before the bad bytes are met; all of
    it is rolled back, database rows and assetstore files."""
    export(location, out / "coll.zip", tree.grandchild_collection)
    delete(location, tree.grandchild_collection)
    item = out / f"ITEM@{tree.item.replace('/', '-')}.zip"
    entry = _bitstream_entry(item)
    tampered = rewrite_zip(item, out / "tampered.zip", lambda n, d: (
        n, bytes(reversed(d)) if n == entry else d))
    tampered.replace(item)
    line = _refused(location, out / "coll.zip", C.EXIT_CHECKSUM, "-a", culprit=item.name)
    assert entry in line


# -- the package tree -----------------------------------------------------------------------------
def test_child_pointer_to_itself(location: RepoLocation, tree: DSpaceTree, out: Path) -> None:
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    delete(location, tree.greatgrandchild_collection)
    child = f"ITEM@{tree.item3.replace('/', '-')}.zip".encode()
    looped = rewrite_zip(out / "coll.zip", out / "loop.zip", lambda n, d: (
        n, d.replace(child, b"loop.zip") if n == C.MANIFEST_NAME else d))
    line = _refused(location, looped, C.EXIT_CHILD_POINTER, "-a")
    assert "loop.zip" in line


def test_child_pointer_loop_through_two_packages(location: RepoLocation, tree: DSpaceTree,
                                                 out: Path) -> None:
    """top -> child -> top."""
    export(location, out / "top.zip", tree.top)
    delete(location, tree.top)
    child = out / f"COMMUNITY@{tree.child.replace('/', '-')}.zip"
    grandchild = f"COMMUNITY@{tree.grandchild.replace('/', '-')}.zip".encode()
    rewrite_zip(child, out / "child2.zip", lambda n, d: (
        n, d.replace(grandchild, b"top.zip") if n == C.MANIFEST_NAME else d))
    (out / "child2.zip").replace(child)
    line = _refused(location, out / "top.zip", C.EXIT_CHILD_POINTER, "-a")
    assert "top.zip" in line


@pytest.mark.parametrize("href", [b"../elsewhere.zip", b"/etc/passwd", b"sub/child.zip"])
def test_child_pointer_outside_the_folder(location: RepoLocation, tree: DSpaceTree, out: Path,
                                          href: bytes) -> None:
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    delete(location, tree.greatgrandchild_collection)
    child = f"ITEM@{tree.item3.replace('/', '-')}.zip".encode()
    bad = rewrite_zip(out / "coll.zip", out / "bad.zip", lambda n, d: (
        n, d.replace(child, href) if n == C.MANIFEST_NAME else d))
    line = _refused(location, bad, C.EXIT_PACKAGE_INVALID, "-a")
    assert "AIP-E048" in line and "loop" not in line


@pytest.mark.parametrize("options", [(), ("-o", "validate=true")])
def test_missing_child_package(location: RepoLocation, tree: DSpaceTree, out: Path,
                               options: tuple[str, ...]) -> None:
    export(location, out / "coll.zip", tree.greatgrandchild_collection)
    delete(location, tree.greatgrandchild_collection)
    missing = out / f"ITEM@{tree.item4.replace('/', '-')}.zip"
    missing.unlink()
    line = _refused(location, out / "coll.zip", C.EXIT_MISSING_FILE, "-a", *options)
    assert missing.name in line  # and the package that points at it


def test_entry_that_inflates_beyond_its_declared_size(location: RepoLocation, item_zip: Path,
                                                      tmp_path: Path) -> None:
    """A zip that lies: the bitstream entry declares the manifest's small size (below any
    ratio check) but its deflated data expands to 16 MiB.  Reading stops at the declared
    size and the CRC refuses it; nothing is kept."""
    import struct

    entry = _bitstream_entry(item_zip)
    bad = tmp_path / "bad.zip"
    rewrite_zip(item_zip, bad, lambda n, d: (n, bytes(16 * 1024 * 1024) if n == entry else d))
    with zipfile.ZipFile(item_zip) as zf:
        declared = zf.getinfo(entry).file_size
    data = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as zf:
        info = zf.getinfo(entry)
    struct.pack_into("<I", data, info.header_offset + 22, declared)  # local header
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_len] == entry.encode():
            struct.pack_into("<I", data, central + 24, declared)  # central directory
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central >= 0
    bad.write_bytes(bytes(data))
    with zipfile.ZipFile(bad) as zf:
        assert zf.getinfo(entry).file_size == declared
    line = _refused(location, bad, C.EXIT_ZIP_FORMAT)
    assert entry in line
