"""``seed``: deterministic content that exercises the whole model, on both backends.

The dump is the oracle: each assertion names one part of the model the seed must reach.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import RepoLocation, dangling_references, drop_database, dump_text, make_repo

from aip import constants as C
from aip.model import Action
from aip.repository import objects
from aip.repository import seed as seedmod
from aip.repository import tables as T
from aip.repository.store import Repository

#: Small, but big enough that every periodic choice of the seed happens at least once.
RICH = seedmod.SeedOptions(communities=2, depth=3, collections=8, items=60, bitstreams=2,
                           bitstream_size=64, seed=3)


def _seed(location: RepoLocation, opts: seedmod.SeedOptions) -> seedmod.SeedResult:
    with location.opened() as repo:
        return seedmod.seed(repo, opts)


def _keys(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _keys(value)
    elif isinstance(data, list):
        for value in data:
            yield from _keys(value)


def _values(item: dict[str, Any], field: str) -> list[dict[str, Any]]:
    return [v for v in item["metadata"] if v["field"] == field]


def _all_policies(item: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(item["policies"])
    for bundle in item["bundles"]:
        found += bundle["policies"]
        for bs in bundle["bitstreams"]:
            found += bs["policies"]
    return found


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[RepoLocation, seedmod.SeedResult, dict[str, Any]]:
    """SQLite seeded with ``RICH``, once for the module (read-only for the tests).  The
    PostgreSQL store gives the same dump byte for byte (tested below), so the content
    checks need not run twice."""
    location = make_repo(RepoLocation(tmp_path_factory.mktemp("rich") / "repo"))
    result = _seed(location, RICH)
    return location, result, json.loads(dump_text(location))


def test_seed_reaches_every_container_feature(rich: Any) -> None:
    _, result, data = rich
    communities = {c["handle"]: c for c in data["communities"]}
    assert len(communities) == result.communities

    def depth(handle: str) -> int:
        parent = communities[handle]["parent"]
        return 1 if parent is None else 1 + depth(parent)

    assert max(depth(h) for h in communities) == RICH.depth          # nested communities
    assert sorted(data["site"]["communities"]) == sorted(
        h for h, c in communities.items() if c["parent"] is None)
    assert any(c["logo"] for c in communities.values())
    assert any(c["roles"].get("ADMIN") for c in communities.values())

    collections = data["collections"]
    assert len(collections) == result.collections == RICH.collections
    logos = [c["logo"] for c in collections if c["logo"]]
    assert logos and all(logo["mimetype"] == "image/jpeg" for logo in logos)
    templates = [c["template"] for c in collections if c["template"]]
    assert templates and all(any(v["field"] == "dc.publisher" for v in t) for t in templates)
    harvested = [c["harvest"] for c in collections if c["harvest"]]
    assert len(harvested) == 1 and harvested[0]["oai_source"].startswith("https://")
    assert any(len(c["parents"]) == 2 for c in collections)           # in two communities
    roles = {role for c in collections for role in c["roles"]}
    assert {"ADMIN", "SUBMIT", "WORKFLOW_STEP_2"} <= roles
    for c in collections:
        for role, group in c["roles"].items():
            assert group == f"COLLECTION_hdl:{c['handle']}_{role}"
    policies = [p for c in collections for p in c["policies"]]
    actions = {p["action"] for p in policies}
    assert {"READ", "DEFAULT_ITEM_READ", "DEFAULT_BITSTREAM_READ", "ADMIN", "ADD"} <= actions
    assert any(p["group"] == "Editors" for p in policies)              # a restricted one
    assert any(p["name"] == "submitters" and p["description"] for p in policies)
    licences = [v for c in collections for v in c["metadata"]
                if v["field"] == "dc.rights.license"]
    assert len(licences) == len(collections)


def test_seed_reaches_every_item_feature(rich: Any) -> None:
    location, result, data = rich
    items = data["items"]
    assert len(items) == RICH.items == result.items
    bundle_names = Counter(b["name"] for i in items for b in i["bundles"])
    assert set(bundle_names) == {C.BUNDLE_ORIGINAL, C.BUNDLE_LICENSE, C.BUNDLE_TEXT,
                                 C.BUNDLE_THUMBNAIL, C.BUNDLE_CC_LICENSE}
    assert bundle_names[C.BUNDLE_ORIGINAL] == bundle_names[C.BUNDLE_LICENSE] == len(items)
    assert max(len(i["bundles"]) for i in items) >= 4
    for item in items:
        original = next(b for b in item["bundles"] if b["name"] == C.BUNDLE_ORIGINAL)
        assert len(original["bitstreams"]) == RICH.bitstreams
        seqs = [bs["sequence_id"] for b in item["bundles"] for bs in b["bitstreams"]]
        assert len(seqs) == len(set(seqs))                             # unique per item
        licence = next(b for b in item["bundles"] if b["name"] == C.BUNDLE_LICENSE)
        assert licence["bitstreams"][0]["name"] == C.DEPOSIT_LICENSE_NAME
    assert any(b["primary_sequence_id"] for i in items for b in i["bundles"])

    # metadata: multi-valued, multi-language, authority, custom schema, odd whitespace
    assert any(len(_values(i, "dc.contributor.author")) >= 3 for i in items)
    assert any({"de", "en"} <= {v["language"] for v in i["metadata"]} for i in items)
    authorities = [v for i in items for v in i["metadata"] if v["authority"]]
    assert authorities and all(v["confidence"] == 600 for v in authorities)
    assert any(_values(i, "seed.note") and _values(i, "seed.project.code") for i in items)
    assert any(v["value"] == "  spaced value with\ttab  " for i in items for v in i["metadata"])
    schemas = {s["prefix"]: s["namespace"] for s in data["registry"]["schemas"]}
    assert schemas["seed"] == seedmod.SEED_SCHEMA.namespace
    fields = {f["name"]: f["scope_note"] for f in data["registry"]["fields"]}
    assert fields["seed.note"] and fields["seed.project.code"]

    # flags and relations
    withdrawn = [i for i in items if i["withdrawn"]]
    assert len(withdrawn) == result.withdrawn > 0
    assert all(not i["in_archive"] for i in withdrawn)
    mapped = [i for i in items if i["mapped_collections"]]
    assert len(mapped) == result.mapped > 0
    members = {c["handle"]: set(c["items"]) for c in data["collections"]}
    for item in mapped:
        for coll in item["mapped_collections"]:
            assert item["handle"] in members[coll]
    assert any(not i["discoverable"] for i in items)
    assert any(i["policies"] == [] for i in items)                     # no policies at all
    bs_policies = [p for i in items for p in _all_policies(i)]
    assert any(p["name"] == "embargo" and p["start_date"] for p in bs_policies)
    assert any(p["eperson"] for p in bs_policies)

    # checksums in the dump are the stored bytes' checksums
    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest()
               for p in location.assetstore.rglob("*") if p.is_file()}
    dumped = {bs["sha256"] for i in items for b in i["bundles"] for bs in b["bitstreams"]}
    assert dumped <= on_disk
    assert dangling_references(location) == {}


def test_seed_reaches_people_and_groups(rich: Any) -> None:
    _, result, data = rich
    people = data["epeople"]
    assert len(people) == result.epeople + 1                          # plus the admin
    assert any(p["password"] for p in people) and any(not p["password"] for p in people)
    assert any(p["netid"] for p in people)
    assert any(not p["can_log_in"] for p in people)
    groups = {g["name"]: g for g in data["groups"]}
    assert "Editors" in groups["Reviewers"]["member_groups"]
    assert "Reviewers" in groups["Curators"]["member_groups"]          # two levels
    submit = [g for name, g in groups.items() if name.endswith("_SUBMIT")]
    assert submit and all("Editors" in g["member_groups"] for g in submit)
    assert all(g["members"] for name, g in groups.items() if name.endswith("_ADMIN"))


def test_dump_holds_no_internal_ids_or_secrets(rich: Any) -> None:
    _, _, data = rich
    keys = set(_keys(data))
    assert not keys & {"id", "key", "store_key", "salt", "password_hash", "resource_id"}


def test_items_are_exact_and_submissions_stay_out(repo_location: RepoLocation) -> None:
    opts = seedmod.SeedOptions(items=45, seed=11)
    result = _seed(repo_location, opts)
    data = json.loads(dump_text(repo_location))
    assert result.items == 45
    assert len(data["items"]) == 45
    assert all(i["handle"] for i in data["items"])
    assert result.submissions > 0
    with repo_location.opened() as repo, repo.transaction(write=False) as tx:
        drafts = tx.execute(sa.select(T.workspace_item.c.item_id)).scalars().all()
        assert len(drafts) == result.submissions
        unhandled = tx.scalar(sa.select(sa.func.count()).select_from(T.item).where(
            T.item.c.handle.is_(None), T.item.c.is_template.is_(False)))
        assert unhandled == result.submissions
        titles = {objects.title_of(tx, C.TYPE_ITEM, d) for d in drafts}
    assert all(t.startswith("Draft ") for t in titles)
    dumped = {v["value"] for i in data["items"] for v in _values(i, "dc.title")}
    assert not dumped & titles
    assert "Draft " not in json.dumps(data)


def test_zero_items(repo_location: RepoLocation) -> None:
    result = _seed(repo_location, seedmod.SeedOptions(items=0))
    data = json.loads(dump_text(repo_location))
    assert result.items == 0
    assert data["items"] == []
    assert data["collections"]


def test_seeded_withdrawn_items_look_like_withdrawn_ones(repo_location: RepoLocation) -> None:
    """A seeded withdrawn item must be what ``withdraw`` makes: every READ policy of the
    item, its bundles and bitstreams switched to WITHDRAWN_READ (DSpace's
    ItemServiceImpl.withdraw; DS-3097)."""
    _seed(repo_location, seedmod.SeedOptions(items=50, seed=5))
    data = json.loads(dump_text(repo_location))
    withdrawn = [i for i in data["items"] if i["withdrawn"] and i["policies"]]
    assert withdrawn
    for item in withdrawn:
        actions = {p["action"] for p in _all_policies(item)}
        assert "READ" not in actions, item["handle"]
        assert "WITHDRAWN_READ" in actions
    # and withdrawing a seeded live item through the library gives the same picture
    live = next(i for i in data["items"] if not i["withdrawn"] and i["policies"])
    with repo_location.opened() as repo, repo.transaction() as tx:
        objects.withdraw_item(tx, objects.item_id(tx, live["handle"]))
    after = json.loads(dump_text(repo_location, live["handle"]))["items"][0]
    assert "READ" not in {p["action"] for p in _all_policies(after)}


def test_delete_community_removes_everything_it_owns(repo_location: RepoLocation) -> None:
    _seed(repo_location, RICH)
    before = json.loads(dump_text(repo_location))
    top = before["site"]["communities"][0]
    sub = json.loads(dump_text(repo_location, top))
    gone_comms = {c["handle"] for c in sub["communities"]}
    by_handle = {c["handle"]: c for c in before["collections"]}
    gone_colls = {h for h in (c["handle"] for c in sub["collections"])
                  if set(by_handle[h]["parents"]) <= gone_comms}
    kept_colls = {c["handle"] for c in sub["collections"]} - gone_colls
    gone_items = {i["handle"] for i in before["items"] if i["owning_collection"] in gone_colls}
    assert gone_comms and gone_colls and gone_items
    with repo_location.opened() as repo, repo.transaction(write=False) as tx:
        doomed_keys = {bs.key for h in gone_items
                       for b in objects.item_model(tx, objects.item_id(tx, h)).bundles
                       for bs in b.bitstreams}
    files_before = {p.name for p in repo_location.assetstore.rglob("*") if p.is_file()}
    assert doomed_keys and doomed_keys <= files_before

    with repo_location.opened() as repo, repo.transaction() as tx:
        assert objects.delete_object(tx, top) == C.TYPE_COMMUNITY

    after = json.loads(dump_text(repo_location))
    assert {c["handle"] for c in after["communities"]} == (
        {c["handle"] for c in before["communities"]} - gone_comms)
    assert {c["handle"] for c in after["collections"]} == set(by_handle) - gone_colls
    assert {i["handle"] for i in after["items"]} == (
        {i["handle"] for i in before["items"]} - gone_items)
    for coll in after["collections"]:
        assert not set(coll["parents"]) & gone_comms
        if coll["handle"] in kept_colls:
            assert coll["parents"]
    for item in after["items"]:
        assert not set(item["mapped_collections"]) & gone_colls
    text = json.dumps(after)
    for handle in gone_comms | gone_colls | gone_items:
        assert f'"{handle}"' not in text
    files_after = {p.name for p in repo_location.assetstore.rglob("*") if p.is_file()}
    logos = files_before - files_after - doomed_keys                 # container logos
    assert doomed_keys <= files_before - files_after
    assert len(logos) == sum(1 for c in before["communities"] + before["collections"]
                             if c["handle"] in gone_comms | gone_colls and c["logo"])
    assert dangling_references(repo_location) == {}
    with repo_location.opened() as repo, repo.transaction() as tx:
        _, fresh = objects.create_community(tx, parent_id=None)
    assert fresh not in gone_comms | gone_colls | gone_items | {top}


@pytest.mark.postgres
def test_same_arguments_same_dump_on_sqlite_and_postgresql(
        tmp_path: Path, pg_url: str) -> None:
    sqlite = make_repo(RepoLocation(tmp_path / "sqlite"))
    pg = RepoLocation(tmp_path / "pg", pg_url)
    try:
        make_repo(pg)
        _seed(sqlite, RICH)
        _seed(pg, RICH)
        assert dump_text(sqlite) == dump_text(pg)
    finally:
        drop_database(pg_url)


def test_same_content_in_another_order_gives_the_same_dump(tmp_path: Path) -> None:
    """Internal ids differ (people and groups made in another order): the dump does not."""
    from aip.model import EPerson
    from aip.repository import auth

    dumps = []
    for name, order in (("a", ["b@x.org", "c@x.org"]), ("b", ["c@x.org", "b@x.org"])):
        location = make_repo(RepoLocation(tmp_path / name))
        with location.opened() as repo, repo.transaction() as tx:
            groups = {g: auth.create_group(tx, g) for g in
                      (["G1", "G2"] if name == "a" else ["G2", "G1"])}
            for email in order:
                pid = auth.create_eperson(tx, EPerson(email=email, can_log_in=True))
                auth.add_member(tx, groups["G1"], pid)
            auth.add_subgroup(tx, groups["G2"], groups["G1"])
        dumps.append(dump_text(location))
    assert dumps[0] == dumps[1]


def test_seed_runs_in_one_transaction(repo_location: RepoLocation,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed that fails half-way leaves the repository as it was (rows and files)."""
    from helpers import snapshot

    before = snapshot(repo_location)

    def fail(self: Any, *args: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(seedmod._Seeder, "submissions", fail)
    with repo_location.opened() as repo, pytest.raises(RuntimeError, match="disk on fire"):
        seedmod.seed(repo, seedmod.SeedOptions(items=30))
    assert snapshot(repo_location) == before


def test_seed_then_verbs_on_the_same_store(repo: Repository,
                                           repo_location: RepoLocation) -> None:
    """After bulk inserts with explicit ids (PostgreSQL sequences synced), ordinary
    creates still work."""
    import io

    from aip.model import MetadataValue

    seedmod.seed(repo, seedmod.SeedOptions(items=25))
    with repo.transaction() as tx:
        coll = tx.scalar(sa.select(sa.func.min(T.collection.c.id)))
        iid, _ = objects.create_item(tx, collection_id=coll, submitter_id=None,
                                     mint_handle=False, in_archive=False)
        objects.add_metadata(tx, C.TYPE_ITEM, iid, [MetadataValue("dc", "title", None, "New")])
        objects.add_bitstream(tx, iid, "ORIGINAL", io.BytesIO(b"abc"), name="a.txt")
        objects.apply_default_read_policies(tx, iid, coll, tx.now.date())
        handle = objects.install_item(tx, iid)
        item = objects.item_model(tx, iid)
    assert handle.endswith(f"/{26 + 6 + 4}")  # after 6 communities, 4 collections, 25 items
    assert {p.action for p in item.policies} == {Action.READ}
    assert dangling_references(repo_location) == {}
