"""The DSpace METS AIP, assembled and read back: where crosswalks meet the METS builders.

Owns: which metadata sections an AIP has and where (``DisseminateConfig``), the gensym id order,
zip entry names, the ``FLocat``/``mdRef`` addresses, the structMaps with their child and parent
pointers (``build_*_package``), and the inverse (``parse_package``): METS structure + crosswalks
-> model values, with DSpace's ingest semantics.  Pure: no I/O, no zip, no database, no clock
(``BuildContext.today`` is injected); bytes of bitstreams are named by ``PackageEntry``, read by
the caller (except licences embedded in manifest-only packages, through
``BuildContext.stream_reader``).

Structure (modern DSpace, docs/aip-format.md 2.4, 3.1-3.8; ``AbstractMETSDisseminator
.makeManifest``/``makeMdSec``/``addAmdSec``/``makeChildDiv``/``addLogoBitstream``,
``DSpaceAIPDisseminator.makeMetsHdr``/``addStructMap``):

* ids ``<prefix>_<n>``, one counter per package starting at 1; an id is consumed for every
  configured metadata type *tried*, even when it produces nothing.  Order: object dmdSecs;
  object amdSec (``amd``, then one id per techMD, rightsMD, sourceMD, digiprovMD type); main
  ``struct``/``div``; then per type: item - per bundle its amdSec, per bitstream (ORIGINAL only) a
  ``div``, then its amdSec; collection - per item ``div``/``mptr``/``mptr``, then the template
  dmdSecs and ``div``, then ``logo``; community - per sub-community then per collection
  ``div``/``mptr``/``mptr``, then ``logo``; site - per community ``div``/``mptr``/``mptr``; then
  the Parent ``struct``/``div``/``mptr``; then (zip only) ``metadata`` names of extra streams.
  Every one of these ids is DSpace's exactly (docs/aip-format.md 2.4 worked example, tested).
  Last, and only when ``DisseminateConfig.extension`` is on and there is something to say,
  aipsync's own amdSec: ``amd_<n>`` and ``sourceMD_<n+1>`` from the same counter, so it
  shifts no other id.
* ``mets@ID`` = ``DSpace_<TYPE>_<handle with / -> ->`` (the <=7.0 form), ``OBJID`` =
  ``hdl:<handle>``, ``TYPE`` = ``DSpace <TYPE>``, ``PROFILE`` = the AIP profile.  ``metsHdr`` has no
  ``CREATEDATE``; items have ``LASTMODDATE`` = last-modified in UTC, whole seconds, no zone.
* Bitstream zip entry ``bitstream_<seq>[.<first extension>]``, file ``ID`` ``bitstream_<seq>``,
  ``GROUPID`` ``GROUP_bitstream_<seq>`` (THUMBNAIL/TEXT* derivatives join their ORIGINAL's group,
  found by name minus its last four characters); logo entry ``logo[.<ext>]``, file ``ID``
  ``logo_<n>``; extra streams ``metadata_<n>``.

Reading follows ``DSpaceAIPIngester``/``AbstractMETSIngester``/``METSManifest``: PROFILE first,
the main div of the first structMap, the Parent structMap, DMD choice (``dmd`` option, else
DIM, else MODS, else the first), ``IngestConfig.crosswalk_for`` (``NIL`` drops a section,
``NULLSTREAM`` reads and ignores it; an MDTYPE without a crosswalk is an error, as in DSpace),
PREMIS size/MD5 checked against the file element.

AIPSYNC-EXT: all of a package's extension facts go into ONE amdSec that no ``ADMID`` refers
to, placed after the other amdSecs, holding one ``sourceMD`` (``MDTYPE="OTHER"
OTHERMDTYPE="AIPSYNC-EXT"``) with an ``aipsync:package``: one ``aipsync:ext for="<ID>"`` per
described object, keyed by the ``ID`` of the amdSec its ``ADMID`` names (the object's
``div``/``file`` ``ID`` when the configuration gives it no amdSec), and, in the SITE AIP, the
registries (``aipsync:registry``).  An unmodified DSpace reads amdSecs only through ``ADMID``,
so it never sees this one, and the rest of the package is exactly what DSpace writes.  (DSpace
refuses an unknown MDTYPE inside a *referenced* amdSec - "No crosswalk found", see
``aip.crosswalks.extension`` - which is why it is not a configurable section type.)  Reading:
the facts of the unreferenced section win; an AIPSYNC-EXT section inside a referenced amdSec
(what older aipsync versions wrote) is still read for a target that has no keyed facts.

Problem codes raised here: ``AIP-E040`` duplicate file ID (build), ``AIP-E043`` missing
required structure, ``AIP-E045`` bad value, ``AIP-E046`` PREMIS disagrees with the file,
``AIP-E047`` unknown object TYPE, ``AIP-E048`` unsafe child pointer, ``AIP-E049`` a ``rels``
structMap entry that names no relationship or no item.  Warnings: ``AIP-W047``
section not for this kind of object, ``AIP-W048`` AIPSYNC-EXT policy facts do not match
METSRights, ``AIP-W049`` a METSRights context gives no policy, ``AIP-W050`` file without SEQ,
``AIP-W051`` item without LASTMODDATE, ``AIP-W052`` AIPSYNC-EXT facts for an ``ID`` that no
object of the package has (the crosswalks add ``AIP-W041`` to ``AIP-W046``).
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
import re
import uuid as uuid_module
from collections import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote_plus

from lxml import etree

from aip import constants as C
from aip.crosswalks import REGISTRY, dim, extension, metsrights, mods, premis, roles, techmd
from aip.crosswalks import xml_safe as _safe
from aip.crosswalks.extension import (
    Extension,
    LogoFacts,
    PackageExtension,
    PolicyFacts,
    Registry,
)
from aip.crosswalks.metsrights import RightsContext
from aip.entities.config import VirtualConfig
from aip.entities.virtual import Hint, relationship_id, split
from aip.errors import (
    AipError,
    ChildPointerError,
    CrosswalkError,
    PackageValidationError,
    Problem,
    ProfileError,
)
from aip.lazy import LazyCollection
from aip.mets import build as B
from aip.mets.parse import (
    LIFT_ABOVE,
    Div,
    FileEntry,
    Manifest,
    MdSection,
    parse_bytes,
    parse_bytes_lifted,
    parse_manifest,
)
from aip.model import (
    Bitstream,
    BitstreamFormat,
    Bundle,
    Collection,
    Community,
    EPerson,
    Group,
    Item,
    MetadataField,
    MetadataSchema,
    MetadataValue,
    RelationshipClaim,
    RelationshipType,
    ResourcePolicy,
    Site,
    SupportLevel,
    check_handle,
    claim_of,
    handle_from_uri,
    handle_uri,
    package_file_name,
)
from aip.packager.config import INGEST_CROSSWALKS, DisseminateConfig, IngestConfig, SectionEntry
from aip.spill import SpillList

Element = etree._Element

# =============================================================================================
# The contract
# =============================================================================================
@dataclass(frozen=True, slots=True)
class BuildContext:
    """Everything a package needs besides the object itself.

    ``site_handle`` (``<prefix>/0``) names the CUSTODIAN agent; ``site_url`` is the base of
    PREMIS identifiers (and manifest-only addresses); ``today`` decides METSRights
    ``in-effect``.  ``manifest_only`` writes absolute ``FLocat`` URLs and embeds licences
    (read with ``stream_reader``) as ``binData``.  ``passwords`` adds password hashes to the
    SITE AIP's DSPACE-ROLES.
    """

    site_handle: str
    site_url: str
    today: dt.date
    config: DisseminateConfig = field(default_factory=DisseminateConfig)
    handle_canonical_prefix: str = "http://hdl.handle.net/"
    manifest_only: bool = False
    passwords: bool = False
    stream_reader: Callable[[Bitstream], bytes] | None = None


@dataclass(frozen=True, slots=True)
class PackageEntry:
    """One zip entry besides ``mets.xml``: its name and the bitstream whose bytes it holds.

    ``item_time``: the entry's time is the item's last-modified (True) or the fixed constant.
    """

    name: str
    bitstream: Bitstream
    item_time: bool


@dataclass(frozen=True, slots=True)
class ChildPointer:
    """A pointer from a container's manifest to a child package."""

    type: str
    handle: str | None
    href: str


class ChildList(LazyCollection[ChildPointer]):
    """A container's child pointers as its manifest lists them, in order: kept as rows in a
    ``SpillList`` (past a few thousand in its temp file: a collection's manifest may list
    300,000 items), each ``ChildPointer`` made as it is read."""

    __slots__ = ("_rows",)

    def __init__(self, pointers: abc.Iterable[ChildPointer] = ()) -> None:
        self._rows: SpillList[tuple[str, str | None, str]] = SpillList()
        for pointer in pointers:
            self.append(pointer)

    def append(self, pointer: ChildPointer) -> None:
        self._rows.append((pointer.type, pointer.handle, pointer.href))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ChildPointer]:
        for type_, handle, href in self._rows:
            yield ChildPointer(type=type_, handle=handle, href=href)

    def handles(self, child_type: str) -> ChildHandles:
        """The handles of the children of ``child_type`` (those that have one), in order."""
        return ChildHandles(self._rows, child_type)


class ChildHandles(LazyCollection[str]):
    """The handles of a ``ChildList``'s children of one type, read from it each time."""

    __slots__ = ("_count", "_rows", "_type")

    def __init__(self, rows: SpillList[tuple[str, str | None, str]], child_type: str) -> None:
        self._rows, self._type = rows, child_type
        self._count = sum(1 for _ in self)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        child_type = self._type
        for type_, handle, _ in self._rows:
            if type_ == child_type and handle:
                yield handle


