"""Configurable Entities in the store: entity and relationship types, relationships, places.

Owns: the ``entity_type``, ``relationship_type``, ``relationship`` and ``relationship_pending``
tables; loading types as ``dspace initialize-entities`` does; the virtual-metadata
configuration a repository uses (``repository_info`` key ``virtual_metadata``, the shipped
default when unset); making and removing relationships with DSpace's rules (entity types,
max cardinalities, places shared with plain values); the repository side of virtual metadata
(``RepoGraph``); and loading relationships as ``aip.model`` values.  Every function works
inside a caller's ``Tx``; none commits.  Must not import ``objects`` (which imports this
module: deleting an item detaches its relationships here).

Rules (DSpace 7.6 ``dspace-api/src/main/java/org/dspace/content/RelationshipServiceImpl.java``:
``isRelationshipValidToCreate``, ``updatePlaceInRelationship``, ``resolveRelationshipPlace``,
``getNextPlace``, ``shiftSiblings``, ``copyMetadataValues``; ``app/util/InitializeEntities``):

* Both items' entity types must be the type's left/right types; only max cardinalities are
  checked, counting the item's relationships of that type on that side (a relationship whose
  item on that side is not the latest version is exempt).
* Places are kept per item, type and side.  The siblings of a relationship on one side are
  the other relationships of its type on that item's side and, when the virtual-metadata
  mapping of the name seen from that side has a ``useForPlace`` bean, the item's plain values
  of the mapping's fields.  Place -1 appends (after the highest sibling place); a given place
  inserts, moving the siblings at or after it one up; removing moves the ones after it one
  down.  Siblings move only where the other item is the latest version.
* A restore is exact: ``make(..., exact=True)`` writes the places it is given and moves
  nothing; ``detach_item(..., shift=False)`` likewise.
* ``initialize-entities`` creates missing entity types, creates each type not found by its
  four-tuple and updates the copy flags, tilt and cardinalities of one that is; it never
  deletes.  aipsync also adds the ``relation.<name>`` fields of every name it loads.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import sqlalchemy as sa

from aip import constants as C
from aip.entities import config as vconfig
from aip.entities.types import parse_relationship_types
from aip.entities.virtual import Link, Stored, VirtualValue, merged, virtual_values
from aip.errors import NotFoundError, RelationshipError
from aip.model import (
    LatestVersionStatus,
    MetadataValue,
    Relationship,
    RelationshipClaim,
    RelationshipType,
    Side,
    Tilted,
    entity_type_of,
)
from aip.repository import registry
from aip.repository import tables as T
from aip.repository.store import Tx, pk

_CONFIG_KEY = "virtual_metadata"


# =============================================================================================
# Defaults shipped with aipsync
# =============================================================================================
def default_types_file() -> bytes:
    """The shipped ``relationship-types.xml`` (DSpace 7.6's ten default types)."""
    return resources.files("aip.entities").joinpath("relationship-types.xml").read_bytes()


@functools.lru_cache(maxsize=1)
def default_virtual_config() -> vconfig.VirtualConfig:
    """The shipped virtual-metadata mappings (those of DSpace 7.6.7)."""
    data = resources.files("aip.entities").joinpath(vconfig.DEFAULT_FILE).read_bytes()
    return vconfig.parse_virtual_metadata(data, vconfig.DEFAULT_FILE)


def default_types() -> tuple[RelationshipType, ...]:
    return parse_relationship_types(default_types_file(), "relationship-types.xml (default)")


# =============================================================================================
# Entity types and relationship types
# =============================================================================================
def entity_types(tx: Tx) -> dict[str, int]:
    """Entity type label -> id (cached per transaction)."""
    cached = tx.cache.get("entity_types")
    if cached is None:
        cached = {r.label: r.id for r in tx.execute(sa.select(T.entity_type))}
        tx.cache["entity_types"] = cached
    result: dict[str, int] = cached
    return result


def ensure_entity_type(tx: Tx, label: str) -> int:
    """The id of an entity type, created when missing."""
    found = entity_types(tx).get(label)
    if found is not None:
        return found
    new_id = pk(tx.execute(sa.insert(T.entity_type).values(label=label)))
    tx.cache.pop("entity_types", None)
    return new_id


def relationship_types(tx: Tx) -> list[tuple[int, RelationshipType]]:
    """Every relationship type with its id, in id order (cached per transaction)."""
    cached = tx.cache.get("relationship_types")
    if cached is None:
        labels = {v: k for k, v in entity_types(tx).items()}
        rt = T.relationship_type
        cached = [(r.id, RelationshipType(
            left_type=labels[r.left_type_id], right_type=labels[r.right_type_id],
            leftward=r.leftward_type, rightward=r.rightward_type,
            left_min=r.left_min_cardinality, left_max=r.left_max_cardinality,
            right_min=r.right_min_cardinality, right_max=r.right_max_cardinality,
            copy_to_left=bool(r.copy_to_left), copy_to_right=bool(r.copy_to_right),
            tilted=Tilted(r.tilted or 0)))
            for r in tx.execute(sa.select(rt).order_by(rt.c.id))]
        tx.cache["relationship_types"] = cached
    result: list[tuple[int, RelationshipType]] = cached
    return result


def types_by_id(tx: Tx) -> dict[int, RelationshipType]:
    return dict(relationship_types(tx))


def type_id(tx: Tx, key: tuple[str, str, str, str]) -> int | None:
    """The id of the type with this four-tuple, if the repository has it."""
    return next((tid for tid, t in relationship_types(tx) if t.key == key), None)


def has_entities(tx: Tx) -> bool:
    """Whether the repository has any relationship type (``initialize-entities`` ran)."""
    return bool(relationship_types(tx))


def _types_changed(tx: Tx) -> None:
    for key in ("entity_types", "relationship_types"):
        tx.cache.pop(key, None)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading a types file did."""

    entity_types: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def load_types(tx: Tx, types: Iterable[RelationshipType]) -> LoadResult:
    """``initialize-entities``: create or update each type; never delete (see the module
    docstring).  Adds the ``relation.<name>`` fields of every name when the ``relation``
    schema exists."""
    made_labels = created = updated = unchanged = 0
    rt = T.relationship_type
    for rtype in types:
        for label in (rtype.left_type, rtype.right_type):
            if label not in entity_types(tx):
                ensure_entity_type(tx, label)
                made_labels += 1
        values = dict(left_min_cardinality=rtype.left_min, left_max_cardinality=rtype.left_max,
                      right_min_cardinality=rtype.right_min,
                      right_max_cardinality=rtype.right_max, copy_to_left=rtype.copy_to_left,
                      copy_to_right=rtype.copy_to_right, tilted=int(rtype.tilted))
        existing = type_id(tx, rtype.key)
        if existing is None:
            labels = entity_types(tx)
            tx.execute(sa.insert(rt).values(
                left_type_id=labels[rtype.left_type], right_type_id=labels[rtype.right_type],
                leftward_type=rtype.leftward, rightward_type=rtype.rightward, **values))
            created += 1
        elif types_by_id(tx)[existing] != rtype:
            tx.execute(sa.update(rt).where(rt.c.id == existing).values(**values))
            updated += 1
        else:
            unchanged += 1
        _types_changed(tx)
        if registry.schema_id(tx, C.RELATION_SCHEMA) is not None:
            for name in (rtype.leftward, rtype.rightward):
                for fld in registry.relation_fields(name):
                    registry.create_field(tx, fld)
    return LoadResult(made_labels, created, updated, unchanged)


def virtual_config(tx: Tx) -> vconfig.VirtualConfig:
    """The repository's virtual-metadata configuration (the shipped default when unset)."""
    cached = tx.cache.get("virtual_config")
    if cached is None:
        text = tx.scalar(sa.select(T.repository_info.c.value)
                         .where(T.repository_info.c.key == _CONFIG_KEY))
        cached = default_virtual_config() if text is None else vconfig.from_json(text)
        tx.cache["virtual_config"] = cached
    result: vconfig.VirtualConfig = cached
    return result


def set_virtual_config(tx: Tx, config: vconfig.VirtualConfig) -> None:
    info = T.repository_info
    tx.execute(sa.delete(info).where(info.c.key == _CONFIG_KEY))
    tx.execute(sa.insert(info).values(key=_CONFIG_KEY, value=vconfig.to_json(config)))
    tx.cache["virtual_config"] = config


# =============================================================================================
# Items: entity types, UUIDs, stored values with places
# =============================================================================================
def _entity_field_id(tx: Tx) -> int | None:
    """The id of ``dspace.entity.type`` (``None`` before ``initialize-entities``)."""
    schema, element, qualifier = C.ENTITY_TYPE_FIELD
    return registry.field_ids(tx).get((schema, element, qualifier))


def item_entity_types(tx: Tx, ids: Sequence[int]) -> dict[int, str | None]:
    """Each item's entity type (first ``dspace.entity.type`` value, any language)."""
    fid = _entity_field_id(tx)
    out: dict[int, str | None] = {i: None for i in ids}
    if fid is None:
        return out
    mv = T.metadata_value
    rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for rid, place, value in tx.execute(
                sa.select(mv.c.resource_id, mv.c.place, mv.c.value)
                .where(mv.c.resource_type == C.TYPE_ITEM, mv.c.resource_id.in_(chunk),
                       mv.c.field_id == fid)):
            rows[rid].append((place, value))
    for rid, values in rows.items():
        first = min(values)[1]
        out[rid] = first.strip() or None
    return out


def item_entity_type(tx: Tx, iid: int) -> str | None:
    return item_entity_types(tx, [iid])[iid]


def collection_entity_type(tx: Tx, coll_id: int) -> str | None:
    fid = _entity_field_id(tx)
    if fid is None:
        return None
    mv = T.metadata_value
    value = tx.scalar(sa.select(mv.c.value).where(
        mv.c.resource_type == C.TYPE_COLLECTION, mv.c.resource_id == coll_id,
        mv.c.field_id == fid).order_by(mv.c.place).limit(1))
    return (str(value).strip() or None) if value is not None else None


def set_collection_entity_type(tx: Tx, coll_id: int, label: str | None) -> None:
    """Set (``None``: remove) a collection's ``dspace.entity.type``."""
    fid = _entity_field_id(tx)
    if fid is None:
        if label is None:
            return
        raise RelationshipError("the repository has no dspace.entity.type field: run "
                                "'aipsync repo initialize-entities' first")
    mv = T.metadata_value
    tx.execute(sa.delete(mv).where(mv.c.resource_type == C.TYPE_COLLECTION,
                                   mv.c.resource_id == coll_id, mv.c.field_id == fid))
    if label is not None:
        tx.execute(sa.insert(mv).values(resource_type=C.TYPE_COLLECTION, resource_id=coll_id,
                                        field_id=fid, value=label, place=0))


def require_entity_type(tx: Tx, label: str) -> str:
    """``label`` if the registry has that entity type, else ``RelationshipError``."""
    if label not in entity_types(tx):
        known = ", ".join(sorted(entity_types(tx))) or "none: run 'aipsync repo " \
            "initialize-entities' first"
        raise RelationshipError(f"unknown entity type {label!r} (known: {known})")
    return label


def item_uuids(tx: Tx, ids: Sequence[int]) -> dict[int, str]:
    """Each item's UUID (one is given to an item that has none yet)."""
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for iid, value in tx.execute(sa.select(T.item.c.id, T.item.c.uuid)
                                     .where(T.item.c.id.in_(chunk))):
            out[iid] = value
    for iid in ids:
        if out.get(iid) is None:
            out[iid] = tx.uuids()
            tx.execute(sa.update(T.item).where(T.item.c.id == iid).values(uuid=out[iid]))
    return out


def items_by_uuid(tx: Tx, values: Iterable[str]) -> dict[str, int]:
    """Lower-case UUID -> item id, of those of ``values`` some item has."""
    wanted = sorted({v.lower() for v in values})
    out: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        for iid, value in tx.execute(sa.select(T.item.c.id, T.item.c.uuid)
                                     .where(T.item.c.uuid.in_(wanted[start:start + 500]))):
            out[value] = iid
    return out


def item_by_uuid(tx: Tx, value: str) -> int | None:
    found = tx.scalar(sa.select(T.item.c.id).where(T.item.c.uuid == value.lower()))
    return int(found) if found is not None else None


def _field_id_of(tx: Tx, name: str) -> int | None:
    schema, element, qualifier = registry.parse_field_name(name)
    return registry.field_ids(tx).get((schema, element, qualifier or ""))


def plain_places(tx: Tx, iid: int, field_ids: Sequence[int]) -> list[tuple[int, int]]:
    """(value row id, place) of the item's stored values of these fields."""
    if not field_ids:
        return []
    mv = T.metadata_value
    return [(r.id, r.place) for r in tx.execute(
        sa.select(mv.c.id, mv.c.place).where(mv.c.resource_type == C.TYPE_ITEM,
                                             mv.c.resource_id == iid,
                                             mv.c.field_id.in_(list(field_ids))))]


def shared_places(tx: Tx, iid: int) -> dict[str, set[int]]:
    """Field name -> the places the item's relationships hold among its values of that field
    (the fields of ``useForPlace`` mappings of the names the item sees them by)."""
    config = virtual_config(tx)
    types = types_by_id(tx)
    taken: dict[str, set[int]] = defaultdict(set)
    r = T.relationship
    for row in tx.execute(sa.select(r).where(sa.or_(r.c.left_id == iid, r.c.right_id == iid))):
        rtype = types[row.type_id]
        if row.left_id == iid:
            for field_name in config.place_fields(rtype.leftward):
                taken[field_name].add(row.left_place)
        if row.right_id == iid:
            for field_name in config.place_fields(rtype.rightward):
                taken[field_name].add(row.right_place)
    return dict(taken)


def reserved_places(tx: Tx, iid: int, field_name: str) -> set[int]:
    """Places of ``field_name`` on the item taken by relationships (``useForPlace``)."""
    return shared_places(tx, iid).get(field_name, set())


def free_places(taken: set[int], count: int) -> list[int]:
    """The ``count`` lowest places not in ``taken``, in order.  Pure."""
    out: list[int] = []
    place = 0
    while len(out) < count:
        if place not in taken:
            out.append(place)
        place += 1
    return out


def fit_plain_values(tx: Tx, iid: int) -> None:
    """Move an item's plain values of fields it shares with relationships to the places the
    relationships leave free, keeping their order (a restore from a package that says where
    the relationships sit but not where the plain values do)."""
    mv = T.metadata_value
    for field_name, taken in sorted(shared_places(tx, iid).items()):
        fid = _field_id_of(tx, field_name)
        if fid is None:
            continue
        rows = sorted(plain_places(tx, iid, [fid]), key=lambda vp: vp[1])
        for (value_id, _), place in zip(rows, free_places(taken, len(rows)), strict=True):
            tx.execute(sa.update(mv).where(mv.c.id == value_id).values(place=place))


# =============================================================================================
# Relationships
# =============================================================================================
def _rows_of_type_on_side(tx: Tx, iid: int, tid: int, left: bool) -> list[sa.Row[Any]]:
    r = T.relationship
    side = r.c.left_id if left else r.c.right_id
    return list(tx.execute(sa.select(r).where(side == iid, r.c.type_id == tid)
                           .order_by(r.c.id)))


def _other_side_latest(left: bool, status: int) -> bool:
    """``RelationshipVersioningUtils.otherSideIsLatest``: on the left side the right item is
    the latest version unless LEFT_ONLY, and the other way round."""
    if left:
        return status != LatestVersionStatus.LEFT_ONLY
    return status != LatestVersionStatus.RIGHT_ONLY


def _sibling_fields(tx: Tx, rtype: RelationshipType, left: bool) -> list[int]:
    name = rtype.leftward if left else rtype.rightward
    out = []
    for field in virtual_config(tx).place_fields(name):
        fid = _field_id_of(tx, field)
        if fid is not None:
            out.append(fid)
    return out


def next_place(tx: Tx, iid: int, tid: int, rtype: RelationshipType, left: bool,
               exclude: int | None = None) -> int:
    """The place a relationship appended on this side would get (``getNextPlace``)."""
    places = [row.left_place if left else row.right_place
              for row in _rows_of_type_on_side(tx, iid, tid, left) if row.id != exclude]
    places += [p for _, p in plain_places(tx, iid, _sibling_fields(tx, rtype, left))]
    return max(places) + 1 if places else 0


def _shift(tx: Tx, iid: int, tid: int, rtype: RelationshipType, left: bool, *, at: int,
           delta: int, exclude: int | None) -> None:
    """Move the siblings at (insert, ``delta`` +1) or after (remove, -1) place ``at``."""
    r, mv = T.relationship, T.metadata_value
    place_col = r.c.left_place if left else r.c.right_place
    for row in _rows_of_type_on_side(tx, iid, tid, left):
        place = row.left_place if left else row.right_place
        if row.id == exclude or not _other_side_latest(left, row.latest_version_status):
            continue
        if (delta > 0 and place >= at) or (delta < 0 and place > at):
            tx.execute(sa.update(r).where(r.c.id == row.id).values({place_col: place + delta}))
    for value_id, place in plain_places(tx, iid, _sibling_fields(tx, rtype, left)):
        if (delta > 0 and place >= at) or (delta < 0 and place > at):
            tx.execute(sa.update(mv).where(mv.c.id == value_id).values(place=place + delta))


def find_type(tx: Tx, name: str, left_label: str | None, right_label: str | None
              ) -> tuple[int, RelationshipType]:
    """The type with leftward name ``name`` from ``left_label`` to ``right_label``.

    Raises:
        RelationshipError: no such type (the message names the name and both entity types,
            and the right order when ``name`` is a rightward name of the reversed pair).
    """
    for tid, rtype in relationship_types(tx):
        if (rtype.leftward, rtype.left_type, rtype.right_type) == (name, left_label,
                                                                    right_label):
            return tid, rtype
    hint = ""
    for _, rtype in relationship_types(tx):
        if (rtype.rightward, rtype.left_type, rtype.right_type) == (name, right_label,
                                                                     left_label):
            hint = (f"; {name!r} is the rightward name of {rtype.describe()}: give the "
                    f"{rtype.left_type} first and --type {rtype.leftward}")
    raise RelationshipError(f"no relationship type {name!r} from {left_label or '(none)'} "
                            f"to {right_label or '(none)'}{hint}")


def _check_entity(found: str | None, handle: str, wanted: str, side: str,
                  rtype: RelationshipType) -> None:
    if found != wanted:
        raise RelationshipError(
            f"item {handle} is {'an item without entity type' if found is None else found!r}"
            f", but the {side} item of {rtype.describe()} must be a {wanted}")


def _check_max(tx: Tx, iid: int, handle: str, tid: int, rtype: RelationshipType,
               left: bool) -> None:
    limit = rtype.left_max if left else rtype.right_max
    if limit is None:
        return
    count = len(_rows_of_type_on_side(tx, iid, tid, left))
    if count >= limit:
        side = "left" if left else "right"
        raise RelationshipError(
            f"item {handle} has {count} {rtype.describe()} relationship(s) on the {side} "
            f"side already; the type's {side} max cardinality is {limit}")


def make(tx: Tx, *, left_id: int, right_id: int, tid: int, left_place: int = -1,
         right_place: int = -1, leftward_value: str | None = None,
         rightward_value: str | None = None,
         latest: LatestVersionStatus = LatestVersionStatus.BOTH, exact: bool = False,
         rel_id: int | None = None, handles: tuple[str, str] = ("", ""),
         labels: tuple[str | None, str | None] | None = None, known_new: bool = False) -> int:
    """Make one relationship; returns its id.

    ``exact``: the places are written as given and no sibling moves (a restore); else -1
    appends and a given place inserts (checked to be within 0..next place).  ``rel_id``: the
    id to use when it is free (a restore keeps the exporting repository's numbers).
    ``handles``: the items' handles, for messages.  ``labels``: the items' entity types,
    when the caller has them; ``known_new``: the caller knows the pair is not related by this
    type yet (a restore looks both up in bulk).

    Raises:
        RelationshipError: an item of the wrong entity type, a max cardinality that would be
            exceeded, a place out of range, the same relationship twice.
    """
    rtype = types_by_id(tx)[tid]
    left_handle, right_handle = handles
    found = labels if labels is not None else (item_entity_type(tx, left_id),
                                                item_entity_type(tx, right_id))
    _check_entity(found[0], left_handle, rtype.left_type, "left", rtype)
    _check_entity(found[1], right_handle, rtype.right_type, "right", rtype)
    r = T.relationship
    if not known_new and find(tx, left_id, right_id, tid) is not None:
        raise RelationshipError(f"{left_handle} and {right_handle} are related by "
                                f"{rtype.describe()} already")
    if latest != LatestVersionStatus.LEFT_ONLY:
        _check_max(tx, left_id, left_handle, tid, rtype, True)
    if latest != LatestVersionStatus.RIGHT_ONLY:
        _check_max(tx, right_id, right_handle, tid, rtype, False)
    places = []
    for iid, wanted, left in ((left_id, left_place, True), (right_id, right_place, False)):
        if exact:
            places.append(wanted)
            continue
        nxt = next_place(tx, iid, tid, rtype, left)
        if wanted == -1:
            places.append(nxt)
            continue
        if not 0 <= wanted <= nxt:
            side = "left" if left else "right"
            raise RelationshipError(
                f"--{side}-place {wanted} is out of range for {handles[0 if left else 1]}: "
                f"0 to {nxt} (or -1 to append)")
        if _other_side_latest(left, latest):
            _shift(tx, iid, tid, rtype, left, at=wanted, delta=1, exclude=None)
        places.append(wanted)
    values = dict(left_id=left_id, right_id=right_id, type_id=tid, left_place=places[0],
                  right_place=places[1], leftward_value=leftward_value,
                  rightward_value=rightward_value, latest_version_status=int(latest))
    if rel_id is not None and tx.scalar(sa.select(r.c.id).where(r.c.id == rel_id)) is None:
        values["id"] = rel_id
        tx.execute(sa.insert(r).values(**values))
        tx.sync_sequences(r)
        return rel_id
    return pk(tx.execute(sa.insert(r).values(**values)))


def set_variant(tx: Tx, rel_id: int, *, rightward: bool, value: str | None) -> None:
    """Set one name variant of a relationship (``rightward``: the right item's, as the left
    item shows it; else the left item's)."""
    r = T.relationship
    column = "rightward_value" if rightward else "leftward_value"
    tx.execute(sa.update(r).where(r.c.id == rel_id).values({column: value}))


def find(tx: Tx, left_id: int, right_id: int, tid: int) -> int | None:
    r = T.relationship
    found = tx.scalar(sa.select(r.c.id).where(r.c.left_id == left_id,
                                              r.c.right_id == right_id, r.c.type_id == tid))
    return int(found) if found is not None else None


def remove(tx: Tx, rel_id: int, *, shift: bool = True, copy_to_left: bool = False,
           copy_to_right: bool = False) -> None:
    """Remove one relationship; its siblings move down unless ``shift`` is off.

    ``copy_to_left``/``copy_to_right``: first write that item's virtual values of this
    relationship as plain values (no authority): those of a field the relationship shares
    places with take its place, the others go after the field's values
    (``copyMetadataValues``).
    """
    r = T.relationship
    row = tx.execute(sa.select(r).where(r.c.id == rel_id)).first()
    if row is None:
        raise NotFoundError(what="relationship", key=str(rel_id))
    rtype = types_by_id(tx)[row.type_id]
    copied: dict[bool, set[int]] = {True: set(), False: set()}
    for left, wanted in ((True, copy_to_left), (False, copy_to_right)):
        if wanted:
            copied[left] = _copy_virtual(tx, row, rtype, left)
    tx.execute(sa.delete(r).where(r.c.id == rel_id))
    if not shift:
        return
    for left in (True, False):
        if not _other_side_latest(left, row.latest_version_status):
            continue
        iid = row.left_id if left else row.right_id
        place = row.left_place if left else row.right_place
        if copied[left]:
            continue  # the copy took the relationship's place: nothing moves
        _shift(tx, iid, row.type_id, rtype, left, at=place, delta=-1, exclude=rel_id)


def _copy_virtual(tx: Tx, row: sa.Row[Any], rtype: RelationshipType, left: bool) -> set[int]:
    """Write one side's virtual values of a relationship as plain values; returns the field
    ids that took the relationship's place."""
    iid = row.left_id if left else row.right_id
    name = rtype.leftward if left else rtype.rightward
    place_fields = set(virtual_config(tx).place_fields(name))
    graph = RepoGraph(tx)
    values = [v for v in virtual_values(graph, virtual_config(tx), iid)
              if v.relationship_id == row.id and v.place >= 0]
    mv = T.metadata_value
    took: set[int] = set()
    for v in values:
        fid = _field_id_of(tx, v.field)
        if fid is None:
            continue
        if v.field in place_fields:
            place = v.place
            took.add(fid)
        else:
            top = tx.scalar(sa.select(sa.func.max(mv.c.place)).where(
                mv.c.resource_type == C.TYPE_ITEM, mv.c.resource_id == iid,
                mv.c.field_id == fid))
            place = int(top) + 1 if top is not None else 0
        tx.execute(sa.insert(mv).values(resource_type=C.TYPE_ITEM, resource_id=iid,
                                        field_id=fid, value=v.value, language=None,
                                        authority=None, confidence=-1, place=place))
    return took


def detach_item(tx: Tx, iid: int, *, shift: bool = True) -> None:
    """Remove every relationship of an item (DSpace's item delete: nothing copied; the other
    items' siblings move down unless ``shift`` is off) and its pending relationships."""
    r = T.relationship
    for rel_id in list(tx.execute(sa.select(r.c.id).where(
            sa.or_(r.c.left_id == iid, r.c.right_id == iid))).scalars()):
        remove(tx, rel_id, shift=shift)
    tx.execute(sa.delete(T.relationship_pending)
               .where(T.relationship_pending.c.item_id == iid))


# =============================================================================================
# Pending relationships (a restore met one item before the other)
# =============================================================================================
def add_pending(tx: Tx, iid: int, claim: RelationshipClaim) -> None:
    key = claim.type_key or (None, None, None, None)
    tx.execute(sa.insert(T.relationship_pending).values(
        item_id=iid, name=claim.name, other_handle=claim.other_handle,
        other_uuid=claim.other_uuid.lower() if claim.other_uuid else None,
        own_place=claim.own_place, other_place=claim.other_place, left_type=key[0],
        right_type=key[1], leftward_type=key[2], rightward_type=key[3],
        side=None if claim.side is None else int(claim.side),
        leftward_value=claim.leftward_value, rightward_value=claim.rightward_value,
        variants_known=claim.variants_known, label=claim.label,
        latest_version_status=int(claim.latest), source_id=claim.source_id))


def _claim(row: sa.Row[Any]) -> RelationshipClaim:
    key = None
    if row.left_type is not None:
        key = (row.left_type, row.right_type, row.leftward_type, row.rightward_type)
    return RelationshipClaim(
        name=row.name, other_handle=row.other_handle, other_uuid=row.other_uuid,
        own_place=row.own_place, type_key=key,
        side=None if row.side is None else Side(row.side), other_place=row.other_place,
        leftward_value=row.leftward_value, rightward_value=row.rightward_value,
        variants_known=bool(row.variants_known), label=row.label,
        latest=LatestVersionStatus(row.latest_version_status), source_id=row.source_id)


def has_pending(tx: Tx) -> bool:
    """Whether any relationship is waiting for its other item."""
    return tx.scalar(sa.select(T.relationship_pending.c.id).limit(1)) is not None


def pending_of(tx: Tx, ids: Sequence[int]) -> dict[int, tuple[RelationshipClaim, ...]]:
    """The pending relationships of these items, in the order they were recorded."""
    p = T.relationship_pending
    out: dict[int, list[RelationshipClaim]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for row in tx.execute(sa.select(p).where(p.c.item_id.in_(chunk)).order_by(p.c.id)):
            out[row.item_id].append(_claim(row))
    return {i: tuple(out.get(i, ())) for i in ids}


def pending_naming(tx: Tx, handles: Sequence[str], uuids: Sequence[str]
                   ) -> list[tuple[int, int, RelationshipClaim]]:
    """(row id, item id, claim) of pending relationships whose other item is one of these."""
    p = T.relationship_pending
    out: dict[int, tuple[int, int, RelationshipClaim]] = {}
    for column, wanted in ((p.c.other_handle, list(handles)),
                           (p.c.other_uuid, [u.lower() for u in uuids])):
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for row in tx.execute(sa.select(p).where(column.in_(chunk))):
                out[row.id] = (row.id, row.item_id, _claim(row))
    return [out[k] for k in sorted(out)]


def drop_pending(tx: Tx, row_ids: Sequence[int]) -> None:
    if row_ids:
        tx.execute(sa.delete(T.relationship_pending)
                   .where(T.relationship_pending.c.id.in_(list(row_ids))))


# =============================================================================================
# Relationships as model values
# =============================================================================================
def item_facts(tx: Tx, ids: Iterable[int]) -> dict[int, tuple[str | None, str | None, bool]]:
    """id -> (handle, uuid, withdrawn)."""
    wanted = list(dict.fromkeys(ids))
    out: dict[int, tuple[str | None, str | None, bool]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for row in tx.execute(sa.select(T.item.c.id, T.item.c.handle, T.item.c.uuid,
                                        T.item.c.withdrawn).where(T.item.c.id.in_(chunk))):
            out[row.id] = (row.handle, row.uuid, bool(row.withdrawn))
    return out


def rows_of(tx: Tx, ids: Sequence[int]) -> list[sa.Row[Any]]:
    """Every relationship row with one of these items on either side, by id."""
    r = T.relationship
    found: dict[int, sa.Row[Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for row in tx.execute(sa.select(r).where(sa.or_(r.c.left_id.in_(chunk),
                                                        r.c.right_id.in_(chunk)))):
            found[row.id] = row
    return [found[k] for k in sorted(found)]


def models(tx: Tx, rows: Sequence[sa.Row[Any]]) -> list[Relationship]:
    """Relationship rows as model values (only those whose items both have handles)."""
    if not rows:
        return []
    types = types_by_id(tx)
    facts = item_facts(tx, [x for row in rows for x in (row.left_id, row.right_id)])
    out = []
    for row in rows:
        left, right = facts.get(row.left_id), facts.get(row.right_id)
        if left is None or right is None or left[0] is None or right[0] is None:
            continue
        rtype = types[row.type_id]
        out.append(Relationship(
            left_type=rtype.left_type, right_type=rtype.right_type, leftward=rtype.leftward,
            rightward=rtype.rightward, left=left[0], right=right[0],
            left_place=row.left_place, right_place=row.right_place,
            leftward_value=row.leftward_value, rightward_value=row.rightward_value,
            latest=LatestVersionStatus(row.latest_version_status), id=row.id,
            left_uuid=left[1], right_uuid=right[1], tilted=rtype.tilted,
            left_withdrawn=left[2], right_withdrawn=right[2]))
    return out


def for_items(tx: Tx, ids: Sequence[int]) -> dict[int, tuple[Relationship, ...]]:
    """Each item's relationships (either side), ordered by leftward name, then the item's
    place, then id (``RelationshipServiceImpl.findByItem``)."""
    out: dict[int, list[tuple[tuple[str, int, int], Relationship]]] = defaultdict(list)
    if not has_entities(tx):
        return {i: () for i in ids}
    rows = rows_of(tx, ids)
    wanted = set(ids)
    by_id = {m.id: m for m in models(tx, rows)}
    for row in rows:
        model = by_id.get(row.id)
        if model is None:
            continue
        for iid, place in ((row.left_id, row.left_place), (row.right_id, row.right_place)):
            if iid in wanted:
                out[iid].append(((model.leftward, place, row.id), model))
    return {i: tuple(m for _, m in sorted(out.get(i, ()), key=lambda e: e[0]))
            for i in ids}


# =============================================================================================
# Virtual metadata on read
# =============================================================================================
class RepoGraph:
    """``aip.entities.virtual.Graph`` over the store, keyed by item id, with caches."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self._types = relationship_types(tx)
        self._labels = entity_types(tx)
        self._fields = registry.field_names(tx)
        self._field_names = {_name(k): fid for fid, k in self._fields.items()}
        self._stored: dict[int, dict[str, list[tuple[int, MetadataValue]]]] = {}
        self._links: dict[int, list[Link[int]]] = {}
        self._uuids: dict[int, str] = {}

    def load(self, ids: Sequence[int]) -> None:
        """Fetch many items' values and relationships at once (optional: all is lazy)."""
        missing = [i for i in ids if i not in self._stored]
        if not missing:
            return
        mv = T.metadata_value
        got: dict[int, dict[str, list[tuple[int, MetadataValue]]]] = {
            i: defaultdict(list) for i in missing}
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for row in tx_rows(self.tx, mv, chunk):
                schema, element, qualifier = self._fields[row.field_id]
                value = MetadataValue(schema, element, qualifier, row.value, row.language,
                                      row.authority, row.confidence)
                got[row.resource_id][value.field].append((row.place, value))
        for iid, fields in got.items():
            for values in fields.values():
                values.sort(key=lambda pv: pv[0])
            self._stored[iid] = fields
        types = dict(self._types)
        order = {tid: n for n, (tid, _) in enumerate(self._types)}
        for iid in missing:
            self._links.setdefault(iid, [])
        for row in rows_of(self.tx, missing):
            link = Link(id=row.id, type=types[row.type_id], type_order=order[row.type_id],
                        left=row.left_id, right=row.right_id, left_place=row.left_place,
                        right_place=row.right_place, leftward_value=row.leftward_value,
                        rightward_value=row.rightward_value,
                        latest=LatestVersionStatus(row.latest_version_status))
            for iid in {row.left_id, row.right_id}:
                if iid in self._links and (iid in missing or link not in self._links[iid]):
                    self._links[iid].append(link)

    def _item(self, iid: int) -> dict[str, list[tuple[int, MetadataValue]]]:
        if iid not in self._stored:
            self.load([iid])
        return self._stored[iid]

    def entity_type(self, item: int) -> str | None:
        values = [v for _, v in self._item(item).get(".".join(C.ENTITY_TYPE_FIELD), [])]
        return entity_type_of(values)

    def is_entity_type(self, label: str) -> bool:
        return label in self._labels

    def stored(self, item: int, field: str) -> Sequence[MetadataValue]:
        return [v for _, v in self._item(item).get(field, [])]

    def stored_places(self, item: int) -> list[tuple[MetadataValue, int]]:
        return [(v, p) for values in self._item(item).values() for p, v in values]

    def uuid(self, item: int) -> str:
        if item not in self._uuids:
            self._uuids.update(item_uuids(self.tx, [item]))
        return self._uuids[item]

    def links(self, item: int) -> Sequence[Link[int]]:
        if item not in self._links:
            self.load([item])
        return self._links[item]

    def types_of(self, label: str) -> Sequence[tuple[int, RelationshipType]]:
        return [(n, t) for n, (_, t) in enumerate(self._types)
                if label in (t.left_type, t.right_type)]

    def has_field(self, field: str) -> bool:
        return field in self._field_names


def _name(key: tuple[str, str, str | None]) -> str:
    schema, element, qualifier = key
    return f"{schema}.{element}.{qualifier}" if qualifier else f"{schema}.{element}"


def tx_rows(tx: Tx, mv: sa.Table, chunk: Sequence[int]) -> Iterable[sa.Row[Any]]:
    return tx.execute(sa.select(mv.c.resource_id, mv.c.field_id, mv.c.place, mv.c.value,
                                mv.c.language, mv.c.authority, mv.c.confidence)
                      .where(mv.c.resource_type == C.TYPE_ITEM,
                             mv.c.resource_id.in_(list(chunk))))


def item_virtual(tx: Tx, ids: Sequence[int], graph: RepoGraph | None = None
                 ) -> dict[int, list[VirtualValue]]:
    """Each item's virtual values (``aip.entities.virtual.virtual_values``)."""
    graph = graph or RepoGraph(tx)
    graph.load(list(ids))
    config = virtual_config(tx)
    return {i: virtual_values(graph, config, i) for i in ids}


def merged_metadata(tx: Tx, ids: Sequence[int], rank: Mapping[str, int]
                    ) -> dict[int, tuple[MetadataValue, ...]]:
    """Each item's stored and virtual values in DSpace's ``getMetadata`` order (what DSpace
    7+ writes into an item's DIM); ``rank`` orders fields (``objects.field_rank``)."""
    graph = RepoGraph(tx)
    virtual = item_virtual(tx, ids, graph)
    out = {}
    for iid in ids:
        stored = [Stored(v, p) for v, p in graph.stored_places(iid)]
        out[iid] = tuple(merged(stored, virtual[iid], lambda f: rank.get(f, len(rank))))
    return out
