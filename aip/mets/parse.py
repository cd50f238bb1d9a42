"""Hardened parsing of untrusted METS bytes, and METS structure -> a ``Manifest`` value.

Owns: the one XML parser configuration for package manifests (no DTD, no entity expansion,
no network, no huge trees), the limits on hostile input, translating lxml's errors into
``ManifestParseError`` (docs/style.md D4), and reading the generic METS structure: header, metadata
sections by ID (with their effective MDTYPE, their ``xmlData`` element, ``binData`` bytes or
``mdRef`` address), file groups and files with their ``FLocat``, structMaps with divs, ``fptr``
and ``mptr``; a manifest over ``LIFT_ABOVE`` bytes (a collection's, listing every item) is
parsed with its pointer-only divs lifted out of the tree as they end (``parse_bytes_lifted``),
the same value or error as the whole-tree parse.  Knows nothing of DSpace AIPs
(``aip.packager.manifest`` interprets the structure), must not import ``aip.crosswalks``, and
does no I/O (lifted divs past a few thousand wait in ``aip.spill``'s scratch file).

What is refused, and how:

* ``ManifestParseError``: more than ``MAX_MANIFEST_BYTES``; not well-formed; any DOCTYPE
  (internal subsets carry entity declarations: billion laughs, external entities/XXE); an
  entity reference; an attribute value longer than ``MAX_ATTRIBUTE_CHARS``; a root that is
  not ``{http://www.loc.gov/METS/}mets`` ("wrong namespace").
* ``PackageValidationError`` (all problems at once, docs/style.md E3): duplicate IDs (``AIP-E040``),
  ``DMDID``/``ADMID``/``FILEID`` pointing nowhere (``AIP-E041``) or at the wrong kind of element
  (``AIP-E042``), a metadata section with neither ``mdWrap`` nor ``mdRef`` (``AIP-E043``), a
  number attribute that is not a number (``AIP-E045``), a ``binData`` that is not base64.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
from array import array
from collections import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from aip import constants as C
from aip.errors import ManifestParseError, PackageValidationError, Problem
from aip.lazy import LazyCollection
from aip.mets.validate import structural_problems
from aip.spill import KEEP, SpillList

Element = etree._Element

_METS_ROOT = f"{{{C.NS_METS}}}mets"
_NO_DOCTYPE = ("a DOCTYPE/DTD is not allowed in a METS manifest (entity declarations, external "
               "entities)")
#: A DOCTYPE in the prolog of an ASCII-compatible document: anything but an element start
#: before it (the XML declaration, comments, processing instructions, whitespace, a BOM).
_PROLOG_DOCTYPE = re.compile(rb"^(?:\xef\xbb\xbf)?[^<]*(?:<[?!][^<]*)*?<!DOCTYPE", re.DOTALL)
#: How far the scan looks (a prolog is a few hundred bytes; past this, parsing decides).
_PROLOG_SCAN = 64 * 1024
#: The first system literal after it (``SYSTEM "x"``, ``PUBLIC "id" "x"``, ``<!ENTITY ... "x">``).
_SYSTEM_ID = re.compile(rb"(?:SYSTEM|PUBLIC\s+(?:\"[^\"]*\"|'[^']*'))\s+(?:\"([^\"]*)\"|'([^']*)')")
_XLINK_HREF = f"{{{C.NS_XLINK}}}href"
#: Every attribute value longer than the limit, in document order.
_LONG_ATTRIBUTES = etree.XPath(f"//@*[string-length(.) > {C.MAX_ATTRIBUTE_CHARS}]",
                               smart_strings=True)
_AMD_KINDS = ("techMD", "rightsMD", "sourceMD", "digiprovMD")


class _DenyResolver(etree.Resolver):
    """Refuses every external resource (belt and braces: nothing is loaded anyway)."""

    def resolve(self, system_url: str | None, public_id: str | None,  # type: ignore[override]
                context: object) -> Any:
        raise ManifestParseError(detail=f"external resource {system_url!r} refused")


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's manifest parser (an lxml parser keeps per-document state and must not be
    shared between threads; one document at a time may reuse it, which spares building one
    per manifest)."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 dtd_validation=False, huge_tree=False, remove_comments=False,
                                 remove_pis=False, collect_ids=False)
        parser.resolvers.add(_DenyResolver())
        _PARSERS.parser = parser
    return parser


def parse_bytes(data: bytes, *, path: str = "") -> Element:
    """Parse untrusted manifest bytes into the ``mets`` root element.

    Raises:
        ManifestParseError: too large, not well-formed, DTD/entities, over-long attribute,
            wrong root element (see the module docstring).
    """
    _refuse_prolog(data, path)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        raise ManifestParseError(path=path, detail=str(exc)) from exc
    except ManifestParseError as exc:
        raise ManifestParseError(path=path, detail=exc.fields.get("detail", str(exc))) from exc
    return _checked_root(tree, path, size=len(data))


def _refuse_prolog(data: bytes, path: str) -> None:
    """Too large, or a DOCTYPE in the prolog: refused before libxml2 reads anything."""
    if len(data) > C.MAX_MANIFEST_BYTES:
        raise ManifestParseError(path=path, detail=f"manifest is {len(data)} bytes, more than "
                                 f"the limit of {C.MAX_MANIFEST_BYTES}")
    found = _PROLOG_DOCTYPE.match(data, 0, _PROLOG_SCAN)
    if found:
        # Refused before libxml2 reads the internal subset at all (entity declarations,
        # parameter entities); the check after parsing catches what this cheap scan cannot
        # see (another encoding, a DOCTYPE after a comment holding "<x").  An address the
        # declaration names is reported, to show it was refused, never fetched.
        system = _SYSTEM_ID.search(data, found.end(), found.end() + 4096)
        detail = _NO_DOCTYPE if system is None else (
            f"{_NO_DOCTYPE}; external resource "
            f"{(system.group(1) or system.group(2)).decode('utf-8', 'backslashreplace')!r}"
            " refused")
        raise ManifestParseError(path=path, detail=detail)


def _checked_root(tree: etree._ElementTree, path: str, *, size: int) -> Element:
    """The parsed document's root, once nothing in it is refused (see the module docstring);
    ``size``: the document's length in bytes (no attribute of a document shorter than the
    limit can be over it: a character takes at least one byte)."""
    docinfo = tree.docinfo
    doctype: str = getattr(docinfo, "doctype", "")  # missing from lxml-stubs
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ManifestParseError(path=path, detail=_NO_DOCTYPE)
    root = tree.getroot()
    # Both searches run inside libxml2 (a Python loop over every element and attribute was a
    # third of a manifest's parse).
    for entity in root.iter(etree.Entity):
        raise ManifestParseError(path=path, detail=f"entity reference {entity.text!r} "
                                 f"(line {entity.sourceline}) is not allowed")
    for value in _LONG_ATTRIBUTES(root) if size > C.MAX_ATTRIBUTE_CHARS else ():
        owner = value.getparent()
        raise ManifestParseError(path=path, detail=f"attribute {value.attrname!r} on line "
                                 f"{owner.sourceline if owner is not None else None} is "
                                 f"{len(value)} characters long "
                                 f"(limit {C.MAX_ATTRIBUTE_CHARS})")
    if root.tag != _METS_ROOT:
        raise ManifestParseError(path=path, detail=f"root element is {root.tag!r}, not "
                                 f"{_METS_ROOT!r} (wrong namespace or not METS)")
    return root


def _check_attributes(el: Element, path: str) -> None:
    for key, value in el.attrib.items():
        if len(value) > C.MAX_ATTRIBUTE_CHARS:
            raise ManifestParseError(path=path, detail=f"attribute {key!r} on line "
                                     f"{el.sourceline} is {len(value)} characters long "
                                     f"(limit {C.MAX_ATTRIBUTE_CHARS})")


# ---------------------------------------------------------------------------------------------
# Large manifests: the pointer divs lifted out while parsing
# ---------------------------------------------------------------------------------------------
#: Manifests larger than this are parsed by ``parse_bytes_lifted``: a collection's manifest
#: lists every item in a div of its own (25,000 items: 6 MB of XML, some 80 MB as a libxml2
#: tree), and only those divs are worth the streaming parse.
LIFT_ABOVE = 512 * 1024

_STRUCT_MAP = f"{{{C.NS_METS}}}structMap"
_DIV = f"{{{C.NS_METS}}}div"
_MPTR = f"{{{C.NS_METS}}}mptr"
#: A div with only these attributes may be lifted (none is an IDREF, so the structural check
#: needs only its ID); ``_Reader.div`` reads the same ones.
_LIFTABLE_DIV_ATTRS = frozenset({"ID", "TYPE", "LABEL", "ORDER"})


#: Lifted divs kept in memory before they go, that many at a time, to ``Lifted``'s temp file.
LIFTED_KEEP = KEEP


#: A lifted div as kept: (ID, TYPE, LABEL, ORDER, its pointers' (ID, LOCTYPE, href,
#: OTHERLOCTYPE)); plain tuples pickle several times faster than the dataclasses.
_Row = tuple[str | None, str | None, str | None, str | None,
             tuple[tuple[str | None, str | None, str | None, str | None], ...]]


class LiftedDivs(LazyCollection["Div"]):
    """Lifted divs, kept as rows in a ``SpillList`` (past ``LIFTED_KEEP`` in its temp file:
    a collection of 300,000 items lifts 300,000 divs, some 600 bytes each as objects); each
    ``Div`` made as it is read."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: SpillList[_Row] = SpillList(keep=LIFTED_KEEP)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Div]:
        for ident, type_, label, order, mptrs in self._rows:
            yield Div(id=ident, type=type_, label=label, order=order,
                      mptrs=tuple(Pointer(id=p, loctype=lt, href=h, otherloctype=o)
                                  for p, lt, h, o in mptrs))

    def ids(self) -> Iterator[tuple[str, str]]:
        """(ID, element kind) of each element with an ID, in document order."""
        for ident, _, _, _, mptrs in self._rows:
            if ident is not None:
                yield ident, "div"
            for ptr_id, _, _, _ in mptrs:
                if ptr_id is not None:
                    yield ptr_id, "mptr"

    def append(self, row: _Row) -> None:
        self._rows.append(row)


