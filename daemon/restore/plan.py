"""The pure part of a restore: which key, which tree, which mode, and what a dry run predicts.

Owns: ``parse_at`` (``--at``), ``key_handle``/``find_key`` (inventory keys and handles),
``check_child_href`` (a child pointer must be a plain AIP file name), ``resolve_mode``,
``walk_tree`` (breadth first over child pointers, with an injected ``expand``), ``predict``
(what the ingest would do to each object, by the ingester's mode table) and ``ingest_spec``
(the one ingest call of a restore).

Pure: no I/O, no clock (a large tree waits in ``aip.spill``'s scratch files, which are
memory kept on disk).  ``daemon.restore.run`` does the downloads, locks and the ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aip import constants as C
from aip.errors import PackageValidationError, Problem, UsageError
from aip.lazy import LazyCollection
from aip.model import package_file_name
from aip.packager.modes import IngestMode
from aip.spill import SpillList, SpillMap
from daemon.core.config import Config
from daemon.source.base import IngestSpec, TreePackage, key_handle

__all__ = [
    "Planned",
    "Tree",
    "TreeEntry",
    "check_child_href",
    "find_key",
    "ingest_spec",
    "key_handle",
    "parse_at",
    "predict",
    "resolve_mode",
    "walk_tree",
]


# =============================================================================================
# The pure part
# =============================================================================================
def parse_at(text: str) -> datetime:
    """``--at``: an ISO-8601 date-time; without an offset it is taken as UTC.  Pure.

    A time without fractional seconds means the end of that second: a snapshot made at
    02:15:00.637 is "at 02:15:00" for someone who reads ``snapshots`` to the second.

    Raises:
        UsageError: not an ISO-8601 date-time.
    """
    value = text.strip()
    try:
        when = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z"))
                                      else value)
    except ValueError:
        raise UsageError(f"--at {text!r}: expected an ISO-8601 date-time such as "
                         "2026-03-01T02:15:00Z") from None
    if "T" not in value.upper() and " " not in value:
        raise UsageError(f"--at {text!r}: give a time too, e.g. {value}T23:59:59Z")
    if when.microsecond == 0 and "." not in value:
        when = when.replace(microsecond=999_999)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def candidate_keys(handle: str) -> list[str]:
    """The inventory keys the AIP of ``handle`` may have, one per object type.  Pure."""
    return [package_file_name(t, handle, C.PACKAGE_EXTENSION) for t in C.PACKAGE_TYPES]


def find_key(keys: Collection[str], handle: str) -> str | None:
    """The inventory key of the AIP of ``handle`` (whatever its type), or None.  Pure."""
    return next((key for key in candidate_keys(handle) if key in keys), None)


def check_child_href(parent_key: str, href: str) -> str:
    """A child pointer must be a plain AIP file name (it becomes a local file name).  Pure.

    Raises:
        PackageValidationError: ``AIP-E048`` (the code the ingester uses for the same rule).
    """
    try:
        key_handle(href)
    except ValueError:
        raise PackageValidationError([Problem(
            "AIP-E048", "child pointer is not a plain AIP file name beside the package",
            path=parent_key, found=href)], path=parent_key) from None
    if href.startswith(".") or "\\" in href or "\x00" in href:  # pragma: no cover - regex
        raise PackageValidationError([Problem("AIP-E048", "unsafe child pointer",
                                              path=parent_key, found=href)], path=parent_key)
    return href


def resolve_mode(requested: IngestMode | None, *, site: bool, default: IngestMode
                 ) -> IngestMode:
    """The ingest mode of a restore.  Pure.

    ``--mode`` wins; otherwise a whole-site restore replaces (DSpace's documented full
    restore is ``packager -r -a -f -i <prefix>/0``: the SITE object always exists) and any
    other restore uses ``[restore] mode``.

    Raises:
        UsageError: a SITE package cannot be submitted.
    """
    mode = requested or (IngestMode.REPLACE if site else default)
    if site and mode == IngestMode.SUBMIT:
        raise UsageError("a SITE package cannot be submitted; use --mode replace, restore "
                         "or keep-existing")
    return mode


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One AIP of the tree: its key, type and handle, how deep below the top it was met, and
    the containers whose manifests list it (none for the top; two for a mapped item).
    ``pointed`` is False for an item whose owning collection is in the tree but whose AIP
    that collection's manifest does not point at (a withdrawn item of a DSpace-made backup);
    ``listed_by`` then names the collection."""

    key: str
    type: str
    handle: str
    depth: int
    listed_by: tuple[str, ...] = ()
    pointed: bool = True


