"""Handles and the package file names derived from them.

Owns: parsing and checking handles, the ``hdl:`` URI form, and DSpace's package file-name
rule (``<TYPE>@<prefix>-<suffix>.<ext>``).  Pure.
"""

from __future__ import annotations

from aip import constants as C
from aip.errors import HandleFormatError


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
