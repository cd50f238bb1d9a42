"""A real DSpace as the source: its ``bin/dspace`` run as a child process.

Owns: ``DSpaceSource``: the command lines it runs, what their exit codes and lines mean, how
withdrawn items are kept, and what it reads from DSpace's database.  Every call runs through
``daemon.source.process.run_logged`` (stdin ``/dev/null``, a minimal environment, a timeout,
every line logged) and passes ``-u``: DSpace asks nothing then (without it a recursive
export ends in a question whose unanswered ``readLine()`` throws a NullPointerException and
exits 1, after every package was written).

- **Version.**  ``dspace version`` is read once per ``DSpaceSource`` (``describe``, or the
  first export, ingest or question), logged and recorded in the state database for
  ``status``; a major version outside ``dspaceout.SUPPORTED`` is refused (``ConfigError``,
  exit 10: a restart cannot help).  The service keeps one source for its whole life.
- **Export.**  ``packager -d -a -u -t AIP -e E -i <site> [-o ...] <dir>/SITE@....zip``; exit
  0 is not enough: DSpace's ``CREATED a total of N dissemination package files.`` and its N
  ``CREATED package file:`` lines must name exactly the files in the folder, the SITE AIP
  among them.
- **Withdrawn items.**  ``-d -a`` leaves them out (DSpace walks archived items only).  After
  a full export every staged item AIP the export did not write is exported on its own
  (``-d -u -i H``): written, it stays; "Cannot resolve handle" (the item was deleted) is the
  only answer that lets it leave staging; any other failure fails the export.  Withdrawn
  items never staged (a first backup, or withdrawn since) are read from DSpace's database
  (``daemon.source.dspacedb``; an incremental export asks only for those modified since
  ``updatedAfter``) and exported the same way.  Without the database, they cannot be
  discovered: said in the log, ``status`` and ``verify``.
- **Ingest.**  ``packager -r|-r -k|-r -f|-s -w  [-a] -u -t AIP -e E [-i|-p H] [-o ...] F``;
  the exit code decides: non-zero is a ``SourceError`` (56) naming the objects DSpace had
  claimed before it failed (its result lines come before its commit) and saying it rolled
  them back; exit 0 without the total and the listed objects is a failure too.  Submits
  pass ``-w`` (DSpace's listing of an item left in workflow throws "Handle is null" and rolls
  the whole submit back).  Keep-existing restores every missing object of the tree
  (``daemon.source.dspacekeep``: exactly, when the database says what exists).
- **Questions** (``existing``, ``expected_packages``) are answered from DSpace's database;
  without it ``existing`` is unknown and the extent falls back to staging, saying so.

Must not: pass the target's credentials (or anything but the minimal environment) to the
child, log a secret (the child's lines pass ``redact_line``; the database's password never
leaves ``dspacedb``), or write to DSpace other than through its ``packager -r/-s``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Collection, Container, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog

from aip import constants as C
from aip.errors import ConfigError, Outcome
from aip.model import package_file_name
from aip.packager.modes import IngestMode
from aip.spill import SpillMap
from daemon.core.config import Config
from daemon.core.errors import SourceError, StateError, StopRequestedError
from daemon.core.state import open_state
from daemon.core.stop import StopFlag
from daemon.source.base import (
    Existing,
    ExportOutcome,
    Extent,
    IngestOutcome,
    IngestSpec,
    TreePackage,
    explicit_packages,
    export_options,
    key_handle,
    name_set,
    packages_in,
    site_package_name,
)
from daemon.source.dspacedb import (
    DatabaseSettings,
    DSpaceDatabase,
    NoDatabase,
    dspace_home,
    find_database,
)
from daemon.source.dspacekeep import Settle, keep_existing_calls
from daemon.source.dspaceout import (
    SUPPORTED_TEXT,
    DSpaceVersion,
    ExportLines,
    IngestLines,
    parse_version,
)
from daemon.source.process import LineSink, child_environment, run_logged

__all__ = ["META_VERSION", "META_WITHDRAWN", "DSpaceSource", "withdrawn_discovery"]

log = structlog.get_logger(__name__)

#: State database keys (``meta``) the source records for ``status``.
META_VERSION = "dspace.version"
META_WITHDRAWN = "dspace.withdrawn"
#: Objects named in a one-line error before "and N more".
_NAMED = 10
#: Seconds ``dspace version`` may take (the JVM starts DSpace's kernel first).
_VERSION_TIMEOUT = 600.0

Runner = Callable[..., int]


def withdrawn_discovery(found: DatabaseSettings | NoDatabase) -> str:
    """One line for logs and ``status``: how withdrawn items are found, or why they are not."""
    if isinstance(found, NoDatabase):
        return (f"cannot be discovered: {found.reason}; only withdrawn items already in "
                "staging are kept")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return ("cannot be discovered: psycopg is not installed (pip install "
                "'aipsync[postgres]'); only withdrawn items already in staging are kept")
    return f"read from DSpace's database {found.display} (from {found.origin})"


class DSpaceSource:
    """A real DSpace, driven through ``[dspace]/bin/dspace``.

    ``runner`` replaces ``run_logged`` (tests of the command lines); ``environ`` is the
    environment the child's is taken from (default: this process's).
    """

    def __init__(self, config: Config, *, runner: Runner | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        repo = config.repository
        if repo.kind != "dspace" or repo.dspace_bin is None:
            raise ValueError("DSpaceSource needs repository.kind = \"dspace\" and dspace_bin")
        self._bin = repo.dspace_bin
        self._eperson = repo.eperson
        self._site = repo.site_handle
        self._options = repo.dspace_options
        self._timeout = float(repo.dspace_timeout)
        self._env_names = repo.dspace_env
        self._db_url = repo.dspace_db_url
        self._staging = config.staging.dir
        self._state_dir = config.state.dir
        self._runner = runner or run_logged
        self._environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._version: DSpaceVersion | None = None
        self._found: DatabaseSettings | NoDatabase | None = None

    #: Every missing object of the tree is ingested (daemon.source.dspacekeep).
    keep_below_existing = True

    @property
    def name(self) -> str:
        return f"DSpace {dspace_home(self._bin)}"

    # --- running bin/dspace -------------------------------------------------------------------
    def _run(self, argv: Sequence[str], *, what: str, sink: LineSink,
             stop: StopFlag | None, timeout: float | None = None) -> int:
        return self._runner(list(argv), source=self.name, timeout=timeout or self._timeout,
                            env=child_environment(self._environ, self._env_names), stop=stop,
                            what=what, check=False, sink=sink)

    def _packager(self, *flags: str) -> list[str]:
        return [str(self._bin), "packager", *flags]

    # --- start-up -----------------------------------------------------------------------------
    def version(self, stop: StopFlag | None = None) -> DSpaceVersion:
        """DSpace's version, read with ``dspace version`` on first use.

        Raises:
            SourceError: ``dspace version`` failed or printed no version.
            ConfigError: a version the driver does not support.
        """
        with self._lock:
            if self._version is not None:
                return self._version
            lines: list[str] = []
            errors = ExportLines()

            def sink(stream: str, line: str) -> None:
                lines.append(line)
                errors(stream, line)

            rc = self._run([str(self._bin), "version"], what="version", sink=sink, stop=stop,
                           timeout=min(self._timeout, _VERSION_TIMEOUT))
            if rc != 0:
                raise SourceError(source=self.name, detail=(
                    f"'dspace version' exited with code {rc}: "
                    f"{errors.error or (lines[-1] if lines else 'no output')}"))
            try:
                version = parse_version(lines)
            except ValueError as exc:
                raise SourceError(source=self.name,
                                  detail=f"'dspace version' exited 0 but: {exc}") from None
            if not version.supported:
                raise ConfigError(f"repository.dspace_bin: {self.name} is DSpace "
                                  f"{version.text}, which this aipsync does not support "
                                  f"(supported: DSpace {SUPPORTED_TEXT})")
            self._version = version
            self._found = find_database(self._bin, self._db_url, local_cfg=version.local_cfg)
            discovery = withdrawn_discovery(self._found)
            log.info("source.dspace.version", version=version.text,
                     generation=version.generation, dspace=str(dspace_home(self._bin)))
            (log.warning if discovery.startswith("cannot") else log.info)(
                "source.dspace.withdrawn", how=discovery)
            self._record({META_VERSION: f"{version.text} ({version.generation}), read "
                                        f"{_now()}"})
            return version

    def describe(self) -> Mapping[str, str]:
        version = self.version()
        assert self._found is not None
        return {"DSpace": f"{version.text} ({version.generation}) in {dspace_home(self._bin)}",
                "withdrawn items": withdrawn_discovery(self._found)}

    def _record(self, facts: Mapping[str, str]) -> None:
        """Facts for ``status`` into the state database (a failure there is only logged)."""
        try:
            with open_state(self._state_dir) as state:
                for key, value in facts.items():
                    state.set_meta(key, value)
        except (StateError, OSError) as exc:
            log.warning("source.dspace.state_not_recorded", error=str(exc))

    def _database(self) -> DSpaceDatabase | None:
        """DSpace's database, or None (the reason was logged at start-up)."""
        version = self.version()
        found = self._found
        if not isinstance(found, DatabaseSettings):
            return None
        return DSpaceDatabase(found, uuids=version.uuids, site_handle=self._site)

    # --- export -------------------------------------------------------------------------------
    def export_argv(self, out_dir: Path, updated_after: datetime | None) -> list[str]:
        """The command line of one site export."""
        argv = self._packager("-d", "-a", "-u", "-t", "AIP", "-e", self._eperson,
                              "-i", self._site)
        for option in export_options(self._options, updated_after):
            argv += ["-o", option]
        argv.append(str(out_dir / site_package_name(self._site)))
        return argv

    def export_one_argv(self, out_dir: Path, handle: str) -> list[str]:
        """The command line that exports one item on its own (a withdrawn one)."""
        argv = self._packager("-d", "-u", "-t", "AIP", "-e", self._eperson, "-i", handle)
        for option in export_options(self._options, None):
            argv += ["-o", option]
        argv.append(str(out_dir / package_file_name(C.TYPE_ITEM, handle)))
        return argv

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None, staged: Collection[str] = ()) -> ExportOutcome:
        self.version(stop)
        started = time.monotonic()
        full = updated_after is None
        lines = ExportLines()
        rc = self._run(self.export_argv(out_dir, updated_after), what="export", sink=lines,
                       stop=stop)
        if rc != 0:
            raise SourceError(source=self.name, detail=(
                f"the export exited with code {rc}: {lines.error or 'no error printed'}; "
                "staging is unchanged"))
        written = self._check_listing(out_dir, lines, recursive=True)
        del lines
        site_file = site_package_name(self._site)
        if site_file not in written:
            raise SourceError(source=self.name,
                              detail=f"the export exited 0 but wrote no {site_file}; staging "
                                     "is unchanged")
        kept, gone = self._export_withdrawn(out_dir, written, staged, updated_after, stop)
        for name in kept:
            written[name] = ""
        size = sum((out_dir / n).stat().st_size for n in written)
        return ExportOutcome(written=written, full=full, expected=written if full else None,
                             bytes=size, seconds=time.monotonic() - started, gone=tuple(gone))

    def _check_listing(self, out_dir: Path, lines: ExportLines, *, recursive: bool
                       ) -> SpillMap:
        """The files an export wrote (their names, each once, in order), checked against
        what DSpace says it created.  Names kept in SpillMaps: a million at a large site."""
        if recursive and lines.total is None:
            raise SourceError(source=self.name, detail=(
                "the export exited 0 but printed no 'CREATED a total of N dissemination "
                "package files.' line; staging is unchanged"))
        if recursive and lines.total != len(lines.files):
            raise SourceError(source=self.name, detail=(
                f"the export said it created {lines.total} package files but listed "
                f"{len(lines.files)}; staging is unchanged"))
        folder = os.path.realpath(out_dir)
        listed = SpillMap()
        for path in lines.files:
            if os.path.dirname(path) != folder:
                raise SourceError(source=self.name, detail=(
                    f"the export listed {path}, outside its folder {folder}; staging is "
                    "unchanged"))
            listed[os.path.basename(path)] = ""
        on_disk = name_set(packages_in(out_dir))
        # Each in order: the first name of one that the other lacks is the one reported.
        missing = next((name for name in listed if name not in on_disk), None)
        unlisted = next((name for name in on_disk if name not in listed), None)
        on_disk.close()
        if missing is not None or unlisted is not None:
            what = (f"listed {missing}, which is not in the folder" if missing is not None
                    else f"wrote {unlisted} without listing it")
            raise SourceError(source=self.name,
                              detail=f"the export {what}; staging is unchanged")
        return listed

    def _export_withdrawn(self, out_dir: Path, written: Container[str],
                          staged: Collection[str], updated_after: datetime | None,
                          stop: StopFlag | None) -> tuple[list[str], list[str]]:
        """Export, one by one, the items a ``-d -a`` left out that DSpace still has.

        Returns:
            (file names written, file names of staged items DSpace says do not exist).
        """
        left_out: set[str] = set()
        if updated_after is None:
            left_out = {n for n in staged
                        if n.startswith(f"{C.TYPE_ITEM}@") and n not in written}
        database = self._database()
        if database is not None:
            try:
                withdrawn = database.withdrawn(updated_after)
            except SourceError as exc:
                log.warning("source.dspace.withdrawn.unknown", error=str(exc),
                            detail="withdrawn items never staged cannot be discovered this "
                                   "run; staged ones are kept")
                self._record({META_WITHDRAWN: f"{_now()}: DSpace's database could not be "
                                              f"read ({exc})"})
            else:
                left_out.update(name for h in withdrawn
                                if (name := package_file_name(C.TYPE_ITEM, h)) not in written)
                since = "" if updated_after is None else " modified since updatedAfter"
                self._record({META_WITHDRAWN: f"{_now()}: DSpace's database listed "
                                              f"{len(withdrawn)} withdrawn item(s){since}"})
        kept: list[str] = []
        gone: list[str] = []
        for name in sorted(left_out):
            if stop is not None and stop.is_set():
                raise StopRequestedError(what="the export of withdrawn items finished")
            _, handle = key_handle(name)
            if self._export_one(out_dir, handle, stop):
                kept.append(name)
            else:
                gone.append(name)
        if left_out:
            log.info("source.dspace.withdrawn.exported", exported=len(kept), gone=len(gone),
                     detail="items -d -a leaves out (withdrawn), each exported on its own")
        return kept, gone

    def _export_one(self, out_dir: Path, handle: str, stop: StopFlag | None) -> bool:
        """``-d -i H`` of one item: True when written, False when DSpace has no such handle.

        Raises:
            SourceError: any other failure.
        """
        lines = ExportLines()
        rc = self._run(self.export_one_argv(out_dir, handle), what=f"export of {handle}",
                       sink=lines, stop=stop)
        if rc != 0:
            if handle in lines.unresolved:
                log.info("source.dspace.export.gone", handle=handle,
                         detail="DSpace cannot resolve the handle: the item was deleted")
                return False
            raise SourceError(source=self.name, detail=(
                f"the export of {handle} (an item -d -a left out: withdrawn) exited with code "
                f"{rc}: {lines.error or 'no error printed'}; staging is unchanged"))
        name = package_file_name(C.TYPE_ITEM, handle)
        listed = [os.path.basename(p) for p in lines.files]
        if listed != [name] or not (out_dir / name).is_file():
            raise SourceError(source=self.name, detail=(
                f"the export of {handle} exited 0 but did not write and list {name}; "
                "staging is unchanged"))
        return True

    # --- ingest -------------------------------------------------------------------------------
    def ingest_argv(self, spec: IngestSpec, *, package: Path | None = None,
                    recursive: bool | None = None, top: bool = True) -> list[str]:
        """The command line of one ingest call (``package``/``recursive`` override the
        spec's for the extra calls of keep-existing; only the top call names a parent)."""
        argv = self._packager(*spec.mode.flags)
        if spec.recursive if recursive is None else recursive:
            argv.append("-a")
        argv.append("-u")
        if spec.mode == IngestMode.SUBMIT:
            argv.append("-w")
        argv += ["-t", "AIP", "-e", self._eperson]
        if spec.identifier and top:
            argv += ["-i", spec.identifier]
        if spec.parent and top:
            argv += ["-p", spec.parent]
        for option in spec.options:
            argv += ["-o", option]
        argv.append(str(package or spec.package))
        return argv

    def ingest(self, spec: IngestSpec, *, stop: StopFlag | None = None) -> IngestOutcome:
        version = self.version(stop)
        if spec.mode == IngestMode.KEEP and spec.recursive and spec.tree:
            return self._ingest_keep(spec, version, stop)
        lines = self._ingest_call(spec, spec.package, recursive=spec.recursive, top=True,
                                  stop=stop, done=())
        assert lines is not None  # nothing tolerated
        objects = lines.objects
        if spec.mode == IngestMode.KEEP and lines.skipped_packages:
            _, handle = key_handle(spec.package.name)
            objects.add(Outcome(handle, "skipped", "exists in DSpace", spec.package.name))
        extra, note = explicit_packages(spec)
        for node in extra:  # items the collection AIPs do not point at: one call each
            if stop is not None and stop.is_set():
                raise StopRequestedError(what="the DSpace ingest calls finished"
                                              + _earlier(objects))
            more = self._ingest_call(spec, spec.package.parent / node.key, recursive=False,
                                     top=False, stop=stop, done=objects)
            assert more is not None
            for outcome in more.objects:
                objects.add(outcome)
        return self._outcome(objects, lines, [note] if note else [])

    def _outcome(self, objects: Collection[Outcome], lines: IngestLines | None,
                 notes: Sequence[str] = ()) -> IngestOutcome:
        warnings = list(notes)
        if lines is not None and lines.workflow:
            warnings.append(f"{len(lines.workflow)} item(s) were left in a collection's "
                            "workflow, without a handle")
        code = C.EXIT_WARNING if warnings else C.EXIT_OK
        return IngestOutcome(code, objects=objects, warnings=tuple(warnings))

    def _ingest_call(self, spec: IngestSpec, package: Path, *, recursive: bool, top: bool,
                     stop: StopFlag | None, done: Collection[Outcome],
                     tolerate_item: bool = False) -> IngestLines | None:
        """One ``packager -r/-s`` call, judged by its exit code and lines.

        ``done``: objects earlier calls of this ingest committed (named in an error).
        ``tolerate_item``: a 5.x/6.x single-Item keep-existing call whose only failure is
        DSpace's identifier RuntimeException (the item exists; DSpace rolled back) returns
        None instead of raising.
        """
        lines = IngestLines()
        argv = self.ingest_argv(spec, package=package, recursive=recursive, top=top)
        rc = self._run(argv, what=f"ingest of {package.name}", sink=lines, stop=stop)
        if rc != 0:
            error = lines.error or "no error printed"
            if tolerate_item and "create identifier for Item" in error:
                log.info("source.dspace.keep.item_exists", package=package.name,
                         detail="DSpace 5.x/6.x fails -k on an existing Item: it exists, "
                                "and is kept")
                return None
            raise self._ingest_failed(package, rc, error, lines, done)
        problem = None
        if recursive and lines.total is None:
            problem = "printed no 'CREATED/REPLACED a total of N DSpace Objects.' line"
        elif recursive and lines.lines != lines.total:
            problem = (f"said it made {lines.total} objects but listed {lines.lines}")
        elif not recursive and not (lines.lines or lines.skipped_packages):
            problem = "printed no result line for it"
        if problem:
            raise SourceError(source=self.name, detail=(
                f"the ingest of {package.name} exited 0 but {problem}; DSpace committed "
                "whatever it did: check the repository"
                + _earlier(done)))
        for outcome in lines.objects:
            log.info("source.dspace.ingested", handle=outcome.handle, action=outcome.action,
                     detail=outcome.detail)
        return lines

    def _ingest_failed(self, package: Path, rc: int, error: str, lines: IngestLines,
                       done: Collection[Outcome]) -> SourceError:
        """The error of an ingest call that exited non-zero: what DSpace had claimed, and
        that it rolled it back."""
        claimed = len(lines.objects)
        for outcome in lines.objects:
            log.warning("source.dspace.rolled_back", handle=outcome.handle,
                        action=outcome.action,
                        detail="claimed by DSpace before it failed; rolled back")
        if claimed:
            shown = ", ".join(o.handle for o in itertools.islice(lines.objects, _NAMED)) + (
                f" and {claimed - _NAMED} more" if claimed > _NAMED else "")
            what = (f"DSpace had claimed {claimed} object(s) ({shown}) and rolled them "
                    "back")
        else:
            what = "DSpace claimed no object and rolled back whatever it had begun"
        hint = ""
        if "already in use" in error:
            hint = " (an object exists: use --mode keep-existing or replace)"
        elif "create identifier for Item" in error:
            hint = (" (DSpace 5.x/6.x fails keep-existing on an existing Item; with DSpace's "
                    "database readable aipsync restores only the missing objects: make "
                    "config/local.cfg readable or set repository.dspace_db_url)")
        return SourceError(source=self.name, detail=(
            f"the ingest of {package.name} exited with code {rc}: {error}{hint}; {what}"
            + _earlier(done)))

    def _ingest_keep(self, spec: IngestSpec, version: DSpaceVersion,
                     stop: StopFlag | None) -> IngestOutcome:
        """Keep-existing: every missing object of the tree restored, the existing skipped."""
        folder = spec.package.parent
        tree = spec.tree
        by_key = {node.key: node for node in tree}
        top_key = spec.package.name
        found = self._exists([node.handle for node in tree])
        restored: dict[str, Outcome] = {}
        skipped: list[TreePackage] = []

        def call(key: str, recursive: bool, tolerate: bool = False) -> list[str] | None:
            """One call; the handles it restored (None: a tolerated existing item)."""
            if stop is not None and stop.is_set():
                raise StopRequestedError(what="the DSpace ingest calls finished"
                                              + _earlier(list(restored.values())))
            lines = self._ingest_call(spec, folder / key, recursive=recursive,
                                      top=key == top_key, stop=stop,
                                      done=list(restored.values()), tolerate_item=tolerate)
            if lines is None:
                return None
            for outcome in lines.objects:
                restored.setdefault(outcome.handle, outcome)
            return [outcome.handle for outcome in lines.objects]

        if found is not None:
            calls, skipped = keep_existing_calls(tree, found)
            for planned in calls:
                call(planned.key, planned.recursive)
        else:
            settle = Settle(tree)
            key = settle.next_call()
            calls_made = 0
            while key is not None:
                single_item = by_key[key].type == C.TYPE_ITEM
                made = call(key, True, tolerate=single_item and version.keep_fails_on_items)
                settle.record(key, made or [], exists=made is None)
                calls_made += 1
                key = settle.next_call()
            if calls_made > 1:
                log.warning("source.dspace.keep.calls", calls=calls_made,
                            detail="DSpace's database is not readable, so every object under "
                                   "an existing one was ingested by a call of its own")
            skipped = [by_key[k] for k in sorted(settle.existing) if k in by_key]
        objects = [restored[n.handle] for n in tree if n.handle in restored]
        objects += [Outcome(n.handle, "skipped", "exists in DSpace", n.key) for n in skipped
                    if n.handle not in restored]
        return self._outcome(objects, None)

    def _exists(self, handles: Sequence[str]) -> Mapping[str, bool] | None:
        found = self.existing(handles)
        return None if found is None else found.exists

    # --- questions ----------------------------------------------------------------------------
    def preflight(self) -> None:
        if not os.access(self._bin, os.X_OK):
            raise SourceError(source=self.name,
                              detail="repository.dspace_bin is not an executable file")
        self.version()

    def existing(self, handles: Sequence[str], *, owners: bool = False) -> Existing | None:
        database = self._database()
        if database is None:
            return None
        try:
            exists, owning = database.existing(handles)
        except SourceError as exc:
            log.warning("source.dspace.existing.unknown", error=str(exc))
            return None
        return Existing(exists, dict(owning) if owners else {})

    def expected_packages(self) -> Extent:
        try:
            database = self._database()
            reason = withdrawn_discovery(self._found) if self._found is not None else ""
        except SourceError as exc:
            database, reason = None, f"cannot be discovered: {exc}"
        if database is not None:
            try:
                return Extent(database.objects(), f"DSpace's database {database.display}")
            except SourceError as exc:
                reason = f"cannot be discovered: {exc}"
        staged = name_set(packages_in(self._staging) if self._staging.is_dir() else ())
        return Extent(staged, "staging, what the last export wrote", complete=False,
                      note=f"DSpace's own list of objects is not readable, so withdrawn "
                           f"items never backed up are not counted (withdrawn items "
                           f"{reason})")


def _earlier(done: Collection[Outcome]) -> str:
    """The part of a message about objects earlier calls committed (they stay)."""
    if not done:
        return ""
    shown = ", ".join(o.handle for o in itertools.islice(done, _NAMED))
    more = f" and {len(done) - _NAMED} more" if len(done) > _NAMED else ""
    return f"; {len(done)} object(s) restored by earlier DSpace calls stay ({shown}{more})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

