"""DSpace AIP assembly and reading: gensym order, round trips, DSpace's ingest semantics, and
the place of aipsync's AIPSYNC-EXT amdSec (unreferenced, last, invisible to DSpace)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from format_strategies import (
    SITE_HANDLE,
    TODAY,
    collections,
    communities,
    groups,
    items,
    people,
    registry_fields,
    registry_formats,
    registry_schemas,
    sites,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import extension
from aip.crosswalks.extension import Extension, PolicyFacts
from aip.errors import (
    ChildPointerError,
    CrosswalkError,
    HandleFormatError,
    PackageValidationError,
    ProfileError,
)
from aip.mets import build as B
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
    HarvestSettings,
    Item,
    MetadataField,
    MetadataSchema,
    MetadataValue,
    ResourcePolicy,
    Site,
    SupportLevel,
)
from aip.packager.config import DisseminateConfig, IngestConfig
from aip.packager.manifest import (
    BuildContext,
    BuiltPackage,
    ChildPointer,
    FileRef,
    Registry,
    bitstream_entry_name,
    build_collection_package,
    build_community_package,
    build_item_package,
    build_site_package,
    parse_package,
)

CTX = BuildContext(site_handle=SITE_HANDLE, site_url="https://repo.example.org", today=TODAY)
#: DSpace's own dspace.cfg: no AIPSYNC-EXT amdSec.
DSPACE_CONFIG = DisseminateConfig(extension=False)
DSPACE_CTX = dataclasses.replace(CTX, config=DSPACE_CONFIG)
DATA = Path(__file__).parent / "data"
PDF = BitstreamFormat("Adobe PDF", "application/pdf", "Adobe PDF", SupportLevel.KNOWN, False,
                      ("pdf",))
LICENSE_FMT = BitstreamFormat("License", "text/plain; charset=utf-8", "Licence",
                              SupportLevel.SUPPORTED, True)
TEXT_FMT = BitstreamFormat("Text", "text/plain", "Plain text", SupportLevel.KNOWN, False, ("txt",))
ANON_READ = ResourcePolicy(Action.READ, group=C.GROUP_ANONYMOUS)
WITHDRAWN_READ = ResourcePolicy(Action.WITHDRAWN_READ, group=C.GROUP_ANONYMOUS,
                                description="withdrawn", policy_type="TYPE_CUSTOM")
READ_G = ResourcePolicy(Action.READ, group="g", description="d", policy_type=None)
M = f"{{{C.NS_METS}}}"
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_GENSYM = re.compile(r"^(dmdSec|amd|techMD|rightsMD|sourceMD|digiprovMD|struct|div|mptr|logo"
                     r"|metadata)_(\d+)$")


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


# --- where AIPSYNC-EXT lives (the DSpace-compatibility guarantee) ------------------------------
def _is_ext(section: etree._Element) -> bool:
    body = next((c for c in section if isinstance(c.tag, str)), None)
    return body is not None and C.MD_AIPSYNC in (body.get("OTHERMDTYPE"), body.get("MDTYPE"))


def dspace_safe(manifest: bytes) -> etree._Element | None:
    """Walk the tree: no amdSec that an ``ADMID`` refers to holds an AIPSYNC-EXT section, and
    aipsync's own amdSec (returned, or None) is the last amdSec, unreferenced, one sourceMD
    whose ids come after every id DSpace generates."""
    root = etree.fromstring(manifest)
    referenced = {i for el in root.iter() if isinstance(el.tag, str)
                  for i in (el.get("ADMID") or "").split()}
    amd_secs = root.findall(f"{M}amdSec")
    ours = []
    for amd in amd_secs:
        sections = [c for c in amd if isinstance(c.tag, str)]
        if amd.get("ID") in referenced or any(c.get("ID") in referenced for c in sections):
            assert not any(_is_ext(c) for c in sections), amd.get("ID")
        elif any(_is_ext(c) for c in sections):
            ours.append(amd)
    # an AIPSYNC-EXT section is never anywhere else (dmdSec, a loose section...)
    assert sum(_is_ext(el) for el in root.iter(f"{M}*")) == len(ours)
    if not ours:
        assert C.NS_AIPSYNC.encode() not in manifest
        return None
    assert len(ours) == 1 and ours[0] is amd_secs[-1]
    ext = ours[0]
    (section,) = [c for c in ext if isinstance(c.tag, str)]
    wrap = section[0]
    assert (etree.QName(section).localname, wrap.tag, wrap.get("MDTYPE"),
            wrap.get("OTHERMDTYPE")) == ("sourceMD", f"{M}mdWrap", "OTHER", C.MD_AIPSYNC)
    numbers = [int(m.group(2)) for el in root.iter(f"{M}*")
               if el is not ext and el is not section
               and (m := _GENSYM.match(el.get("ID") or ""))]
    numbers += [int(m.group(2)) for el in root.iter(f"{M}mdRef")
                if (m := _GENSYM.match(el.get(f"{{{C.NS_XLINK}}}href") or ""))]
    n = max(numbers) + 1
    assert (ext.get("ID"), section.get("ID")) == (f"amd_{n}", f"sourceMD_{n + 1}")
    return ext


def without_ext(manifest: bytes) -> bytes:
    """The manifest without aipsync's amdSec, re-serialized (an empty text and no text are
    the same once parsed, so both sides of a comparison must go through this)."""
    root = etree.fromstring(manifest)
    ext = dspace_safe(manifest)
    if ext is not None:
        for el in root.findall(f"{M}amdSec"):
            if el.get("ID") == ext.get("ID"):
                root.remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def assert_dspace_shaped(default: BuiltPackage, plain: BuiltPackage) -> None:
    """``extension=False`` gives exactly the default package minus aipsync's amdSec."""
    dspace_safe(default.manifest)
    assert dspace_safe(plain.manifest) is None
    assert without_ext(default.manifest) == without_ext(plain.manifest)
    assert (plain.entries, plain.extra_entries, plain.children) == (
        default.entries, default.extra_entries, default.children)