class Lifted:
    """The child divs of the main div (the first structMap's first div) that hold nothing
    but ``mptr`` elements, taken out of the tree as the parse passed them.

    ``divs`` (with ``places``: each one's place among the main div's child divs) are the
    divs read.  ``ids`` gives (ID, element kind, line) of every lifted element with an ID,
    in document order, for the structural check (``structural_problems``'s ``extra_ids``):
    the IDs read back from the divs, only their lines kept apart.
    """

    __slots__ = ("_id_lines", "divs", "places")

    def __init__(self) -> None:
        self.divs = LiftedDivs()
        self.places = array("q")
        self._id_lines = array("q")

    @property
    def ids(self) -> Iterator[tuple[str, str, int]]:
        """(ID, element kind, line) of each lifted element with an ID, in document order."""
        for (ident, kind), line in zip(self.divs.ids(), self._id_lines, strict=True):
            yield ident, kind, line

    def add(self, row: _Row, place: int, lines: Iterable[int]) -> None:
        """Keep the div ``row``, the main div's child number ``place``; ``lines``: the line
        of each of its elements with an ID (the div's, then its pointers'), in that order."""
        self.divs.append(row)
        self.places.append(place)
        self._id_lines.extend(lines)


def parse_bytes_lifted(data: bytes, *, path: str = "") -> tuple[Element, Lifted]:
    """``parse_bytes`` for a large manifest: the same refusals and errors, but the main div's
    pointer-only child divs are read into ``Div`` values and dropped from the tree as soon
    as each ends, so the tree never holds them (``parse_manifest(root, lifted=...)`` puts
    them back in their places).  A div with anything else in it (metadata references, files,
    text, comments, nested divs) stays in the tree."""
    _refuse_prolog(data, path)
    lifted = Lifted()
    events = etree.iterparse(
        io.BytesIO(data), events=("start", "end"), tag=(_STRUCT_MAP, _DIV),
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False, remove_pis=False, collect_ids=False)
    events.resolvers.add(_DenyResolver())
    first_map: Element | None = None
    main: Element | None = None
    main_done = False
    place = 0
    try:
        for event, el in events:
            if event == "start":
                if el.tag == _STRUCT_MAP:
                    if first_map is None:
                        first_map = el
                elif main is None and not main_done and first_map is not None \
                        and el.getparent() is first_map:
                    main = el
                continue
            if el is main:
                main, main_done = None, True
            elif main is not None and el.tag == _DIV and el.getparent() is main:
                if _lift(el, path, lifted, place):
                    main.remove(el)
                place += 1
            elif el is first_map:
                main_done = True
        tree = etree.ElementTree(events.root)
    except etree.XMLSyntaxError:
        # The streaming parser words some errors worse ("no element found"): the whole-tree
        # parse says what is wrong, as it does for a small manifest.
        return parse_bytes(data, path=path), Lifted()
    except ManifestParseError as exc:
        raise ManifestParseError(path=path, detail=exc.fields.get("detail", str(exc))) from exc
    return _checked_root(tree, path, size=len(data)), lifted


