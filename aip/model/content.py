"""The content objects an AIP describes: site, communities, collections, items and their parts.

Owns: frozen dataclasses that hold exactly what a DSpace METS AIP carries for each object,
with handles (not database ids) for references.  These are the values the METS builders and
parsers work on; the repository maps them to and from its tables.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections import abc
from dataclasses import dataclass
from enum import IntEnum

from aip.model.auth import ResourcePolicy
from aip.model.entities import Relationship, RelationshipClaim
from aip.model.record import Record


class Confidence(IntEnum):
    """Authority confidence values (DSpace ``Choices``)."""

    UNSET = -1
    NOVALUE = 0
    REJECTED = 100
    FAILED = 200
    NOTFOUND = 300
    AMBIGUOUS = 400
    UNCERTAIN = 500
    ACCEPTED = 600


class SupportLevel(IntEnum):
    """Bitstream format support level."""

    UNKNOWN = 0
    KNOWN = 1
    SUPPORTED = 2


@dataclass(frozen=True, slots=True)
class MetadataValue(Record):
    """One metadata value; its place is its position among values of the same field."""

    schema: str
    element: str
    qualifier: str | None
    value: str
    language: str | None = None
    authority: str | None = None
    confidence: int = Confidence.UNSET

    @property
    def field(self) -> str:
        """``schema.element`` or ``schema.element.qualifier``."""
        base = f"{self.schema}.{self.element}"
        return f"{base}.{self.qualifier}" if self.qualifier else base


@dataclass(frozen=True, slots=True)
class MetadataSchema(Record):
    """A metadata schema of the registry (``dc``, ``dcterms``, custom ones)."""

    prefix: str
    namespace: str


@dataclass(frozen=True, slots=True)
class MetadataField(Record):
    """A field of the registry: ``schema.element[.qualifier]`` with its scope note."""

    schema: str
    element: str
    qualifier: str | None = None
    scope_note: str | None = None

    @property
    def name(self) -> str:
        base = f"{self.schema}.{self.element}"
        return f"{base}.{self.qualifier}" if self.qualifier else base


@dataclass(frozen=True, slots=True)
class BitstreamFormat(Record):
    """A bitstream format of the format registry."""

    short_description: str
    mimetype: str
    description: str = ""
    support_level: SupportLevel = SupportLevel.UNKNOWN
    internal: bool = False
    extensions: tuple[str, ...] = ()


UNKNOWN_FORMAT = BitstreamFormat(
    short_description="Unknown", mimetype="application/octet-stream",
    description="Unknown data format", support_level=SupportLevel.UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class Bitstream(Record):
    """A file of an item (or a container's logo, with ``sequence_id`` -1).

    ``md5`` is ``None`` for an unreadable bitstream exported as a zero-length placeholder.
    ``key`` is the repository's opaque reference to the bytes (its assetstore key); builders
    and parsers never interpret it.
    """

    sequence_id: int
    name: str | None
    size: int
    md5: str | None
    format: BitstreamFormat = UNKNOWN_FORMAT
    source: str | None = None
    description: str | None = None
    user_format_description: str | None = None
    sha256: str | None = None
    policies: tuple[ResourcePolicy, ...] = ()
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Bundle(Record):
    """A named group of bitstreams of an item, in order."""

    name: str
    bitstreams: tuple[Bitstream, ...] = ()
    primary_sequence_id: int | None = None
    policies: tuple[ResourcePolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class Item(Record):
    """An archived (or withdrawn) item: metadata, bundles, policies and its place.

    ``last_modified`` is timezone-aware UTC with whole seconds (the AIP's ``LASTMODDATE``
    has no fraction).  ``collections`` lists every other collection the item is mapped into.

    Entities (DSpace 7+): ``uuid`` is the item's UUID when its package carries it (items of
    an entity type, and items with relationships); ``places`` gives, for each field whose
    stored values do not sit at places 0, 1, 2... (they share places with relationships,
    ``useForPlace``), the places of its values in order; ``relationships`` every relationship
    the item takes part in; ``pending`` the relationships a restore could not make yet (the
    other item was not there); ``with_virtual``, when an export asks for DSpace's virtual
    values, every value (stored and virtual) in DSpace's order.
    """

    handle: str
    owning_collection: str
    last_modified: dt.datetime
    metadata: tuple[MetadataValue, ...] = ()
    bundles: tuple[Bundle, ...] = ()
    policies: tuple[ResourcePolicy, ...] = ()
    mapped_collections: tuple[str, ...] = ()
    submitter: str | None = None
    in_archive: bool = True
    withdrawn: bool = False
    discoverable: bool = True
    uuid: str | None = None
    places: tuple[tuple[str, tuple[int, ...]], ...] = ()
    relationships: tuple[Relationship, ...] = ()
    pending: tuple[RelationshipClaim, ...] = ()
    with_virtual: tuple[MetadataValue, ...] | None = None

    def bundle(self, name: str) -> Bundle | None:
        return next((b for b in self.bundles if b.name == name), None)


@dataclass(frozen=True, slots=True)
class HarvestSettings(Record):
    """A collection's OAI-PMH harvesting settings (DSpace's ``harvested_collection`` row)."""

    harvest_type: int
    oai_source: str
    oai_set_id: str = ""
    metadata_config_id: str = ""
    harvest_status: int = 0


@dataclass(frozen=True, slots=True)
class ChildRef(Record):
    """A pointer from a container to a child object: its type and handle."""

    type: str
    handle: str


@dataclass(frozen=True, slots=True)
class Collection(Record):
    """A collection: its fixed fields (as metadata), logo, template, groups, children.

    ``metadata`` holds only the container fields of ``constants.COLLECTION_FIELDS``.
    ``roles`` maps a role (``ADMIN``, ``SUBMIT``, ``WORKFLOW_STEP_1``..3) to the exported
    group name.  ``items`` lists archived member items (owned and mapped) in export order (from the
    repository a ``HandleList``: a collection of 300,000 items is one integer each).
    ``entity_type``: the collection's ``dspace.entity.type`` (DSpace 7+; new items get it).
    """

    handle: str
    parents: tuple[str, ...]
    metadata: tuple[MetadataValue, ...] = ()
    logo: Bitstream | None = None
    template: tuple[MetadataValue, ...] | None = None
    roles: tuple[tuple[str, str], ...] = ()
    harvest: HarvestSettings | None = None
    policies: tuple[ResourcePolicy, ...] = ()
    items: abc.Collection[str] = ()
    entity_type: str | None = None


@dataclass(frozen=True, slots=True)
class Community(Record):
    """A community: fixed fields, logo, admin group, sub-communities and collections."""

    handle: str
    parent: str | None
    metadata: tuple[MetadataValue, ...] = ()
    logo: Bitstream | None = None
    roles: tuple[tuple[str, str], ...] = ()
    policies: tuple[ResourcePolicy, ...] = ()
    subcommunities: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Site(Record):
    """The repository as a whole: handle ``<prefix>/0``, name, URL, top communities."""

    handle: str
    name: str
    url: str
    communities: tuple[str, ...] = ()
