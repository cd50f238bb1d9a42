"""The stand-in's launcher and argument handling, each test citing the DSpace source it
checks (Packager.java, ScriptLauncher.java, Version.java of the generation's tag).

DSpace's only exit codes are 0 and 1; a missing required argument exits 0.
"""

from __future__ import annotations

import pytest
from helpers import ADMIN
from helpers.dspace_standin import for_version
from standin_support import VERSIONS, Make, Tree


@pytest.mark.parametrize("version", VERSIONS)
def test_version_prints_each_line_as_version_java_does(standin: Make, version: str) -> None:
    # org.dspace.app.util.Version.main(): printf lines with right-aligned labels
    dspace = standin(version, version_info={"scm_revision": "abc123", "scm_branch": "main",
                                            "applications": [["Server", "http://x/server"]]})
    result = dspace.run("version", expect=0)
    lines = result.lines
    gen = for_version(version)
    java, vendor = gen.default_java
    assert lines[0] == f"DSpace version:  {version}"
    assert lines[1:3] == ["  SCM revision:  abc123", "    SCM branch:  main"]
    assert lines[3].startswith("            OS:  Linux(")
    assert lines[4:6] == ["  Applications:", "                Server at http://x/server"]
    # every generation's dspace.cfg lists the "discovery" consumer
    assert lines[6] == "     Discovery:  enabled."
    assert lines[7] == f"           JRE:  {vendor} version {java}"
    assert lines[8:10] == ["   Ant version:  null", " Maven version:  null"]
    assert lines[10] == f"   DSpace home:  {dspace.home}"
    assert result.err == ""


def test_version_string_is_configurable(standin: Make) -> None:
    dspace = standin("7.6.2", java_version="17.0.9", java_vendor="Red Hat, Inc.")
    lines = dspace.run("version", expect=0).lines
    assert lines[0] == "DSpace version:  7.6.2"
    assert "           JRE:  Red Hat, Inc. version 17.0.9" in lines
    # DSPACE_STANDIN_VERSION (a DSPACE_* variable a driver passes on) overrides the file
    lines = dspace.run("version", expect=0, env={"DSPACE_STANDIN_VERSION": "10.0"}).lines
    assert lines[0] == "DSpace version:  10.0"


@pytest.mark.parametrize("version", ["5.10", "7.6.2"])
def test_no_command_lists_the_commands_and_exits_1(standin: Make, version: str) -> None:
    # ScriptLauncher.main(): "You must provide at least one command argument", display()
    dspace = standin(version)
    result = dspace.run(expect=1)
    assert result.err == "You must provide at least one command argument\n"
    expected = ["Usage: dspace [command-name] {parameters}"]
    if version.startswith("7"):
        # 7.x display(): the launcher.xml commands under their own heading
        expected += ["", "Commands from launcher.xml"]
    expected += [" - packager: Execute a packager",
                 " - version: Display the version of DSpace and other troubleshooting "
                 "information"]
    assert result.lines == expected


@pytest.mark.parametrize("version", ["6.3", "10.0"])
def test_unknown_command_is_not_found_and_exits_1(standin: Make, version: str) -> None:
    # ScriptLauncher.runOneCommand(): "Command not found: " + args[0], display(), return 1
    dspace = standin(version)
    result = dspace.run("frobnicate", "-x", expect=1)
    assert result.err == "Command not found: frobnicate\n"
    assert result.lines[0] == "Usage: dspace [command-name] {parameters}"
    # the command name is compared ignoring case
    assert dspace.run("VERSION", expect=0).lines[0] == f"DSpace version:  {version}"


