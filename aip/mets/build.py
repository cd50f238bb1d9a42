"""Generic METS element builders and the one serializer.

Owns: one small function per METS construct (``mets``, ``metsHdr``/``agent``, ``dmdSec`` and the
``amdSec`` children, ``mdWrap``/``xmlData``/``binData``, ``mdRef``, ``fileSec``/``fileGrp``/
``file``/``FLocat``, ``structMap``/``div``/``fptr``/``mptr``), ``to_tree`` and ``serialize``.
Attributes are set in the METS Java Toolkit's order (docs/aip-format.md 2.1) so the output
reads like DSpace's; byte-for-byte imitation of the toolkit is not a goal.  Ids, dates and
contents are parameters: this module knows nothing of DSpace AIPs (which sections go where is
``aip.packager.manifest``'s business), must not import ``aip.crosswalks``, and does no I/O.

The builders make ``Node`` objects (a small mutable stand-in for lxml elements), with each
crosswalk's result held as a ``Section``; ``to_tree`` writes the whole document as compact
text and parses it once (``aip.xmltext``), which costs a fraction of making the same tree
element by element in lxml; ``serialize`` pretty-prints that tree.  The bytes are the ones the
element-by-element route gave (checked against exports made before the change).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from aip import constants as C
from aip.xmltext import EMPTY_MARK, element_text, embed, escape_attr, escape_text, parse

Element = etree._Element

_XLINK_TYPE = f"{{{C.NS_XLINK}}}type"
_XLINK_HREF = f"{{{C.NS_XLINK}}}href"
_SCHEMA_LOCATION = f"{{{C.NS_XSI}}}schemaLocation"
#: The ``mdSec`` element names of METS.
_MD_SECTION_KINDS = ("dmdSec", "techMD", "rightsMD", "sourceMD", "digiprovMD")
#: The root's declarations: every METS element and attribute is written with these.
ROOT_NAMESPACES: Mapping[str | None, str] = {None: C.NS_METS, "xlink": C.NS_XLINK,
                                             "xsi": C.NS_XSI}
_PREFIX = {uri: prefix for prefix, uri in ROOT_NAMESPACES.items()}
_METS_PREFIX = f"{{{C.NS_METS}}}"


def m(tag: str) -> str:
    """The Clark name of a METS element."""
    return f"{{{C.NS_METS}}}{tag}"


_QNAMES: dict[str, str] = {}


def _qname(clark: str) -> str:
    """``{ns}local`` as written under the root's declarations (plain names stay)."""
    name = _QNAMES.get(clark)
    if name is None:
        if clark.startswith("{"):
            uri, local = clark[1:].split("}", 1)
            prefix = _PREFIX[uri]
            name = local if prefix is None else f"{prefix}:{local}"
        else:
            name = clark
        if len(_QNAMES) < 1024:
            _QNAMES[clark] = name
    return name


class Section:
    """Metadata inside ``xmlData``, kept as text until the document is written.

    Holds a crosswalk's result: an lxml element, or compact text from ``aip.xmltext`` whose
    root declares the namespaces it uses.
    """

    __slots__ = ("content", "fitted")

    def __init__(self, content: Element | str, *, fitted: bool = False) -> None:
        self.content = content
        self.fitted = fitted  # text already written for its place (declarations and all)

    def text(self, scope: Mapping[str | None, str]) -> str:
        if isinstance(self.content, str):
            return self.content if self.fitted else embed(self.content, scope)
        return embed(element_text(self.content), scope)


