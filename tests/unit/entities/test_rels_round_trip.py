"""Item AIPs with relationships: the ``rels`` structMap (PR #3328's shape, one wrapping div so
the METS schema holds) and aipsync's extension survive parse(build(x)); DSpace's own shape
(name divs straight in the structMap) reads too."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.model import (
    Item,
    LatestVersionStatus,
    MetadataValue,
    Relationship,
    RelationshipClaim,
    Side,
    Tilted,
    claim_of,
)
from aip.packager.config import DisseminateConfig
from aip.packager.manifest import (
    BuildContext,
    bitstream_entry_name,
    build_item_package,
    parse_package,
)
from tests.unit.format import format_strategies as S

CTX = BuildContext(site_handle=S.SITE_HANDLE, site_url="https://repo.example.org",
                   today=S.TODAY)
DSPACE_CTX = dataclasses.replace(CTX, config=DisseminateConfig(extension=False))
names = st.from_regex(r"\Ais[A-Z][a-zA-Z]{0,10}Of[A-Z][a-zA-Z]{0,8}\Z")
uuids = st.uuids().map(str)
variants = st.none() | S.trimmed


@st.composite
def relationships(draw: st.DrawFn, handle: str, own_uuid: str) -> Relationship:
    other = draw(S.handles.filter(lambda h: h != handle))
    left = draw(st.booleans())
    return Relationship(
        left_type=draw(S.word), right_type=draw(S.word), leftward=draw(names),
        rightward=draw(names), left=handle if left else other,
        right=other if left else handle, left_place=draw(st.integers(0, 50)),
        right_place=draw(st.integers(0, 50)), leftward_value=draw(variants),
        rightward_value=draw(variants), latest=draw(st.sampled_from(list(LatestVersionStatus))),
        id=draw(st.none() | st.integers(1, 10**6)),
        left_uuid=own_uuid if left else draw(st.none() | uuids),
        right_uuid=draw(st.none() | uuids) if left else own_uuid,
        tilted=draw(st.sampled_from(list(Tilted))), left_withdrawn=draw(st.booleans()),
        right_withdrawn=draw(st.booleans()))


claims = st.builds(
    RelationshipClaim, name=names, other_handle=st.none() | S.handles,
    other_uuid=st.none() | uuids, own_place=st.none() | st.integers(0, 9),
    type_key=st.none() | st.tuples(S.word, S.word, names, names),
    side=st.none() | st.sampled_from(list(Side)), other_place=st.none() | st.integers(0, 9),
    leftward_value=variants, rightward_value=variants, variants_known=st.booleans(),
    label=variants, latest=st.sampled_from(list(LatestVersionStatus)),
    source_id=st.none() | st.integers(1, 99))


@st.composite
def entity_items(draw: st.DrawFn) -> Item:
    item = draw(S.items())
    own_uuid = draw(uuids)
    rels = tuple(draw(st.lists(relationships(item.handle, own_uuid), max_size=5)))
    # places for fields that share them with relationships: distinct, any order of gaps
    by_field = Counter(v.field for v in item.metadata)
    places = []
    for field_name, count in sorted(by_field.items()):
        if draw(st.booleans()):
            chosen = draw(st.lists(st.integers(0, 40), min_size=count, max_size=count,
                                   unique=True))
            if chosen != list(range(count)):
                places.append((field_name, tuple(sorted(chosen))))
    return dataclasses.replace(item, uuid=own_uuid, relationships=rels,
                               pending=tuple(draw(st.lists(claims, max_size=2))),
                               places=tuple(places))


def _expected(item: Item) -> Item:
    return dataclasses.replace(item, bundles=tuple(
        dataclasses.replace(b, bitstreams=tuple(
            dataclasses.replace(x, key=bitstream_entry_name(x)) for x in b.bitstreams))
        for b in item.bundles))


def _rels_claims(item: Item) -> Counter[tuple[object, ...]]:
    out: Counter[tuple[object, ...]] = Counter()
    for rel in item.relationships:
        left = rel.is_left(item.handle)
        if rel.right_withdrawn if left else rel.left_withdrawn:
            continue
        out[(rel.name_from(item.handle), rel.right if left else rel.left,
             rel.right_uuid if left else rel.left_uuid,
             rel.left_place if left else rel.right_place,
             rel.leftward_value if left else rel.rightward_value)] += 1
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entity_items())
def test_extension_and_rels_survive_a_round_trip(item: Item) -> None:
    pkg = build_item_package(item, CTX)
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest, path="ITEM@x.zip")
    assert parsed.item == _expected(item)
    assert parsed.claims == tuple(claim_of(r, item.handle) for r in item.relationships) + \
        item.pending
    assert build_item_package(item, CTX).manifest == pkg.manifest


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entity_items())
def test_the_rels_structmap_alone_says_who_where_and_which_variant(item: Item) -> None:
    """Without aipsync's extension (DSpace-shaped packages) a reader has the rels structMap:
    name, other item, this side's place and the name variant of this side, for every
    related item that is not withdrawn; and the UUID, from mets/@ID."""
    pkg = build_item_package(item, DSPACE_CTX)
    assert validate_manifest(parse_bytes(pkg.manifest)) == []
    parsed = parse_package(pkg.manifest, path="ITEM@x.zip")
    assert parsed.item is not None and parsed.item.uuid == item.uuid
    found = Counter((c.name, c.other_handle, c.other_uuid, c.own_place, c.label)
                    for c in parsed.claims)
    assert found == _rels_claims(item)


def test_the_rels_structmap_has_pr_3328s_shape_in_one_wrapping_div() -> None:
    item = Item(handle="123456789/5", owning_collection="123456789/2",
                last_modified=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                metadata=(MetadataValue("dc", "title", None, "P"),),
                uuid="3f0c2b9e-0000-4000-8000-000000000005", relationships=(
                    Relationship("Publication", "Person", "isAuthorOfPublication",
                                 "isPublicationOfAuthor", "123456789/5", "123456789/7", 1, 0,
                                 leftward_value="The Paper", rightward_value="Smith, J.",
                                 right_uuid="3f0c2b9e-0000-4000-8000-000000000007"),
                    Relationship("Publication", "Person", "isAuthorOfPublication",
                                 "isPublicationOfAuthor", "123456789/5", "123456789/8", 0, 3,
                                 right_withdrawn=True),
                    Relationship("JournalIssue", "Publication", "isPublicationOfJournalIssue",
                                 "isJournalIssueOfPublication", "123456789/9", "123456789/5",
                                 4, 0, rightward_value="Issue 2",
                                 left_uuid="3f0c2b9e-0000-4000-8000-000000000009")))
    root = etree.fromstring(build_item_package(item, DSPACE_CTX).manifest)
    assert root.get("ID") == "DSpace_ITEM_DB-ID-3f0c2b9e-0000-4000-8000-000000000005"
    ns = {"m": C.NS_METS, "x": C.NS_XLINK}
    (rels,) = root.findall("m:structMap[@ID='rels']", ns)
    (wrapper,) = rels.findall("m:div", ns)
    assert wrapper.get("TYPE") == C.DIV_RELATIONSHIPS
    assert [d.get("ID") for d in wrapper.findall("m:div", ns)] == [
        "rels_isAuthorOfPublication", "rels_isJournalIssueOfPublication"]
    (author,) = wrapper.findall("m:div[@ID='rels_isAuthorOfPublication']/m:div", ns)
    assert (author.get("ORDER"), author.get("LABEL")) == ("1", "The Paper")
    assert [(p.get("LOCTYPE"), p.get(f"{{{C.NS_XLINK}}}href"))
            for p in author.findall("m:mptr", ns)] == [
        ("HANDLE", "123456789/7"), ("URL", "ITEM@123456789-7.zip"),
        ("URN", "urn:uuid:3f0c2b9e-0000-4000-8000-000000000007")]
    (issue,) = wrapper.findall("m:div[@ID='rels_isJournalIssueOfPublication']/m:div", ns)
    assert (issue.get("ORDER"), issue.get("LABEL")) == ("0", "Issue 2")
    # the structMap follows the Parent one
    labels = [sm.get("LABEL") or sm.get("ID") for sm in root.findall("m:structMap", ns)]
    assert labels == ["DSpace Object", "Parent", "rels"]


def test_dspaces_unwrapped_shape_reads_too() -> None:
    item = Item(handle="123456789/5", owning_collection="123456789/2",
                last_modified=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                metadata=(MetadataValue("dc", "title", None, "P"),))
    text = build_item_package(item, DSPACE_CTX).manifest.decode()
    rels = """<structMap ID="rels">
 <div ID="rels_isAuthorOfPublication">
  <div ORDER="0"><mptr LOCTYPE="HANDLE" xlink:type="simple" xlink:href="123456789/45"/>
   <mptr LOCTYPE="URL" xlink:type="simple" xlink:href="ITEM@123456789-45.zip"/>
   <mptr LOCTYPE="URN" xlink:type="simple"
         xlink:href="urn:uuid:3F0C2B9E-0000-4000-8000-000000000045"/></div>
  <div ORDER="1" LABEL="Smith, J."><mptr LOCTYPE="HANDLE" xlink:type="simple"
       xlink:href="123456789/46"/></div>
 </div>
 <div ID="rels_isJournalIssueOfPublication"><div ORDER="0"><mptr LOCTYPE="OTHER"
   OTHERLOCTYPE="3f0c2b9e-0000-4000-8000-000000000047" xlink:type="simple"
   xlink:href="0:3"/></div></div>
</structMap></mets>"""
    parsed = parse_package(text.replace("</mets>", rels).encode(), path="ITEM@x.zip")
    assert [(c.name, c.other_handle, c.other_uuid, c.own_place, c.label)
            for c in parsed.claims] == [
        ("isAuthorOfPublication", "123456789/45", "3f0c2b9e-0000-4000-8000-000000000045", 0,
         None),
        ("isAuthorOfPublication", "123456789/46", None, 1, "Smith, J."),
        ("isJournalIssueOfPublication", None, "3f0c2b9e-0000-4000-8000-000000000047", 0,
         None)]
