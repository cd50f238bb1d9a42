"""A large manifest parsed with its pointer divs lifted out of the tree
(``aip.mets.parse.parse_bytes_lifted``) reads as the whole-tree parse reads it: the same
package, or the same error with the same problems."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from format_strategies import TODAY, collections, communities
from hypothesis import HealthCheck, given, settings

from aip import constants as C
from aip.errors import AipError, PackageValidationError
from aip.mets import parse as P
from aip.model import Collection
from aip.packager import manifest as M
from aip.packager.config import IngestConfig

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CTX = M.BuildContext(site_handle="123456789/0", site_url="https://repo.example.org",
                     today=TODAY)


def _outcome(data: bytes, lift_above: int) -> Any:
    """What parse_package gives (or raises, as comparable values) with that threshold."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "LIFT_ABOVE", lift_above)
        try:
            return M.parse_package(data, config=IngestConfig(), path="x.zip")
        except PackageValidationError as exc:
            return type(exc).__name__, sorted(str(p) for p in exc.problems)
        except AipError as exc:
            return type(exc).__name__, str(exc)


def _same_both_ways(data: bytes) -> Any:
    whole = _outcome(data, 10**12)
    lifted = _outcome(data, 0)
    assert lifted == whole
    return whole


def _manifests() -> list[Path]:
    found = sorted(FIXTURES.glob("dspace-aips/*/*.zip")) + sorted(
        FIXTURES.glob("dspace7-aips/*/*.zip"))
    assert found, "no AIP fixtures"
    return found


