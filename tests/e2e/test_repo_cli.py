"""The ``repo`` command group end to end: every verb, bad input, rollback, determinism.

Most calls run in-process through ``aip.cli.run`` (fast, same code path as the console
script); a few run ``python -m daemon`` as a subprocess to prove the console path.  Every
call states the exit code it expects (docs/style.md P4).  Verb tests run on SQLite and, when a
server answers, on PostgreSQL (``--db-url``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers import (
    ADMIN,
    BACKENDS,
    PREFIX,
    SITE,
    RepoLocation,
    assert_one_line_error,
    asset_files,
    cli_snapshot,
    console_env,
    dangling_references,
    drop_database,
    location_for,
    repo_cli,
    run_cli,
    run_console,
)

from aip import constants as C
from aip.repository import auth
from aip.repository import tables as T

P = PREFIX


def h(suffix: int) -> str:
    return f"{P}/{suffix}"


# =============================================================================================
# Fixtures and small builders
# =============================================================================================
@pytest.fixture(params=BACKENDS)
def loc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RepoLocation]:
    """An empty location on the parametrized backend (not initialised)."""
    location = location_for(request, request.param, tmp_path / "repo")
    try:
        yield location
    finally:
        if location.db_url is not None:
            drop_database(location.db_url)


def init(location: RepoLocation, *extra: str) -> RepoLocation:
    result = repo_cli(location, "init", "--handle-prefix", P, "--admin", ADMIN, *extra)
    assert result.last == SITE
    return location


@pytest.fixture
def repo(loc: RepoLocation) -> RepoLocation:
    """``repo init`` through the CLI, on the parametrized backend."""
    return init(loc)


def dump(location: RepoLocation, handle: str | None = None) -> dict[str, Any]:
    args = ["--handle", handle] if handle else []
    data: dict[str, Any] = json.loads(repo_cli(location, "dump", "--json", *args).out)
    return data


def by_handle(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["handle"]: r for r in rows}


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in rows}


def number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return int(match.group(1))


def item_of(location: RepoLocation, handle: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = dump(location, handle)["items"]
    assert [i["handle"] for i in items] == [handle]
    return items[0]


def values(obj: dict[str, Any], field: str) -> list[tuple[str, str | None]]:
    return [(v["value"], v["language"]) for v in obj["metadata"] if v["field"] == field]


def every_policy(item: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(item["policies"])
    for bundle in item["bundles"]:
        found += bundle["policies"]
        for bs in bundle["bitstreams"]:
            found += bs["policies"]
    return found


def basic_tree(location: RepoLocation) -> dict[str, str]:
    """Top community > sub-community > collection > item, plus a second collection."""
    made = {
        "top": repo_cli(location, "create-community", "--name", "Top").last,
        "sub": repo_cli(location, "create-community", "--name", "Sub",
                        "--parent", h(1)).last,
        "coll": repo_cli(location, "create-collection", "--name", "Coll",
                         "--parent", h(2)).last,
        "other": repo_cli(location, "create-collection", "--name", "Other",
                          "--parent", h(1)).last,
        "item": repo_cli(location, "create-item", "--collection", h(3),
                         "--title", "An item").last,
    }
    assert list(made.values()) == [h(n) for n in range(1, 6)]
    return made


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def dc_xml(*values_: tuple[str, str | None, str] | tuple[str, str | None, str, str],
           schema: str | None = None) -> str:
    """A ``dublin_core.xml`` / ``metadata_<schema>.xml`` document."""
    attr = f' schema="{schema}"' if schema else ""
    rows = []
    for value in values_:
        element, qualifier, text = value[0], value[1], value[2]
        lang = f' language="{value[3]}"' if len(value) > 3 else ""
        rows.append(f'  <dcvalue element="{element}" qualifier="{qualifier or "none"}"'
                    f"{lang}>{text}</dcvalue>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<dublin_core{attr}>\n" + "\n".join(rows) + "\n</dublin_core>\n")


def write_saf(root: Path, items: dict[str, dict[str, str | bytes]]) -> Path:
    """An SAF folder: one sub-folder per item, each a mapping of file name to content."""
    for folder, files in items.items():
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            write_file(root / folder / name, data)
    return root


#: A file ``saf_item`` leaves out although it would write it by default.
REMOVE = "<remove this file>"


def saf_item(title: str, *files: str, extra: dict[str, str | bytes] | None = None
             ) -> dict[str, str | bytes]:
    item: dict[str, str | bytes] = {"dublin_core.xml": dc_xml(("title", None, title))}
    if files:
        item["contents"] = "".join(f"{name}\n" for name in files)
        for name in files:
            item[name] = f"bytes of {name} in {title}".encode()
    item.update(extra or {})
    return {name: data for name, data in item.items() if data != REMOVE}


# =============================================================================================
# Every verb
# =============================================================================================
def test_init_makes_site_groups_and_administrator(loc: RepoLocation) -> None:
    result = repo_cli(loc, "init", "--handle-prefix", P, "--admin", "Boss@Example.org",
                      "--admin-password", "s3cret", "--site-name", "Test site")
    assert result.last == SITE
    assert "administrator Boss@Example.org" in result.lines[0]
    data = dump(loc)
    assert data["site"] == {"handle": SITE, "name": "Test site", "url": data["site"]["url"],
                            "communities": []}
    groups = by_name(data["groups"])
    assert set(groups) == {"Anonymous", "Administrator"}
    assert groups["Administrator"]["members"] == ["boss@example.org"]
    (admin,) = data["epeople"]
    assert admin["email"] == "boss@example.org"
    assert admin["password"] == {"algorithm": "SHA-512"}
    assert {s["prefix"] for s in data["registry"]["schemas"]} >= {"dc", "dcterms"}
    assert data["registry"]["formats"]
    # a second init changes nothing
    before = cli_snapshot(loc)
    again = repo_cli(loc, "init", "--handle-prefix", P, "--admin", ADMIN,
                     expect=C.EXIT_EXISTS)
    assert_one_line_error(again, C.EXIT_EXISTS, "already exists")
    assert cli_snapshot(loc) == before



def test_create_community_collection_item(repo: RepoLocation) -> None:
    made = basic_tree(repo)
    data = dump(repo)
    comms = by_handle(data["communities"])
    colls = by_handle(data["collections"])
    assert data["site"]["communities"] == [made["top"]]
    assert comms[made["top"]]["parent"] is None
    assert comms[made["top"]]["subcommunities"] == [made["sub"]]
    assert comms[made["top"]]["collections"] == [made["other"]]
    assert comms[made["sub"]]["parent"] == made["top"]
    assert comms[made["sub"]]["collections"] == [made["coll"]]
    assert colls[made["coll"]]["parents"] == [made["sub"]]
    assert colls[made["coll"]]["items"] == [made["item"]]
    assert values(comms[made["sub"]], "dc.title") == [("Sub", None)]
    assert values(colls[made["other"]], "dc.title") == [("Other", None)]
    item = item_of(repo, made["item"])
    assert item["owning_collection"] == made["coll"]
    assert (item["in_archive"], item["withdrawn"], item["discoverable"]) == (True, False, True)
    assert values(item, "dc.title") == [("An item", None)]
    assert values(item, "dc.identifier.uri") == [(f"http://hdl.handle.net/{made['item']}",
                                                  None)]
    assert values(item, "dc.date.accessioned")


def test_add_bitstream_stores_bytes_with_their_checksums(repo: RepoLocation,
                                                         tmp_path: Path) -> None:
    made = basic_tree(repo)
    item = made["item"]
    paper = write_file(tmp_path / "in" / "paper.pdf", bytes(range(256)) * 40)
    notes = write_file(tmp_path / "in" / "notes.txt", "Notizen über Gletscher\n".encode())
    blob = write_file(tmp_path / "in" / "blob", b"\x00\x01" * 10)
    assert repo_cli(repo, "add-bitstream", item, str(paper), "--bundle", "ORIGINAL",
                    "--name", "Paper.pdf", "--description", "the paper",
                    "--primary").last == f"{item}/ORIGINAL/1"
    assert repo_cli(repo, "add-bitstream", item, str(notes), "--bundle",
                    "TEXT").last == f"{item}/TEXT/2"
    assert repo_cli(repo, "add-bitstream", item, str(blob)).last == f"{item}/ORIGINAL/3"
    data = item_of(repo, item)
    bundles = {b["name"]: b for b in data["bundles"]}
    assert list(bundles) == ["ORIGINAL", "TEXT"]
    original = bundles["ORIGINAL"]
    assert original["primary_sequence_id"] == 1
    assert [(b["sequence_id"], b["name"]) for b in original["bitstreams"]] == [
        (1, "Paper.pdf"), (3, "blob")]
    pdf = original["bitstreams"][0]
    assert (pdf["format"], pdf["mimetype"], pdf["description"]) == (
        "Adobe PDF", "application/pdf", "the paper")
    assert original["bitstreams"][1]["format"] == "Unknown"
    assert bundles["TEXT"]["bitstreams"][0]["name"] == "notes.txt"
    assert bundles["TEXT"]["primary_sequence_id"] is None
    stored = {hashlib.sha256(p.read_bytes()).hexdigest()
              for p in repo.assetstore.rglob("*") if p.is_file()}
    for path, bs in ((paper, pdf), (notes, bundles["TEXT"]["bitstreams"][0]),
                     (blob, original["bitstreams"][1])):
        content = path.read_bytes()
        assert bs["md5"] == hashlib.md5(content).hexdigest()
        assert bs["sha256"] == hashlib.sha256(content).hexdigest()
        assert bs["size"] == len(content)
        assert bs["sha256"] in stored
    assert len(asset_files(repo)) == 3


def test_set_metadata_replaces_a_field(repo: RepoLocation) -> None:
    made = basic_tree(repo)
    item = made["item"]
    assert repo_cli(repo, "set-metadata", item, "dc.title", "Neuer Titel",
                    "--lang", "de").last == item
    assert repo_cli(repo, "set-metadata", item, "dc.subject", "first").last == item
    assert repo_cli(repo, "set-metadata", item, "dc.subject", "second", "--lang",
                    "en").last == item
    assert repo_cli(repo, "set-metadata", item, "dcterms.abstract", "Kurz").last == item
    data = item_of(repo, item)
    assert values(data, "dc.title") == [("Neuer Titel", "de")]
    assert values(data, "dc.subject") == [("second", "en")]
    assert values(data, "dcterms.abstract") == [("Kurz", None)]
    assert values(data, "dc.date.accessioned")  # other fields untouched
    # containers: only their fixed fields; an empty value removes the field
    assert repo_cli(repo, "set-metadata", made["top"], "dc.description.abstract",
                    "About us").last == made["top"]
    assert repo_cli(repo, "set-metadata", made["coll"], "dc.rights.license",
                    "Licence text").last == made["coll"]
    assert repo_cli(repo, "set-metadata", made["coll"], "dc.title", "Renamed").last == (
        made["coll"])
    assert repo_cli(repo, "set-metadata", made["coll"], "dc.rights.license", "").last == (
        made["coll"])
    assert repo_cli(repo, "set-metadata", SITE, "dc.title", "My repository").last == SITE
    data = dump(repo)
    top = by_handle(data["communities"])[made["top"]]
    coll = by_handle(data["collections"])[made["coll"]]
    assert values(top, "dc.description.abstract") == [("About us", None)]
    assert values(coll, "dc.title") == [("Renamed", None)]
    assert values(coll, "dc.rights.license") == []
    assert data["site"]["name"] == "My repository"


def test_withdraw_and_reinstate_switch_policies_and_flags(repo: RepoLocation,
                                                          tmp_path: Path) -> None:
    basic_tree(repo)
    coll = h(3)  # a CLI-made collection carries DSpace's default read policies for Anonymous
    item = repo_cli(repo, "create-item", "--collection", coll, "--title", "Readable").last
    repo_cli(repo, "add-bitstream", item, str(write_file(tmp_path / "a.txt", b"a")))
    live = item_of(repo, item)
    assert {(p["action"], p["group"]) for p in every_policy(live)} == {("READ", "Anonymous")}
    assert len(every_policy(live)) == 3  # item, bundle, bitstream

    assert repo_cli(repo, "withdraw", item).last == item
    gone = item_of(repo, item)
    assert (gone["withdrawn"], gone["in_archive"]) == (True, False)
    assert {p["action"] for p in every_policy(gone)} == {"WITHDRAWN_READ"}
    assert len(every_policy(gone)) == 3
    assert any("withdrawn" in v for v, _ in values(gone, "dc.description.provenance"))
    assert item in by_handle(dump(repo)["collections"])[coll]["items"]
    assert "1 withdrawn" in next(line for line in repo_cli(repo, "tree").lines
                                 if line.strip().startswith(coll))

    assert repo_cli(repo, "reinstate", item).last == item
    back = item_of(repo, item)
    assert (back["withdrawn"], back["in_archive"]) == (False, True)
    assert {p["action"] for p in every_policy(back)} == {"READ"}
    assert any("reinstated" in v for v, _ in values(back, "dc.description.provenance"))


def test_map_item(repo: RepoLocation) -> None:
    made = basic_tree(repo)
    assert repo_cli(repo, "map-item", made["item"], made["other"]).last == (
        f"{made['item']} -> {made['other']}")
    assert item_of(repo, made["item"])["mapped_collections"] == [made["other"]]
    colls = by_handle(dump(repo)["collections"])
    assert colls[made["other"]]["items"] == [made["item"]]
    assert colls[made["coll"]]["items"] == [made["item"]]
    line = next(x for x in repo_cli(repo, "tree").lines if x.strip().startswith(made["other"]))
    assert "1 items" in line and "1 mapped in" in line


def test_delete_removes_the_object_and_everything_it_owns(repo: RepoLocation,
                                                          tmp_path: Path) -> None:
    made = basic_tree(repo)
    doomed, kept = made["item"], repo_cli(repo, "create-item", "--collection", made["other"],
                                          "--title", "Survivor").last
    for n, handle in enumerate((doomed, doomed, kept)):
        repo_cli(repo, "add-bitstream", handle,
                 str(write_file(tmp_path / f"f{n}.txt", b"file %d" % n)))
    repo_cli(repo, "map-item", kept, made["coll"])     # mapped into the doomed collection
    assert len(asset_files(repo)) == 3
    kept_sha = item_of(repo, kept)["bundles"][0]["bitstreams"][0]["sha256"]

    assert repo_cli(repo, "delete", made["sub"]).last == f"deleted community {made['sub']}"
    data = dump(repo)
    assert set(by_handle(data["communities"])) == {made["top"]}
    assert set(by_handle(data["collections"])) == {made["other"]}
    assert set(by_handle(data["items"])) == {kept}
    assert by_handle(data["communities"])[made["top"]]["subcommunities"] == []
    assert by_handle(data["items"])[kept]["mapped_collections"] == []
    remaining = [p for p in repo.assetstore.rglob("*") if p.is_file()]
    assert len(remaining) == 1                         # the two files of the doomed item went
    assert hashlib.sha256(remaining[0].read_bytes()).hexdigest() == kept_sha
    for handle in (made["sub"], made["coll"], doomed):
        assert_one_line_error(repo_cli(repo, "dump", "--json", "--handle", handle,
                                       expect=C.EXIT_NOT_FOUND), C.EXIT_NOT_FOUND, handle)
    assert dangling_references(repo) == {}
    # handles are never reused: new objects get new suffixes
    fresh = repo_cli(repo, "create-community", "--name", "Sub again").last
    assert fresh == h(7)
    assert repo_cli(repo, "delete", kept).last == f"deleted item {kept}"
    assert repo_cli(repo, "create-item", "--collection", made["other"],
                    "--title", "x").last == h(8)
    assert asset_files(repo) == set()


def test_epeople_groups_and_members(repo: RepoLocation) -> None:
    assert repo_cli(repo, "create-eperson", "--email", "Jane@Example.org", "--first", "Jane",
                    "--last", "Doe", "--password", "pw-123").last == "jane@example.org"
    assert repo_cli(repo, "create-eperson", "--email", "bob@example.org",
                    "--netid", "bob01").last == "bob@example.org"
    assert repo_cli(repo, "create-group", "--name", "Staff").last == "Staff"
    assert repo_cli(repo, "create-group", "--name", "Reviewers").last == "Reviewers"
    assert repo_cli(repo, "add-member", "Staff", "--eperson",
                    "jane@example.org").last == "jane@example.org in Staff"
    assert repo_cli(repo, "add-member", "Staff", "--eperson",
                    "bob@example.org").last == "bob@example.org in Staff"
    assert repo_cli(repo, "add-member", "Reviewers", "--group",
                    "Staff").last == "Staff in Reviewers"
    data = dump(repo)
    people = {p["email"]: p for p in data["epeople"]}
    jane, bob = people["jane@example.org"], people["bob@example.org"]
    assert (jane["first_name"], jane["last_name"], jane["can_log_in"]) == ("Jane", "Doe", True)
    assert jane["password"] == {"algorithm": "SHA-512"}
    assert bob["password"] is None and bob["netid"] == "bob01"
    groups = by_name(data["groups"])
    assert groups["Staff"]["members"] == ["bob@example.org", "jane@example.org"]
    assert groups["Reviewers"]["member_groups"] == ["Staff"]
    assert groups["Reviewers"]["members"] == []
    with repo.opened() as opened, opened.transaction(write=False) as tx:
        person = auth.find_eperson(tx, "jane@example.org")
        assert person is not None
        assert auth.check_password(person, "pw-123")
        assert not auth.check_password(person, "wrong")
        staff = auth.require_group(tx, "Staff")
        reviewers = auth.require_group(tx, "Reviewers")
        assert reviewers in auth.groups_of(tx, person.id)  # through the member group
        assert staff in auth.groups_of(tx, person.id)


def test_add_policy_and_clear_policies(repo: RepoLocation, tmp_path: Path) -> None:
    made = basic_tree(repo)
    item, coll = made["item"], made["coll"]
    repo_cli(repo, "add-bitstream", item, str(write_file(tmp_path / "a.txt", b"a")))
    # start from no policies: CLI-made objects carry DSpace's defaults
    for where in ([], ["--bundle", "ORIGINAL"], ["--bitstream", "1"]):
        repo_cli(repo, "clear-policies", item, *where)
    repo_cli(repo, "clear-policies", coll)
    repo_cli(repo, "create-group", "--name", "Staff")
    repo_cli(repo, "create-eperson", "--email", "jane@example.org")
    assert repo_cli(repo, "add-policy", item, "--action", "READ", "--group", "Staff",
                    "--name", "staff read", "--description", "for staff",
                    "--start-date", "2030-01-01", "--end-date", "2030-12-31"
                    ).last == f"READ on {item}"
    assert repo_cli(repo, "add-policy", item, "--action", "write", "--eperson",
                    "Jane@Example.org").last == f"WRITE on {item}"
    repo_cli(repo, "add-policy", item, "--action", "READ", "--group", "Anonymous",
             "--bundle", "ORIGINAL")
    repo_cli(repo, "add-policy", item, "--action", "REMOVE", "--eperson", "jane@example.org",
             "--bitstream", "1")
    assert repo_cli(repo, "add-policy", coll, "--action", "ADMIN", "--group",
                    "Staff").last == f"ADMIN on {coll}"
    data = item_of(repo, item)
    assert data["policies"] == [
        {"action": "READ", "group": "Staff", "eperson": None, "name": "staff read",
         "description": "for staff", "policy_type": None, "start_date": "2030-01-01",
         "end_date": "2030-12-31"},
        {"action": "WRITE", "group": None, "eperson": "jane@example.org", "name": None,
         "description": None, "policy_type": None, "start_date": None, "end_date": None},
    ]
    bundle = data["bundles"][0]
    assert [(p["action"], p["group"]) for p in bundle["policies"]] == [("READ", "Anonymous")]
    assert [(p["action"], p["eperson"]) for p in bundle["bitstreams"][0]["policies"]] == [
        ("REMOVE", "jane@example.org")]
    collection = by_handle(dump(repo)["collections"])[coll]
    assert [(p["action"], p["group"]) for p in collection["policies"]] == [("ADMIN", "Staff")]

    assert repo_cli(repo, "clear-policies", item).last == f"no policies on {item}"
    data = item_of(repo, item)
    assert data["policies"] == []
    assert data["bundles"][0]["policies"]                      # only the item's own
    repo_cli(repo, "clear-policies", item, "--bundle", "ORIGINAL")
    repo_cli(repo, "clear-policies", item, "--bitstream", "1")
    repo_cli(repo, "clear-policies", coll)
    assert every_policy(item_of(repo, item)) == []
    assert by_handle(dump(repo)["collections"])[coll]["policies"] == []


def test_tree_shows_handles_and_counts(tmp_path: Path) -> None:
    location = init(RepoLocation(tmp_path / "repo"))
    seeded = repo_cli(location, "seed", "--items", "30", "--seed", "4")
    drafts = number(r"(\d+) in-progress", seeded.lines[0])
    lines = repo_cli(location, "tree").lines
    data = dump(location)
    assert lines[0].startswith(f"{SITE}  SITE  ")
    assert f"({len(data['site']['communities'])} top communities)" in lines[0]
    assert lines[-1] == f"{len(data['epeople'])} e-people, {len(data['groups'])} groups"
    rows = {line.split()[0]: line for line in lines[1:-1]}
    for comm in data["communities"]:
        line = rows[comm["handle"]]
        assert " COMMUNITY " in line
        assert (f"({len(comm['subcommunities'])} sub-communities, "
                f"{len(comm['collections'])} collections)") in line
        indent = len(line) - len(line.lstrip())
        depth = 1
        parent = comm["parent"]
        while parent:
            depth += 1
            parent = by_handle(data["communities"])[parent]["parent"]
        assert indent == 2 * depth
    in_progress = 0
    for coll in data["collections"]:
        line = rows[coll["handle"]]
        assert " COLLECTION " in line and f"({len(coll['items'])} items, " in line
        in_progress += number(r"(\d+) in progress", line)
    assert in_progress == drafts > 0


def test_dump_of_a_subtree(repo: RepoLocation) -> None:
    made = basic_tree(repo)
    whole = dump(repo)
    assert dump(repo, SITE) == whole
    top = dump(repo, made["top"])
    assert "site" not in top and "epeople" not in top and "groups" not in top
    assert {c["handle"] for c in top["communities"]} == {made["top"], made["sub"]}
    assert {c["handle"] for c in top["collections"]} == {made["coll"], made["other"]}
    assert [i["handle"] for i in top["items"]] == [made["item"]]
    coll = dump(repo, made["coll"])
    assert (coll["communities"], [c["handle"] for c in coll["collections"]]) == (
        [], [made["coll"]])
    assert dump(repo, made["other"])["items"] == []
    assert item_of(repo, made["item"]) == whole["items"][0]
    assert_one_line_error(repo_cli(repo, "dump", "--json", "--handle", h(99),
                                   expect=C.EXIT_NOT_FOUND), C.EXIT_NOT_FOUND, h(99))
    assert_one_line_error(repo_cli(repo, "dump", "--json", "--handle", "nonsense",
                                   expect=C.EXIT_HANDLE_FORMAT), C.EXIT_HANDLE_FORMAT)


def test_import_saf(repo: RepoLocation, tmp_path: Path) -> None:
    made = basic_tree(repo)
    coll, other = made["coll"], made["other"]
    repo_cli(repo, "create-group", "--name", "Staff")
    # the CLI-made collection already has DSpace's default read policies for Anonymous
    saf = write_saf(tmp_path / "saf", {
        "item_000": {
            "dublin_core.xml": dc_xml(("title", None, "Glaciers", "en"),
                                      ("contributor", "author", "Doe, Jane"),
                                      ("contributor", "author", "Roe, Rick"),
                                      ("date", "issued", "2021")),
            "metadata_dcterms.xml": dc_xml(("abstract", None, "Ice, mostly."),
                                           schema="dcterms"),
            "contents": ("paper.pdf\tbundle:ORIGINAL\tdescription:The paper\tprimary:true"
                         "\tpermissions:-r 'Staff'\n"
                         "paper.txt\tbundle:TEXT\n"
                         "\n"
                         "license.txt\tbundle:LICENSE\n"),
            "paper.pdf": b"%PDF-1.4 glaciers",
            "paper.txt": b"Gletscher",
            "license.txt": b"You may.",
            "handle": f"{P}/500\n",
            "collections": f"{other}\n{coll}\n",
        },
        "item_001": saf_item("Rivers", "rivers.csv"),
    })
    result = repo_cli(repo, "import-saf", "--collection", coll, str(saf))
    assert result.lines == [f"imported 2 items into {coll}", h(500), h(501)]
    first, second = item_of(repo, h(500)), item_of(repo, h(501))
    assert first["owning_collection"] == other          # first line of `collections`
    assert first["mapped_collections"] == [coll]
    assert values(first, "dc.title") == [("Glaciers", "en")]
    assert values(first, "dc.contributor.author") == [("Doe, Jane", None),
                                                      ("Roe, Rick", None)]
    assert values(first, "dc.date.issued") == [("2021", None)]
    assert values(first, "dcterms.abstract") == [("Ice, mostly.", None)]
    assert values(first, "dc.identifier.uri") == [(f"http://hdl.handle.net/{P}/500", None)]
    bundles = {b["name"]: b for b in first["bundles"]}
    assert set(bundles) == {"ORIGINAL", "TEXT", "LICENSE"}
    pdf = bundles["ORIGINAL"]["bitstreams"][0]
    assert (pdf["name"], pdf["description"], pdf["sha256"]) == (
        "paper.pdf", "The paper", hashlib.sha256(b"%PDF-1.4 glaciers").hexdigest())
    assert bundles["ORIGINAL"]["primary_sequence_id"] == pdf["sequence_id"]
    assert [(p["action"], p["group"]) for p in pdf["policies"]] == [("READ", "Staff")]
    assert bundles["TEXT"]["bitstreams"][0]["name"] == "paper.txt"
    assert second["owning_collection"] == coll
    (rivers,) = second["bundles"][0]["bitstreams"]
    assert rivers["name"] == "rivers.csv"
    # the collection's default read applies where SAF gave no permissions
    assert [(p["action"], p["group"]) for p in rivers["policies"]] == [("READ", "Anonymous")]
    # the restored handle moved the counter: the next new item does not collide
    assert repo_cli(repo, "create-item", "--collection", coll, "--title", "t").last == h(502)


def test_seed_verb_reports_what_it_made(tmp_path: Path) -> None:
    location = init(RepoLocation(tmp_path / "repo"))
    result = repo_cli(location, "seed", "--items", "30", "--seed", "2", "--bitstreams", "2",
                      "--bitstream-size", "100")
    assert result.last == "30 items"
    assert result.lines[0].startswith("seeded ")
    assert "30 items (1 withdrawn, 3 mapped)" in result.lines[0]
    data = dump(location)
    assert len(data["items"]) == 30
    assert sum(i["withdrawn"] for i in data["items"]) == 1
    assert sum(bool(i["mapped_collections"]) for i in data["items"]) == 3
    assert_one_line_error(repo_cli(location, "seed", "--items", "-1", expect=C.EXIT_USAGE),
                          C.EXIT_USAGE, "--items")


# =============================================================================================
# Determinism: the issue's "done when"
# =============================================================================================
SEED_ARGS = ("seed", "--items", "1000", "--seed", "7")


def _seeded(location: RepoLocation) -> tuple[RepoLocation, str]:
    init(location)
    result = repo_cli(location, *SEED_ARGS)
    assert result.last == "1000 items"
    return location, result.lines[0]


@pytest.fixture(scope="module")
def seeded_1000(tmp_path_factory: pytest.TempPathFactory) -> tuple[RepoLocation, str, str]:
    """A SQLite repository after ``init`` + ``seed --items 1000 --seed 7``, its dump and the
    seed's report line."""
    location, report = _seeded(RepoLocation(tmp_path_factory.mktemp("seed1000") / "a"))
    return location, repo_cli(location, "dump", "--json").out, report