# --- golden structure --------------------------------------------------------------------------
WORKED_EXAMPLE = [
    ("dmdSec", "dmdSec_1", "MODS"), ("dmdSec", "dmdSec_2", "DIM"),
    ("amdSec", "amd_3", None), ("rightsMD", "rightsMD_6", "DSpaceDepositLicense"),
    ("rightsMD", "rightsMD_9", "METSRIGHTS"), ("sourceMD", "sourceMD_10", "AIP-TECHMD"),
    ("amdSec", "amd_13", None), ("rightsMD", "rightsMD_19", "METSRIGHTS"),
    ("amdSec", "amd_22", None), ("techMD", "techMD_23", "PREMIS"),
    ("rightsMD", "rightsMD_28", "METSRIGHTS"), ("sourceMD", "sourceMD_29", "AIP-TECHMD"),
    ("amdSec", "amd_30", None), ("rightsMD", "rightsMD_36", "METSRIGHTS"),
    ("amdSec", "amd_38", None), ("techMD", "techMD_39", "PREMIS"),
    ("rightsMD", "rightsMD_44", "METSRIGHTS"), ("sourceMD", "sourceMD_45", "AIP-TECHMD")]
WORKED_EXAMPLE_STRUCT = [
    ("structMap", "struct_11", None), ("div", "div_12", None), ("div", "div_21", None),
    ("structMap", "struct_46", None), ("div", "div_47", None), ("mptr", "mptr_48", None)]


def test_gensym_ids_match_the_dspace_worked_example() -> None:
    pkg = build_item_package(sample_item(), DSPACE_CTX)
    assert _ids(pkg) == WORKED_EXAMPLE + WORKED_EXAMPLE_STRUCT
    root = etree.fromstring(pkg.manifest)
    main = root.find(f"{M}structMap/{M}div")
    assert main is not None
    assert (main.get("DMDID"), main.get("ADMID")) == ("dmdSec_1 dmdSec_2", "amd_3")
    grp = root.find(f"{M}fileSec/{M}fileGrp")
    assert grp is not None and grp.get("ADMID") == "amd_13"
    assert [e.tag for e in root] == [f"{M}metsHdr", *[f"{M}dmdSec"] * 2, *[f"{M}amdSec"] * 5,
                                     f"{M}fileSec", f"{M}structMap", f"{M}structMap"]


