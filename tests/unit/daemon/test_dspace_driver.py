"""The DSpace driver's pure parts: its command lines, the child's environment, DSpace's lines
read per generation (version, export, ingest, exceptions), DSpace's configuration files and
JDBC URLs, and the keep-existing plan.  The lines are DSpace's as
tests/fixtures/dspace-standin/README.md lists them (the stand-in's own tests check it prints
them); the driver against the stand-in: tests/integration/service/test_dspace_source.py."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aip.errors import ConfigError
from daemon.core.config import parse_config
from daemon.core.errors import SourceError
from daemon.source.base import IngestSpec, TreePackage
from daemon.source.dspace import DSpaceSource, withdrawn_discovery
from daemon.source.dspacedb import (
    DatabaseSettings,
    NoDatabase,
    find_database,
    jdbc_to_libpq,
    read_properties,
)
from daemon.source.dspacekeep import KeepCall, Settle, keep_existing_calls
from daemon.source.dspaceout import (
    ExportLines,
    IngestLines,
    parse_packager_output,
    parse_version,
)
from daemon.source.process import child_environment, printable

UUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def config(tmp_path: Path, **repository: object) -> object:
    return parse_config({
        "repository": {"kind": "dspace", "dspace_bin": "/dspace/bin/dspace",
                       "eperson": "admin@example.org", "site_handle": "10673/0",
                       **repository},
        "staging": {"dir": str(tmp_path / "s")}, "state": {"dir": str(tmp_path / "t")},
        "target": {"url": f"file://{tmp_path}"}})


# --- command lines ----------------------------------------------------------------------------
def test_export_command_lines_always_pass_u(tmp_path: Path) -> None:
    source = DSpaceSource(config(tmp_path, dspace_options=["unauthorized=zero"]))  # type: ignore[arg-type]
    since = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert source.export_argv(tmp_path, since) == [
        "/dspace/bin/dspace", "packager", "-d", "-a", "-u", "-t", "AIP", "-e",
        "admin@example.org", "-i", "10673/0", "-o", "unauthorized=zero",
        "-o", "updatedAfter=2026-03-02T03:00:00Z", f"{tmp_path}/SITE@10673-0.zip"]
    assert source.export_argv(tmp_path, None)[-3:] == [
        "-o", "unauthorized=zero", f"{tmp_path}/SITE@10673-0.zip"]
    # a withdrawn item on its own: never updatedAfter, never -a
    assert source.export_one_argv(tmp_path, "10673/42") == [
        "/dspace/bin/dspace", "packager", "-d", "-u", "-t", "AIP", "-e", "admin@example.org",
        "-i", "10673/42", "-o", "unauthorized=zero", f"{tmp_path}/ITEM@10673-42.zip"]


@pytest.mark.parametrize(("mode", "flags"), [
    ("restore", ["-r", "-a", "-u"]),
    ("keep-existing", ["-r", "-k", "-a", "-u"]),
    ("replace", ["-r", "-f", "-a", "-u"]),
    ("submit", ["-s", "-a", "-u", "-w"]),   # -w: no workflow, whose items have no handle
])
def test_ingest_command_lines(tmp_path: Path, mode: str, flags: list[str]) -> None:
    source = DSpaceSource(config(tmp_path))  # type: ignore[arg-type]
    spec = IngestSpec(tmp_path / "COLLECTION@10673-7.zip", mode=mode, parent="10673/3",  # type: ignore[arg-type]
                      options=("skipIfParentMissing=true",))
    assert source.ingest_argv(spec) == [
        "/dspace/bin/dspace", "packager", *flags, "-t", "AIP", "-e", "admin@example.org",
        "-p", "10673/3", "-o", "skipIfParentMissing=true", f"{tmp_path}/COLLECTION@10673-7.zip"]
    # keep-existing's further calls: their own package, no parent (it is in the manifest)
    child = tmp_path / "ITEM@10673-8.zip"
    assert source.ingest_argv(spec, package=child, recursive=False, top=False) == [
        "/dspace/bin/dspace", "packager", *[f for f in flags if f != "-a"], "-t", "AIP",
        "-e", "admin@example.org", "-o", "skipIfParentMissing=true", str(child)]


def test_site_replace_names_the_site(tmp_path: Path) -> None:
    source = DSpaceSource(config(tmp_path))  # type: ignore[arg-type]
    spec = IngestSpec(tmp_path / "SITE@10673-0.zip", mode="replace", identifier="10673/0")  # type: ignore[arg-type]
    assert source.ingest_argv(spec) == [
        "/dspace/bin/dspace", "packager", "-r", "-f", "-a", "-u", "-t", "AIP", "-e",
        "admin@example.org", "-i", "10673/0", f"{tmp_path}/SITE@10673-0.zip"]


# --- the child's environment ------------------------------------------------------------------
def test_the_child_environment_is_minimal() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/home/dspace", "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "JAVA_HOME": "/opt/jdk", "JAVA_OPTS": "-Xmx2g",
               "DSPACE_STANDIN_VERSION": "7.6", "TZ": "UTC",
               "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret",
               "AIPSYNC_CONFIG": "/etc/aipsync.toml", "PGPASSWORD": "pw",
               "NOTIFY_SOCKET": "/run/systemd/notify"}
    assert child_environment(environ, ["TZ"]) == {
        "PATH": "/usr/bin", "HOME": "/home/dspace", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "JAVA_HOME": "/opt/jdk", "JAVA_OPTS": "-Xmx2g", "DSPACE_STANDIN_VERSION": "7.6",
        "TZ": "UTC"}


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "aws_session_token", "AIPSYNC_X",
                                  "1BAD", "A-B"])
def test_dspace_env_cannot_name_credentials_or_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"repository\.dspace_env"):
        config(tmp_path, dspace_env=[name])


def test_dspace_db_url_is_postgresql_and_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"repository\.dspace_db_url: expected postgresql"):
        config(tmp_path, dspace_db_url="mysql://u:p@h/db")
    cfg = config(tmp_path, dspace_db_url="postgresql://ro:pw@127.0.0.1/dspace")
    assert cfg.holds_secret  # type: ignore[attr-defined]
    assert "pw" not in repr(cfg)


def test_printable_shows_control_characters() -> None:
    assert printable("\x1b[31mred\x00\rx") == "\\x1b[31mred\\x00\\x0dx"
    assert printable("tab\tstays") == "tab\tstays"


# --- dspace version ---------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "major"), [("5.10", 5), ("6.3", 6), ("7.6.2", 7),
                                             ("8.1", 8), ("9.1", 9), ("10.0", 10),
                                             ("7.6.1-SNAPSHOT", 7)])
def test_parse_version(text: str, major: int) -> None:
    out = [f"DSpace version:  {text}", "  SCM revision:  null", "           JRE:  x"]
    version = parse_version(out)
    assert (version.text, version.major, version.supported) == (text, major, True)
    assert version.uuids is (major >= 6)
    assert version.keep_fails_on_items is (major <= 6)


def test_unsupported_or_missing_versions() -> None:
    assert not parse_version(["DSpace version:  4.2"]).supported
    assert not parse_version(["DSpace version:  11.0"]).supported
    with pytest.raises(ValueError, match="no 'DSpace version:' line"):
        parse_version(["garbage", "\x00\x1b[31m"])
    with pytest.raises(ValueError, match="no major number"):
        parse_version(["DSpace version:  null"])


# --- export lines -----------------------------------------------------------------------------
def test_export_lines() -> None:
    sink = ExportLines()
    for line in ["", "Disseminating DSpace SITE [ hdl=10673/0 ] to /x/SITE@10673-0.zip",
                 "Also disseminating all child objects (recursive mode)..",
                 "CREATED a total of 2 dissemination package files.", "",
                 "CREATED package file: /x/SITE@10673-0.zip",
                 "CREATED package file: /x/ITEM@10673-4.zip"]:
        sink("stdout", line)
    sink("stderr", "CREATED a total of 99 dissemination package files.")  # not DSpace's stdout
    assert sink.total == 2
    assert sink.files == ["/x/SITE@10673-0.zip", "/x/ITEM@10673-4.zip"]
    assert sink.error is None


def test_an_unknown_handle_is_recognised() -> None:
    # ScriptLauncher's path: "Exception: <message>" then the exception and its trace
    sink = ExportLines()
    sink("stderr", 'Exception: Bad identifier/handle -- Cannot resolve handle "10673/9"')
    sink("stderr", 'java.lang.IllegalArgumentException: Bad identifier/handle -- Cannot '
                   'resolve handle "10673/9"')
    sink("stderr", "\tat org.dspace.app.packager.Packager.main(Packager.java:434)")
    assert sink.unresolved == {"10673/9"}
    assert sink.error == ('java.lang.IllegalArgumentException: Bad identifier/handle -- '
                          'Cannot resolve handle "10673/9"')


# --- ingest lines -----------------------------------------------------------------------------
@pytest.mark.parametrize("dbid", ["12", UUID])
def test_restore_lines_each_object_once(dbid: str) -> None:
    objects, error = parse_packager_output([
        "Ingesting package located at /w/COLLECTION@1-7.zip",
        "CREATED a total of 2 DSpace Objects.",
        f"RESTORED DSpace COLLECTION [ hdl=1/7, dbID={dbid} ] ",
        f"RESTORED DSpace ITEM [ hdl=1/8, dbID={dbid} ] ",
        f"RESTORED DSpace ITEM [ hdl=1/8, dbID={dbid} ] ",   # a mapped item listed twice
    ])
    assert [(o.handle, o.action, o.detail) for o in objects] == [
        ("1/7", "restored", f"DSpace COLLECTION, dbID={dbid}"),
        ("1/8", "restored", f"DSpace ITEM, dbID={dbid}")]
    assert error is None


def test_submit_replace_skip_and_totals() -> None:
    sink = IngestLines()
    for line in ["CREATED a total of 2 DSpace Objects.",
                 f"CREATED new DSpace COLLECTION [ hdl=1/70, dbID={UUID} ] ",
                 "CREATED new DSpace ITEM [ hdl=null, dbID=55 ] "]:
        sink("stdout", line)
    assert (sink.total, sink.total_verb, sink.lines) == (2, "CREATED", 2)
    assert [(o.handle, o.action) for o in sink.objects] == [("1/70", "submitted")]
    assert sink.workflow == ["DSpace ITEM, dbID=55"]
    replaced = IngestLines()
    for line in ["REPLACED a total of 1 DSpace Objects.", "REPLACED DSpace ITEM [ hdl=1/8 ] "]:
        replaced("stdout", line)
    assert (replaced.total_verb, [o.handle for o in replaced.objects]) == (
        "REPLACED", ["1/8"])
    skipped = IngestLines()
    skipped("stdout", "SKIPPED processing package '/w/ITEM@1-8.zip', as an Object already "
                      "exists with this handle.")
    assert skipped.skipped_packages == ["/w/ITEM@1-8.zip"] and not skipped.objects


def test_dspace_never_prints_ingested_and_aipsync_lines_are_not_dspace() -> None:
    objects, _ = parse_packager_output(["INGESTED DSpace ITEM [ hdl=1/8, dbID=3 ] ",
                                        "restored   1/8 [ITEM@1-8.zip]"])
    assert objects == ()


def test_a_caught_failure_and_10x_packager_exit() -> None:
    # main()'s catch: printStackTrace() on stderr, System.out.println(e) on stdout; 10.x
    # then throws PackagerExitException, which ScriptLauncher prints too
    sink = IngestLines()
    sink("stdout", f"RESTORED DSpace ITEM [ hdl=1/8, dbID={UUID} ] ")
    sink("stderr", "org.postgresql.util.PSQLException: An I/O error occurred while sending "
                   "to the backend.")
    sink("stderr", "\tat org.dspace.core.Context.complete(Context.java:123)")
    sink("stderr", "Exception: Packager exiting with code 1")
    sink("stderr", "org.dspace.app.packager.PackagerExitException: Packager exiting with code 1")
    sink("stdout", "org.postgresql.util.PSQLException: An I/O error occurred while sending "
                   "to the backend.")
    assert [o.handle for o in sink.objects] == ["1/8"]
    assert sink.error == ("org.postgresql.util.PSQLException: An I/O error occurred while "
                          "sending to the backend.")


def test_an_npe_without_message_is_an_error() -> None:
    sink = IngestLines()
    sink("stderr", "java.lang.NullPointerException")
    assert sink.error == "java.lang.NullPointerException"


# --- DSpace's configuration files -------------------------------------------------------------
def test_read_properties() -> None:
    text = ("# comment\n! also\n db.url = jdbc:postgresql://h/db \ndb.username: dspace\n"
            "db.password secret\nlong = a\\\n   b\\\\\ndb.url = second wins not\nempty=\n")
    assert read_properties(text) == {
        "db.url": "jdbc:postgresql://h/db", "db.username": "dspace", "db.password": "secret",
        "long": "ab\\\\", "empty": ""}


@pytest.mark.parametrize(("url", "expected"), [
    ("jdbc:postgresql://localhost:5432/dspace",
     {"host": "localhost", "port": "5432", "dbname": "dspace"}),
    ("jdbc:postgresql://db.example.org/dspace?ApplicationName=DSpace&sslmode=disable",
     {"host": "db.example.org", "port": "5432", "dbname": "dspace",
      "application_name": "DSpace", "sslmode": "disable"}),
    ("jdbc:postgresql:dspace", {"host": "localhost", "port": "5432", "dbname": "dspace"}),
    ("jdbc:postgresql://[::1]:5433/d?user=u&password=p&ssl=true",
     {"host": "::1", "port": "5433", "dbname": "d", "user": "u", "password": "p",
      "sslmode": "verify-full"}),
    ("jdbc:postgresql://a:1,b:2/d?currentSchema=dspace",
     {"host": "a,b", "port": "1,2", "dbname": "d", "options": "-c search_path=dspace"}),
])
def test_jdbc_to_libpq(url: str, expected: dict[str, str]) -> None:
    assert jdbc_to_libpq(url) == expected


def test_jdbc_urls_of_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL JDBC URL"):
        jdbc_to_libpq("jdbc:oracle:thin:@localhost:1521:xe")


def install(tmp_path: Path, dspace_cfg: str, local_cfg: str | None = None) -> Path:
    (tmp_path / "dspace" / "bin").mkdir(parents=True)
    (tmp_path / "dspace" / "config").mkdir()
    (tmp_path / "dspace" / "config" / "dspace.cfg").write_text(dspace_cfg)
    if local_cfg is not None:
        (tmp_path / "dspace" / "config" / "local.cfg").write_text(local_cfg)
    return tmp_path / "dspace" / "bin" / "dspace"


def test_local_cfg_wins_from_6x_and_references_expand(tmp_path: Path) -> None:
    launcher = install(tmp_path, "db.url = jdbc:postgresql://localhost:5432/dspace\n"
                                 "db.username = dspace\ndb.password = dspace\n"
                                 "db.schema = public\n",
                       "db.host = 127.0.0.1\ndb.url = jdbc:postgresql://${db.host}:5432/site\n"
                       "db.password = s3cret\n")
    found = find_database(launcher, None, local_cfg=True)
    assert isinstance(found, DatabaseSettings)
    assert dict(found.params) == {"host": "127.0.0.1", "port": "5432", "dbname": "site",
                                  "user": "dspace", "password": "s3cret"}
    assert found.schema == "public"
    assert found.origin.endswith("config/local.cfg")
    assert "s3cret" not in found.display and "s3cret" not in repr(found)
    assert found.display == "postgresql://dspace@127.0.0.1:5432/site"
    # 5.x has no local.cfg: dspace.cfg alone
    old = find_database(launcher, None, local_cfg=False)
    assert isinstance(old, DatabaseSettings) and old.params["dbname"] == "dspace"


def test_dspace_db_url_wins(tmp_path: Path) -> None:
    launcher = install(tmp_path, "db.url = jdbc:postgresql://localhost/dspace\n")
    found = find_database(launcher, "postgresql://ro:p%40ss@10.0.0.5:6432/dspace?sslmode=require",
                          local_cfg=True)
    assert isinstance(found, DatabaseSettings)
    assert dict(found.params) == {"host": "10.0.0.5", "port": "6432", "dbname": "dspace",
                                  "user": "ro", "password": "p@ss", "sslmode": "require"}
    assert found.origin == "repository.dspace_db_url"


def test_no_database_says_why(tmp_path: Path) -> None:
    launcher = install(tmp_path, "dspace.dir = /dspace\n")
    none = find_database(launcher, None, local_cfg=True)
    assert isinstance(none, NoDatabase) and "no db.url in" in none.reason
    assert "repository.dspace_db_url is not set" in none.reason
    assert withdrawn_discovery(none).startswith("cannot be discovered: ")
    (tmp_path / "dspace" / "config" / "dspace.cfg").write_text(
        "db.url = jdbc:oracle:thin:scott/tiger@h:1521:xe\n")
    oracle = find_database(launcher, None, local_cfg=True)
    assert isinstance(oracle, NoDatabase) and "only PostgreSQL" in oracle.reason
    assert "a jdbc:oracle: URL" in oracle.reason and "tiger" not in oracle.reason
    (tmp_path / "dspace" / "config" / "dspace.cfg").write_text("db.url = ${db.url}\n")
    unresolved = find_database(launcher, None, local_cfg=True)
    assert isinstance(unresolved, NoDatabase) and "cannot resolve" in unresolved.reason


# --- keep-existing ----------------------------------------------------------------------------
def node(key: str, *parents: str) -> TreePackage:
    obj_type, _, rest = key.partition("@")
    return TreePackage(key, obj_type, rest.removesuffix(".zip").replace("-", "/", 1),
                       tuple(parents))


COMM, COLL_A, COLL_B = "COMMUNITY@1-1.zip", "COLLECTION@1-2.zip", "COLLECTION@1-3.zip"
I4, I5, I6 = "ITEM@1-4.zip", "ITEM@1-5.zip", "ITEM@1-6.zip"
TREE = [node(COMM), node(COLL_A, COMM), node(COLL_B, COMM), node(I4, COLL_A),
        node(I5, COLL_A, COLL_B), node(I6, COLL_B)]   # I5 is mapped into B


def test_keep_plan_with_nothing_existing_is_one_call() -> None:
    calls, existing = keep_existing_calls(TREE, {})
    assert calls == [KeepCall(COMM, recursive=True)] and existing == []


def test_keep_plan_restores_what_is_missing_under_existing_objects() -> None:
    # the community and collection A exist; B (and I6) and I4 are missing; I5 exists
    exists = {"1/1": True, "1/2": True, "1/5": True}
    calls, existing = keep_existing_calls(TREE, exists)
    assert calls == [KeepCall(COLL_B, recursive=False), KeepCall(I4, recursive=True),
                     KeepCall(I6, recursive=True)]
    assert [n.key for n in existing] == [COMM, COLL_A, I5]


def test_settle_without_the_database() -> None:
    settle = Settle(TREE)
    assert settle.next_call() == COMM
    settle.record(COMM, [])               # the community existed: nothing below was visited
    assert settle.next_call() == COLL_A
    settle.record(COLL_A, ["1/2", "1/4"])  # A was missing: restored with I4 ...
    assert COLL_A not in settle.existing and I5 in settle.existing  # ... I5 visited, kept
    assert settle.next_call() == COLL_B
    settle.record(COLL_B, [])             # B existed: I6 unvisited
    assert settle.next_call() == I6
    settle.record(I6, [], exists=True)    # 5.x/6.x: its RuntimeException means it exists
    assert settle.next_call() is None
    assert settle.existing == {COMM, COLL_B, I5, I6}
    assert settle.restored == {"1/2", "1/4"}


# --- the version check at start-up --------------------------------------------------------------
def printing(lines: list[str], rc: int = 0) -> Any:
    """A runner that prints ``lines`` on stdout and exits ``rc`` (what ``run_logged`` would
    hand over), recording each command line."""
    calls: list[list[str]] = []

    def run(argv: list[str], *, sink: Any, **_: Any) -> int:
        calls.append(argv)
        for line in lines:
            sink("stdout", line)
        return rc

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_an_unsupported_version_is_refused_once_read(tmp_path: Path) -> None:
    # what Version.java of dspace-4.9 prints first (the same printf as 5.x to 10.x)
    runner = printing(["DSpace version:  4.9", "  SCM revision:  null", "    SCM branch:  null"])
    source = DSpaceSource(config(tmp_path), runner=runner)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        source.describe()
    assert info.value.exit_code == 10
    assert str(info.value) == (
        "repository.dspace_bin: DSpace /dspace is DSpace 4.9, which this aipsync does not "
        "support (supported: DSpace 5.x, 6.x and 7.x to 10.x)")
    assert runner.calls == [["/dspace/bin/dspace", "version"]]


def test_a_version_is_read_once(tmp_path: Path) -> None:
    runner = printing(["DSpace version:  7.6.2", "   DSpace home:  /dspace"])
    source = DSpaceSource(config(tmp_path), runner=runner)  # type: ignore[arg-type]
    facts = source.describe()
    assert facts["DSpace"] == "7.6.2 (7.x) in /dspace"
    assert facts["withdrawn items"].startswith("cannot be discovered: DSpace's database is "
                                               "unknown: no db.url in /dspace/config/")
    source.describe()
    assert source.version().major == 7
    assert len(runner.calls) == 1


@pytest.mark.parametrize(("lines", "rc", "message"), [
    (["Exception: boom", "java.lang.IllegalStateException: boom"], 1,
     "'dspace version' exited with code 1: java.lang.IllegalStateException: boom"),
    (["\x00garbage"], 0, "'dspace version' exited 0 but: no 'DSpace version:' line"),
])
def test_a_failing_version_is_a_source_error(tmp_path: Path, lines: list[str], rc: int,
                                             message: str) -> None:
    source = DSpaceSource(config(tmp_path), runner=printing(lines, rc))  # type: ignore[arg-type]
    with pytest.raises(SourceError) as info:
        source.describe()
    assert info.value.exit_code == 56 and message in str(info.value)


def test_without_psycopg_the_database_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon.source.dspacedb import DSpaceDatabase

    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without the extra has
    settings = DatabaseSettings({"host": "127.0.0.1", "dbname": "dspace"}, "config/local.cfg")
    assert withdrawn_discovery(settings) == (
        "cannot be discovered: psycopg is not installed (pip install 'aipsync[postgres]'); "
        "only withdrawn items already in staging are kept")
    with pytest.raises(SourceError, match=r"psycopg is not installed"):
        DSpaceDatabase(settings, uuids=True, site_handle="1/0").withdrawn()


def test_the_service_refuses_an_unsupported_dspace_before_ready(tmp_path: Path) -> None:
    import io

    from daemon.service.lifecycle import Service

    cfg_file = tmp_path / "aipsync.toml"
    cfg_file.write_text(
        '[repository]\nkind = "dspace"\ndspace_bin = "/dspace/bin/dspace"\n'
        'eperson = "admin@example.org"\n'
        f'[staging]\ndir = "{tmp_path / "s"}"\n[state]\ndir = "{tmp_path / "t"}"\n'
        f'[target]\nurl = "file://{tmp_path}"\n')
    runner = printing(["DSpace version:  11.0"])
    logs = io.StringIO()
    service = Service(cfg_file, environ={}, install_signals=False, log_stream=logs,
                      source_factory=lambda c: DSpaceSource(c, runner=runner))
    assert service.run() == 10   # a configuration error: no restart loop
    assert "DSpace 11.0, which this aipsync does not support" in logs.getvalue()
    assert runner.calls == [["/dspace/bin/dspace", "version"]]


W7 = "ITEM@1-7.zip"   # withdrawn, owned by B: B's AIP (made by DSpace) does not point at it


def test_keep_plan_calls_items_their_collection_does_not_point_at() -> None:
    tree = [*TREE, TreePackage(W7, "ITEM", "1/7", (COLL_B,), pointed=False)]
    calls, _ = keep_existing_calls(tree, {})
    assert calls == [KeepCall(COMM, recursive=True), KeepCall(W7, recursive=True)]
    calls, existing = keep_existing_calls(tree, {"1/7": True})
    assert calls == [KeepCall(COMM, recursive=True)] and [n.key for n in existing] == [W7]


def test_settle_queues_an_unpointed_item_once_its_collection_is_there() -> None:
    tree = [node(COLL_B), node(I6, COLL_B), TreePackage(W7, "ITEM", "1/7", (COLL_B,),
                                                         pointed=False)]
    settle = Settle(tree)
    assert settle.next_call() == COLL_B
    settle.record(COLL_B, ["1/3", "1/6"])   # the collection and its pointed item restored
    assert settle.next_call() == W7          # the withdrawn item: a call of its own
    settle.record(W7, ["1/7"])
    assert settle.next_call() is None and settle.existing == set()


# --- the export's listing against its folder --------------------------------------------------
def _listing(folder: Path, names: list[str], total: int | None = None) -> ExportLines:
    """What ``packager -d -a`` prints after writing ``names`` into ``folder``."""
    sink = ExportLines()
    sink("stdout", f"CREATED a total of {len(names) if total is None else total} "
                   "dissemination package files.")
    for name in names:
        sink("stdout", f"CREATED package file: {folder / name}")
    return sink


@pytest.mark.parametrize("count", [3, 5000], ids=["a few", "past the spill"])
def test_the_listing_matches_the_folder_or_the_first_difference_is_named(
        tmp_path: Path, count: int) -> None:
    source = DSpaceSource(config(tmp_path))  # type: ignore[arg-type]
    out = tmp_path / "out"
    out.mkdir()
    names = [f"ITEM@10673-{n}.zip" for n in range(count, 0, -1)] + ["SITE@10673-0.zip"]
    for name in names:
        (out / name).touch()
    written = source._check_listing(out, _listing(out, names), recursive=True)
    assert list(written) == sorted(names) and len(written) == len(names)
    assert "ITEM@10673-2.zip" in written and "ITEM@10673-0.zip" not in written

    problems = {
        "not in the folder": ([*names, "ITEM@10673-0.zip", "ITEM@10673-00.zip"], None,
                              "listed ITEM@10673-0.zip, which is not in the folder"),
        "unlisted": ([n for n in names if n not in ("ITEM@10673-2.zip", "ITEM@10673-3.zip")],
                     None, "wrote ITEM@10673-2.zip without listing it"),
        "count": (names, len(names) + 1, f"said it created {len(names) + 1} package files"),
    }
    for what, (listed, total, said) in problems.items():
        with pytest.raises(SourceError, match=re.escape(said)):
            source._check_listing(out, _listing(out, listed, total), recursive=True)
        assert sorted(p.name for p in out.iterdir()) == sorted(names), what
    outside = _listing(out, names)
    outside.files.append(str(tmp_path / "ITEM@10673-0.zip"))
    outside.total = len(names) + 1
    with pytest.raises(SourceError, match="outside its folder"):
        source._check_listing(out, outside, recursive=True)


def test_a_site_restore_claims_each_object_once_past_the_spill() -> None:
    """A million claimed objects are kept out of memory: each handle once, the first claim,
    in the order printed."""
    lines = [f"RESTORED DSpace ITEM [ hdl=1/{n}, dbID={n} ] " for n in range(6000, 0, -1)]
    lines += [f"REPLACED DSpace ITEM [ hdl=1/{n}, dbID=0 ] " for n in range(1, 6001, 7)]
    objects, error = parse_packager_output(lines)
    assert error is None and len(objects) == 6000
    assert [o.handle for o in objects] == [f"1/{n}" for n in range(6000, 0, -1)]
    assert {o.action for o in objects} == {"restored"}
