"""The parent pointer of a manifest, read without parsing the whole manifest.

Owns: ``read_parent``: the handle the Parent structMap's first ``mptr`` names (DSpace's
``getParentOwnerLink``: the owning collection of an item, the parent of a container), by a
streaming parse that keeps no element it does not need.  The daemon records it for every
staged AIP, so a snapshot knows each object's parent without opening the AIP again.

Pure: bytes in, a handle out.  The parser refuses DTDs, entities and the network, as
``aip.mets.parse`` does; a manifest it cannot read gives no parent rather than an error (the
full parser, on ingest, is the one that judges a package).
"""

from __future__ import annotations

import io
from typing import IO

from lxml import etree

from aip import constants as C
from aip.errors import AipError
from aip.model import check_handle, handle_from_uri

__all__ = ["SMALL_MANIFEST", "read_parent"]

_STRUCT_MAP = f"{{{C.NS_METS}}}structMap"
_MPTR = f"{{{C.NS_METS}}}mptr"
_HREF = f"{{{C.NS_XLINK}}}href"


def read_parent(data: bytes | IO[bytes]) -> str | None:
    """The handle of the object's parent as the manifest ``data`` names it, or None (a SITE
    manifest, no Parent structMap, a pointer that is not a handle, or unreadable XML).

    ``data`` may be a stream of the manifest (a large one, read as it is parsed: a
    collection of 300,000 items has an 80 MB manifest); its size is the caller's to check.
    """
    if isinstance(data, bytes):
        if len(data) > C.MAX_MANIFEST_BYTES:
            return None
        if len(data) <= SMALL_MANIFEST:
            return _small(data)
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    wanted = C.STRUCTMAP_PARENT_LABEL.lower()
    in_parent = False
    try:
        for event, element in etree.iterparse(source, events=("start", "end"),
                                              resolve_entities=False, no_network=True,
                                              load_dtd=False, huge_tree=False):
            if event == "start":
                if element.tag == _STRUCT_MAP \
                        and (element.get("LABEL") or "").lower() == wanted:
                    in_parent = True
                continue
            if in_parent:
                if element.tag == _MPTR:
                    return _handle(element.get(_HREF))
                if element.tag == _STRUCT_MAP:
                    return None  # a Parent structMap without a pointer
                continue
            # Done with this element and everything before it: a collection's manifest
            # lists thousands of children, none of which may stay in memory.
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    except (etree.XMLSyntaxError, AipError):
        return None
    return None


#: Manifests up to this size (every item's) are read by the quicker parse, which keeps the
#: elements before the Parent structMap until it ends; larger ones (a collection's thousands
#: of child pointers) have every element dropped as soon as it is passed.
SMALL_MANIFEST = 256 * 1024


def _small(data: bytes) -> str | None:
    """``read_parent`` for a small manifest: only structMap ends are reported."""
    wanted = C.STRUCTMAP_PARENT_LABEL.lower()
    try:
        for _, element in etree.iterparse(io.BytesIO(data), events=("end",), tag=_STRUCT_MAP,
                                          resolve_entities=False, no_network=True,
                                          load_dtd=False, huge_tree=False):
            if (element.get("LABEL") or "").lower() == wanted:
                mptr = next(element.iter(_MPTR), None)
                return _handle(mptr.get(_HREF) if mptr is not None else None)
            element.clear()
    except (etree.XMLSyntaxError, AipError):
        return None
    return None


def _handle(href: str | None) -> str | None:
    """The handle a Parent pointer's href names (None: none, or a DSpace database id)."""
    href = (href or "").strip()
    if not href or href.startswith("DSpace_DB_"):
        return None
    return check_handle(handle_from_uri(href) or href)
