"""The entity graph of ``repo seed --entities``: typed items and their relationships.

Owns: making seeded items Persons, OrgUnits, Projects, Publications, Journals, volumes and
issues (by a fixed schedule of the item number), their entity metadata, and the
relationships between them, written in bulk through the seeder's batches.  Called by
``seed.seed`` only when ``--entities`` is given; draws from its own random sequence, so that
the plain seed stays what it was.

What the graph exercises (every case a DSpace 7+ site has and an AIP must carry):

* Publications whose ``dc.contributor.author`` list interleaves plain values with Person and
  OrgUnit author relationships (the plain values' places leave room for them), name
  variants on one Person relationship in five, journal issues, projects and OrgUnits;
* Persons in OrgUnits through a type tilted LEFT (an OrgUnit has many members: it does not
  list them), and in projects; volumes of journals, issues of volumes;
* relationships to withdrawn items (every 25th item is withdrawn), a few whose other item
  is not the latest version, ``dspace.entity.type`` with languages ``en_US`` and ``""``,
  Persons without ``dc.title``; collections typed in turn.

Places are as DSpace gives them: per item, type and side, counted in creation order on the
side that appends, and at the planned slot on a Publication's author list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import sqlalchemy as sa

from aip import constants as C
from aip.model import LatestVersionStatus, Tilted
from aip.repository import registry, relationships
from aip.repository import tables as T
from aip.repository.store import Tx

#: The entity type of item number n: by n % 20 (half Publications, a quarter Persons).
SCHEDULE = (("Publication",) * 10 + ("Person",) * 5
            + ("OrgUnit", "Project", "Journal", "JournalVolume", "JournalIssue"))
COLLECTION_TYPES = ("Publication", "Person", "OrgUnit", "Project", "Journal",
                    "JournalVolume", "JournalIssue")
#: The type the seed tilts: a Person is the left item, its OrgUnit has many of them.
TILTED = ("Person", "OrgUnit", "isOrgUnitOfPerson", "isPersonOfOrgUnit")
_FIRST = ("Ada", "Grace", "Alan", "Mary", "Rosalind", "Claude", "Hedy", "Katherine")
_LAST = ("Lovelace", "Hopper", "Turing", "Somerville", "Franklin", "Shannon", "Lamarr",
         "Johnson", "Liskov", "Wirth", "Dijkstra", "Hamilton")
_LABS = ("Ocean Lab", "Glacier Institute", "Signal Group", "Ledger Centre", "Atlas Unit")


def entity_of(n: int) -> str:
    """The entity type of seeded item number ``n``.  Pure."""
    return SCHEDULE[n % len(SCHEDULE)]


class Seeder(Protocol):
    """What this module uses of ``seed._Seeder``."""

    tx: Tx

    def fid(self, schema: str, element: str, qualifier: str | None = None) -> int: ...

    @property
    def metadata_rows(self) -> list[dict[str, Any]]: ...

    def add_row(self, table: sa.Table, **row: Any) -> None: ...

    def take_id(self, table: sa.Table) -> int: ...


@dataclass
class _Item:
    n: int
    iid: int
    entity: str


@dataclass
class EntityGraph:
    """Collects the typed items while the seeder writes them, then relates them."""

    seed: int
    rng: random.Random = field(init=False)
    items: list[_Item] = field(default_factory=list)
    by_type: dict[str, list[_Item]] = field(default_factory=dict)
    #: (publication id, author kind, place) planned while its metadata is written
    authors: list[tuple[int, str, int]] = field(default_factory=list)
    relationships: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(f"aipsync-entities:{self.seed}")

    # -- before the items -----------------------------------------------------------------
    @staticmethod
    def initialize(tx: Tx) -> None:
        """The Entities registry and DSpace's default types, one of them tilted."""
        registry.install_entity_registry(tx)
        types = [replace(t, tilted=Tilted.LEFT) if t.key == TILTED else t
                 for t in relationships.default_types()]
        relationships.load_types(tx, types)

    @staticmethod
    def type_collections(tx: Tx, collection_ids: list[int]) -> None:
        for k, coll_id in enumerate(collection_ids):
            relationships.set_collection_entity_type(
                tx, coll_id, COLLECTION_TYPES[k % len(COLLECTION_TYPES)])

    # -- each item, as it is written ------------------------------------------------------
    def item(self, seeder: Seeder, n: int, iid: int) -> None:
        """Type item ``n`` (just written, metadata in the current batch) and plan its
        author list when it is a Publication."""
        entity = entity_of(n)
        record = _Item(n, iid, entity)
        self.items.append(record)
        self.by_type.setdefault(entity, []).append(record)
        rows = [r for r in seeder.metadata_rows if r["resource_id"] == iid
                and r["resource_type"] == C.TYPE_ITEM]
        language = "en_US" if n % 7 == 3 else ("" if n % 11 == 5 else None)
        seeder.add_row(T.metadata_value, resource_type=C.TYPE_ITEM, resource_id=iid,
                       field_id=seeder.fid(*C.ENTITY_TYPE_FIELD), value=entity,
                       language=language, authority=None, confidence=-1, place=0)
        count = len(self.by_type[entity])
        extra: list[tuple[tuple[str, str, str | None], str]] = []
        if entity == "Person":
            family, given = _LAST[count % len(_LAST)], _FIRST[(count * 5) % len(_FIRST)]
            extra = [(("person", "familyName", None), family),
                     (("person", "givenName", None), given)]
            if count % 3 == 0:  # DSpace's default Person form collects no dc.title
                title = seeder.fid("dc", "title")
                for row in rows:
                    if row["field_id"] == title:
                        seeder.metadata_rows.remove(row)
        elif entity == "OrgUnit":
            extra = [(("organization", "legalName", None),
                      f"{_LABS[count % len(_LABS)]} {count}")]
        elif entity == "Journal":
            extra = [(("creativeworkseries", "issn", None), f"{1000 + count:04d}-{n % 9999:04d}")]
        elif entity == "JournalVolume":
            extra = [(("publicationvolume", "volumeNumber", None), str(count))]
        elif entity == "JournalIssue":
            extra = [(("publicationissue", "issueNumber", None), str(1 + count % 4))]
        for key, text in extra:
            seeder.add_row(T.metadata_value, resource_type=C.TYPE_ITEM, resource_id=iid,
                           field_id=seeder.fid(*key), value=text, language=None,
                           authority=None, confidence=-1, place=0)
        if entity == "Publication":
            self._plan_authors(seeder, iid, rows)

    def _plan_authors(self, seeder: Seeder, iid: int, rows: list[dict[str, Any]]) -> None:
        """Give the plain authors gapped places and plan author relationships between them."""
        author = seeder.fid("dc", "contributor", "author")
        plain = sorted((r for r in rows if r["field_id"] == author), key=lambda r: r["place"])
        related = ["person"] * self.rng.randint(0, 3)
        if self.rng.random() < 0.1:
            related.append("org")
        layout: list[Any] = [*plain, *related]
        self.rng.shuffle(layout)
        for place, slot in enumerate(layout):
            if isinstance(slot, dict):
                slot["place"] = place
            else:
                self.authors.append((iid, slot, place))

    # -- after every item -----------------------------------------------------------------
    def relate(self, seeder: Seeder) -> int:
        """Every relationship of the graph, in bulk; returns how many."""
        tx = seeder.tx
        types = {t.key: tid for tid, t in relationships.relationship_types(tx)}
        places: dict[tuple[int, int, bool], int] = {}

        def add(key: tuple[str, str, str, str], left: int, right: int, *,
                left_place: int | None = None, right_place: int | None = None,
                rightward_value: str | None = None) -> None:
            tid = types[key]
            lp = self._next(places, left, tid, True) if left_place is None else left_place
            rp = self._next(places, right, tid, False) if right_place is None else right_place
            latest = LatestVersionStatus.BOTH
            roll = self.rng.random()
            if roll < 0.01:
                latest = LatestVersionStatus.LEFT_ONLY
            elif roll < 0.02:
                latest = LatestVersionStatus.RIGHT_ONLY
            seeder.add_row(T.relationship, id=seeder.take_id(T.relationship), left_id=left,
                           right_id=right, type_id=tid, left_place=lp, right_place=rp,
                           leftward_value=None, rightward_value=rightward_value,
                           latest_version_status=int(latest))
            self.relationships += 1

        def pick(entity: str) -> _Item | None:
            pool = self.by_type.get(entity)
            return self.rng.choice(pool) if pool else None

        person_key = ("Publication", "Person", "isAuthorOfPublication", "isPublicationOfAuthor")
        org_key = ("Publication", "OrgUnit", "isAuthorOfPublication", "isPublicationOfAuthor")
        seen: set[tuple[int, int, str]] = set()
        for pub_id, kind, place in self.authors:
            author = pick("Person" if kind == "person" else "OrgUnit")
            if author is None or (pub_id, author.iid, kind) in seen:
                continue
            seen.add((pub_id, author.iid, kind))
            variant = None
            if kind == "person" and self.rng.random() < 0.2:
                variant = (f"{_LAST[author.n % len(_LAST)]}, "
                           f"{_FIRST[author.n % len(_FIRST)][0]}.")
            add(person_key if kind == "person" else org_key, pub_id, author.iid,
                left_place=place, rightward_value=variant)
        for pub in self.by_type.get("Publication", []):
            for entity, key, left_is_pub, chance in (
                    ("JournalIssue", ("JournalIssue", "Publication",
                                      "isPublicationOfJournalIssue",
                                      "isJournalIssueOfPublication"), False, 1 / 3),
                    ("Project", ("Publication", "Project", "isProjectOfPublication",
                                 "isPublicationOfProject"), True, 1 / 4),
                    ("OrgUnit", ("Publication", "OrgUnit", "isOrgUnitOfPublication",
                                 "isPublicationOfOrgUnit"), True, 1 / 5)):
                if self.rng.random() < chance and (other := pick(entity)) is not None:
                    left, right = (pub.iid, other.iid) if left_is_pub else (other.iid, pub.iid)
                    add(key, left, right)
        for person in self.by_type.get("Person", []):
            if (org := pick("OrgUnit")) is not None:
                add(TILTED, person.iid, org.iid)
            if self.rng.random() < 1 / 3 and (project := pick("Project")) is not None:
                add(("Person", "Project", "isProjectOfPerson", "isPersonOfProject"),
                    person.iid, project.iid)
        for project in self.by_type.get("Project", []):
            if (org := pick("OrgUnit")) is not None:
                add(("Project", "OrgUnit", "isOrgUnitOfProject", "isProjectOfOrgUnit"),
                    project.iid, org.iid)
        for volume in self.by_type.get("JournalVolume", []):
            if (journal := pick("Journal")) is not None:
                add(("Journal", "JournalVolume", "isVolumeOfJournal", "isJournalOfVolume"),
                    journal.iid, volume.iid)
        for issue in self.by_type.get("JournalIssue", []):
            if (its_volume := pick("JournalVolume")) is not None:
                add(("JournalVolume", "JournalIssue", "isIssueOfJournalVolume",
                     "isJournalVolumeOfIssue"), its_volume.iid, issue.iid)
        return self.relationships

    @staticmethod
    def _next(places: dict[tuple[int, int, bool], int], iid: int, tid: int, left: bool) -> int:
        """The next place on one side (appending: no plain values share it here)."""
        key = (iid, tid, left)
        place = places.get(key, 0)
        places[key] = place + 1
        return place
