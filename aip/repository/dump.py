"""The canonical dump: the whole repository (or one subtree) as stable JSON.

Owns: turning repository content into plain dicts with sorted keys and stable order, with
handles, names and e-mails instead of database ids, so that two repositories with the same
content give byte-identical dumps.  This is the oracle of every round-trip test.

What is in it: everything an AIP carries (site, registries, e-people, groups, communities,
collections, items with bundles, bitstreams, checksums and policies) and the entities
(``entity_types``, ``relationship_types``, ``relationships`` between the items dumped, the
``pending_relationships`` a restore is waiting to make; each item's ``uuid`` when its package
carries one and the ``places`` of fields that share places with relationships; with
``virtual``, each item's virtual values).  What is not: database ids, assetstore keys,
in-progress submissions (AIPs never carry them), password hashes (only whether one is set, so
a dump never leaks a secret).
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
    Relationship,
    RelationshipClaim,
    RelationshipType,
    ResourcePolicy,
    handle_sort_key,
)
from aip.repository import auth, handles, objects, registry, relationships
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
        "uuid": item.uuid, "places": {name: list(places) for name, places in item.places},
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
        "entity_type": c.entity_type,
    }


def relationship_dict(r: Relationship) -> dict[str, Any]:
    """One relationship, with the keys ``repo dump --json`` promises."""
    return {
        "left": r.left, "right": r.right, "leftward_type": r.leftward,
        "rightward_type": r.rightward, "left_place": r.left_place,
        "right_place": r.right_place, "leftward_value": r.leftward_value,
        "rightward_value": r.rightward_value, "left_entity_type": r.left_type,
        "right_entity_type": r.right_type, "latest_version_status": r.latest.name,
    }


def relationship_type_dict(t: RelationshipType) -> dict[str, Any]:
    return {
        "left_type": t.left_type, "right_type": t.right_type, "leftward_type": t.leftward,
        "rightward_type": t.rightward, "left_min_cardinality": t.left_min,
        "left_max_cardinality": t.left_max, "right_min_cardinality": t.right_min,
        "right_max_cardinality": t.right_max, "copy_to_left": t.copy_to_left,
        "copy_to_right": t.copy_to_right, "tilted": t.tilted.name,
    }


def pending_dict(handle: str, c: RelationshipClaim) -> dict[str, Any]:
    key = c.type_key
    return {
        "item": handle, "name": c.name, "other_handle": c.other_handle,
        "other_uuid": c.other_uuid, "own_place": c.own_place, "other_place": c.other_place,
        "type": list(key) if key is not None else None,
        "side": c.side.name if c.side is not None else None,
        "leftward_value": c.leftward_value, "rightward_value": c.rightward_value,
        "label": c.label,
    }


def _relationship_key(d: dict[str, Any]) -> tuple[Any, ...]:
    return (handle_sort_key(d["left"]), d["leftward_type"], d["left_entity_type"],
            d["right_entity_type"], d["left_place"], handle_sort_key(d["right"]))


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


def dump(tx: Tx, handle: str | None = None, *, virtual: bool = False) -> dict[str, Any]:
    """The repository (or the subtree at ``handle``) as a canonical dict.

    ``relationships`` lists those with at least one item in the dump; ``virtual`` adds each
    item's virtual values (field, value, place, ``virtual::`` authority), in field order.
    """
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
    models = [objects.item_model(tx, i) for i in items]
    dicts = [item_dict(m) for m in models]
    if virtual:
        rank = objects.field_rank(tx)
        found = relationships.item_virtual(tx, items)
        for i, d in zip(items, dicts, strict=True):
            d["virtual"] = [
                {"field": v.field, "value": v.value, "place": v.place,
                 "authority": v.as_metadata().authority}
                for v in sorted(found[i], key=lambda v: (rank.get(v.field, -1), v.place))]
    out["items"] = sorted(dicts, key=lambda d: handle_sort_key(d["handle"]))
    out["entity_types"] = sorted(relationships.entity_types(tx))
    out["relationship_types"] = sorted(
        (relationship_type_dict(t) for _, t in relationships.relationship_types(tx)),
        key=lambda d: (d["left_type"], d["right_type"], d["leftward_type"],
                       d["rightward_type"]))
    rows = relationships.rows_of(tx, items)
    out["relationships"] = sorted((relationship_dict(r) for r in relationships.models(tx, rows)),
                                  key=_relationship_key)
    out["pending_relationships"] = sorted(
        (pending_dict(m.handle, c) for m in models for c in m.pending),
        key=lambda d: (handle_sort_key(d["item"]), d["name"], d["own_place"] or 0,
                       d["other_handle"] or "", d["other_uuid"] or ""))
    return out


def to_json(data: dict[str, Any]) -> str:
    """Canonical JSON text: sorted keys, two-space indent, UTF-8 characters kept, newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
