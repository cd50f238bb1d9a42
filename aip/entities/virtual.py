"""Virtual metadata: the values an item shows because of its relationships, computed on read.

Owns: ``virtual_values`` (one item's virtual values, DSpace's
``RelationshipMetadataServiceImpl.getRelationshipMetadata``), ``merged`` (stored and virtual
values in DSpace's ``ItemServiceImpl.getMetadata`` order) and the ``Graph`` protocol through
which both read the repository.  Pure: the graph is the only way in; nothing is stored.

What DSpace 7.6 does, and so this module (``dspace-api/src/main/java/org/dspace/content/
RelationshipMetadataServiceImpl.java``, ``virtual/*.java``, ``RelationshipServiceImpl.java``
``findByItem``, ``dao/impl/RelationshipDAOImpl.java``):

1. Only an item whose entity type exists in the registry has virtual values.
2. ``relation.<name>.latestForDiscovery`` = the other item's UUID, place -1, for each
   relationship type of the item's entity type (in type order): on its left side unless the
   type is tilted RIGHT, for relationships where this item is the latest version (status not
   RIGHT_ONLY); on its right side unless tilted LEFT (status not LEFT_ONLY).
3. The item's relationships, leaving out those of types tilted away from it and those whose
   other item is not the latest version, ordered by leftward name then this side's place;
   for each, with the name seen from this item and this side's place: every mapping of that
   name (target field -> bean) applied to the other item, then ``relation.<name>`` = the other
   item's UUID.  A ``Concatenate`` with ``populateWithNameVariant`` gives the name variant
   instead, when there is one (the left item shows ``rightward_value``, the right item
   ``leftward_value``).
4. Beans read the other item's *stored* values only (``getMetadata(..., false)``), non-blank
   ones; ``Related`` follows the first of the other item's relationships with that name (in
   relationship-type order, then place, then id) whose side matches the item's entity type.
5. A value whose target field is not in the registry, or that is blank, is not made.  Every
   value has authority ``virtual::<relationship id>``, confidence UNSET and no language.
6. ``merged``: stored and virtual values sorted by field, then place; at the same place the
   virtual value comes first (DSpace sorts the concatenation virtual + stored, stably).

``split`` is the way back, for a DIM that holds virtual values (DSpace's AIPs, and aipsync's
with ``[aip.disseminate] virtual_metadata``): values with a ``virtual::`` authority are never
stored; a stored value's place is its position among the field's values, counting the
virtual values that share places with plain ones (the fields of a ``useForPlace`` mapping
of the name the ``relation.<name>`` value of the same relationship gives); and the
``relation.<name>`` values say which items the item is related to, by UUID and place.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from aip import constants as C
from aip.entities.config import Bean, Collected, Concatenate, Related, UUIDValue, VirtualConfig
from aip.model import Confidence, LatestVersionStatus, MetadataValue, RelationshipType, Tilted

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Link(Generic[K]):
    """One relationship as the graph gives it: its type and both ends (item keys)."""

    id: int
    type: RelationshipType
    type_order: int
    left: K
    right: K
    left_place: int
    right_place: int
    leftward_value: str | None = None
    rightward_value: str | None = None
    latest: LatestVersionStatus = LatestVersionStatus.BOTH


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored value of an item with its place."""

    value: MetadataValue
    place: int


@dataclass(frozen=True, slots=True)
class VirtualValue:
    """One virtual value: target field, text, place and the relationship that made it."""

    field: str
    value: str
    place: int
    relationship_id: int
    use_for_place: bool = False

    def as_metadata(self) -> MetadataValue:
        schema, _, rest = self.field.partition(".")
        element, _, qualifier = rest.partition(".")
        return MetadataValue(schema, element, qualifier or None, self.value, None,
                             f"{C.VIRTUAL_AUTHORITY_PREFIX}{self.relationship_id}",
                             int(Confidence.UNSET))


class Graph(Protocol[K]):
    """What the computation reads (the repository implements it; tests use a dict)."""

    def entity_type(self, item: K) -> str | None:
        """The item's entity type label (``entity_type_of`` its stored values)."""

    def is_entity_type(self, label: str) -> bool:
        """Whether the registry has this entity type."""

    def stored(self, item: K, field: str) -> Sequence[MetadataValue]:
        """The item's stored values of ``field`` (any language), in place order."""

    def uuid(self, item: K) -> str:
        """The item's UUID."""

    def links(self, item: K) -> Sequence[Link[K]]:
        """Every relationship the item takes part in (either side)."""

    def types_of(self, label: str) -> Sequence[tuple[int, RelationshipType]]:
        """(order, type) of every relationship type with ``label`` on either side, in order."""

    def has_field(self, field: str) -> bool:
        """Whether the registry has this ``schema.element[.qualifier]`` field."""


