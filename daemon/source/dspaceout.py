"""What DSpace's command line prints, read: its version, an export's and an ingest's lines.

Owns: ``DSpaceVersion`` and ``parse_version`` (``dspace version``; the generations the driver
supports), ``ExportLines`` and ``IngestLines`` (line sinks for ``run_logged`` that keep what
an export or an ingest printed that matters: totals, the files or objects listed, Java
exceptions) and ``parse_packager_output`` (the same for a finished list of lines).

The lines are DSpace's, generation by generation (DSpace's ``Packager.java``,
``ScriptLauncher.java`` and ``Version.java``, tags dspace-5.10 to dspace-10.0; the stand-in in
``tests/fixtures/dspace-standin/README.md`` prints them the same way):

- ``dspace version``: ``DSpace version:  7.6.2`` (a right-aligned label, two spaces).
- export (``-d -a -u``): ``CREATED a total of N dissemination package files.`` then one
  ``CREATED package file: <canonical path>`` per file; ``-d`` of one object: that line once.
- ingest: ``RESTORED DSpace ITEM [ hdl=H, dbID=ID ] `` (``-r``, ``-r -k``), ``CREATED new
  DSpace ITEM [ hdl=H, dbID=ID ] `` (``-s``; ``hdl=null`` for an item left in workflow),
  ``REPLACED DSpace ITEM [ hdl=H ] `` (``-r -f``), each ending with a space; totals ``CREATED
  a total of N DSpace Objects.`` / ``REPLACED a total of N DSpace Objects.`` (recursive only);
  ``SKIPPED processing package 'FILE', as an Object already exists with this handle.``
  (``-r -k`` of one package).  DSpace never prints ``INGESTED``.  Every result line comes
  *before* the commit: only the exit code says whether it happened.
- failures: a caught exception is printed by ``printStackTrace`` (stderr) and
  ``System.out.println(e)`` (stdout, ``java.lang.X: message``); one that leaves ``main()``
  is printed by ScriptLauncher as ``Exception: message`` and its trace (stderr).  10.x adds
  ``PackagerExitException: Packager exiting with code 1``.

Pure: no I/O.  The sinks take a lock (``run_logged`` reads stdout and stderr on two threads).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aip.errors import Outcome
from aip.lazy import LazyCollection
from aip.spill import SpillList, SpillMap

__all__ = [
    "SUPPORTED",
    "SUPPORTED_TEXT",
    "DSpaceVersion",
    "ExportLines",
    "IngestLines",
    "parse_packager_output",
    "parse_version",
]

#: The DSpace major versions the driver was built and tested for.
SUPPORTED = (5, 6, 7, 8, 9, 10)
SUPPORTED_TEXT = "5.x, 6.x and 7.x to 10.x"

_VERSION = re.compile(r"^\s*DSpace version:\s+(?P<version>\S+)\s*$")
_EXPORT_TOTAL = re.compile(r"^CREATED a total of (?P<n>\d+) dissemination package files\.$")
_EXPORT_FILE = re.compile(r"^CREATED package file: (?P<path>.+)$")
_INGEST_TOTAL = re.compile(r"^(?P<verb>CREATED|REPLACED) a total of (?P<n>\d+) DSpace Objects\.$")
_RESULT = re.compile(
    r"^(?P<verb>RESTORED|REPLACED|CREATED new) DSpace (?P<type>SITE|COMMUNITY|COLLECTION|ITEM) "
    r"\[ hdl=(?P<handle>[^,\s\]]+)(?:, dbID=(?P<dbid>[^\s\]]+))? \]\s*$")
_SKIPPED = re.compile(r"^SKIPPED processing package '(?P<file>.+)', as an Object already "
                      r"exists with this handle\.$")
_EXCEPTION = re.compile(
    r"^(?:Caused by: )?(?P<cls>(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))"
    r"(?::\s(?P<msg>.*))?$")
_LAUNCHER_EXCEPTION = re.compile(r"^Exception: (?P<msg>.*)$")
_PACKAGER_EXIT = "PackagerExitException"
_CANNOT_RESOLVE = re.compile(r'Cannot resolve handle "(?P<handle>[^"]+)"')
_VERBS = {"RESTORED": "restored", "REPLACED": "replaced", "CREATED new": "submitted"}


@dataclass(frozen=True, slots=True)
class DSpaceVersion:
    """A DSpace version as ``dspace version`` prints it, and what its generation means for
    the driver."""

    text: str
    major: int

    @property
    def generation(self) -> str:
        return f"{self.major}.x"

    @property
    def uuids(self) -> bool:
        """6.x and later key objects by UUID (5.x: integer ids)."""
        return self.major >= 6

    @property
    def local_cfg(self) -> bool:
        """6.x and later read ``config/local.cfg`` over ``dspace.cfg``."""
        return self.major >= 6

    @property
    def keep_fails_on_items(self) -> bool:
        """5.x and 6.x fail (not skip) an existing Item under ``-r -k``: their
        HandleIdentifierProvider wraps the handle conflict in a RuntimeException."""
        return self.major <= 6

    @property
    def supported(self) -> bool:
        return self.major in SUPPORTED


def parse_version(lines: Iterable[str]) -> DSpaceVersion:
    """The version in ``dspace version``'s output.

    Raises:
        ValueError: no ``DSpace version:`` line, or no major number in it.
    """
    for line in lines:
        match = _VERSION.match(line)
        if match:
            text = match["version"]
            major = re.match(r"^(\d+)", text)
            if major is None:
                raise ValueError(f"DSpace version {text!r} has no major number")
            return DSpaceVersion(text, int(major.group(1)))
    raise ValueError("no 'DSpace version:' line in its output")


class _Lines:
    """What both sinks keep: the Java exceptions each stream printed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exceptions: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.launcher: list[str] = []
        self.unresolved: set[str] = set()

    def _exception(self, stream: str, line: str) -> bool:
        text = line.strip()
        match = _CANNOT_RESOLVE.search(text)
        if match:
            self.unresolved.add(match["handle"])
        match = _EXCEPTION.match(text)
        if match:
            if _PACKAGER_EXIT not in match["cls"]:
                self.exceptions.setdefault(stream, []).append(text)
            return True
        match = _LAUNCHER_EXCEPTION.match(text)
        if match:
            self.launcher.append(text)
            return True
        return False

    def __call__(self, stream: str, line: str) -> None:
        """One output line (``run_logged``'s sink): exceptions from either stream, the rest
        from stdout only (DSpace prints its results there)."""
        text = line.strip()  # result lines end with a space; a stray CR is not DSpace's
        with self._lock:
            if not self._exception(stream, text) and stream == "stdout":
                self._result(text)

    def _result(self, text: str) -> None:
        """A stdout line that is not an exception (under the lock)."""

    @property
    def error(self) -> str | None:
        """The exception that ended the run, as one line: what ``System.out.println(e)``
        printed (a caught one), else the first one on stderr, else ScriptLauncher's."""
        for stream in ("stdout", "stderr"):
            if self.exceptions.get(stream):
                return self.exceptions[stream][0]
        for text in self.launcher:
            if _PACKAGER_EXIT not in text and "Packager exiting with code" not in text:
                return text
        return None