class Node:
    """A METS element being built: a mutable stand-in for an lxml element (``tag`` in Clark
    notation, ``attrib`` in insertion order, ``text``, children) that is written out as text
    and parsed once (``to_tree``) instead of being made element by element in lxml."""

    __slots__ = ("attrib", "children", "nsmap", "tag", "text")

    def __init__(self, tag: str, attrib: dict[str, str] | None = None,
                 nsmap: Mapping[str | None, str] | None = None) -> None:
        self.tag = tag
        self.attrib: dict[str, str] = attrib if attrib is not None else {}
        self.children: list[Node | Section] = []
        self.text: str | None = None
        self.nsmap: Mapping[str | None, str] = nsmap or {}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.attrib[key] = value

    def append(self, child: Node | Section) -> None:
        self.children.append(child)

    def insert(self, index: int, child: Node | Section) -> None:
        self.children.insert(index, child)

    def __getitem__(self, index: int) -> Node | Section:
        return self.children[index]

    def __len__(self) -> int:
        return len(self.children)

    def __iter__(self) -> Iterator[Node | Section]:
        return iter(self.children)

    def write(self, out: list[str], scope: Mapping[str | None, str]) -> None:
        """Append this element as compact text; ``scope``: the declarations above it."""
        tag = _qname(self.tag)
        out.append(f"<{tag}")
        if self.nsmap:
            # lxml declares a prefix only where it is not already bound to the same URI
            inner = dict(scope)
            for prefix, uri in self.nsmap.items():
                if scope.get(prefix) != uri:
                    out.append(f' xmlns="{uri}"' if prefix is None
                               else f' xmlns:{prefix}="{uri}"')
                    inner[prefix] = uri
            scope = inner
        for key, value in self.attrib.items():
            out.append(f' {_qname(key)}="{escape_attr(value)}"')
        if not self.children:
            if self.text is None:
                out.append("/>")
                return
            text = escape_text(self.text)
            out.append(f">{text}</{tag}>" if text else f' {EMPTY_MARK}=""/>')
            return
        out.append(">")
        if self.text:
            out.append(escape_text(self.text))
        for kid in self.children:
            if isinstance(kid, Node):
                kid.write(out, scope)
            else:
                out.append(kid.text(scope))
        out.append(f"</{tag}>")


def to_text(node: Node, scope: Mapping[str | None, str] = ROOT_NAMESPACES) -> str:
    """``node`` as compact text, for a place where ``scope`` is declared (default: anywhere
    below the root)."""
    out: list[str] = []
    node.write(out, scope)
    return "".join(out)


def to_tree(root: Node) -> Element:
    """The lxml tree of a built document (or of one element, declaring what the root
    would): written as text, parsed once."""
    if root.nsmap is ROOT_NAMESPACES:
        return parse(to_text(root, {}))
    standalone = Node(root.tag, root.attrib, {**ROOT_NAMESPACES, **root.nsmap})
    standalone.children, standalone.text = root.children, root.text
    return parse(to_text(standalone, {}))


def _attrib(attrs: Iterable[tuple[str, str | int | None]]) -> dict[str, str]:
    attrib: dict[str, str] = {}
    for key, value in attrs:
        if value is not None:
            attrib[key] = value if type(value) is str else str(value)
    return attrib


def _el(tag: str, attrs: Iterable[tuple[str, str | int | None]] = (),
        children: Iterable[Node] = (), parent: Node | None = None) -> Node:
    """A METS element (appended to ``parent`` when given)."""
    el = Node(_METS_PREFIX + tag, _attrib(attrs))
    if children:
        el.children.extend(children)
    if parent is not None:
        parent.children.append(el)
    return el


def mdtype_attrs(label: str) -> tuple[tuple[str, str | None], ...]:
    """``MDTYPE``/``OTHERMDTYPE`` for a metadata label (toolkit ``Mdtype.parse``)."""
    if label in C.METS_KNOWN_MDTYPES:
        return (("MDTYPE", label), ("OTHERMDTYPE", None))
    return (("MDTYPE", "OTHER"), ("OTHERMDTYPE", label))


def mets_root(*, obj_id: str, objid: str | None, type_: str, profile: str,
              label: str | None = None) -> Node:
    """``<mets ID OBJID LABEL TYPE PROFILE>`` with the METS schema location."""
    root = Node(m("mets"), _attrib((("ID", obj_id), ("OBJID", objid), ("LABEL", label),
                                    ("TYPE", type_), ("PROFILE", profile))),
                nsmap=ROOT_NAMESPACES)
    root.set(_SCHEMA_LOCATION, f"{C.NS_METS} {C.SCHEMA_LOCATION_METS}")
    return root


@dataclass(frozen=True, slots=True)
class Agent:
    """One ``metsHdr/agent``."""

    role: str
    name: str
    type: str = "OTHER"
    othertype: str | None = None


