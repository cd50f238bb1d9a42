"""The pure part of restore and audit: keys and handles, the tree walk, the mode rules, what a
dry run predicts, the ingest call, sampling and the metadata judgement.  (The DSpace command
lines and output: tests/unit/daemon/test_dspace_driver.py.)"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aip.errors import PackageValidationError, UsageError
from aip.spill import SpillMap
from daemon.audit import extent_problems, judge_head, sample_keys
from daemon.core.config import parse_config
from daemon.core.errors import NotInSnapshotError
from daemon.restore.plan import (
    TreeEntry,
    check_child_href,
    find_key,
    ingest_spec,
    key_handle,
    parse_at,
    predict,
    resolve_mode,
    walk_tree,
)
from daemon.restore.run import _Fetcher, prune_work_dirs
from daemon.source.base import TreePackage
from daemon.sync.inventory import InventoryEntry
from daemon.sync.layout import is_snapshot_id, new_snapshot_id
from daemon.targets.base import RemoteObject

SITE, COMM, COLL_A, COLL_B = ("SITE@1-0.zip", "COMMUNITY@1-1.zip", "COLLECTION@1-2.zip",
                              "COLLECTION@1-3.zip")
ITEM_1, ITEM_2, ITEM_3 = "ITEM@1-4.zip", "ITEM@1-5.zip", "ITEM@1-6.zip"
TREE = {SITE: [COMM], COMM: [COLL_A, COLL_B], COLL_A: [ITEM_1, ITEM_2],
        COLL_B: [ITEM_3, ITEM_2]}  # ITEM_2 is owned by A and mapped into B


def expand_from(children: Mapping[str, Sequence[str]], calls: list[list[str]]
                ) -> object:
    def expand(level: Sequence[str]) -> dict[str, list[str]]:
        calls.append(list(level))
        return {k: list(children.get(k, ())) for k in level}
    return expand


# --- keys, handles, times ---------------------------------------------------------------------
def test_key_handle_and_find_key() -> None:
    assert key_handle("ITEM@123456789-42.zip") == ("ITEM", "123456789/42")
    assert key_handle("COLLECTION@10.5072-abc-1.zip") == ("COLLECTION", "10.5072/abc-1")
    for bad in ("ITEM@123456789-42.xml", "versions/ITEM@1-2.zip", "FOO@1-2.zip", "ITEM@12.zip",
                "snapshots/x.json"):
        with pytest.raises(ValueError):
            key_handle(bad)
    keys = {SITE, COLL_A, "ITEM@1-20.zip"}
    assert find_key(keys, "1/2") == COLL_A and find_key(keys, "1/0") == SITE
    assert find_key(keys, "1/20") == "ITEM@1-20.zip" and find_key(keys, "1/9") is None


def test_parse_at() -> None:
    assert parse_at("2026-03-01T02:15:00Z") == datetime(2026, 3, 1, 2, 15, 0, 999_999,
                                                        tzinfo=UTC)
    assert parse_at("2026-03-01T02:15:00.25+00:00").microsecond == 250_000
    assert parse_at("2026-03-01T03:15:00+01:00") == parse_at("2026-03-01T02:15:00Z")
    assert parse_at("2026-03-01 02:15:00").tzinfo == UTC
    for bad in ("yesterday", "2026-03-01", "2026-13-01T00:00:00Z"):
        with pytest.raises(UsageError):
            parse_at(bad)


def test_child_pointers_must_be_plain_aip_names() -> None:
    assert check_child_href(COLL_A, ITEM_1) == ITEM_1
    for bad in ("../ITEM@1-4.zip", "/etc/passwd", "sub/ITEM@1-4.zip", "ITEM@1-4.zip.exe",
                "mets.xml", ""):
        with pytest.raises(PackageValidationError) as caught:
            check_child_href(COLL_A, bad)
        assert caught.value.problems[0].code == "AIP-E048"


def test_resolve_mode() -> None:
    assert resolve_mode(None, site=False, default="restore") == "restore"
    assert resolve_mode(None, site=False, default="keep-existing") == "keep-existing"
    assert resolve_mode(None, site=True, default="restore") == "replace"
    assert resolve_mode("keep-existing", site=True, default="restore") == "keep-existing"
    with pytest.raises(UsageError):
        resolve_mode("submit", site=True, default="restore")


# --- the tree walk ----------------------------------------------------------------------------
def test_walk_tree_is_breadth_first_and_fetches_each_key_once() -> None:
    calls: list[list[str]] = []
    tree = walk_tree(SITE, expand_from(TREE, calls))  # type: ignore[arg-type]
    assert calls == [[SITE], [COMM], [COLL_A, COLL_B], [ITEM_1, ITEM_2, ITEM_3]]
    assert [e.key for e in tree] == [SITE, COMM, COLL_A, COLL_B, ITEM_1, ITEM_2, ITEM_3]
    by_key = {e.key: e for e in tree}
    assert by_key[ITEM_2].listed_by == (COLL_A, COLL_B)  # the mapped item: fetched once
    assert by_key[ITEM_3].depth == 3 and by_key[SITE].listed_by == ()
    assert by_key[COLL_B] == TreeEntry(COLL_B, "COLLECTION", "1/3", 2, (COMM,))


def test_walk_tree_survives_a_pointer_loop() -> None:
    calls: list[list[str]] = []
    looped = {COMM: [COLL_A], COLL_A: [COMM, ITEM_1]}
    tree = walk_tree(COMM, expand_from(looped, calls))  # type: ignore[arg-type]
    assert [e.key for e in tree] == [COMM, COLL_A, ITEM_1]
    assert calls == [[COMM], [COLL_A], [ITEM_1]]


def _walked_in_memory(root: str, children: Mapping[str, Sequence[str]]) -> list[TreeEntry]:
    """The walk as plain dicts and lists would make it: what the spilled walk must equal."""
    first: dict[str, str] = {root: ""}
    more: dict[str, list[str]] = {}
    levels, level = [], [root]
    while level:
        levels.append(level)
        following = []
        for key in level:
            for child in children.get(key, ()):
                if child not in first:
                    first[child] = key
                    following.append(child)
                elif child != root and key != first[child] and key not in more.get(child, ()):
                    more.setdefault(child, []).append(key)
        level = following
    return [TreeEntry(key, key_handle(key)[0], key_handle(key)[1], depth,
                      (first[key], *more.get(key, ())) if first[key] else ())
            for depth, keys in enumerate(levels) for key in keys]


_KEYS = [SITE, COMM, COLL_A, COLL_B, ITEM_1, ITEM_2, ITEM_3, "COMMUNITY@1-7.zip"]


@given(st.dictionaries(st.sampled_from(_KEYS), st.lists(st.sampled_from(_KEYS), max_size=5)),
       st.sampled_from(_KEYS))
def test_walk_tree_as_an_in_memory_walk_would(children: dict[str, list[str]], root: str
                                              ) -> None:
    tree = walk_tree(root, expand_from(children, []))  # type: ignore[arg-type]
    assert tree == _walked_in_memory(root, children)
    assert len(tree) == len(_walked_in_memory(root, children)) and tree.top.key == root
    assert all(tree.has(e.key) for e in tree) and not tree.has("ITEM@1-99.zip")


def test_a_large_tree_spills_and_walks_the_same() -> None:
    """Past the spill's few thousand entries (temp files), with items mapped across."""
    colls = [f"COLLECTION@1-{n}.zip" for n in range(10, 13)]
    children: dict[str, list[str]] = {SITE: [COMM], COMM: colls}
    for i, coll in enumerate(colls):
        children[coll] = [f"ITEM@1-{1000 + i * 3000 + n}.zip" for n in range(3000)]
        children[coll] += [f"ITEM@1-{1000 + ((i + 1) % 3) * 3000 + n}.zip" for n in range(5)]
    tree = walk_tree(SITE, expand_from(children, []))  # type: ignore[arg-type]
    assert tree._rows._offsets  # some entries went to the temp file
    assert len(tree) == 2 + 3 + 9000 and tree == _walked_in_memory(SITE, children)
    assert tree.has("ITEM@1-9999.zip") and not tree.has("ITEM@1-10000.zip")