@dataclass(frozen=True, slots=True)
class BuiltPackage:
    """A manifest and the zip entries that go with it.

    ``extra_entries`` (``metadata_<n>``) are written before ``mets.xml``, ``entries``
    (bitstreams, logo) after it, in order.  The manifest is ``head`` with each of
    ``blocks`` (a container's child pointers, written as text) in its placeholder's place:
    ``manifest_chunks`` gives it a piece at a time (a collection of 300,000 items has a
    manifest of 80 MB), ``manifest`` whole.  ``children`` is made from the blocks as it is
    read.
    """

    type: str
    handle: str
    head: bytes
    extra_entries: tuple[PackageEntry, ...]
    entries: tuple[PackageEntry, ...]
    children: abc.Collection[ChildPointer]
    last_modified: dt.datetime | None
    #: The tree ``head`` was serialized from, so the exporter validates it without
    #: parsing the bytes again (not part of the package's value).
    root: Element = field(compare=False, repr=False)
    #: The builder's nodes that tree was written from (``aip.mets.validate``'s quick
    #: structure check reads them), or None.
    nodes: B.Node | None = field(default=None, compare=False, repr=False)
    blocks: tuple[_ChildBlock, ...] = ()

    @property
    def manifest(self) -> bytes:
        """The whole manifest as one value (``manifest_chunks`` for a large container)."""
        return self.head if not self.blocks else b"".join(self.manifest_chunks())

    def manifest_chunks(self) -> Iterator[bytes]:
        """The manifest's bytes in order, a block's child divs a few at a time."""
        return _with_blocks(self.head, self.blocks)

    def manifest_size(self) -> int:
        """The manifest's length in bytes (its blocks made once to count them)."""
        if not self.blocks:
            return len(self.head)
        return sum(len(chunk) for chunk in self.manifest_chunks())


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file the manifest names: zip entry, bundle (``LOGO`` for a logo, ``""`` for an extra
    metadata stream), and the size/MD5/sequence id the manifest states."""

    entry: str
    bundle: str
    size: int | None
    md5: str | None
    sequence_id: int | None


@dataclass(frozen=True, slots=True)
class ParsedPackage:
    """What one manifest says, as model values.

    ``rights_present`` is False when the object's METSRIGHTS section was absent or mapped to
    ``NIL``/``NULLSTREAM``: its policies are then "unspecified", not "none".  ``registry``:
    the schemas, fields and formats a SITE AIP's AIPSYNC-EXT lists (``None``: not said).
    ``claims``: an item's relationships as its package states them (``_read_claims``);
    ``places_known``: its package says where its plain values sit among its relationships
    (aipsync's extension, or a DIM with DSpace's virtual values), so ``Item.places`` is the
    truth; else a restore fits them around the relationships.
    ``person_refs``/``member_refs``: DSPACE-ROLES ``ID`` attributes (``roles.references``).
    ``creator``: the name of the ``metsHdr`` CREATOR agent (which software wrote it).
    """

    type: str
    handle: str | None
    parent: str | None
    children: abc.Collection[ChildPointer]
    site: Site | None
    community: Community | None
    collection: Collection | None
    item: Item | None
    groups: tuple[Group, ...]
    people: tuple[EPerson, ...]
    files: tuple[FileRef, ...]
    rights_present: bool
    warnings: tuple[Problem, ...]
    registry: Registry | None = None
    claims: tuple[RelationshipClaim, ...] = ()
    places_known: bool = False
    person_refs: tuple[tuple[str, str], ...] = ()
    member_refs: tuple[tuple[str, str, str], ...] = ()
    creator: str | None = None


# =============================================================================================
# Names and addresses
# =============================================================================================
def mets_id(obj_type: str, handle: str, uuid: str | None = None) -> str:
    """``DSpace_<TYPE>_<handle with / replaced by ->`` (DSpace <= 7.0), or, given the
    object's UUID, DSpace 7.1+'s ``DSpace_<TYPE>_DB-ID-<uuid>``, from which a DSpace 7.1+
    restore keeps the UUID (``AbstractMETSIngester.getObjectID``)."""
    if uuid is not None:
        return f"DSpace_{obj_type}_{C.METS_ID_DBID_MARKER}{uuid}"
    return f"DSpace_{obj_type}_{handle.replace('/', '-')}"


def _ext(bitstream: Bitstream) -> str:
    exts = bitstream.format.extensions
    return f".{exts[0]}" if exts else ""


def bitstream_entry_name(bitstream: Bitstream) -> str:
    """``bitstream_<sequence id>`` plus the first extension of its format."""
    return f"{C.BITSTREAM_ENTRY_PREFIX}{bitstream.sequence_id}{_ext(bitstream)}"


def logo_entry_name(logo: Bitstream) -> str:
    """``logo`` plus the first extension of its format."""
    return f"{C.LOGO_ENTRY_PREFIX}{_ext(logo)}"


def _java_url_encode(text: str) -> str:
    """``java.net.URLEncoder.encode(text, "UTF-8")``: space as ``+``, only ``.-*_`` kept."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def lastmoddate(when: dt.datetime) -> str:
    """``LASTMODDATE``: UTC, whole seconds, no zone (a naive time is taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    # isoformat pads years below 1000 (strftime("%Y") does not, on glibc)
    return when.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")


# =============================================================================================
# Building
# =============================================================================================
@dataclass(slots=True)
class _Subject:
    """What a metadata section is about."""

    kind: str  # SITE, COMMUNITY, COLLECTION, ITEM, BUNDLE, BITSTREAM, TEMPLATE
    site: Site | None = None
    community: Community | None = None
    collection: Collection | None = None
    item: Item | None = None
    bundle: Bundle | None = None
    bitstream: Bitstream | None = None
    values: tuple[MetadataValue, ...] = ()
    groups: Sequence[Group] = ()
    people: Sequence[EPerson] = ()
    known_people: Sequence[EPerson] = ()

    @property
    def policies(self) -> tuple[ResourcePolicy, ...]:
        for obj in (self.bitstream, self.bundle, self.item, self.collection, self.community):
            if obj is not None:
                return obj.policies
        return ()


class _Builder:
    """One package being built: the gensym counter and the collected METS parts."""

    def __init__(self, ctx: BuildContext, handle: str,
                 include_bundle: Callable[[str], bool] | None = None) -> None:
        self.ctx = ctx
        self.cfg = ctx.config
        self.handle = handle
        self.include_bundle = include_bundle or (lambda _name: True)
        self.counter = 0
        self.dmd: list[B.Node] = []
        self.amd: list[B.Node] = []
        self.file_groups: list[B.Node] = []
        self.pending_streams: list[tuple[B.Node, Bitstream]] = []
        self.metsrights_on = any(e.crosswalk == "METSRIGHTS" for e in self.cfg.rightsMD)
        self.facts: list[tuple[str, Extension]] = []
        self.blocks = []
        cfg = self.cfg
        self.amd_kinds = tuple((kind, entries) for kind, entries in (
            ("techMD", cfg.techMD), ("rightsMD", cfg.rightsMD), ("sourceMD", cfg.sourceMD),
            ("digiprovMD", cfg.digiprovMD)) if entries)

    blocks: list[_ChildBlock]

    def gensym(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    # ---- sections ----------------------------------------------------------------------
    def dmd_secs(self, subject: _Subject) -> list[str]:
        """One dmdSec per configured dmd type; the ids of those that produced something."""
        produced: list[str] = []
        for entry in self.cfg.dmd:
            sec_id = self.gensym("dmdSec")
            sec = self._section("dmdSec", sec_id, entry, subject, None)
            if sec is not None:
                self.dmd.append(sec)
                produced.append(sec_id)
        return produced

    def amd_sec(self, subject: _Subject) -> str | None:
        """The subject's amdSec (emitted even when empty), or None if no type is configured."""
        if not self.amd_kinds:
            return None
        amd_id = self.gensym("amd")
        amd = B.amd_sec(amd_id)
        for kind, entries in self.amd_kinds:
            for entry in entries:
                self._section(kind, self.gensym(kind), entry, subject, amd)
        self.amd.append(amd)
        return amd_id

    def _section(self, kind: str, sec_id: str, entry: SectionEntry, subject: _Subject,
                 parent: B.Node | None) -> B.Node | None:
        """The ``kind`` section (in ``parent``, if given) holding the ``mdWrap``/``mdRef`` of
        one configured type, or None (nothing made) when that type has nothing to say.

        Made from the outside in, so each crosswalk's output is moved between lxml
        documents once rather than once per enclosing element.
        """
        info = REGISTRY.get(entry.crosswalk)
        if info is None:  # DSpace: "Cannot find <x> crosswalk plugin"
            raise CrosswalkError(f"Cannot find {entry.crosswalk} crosswalk plugin, either "
                                 "DisseminationCrosswalk or StreamDisseminationCrosswalk")
        if info.stream:
            body = self._stream(entry, subject, info.mimetype)
            if body is None:
                return None
            return B.md_sec(kind, sec_id, body, parent=parent)
        if entry.crosswalk == "METSRIGHTS" and subject.kind not in (C.TYPE_SITE, "TEMPLATE"):
            # Most objects share a handful of policy sets: their mdWrap is written once.
            sec = B.md_sec(kind, sec_id, parent=parent)
            sec.append(_rights_wrap(entry.label, subject.policies, self.ctx.today))
            return sec
        content = self._xml(entry.crosswalk, subject)
        if content is None:
            return None
        sec = B.md_sec(kind, sec_id, parent=parent)
        sec.append(B.md_wrap_section(entry.label, content, namespaces=info.namespaces,
                                     schema_location=info.schema_location))
        return sec

    def _stream(self, entry: SectionEntry, subject: _Subject,
                mimetype: str | None) -> B.Node | None:
        if subject.kind != C.TYPE_ITEM or subject.item is None:
            return None
        found = _licence(subject.item, entry.crosswalk)
        if found is None:
            return None
        bundle_name, bitstream = found
        if bitstream.size == 0:  # DSpace drops an empty stream (makeMdSec)
            return None
        if self.ctx.manifest_only:
            if self.ctx.stream_reader is None:
                raise CrosswalkError("a manifest-only package embeds licences: "
                                     "BuildContext.stream_reader is required")
            return B.md_wrap_binary(entry.label, self.ctx.stream_reader(bitstream),
                                    mimetype=mimetype)
        ref = B.md_ref(entry.label, "", mimetype=mimetype)
        # linkLicenseRefsToBitstreams: point at the bitstream when its bundle is packaged
        first_bundle = next(b for b in subject.item.bundles if b.name == bundle_name)
        if self.include_bundle(first_bundle.name):
            ref.set(f"{{{C.NS_XLINK}}}href", bitstream_entry_name(bitstream))
        else:
            self.pending_streams.append((ref, bitstream))
        return ref

    def _xml(self, name: str, s: _Subject) -> B.Content | None:
        ctx = self.ctx
        kind = s.kind
        if name in ("DIM", "MODS"):
            return self._descriptive(name, s)
        if name == "PREMIS":
            if kind != C.TYPE_BITSTREAM or s.bitstream is None:
                return None
            return premis.disseminate_text(s.bitstream, self._premis_url(s.bitstream))
        if name == "DSPACE-ROLES":
            if kind not in C.CONTAINER_TYPES:
                return None
            return roles.disseminate(s.groups, s.people, passwords=ctx.passwords,
                                     known_people=s.known_people)
        if name == "METSRIGHTS":
            if kind in (C.TYPE_SITE, "TEMPLATE"):
                return None
            return metsrights.disseminate(s.policies, ctx.today)
        if name == "AIP-TECHMD":
            return self._techmd(s)
        return None

    def _descriptive(self, name: str, s: _Subject) -> B.Content | None:
        prefix = self.ctx.handle_canonical_prefix
        if s.kind in (C.TYPE_ITEM, "TEMPLATE"):
            values = s.values
            if s.item is not None:  # with virtual values when the export asked for them
                values = (s.item.with_virtual if s.item.with_virtual is not None
                          else s.item.metadata)
            return (dim.disseminate_text(values) if name == "DIM"
                    else mods.disseminate_text(values))
        container = s.community or s.collection
        if container is not None:
            if name == "DIM":
                return dim.disseminate_container(s.kind, container.handle, container.metadata)
            return mods.disseminate_container(s.kind, container.handle, container.metadata,
                                              prefix)
        if s.site is not None:
            if name == "DIM":
                return dim.disseminate_site(s.site)
            return mods.disseminate_site(s.site, prefix)
        return None

    def _techmd(self, s: _Subject) -> B.Content | None:
        if s.kind == C.TYPE_BITSTREAM and s.bitstream is not None:
            return techmd.bitstream_text(s.bitstream)
        if s.kind == C.TYPE_ITEM and s.item is not None:
            return techmd.item_text(s.item)
        if s.kind == C.TYPE_COLLECTION and s.collection is not None:
            return techmd.disseminate_collection(s.collection)
        if s.kind == C.TYPE_COMMUNITY and s.community is not None:
            return techmd.disseminate_community(s.community, self.ctx.site_handle)
        if s.kind == C.TYPE_SITE and s.site is not None:
            return techmd.disseminate_site(s.site)
        return None

    def note(self, subject: _Subject, key: str | None) -> None:
        """Keep the AIPSYNC-EXT facts about ``subject`` under ``key`` (an amdSec/div/file ID).

        ``key`` is None only for a bundle without an amdSec: its only facts are policy facts,
        which need a METSRights section, hence an amdSec.
        """
        if not self.cfg.extension or key is None:
            return
        ext = self._extension(subject)
        if not ext.is_empty():
            self.facts.append((key, ext))

    def extension_amd_sec(self, registry: Registry | None) -> None:
        """aipsync's amdSec, unreferenced and after every other amdSec, with ids taken after
        everything DSpace generates, so that every other id is DSpace's."""
        if not self.cfg.extension:
            return
        body = extension.package_text(PackageExtension(
            facts=tuple(self.facts),
            registry=registry if registry is not None and not registry.is_empty() else None))
        if body is None:
            return
        info = REGISTRY[C.MD_AIPSYNC]
        amd = B.amd_sec(self.gensym("amd"))
        sec = B.md_sec("sourceMD", self.gensym("sourceMD"), parent=amd)
        sec.append(B.md_wrap_section(C.MD_AIPSYNC, body, namespaces=info.namespaces,
                                     schema_location=info.schema_location))
        self.amd.append(amd)

    def _extension(self, s: _Subject) -> Extension:
        facts: tuple[PolicyFacts, ...] | None = None
        if self.metsrights_on and s.kind not in (C.TYPE_SITE, "TEMPLATE"):
            exported = metsrights.exported(s.policies)
            if exported:
                facts = tuple(PolicyFacts(p.action, p.description, p.policy_type)
                              for p in exported)
        if s.kind == C.TYPE_BITSTREAM and s.bitstream is not None:
            fmt = s.bitstream.format
            return Extension(policies=facts, sha256=s.bitstream.sha256,
                             format=fmt if (fmt.description or fmt.extensions) else None)
        if s.kind == C.TYPE_ITEM and s.item is not None:
            item = s.item
            return Extension(policies=facts,
                             discoverable=None if item.discoverable else False,
                             places=item.places, relationships=item.relationships,
                             pending=item.pending)
        harvest = s.collection.harvest if (
            s.kind == C.TYPE_COLLECTION and s.collection is not None) else None
        logo_facts = None
        container = s.collection or s.community
        if s.kind in (C.TYPE_COLLECTION, C.TYPE_COMMUNITY) and container is not None:
            logo = container.logo
            if logo is not None:
                logo_facts = LogoFacts(name=logo.name, sha256=logo.sha256, format=logo.format)
        entity_type = s.collection.entity_type if (
            s.kind == C.TYPE_COLLECTION and s.collection is not None) else None
        return Extension(policies=facts, harvest=harvest, logo=logo_facts,
                         entity_type=entity_type)

    def _premis_url(self, bitstream: Bitstream) -> str:
        # <= 7.5 form: {base}/bitstream/{URL-encoded item handle}/{seq}/{URL-encoded name}
        name = _java_url_encode(bitstream.name or bitstream_entry_name(bitstream))
        base = self.ctx.site_url.rstrip("/")
        if not base:
            return name
        return f"{base}/bitstream/{_java_url_encode(self.handle)}/{bitstream.sequence_id}/{name}"

    def flocat(self, bitstream: Bitstream, entry: str) -> str:
        """The ``FLocat`` address: the zip entry, or an absolute URL (manifest only)."""
        if not self.ctx.manifest_only:
            return entry
        name = _java_url_encode(bitstream.name or entry)
        base = self.ctx.site_url.rstrip("/")
        return f"{base}/bitstream/{self.handle}/{bitstream.sequence_id}/{name}"

    # ---- structure ---------------------------------------------------------------------
    def child_div(self, child_type: str, handle: str) -> tuple[B.Node, ChildPointer]:
        check_handle(handle)
        div_id = self.gensym("div")
        ext = C.MANIFEST_ONLY_EXTENSION if self.ctx.manifest_only else C.PACKAGE_EXTENSION
        href = package_file_name(child_type, handle, ext)
        div = B.div(div_id=div_id, type_=f"{C.METS_TYPE_PREFIX}{child_type}", children=(
            B.mptr(ptr_id=self.gensym("mptr"), loctype=C.LOCTYPE_HANDLE, href=handle),
            B.mptr(ptr_id=self.gensym("mptr"), loctype=C.LOCTYPE_URL, href=href)))
        return div, ChildPointer(type=child_type, handle=handle, href=href)

    def child_block(self, child_type: str, handles: abc.Collection[str]
                    ) -> tuple[B.Node, abc.Collection[ChildPointer]] | None:
        """The child divs of ``handles`` as one block written straight as text when the
        manifest is written out (``BuiltPackage.manifest_chunks``), with the IDs
        ``child_div`` would give them: a collection of 100,000 items does not become 300,000
        nodes, elements and text fragments, nor 100,000 pointers (the block keeps
        ``handles``, read again each time it is written).  Returns the placeholder div for
        its place and the pointers (made as they are read); None when a handle needs
        escaping in XML (then ``child_div`` writes each one)."""
        for handle in handles:
            if not _PLAIN.fullmatch(handle):
                return None
            check_handle(handle)
        ext = C.MANIFEST_ONLY_EXTENSION if self.ctx.manifest_only else C.PACKAGE_EXTENSION
        first = self.counter + 1
        self.counter += 3 * len(handles)
        block = _ChildBlock(child_type, first, handles, ext)
        self.blocks.append(block)
        marker = B.div(div_id=f"{_BLOCK_MARKER}{len(self.blocks) - 1}")
        return marker, _BlockPointers(block)

    def parent_struct_map(self, parent: str | None) -> B.Node | None:
        if parent is None:
            return None
        check_handle(parent)
        sm_id, div_id, ptr_id = self.gensym("struct"), self.gensym("div"), self.gensym("mptr")
        return B.struct_map(sm_id=sm_id, label=C.STRUCTMAP_PARENT_LABEL,
                            type_=C.STRUCTMAP_TYPE, divs=(B.div(
                                div_id=div_id, label=C.DIV_PARENT_LABEL,
                                type_=C.DIV_PARENT_LINK,
                                children=(B.mptr(ptr_id=ptr_id, loctype=C.LOCTYPE_HANDLE,
                                                 href=parent),)),))

    def logo(self, logo: Bitstream) -> tuple[B.Node, PackageEntry]:
        """The LOGO fileGrp's file and the logo's entry (no SEQ/ADMID/GROUPID, no amdSec)."""
        file_id = self.gensym(C.LOGO_ENTRY_PREFIX)
        entry = logo_entry_name(logo)
        file = B.file_el(file_id=file_id, mimetype=_safe(logo.format.mimetype), size=logo.size,
                         checksum=logo.md5,
                         checksumtype=C.CHECKSUM_TYPE if logo.md5 is not None else None,
                         href=self.flocat(logo, entry))
        self.file_groups.append(B.file_grp(use=C.FILEGRP_LOGO, files=(file,)))
        return B.fptr(file_id), PackageEntry(name=entry, bitstream=logo, item_time=False)

    def finish(self, main_div: B.Node, struct_id: str, extra_structs: Sequence[B.Node | None],
               obj_type: str, handle: str, hdr: B.Node,
               entries: Sequence[PackageEntry], children: abc.Collection[ChildPointer],
               last_modified: dt.datetime | None, registry: Registry | None = None,
               uuid: str | None = None) -> BuiltPackage:
        extras: list[PackageEntry] = []
        for ref, bitstream in self.pending_streams:  # writeZipPackage: extra streams last
            name = self.gensym(C.EXTRA_STREAM_PREFIX.rstrip("_"))
            ref.set(f"{{{C.NS_XLINK}}}href", name)
            extras.append(PackageEntry(name=name, bitstream=bitstream, item_time=True))
        self.extension_amd_sec(registry)
        root = B.mets_root(obj_id=mets_id(obj_type, handle, uuid), objid=handle_uri(handle),
                           type_=f"{C.METS_TYPE_PREFIX}{obj_type}", profile=C.AIP_PROFILE)
        root.append(hdr)
        for el in (*self.dmd, *self.amd):
            root.append(el)
        if self.file_groups:
            root.append(B.file_sec(self.file_groups))
        root.append(B.struct_map(sm_id=struct_id, label=C.STRUCTMAP_MAIN_LABEL,
                                 type_=C.STRUCTMAP_TYPE, divs=(main_div,)))
        for sm in extra_structs:
            if sm is not None:
                root.append(sm)
        tree = B.to_tree(root)
        return BuiltPackage(type=obj_type, handle=handle, head=B.serialize(tree),
                            extra_entries=tuple(extras),
                            entries=() if self.ctx.manifest_only else tuple(entries),
                            children=(children if isinstance(children, _BlockPointers)
                                      else tuple(children)),
                            last_modified=last_modified, root=tree, nodes=root,
                            blocks=tuple(self.blocks))


