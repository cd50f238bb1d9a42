"""``dspace packager -s/-r/-r -k/-r -f [-a]`` through the stand-in: the lines DSpace prints,
when (before the commit), the questions, and the all-or-nothing transaction, each test
citing the DSpace source it checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ADMIN, RepoLocation, snapshot
from helpers.dspace_standin import for_version
from helpers.packager import delete, export, resolves, write_tx
from standin_support import VERSIONS, Make, Tree

from aip import constants as C
from aip.repository import objects

HEADER = ["Also ingesting all referenced packages (recursive mode)..",
          "This may take a while, please check your logs for ongoing status while we process "
          "each package."]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def package(folder: Path, obj_type: str, handle: str) -> Path:
    return folder / f"{obj_type}@{handle.replace('/', '-')}.zip"


@pytest.fixture
def aips(repo: RepoLocation, tree: Tree, tmp_path: Path) -> Path:
    """aipsync's export of the whole site of the template (the withdrawn item included)."""
    out = tmp_path / "aips"
    out.mkdir()
    export(repo, out / "SITE@123456789-0.zip", tree.site)
    return out


def ingest_argv(pkg: Path, *flags: str) -> list[str]:
    return ["packager", *flags, "-t", "AIP", "-e", ADMIN, str(pkg)]


@pytest.mark.parametrize("version", VERSIONS)
def test_restore_prints_restored_lines_then_commits(
        standin: Make, blank: Callable[[str], RepoLocation], aips: Path, tree: Tree,
        version: str) -> None:
    # Packager.ingest(): "Ingesting package located at", the recursive lines, ingestAll(),
    # "CREATED a total of N DSpace Objects.", the list ("RESTORED DSpace <TYPE> [ hdl=...,
    # dbID=... ] "), then main() commits and exits 0
    target = blank("target")
    dspace = standin(version, target)
    top = package(aips, "COMMUNITY", tree.dspace.top)
    result = dspace.run(*ingest_argv(top, "-r", "-a", "-u"), expect=0)
    lines = result.lines
    assert lines[:6] == ["", f"Ingesting package located at {top}", "", *HEADER, ""]
    assert lines[6] == "CREATED a total of 9 DSpace Objects."
    assert lines[7:10] == ["", "", ""]
    ident = r"\d+" if version.startswith("5") else UUID
    pattern = re.compile(rf"^RESTORED DSpace (COMMUNITY|COLLECTION|ITEM) \[ "
                         rf"hdl=(123456789/\d+), dbID={ident} \] $")
    restored = [pattern.match(line) for line in lines[10:]]
    assert all(restored), lines[10:]
    handles = [m.group(2) for m in restored if m]
    assert handles[0] == tree.dspace.top
    assert set(handles) == set(tree.dspace.all_handles())
    assert all(resolves(target, h) for h in handles)
    assert result.err == ""
    assert not any((dspace.home / "var").iterdir())


@pytest.mark.parametrize("version", ["7.6.2", "10.0"])
def test_restore_without_u_rolls_back_at_the_question(
        standin: Make, blank: Callable[[str], RepoLocation], aips: Path, tree: Tree,
        version: str) -> None:
    # The question is inside main()'s try: the NullPointerException is caught,
    # printStackTrace() (stderr), context.abort() (rollback), System.out.println(e), exit 1
    target = blank("target")
    before = snapshot(target)
    dspace = standin(version, target)
    result = dspace.run(*ingest_argv(package(aips, "COMMUNITY", tree.dspace.top), "-r", "-a"),
                        expect=1)
    question = "Would you like to view a list of all objects that were created? [y/n]: "
    assert "CREATED a total of 9 DSpace Objects." in result.lines
    gen = for_version(version)
    err = result.err.splitlines()
    if version.startswith("10"):  # Java 21: the helpful message
        npe = ('java.lang.NullPointerException: Cannot invoke "String.equalsIgnoreCase('
               'String)" because "choiceString" is null')
    else:
        npe = "java.lang.NullPointerException"
    assert result.out.endswith(question + npe + "\n")
    assert err[0] == npe
    assert err[1] == ("\tat org.dspace.app.packager.Packager.ingest(Packager.java:"
                      f"{gen.lines.ingest_prompt})")
    if version.startswith("10"):
        # 10.x: then throw new PackagerExitException(1), printed by ScriptLauncher
        start = err.index("Exception: Packager exiting with code 1")
        assert err[start + 1] == ("org.dspace.app.packager.PackagerExitException: Packager "
                                  "exiting with code 1")
    assert snapshot(target) == before
    assert dspace.last_call()["prompts"] == [question.strip()]