def test_default_config_keeps_dspace_ids_and_adds_one_unreferenced_amdsec_last() -> None:
    # every id is DSpace's; aipsync's amdSec takes the two ids after the Parent mptr_48
    pkg = build_item_package(sample_item(), CTX)
    assert _ids(pkg) == [*WORKED_EXAMPLE, ("amdSec", "amd_49", None),
                         ("sourceMD", "sourceMD_50", C.MD_AIPSYNC), *WORKED_EXAMPLE_STRUCT]
    ext = dspace_safe(pkg.manifest)
    assert ext is not None
    facts = ext.find(f".//{{{C.NS_AIPSYNC}}}package")
    assert facts is not None
    # one ext per object, keyed by the amdSec its ADMID names, in document order
    assert [e.get("for") for e in facts] == ["amd_3", "amd_13", "amd_22", "amd_30", "amd_38"]
    assert_dspace_shaped(pkg, build_item_package(sample_item(), DSPACE_CTX))


def test_extension_amdsec_is_written_only_when_there_is_something_to_say() -> None:
    # no policies (no policy facts), discoverable, formats without what AIP-TECHMD loses
    plain_fmt = BitstreamFormat("Adobe PDF", "application/pdf", "", SupportLevel.KNOWN)
    bare = sample_item(policies=(), bundles=(Bundle("ORIGINAL", (
        Bitstream(1, "a.pdf", 3, "a" * 32, plain_fmt),)),))
    assert dspace_safe(build_item_package(bare, CTX).manifest) is None
    assert build_item_package(bare, CTX).manifest == build_item_package(bare, DSPACE_CTX).manifest
    site = Site(SITE_HANDLE, "Site", "https://repo.example.org")
    assert dspace_safe(build_site_package(site, [], [], CTX).manifest) is None


def test_extension_false_is_exactly_dspace_shaped_for_every_package_type() -> None:
    logo = Bitstream(-1, "logo.png", 10, "c" * 32,
                     BitstreamFormat("PNG", "image/png", "Portable Network Graphics",
                                     extensions=("png",)), sha256="d" * 64)
    col = Collection("123456789/2", ("123456789/1",), logo=logo, items=("123456789/4",),
                     harvest=HarvestSettings(1, "https://x.org/oai", "s", "dc", 0),
                     policies=(ANON_READ,))
    com = Community("123456789/1", None, logo=logo, collections=("123456789/2",),
                    policies=(ANON_READ,))
    site = Site(SITE_HANDLE, "Site", "https://repo.example.org", ("123456789/1",))
    builds: list[Callable[[BuildContext], BuiltPackage]] = [
        lambda ctx: build_item_package(sample_item(discoverable=False), ctx),
        lambda ctx: build_item_package(sample_item(), ctx, lambda n: n != "LICENSE"),
        lambda ctx: build_collection_package(col, [], ctx),
        lambda ctx: build_community_package(com, [], ctx),
        lambda ctx: build_site_package(
            site, [], [], ctx, schemas=[MetadataSchema("dc", "http://purl.org/dc/")],
            fields=[MetadataField("dc", "title", None, "Title")], formats=[PDF])]
    for build in builds:
        default, plain = build(CTX), build(DSPACE_CTX)
        assert dspace_safe(default.manifest) is not None
        assert_dspace_shaped(default, plain)
        assert validate_manifest(parse_bytes(default.manifest)) == []