def _content_digests(location: RepoLocation) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in location.assetstore.rglob("*") if p.is_file())


def test_seed_1000_gives_identical_dumps_twice_and_in_another_folder(
        seeded_1000: tuple[RepoLocation, str, str], tmp_path: Path) -> None:
    first, text, _ = seeded_1000
    assert repo_cli(first, "dump", "--json").out == text      # same repository, again
    second, _ = _seeded(RepoLocation(tmp_path / "b"))
    assert repo_cli(second, "dump", "--json").out == text     # another folder
    assert _content_digests(second) == _content_digests(first)


@pytest.mark.postgres
def test_seed_1000_gives_the_same_dump_on_postgresql(
        seeded_1000: tuple[RepoLocation, str, str], tmp_path: Path, pg_url: str) -> None:
    _, text, report = seeded_1000
    try:
        pg, pg_report = _seeded(RepoLocation(tmp_path / "pg", pg_url))
        assert pg_report == report
        assert repo_cli(pg, "dump", "--json").out == text
    finally:
        drop_database(pg_url)


def test_seed_1000_has_exactly_1000_items_and_keeps_drafts_out(
        seeded_1000: tuple[RepoLocation, str, str]) -> None:
    location, text, report = seeded_1000
    data = json.loads(text)
    items = data["items"]
    counts = re.search(r"1000 items \((\d+) withdrawn, (\d+) mapped\).* (\d+) in-progress",
                       report)
    assert counts, report
    withdrawn, mapped, drafts = (int(g) for g in counts.groups())
    assert len(items) == 1000 and all(i["handle"] for i in items)
    assert len({i["handle"] for i in items}) == 1000
    assert sum(i["withdrawn"] for i in items) == withdrawn > 0
    assert sum(bool(i["mapped_collections"]) for i in items) == mapped > 0
    assert drafts > 0
    with location.opened() as repo, repo.transaction(write=False) as tx:
        assert tx.scalar(sa.select(sa.func.count()).select_from(T.workspace_item)) == drafts
        assert tx.scalar(sa.select(sa.func.count()).select_from(T.item).where(
            T.item.c.is_template.is_(False))) == 1000 + drafts
    assert "Draft " not in text


