"""AIP-TECHMD, PREMIS and AIPSYNC-EXT crosswalks."""

from __future__ import annotations

import datetime as dt

import pytest
from format_strategies import bitstreams, formats, hex64, policy_lists, xml_text
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import REGISTRY, extension, metsrights, premis, techmd
from aip.crosswalks.extension import Extension, LogoFacts, PolicyFacts
from aip.errors import CrosswalkError, Problem
from aip.model import (
    Action,
    Bitstream,
    BitstreamFormat,
    Collection,
    Community,
    HarvestSettings,
    Item,
    ResourcePolicy,
    Site,
    SupportLevel,
)

PDF = BitstreamFormat("Adobe PDF", "application/pdf", "PDF", SupportLevel.KNOWN, False, ("pdf",))


def _reparse(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


# --- AIP-TECHMD ------------------------------------------------------------------------------
def test_item_fields_in_dspace_order() -> None:
    item = Item("1/8", "1/5", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), submitter="s@x.org",
                mapped_collections=("1/6", "1/7"), withdrawn=True)
    root = techmd.disseminate_item(item)
    rows = [(f.get("element"), f.get("qualifier"), f.text) for f in root]
    assert rows == [("creator", None, "s@x.org"), ("identifier", "uri", "hdl:1/8"),
                    ("relation", "isPartOf", "hdl:1/5"), ("relation", "isReferencedBy", "hdl:1/6"),
                    ("relation", "isReferencedBy", "hdl:1/7"),
                    ("rights", "accessRights", "WITHDRAWN")]
    assert techmd.ingest(_reparse(root)) == techmd.ItemTech(
        handle="1/8", submitter="s@x.org", owning_collection="1/5",
        mapped_collections=("1/6", "1/7"), withdrawn=True)


@given(bitstreams(3))
def test_bitstream_round_trip(bs: Bitstream) -> None:
    got = techmd.ingest(_reparse(techmd.disseminate_bitstream(bs)))
    assert isinstance(got, techmd.BitstreamTech)
    assert (got.name, got.source, got.description, got.user_format_description) == (
        bs.name, bs.source, bs.description, bs.user_format_description)
    assert got.format is not None
    # AIP-TECHMD loses the long description and the extensions (AIPSYNC-EXT keeps them)
    assert got.format == BitstreamFormat(bs.format.short_description, bs.format.mimetype,
                                         support_level=bs.format.support_level,
                                         internal=bs.format.internal)


def test_containers_and_site() -> None:
    col = techmd.disseminate_collection(Collection("1/2", parents=("1/1", "1/3")))
    assert techmd.ingest(col) == techmd.ContainerTech(handle="1/2", parents=("1/1", "1/3"))
    top = techmd.disseminate_community(Community("1/4", parent=None), "1/0")
    assert techmd.ingest(top) == techmd.ContainerTech(handle="1/4", parents=("1/0",))
    site = techmd.disseminate_site(Site("1/0", "n", "https://r"))
    assert techmd.ingest(site) == techmd.ContainerTech(handle="1/0", url="https://r")