@pytest.mark.parametrize("package", _manifests(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_aip_reads_the_same(package: Path) -> None:
    with zipfile.ZipFile(package) as z:
        data = z.read("mets.xml")
    _same_both_ways(data)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collections())
def test_built_collections_read_the_same(drawn: tuple) -> None:  # type: ignore[type-arg]
    collection, groups = drawn
    _same_both_ways(M.build_collection_package(collection, groups, CTX).manifest)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(communities())
def test_built_communities_read_the_same(drawn: tuple) -> None:  # type: ignore[type-arg]
    community, groups = drawn
    _same_both_ways(M.build_community_package(community, groups, CTX).manifest)


def _collection_manifest() -> bytes:
    found: list[bytes] = []

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(collections())
    def pick(drawn: tuple) -> None:  # type: ignore[type-arg]
        collection: Collection = drawn[0]
        if not found and collection.logo is not None and collection.template is not None:
            many = replace(collection, items=tuple(f"123456789/{n}" for n in range(10, 14)))
            found.append(M.build_collection_package(many, drawn[1], CTX).manifest)

    pick()
    assert found, "no collection with a logo and a template drawn"
    return found[0]


def _first_pointer_div(text: str) -> re.Match[str]:
    found = re.search(r'<div ID="(div_\d+)" TYPE="DSpace ITEM">\s*<mptr ID="(mptr_\d+)"', text)
    assert found, "no pointer div"
    return found


def _edit_first_pointer_div(edit: Callable[[str, re.Match[str]], str]) -> bytes:
    text = _collection_manifest().decode()
    return edit(text, _first_pointer_div(text)).encode()


EDITS: dict[str, Callable[[str, re.Match[str]], str]] = {
    "unchanged": lambda t, m: t,
    # the lifted div's ID is another element's (the dmdSec's): reported at the later one
    "duplicate id of an earlier element": lambda t, m: t.replace(
        f'ID="{m.group(1)}"', 'ID="dmdSec_1"', 1),
    # two lifted divs with one ID
    "duplicate id between lifted divs": lambda t, m: re.sub(
        r'<div ID="div_\d+" TYPE="DSpace ITEM">', f'<div ID="{m.group(1)}" TYPE="DSpace ITEM">',
        t),
    # a metadata reference keeps the div in the tree, where its IDREF is checked
    "dmdid pointing nowhere": lambda t, m: t.replace(
        f'<div ID="{m.group(1)}" ', f'<div ID="{m.group(1)}" DMDID="nowhere" ', 1),
    "comment inside": lambda t, m: t.replace(
        f'<mptr ID="{m.group(2)}"', f'<!-- hi --><mptr ID="{m.group(2)}"', 1),
    "text inside": lambda t, m: t.replace(
        f'<mptr ID="{m.group(2)}"', f'words<mptr ID="{m.group(2)}"', 1),
    "nested div": lambda t, m: t.replace(
        f'<mptr ID="{m.group(2)}"', f'<div ID="inner"/><mptr ID="{m.group(2)}"', 1),
    "long attribute on a pointer": lambda t, m: t.replace(
        f'<mptr ID="{m.group(2)}"',
        f'<mptr ID="{m.group(2)}" OTHERLOCTYPE="{"x" * (C.MAX_ATTRIBUTE_CHARS + 1)}"', 1),
    "not well-formed inside": lambda t, m: t.replace(
        f'<mptr ID="{m.group(2)}"', f'<mptr ID="{m.group(2)}" x="&undefined;"', 1),
    "pointer to the package itself": lambda t, m: re.sub(
        r'xlink:href="ITEM@123456789-10\.zip"', 'xlink:href="x.zip"', t, count=1),
    "unsafe child pointer": lambda t, m: re.sub(
        r'xlink:href="ITEM@123456789-10\.zip"', 'xlink:href="../up.zip"', t, count=1),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_an_edited_collection_reads_the_same(name: str) -> None:
    got = _same_both_ways(_edit_first_pointer_div(EDITS[name]))
    if name == "unchanged":
        assert [c.href for c in got.children] == [f"ITEM@123456789-{n}.zip"
                                                  for n in range(10, 14)]
    elif name not in ("comment inside", "text inside", "nested div"):
        assert isinstance(got, tuple), f"{name}: expected an error"


def test_lifted_divs_go_back_in_their_places_among_those_kept() -> None:
    """The first and third pointer divs kept in the tree (a comment in each), the others
    lifted: the main div's child divs come out in document order."""
    text = _collection_manifest().decode()
    divs = re.findall(r'<div ID="div_\d+" TYPE="DSpace ITEM">\s*<mptr ID="(mptr_\d+)"', text)
    for ptr in (divs[0], divs[2]):
        text = text.replace(f'<mptr ID="{ptr}"', f'<!-- kept --><mptr ID="{ptr}"', 1)
    data = text.encode()
    root, lifted = P.parse_bytes_lifted(data, path="x.zip")
    assert list(lifted.places) == [2, 4]  # template div 0, items from 1
    whole = P.parse_manifest(P.parse_bytes(data, path="x.zip"))
    back = P.parse_manifest(root, lifted=lifted)
    assert back.struct_maps == whole.struct_maps
    assert len(root.findall(".//{http://www.loc.gov/METS/}mptr")) == 2 * 2 + 1  # kept + Parent


def test_lifted_divs_spill_and_list_every_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lifted divs past LIFTED_KEEP wait in the spill file and read back as the tree's
    divs; the IDs come out in document order with their kinds and lines, as the tree's
    would."""
    monkeypatch.setattr(P, "LIFTED_KEEP", 2)
    data = _collection_manifest()
    root, lifted = P.parse_bytes_lifted(data, path="x.zip")
    assert len(lifted.divs) > 2
    assert lifted.divs._rows._offsets  # some went to the file
    assert P.parse_manifest(root, lifted=lifted).struct_maps == P.parse_manifest(
        P.parse_bytes(data, path="x.zip")).struct_maps
    whole = P.parse_bytes(data, path="x.zip")
    main = whole.find("{http://www.loc.gov/METS/}structMap/{http://www.loc.gov/METS/}div")
    assert main is not None
    expected: list[Any] = [(el.get("ID"), el.tag.rsplit("}", 1)[1], el.sourceline)
                for div in main.iterchildren("{http://www.loc.gov/METS/}div")
                if div.get("TYPE") == "DSpace ITEM" for el in div.iter() if el.get("ID")]
    assert list(lifted.ids) == expected
