"""An in-memory entity graph for the pure virtual-metadata code (``aip.entities.virtual``).

``DictGraph`` holds items (entity type, UUID, stored values with places) and relationships
(``Link``) in dicts, and answers the ``Graph`` protocol the way the repository's
``RepoGraph`` does; the default relationship types and registry fields come from aipsync's
shipped defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aip import constants as C
from aip.entities.virtual import Link, Stored
from aip.model import LatestVersionStatus, MetadataValue, RelationshipType, entity_type_of
from aip.repository.registry import DEFAULT_FIELDS, ENTITY_FIELDS
from aip.repository.relationships import default_types

REGISTRY = {f.name for f in (*DEFAULT_FIELDS, *ENTITY_FIELDS)}


def value(field_name: str, text: str, language: str | None = None) -> MetadataValue:
    schema, element, *rest = field_name.split(".")
    return MetadataValue(schema, element, rest[0] if rest else None, text, language)


@dataclass
class DictGraph:
    """Items by key: ``values[key]`` is a list of ``Stored`` (value, place)."""

    types: list[RelationshipType] = field(default_factory=lambda: list(default_types()))
    values: dict[str, list[Stored]] = field(default_factory=dict)
    uuids: dict[str, str] = field(default_factory=dict)
    link_list: list[Link[str]] = field(default_factory=list)
    fields: set[str] = field(default_factory=lambda: set(REGISTRY))

    def add_item(self, key: str, entity: str | None, *values: tuple[str, str, int]) -> str:
        stored = [Stored(value(f, t), p) for f, t, p in values]
        if entity is not None:
            stored.append(Stored(value(".".join(C.ENTITY_TYPE_FIELD), entity), 0))
        self.values[key] = stored
        self.uuids[key] = f"00000000-0000-4000-8000-{len(self.uuids):012d}"
        return key

    def relate(self, left: str, right: str, leftward: str, left_place: int, right_place: int,
               *, right_type: str | None = None, leftward_value: str | None = None,
               rightward_value: str | None = None,
               latest: LatestVersionStatus = LatestVersionStatus.BOTH) -> Link[str]:
        left_type = self.entity_type(left)
        right_type = right_type or self.entity_type(right)
        order, rtype = next((n, t) for n, t in enumerate(self.types)
                            if (t.leftward, t.left_type, t.right_type)
                            == (leftward, left_type, right_type))
        link = Link(id=len(self.link_list) + 1, type=rtype, type_order=order, left=left,
                    right=right, left_place=left_place, right_place=right_place,
                    leftward_value=leftward_value, rightward_value=rightward_value,
                    latest=latest)
        self.link_list.append(link)
        return link

    # -- the Graph protocol ------------------------------------------------------------
    def entity_type(self, item: str) -> str | None:
        return entity_type_of(s.value for s in self.values[item])

    def is_entity_type(self, label: str) -> bool:
        return any(label in (t.left_type, t.right_type) for t in self.types)

    def stored(self, item: str, field_name: str) -> Sequence[MetadataValue]:
        return [s.value for s in sorted(self.values[item], key=lambda s: s.place)
                if s.value.field == field_name]

    def uuid(self, item: str) -> str:
        return self.uuids[item]

    def links(self, item: str) -> Sequence[Link[str]]:
        return [link for link in self.link_list if item in (link.left, link.right)]

    def types_of(self, label: str) -> Sequence[tuple[int, RelationshipType]]:
        return [(n, t) for n, t in enumerate(self.types) if label in (t.left_type, t.right_type)]

    def has_field(self, field_name: str) -> bool:
        return field_name in self.fields


# -- repositories with entities, through the command line ----------------------------------
def cli(location: Any, verb: str, *args: str, expect: int = 0) -> str:
    """``aipsync repo VERB ARGS`` on ``location``; returns the last output line."""
    from helpers import repo_cli

    result = repo_cli(location, verb, *args, expect=expect)
    return result.last if expect == 0 else result.err


@dataclass
class Site:
    """Handles of a small entity site built by ``build_site``."""

    community: str = ""
    collections: dict[str, str] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)


def build_site(location: Any) -> Site:
    """A small graph through the CLI: Persons, an OrgUnit, a Project, a Journal with a volume
    and an issue, and a Publication whose authors interleave plain values with a Person and
    an OrgUnit (name variant on the Person)."""
    site = Site()
    cli(location, "initialize-entities")
    site.community = cli(location, "create-community", "--name", "Research")
    for entity in ("Publication", "Person", "OrgUnit", "Project", "Journal", "JournalVolume",
                   "JournalIssue"):
        site.collections[entity] = cli(location, "create-collection", "--name",
                                       f"{entity}s", "--parent", site.community,
                                       "--entity-type", entity)

    def item(name: str, entity: str, *values: tuple[str, str]) -> str:
        handle = cli(location, "create-item", "--collection", site.collections[entity],
                     "--title", name)
        for field_name, text in values:
            cli(location, "set-metadata", handle, field_name, text)
        site.items[name] = handle
        return handle

    smith = item("Smith", "Person", ("person.familyName", "Smith"),
                 ("person.givenName", "Jane"))
    lab = item("Lab", "OrgUnit", ("organization.legalName", "Acme Lab"))
    item("Project X", "Project")
    journal = item("Journal", "Journal", ("creativeworkseries.issn", "1234-5678"))
    volume = item("Volume", "JournalVolume", ("publicationvolume.volumeNumber", "7"))
    issue = item("Issue", "JournalIssue", ("publicationissue.issueNumber", "2"))
    paper = item("Paper", "Publication", ("dc.contributor.author", "Able, A."))
    cli(location, "relate", paper, smith, "--type", "isAuthorOfPublication",
        "--rightward-value", "Smith, J.")
    cli(location, "relate", journal, volume, "--type", "isVolumeOfJournal")
    cli(location, "relate", volume, issue, "--type", "isIssueOfJournalVolume")
    cli(location, "relate", issue, paper, "--type", "isPublicationOfJournalIssue")
    cli(location, "relate", paper, lab, "--type", "isOrgUnitOfPublication")
    cli(location, "relate", smith, lab, "--type", "isOrgUnitOfPerson")
    return site
