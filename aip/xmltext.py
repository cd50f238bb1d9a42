"""XML written as text and parsed once: the fast route to the trees the builders make.

Owns: making strings safe for XML 1.0 (``xml_safe``), escaping them for content and for
attributes, writing one element (``leaf``), parsing such text back into the tree that building
it element by element would have given (``parse``, empty texts included), and fitting a
section serialized on its own into a document (``embed``: the namespace declarations the
document already has in scope are dropped, as lxml drops them when it moves a subtree in).

Building a tree with lxml costs a few microseconds per element and attribute, in Python; the
same tree parsed from text costs a tenth of that, in C.  The METS builders and the crosswalks
write text and parse once per package; what they produce is byte for byte what the
element-by-element route produced (held by tests).  Pure: no I/O.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

from lxml import etree

Element = etree._Element

# XML 1.0 Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: Marks an element whose text is the empty string: parsed, ``<a></a>`` has no text at all
#: (``None``, written ``<a/>``), while a built element given ``""`` keeps it (written
#: ``<a></a>``); ``parse`` gives marked elements their ``""`` back.
EMPTY_MARK = "aipsync-empty-text"
_LOCAL = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser (lxml parsers must not be shared between threads): for our own
    text (escaped values, no DTD), so entities off, no network, and no size limit (a SITE
    manifest lists every e-person)."""
    parser: etree.XMLParser | None = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 remove_blank_text=False, collect_ids=False, huge_tree=True)
        _LOCAL.parser = parser
    return parser


def xml_safe(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry.

    DSpace drops them silently too (``XSLTDisseminationCrosswalk.checkedString``,
    ``MODSDisseminationCrosswalk.checkedString``); everything else is kept exactly.
    """
    if value.isascii() and value.isprintable():  # the common case, checked in C
        return value
    return _ILLEGAL_XML.sub("", value)


#: A character that is not printable ASCII, or is markup: the value needs a closer look.
_PLAIN_TEXT = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\x7e]")
_PLAIN_ATTR = re.compile("[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x7e]")


def escape_text(value: str) -> str:
    """``value`` made XML-safe and escaped for element content (a carriage return written
    ``&#13;``: a parser would turn a bare one into a line feed)."""
    if _PLAIN_TEXT.search(value) is None:  # printable ASCII without markup: as it is
        return value
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
    if _PLAIN_ATTR.search(value) is None:  # printable ASCII without markup: as it is
        return value
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
        return f'<{tag}{attrs} {EMPTY_MARK}=""/>'
    return f"<{tag}{attrs}>{value}</{tag}>"


def parse(text: str) -> Element:
    """Parse text written with these helpers (its root declares the namespaces it uses).

    The tree is the one the element-by-element route builds: same elements, attributes in
    the same order, same text (``leaf``'s empty texts restored), no whitespace.
    """
    root = etree.fromstring(text, _parser())
    if EMPTY_MARK in text:  # a value may hold the mark's name too: then nothing is marked
        for el in root.iter():
            if EMPTY_MARK in el.attrib:
                del el.attrib[EMPTY_MARK]
                el.text = ""
    return root


_EMPTY_TEXT = etree.XPath('descendant-or-self::*[text()=""]')


def element_text(element: Element) -> str:
    """A built element as compact text for ``parse``/``embed`` (empty texts marked)."""
    found = _EMPTY_TEXT(element)
    assert isinstance(found, list)
    empties = [el for el in found if isinstance(el, etree._Element)]
    for el in empties:
        el.text = None
        el.set(EMPTY_MARK, "")
    try:
        return etree.tostring(element, encoding="unicode")
    finally:
        for el in empties:
            del el.attrib[EMPTY_MARK]
            el.text = ""


_NS_DECL = re.compile(r' xmlns(?::([^\s=]+))?="([^"]*)"')


def embed(text: str, scope: Mapping[str | None, str]) -> str:
    """A section's text, from its own root, fitted into a document where ``scope`` (prefix ->
    namespace; ``None`` the default) is declared: its root's declarations already in scope
    are dropped (as lxml's move into a document drops them).

    Raises:
        ValueError: the section binds a namespace the document binds to another prefix, or
            declares namespaces below its root (neither is written by aipsync).
    """
    end = text.index(">")
    head = text[:end]
    if " xmlns" not in head:
        return text
    if " xmlns" in text[end:]:
        raise ValueError("a section with namespace declarations below its root")
    in_scope = set(scope.values())

    def keep(m: re.Match[str]) -> str:
        prefix, uri = m.group(1), m.group(2)
        if scope.get(prefix) == uri:
            return ""
        if uri in in_scope:
            raise ValueError(f"namespace {uri} under another prefix than the document's")
        return m.group(0)

    return _NS_DECL.sub(keep, head) + text[end:]


__all__ = ["EMPTY_MARK", "element_text", "embed", "escape_attr", "escape_text", "leaf",
           "parse", "xml_safe"]
