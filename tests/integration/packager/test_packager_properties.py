"""Hypothesis over small random repositories built through the library API.

A ``Recipe`` (communities, collections, items with metadata, bitstreams, policies, mappings,
withdrawal, people and a group) is built twice, in two repositories, with a clock that does
not move.  Properties:

- export determinism: both repositories export byte-identical zips;
- round trip: the site restored into a fresh repository (``-r -a -f``) dumps identically and
  exports byte-identical zips again.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers import SITE, RepoLocation, dump_text, make_repo
from helpers.packager import (
    export,
    fixed_clock,
    ingest,
    new_collection,
    new_community,
    write_tx,
    zips,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aip import constants as C
from aip.model import Action, EPerson, MetadataValue, ResourcePolicy
from aip.repository import auth, objects

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Text XML 1.0 can carry, markup characters and surrounding whitespace included.
text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from(
    "\t\n\r <>&\"'"), max_size=24)
title = text.map(str.strip).filter(bool)
FIELDS = ("dc.contributor.author", "dc.subject", "dc.description.abstract",
          "dc.date.issued", "dc.title.alternative", "dc.aipsync.random")
BUNDLES = ("ORIGINAL", "TEXT", "THUMBNAIL", "LICENSE", "EXTRA")
POLICY_KINDS = ("default", "none", "readers", "person", "embargo")


@dataclass(frozen=True)
class ItemRecipe:
    collection: int
    title: str
    values: tuple[tuple[str, str, str | None], ...]
    files: tuple[tuple[str, str, bytes], ...]
    policies: str
    mapped: int | None
    withdrawn: bool
    discoverable: bool


@dataclass(frozen=True)
class Recipe:
    communities: tuple[tuple[int | None, str], ...]
    collections: tuple[tuple[int, str, bool], ...]
    items: tuple[ItemRecipe, ...]
    people: tuple[str, ...]


@st.composite
def recipes(draw: st.DrawFn) -> Recipe:
    n_comm = draw(st.integers(1, 3))
    communities = tuple((None if i == 0 else draw(st.none() | st.integers(0, i - 1)),
                         draw(title)) for i in range(n_comm))
    n_coll = draw(st.integers(1, 3))
    collections = tuple((draw(st.integers(0, n_comm - 1)), draw(title), draw(st.booleans()))
                        for _ in range(n_coll))
    items = []
    for _ in range(draw(st.integers(0, 4))):
        coll = draw(st.integers(0, n_coll - 1))
        others = [c for c in range(n_coll) if c != coll]
        items.append(ItemRecipe(
            collection=coll, title=draw(title),
            values=tuple(draw(st.lists(st.tuples(st.sampled_from(FIELDS), text,
                                                 st.none() | st.sampled_from(["en", "de", ""])),
                                       max_size=5))),
            files=tuple(draw(st.lists(st.tuples(st.sampled_from(BUNDLES), title,
                                                st.binary(max_size=300)), max_size=4))),
            policies=draw(st.sampled_from(POLICY_KINDS)),
            mapped=draw(st.none() | st.sampled_from(others)) if others else None,
            withdrawn=draw(st.booleans()), discoverable=draw(st.booleans())))
    people = tuple(draw(st.lists(st.from_regex(r"[a-z]{1,8}@example\.org", fullmatch=True),
                                 unique=True, max_size=3)))
    return Recipe(communities, collections, tuple(items), people)


def build(location: RepoLocation, recipe: Recipe) -> None:
    """Make the recipe's content, in one transaction, at a fixed time."""
    with write_tx(location, fixed_clock()) as tx:
        readers = auth.create_group(tx, "Readers")
        for email in recipe.people:
            auth.add_member(tx, readers, auth.create_eperson(
                tx, EPerson(email=email, first_name=email.split("@")[0], can_log_in=True)))
        comms: list[str] = []
        for parent, name in recipe.communities:
            comms.append(new_community(tx, comms[parent] if parent is not None else None, name))
        colls: list[str] = []
        for comm, name, restricted in recipe.collections:
            handle = new_collection(tx, comms[comm], name)
            if restricted:
                auth.set_policies(tx, C.TYPE_COLLECTION, objects.collection_id(tx, handle), [
                    ResourcePolicy(Action.DEFAULT_ITEM_READ, group="Readers"),
                    ResourcePolicy(Action.DEFAULT_BITSTREAM_READ, group="Readers")])
            colls.append(handle)
        for spec in recipe.items:
            _item(tx, spec, colls, recipe.people)


def _item(tx, spec: ItemRecipe, colls: list[str], people: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    cid = objects.collection_id(tx, colls[spec.collection])
    iid, _ = objects.create_item(tx, collection_id=cid, submitter_id=None, mint_handle=False,
                                 in_archive=False)
    values = [MetadataValue("dc", "title", None, spec.title)]
    for field, value, lang in spec.values:
        schema, element, *rest = field.split(".")
        values.append(MetadataValue(schema, element, rest[0] if rest else None, value, lang))
    objects.add_metadata(tx, C.TYPE_ITEM, iid, values, create_fields=True)
    for bundle, name, data in spec.files:
        objects.add_bitstream(tx, iid, bundle, io.BytesIO(data), name=name)
    objects.install_item(tx, iid)
    if spec.policies == "none":
        auth.clear_policies(tx, C.TYPE_ITEM, iid)
    elif spec.policies == "readers":
        auth.set_policies(tx, C.TYPE_ITEM, iid, [ResourcePolicy(
            Action.READ, group="Readers", name="readers only", description="why not")])
    elif spec.policies == "person" and people:
        auth.add_policy(tx, C.TYPE_ITEM, iid, ResourcePolicy(Action.WRITE, eperson=people[0]))
    elif spec.policies == "embargo":
        auth.add_policy(tx, C.TYPE_ITEM, iid, ResourcePolicy(
            Action.READ, group=C.GROUP_ANONYMOUS, start_date=dt.date(2031, 1, 1),
            end_date=dt.date(2032, 12, 31), name="embargo"))
    if spec.mapped is not None:
        objects.map_item(tx, iid, objects.collection_id(tx, colls[spec.mapped]))
    if not spec.discoverable:
        objects.set_item_flags(tx, iid, discoverable=False)
    if spec.withdrawn:
        objects.withdraw_item(tx, iid)


def _export(location: RepoLocation, folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    export(location, folder / "site.zip", SITE, "passwords=true")
    return zips(folder)


@SETTINGS
@given(recipe=recipes())
def test_same_content_exports_identical_bytes_and_round_trips(recipe: Recipe) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one, two = (make_repo(RepoLocation(root / n)) for n in ("one", "two"))
        build(one, recipe)
        build(two, recipe)
        first = _export(one, root / "a")
        assert _export(two, root / "b") == first
        assert len(first) == 1 + len(recipe.communities) + len(recipe.collections) + \
            len(recipe.items)

        restored = make_repo(RepoLocation(root / "restored"))
        ingest(restored, root / "a" / "site.zip", "-r", "-a", "-f", "-i", SITE)
        assert dump_text(restored) == dump_text(one)
        assert _export(restored, root / "c") == first