def test_restore_of_existing_objects_fails_and_changes_nothing(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree) -> None:
    # HandleServiceImpl.createHandle(): "Attempted to create a handle which is already in
    # use"; ingestAll() rethrows it without -k; main() rolls back and exits 1
    before = snapshot(repo)
    dspace = standin("6.3")
    result = dspace.run(*ingest_argv(package(aips, "COMMUNITY", tree.dspace.top), "-r", "-a",
                                     "-u"), expect=1)
    line = ("java.lang.IllegalStateException: Attempted to create a handle which is already "
            f"in use: {tree.dspace.top}")
    assert result.lines[-1] == line
    assert result.err.splitlines()[0] == line
    assert "CREATED a total" not in result.out
    assert snapshot(repo) == before


def test_keep_existing_skips_an_existing_object_and_its_children(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree) -> None:
    # AbstractPackageIngester.ingestAll(): with -k the IllegalStateException only logs a
    # warning; dso stays null, so the skipped object's child packages are never visited and
    # it is not counted: a missing item under an existing community is NOT restored
    delete(repo, tree.dspace.item3)
    dspace = standin("7.6.2")
    result = dspace.run(*ingest_argv(package(aips, "COMMUNITY", tree.dspace.top), "-r", "-k",
                                     "-a", "-u"), expect=0)
    assert "CREATED a total of 0 DSpace Objects." in result.lines
    assert not resolves(repo, tree.dspace.item3)
    # its own package restores it
    result = dspace.run(*ingest_argv(package(aips, "ITEM", tree.dspace.item3), "-r", "-k",
                                     "-a", "-u"), expect=0)
    assert "CREATED a total of 1 DSpace Objects." in result.lines
    assert result.lines[-1].startswith(f"RESTORED DSpace ITEM [ hdl={tree.dspace.item3}, ")
    assert resolves(repo, tree.dspace.item3)


@pytest.mark.parametrize("obj", ["COLLECTION", "ITEM"])
def test_keep_existing_single_package_prints_skipped(standin: Make, aips: Path, tree: Tree,
                                                     obj: str) -> None:
    # Packager.ingest(), no -a: catch (IllegalStateException) with -k prints "SKIPPED
    # processing package '<file>', as an Object already exists with this handle."
    handle = tree.dspace.item if obj == "ITEM" else tree.dspace.grandchild_collection
    pkg = package(aips, obj, handle)
    result = standin("7.6.2").run(*ingest_argv(pkg, "-r", "-k", "-u"), expect=0)
    assert result.lines[-2:] == ["", f"SKIPPED processing package '{pkg}', as an Object "
                                     "already exists with this handle."]


@pytest.mark.parametrize("version", ["5.10", "6.3"])
def test_keep_existing_does_not_skip_an_existing_item_in_5_and_6(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree, version: str) -> None:
    # HandleIdentifierProvider.register() (the default provider of 5.x and 6.x) wraps the
    # handle conflict in a RuntimeException, which -k does not catch: rolled back, exit 1;
    # a container still throws IllegalStateException and is skipped
    before = snapshot(repo)
    dspace = standin(version)
    result = dspace.run(*ingest_argv(package(aips, "ITEM", tree.dspace.item), "-r", "-k",
                                     "-u"), expect=1)
    assert re.match(r"^java.lang.RuntimeException: Error while attempting to create "
                    r"identifier for Item id: \S+$", result.lines[-1])
    assert snapshot(repo) == before
    coll = package(aips, "COLLECTION", tree.dspace.grandchild_collection)
    assert dspace.run(*ingest_argv(coll, "-r", "-k", "-u"), expect=0).lines[-1].startswith(
        "SKIPPED processing package")


