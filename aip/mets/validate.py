"""Offline validation of METS manifests: XSD with the bundled schemas, and structure.

Owns: loading the bundled XSDs (``aip/schemas``) through their OASIS ``catalog.xml`` with a
resolver that never touches the network (any address the catalog does not map to a bundled
file is refused at once), compiling each schema once per process, and the checks that return
``Problem`` lists: METS 1.12.1 + XLink (``xmlData`` is lax, so metadata inside is not checked),
IDs and IDREFs, and optionally the inner PREMIS / MODS / METSRights sections as *warnings*
(DSpace's own output fails MODS and 4.0+ METSRights strictness, ``schemas/README.md``).  Must
not raise for a bad manifest (problems are values) and must not import ``aip.crosswalks``.
The only file reads in ``aip.mets`` are of the bundled schema files, here.

Problem codes: ``AIP-E040`` duplicate ID, ``AIP-E041`` IDREF to no element, ``AIP-E042`` IDREF to
the wrong kind of element, ``AIP-E044`` METS schema violation; ``AIP-W040`` inner section not
valid against its schema.
"""

from __future__ import annotations

import functools
import heapq
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from lxml import etree

from aip import constants as C
from aip.errors import AipError, Problem
from aip.mets import build as B

Element = etree._Element

#: The bundled schemas (package data, installed with ``aip``).
_SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
_CATALOG = _SCHEMA_DIR / "catalog.xml"
_METS_XSD = _SCHEMA_DIR / "mets" / "mets.xsd"
#: Inner sections checked as warnings: namespace -> bundled schema.
_INNER_SCHEMAS: Mapping[str, Path] = {
    C.NS_PREMIS: _SCHEMA_DIR / "premis-1.0" / "PREMIS-v1-0.xsd",
    C.NS_MODS: _SCHEMA_DIR / "mods" / "mods-3-1.xsd",
    C.NS_METSRIGHTS: _SCHEMA_DIR / "metsrights" / "METSRights.xsd",
}
#: DSpace 4.0+ ``rights:Context`` attributes METSRights.xsd does not allow (stripped before
#: the inner check so genuine DSpace output passes; docs/aip-format.md 3.4).
_DSPACE_CONTEXT_ATTRS = ("rpName", "in-effect", "start-date", "end-date")

_CATALOG_NS = "urn:oasis:names:tc:entity:xmlns:xml:catalog"
_VALIDATE_LOCK = threading.Lock()


class SchemaLoadError(AipError):
    """A bundled schema cannot be loaded (missing file, or an import the catalog cannot map).

    Never a property of a package: it means the installation is broken.
    """

    exit_code = C.EXIT_UNEXPECTED
    message = "cannot load bundled schema: {detail}"


@functools.cache
def catalog() -> Mapping[str, Path]:
    """Remote schema address -> bundled file, from ``catalog.xml`` (``uri`` and ``system``)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.parse(str(_CATALOG), parser)
    mapping: dict[str, Path] = {}
    for el in tree.getroot():
        if not isinstance(el.tag, str):
            continue
        key = el.get("name") if el.tag == f"{{{_CATALOG_NS}}}uri" else el.get("systemId")
        target = el.get("uri")
        if key and target:
            mapping[key] = (_CATALOG.parent / target).resolve()
    return mapping


class OfflineResolver(etree.Resolver):
    """Resolves schema imports to bundled files only; refuses every other address at once."""

    def __init__(self, mapping: Mapping[str, Path], root: Path = _SCHEMA_DIR) -> None:
        super().__init__()
        self._mapping = mapping
        self._root = root.resolve()
        #: Addresses refused so far (lxml reports a refused import only as a parse failure).
        self.refused: list[str] = []

    def resolve(self, system_url: str | None, public_id: str | None,  # type: ignore[override]
                context: object) -> Any:  # lxml-stubs predate the ``context`` argument
        if system_url is None:
            raise SchemaLoadError(f"import without a location (public id {public_id!r})")
        local = self._mapping.get(system_url)
        if local is not None:
            return self._file(str(local), context)
        parts = urlsplit(system_url)
        if parts.scheme in ("", "file"):
            path = Path(parts.path).resolve()
            if path.is_relative_to(self._root) and path.is_file():
                return self._file(str(path), context)
        self.refused.append(system_url)
        raise SchemaLoadError(f"{system_url} is not a bundled schema; refusing to fetch it")


    def _file(self, filename: str, context: object) -> Any:
        base: Any = self
        return base.resolve_filename(filename, context)


def load_schema(path: Path, mapping: Mapping[str, Path] | None = None) -> etree.XMLSchema:
    """Compile the XSD at ``path`` with imports resolved offline (``OfflineResolver``).

    Raises:
        SchemaLoadError: the file or one of its imports is not available locally.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    resolver = OfflineResolver(catalog() if mapping is None else mapping,
                               root=path.parent if mapping is not None else _SCHEMA_DIR)
    parser.resolvers.add(resolver)
    try:
        doc = etree.parse(str(path), parser)
        return etree.XMLSchema(doc)
    except SchemaLoadError:
        raise
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        if resolver.refused:
            raise SchemaLoadError(f"{path}: imports {', '.join(resolver.refused)}, which is "
                                  "not a bundled schema (refused, not fetched)") from exc
        raise SchemaLoadError(f"{path}: {exc}") from exc


