"""DIM, DSpace's internal metadata format: the descriptive metadata of AIPs.

Owns: model metadata values <-> ``<dim:dim>`` (the dmdSec ``OTHERMDTYPE="DIM"``), including the
fixed container field lists of communities, collections and the site.  Pure: no I/O, does not
know METS (the caller wraps the element).

Rules (DSpace ``XSLTDisseminationCrosswalk.createDIM``/``createField`` and
``XSLTIngestionCrosswalk.ingestDIM``/``applyDimField``; docs/aip-format.md 3.3):

* ``dim:field`` attributes in this order: ``mdschema``, ``element``, ``qualifier`` (omitted when
  none), ``lang`` (omitted when ``None``; ``lang=""`` for the empty language), then
  ``authority`` and ``confidence`` only when an authority is set; the confidence is written as
  its ``Choices`` word (``ACCEPTED``...), a number when it has no word.
* Item values: every value, every schema, in the order given.  Values are kept exactly (no
  trimming; aipsync round trips must be exact) except that characters XML 1.0 cannot carry are
  dropped, as DSpace does.
* Containers: the fixed list of ``constants.COMMUNITY_FIELDS`` / ``COLLECTION_FIELDS``, the first
  value of each field, an empty element when absent, ``dc.identifier.uri`` = ``hdl:<handle>``.
  On ingest empty elements mean "absent" and ``dc.identifier.uri`` is not metadata (it is
  derived from the handle on export).
* Site: ``dc.identifier.uri`` = ``hdl:<handle>``, ``dc.identifier.uri`` = site URL, ``dc.title``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from aip import constants as C
from aip.crosswalks._xml import Element, children, expect_root, text_of
from aip.errors import CrosswalkError, Problem
from aip.model import Confidence, MetadataValue, Site, handle_uri
from aip.xmltext import escape_attr, leaf, parse

_NAMESPACES: dict[str, str] = {"dim": C.NS_DIM}
_SCHEMA_LOCATION: str | None = None  # DSpace publishes no schema for DIM

_DIM = f"{{{C.NS_DIM}}}dim"
_FIELD = f"{{{C.NS_DIM}}}field"


def confidence_text(confidence: int) -> str:
    """DSpace's word for a confidence value (``Choices.getConfidenceText``)."""
    try:
        return Confidence(confidence).name
    except ValueError:
        return str(int(confidence))


def confidence_value(text: str | None) -> int:
    """The confidence for a word; unknown words give ``NOVALUE`` as in ``Choices``."""
    if text is None or not text.strip():
        return int(Confidence.UNSET)
    word = text.strip()
    for member in Confidence:
        if member.name.lower() == word.lower():
            return int(member)
    try:
        return int(word)
    except ValueError:
        return int(Confidence.NOVALUE)


#: One ``dim:field``: schema, element, qualifier, value, language, authority, confidence.
Field = tuple[str, str, str | None, str | None, str | None, str | None, int]


def from_fields(dspace_type: str, fields: Iterable[Field]) -> Element:
    """``<dim:dim dspaceType=…>`` holding ``fields`` in order (attributes as the module
    docstring says), written as text and parsed once."""
    return parse(fields_text(dspace_type, fields))


def fields_text(dspace_type: str, fields: Iterable[Field]) -> str:
    """``from_fields`` as text (``aip.xmltext``), for the METS builder to place."""
    parts = [f'<dim:dim xmlns:dim="{C.NS_DIM}" dspaceType="{escape_attr(dspace_type)}">']
    for schema, element, qualifier, value, language, authority, confidence in fields:
        attrs = f' mdschema="{escape_attr(schema)}" element="{escape_attr(element)}"'
        if qualifier:
            attrs += f' qualifier="{escape_attr(qualifier)}"'
        if language is not None:
            attrs += f' lang="{escape_attr(language)}"'
        if authority is not None:
            attrs += (f' authority="{escape_attr(authority)}"'
                      f' confidence="{confidence_text(confidence)}"')
        parts.append(leaf("dim:field", value, attrs))
    parts.append("</dim:dim>")
    return "".join(parts)


def disseminate(values: Sequence[MetadataValue], dspace_type: str = C.TYPE_ITEM) -> Element:
    """Every value, in order, as a ``<dim:dim dspaceType=…>`` (items, template items)."""
    return parse(disseminate_text(values, dspace_type))


def disseminate_text(values: Sequence[MetadataValue], dspace_type: str = C.TYPE_ITEM) -> str:
    """``disseminate`` as text (``aip.xmltext``)."""
    return fields_text(dspace_type, ((v.schema, v.element, v.qualifier, v.value, v.language,
                                      v.authority, v.confidence) for v in values))


