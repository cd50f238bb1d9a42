"""MODS crosswalk: the mods.properties table, container/site lists, the lossy reverse."""

from __future__ import annotations

import pytest
from lxml import etree

from aip import constants as C
from aip.crosswalks import mods
from aip.crosswalks.mods import _MODS_MAP
from aip.errors import Problem
from aip.model import MetadataValue, Site

M = f"{{{C.NS_MODS}}}"
#: Fields that share their MODS shape with an earlier table entry (the reverse picks that one).
SHARED = {"dc.creator": "dc.contributor", "dc.format.medium": "dc.format",
          "dc.relation.isversionof": "dc.relation.hasversion",
          "dc.source": "dc.relation.isbasedon"}


def _mv(field: str, value: str) -> MetadataValue:
    _, element, *rest = field.split(".")
    return MetadataValue("dc", element, rest[0] if rest else None, value, language="en")


@pytest.mark.parametrize("field", sorted(_MODS_MAP))
def test_every_mapped_field_comes_back(field: str) -> None:
    root = etree.fromstring(etree.tostring(mods.disseminate([_mv(field, "v a l")])))
    back = mods.ingest(root)
    expected = SHARED.get(field, field)
    assert [v.field for v in back] == [expected]
    assert back[0].value == "v a l"
    assert back[0].language is None  # MODS carries no language: lossy


def test_shapes_match_the_dspace_table() -> None:
    root = mods.disseminate([_mv("dc.contributor.author", "Doe, J."),
                             _mv("dc.date.issued", "2010"),
                             _mv("dc.rights.uri", "http://x/"),
                             _mv("dc.subject.lcsh", "Topic")])
    text = etree.tostring(root).decode()
    assert ('<mods:name><mods:role><mods:roleTerm type="text">author</mods:roleTerm></mods:role>'
            '<mods:namePart>Doe, J.</mods:namePart></mods:name>') in text
    assert ('<mods:originInfo><mods:dateIssued encoding="iso8601">2010</mods:dateIssued>'
            '</mods:originInfo>') in text
    assert 'xlink:simpleLink="http://x/">http://x/</mods:accessCondition>' in text
    assert '<mods:subject authority="lcsh"><mods:topic>Topic</mods:topic></mods:subject>' in text
    assert root.get(f"{{{C.NS_XSI}}}schemaLocation") == (
        f"{C.NS_MODS} {C.SCHEMA_LOCATION_MODS}")


def test_unmapped_fields_and_other_schemas_are_skipped() -> None:
    root = mods.disseminate([MetadataValue("dcterms", "title", None, "x"),
                             _mv("dc.description.provenance", "p"),
                             _mv("dc.title", "T")])
    assert [etree.QName(el).localname for el in root] == ["titleInfo"]


def test_old_provenance_notes_and_unknown_elements_on_ingest() -> None:
    root = etree.fromstring(
        f'<mods:mods xmlns:mods="{C.NS_MODS}"><mods:note type="provenance">p</mods:note>'
        '<mods:recordInfo><mods:recordOrigin>x</mods:recordOrigin></mods:recordInfo></mods:mods>')
    warnings: list[Problem] = []
    assert [v.field for v in mods.ingest(root, warnings)] == ["dc.description.provenance"]
    assert [w.code for w in warnings] == ["AIP-W044"]


def test_community_always_has_note_and_identifier_collection_skips_absent() -> None:
    community = mods.disseminate_container(C.TYPE_COMMUNITY, "1/2", [], "https://hdl/")
    assert [(etree.QName(e).localname, e.text) for e in community] == [
        ("note", None), ("identifier", "https://hdl/1/2")]
    meta = [MetadataValue("dc", "provenance", None, "p"),
            MetadataValue("dc", "rights", "license", "l"), MetadataValue("dc", "title", None, "T")]
    collection = mods.disseminate_container(C.TYPE_COLLECTION, "1/3", meta, "http://h/")
    assert [etree.QName(e).localname for e in collection] == ["identifier", "titleInfo"]
    assert mods.ingest_container(collection, C.TYPE_COLLECTION) == (
        MetadataValue("dc", "title", None, "T"),)


def test_site_mods() -> None:
    root = mods.disseminate_site(Site("1/0", "Repo", "https://r"), "http://hdl.handle.net/")
    assert [v.value for v in mods.ingest(root)] == ["http://hdl.handle.net/1/0", "https://r",
                                                    "Repo"]