#: A tree entry as kept: (key, type, handle, depth, listed_by, pointed); plain tuples pickle
#: several times faster than the dataclass.
_Row = tuple[str, str, str, int, tuple[str, ...], bool]


class Tree(LazyCollection[TreeEntry]):
    """The AIPs of a restore, in the order met (``walk_tree``): the entries in a
    ``SpillList``, the keys in a ``SpillMap`` (past a few thousand, both in temp files: a
    site of a million items is a million entries)."""

    __slots__ = ("_keys", "_rows")

    def __init__(self) -> None:
        self._rows: SpillList[_Row] = SpillList()
        self._keys = SpillMap()

    def append(self, entry: TreeEntry) -> None:
        self._rows.append((entry.key, entry.type, entry.handle, entry.depth, entry.listed_by,
                           entry.pointed))
        self._keys[entry.key] = ""

    def has(self, key: str) -> bool:
        """Whether an entry has ``key``."""
        return key in self._keys

    @property
    def top(self) -> TreeEntry:
        """The first entry (the AIP the walk began at)."""
        return next(iter(self))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[TreeEntry]:
        for key, type_, handle, depth, listed_by, pointed in self._rows:
            yield TreeEntry(key, type_, handle, depth, listed_by, pointed)


def walk_tree(root: str, expand: Callable[[Collection[str]], Mapping[str, Iterable[str]]]
              ) -> Tree:
    """The AIP tree below ``root``, breadth first, each key once.  Pure given ``expand``
    (its temp files are scratch memory, ``aip.spill``).

    Args:
        root: the top AIP's key.
        expand: gets a whole level of keys (so it can fetch them concurrently) and returns,
            for each container among them, the keys its child pointers name.

    Returns:
        The entries, parents before children.  A key listed again (a mapped item, or a
        pointer back up the tree) is not visited again; its extra listers are recorded.
    """
    # Per key only its first lister (a million keys: no list each), in a SpillMap; the keys
    # listed again (mapped items) keep their other listers apart.
    first = SpillMap()
    first[root] = ""
    more: dict[str, list[str]] = {}
    levels: list[SpillList[str]] = []
    level: SpillList[str] = SpillList([root])
    while level:
        children = expand(level)
        levels.append(level)
        following: SpillList[str] = SpillList()
        for key in level:
            for child in children.get(key, ()):
                lister = first.get(child)
                if lister is None:
                    first[child] = key
                    following.append(child)
                elif child != root and key != lister and key not in more.get(child, ()):
                    more.setdefault(child, []).append(key)
        del children
        level = following
    tree = Tree()
    for depth, keys in enumerate(levels):
        for key in keys:
            obj_type, handle = key_handle(key)
            lister = first.get(key)
            listed_by = (lister, *more.get(key, ())) if lister else ()
            tree.append(TreeEntry(key, _TYPES.get(obj_type, obj_type), handle, depth,
                                  listed_by))
        keys.close()
    first.close()
    return tree


#: One string per object type, shared by every entry.
_TYPES = {t: t for t in C.PACKAGE_TYPES}


@dataclass(frozen=True, slots=True)
class Planned:
    """What a dry run predicts for one object: ``action`` is ``restore``, ``replace``,
    ``skip``, ``map``, ``submit``, ``fail`` or ``ingest`` (existence unknown)."""

    handle: str
    type: str
    key: str
    exists: bool | None
    action: str
    detail: str = ""


