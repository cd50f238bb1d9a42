"""``dspace packager -d [-a]`` through the stand-in: which packages DSpace writes, the lines
it prints, the question it asks, each test citing the DSpace source it checks."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from helpers import ADMIN, RepoLocation
from helpers.dspace_standin import for_version
from helpers.packager import manifest_of, write_tx
from standin_support import VERSIONS, Make, Tree

from aip.repository import objects

QUESTION = "Would you like to view a list of all files that were created? [y/n]:"


def export_argv(handle: str, target: Path, *flags: str) -> list[str]:
    return ["packager", "-d", *flags, "-t", "AIP", "-e", ADMIN, "-i", handle, str(target)]


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def expected_site_files(tree: Tree, ext: str = "zip") -> set[str]:
    """What DSpace writes for the whole site: every object but the withdrawn item, the
    mapped item once."""
    d = tree.dspace
    handles = [("SITE", tree.site), ("COMMUNITY", d.top), ("COMMUNITY", d.child),
               ("COMMUNITY", d.grandchild), ("COLLECTION", d.grandchild_collection),
               ("COLLECTION", d.greatgrandchild_collection), ("ITEM", d.item),
               ("ITEM", d.mapped_item), ("ITEM", d.item3)]
    return {f"{t}@{h.replace('/', '-')}.{ext}" for t, h in handles}


def child_pointers(package: Path) -> set[str]:
    """Handles of the items a collection AIP's structMap points at."""
    from lxml import etree

    root = etree.fromstring(manifest_of(package))
    mets = "{http://www.loc.gov/METS/}"
    href = "{http://www.w3.org/1999/xlink}href"
    return {m.get(href) or "" for m in root.iter(f"{mets}mptr")
            if m.get("LOCTYPE") == "HANDLE"
            and (m.getparent().get("TYPE") or "").endswith("ITEM")}


@pytest.mark.parametrize("version", VERSIONS)
def test_recursive_export_leaves_withdrawn_items_out(standin: Make, tree: Tree,
                                                     tmp_path: Path, version: str) -> None:
    # AbstractPackageDisseminator.disseminateAll(): a collection's children are
    # itemService.findByCollection() = archived items; a withdrawn item has in_archive false
    # (ItemServiceImpl.withdraw()); AbstractMETSDisseminator's collection structMap uses the
    # same call, so it does not point at the withdrawn item either.
    dspace = standin(version)
    out = tmp_path / "out"
    target = out / "SITE@123456789-0.zip"
    result = dspace.run(*export_argv(tree.site, target, "-a", "-u"), expect=0)
    assert names(out) == expected_site_files(tree)
    coll = out / f"COLLECTION@{tree.dspace.greatgrandchild_collection.replace('/', '-')}.zip"
    assert child_pointers(coll) == {tree.dspace.item3, tree.dspace.mapped_item}
    with zipfile.ZipFile(coll) as zf:
        assert zf.testzip() is None
    lines = result.lines
    assert lines[:6] == [
        "", f"Disseminating DSpace SITE [ hdl={tree.site} ] to {target}",
        "", "Also disseminating all child objects (recursive mode)..",
        "This may take a while, please check your logs for ongoing status while we "
        "process each package.", ""]
    assert lines[6] == "CREATED a total of 9 dissemination package files."
    # -u answers the question "y": the list, after println("\n\n")
    assert lines[7:10] == ["", "", ""]
    listed = lines[10:]
    assert listed[0] == f"CREATED package file: {target.resolve()}"
    assert {Path(line.removeprefix("CREATED package file: ")).name for line in listed} \
        == expected_site_files(tree)
    assert dspace.last_call()["prompts"] == []


