"""``aip.mets.pointers.read_parent`` finds the parent the full manifest parser finds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from format_strategies import TODAY, collections, communities, items
from helpers.dspace_fixtures import DSPACE_SAMPLES
from hypothesis import HealthCheck, given, settings

from aip.mets.pointers import SMALL_MANIFEST, read_parent
from aip.model import Collection, Site
from aip.packager.config import IngestConfig
from aip.packager.manifest import (
    BuildContext,
    build_collection_package,
    build_community_package,
    build_item_package,
    build_site_package,
    parse_package,
)
from aip.packager.reader import PackageZip, package_parent
from aip.packager.zipwriter import write_zip
from aip.repository.assetstore import Assetstore

CTX = BuildContext(site_handle="123456789/0", site_url="https://repo.example.org", today=TODAY)
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full_parser_parent(manifest: bytes) -> str | None:
    return parse_package(manifest, config=IngestConfig(), path="test").parent


@SLOW
@given(items())
def test_an_item_manifests_parent_is_its_owning_collection(item: object) -> None:
    manifest = build_item_package(item, CTX).manifest  # type: ignore[arg-type]
    owner = item.owning_collection  # type: ignore[attr-defined]
    assert read_parent(manifest) == full_parser_parent(manifest) == owner


@SLOW
@given(collections(), communities())
def test_container_manifests(collection: tuple, community: tuple) -> None:  # type: ignore[type-arg]
    for manifest in (build_collection_package(collection[0], collection[1], CTX).manifest,
                     build_community_package(community[0], community[1], CTX).manifest):
        assert read_parent(manifest) == full_parser_parent(manifest)


def test_a_site_manifest_has_no_parent() -> None:
    site = Site(handle="123456789/0", name="Site", url="https://repo.example.org")
    manifest = build_site_package(site, [], [], CTX).manifest
    assert read_parent(manifest) is None


def test_dspaces_own_manifests() -> None:
    """DSpace 1.7's sample AIPs (vendored)."""
    expected = {"SITE-example.mets.xml": None, "COMMUNITY@123456789-1.mets.xml": "123456789/0",
                "COLLECTION@123456789-2.mets.xml": "123456789/1",
                "ITEM@123456789-8.mets.xml": "123456789/5"}
    for name, parent in expected.items():
        assert read_parent((DSPACE_SAMPLES / name).read_bytes()) == parent, name


def test_hostile_or_broken_xml_gives_no_parent() -> None:
    entity = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
              b'<mets xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink">'
              b'<structMap LABEL="Parent"><div><mptr LOCTYPE="HANDLE" xlink:href="&x;"/>'
              b'</div></structMap></mets>')
    assert read_parent(entity) is None
    assert read_parent(b"<mets") is None
    assert read_parent(b"") is None
    not_a_handle = (b'<mets xmlns="http://www.loc.gov/METS/" '
                    b'xmlns:xlink="http://www.w3.org/1999/xlink"><structMap LABEL="Parent">'
                    b'<div><mptr LOCTYPE="HANDLE" xlink:href="not a handle"/></div>'
                    b'</structMap></mets>')
    assert read_parent(not_a_handle) is None


def test_a_large_manifest_s_parent_is_read_from_the_zip_as_a_stream(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collection of 5,000 items (a manifest past SMALL_MANIFEST): the staged AIP's parent
    comes from its mets.xml inflated as it is parsed, never read whole."""
    collection, groups = next(_drawn_collections())
    collection = replace(collection, items=tuple(f"123456789/{n}" for n in range(10, 5010)))
    built = build_collection_package(collection, groups, CTX)
    assert len(built.manifest) > SMALL_MANIFEST
    path = tmp_path / "COLLECTION@123456789-2.zip"
    with path.open("wb") as out:
        write_zip(Assetstore(tmp_path / "store"), built, out)

    def whole(self: PackageZip) -> bytes:
        raise AssertionError("the large manifest was read whole")

    monkeypatch.setattr(PackageZip, "read_manifest", whole)
    expected = collection.parents[0] if collection.parents else None
    assert package_parent(path) == expected == read_parent(io.BytesIO(built.manifest))


def _drawn_collections() -> Iterator[tuple[Collection, tuple]]:  # type: ignore[type-arg]
    found: list[tuple[Collection, tuple]] = []  # type: ignore[type-arg]

    @settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(collections())
    def pick(drawn: tuple) -> None:  # type: ignore[type-arg]
        if not found and drawn[0].parents and drawn[0].logo is None:
            found.append(drawn)

    pick()
    return iter(found)
