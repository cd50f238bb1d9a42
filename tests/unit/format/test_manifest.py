"""DSpace AIP assembly and reading: gensym order, round trips, DSpace's ingest semantics."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re

import pytest
from format_strategies import (
    SITE_HANDLE,
    TODAY,
    collections,
    communities,
    groups,
    items,
    people,
    sites,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.errors import (
    ChildPointerError,
    CrosswalkError,
    HandleFormatError,
    PackageValidationError,
    ProfileError,
)
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.model import (
    Action,
    Bitstream,
    BitstreamFormat,
    Bundle,
    Collection,
    Community,
    EPerson,
    Group,
    Item,
    MetadataValue,
    ResourcePolicy,
    Site,
    SupportLevel,
)
from aip.packager.config import DisseminateConfig, IngestConfig, SectionEntry
from aip.packager.manifest import (
    BuildContext,
    BuiltPackage,
    ChildPointer,
    FileRef,
    bitstream_entry_name,
    build_collection_package,
    build_community_package,
    build_item_package,
    build_site_package,
    parse_package,
)

CTX = BuildContext(site_handle=SITE_HANDLE, site_url="https://repo.example.org", today=TODAY)
#: DSpace's own dspace.cfg: no AIPSYNC-EXT.
DSPACE_CONFIG = DisseminateConfig(sourceMD=(SectionEntry.parse("AIP-TECHMD"),))
PDF = BitstreamFormat("Adobe PDF", "application/pdf", "Adobe PDF", SupportLevel.KNOWN, False,
                      ("pdf",))
LICENSE_FMT = BitstreamFormat("License", "text/plain; charset=utf-8", "Licence",
                              SupportLevel.SUPPORTED, True)
TEXT_FMT = BitstreamFormat("Text", "text/plain", "Plain text", SupportLevel.KNOWN, False, ("txt",))
ANON_READ = ResourcePolicy(Action.READ, group=C.GROUP_ANONYMOUS)
M = f"{{{C.NS_METS}}}"
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def sample_item(**changes: object) -> Item:
    item = Item(
        handle="123456789/8", owning_collection="123456789/5",
        last_modified=dt.datetime(2010, 9, 24, 10, 16, 56, tzinfo=dt.UTC),
        metadata=(MetadataValue("dc", "title", None, "Test PDF Document", "en_US"),),
        bundles=(Bundle("ORIGINAL", (Bitstream(1, "test.pdf", 3, "a" * 32, PDF,
                                               policies=(ANON_READ,)),),
                        primary_sequence_id=1, policies=(ANON_READ,)),
                 Bundle("LICENSE", (Bitstream(2, "license.txt", 5, "b" * 32, LICENSE_FMT,
                                              policies=(ANON_READ,)),),
                        policies=(ANON_READ,))),
        policies=(ANON_READ,), submitter="s@x.org")
    return dataclasses.replace(item, **changes)  # type: ignore[arg-type]


def _ids(pkg: BuiltPackage) -> list[tuple[str, str, str | None]]:
    """(element, ID, MDTYPE or OTHERMDTYPE) of every METS element with an ID, in order."""
    root = etree.fromstring(pkg.manifest)
    out = []
    for el in root.iter(f"{M}*"):
        if el.get("ID") and el.tag not in (f"{M}file", f"{M}mets"):
            body = next(iter(el), None)
            label = None
            if body is not None and body.tag in (f"{M}mdWrap", f"{M}mdRef"):
                label = body.get("OTHERMDTYPE") or body.get("MDTYPE")
            out.append((etree.QName(el).localname, el.get("ID") or "", label))
    return out


# --- golden structure --------------------------------------------------------------------------
def test_gensym_ids_match_the_dspace_worked_example() -> None:
    pkg = build_item_package(sample_item(), dataclasses.replace(CTX, config=DSPACE_CONFIG))
    assert _ids(pkg) == [
        ("dmdSec", "dmdSec_1", "MODS"), ("dmdSec", "dmdSec_2", "DIM"),
        ("amdSec", "amd_3", None), ("rightsMD", "rightsMD_6", "DSpaceDepositLicense"),
        ("rightsMD", "rightsMD_9", "METSRIGHTS"), ("sourceMD", "sourceMD_10", "AIP-TECHMD"),
        ("amdSec", "amd_13", None), ("rightsMD", "rightsMD_19", "METSRIGHTS"),
        ("amdSec", "amd_22", None), ("techMD", "techMD_23", "PREMIS"),
        ("rightsMD", "rightsMD_28", "METSRIGHTS"), ("sourceMD", "sourceMD_29", "AIP-TECHMD"),
        ("amdSec", "amd_30", None), ("rightsMD", "rightsMD_36", "METSRIGHTS"),
        ("amdSec", "amd_38", None), ("techMD", "techMD_39", "PREMIS"),
        ("rightsMD", "rightsMD_44", "METSRIGHTS"), ("sourceMD", "sourceMD_45", "AIP-TECHMD"),
        ("structMap", "struct_11", None), ("div", "div_12", None), ("div", "div_21", None),
        ("structMap", "struct_46", None), ("div", "div_47", None), ("mptr", "mptr_48", None)]
    root = etree.fromstring(pkg.manifest)
    main = root.find(f"{M}structMap/{M}div")
    assert main is not None
    assert (main.get("DMDID"), main.get("ADMID")) == ("dmdSec_1 dmdSec_2", "amd_3")
    grp = root.find(f"{M}fileSec/{M}fileGrp")
    assert grp is not None and grp.get("ADMID") == "amd_13"
    assert [e.tag for e in root] == [f"{M}metsHdr", *[f"{M}dmdSec"] * 2, *[f"{M}amdSec"] * 5,
                                     f"{M}fileSec", f"{M}structMap", f"{M}structMap"]


def test_aipsync_ext_shifts_each_amdsec_by_one_id() -> None:
    # default configuration: sourceMD = AIP-TECHMD, AIPSYNC-EXT (one more id per amdSec)
    ids = [i for _, i, _ in _ids(build_item_package(sample_item(), CTX))]
    assert ids == ["dmdSec_1", "dmdSec_2", "amd_3", "rightsMD_6", "rightsMD_9", "sourceMD_10",
                   "sourceMD_11", "amd_14", "rightsMD_20", "sourceMD_22", "amd_24", "techMD_25",
                   "rightsMD_30", "sourceMD_31", "sourceMD_32", "amd_33", "rightsMD_39",
                   "sourceMD_41", "amd_42", "techMD_43", "rightsMD_48", "sourceMD_49",
                   "sourceMD_50", "struct_12", "div_13", "div_23", "struct_51", "div_52",
                   "mptr_53"]


def test_item_manifest_attributes() -> None:
    pkg = build_item_package(sample_item(), CTX)
    root = etree.fromstring(pkg.manifest)
    assert dict(root.attrib) == {
        "ID": "DSpace_ITEM_123456789-8", "OBJID": "hdl:123456789/8", "TYPE": "DSpace ITEM",
        "PROFILE": C.AIP_PROFILE,
        f"{{{C.NS_XSI}}}schemaLocation": f"{C.NS_METS} {C.SCHEMA_LOCATION_METS}"}
    hdr = root.find(f"{M}metsHdr")
    assert hdr is not None and dict(hdr.attrib) == {"LASTMODDATE": "2010-09-24T10:16:56"}
    assert [(a.get("ROLE"), a.get("OTHERTYPE"), a[0].text) for a in hdr] == [
        ("CUSTODIAN", "DSpace Archive", SITE_HANDLE),
        ("CREATOR", "DSpace Software", C.CREATOR_NAME)]
    f = root.find(f".//{M}file")
    assert f is not None and dict(f.attrib) == {
        "ID": "bitstream_1", "MIMETYPE": "application/pdf", "SEQ": "1", "SIZE": "3",
        "CHECKSUM": "a" * 32, "CHECKSUMTYPE": "MD5", "ADMID": "amd_24",
        "GROUPID": "GROUP_bitstream_1"}
    assert [e.name for e in pkg.entries] == ["bitstream_1.pdf", "bitstream_2"]
    assert all(e.item_time for e in pkg.entries) and pkg.extra_entries == ()
    ref = root.find(f".//{M}mdRef")
    assert ref is not None and ref.get(f"{{{C.NS_XLINK}}}href") == "bitstream_2"
    assert pkg.last_modified == sample_item().last_modified
    assert validate_manifest(root) == []


def test_lastmoddate_is_utc() -> None:
    local = dt.datetime(2010, 9, 24, 12, 16, 56, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    pkg = build_item_package(sample_item(last_modified=local), CTX)
    assert b'LASTMODDATE="2010-09-24T10:16:56"' in pkg.manifest
    assert parse_package(pkg.manifest).item.last_modified == dt.datetime(  # type: ignore[union-attr]
        2010, 9, 24, 10, 16, 56, tzinfo=dt.UTC)


def test_derivatives_join_their_originals_group() -> None:
    text = Bitstream(7, "test.pdf.txt", 1, None, TEXT_FMT)
    item = sample_item(bundles=(*sample_item().bundles, Bundle("TEXT", (text,))))
    root = etree.fromstring(build_item_package(item, CTX).manifest)
    groupids = {f.get("ID"): f.get("GROUPID") for f in root.iter(f"{M}file")}
    assert groupids == {"bitstream_1": "GROUP_bitstream_1", "bitstream_2": "GROUP_bitstream_2",
                        "bitstream_7": "GROUP_bitstream_1"}


def test_filtered_licence_bundle_becomes_an_extra_metadata_stream() -> None:
    item = sample_item()
    pkg = build_item_package(item, CTX, include_bundle=lambda name: name != "LICENSE")
    assert [e.name for e in pkg.entries] == ["bitstream_1.pdf"]
    # named after the Parent structMap's ids (struct_33/div_34/mptr_35): metadata_36
    assert [(e.name, e.bitstream.name, e.item_time) for e in pkg.extra_entries] == [
        ("metadata_36", "license.txt", True)]
    assert b'xlink:href="metadata_36"' in pkg.manifest
    parsed = parse_package(pkg.manifest)
    assert FileRef("metadata_36", "", None, None, None) in parsed.files
    assert [b.name for b in parsed.item.bundles] == ["ORIGINAL"]  # type: ignore[union-attr]


def test_manifest_only_package() -> None:
    reads: list[int] = []

    def reader(bs: Bitstream) -> bytes:
        reads.append(bs.sequence_id)
        return b"licence text"

    ctx = dataclasses.replace(CTX, manifest_only=True, stream_reader=reader)
    pkg = build_item_package(sample_item(name=None) if False else sample_item(), ctx)
    root = etree.fromstring(pkg.manifest)
    hrefs = [loc.get(f"{{{C.NS_XLINK}}}href") for loc in root.iter(f"{M}FLocat")]
    assert hrefs == ["https://repo.example.org/bitstream/123456789/8/1/test.pdf",
                     "https://repo.example.org/bitstream/123456789/8/2/license.txt"]
    bin_data = root.find(f".//{M}binData")
    assert bin_data is not None and base64.b64decode(bin_data.text or "") == b"licence text"
    assert reads == [2] and pkg.entries == () and pkg.extra_entries == ()
    col = build_collection_package(Collection("123456789/5", ("123456789/1",),
                                              items=("123456789/8",)), [], ctx)
    assert col.children == (ChildPointer("ITEM", "123456789/8", "ITEM@123456789-8.xml"),)
    with pytest.raises(CrosswalkError, match="stream_reader"):
        build_item_package(sample_item(), dataclasses.replace(ctx, stream_reader=None))


def test_duplicate_sequence_ids_are_refused() -> None:
    bs = Bitstream(1, "a", 1, None, PDF)
    item = sample_item(bundles=(Bundle("ORIGINAL", (bs,)), Bundle("TEXT", (bs,))))
    with pytest.raises(PackageValidationError) as err:
        build_item_package(item, CTX)
    assert [p.code for p in err.value.problems] == ["AIP-E040"]


def test_collection_structure_with_logo_template_and_items() -> None:
    logo = Bitstream(-1, "logo.png", 10, "c" * 32,
                     BitstreamFormat("PNG", "image/png", extensions=("png",)))
    col = Collection("123456789/2", ("123456789/1", "123456789/3"), logo=logo,
                     template=(MetadataValue("dc", "publisher", None, "P", "en"),),
                     items=("123456789/4", "123456789/9"))
    pkg = build_collection_package(col, [Group("COLLECTION_hdl:123456789/2_ADMIN", 6,
                                               ("a@b.org",), role="ADMIN")], CTX,
                                   people=[EPerson("a@b.org", id=2)])
    root = etree.fromstring(pkg.manifest)
    main = root.find(f"{M}structMap/{M}div")
    assert main is not None
    kids = [(etree.QName(k).localname, k.get("TYPE"), k.get("FILEID"), k.get("DMDID"))
            for k in main]
    # dmdSec 1-2, amd_3 (+8 sections), struct_12/div_13, items div_14..mptr_19,
    # template dmdSec_20/21 and div_22, logo_23
    assert kids == [("fptr", None, "logo_23", None),
                    ("div", "DSpace ITEM Template", None, "dmdSec_20 dmdSec_21"),
                    ("div", "DSpace ITEM", None, None), ("div", "DSpace ITEM", None, None)]
    assert [d.get("ID") for d in root.findall(f"{M}dmdSec")] == [
        "dmdSec_1", "dmdSec_2", "dmdSec_20", "dmdSec_21"]
    f = root.find(f"{M}fileSec/{M}fileGrp/{M}file")
    assert f is not None and dict(f.attrib) == {"ID": "logo_23", "MIMETYPE": "image/png",
                                                "SIZE": "10", "CHECKSUM": "c" * 32,
                                                "CHECKSUMTYPE": "MD5"}
    assert [(e.name, e.item_time) for e in pkg.entries] == [("logo.png", False)]
    assert pkg.children == (ChildPointer("ITEM", "123456789/4", "ITEM@123456789-4.zip"),
                            ChildPointer("ITEM", "123456789/9", "ITEM@123456789-9.zip"))
    assert b'<Member ID="2" Name="a@b.org"/>' in pkg.manifest
    parent = root.findall(f"{M}structMap")[1].find(f".//{M}mptr")
    assert parent is not None and parent.get(f"{{{C.NS_XLINK}}}href") == "123456789/1"
    assert validate_manifest(root) == []


def test_top_level_community_points_at_the_site() -> None:
    pkg = build_community_package(Community("123456789/1", None), [], CTX)
    assert b'xlink:href="123456789/0"' in pkg.manifest
    assert b">hdl:123456789/0</dim:field>" in pkg.manifest  # AIP-TECHMD isPartOf
    assert parse_package(pkg.manifest).community.parent is None  # type: ignore[union-attr]


# --- round trips -------------------------------------------------------------------------------
def _keyed(bs: Bitstream, name: str) -> Bitstream:
    return dataclasses.replace(bs, key=name)


def expected_item(item: Item) -> Item:
    return dataclasses.replace(item, bundles=tuple(
        dataclasses.replace(b, bitstreams=tuple(_keyed(x, bitstream_entry_name(x))
                                                for x in b.bitstreams))
        for b in item.bundles))


@SLOW
@given(items())
def test_item_round_trip_and_stable_bytes(item: Item) -> None:
    pkg = build_item_package(item, CTX)
    assert build_item_package(item, CTX).manifest == pkg.manifest
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest, path="ITEM@x.zip")
    assert parsed.item == expected_item(item)
    assert (parsed.type, parsed.handle, parsed.parent) == ("ITEM", item.handle,
                                                           item.owning_collection)
    assert parsed.rights_present and parsed.warnings == ()
    bitstream_refs = [f for f in parsed.files if f.sequence_id is not None]
    assert [f.entry for f in bitstream_refs] == [e.name for e in pkg.entries]


def _logo_keyed(logo: Bitstream | None) -> Bitstream | None:
    if logo is None:
        return None
    ext = f".{logo.format.extensions[0]}" if logo.format.extensions else ""
    return _keyed(logo, f"logo{ext}")


@SLOW
@given(collections())
def test_collection_round_trip(data: tuple[Collection, tuple[Group, ...]]) -> None:
    collection, grps = data
    pkg = build_collection_package(collection, grps, CTX)
    assert build_collection_package(collection, grps, CTX).manifest == pkg.manifest
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest)
    assert parsed.collection == dataclasses.replace(collection,
                                                    logo=_logo_keyed(collection.logo))
    assert parsed.groups == grps and parsed.parent == collection.parents[0]
    assert [c.handle for c in parsed.children] == list(collection.items)


@SLOW
@given(communities())
def test_community_round_trip(data: tuple[Community, tuple[Group, ...]]) -> None:
    community, grps = data
    pkg = build_community_package(community, grps, CTX)
    assert build_community_package(community, grps, CTX).manifest == pkg.manifest
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest)
    assert parsed.community == dataclasses.replace(community, logo=_logo_keyed(community.logo))
    assert parsed.groups == grps
    assert [c.type for c in parsed.children] == (
        ["COMMUNITY"] * len(community.subcommunities) + ["COLLECTION"] *
        len(community.collections))


@SLOW
@given(sites, groups(), people(), st.booleans())
def test_site_round_trip(site: Site, grps: tuple[Group, ...], ppl: tuple[EPerson, ...],
                         passwords: bool) -> None:
    ctx = dataclasses.replace(CTX, passwords=passwords)
    pkg = build_site_package(site, grps, ppl, ctx)
    assert build_site_package(site, grps, ppl, ctx).manifest == pkg.manifest
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest)
    assert parsed.site == site and parsed.groups == grps and parsed.parent is None
    expected_people = ppl if passwords else tuple(
        dataclasses.replace(p, password_hash=None, salt=None, digest_algorithm=None)
        for p in ppl)
    assert parsed.people == expected_people
    assert not parsed.rights_present  # a site has no METSRights


# --- DSpace ingest semantics ---------------------------------------------------------------------
def _without_ext(manifest: bytes) -> bytes:
    """The same manifest as DSpace would write it: no AIPSYNC-EXT sections."""
    root = etree.fromstring(manifest)
    for wrap in root.iter(f"{M}mdWrap"):
        if wrap.get("OTHERMDTYPE") == C.MD_AIPSYNC:
            section = wrap.getparent()
            assert section is not None and section.getparent() is not None
            section.getparent().remove(section)  # type: ignore[union-attr]
    return etree.tostring(root)


def test_aipsync_ext_keeps_what_metsrights_loses_dspace_aips_do_not() -> None:
    withdrawn_read = ResourcePolicy(Action.WITHDRAWN_READ, group=C.GROUP_ANONYMOUS,
                                    description="withdrawn", policy_type="TYPE_CUSTOM")
    read = ResourcePolicy(Action.READ, group="g", description="d", policy_type=None)
    item = sample_item(policies=(read, withdrawn_read), discoverable=False)
    pkg = build_item_package(item, CTX)
    assert parse_package(pkg.manifest).item.policies == (read, withdrawn_read)  # type: ignore[union-attr]
    dspace = parse_package(_without_ext(pkg.manifest))
    assert dspace.item is not None
    assert dspace.item.policies == (dataclasses.replace(read, description=None,
                                                        policy_type="TYPE_CUSTOM"),)
    assert dspace.item.discoverable is True  # DSpace #9447: comes back discoverable
    assert "AIP-W049" in [w.code for w in dspace.warnings]


def test_premis_disagreeing_with_the_file_is_refused() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest.replace(
        b"<premis:size>3</premis:size>", b"<premis:size>4</premis:size>")
    with pytest.raises(PackageValidationError) as err:
        parse_package(manifest)
    assert [p.code for p in err.value.problems] == ["AIP-E046"]
    assert "does not match size in PREMIS" in str(err.value)


def test_profile_is_checked_with_dspace_messages() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest
    with pytest.raises(ProfileError, match="Cannot accept METS with no PROFILE attribute!"):
        parse_package(manifest.replace(f' PROFILE="{C.AIP_PROFILE}"'.encode(), b""))
    with pytest.raises(ProfileError,
                       match="METS has unacceptable PROFILE attribute, profile=urn:x"):
        parse_package(manifest.replace(C.AIP_PROFILE.encode(), b"urn:x"))


def test_dangling_admid_type_and_handle_errors() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest
    with pytest.raises(PackageValidationError) as err:
        parse_package(manifest.replace(b'ADMID="amd_24"', b'ADMID="amd_99"'))
    assert [p.code for p in err.value.problems] == ["AIP-E041"]
    with pytest.raises(PackageValidationError, match="AIP-E047"):
        parse_package(manifest.replace(b'TYPE="DSpace ITEM"', b'TYPE="DSpace BUNDLE"'))
    assert parse_package(manifest.replace(b'TYPE="DSpace ITEM"', b'TYPE="ITEM"')).type == "ITEM"
    with pytest.raises(HandleFormatError):
        parse_package(manifest.replace(b'OBJID="hdl:123456789/8"', b'OBJID="hdl:../../x"'))


def test_child_pointer_to_itself_is_a_loop() -> None:
    col = build_collection_package(Collection("123456789/2", ("123456789/1",),
                                              items=("123456789/2",)), [], CTX)
    with pytest.raises(ChildPointerError):
        parse_package(col.manifest, path="/tmp/aips/ITEM@123456789-2.zip")
    bad = col.manifest.replace(b'xlink:href="ITEM@123456789-2.zip"',
                               b'xlink:href="../../etc/passwd"')
    with pytest.raises(PackageValidationError, match="AIP-E048"):
        parse_package(bad)


def test_ingest_config_nil_and_nullstream() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest
    nil = IngestConfig(crosswalks={**C.DEFAULT_INGEST_CROSSWALKS, "METSRIGHTS": "NIL"})
    parsed = parse_package(manifest, config=nil)
    assert not parsed.rights_present and parsed.item is not None
    assert parsed.item.policies == ()
    nulled = IngestConfig(crosswalks={**C.DEFAULT_INGEST_CROSSWALKS,
                                      "METSRIGHTS": "NULLSTREAM"})
    assert not parse_package(manifest, config=nulled).rights_present


def test_section_without_a_crosswalk_fails_like_dspace_unless_mapped_to_nil() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest.replace(
        b'OTHERMDTYPE="AIP-TECHMD"', b'OTHERMDTYPE="LOCAL-THING"')
    with pytest.raises(CrosswalkError, match=r"No crosswalk found .* MDTYPE=LOCAL-THING"):
        parse_package(manifest)
    nil = IngestConfig(crosswalks={**C.DEFAULT_INGEST_CROSSWALKS, "LOCAL-THING": "NIL"})
    assert parse_package(manifest, config=nil).item is not None


def test_dmd_option_selects_mods() -> None:
    item = sample_item(metadata=(MetadataValue("dc", "title", None, "T", "en"),
                                 MetadataValue("local", "x", None, "not in MODS")))
    manifest = build_item_package(item, CTX).manifest
    parsed = parse_package(manifest, dmd="MODS")
    assert parsed.item is not None
    assert parsed.item.metadata == (MetadataValue("dc", "title", None, "T"),)


def test_no_dmdsec_is_an_error() -> None:
    ctx = dataclasses.replace(CTX, config=DisseminateConfig(dmd=()))
    with pytest.raises(CrosswalkError, match="Could not find an acceptable"):
        parse_package(build_item_package(sample_item(), ctx).manifest)


def test_file_ids_use_sequence_ids() -> None:
    pkg = build_item_package(sample_item(), CTX)
    ids = re.findall(rb'<file ID="([^"]+)"', pkg.manifest)
    assert ids == [b"bitstream_1", b"bitstream_2"]


def test_references_that_could_leave_the_package_are_refused() -> None:
    manifest = build_item_package(sample_item(), CTX).manifest
    flocat = manifest.replace(b'xlink:href="bitstream_1.pdf"', b'xlink:href="../../etc/passwd"')
    with pytest.raises(PackageValidationError) as err:
        parse_package(flocat)
    assert [p.code for p in err.value.problems] == ["AIP-E048"]
    md_ref = manifest.replace(b'xlink:type="simple" xlink:href="bitstream_2" MDTYPE',
                              b'xlink:type="simple" xlink:href="/etc/shadow" MDTYPE')
    assert md_ref != manifest
    with pytest.raises(PackageValidationError, match="AIP-E048"):
        parse_package(md_ref)


def test_site_url_with_trailing_slash() -> None:
    ctx = dataclasses.replace(CTX, site_url="https://repo.example.org/")
    assert (b"https://repo.example.org/bitstream/123456789%2F8/1/test.pdf"
            in build_item_package(sample_item(), ctx).manifest)
