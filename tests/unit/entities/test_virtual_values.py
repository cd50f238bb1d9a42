"""Virtual metadata computed on read: DSpace's rules on hand-made graphs, and round trips
(stored + virtual -> merged -> split gives the stored values and their places back)."""

from __future__ import annotations

from helpers.entities import DictGraph
from hypothesis import given, settings
from hypothesis import strategies as st

from aip.entities.virtual import Stored, merged, split, virtual_values
from aip.model import LatestVersionStatus, RelationshipType, Tilted
from aip.repository.relationships import default_virtual_config

CONFIG = default_virtual_config()
AUTHOR = "dc.contributor.author"


def rank(field: str) -> int:
    return {"dc.contributor.author": 0, "dc.title": 1}.get(field, 2 + len(field))


def _people(graph: DictGraph) -> tuple[str, str]:
    smith = graph.add_item("smith", "Person", ("person.familyName", "Smith", 0),
                           ("person.givenName", "John", 0))
    acme = graph.add_item("acme", "OrgUnit", ("organization.legalName", "Acme Lab", 0))
    return smith, acme


def test_interleaved_authors_share_places_with_plain_values() -> None:
    graph = DictGraph()
    smith, acme = _people(graph)
    paper = graph.add_item("paper", "Publication", (AUTHOR, "Able, A.", 0),
                           (AUTHOR, "Charlie, C.", 2), ("dc.title", "Paper", 0))
    person_link = graph.relate(paper, smith, "isAuthorOfPublication", 1, 0)
    org_link = graph.relate(paper, acme, "isAuthorOfPublication", 3, 0, right_type="OrgUnit")
    found = virtual_values(graph, CONFIG, paper)
    authors = [(v.value, v.place, v.relationship_id) for v in found if v.field == AUTHOR]
    assert authors == [("Smith, John", 1, person_link.id), ("Acme Lab", 3, org_link.id)]
    relation = [(v.field, v.value, v.place) for v in found if v.field.startswith("relation.")]
    assert ("relation.isAuthorOfPublication", graph.uuid(smith), 1) in relation
    assert ("relation.isAuthorOfPublication.latestForDiscovery", graph.uuid(acme), -1) \
        in relation
    stored = [s for s in graph.values[paper] if s.value.field != "dspace.entity.type"]
    names = [v.value for v in merged(stored, found, rank) if v.field == AUTHOR]
    assert names == ["Able, A.", "Smith, John", "Charlie, C.", "Acme Lab"]
    assert all(v.authority == f"virtual::{person_link.id}"
               for v in merged((), found, rank) if v.value == "Smith, John")


def test_a_name_variant_replaces_the_computed_name_on_its_side_only() -> None:
    graph = DictGraph()
    smith, _ = _people(graph)
    paper = graph.add_item("paper", "Publication")
    graph.relate(paper, smith, "isAuthorOfPublication", 0, 0, rightward_value="Smith, J.",
                 leftward_value="The Paper")
    assert [v.value for v in virtual_values(graph, CONFIG, paper) if v.field == AUTHOR] == [
        "Smith, J."]
    # the Person has no mapping for isPublicationOfAuthor: relation.* values only
    person = virtual_values(graph, CONFIG, smith)
    assert {v.field for v in person} == {"relation.isPublicationOfAuthor",
                                         "relation.isPublicationOfAuthor.latestForDiscovery"}


def test_tilted_types_and_version_status_hide_relationships() -> None:
    graph = DictGraph()
    smith, _ = _people(graph)
    graph.types = [RelationshipType("Publication", "Person", "isAuthorOfPublication",
                                    "isPublicationOfAuthor", tilted=Tilted.RIGHT)]
    paper = graph.add_item("paper", "Publication")
    graph.relate(paper, smith, "isAuthorOfPublication", 0, 0)
    assert virtual_values(graph, CONFIG, paper) == []        # tilted right: left shows none
    assert virtual_values(graph, CONFIG, smith) != []
    graph.types = [RelationshipType("Publication", "Person", "isAuthorOfPublication",
                                    "isPublicationOfAuthor")]
    graph.link_list.clear()
    graph.relate(paper, smith, "isAuthorOfPublication", 0, 0,
                 latest=LatestVersionStatus.LEFT_ONLY)
    # LEFT_ONLY: the Person is not the latest version, so the Publication does not show it,
    # but it still lists the Person in latestForDiscovery (the Publication is the latest)
    fields = {v.field for v in virtual_values(graph, CONFIG, paper)}
    assert fields == {"relation.isAuthorOfPublication.latestForDiscovery"}
    assert virtual_values(graph, CONFIG, smith)[0].field == \
        "relation.isPublicationOfAuthor"


