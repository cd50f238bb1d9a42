"""Authorisation: may this e-person read (or administer) that object?

Owns: the rules the packager applies before it exports or restores anything.  Site
administrators (members of ``Administrator``, directly or through member groups) may do
everything; an ADMIN policy on an object or on any of its ancestors (bundle, item, owning
collection, parent communities) makes its holder an administrator of that object; otherwise
a READ policy in effect on the object itself is needed (DSpace's AuthorizeService, minus its
caching).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from aip import constants as C
from aip.errors import PermissionDeniedError
from aip.model import Action, EPerson
from aip.repository import auth
from aip.repository import tables as T
from aip.repository.store import Tx


def parents(tx: Tx, rtype: str, rid: int) -> list[tuple[str, int]]:
    """The objects whose ADMIN policies also cover ``(rtype, rid)``, nearest first."""
    chain: list[tuple[str, int]] = []
    if rtype == C.TYPE_BITSTREAM:
        bundle = tx.scalar(sa.select(T.bitstream.c.bundle_id).where(T.bitstream.c.id == rid))
        if bundle is None:  # a logo
            for table, kind in ((T.community, C.TYPE_COMMUNITY),
                                (T.collection, C.TYPE_COLLECTION)):
                owner = tx.scalar(sa.select(table.c.id).where(table.c.logo_id == rid))
                if owner is not None:
                    return [(kind, int(owner)), *parents(tx, kind, int(owner))]
            return []
        return [(C.TYPE_BUNDLE, int(bundle)), *parents(tx, C.TYPE_BUNDLE, int(bundle))]
    if rtype == C.TYPE_BUNDLE:
        item = tx.scalar(sa.select(T.bundle.c.item_id).where(T.bundle.c.id == rid))
        return [(C.TYPE_ITEM, int(item)), *parents(tx, C.TYPE_ITEM, int(item))] if item else []
    if rtype == C.TYPE_ITEM:
        coll = tx.scalar(sa.select(T.item.c.owning_collection_id).where(T.item.c.id == rid))
        if coll is None:
            return []
        return [(C.TYPE_COLLECTION, int(coll)), *parents(tx, C.TYPE_COLLECTION, int(coll))]
    if rtype == C.TYPE_COLLECTION:
        for comm in tx.execute(sa.select(T.community_collection.c.community_id)
                               .where(T.community_collection.c.collection_id == rid)).scalars():
            chain.append((C.TYPE_COMMUNITY, int(comm)))
            chain.extend(parents(tx, C.TYPE_COMMUNITY, int(comm)))
        return chain
    if rtype == C.TYPE_COMMUNITY:
        parent = tx.scalar(sa.select(T.community.c.parent_id).where(T.community.c.id == rid))
        if parent is None:
            return []
        return [(C.TYPE_COMMUNITY, int(parent)), *parents(tx, C.TYPE_COMMUNITY, int(parent))]
    return chain


def is_admin_of(tx: Tx, eperson_id: int | None, rtype: str, rid: int,
                today: dt.date) -> bool:
    """Site administrator, or an ADMIN policy on the object or one of its ancestors."""
    if auth.is_admin(tx, eperson_id):
        return True
    if eperson_id is None or rtype == C.TYPE_SITE:
        return False
    for kind, oid in [(rtype, rid), *parents(tx, rtype, rid)]:
        if auth.has_policy(tx, eperson_id, [Action.ADMIN], kind, oid, today):
            return True
    return False


def can_read(tx: Tx, eperson_id: int | None, rtype: str, rid: int, today: dt.date) -> bool:
    """True if the e-person may read the object (administrators always may)."""
    if rtype == C.TYPE_SITE or auth.is_admin(tx, eperson_id):
        return True
    if auth.has_policy(tx, eperson_id, [Action.READ], rtype, rid, today):
        return True
    return is_admin_of(tx, eperson_id, rtype, rid, today)


def require_site_admin(tx: Tx, person: EPerson, action: str) -> None:
    if not auth.is_admin(tx, person.id):
        raise PermissionDeniedError(eperson=person.email,
                                    action=f"{action} (an administrator is needed)")