def test_another_seed_gives_another_dump(tmp_path: Path) -> None:
    dumps = []
    for seed in ("7", "8", "7"):
        location = init(RepoLocation(tmp_path / f"s{len(dumps)}"))
        repo_cli(location, "seed", "--items", "40", "--seed", seed)
        dumps.append(repo_cli(location, "dump", "--json").out)
    assert dumps[0] != dumps[1]
    assert dumps[0] == dumps[2]


# =============================================================================================
# Bad input: one clear line, the table's exit code, nothing changed
# =============================================================================================
@pytest.fixture(scope="module")
def bad_template(tmp_path_factory: pytest.TempPathFactory) -> RepoLocation:
    """top (P/1) > coll (P/2), other (P/3); item P/4 with a file in coll; e-person
    x@example.org; group G."""
    location = init(RepoLocation(tmp_path_factory.mktemp("bad") / "repo"))
    repo_cli(location, "create-community", "--name", "Top")
    repo_cli(location, "create-collection", "--name", "Coll", "--parent", h(1))
    repo_cli(location, "create-collection", "--name", "Other", "--parent", h(1))
    repo_cli(location, "create-item", "--collection", h(2), "--title", "Item")
    data = write_file(location.folder.parent / "in" / "a.txt", b"a")
    repo_cli(location, "add-bitstream", h(4), str(data))
    repo_cli(location, "create-eperson", "--email", "x@example.org")
    repo_cli(location, "create-group", "--name", "G")
    return location