def test_related_beans_follow_issue_volume_journal() -> None:
    graph = DictGraph()
    journal = graph.add_item("journal", "Journal", ("dc.title", "J. of Tests", 0),
                             ("creativeworkseries.issn", "1234-5678", 0))
    volume = graph.add_item("volume", "JournalVolume", ("dc.title", "Volume 7", 0),
                            ("publicationvolume.volumeNumber", "7", 0))
    issue = graph.add_item("issue", "JournalIssue", ("publicationissue.issueNumber", "2", 0))
    paper = graph.add_item("paper", "Publication")
    graph.relate(journal, volume, "isVolumeOfJournal", 0, 0)
    graph.relate(volume, issue, "isIssueOfJournalVolume", 0, 0)
    graph.relate(issue, paper, "isPublicationOfJournalIssue", 0, 0)
    values = {(v.field, v.value) for v in virtual_values(graph, CONFIG, paper)}
    assert {("creativeworkseries.issn", "1234-5678"), ("journal.title", "J. of Tests"),
            ("journalvolume.identifier.name", "Volume 7"),
            ("relation.isJournalOfPublication", graph.uuid(journal)),
            ("relation.isJournalIssueOfPublication", graph.uuid(issue))} <= values
    issue_values = {(v.field, v.value) for v in virtual_values(graph, CONFIG, issue)}
    assert ("publicationvolume.volumeNumber", "7") in issue_values
    assert ("journal.title", "J. of Tests") in issue_values


def test_a_target_field_missing_from_the_registry_gives_no_value() -> None:
    graph = DictGraph()
    graph.fields.discard("journal.title")
    journal = graph.add_item("journal", "Journal", ("dc.title", "J", 0))
    volume = graph.add_item("volume", "JournalVolume")
    graph.relate(journal, volume, "isVolumeOfJournal", 0, 0)
    assert "journal.title" not in {v.field for v in virtual_values(graph, CONFIG, volume)}


def test_an_item_of_an_unknown_entity_type_has_none() -> None:
    graph = DictGraph()
    smith, _ = _people(graph)
    paper = graph.add_item("paper", "Publication")
    graph.relate(paper, smith, "isAuthorOfPublication", 0, 0)
    graph.values[paper][-1] = Stored(graph.values[paper][-1].value.__class__(
        "dspace", "entity", "type", "Unheard"), 0)
    assert virtual_values(graph, CONFIG, paper) == []


# -- round trips --------------------------------------------------------------------------
slots = st.lists(st.sampled_from(["plain", "person", "org"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(slots, st.lists(st.sampled_from(["de", None, "en"]), min_size=8, max_size=8),
       st.lists(st.booleans(), min_size=8, max_size=8))
def test_merged_then_split_gives_stored_values_and_places_back(
        layout: list[str], languages: list[str | None], variants: list[bool]) -> None:
    """A Publication whose author list interleaves plain values and Person/OrgUnit
    relationships: its merged values (what DSpace writes into DIM) split back into exactly
    the stored values and their places, and hints naming each related item at its place."""
    graph = DictGraph()
    paper = graph.add_item("paper", "Publication", ("dc.title", "T", 0))
    expected = []
    for place, kind in enumerate(layout):
        if kind == "plain":
            stored = Stored(graph.values[paper][0].value.__class__(
                "dc", "contributor", "author", f"Plain {place}", languages[place]), place)
            graph.values[paper].append(stored)
            continue
        entity = "Person" if kind == "person" else "OrgUnit"
        other = graph.add_item(f"o{place}", entity, ("person.familyName", f"Fam{place}", 0),
                               ("organization.legalName", f"Org{place}", 0))
        graph.relate(paper, other, "isAuthorOfPublication", place, 0, right_type=entity,
                     rightward_value=f"Variant {place}" if variants[place] else None)
        expected.append((graph.uuid(other), place))
    virtual = virtual_values(graph, CONFIG, paper)
    values = merged(graph.values[paper], virtual, rank)
    back = split(values, CONFIG)
    stored_order = merged(graph.values[paper], [], rank)
    assert back.stored == tuple(stored_order)
    plain = [s.place for s in graph.values[paper] if s.value.field == "dc.contributor.author"]
    gapped = dict(back.places)
    if plain != list(range(len(plain))):
        assert gapped["dc.contributor.author"] == tuple(sorted(plain))
    else:
        assert "dc.contributor.author" not in gapped
    assert sorted((h.uuid, h.place) for h in back.hints
                  if h.name == "isAuthorOfPublication") == sorted(expected)
    assert back.virtual == len(virtual)