def container_fields(obj_type: str) -> tuple[tuple[str, str | None], ...]:
    """The fixed field list of a community or collection."""
    if obj_type == C.TYPE_COMMUNITY:
        return C.COMMUNITY_FIELDS
    if obj_type == C.TYPE_COLLECTION:
        return C.COLLECTION_FIELDS
    raise ValueError(f"no container field list for {obj_type!r}")


def first_values(metadata: Sequence[MetadataValue]) -> dict[tuple[str, str | None], str]:
    """The first non-empty ``dc`` value of each (element, qualifier)."""
    first: dict[tuple[str, str | None], str] = {}
    for v in metadata:
        if v.schema == "dc" and v.value != "":
            first.setdefault((v.element, v.qualifier or None), v.value)
    return first


def disseminate_container(obj_type: str, handle: str,
                          metadata: Sequence[MetadataValue]) -> Element:
    """A community's or collection's fixed DIM list (empty element for an absent field)."""
    first = first_values(metadata)
    return from_fields(obj_type, dc_fields(
        (element, qualifier, handle_uri(handle) if (element, qualifier) == ("identifier", "uri")
         else first.get((element, qualifier)))
        for element, qualifier in container_fields(obj_type)))


def disseminate_site(site: Site) -> Element:
    """The site's DIM: its handle URI, its URL and its name."""
    return from_fields(C.TYPE_SITE, dc_fields((
        ("identifier", "uri", handle_uri(site.handle)), ("identifier", "uri", site.url),
        ("title", None, site.name))))


def dc_fields(fields: Iterable[tuple[str, str | None, str | None]]) -> Iterator[Field]:
    """``dc`` fields, (element, qualifier, value), with no language or authority."""
    for element, qualifier, value in fields:
        yield ("dc", element, qualifier, value, None, None, Confidence.UNSET)


def dspace_type(root: Element) -> str | None:
    """The ``dspaceType`` of a ``dim:dim``."""
    return root.get("dspaceType")


def _fields(root: Element, what: str) -> list[Element]:
    expect_root(root, C.NS_DIM, "dim", what)
    fields = []
    for el in children(root):
        if el.tag != _FIELD:
            raise CrosswalkError(f"{what}: unexpected element {el.tag!r} in dim:dim")
        fields.append(el)
    return fields


def _value(field: Element, what: str) -> MetadataValue:
    schema, element = field.get("mdschema"), field.get("element")
    if not schema or not element:
        raise CrosswalkError(f"{what}: dim:field without mdschema/element (line "
                             f"{field.sourceline})")
    authority = field.get("authority")
    confidence = confidence_value(field.get("confidence"))
    if authority is None and field.get("confidence") is None:
        confidence = int(Confidence.UNSET)
    # "some XSL puts an empty string in qualifier" (XSLTIngestionCrosswalk): "" means none
    qualifier = field.get("qualifier") or None
    return MetadataValue(schema=schema, element=element, qualifier=qualifier,
                         value=text_of(field), language=field.get("lang"),
                         authority=authority, confidence=confidence)


def ingest(root: Element, what: str = "DIM") -> tuple[MetadataValue, ...]:
    """Every ``dim:field`` as a metadata value, in document order.

    Raises:
        CrosswalkError: not a ``dim:dim``, an unexpected element, a field without
            ``mdschema``/``element``.
    """
    return tuple(_value(f, what) for f in _fields(root, what))


def ingest_container(root: Element, obj_type: str,
                     warnings: list[Problem] | None = None) -> tuple[MetadataValue, ...]:
    """The fixed container fields that have a value (first one per field), in list order.

    ``dc.identifier.uri`` is skipped (derived from the handle); empty elements are absent;
    other fields are ignored with a warning, as DSpace does ("Cannot map to Coll/Comm
    metadata field").
    """
    allowed = container_fields(obj_type)
    found: dict[tuple[str, str | None], str] = {}
    for v in ingest(root, f"{obj_type} DIM"):
        key = (v.element, v.qualifier)
        if v.schema != "dc" or key not in allowed:
            if warnings is not None:
                warnings.append(Problem("AIP-W043", f"{obj_type} DIM field {v.field} is not a "
                                        "container field; ignored"))
            continue
        if key == ("identifier", "uri") or v.value == "":
            continue
        found.setdefault(key, v.value)
    return tuple(MetadataValue("dc", e, q, found[(e, q)]) for e, q in allowed if (e, q) in found)


__all__ = [
    "Field",
    "confidence_text",
    "confidence_value",
    "container_fields",
    "dc_fields",
    "disseminate",
    "disseminate_container",
    "disseminate_site",
    "disseminate_text",
    "dspace_type",
    "fields_text",
    "first_values",
    "from_fields",
    "ingest",
    "ingest_container",
]
