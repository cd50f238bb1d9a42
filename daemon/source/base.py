"""Where AIPs come from and go back to: the embedded repository or a real DSpace.

Owns: the ``Source`` protocol (``export`` a whole site into a folder, optionally only Items
changed after ``updatedAfter``; ``ingest`` one package tree, for restores), its two
implementations and ``open_source``, the one place that turns ``[repository]`` into a source:

- ``EmbeddedSource`` runs aipsync's own packager in-process on the ``[repository]`` folder (or
  database URL), as the configured e-person, with the ``[aip]`` tables and the extra options.
- ``DSpaceSource`` runs ``<dspace_bin> packager -d -a -t AIP -e <eperson> -i <site handle>
  [-o updatedAfter=...] [-o extra...] <dir>/SITE@<prefix>-0.zip`` as a subprocess in its own
  process group, with a timeout; every line it prints is logged (``source.dspace.output``),
  and a non-zero exit, a timeout or a missing launcher is a ``SourceError``.

Both write DSpace's file names (``ITEM@123456789-42.zip``) into the folder they are given and
report what they wrote.  For a full export the set written is the whole site: the staging
layer uses it to drop the AIPs of deleted objects.

Must not: touch the staging folder itself (``daemon.sync.staging`` moves files), take locks, or
log a secret (the child's environment is never logged; its lines pass the redaction of
``aip.logconfig``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal, Protocol

import structlog

from aip import constants as C
from aip.files import is_temp_name
from aip.model import package_file_name
from daemon.core import faultpoints
from daemon.core.config import Config
from daemon.core.errors import SourceError, StopRequestedError
from daemon.targets.base import StopFlag

__all__ = [
    "DSpaceSource",
    "EmbeddedSource",
    "ExportOutcome",
    "IngestMode",
    "IngestOutcome",
    "IngestSpec",
    "IngestedObject",
    "Source",
    "format_updated_after",
    "open_source",
    "parse_packager_output",
    "redact_line",
    "site_package_name",
]

log = structlog.get_logger(__name__)

IngestMode = Literal["restore", "keep-existing", "replace", "submit"]

#: ``scheme://user:password@`` and ``password=...``-like words in a child's output.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@", re.I)
_KEY_VALUE_SECRET = re.compile(
    r"(?P<head>\b[\w.-]*(?:password|passwd|secret|token)[\w.-]*\s*[=:]\s*)[^\s,;]+", re.I)
#: Longest output line kept in a log event (a stack trace line can be huge).
_MAX_LINE = 2000
#: Lines of output kept for the error message of a failed call.
_TAIL_LINES = 5
#: Seconds between SIGTERM and SIGKILL when a child must go.
_KILL_GRACE = 10.0
_POLL = 0.2


# --- results ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What one export wrote into its folder.

    ``written``: file names (no folder) of the packages written.  ``unchanged``: handles the
    export left alone because of ``updatedAfter`` (the embedded packager reports them; DSpace
    does not, so it is empty there).  ``expected``: for a full export, every file name the
    site's AIPs have, i.e. what staging should hold afterwards; None when that is not known
    for sure (an incremental run, or objects skipped as unauthorised), so nothing is removed.
    """

    written: tuple[str, ...]
    full: bool
    unchanged: tuple[str, ...] = ()
    expected: frozenset[str] | None = None
    bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IngestSpec:
    """One ingest call, as ``packager -r/-s`` takes it (issue 6's restore builds these).

    ``mode``: ``restore`` (-r), ``keep-existing`` (-r -k), ``replace`` (-r -f) or ``submit``
    (-s).  ``identifier``: the object to replace (``replace`` only).  ``options``: ``-o``
    strings such as ``skipIfParentMissing=true``.
    """

    package: Path
    mode: IngestMode = "restore"
    recursive: bool = True
    parent: str | None = None
    identifier: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestedObject:
    """What an ingest did to one object: ``action`` is ``restored``, ``replaced``,
    ``skipped``, ``mapped``, ``submitted`` (DSpace: ``INGESTED``)..., ``detail`` says why."""

    handle: str
    action: str
    detail: str = ""
    package: str = ""


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What an ingest did: the packager's exit code, its report lines, the objects it
    reports (parsed from the lines for DSpace) and its warnings."""

    exit_code: int
    lines: tuple[str, ...] = field(default_factory=tuple)
    objects: tuple[IngestedObject, ...] = ()
    warnings: tuple[str, ...] = ()


class Source(Protocol):
    """A repository the daemon exports from and restores into."""

    @property
    def name(self) -> str:
        """A short description for logs and errors (no secret)."""

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None) -> ExportOutcome:
        """Export the whole site as AIPs into the existing, empty folder ``out_dir``.

        Args:
            out_dir: where the packages go (the SITE AIP and its children, side by side).
            updated_after: only Items modified after this time (None: a full export).
            stop: checked between packages; when set the export is abandoned.

        Returns:
            What was written.

        Raises:
            SourceError: the export failed (``out_dir`` may hold partial output).
            StopRequestedError: ``stop`` was set.
            AipError: the embedded packager's own errors (unknown e-person, ...).
        """

    def ingest(self, spec: IngestSpec, *, stop: StopFlag | None = None) -> IngestOutcome:
        """Ingest one package (tree) into the repository (the restore path of issue 6)."""


def format_updated_after(when: datetime) -> str:
    """``updatedAfter`` as DSpace wants it: ISO-8601 with a time, UTC, whole seconds.

    Rounded down, so an Item changed in the same second is exported (again), never missed.
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_package_name(site_handle: str) -> str:
    """The file name of the SITE AIP (``SITE@123456789-0.zip``)."""
    return package_file_name(C.TYPE_SITE, site_handle, C.PACKAGE_EXTENSION)


