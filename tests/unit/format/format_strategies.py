"""Hypothesis strategies for the AIP format tests (model values that must survive an AIP)."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st

from aip import constants as C
from aip.model import (
    Action,
    Bitstream,
    BitstreamFormat,
    Bundle,
    Collection,
    Community,
    Confidence,
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

TODAY = dt.date(2024, 6, 1)
SITE_HANDLE = "123456789/0"

#: Text XML 1.0 can carry (no surrogates, no C0 controls except tab/LF/CR, no U+FFFE/U+FFFF).
xml_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\t\n\r"),
    max_size=30)
#: Text that survives ``getTextTrim``/attribute use: no surrounding whitespace, not empty.
trimmed = xml_text.map(str.strip).filter(bool)
word = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
ident = st.text(string.ascii_lowercase, min_size=1, max_size=10)
handles = st.integers(1, 10**6).map(lambda n: f"123456789/{n}")
emails = st.builds(lambda a, b: f"{a}@{b}.org", word, word)
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
dates = st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31))


@st.composite
def metadata_values(draw: st.DrawFn) -> MetadataValue:
    authority = draw(st.none() | xml_text)
    confidence = (int(Confidence.UNSET) if authority is None else
                  draw(st.sampled_from([int(c) for c in Confidence]) | st.integers(-5, 1000)))
    return MetadataValue(
        schema=draw(st.sampled_from(["dc", "dcterms", "local"]) | ident), element=draw(ident),
        qualifier=draw(st.none() | ident), value=draw(xml_text),
        language=draw(st.none() | st.just("") | st.sampled_from(["en", "en_US", "*"])),
        authority=authority, confidence=confidence)


formats = st.builds(
    BitstreamFormat, short_description=xml_text, mimetype=xml_text, description=xml_text,
    support_level=st.sampled_from(list(SupportLevel)), internal=st.booleans(),
    extensions=st.lists(word, max_size=3).map(tuple))


@st.composite
def policies(draw: st.DrawFn) -> ResourcePolicy:
    who = draw(st.sampled_from(["anon", "admin", "group", "person"]))
    group = eperson = None
    if who == "anon":
        group = C.GROUP_ANONYMOUS
    elif who == "admin":
        group = C.GROUP_ADMINISTRATOR
    elif who == "group":
        group = draw(trimmed.filter(lambda g: g not in (C.GROUP_ANONYMOUS,
                                                          C.GROUP_ADMINISTRATOR)))
    else:
        eperson = draw(emails)
    return ResourcePolicy(action=draw(st.sampled_from(list(Action))), group=group,
                          eperson=eperson, name=draw(st.none() | xml_text),
                          description=draw(st.none() | xml_text),
                          start_date=draw(st.none() | dates), end_date=draw(st.none() | dates),
                          policy_type=draw(st.none() | st.sampled_from(
                              ["TYPE_CUSTOM", "TYPE_SUBMISSION", "TYPE_INHERITED"])))


policy_lists = st.lists(policies(), max_size=3).map(tuple)


def bitstreams(seq: int) -> st.SearchStrategy[Bitstream]:
    return st.builds(
        Bitstream, sequence_id=st.just(seq), name=st.none() | xml_text,
        size=st.integers(0, 10**12), md5=st.none() | hex32, format=formats,
        source=st.none() | xml_text, description=st.none() | xml_text,
        user_format_description=st.none() | xml_text, sha256=st.none() | hex64,
        policies=policy_lists)


@st.composite
def items(draw: st.DrawFn) -> Item:
    names = draw(st.lists(st.sampled_from(["ORIGINAL", "LICENSE", "TEXT", "THUMBNAIL",
                                           "CC-LICENSE", "METADATA"]) | word.map(str.upper),
                          unique=True, max_size=4).filter(
        lambda ns: not set(ns) & set(C.FILEGRP_ALIASES)))
    seqs = iter(draw(st.lists(st.integers(0, 10**6), unique=True, min_size=12, max_size=12)))
    bundles = []
    for name in names:
        streams = tuple(draw(bitstreams(next(seqs))) for _ in range(draw(st.integers(0, 3))))
        primary = None
        if name == C.BUNDLE_ORIGINAL and streams and draw(st.booleans()):
            primary = draw(st.sampled_from(streams)).sequence_id
        bundles.append(Bundle(name=name, bitstreams=streams, primary_sequence_id=primary,
                              policies=draw(policy_lists)))
    owner = draw(handles)
    withdrawn = draw(st.booleans())
    return Item(
        handle=draw(handles), owning_collection=owner,
        last_modified=draw(st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 1, 1))
                           ).replace(microsecond=0, tzinfo=dt.UTC),
        metadata=tuple(draw(st.lists(metadata_values(), max_size=6))),
        bundles=tuple(bundles), policies=draw(policy_lists),
        mapped_collections=tuple(draw(st.lists(handles.filter(lambda h: h != owner),
                                               max_size=2))),
        submitter=draw(st.none() | emails), in_archive=not withdrawn, withdrawn=withdrawn,
        discoverable=draw(st.booleans()))


@st.composite
def container_metadata(draw: st.DrawFn, fields: tuple[tuple[str, str | None], ...]
                       ) -> tuple[MetadataValue, ...]:
    out = []
    for element, qualifier in fields:
        if (element, qualifier) == ("identifier", "uri"):
            continue
        if draw(st.booleans()):
            out.append(MetadataValue("dc", element, qualifier, draw(xml_text.filter(bool))))
    return tuple(out)


@st.composite
def logos(draw: st.DrawFn) -> Bitstream:
    return Bitstream(sequence_id=-1, name=draw(st.none() | xml_text),
                     size=draw(st.integers(0, 10**9)), md5=draw(st.none() | hex32),
                     format=draw(formats), sha256=draw(st.none() | hex64))


@st.composite
def groups(draw: st.DrawFn, roles: tuple[str, ...] = ()) -> tuple[Group, ...]:
    out = []
    names = draw(st.lists(trimmed, unique=True, max_size=4))
    for i, name in enumerate(names):
        out.append(Group(name=name, id=i + 10, members=tuple(draw(st.lists(emails, max_size=3))),
                         member_groups=tuple(draw(st.lists(trimmed, max_size=2))),
                         role=draw(st.none() | st.sampled_from(roles)) if roles else None))
    return tuple(out)


@st.composite
def collections(draw: st.DrawFn) -> tuple[Collection, tuple[Group, ...]]:
    grps = draw(groups(C.COLLECTION_ROLES))
    harvest = draw(st.none() | st.builds(
        HarvestSettings, harvest_type=st.integers(0, 3), oai_source=xml_text,
        oai_set_id=xml_text, metadata_config_id=xml_text, harvest_status=st.integers(0, 4)))
    collection = Collection(
        handle=draw(handles), parents=tuple(draw(st.lists(handles, min_size=1, max_size=3))),
        metadata=draw(container_metadata(C.COLLECTION_FIELDS)), logo=draw(st.none() | logos()),
        template=draw(st.none() | st.lists(metadata_values(), max_size=3).map(tuple)),
        roles=tuple((g.role, g.name) for g in grps if g.role), harvest=harvest,
        policies=draw(policy_lists), items=tuple(draw(st.lists(handles, max_size=4))))
    return collection, grps


@st.composite
def communities(draw: st.DrawFn) -> tuple[Community, tuple[Group, ...]]:
    grps = draw(groups(C.COMMUNITY_ROLES))
    community = Community(
        handle=draw(handles), parent=draw(st.none() | handles),
        metadata=draw(container_metadata(C.COMMUNITY_FIELDS)), logo=draw(st.none() | logos()),
        roles=tuple((g.role, g.name) for g in grps if g.role), policies=draw(policy_lists),
        subcommunities=tuple(draw(st.lists(handles, max_size=3))),
        collections=tuple(draw(st.lists(handles, max_size=3))))
    return community, grps


@st.composite
def people(draw: st.DrawFn) -> tuple[EPerson, ...]:
    out = []
    for i, email in enumerate(draw(st.lists(emails, unique=True, max_size=4))):
        hashed = draw(st.booleans())
        out.append(EPerson(
            email=email, id=i + 1, netid=draw(st.none() | trimmed),
            first_name=draw(st.none() | xml_text), last_name=draw(st.none() | xml_text),
            language=draw(st.none() | st.sampled_from(["en", "de"])),
            can_log_in=draw(st.booleans()), require_certificate=draw(st.booleans()),
            self_registered=draw(st.booleans()),
            password_hash=draw(hex64) if hashed else None,
            salt=draw(st.none() | hex32) if hashed else None,
            digest_algorithm=draw(st.none() | st.just("SHA-512")) if hashed else None))
    return tuple(out)


sites = st.builds(Site, handle=st.just(SITE_HANDLE), name=xml_text,
                  url=word.map(lambda w: f"https://{w}.example.org"),
                  communities=st.lists(handles, max_size=4).map(tuple))


#: A repository's registries (SITE AIP, AIPSYNC-EXT): schemas, fields, formats.
registry_schemas = st.lists(st.builds(MetadataSchema, prefix=word, namespace=xml_text),
                            max_size=3).map(tuple)
registry_fields = st.lists(st.builds(MetadataField, schema=word, element=word,
                                     qualifier=st.none() | word,
                                     scope_note=st.none() | xml_text), max_size=4).map(tuple)
registry_formats = st.lists(formats, max_size=3).map(tuple)