@functools.cache
def mets_schema() -> etree.XMLSchema:
    """METS 1.12.1 (+ XLink), compiled once per process."""
    return load_schema(_METS_XSD)


@functools.cache
def inner_schema(namespace: str) -> etree.XMLSchema:
    """The schema of an inner section namespace (PREMIS 1.0, MODS 3.1, METSRights)."""
    return load_schema(_INNER_SCHEMAS[namespace])


def _xsd_problems(schema: etree.XMLSchema, doc: Element, code: str,
                  what: str) -> list[Problem]:
    with _VALIDATE_LOCK:  # the error log lives on the schema object
        if schema.validate(doc):
            return []
        errors: list[Any] = list(cast("Iterable[Any]", schema.error_log))
    return [Problem(code, f"{what}: {e.message}", path=f"line {e.line}") for e in errors]


_METS_ANY = f"{{{C.NS_METS}}}*"
#: Elements whose content is wrapped metadata or data, not METS structure.
_WRAPPERS = frozenset(f"{{{C.NS_METS}}}{tag}" for tag in ("xmlData", "binData", "FContent"))


def _mets_elements(root: Element) -> list[Element]:
    """METS elements of the document, not descending into wrapped metadata or content.

    Walked in C (``iter`` with a namespace filter).  Wrapped content that lands in the
    METS namespace (DSpace's un-namespaced DSPACE-ROLES does, once re-read) is rare: each
    wrapper is asked for METS descendants, and only when one has some are they left out.
    """
    elements = list(root.iter(_METS_ANY))
    skip: set[Element] = set()
    for el in elements:
        if el.tag in _WRAPPERS:
            skip.update(el.iterdescendants(_METS_ANY))
    if not skip:
        return elements
    return [el for el in elements if el not in skip]


#: IDREF attribute -> element kinds it may point at (METS 1.12.1 usage by DSpace AIPs).
_AMD_TARGETS = frozenset({"amdSec", "techMD", "rightsMD", "sourceMD", "digiprovMD"})
_IDREFS: Mapping[str, frozenset[str]] = {
    "DMDID": frozenset({"dmdSec"}),
    "ADMID": _AMD_TARGETS,
    "FILEID": frozenset({"file"}),
}


