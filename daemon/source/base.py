"""What a source is: the ``Source`` protocol, its requests and results, and shared helpers.

Owns: the ``Source`` protocol (``export`` a whole site into a folder, optionally only Items
changed after ``updatedAfter``; ``ingest`` one package tree, for restores; ``preflight``,
``existing`` and ``expected_packages`` for restore and audit), ``ExportOutcome``,
``IngestSpec``, ``IngestOutcome`` (per object an ``aip.errors.Outcome``), ``Existing``, and
what both implementations share: ``format_updated_after``, ``site_package_name``,
``export_options`` and ``packages_in``.

Every source writes DSpace's file names (``ITEM@123456789-42.zip``) into the folder it is
given and reports what it wrote.  For a full export the set written is the whole site: the
staging layer uses it to drop the AIPs of deleted objects.

Must not: touch the staging folder itself (``daemon.sync.staging`` moves files), take locks,
or log a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from aip import constants as C
from aip.errors import Outcome
from aip.files import is_temp_name
from aip.model import package_file_name
from aip.packager.modes import IngestMode
from daemon.core.stop import StopFlag

__all__ = [
    "Existing",
    "ExportOutcome",
    "IngestOutcome",
    "IngestSpec",
    "Source",
    "format_updated_after",
    "site_package_name",
]

log = structlog.get_logger(__name__)


# --- results ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What one export wrote into its folder.

    ``written``: file names (no folder) of the packages written.  ``unchanged``: how many
    items the export left alone because of ``updatedAfter`` (the embedded packager counts
    them; DSpace does not say, so it is 0 there).  ``expected``: for a full export, every
    file name the site's AIPs have, i.e. what staging should hold afterwards; None when that
    is not known for sure (an incremental run, or objects skipped as unauthorised), so
    nothing is removed.
    """

    written: tuple[str, ...]
    full: bool
    unchanged: int = 0
    expected: frozenset[str] | None = None
    bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class IngestSpec:
    """One ingest call, as ``packager -r/-s`` takes it (a restore builds these).

    ``mode``: ``restore`` (-r), ``keep-existing`` (-r -k), ``replace`` (-r -f) or ``submit``
    (-s).  ``identifier``: the object to replace (``replace`` only).  ``options``: ``-o``
    strings such as ``skipIfParentMissing=true``.
    """

    package: Path
    mode: IngestMode = IngestMode.RESTORE
    recursive: bool = True
    parent: str | None = None
    identifier: str | None = None
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", IngestMode(self.mode))




@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What an ingest did: the packager's exit code, its report lines, the objects it
    reports (parsed from the lines for DSpace) and its warnings."""

    exit_code: int
    lines: tuple[str, ...] = field(default_factory=tuple)
    objects: tuple[Outcome, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Existing:
    """Which of some handles exist in the repository now, and the owning collection of each
    existing item among them (when asked for)."""

    exists: Mapping[str, bool]
    owners: Mapping[str, str | None] = field(default_factory=dict)


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
        """Ingest one package tree into the repository (a restore's step 3).

        Returns:
            What the ingest reported; ``exit_code`` is 0 or a warning code (1, 100-127).

        Raises:
            SourceError: the repository's command line failed; nothing was committed.
            AipError: the embedded packager's own errors (nothing was committed).
        """

    def preflight(self) -> None:
        """Cheap checks before a restore downloads anything: the repository is there.

        Raises:
            SourceError, StoreError: it is not usable.
        """

    def existing(self, handles: Sequence[str], *, owners: bool = False) -> Existing | None:
        """Which ``handles`` exist now (and, with ``owners``, each existing item's owning
        collection), or None when this source cannot tell."""

    def expected_packages(self) -> frozenset[str]:
        """The AIP file names a full export of the site would write now: what a complete
        backup must hold (the audit's extent check)."""


def format_updated_after(when: datetime) -> str:
    """``updatedAfter`` as DSpace wants it: ISO-8601 with a time, UTC, whole seconds.

    Rounded down, so an Item changed in the same second is exported (again), never missed.
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_package_name(site_handle: str) -> str:
    """The file name of the SITE AIP (``SITE@123456789-0.zip``)."""
    return package_file_name(C.TYPE_SITE, site_handle, C.PACKAGE_EXTENSION)


def export_options(extra: Sequence[str], updated_after: datetime | None) -> list[str]:
    options = list(extra)
    if updated_after is not None:
        options.append(f"updatedAfter={format_updated_after(updated_after)}")
    return options


def packages_in(folder: Path) -> list[str]:
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


