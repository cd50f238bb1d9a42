"""Reading untrusted AIP zips safely: the one place zipfile meets a package from outside.

Owns: opening a package (zip or, with ``manifestOnly``, a bare METS file), checking the zip
container before any byte is used (cheap checks first: entry count, names, links,
duplicates, declared sizes and compression ratios), reading ``mets.xml`` with a size limit,
and streaming one entry with its size capped and its MD5 computed.  zipfile's exceptions
become ``aip.errors`` classes here (docs/style.md D4).  Nothing is ever extracted to a path taken
from the zip: entries are streamed into the assetstore under keys aipsync chooses.

What is refused, and with which error (``tests/corpus/bad-aips`` holds one file per line):

* ``ZipFormatError`` (AIP-E021): not a zip, truncated, a zip version or feature zipfile cannot
  read (encryption, strong encryption, patched data, a compression other than stored/deflate),
  a local header whose name differs from the central directory's (parser differentials), an
  entry whose compressed bytes run past the next entry or the central directory, an entry whose
  bytes fail their CRC or hold more or fewer bytes than its header declares.
* ``UnsafePathError`` (AIP-E022): an empty name, NUL or another control character, a backslash,
  an absolute path, a drive letter, a ``..`` part, a symbolic link, a name that is not UTF-8.
* ``ZipBombError`` (AIP-E023): too many entries, an entry over the compression ratio limit, a
  declared total over the size limit, a ``mets.xml`` over its limit, entries that overlap (the
  "better zip bomb" shares one compressed kernel among many entries).
* ``DuplicateEntryError`` (AIP-E034): two entries with one name.
* ``ManifestMissingError`` (AIP-E024): no ``mets.xml`` at the top of the zip.  A zip inside the
  zip is never opened: a package whose only entry is another zip has no manifest, and a zip
  inside a valid package is a bitstream like any other, stored byte for byte.

Every check but the CRC and the actual length runs when the package is opened, before any byte
of it is used (cheap checks first, docs/style.md E3): first the central directory, then the local
headers.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from aip import constants as C
from aip.errors import (
    AipError,
    DuplicateEntryError,
    ManifestMissingError,
    MissingFileError,
    UnsafePathError,
    ZipBombError,
    ZipFormatError,
)
from aip.files import Digests, Hasher
from aip.mets.pointers import SMALL_MANIFEST, read_parent

#: Entries smaller than this are never called bombs, whatever their ratio (a page of
#: repeated text compresses 500:1 and is harmless).
RATIO_FLOOR = 1024 * 1024

#: How much of a manifest is inflated at a time.
_MANIFEST_PIECE = 1024 * 1024

#: General purpose flag bits (APPNOTE 4.4.4) aipsync refuses: 0 encrypted, 5 compressed patched
#: data, 6 strong encryption.  zipfile cannot read any of them.
_REFUSED_FLAGS = {0x1: "is encrypted", 0x20: "uses compressed patched data (flag bit 5)",
                  0x40: "uses strong encryption (flag bit 6)"}
_UTF8_FLAG = 0x800
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # APPNOTE 4.3.7, as zipfile.structFileHeader
_LOCAL_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Limits:
    """Hostile-input limits (see ``aip.constants``)."""

    max_entries: int = C.MAX_ZIP_ENTRIES
    max_ratio: int = C.MAX_COMPRESSION_RATIO
    max_total: int = C.MAX_PACKAGE_UNCOMPRESSED
    max_manifest: int = C.MAX_MANIFEST_BYTES


def check_entry_name(name: str, path: str) -> None:
    """Reject names that could escape a folder or mean something else on another OS."""
    if not name or "\x00" in name:
        raise UnsafePathError(path=path, entry=name, detail="empty name or NUL byte")
    if "\\" in name:
        raise UnsafePathError(path=path, entry=name, detail="backslash in name")
    if name.startswith("/"):
        raise UnsafePathError(path=path, entry=name, detail="absolute path")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        raise UnsafePathError(path=path, entry=name, detail="drive letter")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise UnsafePathError(path=path, entry=name, detail="'..' in path")
    if any(ord(ch) < 32 for ch in name):
        raise UnsafePathError(path=path, entry=name, detail="control character in name")


class PackageZip:
    """An opened, checked package zip."""

    def __init__(self, path: Path, limits: Limits | None = None) -> None:
        self.path = path
        self.limits = limits or Limits()
        try:
            self._zip = zipfile.ZipFile(path, "r")
        except FileNotFoundError as exc:
            raise MissingFileError(path=str(path.parent), entry=path.name) from exc
        except UnicodeDecodeError as exc:
            # A name flagged UTF-8 (bit 11) whose bytes are not: zipfile cannot even list it.
            raise UnsafePathError(path=str(path), entry=_bytes_name(exc.object),
                                  detail="name is flagged UTF-8 but is not") from exc
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
                NotImplementedError, EOFError, struct.error) as exc:
            # NotImplementedError: a "version needed to extract" zipfile does not know.
            raise ZipFormatError(path=str(path), detail=str(exc) or type(exc).__name__) from exc
        try:
            self.entries = self._check()
        except BaseException:
            self._zip.close()
            raise

    def _check(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        entries = self._check_directory(infos)
        self._check_layout(infos)
        return entries

    def _check_directory(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        """The central directory alone: names, links, duplicates, features, declared sizes."""
        where = str(self.path)
        if len(infos) > self.limits.max_entries:
            raise ZipBombError(path=where, detail=f"{len(infos)} entries (limit "
                                                  f"{self.limits.max_entries})")
        entries: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            # orig_filename is the name as stored; zipfile cuts ``filename`` at a NUL byte
            # (``mets.xml\0.txt`` would pass for ``mets.xml``).
            name = info.orig_filename
            if not info.flag_bits & _UTF8_FLAG and any(ord(c) > 127 for c in name):
                # Not flagged UTF-8: zipfile decoded it as cp437, so the bytes were not
                # UTF-8 text; DSpace never writes such names.
                raise UnsafePathError(path=where, entry=name, detail="name is not UTF-8")
            check_entry_name(name, where)
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_ISLNK(mode):
                raise UnsafePathError(path=where, entry=name, detail="symbolic link")
            if name.endswith("/"):
                continue  # a directory entry carries no data; DSpace writes none
            if name in entries:
                raise DuplicateEntryError(path=where, entry=name)
            for bit, what in _REFUSED_FLAGS.items():
                if info.flag_bits & bit:
                    raise ZipFormatError(path=where, detail=f"entry {name!r} {what}")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ZipFormatError(path=where,
                                     detail=f"entry {name!r} uses compression method "
                                            f"{info.compress_type}")
            if info.file_size > RATIO_FLOOR and (
                    info.compress_size == 0
                    or info.file_size / info.compress_size > self.limits.max_ratio):
                raise ZipBombError(path=where, detail=(
                    f"entry {name!r} expands {info.file_size} bytes from "
                    f"{info.compress_size} (ratio limit {self.limits.max_ratio})"))
            total += info.file_size
            if total > self.limits.max_total:
                raise ZipBombError(path=where, detail=f"more than {self.limits.max_total} "
                                                      "bytes uncompressed")
            if name == C.MANIFEST_NAME and info.file_size > self.limits.max_manifest:
                raise ZipBombError(path=where,
                                   detail=f"mets.xml is {info.file_size} bytes (limit "
                                          f"{self.limits.max_manifest})")
            entries[name] = info
        return entries

    def _check_layout(self, infos: list[zipfile.ZipInfo]) -> None:
        """The local headers: where each entry's bytes are, against the central directory.

        Entries must not overlap (one compressed kernel shared by many entries is how a small
        zip expands to terabytes within every per-entry limit), a local header must name what
        the central directory names (readers that trust one or the other would see different
        files), and no entry's compressed bytes may run into the next entry or the directory.
        """
        where = str(self.path)
        end_of_data = getattr(self._zip, "start_dir", None)
        ordered = sorted(infos, key=lambda i: i.header_offset)
        try:
            with open(self.path, "rb") as raw:
                for n, info in enumerate(ordered):
                    following = (ordered[n + 1].header_offset if n + 1 < len(ordered)
                                 else end_of_data)
                    if following is not None and following == info.header_offset:
                        raise ZipBombError(path=where, detail=(
                            f"entries {info.orig_filename!r} and "
                            f"{ordered[n + 1].orig_filename!r} share their data (overlapping "
                            "entries)"))
                    raw.seek(info.header_offset)
                    header = raw.read(_LOCAL_HEADER.size)
                    if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_MAGIC:
                        raise ZipFormatError(path=where, detail=(
                            f"entry {info.orig_filename!r}: no local header at offset "
                            f"{info.header_offset}"))
                    fields = _LOCAL_HEADER.unpack(header)
                    name_len, extra_len = fields[-2], fields[-1]
                    local_name = raw.read(name_len)
                    if local_name != _stored_name(info):
                        raise ZipFormatError(path=where, detail=(
                            f"entry {info.orig_filename!r}: its local header names "
                            f"{_bytes_name(local_name)!r}"))
                    data_end = (info.header_offset + _LOCAL_HEADER.size + name_len
                                + extra_len + info.compress_size)
                    if following is not None and data_end > following:
                        raise ZipFormatError(path=where, detail=(
                            f"entry {info.orig_filename!r} claims {info.compress_size} "
                            "compressed bytes, more than there is room for before the next "
                            "entry (overlapping or lying about its size)"))
        except OSError as exc:
            raise ZipFormatError(path=where, detail=str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> PackageZip:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def read_manifest(self) -> bytes:
        info = self.entries.get(C.MANIFEST_NAME)
        if info is None:
            raise ManifestMissingError(path=str(self.path))
        # Read a piece at a time into one growing buffer, whose bytes getvalue() hands over
        # without a copy: read(n) joins its pieces into a new object as it goes, so a
        # manifest of 80 MB (a collection of 300,000 items) cost twice that at its peak.
        out = io.BytesIO()
        with self.open(C.MANIFEST_NAME) as src:
            while piece := src.read(_MANIFEST_PIECE):
                out.write(piece)
                if out.tell() > self.limits.max_manifest:
                    raise ZipBombError(path=str(self.path), detail="mets.xml exceeds its limit")
        return out.getvalue()

    def has(self, name: str) -> bool:
        return name in self.entries

    def size(self, name: str) -> int:
        return self.entries[name].file_size

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """Stream one entry; zip errors (CRC, truncation, a wrong length) become
        ``ZipFormatError``."""
        info = self.entries.get(name)
        if info is None:
            raise MissingFileError(path=str(self.path), entry=name)
        try:
            handle = self._zip.open(info, "r")
        except (zipfile.BadZipFile, EOFError, ValueError, zlib.error, NotImplementedError,
                RuntimeError, OSError) as exc:
            raise ZipFormatError(path=str(self.path),
                                 detail=f"entry {name!r}: {exc or type(exc).__name__}") from exc
        with handle:
            yield _Guarded(handle, str(self.path), name, info.file_size)  # type: ignore[misc]

    def digests(self, name: str) -> Digests:
        """Size, MD5 and SHA-256 of one entry, streamed."""
        hasher = Hasher()
        with self.open(name) as src:
            while block := src.read(C.HASH_BLOCK_SIZE):
                hasher.update(block)
        return hasher.digests()


class _Guarded:
    """A zip entry stream that turns zipfile's read errors into ``ZipFormatError`` and refuses
    an entry whose bytes end before its declared size (zipfile itself stops at the declared
    size and checks the CRC, so longer entries fail there, but a deflate stream that ends
    early passes the CRC of what it holds)."""

    def __init__(self, handle: IO[bytes], path: str, name: str, declared: int) -> None:
        self._handle = handle
        self._path = path
        self._name = name
        self._declared = declared
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._handle.read(size)
        except (zipfile.BadZipFile, EOFError, ValueError, zlib.error, NotImplementedError,
                RuntimeError, OSError) as exc:
            raise ZipFormatError(path=self._path,
                                 detail=f"entry {self._name!r}: {exc or type(exc).__name__}"
                                 ) from exc
        self._count += len(data)
        at_end = size is None or size < 0 or len(data) < size
        if at_end and self._count != self._declared:
            raise ZipFormatError(path=self._path, detail=(
                f"entry {self._name!r} holds {self._count} bytes, its header declares "
                f"{self._declared}"))
        return data


def _stored_name(info: zipfile.ZipInfo) -> bytes:
    """The name bytes as the central directory stores them."""
    encoding = "utf-8" if info.flag_bits & _UTF8_FLAG else "cp437"
    return info.orig_filename.encode(encoding, errors="surrogateescape")


def _bytes_name(raw: object) -> str:
    """Name bytes for a message: UTF-8 where they are, escapes where not."""
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).decode("utf-8", errors="backslashreplace")
    return str(raw)


def package_parent(path: Path) -> str | None:
    """The handle of the parent a package's manifest names (None: no parent, or a package
    this reader refuses; the full reader, on ingest, is the one that judges it)."""
    try:
        with PackageZip(path) as package:
            if not package.has(C.MANIFEST_NAME):
                return None
            size = package.size(C.MANIFEST_NAME)
            if size <= SMALL_MANIFEST:
                return read_parent(package.read_manifest())
            if size > package.limits.max_manifest:
                return None
            # A container's large manifest, parsed as it is inflated, never held whole.
            with package.open(C.MANIFEST_NAME) as src:
                return read_parent(src)
    except AipError:
        return None