def test_every_package_type_keeps_aipsync_ext_out_of_referenced_amdsecs_and_round_trips(
        ) -> None:
    """The DSpace-compatibility guarantee, and every extension fact, for all four types."""
    fmt = BitstreamFormat("Adobe PDF", "application/pdf", "Portable Document Format",
                          SupportLevel.SUPPORTED, False, ("pdf", "PDF"))
    logo = Bitstream(-1, "logo.png", 10, "c" * 32,
                     BitstreamFormat("PNG", "image/png", "Portable Network Graphics",
                                     SupportLevel.KNOWN, False, ("png",)), sha256="d" * 64)
    bs = Bitstream(1, "a.pdf", 3, "a" * 32, fmt, sha256="e" * 64, policies=(WITHDRAWN_READ,))
    item = sample_item(discoverable=False, policies=(READ_G, WITHDRAWN_READ), bundles=(
        Bundle("ORIGINAL", (bs,), primary_sequence_id=1, policies=(READ_G,)),
        sample_item().bundles[1]))
    harvest = HarvestSettings(1, "https://x.org/oai", "set", "dc", 2)
    col = Collection("123456789/2", ("123456789/1",), logo=logo, harvest=harvest,
                     policies=(WITHDRAWN_READ,), items=("123456789/8",))
    com = Community("123456789/1", None, logo=logo, collections=("123456789/2",),
                    policies=(READ_G,))
    site = Site(SITE_HANDLE, "Site", "https://repo.example.org", ("123456789/1",))
    registry = Registry((MetadataSchema("seed", "http://x.org/seed/"),),
                        (MetadataField("seed", "note", None, "A note"),
                         MetadataField("dc", "title", "alternative")), (fmt,))
    built = [build_item_package(item, CTX), build_collection_package(col, [], CTX),
             build_community_package(com, [], CTX),
             build_site_package(site, [], [], CTX, schemas=registry.schemas,
                                fields=registry.fields, formats=registry.formats)]
    for pkg in built:
        assert dspace_safe(pkg.manifest) is not None, pkg.type
    parsed = [parse_package(pkg.manifest) for pkg in built]
    assert all(p.warnings == () for p in parsed)
    assert parsed[0].item == expected_item(item)
    assert parsed[1].collection == dataclasses.replace(col, logo=_logo_keyed(logo))
    assert parsed[2].community == dataclasses.replace(com, logo=_logo_keyed(logo))
    assert parsed[3].site == site and parsed[3].registry == registry
    assert [p.registry for p in parsed[:3]] == [None] * 3


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
        "CHECKSUM": "a" * 32, "CHECKSUMTYPE": "MD5", "ADMID": "amd_22",
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
    # named after the Parent structMap's ids (struct_30/div_31/mptr_32): metadata_33; then
    # aipsync's amdSec amd_34/sourceMD_35
    assert [(e.name, e.bitstream.name, e.item_time) for e in pkg.extra_entries] == [
        ("metadata_33", "license.txt", True)]
    assert b'xlink:href="metadata_33"' in pkg.manifest
    assert b'<amdSec ID="amd_34">' in pkg.manifest
    assert b'<sourceMD ID="sourceMD_35">' in pkg.manifest
    parsed = parse_package(pkg.manifest)
    assert FileRef("metadata_33", "", None, None, None) in parsed.files
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
    # dmdSec 1-2, amd_3 (+7 sections), struct_11/div_12, items div_13..mptr_18,
    # template dmdSec_19/20 and div_21, logo_22, Parent struct_23/div_24/mptr_25, then
    # aipsync's amd_26/sourceMD_27 (the logo's name, SHA-256 and format)
    assert kids == [("fptr", None, "logo_22", None),
                    ("div", "DSpace ITEM Template", None, "dmdSec_19 dmdSec_20"),
                    ("div", "DSpace ITEM", None, None), ("div", "DSpace ITEM", None, None)]
    assert [d.get("ID") for d in root.findall(f"{M}dmdSec")] == [
        "dmdSec_1", "dmdSec_2", "dmdSec_19", "dmdSec_20"]
    assert [a.get("ID") for a in root.findall(f"{M}amdSec")] == ["amd_3", "amd_26"]
    f = root.find(f"{M}fileSec/{M}fileGrp/{M}file")
    assert f is not None and dict(f.attrib) == {"ID": "logo_22", "MIMETYPE": "image/png",
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
    assert_dspace_shaped(pkg, build_item_package(item, DSPACE_CTX))
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
    assert_dspace_shaped(pkg, build_collection_package(collection, grps, DSPACE_CTX))
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
    assert_dspace_shaped(pkg, build_community_package(community, grps, DSPACE_CTX))
    parsed = parse_package(pkg.manifest)
    assert parsed.community == dataclasses.replace(community, logo=_logo_keyed(community.logo))
    assert parsed.groups == grps
    assert [c.type for c in parsed.children] == (
        ["COMMUNITY"] * len(community.subcommunities) + ["COLLECTION"] *
        len(community.collections))


@SLOW
@given(sites, groups(), people(), st.booleans(), registry_schemas, registry_fields,
       registry_formats)
def test_site_round_trip(site: Site, grps: tuple[Group, ...], ppl: tuple[EPerson, ...],
                         passwords: bool, schemas: tuple[MetadataSchema, ...],
                         fields: tuple[MetadataField, ...],
                         formats: tuple[BitstreamFormat, ...]) -> None:
    ctx = dataclasses.replace(CTX, passwords=passwords)

    def build(ctx: BuildContext) -> BuiltPackage:
        return build_site_package(site, grps, ppl, ctx, schemas=schemas, fields=fields,
                                  formats=formats)

    pkg = build(ctx)
    assert build(ctx).manifest == pkg.manifest
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    plain = build(dataclasses.replace(ctx, config=DSPACE_CONFIG))
    assert_dspace_shaped(pkg, plain)
    parsed = parse_package(pkg.manifest)
    assert parsed.registry == (Registry(schemas, fields, formats)
                               if schemas or fields or formats else None)
    assert parse_package(plain.manifest).registry is None
    assert parsed.site == site and parsed.groups == grps and parsed.parent is None
    expected_people = ppl if passwords else tuple(
        dataclasses.replace(p, password_hash=None, salt=None, digest_algorithm=None)
        for p in ppl)
    assert parsed.people == expected_people
    assert not parsed.rights_present  # a site has no METSRights


# --- DSpace ingest semantics ---------------------------------------------------------------------
def test_aipsync_ext_keeps_what_metsrights_loses_dspace_aips_do_not() -> None:
    withdrawn_read = ResourcePolicy(Action.WITHDRAWN_READ, group=C.GROUP_ANONYMOUS,
                                    description="withdrawn", policy_type="TYPE_CUSTOM")
    read = ResourcePolicy(Action.READ, group="g", description="d", policy_type=None)
    item = sample_item(policies=(read, withdrawn_read), discoverable=False)
    pkg = build_item_package(item, CTX)
    assert parse_package(pkg.manifest).item.policies == (read, withdrawn_read)  # type: ignore[union-attr]
    dspace = parse_package(build_item_package(item, DSPACE_CTX).manifest)
    assert dspace.item is not None
    assert dspace.item.policies == (dataclasses.replace(read, description=None,
                                                        policy_type="TYPE_CUSTOM"),)
    assert dspace.item.discoverable is True  # DSpace #9447: comes back discoverable
    assert "AIP-W049" in [w.code for w in dspace.warnings]
    # a reader that maps AIPSYNC-EXT to NIL (as a DSpace could) gets DSpace's reading
    nil = IngestConfig(crosswalks={**C.DEFAULT_INGEST_CROSSWALKS, C.MD_AIPSYNC: "NIL"})
    assert parse_package(pkg.manifest, config=nil).item == dspace.item


def test_facts_are_keyed_by_div_and_file_ids_when_the_config_gives_no_amdsecs() -> None:
    ctx = dataclasses.replace(CTX, config=DisseminateConfig(techMD=(), rightsMD=(),
                                                            sourceMD=(), digiprovMD=()))
    fmt = dataclasses.replace(PDF, description="long", extensions=("pdf", "PDF"))
    bs = Bitstream(1, "a.pdf", 3, "a" * 32, fmt, sha256="e" * 64)
    item = sample_item(discoverable=False, policies=(),
                       bundles=(Bundle("ORIGINAL", (bs,), primary_sequence_id=1),))
    pkg = build_item_package(item, ctx)
    root = etree.fromstring(pkg.manifest)
    assert root.find(f".//{M}structMap/{M}div").get("ADMID") is None  # type: ignore[union-attr]
    ext = dspace_safe(pkg.manifest)
    assert ext is not None
    assert [e.get("for") for e in ext.iter(f"{{{C.NS_AIPSYNC}}}ext")] == ["div_4",
                                                                          "bitstream_1"]
    parsed = parse_package(pkg.manifest)
    assert parsed.item is not None and parsed.item.discoverable is False
    got = parsed.item.bundles[0].bitstreams[0]
    assert (got.sha256, got.format) == ("e" * 64, fmt)


def _legacy(name: str) -> bytes:
    """A package as aipsync wrote it before the extension moved to its own amdSec: a bare
    ``aipsync:ext`` as a sourceMD of every amdSec, after AIP-TECHMD."""
    return (DATA / name).read_bytes()


def test_older_aipsync_output_with_ext_in_referenced_amdsecs_is_still_read() -> None:
    data = _legacy("legacy-ext-item.mets.xml")
    assert b'<sourceMD ID="sourceMD_11">' in data  # the old, shifted ids
    parsed = parse_package(data)
    assert parsed.item is not None and parsed.warnings == ()
    assert parsed.item.discoverable is False
    assert parsed.item.policies == (READ_G, WITHDRAWN_READ)
    original = parsed.item.bundles[0]
    assert original.policies == (READ_G,)
    assert original.bitstreams[0].policies == (WITHDRAWN_READ,)
    assert original.bitstreams[0].sha256 == "c" * 64
    assert original.bitstreams[0].format == PDF
    col = parse_package(_legacy("legacy-ext-collection.mets.xml")).collection
    assert col is not None and col.logo is not None
    assert col.harvest == HarvestSettings(1, "https://x.org/oai", "set1", "dc", 0)
    assert col.policies == (WITHDRAWN_READ,)
    assert (col.logo.name, col.logo.sha256, col.logo.format.description) == (
        "logo.png", "d" * 64, "Portable Network Graphics")
    # and what aipsync writes for it now is DSpace-safe and says the same
    again = parse_package(build_item_package(parsed.item, CTX).manifest)
    assert again.item == parsed.item


def test_the_unreferenced_section_wins_over_an_old_in_amdsec_one() -> None:
    item = sample_item(discoverable=False, policies=(READ_G,))
    root = etree.fromstring(build_item_package(item, CTX).manifest)
    amd = root.find(f"{M}amdSec")
    assert amd is not None and amd.get("ID") == "amd_3"
    legacy = extension.disseminate(Extension(discoverable=True, policies=(
        PolicyFacts(Action.ADMIN, "old", None),)))
    assert legacy is not None
    amd.append(B.to_tree(B.md_sec("sourceMD", "sourceMD_99", B.md_wrap(C.MD_AIPSYNC, legacy))))
    parsed = parse_package(etree.tostring(root))
    assert parsed.item is not None
    assert (parsed.item.discoverable, parsed.item.policies) == (False, (READ_G,))


def test_facts_for_an_id_no_object_has_are_a_warning() -> None:
    manifest = build_item_package(sample_item(discoverable=False), CTX).manifest
    bad = manifest.replace(b'<aipsync:ext for="amd_3">', b'<aipsync:ext for="amd_77">')
    assert bad != manifest
    parsed = parse_package(bad)
    assert parsed.item is not None and parsed.item.discoverable is True
    assert [w.code for w in parsed.warnings] == ["AIP-W052"]
    with pytest.raises(CrosswalkError, match="two ext elements"):
        parse_package(manifest.replace(b'<aipsync:ext for="amd_13">',
                                       b'<aipsync:ext for="amd_3">'))


def test_extension_amdsec_referenced_by_admid_is_read_as_an_old_section() -> None:
    # someone pointed an ADMID at aipsync's amdSec: it is no longer "ours", and its
    # aipsync:package root is not an old bare aipsync:ext section
    manifest = build_item_package(sample_item(), CTX).manifest
    bad = manifest.replace(b'ADMID="amd_3"', b'ADMID="amd_3 amd_49"')
    with pytest.raises(CrosswalkError, match="expected root element"):
        parse_package(bad)


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
        parse_package(manifest.replace(b'ADMID="amd_22"', b'ADMID="amd_99"'))
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