@pytest.mark.parametrize("version", ["6.3", "9.1"])
def test_replace_prints_replaced_lines_without_db_ids(standin: Make, aips: Path,
                                                      tree: Tree, version: str) -> None:
    # Packager.main(): -r -f is REPLACE mode; with -u no warning and no question;
    # "Beginning replacement process...", replace(): "REPLACED a total of N DSpace
    # Objects." and "REPLACED DSpace <TYPE> [ hdl=<h> ] " (no dbID)
    coll = package(aips, "COLLECTION", tree.dspace.greatgrandchild_collection)
    result = standin(version).run(*ingest_argv(coll, "-r", "-f", "-a", "-u"), expect=0)
    assert result.lines[:4] == ["Beginning replacement process...", "",
                                f"Replacing DSpace object(s) with package located at {coll}",
                                ""]
    assert result.lines[4] == "REPLACED a total of 4 DSpace Objects."
    assert result.lines[8] == (f"REPLACED DSpace COLLECTION [ "
                               f"hdl={tree.dspace.greatgrandchild_collection} ] ")
    assert all(re.match(r"^REPLACED DSpace (COLLECTION|ITEM) \[ hdl=\S+ \] $", line)
               for line in result.lines[8:])


def test_replace_asks_first_and_an_unanswered_question_changes_nothing(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree) -> None:
    # Packager.main(): the REPLACE warning and "Would you like to continue? [y/n]: " are
    # outside the try: at the end of input the NullPointerException reaches ScriptLauncher
    before = snapshot(repo)
    coll = package(aips, "COLLECTION", tree.dspace.greatgrandchild_collection)
    dspace = standin("7.6.2")
    result = dspace.run(*ingest_argv(coll, "-r", "-f", "-a"), expect=1)
    assert result.lines[:6] == [
        "", "", "WARNING -- You are running the packager in REPLACE mode.", "",
        "REPLACE mode may be potentially dangerous as it will automatically remove and "
        "replace contents within DSpace.",
        "We highly recommend backing up all your DSpace contents (files & database) before "
        "continuing."]
    assert result.out.endswith("\nWould you like to continue? [y/n]: ")
    err = result.err.splitlines()
    assert err[:2] == ["Exception: null", "java.lang.NullPointerException"]
    assert err[2] == ("\tat org.dspace.app.packager.Packager.main(Packager.java:"
                      f"{for_version('7.6.2').lines.replace_prompt})")
    assert snapshot(repo) == before


def test_a_declined_replace_exits_0_and_does_nothing(standin: Make, repo: RepoLocation,
                                                    aips: Path, tree: Tree) -> None:
    # Packager.main(): anything but "y" skips the replacement and main() ends: exit 0
    before = snapshot(repo)
    coll = package(aips, "COLLECTION", tree.dspace.greatgrandchild_collection)
    result = standin("10.0").run(*ingest_argv(coll, "-r", "-f", "-a"), expect=0,
                                 stdin=b"n\n")
    assert "Beginning replacement process..." not in result.out
    assert result.err == ""
    assert snapshot(repo) == before


