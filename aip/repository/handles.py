"""Handles: allocation, binding to objects, resolution.  A handle is never reused.

Owns: the ``handle`` table (every handle ever assigned, bound to an object or, after a
delete, to nothing) and the per-prefix counter.  Restoring a handle bumps the counter past
its suffix, so a new object never collides with a restored one (DSpace needs a manual
``update-sequences.sql`` for this).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from aip import constants as C
from aip.errors import AlreadyExistsError, NotFoundError
from aip.model import check_handle, split_handle
from aip.repository import tables as T
from aip.repository.store import Tx


def site_prefix(tx: Tx) -> str:
    prefix = tx.cache.get("handle_prefix")
    if prefix is None:
        prefix = tx.scalar(sa.select(T.site.c.handle_prefix).where(T.site.c.id == 1))
        if prefix is None:
            raise NotFoundError(what="site", key="1")
        tx.cache["handle_prefix"] = prefix
    return str(prefix)


# Hot statements are built once (bound parameters): building a statement per call costs
# more than running it, in restores of thousands of objects.
_RESOLVE = (sa.select(T.handle.c.resource_type, T.handle.c.resource_id)
            .where(T.handle.c.handle == sa.bindparam("handle")))
_SET_COUNTER = (sa.update(T.handle_sequence)
                .where(T.handle_sequence.c.prefix == sa.bindparam("key"))
                .values(next_suffix=sa.bindparam("value")))


#: ``_known``'s mark of a handle that was never assigned (a restore binds it without asking).
_NEVER: tuple[str, int] = ("", -1)
#: ``_known`` forgets everything past this many handles (a restore of a million items must
#: not keep each one's; the containers it asks for again are looked up again).
_KNOWN_MAX = 20_000


def _known(tx: Tx) -> dict[str, tuple[str, int] | None]:
    """What this transaction has learnt of handles (every change to the handle table goes
    through this module, which keeps it true): handle -> (type, id) of its live object,
    None (assigned, its object gone) or ``_NEVER``.  A restore asks for the same
    collection's handle for each of its items."""
    known: dict[str, tuple[str, int] | None] = tx.cache.setdefault("handles_known", {})
    if len(known) > _KNOWN_MAX:
        known.clear()
    return known


def forget(tx: Tx) -> None:
    """Drop what this transaction has learnt of handles and counters (after writing the
    tables directly, as the seeder's bulk inserts do)."""
    tx.cache.pop("handles_known", None)
    tx.cache.pop("handle_sequence", None)


def resolve(tx: Tx, handle: str) -> tuple[str, int] | None:
    """``(type, id)`` of the live object a handle names, or ``None``."""
    known = _known(tx)
    if handle in known:
        found = known[handle]
        return None if found is _NEVER else found
    row = tx.execute(_RESOLVE, {"handle": handle}).first()
    if row is None:
        known[handle] = _NEVER
        return None
    found = (None if row.resource_type is None
             else (str(row.resource_type), int(row.resource_id)))
    known[handle] = found
    return found


def resolve_many(tx: Tx, wanted: Iterable[str], *, remember: bool = False
                 ) -> dict[str, tuple[str, int]]:
    """``resolve`` for many handles at once: handle -> (type, id) of those that are live.

    ``remember``: keep what it learns of each handle as ``resolve`` keeps it, while that
    fits in ``_KNOWN_MAX`` (a collection's restore asks for every item it lists, and each
    item's own restore then asks again, one statement each).
    """
    names = list(dict.fromkeys(wanted))
    out: dict[str, tuple[str, int]] = {}
    known = _known(tx)
    keep = remember and len(known) + len(names) <= _KNOWN_MAX
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        if keep:
            known.update(dict.fromkeys(chunk, _NEVER))
        for row in tx.execute(sa.select(T.handle.c.handle, T.handle.c.resource_type,
                                        T.handle.c.resource_id)
                              .where(T.handle.c.handle.in_(chunk))):
            found = (None if row.resource_type is None
                     else (str(row.resource_type), int(row.resource_id)))
            if found is not None:
                out[str(row.handle)] = found
            if keep:
                known[str(row.handle)] = found
    return out


def require(tx: Tx, handle: str, *types: str) -> tuple[str, int]:
    """Like ``resolve`` but raises ``NotFoundError`` (or for a wrong type) instead."""
    check_handle(handle)
    found = resolve(tx, handle)
    if found is None or (types and found[0] not in types):
        what = " or ".join(t.lower() for t in types) if types else "object"
        raise NotFoundError(what=what, key=handle)
    return found


