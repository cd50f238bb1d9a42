"""A collection's item pointers written as one block of text give the bytes the node path
gives (``aip.packager.manifest``: ``_Builder.child_block`` against ``child_div``); the parent
of such a large manifest is read as the full parser reads it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from format_strategies import TODAY, collections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aip.mets.pointers import read_parent
from aip.model import Collection
from aip.packager import manifest as M
from aip.packager.config import IngestConfig

CTX = M.BuildContext(site_handle="123456789/0", site_url="https://repo.example.org",
                     today=TODAY)
NEVER = re.compile(r"(?!)")


def _both(collection: Collection, groups: tuple, ctx: M.BuildContext  # type: ignore[type-arg]
          ) -> tuple[M.BuiltPackage, M.BuiltPackage]:
    block = M.build_collection_package(collection, groups, ctx)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "_PLAIN", NEVER)  # every handle "needs escaping": the node path
        nodes = M.build_collection_package(collection, groups, ctx)
    return block, nodes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collections(), st.booleans())
def test_the_block_writes_the_bytes_of_the_node_path(collection: tuple,  # type: ignore[type-arg]
                                                     manifest_only: bool) -> None:
    ctx = replace(CTX, manifest_only=manifest_only)
    block, nodes = _both(collection[0], collection[1], ctx)
    assert block.manifest == nodes.manifest
    assert block.children == nodes.children


def test_thousands_of_items_with_a_logo_and_a_template() -> None:
    base, groups = _first_collection()
    items = tuple(f"123456789/{n}" for n in range(10, 3010))
    collection = replace(base, items=items)
    block, nodes = _both(collection, groups, CTX)
    assert block.manifest == nodes.manifest
    parsed = M.parse_package(block.manifest, config=IngestConfig(), path="c.zip")
    assert [c.handle for c in parsed.children] == list(items)
    assert [c.href for c in parsed.children][:2] == ["ITEM@123456789-10.zip",
                                                      "ITEM@123456789-11.zip"]
    # the rest of the manifest is what the node path built: its schema check still runs
    assert b"aipsync-child-block" not in block.manifest
    # read_parent's path for large manifests (every element dropped once passed) agrees
    assert len(block.manifest) > 256 * 1024
    assert read_parent(block.manifest) == parsed.parent == collection.parents[0]


def _first_collection() -> tuple[Collection, tuple]:  # type: ignore[type-arg]
    found: list[tuple[Collection, tuple]] = []  # type: ignore[type-arg]

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(collections())
    def pick(drawn: tuple) -> None:  # type: ignore[type-arg]
        if not found and drawn[0].logo is not None and drawn[0].template is not None:
            found.append(drawn)

    pick()
    assert found, "no collection with a logo and a template drawn"
    return found[0]
