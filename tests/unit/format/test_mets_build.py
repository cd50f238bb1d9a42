"""Generic METS builders: toolkit attribute order, MDTYPE mapping, deterministic bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.mets import build as B
from aip.xmltext import xml_safe

XLINK = f"{{{C.NS_XLINK}}}"


def test_known_mdtypes_stay_others_become_othermdtype() -> None:
    content = etree.Element("x")
    assert B.md_wrap("MODS", content).attrib == {"MDTYPE": "MODS"}
    assert dict(B.md_wrap("DIM", etree.Element("x")).attrib) == {"MDTYPE": "OTHER",
                                                                 "OTHERMDTYPE": "DIM"}
    # toolkit Mdtype.parse is case-sensitive: "METSRights" is not "METSRIGHTS"
    assert B.mdtype_attrs("premis") == (("MDTYPE", "OTHER"), ("OTHERMDTYPE", "premis"))


def test_attribute_orders_follow_the_toolkit() -> None:
    ref = B.md_ref("DSpaceDepositLicense", "bitstream_3", mimetype="text/plain")
    assert list(ref.attrib) == ["LOCTYPE", f"{XLINK}type", f"{XLINK}href", "MDTYPE",
                                "OTHERMDTYPE", "MIMETYPE"]
    f = B.file_el(file_id="bitstream_1", href="e", mimetype="a/b", seq=1, size=2, checksum="c",
                  checksumtype="MD5", admid="amd_4", groupid="GROUP_bitstream_1")
    assert list(f.attrib) == ["ID", "MIMETYPE", "SEQ", "SIZE", "CHECKSUM", "CHECKSUMTYPE",
                              "ADMID", "GROUPID"]
    assert list(f[0].attrib) == ["LOCTYPE", f"{XLINK}type", f"{XLINK}href"]
    div = B.div(div_id="d", type_="T", label="L", dmdid=["a", "b"], admid=["c"])
    assert list(div.attrib.items()) == [("ID", "d"), ("LABEL", "L"), ("DMDID", "a b"),
                                        ("ADMID", "c"), ("TYPE", "T")]
    assert list(B.file_grp(use="ORIGINAL", admid="amd_1").attrib) == ["ADMID", "USE"]
    root = B.mets_root(obj_id="i", objid="o", type_="t", profile="p")
    assert list(root.attrib) == ["ID", "OBJID", "TYPE", "PROFILE",
                                 f"{{{C.NS_XSI}}}schemaLocation"]


def test_header_has_no_createdate_unless_given() -> None:
    hdr = B.mets_hdr([B.Agent("CUSTODIAN", "1/0", othertype="DSpace Archive")])
    assert hdr.attrib == {}
    agent = hdr[0]
    assert list(agent.attrib.items()) == [("ROLE", "CUSTODIAN"), ("TYPE", "OTHER"),
                                          ("OTHERTYPE", "DSpace Archive")]
    assert agent[0].tag == f"{{{C.NS_METS}}}name" and agent[0].text == "1/0"


def test_unknown_section_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        B.md_sec("behaviorSec", "x", etree.Element("y"))


def test_serialize_is_deterministic_utf8_with_declaration() -> None:
    def doc() -> bytes:
        root = B.mets_root(obj_id="i", objid="hdl:1/2", type_="DSpace ITEM",
                           profile=C.AIP_PROFILE)
        root.append(B.mets_hdr([B.Agent("CREATOR", "é")]))
        return B.serialize(root)
    first = doc()
    assert first == doc()
    assert first.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    assert "é".encode() in first


_NS = {"premis": "http://www.loc.gov/standards/premis",
       "dim": "http://www.dspace.org/xmlns/dspace/dim"}


@settings(max_examples=200, deadline=None)
@given(label=st.sampled_from(["MODS", "PREMIS", "DIM", "AIP-TECHMD", "X <&\"y>"]),
       prefixes=st.lists(st.sampled_from(sorted(_NS)), unique=True, max_size=2),
       schema_location=st.none() | st.text(max_size=20),
       mimetype=st.none() | st.sampled_from(["text/xml", "a&b"]),
       value=st.text(max_size=20),
       form=st.sampled_from(["text", "element", "fitted"]))
def test_md_wrap_section_writes_what_md_wrap_writes(label: str, prefixes: list[str],
                                                    schema_location: str | None,
                                                    mimetype: str | None, value: str,
                                                    form: str) -> None:
    namespaces = {p: _NS[p] for p in prefixes}
    uri = _NS[prefixes[0]] if prefixes else "urn:other"
    element = etree.Element(f"{{{uri}}}root", nsmap={"q" if not prefixes else prefixes[0]: uri})
    element.text = xml_safe(value)
    content: B.Content
    if form == "element":
        content = element
    elif form == "text":
        content = etree.tostring(element, encoding="unicode")
    else:
        content = B.Section("<x>fitted</x>", fitted=True)
    expected = B.to_text(B.md_wrap(label, content, namespaces=namespaces,
                                   schema_location=schema_location, mimetype=mimetype))
    got = B.md_wrap_section(label, content, namespaces=namespaces,
                            schema_location=schema_location, mimetype=mimetype)
    assert got.fitted
    assert got.text(B.ROOT_NAMESPACES) == expected
    # and twice (the second time from the kept opening and closing tags)
    assert B.md_wrap_section(label, content, namespaces=namespaces,
                             schema_location=schema_location,
                             mimetype=mimetype).text(B.ROOT_NAMESPACES) == expected
