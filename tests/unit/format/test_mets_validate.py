"""Offline schema validation: bundled schemas only, never the network; cost per manifest."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from helpers.dspace_fixtures import DSPACE_SAMPLES, UBC, manifests, needs_ubc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.mets import build as B
from aip.mets import validate as V
from aip.mets.parse import parse_bytes


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_catalog_maps_remote_schema_addresses_to_bundled_files() -> None:
    mapping = V.catalog()
    assert mapping[C.SCHEMA_LOCATION_METS] == (V._SCHEMA_DIR / "mets" / "mets.xsd").resolve()
    assert mapping["http://www.loc.gov/standards/xlink/xlink.xsd"].is_file()
    assert all(p.is_file() for p in mapping.values())


def test_unknown_remote_import_fails_fast_without_fetching(tmp_path: Path,
                                                           no_network: None) -> None:
    xsd = tmp_path / "x.xsd"
    xsd.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:import '
                   'namespace="urn:y" schemaLocation="http://example.invalid/y.xsd"/></xs:schema>')
    start = time.perf_counter()
    with pytest.raises(V.SchemaLoadError, match=r"http://example.invalid/y.xsd.*not fetched"):
        V.load_schema(xsd, mapping={})
    assert time.perf_counter() - start < 0.5


def test_bundled_schemas_compile_offline(no_network: None) -> None:
    V.mets_schema.cache_clear()
    V.inner_schema.cache_clear()
    assert V.mets_schema() is V.mets_schema()  # compiled once, cached
    for ns in V._INNER_SCHEMAS:
        assert V.inner_schema(ns) is not None


def _minimal_node(**extra: str) -> B.Node:
    root = B.mets_root(obj_id="x", objid="hdl:1/2", type_="DSpace ITEM", profile=C.AIP_PROFILE)
    root.append(B.struct_map(sm_id="s", label="L", type_="LOGICAL",
                             divs=[B.div(div_id="d", **extra)]))  # type: ignore[arg-type]
    return root


def _minimal(**extra: str) -> etree._Element:
    return B.to_tree(_minimal_node(**extra))


def test_schema_violations_and_broken_references_are_errors() -> None:
    assert V.validate_manifest(_minimal()) == []
    root = _minimal()
    root.append(etree.Element(f"{{{C.NS_METS}}}notAMetsElement"))
    assert [p.code for p in V.validate_manifest(root)] == ["AIP-E044"]
    dangling = _minimal(admid=("amd_1",))
    codes = {p.code for p in V.validate_manifest(dangling)}
    assert "AIP-E041" in codes  # our IDREF check names the broken reference


def test_dspace_fixtures_are_valid(no_network: None) -> None:
    """DSpace's own sample manifests pass the METS schema and the structure checks (how long
    that takes is bench/'s business, never a test's)."""
    for path in manifests(DSPACE_SAMPLES):  # the UBC set: the test below
        problems = V.validate_manifest(parse_bytes(path.read_bytes()))
        assert problems == [], (path.name, problems)


@needs_ubc
def test_the_ubc_manifests_are_valid_and_their_inner_sections_give_warnings_only() -> None:
    assert UBC is not None
    found = manifests(UBC)
    assert len(found) == 10
    for path in found:
        assert V.validate_manifest(parse_bytes(path.read_bytes())) == [], path.name
    ubc = parse_bytes((UBC / "ITEM@2429-2697.mets.xml").read_bytes())
    warnings = V.inner_problems(ubc)
    # DSpace's MODS puts text straight into relatedItem: invalid MODS 3.1, a warning
    assert [w.code for w in warnings] == ["AIP-W040"]
    assert "relatedItem" in warnings[0].message
    assert V.validate_manifest(ubc) == []
    assert [p.code for p in V.validate_manifest(ubc, inner=True)] == ["AIP-W040"]


def test_dspace4_metsrights_attributes_do_not_warn() -> None:
    import datetime as dt

    from aip.crosswalks import metsrights
    from aip.model import Action, ResourcePolicy
    rights = metsrights.disseminate([ResourcePolicy(Action.READ, group="g", name="n",
                                                    start_date=dt.date(2030, 1, 1))],
                                    dt.date(2024, 1, 1))
    root = _minimal_node()
    root.insert(0, B.amd_sec("a", [B.md_sec("rightsMD", "r", B.md_wrap("METSRIGHTS", rights))]))
    assert V.validate_manifest(B.to_tree(root), inner=True) == []


def test_wrapped_content_in_the_mets_namespace_is_not_structure() -> None:
    # DSpace writes DSPACE-ROLES without a namespace: read back under the root's default
    # namespace, its elements are METS-namespaced.  Their IDs and references are data.
    M = f"{{{C.NS_METS}}}"
    root = _minimal(dmdid=("dmd_1",))
    dmd = etree.Element(f"{M}dmdSec", ID="dmd_1")
    wrap = etree.SubElement(dmd, f"{M}mdWrap", MDTYPE="OTHER", OTHERMDTYPE="DSPACE-ROLES")
    data = etree.SubElement(wrap, f"{M}xmlData")
    roles = etree.SubElement(data, f"{M}DSpaceRoles")
    etree.SubElement(roles, f"{M}Group", ID="dmd_1", ADMID="nowhere")  # dup ID, bad ref
    etree.SubElement(roles, f"{M}Group", ID="d")
    root.insert(0, dmd)
    assert V.structural_problems(root) == []
    # The same elements outside xmlData are structure, and are reported.
    root.append(etree.Element(f"{M}div", ID="dmd_1", ADMID="nowhere"))
    codes = sorted(p.code for p in V.structural_problems(root))
    assert codes == ["AIP-E040", "AIP-E041"]


# -- the quick structure check on the builder's nodes (used for every exported package) -----
def _built_node_manifests() -> st.SearchStrategy[tuple[B.Node, etree._Element]]:
    from format_strategies import TODAY, collections, communities, items, people, sites

    from aip.packager.manifest import (
        BuildContext,
        build_collection_package,
        build_community_package,
        build_item_package,
        build_site_package,
    )

    ctx = BuildContext(site_handle="123456789/0", site_url="https://r.example.org",
                       today=TODAY)
    built = st.one_of(
        items().map(lambda i: build_item_package(i, ctx)),
        collections().map(lambda cg: build_collection_package(cg[0], cg[1], ctx)),
        communities().map(lambda cg: build_community_package(cg[0], cg[1], ctx)),
        st.tuples(sites, people()).map(lambda sp: build_site_package(sp[0], [], sp[1], ctx)))
    return built.map(lambda pkg: (pkg.nodes, pkg.root))


def _nodes(root: B.Node) -> list[B.Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(k for k in node.children if isinstance(k, B.Node))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_built_node_manifests(), st.data())
def test_quick_structure_check_agrees_with_the_full_one(
        built: tuple[B.Node, etree._Element], data: st.DataObject) -> None:
    nodes, tree = built
    assert V.built_structure_ok(nodes) and V.structural_problems(tree) == []
    # Break one thing in the nodes, write them again: both checks must say no.
    elements = _nodes(nodes)
    with_id = [n for n in elements if n.get("ID") is not None]
    with_ref = [n for n in elements if any(n.get(a) for a in ("DMDID", "ADMID", "FILEID"))]
    breaks = ["dup"] + (["dangling", "wrong kind"] if with_ref else [])
    how = data.draw(st.sampled_from(breaks))
    if how == "dup":
        first, second = data.draw(st.permutations(with_id).map(lambda p: p[:2]))
        second.set("ID", first.get("ID") or "")
    else:
        node = data.draw(st.sampled_from(with_ref))
        attr = next(a for a in ("DMDID", "ADMID", "FILEID") if node.get(a))
        if how == "dangling":
            node.set(attr, f"{node.get(attr)} nowhere_1")
        else:
            kinds = V._IDREFS[attr]
            wrong = [n for n in with_id if n.tag.rsplit("}", 1)[1] not in kinds]
            node.set(attr, (wrong[0].get("ID") or "") if wrong else "nowhere_2")
    assert not V.built_structure_ok(nodes)
    assert V.structural_problems(B.to_tree(nodes)) != []