@functools.lru_cache(maxsize=256)
def _rights_wrap(label: str, policies: tuple[ResourcePolicy, ...], today: dt.date
                 ) -> B.Section:
    """The METSRights ``mdWrap`` of a policy set, as text for its place in a document."""
    info = REGISTRY["METSRIGHTS"]
    return B.md_wrap_section(label, metsrights.disseminate(policies, today),
                             namespaces=info.namespaces, schema_location=info.schema_location)


def _licence(item: Item, crosswalk: str) -> tuple[str, Bitstream] | None:
    """(bundle name, bitstream) of the licence a stream crosswalk disseminates, if any."""
    if crosswalk == "DSPACE_DEPLICENSE":
        # PackageUtils.findDepositLicense: format "License" in LICENSE, else its first file
        for bundle in item.bundles:
            if bundle.name != C.BUNDLE_LICENSE:
                continue
            for bs in bundle.bitstreams:
                if bs.format.short_description == C.LICENSE_FORMAT_NAME:
                    return bundle.name, bs
            if bundle.bitstreams:
                return bundle.name, bundle.bitstreams[0]
        return None
    wanted = {"DSPACE_CCRDF": C.CC_RDF_NAME, "DSPACE_CCTEXT": C.CC_TEXT_NAME}.get(crosswalk)
    for bundle in item.bundles:
        if bundle.name == C.BUNDLE_CC_LICENSE:
            for bs in bundle.bitstreams:
                if bs.name == wanted:
                    return bundle.name, bs
    return None


