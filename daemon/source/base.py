"""What a source is: the ``Source`` protocol, its requests and results, and shared helpers.

Owns: the ``Source`` protocol (``describe`` what the source is, checked once at start-up;
``export`` a whole site into a folder, optionally only Items changed after ``updatedAfter``;
``ingest`` one package tree, for restores; ``preflight``, ``existing`` and
``expected_packages`` for restore and audit), ``ExportOutcome``, ``TreePackage``,
``IngestSpec``, ``IngestOutcome`` (per object an ``aip.errors.Outcome``), ``Existing``,
``Extent``, and what the implementations share: ``format_updated_after``,
``site_package_name``, ``key_handle``, ``export_options`` and ``packages_in``.

Every source writes DSpace's file names (``ITEM@123456789-42.zip``) into the folder it is
given and reports what it wrote.  For a full export ``expected`` is every AIP the site has
now: the staging layer drops the staged AIPs of objects outside it (deleted ones).  A source
that cannot tell for sure says None, and nothing is removed.

Must not: touch the staging folder itself (``daemon.sync.staging`` moves files), take locks,
or log a secret.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
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
from aip.spill import SpillList, SpillMap
from daemon.core.stop import StopFlag

__all__ = [
    "Existing",
    "ExportOutcome",
    "Extent",
    "IngestOutcome",
    "IngestSpec",
    "Source",
    "TreePackage",
    "explicit_packages",
    "format_updated_after",
    "key_handle",
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
    nothing is removed.  ``gone``: file names of staged AIPs whose objects the repository
    says no longer exist (DSpace: "Cannot resolve handle"), for the log.
    """

    written: Collection[str]
    full: bool
    unchanged: int = 0
    expected: Container[str] | None = None
    bytes: int = 0
    seconds: float = 0.0
    gone: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TreePackage:
    """One AIP of a restore's tree: its file name, type, handle, and the file names of the
    packages whose manifests list it (none for the top; two for a mapped item).  An item
    that is not ``pointed`` at (a withdrawn item of a DSpace-made backup: its collection's
    AIP leaves it out) names its collection in ``parents``; a recursive ingest of the
    collection does not reach it, so the source ingests it explicitly."""

    key: str
    type: str
    handle: str
    parents: tuple[str, ...] = ()
    pointed: bool = True