def test_bad_support_level_is_an_error_unknown_fields_are_warnings() -> None:
    root = techmd.disseminate_bitstream(Bitstream(1, "x", 1, None, PDF))
    for field in root:
        if field.get("qualifier") == "supportlevel":
            field.text = "SOMETIMES"
    with pytest.raises(CrosswalkError, match="support level"):
        techmd.ingest(root)
    item = techmd.disseminate_item(Item("1/8", "1/5", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    etree.SubElement(item, f"{{{C.NS_DIM}}}field", mdschema="dc", element="coverage").text = "?"
    warnings: list[Problem] = []
    techmd.ingest(item, warnings)
    assert [w.code for w in warnings] == ["AIP-W043"]


# --- PREMIS ----------------------------------------------------------------------------------
def test_premis_facts_and_original_name_falls_back_to_source() -> None:
    bs = Bitstream(4, None, 31302, "1b19a552a54b9390652530277fcf6c0f", PDF, source="orig.pdf")
    root = premis.disseminate(bs, "http://x/bitstream/1%2F8/4/orig.pdf")
    got = premis.ingest(_reparse(root))
    assert got == premis.PremisObject("http://x/bitstream/1%2F8/4/orig.pdf", "orig.pdf", 31302,
                                      "MD5", "1b19a552a54b9390652530277fcf6c0f",
                                      "application/pdf")
    assert got.md5 == "1b19a552a54b9390652530277fcf6c0f"


def test_premis_without_checksum_has_no_fixity_and_bad_size_is_an_error() -> None:
    root = premis.disseminate(Bitstream(1, "a", 0, None, PDF), "a")
    assert root.find(f".//{{{C.NS_PREMIS}}}fixity") is None
    size = root.find(f".//{{{C.NS_PREMIS}}}size")
    assert size is not None
    size.text = "12kB"
    with pytest.raises(CrosswalkError, match="Bad number value"):
        premis.ingest(root)


# --- AIPSYNC-EXT -----------------------------------------------------------------------------
@given(st.builds(
    Extension,
    discoverable=st.none() | st.booleans(),
    harvest=st.none() | st.builds(HarvestSettings, harvest_type=st.integers(0, 3),
                                  oai_source=xml_text, oai_set_id=xml_text,
                                  metadata_config_id=xml_text, harvest_status=st.integers(0, 3)),
    logo=st.none() | st.builds(LogoFacts, name=st.none() | xml_text, sha256=st.none() | hex64,
                               format=st.none() | formats),
    sha256=st.none() | hex64, format=st.none() | formats,
    policies=st.none() | policy_lists.map(
        lambda ps: tuple(PolicyFacts(p.action, p.description, p.policy_type) for p in ps))))
def test_extension_round_trip(ext: Extension) -> None:
    root = extension.disseminate(ext)
    if ext.is_empty():
        assert root is None
        return
    assert root is not None
    assert extension.ingest(_reparse(root)) == ext


def test_extension_vocabulary() -> None:
    root = extension.disseminate(Extension(
        discoverable=False, policies=(PolicyFacts(Action.WITHDRAWN_READ, "why", "TYPE_CUSTOM"),)))
    assert root is not None
    assert etree.tostring(root).decode() == (
        f'<aipsync:ext xmlns:aipsync="{C.NS_AIPSYNC}"><aipsync:item discoverable="false"/>'
        '<aipsync:policies count="1"><aipsync:policy index="0" action="12" type="TYPE_CUSTOM">'
        '<aipsync:description>why</aipsync:description></aipsync:policy></aipsync:policies>'
        '</aipsync:ext>')


def test_extension_errors_and_warnings() -> None:
    ns = C.NS_AIPSYNC
    with pytest.raises(CrosswalkError, match="count"):
        extension.ingest(etree.fromstring(
            f'<a:ext xmlns:a="{ns}"><a:policies count="2"><a:policy action="0"/></a:policies>'
            '</a:ext>'))
    with pytest.raises(CrosswalkError, match="unknown action"):
        extension.ingest(etree.fromstring(
            f'<a:ext xmlns:a="{ns}"><a:policies><a:policy action="99"/></a:policies></a:ext>'))
    warnings: list[Problem] = []
    got = extension.ingest(etree.fromstring(f'<a:ext xmlns:a="{ns}"><a:future/></a:ext>'),
                           warnings)
    assert got.is_empty() and [w.code for w in warnings] == ["AIP-W046"]


def test_extension_policy_facts_restore_what_metsrights_loses() -> None:
    lost = ResourcePolicy(Action.WORKFLOW_STEP_2, group="g", description="d", policy_type=None)
    contexts = metsrights.ingest(metsrights.disseminate([lost], dt.date(2024, 1, 1)))
    assert metsrights.policies(contexts) == ()
    assert contexts[0].policy(Action.WORKFLOW_STEP_2, description="d", policy_type=None) == lost


def test_registry_names_every_configured_crosswalk() -> None:
    from aip.packager.config import DISSEMINATION_CROSSWALKS
    for names in DISSEMINATION_CROSSWALKS.values():
        assert names <= set(REGISTRY)
    assert REGISTRY["DIM"].namespaces == {"dim": C.NS_DIM}
    assert REGISTRY["DSPACE_DEPLICENSE"].stream
    assert REGISTRY["MODS"].schema_location == f"{C.NS_MODS} {C.SCHEMA_LOCATION_MODS}"