def test_two_answers_piped_at_once_reach_only_the_first_question(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree) -> None:
    # Each question makes a new BufferedReader(new InputStreamReader(System.in)); the
    # first one buffers both waiting lines, so the second question meets the end of input:
    # NullPointerException inside main()'s try, rollback, exit 1
    before = snapshot(repo)
    coll = package(aips, "COLLECTION", tree.dspace.greatgrandchild_collection)
    dspace = standin("6.3")
    result = dspace.run(*ingest_argv(coll, "-r", "-f", "-a"), expect=1, stdin=b"y\ny\n")
    assert "[y/n]: Beginning replacement process...\n" in result.out
    assert "REPLACED a total of 4 DSpace Objects." in result.lines
    assert result.lines[-1].endswith("java.lang.NullPointerException")
    assert dspace.last_call()["prompts"] == [
        "Would you like to continue? [y/n]:",
        "Would you like to view a list of all objects that were replaced? [y/n]:"]
    assert snapshot(repo) == before


def test_replace_with_an_unknown_identifier_is_an_illegal_argument(
        standin: Make, aips: Path, tree: Tree) -> None:
    # Packager.main(): -i is resolved before the question; unknown: IllegalArgumentException
    coll = package(aips, "COLLECTION", tree.dspace.greatgrandchild_collection)
    result = standin("7.6.2").run(*ingest_argv(coll, "-r", "-f", "-u", "-i",
                                               "123456789/424242"), expect=1)
    assert result.err.splitlines()[0] == ('Exception: Bad identifier/handle -- Cannot resolve '
                                          'handle "123456789/424242"')


def test_submit_creates_a_new_handle(standin: Make, repo: RepoLocation, aips: Path,
                                     tree: Tree) -> None:
    # Packager.ingest(), no -a, submit mode: "CREATED new DSpace ITEM [ hdl=..., dbID=... ] "
    pkg = package(aips, "ITEM", tree.dspace.item)
    result = standin("7.6.2").run(
        "packager", "-s", "-w", "-u", "-t", "AIP", "-e", ADMIN, "-p",
        tree.dspace.greatgrandchild_collection, str(pkg), expect=0)
    assert result.lines[:3] == ["Destination parents:",
                                f"Owner: {tree.dspace.greatgrandchild_collection}", ""]
    match = re.match(rf"^CREATED new DSpace ITEM \[ hdl=(123456789/\d+), dbID={UUID} \] $",
                     result.lines[-1])
    assert match is not None and match.group(1) not in tree.dspace.all_handles()
    assert resolves(repo, match.group(1))


def workflow_collection(repo: RepoLocation, handle: str) -> None:
    with write_tx(repo) as tx:
        objects.ensure_role_group(tx, C.TYPE_COLLECTION, objects.collection_id(tx, handle),
                                  C.ROLE_WORKFLOW_1)


def test_submit_into_workflow_prints_a_null_handle(standin: Make, repo: RepoLocation,
                                                   aips: Path, tree: Tree) -> None:
    # PackageUtils.finishCreateItem(): without -w the item goes into the collection's
    # workflow and gets no handle: "CREATED new DSpace ITEM [ hdl=null, dbID=... ] "
    coll = tree.dspace.greatgrandchild_collection
    workflow_collection(repo, coll)
    result = standin("5.10").run("packager", "-s", "-u", "-t", "AIP", "-e", ADMIN, "-p", coll,
                                 str(package(aips, "ITEM", tree.dspace.item)), expect=0)
    assert re.match(r"^CREATED new DSpace ITEM \[ hdl=null, dbID=\d+ \] $", result.lines[-1])


def test_recursive_submit_into_workflow_fails_when_listing(
        standin: Make, repo: RepoLocation, aips: Path, tree: Tree) -> None:
    # Packager.ingest() with -a: the list resolves each ingested handle; the workflow
    # item's is null -> IllegalArgumentException("Handle is null") inside main()'s try:
    # the whole ingest is rolled back (exit 1).  Answering "n" skips the list: committed.
    coll = tree.dspace.greatgrandchild_collection
    workflow_collection(repo, coll)
    before = snapshot(repo)
    pkg = package(aips, "ITEM", tree.dspace.item)
    dspace = standin("7.6.2")
    result = dspace.run("packager", "-s", "-a", "-u", "-t", "AIP", "-e", ADMIN, "-p", coll,
                        str(pkg), expect=1)
    assert "CREATED a total of 1 DSpace Objects." in result.lines
    assert result.lines[-1] == "java.lang.IllegalArgumentException: Handle is null"
    assert snapshot(repo) == before
    dspace.run("packager", "-s", "-a", "-t", "AIP", "-e", ADMIN, "-p", coll, str(pkg),
               expect=0, stdin=b"n\n")
    assert snapshot(repo) != before


