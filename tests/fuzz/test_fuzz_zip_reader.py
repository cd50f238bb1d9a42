"""Fuzz target (b): the zip reader.  ``PackageZip`` (opening and every container check),
``read_manifest`` and streaming every entry (``digests``) on a random or mutated zip raise only
``aip.errors.AipError`` subclasses; whatever manifest comes out also goes through
``parse_package``.  No hang (hypothesis deadline), bounded memory (see ``fuzz_support``).

Two kinds of input, mixed:

* structured: the entries of a valid package (``helpers.zips.read_entries``) with fields
  changed: names (``..``, absolute, drive letters, backslashes, NUL, control characters,
  bytes that are not UTF-8, ``mets.xml`` twice), flags (every bit), compression methods,
  CRCs, declared sizes (0, small, 2**32 - 1, ZIP64 terabytes), the local header's name,
  entries sharing one local header, a payload replaced by random bytes; entries added,
  dropped or reordered; then written by ``helpers.zips.build_zip``;
* raw: byte flips, truncations, insertions and deletions of the result, biased to the
  headers (the offsets of ``PK`` signatures).

Also here, deterministic: the entry-count limit (too large a file for the corpus).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import fuzz_support as F
import hypothesis.strategies as st
import pytest
from helpers.zips import Entry, build_zip, entry, read_entries

from aip import constants as C
from aip.errors import ZipBombError
from aip.packager.manifest import parse_package
from aip.packager.reader import Limits, PackageZip

#: Smaller limits than the defaults, so no example inflates more than a few MiB.
FUZZ_LIMITS = Limits(max_entries=500, max_ratio=200, max_total=16 * 1024 * 1024,
                     max_manifest=4 * 1024 * 1024)

NAMES = [b"mets.xml", b"bitstream_1.pdf", b"../../evil", b"/abs", b"C:x", b"a\\b", b"a\x00b",
         b"\x1b[2J", b"caf\xe9", b"\xff\xfe", b"dir/", b"", b"mets.xml/", b"x" * 300]
SIZES = st.one_of(st.integers(0, 4096), st.sampled_from([0xFFFFFFFF, 2**40, 2**63 - 1]))


@st.composite
def entry_edits(draw: Any, e: Entry, count: int) -> Entry:
    field = draw(st.sampled_from(["name", "flags", "method", "crc", "size", "csize", "local",
                                  "payload", "share", "zip64", "version", "symlink"]))
    if field == "name":
        return replace(e, name=draw(st.one_of(st.sampled_from(NAMES), st.binary(max_size=12))))
    if field == "flags":
        return replace(e, flags=draw(st.integers(0, 0xFFFF)))
    if field == "method":
        return replace(e, method=draw(st.sampled_from([0, 1, 8, 9, 12, 14, 93, 99, 0xFFFF])))
    if field == "crc":
        return replace(e, crc=draw(st.integers(0, 0xFFFFFFFF)))
    if field == "size":
        return replace(e, size=draw(SIZES))
    if field == "csize":
        return replace(e, csize=draw(SIZES))
    if field == "local":
        return replace(e, local_name=draw(st.sampled_from(NAMES)))
    if field == "payload":
        return replace(e, payload=draw(st.binary(max_size=256)))
    if field == "share" and count:
        return replace(e, share=draw(st.integers(0, count - 1)))
    if field == "zip64":
        return replace(e, zip64=True)
    if field == "version":
        return replace(e, version=draw(st.integers(0, 0xFFFF)))
    return replace(e, create_system=3, external_attr=draw(st.integers(0, 0xFFFFFFFF)))


@st.composite
def mutated_zips(draw: Any) -> bytes:
    entries = read_entries(draw(st.sampled_from(F.SEED_ZIPS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["edit", "edit", "edit", "add", "drop", "swap"]))
        if op == "add" or not entries:
            entries.append(entry(draw(st.sampled_from(NAMES)), draw(st.binary(max_size=64))))
        elif op == "drop":
            del entries[draw(st.integers(0, len(entries) - 1))]
        elif op == "swap" and len(entries) > 1:
            i, j = draw(st.integers(0, len(entries) - 1)), draw(st.integers(0, len(entries) - 1))
            entries[i], entries[j] = entries[j], entries[i]
        else:
            i = draw(st.integers(0, len(entries) - 1))
            entries[i] = draw(entry_edits(entries[i], i))
    entries = [e if e.share is None or e.share < i else replace(e, share=None)
               for i, e in enumerate(entries)]
    data = build_zip(entries)
    for _ in range(draw(st.integers(0, 3))):
        data = draw(_byte_edit(data))
    return data


@st.composite
def _byte_edit(draw: Any, data: bytes) -> bytes:
    if not data:
        return bytes(draw(st.binary(max_size=64)))
    signatures = [m.start() for m in re.finditer(b"PK", data)]
    where = [st.integers(0, len(data) - 1)]
    if signatures:  # a header field: the 46 bytes after a signature
        where.append(st.sampled_from(signatures).flatmap(
            lambda s: st.integers(s, min(len(data) - 1, s + 45))))
    at = draw(st.one_of(*where))
    op = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete"]))
    if op == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if op == "truncate":
        return data[:at]
    if op == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 64)):]


def read_everything(path: Path) -> object:
    """What ingest does with a package file, before the repository: open and check it, read
    the manifest, stream every entry, read the manifest as an AIP."""
    with PackageZip(path, FUZZ_LIMITS) as package:
        for name in package.entries:
            package.digests(name)
        manifest = package.read_manifest()
    return parse_package(manifest, path=str(path))


def test_the_seed_zips_read() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.zip"
        for data in F.SEED_ZIPS:
            path.write_bytes(data)
            assert read_everything(path) is not None


@pytest.mark.timeout(F.TIMEOUT)
def test_zip_reader_raises_only_aip_errors() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FUZZ.zip"

        def body(data: bytes) -> None:
            path.write_bytes(data)
            F.only_aip_errors("zip", lambda: read_everything(path))

        examples = F.fuzz("zip", mutated_zips(), body)
    assert examples > 0
    assert F.COUNTS["zip.ok"] > 0, "no mutated zip was accepted: the fuzzer is not reaching " \
        "past the container checks"


# -- deterministic: what the corpus cannot hold ------------------------------------------------
def test_too_many_entries_is_a_bomb(tmp_path: Path) -> None:
    """The entry-count limit (100,000 by default; a file over it is ~9 MB, too big to commit)
    is checked before any name or size."""
    path = tmp_path / "many.zip"
    path.write_bytes(build_zip([entry(f"e{n}", b"") for n in range(4)]
                               + [entry(C.MANIFEST_NAME, b"<mets/>")]))
    with pytest.raises(ZipBombError, match="5 entries"):
        PackageZip(path, Limits(max_entries=4))
    PackageZip(path, Limits(max_entries=5)).close()
