"""Configurable Entities: relationship types, relationships and what a package says of them.

Owns: the frozen dataclasses of DSpace 7+'s entity model as AIPs carry it, with handles (not
database ids) for items: ``RelationshipType`` (DSpace's ``relationship_type`` row: the
four-tuple of left/right entity type and leftward/rightward name, cardinalities, copy flags,
tilted), ``Relationship`` (a ``relationship`` row: left and right item, both places, both name
variants, latest-version status) and ``RelationshipClaim`` (what one item's package says about
one of its relationships, which may name the other item only, as DSpace's ``rels`` structMap
and ``relation.*`` values do).  Pure: no I/O.

Facts (DSpace 7.6 ``dspace-api/src/main/java/org/dspace/content/RelationshipType.java``,
``Relationship.java``; ``ItemServiceImpl.getEntityTypeLabel``):

* An item's entity type is its first ``dspace.entity.type`` value, whatever its language; a
  blank value means none.
* A type is identified by its four-tuple; names alone are not unique (the default
  configuration has ``isAuthorOfPublication`` from Publication to Person and to OrgUnit).
* ``tilted`` RIGHT: the left item does not list these relationships (no virtual metadata on
  it); LEFT: the right item does not.  ``latest_version_status`` BOTH / LEFT_ONLY (only the
  left item is the latest version) / RIGHT_ONLY.
* ``leftward_value`` is the name variant the *right* item shows for the left one, and
  ``rightward_value`` the variant the left item shows for the right one (virtual metadata
  with ``populateWithNameVariant`` on the left item uses ``rightward_value``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from aip import constants as C
from aip.model.record import Record


class _FieldValue(Protocol):
    """What ``entity_type_of`` reads of a metadata value (``MetadataValue`` has it)."""

    @property
    def schema(self) -> str: ...
    @property
    def element(self) -> str: ...
    @property
    def qualifier(self) -> str | None: ...
    @property
    def value(self) -> str: ...


class Tilted(IntEnum):
    """``RelationshipType.Tilted`` (stored as its ordinal)."""

    NONE = 0
    LEFT = 1
    RIGHT = 2


class LatestVersionStatus(IntEnum):
    """``Relationship.LatestVersionStatus`` (stored as its ordinal)."""

    BOTH = 0
    LEFT_ONLY = 1
    RIGHT_ONLY = 2


#: A relationship type's identity: (left entity type, right entity type, leftward name,
#: rightward name).
TypeKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class RelationshipType(Record):
    """One relationship type.  ``None`` cardinalities are unbounded."""

    left_type: str
    right_type: str
    leftward: str
    rightward: str
    left_min: int | None = None
    left_max: int | None = None
    right_min: int | None = None
    right_max: int | None = None
    copy_to_left: bool = False
    copy_to_right: bool = False
    tilted: Tilted = Tilted.NONE

    @property
    def key(self) -> TypeKey:
        return (self.left_type, self.right_type, self.leftward, self.rightward)

    def describe(self) -> str:
        """``isAuthorOfPublication (Publication -> Person)``, for messages."""
        return f"{self.leftward} ({self.left_type} -> {self.right_type})"


@dataclass(frozen=True, slots=True)
class Relationship(Record):
    """One relationship between two items, as the repository holds it.

    ``left``/``right`` are the items' handles, ``left_uuid``/``right_uuid`` their UUIDs;
    ``left_withdrawn``/``right_withdrawn`` say whether that item is withdrawn (DSpace's
    ``rels`` structMap lists archived items only).  ``id`` is the repository's number for the
    relationship (the ``virtual::<id>`` authority of its virtual values).
    """

    left_type: str
    right_type: str
    leftward: str
    rightward: str
    left: str
    right: str
    left_place: int
    right_place: int
    leftward_value: str | None = None
    rightward_value: str | None = None
    latest: LatestVersionStatus = LatestVersionStatus.BOTH
    id: int | None = None
    left_uuid: str | None = None
    right_uuid: str | None = None
    tilted: Tilted = Tilted.NONE
    left_withdrawn: bool = False
    right_withdrawn: bool = False

    @property
    def type_key(self) -> TypeKey:
        return (self.left_type, self.right_type, self.leftward, self.rightward)

    def is_left(self, handle: str) -> bool:
        """True when ``handle`` is the left item (a self-relationship counts as left)."""
        return self.left == handle

    def name_from(self, handle: str) -> str:
        """The name the item ``handle`` sees this relationship by."""
        return self.leftward if self.is_left(handle) else self.rightward


class Side(IntEnum):
    """Which end of a relationship an item is."""

    LEFT = 0
    RIGHT = 1


@dataclass(frozen=True, slots=True)
class RelationshipClaim(Record):
    """What one item's package says about one of its relationships.

    ``name`` is the name as seen from the item; ``type_key`` and ``side`` are known when the
    package names the whole type (aipsync's extension), else ``None`` (DSpace's ``rels``
    structMap and ``relation.*`` values name the relationship only).  ``own_place`` is the
    item's place; ``other_place`` the other item's, when known.  ``label`` is a ``rels``
    ``LABEL`` (the name variant stored on the item's side: ``leftward_value`` in the left
    item's package), used when ``variants_known`` is False.  ``source_id``: the
    relationship's number in the exporting repository.  ``shown``: the virtual values the
    item's DIM showed for the relationship (field, value), from which a restore tells a name
    variant (a value the configuration would not compute).
    """

    name: str
    other_handle: str | None
    other_uuid: str | None
    own_place: int | None
    type_key: TypeKey | None = None
    side: Side | None = None
    other_place: int | None = None
    leftward_value: str | None = None
    rightward_value: str | None = None
    variants_known: bool = False
    label: str | None = None
    latest: LatestVersionStatus = LatestVersionStatus.BOTH
    source_id: int | None = None
    shown: tuple[tuple[str, str], ...] = ()


def entity_type_of(values: Iterable[_FieldValue]) -> str | None:
    """An object's entity type: its first ``dspace.entity.type`` value in any language, or
    ``None`` when it has none or that value is blank."""
    schema, element, qualifier = C.ENTITY_TYPE_FIELD
    for v in values:
        if v.schema == schema and v.element == element and v.qualifier == qualifier:
            return v.value.strip() or None
    return None


def claim_of(relationship: Relationship, handle: str) -> RelationshipClaim:
    """``relationship`` as the item ``handle``'s package states it (everything known)."""
    left = relationship.is_left(handle)
    return RelationshipClaim(
        name=relationship.name_from(handle),
        other_handle=relationship.right if left else relationship.left,
        other_uuid=relationship.right_uuid if left else relationship.left_uuid,
        own_place=relationship.left_place if left else relationship.right_place,
        type_key=relationship.type_key, side=Side.LEFT if left else Side.RIGHT,
        other_place=relationship.right_place if left else relationship.left_place,
        leftward_value=relationship.leftward_value,
        rightward_value=relationship.rightward_value, variants_known=True,
        latest=relationship.latest, source_id=relationship.id)