def _lift(el: Element, path: str, lifted: Lifted, place: int) -> bool:
    """Keep the pointer-only div ``el`` in ``lifted`` (True), or leave it (False: it stays)."""
    if not _LIFTABLE_DIV_ATTRS.issuperset(el.attrib) or (el.text or "").strip():
        return False
    pointers = []
    for ptr in el:
        if ptr.tag != _MPTR or len(ptr) or (ptr.text or "").strip() \
                or (ptr.tail or "").strip():
            return False
        pointers.append(ptr)
    _check_attributes(el, path)
    line = _line(el) or 0
    ident = el.get("ID")
    lines = [line] if ident is not None else []
    mptrs = []
    for ptr in pointers:
        _check_attributes(ptr, path)
        ptr_id = ptr.get("ID")
        if ptr_id is not None:
            lines.append(_line(ptr) or line)
        mptrs.append((ptr_id, ptr.get("LOCTYPE"), ptr.get(_XLINK_HREF), ptr.get("OTHERLOCTYPE")))
    lifted.add((ident, el.get("TYPE"), el.get("LABEL"), el.get("ORDER"), tuple(mptrs)), place,
               lines)
    return True


# ---------------------------------------------------------------------------------------------
# The structure
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MdSection:
    """One metadata section (``dmdSec``, ``techMD``, ``rightsMD``, ``sourceMD``, ``digiprovMD``).

    ``mdtype`` is the effective type label: ``OTHERMDTYPE`` when ``MDTYPE="OTHER"``, else
    ``MDTYPE`` (DSpace ``METSManifest.getMdType``); ``raw_mdtype``/``othermdtype`` are the
    attributes as written.  Exactly one of ``content`` (the first element inside
    ``mdWrap/xmlData``), ``binary`` (decoded ``mdWrap/binData``) and ``href``
    (``mdRef/@xlink:href``) is usually set.
    """

    id: str
    kind: str
    mdtype: str | None
    raw_mdtype: str | None = None
    othermdtype: str | None = None
    mimetype: str | None = None
    content: Element | None = None
    binary: bytes | None = None
    href: str | None = None
    loctype: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class AmdSec:
    id: str
    sections: tuple[MdSection, ...] = ()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A ``file`` with its ``FLocat`` and the ``USE`` of its ``fileGrp``."""

    id: str
    use: str | None
    mimetype: str | None = None
    seq: int | None = None
    size: int | None = None
    checksum: str | None = None
    checksumtype: str | None = None
    admid: tuple[str, ...] = ()
    groupid: str | None = None
    href: str | None = None
    loctype: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class FileGroup:
    id: str | None
    use: str | None
    admid: tuple[str, ...] = ()
    files: tuple[FileEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Pointer:
    """An ``mptr``: ``loctype`` ``HANDLE``, ``URL``, ``URN`` or ``OTHER`` (then
    ``otherloctype``)."""

    id: str | None
    loctype: str | None
    href: str | None
    otherloctype: str | None = None


@dataclass(frozen=True, slots=True)
class Div:
    id: str | None
    type: str | None = None
    label: str | None = None
    order: str | None = None
    dmdid: tuple[str, ...] = ()
    admid: tuple[str, ...] = ()
    fptrs: tuple[str, ...] = ()
    mptrs: tuple[Pointer, ...] = ()
    #: a tuple, but for a main div whose child divs were lifted (``_PutBack``)
    divs: abc.Collection[Div] = ()


@dataclass(frozen=True, slots=True)
class StructMap:
    id: str | None
    label: str | None
    type: str | None
    divs: tuple[Div, ...] = ()


@dataclass(frozen=True, slots=True)
class Agent:
    role: str | None
    type: str | None
    othertype: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Manifest:
    """The generic METS structure of one manifest (no DSpace interpretation)."""

    root: Element
    id: str | None
    objid: str | None
    type: str | None
    profile: str | None
    label: str | None = None
    createdate: str | None = None
    lastmoddate: str | None = None
    agents: tuple[Agent, ...] = ()
    dmd_secs: tuple[MdSection, ...] = ()
    amd_secs: tuple[AmdSec, ...] = ()
    file_groups: tuple[FileGroup, ...] = ()
    struct_maps: tuple[StructMap, ...] = ()
    sections: Mapping[str, MdSection] = field(default_factory=dict)
    amds: Mapping[str, AmdSec] = field(default_factory=dict)
    files: Mapping[str, FileEntry] = field(default_factory=dict)

    def amd_sections(self, ids: tuple[str, ...], kind: str | None = None
                     ) -> tuple[MdSection, ...]:
        """The sections reached through ``ADMID`` values (amdSecs or single sections)."""
        out: list[MdSection] = []
        for ident in ids:
            amd = self.amds.get(ident)
            if amd is not None:
                out.extend(amd.sections)
            elif ident in self.sections:
                out.append(self.sections[ident])
        return tuple(s for s in out if kind is None or s.kind == kind)


def _line(el: Element) -> int | None:
    line: Any = el.sourceline  # lxml-stubs type it oddly
    return line if isinstance(line, int) else None


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def _local(el: Element) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _kids(el: Element, name: str) -> list[Element]:
    return list(el.iterchildren(f"{{{C.NS_METS}}}{name}"))


class _Reader:
    """Reads the structure, collecting problems instead of stopping at the first."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def integer(self, el: Element, name: str) -> int | None:
        value = el.get(name)
        if value is None:
            return None
        try:
            return int(value.strip())
        except ValueError:
            self.problems.append(Problem("AIP-E045", f"{_local(el)}/@{name} is not a number",
                                         path=f"line {el.sourceline}", found=value))
            return None

    def section(self, el: Element) -> MdSection:
        kind = _local(el)
        ident = el.get("ID") or ""
        wrap = next(iter(_kids(el, "mdWrap")), None)
        ref = next(iter(_kids(el, "mdRef")), None)
        body = ref if ref is not None else wrap
        if body is None:
            self.problems.append(Problem("AIP-E043", f"{kind} {ident!r} has neither mdRef nor "
                                         "mdWrap", path=f"line {el.sourceline}"))
            return MdSection(id=ident, kind=kind, mdtype=None, line=_line(el))
        raw, other = body.get("MDTYPE"), body.get("OTHERMDTYPE")
        mdtype = other if raw == "OTHER" else raw
        if ref is not None:
            return MdSection(id=ident, kind=kind, mdtype=mdtype, raw_mdtype=raw,
                             othermdtype=other, mimetype=ref.get("MIMETYPE"),
                             href=ref.get(_XLINK_HREF), loctype=ref.get("LOCTYPE"),
                             line=_line(el))
        assert wrap is not None
        content: Element | None = None
        binary: bytes | None = None
        for data in _kids(wrap, "xmlData"):
            content = next((c for c in data if isinstance(c.tag, str)), None)
        for data in _kids(wrap, "binData"):
            try:
                binary = base64.b64decode("".join((data.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                self.problems.append(Problem("AIP-E043", f"{kind} {ident!r}: binData is not "
                                             "base64", path=f"line {data.sourceline}"))
        return MdSection(id=ident, kind=kind, mdtype=mdtype, raw_mdtype=raw, othermdtype=other,
                         mimetype=wrap.get("MIMETYPE"), content=content, binary=binary,
                         line=_line(el))

    def file_groups(self, parent: Element, out: list[FileGroup]) -> None:
        for grp in _kids(parent, "fileGrp"):
            use = grp.get("USE")
            files = []
            for f in _kids(grp, "file"):
                loc = next(iter(_kids(f, "FLocat")), None)
                files.append(FileEntry(
                    id=f.get("ID") or "", use=use, mimetype=f.get("MIMETYPE"),
                    seq=self.integer(f, "SEQ"), size=self.integer(f, "SIZE"),
                    checksum=f.get("CHECKSUM"), checksumtype=f.get("CHECKSUMTYPE"),
                    admid=_ids(f.get("ADMID")), groupid=f.get("GROUPID"),
                    href=loc.get(_XLINK_HREF) if loc is not None else None,
                    loctype=loc.get("LOCTYPE") if loc is not None else None,
                    line=_line(f)))
            out.append(FileGroup(id=grp.get("ID"), use=use, admid=_ids(grp.get("ADMID")),
                                 files=tuple(files)))
            self.file_groups(grp, out)  # METS allows nested fileGrps

    def div(self, el: Element, lifted: Lifted | None = None) -> Div:
        kept = tuple(self.div(d) for d in _kids(el, "div"))
        divs: abc.Collection[Div] = (_PutBack(kept, lifted) if lifted is not None
                                     and lifted.divs else kept)
        return Div(
            id=el.get("ID"), type=el.get("TYPE"), label=el.get("LABEL"),
            order=el.get("ORDER"),
            dmdid=_ids(el.get("DMDID")), admid=_ids(el.get("ADMID")),
            fptrs=tuple(f.get("FILEID") or "" for f in _kids(el, "fptr")),
            mptrs=tuple(Pointer(id=p.get("ID"), loctype=p.get("LOCTYPE"),
                                href=p.get(_XLINK_HREF), otherloctype=p.get("OTHERLOCTYPE"))
                        for p in _kids(el, "mptr")),
            divs=divs)


class _PutBack(LazyCollection["Div"]):
    """The main div's child divs in document order, made as they are read: ``lifted``'s
    at their places, ``kept`` (those left in the tree, in order) in the others."""

    __slots__ = ("_kept", "_lifted")

    def __init__(self, kept: tuple[Div, ...], lifted: Lifted) -> None:
        self._kept = kept
        self._lifted = lifted

    def __len__(self) -> int:
        return len(self._kept) + len(self._lifted.divs)

    def __iter__(self) -> Iterator[Div]:
        rest = iter(self._kept)
        done = 0
        for place, div in zip(self._lifted.places, self._lifted.divs, strict=True):
            while done < place:
                yield next(rest)
                done += 1
            yield div
            done += 1
        yield from rest


def parse_manifest(root: Element, *, path: str = "", lifted: Lifted | None = None
                   ) -> Manifest:
    """The generic structure of a parsed ``mets`` element.

    ``lifted``: what ``parse_bytes_lifted`` took out of the tree; its divs are put back in
    their places among the main div's, its IDs checked with the tree's.

    Raises:
        PackageValidationError: every structural problem found (see the module docstring).
    """
    reader = _Reader(path)
    problems = structural_problems(root, extra_ids=lifted.ids if lifted else ())
    agents: list[Agent] = []
    createdate = lastmoddate = None
    for hdr in _kids(root, "metsHdr"):
        createdate, lastmoddate = hdr.get("CREATEDATE"), hdr.get("LASTMODDATE")
        for agent in _kids(hdr, "agent"):
            name = next(iter(_kids(agent, "name")), None)
            agents.append(Agent(role=agent.get("ROLE"), type=agent.get("TYPE"),
                                othertype=agent.get("OTHERTYPE"),
                                name="".join(str(t) for t in name.itertext()) if name is not None
                                else None))
    dmd_secs = tuple(reader.section(d) for d in _kids(root, "dmdSec"))
    amd_secs = tuple(
        AmdSec(id=a.get("ID") or "",
               sections=tuple(reader.section(s) for s in a
                              if isinstance(s.tag, str) and _local(s) in _AMD_KINDS))
        for a in _kids(root, "amdSec"))
    groups: list[FileGroup] = []
    for sec in _kids(root, "fileSec"):
        reader.file_groups(sec, groups)
    struct_maps = tuple(
        StructMap(id=s.get("ID"), label=s.get("LABEL"), type=s.get("TYPE"),
                  divs=tuple(reader.div(d, lifted if i == 0 and j == 0 else None)
                             for j, d in enumerate(_kids(s, "div"))))
        for i, s in enumerate(_kids(root, "structMap")))
    problems.extend(reader.problems)
    if problems:
        raise PackageValidationError(problems, path=path)
    sections = {s.id: s for s in dmd_secs}
    for amd in amd_secs:
        sections.update((s.id, s) for s in amd.sections)
    return Manifest(
        root=root, id=root.get("ID"), objid=root.get("OBJID"), type=root.get("TYPE"),
        profile=root.get("PROFILE"), label=root.get("LABEL"), createdate=createdate,
        lastmoddate=lastmoddate, agents=tuple(agents), dmd_secs=dmd_secs, amd_secs=amd_secs,
        file_groups=tuple(groups), struct_maps=struct_maps, sections=sections,
        amds={a.id: a for a in amd_secs},
        files={f.id: f for g in groups for f in g.files})


def from_bytes(data: bytes, *, path: str = "") -> Manifest:
    """``parse_manifest(parse_bytes(data))``."""
    return parse_manifest(parse_bytes(data, path=path), path=path)


__all__ = [
    "LIFTED_KEEP",
    "LIFT_ABOVE",
    "Agent",
    "AmdSec",
    "Div",
    "FileEntry",
    "FileGroup",
    "Lifted",
    "LiftedDivs",
    "Manifest",
    "MdSection",
    "Pointer",
    "StructMap",
    "from_bytes",
    "parse_bytes",
    "parse_bytes_lifted",
    "parse_manifest",
]
