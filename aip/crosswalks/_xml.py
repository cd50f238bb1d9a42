"""Small XML helpers shared by the crosswalks (private to ``aip.crosswalks``).

Owns: reading an element's text, matching elements by local name, appending a safe child
(``sub``), and the ``CrosswalkError`` shorthand (the text route is ``aip.xmltext``).  Must
not know any metadata format.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from aip.errors import CrosswalkError
from aip.xmltext import xml_safe

Element = etree._Element

def text_of(element: Element) -> str:
    """The character data of ``element`` and its descendants (comments and PIs excluded)."""
    if not len(element):  # (most fields: text alone)
        return element.text or ""
    return "".join(_texts(element))


def _texts(element: Element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if isinstance(child.tag, str):
            yield from _texts(child)
        if child.tail:
            yield child.tail


def local(element: Element) -> str:
    """The local name of ``element`` ("" for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]  # (a "}" ends the namespace; no name holds one)


def namespace(element: Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str):
        return None
    return etree.QName(tag).namespace


def children(element: Element, name: str | None = None) -> list[Element]:
    """Element children (no comments/PIs), optionally only those with local name ``name``."""
    return [c for c in element if isinstance(c.tag, str) and (name is None or local(c) == name)]


def child(element: Element, name: str) -> Element | None:
    """The first element child with local name ``name``."""
    for c in element:
        if isinstance(c.tag, str) and local(c) == name:
            return c
    return None


def expect_root(element: Element, ns: str | None, name: str, what: str) -> None:
    """Raise ``CrosswalkError`` unless ``element`` is ``{ns}name`` (``ns`` None: any)."""
    if local(element) != name or (ns is not None and namespace(element) != ns):
        raise CrosswalkError(
            f"{what}: expected root element {{{ns or '*'}}}{name}, found {element.tag!r}")


def sub(parent: Element, tag: str, text: str | None = None,
        attrib: dict[str, str] | None = None) -> Element:
    """Append ``tag`` to ``parent`` with XML-safe ``text`` and attributes."""
    if attrib:
        el = etree.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrib.items()})
    else:
        el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = xml_safe(text)
    return el