@pytest.mark.parametrize("version", ["6.3", "7.6.2", "8.1", "10.0"])
def test_without_u_the_question_meets_end_of_input_and_npe_exits_1(
        standin: Make, tree: Tree, tmp_path: Path, version: str) -> None:
    # Packager.disseminate(): print the question, readLine() is null at the end of input,
    # choiceString.equalsIgnoreCase("y") throws NullPointerException outside main()'s try:
    # ScriptLauncher prints it, exit 1 -- after every package was written.
    dspace = standin(version)
    out = tmp_path / "out"
    result = dspace.run(*export_argv(tree.site, out / "SITE@123456789-0.zip", "-a"),
                        expect=1)
    assert result.out.endswith(f"\n{QUESTION} ")
    gen = for_version(version)
    err = result.err.splitlines()
    if version.startswith(("5", "6", "7")):  # Java 8, 11: no helpful NullPointerException
        assert err[0] == "Exception: null"
        assert err[1] == "java.lang.NullPointerException"
    else:  # JDK 15+: JEP 358's message
        message = 'Cannot invoke "String.equalsIgnoreCase(String)" because "choiceString" is null'
        assert err[0] == f"Exception: {message}"
        assert err[1] == f"java.lang.NullPointerException: {message}"
    assert err[2] == ("\tat org.dspace.app.packager.Packager.disseminate(Packager.java:"
                      f"{gen.lines.dissem_prompt})")
    assert names(out) == expected_site_files(tree)
    call = dspace.last_call()
    assert call["prompts"] == [QUESTION]
    assert call["stdin"] == "devnull"


@pytest.mark.parametrize("answer", [b"y\n", b"Y", b"n\n", b"\n"])
def test_an_answer_on_stdin_decides_the_list(standin: Make, tree: Tree, tmp_path: Path,
                                             answer: bytes) -> None:
    # choiceString.equalsIgnoreCase("y"): only "y"/"Y" lists the files; anything else not
    dspace = standin("7.6.2")
    result = dspace.run(*export_argv(tree.dspace.greatgrandchild_collection,
                                     tmp_path / "c.zip", "-a"), expect=0, stdin=answer)
    listed = [line for line in result.lines if line.startswith("CREATED package file:")]
    assert len(listed) == (3 if answer.strip().lower() == b"y" else 0)
    assert dspace.last_call()["stdin"] == "pipe"


def test_single_object_export_of_a_withdrawn_item_works(standin: Make, tree: Tree,
                                                        tmp_path: Path) -> None:
    # Packager.main(): resolveToObject() finds a withdrawn item (its handle stays bound);
    # dip.disseminate() writes it; "CREATED package file: <canonical path>"
    dspace = standin("6.3")
    target = tmp_path / "w" / "withdrawn.zip"
    result = dspace.run(*export_argv(tree.withdrawn, target), expect=0)
    assert result.lines == ["", f"Disseminating DSpace ITEM [ hdl={tree.withdrawn} ] to "
                                f"{target}", "", f"CREATED package file: {target.resolve()}"]
    with zipfile.ZipFile(target) as zf:
        assert zf.testzip() is None
    assert names(target.parent) == {"withdrawn.zip"}


def test_children_take_the_extension_of_the_top_file(standin: Make, tree: Tree,
                                                     tmp_path: Path) -> None:
    # PackageUtils.getFileExtension(): what follows the last "." of the top file's name
    dspace = standin("7.6.2")
    out = tmp_path / "out"
    dspace.run(*export_argv(tree.dspace.grandchild_collection, out / "top.aip", "-a", "-u"),
               expect=0)
    assert names(out) == {"top.aip", f"ITEM@{tree.dspace.item.replace('/', '-')}.aip",
                          f"ITEM@{tree.dspace.mapped_item.replace('/', '-')}.aip"}


def touch(repo: RepoLocation, handle: str, when: dt.datetime) -> None:
    with write_tx(repo) as tx:
        objects.touch_item(tx, objects.item_id(tx, handle), when)


