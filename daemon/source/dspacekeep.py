"""Keep-existing through DSpace: which packages of a restore's tree to ingest, one call each.

DSpace's ``packager -r -k -a`` skips an existing object *and never visits its children*
(``AbstractPackageIngester.ingestAll()``: the skipped object is not counted and its child
packages are not opened), and 5.x and 6.x fail the whole run on an existing Item instead of
skipping it (their ``HandleIdentifierProvider.register()`` wraps the handle conflict in a
``RuntimeException``, which ``-k`` does not catch; DSpace rolls back).  A backup operator
who asks to keep what exists and restore what is missing wants every missing object of the
tree back, in every generation, so the driver ingests the missing objects' own AIPs:

Items not pointed at by their collection's AIP (``TreePackage.pointed``: withdrawn items of a
DSpace-made backup) are never reached by a call of their collection: each missing one gets a
call of its own.

- ``keep_existing_calls``: when DSpace's database says which handles exist, the plan is
  exact: every existing object is skipped without a call, a missing object whose whole
  subtree is missing is one recursive call (``-a``), and a missing object with existing
  objects below it is ingested alone (no ``-a``) so that DSpace never meets an existing
  object, after which its children are planned the same way.
- ``Settle``: without the database, what DSpace printed is all there is.  After a
  recursive ``-k`` call, an object listed as restored was missing; an object not listed whose
  parent package was restored in the call was visited and so existed; the call's top, if not
  listed, existed.  An object whose parents all existed was never visited: it gets a call of
  its own.  Calls go on until every object of the tree is settled.

Pure: no I/O.  ``daemon.source.dspace`` makes the calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from daemon.source.base import TreePackage

__all__ = ["KeepCall", "Settle", "keep_existing_calls"]


@dataclass(frozen=True, slots=True)
class KeepCall:
    """One ``packager -r -k`` call: the package's file name and whether ``-a`` is given."""

    key: str
    recursive: bool


def _children(tree: Sequence[TreePackage]) -> dict[str, list[str]]:
    """Package -> the packages its manifest points at (what a recursive call reaches)."""
    out: dict[str, list[str]] = {node.key: [] for node in tree}
    for node in tree:
        if not node.pointed:
            continue
        for parent in node.parents:
            if parent in out and node.key not in out[parent]:
                out[parent].append(node.key)
    return out


def _subtree(key: str, children: Mapping[str, Sequence[str]]) -> set[str]:
    seen = {key}
    stack = [key]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def keep_existing_calls(tree: Sequence[TreePackage], exists: Mapping[str, bool]
                        ) -> tuple[list[KeepCall], list[TreePackage]]:
    """The calls that restore every missing object of ``tree`` and touch no existing one.

    Args:
        tree: the packages, parents before children (the top first).
        exists: handle -> whether it exists in DSpace now.

    Returns:
        (the calls in order, the existing objects: skipped without a call).
    """
    children = _children(tree)
    handle = {node.key: node.handle for node in tree}
    covered: set[str] = set()
    calls: list[KeepCall] = []
    existing: list[TreePackage] = []
    for node in tree:
        if exists.get(node.handle, False):
            existing.append(node)
            continue
        if node.key in covered:
            continue
        below = _subtree(node.key, children)
        if any(exists.get(handle[k], False) for k in below):
            calls.append(KeepCall(node.key, recursive=False))
            covered.add(node.key)
        else:
            calls.append(KeepCall(node.key, recursive=True))
            covered |= below
    return calls, existing


@dataclass
class Settle:
    """Keep-existing without knowing what exists: the calls worked out from DSpace's lines.

    ``next_call()`` gives the next package to ingest recursively (the top first), and
    ``record(key, restored)`` what that call listed as restored (handles).  ``existing``:
    the keys found to exist.
    """

    tree: Sequence[TreePackage]
    restored: set[str] = field(default_factory=set)
    existing: set[str] = field(default_factory=set)
    _queued: list[str] = field(default_factory=list)
    _called: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._by_key = {node.key: node for node in self.tree}
        if self.tree:
            self._queued.append(self.tree[0].key)

    def next_call(self) -> str | None:
        """The next package to ingest with ``-r -k -a``, or None when all is settled."""
        while self._queued:
            key = self._queued.pop(0)
            if key not in self._called and not self._settled(key):
                self._called.add(key)
                return key
        return None

    def _settled(self, key: str) -> bool:
        return key in self.existing or self._by_key[key].handle in self.restored

    def record(self, key: str, restored: Sequence[str], *, exists: bool | None = None
               ) -> None:
        """What the call of ``key`` restored (handles); ``exists`` True when the call's top
        is known to exist although the call failed (a 5.x/6.x single Item)."""
        self.restored.update(restored)
        if exists or self._by_key[key].handle not in self.restored:
            self.existing.add(key)
        visited = {n.key for n in self.tree if n.handle in set(restored)}
        changed = True
        while changed:
            changed = False
            for node in self.tree:
                if self._settled(node.key) or not node.parents:
                    continue
                if not node.pointed:
                    # no call reaches it: its own, once its collection is there
                    if (all(self._settled(p) for p in node.parents if p in self._by_key)
                            and node.key not in self._called
                            and node.key not in self._queued):
                        self._queued.append(node.key)
                elif any(p in visited for p in node.parents):
                    # listed by a package restored in a call: DSpace visited it, and it was
                    # not restored, so it existed (skipped silently)
                    self.existing.add(node.key)
                    changed = True
                elif (all(p in self.existing for p in node.parents)
                      and node.key not in self._called and node.key not in self._queued):
                    self._queued.append(node.key)