# --- predictions ------------------------------------------------------------------------------
def _tree(root: str = COLL_B) -> list[TreeEntry]:
    return walk_tree(root, expand_from(TREE, []))  # type: ignore[arg-type]


def test_predict_each_mode_for_a_deleted_collection() -> None:
    exists = {"1/3": False, "1/6": False, "1/5": True}
    owners = {"1/5": "1/2"}
    kw = {"owners": owners, "top_parent": "1/1", "top_parent_exists": True}
    restore = predict("restore", _tree(), exists, **kw)  # type: ignore[arg-type]
    assert [(p.handle, p.action) for p in restore] == [
        ("1/3", "restore"), ("1/6", "restore"), ("1/5", "map")]
    replace = predict("replace", _tree(), exists, **kw)  # type: ignore[arg-type]
    assert [p.action for p in replace] == ["restore", "restore", "replace"]
    submit = predict("submit", _tree(), exists, **kw)  # type: ignore[arg-type]
    assert {p.action for p in submit} == {"submit"}


def test_predict_existing_objects() -> None:
    exists = {"1/3": True, "1/6": True, "1/5": True}
    owners = {"1/5": "1/2", "1/6": "1/3"}
    restore = predict("restore", _tree(), exists, owners=owners)
    assert [p.action for p in restore] == ["fail", "fail", "map"]
    keep = predict("keep-existing", _tree(), exists, owners=owners)
    assert [(p.action, p.detail) for p in keep] == [
        ("skip", "exists now; its children are not visited"),
        ("skip", "its parent is skipped"), ("skip", "its parent is skipped")]
    replace = predict("replace", _tree(), exists, owners=owners)
    assert [p.action for p in replace] == ["replace", "replace", "replace"]
    # DSpace's driver restores what is missing below an existing object
    below = predict("keep-existing", _tree(), {"1/3": True, "1/6": False, "1/5": True},
                    owners=owners, keep_below_existing=True)
    assert [(p.action, p.detail) for p in below] == [
        ("skip", "exists now; missing objects below it are restored"),
        ("restore", "missing now"),
        ("skip", "exists now; missing objects below it are restored")]


