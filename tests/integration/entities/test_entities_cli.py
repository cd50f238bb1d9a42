"""The entities verbs: initialize-entities, create-item --entity-type, relate, unrelate,
dump --json [--virtual]; their errors change nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import RepoLocation, assert_one_line_error, repo_cli, snapshot
from helpers.entities import Site, cli

from aip import constants as C
from aip.repository import tables as T


def _dump(location: RepoLocation, *extra: str) -> dict:  # type: ignore[type-arg]
    return json.loads(repo_cli(location, "dump", "--json", *extra).out)


def _authors(location: RepoLocation, handle: str) -> list[tuple[str, int | None]]:
    """The merged dc.contributor.author list of an item: (value, place)."""
    data = _dump(location, "--handle", handle, "--virtual")
    (item,) = data["items"]
    plain = [m["value"] for m in item["metadata"] if m["field"] == "dc.contributor.author"]
    places = item["places"].get("dc.contributor.author", list(range(len(plain))))
    merged = [(p, 1, v) for v, p in zip(plain, places, strict=True)]
    merged += [(v["place"], 0, v["value"]) for v in item["virtual"]
               if v["field"] == "dc.contributor.author"]
    return [(v, p) for p, _, v in sorted(merged)]


def test_initialize_entities_loads_dspaces_types_and_registry(location: RepoLocation) -> None:
    result = repo_cli(location, "initialize-entities")
    assert result.last == "10 relationship types"
    data = _dump(location)
    assert data["entity_types"] == ["Journal", "JournalIssue", "JournalVolume", "OrgUnit",
                                    "Person", "Project", "Publication"]
    fields = {f["name"] for f in data["registry"]["fields"]}
    assert {"dspace.entity.type", "person.familyName", "relation.isAuthorOfPublication",
            "relation.isAuthorOfPublication.latestForDiscovery", "journal.title",
            "person.contributor.other"} <= fields
    again = repo_cli(location, "initialize-entities")
    assert "0 created, 0 updated, 10 unchanged" in again.out
    assert _dump(location) == data


def test_a_changed_file_updates_types_and_never_deletes(location: RepoLocation,
                                                        tmp_path: Path) -> None:
    repo_cli(location, "initialize-entities")
    custom = tmp_path / "types.xml"
    custom.write_text("""<relationships><type>
      <leftType>Publication</leftType><rightType>Person</rightType>
      <leftwardType>isAuthorOfPublication</leftwardType>
      <rightwardType>isPublicationOfAuthor</rightwardType>
      <rightCardinality><max>2</max></rightCardinality><tilted>left</tilted>
    </type><type>
      <leftType>Dataset</leftType><rightType>Person</rightType>
      <leftwardType>isCreatorOfDataset</leftwardType>
      <rightwardType>isDatasetOfCreator</rightwardType>
    </type></relationships>""")
    result = repo_cli(location, "initialize-entities", "-f", str(custom))
    assert "1 created, 1 updated, 0 unchanged" in result.out
    assert result.last == "11 relationship types"
    types = {(t["left_type"], t["right_type"], t["leftward_type"]): t
             for t in _dump(location)["relationship_types"]}
    author = types[("Publication", "Person", "isAuthorOfPublication")]
    assert (author["right_max_cardinality"], author["tilted"], author["copy_to_left"]) == (
        2, "LEFT", False)
    assert ("Dataset", "Person", "isCreatorOfDataset") in types
    assert "relation.isCreatorOfDataset" in {f["name"] for f in
                                             _dump(location)["registry"]["fields"]}


@pytest.mark.parametrize(("content", "rule"), [
    ("<relationships><type><leftType>A</leftType></type></relationships>", "no <rightType>"),
    ("<relationships><type>", "not well-formed"),
])
def test_a_malformed_file_is_one_line_and_writes_nothing(
        location: RepoLocation, tmp_path: Path, content: str, rule: str) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(content)
    before = snapshot(location)
    result = repo_cli(location, "initialize-entities", "-f", str(bad),
                      expect=C.EXIT_ENTITY_CONFIG)
    assert_one_line_error(result, C.EXIT_ENTITY_CONFIG, str(bad), rule)
    assert snapshot(location) == before


def test_a_virtual_metadata_loop_is_refused(location: RepoLocation, tmp_path: Path) -> None:
    loop = tmp_path / "vm.xml"
    loop.write_text("""<beans xmlns="http://www.springframework.org/schema/beans">
      <bean class="org.dspace.content.virtual.VirtualMetadataPopulator">
        <property name="map"><map><entry key="isX" value-ref="m"/></map></property></bean>
      <map id="m"><entry key="dc.title" value-ref="r"/></map>
      <bean class="org.dspace.content.virtual.Related" id="r">
        <property name="relationshipTypeString" value="isX"/>
        <property name="virtualMetadataConfiguration" ref="r"/></bean></beans>""")
    before = snapshot(location)
    result = repo_cli(location, "initialize-entities", "--virtual-metadata", str(loop),
                      expect=C.EXIT_ENTITY_CONFIG)
    assert_one_line_error(result, C.EXIT_ENTITY_CONFIG, "r -> r")
    assert snapshot(location) == before


def test_the_dump_has_relationships_with_the_promised_keys(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    data = _dump(location)
    paper, smith = site.items["Paper"], site.items["Smith"]
    (author,) = [r for r in data["relationships"] if r["leftward_type"] ==
                 "isAuthorOfPublication"]
    assert {k: author[k] for k in ("left", "right", "leftward_type", "rightward_type",
                                   "left_place", "right_place", "leftward_value",
                                   "rightward_value")} == {
        "left": paper, "right": smith, "leftward_type": "isAuthorOfPublication",
        "rightward_type": "isPublicationOfAuthor", "left_place": 1, "right_place": 0,
        "leftward_value": None, "rightward_value": "Smith, J."}
    assert len(data["relationships"]) == 6
    collections = {c["handle"]: c["entity_type"] for c in data["collections"]}
    assert collections[site.collections["Person"]] == "Person"
    items = {i["handle"]: i for i in data["items"]}
    assert items[paper]["uuid"] is not None
    assert "virtual" not in items[paper]
    assert _authors(location, paper) == [("Able, A.", 0), ("Smith, J.", 1)]


def test_dump_virtual_with_handle_shows_one_items_virtual_values(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    data = _dump(location, "--handle", site.items["Paper"], "--virtual")
    (paper,) = data["items"]
    values = {(v["field"], v["value"]) for v in paper["virtual"]}
    assert ("journal.title", "Journal") in values
    assert ("creativeworkseries.issn", "1234-5678") in values
    assert ("dc.contributor.other", "Acme Lab") in values
    assert all(v["authority"].startswith("virtual::") for v in paper["virtual"])
    # only relationships touching the dumped item
    assert {r["left"] for r in data["relationships"]} | {
        r["right"] for r in data["relationships"]} >= {site.items["Paper"]}
    assert all(site.items["Paper"] in (r["left"], r["right"]) for r in data["relationships"])


def test_relate_at_a_place_moves_plain_values_and_unrelate_closes_the_gap(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    paper = site.items["Paper"]
    person = cli(location, "create-item", "--collection", site.collections["Person"],
                 "--title", "Doe")
    cli(location, "set-metadata", person, "person.familyName", "Doe")
    cli(location, "relate", paper, person, "--type", "isAuthorOfPublication",
        "--left-place", "0")
    assert _authors(location, paper) == [("Doe", 0), ("Able, A.", 1), ("Smith, J.", 2)]
    cli(location, "unrelate", paper, person, "--type", "isAuthorOfPublication")
    assert _authors(location, paper) == [("Able, A.", 0), ("Smith, J.", 1)]


def test_unrelate_copy_virtual_keeps_the_name_as_a_plain_value(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    paper, smith = site.items["Paper"], site.items["Smith"]
    cli(location, "unrelate", paper, smith, "--type", "isAuthorOfPublication",
        "--copy-virtual")
    (item,) = _dump(location, "--handle", paper)["items"]
    authors = [m for m in item["metadata"] if m["field"] == "dc.contributor.author"]
    assert [(m["value"], m["authority"]) for m in authors] == [("Able, A.", None),
                                                              ("Smith, J.", None)]
    assert _authors(location, paper) == [("Able, A.", 0), ("Smith, J.", 1)]


def test_set_metadata_keeps_the_places_relationships_hold(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    paper = site.items["Paper"]
    cli(location, "set-metadata", paper, "dc.contributor.author", "Zed, Z.")
    assert _authors(location, paper) == [("Zed, Z.", 0), ("Smith, J.", 1)]


def test_create_item_takes_the_collections_entity_type(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    handle = cli(location, "create-item", "--collection", site.collections["OrgUnit"],
                 "--title", "Dept")
    (item,) = _dump(location, "--handle", handle)["items"]
    assert ("dspace.entity.type", "OrgUnit") in {(m["field"], m["value"])
                                                  for m in item["metadata"]}
    other = cli(location, "create-item", "--collection", site.collections["OrgUnit"],
                "--title", "X", "--entity-type", "Project")
    (item,) = _dump(location, "--handle", other)["items"]
    assert ("dspace.entity.type", "Project") in {(m["field"], m["value"])
                                                  for m in item["metadata"]}


@pytest.mark.parametrize("case", ["unknown-type", "reversed", "wrong-entity", "no-entity",
                                  "place", "twice", "unknown-entity-type"])
def test_bad_relationships_are_one_line_errors_and_change_nothing(
        entity_site: tuple[RepoLocation, Site], case: str) -> None:
    location, site = entity_site
    paper, smith, lab = site.items["Paper"], site.items["Smith"], site.items["Lab"]
    plain = cli(location, "create-item", "--collection", site.collections["Person"],
                "--title", "Untyped", "--entity-type", "Person")
    cli(location, "set-metadata", plain, "dspace.entity.type", "")
    before = snapshot(location)
    args, fragments = {
        "unknown-type": (("relate", paper, smith, "--type", "isEditorOfPublication"),
                         ["isEditorOfPublication", "Publication", "Person"]),
        "reversed": (("relate", smith, paper, "--type", "isPublicationOfAuthor"),
                     ["rightward name", "--type isAuthorOfPublication"]),
        "wrong-entity": (("relate", paper, lab, "--type", "isProjectOfPublication"),
                         ["isProjectOfPublication", "OrgUnit"]),
        "no-entity": (("relate", paper, plain, "--type", "isAuthorOfPublication"),
                      [plain, "no entity type"]),
        "place": (("relate", paper, lab, "--type", "isAuthorOfPublication",
                   "--left-place", "9"), ["--left-place 9", "0 to 1"]),
        "twice": (("relate", paper, smith, "--type", "isAuthorOfPublication"),
                  ["already"]),
        "unknown-entity-type": (("create-item", "--collection", site.collections["Person"],
                                 "--title", "T", "--entity-type", "Robot"),
                                ["unknown entity type 'Robot'"]),
    }[case]
    result = repo_cli(location, *args, expect=C.EXIT_RELATIONSHIP)
    assert_one_line_error(result, C.EXIT_RELATIONSHIP, *fragments)
    assert snapshot(location) == before


def test_a_max_cardinality_is_enforced(location: RepoLocation, tmp_path: Path) -> None:
    types = tmp_path / "types.xml"
    types.write_text("""<relationships><type><leftType>Publication</leftType>
      <rightType>Person</rightType><leftwardType>isAuthorOfPublication</leftwardType>
      <rightwardType>isPublicationOfAuthor</rightwardType>
      <leftCardinality><max>1</max></leftCardinality></type></relationships>""")
    cli(location, "initialize-entities", "-f", str(types))
    community = cli(location, "create-community", "--name", "C")
    coll = cli(location, "create-collection", "--name", "All", "--parent", community)
    paper = cli(location, "create-item", "--collection", coll, "--title", "P",
                "--entity-type", "Publication")
    one, two = (cli(location, "create-item", "--collection", coll, "--title", name,
                    "--entity-type", "Person") for name in ("A", "B"))
    cli(location, "relate", paper, one, "--type", "isAuthorOfPublication")
    before = snapshot(location)
    result = repo_cli(location, "relate", paper, two, "--type", "isAuthorOfPublication",
                      expect=C.EXIT_RELATIONSHIP)
    assert_one_line_error(result, C.EXIT_RELATIONSHIP, paper, "left max cardinality is 1")
    assert snapshot(location) == before


def test_deleting_an_item_removes_its_relationships(
        entity_site: tuple[RepoLocation, Site]) -> None:
    location, site = entity_site
    cli(location, "delete", site.items["Smith"])
    data = _dump(location)
    assert all(site.items["Smith"] not in (r["left"], r["right"])
               for r in data["relationships"])
    assert _authors(location, site.items["Paper"]) == [("Able, A.", 0)]


def test_a_version_1_repository_is_upgraded_on_open(location: RepoLocation) -> None:
    """A repository made before entities (schema 1: no item UUIDs, no entity tables)."""
    cli(location, "seed", "--items", "3", "--communities", "1", "--collections", "1")
    before = _dump(location)
    db = sqlite3.connect(location.folder / "repository.sqlite")
    with db:
        db.execute("PRAGMA foreign_keys=OFF")
        for table in ("relationship_pending", "relationship", "relationship_type",
                      "entity_type"):
            db.execute(f"DROP TABLE {table}")
        columns = [c[1] for c in db.execute("PRAGMA table_info(item)") if c[1] != "uuid"]
        schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'item'").fetchone()[0]
        db.execute("ALTER TABLE item RENAME TO item_v2")
        db.execute(schema.replace("uuid VARCHAR(36), ", "").replace(", \n\tUNIQUE (uuid)", "")
                   .replace("UNIQUE (uuid), ", "").replace(",\n\tUNIQUE (uuid)", ""))
        db.execute(f"INSERT INTO item ({', '.join(columns)}) SELECT {', '.join(columns)} "
                   "FROM item_v2")
        db.execute("DROP TABLE item_v2")
        db.execute("UPDATE repository_info SET value = '1' WHERE key = 'schema_version'")
    db.close()
    assert "uuid" not in {c[1] for c in sqlite3.connect(
        location.folder / "repository.sqlite").execute("PRAGMA table_info(item)")}
    after = _dump(location)
    assert after == before
    with location.opened() as repo, repo.transaction(write=False) as tx:
        uuids = list(tx.execute(sa.select(T.item.c.uuid)).scalars())
        assert uuids and all(uuids) and len(set(uuids)) == len(uuids)
        assert tx.scalar(sa.select(T.repository_info.c.value).where(
            T.repository_info.c.key == "schema_version")) == str(T.SCHEMA_VERSION)
