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


def _known(tx: Tx) -> dict[str, tuple[str, int] | None]:
    """What this transaction has learnt of handles (every change to the handle table goes
    through this module, which keeps it true): a restore asks for the same collection's
    handle for each of its items."""
    known: dict[str, tuple[str, int] | None] = tx.cache.setdefault("handles_known", {})
    return known


def resolve(tx: Tx, handle: str) -> tuple[str, int] | None:
    """``(type, id)`` of the live object a handle names, or ``None``."""
    known = _known(tx)
    if handle in known:
        return known[handle]
    row = tx.execute(_RESOLVE, {"handle": handle}).first()
    found = (None if row is None or row.resource_type is None
             else (str(row.resource_type), int(row.resource_id)))
    known[handle] = found
    return found


def resolve_many(tx: Tx, wanted: Iterable[str]) -> dict[str, tuple[str, int]]:
    """``resolve`` for many handles at once: handle -> (type, id) of those that are live."""
    names = list(dict.fromkeys(wanted))
    out: dict[str, tuple[str, int]] = {}
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        for row in tx.execute(sa.select(T.handle.c.handle, T.handle.c.resource_type,
                                        T.handle.c.resource_id)
                              .where(T.handle.c.handle.in_(chunk))):
            if row.resource_type is not None:
                out[str(row.handle)] = (str(row.resource_type), int(row.resource_id))
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
    return bool(tx.scalar(sa.select(sa.func.count()).select_from(T.handle)
                          .where(T.handle.c.handle == handle)))


def _bump(tx: Tx, prefix: str, suffix: str) -> None:
    if not suffix.isdigit():
        return
    needed = int(suffix) + 1
    current = tx.scalar(sa.select(T.handle_sequence.c.next_suffix)
                        .where(T.handle_sequence.c.prefix == prefix))
    if current is None:
        tx.execute(sa.insert(T.handle_sequence).values(prefix=prefix, next_suffix=needed))
    elif current < needed:
        tx.execute(sa.update(T.handle_sequence).where(T.handle_sequence.c.prefix == prefix)
                   .values(next_suffix=needed))


def mint(tx: Tx, resource_type: str, resource_id: int) -> str:
    """Assign the next free handle of the site's prefix to an object."""
    prefix = site_prefix(tx)
    while True:
        current = tx.scalar(sa.select(T.handle_sequence.c.next_suffix)
                            .where(T.handle_sequence.c.prefix == prefix))
        if current is None:
            current = 1
            tx.execute(sa.insert(T.handle_sequence).values(prefix=prefix, next_suffix=2))
        else:
            tx.execute(sa.update(T.handle_sequence)
                       .where(T.handle_sequence.c.prefix == prefix)
                       .values(next_suffix=current + 1))
        handle = f"{prefix}/{current}"
        if not was_assigned(tx, handle):
            break
    tx.execute(sa.insert(T.handle).values(handle=handle, prefix=prefix,
                                          resource_type=resource_type,
                                          resource_id=resource_id))
    _known(tx)[handle] = (resource_type, resource_id)
    return handle


def bind(tx: Tx, handle: str, resource_type: str, resource_id: int) -> str:
    """Assign a given handle (restore): allowed if unassigned or its object is gone.

    Raises:
        AlreadyExistsError: the handle names a live object.
    """
    prefix, suffix = split_handle(handle)
    row = tx.execute(sa.select(T.handle.c.resource_type).where(T.handle.c.handle == handle)
                     ).first()
    if row is not None and row.resource_type is not None:
        raise AlreadyExistsError(what=str(row.resource_type).lower(), key=handle)
    if row is None:
        tx.execute(sa.insert(T.handle).values(handle=handle, prefix=prefix,
                                              resource_type=resource_type,
                                              resource_id=resource_id))
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
