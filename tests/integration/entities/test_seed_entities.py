"""``repo seed --entities``: deterministic, and the graph has every case it promises."""

from __future__ import annotations

import json
from collections.abc import Callable

from helpers import RepoLocation, repo_cli

SEED = ("--items", "240", "--communities", "1", "--collections", "7", "--seed", "4",
        "--bitstreams", "0")


def _seeded(fresh: Callable[[str], RepoLocation], name: str) -> dict:  # type: ignore[type-arg]
    location = fresh(name)
    result = repo_cli(location, "seed", "--entities", *SEED)
    assert "relationships" in result.out
    return json.loads(repo_cli(location, "dump", "--json", "--virtual").out)


def test_the_entity_seed_is_deterministic_and_complete(
        fresh: Callable[[str], RepoLocation]) -> None:
    data = _seeded(fresh, "one")
    assert json.dumps(data, sort_keys=True) == json.dumps(_seeded(fresh, "two"),
                                                          sort_keys=True)
    items = {i["handle"]: i for i in data["items"]}
    rels = data["relationships"]
    names = {r["leftward_type"] for r in rels}
    assert {"isAuthorOfPublication", "isOrgUnitOfPerson", "isPublicationOfJournalIssue",
            "isVolumeOfJournal", "isIssueOfJournalVolume", "isProjectOfPublication",
            "isOrgUnitOfPublication", "isProjectOfPerson", "isOrgUnitOfProject"} <= names
    tilted = [t for t in data["relationship_types"] if t["tilted"] != "NONE"]
    assert [(t["leftward_type"], t["tilted"]) for t in tilted] == [("isOrgUnitOfPerson",
                                                                    "LEFT")]
    # Person and OrgUnit authors interleaved with plain authors (places with gaps)
    assert any(r["right_entity_type"] == "OrgUnit" and r["leftward_type"] ==
               "isAuthorOfPublication" for r in rels)
    gapped = [i for i in items.values() if "dc.contributor.author" in i["places"]]
    assert gapped
    for item in gapped:
        plain = set(item["places"]["dc.contributor.author"])
        related = {v["place"] for v in item["virtual"] if v["field"] ==
                   "dc.contributor.author"}
        assert not plain & related
    assert any(r["rightward_value"] for r in rels)
    assert any(items[r["right"]]["withdrawn"] or items[r["left"]]["withdrawn"] for r in rels)
    assert {r["latest_version_status"] for r in rels} == {"BOTH", "LEFT_ONLY", "RIGHT_ONLY"}
    languages = {m["language"] for i in items.values() for m in i["metadata"]
                 if m["field"] == "dspace.entity.type"}
    assert {"en_US", "", None} <= languages
    persons = [i for i in items.values() if any(
        m["field"] == "dspace.entity.type" and m["value"] == "Person" for m in i["metadata"])]
    assert any(not any(m["field"] == "dc.title" for m in p["metadata"]) for p in persons)
    assert all(i["uuid"] for i in items.values())
    assert {c["entity_type"] for c in data["collections"]} == {
        "Publication", "Person", "OrgUnit", "Project", "Journal", "JournalVolume",
        "JournalIssue"}
