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
from aip.model import Collection, HandleList
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


def test_a_collection_listed_by_the_repository_is_written_a_piece_at_a_time() -> None:
    """The repository gives a collection's items as a HandleList (one integer each): the
    block reads it as it writes, in pieces, to the same bytes."""
    base, groups = _first_collection()
    handles = [f"123456789/{n}" for n in range(10, 1300)]
    listed = replace(base, items=HandleList((n, h) for n, h in enumerate(reversed(handles))))
    plain = M.build_collection_package(replace(base, items=tuple(handles)), groups, CTX)
    built = M.build_collection_package(listed, groups, CTX)
    chunks = list(built.manifest_chunks())
    assert len(chunks) > 5 and max(len(c) for c in chunks) < len(built.manifest) // 4
    assert b"".join(chunks) == built.manifest == plain.manifest
    assert built.manifest_size() == len(plain.manifest)
    assert built.children == plain.children and len(built.children) == len(handles)
    assert b"aipsync-child-block" in built.head, "the head keeps the placeholder"


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
