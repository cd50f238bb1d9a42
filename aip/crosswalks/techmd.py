"""AIP-TECHMD: structural facts of an object as DIM ``dc`` fields (sourceMD of AIPs).

Owns: model objects -> the AIP-TECHMD ``<dim:dim>`` and back to typed facts.  Pure.

Field lists, in this order (DSpace ``AIPTechMDCrosswalk.disseminateElement``; docs/aip-format.md
3.4):

* ITEM: ``dc.creator`` = submitter e-mail (if any), ``dc.identifier.uri`` = ``hdl:<handle>``,
  ``dc.relation.isPartOf`` = ``hdl:<owning collection>``, one ``dc.relation.isReferencedBy`` per
  collection the item is mapped into, ``dc.rights.accessRights`` = ``WITHDRAWN`` if withdrawn.
* BITSTREAM: ``dc.title`` (name), ``dc.title.alternative`` (source), ``dc.description``,
  ``dc.format`` (user format description) - each only if set - then ``dc.format.medium`` (format
  short description), ``dc.format.mimetype``, ``dc.format.supportlevel``
  (``UNKNOWN``/``KNOWN``/``SUPPORTED``), ``dc.format.internal`` (``true``/``false``).
* COLLECTION: ``dc.identifier.uri``, ``dc.relation.isPartOf`` = first parent community,
  ``dc.relation.isReferencedBy`` per further parent.
* COMMUNITY: ``dc.identifier.uri``, ``dc.relation.isPartOf`` = parent, or the site for a
  top-level community.
* SITE: ``dc.identifier.uri`` = ``hdl:<handle>``, ``dc.identifier.uri`` = site URL.

Ingest follows ``AIPTechMDCrosswalk.ingest``: unknown ``dc`` fields are warnings, non-``dc``
fields are skipped, an unknown support level is an error, a missing one means ``KNOWN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aip import constants as C
from aip.crosswalks import dim
from aip.crosswalks._xml import Element
from aip.errors import CrosswalkError, Problem
from aip.model import (
    Bitstream,
    BitstreamFormat,
    Collection,
    Community,
    Item,
    Site,
    SupportLevel,
    handle_from_uri,
    handle_uri,
)

_NAMESPACES: dict[str, str] = {"dim": C.NS_DIM}
_SCHEMA_LOCATION: str | None = None


@dataclass(frozen=True, slots=True)
class ItemTech:
    """What AIP-TECHMD says about an item."""

    handle: str | None = None
    submitter: str | None = None
    owning_collection: str | None = None
    mapped_collections: tuple[str, ...] = ()
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class BitstreamTech:
    """What AIP-TECHMD says about a bitstream (``format`` is ``None`` without a medium)."""

    name: str | None = None
    source: str | None = None
    description: str | None = None
    user_format_description: str | None = None
    format: BitstreamFormat | None = None


@dataclass(frozen=True, slots=True)
class ContainerTech:
    """What AIP-TECHMD says about a community, collection or the site.

    ``parents`` is ``isPartOf`` then every ``isReferencedBy``; ``url`` only for the site.
    """

    handle: str | None = None
    parents: tuple[str, ...] = ()
    url: str | None = None


Tech = ItemTech | BitstreamTech | ContainerTech


def item_fields(item: Item) -> Iterator[tuple[str, str | None, str]]:
    """(element, qualifier, value) of an item's AIP-TECHMD, in order."""
    if item.submitter is not None:
        yield "creator", None, item.submitter
    yield "identifier", "uri", handle_uri(item.handle)
    yield "relation", "isPartOf", handle_uri(item.owning_collection)
    for handle in item.mapped_collections:
        if handle != item.owning_collection:
            yield "relation", "isReferencedBy", handle_uri(handle)
    if item.withdrawn:
        yield "rights", "accessRights", "WITHDRAWN"


def bitstream_fields(bitstream: Bitstream) -> Iterator[tuple[str, str | None, str]]:
    """(element, qualifier, value) of a bitstream's AIP-TECHMD, in order."""
    for element, qualifier, value in (
            ("title", None, bitstream.name), ("title", "alternative", bitstream.source),
            ("description", None, bitstream.description),
            ("format", None, bitstream.user_format_description)):
        if value is not None:
            yield element, qualifier, value
    fmt = bitstream.format
    yield "format", "medium", fmt.short_description
    yield "format", "mimetype", fmt.mimetype
    yield "format", "supportlevel", SupportLevel(fmt.support_level).name
    yield "format", "internal", "true" if fmt.internal else "false"


def disseminate_item(item: Item) -> Element:
    return dim.from_fields(C.TYPE_ITEM, dim.dc_fields(item_fields(item)))


def item_text(item: Item) -> str:
    """``disseminate_item`` as text (``aip.xmltext``)."""
    return dim.fields_text(C.TYPE_ITEM, dim.dc_fields(item_fields(item)))


def disseminate_bitstream(bitstream: Bitstream) -> Element:
    return dim.from_fields(C.TYPE_BITSTREAM, dim.dc_fields(bitstream_fields(bitstream)))