def _export_options(extra: Sequence[str], updated_after: datetime | None) -> list[str]:
    options = list(extra)
    if updated_after is not None:
        options.append(f"updatedAfter={format_updated_after(updated_after)}")
    return options


def _packages_in(folder: Path) -> list[str]:
    """Names of the finished package files in ``folder``."""
    names = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if is_temp_name(entry.name) or not entry.is_file():
            continue
        match = C.PACKAGE_NAME_RE.match(entry.name)
        if match is None or match["ext"] != C.PACKAGE_EXTENSION:
            log.warning("source.export.stray_file", file=entry.name,
                        detail="not an AIP file name; it is not staged")
            continue
        names.append(entry.name)
    return names


# --- the embedded repository ------------------------------------------------------------------
class EmbeddedSource:
    """aipsync's own repository, exported and ingested in-process."""

    def __init__(self, config: Config) -> None:
        repo = config.repository
        if repo.kind != "embedded":
            raise ValueError("EmbeddedSource needs repository.kind = \"embedded\"")
        self._config = config
        self._folder = repo.path
        self._db_url = repo.db_url
        self._assetstore = repo.assetstore
        self._eperson = repo.eperson
        self._site = repo.site_handle
        self._options = repo.dspace_options

    @property
    def name(self) -> str:
        return f"embedded repository {self._folder or '(database URL)'}"

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None) -> ExportOutcome:
        from aip.packager.disseminator import ExportRequest, Progress, export
        from aip.packager.options import ExportOptions, parse_option_strings
        from aip.repository.store import Repository

        options = ExportOptions.parse(parse_option_strings(
            _export_options(self._options, updated_after)))
        request = ExportRequest(handle=self._site, eperson=self._eperson,
                                output=out_dir / site_package_name(self._site),
                                recursive=True, options=options,
                                config=self._config.aip.disseminate)

        def check_stop(_: Progress) -> None:
            # The packager reports after each package: the safe point to abandon the export.
            faultpoints.checkpoint("export.package")
            if stop is not None and stop.is_set():
                raise StopRequestedError(what="the export finished")

        watched = stop is not None or faultpoints.armed("export.package")
        repo = Repository.open(self._folder, db_url=self._db_url, assetstore=self._assetstore)
        try:
            result = export(repo, request, progress=check_stop if watched else None)
        finally:
            repo.close()
        written = []
        for pkg in result.written:
            if pkg.path.parent != out_dir:
                raise SourceError(source=self.name,
                                  detail=f"the packager wrote {pkg.path} outside {out_dir}")
            written.append(pkg.path.name)
        full = updated_after is None
        expected: frozenset[str] | None = frozenset(written) if full else None
        if full and result.skipped:
            log.warning("source.export.incomplete", skipped=len(result.skipped),
                        detail="objects skipped as unauthorised: no staged AIP is removed")
            expected = None
        return ExportOutcome(written=tuple(written), full=full,
                             unchanged=tuple(result.unchanged), expected=expected,
                             bytes=sum(p.size for p in result.written), seconds=result.seconds)

    def ingest(self, spec: IngestSpec, *, stop: StopFlag | None = None) -> IngestOutcome:
        from aip.packager import ingester
        from aip.packager.options import IngestOptions, parse_option_strings
        from aip.repository.store import Repository

        mode = ingester.Mode(spec.mode)
        opts = IngestOptions.parse(parse_option_strings(spec.options),
                                   restore=mode != ingester.Mode.SUBMIT,
                                   parent_given=spec.parent is not None)
        request = ingester.IngestRequest(
            package=spec.package, eperson=self._eperson, mode=mode, options=opts,
            recursive=spec.recursive, parent=spec.parent, identifier=spec.identifier,
            config=self._config.aip.ingest)
        repo = Repository.open(self._folder, db_url=self._db_url, assetstore=self._assetstore)
        faultpoints.watch_inserts(repo.engine, "restore.ingest")
        try:
            report = ingester.ingest(repo, request)
        finally:
            repo.close()
        return IngestOutcome(
            report.exit_code, tuple(ingester.report_lines(report)),
            objects=tuple(IngestedObject(o.handle, o.action, o.detail, o.package)
                          for o in report.outcomes),
            warnings=tuple(str(w) for w in report.warnings))