def mets_hdr(agents: Sequence[Agent], *, createdate: str | None = None,
             lastmoddate: str | None = None) -> Node:
    """``<metsHdr CREATEDATE LASTMODDATE>`` with its agents."""
    hdr = _el("metsHdr", (("CREATEDATE", createdate), ("LASTMODDATE", lastmoddate)))
    for agent in agents:
        el = _el("agent", (("ROLE", agent.role), ("TYPE", agent.type),
                           ("OTHERTYPE", agent.othertype)), parent=hdr)
        _el("name", parent=el).text = agent.name
    return hdr


Content = Element | str | Section


def xml_data(content: Content, namespaces: Mapping[str, str] = {},
             schema_location: str | None = None, *, parent: Node | None = None) -> Node:
    """``<xmlData>`` declaring ``namespaces`` (and ``xsi:schemaLocation``) around ``content``
    (a crosswalk's element, or its text from ``aip.xmltext``), made in ``parent`` if given."""
    declared: dict[str | None, str] = {k: v for k, v in namespaces.items()}
    el = Node(m("xmlData"), nsmap=declared)
    if schema_location is not None:
        el.set(_SCHEMA_LOCATION, schema_location)
    el.children.append(content if isinstance(content, Section) else Section(content))
    if parent is not None:
        parent.children.append(el)
    return el


def md_wrap(label: str, content: Content, *, namespaces: Mapping[str, str] = {},
            schema_location: str | None = None, mimetype: str | None = None,
            parent: Node | None = None) -> Node:
    """``<mdWrap MIMETYPE MDTYPE OTHERMDTYPE><xmlData>content</xmlData></mdWrap>``."""
    wrap = _el("mdWrap", (("MIMETYPE", mimetype), *mdtype_attrs(label)), parent=parent)
    xml_data(content, namespaces, schema_location, parent=wrap)
    return wrap


_WRAP_MARK = "\x00"  # cannot occur in XML text: splits a rendered mdWrap around its content
_WRAPS: dict[tuple[object, ...], tuple[str, str, Mapping[str | None, str]]] = {}


def md_wrap_section(label: str, content: Content, *,
                    namespaces: Mapping[str, str] = {}, schema_location: str | None = None,
                    mimetype: str | None = None) -> Section:
    """``md_wrap``'s element as text, fitted for a metadata section's place in a document
    (a child of ``dmdSec`` or of an ``amdSec`` section, where only the root declares
    namespaces).

    The same bytes as ``md_wrap``: its opening and closing tags are rendered once per
    kind of wrap by ``md_wrap`` itself and kept; only the content is fitted each time.
    """
    key = (label, tuple(namespaces.items()), schema_location, mimetype)
    parts = _WRAPS.get(key)
    if parts is None:
        rendered = to_text(md_wrap(label, Section(_WRAP_MARK, fitted=True),
                                   namespaces=namespaces, schema_location=schema_location,
                                   mimetype=mimetype))
        opening, closing = rendered.split(_WRAP_MARK)
        scope: dict[str | None, str] = dict(ROOT_NAMESPACES)
        scope.update(namespaces)  # what xmlData's content sees declared
        parts = (opening, closing, scope)
        if len(_WRAPS) < 256:
            _WRAPS[key] = parts
    head, tail, inner = parts
    section = content if isinstance(content, Section) else Section(content)
    return Section(head + section.text(inner) + tail, fitted=True)


def md_wrap_binary(label: str, data: bytes, *, mimetype: str | None) -> Node:
    """``<mdWrap …><binData>base64</binData></mdWrap>`` (stream metadata, manifest only)."""
    wrap = _el("mdWrap", (("MIMETYPE", mimetype), *mdtype_attrs(label)))
    _el("binData", parent=wrap).text = base64.b64encode(data).decode("ascii")
    return wrap


def md_ref(label: str, href: str, *, mimetype: str | None,
           loctype: str = C.LOCTYPE_URL) -> Node:
    """``<mdRef LOCTYPE xlink:type xlink:href MDTYPE OTHERMDTYPE MIMETYPE/>``."""
    return _el("mdRef", (("LOCTYPE", loctype), (_XLINK_TYPE, "simple"), (_XLINK_HREF, href),
                         *mdtype_attrs(label), ("MIMETYPE", mimetype)))


