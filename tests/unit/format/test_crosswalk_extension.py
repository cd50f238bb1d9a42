"""AIPSYNC-EXT as a whole-package section: ``aipsync:package`` with keyed facts and registries."""

from __future__ import annotations

import pytest
from format_strategies import (
    formats,
    hex64,
    policy_lists,
    registry_fields,
    registry_formats,
    registry_schemas,
    word,
    xml_text,
)
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import extension
from aip.crosswalks.extension import (
    Extension,
    LogoFacts,
    PackageExtension,
    PolicyFacts,
    Registry,
)
from aip.errors import CrosswalkError, Problem
from aip.model import (
    Action,
    BitstreamFormat,
    HarvestSettings,
    MetadataField,
    MetadataSchema,
    SupportLevel,
)

NS = C.NS_AIPSYNC

facts = st.builds(
    Extension,
    discoverable=st.none() | st.booleans(),
    harvest=st.none() | st.builds(HarvestSettings, harvest_type=st.integers(0, 3),
                                  oai_source=xml_text, oai_set_id=xml_text,
                                  metadata_config_id=xml_text, harvest_status=st.integers(0, 3)),
    logo=st.none() | st.builds(LogoFacts, name=st.none() | xml_text, sha256=st.none() | hex64,
                               format=st.none() | formats),
    sha256=st.none() | hex64, format=st.none() | formats,
    policies=st.none() | policy_lists.map(
        lambda ps: tuple(PolicyFacts(p.action, p.description, p.policy_type) for p in ps)),
).filter(lambda e: not e.is_empty())
keyed_facts = st.lists(st.tuples(word, facts), max_size=4,
                       unique_by=lambda kv: kv[0]).map(tuple)
registries = st.none() | st.builds(Registry, schemas=registry_schemas, fields=registry_fields,
                                   formats=registry_formats)


def _reparse(el: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(el))


@given(keyed_facts, registries)
def test_package_round_trip(pairs: tuple[tuple[str, Extension], ...],
                            registry: Registry | None) -> None:
    pkg = PackageExtension(facts=pairs, registry=registry)
    root = extension.disseminate_package(pkg)
    if pkg.is_empty():
        assert root is None
        return
    assert root is not None
    warnings: list[Problem] = []
    assert extension.ingest_package(_reparse(root), warnings) == pkg
    assert warnings == []


def test_package_vocabulary() -> None:
    pdf = BitstreamFormat("Adobe PDF", "application/pdf", "PDF", SupportLevel.KNOWN, False,
                          ("pdf",))
    root = extension.disseminate_package(PackageExtension(
        facts=(("amd_3", Extension(discoverable=False)), ("amd_22", Extension(sha256="ab"))),
        registry=Registry(schemas=(MetadataSchema("seed", "http://x.org/seed/"),),
                          fields=(MetadataField("seed", "note", None, "A note"),
                                  MetadataField("dc", "title", "alternative")),
                          formats=(pdf,))))
    assert root is not None
    assert etree.tostring(root).decode() == (
        f'<aipsync:package xmlns:aipsync="{NS}">'
        '<aipsync:ext for="amd_3"><aipsync:item discoverable="false"/></aipsync:ext>'
        '<aipsync:ext for="amd_22"><aipsync:bitstream sha256="ab"/></aipsync:ext>'
        '<aipsync:registry>'
        '<aipsync:schema prefix="seed" namespace="http://x.org/seed/"/>'
        '<aipsync:field schema="seed" element="note">'
        '<aipsync:scopeNote>A note</aipsync:scopeNote></aipsync:field>'
        '<aipsync:field schema="dc" element="title" qualifier="alternative"/>'
        '<aipsync:format short="Adobe PDF" mimetype="application/pdf" support="KNOWN" '
        'internal="false"><aipsync:description>PDF</aipsync:description>'
        '<aipsync:extension>pdf</aipsync:extension></aipsync:format>'
        '</aipsync:registry></aipsync:package>')


def test_nothing_to_say_gives_no_section() -> None:
    assert extension.disseminate_package(PackageExtension()) is None
    assert extension.disseminate_package(PackageExtension(
        facts=(("amd_3", Extension()),))) is None
    # an empty registry is still something to say ("these are all the entries")
    root = extension.disseminate_package(PackageExtension(registry=Registry()))
    assert root is not None
    assert extension.ingest_package(root).registry == Registry()


def test_package_errors_and_warnings() -> None:
    def read(body: str, warnings: list[Problem] | None = None) -> PackageExtension:
        return extension.ingest_package(etree.fromstring(
            f'<a:package xmlns:a="{NS}">{body}</a:package>'), warnings)

    with pytest.raises(CrosswalkError, match="without @for"):
        read('<a:ext><a:item discoverable="false"/></a:ext>')
    with pytest.raises(CrosswalkError, match="two ext elements"):
        read('<a:ext for="x"/><a:ext for="x"/>')
    with pytest.raises(CrosswalkError, match="more than one registry"):
        read("<a:registry/><a:registry/>")
    with pytest.raises(CrosswalkError, match="schema without prefix"):
        read('<a:registry><a:schema namespace="n"/></a:registry>')
    with pytest.raises(CrosswalkError, match="field without schema or element"):
        read('<a:registry><a:field schema="dc"/></a:registry>')
    with pytest.raises(CrosswalkError, match="expected root element"):
        extension.ingest_package(etree.fromstring(f'<a:ext xmlns:a="{NS}"/>'))
    with pytest.raises(CrosswalkError, match="expected root element"):
        extension.ingest(etree.fromstring(f'<a:package xmlns:a="{NS}"/>'))
    with pytest.raises(CrosswalkError, match="two sets of facts"):
        extension.disseminate_package(PackageExtension(facts=(
            ("x", Extension(sha256="a")), ("x", Extension(sha256="b")))))
    warnings: list[Problem] = []
    got = read('<a:future/><a:ext for="x"><a:later/></a:ext>'
               '<a:registry><a:group/></a:registry>', warnings)
    assert got == PackageExtension(facts=(("x", Extension()),), registry=Registry())
    assert [w.code for w in warnings] == ["AIP-W046"] * 3


def test_policy_facts_keep_the_exact_action() -> None:
    root = extension.disseminate_package(PackageExtension(facts=(
        ("amd_3", Extension(policies=(PolicyFacts(Action.WITHDRAWN_READ, "why",
                                                  "TYPE_CUSTOM"),))),)))
    assert root is not None
    assert b'action="12" type="TYPE_CUSTOM"' in etree.tostring(root)