# --- a real DSpace through its command line ---------------------------------------------------
class DSpaceSource:
    """A real DSpace, driven through ``[dspace]/bin/dspace packager``.

    ``runner`` is injectable for tests of the argument list; by default the command runs as
    a subprocess (``run_logged``).
    """

    def __init__(self, config: Config, *,
                 runner: Callable[..., int] | None = None) -> None:
        repo = config.repository
        if repo.kind != "dspace" or repo.dspace_bin is None:
            raise ValueError("DSpaceSource needs repository.kind = \"dspace\" and dspace_bin")
        self._bin = repo.dspace_bin
        self._eperson = repo.eperson
        self._site = repo.site_handle
        self._options = repo.dspace_options
        self._timeout = float(repo.dspace_timeout)
        self._runner = runner or run_logged

    @property
    def name(self) -> str:
        return f"dspace {self._bin}"

    def export_argv(self, out_dir: Path, updated_after: datetime | None) -> list[str]:
        """The command line of one site export."""
        argv = [str(self._bin), "packager", "-d", "-a", "-t", "AIP", "-e", self._eperson,
                "-i", self._site]
        for option in _export_options(self._options, updated_after):
            argv += ["-o", option]
        argv.append(str(out_dir / site_package_name(self._site)))
        return argv

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None) -> ExportOutcome:
        started = time.monotonic()
        argv = self.export_argv(out_dir, updated_after)
        self._runner(argv, source=self.name, timeout=self._timeout, stop=stop,
                     what="export")
        written = _packages_in(out_dir)
        full = updated_after is None
        site_file = site_package_name(self._site)
        if site_file not in written:
            raise SourceError(source=self.name,
                              detail=f"the export exited 0 but wrote no {site_file}")
        size = sum((out_dir / n).stat().st_size for n in written)
        return ExportOutcome(written=tuple(written), full=full,
                             expected=frozenset(written) if full else None, bytes=size,
                             seconds=time.monotonic() - started)

    def ingest_argv(self, spec: IngestSpec) -> list[str]:
        """The command line of one ingest (``-u``: never ask, we have no terminal)."""
        flags = {"restore": ["-r"], "keep-existing": ["-r", "-k"], "replace": ["-r", "-f"],
                 "submit": ["-s"]}[spec.mode]
        argv = [str(self._bin), "packager", *flags]
        if spec.recursive:
            argv.append("-a")
        argv += ["-u", "-t", "AIP", "-e", self._eperson]
        if spec.identifier:
            argv += ["-i", spec.identifier]
        if spec.parent:
            argv += ["-p", spec.parent]
        for option in spec.options:
            argv += ["-o", option]
        argv.append(str(spec.package))
        return argv

    def ingest(self, spec: IngestSpec, *, stop: StopFlag | None = None) -> IngestOutcome:
        lines: list[str] = []
        rc = self._runner(self.ingest_argv(spec), source=self.name, timeout=self._timeout,
                          stop=stop, what="ingest", check=False, collect=lines)
        objects, warnings = parse_packager_output(lines)
        return IngestOutcome(rc, tuple(lines), objects=objects, warnings=warnings)


#: DSpace's Packager prints one line per ingested object at the end of a successful run:
#: ``RESTORED DSpace ITEM [ hdl=123456789/42, dbID=... ]`` (REPLACED / INGESTED likewise).
_DSPACE_RESULT = re.compile(
    r"^\s*(?P<verb>RESTORED|REPLACED|INGESTED|SKIPPED)\s+DSpace\s+(?P<type>[A-Z]+)\s*"
    r"\[\s*hdl=(?P<handle>[^,\s\]]+)")
#: aipsync's packager (and a stand-in that runs it): ``restored   123456789/42 (detail)
#: [ITEM@123456789-42.zip]`` and ``warning    AIP-W101 ...``.
_AIPSYNC_RESULT = re.compile(
    r"^(?P<action>restored|replaced|skipped|mapped|submitted|created|exists)\s+"
    r"(?P<handle>\S+)(?:\s+\((?P<detail>.*?)\))?(?:\s+\[(?P<package>[^\]]+)\])?\s*$")