def _values(graph: Graph[K], item: K, fields: Sequence[str]) -> list[list[str]]:
    """Per field, the non-blank stored values of ``item``."""
    return [[v.value for v in graph.stored(item, field) if v.value.strip()]
            for field in fields]


def bean_values(graph: Graph[K], bean: Bean, item: K) -> list[str]:
    """What a bean gives for the related item ``item`` (``getValues``)."""
    if isinstance(bean, Concatenate):
        parts = [bean.separator.join(vals) for vals in _values(graph, item, bean.fields)]
        return [bean.separator.join(p for p in parts if p.strip())]
    if isinstance(bean, Collected):
        return [v for vals in _values(graph, item, bean.fields) for v in vals]
    if isinstance(bean, UUIDValue):
        return [graph.uuid(item)]
    return _related(graph, bean, item)


def _related(graph: Graph[K], bean: Related, item: K) -> list[str]:
    label = graph.entity_type(item)
    if label is None or not graph.is_entity_type(label):
        return []
    wanted = {order for order, t in graph.types_of(label)
              if bean.name in (t.leftward, t.rightward)}
    found = sorted((link for link in graph.links(item) if link.type_order in wanted
                    and _latest_other(link, item)),
                   key=lambda link: (link.type_order, _place(link, item), link.id))
    for link in found:
        # The side is taken from the type, as DSpace does (a left match wins)
        if link.type.left_type == label:
            place, other = link.left_place, link.right
        elif link.type.right_type == label:
            place, other = link.right_place, link.left
        else:
            continue
        if bean.place is None or place == bean.place:
            return bean_values(graph, bean.bean, other)
    return []


def _place(link: Link[K], item: K) -> int:
    return link.left_place if link.left == item else link.right_place


def _latest_other(link: Link[K], item: K) -> bool:
    """The other item is the latest version (``excludeNonLatest``)."""
    if link.left == item:
        return link.latest != LatestVersionStatus.LEFT_ONLY
    return link.latest != LatestVersionStatus.RIGHT_ONLY


def _visible(link: Link[K], item: K) -> bool:
    """Not tilted away from ``item`` and its other item the latest version."""
    if link.left == item:
        return link.type.tilted != Tilted.RIGHT and _latest_other(link, item)
    return link.type.tilted != Tilted.LEFT and _latest_other(link, item)


def virtual_values(graph: Graph[K], config: VirtualConfig, item: K) -> list[VirtualValue]:
    """Every virtual value of ``item``, in DSpace's order (before merging)."""
    label = graph.entity_type(item)
    if label is None or not graph.is_entity_type(label):
        return []
    out: list[VirtualValue] = []

    def add(field: str, value: str, place: int, link: Link[K], use_for_place: bool) -> None:
        if value.strip() and graph.has_field(field):
            out.append(VirtualValue(field, value, place, link.id, use_for_place))

    links = graph.links(item)
    for order, rtype in graph.types_of(label):
        of_type = sorted((link for link in links if link.type_order == order),
                         key=lambda link: link.id)
        if rtype.tilted != Tilted.RIGHT and rtype.left_type == label:
            for link in of_type:
                if link.left == item and link.latest != LatestVersionStatus.RIGHT_ONLY:
                    add(f"{C.RELATION_SCHEMA}.{rtype.leftward}.{C.LATEST_FOR_DISCOVERY}",
                        graph.uuid(link.right), -1, link, False)
        if rtype.tilted != Tilted.LEFT and rtype.right_type == label:
            for link in of_type:
                if link.right == item and link.latest != LatestVersionStatus.LEFT_ONLY:
                    add(f"{C.RELATION_SCHEMA}.{rtype.rightward}.{C.LATEST_FOR_DISCOVERY}",
                        graph.uuid(link.left), -1, link, False)
    shown = sorted((link for link in links if _visible(link, item)),
                   key=lambda link: (link.type.leftward, _place(link, item)))
    for link in shown:
        if link.type.left_type == label and link.left == item:
            name, other, place = link.type.leftward, link.right, link.left_place
            variant = link.rightward_value
        elif link.type.right_type == label and link.right == item:
            name, other, place = link.type.rightward, link.left, link.right_place
            variant = link.leftward_value
        else:
            continue
        for field, bean in config.for_name(name):
            if isinstance(bean, Concatenate) and bean.name_variant and variant is not None:
                add(field, variant, place, link, bean.use_for_place)
                continue
            for value in bean_values(graph, bean, other):
                add(field, value, place, link, bean.use_for_place)
        add(f"{C.RELATION_SCHEMA}.{name}", graph.uuid(other), place, link, False)
    return out


