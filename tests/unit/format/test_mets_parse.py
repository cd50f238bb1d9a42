"""Hardened parsing: hostile XML is refused with the right error; structure is read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.dspace_fixtures import DSPACE_SAMPLES, fixture_sets, manifests
from lxml import etree

from aip import constants as C
from aip.errors import ManifestParseError, PackageValidationError
from aip.mets import build as B
from aip.mets.parse import from_bytes, parse_bytes, parse_manifest

METS = C.NS_METS
PROFILE = C.AIP_PROFILE


def _mets(body: str = "", attrs: str = f'PROFILE="{PROFILE}"') -> bytes:
    return (f'<mets xmlns="{METS}" xmlns:xlink="{C.NS_XLINK}" {attrs}>{body}</mets>').encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<mets xmlns="http://www.loc.gov/METS/" PROFILE="x"><metsHdr><agent><name>&lol9;</name>
</agent></metsHdr></mets>"""


def test_billion_laughs_is_refused_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(ManifestParseError):
        parse_bytes(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<mets xmlns="{METS}"><metsHdr><agent><name>&x;</name></agent></metsHdr></mets>')
    with pytest.raises(ManifestParseError) as err:
        parse_bytes(xxe.encode())
    assert "TOP SECRET" not in str(err.value)


def test_external_dtd_is_refused_without_a_fetch() -> None:
    # libxml2 still asks for the external subset; the deny-all resolver refuses it
    xml = (f'<?xml version="1.0"?><!DOCTYPE m SYSTEM "http://127.0.0.1:9/evil.dtd">'
           f'<mets xmlns="{METS}"/>')
    with pytest.raises(ManifestParseError, match=r"refused|DOCTYPE"):
        parse_bytes(xml.encode())


def test_any_dtd_is_refused() -> None:
    xml = f'<!DOCTYPE mets [<!ELEMENT mets ANY>]><mets xmlns="{METS}"/>'
    with pytest.raises(ManifestParseError, match="DOCTYPE"):
        parse_bytes(xml.encode())


def test_wrong_namespace_or_root() -> None:
    with pytest.raises(ManifestParseError, match="wrong namespace"):
        parse_bytes(b'<mets xmlns="http://www.loc.gov/METS/v2"/>')
    with pytest.raises(ManifestParseError, match="wrong namespace"):
        parse_bytes(f'<dmdSec xmlns="{METS}"/>'.encode())


def test_huge_attribute_is_refused() -> None:
    big = "x" * (C.MAX_ATTRIBUTE_CHARS + 1)
    with pytest.raises(ManifestParseError, match="attribute 'LABEL'"):
        parse_bytes(_mets(attrs=f'LABEL="{big}"'))


def test_too_large_manifest_is_refused_before_parsing() -> None:
    data = b" " * (C.MAX_MANIFEST_BYTES + 1)
    with pytest.raises(ManifestParseError, match="limit"):
        parse_bytes(data)


def test_not_well_formed() -> None:
    with pytest.raises(ManifestParseError):
        parse_bytes(b"<mets")


def test_dangling_and_duplicate_ids_are_collected_into_one_error() -> None:
    body = ('<dmdSec ID="d1"><mdWrap MDTYPE="DC"><xmlData/></mdWrap></dmdSec>'
            '<dmdSec ID="d1"><mdWrap MDTYPE="DC"><xmlData/></mdWrap></dmdSec>'
            '<structMap><div ADMID="amd_9" DMDID="d1"><fptr FILEID="d1"/></div></structMap>')
    with pytest.raises(PackageValidationError) as err:
        from_bytes(_mets(body))
    codes = sorted(p.code for p in err.value.problems)
    assert codes == ["AIP-E040", "AIP-E041", "AIP-E042"]


def test_section_without_wrap_or_ref_and_bad_numbers() -> None:
    body = ('<amdSec ID="a"><techMD ID="t"/></amdSec><fileSec><fileGrp USE="X"><file ID="f" '
            'SIZE="big"><FLocat LOCTYPE="URL" xlink:href="e"/></file></fileGrp></fileSec>')
    with pytest.raises(PackageValidationError) as err:
        from_bytes(_mets(body))
    assert sorted(p.code for p in err.value.problems) == ["AIP-E043", "AIP-E045"]


def test_structure_is_read() -> None:
    root = B.mets_root(obj_id="DSpace_ITEM_1-2", objid="hdl:1/2", type_="DSpace ITEM",
                       profile=PROFILE)
    root.append(B.mets_hdr([B.Agent("CUSTODIAN", "1/0", othertype="DSpace Archive")],
                           lastmoddate="2020-01-01T00:00:00"))
    content = etree.Element(f"{{{C.NS_DIM}}}dim")
    root.append(B.md_sec("dmdSec", "dmdSec_1", B.md_wrap("DIM", content)))
    root.append(B.amd_sec("amd_2", [
        B.md_sec("rightsMD", "rightsMD_3", B.md_ref("DSpaceDepositLicense", "bitstream_1",
                                                    mimetype="text/plain")),
        B.md_sec("rightsMD", "rightsMD_4", B.md_wrap_binary("CreativeCommonsText", b"cc",
                                                            mimetype="text/plain"))]))
    root.append(B.file_sec([B.file_grp(use="ORIGINAL", admid="amd_2", files=[
        B.file_el(file_id="bitstream_1", href="bitstream_1.pdf", seq=1, size=5)])]))
    root.append(B.struct_map(sm_id="s", label="DSpace Object", type_="LOGICAL", divs=[
        B.div(div_id="d", dmdid=["dmdSec_1"], admid=["amd_2"], children=[
            B.fptr("bitstream_1"),
            B.div(div_id="c", type_="DSpace ITEM", children=[
                B.mptr(ptr_id="m", loctype="URL", href="ITEM@1-3.zip")])])]))
    man = from_bytes(B.serialize(root))
    assert (man.id, man.objid, man.type, man.profile, man.lastmoddate) == (
        "DSpace_ITEM_1-2", "hdl:1/2", "DSpace ITEM", PROFILE, "2020-01-01T00:00:00")
    assert man.agents[0].name == "1/0"
    assert man.sections["dmdSec_1"].mdtype == "DIM"
    assert man.sections["dmdSec_1"].content is not None
    ref, binary = man.amds["amd_2"].sections
    assert (ref.mdtype, ref.href, ref.mimetype) == ("DSpaceDepositLicense", "bitstream_1",
                                                    "text/plain")
    assert binary.binary == b"cc"
    f = man.files["bitstream_1"]
    assert (f.use, f.seq, f.size, f.href, f.loctype) == ("ORIGINAL", 1, 5, "bitstream_1.pdf",
                                                         "URL")
    main = man.struct_maps[0].divs[0]
    assert main.fptrs == ("bitstream_1",) and main.divs[0].mptrs[0].href == "ITEM@1-3.zip"
    assert man.amd_sections(("amd_2",), "rightsMD") == (ref, binary)


def test_comments_and_processing_instructions_are_harmless() -> None:
    root = parse_bytes(_mets('<!-- c --><?pi x?><metsHdr><!-- c --></metsHdr>'))
    assert parse_manifest(root).agents == ()


@pytest.mark.parametrize("folder", fixture_sets())
def test_every_fixture_parses(folder: Path) -> None:
    found = manifests(folder)
    # DSpace's four samples; the UBC collection and its nine items
    assert len(found) == (4 if folder == DSPACE_SAMPLES else 10)
    for path in found:
        man = from_bytes(path.read_bytes(), path=path.name)
        assert man.profile == PROFILE


def test_excessive_nesting_is_refused() -> None:
    body = "<div>" * 5000 + "</div>" * 5000
    with pytest.raises(ManifestParseError, match="depth"):
        parse_bytes(_mets(f"<structMap>{body}</structMap>"))