@pytest.fixture
def bad_repo(bad_template: RepoLocation, tmp_path: Path) -> RepoLocation:
    """A private copy of the template (SQLite: a folder copy)."""
    shutil.copytree(bad_template.folder, tmp_path / "repo")
    return RepoLocation(tmp_path / "repo")


ITEM, COLL, OTHER, TOP = h(4), h(2), h(3), h(1)
NOT_FOUND, FORMAT, PARENT = C.EXIT_NOT_FOUND, C.EXIT_HANDLE_FORMAT, C.EXIT_MISSING_PARENT
USAGE, EXISTS, INVALID = C.EXIT_USAGE, C.EXIT_EXISTS, C.EXIT_INVALID_VALUE
REGISTRY, INPUT = C.EXIT_METADATA_REGISTRY, C.EXIT_INPUT_FILE

BAD_CASES: list[tuple[str, tuple[str, ...], int, str]] = [
    # wrong or unknown handles
    ("unknown-handle", ("withdraw", h(999)), NOT_FOUND, h(999)),
    ("wrong-type-handle", ("withdraw", COLL), NOT_FOUND, COLL),
    ("unknown-handle-metadata", ("set-metadata", h(999), "dc.title", "x"), NOT_FOUND, h(999)),
    ("unknown-handle-policy", ("clear-policies", h(999)), NOT_FOUND, h(999)),
    ("unknown-handle-delete", ("delete", h(999)), NOT_FOUND, h(999)),
    ("site-not-deletable", ("delete", SITE), NOT_FOUND, SITE),
    ("unknown-handle-dump", ("dump", "--json", "--handle", h(999)), NOT_FOUND, h(999)),
    ("unknown-map-target", ("map-item", ITEM, h(999)), NOT_FOUND, h(999)),
    ("malformed-handle", ("withdraw", "not-a-handle"), FORMAT, "not-a-handle"),
    ("malformed-parent", ("create-community", "--name", "x", "--parent", "12/"), FORMAT,
     "12/"),
    # missing parents
    ("missing-parent-community", ("create-community", "--name", "x", "--parent", h(999)),
     PARENT, h(999)),
    ("missing-parent-collection", ("create-collection", "--name", "x", "--parent", h(999)),
     PARENT, h(999)),
    ("item-as-parent", ("create-collection", "--name", "x", "--parent", ITEM), PARENT, ITEM),
    ("missing-collection", ("create-item", "--collection", h(999), "--title", "x"), PARENT,
     h(999)),
    # people and groups
    ("duplicate-email", ("create-eperson", "--email", "x@example.org"), EXISTS,
     "x@example.org"),
    ("duplicate-email-case", ("create-eperson", "--email", "X@Example.ORG"), EXISTS,
     "x@example.org"),
    ("not-an-email", ("create-eperson", "--email", "nobody"), INVALID, "nobody"),
    ("duplicate-group", ("create-group", "--name", "G"), EXISTS, "G"),
    ("unknown-group", ("add-member", "Nope", "--eperson", "x@example.org"), NOT_FOUND, "Nope"),
    ("unknown-member", ("add-member", "G", "--eperson", "y@example.org"), NOT_FOUND,
     "y@example.org"),
    ("group-in-itself", ("add-member", "G", "--group", "G"), INVALID, "itself"),
    # metadata
    ("unknown-field", ("set-metadata", ITEM, "dc.nosuch", "x"), REGISTRY, "dc.nosuch"),
    ("unknown-schema", ("set-metadata", ITEM, "nosuch.title", "x"), REGISTRY, "nosuch"),
    ("malformed-field", ("set-metadata", ITEM, "title", "x"), INVALID, "title"),
    ("container-field", ("set-metadata", TOP, "dc.subject", "x"), INVALID, "dc.subject"),
    ("container-uri", ("set-metadata", COLL, "dc.identifier.uri", "x"), INVALID,
     "dc.identifier.uri"),
    ("site-field", ("set-metadata", SITE, "dc.description", "x"), INVALID, "dc.title"),
    # files
    ("missing-file", ("add-bitstream", ITEM, "/nonexistent/file.pdf"), INPUT,
     "/nonexistent/file.pdf"),
    ("folder-not-file", ("add-bitstream", ITEM, "/"), INPUT, "/"),
    ("bitstream-on-collection", ("add-bitstream", COLL, __file__), NOT_FOUND, COLL),
    ("unknown-submitter", ("create-item", "--collection", COLL, "--title", "x",
                           "--submitter", "y@example.org"), NOT_FOUND, "y@example.org"),
    # policies
    ("bad-action", ("add-policy", ITEM, "--action", "READ_ALL", "--group", "G"), USAGE,
     "READ_ALL"),
    ("bad-date", ("add-policy", ITEM, "--action", "READ", "--group", "G", "--start-date",
                  "2024-02-30"), USAGE, "2024-02-30"),
    ("bad-date-text", ("add-policy", ITEM, "--action", "READ", "--group", "G",
                       "--end-date", "tomorrow"), USAGE, "tomorrow"),
    ("end-before-start", ("add-policy", ITEM, "--action", "READ", "--group", "G",
                          "--start-date", "2030-01-02", "--end-date", "2030-01-01"), USAGE,
     "--end-date"),
    ("policy-unknown-group", ("add-policy", ITEM, "--action", "READ", "--group", "Nope"),
     NOT_FOUND, "Nope"),
    ("policy-unknown-eperson", ("add-policy", ITEM, "--action", "READ", "--eperson",
                                "y@example.org"), NOT_FOUND, "y@example.org"),
    ("policy-unknown-bitstream", ("add-policy", ITEM, "--action", "READ", "--group", "G",
                                  "--bitstream", "9"), NOT_FOUND, "#9"),
    ("policy-unknown-bundle", ("clear-policies", ITEM, "--bundle", "THUMBNAIL"), NOT_FOUND,
     "THUMBNAIL"),
    ("bundle-on-collection", ("add-policy", COLL, "--action", "READ", "--group", "G",
                              "--bundle", "ORIGINAL"), USAGE, "--bundle"),
    # state changes that make no sense
    ("reinstate-live", ("reinstate", ITEM), INVALID, "not withdrawn"),
    ("map-into-owner", ("map-item", ITEM, COLL), INVALID, "owned"),
    # usage
    ("unknown-verb", ("frobnicate",), USAGE, "frobnicate"),
    ("dump-without-json", ("dump",), USAGE, "--json"),
    ("missing-argument", ("create-item", "--collection", COLL), USAGE, "--title"),
]


