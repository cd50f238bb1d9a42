"""The text route (sections written as compact XML and parsed once) builds exactly the tree the
element-by-element route builds: the same bytes when serialized, for any characters at all
(XML-illegal ones, CR/LF/TAB, markup characters, the empty string, the empty-text mark)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import dim, extension, mods, premis, techmd
from aip.crosswalks._xml import sub
from aip.crosswalks.extension import (
    Extension,
    LogoFacts,
    PackageExtension,
    PolicyFacts,
    Registry,
)
from aip.model import (
    Action,
    Bitstream,
    BitstreamFormat,
    Confidence,
    HarvestSettings,
    MetadataField,
    MetadataSchema,
    MetadataValue,
    SupportLevel,
)
from aip.xmltext import EMPTY_MARK as _EMPTY_MARK
from aip.xmltext import xml_safe

#: Anything a Python string may hold, weighted towards what needs escaping or dropping.
_pieces = st.text(st.characters(codec=None), max_size=3) | st.sampled_from(
    ["&", "<", ">", '"', "'", "\r", "\n", "\t", "\x00", "\ufffe", "\ud800", "]]>",
     _EMPTY_MARK, f' {_EMPTY_MARK}=""', "&amp;", "\r\n", ""])
anything = st.lists(_pieces, max_size=5).map("".join)
maybe = st.none() | anything


def _bytes(el: etree._Element) -> bytes:
    return etree.tostring(el)


# -- DIM: the element-by-element reference (the crosswalk's former code) -------------------------
def _dim_reference(dspace_type: str, fields: list[dim.Field]) -> etree._Element:
    root = etree.Element(f"{{{C.NS_DIM}}}dim", nsmap={"dim": C.NS_DIM})
    root.set("dspaceType", dspace_type)
    for schema, element, qualifier, value, language, authority, confidence in fields:
        attrib = {"mdschema": xml_safe(schema), "element": xml_safe(element)}
        if qualifier:
            attrib["qualifier"] = xml_safe(qualifier)
        if language is not None:
            attrib["lang"] = xml_safe(language)
        if authority is not None:
            attrib["authority"] = xml_safe(authority)
            attrib["confidence"] = dim.confidence_text(confidence)
        field = etree.SubElement(root, f"{{{C.NS_DIM}}}field", attrib)
        if value is not None:
            field.text = xml_safe(value)
    return root


fields = st.tuples(anything, anything, maybe, maybe, maybe, maybe,
                   st.sampled_from([int(c) for c in Confidence]) | st.integers(-5, 1000))


@given(st.sampled_from([C.TYPE_ITEM, C.TYPE_BITSTREAM]), st.lists(fields, max_size=6))
def test_dim_fields(dspace_type: str, given_fields: list[dim.Field]) -> None:
    assert _bytes(dim.from_fields(dspace_type, given_fields)) == \
        _bytes(_dim_reference(dspace_type, given_fields))


# -- MODS: the element-by-element reference (the crosswalk's former code) ------------------------
def _render(parent: etree._Element, t: mods._T, value: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{C.NS_MODS}}}{t.tag}")
    for key, fixed in t.attrs:
        el.set(key, value if fixed == mods._V else fixed)
    if t.text is not None:
        el.text = value if t.text == mods._V else t.text
    for kid in t.kids:
        _render(el, kid, value)
    return el


def _strip_value(el: etree._Element, t: mods._T) -> None:
    if t.text == mods._V:
        el.text = None
    for kid_el, kid in zip(el, t.kids, strict=True):
        _strip_value(kid_el, kid)


def _mods_reference(values: list[MetadataValue]) -> etree._Element:
    root = etree.Element(f"{{{C.NS_MODS}}}mods", nsmap={"mods": C.NS_MODS, "xsi": C.NS_XSI,
                                                         "xlink": C.NS_XLINK})
    root.set(f"{{{C.NS_XSI}}}schemaLocation", f"{C.NS_MODS} {C.SCHEMA_LOCATION_MODS}")
    for v in values:
        template = mods._MODS_MAP.get(v.field)
        if template is not None:
            _render(root, template, xml_safe(v.value) if v.value is not None else "")
            if v.value is None:
                _strip_value(root[-1], template)
    return root


mapped_fields = st.sampled_from(sorted(mods._MODS_MAP))


@st.composite
def mods_values(draw: st.DrawFn) -> MetadataValue:
    schema, element, *rest = draw(mapped_fields).split(".")
    return MetadataValue(schema, element, rest[0] if rest else None, draw(maybe))


@given(st.lists(mods_values(), max_size=8))
def test_mods_values(values: list[MetadataValue]) -> None:
    assert _bytes(mods.disseminate(values)) == _bytes(_mods_reference(values))


def _premis_reference(bs: Bitstream, identifier: str) -> etree._Element:
    p = premis._p
    root = etree.Element(p("premis"), nsmap={"premis": C.NS_PREMIS})
    obj = sub(root, p("object"))
    oid = sub(obj, p("objectIdentifier"))
    sub(oid, p("objectIdentifierType"), "URL")
    sub(oid, p("objectIdentifierValue"), identifier)
    sub(obj, p("objectCategory"), "File")
    chars = sub(obj, p("objectCharacteristics"))
    if bs.md5 is not None:
        fixity = sub(chars, p("fixity"))
        sub(fixity, p("messageDigestAlgorithm"), C.CHECKSUM_TYPE)
        sub(fixity, p("messageDigest"), bs.md5)
    sub(chars, p("size"), str(bs.size))
    designation = sub(sub(chars, p("format")), p("formatDesignation"))
    sub(designation, p("formatName"), bs.format.mimetype)
    original = bs.name if bs.name is not None else bs.source
    if original is not None:
        sub(obj, p("originalName"), original)
    return root


formats = st.builds(BitstreamFormat, short_description=anything, mimetype=anything,
                    description=anything, support_level=st.integers(0, 2),
                    internal=st.booleans())
bitstreams = st.builds(Bitstream, sequence_id=st.integers(1, 99), name=maybe, source=maybe,
                       description=maybe, user_format_description=maybe,
                       size=st.integers(0, 10**12), format=formats,
                       md5=st.none() | st.text("0123456789abcdef", min_size=32, max_size=32))


@given(bitstreams, anything)
def test_premis(bs: Bitstream, identifier: str) -> None:
    assert _bytes(premis.disseminate(bs, identifier)) == _bytes(_premis_reference(bs,
                                                                                  identifier))


@given(bitstreams)
def test_techmd_bitstream(bs: Bitstream) -> None:
    reference = _dim_reference(C.TYPE_BITSTREAM, list(dim.dc_fields(
        techmd.bitstream_fields(bs))))
    assert _bytes(techmd.disseminate_bitstream(bs)) == _bytes(reference)


def test_an_empty_value_keeps_its_empty_text() -> None:
    root = dim.from_fields(C.TYPE_ITEM, [("dc", "title", None, "", None, None, 0),
                                         ("dc", "title", None, "\x00", None, None, 0),
                                         ("dc", "title", None, None, None, None, 0)])
    assert [f.text for f in root] == ["", "", None]
    assert _EMPTY_MARK not in _bytes(root).decode()


def test_words_only_ids_are_not_escaped() -> None:
    word = string.ascii_letters
    root = dim.from_fields(C.TYPE_ITEM, [("dc", word, None, word, None, None, 0)])
    assert root[0].get("element") == word and root[0].text == word


# -- AIPSYNC-EXT: the element-by-element reference (the crosswalk's former code) -----------------
def _x(tag: str) -> str:
    return f"{{{C.NS_AIPSYNC}}}{tag}"


def _format_reference(parent: etree._Element, fmt: BitstreamFormat) -> None:
    el = sub(parent, _x("format"), attrib={
        "short": fmt.short_description, "mimetype": fmt.mimetype,
        "support": SupportLevel(fmt.support_level).name,
        "internal": "true" if fmt.internal else "false"})
    sub(el, _x("description"), fmt.description)
    for ext in fmt.extensions:
        sub(el, _x("extension"), ext)


def _fill_reference(root: etree._Element, ext: Extension) -> None:
    if ext.discoverable is not None:
        sub(root, _x("item"), attrib={"discoverable": "true" if ext.discoverable else "false"})
    if ext.harvest is not None:
        h = ext.harvest
        sub(root, _x("harvest"), attrib={
            "type": str(h.harvest_type), "source": h.oai_source, "set": h.oai_set_id,
            "config": h.metadata_config_id, "status": str(h.harvest_status)})
    if ext.logo is not None:
        logo = sub(root, _x("logo"))
        if ext.logo.sha256 is not None:
            logo.set("sha256", ext.logo.sha256)
        if ext.logo.name is not None:
            sub(logo, _x("name"), ext.logo.name)
        if ext.logo.format is not None:
            _format_reference(logo, ext.logo.format)
    if ext.sha256 is not None or ext.format is not None:
        bs = sub(root, _x("bitstream"))
        if ext.sha256 is not None:
            bs.set("sha256", ext.sha256)
        if ext.format is not None:
            _format_reference(bs, ext.format)
    if ext.policies is not None:
        wrapper = sub(root, _x("policies"), attrib={"count": str(len(ext.policies))})
        for i, facts in enumerate(ext.policies):
            el = sub(wrapper, _x("policy"), attrib={"index": str(i),
                                                    "action": str(int(facts.action))})
            if facts.policy_type is not None:
                el.set("type", facts.policy_type)
            if facts.description is not None:
                sub(el, _x("description"), facts.description)


def _package_reference(pkg: PackageExtension) -> etree._Element:
    root = etree.Element(_x("package"), nsmap={"aipsync": C.NS_AIPSYNC})
    for key, ext in pkg.facts:
        if not ext.is_empty():
            _fill_reference(sub(root, _x("ext"), attrib={"for": key}), ext)
    if pkg.registry is not None:
        el = sub(root, _x("registry"))
        for schema in pkg.registry.schemas:
            sub(el, _x("schema"), attrib={"prefix": schema.prefix,
                                          "namespace": schema.namespace})
        for fld in pkg.registry.fields:
            attrib = {"schema": fld.schema, "element": fld.element}
            if fld.qualifier is not None:
                attrib["qualifier"] = fld.qualifier
            field_el = sub(el, _x("field"), attrib=attrib)
            if fld.scope_note is not None:
                sub(field_el, _x("scopeNote"), fld.scope_note)
        for fmt in pkg.registry.formats:
            _format_reference(el, fmt)
    return root


#: Values the former code set without cleaning (digests, policy types): XML-safe ones only.
safe = st.none() | anything.map(xml_safe)
ext_formats = st.builds(BitstreamFormat, short_description=anything, mimetype=anything,
                        description=anything, support_level=st.sampled_from(list(SupportLevel)),
                        internal=st.booleans(), extensions=st.lists(anything, max_size=2)
                        .map(tuple))
extensions = st.builds(
    Extension, discoverable=st.none() | st.booleans(),
    harvest=st.none() | st.builds(HarvestSettings, harvest_type=st.integers(0, 3),
                                  oai_source=anything, oai_set_id=anything,
                                  metadata_config_id=anything,
                                  harvest_status=st.integers(0, 5)),
    logo=st.none() | st.builds(LogoFacts, name=maybe, sha256=safe,
                               format=st.none() | ext_formats),
    sha256=safe, format=st.none() | ext_formats,
    policies=st.none() | st.lists(st.builds(PolicyFacts, action=st.sampled_from(list(Action)),
                                            description=maybe, policy_type=safe),
                                  max_size=3).map(tuple))
registries = st.none() | st.builds(
    Registry,
    schemas=st.lists(st.builds(MetadataSchema, prefix=anything, namespace=anything),
                     max_size=2).map(tuple),
    fields=st.lists(st.builds(MetadataField, schema=anything, element=anything,
                              qualifier=maybe, scope_note=maybe), max_size=2).map(tuple),
    formats=st.lists(ext_formats, max_size=2).map(tuple))


@given(st.lists(extensions, max_size=3), registries)
def test_extension_package(facts: list[Extension], registry: Registry | None) -> None:
    pkg = PackageExtension(facts=tuple((f"amd_{i}", ext) for i, ext in enumerate(facts)),
                           registry=registry)
    built = extension.disseminate_package(pkg)
    if pkg.is_empty():
        assert built is None
    else:
        assert built is not None and _bytes(built) == _bytes(_package_reference(pkg))
