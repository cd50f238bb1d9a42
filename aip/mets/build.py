"""Generic METS element builders and the one serializer.

Owns: one small function per METS construct (``mets``, ``metsHdr``/``agent``, ``dmdSec`` and the
``amdSec`` children, ``mdWrap``/``xmlData``/``binData``, ``mdRef``, ``fileSec``/``fileGrp``/
``file``/``FLocat``, ``structMap``/``div``/``fptr``/``mptr``) and ``serialize``.  Attributes are
set in the METS Java Toolkit's order (docs/aip-format.md 2.1) so the output reads like
DSpace's; byte-for-byte imitation of the toolkit is not a goal.  Ids, dates and contents are
parameters: this module knows nothing of DSpace AIPs (which sections go where is
``aip.packager.manifest``'s business), must not import ``aip.crosswalks``, and does no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from aip import constants as C

Element = etree._Element

_XLINK_TYPE = f"{{{C.NS_XLINK}}}type"
_XLINK_HREF = f"{{{C.NS_XLINK}}}href"
_SCHEMA_LOCATION = f"{{{C.NS_XSI}}}schemaLocation"
#: The ``mdSec`` element names of METS.
_MD_SECTION_KINDS = ("dmdSec", "techMD", "rightsMD", "sourceMD", "digiprovMD")


def m(tag: str) -> str:
    """The Clark name of a METS element."""
    return f"{{{C.NS_METS}}}{tag}"


def _attrib(attrs: Iterable[tuple[str, str | int | None]]) -> dict[str, str]:
    attrib: dict[str, str] = {}
    for key, value in attrs:
        if value is not None:
            attrib[key] = value if type(value) is str else str(value)
    return attrib


def _el(tag: str, attrs: Iterable[tuple[str, str | int | None]] = (),
        children: Iterable[Element] = (), parent: Element | None = None) -> Element:
    """A METS element; made in ``parent`` (no copy between documents) when given."""
    if parent is None:
        el = etree.Element(m(tag), _attrib(attrs))
    else:
        el = etree.SubElement(parent, m(tag), _attrib(attrs))
    for kid in children:
        el.append(kid)
    return el


def mdtype_attrs(label: str) -> tuple[tuple[str, str | None], ...]:
    """``MDTYPE``/``OTHERMDTYPE`` for a metadata label (toolkit ``Mdtype.parse``)."""
    if label in C.METS_KNOWN_MDTYPES:
        return (("MDTYPE", label), ("OTHERMDTYPE", None))
    return (("MDTYPE", "OTHER"), ("OTHERMDTYPE", label))


def mets_root(*, obj_id: str, objid: str | None, type_: str, profile: str,
              label: str | None = None) -> Element:
    """``<mets ID OBJID LABEL TYPE PROFILE>`` with the METS schema location."""
    nsmap = {None: C.NS_METS, "xlink": C.NS_XLINK, "xsi": C.NS_XSI}
    root = etree.Element(m("mets"), nsmap=nsmap)  # type: ignore[arg-type]  # stubs lack None
    for key, value in (("ID", obj_id), ("OBJID", objid), ("LABEL", label), ("TYPE", type_),
                       ("PROFILE", profile)):
        if value is not None:
            root.set(key, value)
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
             lastmoddate: str | None = None) -> Element:
    """``<metsHdr CREATEDATE LASTMODDATE>`` with its agents."""
    hdr = _el("metsHdr", (("CREATEDATE", createdate), ("LASTMODDATE", lastmoddate)))
    for agent in agents:
        el = _el("agent", (("ROLE", agent.role), ("TYPE", agent.type),
                           ("OTHERTYPE", agent.othertype)), parent=hdr)
        etree.SubElement(el, m("name")).text = agent.name
    return hdr


def xml_data(content: Element, namespaces: Mapping[str, str] = {},
             schema_location: str | None = None, *, parent: Element | None = None
             ) -> Element:
    """``<xmlData>`` declaring ``namespaces`` (and ``xsi:schemaLocation``) around ``content``
    (made in ``parent`` when given)."""
    tag = m("xmlData")
    if parent is None:
        el = etree.Element(tag, nsmap=dict(namespaces))
    else:
        el = etree.SubElement(parent, tag, nsmap=dict(namespaces))
    if schema_location is not None:
        el.set(_SCHEMA_LOCATION, schema_location)
    el.append(content)
    return el


def md_wrap(label: str, content: Element, *, namespaces: Mapping[str, str] = {},
            schema_location: str | None = None, mimetype: str | None = None,
            parent: Element | None = None) -> Element:
    """``<mdWrap MIMETYPE MDTYPE OTHERMDTYPE><xmlData>content</xmlData></mdWrap>``.

    Built from the outside in, so ``content`` is moved into the tree once (each move walks
    the subtree to reconcile its namespaces).
    """
    wrap = _el("mdWrap", (("MIMETYPE", mimetype), *mdtype_attrs(label)), parent=parent)
    xml_data(content, namespaces, schema_location, parent=wrap)
    return wrap


def md_wrap_binary(label: str, data: bytes, *, mimetype: str | None) -> Element:
    """``<mdWrap …><binData>base64</binData></mdWrap>`` (stream metadata, manifest only)."""
    wrap = _el("mdWrap", (("MIMETYPE", mimetype), *mdtype_attrs(label)))
    etree.SubElement(wrap, m("binData")).text = base64.b64encode(data).decode("ascii")
    return wrap


def md_ref(label: str, href: str, *, mimetype: str | None,
           loctype: str = C.LOCTYPE_URL) -> Element:
    """``<mdRef LOCTYPE xlink:type xlink:href MDTYPE OTHERMDTYPE MIMETYPE/>``."""
    return _el("mdRef", (("LOCTYPE", loctype), (_XLINK_TYPE, "simple"), (_XLINK_HREF, href),
                         *mdtype_attrs(label), ("MIMETYPE", mimetype)))


def md_sec(kind: str, sec_id: str, body: Element | None = None, *,
           parent: Element | None = None) -> Element:
    """A ``dmdSec``/``techMD``/``rightsMD``/``sourceMD``/``digiprovMD`` around ``body``
    (made in ``parent`` when given; without ``body``, empty, for the caller to fill)."""
    if kind not in _MD_SECTION_KINDS:
        raise ValueError(f"not a METS metadata section: {kind!r}")
    return _el(kind, (("ID", sec_id),), () if body is None else (body,), parent)


def amd_sec(sec_id: str, sections: Iterable[Element] = ()) -> Element:
    """``<amdSec ID>`` holding ``sections`` (techMD*, rightsMD*, sourceMD*, digiprovMD*)."""
    return _el("amdSec", (("ID", sec_id),), sections)


def file_sec(groups: Iterable[Element]) -> Element:
    return _el("fileSec", (), groups)


def file_grp(*, use: str | None, admid: str | None = None, grp_id: str | None = None,
             files: Iterable[Element] = ()) -> Element:
    """``<fileGrp ID ADMID USE>``."""
    return _el("fileGrp", (("ID", grp_id), ("ADMID", admid), ("USE", use)), files)


def file_el(*, file_id: str, href: str, mimetype: str | None = None, seq: int | None = None,
            size: int | None = None, checksum: str | None = None,
            checksumtype: str | None = None, admid: str | None = None,
            groupid: str | None = None, loctype: str = C.LOCTYPE_URL) -> Element:
    """``<file …><FLocat LOCTYPE xlink:type xlink:href/></file>`` (toolkit attribute order)."""
    el = _el("file", (("ID", file_id), ("MIMETYPE", mimetype), ("SEQ", seq), ("SIZE", size),
                      ("CHECKSUM", checksum), ("CHECKSUMTYPE", checksumtype), ("ADMID", admid),
                      ("GROUPID", groupid)))
    _el("FLocat", (("LOCTYPE", loctype), (_XLINK_TYPE, "simple"), (_XLINK_HREF, href)),
        parent=el)
    return el


def struct_map(*, sm_id: str, label: str | None, type_: str | None,
               divs: Iterable[Element] = ()) -> Element:
    """``<structMap ID LABEL TYPE>``."""
    return _el("structMap", (("ID", sm_id), ("LABEL", label), ("TYPE", type_)), divs)


def div(*, div_id: str, type_: str | None = None, label: str | None = None,
        dmdid: Sequence[str] = (), admid: Sequence[str] = (),
        children: Iterable[Element] = ()) -> Element:
    """``<div ID LABEL DMDID ADMID TYPE>``; empty id lists are left out."""
    return _el("div", (("ID", div_id), ("LABEL", label),
                       ("DMDID", " ".join(dmdid) if dmdid else None),
                       ("ADMID", " ".join(admid) if admid else None), ("TYPE", type_)),
               children)


def fptr(file_id: str) -> Element:
    return _el("fptr", (("FILEID", file_id),))


def mptr(*, ptr_id: str | None, loctype: str, href: str) -> Element:
    """``<mptr ID LOCTYPE xlink:type xlink:href/>``."""
    return _el("mptr", (("ID", ptr_id), ("LOCTYPE", loctype), (_XLINK_TYPE, "simple"),
                        (_XLINK_HREF, href)))


def serialize(root: Element) -> bytes:
    """The document as UTF-8 bytes with an XML declaration, pretty-printed by lxml.

    Deterministic: the same tree always gives the same bytes.
    """
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


__all__ = ["Agent", "amd_sec", "div", "file_el", "file_grp", "file_sec",
           "fptr", "m", "md_ref", "md_sec", "md_wrap", "md_wrap_binary", "mdtype_attrs",
           "mets_hdr", "mets_root", "mptr", "serialize", "struct_map", "xml_data"]
