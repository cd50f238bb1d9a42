"""Small XML helpers shared by the crosswalks (private to ``aip.crosswalks``).

Owns: making text safe for XML 1.0, reading an element's text, matching elements by local
name, and the ``CrosswalkError`` shorthand; and the text route for building fixed-shape
sections fast: ``escape_text``/``escape_attr``, ``leaf`` and ``fragment`` (the section is
written as compact XML text and parsed once, in C, instead of being built element by element:
a tenth of the time, the same tree).  Must not know any metadata format.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from aip.errors import CrosswalkError

Element = etree._Element

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry.

    DSpace drops them silently too (``XSLTDisseminationCrosswalk.checkedString``,
    ``MODSDisseminationCrosswalk.checkedString``); everything else is kept exactly.
    """
    if value.isascii() and value.isprintable():  # the common case, checked in C
        return value
    return _ILLEGAL_XML.sub("", value)


# -- the text route -----------------------------------------------------------------------------
#: Marks an element whose text is the empty string: parsed, ``<a></a>`` has no text at all
#: (``None``, written ``<a/>``), while a built element given ``""`` keeps it (written
#: ``<a></a>``); ``fragment`` gives marked elements their ``""`` back.
_EMPTY_MARK = "aipsync-empty-text"
_FRAGMENT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                   remove_blank_text=False, collect_ids=False)


def escape_text(value: str) -> str:
    """``value`` made XML-safe and escaped for element content (a carriage return written
    ``&#13;``: a parser would turn a bare one into a line feed)."""
    value = xml_safe(value)
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


_ATTR_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;",
                 "\n": "&#10;", "\r": "&#13;"}
_ATTR_SPECIAL = re.compile('[&<>"\t\n\r]')


def escape_attr(value: str) -> str:
    """``value`` made XML-safe and escaped for a double-quoted attribute (tabs and line ends
    as character references, which attribute normalisation leaves alone)."""
    value = xml_safe(value)
    if _ATTR_SPECIAL.search(value) is None:
        return value
    return _ATTR_SPECIAL.sub(lambda m: _ATTR_ESCAPES[m.group()], value)


def leaf(tag: str, value: str | None, attrs: str = "") -> str:
    """One element as text: ``tag`` (prefixed), ``attrs`` already written (`` a="v"``), and
    ``value`` as its text (``None``: no text)."""
    if value is None:
        return f"<{tag}{attrs}/>"
    value = escape_text(value)
    if not value:
        return f'<{tag}{attrs} {_EMPTY_MARK}=""/>'
    return f"<{tag}{attrs}>{value}</{tag}>"


def fragment(text: str) -> Element:
    """Parse a section written as text (its root declares the namespaces it uses).

    The tree is the one the element-by-element route builds: same elements, attributes in
    the same order, same text (``leaf``'s empty texts restored), no whitespace.
    """
    root = etree.fromstring(text, _FRAGMENT_PARSER)
    if _EMPTY_MARK in text:  # a value may hold the mark's name too: then nothing is marked
        for el in root.iter():
            if _EMPTY_MARK in el.attrib:
                del el.attrib[_EMPTY_MARK]
                el.text = ""
    return root


def text_of(element: Element) -> str:
    """The character data of ``element`` and its descendants (comments and PIs excluded)."""
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
    return etree.QName(tag).localname


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