def md_sec(kind: str, sec_id: str, body: Node | None = None, *,
           parent: Node | None = None) -> Node:
    """A ``dmdSec``/``techMD``/``rightsMD``/``sourceMD``/``digiprovMD`` around ``body``
    (made in ``parent`` when given; without ``body``, empty, for the caller to fill)."""
    if kind not in _MD_SECTION_KINDS:
        raise ValueError(f"not a METS metadata section: {kind!r}")
    return _el(kind, (("ID", sec_id),), () if body is None else (body,), parent)


def amd_sec(sec_id: str, sections: Iterable[Node] = ()) -> Node:
    """``<amdSec ID>`` holding ``sections`` (techMD*, rightsMD*, sourceMD*, digiprovMD*)."""
    return _el("amdSec", (("ID", sec_id),), sections)


def file_sec(groups: Iterable[Node]) -> Node:
    return _el("fileSec", (), groups)


def file_grp(*, use: str | None, admid: str | None = None, grp_id: str | None = None,
             files: Iterable[Node] = ()) -> Node:
    """``<fileGrp ID ADMID USE>``."""
    return _el("fileGrp", (("ID", grp_id), ("ADMID", admid), ("USE", use)), files)


def file_el(*, file_id: str, href: str, mimetype: str | None = None, seq: int | None = None,
            size: int | None = None, checksum: str | None = None,
            checksumtype: str | None = None, admid: str | None = None,
            groupid: str | None = None, loctype: str = C.LOCTYPE_URL) -> Node:
    """``<file …><FLocat LOCTYPE xlink:type xlink:href/></file>`` (toolkit attribute order)."""
    el = _el("file", (("ID", file_id), ("MIMETYPE", mimetype), ("SEQ", seq), ("SIZE", size),
                      ("CHECKSUM", checksum), ("CHECKSUMTYPE", checksumtype), ("ADMID", admid),
                      ("GROUPID", groupid)))
    _el("FLocat", (("LOCTYPE", loctype), (_XLINK_TYPE, "simple"), (_XLINK_HREF, href)),
        parent=el)
    return el


def struct_map(*, sm_id: str, label: str | None, type_: str | None,
               divs: Iterable[Node] = ()) -> Node:
    """``<structMap ID LABEL TYPE>``."""
    return _el("structMap", (("ID", sm_id), ("LABEL", label), ("TYPE", type_)), divs)


def div(*, div_id: str | None, type_: str | None = None, label: str | None = None,
        dmdid: Sequence[str] = (), admid: Sequence[str] = (),
        children: Iterable[Node] = (), order: int | None = None) -> Node:
    """``<div ID ORDER LABEL DMDID ADMID TYPE>``; empty id lists and unset values are left
    out."""
    return _el("div", (("ID", div_id), ("ORDER", order), ("LABEL", label),
                       ("DMDID", " ".join(dmdid) if dmdid else None),
                       ("ADMID", " ".join(admid) if admid else None), ("TYPE", type_)),
               children)


def fptr(file_id: str) -> Node:
    return _el("fptr", (("FILEID", file_id),))


def mptr(*, ptr_id: str | None, loctype: str, href: str) -> Node:
    """``<mptr ID LOCTYPE xlink:type xlink:href/>``."""
    return _el("mptr", (("ID", ptr_id), ("LOCTYPE", loctype), (_XLINK_TYPE, "simple"),
                        (_XLINK_HREF, href)))


def serialize(root: Node | Element) -> bytes:
    """The document as UTF-8 bytes with an XML declaration, pretty-printed by lxml.

    Deterministic: the same tree always gives the same bytes.
    """
    tree = to_tree(root) if isinstance(root, Node) else root
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


__all__ = ["ROOT_NAMESPACES", "Agent", "Content", "Node", "Section", "amd_sec", "div",
           "file_el", "file_grp", "file_sec", "fptr", "m", "md_ref", "md_sec", "md_wrap",
           "md_wrap_binary", "md_wrap_section", "mdtype_attrs", "mets_hdr", "mets_root",
           "mptr", "serialize", "struct_map", "to_text", "to_tree", "xml_data"]