def predict(mode: IngestMode, tree: Iterable[TreeEntry], exists: Mapping[str, bool] | None,
            *, owners: Mapping[str, str | None] | None = None,
            top_parent: str | None = None, top_parent_exists: bool | None = None,
            skip_if_parent_missing: bool = False,
            keep_below_existing: bool = False) -> list[Planned]:
    """What the ingest would do to each object of the tree, by the ingester's mode table.

    Pure.  Exact for the top object and for containers; for an item that exists and is
    listed by collections other than its owner it follows the ingester's rule that meeting
    an item through a collection it is only mapped into is not a conflict.

    Args:
        mode: the ingest mode.
        tree: the entries (``walk_tree``).
        exists: handle -> exists now; None when it cannot be known (``kind = "dspace"``).
        owners: item handle -> handle of its owning collection now (existing items).
        top_parent: the parent the top package names (None for the SITE, or with ``--parent``).
        top_parent_exists: whether ``top_parent`` exists now.
        skip_if_parent_missing: ``[restore] skip_if_parent_missing``.
        keep_below_existing: the source's keep-existing restores missing objects below an
            existing one (``Source.keep_below_existing``) instead of skipping them.

    Returns:
        One ``Planned`` per entry, in tree order.
    """
    mode = IngestMode(mode)  # callers may pass the mode's name
    owners = owners or {}
    out: list[Planned] = []
    skipped: set[str] = set()
    for entry in tree:
        known = None if exists is None else bool(exists.get(entry.handle, False))
        key = entry.key

        def plan(action: str, detail: str = "", entry: TreeEntry = entry,
                 known: bool | None = known) -> Planned:
            return Planned(entry.handle, entry.type, entry.key, known, action, detail)

        if entry.listed_by and entry.pointed and all(p in skipped for p in entry.listed_by):
            skipped.add(key)
            out.append(plan("skip", "its parent is skipped"))
            continue
        if (entry.depth == 0 and entry.type != C.TYPE_SITE and top_parent is not None
                and top_parent_exists is False and not (known and mode != IngestMode.SUBMIT)):
            if skip_if_parent_missing:
                skipped.add(key)
                out.append(plan("skip", f"its parent {top_parent} is missing "
                                        "(skip_if_parent_missing)"))
            else:
                out.append(plan("fail", f"its parent {top_parent} is missing: restore the "
                                        "parent first, or give --parent"))
            continue
        if mode == IngestMode.SUBMIT:
            out.append(plan("submit", "a new object with a new handle"))
            continue
        if known is None:
            out.append(plan("ingest", f"existence in DSpace unknown; mode {mode}: "
                                      + mode.rule))
            continue
        if entry.type == C.TYPE_SITE:
            out.append(plan("replace" if mode == IngestMode.REPLACE else "restore",
                            "site metadata, registries, groups and e-people"))
            continue
        if not known:
            out.append(plan("restore", "missing now"))
            continue
        if mode == IngestMode.KEEP and keep_below_existing:
            out.append(plan("skip", "exists now; missing objects below it are restored"))
            continue
        mapped_only = (entry.type == C.TYPE_ITEM and entry.listed_by
                       and owners.get(entry.handle) is not None
                       and all(key_handle(p)[1] != owners.get(entry.handle)
                               for p in entry.listed_by))
        if mapped_only and mode != IngestMode.REPLACE:
            out.append(plan("map", f"exists, owned by {owners.get(entry.handle)}; mapped "
                                   "into the collection(s) that list it"))
        elif mode == IngestMode.RESTORE:
            out.append(plan("fail", "exists now: mode restore refuses existing objects, so "
                                    "the whole restore would change nothing (use --mode "
                                    "keep-existing or replace)"))
        elif mode == IngestMode.KEEP:
            skipped.add(key)
            out.append(plan("skip", "exists now; its children are not visited"))
        else:
            out.append(plan("replace", "exists now; its own contents become the snapshot's"))
    return out


def ingest_spec(config: Config, package: Path, *, mode: IngestMode, site: bool,
                parent: str | None, tree: Iterable[TreeEntry] = ()) -> IngestSpec:
    """The one ingest of a restore: the top package with its children (``-a``).  Pure.

    A whole-site replace names the site (``-i <prefix>/0``), as DSpace's documented full
    restore does; other restores let the packager find each object by the handle in its
    package (so a missing object is restored, an existing one replaced or skipped).  The
    walked ``tree`` goes along for the sources that need it (DSpace's keep-existing);
    other modes take only its packages not pointed at.
    """
    return IngestSpec(
        package=package, mode=mode, recursive=True, parent=parent,
        identifier=config.repository.site_handle if site and mode == IngestMode.REPLACE else None,
        options=("skipIfParentMissing=true",) if config.restore.skip_if_parent_missing else (),
        tree=tuple(TreePackage(e.key, e.type, e.handle, e.listed_by, e.pointed) for e in tree
                   if mode == IngestMode.KEEP or not e.pointed))