@pytest.mark.parametrize("version", ["5.10", "9.1"])
def test_updated_after_filters_items_only(standin: Make, tree: Tree, repo: RepoLocation,
                                          tmp_path: Path, version: str) -> None:
    # DSpaceAIPDisseminator.disseminate(): updatedAfter applies to Items ("DSpace doesn't
    # store a last modified date for Collections or Communities"), strictly after
    touch(repo, tree.dspace.item3, dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    dspace = standin(version)
    out = tmp_path / "out"
    result = dspace.run(*export_argv(tree.site, out / "SITE@123456789-0.zip", "-a", "-u",
                                     "-o", "updatedAfter=2025-01-02T03:04:04Z"), expect=0)
    items = {n for n in names(out) if n.startswith("ITEM@")}
    assert items == {f"ITEM@{tree.dspace.item3.replace('/', '-')}.zip"}
    assert len(names(out)) == 7  # six containers and one item
    assert "CREATED a total of 7 dissemination package files." in result.lines
    # the same second is not "after"
    again = tmp_path / "again"
    dspace.run(*export_argv(tree.site, again / "s.zip", "-a", "-u",
                            "-o", "updatedAfter=2025-01-02T03:04:05Z"), expect=0)
    assert not any(n.startswith("ITEM@") for n in names(again))


def test_files_left_by_an_earlier_run_are_counted(standin: Make, tree: Tree,
                                                  tmp_path: Path) -> None:
    # disseminateAll(): "if (pkgFile.exists())" after disseminate(): an unchanged item's
    # file from the previous run is listed as CREATED although it was not written
    dspace = standin("7.6.2")
    out = tmp_path / "out"
    dspace.run(*export_argv(tree.site, out / "s.zip", "-a", "-u"), expect=0)
    result = dspace.run(*export_argv(tree.site, out / "s.zip", "-a", "-u",
                                     "-o", "updatedAfter=2030-01-01T00:00:00Z"), expect=0)
    assert "CREATED a total of 9 dissemination package files." in result.lines


@pytest.mark.parametrize(("version", "value", "ok"), [
    # Utils.parseISO8601Date() per generation
    ("6.3", "2024-01-01", False),           # 5.x/6.x: no date-only pattern
    ("7.6.2", "2024-01-01", True),          # 7.x/8.x added "yyyy-MM-dd"
    ("9.1", "2024-01-01", False),           # java.time: no zone, no Instant
    ("7.6.2", "2024-01-01T00:00:00", True),  # SimpleDateFormat: the JVM's zone
    ("10.0", "2024-01-01T00:00:00", False),
    ("10.0", "2024-01-01T00:00:00Z", True),
    ("5.10", "2024-01-01T00:00:00+02:00", True),
    ("8.1", "yesterday", False),
])
def test_updated_after_is_parsed_as_each_generation_does(
        standin: Make, tree: Tree, tmp_path: Path, version: str, value: str,
        ok: bool) -> None:
    # DSpaceAIPDisseminator.disseminate(): an unparseable date throws IOException at the
    # first Item (out of main(): ScriptLauncher, exit 1), the containers before it written
    dspace = standin(version)
    out = tmp_path / "out"
    result = dspace.run(*export_argv(tree.site, out / "s.zip", "-a", "-u",
                                     "-o", f"updatedAfter={value}"), expect=0 if ok else 1)
    if ok:
        return
    err = result.err.splitlines()
    assert err[0] == ("Exception: Invalid date passed in via 'updatedAfter' option. Date "
                      "must be in ISO-8601 format, and include both a day and time (e.g. "
                      "2010-01-01T00:00:00).")
    assert err[1].startswith("java.io.IOException: Invalid date")
    assert not any(n.startswith("ITEM@") for n in names(out))
    assert "s.zip" in names(out)


def test_a_very_short_updated_after_is_a_string_index_error(standin: Make, tree: Tree,
                                                            tmp_path: Path) -> None:
    # 5.x-8.x Utils.parseISO8601Date(): s.charAt(s.length()-6) comes before any check
    result = standin("8.1").run(*export_argv(tree.site, tmp_path / "o" / "s.zip", "-a", "-u",
                                             "-o", "updatedAfter=2024"), expect=1)
    err = result.err.splitlines()
    assert err[0] == "Exception: String index out of range: -2"
    assert err[1] == ("java.lang.StringIndexOutOfBoundsException: String index out of "
                      "range: -2")