@dataclass(frozen=True, slots=True)
class IngestSpec:
    """One ingest call, as ``packager -r/-s`` takes it (a restore builds these).

    ``mode``: ``restore`` (-r), ``keep-existing`` (-r -k), ``replace`` (-r -f) or ``submit``
    (-s).  ``identifier``: the object to replace (``replace`` only).  ``options``: ``-o``
    strings such as ``skipIfParentMissing=true``.  ``tree``: every package of the tree below
    ``package`` (itself first, parents before children; they lie beside it), when the caller
    walked it (a restore does): DSpace's keep-existing needs it to restore what is missing
    below an existing object, and every source ingests its packages that are not pointed at
    (``TreePackage.pointed``) explicitly, after the rest.  For the other modes a restore
    gives only those (a whole site's tree is a hundred thousand entries nobody reads).
    """

    package: Path
    mode: IngestMode = IngestMode.RESTORE
    recursive: bool = True
    parent: str | None = None
    identifier: str | None = None
    options: tuple[str, ...] = ()
    tree: tuple[TreePackage, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", IngestMode(self.mode))




@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What an ingest did: the packager's exit code, the objects it reports (parsed from its
    output for DSpace) and its warnings."""

    exit_code: int
    objects: Collection[Outcome] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Existing:
    """Which of some handles exist in the repository now, and the owning collection of each
    existing item among them (when asked for)."""

    exists: Mapping[str, bool]
    owners: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Extent:
    """What a complete backup must hold (the audit's extent check): AIP file names, and
    where the list comes from.  ``complete`` is False when the list is known to miss objects
    (``note`` says which and why)."""

    #: a ``SpillMap`` (its keys, in order) where the site may be large
    names: Collection[str] | SpillMap
    basis: str
    complete: bool = True
    note: str = ""


class Source(Protocol):
    """A repository the daemon exports from and restores into."""

    @property
    def name(self) -> str:
        """A short description for logs and errors (no secret)."""

    @property
    def keep_below_existing(self) -> bool:
        """Whether keep-existing restores the missing objects below an existing one (DSpace's
        driver does), or skips an existing object with its children (the embedded packager,
        as DSpace's own ``packager -r -k -a``)."""

    def describe(self) -> Mapping[str, str]:
        """What the source is, checked once (DSpace: its version, refused when unsupported,
        and how its withdrawn items are found): label -> one line, logged at start-up and
        shown by ``status``.  Later calls answer from memory.

        Raises:
            SourceError: the repository cannot be reached.
            ConfigError: it is of a version aipsync does not support.
        """

    def export(self, out_dir: Path, *, updated_after: datetime | None,
               stop: StopFlag | None = None,
               staged: Collection[str] = ()) -> ExportOutcome:
        """Export the whole site as AIPs into the existing, empty folder ``out_dir``.

        Args:
            out_dir: where the packages go (the SITE AIP and its children, side by side).
            updated_after: only Items modified after this time (None: a full export).
            stop: checked between packages; when set the export is abandoned.
            staged: the AIP file names staging holds now (a source whose full export leaves
                some objects out, as DSpace leaves out withdrawn items, checks those itself).

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

    def expected_packages(self) -> Extent:
        """The AIPs a complete backup of the site must hold now (the audit's extent check)."""


def format_updated_after(when: datetime) -> str:
    """``updatedAfter`` as DSpace wants it: ISO-8601 with a time, UTC, whole seconds.

    Rounded down, so an Item changed in the same second is exported (again), never missed.
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_package_name(site_handle: str) -> str:
    """The file name of the SITE AIP (``SITE@123456789-0.zip``)."""
    return package_file_name(C.TYPE_SITE, site_handle, C.PACKAGE_EXTENSION)


def explicit_packages(spec: IngestSpec) -> tuple[list[TreePackage], str | None]:
    """The packages of ``spec.tree`` a recursive ingest of the top does not reach (not
    pointed at), to ingest one by one after it, and a warning when they cannot be: a submit
    gives their collection a new handle, which their own packages do not know.  Pure."""
    extra = [node for node in spec.tree if not node.pointed]
    if extra and spec.mode == IngestMode.SUBMIT:
        return [], (f"{len(extra)} item(s) their collection's AIP does not point at "
                    "(withdrawn items of a DSpace-made backup) were not submitted: submit "
                    "each with --parent <the collection's new handle>")
    return extra, None


def key_handle(key: str) -> tuple[str, str]:
    """``ITEM@123456789-42.zip`` -> ``("ITEM", "123456789/42")``.  Pure.

    The handle prefix never holds a ``-`` (``[0-9A-Za-z.]+``), so the first one is the ``/``.

    Raises:
        ValueError: not an AIP key.
    """
    match = C.PACKAGE_NAME_RE.match(key)
    if match is None or match["ext"] != C.PACKAGE_EXTENSION or "/" in key:
        raise ValueError(f"not an AIP file name: {key!r}")
    prefix, sep, suffix = match["ident"].partition("-")
    handle = f"{prefix}/{suffix}"
    if not sep or C.HANDLE_RE.match(handle) is None:
        raise ValueError(f"no handle in the AIP file name {key!r}")
    return match["type"], handle


def export_options(extra: Sequence[str], updated_after: datetime | None) -> list[str]:
    options = list(extra)
    if updated_after is not None:
        options.append(f"updatedAfter={format_updated_after(updated_after)}")
    return options


def packages_in(folder: Path) -> SpillList[str]:
    """Names of the finished package files in ``folder``, in the folder's own order (a
    million of them: a few thousand in memory, the rest in a temp file)."""
    names: SpillList[str] = SpillList()
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_temp_name(entry.name) or not entry.is_file():
                continue
            match = C.PACKAGE_NAME_RE.match(entry.name)
            if match is None or match["ext"] != C.PACKAGE_EXTENSION:
                log.warning("source.export.stray_file", file=entry.name,
                            detail="not an AIP file name; it is not staged")
                continue
            names.append(entry.name)
    return names


def name_set(names: Iterable[str]) -> SpillMap:
    """``names`` to test membership in (past a few thousand, in a private temp database)."""
    found = SpillMap()
    for name in names:
        found[name] = ""
    return found


