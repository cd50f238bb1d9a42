"""Real DSpace 1.7 AIPs: aipsync reads them, and rebuilds packages of the same structure.

For every manifest of DSpace's vendored samples (``tests/fixtures/dspace-aips``) and of the
UBC export when present (``tests/helpers/dspace_fixtures.py``): parse and validate it, read it
into the model with ``parse_package``, build the package aipsync would write for that model,
and compare the two *structures* with :func:`skeleton`: same sections (MDTYPE/OTHERMDTYPE per
amdSec kind), same attributes on mets/metsHdr/agent/fileGrp/file/FLocat/div/mptr/fptr, same DIM
fields and values, same METSRights contexts, same DSPACE-ROLES groups and people, same PREMIS
facts.
Ignored: id values (compared by position), dates, PREMIS identifier URLs, the CREATOR name,
zip entry names, MODS content (1.7 wrote other container MODS), the 4.0+ METSRights context
attributes, DSPACE-ROLES ``ID`` attributes, and aipsync's own AIPSYNC-EXT amdSec (which must
be unreferenced: no amdSec that an ``ADMID`` names may hold an AIPSYNC-EXT section, or DSpace
refuses the package).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.dspace_fixtures import DSPACE_SAMPLES, UBC, manifests, needs_ubc
from lxml import etree

from aip import constants as C
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.packager.config import DisseminateConfig
from aip.packager.manifest import (
    BuildContext,
    ParsedPackage,
    build_collection_package,
    build_community_package,
    build_item_package,
    build_site_package,
    parse_package,
)

#: DSpace's sample ITEM manifest (vendored, always there).
SAMPLE_ITEM = DSPACE_SAMPLES / "ITEM@123456789-8.mets.xml"

M = f"{{{C.NS_METS}}}"
XLINK_HREF = f"{{{C.NS_XLINK}}}href"
DSPACE_CONFIG = DisseminateConfig(extension=False)


# --- the structural diff helper ----------------------------------------------------------------
def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _label(section: etree._Element) -> str | None:
    body = next((c for c in section if isinstance(c.tag, str)), None)
    if body is None:
        return None
    return body.get("OTHERMDTYPE") if body.get("MDTYPE") == "OTHER" else body.get("MDTYPE")


def _ours_only(el: etree._Element) -> bool:
    """An AIPSYNC-EXT section, or an amdSec holding nothing else (aipsync's own amdSec)."""
    if _local(el) == "amdSec":
        sections = [c for c in el if isinstance(c.tag, str)]
        return bool(sections) and all(_ours_only(c) for c in sections)
    return _label(el) == C.MD_AIPSYNC


def referenced_ext_sections(manifest: bytes) -> list[str]:
    """IDs of AIPSYNC-EXT sections inside amdSecs some ``ADMID`` names (must be none)."""
    root = etree.fromstring(manifest)
    referenced = {i for el in root.iter() if isinstance(el.tag, str)
                  for i in (el.get("ADMID") or "").split()}
    return [sec.get("ID") or "" for amd in root.iter(f"{M}amdSec")
            for sec in amd if isinstance(sec.tag, str) and _ours_only(sec)
            and (amd.get("ID") in referenced or sec.get("ID") in referenced)]


def _text(el: etree._Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def _by_local(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el.iter() if isinstance(c.tag, str) and _local(c) == name]


def _content(label: str | None, data: etree._Element) -> Any:
    """A comparable summary of the metadata inside one xmlData."""
    root = next((c for c in data if isinstance(c.tag, str)), None)
    if root is None:
        return None
    if label in ("DIM", "AIP-TECHMD"):
        return (root.get("dspaceType"), tuple(
            (f.get("mdschema"), f.get("element"), f.get("qualifier"), f.get("lang"),
             f.get("authority"), f.get("confidence"), _text(f)) for f in root))
    if label == "METSRIGHTS":
        return tuple(
            (ctx.get("CONTEXTCLASS"),
             tuple((u.get("USERTYPE"), _text(u).strip()) for u in _by_local(ctx, "UserName")),
             tuple(sorted(p.attrib.items())) if (p := next(iter(_by_local(ctx, "Permissions")),
                                                           None)) is not None else None)
            for ctx in _by_local(root, "Context"))
    if label == "DSPACE-ROLES":
        groups = tuple(
            (g.get("Name"), g.get("Type"),
             tuple(m.get("Name") for m in _by_local(g, "Member")),
             tuple(m.get("Name") for m in _by_local(g, "MemberGroup")))
            for g in _by_local(root, "Group"))
        people = tuple(
            tuple((_local(c), _text(c)) for c in p if isinstance(c.tag, str))
            for p in _by_local(root, "Person"))
        return groups, people
    if label == "PREMIS":
        keep = ("objectIdentifierType", "objectCategory", "messageDigestAlgorithm",
                "messageDigest", "size", "formatName", "originalName")
        return tuple((n, _text(e)) for n in keep for e in _by_local(root, n))
    return label  # MODS and anything else: presence and type only


def _structural(el: etree._Element) -> list[etree._Element]:
    """METS elements outside wrapped metadata (DSPACE-ROLES ``ID``s are not METS ids)."""
    out = [el]
    if el.tag != f"{M}xmlData":
        for kid in el:
            if isinstance(kid.tag, str):
                out.extend(_structural(kid))
    return out


def skeleton(manifest: bytes) -> dict[str, Any]:
    """The structure of a METS manifest with ids replaced by their position."""
    root = etree.fromstring(manifest)
    ids: dict[str, str] = {}
    for el in _structural(root):
        ident = el.get("ID")
        if ident and el is not root and not _ours_only(el):
            ids[ident] = f"#{len(ids)}"
    hrefs = {loc.get(XLINK_HREF): ids[f.get("ID") or ""] for f in root.iter(f"{M}file")
             for loc in f.iter(f"{M}FLocat")}

    def ref(value: str | None) -> str | None:
        # sorted: DSpace orders multi-valued DMDID by a Java HashMap, aipsync naturally
        return None if value is None else " ".join(sorted(ids.get(v, f"?{v}")
                                                          for v in value.split()))

    def attrs(el: etree._Element, idrefs: tuple[str, ...] = ("ID", "ADMID", "DMDID", "FILEID"),
              drop: tuple[str, ...] = ()) -> tuple[tuple[str, str | None], ...]:
        return tuple(sorted((k, ref(v) if k in idrefs else v) for k, v in el.attrib.items()
                            if k not in drop))

    def section(sec: etree._Element) -> Any:
        label = _label(sec)
        body = next(c for c in sec if isinstance(c.tag, str))
        if _local(body) == "mdRef":
            return (_local(sec), ref(sec.get("ID")), "mdRef", label, body.get("LOCTYPE"),
                    body.get("MIMETYPE"), hrefs.get(body.get(XLINK_HREF)))
        data = body.find(f"{M}xmlData")
        return (_local(sec), ref(sec.get("ID")), "mdWrap", label,
                _content(label, data) if data is not None else None)

    def div(d: etree._Element) -> Any:
        return (attrs(d),
                tuple(attrs(f) for f in d.findall(f"{M}fptr")),
                tuple(attrs(p, drop=("ID",)) for p in d.findall(f"{M}mptr")),
                tuple(div(c) for c in d.findall(f"{M}div")))

    hdr = root.find(f"{M}metsHdr")
    assert hdr is not None
    return {
        "mets": attrs(root, idrefs=()),
        "metsHdr": tuple(sorted(hdr.attrib)),
        "agents": tuple((attrs(a), _text(a.find(f"{M}name")) if a.get("ROLE") == "CUSTODIAN"
                         else "*") for a in hdr.findall(f"{M}agent")),
        "dmdSecs": tuple(section(d) for d in root.findall(f"{M}dmdSec")),
        "amdSecs": tuple((ref(a.get("ID")), tuple(section(s) for s in a
                                                  if isinstance(s.tag, str) and not
                                                  _ours_only(s)))
                         for a in root.findall(f"{M}amdSec") if not _ours_only(a)),
        "fileGrps": tuple((attrs(g), tuple(
            (attrs(f), tuple((*attrs(loc, idrefs=(), drop=(XLINK_HREF,)), (XLINK_HREF, "*"))
                             for loc in f.findall(f"{M}FLocat"))) for f in g.findall(f"{M}file")))
            for g in root.iter(f"{M}fileGrp")),
        "structMaps": tuple((attrs(s), tuple(div(d) for d in s.findall(f"{M}div")))
                            for s in root.findall(f"{M}structMap")),
    }


def diff(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Human-readable differences between two skeletons (empty when equal)."""
    return [f"{key}:\n  DSpace:  {theirs[key]!r}\n  aipsync: {ours[key]!r}"
            for key in theirs if theirs[key] != ours[key]]


# --- the tests -------------------------------------------------------------------------------
def _custodian(manifest: bytes) -> str:
    root = parse_bytes(manifest)
    agent = root.find(f"{M}metsHdr/{M}agent[@ROLE='CUSTODIAN']/{M}name")
    assert agent is not None and agent.text
    return agent.text


def _rebuild(parsed: ParsedPackage, ctx: BuildContext) -> bytes:
    if parsed.item is not None:
        return build_item_package(parsed.item, ctx).manifest
    if parsed.collection is not None:
        return build_collection_package(parsed.collection, parsed.groups, ctx).manifest
    if parsed.community is not None:
        return build_community_package(parsed.community, parsed.groups, ctx).manifest
    assert parsed.site is not None
    return build_site_package(parsed.site, parsed.groups, parsed.people, ctx).manifest


CONFIGS = [pytest.param(DSPACE_CONFIG, id="dspace-config"),
           pytest.param(DisseminateConfig(), id="aipsync-config")]
SAMPLES = [pytest.param(p, id=p.name) for p in manifests(DSPACE_SAMPLES)]


@pytest.mark.parametrize("manifest", SAMPLES)
def test_fixture_parses_validates_and_reads(manifest: Path) -> None:
    check_reads(manifest)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("manifest", SAMPLES)
def test_rebuilt_package_has_dspace_structure(manifest: Path, config: DisseminateConfig) -> None:
    check_rebuild(manifest, config)


@needs_ubc
def test_the_ubc_manifests_read_and_rebuild_alike() -> None:
    """The two checks above on every manifest of the UBC export, in one test (a clone
    without the set reports one skip here, not one per manifest)."""
    assert UBC is not None
    found = manifests(UBC)
    assert len(found) == 10
    for manifest in found:
        check_reads(manifest)
        for config in CONFIGS:
            check_rebuild(manifest, config.values[0])


def check_reads(manifest: Path) -> None:
    """The manifest is valid, and reads into the model without warnings."""
    data = manifest.read_bytes()
    assert validate_manifest(parse_bytes(data)) == []
    parsed = parse_package(data, path=manifest.name.replace(".mets.xml", ".zip"))
    assert parsed.warnings == ()
    assert parsed.rights_present == (parsed.type != C.TYPE_SITE)
    if parsed.item is not None:
        assert parsed.item.metadata and parsed.item.submitter
        for ref in parsed.files:  # every file with its manifest size and MD5
            assert ref.size and ref.md5 and ref.sequence_id is not None


def check_rebuild(manifest: Path, config: DisseminateConfig) -> None:
    """What aipsync builds from the manifest's model has DSpace's structure, and reads back
    to the same model."""
    data = manifest.read_bytes()
    parsed = parse_package(data)
    ctx = BuildContext(site_handle=_custodian(data), site_url="http://localhost:8080/xmlui",
                       today=dt.date(2010, 10, 1), config=config)
    ours = _rebuild(parsed, ctx)
    assert validate_manifest(parse_bytes(ours)) == []
    assert referenced_ext_sections(ours) == []
    if not config.extension:
        assert C.NS_AIPSYNC.encode() not in ours
    elif parsed.item is not None:  # policies and formats: the check above is not vacuous
        assert C.NS_AIPSYNC.encode() in ours
    problems = diff(skeleton(data), skeleton(ours))
    assert not problems, "\n".join(problems)
    # and what aipsync wrote reads back to the same model
    again = parse_package(ours)
    for name in ("site", "community", "collection"):
        assert getattr(again, name) == _keyed(getattr(parsed, name))
    if parsed.item is not None:
        assert again.item is not None
        assert again.item.metadata == parsed.item.metadata
        assert [[(b.name, b.size, b.md5) for b in bundle.bitstreams]
                for bundle in again.item.bundles] == [[(b.name, b.size, b.md5)
                                                        for b in bundle.bitstreams]
                                                       for bundle in parsed.item.bundles]


def _keyed(obj: Any) -> Any:
    logo = getattr(obj, "logo", None)
    if logo is None:
        return obj
    return dataclasses.replace(obj, logo=dataclasses.replace(logo, key="logo"))


def test_diff_helper_finds_differences() -> None:
    data = SAMPLE_ITEM.read_bytes()
    broken: list[Callable[[bytes], bytes]] = [
        lambda b: b.replace(b'OTHERMDTYPE="AIP-TECHMD"', b'OTHERMDTYPE="AIP-TECH"', 1),
        lambda b: b.replace(b'element="title"', b'element="titel"', 1),
        lambda b: b.replace(b'CONTEXTCLASS="GENERAL PUBLIC"', b'CONTEXTCLASS="MANAGED GRP"', 1),
        lambda b: b.replace(b' GROUPID="GROUP_bitstream_1"', b"", 1),
    ]
    for change in broken:
        assert diff(skeleton(data), skeleton(change(data)))
    assert diff(skeleton(data), skeleton(data)) == []


def test_referenced_ext_sections_finds_an_ext_section_dspace_would_read() -> None:
    data = SAMPLE_ITEM.read_bytes()
    ctx = BuildContext(site_handle=_custodian(data), site_url="http://localhost:8080/xmlui",
                       today=dt.date(2010, 10, 1))
    ours = _rebuild(parse_package(data), ctx)
    root = etree.fromstring(ours)
    last = root.findall(f"{M}amdSec")[-1]
    assert _ours_only(last) and referenced_ext_sections(ours) == []
    main = root.find(f"{M}structMap/{M}div")
    assert main is not None
    main.set("ADMID", f"{main.get('ADMID')} {last.get('ID')}")
    assert referenced_ext_sections(etree.tostring(root)) == [last[0].get("ID")]
