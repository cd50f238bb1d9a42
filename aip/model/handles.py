"""Handles and the package file names derived from them.

Owns: parsing and checking handles, the ``hdl:`` URI form, and DSpace's package file-name
rule (``<TYPE>@<prefix>-<suffix>.<ext>``).  Pure.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator

from aip import constants as C
from aip.errors import HandleFormatError
from aip.lazy import LazyCollection


def check_handle(handle: str) -> str:
    """Return ``handle`` if it is ``<prefix>/<suffix>``; raise ``HandleFormatError`` if not."""
    if not isinstance(handle, str) or not C.HANDLE_RE.match(handle):
        raise HandleFormatError(handle=handle)
    return handle


def split_handle(handle: str) -> tuple[str, str]:
    """``"123456789/42"`` -> ``("123456789", "42")``."""
    check_handle(handle)
    prefix, _, suffix = handle.partition("/")
    return prefix, suffix


def site_handle(prefix: str) -> str:
    """The site's handle for a handle prefix: ``<prefix>/0``."""
    return f"{prefix}/{C.SITE_HANDLE_SUFFIX}"


def handle_from_uri(value: str) -> str | None:
    """The handle in ``hdl:<handle>`` (or a handle.net URL), else ``None``."""
    value = value.strip()
    if value.startswith(C.HANDLE_URI_PREFIX):
        return value[len(C.HANDLE_URI_PREFIX):]
    for base in ("http://hdl.handle.net/", "https://hdl.handle.net/"):
        if value.startswith(base):
            return value[len(base):]
    return None


def handle_uri(handle: str) -> str:
    """``hdl:<handle>``."""
    return f"{C.HANDLE_URI_PREFIX}{handle}"


def package_file_name(obj_type: str, handle: str | None, ext: str = C.PACKAGE_EXTENSION,
                      internal_id: int | None = None) -> str:
    """DSpace's name for a child package: ``ITEM@123456789-42.zip``.

    Objects without a handle are named ``<TYPE>@internal-id-<id>.<ext>``.
    """
    if handle:
        return f"{obj_type}@{handle.replace('/', '-')}.{ext}"
    return f"{obj_type}@internal-id-{internal_id}.{ext}"


def handle_sort_key(handle: str) -> tuple[str, int, str]:
    """Sort handles by prefix, then numerically by suffix where it is a number."""
    prefix, _, suffix = handle.partition("/")
    return (prefix, int(suffix) if suffix.isdigit() else -1, suffix)


#: A compact entry: suffix number in the high bits, row id in the low 32.
_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
_MAX_SUFFIX = (1 << 31) - 1


class HandleList(LazyCollection[str]):
    """Handles (each with a row id) in ``handle_sort_key`` order, kept compactly.

    A collection's member items, a few hundred thousand at the largest sites, as one 8-byte
    integer each where the handle is ``<prefix>/<n>`` under the list's most common shape (one
    prefix, ``n`` a plain decimal number) and the row id fits 32 bits; any other handle is
    kept as it is, apart.  Iterating yields the handles in order (``with_ids`` the pairs),
    made as they are read.  Compares equal to a sequence of the same handles.
    """

    __slots__ = ("_count", "_others", "_packed", "_prefix")

    def __init__(self, pairs: Iterable[tuple[int, str]] = ()) -> None:
        prefix: str | None = None
        packed: list[int] = []
        others: list[tuple[tuple[str, int, str], int, str]] = []
        for row_id, handle in pairs:
            head, slash, suffix = handle.partition("/")
            if prefix is None and slash:
                prefix = head
            if (slash and head == prefix and suffix.isascii() and suffix.isdigit()
                    and (suffix == "0" or suffix[0] != "0")
                    and 0 <= row_id <= _ID_MASK and int(suffix) <= _MAX_SUFFIX):
                packed.append(int(suffix) << _ID_BITS | row_id)
            else:
                others.append((handle_sort_key(handle), row_id, handle))
        packed.sort()
        others.sort()
        self._prefix = prefix or ""
        self._packed = array("q", packed)
        self._others = others
        self._count = len(packed) + len(others)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def with_ids(self) -> Iterator[tuple[int, str]]:
        """(row id, handle) in handle order."""
        prefix = self._prefix
        compact = ((prefix, n >> _ID_BITS, n & _ID_MASK) for n in self._packed)
        if not self._others:
            for _, number, row_id in compact:
                yield row_id, f"{prefix}/{number}"
            return
        keyed = (((p, number, str(number)), row_id, f"{p}/{number}")
                 for p, number, row_id in compact)
        for _, row_id, handle in heapq.merge(keyed, self._others):
            yield row_id, handle

    def __iter__(self) -> Iterator[str]:
        return (handle for _, handle in self.with_ids())

    def __repr__(self) -> str:
        return f"HandleList({self._count} handles)"
