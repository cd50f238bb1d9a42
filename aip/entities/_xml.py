"""Reading an entities configuration file (private to ``aip.entities``).

Owns: the one parser for DSpace's configuration XML (``relationship-types.xml``,
``virtual-metadata.xml``): a DOCTYPE is accepted, as DSpace's own ``relationship-types.xml``
has one (``<!DOCTYPE relationships SYSTEM "relationship-types.dtd">``), but never loaded;
entities are not expanded and a file that uses one is refused; nothing is fetched.  Errors
are ``EntityConfigError`` naming the file.
"""

from __future__ import annotations

from lxml import etree

from aip.errors import EntityConfigError

Element = etree._Element


def parse_config(data: bytes, path: str) -> Element:
    """The root element of a configuration file.

    Raises:
        EntityConfigError: not well-formed, or an entity reference in it.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True,
                             remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise EntityConfigError(path=path, detail=f"not well-formed XML: {exc}") from exc
    for el in root.iter():
        if isinstance(el, etree._Entity):
            raise EntityConfigError(path=path, detail=f"entity reference {el.text!r} on line "
                                    f"{el.sourceline} is not allowed")
    return root


def local(el: Element) -> str:
    """The local name of an element ("" for anything else)."""
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def elements(el: Element) -> list[Element]:
    """The element children of ``el`` (comments and processing instructions left out)."""
    return [c for c in el if isinstance(c.tag, str)]


def text(el: Element) -> str:
    """The character data of ``el``, whitespace around it removed."""
    return "".join(str(t) for t in el.itertext()).strip()