#: One or two of each kind, for PostgreSQL (the CLI and library code is shared; what
#: differs is how the database reports and rolls back).
PG_BAD_CASES = {"unknown-handle", "malformed-handle", "missing-parent-collection",
                "missing-collection", "duplicate-email", "duplicate-email-case",
                "duplicate-group", "group-in-itself", "unknown-field", "container-field",
                "missing-file", "bad-action", "bad-date", "policy-unknown-eperson",
                "map-into-owner", "unknown-handle-dump"}


def _bad_call(location: RepoLocation, args: tuple[str, ...], code: int, fragment: str
              ) -> None:
    before = cli_snapshot(location)
    result = repo_cli(location, *args, expect=code)
    assert_one_line_error(result, code, fragment)
    assert cli_snapshot(location) == before


@pytest.mark.parametrize(("args", "code", "fragment"),
                         [pytest.param(a, c, f, id=i) for i, a, c, f in BAD_CASES])
def test_bad_input_changes_nothing(bad_repo: RepoLocation, args: tuple[str, ...], code: int,
                                   fragment: str) -> None:
    _bad_call(bad_repo, args, code, fragment)


def test_state_errors_after_withdrawal_change_nothing(bad_repo: RepoLocation) -> None:
    repo_cli(bad_repo, "withdraw", ITEM)
    _bad_call(bad_repo, ("withdraw", ITEM), INVALID, "already withdrawn")
    repo_cli(bad_repo, "map-item", ITEM, OTHER)
    _bad_call(bad_repo, ("map-item", ITEM, OTHER), INVALID, "already")