def test_predict_a_missing_parent_and_an_unknown_repository() -> None:
    exists = {"1/3": False, "1/6": False, "1/5": False}
    orphan = predict("restore", _tree(), exists, top_parent="1/1", top_parent_exists=False)
    assert orphan[0].action == "fail" and "parent 1/1 is missing" in orphan[0].detail
    skipped = predict("restore", _tree(), exists, top_parent="1/1", top_parent_exists=False,
                      skip_if_parent_missing=True)
    assert [p.action for p in skipped] == ["skip", "skip", "skip"]
    unknown = predict("replace", _tree(), None)
    assert {p.action for p in unknown} == {"ingest"} and unknown[0].exists is None
    site = predict("restore", _tree(SITE), {h: True for h in ("1/0", "1/1")})
    assert site[0].action == "restore" and site[1].action == "fail"


# --- the ingest call --------------------------------------------------------------------------
def test_ingest_spec(tmp_path: Path) -> None:
    config = parse_config({
        "repository": {"kind": "dspace", "dspace_bin": "/dspace/bin/dspace",
                       "eperson": "admin@example.org", "site_handle": "123456789/0"},
        "staging": {"dir": str(tmp_path / "s")}, "state": {"dir": str(tmp_path / "t")},
        "target": {"url": f"file://{tmp_path}"},
        "restore": {"skip_if_parent_missing": True}})
    site = ingest_spec(config, Path("/w/SITE@123456789-0.zip"), mode="replace", site=True,
                       parent=None)
    assert (site.mode, site.recursive, site.identifier, site.parent, site.options) == (
        "replace", True, "123456789/0", None, ("skipIfParentMissing=true",))
    tree = walk_tree(COLL_B, expand_from(TREE, []))  # type: ignore[arg-type]
    one = ingest_spec(config, Path("/w/COLLECTION@1-3.zip"), mode="keep-existing",
                      site=False, parent="123456789/3", tree=tree)
    assert (one.identifier, one.parent) == (None, "123456789/3")
    assert one.tree == (TreePackage(COLL_B, "COLLECTION", "1/3"),
                        TreePackage(ITEM_3, "ITEM", "1/6", (COLL_B,)),
                        TreePackage(ITEM_2, "ITEM", "1/5", (COLL_B,)))
    replace_one = ingest_spec(config, Path("/w/ITEM@123456789-9.zip"), mode="replace",
                              site=False, parent=None)
    assert replace_one.identifier is None  # found by the package's handle, missing restored
    assert replace_one.tree == ()
    # other modes than keep-existing take only the packages their ingest does not reach
    withdrawn = TreeEntry("ITEM@1-7.zip", "ITEM", "1/7", 2, (COLL_B,), pointed=False)
    replace_tree = ingest_spec(config, Path("/w/COLLECTION@1-3.zip"), mode="replace",
                               site=False, parent=None, tree=[*tree, withdrawn])
    assert replace_tree.tree == (TreePackage("ITEM@1-7.zip", "ITEM", "1/7", (COLL_B,),
                                             pointed=False),)


