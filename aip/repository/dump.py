"""The canonical dump: the whole repository (or one subtree) as stable JSON.

Owns: turning repository content into plain dicts with sorted keys and stable order, with
handles, names and e-mails instead of database ids, so that two repositories with the same
content give byte-identical dumps.  This is the oracle of every round-trip test.

What is in it: everything an AIP carries (site, registries, e-people, groups, communities,
collections, items with bundles, bitstreams, checksums and policies).  What is not: database
ids, assetstore keys, in-progress submissions (AIPs never carry them), password hashes (only
whether one is set, so a dump never leaks a secret).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aip import constants as C
from aip.model import (
    Bitstream,
    Collection,
    Community,
    EPerson,
    Group,
    Item,
    MetadataValue,
    ResourcePolicy,
    handle_sort_key,
)
from aip.repository import auth, handles, objects, registry
from aip.repository import tables as T
from aip.repository.store import Tx

DUMP_FORMAT = "aipsync-dump/1"


def _md(values: Iterable[MetadataValue]) -> list[dict[str, Any]]:
    return [{"field": v.field, "value": v.value, "language": v.language,
             "authority": v.authority, "confidence": int(v.confidence)} for v in values]


def _policies(policies: Iterable[ResourcePolicy]) -> list[dict[str, Any]]:
    return [{
        "action": p.action.name, "group": p.group, "eperson": p.eperson, "name": p.name,
        "description": p.description, "policy_type": p.policy_type,
        "start_date": p.start_date.isoformat() if p.start_date else None,
        "end_date": p.end_date.isoformat() if p.end_date else None,
    } for p in policies]


def _bitstream(b: Bitstream) -> dict[str, Any]:
    return {
        "sequence_id": b.sequence_id, "name": b.name, "source": b.source,
        "description": b.description, "user_format_description": b.user_format_description,
        "format": b.format.short_description, "mimetype": b.format.mimetype,
        "size": b.size, "md5": b.md5, "sha256": b.sha256, "policies": _policies(b.policies),
    }


def _logo(b: Bitstream | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"mimetype": b.format.mimetype, "size": b.size, "md5": b.md5, "sha256": b.sha256}


def item_dict(item: Item) -> dict[str, Any]:
    return {
        "handle": item.handle, "owning_collection": item.owning_collection,
        "mapped_collections": sorted(item.mapped_collections, key=handle_sort_key),
        "in_archive": item.in_archive, "withdrawn": item.withdrawn,
        "discoverable": item.discoverable, "submitter": item.submitter,
        "last_modified": item.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metadata": _md(item.metadata), "policies": _policies(item.policies),
        "bundles": [{"name": b.name, "primary_sequence_id": b.primary_sequence_id,
                     "policies": _policies(b.policies),
                     "bitstreams": [_bitstream(bs) for bs in b.bitstreams]}
                    for b in item.bundles],
    }


def collection_dict(c: Collection) -> dict[str, Any]:
    return {
        "handle": c.handle, "parents": list(c.parents), "metadata": _md(c.metadata),
        "logo": _logo(c.logo), "template": _md(c.template) if c.template is not None else None,
        "roles": dict(c.roles),
        "harvest": None if c.harvest is None else {
            "harvest_type": c.harvest.harvest_type, "oai_source": c.harvest.oai_source,
            "oai_set_id": c.harvest.oai_set_id,
            "metadata_config_id": c.harvest.metadata_config_id,
            "harvest_status": c.harvest.harvest_status},
        "policies": _policies(c.policies), "items": list(c.items),
    }


def community_dict(c: Community) -> dict[str, Any]:
    return {
        "handle": c.handle, "parent": c.parent, "metadata": _md(c.metadata),
        "logo": _logo(c.logo), "roles": dict(c.roles), "policies": _policies(c.policies),
        "subcommunities": list(c.subcommunities), "collections": list(c.collections),
    }


def eperson_dict(p: EPerson) -> dict[str, Any]:
    # Only whether a password is set and how it is hashed: salts are random, and a dump
    # must never carry anything derived from a secret.
    password = {"algorithm": p.digest_algorithm} if p.password_hash else None
    return {
        "email": p.email, "netid": p.netid, "first_name": p.first_name,
        "last_name": p.last_name, "language": p.language, "can_log_in": p.can_log_in,
        "require_certificate": p.require_certificate, "self_registered": p.self_registered,
        "password": password,
    }


def group_dict(g: Group) -> dict[str, Any]:
    return {"name": g.name, "members": sorted(g.members),
            "member_groups": sorted(g.member_groups)}


def _subtree(tx: Tx, handle: str) -> tuple[list[int], list[int], list[int]]:
    """(community ids, collection ids, item ids) under and including ``handle``."""
    obj_type, obj_id = handles.require(tx, handle, C.TYPE_SITE, C.TYPE_COMMUNITY,
                                       C.TYPE_COLLECTION, C.TYPE_ITEM)
    if obj_type == C.TYPE_ITEM:
        return [], [], [obj_id]
    if obj_type == C.TYPE_SITE:
        comms = list(tx.execute(sa.select(T.community.c.id)).scalars())
        colls = list(tx.execute(sa.select(T.collection.c.id)).scalars())
    elif obj_type == C.TYPE_COLLECTION:
        comms, colls = [], [obj_id]
    else:
        comms, frontier = [obj_id], [obj_id]
        while frontier:
            frontier = list(tx.execute(sa.select(T.community.c.id)
                                       .where(T.community.c.parent_id.in_(frontier))).scalars())
            comms.extend(frontier)
        colls = sorted(set(tx.execute(
            sa.select(T.community_collection.c.collection_id)
            .where(T.community_collection.c.community_id.in_(comms))).scalars()))
    ci = T.collection_item
    items = sorted(set(tx.execute(
        sa.select(T.item.c.id).join(ci, ci.c.item_id == T.item.c.id)
        .where(ci.c.collection_id.in_(colls), T.item.c.handle.is_not(None),
               sa.or_(T.item.c.in_archive, T.item.c.withdrawn))).scalars()))
    return comms, colls, items


def dump(tx: Tx, handle: str | None = None) -> dict[str, Any]:
    """The repository (or the subtree at ``handle``) as a canonical dict."""
    site = objects.site_model(tx)
    comms, colls, items = _subtree(tx, handle or site.handle)
    out: dict[str, Any] = {"format": DUMP_FORMAT}
    if handle is None or handle == site.handle:
        out["site"] = {"handle": site.handle, "name": site.name, "url": site.url,
                       "communities": list(site.communities)}
        out["registry"] = {
            "schemas": [{"prefix": s.prefix, "namespace": s.namespace}
                        for s in registry.list_schemas(tx)],
            "fields": [{"name": f.name, "scope_note": f.scope_note}
                       for f in registry.list_fields(tx)],
            "formats": [{"short_description": f.short_description, "mimetype": f.mimetype,
                         "description": f.description, "support_level": f.support_level.name,
                         "internal": f.internal, "extensions": list(f.extensions)}
                        for f in registry.list_formats(tx)],
        }
        out["epeople"] = [eperson_dict(p) for p in auth.list_epeople(tx)]
        out["groups"] = [group_dict(g) for g in auth.list_groups(tx)]
    out["communities"] = sorted(
        (community_dict(objects.community_model(tx, c)) for c in comms),
        key=lambda d: handle_sort_key(d["handle"]))
    out["collections"] = sorted(
        (collection_dict(objects.collection_model(tx, c)) for c in colls),
        key=lambda d: handle_sort_key(d["handle"]))
    out["items"] = sorted((item_dict(objects.item_model(tx, i)) for i in items),
                          key=lambda d: handle_sort_key(d["handle"]))
    return out


def to_json(data: dict[str, Any]) -> str:
    """Canonical JSON text: sorted keys, two-space indent, UTF-8 characters kept, newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