def bitstream_text(bitstream: Bitstream) -> str:
    """``disseminate_bitstream`` as text (``aip.xmltext``)."""
    return dim.fields_text(C.TYPE_BITSTREAM, dim.dc_fields(bitstream_fields(bitstream)))


def disseminate_collection(collection: Collection) -> Element:
    return dim.from_fields(C.TYPE_COLLECTION, dim.dc_fields([
        ("identifier", "uri", handle_uri(collection.handle)),
        *(("relation", "isPartOf" if i == 0 else "isReferencedBy", handle_uri(parent))
          for i, parent in enumerate(collection.parents))]))


def disseminate_community(community: Community, site_handle: str) -> Element:
    return dim.from_fields(C.TYPE_COMMUNITY, dim.dc_fields((
        ("identifier", "uri", handle_uri(community.handle)),
        ("relation", "isPartOf", handle_uri(community.parent or site_handle)))))


def disseminate_site(site: Site) -> Element:
    return dim.from_fields(C.TYPE_SITE, dim.dc_fields((
        ("identifier", "uri", handle_uri(site.handle)), ("identifier", "uri", site.url))))


def _handle(value: str) -> str:
    return handle_from_uri(value) or value.strip()


def ingest(root: Element, warnings: list[Problem] | None = None) -> Tech:
    """The typed facts of an AIP-TECHMD section, by its ``dspaceType``.

    Raises:
        CrosswalkError: not DIM, unknown ``dspaceType``, bad support level.
    """
    values = dim.ingest(root, "AIP-TECHMD")
    kind = dim.dspace_type(root)

    def warn(field: str) -> None:
        if warnings is not None:
            warnings.append(Problem("AIP-W043", f"Got unrecognized DC field for {kind}: {field}"))

    dc = [(v.element + (f".{v.qualifier}" if v.qualifier else ""), v.value)
          for v in values if v.schema == "dc"]
    if kind == C.TYPE_BITSTREAM:
        return _bitstream(dc, warn)
    if kind == C.TYPE_ITEM:
        handle: str | None = None
        submitter: str | None = None
        owner: str | None = None
        mapped: list[str] = []
        withdrawn = False
        for field, value in dc:
            if field == "creator":
                submitter = value
            elif field == "identifier.uri":
                handle = _handle(value)
            elif field == "relation.isPartOf":
                owner = _handle(value)
            elif field == "relation.isReferencedBy":
                if value.strip():
                    mapped.append(_handle(value))
            elif field == "rights.accessRights":
                withdrawn = withdrawn or value.strip().upper() == "WITHDRAWN"
            else:
                warn(field)
        return ItemTech(handle=handle, submitter=submitter, owning_collection=owner,
                        mapped_collections=tuple(mapped), withdrawn=withdrawn)
    if kind in (C.TYPE_COLLECTION, C.TYPE_COMMUNITY, C.TYPE_SITE):
        handle = None
        url: str | None = None
        parents: list[str] = []
        for field, value in dc:
            if field == "identifier.uri":
                if handle_from_uri(value) is not None and handle is None:
                    handle = _handle(value)
                elif url is None:
                    url = value
            elif field == "relation.isPartOf":
                parents.insert(0, _handle(value))
            elif field == "relation.isReferencedBy":
                parents.append(_handle(value))
            else:
                warn(field)
        return ContainerTech(handle=handle, parents=tuple(parents),
                             url=url if kind == C.TYPE_SITE else None)
    raise CrosswalkError(f"AIP-TECHMD: unknown dspaceType {kind!r}")


def _bitstream(dc: list[tuple[str, str]], warn: Callable[[str], None]) -> BitstreamTech:
    got: dict[str, str] = {}
    for field, value in dc:
        if field in ("title", "title.alternative", "description", "format", "format.medium",
                     "format.mimetype", "format.supportlevel", "format.internal"):
            got[field] = value  # last one wins, as repeated setters in DSpace
        else:
            warn(field)
    fmt: BitstreamFormat | None = None
    if "format.medium" in got:
        level_text = got.get("format.supportlevel", SupportLevel.KNOWN.name).strip().upper()
        try:
            level = SupportLevel[level_text]
        except KeyError:
            raise CrosswalkError("Got unrecognized value for bitstream support level: "
                                 f"{level_text}") from None
        fmt = BitstreamFormat(short_description=got["format.medium"],
                              mimetype=got.get("format.mimetype", "application/octet-stream"),
                              support_level=level,
                              internal=got.get("format.internal", "").strip().lower() == "true")
    return BitstreamTech(name=got.get("title"), source=got.get("title.alternative"),
                         description=got.get("description"),
                         user_format_description=got.get("format"), format=fmt)


__all__ = [
    "BitstreamTech",
    "ContainerTech",
    "ItemTech",
    "Tech",
    "bitstream_fields",
    "bitstream_text",
    "disseminate_bitstream",
    "disseminate_collection",
    "disseminate_community",
    "disseminate_item",
    "disseminate_site",
    "ingest",
    "item_fields",
    "item_text",
]