def _header(ctx: BuildContext, lastmod: dt.datetime | None = None) -> B.Node:
    return B.mets_hdr(
        (B.Agent(role="CUSTODIAN", othertype=C.AGENT_CUSTODIAN_OTHERTYPE, name=ctx.site_handle),
         B.Agent(role="CREATOR", othertype=C.AGENT_CREATOR_OTHERTYPE, name=C.CREATOR_NAME)),
        lastmoddate=lastmoddate(lastmod) if lastmod is not None else None)


def _main(b: _Builder, dmd_ids: Sequence[str], amd_id: str | None) -> tuple[str, B.Node]:
    struct_id = b.gensym("struct")
    main = B.div(div_id=b.gensym("div"), type_=C.DIV_OBJECT_CONTENTS, dmdid=dmd_ids,
                 admid=(amd_id,) if amd_id is not None else ())
    return struct_id, main


#: Handles written into a child block as they are (nothing to escape in an attribute).
_PLAIN = re.compile(r"[A-Za-z0-9._/-]+")
#: The ID of a child block's placeholder div (never an ID the builder makes).
_BLOCK_MARKER = "aipsync-child-block-"


@dataclass(frozen=True, slots=True)
class _ChildBlock:
    """Child pointers written as text: the children's type, the counter value of the first
    div's ID (each child takes three: div, handle mptr, URL mptr), their handles (plain,
    checked) and the package extension of their hrefs."""

    child_type: str
    first: int
    handles: abc.Collection[str]
    ext: str

    def pointers(self) -> Iterator[ChildPointer]:
        for handle in self.handles:
            yield ChildPointer(type=self.child_type, handle=handle,
                               href=package_file_name(self.child_type, handle, self.ext))

    def lines(self, indent: bytes) -> Iterator[bytes]:
        """The divs exactly as lxml pretty-prints them at ``indent``, 256 children a piece."""
        inner = indent + b"  "
        div_type = f"{C.METS_TYPE_PREFIX}{self.child_type}".encode()
        name_prefix = f"{self.child_type}@".encode()
        suffix = f".{self.ext}".encode()
        n = self.first
        piece: list[bytes] = []
        for handle in self.handles:
            plain = handle.encode()
            piece.append(
                b'%s<div ID="div_%d" TYPE="%s">\n'
                b'%s<mptr ID="mptr_%d" LOCTYPE="HANDLE" xlink:type="simple" '
                b'xlink:href="%s"/>\n'
                b'%s<mptr ID="mptr_%d" LOCTYPE="URL" xlink:type="simple" '
                b'xlink:href="%s%s%s"/>\n'
                b'%s</div>\n' % (indent, n, div_type, inner, n + 1, plain, inner, n + 2,
                                  name_prefix, plain.replace(b"/", b"-"), suffix, indent))
            n += 3
            if len(piece) == 256:
                yield b"".join(piece)
                piece = []
        if piece:
            yield b"".join(piece)


class _BlockPointers(LazyCollection[ChildPointer]):
    """A block's child pointers, made each time they are read; equal to a sequence of the
    same pointers."""

    __slots__ = ("_block",)

    def __init__(self, block: _ChildBlock) -> None:
        self._block = block

    def __len__(self) -> int:
        return len(self._block.handles)

    def __iter__(self) -> Iterator[ChildPointer]:
        return self._block.pointers()


def _with_blocks(head: bytes, blocks: Sequence[_ChildBlock]) -> Iterator[bytes]:
    """``head`` with each block's placeholder line replaced by the block's divs, in pieces."""
    start = 0
    for index, block in enumerate(blocks):
        marker = f'<div ID="{_BLOCK_MARKER}{index}"/>\n'.encode()
        at = head.index(marker, start)
        line_start = head.rindex(b"\n", start, at) + 1
        yield head[start:line_start]
        yield from block.lines(head[line_start:at])
        start = at + len(marker)
    yield head[start:]


def _originals(item: Item) -> dict[str, int]:
    """Name -> sequence id of the first ORIGINAL bitstream with that name."""
    names: dict[str, int] = {}
    for b in item.bundles:
        if b.name == C.BUNDLE_ORIGINAL:
            for o in b.bitstreams:
                if o.name is not None:
                    names.setdefault(o.name, o.sequence_id)
    return names


def _group_id(originals: dict[str, int], bundle: Bundle, bitstream: Bitstream) -> str:
    """``GROUP_bitstream_<seq>``; derivatives join their ORIGINAL's (findOriginalBitstream:
    THUMBNAIL and TEXT* bitstreams named like an original plus four characters)."""
    seq = bitstream.sequence_id
    if (bundle.name == C.BUNDLE_THUMBNAIL or bundle.name.startswith(C.BUNDLE_TEXT)) \
            and bitstream.name is not None and len(bitstream.name) >= 4:
        seq = originals.get(bitstream.name[:-4], seq)
    return f"GROUP_{C.BITSTREAM_ENTRY_PREFIX}{seq}"


def build_item_package(item: Item, ctx: BuildContext,
                       include_bundle: Callable[[str], bool] | None = None) -> BuiltPackage:
    """The AIP of an item: manifest, bitstream entries, extra licence streams.

    Args:
        item: the item (bundles and bitstreams in export order).
        ctx: site facts and options.
        include_bundle: ``filterBundles``; a bundle whose name it rejects is left out.

    Raises:
        PackageValidationError: two bitstreams share a sequence id (``AIP-E040``; they would
            share a file ID, DSpace #8467).
        CrosswalkError: a configured crosswalk is unknown.
    """
    check_handle(item.handle)
    b = _Builder(ctx, item.handle, include_bundle)
    subject = _Subject(C.TYPE_ITEM, item=item)
    dmd_ids = b.dmd_secs(subject)
    amd_id = b.amd_sec(subject)
    struct_id, main = _main(b, dmd_ids, amd_id)
    b.note(subject, amd_id or main.get("ID"))
    entries: list[PackageEntry] = []
    seen: dict[int, str] = {}
    problems: list[Problem] = []
    originals = _originals(item)
    for bundle in item.bundles:
        if not b.include_bundle(bundle.name):
            continue
        bundle_subject = _Subject("BUNDLE", item=item, bundle=bundle)
        grp_amd = b.amd_sec(bundle_subject)
        b.note(bundle_subject, grp_amd)
        files = []
        for bs in bundle.bitstreams:
            file_id = f"{C.BITSTREAM_ENTRY_PREFIX}{bs.sequence_id}"
            if bs.sequence_id in seen:
                problems.append(Problem("AIP-E040", f"duplicate file ID {file_id!r} (bundles "
                                        f"{seen[bs.sequence_id]} and {bundle.name})"))
            seen[bs.sequence_id] = bundle.name
            if bundle.name == C.BUNDLE_ORIGINAL:
                if bundle.primary_sequence_id == bs.sequence_id:
                    main.insert(0, B.fptr(file_id))
                main.append(B.div(div_id=b.gensym("div"), type_=C.DIV_BITSTREAM,
                                  children=(B.fptr(file_id),)))
            bs_subject = _Subject(C.TYPE_BITSTREAM, item=item, bundle=bundle, bitstream=bs)
            bs_amd = b.amd_sec(bs_subject)
            b.note(bs_subject, bs_amd or file_id)
            entry = bitstream_entry_name(bs)
            files.append(B.file_el(
                file_id=file_id, mimetype=_safe(bs.format.mimetype), seq=bs.sequence_id,
                size=bs.size, checksum=bs.md5,
                checksumtype=C.CHECKSUM_TYPE if bs.md5 is not None else None, admid=bs_amd,
                groupid=_group_id(originals, bundle, bs), href=b.flocat(bs, entry)))
            entries.append(PackageEntry(name=entry, bitstream=bs, item_time=True))
        # a bundle without a name gets no USE (AbstractMETSDisseminator.makeManifest)
        b.file_groups.append(B.file_grp(use=_safe(bundle.name) or None, admid=grp_amd,
                                        files=files))
    if problems:
        raise PackageValidationError(problems, path=package_file_name(C.TYPE_ITEM, item.handle))
    parent = b.parent_struct_map(item.owning_collection or None)
    return b.finish(main, struct_id, (parent, rels_struct_map(item, ctx.manifest_only)),
                    C.TYPE_ITEM, item.handle, _header(ctx, item.last_modified), entries, (),
                    item.last_modified, uuid=item.uuid)


