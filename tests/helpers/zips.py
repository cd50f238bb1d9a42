"""Zips written entry by entry, free to lie (the bad-AIP corpus and the zip fuzzer use them).

``Entry`` holds every field a zip reader looks at (names in the central directory and in the
local header, flags, method, CRC, declared sizes, the stored bytes, where the local header
is); ``build_zip`` writes them as given, so a test can make exactly the archive it means
whatever ``zipfile`` would agree to write; ``read_entries`` turns an honest zip (an export)
into entries to change.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from aip import constants as C


def _dos(when: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = when
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


FIXED_TIME, FIXED_DATE = _dos(C.ZIP_FIXED_TIME)


@dataclass(frozen=True)
class Entry:
    """One zip entry as written: every field a reader looks at, free to lie.

    ``payload`` is the stored bytes (deflated for ``method`` 8).  ``size``/``csize`` are the
    declared sizes (``csize`` defaults to ``len(payload)``).  ``local_name`` gives the local
    header another name than the central directory.  ``share`` makes this central entry point
    at the local header of an earlier entry (overlapping entries) instead of having its own.
    """

    name: bytes
    payload: bytes
    crc: int
    size: int
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0
    csize: int | None = None
    local_name: bytes | None = None
    extra: bytes = b""
    create_system: int = 0
    external_attr: int = 0
    version: int = 20
    dostime: int = FIXED_TIME
    dosdate: int = FIXED_DATE
    zip64: bool = False
    share: int | None = None


def deflate(data: bytes) -> bytes:
    """Raw deflate at the level aipsync's writer uses."""
    co = zlib.compressobj(C.ZIP_COMPRESS_LEVEL, zlib.DEFLATED, -15)
    return co.compress(data) + co.flush()


def entry(name: str | bytes, data: bytes, *, method: int = zipfile.ZIP_DEFLATED,
          **fields: object) -> Entry:
    """An honest entry holding ``data`` (then lie with ``dataclasses.replace``)."""
    raw = name.encode() if isinstance(name, str) else name
    payload = deflate(data) if method == zipfile.ZIP_DEFLATED else data
    flags = 0x800 if any(b > 127 for b in raw) else 0
    return Entry(name=raw, payload=payload, crc=zlib.crc32(data), size=len(data),
                 method=method, flags=flags, **fields)  # type: ignore[arg-type]


def build_zip(entries: list[Entry], comment: bytes = b"") -> bytes:
    """Local headers and data, then the central directory, then the end record."""
    out = bytearray()
    offsets: list[int] = []
    for e in entries:
        if e.share is not None:
            offsets.append(offsets[e.share])
            continue
        offsets.append(len(out))
        csize = len(e.payload) if e.csize is None else e.csize
        name = e.name if e.local_name is None else e.local_name
        extra, usize32, csize32 = e.extra, e.size, csize
        if e.zip64 or max(e.size, csize) >= 0xFFFFFFFF:
            extra = struct.pack("<HHQQ", 1, 16, e.size, csize) + extra
            usize32 = csize32 = 0xFFFFFFFF
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, e.version, e.flags, e.method,
                           e.dostime, e.dosdate, e.crc, csize32, usize32, len(name),
                           len(extra))
        out += name + extra + e.payload
    start = len(out)
    for e, offset in zip(entries, offsets, strict=True):
        csize = len(e.payload) if e.csize is None else e.csize
        extra, usize32, csize32 = e.extra, e.size, csize
        if e.zip64 or max(e.size, csize) >= 0xFFFFFFFF:
            extra = struct.pack("<HHQQ", 1, 16, e.size, csize) + extra
            usize32 = csize32 = 0xFFFFFFFF
        out += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (e.create_system << 8) | 20,
                           e.version, e.flags, e.method, e.dostime, e.dosdate, e.crc, csize32,
                           usize32, len(e.name), len(extra), 0, 0, 0, e.external_attr, offset)
        out += e.name + extra
    count = len(entries)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(out) - start, start,
                       len(comment)) + comment
    return bytes(out)


def read_entries(data: bytes) -> list[Entry]:
    """The entries of an honest zip (an export), with their stored bytes."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            off = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
            start = off + 30 + name_len + extra_len
            dostime, dosdate = _dos(info.date_time)
            out.append(Entry(
                name=info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"),
                payload=data[start:start + info.compress_size], crc=info.CRC,
                size=info.file_size, method=info.compress_type, flags=info.flag_bits,
                create_system=info.create_system, external_attr=info.external_attr,
                dostime=dostime, dosdate=dosdate))
    return out


def plain(e: Entry) -> bytes:
    """The uncompressed bytes of an honest entry."""
    if e.method == zipfile.ZIP_STORED:
        return e.payload
    return zlib.decompress(e.payload, -15)