@pytest.mark.parametrize("version", ["5.10", "6.3", "7.6.2", "10.0"])
def test_unknown_option_is_a_parse_exception_printed_by_scriptlauncher(
        standin: Make, version: str) -> None:
    # commons-cli UnrecognizedOptionException leaves Packager.main(); ScriptLauncher prints
    # "Exception: " + getMessage() and the stack trace, and returns 1
    dspace = standin(version)
    result = dspace.run("packager", "-d", "-x", "-t", "AIP", expect=1)
    err = result.err.splitlines()
    assert err[0] == "Exception: Unrecognized option: -x"
    assert err[1] == ("org.apache.commons.cli.UnrecognizedOptionException: "
                      "Unrecognized option: -x")
    lines = for_version(version).lines
    method = "runPackager" if version.startswith("10") else "main"
    assert err[2] == f"\tat org.dspace.app.packager.Packager.{method}(Packager.java:{lines.parse})"
    assert err[-1].startswith("\tat org.dspace.app.launcher.ScriptLauncher.main(")
    assert result.out == ""


@pytest.mark.parametrize("version", ["5.10", "7.6.2"])
def test_option_without_its_value_is_a_missing_argument(standin: Make, version: str) -> None:
    # MissingArgumentException: "Missing argument for option: " + option.getKey()
    dspace = standin(version)
    result = dspace.run("packager", "-d", "-t", "AIP", "-e", expect=1)
    assert result.err.splitlines()[0] == "Exception: Missing argument for option: e"


@pytest.mark.parametrize("missing", ["-e", "-t", "file"])
@pytest.mark.parametrize("version", ["5.10", "6.3", "10.0"])
def test_a_missing_required_argument_prints_help_and_exits_0(
        standin: Make, tree: Tree, tmp_path, version: str, missing: str) -> None:
    # Packager.main(): "Error - missing a REQUIRED argument or option." and System.exit(0)
    # (10.x: return, and ScriptLauncher exits 0)
    dspace = standin(version)
    args = {"-e": ["-e", ADMIN], "-t": ["-t", "AIP"], "file": [str(tmp_path / "x.zip")]}
    argv = ["packager", "-d", "-i", tree.site]
    for key, value in args.items():
        if key != missing:
            argv += value
    result = dspace.run(*argv, expect=0)
    assert result.err == "Error - missing a REQUIRED argument or option.\n\n"
    assert result.lines[0] == "usage: PackageManager  [options]  package-file|-"
    if version == "5.10":
        # commons-cli 1.2 renders the "\n" of the syntax: a line padded to the tab stop
        assert result.lines[1] == " " * len("usage: PackageManager ")
    else:
        assert result.lines[1].startswith(" -a,--all ")
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize("version", ["5.10", "9.1"])
def test_help_lists_options_and_package_types(standin: Make, version: str) -> None:
    # Packager.main(): printHelp("Packager  [options]  package-file|-\n", options), then
    # the named PackageIngester/PackageDisseminator plugins (dspace.cfg), exit 0
    result = standin(version).run("packager", "-h", expect=0)
    lines = result.lines
    assert lines[0] == "usage: Packager  [options]  package-file|-"
    assert " -u,--no-user-interaction   Skips over all user interaction (i.e. [y/n]" in lines
    assert " -e,--eperson <arg>         email address of eperson doing importing" in lines
    sip = lines.index("Available Submission Package (SIP) types:")
    dip = lines.index("Available Dissemination Package (DIP) types:")
    assert sorted(lines[sip + 1:dip - 1]) == sorted(
        f"  {n}" for n in ("AIP", "Adobe PDF", "PDF", "METS", "DSPACE-ROLES"))
    assert sorted(lines[dip + 1:]) == ["  AIP", "  DSPACE-ROLES", "  METS"]