def merged(stored: Sequence[Stored], virtual: Sequence[VirtualValue],
           rank: Callable[[str], int]) -> list[MetadataValue]:
    """Stored and virtual values in DSpace's order: by field (``rank`` of its name), then
    place, virtual first at the same place."""
    keyed: list[tuple[int, int, int, int, MetadataValue]] = []
    for n, v in enumerate(virtual):
        keyed.append((rank(v.field), v.place, 0, n, v.as_metadata()))
    for n, s in enumerate(stored):
        keyed.append((rank(s.value.field), s.place, 1, n, s.value))
    keyed.sort(key=lambda k: k[:4])
    return [k[4] for k in keyed]


def relationship_id(authority: str | None) -> int | None:
    """The relationship number of a ``virtual::<id>`` authority (0 when it is not a number),
    or ``None`` for any other authority."""
    if authority is None or not authority.startswith(C.VIRTUAL_AUTHORITY_PREFIX):
        return None
    rest = authority[len(C.VIRTUAL_AUTHORITY_PREFIX):].strip()
    return int(rest) if rest.isdigit() else 0


@dataclass(frozen=True, slots=True)
class Hint:
    """A ``relation.<name>`` virtual value: the item is related to ``uuid`` by ``name`` (as
    seen from it) at ``place``; ``shown`` are the relationship's other virtual values on the
    item (field, value), in order."""

    name: str
    uuid: str
    place: int
    relationship_id: int
    shown: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Split:
    """What ``split`` gives: the values to store, their places (``Item.places`` form: only
    fields whose places are not 0, 1, 2...), the relationship hints, and how many virtual
    values there were."""

    stored: tuple[MetadataValue, ...]
    places: tuple[tuple[str, tuple[int, ...]], ...]
    hints: tuple[Hint, ...]
    virtual: int


def split(values: Sequence[MetadataValue], config: VirtualConfig) -> Split:
    """Separate virtual values from stored ones (see the module docstring)."""
    # A relationship's own relation.<name> value names it as seen from this item; a mapping
    # may add other relation.* values with the same id (isJournalIssueOfPublication maps
    # relation.isJournalOfPublication): those are the mapping's targets, or, failing that,
    # the ones without a latestForDiscovery value of the same id.
    targets = {f for _, mapping in config.mappings for f, _ in mapping}
    latest = {(relationship_id(v.authority), v.element) for v in values
              if v.schema == C.RELATION_SCHEMA and v.qualifier == C.LATEST_FOR_DISCOVERY}
    names: dict[int, str] = {}
    for v in values:
        rel = relationship_id(v.authority)
        if rel is None or v.schema != C.RELATION_SCHEMA or v.qualifier is not None \
                or v.field in targets:
            continue
        if rel not in names or ((rel, v.element) in latest
                                and (rel, names[rel]) not in latest):
            names[rel] = v.element
    counters: dict[str, int] = {}
    places: dict[str, list[int]] = {}
    stored: list[MetadataValue] = []
    shown: dict[int, list[tuple[str, str]]] = {}
    shared: dict[int, int] = {}  # relationship -> its place in a field shared with plain values
    found: list[tuple[int, str, str, int]] = []
    virtual = 0
    for v in values:
        field = v.field
        rel = relationship_id(v.authority)
        place = counters.get(field, 0)
        if rel is None:
            counters[field] = place + 1
            stored.append(v)
            places.setdefault(field, []).append(place)
            continue
        virtual += 1
        name = names.get(rel)
        if v.schema == C.RELATION_SCHEMA and v.qualifier is None:
            # relation.<name> is listed in place order, so its position is the place when
            # no field shares places with plain values
            counters[field] = place + 1
            if names.get(rel) == v.element:
                found.append((rel, v.element, v.value.strip(), place))
        elif name is not None and field in config.place_fields(name):
            counters[field] = place + 1
            shared.setdefault(rel, place)
        if v.schema != C.RELATION_SCHEMA:
            shown.setdefault(rel, []).append((field, v.value))
    hints = tuple(Hint(name=name, uuid=uuid, place=shared.get(rel, place),
                       relationship_id=rel, shown=tuple(shown.get(rel, ())))
                  for rel, name, uuid, place in found)
    gapped = tuple((field, tuple(p)) for field, p in places.items()
                   if p != list(range(len(p))))
    return Split(stored=tuple(stored), places=gapped, hints=hints, virtual=virtual)


__all__ = ["Graph", "Hint", "Link", "Split", "Stored", "VirtualValue", "bean_values",
           "merged", "relationship_id", "split", "virtual_values"]
