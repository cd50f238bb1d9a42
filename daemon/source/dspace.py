"""A real DSpace as the source: its ``bin/dspace packager`` run as a child process.

Owns: ``DSpaceSource`` (the export and ingest command lines, run through
``daemon.source.process.run_logged`` with a timeout) and ``parse_packager_output`` (the
per-object result lines DSpace's packager prints).

The export runs ``<dspace_bin> packager -d -a -t AIP -e <eperson> -i <site handle>
[-o updatedAfter=...] [-o extra...] <dir>/SITE@<prefix>-0.zip``; every line it prints is
logged (``source.dspace.output``), and a non-zero exit, a timeout or a missing launcher is a
``SourceError``.

Must not: log a secret (the child's lines pass ``redact_line``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from aip import constants as C
from aip.errors import Outcome
from daemon.core.config import Config
from daemon.core.errors import SourceError
from daemon.core.stop import StopFlag
from daemon.source.base import (
    Existing,
    ExportOutcome,
    IngestOutcome,
    IngestSpec,
    export_options,
    packages_in,
    site_package_name,
)
from daemon.source.process import run_logged

__all__ = ["DSpaceSource", "parse_packager_output"]


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
        self._staging = config.staging.dir
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
        for option in export_options(self._options, updated_after):
            argv += ["-o", option]
        argv.append(str(out_dir / site_package_name(self._site)))
        return argv

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None) -> ExportOutcome:
        started = time.monotonic()
        argv = self.export_argv(out_dir, updated_after)
        self._runner(argv, source=self.name, timeout=self._timeout, stop=stop,
                     what="export")
        written = packages_in(out_dir)
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
        argv = [str(self._bin), "packager", *spec.mode.flags]
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
        return IngestOutcome(self._ingest_exit_code(rc, objects, lines), tuple(lines),
                             objects=objects, warnings=warnings)

    def _ingest_exit_code(self, rc: int, objects: Sequence[Outcome],
                          lines: Sequence[str]) -> int:
        """The ingest's exit code as a restore reports it; a failed run raises."""
        if rc == C.EXIT_OK:
            return rc
        if objects:
            # DSpace prints its result lines only after the run committed: a non-zero code
            # with results means warnings (aipsync's own packager uses 1 and 100-127).
            warning = rc == C.EXIT_WARNING or 100 <= rc < 128
            return rc if warning else C.EXIT_WARNING
        tail = " | ".join(lines[-5:]) or "no output"
        raise SourceError(source=self.name,
                          detail=f"ingest exited with code {rc} and reported no object "
                                 f"(DSpace rolls the run back); last output: {tail}")

    def preflight(self) -> None:
        if not os.access(self._bin, os.X_OK):
            raise SourceError(source=self.name,
                              detail="repository.dspace_bin is not an executable file")

    def existing(self, handles: Sequence[str], *, owners: bool = False) -> Existing | None:
        return None  # aipsync does not read DSpace's database (yet): unknown

    def expected_packages(self) -> frozenset[str]:
        # What the last export wrote: DSpace's own list of objects is not read (yet).
        return frozenset(packages_in(self._staging)) if self._staging.is_dir() else frozenset()


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
                          ) -> tuple[tuple[Outcome, ...], tuple[str, ...]]:
    """The per-object results and warnings in a packager's output.  Pure.

    Understands DSpace's result lines (``RESTORED DSpace ITEM [ hdl=..., dbID=... ]``) and
    aipsync's own report lines; everything else (progress, log lines) is ignored.

    Args:
        lines: the output lines (stdout and stderr, as collected).

    Returns:
        (objects, warnings).
    """
    objects: list[Outcome] = []
    warnings: list[str] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("warning "):
            warnings.append(line.removeprefix("warning").strip())
            continue
        match = _DSPACE_RESULT.match(line)
        if match:
            objects.append(Outcome(match["handle"], _DSPACE_VERBS[match["verb"]],
                                          package=match["type"]))
            continue
        match = _AIPSYNC_RESULT.match(line)
        if match and C.HANDLE_RE.match(match["handle"]):
            objects.append(Outcome(match["handle"], match["action"],
                                          match["detail"] or "", match["package"] or ""))
    return tuple(objects), tuple(warnings)
