"""MODS 3.1: the second, lossy descriptive metadata section of AIPs.

Owns: model metadata values -> ``<mods:mods>`` following the dissemination table of DSpace's
``dspace/config/crosswalks/mods.properties`` (one entry per qualified ``dc`` field; values of
other fields and other schemas are skipped), the container/site field lists of
``MODSDisseminationCrosswalk`` (``community2Metadata``, ``collection2Metadata``,
``site2Metadata``), and a reverse mapping used only when an AIP has no DIM or ``-o dmd=MODS`` is
asked for.  Pure: no I/O, does not know METS.

The reverse mapping is **lossy** and documented as such: MODS carries no language, authority or
confidence; several ``dc`` fields share one MODS shape (``dc.contributor``/``dc.creator`` ->
``name``, ``dc.format``/``dc.format.medium`` -> ``physicalDescription/form``,
``dc.relation.hasversion``/``isversionof``, ``dc.relation.isbasedon``/``dc.source``), and the
first field of the table wins; MODS elements matching no entry are skipped with a warning.
``note type="provenance"`` (written by DSpace <= 1.8, commented out of ``mods.properties`` since)
is read back as ``dc.description.provenance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aip import constants as C
from aip.crosswalks._xml import Element, children, expect_root, local, namespace, text_of
from aip.crosswalks.dim import first_values
from aip.errors import Problem
from aip.model import MetadataValue, Site
from aip.xmltext import escape_attr, escape_text, leaf, parse

_NAMESPACES: dict[str, str] = {"mods": C.NS_MODS, "xlink": C.NS_XLINK}
_SCHEMA_LOCATION: str | None = f"{C.NS_MODS} {C.SCHEMA_LOCATION_MODS}"

#: Marks where the value goes (NUL never occurs in parsed XML, so it never matches text).
_V = "\x00"
_SIMPLE_LINK = f"{{{C.NS_XLINK}}}simpleLink"


@dataclass(frozen=True, slots=True)
class _T:
    """One element of a MODS template: tag, fixed or value attributes, text, children."""

    tag: str
    attrs: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    kids: tuple[_T, ...] = ()


def _leaf(tag: str, **attrs: str) -> _T:
    return _T(tag, tuple(attrs.items()), _V)


def _name(role: str | None) -> _T:
    part = _T("namePart", (), _V)
    if role is None:
        return _T("name", kids=(part,))
    return _T("name", kids=(_T("role", kids=(_T("roleTerm", (("type", "text"),), role),)), part))


def _wrap(tag: str, inner: _T, **attrs: str) -> _T:
    return _T(tag, tuple(attrs.items()), kids=(inner,))


def _date(tag: str, outer: str = "originInfo") -> _T:
    return _wrap(outer, _leaf(tag, encoding="iso8601"))


def _related(kind: str) -> _T:
    return _leaf("relatedItem", type=kind)


def _linked(tag: str, **attrs: str) -> _T:
    return _T(tag, (*attrs.items(), (_SIMPLE_LINK, _V)), _V)


#: The dissemination table of ``mods.properties`` (DSpace main), as data.
_MODS_MAP: dict[str, _T] = {
    "dc.contributor": _name(None),
    "dc.contributor.advisor": _name("advisor"),
    "dc.contributor.author": _name("author"),
    "dc.contributor.editor": _name("editor"),
    "dc.contributor.illustrator": _name("illustrator"),
    "dc.contributor.other": _name("other"),
    "dc.coverage.spatial": _wrap("subject", _leaf("geographic")),
    "dc.coverage.temporal": _wrap("subject", _leaf("temporal")),
    "dc.creator": _name(None),
    "dc.date": _date("dateOther"),
    "dc.date.accessioned": _date("dateAccessioned", "extension"),
    "dc.date.available": _date("dateAvailable", "extension"),
    "dc.date.copyright": _date("copyrightDate"),
    "dc.date.created": _date("dateCreated"),
    "dc.date.issued": _date("dateIssued"),
    "dc.date.submitted": _date("dateSubmitted", "extension"),
    "dc.description": _leaf("note"),
    "dc.description.abstract": _leaf("abstract"),
    "dc.description.sponsorship": _leaf("note", type="sponsorship"),
    "dc.description.statementofresponsibility": _leaf("note",
                                                      type="statement of responsibility"),
    "dc.description.tableofcontents": _leaf("tableOfContents"),
    "dc.description.uri": _linked("note"),
    "dc.format": _wrap("physicalDescription", _leaf("form")),
    "dc.format.extent": _wrap("physicalDescription", _leaf("extent")),
    "dc.format.medium": _wrap("physicalDescription", _leaf("form")),
    "dc.format.mimetype": _wrap("physicalDescription", _leaf("internetMediaType")),
    "dc.identifier": _leaf("identifier"),
    "dc.identifier.citation": _wrap("relatedItem", _wrap("part", _leaf("text")), type="host"),
    "dc.identifier.govdoc": _leaf("identifier", type="govdoc"),
    "dc.identifier.isbn": _leaf("identifier", type="isbn"),
    "dc.identifier.ismn": _leaf("identifier", type="ismn"),
    "dc.identifier.issn": _leaf("identifier", type="issn"),
    "dc.identifier.other": _leaf("identifier", type="local"),
    "dc.identifier.sici": _leaf("identifier", type="sici"),
    "dc.identifier.uri": _leaf("identifier", type="uri"),
    "dc.language": _wrap("language", _leaf("languageTerm")),
    "dc.language.iso": _wrap("language", _leaf("languageTerm", authority="rfc3066")),
    "dc.publisher": _wrap("originInfo", _leaf("publisher")),
    "dc.relation": _wrap("relatedItem", _wrap("titleInfo", _leaf("title"))),
    "dc.relation.haspart": _related("constituent"),
    "dc.relation.hasversion": _related("otherVersion"),
    "dc.relation.isbasedon": _related("original"),
    "dc.relation.isformatof": _related("otherFormat"),
    "dc.relation.ispartof": _related("host"),
    "dc.relation.ispartofseries": _related("series"),
    "dc.relation.isreferencedby": _related("isReferencedBy"),
    "dc.relation.isreplacedby": _related("succeeding"),
    "dc.relation.isversionof": _related("otherVersion"),
    "dc.relation.replaces": _related("preceding"),
    "dc.relation.requires": _leaf("note", type="requires"),
    "dc.relation.uri": _wrap("relatedItem", _wrap("location", _leaf("url"))),
    "dc.rights": _leaf("accessCondition", type="useAndReproduction"),
    "dc.rights.uri": _linked("accessCondition"),
    "dc.source": _related("original"),
    "dc.source.uri": _linked("relatedItem", type="original"),
    "dc.subject": _wrap("subject", _leaf("topic")),
    "dc.subject.classification": _leaf("classification"),
    "dc.subject.ddc": _leaf("classification", authority="ddc"),
    "dc.subject.lcc": _leaf("classification", authority="lcc"),
    "dc.subject.lcsh": _T("subject", (("authority", "lcsh"),), kids=(_leaf("topic"),)),
    "dc.subject.mesh": _T("subject", (("authority", "mesh"),), kids=(_leaf("topic"),)),
    "dc.subject.other": _T("subject", (("authority", "local"),), kids=(_leaf("topic"),)),
    "dc.title": _wrap("titleInfo", _leaf("title")),
    "dc.title.alternative": _T("titleInfo", (("type", "alternative"),), kids=(_leaf("title"),)),
    "dc.type": _leaf("genre"),
}

#: Shapes only read back (written by older DSpace releases).
_READ_ONLY: dict[str, _T] = {"dc.description.provenance": _leaf("note", type="provenance")}


_ROOT_TEXT = (f'<mods:mods xmlns:mods="{C.NS_MODS}" xmlns:xsi="{C.NS_XSI}" '
              f'xmlns:xlink="{C.NS_XLINK}" '
              f'xsi:schemaLocation="{C.NS_MODS} {C.SCHEMA_LOCATION_MODS}">')


def _qname(tag: str) -> str:
    """A template attribute name as written in text (the one namespaced one is xlink's)."""
    return f"xlink:{tag[len(C.NS_XLINK) + 2:]}" if tag.startswith("{") else tag


def _text(t: _T, value: str | None) -> str:
    """One template element as text: ``value`` (None: absent) where the template says."""
    attrs = "".join(f' {_qname(key)}="{escape_attr(value or "") if fixed == _V else fixed}"'
                    for key, fixed in t.attrs)
    tag = f"mods:{t.tag}"
    text = value if t.text == _V else t.text
    if t.kids:
        inner = escape_text(text) if text else ""
        return f"<{tag}{attrs}>{inner}{''.join(_text(kid, value) for kid in t.kids)}</{tag}>"
    return leaf(tag, text, attrs)


def disseminate(values: Sequence[MetadataValue]) -> Element:
    """An item's (or template item's) MODS: one element per mapped value, in value order."""
    return parse(disseminate_text(values))


def disseminate_text(values: Sequence[MetadataValue]) -> str:
    """``disseminate`` as text (``aip.xmltext``)."""
    return _document((v.field, v.value) for v in values)


def _document(values: Iterable[tuple[str, str | None]]) -> str:
    """``<mods:mods>`` with one element per mapped (field, value); ``None`` is an empty
    element (``createDCValue(…, null)``)."""
    parts = [_ROOT_TEXT]
    for field, value in values:
        template = _MODS_MAP.get(field)
        if template is not None:  # DSpace logs "No MODS mapping for …" and skips
            parts.append(_text(template, value))
    parts.append("</mods:mods>")
    return "".join(parts)


def disseminate_container(obj_type: str, handle: str, metadata: Sequence[MetadataValue],
                          canonical_prefix: str) -> Element:
    """A community's or collection's MODS, as ``MODSDisseminationCrosswalk`` builds it.

    Communities always carry ``note`` (introductory text, empty when absent) and the
    identifier; collections skip every absent field.  ``dc.provenance`` and
    ``dc.rights.license`` have no MODS mapping and are skipped (as in DSpace).
    """
    first = first_values(metadata)
    always: set[tuple[str, str | None]] = {("identifier", "uri")}
    fields: tuple[tuple[str, str | None], ...] = C.COLLECTION_FIELDS
    if obj_type == C.TYPE_COMMUNITY:
        always.add(("description", None))
        fields = C.COMMUNITY_FIELDS
    values: list[tuple[str, str | None]] = []
    for element, qualifier in fields:
        name = f"dc.{element}" + (f".{qualifier}" if qualifier else "")
        if (element, qualifier) == ("identifier", "uri"):
            value: str | None = f"{canonical_prefix}{handle}"
        else:
            value = first.get((element, qualifier))
        if value is not None or (element, qualifier) in always:
            values.append((name, value))
    return parse(_document(values))


def disseminate_site(site: Site, canonical_prefix: str) -> Element:
    """The site's MODS: canonical handle URL, site URL, name."""
    return parse(_document((("dc.identifier.uri", f"{canonical_prefix}{site.handle}"),
                            ("dc.identifier.uri", site.url), ("dc.title", site.name))))


_NO = object()


def _match(t: _T, el: Element) -> object:
    """The value captured when ``el`` has exactly the shape ``t``; ``_NO`` otherwise."""
    if local(el) != t.tag or namespace(el) != C.NS_MODS:
        return _NO
    captured: object = None
    attrs = {str(k): str(v) for k, v in el.attrib.items()
             if not str(k).startswith(f"{{{C.NS_XSI}}}")}
    if set(attrs) != {k for k, _ in t.attrs}:
        return _NO
    for key, fixed in t.attrs:
        if fixed != _V and attrs[key] != fixed:
            return _NO
    kids = children(el)
    if len(kids) != len(t.kids):
        return _NO
    if t.text == _V:
        captured = text_of(el)
    elif t.text is not None and (el.text or "").strip() != t.text:
        return _NO
    for kid_el, kid in zip(kids, t.kids, strict=True):
        got = _match(kid, kid_el)
        if got is _NO:
            return _NO
        if got is not None and captured is None:
            captured = got
    return captured


def _field_of(el: Element) -> tuple[str, str] | None:
    for table in (_MODS_MAP, _READ_ONLY):
        for field, template in table.items():
            got = _match(template, el)
            if got is not _NO:
                return field, got if isinstance(got, str) else ""
    return None


def ingest(root: Element, warnings: list[Problem] | None = None) -> tuple[MetadataValue, ...]:
    """The ``dc`` values a MODS record maps back to (lossy; see the module docstring)."""
    expect_root(root, C.NS_MODS, "mods", "MODS")
    values: list[MetadataValue] = []
    for el in children(root):
        found = _field_of(el)
        if found is None:
            if warnings is not None:
                warnings.append(Problem("AIP-W044", f"MODS element {local(el)!r} (line "
                                        f"{el.sourceline}) maps to no dc field; skipped"))
            continue
        field, value = found
        _, element, *rest = field.split(".")
        values.append(MetadataValue("dc", element, rest[0] if rest else None, value))
    return tuple(values)


def ingest_container(root: Element, obj_type: str,
                     warnings: list[Problem] | None = None) -> tuple[MetadataValue, ...]:
    """The container fields a community/collection MODS maps back to (no identifier.uri)."""
    allowed = set(C.COMMUNITY_FIELDS if obj_type == C.TYPE_COMMUNITY else C.COLLECTION_FIELDS)
    allowed.discard(("identifier", "uri"))
    found: dict[tuple[str, str | None], str] = {}
    for v in ingest(root, warnings):
        key = (v.element, v.qualifier)
        if key in allowed and v.value != "":
            found.setdefault(key, v.value)
    order = C.COMMUNITY_FIELDS if obj_type == C.TYPE_COMMUNITY else C.COLLECTION_FIELDS
    return tuple(MetadataValue("dc", e, q, found[(e, q)]) for e, q in order if (e, q) in found)


__all__ = ["disseminate", "disseminate_container",
           "disseminate_site", "disseminate_text", "ingest", "ingest_container"]
