"""DIM crosswalk: exact round trips, DSpace's attribute rules, container fixed lists."""

from __future__ import annotations

import pytest
from format_strategies import metadata_values, xml_text
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import dim
from aip.errors import CrosswalkError, Problem
from aip.model import Confidence, MetadataValue, Site


def _reparse(el: etree._Element) -> etree._Element:
    """Serialize and parse again, as a package would."""
    return etree.fromstring(etree.tostring(el))


@given(st.lists(metadata_values(), max_size=8))
def test_item_values_round_trip_exactly(values: list[MetadataValue]) -> None:
    assert dim.ingest(_reparse(dim.disseminate(values))) == tuple(values)


@given(xml_text, st.text(max_size=20))
def test_characters_xml_cannot_carry_are_dropped_and_the_rest_kept(keep: str, noise: str
                                                                   ) -> None:
    # DSpace drops them too (XSLTDisseminationCrosswalk.checkedString); nothing else changes:
    # no trimming, CR/LF/TAB and surrounding blanks survive.
    value = f"\x00 {keep}\x01\x1f{noise}\ufffe\r\n\t "
    expected = "".join(ch for ch in value if ch in "\t\n\r" or (
        " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" or ch >= "\U00010000"))
    got = dim.ingest(_reparse(dim.disseminate([MetadataValue("dc", "title", None, value)])))
    assert got[0].value == expected


def test_field_attributes_follow_dspace() -> None:
    root = dim.disseminate([
        MetadataValue("dc", "title", None, "A", language=None),
        MetadataValue("dc", "date", "issued", "2010", language=""),
        MetadataValue("dc", "contributor", "author", "Doe", "en", "abc-1", Confidence.ACCEPTED),
        MetadataValue("dc", "subject", None, "x", None, "id", 250),
    ], "ITEM")
    assert root.get("dspaceType") == "ITEM"
    attrs = [list(f.attrib.items()) for f in root]
    assert attrs[0] == [("mdschema", "dc"), ("element", "title")]
    assert attrs[1] == [("mdschema", "dc"), ("element", "date"), ("qualifier", "issued"),
                        ("lang", "")]
    assert attrs[2] == [("mdschema", "dc"), ("element", "contributor"),
                        ("qualifier", "author"), ("lang", "en"), ("authority", "abc-1"),
                        ("confidence", "ACCEPTED")]
    assert attrs[3][-1] == ("confidence", "250")  # no word for 250: the number


def test_unknown_confidence_word_reads_as_novalue_like_choices() -> None:
    root = etree.fromstring(
        f'<dim:dim xmlns:dim="{C.NS_DIM}"><dim:field mdschema="dc" element="x" authority="a" '
        'confidence="MAYBE">v</dim:field></dim:dim>')
    assert dim.ingest(root)[0].confidence == Confidence.NOVALUE


def test_container_fixed_list_with_empty_elements_for_absent_fields() -> None:
    meta = [MetadataValue("dc", "title", None, "Name"),
            MetadataValue("dc", "title", None, "Second title, not exported"),
            MetadataValue("dc", "identifier", "uri", "ignored"),
            MetadataValue("dc", "rights", "license", "Licence")]
    root = dim.disseminate_container(C.TYPE_COLLECTION, "123456789/2", meta)
    rows = [(f.get("element"), f.get("qualifier"), f.text) for f in root]
    assert rows == [("description", None, None), ("description", "abstract", None),
                    ("description", "tableofcontents", None),
                    ("identifier", "uri", "hdl:123456789/2"), ("provenance", None, None),
                    ("rights", None, None), ("rights", "license", "Licence"),
                    ("title", None, "Name")]
    assert dim.ingest_container(_reparse(root), C.TYPE_COLLECTION) == (
        MetadataValue("dc", "rights", "license", "Licence"), MetadataValue("dc", "title", None,
                                                                           "Name"))


def test_community_list_has_no_provenance_or_licence() -> None:
    root = dim.disseminate_container(C.TYPE_COMMUNITY, "1/2", [])
    assert [(f.get("element"), f.get("qualifier")) for f in root] == list(C.COMMUNITY_FIELDS)


def test_container_ingest_ignores_other_fields_with_a_warning() -> None:
    root = dim.from_fields(C.TYPE_COMMUNITY, [
        ("dspace", "entity", "type", "Publication", None, None, Confidence.UNSET),
        ("dc", "title", None, "T", None, None, Confidence.UNSET)])
    warnings: list[Problem] = []
    assert dim.ingest_container(root, C.TYPE_COMMUNITY, warnings) == (
        MetadataValue("dc", "title", None, "T"),)
    assert [w.code for w in warnings] == ["AIP-W043"]


def test_site_dim_and_back() -> None:
    site = Site("123456789/0", "My Repo", "https://repo.example.org")
    root = dim.disseminate_site(site)
    assert [f.text for f in root] == ["hdl:123456789/0", "https://repo.example.org", "My Repo"]
    assert [v.value for v in dim.ingest(root)] == ["hdl:123456789/0",
                                                   "https://repo.example.org", "My Repo"]


@pytest.mark.parametrize("xml", [
    '<dim:dim xmlns:dim="{ns}"><dim:other/></dim:dim>',
    '<dim:dim xmlns:dim="{ns}"><dim:field element="x">v</dim:field></dim:dim>',
    '<dim xmlns="urn:not-dim"/>',
])
def test_malformed_dim_is_a_crosswalk_error(xml: str) -> None:
    with pytest.raises(CrosswalkError):
        dim.ingest(etree.fromstring(xml.replace("{ns}", C.NS_DIM)))