def structural_problems(root: Element, *, extra_ids: Iterable[tuple[str, str, int]] = ()
                        ) -> list[Problem]:
    """Duplicate IDs and IDREFs (``DMDID``/``ADMID``/``FILEID``) that point nowhere or amiss.

    ``extra_ids``: (ID, element kind, line) of METS elements with no IDREF attribute that are
    no longer in the tree (``aip.mets.parse.parse_bytes_lifted``), in document order; they
    are checked with the tree's IDs, in line order.
    """
    problems: list[Problem] = []
    kinds = _IdKinds()
    elements = list(_mets_elements(root))
    for ident, kind, line in heapq.merge(_ids_of(elements), extra_ids, key=lambda t: t[2] or 0):
        if not kinds.add(ident, kind):
            problems.append(Problem("AIP-E040", f"duplicate ID {ident!r} ({kind})",
                                    path=f"line {line}"))
    for el in elements:
        for attr, allowed in _IDREFS.items():
            value = el.get(attr)
            if value is None:
                continue
            for ref in value.split():
                target = kinds.get(ref)
                if target in allowed:
                    continue
                where = f"line {el.sourceline}"
                name = etree.QName(el).localname
                if target is None:
                    problems.append(Problem("AIP-E041", f"{name}/@{attr} points to no element",
                                            path=where, expected="an existing ID", found=ref))
                elif target not in allowed:
                    problems.append(Problem("AIP-E042", f"{name}/@{attr} points to a {target}",
                                            path=where, expected=" or ".join(sorted(allowed)),
                                            found=target))
    return problems


class _IdKinds:
    """ID -> element kind, for every ID of one manifest, kept compactly.

    A collection's manifest has three IDs per item (``div_<n>``, ``mptr_<n>``...: 900,000
    for 300,000 items).  An ID that is a stem and a plain decimal number (``div_17``) is one
    byte (its kind's code) at that number's place in its stem's byte array; any other, and
    any number far past the count of IDs seen (the arrays together stay within
    ``_NUMBERED_BYTES`` per ID), is kept as it is, apart.
    """

    __slots__ = ("_codes", "_count", "_kinds", "_numbered", "_others", "_size")

    def __init__(self) -> None:
        self._kinds: list[str] = []  # code - 1 -> kind
        self._codes: dict[str, int] = {}
        self._numbered: dict[str, bytearray] = {}
        self._others: dict[str, str] = {}
        self._count = 0
        self._size = 0

    def add(self, ident: str, kind: str) -> bool:
        """Record ``ident`` as a ``kind``; False (nothing recorded) if it was there already."""
        if self.get(ident) is not None:
            return False
        place = self._place(ident)
        code = self._code(kind)
        if place is not None and code is not None:
            stem, number = place
            numbered = self._numbered.get(stem)
            if (numbered is not None and number < len(numbered)) \
                    or self._room_for(numbered, number):
                self._grow(stem, numbered, number)[number] = code
                self._count += 1
                return True
        self._others[ident] = kind
        self._count += 1
        return True

    def get(self, ident: str) -> str | None:
        """The kind recorded for ``ident``, or None."""
        place = self._place(ident)
        if place is not None:
            numbered = self._numbered.get(place[0])
            if numbered is not None and place[1] < len(numbered) and numbered[place[1]]:
                return self._kinds[numbered[place[1]] - 1]
        return self._others.get(ident)

    @staticmethod
    def _place(ident: str) -> tuple[str, int] | None:
        stem = ident.rstrip("0123456789")
        digits = ident[len(stem):]
        if not digits or len(digits) > 9 or (digits[0] == "0" and digits != "0"):
            return None
        return stem, int(digits)

    def _code(self, kind: str) -> int | None:
        code = self._codes.get(kind)
        if code is None and len(self._kinds) < 255:
            self._kinds.append(kind)
            code = self._codes[kind] = len(self._kinds)
        return code

    def _room_for(self, numbered: bytearray | None, number: int) -> bool:
        have = len(numbered) if numbered is not None else 0
        return self._size + (number + 1 - have) <= _NUMBERED_BYTES * (self._count + 1024)

    def _grow(self, stem: str, numbered: bytearray | None, number: int) -> bytearray:
        if numbered is None:
            numbered = self._numbered[stem] = bytearray()
        more = number + 1 - len(numbered)
        if more > 0:
            numbered.extend(bytes(more))
            self._size += more
        return numbered


#: The stems' byte arrays hold at most this many bytes per ID seen (and 1,024 IDs' worth more).
_NUMBERED_BYTES = 8


