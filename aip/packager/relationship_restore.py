"""Relationships rebuilt by a restore: each made once, exactly, when both items are there.

Owns: collecting what every restored item's package says about its relationships
(``RelationshipClaim``s: aipsync's extension, DSpace PR #3328's ``rels`` structMap, or the
``relation.<name>`` virtual values of a DSpace 7+ DIM), and, at the end of the run, making
them: the other item found by UUID, then by handle (both through the run's translation maps),
the type found by its four-tuple or by the name and both items' entity types, both sides'
claims merged (a relationship is listed by both items' packages: it is made once), places and
name variants as the packages give them (exact; a place no package gives is appended).  A
relationship whose other item is not in the repository waits in ``relationship_pending`` and
is made when that item is restored, in this run or a later one.  Called by
``aip.packager.ingester``; works inside its transaction.

Warnings (the restore is "done with warnings", exit 1): ``AIP-W111`` a relationship's type is
not in the repository (named with both entity types; skipped), ``AIP-W112`` a relationship
waits for its other item.  Errors (``RelationshipError``, nothing written): a type the SITE
AIP of the same run does not list (the backup contradicts itself), an item of the wrong entity
type, a max cardinality the relationships would exceed.

Which relationship types a restore may create (``apply_registry``): a repository that has
none yet takes the SITE AIP's; one that has its own keeps them (its configuration decides,
as ``dspace initialize-entities`` does), and relationships of types it lacks are skipped.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aip import constants as C
from aip.crosswalks.extension import Registry
from aip.entities.config import Concatenate
from aip.entities.virtual import bean_values
from aip.errors import RelationshipError, Report
from aip.model import LatestVersionStatus, RelationshipClaim, RelationshipType, Side
from aip.repository import handles
from aip.repository import relationships as rel
from aip.repository.store import Tx

TypeKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class _Restored:
    """An item restored in this run, with what its package claimed."""

    iid: int
    handle: str
    claims: tuple[RelationshipClaim, ...]


@dataclass(slots=True)
class _Side:
    """What the claims of one item say about one relationship."""

    iid: int
    claim: RelationshipClaim
    row: int | None = None  # pending row id, when the claim came from the pending table


@dataclass
class RelationshipRestore:
    """Claims collected during one ingest run, resolved by ``finish``."""

    restored: list[_Restored] = field(default_factory=list)
    #: every item restored in this run, by id (eight bytes each; ``finish`` reads their
    #: handles from their rows, when items of earlier runs wait for some)
    arrived_ids: array[int] = field(default_factory=lambda: array("q"))
    #: items whose plain values must be fitted around their relationships
    fit: list[int] = field(default_factory=list)
    #: the four-tuples of the SITE AIP of this run, when it listed relationship types
    site_types: set[TypeKey] | None = None
    #: old UUID -> UUID in this repository, of the items that could not keep theirs (the
    #: others are themselves)
    uuid_map: dict[str, str] = field(default_factory=dict)
    warned: set[tuple[frozenset[int], int | str]] = field(default_factory=set)
    #: item id -> handle, of the items ``finish`` looks at
    handles: dict[int, str] = field(default_factory=dict)

    def apply_registry(self, tx: Tx, registry: Registry | None) -> None:
        """A SITE AIP's entity and relationship types (see the module docstring)."""
        if registry is None or not (registry.relationship_types or registry.entity_types):
            return
        self.site_types = {t.key for t in registry.relationship_types}
        if rel.has_entities(tx):
            return
        for label in registry.entity_types:
            rel.ensure_entity_type(tx, label)
        rel.load_types(tx, registry.relationship_types)

    def add(self, iid: int, handle: str, claims: Sequence[RelationshipClaim],
            places_known: bool = True) -> None:
        """An item restored in this run, and what its package says of its relationships;
        ``places_known`` False: its plain values are fitted around its relationships' places
        once they are made (a package that does not say where they sit)."""
        self.arrived_ids.append(iid)
        if claims:
            self.restored.append(_Restored(iid, handle, tuple(claims)))
            if not places_known:
                self.fit.append(iid)

    # -- the end of the run -----------------------------------------------------------------
    def finish(self, tx: Tx, report: Report, translate: dict[str, str]) -> None:
        """Make every relationship whose two items are here; keep the others pending.

        ``translate``: old handle -> handle in this run (submit, ``ignoreHandle``).
        """
        waited = bool(self.arrived_ids) and rel.has_pending(tx)
        if not self.restored and not waited:
            return  # a site without entities: nothing to look up
        sides: list[_Side] = []
        for restored in self.restored:
            sides.extend(_Side(restored.iid, c) for c in restored.claims)
        if waited:  # items of earlier runs waiting for one restored now
            here = set(self.arrived_ids)
            uuids = list(rel.item_uuids(tx, sorted(here)).values())
            old_uuids = [old for old, new in self.uuid_map.items() if new in uuids]
            arrived = [handle for handle, _, _ in rel.item_facts(tx, sorted(here)).values()
                       if handle]
            for row_id, iid, claim in rel.pending_naming(tx, arrived, uuids + old_uuids):
                if iid not in here:
                    sides.append(_Side(iid, claim, row_id))
        groups: dict[tuple[int, int, int], list[_Side]] = defaultdict(list)
        waiting: list[_Side] = []
        done_rows: list[int] = []
        # every look-up in bulk: thousands of relationships, a handful of queries
        by_uuid = rel.items_by_uuid(tx, [self.uuid_map.get(c.lower(), c) for s in sides
                                         if (c := s.claim.other_uuid)])
        by_handle = handles.resolve_many(tx, [translate.get(h, h) for s in sides
                                              if (h := s.claim.other_handle)])
        others = {id(s): self._other(s.claim, translate, by_uuid, by_handle) for s in sides}
        involved = sorted({s.iid for s in sides} | {o for o in others.values() if o})
        labels = rel.item_entity_types(tx, involved)
        self.handles = {iid: facts[0] or str(iid)
                        for iid, facts in rel.item_facts(tx, involved).items()}
        existing = {(r.left_id, r.type_id, r.right_id) for r in rel.rows_of(tx, involved)}
        for side in sides:
            other = others[id(side)]
            if other is None:
                waiting.append(side)
                continue
            if side.row is not None:
                done_rows.append(side.row)
            found = self._type(tx, side, other, labels, report)
            if found is None:
                continue
            tid, is_left = found
            key = (side.iid, tid, other) if is_left else (other, tid, side.iid)
            groups[key].append(side)
        for (left, tid, right), members in groups.items():
            if (left, tid, right) not in existing:  # made already: an earlier run
                self._make(tx, left, right, tid, members, labels)
        for iid in self.fit:
            rel.fit_plain_values(tx, iid)
        rel.drop_pending(tx, done_rows)
        self._wait(tx, report, waiting)

    def _other(self, claim: RelationshipClaim, translate: dict[str, str],
               by_uuid: dict[str, int], by_handle: dict[str, tuple[str, int]]) -> int | None:
        """The other item's id in this repository, by UUID then by handle."""
        if claim.other_uuid:
            found = by_uuid.get(self.uuid_map.get(claim.other_uuid.lower(),
                                                  claim.other_uuid).lower())
            if found is not None:
                return found
        if claim.other_handle:
            hit = by_handle.get(translate.get(claim.other_handle, claim.other_handle))
            if hit is not None and hit[0] == C.TYPE_ITEM:
                return hit[1]
        return None

    def _type(self, tx: Tx, side: _Side, other: int, labels: dict[int, str | None],
              report: Report) -> tuple[int, bool] | None:
        """(type id, whether ``side``'s item is the left one), or None (warned)."""
        claim = side.claim
        own = labels.get(side.iid)
        theirs = labels.get(other)
        if claim.type_key is not None:
            if self.site_types is not None and claim.type_key not in self.site_types:
                raise RelationshipError(
                    f"item {self._handle_of(side)}: relationship type {_describe(claim.type_key)}"
                    " is not in the SITE AIP's relationship-type registry (the backup "
                    "contradicts itself)")
            tid = rel.type_id(tx, claim.type_key)
            if tid is None:
                left_type, right_type, leftward, _ = claim.type_key
                self._missing(report, side, other, leftward, left_type, right_type)
                return None
            return tid, claim.side != Side.RIGHT
        candidates = []
        for tid, rtype in rel.relationship_types(tx):
            if (rtype.leftward, rtype.left_type, rtype.right_type) == (claim.name, own, theirs):
                candidates.append((tid, True, rtype))
            elif (rtype.rightward, rtype.right_type, rtype.left_type) == (claim.name, own,
                                                                           theirs):
                candidates.append((tid, False, rtype))
        if self.site_types is not None and not any(
                self._matches(key, claim.name, own, theirs) for key in self.site_types):
            raise RelationshipError(
                f"item {self._handle_of(side)}: no relationship type named {claim.name!r} "
                f"between {own or '(no entity type)'} and {theirs or '(no entity type)'} in "
                "the SITE AIP's relationship-type registry (the backup contradicts itself)")
        if not candidates:
            self._missing(report, side, other, claim.name, own, theirs)
            return None
        tid, is_left, _ = candidates[0]
        return tid, is_left

    @staticmethod
    def _matches(key: TypeKey, name: str, own: str | None, theirs: str | None) -> bool:
        left_type, right_type, leftward, rightward = key
        return ((leftward, left_type, right_type) == (name, own, theirs)
                or (rightward, right_type, left_type) == (name, own, theirs))

    def _handle_of(self, side: _Side) -> str:
        return self.handles.get(side.iid, str(side.iid))

    def _missing(self, report: Report, side: _Side, other: int, name: str, first: str | None,
                 second: str | None) -> None:
        """Warn once per relationship (both items' packages list it) that its type is not
        here: its name and both entity types (the type's left one first, when known)."""
        key = (frozenset((side.iid, other)), side.claim.source_id
               if side.claim.source_id is not None else name)
        if key in self.warned:
            return
        self.warned.add(key)
        report.warn("AIP-W111", f"relationship {name!r} ({first or 'no entity type'} and "
                    f"{second or 'no entity type'}) of item {self._handle_of(side)}: this "
                    "repository has no such relationship type; skipped")

    def _make(self, tx: Tx, left: int, right: int, tid: int, members: list[_Side],
              labels: dict[int, str | None]) -> None:
        left_place = right_place = None
        leftward = rightward = None
        latest = LatestVersionStatus.BOTH
        source_id = None
        variants_known = False
        for side in members:
            claim = side.claim
            is_left = side.iid == left and (claim.side != Side.RIGHT or left == right)
            own, other = claim.own_place, claim.other_place
            if is_left:
                left_place = own if left_place is None else left_place
                right_place = other if right_place is None else right_place
            else:
                right_place = own if right_place is None else right_place
                left_place = other if left_place is None else left_place
            if claim.variants_known and not variants_known:
                leftward, rightward = claim.leftward_value, claim.rightward_value
                variants_known = True
            elif not variants_known and claim.label is not None:
                if is_left:
                    leftward = claim.label
                else:
                    rightward = claim.label
            latest = claim.latest if claim.type_key is not None else latest
            source_id = source_id or claim.source_id
        rtype = rel.types_by_id(tx)[tid]
        if left_place is None:
            left_place = rel.next_place(tx, left, tid, rtype, True)
        if right_place is None:
            right_place = rel.next_place(tx, right, tid, rtype, False)
        made = rel.make(tx, left_id=left, right_id=right, tid=tid, left_place=left_place,
                        right_place=right_place, leftward_value=leftward,
                        rightward_value=rightward, latest=latest, exact=True, rel_id=source_id,
                        handles=(self.handles[left], self.handles[right]),
                        labels=(labels.get(left), labels.get(right)), known_new=True)
        if not variants_known and leftward is None and rightward is None:
            self._variants_shown(tx, made, left, right, rtype, members)

    @staticmethod
    def _variants_shown(tx: Tx, rel_id: int, left: int, right: int, rtype: RelationshipType,
                        members: list[_Side]) -> None:
        """Name variants of a relationship only DSpace's virtual values tell: a value of a
        ``populateWithNameVariant`` mapping that is not what the configuration computes from
        the other item is the variant stored on that side."""
        config = rel.virtual_config(tx)
        graph = rel.RepoGraph(tx)
        for side in members:
            if not side.claim.shown:
                continue
            is_left = side.iid == left
            name = rtype.leftward if is_left else rtype.rightward
            other = right if is_left else left
            for field_name, bean in config.for_name(name):
                if not (isinstance(bean, Concatenate) and bean.name_variant):
                    continue
                shown = next((v for f, v in side.claim.shown if f == field_name), None)
                computed = bean_values(graph, bean, other)
                if shown is not None and computed and shown.strip() != computed[0].strip():
                    rel.set_variant(tx, rel_id, rightward=is_left, value=shown.strip())

    def _wait(self, tx: Tx, report: Report, waiting: Iterable[_Side]) -> None:
        for side in waiting:
            claim = side.claim
            if side.row is None:
                rel.add_pending(tx, side.iid, claim)
            who = claim.other_handle or f"urn:uuid:{claim.other_uuid}"
            report.warn("AIP-W112", f"relationship {claim.name!r} of item "
                        f"{self._handle_of(side)} waits for item {who}, which is not in the "
                        "repository; it is made when that item is restored")


def _describe(key: TypeKey) -> str:
    return RelationshipType(*key).describe()