def rels_struct_map(item: Item, manifest_only: bool = False) -> B.Node | None:
    """DSpace PR #3328's ``rels`` structMap for an item with relationships, or None.

    One ``div ID="rels_<name>"`` per relationship name as seen from the item (in the order
    of its relationships: leftward name, then place), holding one ``div`` per related item
    that is not withdrawn, in place order: ``ORDER`` = the item's place, ``LABEL`` = the name
    variant stored on the item's side (``leftward_value`` in the left item's package), and
    the related item's handle, package file name and ``urn:uuid:`` as ``mptr``s.  The METS
    schema allows one ``div`` per structMap, so the name divs sit in one ``div
    TYPE="DSpace Relationships"`` (the one departure from the PR's shape; a reader that
    looks the name divs up by ``ID`` finds them either way).  Pure.
    """
    groups: dict[str, list[tuple[int, int, B.Node]]] = {}
    ext = C.MANIFEST_ONLY_EXTENSION if manifest_only else C.PACKAGE_EXTENSION
    for rel in item.relationships:
        left = rel.is_left(item.handle)
        if rel.right_withdrawn if left else rel.left_withdrawn:
            continue
        other = rel.right if left else rel.left
        other_uuid = rel.right_uuid if left else rel.left_uuid
        place = rel.left_place if left else rel.right_place
        pointers = [B.mptr(ptr_id=None, loctype=C.LOCTYPE_HANDLE, href=other),
                    B.mptr(ptr_id=None, loctype=C.LOCTYPE_URL,
                           href=package_file_name(C.TYPE_ITEM, other, ext))]
        if other_uuid is not None:
            pointers.append(B.mptr(ptr_id=None, loctype=C.LOCTYPE_URN,
                                   href=f"{C.URN_UUID_PREFIX}{other_uuid}"))
        label = rel.leftward_value if left else rel.rightward_value
        groups.setdefault(rel.name_from(item.handle), []).append(
            (place, rel.id or 0, B.div(div_id=None, order=place, label=_safe(label) if label
                                       is not None else None, children=pointers)))
    if not groups:
        return None
    names = [B.div(div_id=f"{C.RELS_DIV_PREFIX}{name}",
                   children=[node for _, _, node in sorted(members, key=lambda m: m[:2])])
             for name, members in groups.items()]
    return B.struct_map(sm_id=C.STRUCTMAP_RELS_ID, label=None, type_=None,
                        divs=(B.div(div_id=None, type_=C.DIV_RELATIONSHIPS, children=names),))


def build_collection_package(collection: Collection, groups: Sequence[Group],
                             ctx: BuildContext, *, people: Sequence[EPerson] = ()
                             ) -> BuiltPackage:
    """The AIP of a collection: fixed fields, roles, policies, template, logo, item pointers.

    ``groups`` are the collection's groups for DSPACE-ROLES, in export order; ``people``
    (optional) only supply the ``ID`` of group members.
    """
    check_handle(collection.handle)
    b = _Builder(ctx, collection.handle)
    subject = _Subject(C.TYPE_COLLECTION, collection=collection,
                       groups=_with_roles(groups, collection.roles), known_people=people)
    dmd_ids = b.dmd_secs(subject)
    amd_id = b.amd_sec(subject)
    struct_id, main = _main(b, dmd_ids, amd_id)
    b.note(subject, amd_id or main.get("ID"))
    children: abc.Collection[ChildPointer] = ()
    block = b.child_block(C.TYPE_ITEM, collection.items) if collection.items else None
    if block is not None:
        main.append(block[0])
        children = block[1]
    else:
        pointers = []
        for handle in collection.items:
            div, pointer = b.child_div(C.TYPE_ITEM, handle)
            main.append(div)
            pointers.append(pointer)
        children = pointers
    if collection.template is not None:
        # the template's dmdSecs follow the collection's own (amdSecs are kept apart)
        template_ids = b.dmd_secs(_Subject("TEMPLATE", values=collection.template))
        main.insert(0, B.div(div_id=b.gensym("div"), type_=C.DIV_ITEM_TEMPLATE,
                             dmdid=template_ids))
    entries = []
    if collection.logo is not None:
        fptr, entry = b.logo(collection.logo)
        main.insert(0, fptr)
        entries.append(entry)
    parent = b.parent_struct_map(collection.parents[0] if collection.parents else None)
    return b.finish(main, struct_id, (parent,), C.TYPE_COLLECTION, collection.handle,
                    _header(ctx), entries, children, None)


def _with_roles(groups: Sequence[Group], roles_: Sequence[tuple[str, str]]) -> list[Group]:
    """Groups with ``role`` filled from the container's role table where unset."""
    by_name = {name: role for role, name in roles_}
    return [g if g.role or g.name not in by_name else replace(g, role=by_name[g.name])
            for g in groups]


def build_community_package(community: Community, groups: Sequence[Group],
                            ctx: BuildContext, *, people: Sequence[EPerson] = ()
                            ) -> BuiltPackage:
    """The AIP of a community: fixed fields, groups, policies, logo, child pointers.

    ``people`` (optional) only supply the ``ID`` of group members in DSPACE-ROLES.
    """
    check_handle(community.handle)
    b = _Builder(ctx, community.handle)
    subject = _Subject(C.TYPE_COMMUNITY, community=community,
                       groups=_with_roles(groups, community.roles), known_people=people)
    dmd_ids = b.dmd_secs(subject)
    amd_id = b.amd_sec(subject)
    struct_id, main = _main(b, dmd_ids, amd_id)
    b.note(subject, amd_id or main.get("ID"))
    children = []
    for child_type, handles in ((C.TYPE_COMMUNITY, community.subcommunities),
                                (C.TYPE_COLLECTION, community.collections)):
        for handle in handles:
            div, pointer = b.child_div(child_type, handle)
            main.append(div)
            children.append(pointer)
    entries = []
    if community.logo is not None:
        fptr, entry = b.logo(community.logo)
        main.insert(0, fptr)
        entries.append(entry)
    parent = b.parent_struct_map(community.parent or ctx.site_handle)
    return b.finish(main, struct_id, (parent,), C.TYPE_COMMUNITY, community.handle,
                    _header(ctx), entries, children, None)


def build_site_package(site: Site, groups: Sequence[Group], people: Sequence[EPerson],
                       ctx: BuildContext, *, schemas: Sequence[MetadataSchema] = (),
                       fields: Sequence[MetadataField] = (),
                       formats: Sequence[BitstreamFormat] = (),
                       entity_types: Sequence[str] = (),
                       relationship_types: Sequence[RelationshipType] = ()) -> BuiltPackage:
    """The SITE AIP: site name and URL, every group and e-person, top-level communities.

    ``schemas``, ``fields``, ``formats``, ``entity_types`` and ``relationship_types`` (the
    repository's registries, in the order given) go into the AIPSYNC-EXT amdSec, so that a
    full-site restore into a fresh repository can create custom schemas, fields and formats
    before any item needs them; nothing is written when all are empty or
    ``ctx.config.extension`` is off.
    """
    check_handle(site.handle)
    b = _Builder(ctx, site.handle)
    subject = _Subject(C.TYPE_SITE, site=site, groups=groups, people=people)
    dmd_ids = b.dmd_secs(subject)
    amd_id = b.amd_sec(subject)
    struct_id, main = _main(b, dmd_ids, amd_id)
    b.note(subject, amd_id or main.get("ID"))
    children = []
    for handle in site.communities:
        div, pointer = b.child_div(C.TYPE_COMMUNITY, handle)
        main.append(div)
        children.append(pointer)
    registry = Registry(schemas=tuple(schemas), fields=tuple(fields), formats=tuple(formats),
                        entity_types=tuple(entity_types),
                        relationship_types=tuple(relationship_types))
    return b.finish(main, struct_id, (), C.TYPE_SITE, site.handle, _header(ctx), (), children,
                    None, registry)


# =============================================================================================
# Reading
# =============================================================================================
_BITSTREAM_ID = re.compile(r"^bitstream_(-?\d+)$")
_NO_DMD = "DSpaceAIPIngester: Could not find an acceptable object-wide DMD section in manifest."