@pytest.mark.postgres
def test_bad_input_on_postgresql_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    """A representative part of the table against PostgreSQL, in one database (each case
    checked on its own)."""
    assert {name for name, *_ in BAD_CASES} >= PG_BAD_CASES
    location = RepoLocation(tmp_path / "pg", pg_url)
    try:
        init(location)
        for args in (("create-community", "--name", "Top"),
                     ("create-collection", "--name", "Coll", "--parent", h(1)),
                     ("create-collection", "--name", "Other", "--parent", h(1)),
                     ("create-item", "--collection", h(2), "--title", "Item"),
                     ("add-bitstream", h(4), str(write_file(tmp_path / "a.txt", b"a"))),
                     ("create-eperson", "--email", "x@example.org"),
                     ("create-group", "--name", "G")):
            repo_cli(location, *args)
        for name, args, code, fragment in BAD_CASES:
            if name in PG_BAD_CASES:
                _bad_call(location, args, code, fragment)
    finally:
        drop_database(pg_url)


def test_no_repository_and_not_a_repository(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("repo", "tree", expect=C.EXIT_STORE), C.EXIT_STORE,
                          "no repository given")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("--repo", str(empty), "repo", "tree", expect=C.EXIT_STORE),
                          C.EXIT_STORE, "not an aipsync repository")
    assert list(empty.iterdir()) == []