@pytest.mark.parametrize("version", ["5.10", "9.1", "10.0"])
def test_unknown_eperson_is_a_usage_error(standin: Make, tree: Tree, tmp_path,
                                          version: str) -> None:
    # Packager.usageError(): message and " (run with -h flag for details)" on stdout,
    # System.exit(1); 10.x throws PackagerExitException(1, msg) for ScriptLauncher to print
    dspace = standin(version)
    result = dspace.run("packager", "-d", "-t", "AIP", "-e", "nobody@example.org",
                        "-i", tree.site, str(tmp_path / "s.zip"), expect=1)
    assert result.lines == ["Error, eperson cannot be found: nobody@example.org",
                            " (run with -h flag for details)"]
    if version.startswith("10"):
        err = result.err.splitlines()
        assert err[0] == "Exception: Error, eperson cannot be found: nobody@example.org"
        assert err[1] == ("org.dspace.app.packager.PackagerExitException: Error, eperson "
                          "cannot be found: nobody@example.org")
        assert err[2] == "\tat org.dspace.app.packager.Packager.usageError(Packager.java:139)"
    else:
        assert result.err == ""


def test_unknown_package_type_is_a_usage_error(standin: Make, tree: Tree, tmp_path) -> None:
    # Packager.main(): getNamedPlugin() is null -> usageError("Error, Unknown package type")
    result = standin("6.3").run("packager", "-d", "-t", "FOO", "-e", ADMIN, "-i", tree.site,
                                str(tmp_path / "s.zip"), expect=1)
    assert result.lines == ["Error, Unknown package type: FOO",
                            " (run with -h flag for details)"]


@pytest.mark.parametrize("handle", ["123456789/999999", "not-a-handle"])
@pytest.mark.parametrize("version", ["5.10", "7.6.2", "10.0"])
def test_unknown_handle_is_an_illegal_argument(standin: Make, tmp_path, version: str,
                                               handle: str) -> None:
    # Packager.main(): resolveToObject() is null -> IllegalArgumentException("Bad
    # identifier/handle -- Cannot resolve handle ..."), out of main(): ScriptLauncher, exit 1
    dspace = standin(version)
    target = tmp_path / "out" / "x.zip"
    result = dspace.run("packager", "-d", "-a", "-t", "AIP", "-e", ADMIN, "-i", handle,
                        str(target), expect=1)
    err = result.err.splitlines()
    message = f'Bad identifier/handle -- Cannot resolve handle "{handle}"'
    assert err[0] == f"Exception: {message}"
    assert err[1] == f"java.lang.IllegalArgumentException: {message}"
    assert result.out == ""
    assert not target.parent.exists()


def test_disseminate_without_identifier_is_handle_is_null(standin: Make, tmp_path) -> None:
    # -i is not required: resolveToObject(context, null) -> findHandleInternal() throws
    # IllegalArgumentException("Handle is null")
    result = standin("7.6.2").run("packager", "-d", "-t", "AIP", "-e", ADMIN,
                                  str(tmp_path / "x.zip"), expect=1)
    err = result.err.splitlines()
    assert err[:2] == ["Exception: Handle is null",
                       "java.lang.IllegalArgumentException: Handle is null"]
    assert err[2].startswith("\tat org.dspace.handle.HandleServiceImpl.findHandleInternal(")


@pytest.mark.parametrize("version", ["5.10", "8.1"])
def test_concatenated_short_options_are_read_as_commons_cli_does(
        standin: Make, tree: Tree, tmp_path, version: str) -> None:
    # PosixParser.burstToken() (5.x) / DefaultParser.handleConcatenatedOptions() (7.x+):
    # "-dau" is -d -a -u, "-eadmin@..." is -e with its value attached
    dspace = standin(version)
    result = dspace.run("packager", "-dau", "-tAIP", f"-e{ADMIN}", "-i", tree.dspace.item,
                        str(tmp_path / "i.zip"), expect=0)
    assert "CREATED a total of 1 dissemination package files." in result.lines
    assert dspace.last_call()["prompts"] == []


def test_call_log_records_argv_stdin_and_environment_names(standin: Make) -> None:
    dspace = standin("7.6.2")
    dspace.run("version", expect=0, env={"DSPACE_FOO": "secret-value"})
    call = dspace.last_call()
    assert call["argv"] == ["version"]
    assert call["stdin"] == "devnull"
    assert "DSPACE_FOO" in call["env"]
    assert "secret-value" not in str(call)
    assert call["exit_code"] == 0