def _ids_of(elements: Iterable[Element]) -> Iterator[tuple[str, str, Any]]:
    """(ID, kind, line) of the elements with an ID, in their order."""
    prefix = f"{{{C.NS_METS}}}"
    prefix_len = len(prefix)
    for el in elements:
        ident = el.get("ID")
        if ident is None:
            continue
        tag = el.tag
        kind = tag[prefix_len:] if isinstance(tag, str) and tag.startswith(
            prefix) else etree.QName(el).localname
        yield ident, kind, el.sourceline


def _copy_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def inner_problems(root: Element) -> list[Problem]:
    """Warnings for PREMIS, MODS and METSRights sections that their schemas reject."""
    problems: list[Problem] = []
    for data in root.iter(f"{{{C.NS_METS}}}xmlData"):
        for content in data:
            if not isinstance(content.tag, str):
                continue
            ns = etree.QName(content).namespace
            if ns not in _INNER_SCHEMAS:
                continue
            # Without its tail: text after the section (xmlData is lax, mixed content) would
            # be "extra content" after the copy's root and fail the re-parse.
            copy = etree.fromstring(etree.tostring(content, with_tail=False), _copy_parser())
            if ns == C.NS_METSRIGHTS:
                for ctx in copy.iter(f"{{{C.NS_METSRIGHTS}}}Context"):
                    for attr in _DSPACE_CONTEXT_ATTRS:
                        if attr in ctx.attrib:
                            del ctx.attrib[attr]
            section = data.getparent()
            owner = section.getparent() if section is not None else None
            label = owner.get("ID") if owner is not None else None
            for p in _xsd_problems(inner_schema(ns), copy, "AIP-W040",
                                   f"{etree.QName(content).localname} in {label}"):
                problems.append(Problem(p.code, p.message,
                                        path=f"line {content.sourceline}"))
    return problems


def mets_schema_problems(root: Element) -> list[Problem]:
    """What the METS schema (1.12.1, with XLink) rejects in a manifest."""
    return _xsd_problems(mets_schema(), root, "AIP-E044", "METS schema")


_BUILT_REFS = {attr: frozenset(f"{{{C.NS_METS}}}{kind}" for kind in kinds)
               for attr, kinds in _IDREFS.items()}


def built_structure_ok(root: B.Node) -> bool:
    """The quick form of ``structural_problems`` for a manifest aipsync built, on the
    builder's nodes: True when no ID repeats and every ``DMDID``/``ADMID``/``FILEID`` token
    names an element of a kind it may point at.

    The nodes are exactly the METS layer of the document written from them (wrapped
    metadata is held as text, not nodes), so this answers what ``structural_problems``
    would, without making an lxml proxy per element; when it says no, the caller asks
    ``structural_problems`` for the problems and their lines.
    """
    kinds: dict[str, str] = {}
    refs: list[tuple[frozenset[str], str]] = []
    node_type = B.Node
    stack = [root]
    while stack:
        node = stack.pop()
        for key, value in node.attrib.items():
            if key == "ID":
                if value in kinds:
                    return False
                kinds[value] = node.tag
            else:
                allowed = _BUILT_REFS.get(key)
                if allowed is not None:
                    refs.append((allowed, value))
        for kid in node.children:
            if type(kid) is node_type:
                stack.append(kid)
    return all(kinds.get(ref) in allowed for allowed, value in refs for ref in value.split())


def validate_manifest(root: Element, *, inner: bool = False) -> list[Problem]:
    """Every problem of a METS manifest: METS XSD, IDs/IDREFs, and (``inner``) inner sections.

    Args:
        root: the ``mets`` element (as parsed by ``aip.mets.parse.parse_bytes``).
        inner: also check PREMIS, MODS and METSRights sections (warnings only).

    Returns:
        Problems, errors (``AIP-E…``) first in document order, then warnings.
    """
    problems = mets_schema_problems(root)
    problems.extend(structural_problems(root))
    if inner:
        problems.extend(inner_problems(root))
    return problems


__all__ = ["OfflineResolver", "SchemaLoadError", "built_structure_ok", "catalog",
           "inner_problems", "inner_schema", "load_schema", "mets_schema",
           "mets_schema_problems", "structural_problems", "validate_manifest"]