# -- SAF input ------------------------------------------------------------------------------------
SAF_CASES: list[tuple[str, dict[str, str | bytes], int, str]] = [
    ("missing-file", {"contents": "gone.pdf\n"}, INPUT, "gone.pdf"),
    ("bad-xml", {"dublin_core.xml": "<dublin_core><dcvalue element='title'>x</dublin_core>"},
     INPUT, "not well-formed"),
    ("doctype", {"dublin_core.xml": '<?xml version="1.0"?>\n<!DOCTYPE dublin_core SYSTEM '
                                    '"http://127.0.0.1:9/x.dtd">\n<dublin_core><dcvalue '
                                    'element="title">x</dcvalue></dublin_core>'},
     INPUT, "DTD"),
    ("entity", {"dublin_core.xml": '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY e '
                                   '"boom">]>\n<dublin_core><dcvalue element="title">&e;'
                                   '</dcvalue></dublin_core>'}, INPUT, "entities"),
    ("external-entity", {"metadata_dcterms.xml": '<!DOCTYPE d [<!ENTITY e SYSTEM '
                                                 '"file:///etc/passwd">]><dublin_core '
                                                 'schema="dcterms">&e;</dublin_core>'},
     INPUT, "metadata_dcterms.xml"),
    ("wrong-root", {"dublin_core.xml": "<metadata/>"}, INPUT, "<dublin_core>"),
    ("no-dublin-core", {"dublin_core.xml": REMOVE,
                        "metadata_dcterms.xml": dc_xml(("abstract", None, "x"),
                                                       schema="dcterms")},
     INPUT, "no dublin_core.xml"),
    ("no-title", {"dublin_core.xml": dc_xml(("subject", None, "x"))}, INVALID, "title"),
    ("unknown-field", {"dublin_core.xml": dc_xml(("title", None, "T"),
                                                 ("nosuch", None, "x"))},
     REGISTRY, "dc.nosuch"),
    ("unknown-schema", {"metadata_zzz.xml": dc_xml(("a", None, "x"), schema="zzz")},
     REGISTRY, "zzz"),
    ("bad-permissions", {"contents": "a.txt\tpermissions:-x 'G'\n", "a.txt": b"a"}, INPUT,
     "permissions"),
    ("unknown-option", {"contents": "a.txt\tcolour:red\n", "a.txt": b"a"}, INPUT, "colour"),
    ("path-in-contents", {"contents": "../a.txt\n"}, INPUT, "../a.txt"),
    ("bad-handle-file", {"handle": "no handle here\n"}, FORMAT, "no handle here"),
    ("handle-in-use", {"handle": f"{ITEM}\n"}, INVALID, ITEM),
    ("unknown-collection", {"collections": f"{h(999)}\n"}, NOT_FOUND, h(999)),
]


