"""Reading untrusted AIP zips safely: the one place zipfile meets a package from outside.

Owns: opening a package (zip or, with ``manifestOnly``, a bare METS file), checking the zip
container before any byte is used (cheap checks first: entry count, names, links,
duplicates, declared sizes and compression ratios), reading ``mets.xml`` with a size limit,
and streaming one entry with its size capped and its MD5 computed.  zipfile's exceptions
become ``aip.errors`` classes here (style D4).  Nothing is ever extracted to a path taken
from the zip: entries are streamed into the assetstore under keys aipsync chooses.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from aip import constants as C
from aip.errors import (
    DuplicateEntryError,
    ManifestMissingError,
    MissingFileError,
    UnsafePathError,
    ZipBombError,
    ZipFormatError,
)
from aip.files import Digests, Hasher

#: Entries smaller than this are never called bombs, whatever their ratio (a page of
#: repeated text compresses 500:1 and is harmless).
RATIO_FLOOR = 1024 * 1024


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
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ZipFormatError(path=str(path), detail=str(exc) or type(exc).__name__) from exc
        try:
            self.entries = self._check()
        except BaseException:
            self._zip.close()
            raise

    def _check(self) -> dict[str, zipfile.ZipInfo]:
        where = str(self.path)
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_entries:
            raise ZipBombError(path=where, detail=f"{len(infos)} entries (limit "
                                                  f"{self.limits.max_entries})")
        entries: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if not info.flag_bits & 0x800 and any(ord(c) > 127 for c in name):
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
            if info.flag_bits & 0x1:
                raise ZipFormatError(path=where, detail=f"entry {name!r} is encrypted")
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
            entries[name] = info
        return entries

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
        if info.file_size > self.limits.max_manifest:
            raise ZipBombError(path=str(self.path),
                               detail=f"mets.xml is {info.file_size} bytes (limit "
                                      f"{self.limits.max_manifest})")
        with self.open(C.MANIFEST_NAME) as src:
            data = src.read(self.limits.max_manifest + 1)
        if len(data) > self.limits.max_manifest:
            raise ZipBombError(path=str(self.path), detail="mets.xml exceeds its limit")
        return data

    def has(self, name: str) -> bool:
        return name in self.entries

    def size(self, name: str) -> int:
        return self.entries[name].file_size

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """Stream one entry; zip errors (CRC, truncation) become ``ZipFormatError``."""
        info = self.entries.get(name)
        if info is None:
            raise MissingFileError(path=str(self.path), entry=name)
        try:
            with self._zip.open(info, "r") as handle:
                yield _Guarded(handle, str(self.path), name)  # type: ignore[misc]
        except (zipfile.BadZipFile, EOFError, ValueError, zlib.error) as exc:
            raise ZipFormatError(path=str(self.path),
                                 detail=f"entry {name!r}: {exc or type(exc).__name__}") from exc

    def digests(self, name: str) -> Digests:
        """Size, MD5 and SHA-256 of one entry, streamed."""
        hasher = Hasher()
        with self.open(name) as src:
            while block := src.read(C.HASH_BLOCK_SIZE):
                hasher.update(block)
        return hasher.digests()


class _Guarded:
    """A zip entry stream that turns zipfile's read errors into ``ZipFormatError``."""

    def __init__(self, handle: IO[bytes], path: str, name: str) -> None:
        self._handle = handle
        self._path = path
        self._name = name

    def read(self, size: int = -1) -> bytes:
        try:
            return self._handle.read(size)
        except (zipfile.BadZipFile, EOFError, ValueError, zlib.error) as exc:
            raise ZipFormatError(path=self._path,
                                 detail=f"entry {self._name!r}: {exc or type(exc).__name__}"
                                 ) from exc