# --- the audit's pure part --------------------------------------------------------------------
def test_sample_keys() -> None:
    keys = [f"ITEM@1-{n}.zip" for n in range(1, 101)]
    assert sample_keys(keys, None, 1) == sorted(keys)
    assert sample_keys(keys, 100, 1) == sorted(keys)
    assert sample_keys(keys, 0, 1) == []
    five = sample_keys(keys, 5, 42)
    assert len(five) == 5 and five == sample_keys(reversed(keys), 5, 42)
    assert five != sample_keys(keys, 5, 43)
    assert len(sample_keys(keys[:3], 1, 1)) == 1  # at least one


def test_judge_head() -> None:
    entry = InventoryEntry("ITEM@1-4.zip", "a" * 64, "b" * 32, 100, "versions/ITEM@1-4.zip/aa")
    ok = RemoteObject("ITEM@1-4.zip", 100, metadata={"sha256": "a" * 64})
    assert judge_head(entry, ok) is None
    problem = judge_head(entry, None)
    assert problem is not None and problem.kind == "missing"
    short = judge_head(entry, RemoteObject("ITEM@1-4.zip", 50, metadata={"sha256": "a" * 64}))
    assert short is not None and short.kind == "corrupted" and "size" in short.detail
    other = judge_head(entry, RemoteObject("ITEM@1-4.zip", 100, metadata={"sha256": "c" * 64}))
    assert other is not None and other.kind == "corrupted" and "SHA-256" in other.detail
    bare = judge_head(entry, RemoteObject("ITEM@1-4.zip", 100))
    assert bare is not None and bare.kind == "unverifiable"


def test_extent_problems() -> None:
    found, gone = extent_problems({SITE, COLL_A, ITEM_1},
                                  sorted({SITE, COLL_A, "ITEM@1-99.zip"}))
    assert [(p.key, p.kind) for p in found] == [(ITEM_1, "not_backed_up")]
    assert gone == 1


@pytest.mark.parametrize("keep", [2, 4096])
def test_extent_problems_from_a_spill_map_merge_its_keys_in_order(keep: int) -> None:
    """The embedded source's extent comes as a SpillMap filled in plan order (parents
    first); spilled or not, its keys come back sorted for the merge."""
    expected = SpillMap(keep=keep)
    for name in (SITE, COLL_A, ITEM_1, "ITEM@1-10.zip", "ITEM@1-2.zip"):
        expected[name] = ""
    assert expected.spilled == (keep == 2) and len(expected) == 5
    found, gone = extent_problems(expected, sorted({SITE, COLL_A, "ITEM@1-2.zip", "X@1-1.zip"}))
    assert [p.key for p in found] == sorted([ITEM_1, "ITEM@1-10.zip"]) and gone == 1


