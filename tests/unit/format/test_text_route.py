"""The text route (sections written as compact XML and parsed once) builds exactly the tree the
element-by-element route builds: the same bytes when serialized, for any characters at all
(XML-illegal ones, CR/LF/TAB, markup characters, the empty string, the empty-text mark)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import dim, mods, premis, techmd
from aip.crosswalks._xml import sub
from aip.model import Bitstream, BitstreamFormat, Confidence, MetadataValue
from aip.xmltext import EMPTY_MARK as _EMPTY_MARK

#: Anything a Python string may hold, weighted towards what needs escaping or dropping.
_pieces = st.text(st.characters(codec=None), max_size=3) | st.sampled_from(
    ["&", "<", ">", '"', "'", "\r", "\n", "\t", "\x00", "\ufffe", "\ud800", "]]>",
     _EMPTY_MARK, f' {_EMPTY_MARK}=""', "&amp;", "\r\n", ""])
anything = st.lists(_pieces, max_size=5).map("".join)
maybe = st.none() | anything


def _bytes(el: etree._Element) -> bytes:
    return etree.tostring(el)


def _dim_reference(dspace_type: str, fields: list[dim.Field]) -> etree._Element:
    root = dim.new_root(dspace_type)
    for schema, element, qualifier, value, language, authority, confidence in fields:
        dim.add_field(root, schema, element, qualifier, value, language=language,
                      authority=authority, confidence=confidence)
    return root


fields = st.tuples(anything, anything, maybe, maybe, maybe, maybe,
                   st.sampled_from([int(c) for c in Confidence]) | st.integers(-5, 1000))


@given(st.sampled_from([C.TYPE_ITEM, C.TYPE_BITSTREAM]), st.lists(fields, max_size=6))
def test_dim_fields(dspace_type: str, given_fields: list[dim.Field]) -> None:
    assert _bytes(dim.from_fields(dspace_type, given_fields)) == \
        _bytes(_dim_reference(dspace_type, given_fields))


def _mods_reference(values: list[MetadataValue]) -> etree._Element:
    root = mods.new_root()
    for v in values:
        mods._add(root, v.field, v.value)
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
    reference = dim.new_root(C.TYPE_BITSTREAM)
    for element, qualifier, value in techmd.bitstream_fields(bs):
        dim.add_field(reference, "dc", element, qualifier, value)
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