_DSPACE_VERBS = {"RESTORED": "restored", "REPLACED": "replaced", "INGESTED": "submitted",
                 "SKIPPED": "skipped"}


def parse_packager_output(lines: Sequence[str]
                          ) -> tuple[tuple[IngestedObject, ...], tuple[str, ...]]:
    """The per-object results and warnings in a packager's output.  Pure.

    Understands DSpace's result lines (``RESTORED DSpace ITEM [ hdl=..., dbID=... ]``) and
    aipsync's own report lines; everything else (progress, log lines) is ignored.

    Args:
        lines: the output lines (stdout and stderr, as collected).

    Returns:
        (objects, warnings).
    """
    objects: list[IngestedObject] = []
    warnings: list[str] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("warning "):
            warnings.append(line.removeprefix("warning").strip())
            continue
        match = _DSPACE_RESULT.match(line)
        if match:
            objects.append(IngestedObject(match["handle"], _DSPACE_VERBS[match["verb"]],
                                          package=match["type"]))
            continue
        match = _AIPSYNC_RESULT.match(line)
        if match and C.HANDLE_RE.match(match["handle"]):
            objects.append(IngestedObject(match["handle"], match["action"],
                                          match["detail"] or "", match["package"] or ""))
    return tuple(objects), tuple(warnings)


def redact_line(line: str) -> str:
    """A child's output line with URL passwords and ``password=...`` values masked.

    The child (DSpace) is not ours: its lines go into the log, the state database and error
    messages, so anything that looks like a credential is replaced by ``***`` first.
    """
    line = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", line)
    return _KEY_VALUE_SECRET.sub(lambda m: f"{m['head']}***", line)


def _pump(stream: IO[str], name: str, source: str, tail: collections.deque[str],
          collect: list[str] | None) -> None:
    """Log each line of a child's output stream (a reader thread; ends at EOF)."""
    for raw in stream:
        line = raw.rstrip("\r\n")
        if not line:
            continue
        line = redact_line(line[:_MAX_LINE])
        tail.append(line)
        if collect is not None:
            collect.append(line)
        log.info("source.dspace.output", stream=name, line=line, source=source)


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, then SIGKILL it after a grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=_KILL_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_logged(argv: Sequence[str], *, source: str, timeout: float,
               stop: StopFlag | None = None, what: str = "command", check: bool = True,
               collect: list[str] | None = None) -> int:
    """Run ``argv``, logging every output line, within ``timeout`` seconds.

    The child runs in its own session (so its whole process group, e.g. DSpace's JVM, can
    be stopped), with stdin closed and the daemon's environment.

    Args:
        argv: the command line (logged; it must hold no secret).
        source: names the source in logs and errors.
        timeout: seconds before the child is killed.
        stop: when set, the child is terminated and ``StopRequestedError`` raised.
        what: what the command does, for messages.
        check: raise ``SourceError`` on a non-zero exit.
        collect: a list that receives every output line.

    Returns:
        The exit code.

    Raises:
        SourceError: the command is missing, timed out, or (``check``) exited non-zero.
        StopRequestedError: ``stop`` was set.
    """
    log.info("source.dspace.start", argv=[redact_line(a) for a in argv], what=what,
             timeout_s=timeout)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)
    except OSError as exc:
        raise SourceError(source=source,
                          detail=f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    assert proc.stdout is not None and proc.stderr is not None
    readers = [threading.Thread(target=_pump, args=(stream, name, source, tail, collect),
                                name=f"aipsync-dspace-{name}", daemon=True)
               for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for reader in readers:
        reader.start()
    try:
        while True:
            try:
                rc = proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop is not None and stop.is_set():
                log.info("source.dspace.stopping", what=what)
                _terminate(proc)
                raise StopRequestedError(what=f"the DSpace {what} finished")
            if time.monotonic() - started > timeout:
                _terminate(proc)
                raise SourceError(source=source,
                                  detail=f"{what} timed out after {timeout:g} s and was killed "
                                         "(repository.dspace_timeout)")
    except BaseException:
        if proc.poll() is None:
            _terminate(proc)
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    duration = round(time.monotonic() - started, 3)
    log.info("source.dspace.done", what=what, exit_code=rc, duration_s=duration)
    if rc != 0 and check:
        last = " | ".join(tail) or "no output"
        raise SourceError(source=source,
                          detail=f"{what} exited with code {rc}; last output: {last}")
    return rc


def open_source(config: Config) -> Source:
    """The source ``[repository]`` names.

    Args:
        config: the configuration.

    Returns:
        An ``EmbeddedSource`` or a ``DSpaceSource``.
    """
    if config.repository.kind == "dspace":
        return DSpaceSource(config)
    return EmbeddedSource(config)