# --- work folders of earlier restores -----------------------------------------------------------
def test_snapshot_ids_are_recognised() -> None:
    assert is_snapshot_id(new_snapshot_id(datetime(2026, 3, 1, 2, 15, tzinfo=UTC)))
    for name in ("20260301T021500Z", "notes", "20260301T021500Z-ab/..", ".aipsync-tmp-x"):
        assert not is_snapshot_id(name)


def test_old_work_folders_of_other_snapshots_are_removed(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    day = 86_400

    def folder(name: str, age_days: float, files: dict[str, float] | None = None) -> Path:
        path = tmp_path / name
        path.mkdir()
        for fname, fage in (files or {}).items():
            (path / fname).write_bytes(b"x")
            os.utime(path / fname, (now - fage * day, now - fage * day))
        os.utime(path, (now - age_days * day, now - age_days * day))
        return path

    old = folder("20260101T000000Z-aaaaaa", 10, {"ITEM@1-4.zip": 10})
    touched = folder("20260102T000000Z-bbbbbb", 10, {"ITEM@1-5.zip": 1})  # a file is recent
    current = folder("20260103T000000Z-cccccc", 30)  # the one being restored
    audit = folder(".aipsync-tmp-audit-x1", 10)  # C.TEMP_PREFIX + "audit-"
    foreign = folder("keep-me", 30)  # not ours
    (tmp_path / "20260104T000000Z-dddddd").write_text("a file, not a folder")

    removed = prune_work_dirs(tmp_path, keep=current.name, keep_days=7, now=now)

    assert removed == sorted([old.name, audit.name])
    assert not old.exists() and not audit.exists()
    assert touched.is_dir() and current.is_dir() and foreign.is_dir()
    assert (tmp_path / "20260104T000000Z-dddddd").is_file()
    # 0 days: every other snapshot's folder, but never one touched in the last hour
    recent = folder("20260105T000000Z-eeeeee", 0)
    assert prune_work_dirs(tmp_path, keep=current.name, keep_days=0, now=now) == [touched.name]
    assert recent.is_dir()
    assert prune_work_dirs(tmp_path / "absent", keep="x", keep_days=0, now=now) == []


# --- the fetcher's look-ups -------------------------------------------------------------------
class _Inventory:
    """What the fetcher asks of an inventory: its versioning and a look-up by keys."""

    versioning = "bucket"
    id = "20260101T000000Z-000000"

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = set(keys)
        self.asked: list[list[str]] = []

    def lookup(self, keys: Sequence[str]) -> dict[str, InventoryEntry]:
        self.asked.append(list(keys))
        return {k: InventoryEntry(k, "a" * 64, "b" * 32, 10) for k in keys if k in self.keys}


def test_a_level_is_looked_up_once_per_key_in_order_and_a_missing_child_names_its_parent(
        tmp_path: Path) -> None:
    config = parse_config({
        "repository": {"path": str(tmp_path / "r"), "eperson": "admin@example.org"},
        "staging": {"dir": str(tmp_path / "s")},
        "state": {"dir": str(tmp_path / "t")}, "target": {"url": f"file://{tmp_path}"}})
    level = [f"ITEM@1-{n}.zip" for n in range(5000, 0, -1)] + ["ITEM@1-7.zip"]
    inventory = _Inventory(level)
    fetcher = _Fetcher(config, None, inventory, tmp_path, SITE, None)  # type: ignore[arg-type]
    got = [e.key for e in fetcher._entries(level)]
    assert got == sorted(set(level)) and len(got) == 5000
    assert [len(c) for c in inventory.asked] == [1024] * 4 + [904]
    inventory.keys.discard("ITEM@1-4999.zip")
    fetcher.pointed_by["ITEM@1-4999.zip"] = COLL_A
    with pytest.raises(NotInSnapshotError, match=r"ITEM@1-4999\.zip \(a child of "
                                                 r"COLLECTION@1-2\.zip\)"):
        list(fetcher._entries(level))