@pytest.mark.parametrize("version", ["7.6.2", "10.0"])
def test_a_missing_package_file(standin: Make, tmp_path: Path, version: str) -> None:
    # Packager.ingest(): "ERROR: Package located at ... does not exist!", System.exit(1);
    # 10.x: PackagerExitException(1, "Package file does not exist: ...") for ScriptLauncher
    missing = tmp_path / "missing.zip"
    result = standin(version).run(*ingest_argv(missing, "-r", "-a", "-u"), expect=1)
    assert result.lines == ["", f"ERROR: Package located at {missing} does not exist!"]
    if version.startswith("10"):
        assert result.err.splitlines()[0] == f"Exception: Package file does not exist: {missing}"
    else:
        assert result.err == ""


def test_an_unknown_parent_is_an_illegal_argument(standin: Make, aips: Path,
                                                  tree: Tree) -> None:
    # Packager.main(): each -p must resolve ("Bad parent list -- Cannot resolve parent
    # handle"), thrown before the try: ScriptLauncher, exit 1
    result = standin("6.3").run("packager", "-s", "-u", "-t", "AIP", "-e", ADMIN, "-p",
                                "123456789/31337",
                                str(package(aips, "ITEM", tree.dspace.item)), expect=1)
    assert result.lines == ["Destination parents:"]
    assert result.err.splitlines()[0] == ('Exception: Bad parent list -- Cannot resolve '
                                          'parent handle "123456789/31337"')


@pytest.mark.parametrize("via_env", [False, True])
def test_a_failed_commit_after_the_lines_rolls_back(
        standin: Make, blank: Callable[[str], RepoLocation], aips: Path, tree: Tree,
        via_env: bool) -> None:
    # Packager.main(): the lines are printed inside ingest(); context.complete() comes
    # after: when it throws, the catch prints the exception, aborts and exits 1
    target = blank("target")
    before = snapshot(target)
    dspace = standin("7.6.2", target)
    env = None
    if via_env:
        env = {"DSPACE_STANDIN_FAIL_AT": "commit"}
    else:
        dspace.set_faults(fail_at="commit")
    result = dspace.run(*ingest_argv(package(aips, "COMMUNITY", tree.dspace.top), "-r", "-a",
                                     "-u"), expect=1, env=env)
    failure = ("org.postgresql.util.PSQLException: An I/O error occurred while sending to "
               "the backend.")
    assert result.lines[-1] == failure
    restored = [line for line in result.lines if line.startswith("RESTORED DSpace")]
    assert len(restored) == 9
    err = result.err.splitlines()
    assert err[0] == failure
    assert err[1] == ("\tat org.dspace.app.packager.Packager.main(Packager.java:"
                      f"{for_version('7.6.2').lines.ingest_commit})")
    assert snapshot(target) == before


def test_a_failure_half_way_through_an_ingest_rolls_back(
        standin: Make, blank: Callable[[str], RepoLocation], aips: Path, tree: Tree) -> None:
    target = blank("target")
    before = snapshot(target)
    dspace = standin("8.1", target, faults={"fail_at": "package:3"})
    result = dspace.run(*ingest_argv(package(aips, "COMMUNITY", tree.dspace.top), "-r", "-a",
                                     "-u"), expect=1)
    assert result.lines[-1] == "java.io.IOException: No space left on device"
    assert "CREATED a total" not in result.out
    assert snapshot(target) == before