def was_assigned(tx: Tx, handle: str) -> bool:
    """True if the handle was ever assigned (even if its object is gone)."""
    known = _known(tx)
    if handle in known:
        return known[handle] is not _NEVER
    return bool(tx.scalar(sa.select(sa.func.count()).select_from(T.handle)
                          .where(T.handle.c.handle == handle)))


def _next_suffix(tx: Tx, prefix: str) -> int | None:
    """The prefix's counter (None: no handle of it yet), read once per transaction (this
    module is the only writer)."""
    counters: dict[str, int | None] = tx.cache.setdefault("handle_sequence", {})
    if prefix not in counters:
        counters[prefix] = tx.scalar(sa.select(T.handle_sequence.c.next_suffix)
                                     .where(T.handle_sequence.c.prefix == prefix))
    return counters[prefix]


def _set_next_suffix(tx: Tx, prefix: str, value: int) -> None:
    counters: dict[str, int | None] = tx.cache.setdefault("handle_sequence", {})
    if _next_suffix(tx, prefix) is None:
        tx.execute(sa.insert(T.handle_sequence).values(prefix=prefix, next_suffix=value))
    else:
        tx.execute(_SET_COUNTER, {"key": prefix, "value": value})
    counters[prefix] = value


def _bump(tx: Tx, prefix: str, suffix: str) -> None:
    if not suffix.isdigit():
        return
    needed = int(suffix) + 1
    current = _next_suffix(tx, prefix)
    if current is None or current < needed:
        _set_next_suffix(tx, prefix, needed)


def mint(tx: Tx, resource_type: str, resource_id: int) -> str:
    """Assign the next free handle of the site's prefix to an object."""
    prefix = site_prefix(tx)
    while True:
        current = _next_suffix(tx, prefix) or 1
        _set_next_suffix(tx, prefix, current + 1)
        handle = f"{prefix}/{current}"
        if not was_assigned(tx, handle):
            break
    tx.execute(sa.insert(T.handle).values(handle=handle, prefix=prefix,
                                          resource_type=resource_type,
                                          resource_id=resource_id))
    _known(tx)[handle] = (resource_type, resource_id)
    return handle


def claim(tx: Tx, handle: str) -> bool:
    """Check that a given handle may be bound (restore): unassigned, or its object gone.
    Returns whether it was ever assigned (``bind`` takes it, sparing a look-up).

    Raises:
        AlreadyExistsError: the handle names a live object.
    """
    known = _known(tx)
    if handle in known:
        found = known[handle]
        if found is not None and found is not _NEVER:
            raise AlreadyExistsError(what=found[0].lower(), key=handle)
        return found is None
    row = tx.execute(sa.select(T.handle.c.resource_type).where(T.handle.c.handle == handle)
                     ).first()
    if row is not None and row.resource_type is not None:
        raise AlreadyExistsError(what=str(row.resource_type).lower(), key=handle)
    return row is not None


def bind(tx: Tx, handle: str, resource_type: str, resource_id: int, *,
         assigned: bool | None = None) -> str:
    """Assign a given handle (restore): allowed if unassigned or its object is gone.
    ``assigned``: what ``claim`` answered for it, if the caller asked already.

    Raises:
        AlreadyExistsError: the handle names a live object.
    """
    prefix, suffix = split_handle(handle)
    if assigned is None:
        assigned = claim(tx, handle)
    if not assigned:
        tx.insert_rows(T.handle, [{"handle": handle, "prefix": prefix,
                                   "resource_type": resource_type,
                                   "resource_id": resource_id}])
    else:
        tx.execute(sa.update(T.handle).where(T.handle.c.handle == handle)
                   .values(resource_type=resource_type, resource_id=resource_id))
    _bump(tx, prefix, suffix)
    _known(tx)[handle] = (resource_type, resource_id)
    return handle


def release(tx: Tx, resource_type: str, resource_id: int) -> None:
    """Unbind an object's handle (delete); the handle stays assigned, never reused."""
    tx.execute(sa.update(T.handle)
               .where(T.handle.c.resource_type == resource_type,
                      T.handle.c.resource_id == resource_id)
               .values(resource_type=None, resource_id=None))
    known = _known(tx)
    for handle in [h for h, found in known.items() if found == (resource_type, resource_id)]:
        known[handle] = None


def handle_of(tx: Tx, resource_type: str, resource_id: int) -> str | None:
    if resource_type == C.TYPE_SITE:
        return f"{site_prefix(tx)}/{C.SITE_HANDLE_SUFFIX}"
    table = {C.TYPE_COMMUNITY: T.community, C.TYPE_COLLECTION: T.collection,
             C.TYPE_ITEM: T.item}.get(resource_type)
    if table is None:
        return None
    value = tx.scalar(sa.select(table.c.handle).where(table.c.id == resource_id))
    return str(value) if value is not None else None