@pytest.mark.parametrize(("files", "code", "fragment"),
                         [pytest.param(f, c, s, id=i) for i, f, c, s in SAF_CASES])
def test_bad_saf_imports_nothing(bad_repo: RepoLocation, tmp_path: Path,
                                 files: dict[str, str | bytes], code: int,
                                 fragment: str) -> None:
    item = saf_item("Bad one", extra=files)
    saf = write_saf(tmp_path / "saf", {"item_000": saf_item("Good", "good.txt"),
                                       "item_001": item})
    _bad_call(bad_repo, ("import-saf", "--collection", COLL, str(saf)), code, fragment)


def test_saf_folder_problems(bad_repo: RepoLocation, tmp_path: Path) -> None:
    _bad_call(bad_repo, ("import-saf", "--collection", COLL, str(tmp_path / "nowhere")),
              INPUT, "not a folder")
    (tmp_path / "empty").mkdir()
    _bad_call(bad_repo, ("import-saf", "--collection", COLL, str(tmp_path / "empty")),
              INPUT, "no item folders")
    saf = write_saf(tmp_path / "saf", {"item_000": saf_item("Good")})
    _bad_call(bad_repo, ("import-saf", "--collection", h(999), str(saf)), NOT_FOUND, h(999))


# =============================================================================================
# Rollback of a failed multi-row change
# =============================================================================================
THIRD_ITEM_FAILURES = [
    # its file is written to the assetstore before the group lookup fails
    pytest.param({"contents": "c.txt\tpermissions:-r 'Nobody'\n", "c.txt": b"c"},
                 NOT_FOUND, "Nobody", id="unknown-group-after-its-file"),
    pytest.param({"metadata_dcterms.xml": dc_xml(("nosuch", None, "x"), schema="dcterms")},
                 REGISTRY, "dcterms.nosuch", id="unknown-field"),
    pytest.param({"handle": f"{h(5)}\n"}, INVALID, h(5), id="handle-in-use"),
]


@pytest.mark.parametrize(("third", "code", "fragment"), THIRD_ITEM_FAILURES)
def test_import_saf_with_a_bad_third_item_imports_nothing(
        loc: RepoLocation, tmp_path: Path, third: dict[str, str | bytes], code: int,
        fragment: str) -> None:
    init(loc)
    basic_tree(loc)                                                          # P/1 .. P/5
    repo_cli(loc, "create-item", "--collection", h(3), "--title", "filler")  # P/6
    items = {"item_000": saf_item("One", "a.txt", "b.txt"),
             "item_001": saf_item("Two", "c.txt"),
             "item_002": saf_item("Three", extra=third)}
    saf = write_saf(tmp_path / "saf", items)
    before = cli_snapshot(loc)
    result = repo_cli(loc, "import-saf", "--collection", h(3), str(saf), expect=code)
    assert_one_line_error(result, code, fragment)
    assert cli_snapshot(loc) == before                    # no rows, no files
    assert list(loc.assetstore.glob(".journal-*")) == []
    # the handle counter did not move: the next item gets the first SAF item's handle
    assert repo_cli(loc, "create-item", "--collection", h(3), "--title", "next").last == h(7)
    # with the third item fixed, the same folder imports
    write_saf(saf, {"item_002": saf_item("Three")})
    for name in ("contents", "c.txt", "metadata_dcterms.xml", "handle"):
        (saf / "item_002" / name).unlink(missing_ok=True)
    assert repo_cli(loc, "import-saf", "--collection", h(3), str(saf)).lines[1:] == [
        h(8), h(9), h(10)]
    assert len(asset_files(loc)) == 3
    assert dangling_references(loc) == {}


# =============================================================================================
# The console path: python -m daemon
# =============================================================================================
def test_console_init_seed_dump(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    repo = ["--repo", str(folder), "repo"]
    assert run_console(*repo, "init", "--handle-prefix", P, "--admin", ADMIN,
                       expect=C.EXIT_OK).last == SITE
    assert run_console(*repo, "seed", "--items", "12", "--seed", "3",
                       expect=C.EXIT_OK).last == "12 items"
    text = run_console(*repo, "dump", "--json", expect=C.EXIT_OK).out
    assert text == repo_cli(RepoLocation(folder), "dump", "--json").out
    assert len(json.loads(text)["items"]) == 12
    # AIPSYNC_REPO stands for --repo
    tree = run_console("repo", "tree", expect=C.EXIT_OK,
                       env=console_env(AIPSYNC_REPO=str(folder)))
    assert tree.lines[0].startswith(f"{SITE}  SITE")


def test_console_errors_have_the_tables_exit_codes(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    init(RepoLocation(folder))
    repo = ["--repo", str(folder), "repo"]
    for args, code, fragment in (
            (("withdraw", h(999)), C.EXIT_NOT_FOUND, h(999)),
            (("create-collection", "--name", "x", "--parent", h(999)), C.EXIT_MISSING_PARENT,
             h(999)),
            (("frobnicate",), C.EXIT_USAGE, "frobnicate")):
        result = run_console(*repo, *args, expect=code)
        assert_one_line_error(result, code, fragment)
    assert_one_line_error(run_console("repo", "tree", expect=C.EXIT_STORE,
                                      env=console_env()), C.EXIT_STORE, "no repository")