class ExportLines(_Lines):
    """A sink for ``packager -d``: the total and the files DSpace says it created (a
    ``SpillList``: a site of a million items prints a million paths)."""

    def __init__(self) -> None:
        super().__init__()
        self.total: int | None = None
        self.files: SpillList[str] = SpillList()

    def _result(self, text: str) -> None:
        match = _EXPORT_TOTAL.match(text)
        if match:
            self.total = int(match["n"])
            return
        match = _EXPORT_FILE.match(text)
        if match:
            self.files.append(match["path"])


class OutcomeList(LazyCollection[Outcome]):
    """Objects an ingest claimed, each handle once (the first claim kept), in order: the
    outcomes in a ``SpillList``, the handles met in a ``SpillMap`` (a site restore claims a
    million objects)."""

    __slots__ = ("_handles", "_outcomes")

    def __init__(self) -> None:
        self._outcomes: SpillList[Outcome] = SpillList()
        self._handles = SpillMap()

    def add(self, outcome: Outcome) -> bool:
        """Keep ``outcome`` unless its handle was claimed already; whether it was kept."""
        if outcome.handle in self._handles:
            return False
        self._handles[outcome.handle] = ""
        self._outcomes.append(outcome)
        return True

    def has(self, handle: str) -> bool:
        """Whether an outcome for ``handle`` is kept."""
        return handle in self._handles

    def __len__(self) -> int:
        return len(self._outcomes)

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self._outcomes)


class IngestLines(_Lines):
    """A sink for ``packager -r/-s``: each object DSpace claims, once, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.total: int | None = None
        self.total_verb: str | None = None
        self.objects = OutcomeList()
        self.lines: int = 0
        self.skipped_packages: list[str] = []
        self.workflow: list[str] = []

    def _result(self, text: str) -> None:
        match = _INGEST_TOTAL.match(text)
        if match:
            self.total, self.total_verb = int(match["n"]), match["verb"]
            return
        match = _RESULT.match(text)
        if match:
            self.lines += 1
            detail = f"DSpace {match['type']}" + (f", dbID={match['dbid']}"
                                                  if match["dbid"] else "")
            handle = match["handle"]
            if handle == "null":  # an item left in a collection's workflow
                self.workflow.append(detail)
            elif not self.objects.has(handle):
                self.objects.add(Outcome(handle, _VERBS[match["verb"]], detail))
            return
        match = _SKIPPED.match(text)
        if match:
            self.skipped_packages.append(match["file"])


def parse_packager_output(lines: Iterable[str]) -> tuple[tuple[Outcome, ...], str | None]:
    """The objects DSpace's ingest lines claim (each handle once) and the exception that
    ended the run, if any; every line is taken as printed on stdout.  Pure."""
    sink = IngestLines()
    for line in lines:
        sink("stdout", line)
    return tuple(sink.objects), sink.error

