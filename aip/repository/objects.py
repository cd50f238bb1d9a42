"""Content objects in the store: site, communities, collections, items, bundles, bitstreams.

Owns: creating, changing, loading (as ``aip.model`` values) and deleting content objects and
their metadata, logos, templates, mappings, role groups and harvesting settings.  Every
function works inside a caller's ``Tx``; none commits.  Handles come from ``handles``,
policies and groups from ``auth``, fields and formats from ``registry``, an item's
relationships and the places they hold from ``relationships``.

Ordering rules (they decide AIP bytes, so they are fixed here): metadata by field name then
place; children by lower-cased title then handle; a collection's items by handle;
policies, bundles and bitstreams in their stored position.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, BinaryIO

import sqlalchemy as sa

from aip import constants as C
from aip.errors import InvalidValueError, MissingParentError, NotFoundError
from aip.model import (
    Action,
    Bitstream,
    Bundle,
    Collection,
    Community,
    Group,
    HandleList,
    HarvestSettings,
    Item,
    MetadataValue,
    ResourcePolicy,
    Site,
    entity_type_of,
    handle_sort_key,
    site_handle,
)
from aip.repository import auth, handles, registry, relationships
from aip.repository import tables as T
from aip.repository.assetstore import StoredFile
from aip.repository.store import AnyRow, Tx, pk

CONTAINER_FIELDS: dict[str, tuple[tuple[str, str | None], ...]] = {
    C.TYPE_COMMUNITY: C.COMMUNITY_FIELDS,
    C.TYPE_COLLECTION: C.COLLECTION_FIELDS,
}
ROLE_COLUMNS: dict[str, str] = {
    C.ROLE_ADMIN: "admin_group_id",
    C.ROLE_SUBMIT: "submit_group_id",
    C.ROLE_WORKFLOW_1: "workflow_step_1_group_id",
    C.ROLE_WORKFLOW_2: "workflow_step_2_group_id",
    C.ROLE_WORKFLOW_3: "workflow_step_3_group_id",
}


def _naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


# =============================================================================================
# Site
# =============================================================================================
def init_site(tx: Tx, prefix: str, name: str, url: str) -> str:
    if not C.HANDLE_RE.match(f"{prefix}/0"):
        raise InvalidValueError(f"bad handle prefix {prefix!r}")
    tx.execute(sa.insert(T.site).values(id=1, handle_prefix=prefix, name=name, url=url))
    tx.cache["handle_prefix"] = prefix
    handle = site_handle(prefix)
    handles.bind(tx, handle, C.TYPE_SITE, 1)
    return handle


def site_row(tx: Tx) -> AnyRow:
    row = tx.execute(sa.select(T.site).where(T.site.c.id == 1)).first()
    if row is None:
        raise NotFoundError(what="site", key="1")
    return row


def update_site(tx: Tx, *, name: str | None = None, url: str | None = None) -> None:
    values = {k: v for k, v in (("name", name), ("url", url)) if v is not None}
    if values:
        tx.execute(sa.update(T.site).where(T.site.c.id == 1).values(**values))


def site_model(tx: Tx) -> Site:
    row = site_row(tx)
    tops = tx.execute(sa.select(T.community.c.id).where(T.community.c.parent_id.is_(None))
                      ).scalars().all()
    return Site(handle=site_handle(row.handle_prefix), name=row.name, url=row.url,
                communities=tuple(_sorted_children(tx, C.TYPE_COMMUNITY, tops)))


# =============================================================================================
# Metadata (any object)
# =============================================================================================
def metadata(tx: Tx, resource_type: str, resource_id: int) -> tuple[MetadataValue, ...]:
    """All values of an object, ordered by field name then place."""
    return metadata_bulk(tx, resource_type, [resource_id])[resource_id]


def metadata_bulk(tx: Tx, resource_type: str, ids: Sequence[int]
                  ) -> dict[int, tuple[MetadataValue, ...]]:
    return {k: tuple(v for _, _, v in vals)
            for k, vals in _metadata_rows(tx, resource_type, ids).items()}


def _metadata_rows(tx: Tx, resource_type: str, ids: Sequence[int]
                   ) -> dict[int, list[tuple[int, int, MetadataValue]]]:
    """Each object's (field rank, place, value), in value order."""
    names = registry.field_names(tx)
    rank = _field_ranks(names)
    mv = T.metadata_value
    out: dict[int, list[tuple[int, int, MetadataValue]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for rid, fid, place, value, language, authority, confidence in tx.execute(
                sa.select(mv.c.resource_id, mv.c.field_id, mv.c.place, mv.c.value,
                          mv.c.language, mv.c.authority, mv.c.confidence)
                .where(mv.c.resource_type == resource_type,
                       mv.c.resource_id.in_(chunk))).all():
            schema, element, qualifier = names[fid]
            out[rid].append((rank[fid], place, MetadataValue(
                schema, element, qualifier, value, language, authority, confidence)))
    for vals in out.values():
        vals.sort(key=itemgetter(0, 1))
    return out


def field_rank(tx: Tx) -> dict[str, int]:
    """Field name -> its position in the order values are listed (schema, element,
    qualifier), for merging virtual values in (``aip.entities.virtual.merged``)."""
    names = registry.field_names(tx)
    return {_joined(names[fid]): r for fid, r in _field_ranks(names).items()}


def _joined(key: tuple[str, str, str | None]) -> str:
    schema, element, qualifier = key
    return f"{schema}.{element}.{qualifier}" if qualifier else f"{schema}.{element}"


def gapped_places(rows: Sequence[tuple[int, int, MetadataValue]]
                  ) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``Item.places``: for each field whose values are not at places 0, 1, 2..., the
    places of its values in order (rows as ``_metadata_rows`` gives them).  Pure."""
    by_field: dict[str, list[int]] = {}
    for _, place, value in rows:
        by_field.setdefault(value.field, []).append(place)
    return tuple((name, tuple(places)) for name, places in by_field.items()
                 if places != list(range(len(places))))


def _field_ranks(names: dict[int, tuple[str, str, str | None]]) -> dict[int, int]:
    """Each field id's position in (schema, element, qualifier) order: values sort by it."""
    order = sorted(names, key=lambda fid: (names[fid][0], names[fid][1], names[fid][2] or ""))
    return {fid: position for position, fid in enumerate(order)}


def set_metadata(tx: Tx, resource_type: str, resource_id: int,
                 values: Iterable[MetadataValue], *, create_fields: bool = False) -> None:
    """Replace every metadata value of an object with ``values`` (places in given order)."""
    clear_metadata(tx, resource_type, resource_id)
    add_metadata(tx, resource_type, resource_id, values, create_fields=create_fields)


def clear_metadata(tx: Tx, resource_type: str, resource_id: int,
                   field_ids: Sequence[int] | None = None) -> None:
    mv = T.metadata_value
    stmt = sa.delete(mv).where(mv.c.resource_type == resource_type,
                               mv.c.resource_id == resource_id)
    if field_ids is not None:
        stmt = stmt.where(mv.c.field_id.in_(list(field_ids)))
    tx.execute(stmt)


_LAST_PLACES = (sa.select(T.metadata_value.c.field_id, sa.func.max(T.metadata_value.c.place))
                .where(T.metadata_value.c.resource_type == sa.bindparam("rtype"),
                       T.metadata_value.c.resource_id == sa.bindparam("rid"))
                .group_by(T.metadata_value.c.field_id))


def add_metadata(tx: Tx, resource_type: str, resource_id: int,
                 values: Iterable[MetadataValue], *, create_fields: bool = False,
                 fresh: bool = False) -> None:
    """Append values after the existing ones of each field.

    ``fresh``: the object has no values yet (created in this transaction): no look-up.
    """
    rows = []
    values = list(values)
    if not values:
        return
    next_place: dict[int, int] = {} if fresh else {
        fid: int(top) + 1 for fid, top in tx.execute(
            _LAST_PLACES, {"rtype": resource_type, "rid": resource_id})}
    for value in values:
        fid = registry.field_id(tx, value.schema, value.element, value.qualifier,
                                create=create_fields)
        next_place.setdefault(fid, 0)
        rows.append(dict(resource_type=resource_type, resource_id=resource_id, field_id=fid,
                         value=value.value, language=value.language,
                         authority=value.authority, confidence=int(value.confidence),
                         place=next_place[fid]))
        next_place[fid] += 1
    if rows:
        tx.insert_rows(T.metadata_value, rows)


def set_places(tx: Tx, resource_type: str, resource_id: int,
               places: Iterable[tuple[str, Sequence[int]]]) -> None:
    """Give an object's values of each named field these places, in value order (a restore:
    ``Item.places``).

    Raises:
        InvalidValueError: a field has another number of values, or a place twice.
    """
    mv = T.metadata_value
    for field_name, wanted in places:
        schema, element, qualifier = registry.parse_field_name(field_name)
        fid = registry.field_ids(tx).get((schema, element, qualifier or ""))
        rows = [] if fid is None else list(tx.execute(
            sa.select(mv.c.id).where(mv.c.resource_type == resource_type,
                                     mv.c.resource_id == resource_id, mv.c.field_id == fid)
            .order_by(mv.c.place)).scalars())
        if len(rows) != len(wanted) or len(set(wanted)) != len(wanted):
            raise InvalidValueError(
                f"places {list(wanted)} of {field_name} do not fit its {len(rows)} value(s)")
        for value_id, place in zip(rows, wanted, strict=True):
            tx.execute(sa.update(mv).where(mv.c.id == value_id).values(place=place))


def replace_field(tx: Tx, resource_type: str, resource_id: int, field_name: str,
                  values: Sequence[MetadataValue]) -> None:
    """Replace every value of one field (``repo set-metadata``).

    On an item, places its relationships hold in that field (``useForPlace``) stay theirs:
    the new values take the free places, in order.
    """
    schema, element, qualifier = registry.parse_field_name(field_name)
    fid = registry.field_id(tx, schema, element, qualifier)
    clear_metadata(tx, resource_type, resource_id, [fid])
    taken = (relationships.reserved_places(tx, resource_id, field_name)
             if resource_type == C.TYPE_ITEM else set())
    if not taken:
        add_metadata(tx, resource_type, resource_id, values)
        return
    rows = [dict(resource_type=resource_type, resource_id=resource_id, field_id=fid,
                 value=value.value, language=value.language, authority=value.authority,
                 confidence=int(value.confidence), place=place)
            for value, place in zip(values, relationships.free_places(taken, len(values)),
                                    strict=True)]
    if rows:
        tx.insert_rows(T.metadata_value, rows)


def first_value(values: Iterable[MetadataValue], element: str,
                qualifier: str | None = None, schema: str = "dc") -> str | None:
    for v in values:
        if v.schema == schema and v.element == element and v.qualifier == qualifier:
            return v.value
    return None


def container_values(obj_type: str, values: Iterable[MetadataValue]
                     ) -> tuple[MetadataValue, ...]:
    """Only the container fields an AIP carries, one value each, never identifier.uri."""
    allowed = [f for f in CONTAINER_FIELDS[obj_type] if f != ("identifier", "uri")]
    out = []
    seen: set[tuple[str, str | None]] = set()
    for v in values:
        key = (v.element, v.qualifier)
        if v.schema == "dc" and key in allowed and key not in seen and v.value != "":
            seen.add(key)
            out.append(v)
    return tuple(out)


def check_container_field(obj_type: str, field_name: str) -> None:
    schema, element, qualifier = registry.parse_field_name(field_name)
    allowed = [f for f in CONTAINER_FIELDS[obj_type] if f != ("identifier", "uri")]
    if schema != "dc" or (element, qualifier) not in allowed:
        names = ", ".join("dc." + e + (f".{q}" if q else "") for e, q in allowed)
        raise InvalidValueError(
            f"a {obj_type.lower()} has only these fields: {names} (got {field_name})")


def title_of(tx: Tx, resource_type: str, resource_id: int) -> str:
    mv, mf, ms = T.metadata_value, T.metadata_field, T.metadata_schema
    value = tx.scalar(
        sa.select(mv.c.value).join(mf, mf.c.id == mv.c.field_id)
        .join(ms, ms.c.id == mf.c.schema_id)
        .where(mv.c.resource_type == resource_type, mv.c.resource_id == resource_id,
               ms.c.prefix == "dc", mf.c.element == "title", mf.c.qualifier == "")
        .order_by(mv.c.place).limit(1))
    return str(value) if value is not None else ""


def _sorted_children(tx: Tx, obj_type: str, ids: Iterable[int]) -> list[str]:
    """Handles of containers sorted by lower-cased title, ties by handle (DSpace order)."""
    table = T.community if obj_type == C.TYPE_COMMUNITY else T.collection
    ids = list(ids)
    if not ids:
        return []
    rows = tx.execute(sa.select(table.c.id, table.c.handle).where(table.c.id.in_(ids))).all()
    keyed = [((title_of(tx, obj_type, r.id).lower(), handle_sort_key(r.handle)), r.handle)
             for r in rows if r.handle]
    return [h for _, h in sorted(keyed)]


# =============================================================================================
# Bitstreams and logos
# =============================================================================================
def store_bitstream(tx: Tx, src: BinaryIO, *, name: str | None, bundle_id: int | None,
                    sequence_id: int, position: int, format_id: int,
                    source: str | None = None, description: str | None = None,
                    user_format_description: str | None = None) -> int:
    """Stream bytes into the assetstore and add the bitstream row; returns its id."""
    stored = tx.assetstore.write(src, tx.journal)
    return insert_bitstream(tx, stored, name=name, bundle_id=bundle_id,
                            sequence_id=sequence_id, position=position, format_id=format_id,
                            source=source, description=description,
                            user_format_description=user_format_description)


def insert_bitstream(tx: Tx, stored: StoredFile, *, name: str | None, bundle_id: int | None,
                     sequence_id: int, position: int, format_id: int,
                     source: str | None = None, description: str | None = None,
                     user_format_description: str | None = None) -> int:
    """Add the row of a bitstream whose bytes are already in the assetstore."""
    return pk(tx.execute(_INSERT_BITSTREAM, dict(
        bundle_id=bundle_id, position=position, sequence_id=sequence_id, name=name,
        source=source, description=description,
        user_format_description=user_format_description, format_id=format_id,
        size=stored.size, md5=stored.md5, sha256=stored.sha256,
        store_key=stored.key)))


@dataclass(frozen=True, slots=True)
class NewBitstream:
    """The row of a bitstream whose bytes are already in the assetstore (``stored``)."""

    stored: StoredFile
    name: str | None
    bundle_id: int
    sequence_id: int
    position: int
    format_id: int
    source: str | None = None
    description: str | None = None
    user_format_description: str | None = None


def insert_bitstreams(tx: Tx, rows: Sequence[NewBitstream]) -> list[int]:
    """Add the rows of bitstreams in one statement; their ids, in the order given."""
    return tx.insert_ids(T.bitstream, [dict(
        bundle_id=r.bundle_id, position=r.position, sequence_id=r.sequence_id, name=r.name,
        source=r.source, description=r.description,
        user_format_description=r.user_format_description, format_id=r.format_id,
        size=r.stored.size, md5=r.stored.md5, sha256=r.stored.sha256,
        store_key=r.stored.key) for r in rows])


def bitstream_row(tx: Tx, bitstream_id: int) -> AnyRow:
    row = tx.execute(sa.select(T.bitstream).where(T.bitstream.c.id == bitstream_id)).first()
    if row is None:
        raise NotFoundError(what="bitstream", key=str(bitstream_id))
    return row


def _bitstream_model(tx: Tx, row: AnyRow, policies: tuple[ResourcePolicy, ...]
                     ) -> Bitstream:
    fmt = registry.formats_by_id(tx)[row.format_id]
    return Bitstream(
        sequence_id=row.sequence_id, name=row.name, size=row.size, md5=row.md5,
        format=fmt, source=row.source, description=row.description,
        user_format_description=row.user_format_description, sha256=row.sha256,
        policies=policies, key=row.store_key)


def delete_bitstreams(tx: Tx, ids: Sequence[int]) -> None:
    """Remove bitstream rows and their policies; files go when the transaction commits."""
    if not ids:
        return
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        keys = tx.execute(sa.select(T.bitstream.c.store_key)
                          .where(T.bitstream.c.id.in_(chunk))).scalars().all()
        tx.delete_on_commit.extend(keys)
        rp = T.resource_policy
        tx.execute(sa.delete(rp).where(rp.c.resource_type == C.TYPE_BITSTREAM,
                                       rp.c.resource_id.in_(chunk)))
        tx.execute(sa.update(T.community).where(T.community.c.logo_id.in_(chunk))
                   .values(logo_id=None))
        tx.execute(sa.update(T.collection).where(T.collection.c.logo_id.in_(chunk))
                   .values(logo_id=None))
        tx.execute(sa.delete(T.bitstream).where(T.bitstream.c.id.in_(chunk)))


def set_logo(tx: Tx, obj_type: str, obj_id: int, src: BinaryIO | None,
             name: str | None = None, format_id: int | None = None) -> None:
    """Replace (or with ``src=None`` remove) a community's or collection's logo."""
    table = T.community if obj_type == C.TYPE_COMMUNITY else T.collection
    old = tx.scalar(sa.select(table.c.logo_id).where(table.c.id == obj_id))
    if old is not None:
        delete_bitstreams(tx, [old])
    if src is None:
        return
    fid = format_id if format_id is not None else registry.guess_format_id(tx, name)
    attach_logo(tx, obj_type, obj_id, tx.assetstore.write(src, tx.journal), fid, name)


def attach_logo(tx: Tx, obj_type: str, obj_id: int, stored: StoredFile, format_id: int,
                name: str | None = None) -> None:
    """Make stored bytes the logo of a community or collection (the old one removed)."""
    table = T.community if obj_type == C.TYPE_COMMUNITY else T.collection
    old = tx.scalar(sa.select(table.c.logo_id).where(table.c.id == obj_id))
    if old is not None:
        delete_bitstreams(tx, [old])
    new_id = insert_bitstream(tx, stored, name=name, bundle_id=None, sequence_id=-1,
                              position=0, format_id=format_id)
    tx.execute(sa.update(table).where(table.c.id == obj_id).values(logo_id=new_id))


def logo_model(tx: Tx, logo_id: int | None) -> Bitstream | None:
    if logo_id is None:
        return None
    return _bitstream_model(tx, bitstream_row(tx, logo_id), ())


# =============================================================================================
# Communities
# =============================================================================================
def community_id(tx: Tx, handle: str) -> int:
    return handles.require(tx, handle, C.TYPE_COMMUNITY)[1]


def create_community(tx: Tx, *, parent_id: int | None, handle: str | None = None,
                     metadata_values: Iterable[MetadataValue] = ()) -> tuple[int, str]:
    """Add a community (top-level when ``parent_id`` is None); returns (id, handle)."""
    if parent_id is not None and tx.scalar(
            sa.select(sa.func.count()).select_from(T.community)
            .where(T.community.c.id == parent_id)) == 0:
        raise MissingParentError(parent=str(parent_id), what="community", key=handle or "new")
    new_id = pk(tx.execute(sa.insert(T.community).values(parent_id=parent_id))
                 )
    if handle is None:
        handle = handles.mint(tx, C.TYPE_COMMUNITY, new_id)
    else:
        handles.bind(tx, handle, C.TYPE_COMMUNITY, new_id)
    tx.execute(sa.update(T.community).where(T.community.c.id == new_id).values(handle=handle))
    add_metadata(tx, C.TYPE_COMMUNITY, new_id,
                 container_values(C.TYPE_COMMUNITY, metadata_values))
    return new_id, handle


def community_model(tx: Tx, cid: int) -> Community:
    row = tx.execute(sa.select(T.community).where(T.community.c.id == cid)).first()
    if row is None:
        raise NotFoundError(what="community", key=str(cid))
    parent = None
    if row.parent_id is not None:
        parent = handles.handle_of(tx, C.TYPE_COMMUNITY, row.parent_id)
    subs = tx.execute(sa.select(T.community.c.id).where(T.community.c.parent_id == cid)
                      ).scalars().all()
    colls = tx.execute(sa.select(T.community_collection.c.collection_id)
                       .where(T.community_collection.c.community_id == cid)).scalars().all()
    roles: tuple[tuple[str, str], ...] = ()
    if row.admin_group_id is not None:
        roles = ((C.ROLE_ADMIN, auth.export_group_name(
            tx, auth.group_names(tx)[row.admin_group_id])),)
    return Community(
        handle=row.handle, parent=parent,
        metadata=container_values(C.TYPE_COMMUNITY, metadata(tx, C.TYPE_COMMUNITY, cid)),
        logo=logo_model(tx, row.logo_id), roles=roles,
        policies=auth.policies(tx, C.TYPE_COMMUNITY, cid),
        subcommunities=tuple(_sorted_children(tx, C.TYPE_COMMUNITY, subs)),
        collections=tuple(_sorted_children(tx, C.TYPE_COLLECTION, colls)))


def community_groups(tx: Tx, cid: int) -> list[Group]:
    """The groups a COMMUNITY AIP defines: admin group, then ``COMMUNITY_<id>_*`` groups."""
    row = tx.execute(sa.select(T.community.c.admin_group_id).where(T.community.c.id == cid)
                     ).first()
    ids: list[int] = []
    if row is not None and row.admin_group_id is not None:
        ids.append(row.admin_group_id)
    prefix = f"{C.TYPE_COMMUNITY}_{cid}_"
    for gid, name in sorted(auth.group_names(tx).items(), key=lambda kv: kv[1]):
        if name.startswith(prefix) and gid not in ids:
            ids.append(gid)
    groups = [auth.group_model(tx, gid) for gid in ids]
    if row is not None and row.admin_group_id is not None:
        groups[0] = _with_role(groups[0], C.ROLE_ADMIN)
    return groups


def _with_role(group: Group, role: str) -> Group:
    return Group(name=group.name, id=group.id, members=group.members,
                      member_groups=group.member_groups, role=role)


# =============================================================================================
# Collections
# =============================================================================================
def collection_id(tx: Tx, handle: str) -> int:
    return handles.require(tx, handle, C.TYPE_COLLECTION)[1]


def create_collection(tx: Tx, *, parent_ids: Sequence[int], handle: str | None = None,
                      metadata_values: Iterable[MetadataValue] = ()) -> tuple[int, str]:
    """Add a collection under one or more communities; returns (id, handle)."""
    if not parent_ids:
        raise MissingParentError(parent="(none)", what="collection", key=handle or "new")
    for pid in parent_ids:
        if tx.scalar(sa.select(sa.func.count()).select_from(T.community)
                     .where(T.community.c.id == pid)) == 0:
            raise MissingParentError(parent=str(pid), what="collection", key=handle or "new")
    new_id = pk(tx.execute(sa.insert(T.collection).values()))
    if handle is None:
        handle = handles.mint(tx, C.TYPE_COLLECTION, new_id)
    else:
        handles.bind(tx, handle, C.TYPE_COLLECTION, new_id)
    tx.execute(sa.update(T.collection).where(T.collection.c.id == new_id)
               .values(handle=handle))
    for pid in parent_ids:
        tx.execute(sa.insert(T.community_collection).values(community_id=pid,
                                                            collection_id=new_id))
    add_metadata(tx, C.TYPE_COLLECTION, new_id,
                 container_values(C.TYPE_COLLECTION, metadata_values))
    return new_id, handle


def collection_parents(tx: Tx, coll_id: int) -> list[str]:
    """Parent community handles, sorted by title (the first is the AIP's parent)."""
    ids = tx.execute(sa.select(T.community_collection.c.community_id)
                     .where(T.community_collection.c.collection_id == coll_id)).scalars().all()
    return _sorted_children(tx, C.TYPE_COMMUNITY, ids)


def ensure_role_group(tx: Tx, obj_type: str, obj_id: int, role: str) -> int:
    """The role group of a collection (or community admin group), created if missing."""
    table = T.collection if obj_type == C.TYPE_COLLECTION else T.community
    column = ROLE_COLUMNS[role]
    if obj_type == C.TYPE_COMMUNITY and role != C.ROLE_ADMIN:
        raise InvalidValueError(f"a community has no {role} group")
    current = tx.scalar(sa.select(table.c[column]).where(table.c.id == obj_id))
    if current is not None:
        return int(current)
    name = auth.role_group_name(obj_type, obj_id, role)
    gid = auth.group_id_by_name(tx, name)
    if gid is None:
        gid = auth.create_group(tx, name)
    tx.execute(sa.update(table).where(table.c.id == obj_id).values({column: gid}))
    return gid


def set_role_group(tx: Tx, obj_type: str, obj_id: int, role: str, group_id: int | None
                   ) -> None:
    table = T.collection if obj_type == C.TYPE_COLLECTION else T.community
    tx.execute(sa.update(table).where(table.c.id == obj_id)
               .values({ROLE_COLUMNS[role]: group_id}))


def collection_roles(tx: Tx, coll_id: int) -> list[tuple[str, int]]:
    row = tx.execute(sa.select(T.collection).where(T.collection.c.id == coll_id)).first()
    if row is None:
        return []
    return [(role, getattr(row, col)) for role, col in ROLE_COLUMNS.items()
            if getattr(row, col) is not None]


def collection_groups(tx: Tx, coll_id: int) -> list[Group]:
    """The groups a COLLECTION AIP defines: role groups, then ``COLLECTION_<id>_*`` groups."""
    roles = collection_roles(tx, coll_id)
    groups = [_with_role(auth.group_model(tx, gid), role) for role, gid in roles]
    seen = {gid for _, gid in roles}
    prefix = f"{C.TYPE_COLLECTION}_{coll_id}_"
    for gid, name in sorted(auth.group_names(tx).items(), key=lambda kv: kv[1]):
        if name.startswith(prefix) and gid not in seen:
            groups.append(auth.group_model(tx, gid))
    return groups


def set_template(tx: Tx, coll_id: int, values: Sequence[MetadataValue] | None, *,
                 create_fields: bool = False) -> None:
    """Set (or with ``None`` remove) a collection's item template metadata."""
    current = tx.scalar(sa.select(T.collection.c.template_item_id)
                        .where(T.collection.c.id == coll_id))
    if values is None:
        if current is not None:
            clear_metadata(tx, C.TYPE_ITEM, current)
            tx.execute(sa.delete(T.item).where(T.item.c.id == current))
            tx.execute(sa.update(T.collection).where(T.collection.c.id == coll_id)
                       .values(template_item_id=None))
        return
    if current is None:
        current = pk(tx.execute(sa.insert(T.item).values(
            is_template=True, in_archive=False, last_modified=_naive(tx.now),
            uuid=tx.uuids())))
        tx.execute(sa.update(T.collection).where(T.collection.c.id == coll_id)
                   .values(template_item_id=current))
    set_metadata(tx, C.TYPE_ITEM, current, values, create_fields=create_fields)


def set_harvest(tx: Tx, coll_id: int, settings: HarvestSettings | None) -> None:
    tx.execute(sa.delete(T.harvest).where(T.harvest.c.collection_id == coll_id))
    if settings is not None:
        tx.execute(sa.insert(T.harvest).values(
            collection_id=coll_id, harvest_type=settings.harvest_type,
            oai_source=settings.oai_source, oai_set_id=settings.oai_set_id,
            metadata_config_id=settings.metadata_config_id,
            harvest_status=settings.harvest_status))


def collection_items(tx: Tx, coll_id: int) -> HandleList:
    """Handles of archived member items (owned and mapped, withdrawn included), by handle."""
    return collection_item_ids(tx, coll_id)


def collection_item_ids(tx: Tx, coll_id: int, *, modified_after: dt.datetime | None = None
                        ) -> HandleList:
    """Archived member items, in handle order (``HandleList``: iterate it for the handles,
    ``with_ids()`` for (id, handle)); with ``modified_after`` (naive UTC) only those
    modified after it.  The rows are read as a stream into the compact list: a collection
    of 300,000 items costs a few MB, not the rows and tuples of all of them."""
    ci = T.collection_item
    query = (sa.select(T.item.c.id, T.item.c.handle)
             .join(ci, ci.c.item_id == T.item.c.id)
             .where(ci.c.collection_id == coll_id, T.item.c.handle.is_not(None),
                    sa.or_(T.item.c.in_archive, T.item.c.withdrawn)))
    if modified_after is not None:
        query = query.where(T.item.c.last_modified > modified_after)
    return HandleList((int(r[0]), str(r[1])) for r in tx.execute(query))


def count_archived_items(tx: Tx) -> int:
    """How many items a site export writes: archived or withdrawn, with a handle, in a
    collection (an item in none is in no package's tree)."""
    ci = T.collection_item
    return int(tx.scalar(
        sa.select(sa.func.count(sa.distinct(T.item.c.id)))
        .join(ci, ci.c.item_id == T.item.c.id)
        .where(T.item.c.handle.is_not(None),
               sa.or_(T.item.c.in_archive, T.item.c.withdrawn))) or 0)


def collection_model(tx: Tx, coll_id: int) -> Collection:
    row = tx.execute(sa.select(T.collection).where(T.collection.c.id == coll_id)).first()
    if row is None:
        raise NotFoundError(what="collection", key=str(coll_id))
    template = None
    if row.template_item_id is not None:
        template = metadata(tx, C.TYPE_ITEM, row.template_item_id)
    harvest_row = tx.execute(sa.select(T.harvest).where(T.harvest.c.collection_id == coll_id)
                             ).first()
    harvest = None
    if harvest_row is not None:
        harvest = HarvestSettings(
            harvest_type=harvest_row.harvest_type, oai_source=harvest_row.oai_source,
            oai_set_id=harvest_row.oai_set_id,
            metadata_config_id=harvest_row.metadata_config_id,
            harvest_status=harvest_row.harvest_status)
    names = auth.group_names(tx)
    roles = tuple((role, auth.export_group_name(tx, names[gid]))
                  for role, gid in collection_roles(tx, coll_id))
    return Collection(
        handle=row.handle, parents=tuple(collection_parents(tx, coll_id)),
        metadata=container_values(C.TYPE_COLLECTION,
                                  metadata(tx, C.TYPE_COLLECTION, coll_id)),
        logo=logo_model(tx, row.logo_id), template=template, roles=roles, harvest=harvest,
        policies=auth.policies(tx, C.TYPE_COLLECTION, coll_id),
        items=collection_items(tx, coll_id),
        entity_type=relationships.collection_entity_type(tx, coll_id))


def collection_handles(tx: Tx) -> dict[int, str]:
    cached = tx.cache.get("collection_handles")
    if cached is None:
        cached = {cid: handle for cid, handle in tx.execute(
            sa.select(T.collection.c.id, T.collection.c.handle))}
        tx.cache["collection_handles"] = cached
    result: dict[int, str] = cached
    return result


# =============================================================================================
# Items
# =============================================================================================
def item_id(tx: Tx, handle: str) -> int:
    return handles.require(tx, handle, C.TYPE_ITEM)[1]


def create_item(tx: Tx, *, collection_id: int, submitter_id: int | None,
                handle: str | None = None, mint_handle: bool = True, in_archive: bool = True,
                withdrawn: bool = False, discoverable: bool = True,
                last_modified: dt.datetime | None = None,
                uuid: str | None = None) -> tuple[int, str | None]:
    """Add an item owned by a collection; returns (id, handle or None for submissions).

    ``uuid``: the item's UUID (a restore keeps DSpace's); a new one when not given.
    """
    # A given handle is checked before the row is written, which then carries it.
    assigned = handles.claim(tx, handle) if handle is not None else None
    new_id = pk(tx.execute(_INSERT_ITEM, dict(
        owning_collection_id=collection_id, submitter_id=submitter_id, in_archive=in_archive,
        withdrawn=withdrawn, discoverable=discoverable, handle=handle,
        last_modified=_naive(last_modified or tx.now), uuid=uuid or tx.uuids())))
    if handle is not None:
        handles.bind(tx, handle, C.TYPE_ITEM, new_id, assigned=assigned)
    elif mint_handle:
        handle = handles.mint(tx, C.TYPE_ITEM, new_id)
        tx.execute(sa.update(T.item).where(T.item.c.id == new_id).values(handle=handle))
    tx.insert_rows(T.collection_item, [{"collection_id": collection_id, "item_id": new_id}])
    return new_id, handle


# Built once: a restore runs it for every item.
_INSERT_ITEM = sa.insert(T.item)


def touch_item(tx: Tx, iid: int, when: dt.datetime | None = None) -> None:
    tx.execute(sa.update(T.item).where(T.item.c.id == iid)
               .values(last_modified=_naive(when or tx.now)))


def set_item_flags(tx: Tx, iid: int, **flags: bool) -> None:
    allowed = {"in_archive", "withdrawn", "discoverable"}
    bad = set(flags) - allowed
    if bad:
        raise InvalidValueError(f"unknown item flag {sorted(bad)[0]}")
    tx.execute(sa.update(T.item).where(T.item.c.id == iid).values(**flags))


def map_item(tx: Tx, iid: int, coll_id: int) -> bool:
    """Map an item into a collection; False if it is already there."""
    ci = T.collection_item
    if tx.scalar(sa.select(sa.func.count()).select_from(ci)
                 .where(ci.c.item_id == iid, ci.c.collection_id == coll_id)):
        return False
    tx.execute(sa.insert(ci).values(collection_id=coll_id, item_id=iid))
    return True


_INSERT_BUNDLE = sa.insert(T.bundle)
_INSERT_BITSTREAM = sa.insert(T.bitstream)
_LAST_BUNDLE_POSITION = (sa.select(sa.func.coalesce(sa.func.max(T.bundle.c.position), -1))
                         .where(T.bundle.c.item_id == sa.bindparam("item")))


def create_bundle(tx: Tx, iid: int, name: str, *, position: int | None = None) -> int:
    """Add a bundle at the end of an item's bundles (or at ``position`` when known)."""
    if not name or not name.strip():
        raise InvalidValueError("a bundle needs a name")
    if position is None:
        position = int(tx.scalar_params(_LAST_BUNDLE_POSITION, {"item": iid})) + 1
    return pk(tx.execute(_INSERT_BUNDLE, {"item_id": iid, "name": name,
                                          "position": position}))


def create_bundles(tx: Tx, iid: int, names: Sequence[str]) -> list[int]:
    """An item's bundles at positions 0, 1, ... in the order given (the item has none yet),
    in one statement; their ids in that order."""
    for name in names:
        if not name or not name.strip():
            raise InvalidValueError("a bundle needs a name")
    return tx.insert_ids(T.bundle, [{"item_id": iid, "name": name, "position": position}
                                    for position, name in enumerate(names)])


def bundle_id(tx: Tx, iid: int, name: str, *, create: bool = True) -> int | None:
    found = tx.scalar(sa.select(T.bundle.c.id).where(T.bundle.c.item_id == iid,
                                                     T.bundle.c.name == name)
                      .order_by(T.bundle.c.position).limit(1))
    if found is not None:
        return int(found)
    return create_bundle(tx, iid, name) if create else None


def next_sequence_id(tx: Tx, iid: int) -> int:
    b, bs = T.bundle, T.bitstream
    current = tx.scalar(sa.select(sa.func.max(bs.c.sequence_id))
                        .join(b, b.c.id == bs.c.bundle_id).where(b.c.item_id == iid))
    return int(current or 0) + 1


def add_bitstream(tx: Tx, iid: int, bundle_name: str, src: BinaryIO, *, name: str | None,
                  format_id: int | None = None, source: str | None = None,
                  description: str | None = None, sequence_id: int | None = None,
                  user_format_description: str | None = None) -> int:
    """Add a bitstream at the end of a bundle (created if missing); returns its id."""
    bid = bundle_id(tx, iid, bundle_name)
    assert bid is not None
    position = int(tx.scalar(sa.select(sa.func.coalesce(sa.func.max(T.bitstream.c.position),
                                                        -1))
                             .where(T.bitstream.c.bundle_id == bid))) + 1
    seq = sequence_id if sequence_id is not None else next_sequence_id(tx, iid)
    fid = format_id if format_id is not None else registry.guess_format_id(tx, name)
    return store_bitstream(tx, src, name=name, bundle_id=bid, sequence_id=seq,
                           position=position, format_id=fid, source=source or name,
                           description=description,
                           user_format_description=user_format_description)


_SET_PRIMARY = (sa.update(T.bundle).where(T.bundle.c.id == sa.bindparam("bundle"))
                .values(primary_bitstream_id=sa.bindparam("bitstream")))


def set_primary(tx: Tx, bundle_id_: int, bitstream_id: int | None) -> None:
    tx.execute(_SET_PRIMARY, {"bundle": bundle_id_, "bitstream": bitstream_id})


def remove_bundles(tx: Tx, iid: int) -> None:
    """Delete every bundle and bitstream of an item (force-replace)."""
    bids = tx.execute(sa.select(T.bundle.c.id).where(T.bundle.c.item_id == iid)
                      ).scalars().all()
    if not bids:
        return
    bs_ids = tx.execute(sa.select(T.bitstream.c.id).where(T.bitstream.c.bundle_id.in_(bids))
                        ).scalars().all()
    delete_bitstreams(tx, bs_ids)
    rp = T.resource_policy
    tx.execute(sa.delete(rp).where(rp.c.resource_type == C.TYPE_BUNDLE,
                                   rp.c.resource_id.in_(bids)))
    tx.execute(sa.delete(T.bundle).where(T.bundle.c.id.in_(bids)))


def item_model(tx: Tx, iid: int) -> Item:
    """Load an item with everything its AIP carries."""
    return item_models(tx, [iid])[iid]


def _chunks(ids: Sequence[int], size: int = 500) -> list[list[int]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def item_models(tx: Tx, ids: Sequence[int]) -> dict[int, Item]:
    """Load many items at once (a handful of queries per 500 items, for large exports).

    Raises:
        NotFoundError: an id is not an item (or is a collection's template).
    """
    rows: dict[int, AnyRow] = {}
    for chunk in _chunks(ids):
        for row in tx.execute(sa.select(T.item).where(T.item.c.id.in_(chunk))).all():
            rows[row.id] = row
    for iid in ids:
        if iid not in rows or rows[iid].is_template:
            raise NotFoundError(what="item", key=str(iid))
    chandles = collection_handles(tx)
    mapped: dict[int, list[int]] = defaultdict(list)
    brows: dict[int, list[AnyRow]] = defaultdict(list)
    for chunk in _chunks(ids):
        for link in tx.execute(
                sa.select(T.collection_item.c.item_id, T.collection_item.c.collection_id)
                .where(T.collection_item.c.item_id.in_(chunk))).all():
            mapped[link.item_id].append(link.collection_id)
        for b in tx.execute(sa.select(T.bundle).where(T.bundle.c.item_id.in_(chunk))
                            .order_by(T.bundle.c.item_id, T.bundle.c.position, T.bundle.c.id)
                            ).all():
            brows[b.item_id].append(b)
    bundle_ids = [b.id for rows_ in brows.values() for b in rows_]
    bsrows_by_bundle: dict[int, list[AnyRow]] = defaultdict(list)
    for chunk in _chunks(bundle_ids):
        for bs in tx.execute(sa.select(T.bitstream)
                             .where(T.bitstream.c.bundle_id.in_(chunk))
                             .order_by(T.bitstream.c.bundle_id, T.bitstream.c.position,
                                       T.bitstream.c.id)).all():
            bsrows_by_bundle[bs.bundle_id].append(bs)
    all_bs_ids = [bs.id for rows_ in bsrows_by_bundle.values() for bs in rows_]
    shared: dict[tuple[Any, ...], ResourcePolicy] = {}
    bs_policies = auth.policies_bulk(tx, C.TYPE_BITSTREAM, all_bs_ids, shared)
    bundle_policies = auth.policies_bulk(tx, C.TYPE_BUNDLE, bundle_ids, shared)
    item_policies = auth.policies_bulk(tx, C.TYPE_ITEM, list(ids), shared)
    rows_md = _metadata_rows(tx, C.TYPE_ITEM, list(ids))
    related = relationships.for_items(tx, list(ids))
    pending = (relationships.pending_of(tx, list(ids)) if relationships.has_entities(tx)
               else {})
    out: dict[int, Item] = {}
    for iid in ids:
        row = rows[iid]
        others = sorted((chandles[c] for c in mapped[iid]
                         if c != row.owning_collection_id and c in chandles),
                        key=handle_sort_key)
        bundles = []
        for b in brows[iid]:
            members = bsrows_by_bundle[b.id]
            bitstreams = tuple(_bitstream_model(tx, bs, bs_policies[bs.id]) for bs in members)
            primary_seq = None
            if b.primary_bitstream_id is not None:
                primary_seq = next((bs.sequence_id for bs in members
                                    if bs.id == b.primary_bitstream_id), None)
            bundles.append(Bundle(name=b.name, bitstreams=bitstreams,
                                  primary_sequence_id=primary_seq,
                                  policies=bundle_policies[b.id]))
        owning = chandles.get(row.owning_collection_id) if row.owning_collection_id else None
        values = tuple(v for _, _, v in rows_md[iid])
        waiting = pending.get(iid, ())
        # The UUID travels with items of an entity type and items with relationships (a
        # plain item's package keeps DSpace's <= 7.0 form, and its bytes).
        carried = bool(entity_type_of(values) or related[iid] or waiting)
        out[iid] = Item(
            handle=row.handle, owning_collection=owning or "",
            last_modified=_aware(row.last_modified), metadata=values,
            bundles=tuple(bundles), policies=item_policies[iid],
            mapped_collections=tuple(others),
            submitter=auth.eperson_email(tx, row.submitter_id),
            in_archive=bool(row.in_archive), withdrawn=bool(row.withdrawn),
            discoverable=bool(row.discoverable),
            uuid=(row.uuid or relationships.item_uuids(tx, [iid])[iid]) if carried else None,
            places=gapped_places(rows_md[iid]), relationships=related[iid], pending=waiting)
    return out


def item_row(tx: Tx, iid: int) -> AnyRow:
    row = tx.execute(sa.select(T.item).where(T.item.c.id == iid)).first()
    if row is None:
        raise NotFoundError(what="item", key=str(iid))
    return row


# =============================================================================================
# Deletion
# =============================================================================================
def delete_item(tx: Tx, iid: int) -> None:
    """Delete an item and everything it owns; its handle stays assigned.

    Its relationships go too, the related items' places closing up behind them (DSpace's
    item delete copies nothing)."""
    relationships.detach_item(tx, iid)
    remove_bundles(tx, iid)
    clear_metadata(tx, C.TYPE_ITEM, iid)
    auth.clear_policies(tx, C.TYPE_ITEM, iid)
    handles.release(tx, C.TYPE_ITEM, iid)
    tx.execute(sa.delete(T.workspace_item).where(T.workspace_item.c.item_id == iid))
    tx.execute(sa.delete(T.collection_item).where(T.collection_item.c.item_id == iid))
    tx.execute(sa.delete(T.item).where(T.item.c.id == iid))


def _delete_role_groups(tx: Tx, obj_type: str, obj_id: int) -> None:
    prefix = f"{obj_type}_{obj_id}_"
    for gid, name in list(auth.group_names(tx).items()):
        if name.startswith(prefix):
            tx.execute(sa.delete(T.resource_policy).where(T.resource_policy.c.group_id == gid))
            tx.execute(sa.delete(T.epersongroup).where(T.epersongroup.c.id == gid))
    auth._groups_changed(tx)


def delete_collection(tx: Tx, coll_id: int) -> None:
    """Delete a collection, the items it owns, its logo, template and role groups.

    Items of other collections mapped into it are only unmapped.
    """
    owned = tx.execute(sa.select(T.item.c.id).where(T.item.c.owning_collection_id == coll_id,
                                                    T.item.c.is_template.is_(False))
                       ).scalars().all()
    for iid in owned:
        delete_item(tx, iid)
    tx.execute(sa.delete(T.workspace_item).where(T.workspace_item.c.collection_id == coll_id))
    set_template(tx, coll_id, None)
    set_logo(tx, C.TYPE_COLLECTION, coll_id, None)
    clear_metadata(tx, C.TYPE_COLLECTION, coll_id)
    auth.clear_policies(tx, C.TYPE_COLLECTION, coll_id)
    handles.release(tx, C.TYPE_COLLECTION, coll_id)
    tx.execute(sa.delete(T.collection_item).where(T.collection_item.c.collection_id == coll_id))
    tx.execute(sa.delete(T.community_collection)
               .where(T.community_collection.c.collection_id == coll_id))
    tx.execute(sa.delete(T.harvest).where(T.harvest.c.collection_id == coll_id))
    tx.execute(sa.delete(T.collection).where(T.collection.c.id == coll_id))
    _delete_role_groups(tx, C.TYPE_COLLECTION, coll_id)
    tx.cache.pop("collection_handles", None)


def delete_community(tx: Tx, cid: int) -> None:
    """Delete a community with its sub-communities and the collections only it holds."""
    for sub in tx.execute(sa.select(T.community.c.id).where(T.community.c.parent_id == cid)
                          ).scalars().all():
        delete_community(tx, sub)
    cc = T.community_collection
    for coll in tx.execute(sa.select(cc.c.collection_id).where(cc.c.community_id == cid)
                           ).scalars().all():
        others = tx.scalar(sa.select(sa.func.count()).select_from(cc)
                           .where(cc.c.collection_id == coll, cc.c.community_id != cid))
        if others:
            tx.execute(sa.delete(cc).where(cc.c.collection_id == coll, cc.c.community_id == cid))
        else:
            delete_collection(tx, coll)
    set_logo(tx, C.TYPE_COMMUNITY, cid, None)
    clear_metadata(tx, C.TYPE_COMMUNITY, cid)
    auth.clear_policies(tx, C.TYPE_COMMUNITY, cid)
    handles.release(tx, C.TYPE_COMMUNITY, cid)
    tx.execute(sa.delete(T.community).where(T.community.c.id == cid))
    _delete_role_groups(tx, C.TYPE_COMMUNITY, cid)


def delete_object(tx: Tx, handle: str) -> str:
    """Delete the object a handle names; returns its type."""
    obj_type, obj_id = handles.require(tx, handle, C.TYPE_COMMUNITY, C.TYPE_COLLECTION,
                                       C.TYPE_ITEM)
    {C.TYPE_COMMUNITY: delete_community, C.TYPE_COLLECTION: delete_collection,
     C.TYPE_ITEM: delete_item}[obj_type](tx, obj_id)
    return obj_type


# =============================================================================================
# Submissions (workspace / workflow) and installation
# =============================================================================================
def create_submission(tx: Tx, coll_id: int, submitter_id: int | None, *,
                      stage: str = "workspace", step: int = 0) -> int:
    """An in-progress item (no handle, not archived); AIPs never include it."""
    iid, _ = create_item(tx, collection_id=coll_id, submitter_id=submitter_id,
                         mint_handle=False, in_archive=False)
    tx.execute(sa.insert(T.workspace_item).values(item_id=iid, collection_id=coll_id,
                                                  stage=stage, step=step))
    return iid


def workflow_first_step(tx: Tx, coll_id: int) -> int | None:
    """The first workflow step with a group (1-3), or None if the collection has none."""
    row = tx.execute(sa.select(T.collection).where(T.collection.c.id == coll_id)).first()
    if row is None:
        return None
    for step in (1, 2, 3):
        if getattr(row, f"workflow_step_{step}_group_id") is not None:
            return step
    return None


def apply_default_read_policies(tx: Tx, iid: int, coll_id: int, today: dt.date) -> None:
    """Give an installed item the collection's default read policies where it has none.

    DEFAULT_ITEM_READ policies of the collection become READ on the item;
    DEFAULT_BITSTREAM_READ become READ on its bundles and bitstreams.
    """
    coll_policies = auth.policies(tx, C.TYPE_COLLECTION, coll_id)
    item_reads = [p for p in coll_policies if p.action == Action.DEFAULT_ITEM_READ]
    bs_reads = [p for p in coll_policies if p.action == Action.DEFAULT_BITSTREAM_READ]
    del today
    if not auth.policies(tx, C.TYPE_ITEM, iid):
        for p in item_reads:
            auth.add_policy(tx, C.TYPE_ITEM, iid, _as_read(p))
    bids = tx.execute(sa.select(T.bundle.c.id).where(T.bundle.c.item_id == iid)).scalars().all()
    for bid in bids:
        if not auth.policies(tx, C.TYPE_BUNDLE, bid):
            for p in bs_reads:
                auth.add_policy(tx, C.TYPE_BUNDLE, bid, _as_read(p))
        for bsid in tx.execute(sa.select(T.bitstream.c.id)
                               .where(T.bitstream.c.bundle_id == bid)).scalars().all():
            if not auth.policies(tx, C.TYPE_BITSTREAM, bsid):
                for p in bs_reads:
                    auth.add_policy(tx, C.TYPE_BITSTREAM, bsid, _as_read(p))


def add_default_policies(tx: Tx, obj_type: str, obj_id: int) -> None:
    """The policies DSpace gives a new container: Anonymous may read it, and (collections)
    read the items and files submitted to it."""
    anonymous = C.GROUP_ANONYMOUS
    auth.add_policy(tx, obj_type, obj_id, ResourcePolicy(Action.READ, group=anonymous))
    if obj_type == C.TYPE_COLLECTION:
        for action in (Action.DEFAULT_ITEM_READ, Action.DEFAULT_BITSTREAM_READ):
            auth.add_policy(tx, obj_type, obj_id, ResourcePolicy(action, group=anonymous))


def _as_read(policy: ResourcePolicy) -> ResourcePolicy:
    return ResourcePolicy(action=Action.READ, group=policy.group,
                               eperson=policy.eperson, start_date=policy.start_date,
                               end_date=policy.end_date, policy_type="TYPE_INHERITED")


def install_item(tx: Tx, iid: int, *, handle: str | None = None,
                 provenance: str | None = None) -> str:
    """Archive a submitted item: handle, system metadata, default policies (DSpace install).

    Adds ``dc.date.accessioned``, ``dc.date.available`` (when missing), ``dc.identifier.uri``
    and a provenance line, as DSpace's InstallItem does for a new submission.
    """
    row = item_row(tx, iid)
    if handle is None:
        handle = row.handle or handles.mint(tx, C.TYPE_ITEM, iid)
    elif row.handle != handle:
        handles.bind(tx, handle, C.TYPE_ITEM, iid)
    tx.execute(sa.update(T.item).where(T.item.c.id == iid)
               .values(handle=handle, in_archive=True, last_modified=_naive(tx.now)))
    tx.execute(sa.delete(T.workspace_item).where(T.workspace_item.c.item_id == iid))
    stamp = tx.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    existing = metadata(tx, C.TYPE_ITEM, iid)
    new = [MetadataValue("dc", "date", "accessioned", stamp)]
    if first_value(existing, "date", "available") is None:
        new.append(MetadataValue("dc", "date", "available", stamp))
    new.append(MetadataValue("dc", "identifier", "uri", f"http://hdl.handle.net/{handle}"))
    text = provenance or f"Made available in DSpace on {stamp} (GMT)."
    new.append(MetadataValue("dc", "description", "provenance", text, "en"))
    add_metadata(tx, C.TYPE_ITEM, iid, new)
    if row.owning_collection_id is not None:
        apply_default_read_policies(tx, iid, row.owning_collection_id, tx.now.date())
    return handle


# =============================================================================================
# Withdrawal
# =============================================================================================
def _switch_policy_action(tx: Tx, iid: int, old: Action, new: Action) -> None:
    """Change every ``old`` policy of an item, its bundles and bitstreams to ``new``."""
    rp = T.resource_policy
    bids = tx.execute(sa.select(T.bundle.c.id).where(T.bundle.c.item_id == iid)).scalars().all()
    bsids = tx.execute(sa.select(T.bitstream.c.id).where(T.bitstream.c.bundle_id.in_(bids))
                       ).scalars().all() if bids else []
    for rtype, ids in ((C.TYPE_ITEM, [iid]), (C.TYPE_BUNDLE, bids),
                       (C.TYPE_BITSTREAM, bsids)):
        if ids:
            tx.execute(sa.update(rp).where(rp.c.resource_type == rtype,
                                           rp.c.resource_id.in_(list(ids)),
                                           rp.c.action == int(old)).values(action=int(new)))


def withdraw_item(tx: Tx, iid: int, by: str | None = None) -> None:
    """Withdraw an archived item (DSpace 7: READ policies become WITHDRAWN_READ)."""
    row = item_row(tx, iid)
    if row.withdrawn:
        raise InvalidValueError(f"item {row.handle} is already withdrawn")
    if not row.in_archive:
        raise InvalidValueError(f"item {row.handle} is not in the archive")
    stamp = tx.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    add_metadata(tx, C.TYPE_ITEM, iid, [MetadataValue(
        "dc", "description", "provenance",
        f"Item withdrawn by {by or 'an administrator'} on {stamp} (GMT).", "en")])
    set_item_flags(tx, iid, withdrawn=True, in_archive=False)
    _switch_policy_action(tx, iid, Action.READ, Action.WITHDRAWN_READ)
    touch_item(tx, iid)


def reinstate_item(tx: Tx, iid: int, by: str | None = None) -> None:
    """Reinstate a withdrawn item (WITHDRAWN_READ policies become READ again)."""
    row = item_row(tx, iid)
    if not row.withdrawn:
        raise InvalidValueError(f"item {row.handle} is not withdrawn")
    stamp = tx.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    add_metadata(tx, C.TYPE_ITEM, iid, [MetadataValue(
        "dc", "description", "provenance",
        f"Item reinstated by {by or 'an administrator'} on {stamp} (GMT).", "en")])
    set_item_flags(tx, iid, withdrawn=False, in_archive=True)
    _switch_policy_action(tx, iid, Action.WITHDRAWN_READ, Action.READ)
    touch_item(tx, iid)