def _strip_type(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[len(C.METS_TYPE_PREFIX):] if value.startswith(C.METS_TYPE_PREFIX) else value


def _handle(value: str | None) -> str | None:
    """A handle from ``OBJID``/``mptr`` text (``hdl:`` or a handle.net URL stripped), checked.

    ``DSpace_DB_<TYPE>_<id>`` (an object without a handle) gives ``None``.

    Raises:
        HandleFormatError: anything else that is not ``<prefix>/<suffix>``.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.startswith("DSpace_DB_"):
        return None
    return check_handle(handle_from_uri(value) or value)


@dataclass(slots=True)
class _Sections:
    """The crosswalked content of one amdSec (or one object's amdSecs), by crosswalk."""

    tech: techmd.Tech | None = None
    premis: premis.PremisObject | None = None
    contexts: tuple[RightsContext, ...] | None = None
    ext: Extension | None = None
    groups: tuple[Group, ...] = ()
    people: tuple[EPerson, ...] = ()
    roles_seen: bool = False
    person_refs: tuple[tuple[str, str], ...] = ()
    member_refs: tuple[tuple[str, str, str], ...] = ()


@dataclass(slots=True)
class _Reader:
    man: Manifest
    config: IngestConfig
    path: str
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stream_refs: list[str] = field(default_factory=list)
    keyed: dict[str, Extension] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    registry: Registry | None = None
    virtual: VirtualConfig = field(default_factory=VirtualConfig)

    def load_extension(self) -> None:
        """Read the AIPSYNC-EXT sections of every amdSec that nothing refers to.

        Several such sections (not written by aipsync) are merged in document order; an ``ID``
        given facts twice, or two registries, is an error.  Sections of other types in
        unreferenced amdSecs are ignored, as DSpace ignores the whole amdSec.
        """
        referenced: set[str] = set()
        for el in self.man.root.iter(f"{{{C.NS_METS}}}*"):  # not attributes inside xmlData
            referenced.update((el.get("ADMID") or "").split())
        for amd in self.man.amd_secs:
            if amd.id in referenced or any(s.id in referenced for s in amd.sections):
                continue
            for sec in amd.sections:
                if sec.mdtype != C.MD_AIPSYNC or self.crosswalk(sec) != C.MD_AIPSYNC:
                    continue
                assert sec.content is not None
                pkg = extension.ingest_package(sec.content, self.warnings)
                for key, ext in pkg.facts:
                    if key in self.keyed:
                        raise CrosswalkError(f"AIPSYNC-EXT: two sets of facts for {key!r}")
                    self.keyed[key] = ext
                if pkg.registry is not None:
                    if self.registry is not None:
                        raise CrosswalkError("AIPSYNC-EXT: more than one registry")
                    self.registry = pkg.registry

    def read_target(self, admid: Sequence[str], own_id: str | None, kind: str) -> _Sections:
        """The sections of one object (``ADMID`` values and its own div/file ``ID``), with the
        keyed AIPSYNC-EXT facts, when there are any, in place of an in-amdSec section."""
        out = self.read(self.man.amd_sections(tuple(admid)), kind)
        for key in (*admid, *((own_id,) if own_id else ())):
            if key in self.keyed:
                out.ext = self.keyed[key]
                self.used.add(key)
                break
        return out

    def unused_facts(self) -> None:
        for key in self.keyed:
            if key not in self.used:
                self.warnings.append(Problem(
                    "AIP-W052", f"AIPSYNC-EXT has facts for {key!r}, which is not the amdSec, "
                    "div or file of any object in the package; ignored", path=self.path))

    def crosswalk(self, sec: MdSection) -> str | None:
        """The crosswalk name for a section; None when it is dropped (NIL) or ignored."""
        label = sec.mdtype or ""
        name = self.config.crosswalk_for(label)
        if name == C.XWALK_NIL:
            return None
        if name == C.XWALK_NULLSTREAM:
            # NullStreamIngestionCrosswalk still reads the stream: the entry must exist
            if sec.href is not None and "://" not in sec.href:
                if _unsafe(sec.href):
                    self.problems.append(Problem("AIP-E048", f"{sec.kind} {sec.id!r}: mdRef is "
                                                 "not a plain name in the package",
                                                 path=self.path, found=sec.href))
                else:
                    self.stream_refs.append(sec.href)
            return None
        if name not in INGEST_CROSSWALKS:
            raise CrosswalkError(f"Cannot process METS Manifest: No crosswalk found for "
                                 f"contents of {sec.kind} element, MDTYPE={label}")
        if sec.content is None:
            raise CrosswalkError(f"{sec.kind} {sec.id!r} ({label}): crosswalk {name} needs "
                                 "XML inside mdWrap/xmlData (mdRef and binData are not read)")
        return name

    def read(self, sections: Sequence[MdSection], kind: str) -> _Sections:
        """Crosswalk the sections of one target; ``kind`` as in ``_Subject.kind``."""
        out = _Sections()
        for sec in sections:
            name = self.crosswalk(sec)
            if name is None:
                continue
            content = sec.content
            assert content is not None
            if name == "AIP-TECHMD" and kind in (C.TYPE_SITE, C.TYPE_COMMUNITY, C.TYPE_COLLECTION,
                                                 C.TYPE_ITEM, C.TYPE_BITSTREAM):
                out.tech = techmd.ingest(content, self.warnings)
            elif name == "PREMIS" and kind == C.TYPE_BITSTREAM:
                out.premis = premis.ingest(content)
            elif name == "METSRIGHTS" and kind != C.TYPE_SITE:
                # METSRightsCrosswalk replaces every policy: the last section wins
                out.contexts = metsrights.ingest(content, self.warnings)
            elif name == "DSPACE-ROLES" and kind in (C.TYPE_SITE, C.TYPE_COMMUNITY,
                                                     C.TYPE_COLLECTION):
                groups, people = roles.ingest(content)
                out.groups += groups
                out.people += people
                out.roles_seen = True
                person_refs, member_refs = roles.references(content)
                out.person_refs += person_refs
                out.member_refs += member_refs
            elif name == C.MD_AIPSYNC:  # older aipsync: a bare aipsync:ext per amdSec
                out.ext = extension.ingest(content, self.warnings)
            else:  # CrosswalkObjectNotSupported: DSpace skips with a warning
                self.warnings.append(Problem(
                    "AIP-W047", f"Skipping metadata section {sec.kind} {sec.id!r}, type={name} "
                    f"inappropriate for this type of object ({kind})", path=self.path))
        return out

    def policies(self, got: _Sections, what: str) -> tuple[ResourcePolicy, ...]:
        """METSRights contexts, refined by AIPSYNC-EXT policy facts of the same index."""
        if got.contexts is None:
            return ()
        facts = got.ext.policies if got.ext is not None else None
        if facts is not None and len(facts) != len(got.contexts):
            self.warnings.append(Problem(
                "AIP-W048", f"{what}: AIPSYNC-EXT has {len(facts)} policy facts for "
                f"{len(got.contexts)} METSRights contexts; using METSRights alone",
                path=self.path))
            facts = None
        out: list[ResourcePolicy] = []
        for i, ctx in enumerate(got.contexts):
            if facts is not None:
                policy = ctx.policy(facts[i].action, description=facts[i].description,
                                    policy_type=facts[i].policy_type)
            else:
                policy = ctx.policy()
            if policy is None:
                self.warnings.append(Problem(
                    "AIP-W049", f"{what}: METSRights context {i} names no DSpace action or no "
                    "group/e-person; no policy restored", path=self.path))
            else:
                out.append(policy)
        return tuple(out)

    def descriptive(self, dmdids: Sequence[str], dmd: str | None, obj_type: str
                    ) -> tuple[MetadataValue, ...]:
        """The metadata of the chosen dmdSec (``crosswalkObjectDmd``)."""
        secs = [self.man.sections[i] for i in dmdids if i in self.man.sections]
        if not secs:
            raise CrosswalkError(_NO_DMD)
        chosen: MdSection | None = None
        for wanted in ([dmd] if dmd else []) + ["DIM", "MODS"]:
            for sec in secs:
                if (sec.mdtype or "").lower() == wanted.lower():
                    chosen = sec  # DSpace keeps the last match
            if chosen is not None:
                break
        sec = chosen or secs[0]
        name = self.crosswalk(sec)
        if name is None:
            return ()
        assert sec.content is not None
        if name == "DIM":
            if obj_type in (C.TYPE_COMMUNITY, C.TYPE_COLLECTION):
                return dim.ingest_container(sec.content, obj_type, self.warnings)
            return dim.ingest(sec.content)
        if name == "MODS":
            if obj_type in (C.TYPE_COMMUNITY, C.TYPE_COLLECTION):
                return mods.ingest_container(sec.content, obj_type, self.warnings)
            return mods.ingest(sec.content, self.warnings)
        raise CrosswalkError(f"dmdSec {sec.id!r}: crosswalk {name} does not give descriptive "
                             "metadata")

    def check_fixity(self, f: FileEntry, pm: premis.PremisObject | None, md5: str | None) -> None:
        """PREMIS size and MD5 must agree with the file element (``PREMISCrosswalk.ingest``)."""
        if pm is None:
            return
        where = f"file {f.id} (line {f.line})"
        if pm.size is not None and f.size is not None and pm.size != f.size:
            self.problems.append(Problem(
                "AIP-E046", f"Bitstream size ({f.size}) does not match size in PREMIS "
                f"({pm.size}), rejecting it.", path=where, expected=str(f.size),
                found=str(pm.size)))
        if pm.md5 is not None and md5 is not None and pm.md5.lower() != md5.lower():
            self.problems.append(Problem(
                "AIP-E046", "Bitstream MD5 Checksum does not match value in PREMIS", path=where,
                expected=md5, found=pm.md5))


def _md5(f: FileEntry) -> str | None:
    if f.checksum and (f.checksumtype or "").upper() == C.CHECKSUM_TYPE:
        return f.checksum
    return None


def _fallback_format(mimetype: str | None) -> BitstreamFormat:
    """A format known only by MIME type: empty short description means "look it up"."""
    return BitstreamFormat(short_description="", mimetype=mimetype or "application/octet-stream",
                           support_level=SupportLevel.UNKNOWN)


def _read_bitstream(r: _Reader, f: FileEntry) -> Bitstream:
    got = r.read_target(f.admid, f.id, C.TYPE_BITSTREAM)
    pm = got.premis
    tech = got.tech if isinstance(got.tech, techmd.BitstreamTech) else None
    seq = f.seq
    if seq is None:
        match = _BITSTREAM_ID.match(f.id)
        seq = int(match.group(1)) if match else 0
        r.warnings.append(Problem("AIP-W050", f"file {f.id} has no SEQ; using {seq}",
                                  path=r.path))
    md5 = _md5(f) or (pm.md5 if pm is not None else None)
    r.check_fixity(f, pm, md5)
    size = f.size if f.size is not None else (pm.size if pm is not None and pm.size else 0)
    # Name: AIP-TECHMD when present (its title is the name; no title means no name), else
    # PREMIS originalName, else the FLocat address (AbstractMETSIngester's first guess).
    if tech is not None:
        name = tech.name
    elif pm is not None and pm.original_name is not None:
        name = pm.original_name
    else:
        name = f.href
    ext = got.ext
    fmt = (ext.format if ext is not None and ext.format is not None
           else tech.format if tech is not None and tech.format is not None
           else _fallback_format(f.mimetype or (pm.mimetype if pm is not None else None)))
    return Bitstream(
        sequence_id=seq, name=name, size=size, md5=md5, format=fmt,
        source=tech.source if tech is not None else None,
        description=tech.description if tech is not None else None,
        user_format_description=tech.user_format_description if tech is not None else None,
        sha256=ext.sha256 if ext is not None else None,
        policies=r.policies(got, f"file {f.id}"), key=f.href)


def _unsafe(href: str) -> bool:
    """A reference that could leave the package folder (absolute, ``..``, backslash)."""
    if "://" in href:  # an absolute URL (manifest-only): the caller must refuse to fetch it
        return False
    return (href.startswith("/") or "\\" in href or ".." in href.split("/")
            or re.match(r"^[A-Za-z]:", href) is not None)


def _file_problems(r: _Reader, f: FileEntry) -> None:
    if f.href is None:
        r.problems.append(Problem("AIP-E043", f"file {f.id} has no FLocat/@xlink:href",
                                  path=f"line {f.line}"))
    elif _unsafe(f.href):
        r.problems.append(Problem("AIP-E048", f"file {f.id}: FLocat is not a plain name in "
                                  "the package", path=f"line {f.line}", found=f.href))
    elif (f.loctype or "") != C.LOCTYPE_URL:
        r.problems.append(Problem("AIP-E043", f"file {f.id}: FLocat LOCTYPE must be URL",
                                  path=f"line {f.line}", expected=C.LOCTYPE_URL,
                                  found=f.loctype))


def _lastmod(r: _Reader) -> dt.datetime:
    text = r.man.lastmoddate
    if text is None:
        r.warnings.append(Problem("AIP-W051", "item manifest has no metsHdr/@LASTMODDATE; "
                                  "using 1970-01-01T00:00:00Z", path=r.path))
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        r.problems.append(Problem("AIP-E045", "metsHdr/@LASTMODDATE is not a date-time",
                                  path=r.path, expected="yyyy-MM-ddTHH:mm:ss", found=text))
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    # aipsync writes UTC without a zone; a zone, when given, is honoured
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _children(r: _Reader, main: Div) -> ChildList:
    """URL ``mptr``s of the main div's child divs, in order (``getChildMetsFilePaths``)."""
    own = posixpath.basename(r.path.replace("\\", "/")) if r.path else ""
    out = ChildList()
    for div in main.divs:
        url = next((p.href for p in div.mptrs if p.loctype == C.LOCTYPE_URL and p.href), None)
        if url is None:
            continue
        if own and url == own:
            raise ChildPointerError(path=r.path, href=url)
        if _unsafe(url) or "://" in url:
            r.problems.append(Problem("AIP-E048", "child pointer is not a relative package "
                                      "file name", path=f"div {div.id}", found=url))
            continue
        handle = _handle(next((p.href for p in div.mptrs if p.loctype == C.LOCTYPE_HANDLE),
                              None))
        out.append(ChildPointer(type=_strip_type(div.type) or "", handle=handle, href=url))
    return out


def _parent(man: Manifest) -> str | None:
    """The Parent structMap's first div's first mptr (``getParentOwnerLink``)."""
    for sm in man.struct_maps:
        if (sm.label or "").lower() == C.STRUCTMAP_PARENT_LABEL.lower():
            if sm.divs and sm.divs[0].mptrs:
                return _handle(sm.divs[0].mptrs[0].href)
            return None
    return None


def _check_profile(root: Element, path: str) -> None:
    profile = root.get("PROFILE")
    if profile is None:
        raise ProfileError(path=path, detail="Cannot accept METS with no PROFILE attribute!")
    if profile != C.AIP_PROFILE:
        raise ProfileError(path=path,
                           detail=f"METS has unacceptable PROFILE attribute, profile={profile}")


_DEFAULT_INGEST = IngestConfig()


def parse_package(manifest: bytes, *, config: IngestConfig = _DEFAULT_INGEST,
                  dmd: str | None = None, path: str = "",
                  virtual: VirtualConfig | None = None) -> ParsedPackage:
    """Read a DSpace METS AIP manifest into model values.

    Args:
        manifest: the ``mets.xml`` bytes (untrusted).
        config: ingest crosswalk mapping (``NIL``/``NULLSTREAM``...).
        dmd: the dmdSec type to crosswalk (``-o dmd=MODS``); default DIM, else MODS, else the
            first.
        path: the package's own file name (for messages and the child-pointer loop check).
        virtual: the virtual-metadata configuration that says which fields share places with
            relationships, for a DIM holding DSpace's ``virtual::`` values (default: none).

    Raises:
        ManifestParseError: not well-formed or hostile XML (``aip.mets.parse.parse_bytes``).
        ProfileError: PROFILE missing or not the AIP profile.
        PackageValidationError: structural problems, PREMIS disagreeing with a file...
        HandleFormatError: a handle that is not ``<prefix>/<suffix>``.
        ChildPointerError: a child pointer naming the package itself.
        CrosswalkError: a section no crosswalk can read.

    Every error names ``path`` (when given), whichever layer raised it (``AipError.within``).
    """
    try:
        return _parse_package(manifest, config=config, dmd=dmd, path=path,
                              virtual=virtual or VirtualConfig())
    except AipError as exc:
        exc.within(path)
        raise


def _parse_package(manifest: bytes, *, config: IngestConfig, dmd: str | None,
                   path: str, virtual: VirtualConfig) -> ParsedPackage:
    lifted = None
    if len(manifest) > LIFT_ABOVE:
        root, lifted = parse_bytes_lifted(manifest, path=path)
    else:
        root = parse_bytes(manifest, path=path)
    _check_profile(root, path)
    man = parse_manifest(root, path=path, lifted=lifted)
    del lifted
    r = _Reader(man=man, config=config, path=path, virtual=virtual)
    r.load_extension()
    obj_type = _strip_type(man.type)
    if obj_type not in C.PACKAGE_TYPES:
        raise PackageValidationError([Problem("AIP-E047", "mets/@TYPE is not a DSpace object "
                                              "type", path=path, expected="DSpace ITEM|…",
                                              found=man.type)], path=path)
    if not man.struct_maps or not man.struct_maps[0].divs:
        raise PackageValidationError([Problem("AIP-E043", "no structMap with a div (the "
                                              "object's contents)", path=path)], path=path)
    handle = _handle(man.objid)
    parent = _parent(man)
    main = man.struct_maps[0].divs[0]
    children = _children(r, main)
    obj = r.read_target(main.admid, main.id, obj_type)
    rights_present = obj.contexts is not None
    site = community = collection = item = None
    files: list[FileRef] = []
    claims: tuple[RelationshipClaim, ...] = ()
    places_known = False
    if obj_type == C.TYPE_ITEM:
        item, files, claims, places_known = _read_item(r, main, handle, parent, obj, dmd)
    elif obj_type == C.TYPE_COLLECTION:
        collection, files = _read_collection(r, main, handle, parent, obj, dmd, children)
    elif obj_type == C.TYPE_COMMUNITY:
        community, files = _read_community(r, main, handle, parent, obj, dmd, children)
    else:
        site = _read_site(r, main, handle, obj, dmd, children)
    listed = {f.entry for f in files}
    for href in r.stream_refs:
        if href not in listed:
            files.append(FileRef(entry=href, bundle="", size=None, md5=None, sequence_id=None))
            listed.add(href)
    if r.problems:
        raise PackageValidationError(r.problems, path=path)
    r.unused_facts()
    return ParsedPackage(type=obj_type, handle=handle, parent=parent, children=children,
                         site=site, community=community, collection=collection, item=item,
                         groups=obj.groups, people=obj.people, files=tuple(files),
                         rights_present=rights_present, warnings=tuple(r.warnings),
                         registry=r.registry, claims=claims, places_known=places_known,
                         person_refs=obj.person_refs,
                         member_refs=obj.member_refs,
                         creator=_creator(man))


def _creator(man: Manifest) -> str | None:
    """The name of the ``metsHdr`` CREATOR agent: which software wrote the package."""
    return next((a.name.strip() for a in man.agents if a.role == "CREATOR" and a.name), None)


def object_uuid(mets_id: str | None) -> str | None:
    """The UUID in a DSpace 7.1+ ``mets/@ID`` (the text after the last ``DB-ID-``, when it
    parses as a UUID: ``AbstractMETSIngester.getObjectID``), lower-case; else ``None``."""
    if not mets_id or C.METS_ID_DBID_MARKER not in mets_id:
        return None
    text = mets_id[mets_id.rindex(C.METS_ID_DBID_MARKER) + len(C.METS_ID_DBID_MARKER):]
    try:
        return str(uuid_module.UUID(text.strip()))
    except ValueError:
        return None


def _uuid_of(pointer_href: str | None) -> str | None:
    """The UUID of a ``urn:uuid:`` address (or of a bare UUID), else ``None``."""
    if not pointer_href:
        return None
    text = pointer_href.strip()
    if text.lower().startswith(C.URN_UUID_PREFIX):
        text = text[len(C.URN_UUID_PREFIX):]
    try:
        return str(uuid_module.UUID(text))
    except ValueError:
        return None


def _rels_divs(r: _Reader) -> list[tuple[str, Div]]:
    """(name, div) of every ``rels_<name>`` div of the ``rels`` structMap (DSpace PR #3328
    writes them directly in the structMap, aipsync in one wrapping div; PR #10610 calls the
    structMap ``RELS``)."""
    out: list[tuple[str, Div]] = []

    def walk(div: Div) -> None:
        ident = div.id or ""
        if ident.lower().startswith(C.RELS_DIV_PREFIX):
            out.append((ident[len(C.RELS_DIV_PREFIX):], div))
            return
        for kid in div.divs:
            walk(kid)

    for sm in r.man.struct_maps:
        if (sm.id or "").lower() == C.STRUCTMAP_RELS_ID:
            for div in sm.divs:
                walk(div)
    return out


def _rels_claims(r: _Reader) -> list[RelationshipClaim]:
    """The relationships a ``rels`` structMap names (name, other item, place, ``LABEL``)."""
    claims: list[RelationshipClaim] = []
    for name, div in _rels_divs(r):
        if not name:
            r.problems.append(Problem("AIP-E049", "rels div names no relationship",
                                      path=f"div {div.id}", expected="rels_<name>"))
            continue
        for member in div.divs:
            handle = next((p.href for p in member.mptrs if p.loctype == C.LOCTYPE_HANDLE
                           and p.href), None)
            uuid = next((u for p in member.mptrs if (u := _uuid_of(
                p.href if p.loctype == C.LOCTYPE_URN else p.otherloctype
                if p.loctype == "OTHER" else None))), None)
            if handle is None and uuid is None:
                r.problems.append(Problem("AIP-E049", f"rels div for {name!r} names no item "
                                          "(no HANDLE or URN mptr)", path=f"div {div.id}"))
                continue
            place: int | None = None
            if member.order is not None:
                try:
                    place = int(member.order)
                except ValueError:
                    r.problems.append(Problem("AIP-E045", f"rels div for {name!r}: ORDER is "
                                              "not a number", found=member.order))
                    continue
            claims.append(RelationshipClaim(
                name=name, other_handle=_handle(handle) if handle else None, other_uuid=uuid,
                own_place=place, label=member.label))
    return claims


def _read_claims(r: _Reader, handle: str | None, ext: Extension | None,
                 hints: Sequence[Hint]) -> tuple[RelationshipClaim, ...]:
    """An item's relationships as its package states them, best source first: aipsync's
    extension (everything; plus the pending ones), else the ``rels`` structMap, else the
    ``relation.<name>`` virtual values of its DIM (DSpace 7+'s AIPs)."""
    if ext is not None and (ext.relationships or ext.pending):
        own = handle or ""
        return tuple(claim_of(rel, own) for rel in ext.relationships) + ext.pending
    claims = _rels_claims(r)
    named = {(c.name, c.other_uuid) for c in claims}
    for hint in hints:
        if (hint.name, hint.uuid) not in named and hint.uuid:
            claims.append(RelationshipClaim(
                name=hint.name, other_handle=None, other_uuid=_uuid_of(hint.uuid),
                own_place=hint.place, source_id=hint.relationship_id or None,
                shown=hint.shown))
    return tuple(claims)


def _read_item(r: _Reader, main: Div, handle: str | None, parent: str | None, obj: _Sections,
               dmd: str | None
               ) -> tuple[Item, list[FileRef], tuple[RelationshipClaim, ...], bool]:
    metadata = r.descriptive(main.dmdid, dmd, C.TYPE_ITEM)
    if _creator(r.man) != C.CREATOR_NAME:
        # DSpace writes an authority of " " that is none (PR #12343, in 7.6.7, 8.4, 9.3,
        # 10.0; 10.0 before it refused such a value as "not authority controlled")
        metadata = tuple(replace(v, authority=None) if v.authority is not None
                         and not v.authority.strip() else v for v in metadata)
    places: tuple[tuple[str, tuple[int, ...]], ...] = ()
    hints: tuple[Hint, ...] = ()
    split_done = False
    if any(relationship_id(v.authority) is not None for v in metadata):
        split_done = True
        # DSpace 7+ (or virtual_metadata): virtual values are recognised, never stored
        parts = split(metadata, r.virtual)
        metadata, places, hints = parts.stored, parts.places, parts.hints
    tech = obj.tech if isinstance(obj.tech, techmd.ItemTech) else techmd.ItemTech()
    primary = main.fptrs[0] if main.fptrs else None
    bundles: list[Bundle] = []
    files: list[FileRef] = []
    for grp in r.man.file_groups:
        name = C.FILEGRP_ALIASES.get(grp.use or "", grp.use or "")
        bitstreams = []
        primary_seq: int | None = None
        for f in grp.files:
            _file_problems(r, f)
            bs = _read_bitstream(r, f)
            bitstreams.append(bs)
            if f.id == primary:
                primary_seq = bs.sequence_id
            files.append(FileRef(entry=f.href or "", bundle=name, size=f.size, md5=_md5(f),
                                 sequence_id=bs.sequence_id))
        got = r.read_target(grp.admid, grp.id, "BUNDLE")
        bundles.append(Bundle(name=name, bitstreams=tuple(bitstreams),
                              primary_sequence_id=primary_seq,
                              policies=r.policies(got, f"bundle {name}")))
    ext = obj.ext
    claims = _read_claims(r, handle, ext, hints)
    item = Item(
        handle=handle or "", owning_collection=tech.owning_collection or parent or "",
        last_modified=_lastmod(r), metadata=metadata, bundles=tuple(bundles),
        policies=r.policies(obj, "item"), mapped_collections=tech.mapped_collections,
        submitter=tech.submitter, in_archive=not tech.withdrawn, withdrawn=tech.withdrawn,
        discoverable=ext.discoverable if ext is not None and ext.discoverable is not None
        else True, uuid=object_uuid(r.man.id),
        places=ext.places if ext is not None and ext.places else places,
        relationships=ext.relationships if ext is not None else (),
        pending=ext.pending if ext is not None else ())
    return item, files, claims, split_done or ext is not None


def _logo(r: _Reader, main: Div, ext: Extension | None) -> tuple[Bitstream | None, list[FileRef]]:
    """The logo: the main div's first fptr -> file -> entry (``getPrimaryOrLogoBitstream``)."""
    if not main.fptrs:
        return None, []
    f = r.man.files.get(main.fptrs[0])
    if f is None:
        return None, []
    _file_problems(r, f)
    facts = ext.logo if ext is not None else None
    logo = Bitstream(
        sequence_id=-1, name=facts.name if facts is not None else None, size=f.size or 0,
        md5=_md5(f), format=(facts.format if facts is not None and facts.format is not None
                             else _fallback_format(f.mimetype)),
        sha256=facts.sha256 if facts is not None else None, key=f.href)
    return logo, [FileRef(entry=f.href or "", bundle=C.FILEGRP_LOGO, size=f.size, md5=_md5(f),
                          sequence_id=None)]


def _tech_parents(obj: _Sections) -> tuple[str, ...]:
    return obj.tech.parents if isinstance(obj.tech, techmd.ContainerTech) else ()


def _roles(groups: Sequence[Group]) -> tuple[tuple[str, str], ...]:
    return tuple((g.role, g.name) for g in groups if g.role)


def _handles(children: ChildList, child_type: str) -> tuple[str, ...]:
    return tuple(children.handles(child_type))


def _read_collection(r: _Reader, main: Div, handle: str | None, parent: str | None,
                     obj: _Sections, dmd: str | None, children: ChildList
                     ) -> tuple[Collection, list[FileRef]]:
    metadata = r.descriptive(main.dmdid, dmd, C.TYPE_COLLECTION)
    template: tuple[MetadataValue, ...] | None = None
    for div in main.divs:
        if div.type == C.DIV_ITEM_TEMPLATE and div.dmdid:
            template = r.descriptive(div.dmdid, dmd, C.TYPE_ITEM)
            break
    logo, files = _logo(r, main, obj.ext)
    parents = _tech_parents(obj) or ((parent,) if parent else ())
    ext = obj.ext
    collection = Collection(
        handle=handle or "", parents=parents, metadata=metadata, logo=logo, template=template,
        roles=_roles(obj.groups), harvest=ext.harvest if ext is not None else None,
        policies=r.policies(obj, "collection"), items=children.handles(C.TYPE_ITEM),
        entity_type=ext.entity_type if ext is not None else None)
    return collection, files


def _site_handle(man: Manifest) -> str | None:
    for agent in man.agents:
        if agent.role == "CUSTODIAN" and agent.name:
            return agent.name.strip()
    return None


def _read_community(r: _Reader, main: Div, handle: str | None, parent: str | None,
                    obj: _Sections, dmd: str | None, children: ChildList
                    ) -> tuple[Community, list[FileRef]]:
    metadata = r.descriptive(main.dmdid, dmd, C.TYPE_COMMUNITY)
    logo, files = _logo(r, main, obj.ext)
    parents = _tech_parents(obj)
    owner = parents[0] if parents else parent
    site = _site_handle(r.man)
    if owner is not None and (owner == site or (site is None and owner.endswith("/0"))):
        owner = None  # a top-level community: its parent is the site
    community = Community(
        handle=handle or "", parent=owner, metadata=metadata, logo=logo,
        roles=_roles(obj.groups), policies=r.policies(obj, "community"),
        subcommunities=_handles(children, C.TYPE_COMMUNITY),
        collections=_handles(children, C.TYPE_COLLECTION))
    return community, files


def _read_site(r: _Reader, main: Div, handle: str | None, obj: _Sections, dmd: str | None,
               children: ChildList) -> Site:
    values = r.descriptive(main.dmdid, dmd, C.TYPE_SITE)
    name = next((v.value for v in values if (v.element, v.qualifier) == ("title", None)), "")
    url = next((v.value for v in values if (v.element, v.qualifier) == ("identifier", "uri")
                and handle_from_uri(v.value) is None), None)
    if isinstance(obj.tech, techmd.ContainerTech) and obj.tech.url:
        url = obj.tech.url
    return Site(handle=handle or "", name=name, url=url or "",
                communities=_handles(children, C.TYPE_COMMUNITY))


__all__ = ["BuildContext", "BuiltPackage", "ChildHandles", "ChildList", "ChildPointer",
           "FileRef", "PackageEntry", "ParsedPackage", "Registry", "bitstream_entry_name",
           "build_collection_package",
           "build_community_package", "build_item_package", "build_site_package",
           "lastmoddate", "logo_entry_name", "mets_id", "object_uuid", "parse_package",
           "rels_struct_map"]
