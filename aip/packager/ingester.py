"""AIP zip -> objects: ``packager -s``, ``-r``, ``-r -k``, ``-r -f``, with ``-a``.

Owns: the ingest modes and their decisions (the mode table below), walking a package tree
(parents before children, each package once, loops refused), and applying each package to
the repository: objects, handles, metadata, bundles and bitstreams (each checked against
the manifest's size and MD5 while it is streamed in), logos, templates, harvesting
settings, groups and e-people (DSPACE-ROLES), policies (METSRights), mappings, and the items'
relationships, made at the end of the run (``relationship_restore``).  A whole run is one
transaction: any error rolls back every row and removes every file written.

Mode table (what happens to a package whose object already exists, docs/aip-format.md 5.1):

=============  ============================================================================
submit         never "exists": always a new object (new handle unless ignoreHandle=false)
restore        error naming the existing handle; the whole run is rolled back
keep-existing  skipped, children not visited, reported
replace        its own contents become the package's; missing children restored; children
               not in the package left alone
=============  ============================================================================

Where aipsync departs from DSpace's code (each on purpose, following the seed docs):
restore adds no provenance line and no licence and keeps last-modified times; ``-s -a`` and
``ignoreHandle=true`` attach children to the newly created parents (old handles are
translated through the run's handle map); an item met through a collection it is only
mapped into waits until its owning collection is restored, then is mapped, whatever the
visiting order; restoring a collection re-maps the existing items it lists.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import itertools
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
import structlog

from aip import constants as C
from aip.entities.config import VirtualConfig
from aip.errors import (
    AipError,
    AlreadyExistsError,
    ChecksumMismatchError,
    ChildPointerError,
    InputFileError,
    InvalidValueError,
    ManifestParseError,
    MissingFileError,
    MissingParentError,
    NotFoundError,
    PackageError,
    PackageValidationError,
    Problem,
    RelationshipError,
    Report,
    TypeMismatchError,
    UsageError,
    collect,
)
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.model import (
    Bitstream,
    Collection,
    Community,
    EPerson,
    Group,
    Item,
    ResourcePolicy,
    Site,
    check_handle,
)
from aip.packager.config import AipConfig, IngestConfig
from aip.packager.manifest import ParsedPackage, parse_package
from aip.packager.modes import IngestMode
from aip.packager.options import IngestOptions
from aip.packager.prepare import Prefetcher, PreparedPackage, PrepareTask, check_files
from aip.packager.reader import PackageZip
from aip.packager.relationship_restore import RelationshipRestore
from aip.progress import Meter
from aip.repository import auth, authorize, handles, objects, registry, relationships
from aip.repository import tables as T
from aip.repository.assetstore import StoredFile
from aip.repository.store import Repository, Tx
from aip.spill import SpillMap

log = structlog.get_logger(__name__)

#: A package's contents as the ingester reads them: the open zip, or what a worker process
#: read ahead (``aip.packager.prepare``).
Contents = PackageZip | PreparedPackage

#: Submitters remembered by a run before it starts again (memory stays bounded).
_SUBMITTERS_KEPT = 10_000

_EXPORTED_ROLE_RE = re.compile(r"^(COMMUNITY|COLLECTION|ITEM)_hdl:([^_]+/[^_]+)_(.+)$")


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What ``packager -s/-r`` was asked to do."""

    package: Path
    eperson: str
    mode: IngestMode
    options: IngestOptions
    recursive: bool = False
    parent: str | None = None
    identifier: str | None = None
    skip_workflow: bool = False
    config: IngestConfig = field(default_factory=IngestConfig)
    #: Processes reading packages ahead of a recursive ingest (parsing, checking, storing
    #: bitstreams): 0 = one per CPU (at most 4), 1 = all in this process.  The result is
    #: the same either way.
    workers: int = 0


class _Defer(Exception):
    """An item met through a collection it is only mapped into, before its owner exists."""


class _Visited:
    """Package path -> the handle its object got in this run: in memory while few, then in
    a temp database (``aip.spill.SpillMap``): a million paths and handles cost some 250 MB
    as Python objects."""

    def __init__(self) -> None:
        self._map = SpillMap()

    def get(self, path: Path) -> str | None:
        return self._map.get(str(path))

    def add(self, path: Path, handle: str) -> None:
        self._map[str(path)] = handle

    def __contains__(self, path: object) -> bool:
        return isinstance(path, Path) and self.get(path) is not None

    def close(self) -> None:
        self._map.close()


@dataclass
class _Run:
    tx: Tx
    request: IngestRequest
    person: EPerson
    report: Report
    today: dt.date
    handle_map: dict[str, str] = field(default_factory=dict)
    #: the packages visited, and the handle each got
    done: _Visited = field(default_factory=_Visited)
    deferred: dict[Path, list[str]] = field(default_factory=dict)
    pending_subgroups: list[tuple[int, str]] = field(default_factory=list)
    pending_groups: list[str] = field(default_factory=list)
    meter: Meter | None = None
    rels: RelationshipRestore = field(default_factory=RelationshipRestore)
    #: DSPACE-ROLES ``Person@ID`` -> e-mail, from every package of the run
    person_refs: dict[str, str] = field(default_factory=dict)
    virtual: VirtualConfig = field(default_factory=VirtualConfig)
    prefetch: Prefetcher | None = None
    #: submitter e-mail -> e-person id, as found (a site has few submitters; bounded)
    submitters: dict[str, int] = field(default_factory=dict)
    #: (handle, owning collection id) of the item created last (its collection's visit
    #: need not map it there)
    created: tuple[str, int] | None = None

    @property
    def mode(self) -> IngestMode:
        return self.request.mode

    @property
    def options(self) -> IngestOptions:
        return self.request.options

    def new_handle(self, old: str | None) -> str | None:
        """The handle an object of the package gets (None: mint a new one)."""
        if old is None or self.options.ignore_handle:
            return None
        return old

    def map_handle(self, old: str | None, new: str) -> None:
        """The package's handle ``old`` is ``new`` in this run (only a different one is
        kept: a restore keeps its handles, and a million of them are not worth a map)."""
        if old and old != new:
            self.handle_map[old] = new

    def translate(self, handle: str | None) -> str | None:
        """An old handle named in a package -> the handle that object has in this run."""
        if handle is None:
            return None
        return self.handle_map.get(handle, handle)

    def group_name(self, name: str) -> str | None:
        """An exported group name -> internal name (None: its object is not here yet)."""
        match = _EXPORTED_ROLE_RE.match(name)
        if match:
            name = f"{match.group(1)}_hdl:{self.translate(match.group(2))}_{match.group(3)}"
        return auth.import_group_name(self.tx, name)


# =============================================================================================
# Public entry points
# =============================================================================================
def ingest(repo: Repository, request: IngestRequest) -> Report:
    """Ingest one package (or, with ``recursive``, its package tree) in one transaction.

    Raises:
        PackageError (and subclasses): a package is broken, hostile or inconsistent.
        AlreadyExistsError: restore mode and an object exists (nothing is changed).
        MissingParentError: a parent is missing and ``skipIfParentMissing`` is off.
        PermissionDeniedError: the e-person is not an administrator.
        IntegrityError: a file's bytes do not match the manifest.
    """
    if not request.package.exists():
        raise InputFileError(path=str(request.package), detail="no such file")
    total = prevalidate(request) if request.options.validate else None
    meter = Meter("ingest", label="ingesting", unit="packages", objects_total=total)
    report = Report()
    with repo.transaction() as tx:
        person = auth.require_eperson(tx, request.eperson)
        authorize.require_site_admin(tx, person, f"{request.mode.value} packages")
        run = _Run(tx=tx, request=request, person=person, report=report,
                   today=tx.now.date(), meter=meter,
                   virtual=relationships.virtual_config(tx))
        run.prefetch = _prefetcher(run, repo)
        failed = True
        try:
            _visit(run, request.package.resolve(), explicit_parent=request.parent, via=None,
                   ancestors=(), top=True)
            failed = False
        finally:
            if run.prefetch is not None:
                run.prefetch.close(failed=failed)
        _finish(run)
        run.done.close()
        meter.finish()
    log.info("aip.ingest.done", package=str(request.package), mode=request.mode.value,
             objects=len(report.outcomes), warnings=len(report.warnings))
    return report


def _prefetcher(run: _Run, repo: Repository) -> Prefetcher | None:
    """Worker processes reading a recursive ingest's packages ahead of it; they store the
    bitstreams too unless most packages may be skipped (keep-existing)."""
    request = run.request
    if not request.recursive or request.options.manifest_only or request.workers == 1:
        return None
    store = request.mode != IngestMode.KEEP
    task = PrepareTask(config=request.config, dmd=request.options.dmd, virtual=run.virtual,
                       assetstore=repo.assetstore.root if store else None)
    done = run.done
    return Prefetcher(task, workers=request.workers, journal=run.tx.journal,
                      assetstore=run.tx.assetstore, wanted=lambda path: path not in done)


def prevalidate(request: IngestRequest) -> int:
    """``-o validate=true``: validate every manifest of the tree before anything is written;
    returns how many packages the tree has."""
    seen: set[Path] = set()
    stack: list[tuple[Path, Path | None]] = [(request.package.resolve(), None)]
    while stack:
        path, parent = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        _require_package_file(path, parent)
        try:
            parsed = _prevalidate_one(path, request)
        except AipError as exc:
            exc.within(str(path))
            raise
        if request.recursive:
            stack.extend((_child_path(path, c.href), path) for c in reversed(list(parsed.children)))
    return len(seen)


def _prevalidate_one(path: Path, request: IngestRequest) -> ParsedPackage:
    """One manifest of ``prevalidate``: the hardened parse first (a DOCTYPE, an entity or a
    huge tree never reaches the schema validator), then the METS schema, then the AIP."""
    manifest = _read_manifest(path, request.options)
    root = parse_bytes(manifest, path=str(path))
    collect(validate_manifest(root), path=str(path))
    return parse_package(manifest, config=request.config, dmd=request.options.dmd,
                         path=str(path))


def _read_manifest(path: Path, options: IngestOptions) -> bytes:
    """The manifest of a package: ``mets.xml`` of the zip, or the bare METS file
    (``manifestOnly``), never more than ``MAX_MANIFEST_BYTES`` of it read."""
    if options.manifest_only:
        try:
            with path.open("rb") as src:
                data = src.read(C.MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise InputFileError(path=str(path), detail=exc.strerror or str(exc)) from exc
        if len(data) > C.MAX_MANIFEST_BYTES:
            raise ManifestParseError(path=str(path), detail=(
                f"manifest is more than the limit of {C.MAX_MANIFEST_BYTES} bytes"))
        return data
    with PackageZip(path) as package:
        return package.read_manifest()


def _child_path(parent: Path, href: str) -> Path:
    """A child package path: a plain file name beside the parent package.

    Raises:
        PackageValidationError: ``AIP-E048``, the pointer is not a plain file name (the
            manifest reader refuses absolute and ``..`` pointers with the same code; a
            pointer into a sub-folder is refused here, aipsync never writes one).
    """
    if not href or "/" in href or "\\" in href or href in (".", "..") or "\x00" in href:
        raise PackageValidationError([Problem(
            "AIP-E048", "child pointer is not a plain file name beside the package",
            path=str(parent), found=href)], path=str(parent))
    child = parent.parent / href
    # ``parent`` is resolved, so only a symbolic link can make the child's path another: one
    # lstat instead of one per folder of the path.
    return child.resolve() if child.is_symlink() else child


def _require_package_file(path: Path, parent: Path | None) -> None:
    """A child package named by ``parent`` must exist: the error names both files."""
    if not path.is_file():
        raise MissingFileError(path=str(parent or path.parent), entry=path.name)


# =============================================================================================
# Walking the package tree
# =============================================================================================
def _visit(run: _Run, path: Path, *, explicit_parent: str | None, via: str | None,
           ancestors: tuple[Path, ...], top: bool = False) -> str | None:
    """Ingest the package at ``path`` and (with -a) its children; returns its handle.

    An error names the package it was met in (the innermost one: a child's error names the
    child), whatever layer raised it (``AipError.within``).
    """
    try:
        return _visit_one(run, path, explicit_parent=explicit_parent, via=via,
                          ancestors=ancestors, top=top)
    except AipError as exc:
        exc.within(str(path))
        raise


def _visit_one(run: _Run, path: Path, *, explicit_parent: str | None, via: str | None,
               ancestors: tuple[Path, ...], top: bool) -> str | None:
    if path in ancestors:
        raise ChildPointerError(path=str(ancestors[-1]), href=path.name)
    done_handle = run.done.get(path)
    if done_handle is not None:
        if via is not None:
            _map_into(run, done_handle, via)
        return done_handle
    _require_package_file(path, ancestors[-1] if ancestors else None)
    if run.options.manifest_only:
        parsed, handle, visit_children = _ingest_manifest_only(run, path, explicit_parent,
                                                               via, top)
    else:
        with _read(run, path) as (parsed, package):
            for problem in parsed.warnings:
                run.report.warnings.append(problem)
            try:
                handle, visit_children = _apply(run, parsed, package, path, explicit_parent,
                                                via, top)
            except _Defer:
                run.deferred.setdefault(path, [])
                if via is not None:
                    run.deferred[path].append(via)
                return None
        del package  # (what a worker read ahead holds the parsed manifest too)
    if handle is None:
        return None
    run.done.add(path, handle)
    run.deferred.pop(path, None)
    if run.meter is not None:
        run.meter.advance(current=handle)
    if via is not None and parsed.type == C.TYPE_ITEM:
        _map_into(run, handle, via)
    if run.request.recursive and visit_children:
        # Every pointer checked before any child is visited; then only the pointers are
        # kept (a ChildList: past a few thousand in its temp file), read again for each
        # use, and the parsed manifest goes.
        children = parsed.children
        for child in children:
            if _child_path(path, child.href) == path:
                raise ChildPointerError(path=str(path), href=child.href)
        child_via = handle if parsed.type == C.TYPE_COLLECTION else None
        del parsed
        if run.prefetch is not None:
            run.prefetch.expect((_child_path(path, c.href) for c in children), len(children))
        child_parent = handle if _needs_explicit_parent(run) else None
        for child in children:
            _visit(run, _child_path(path, child.href), explicit_parent=child_parent,
                   via=child_via, ancestors=(*ancestors, path))
    return handle


@contextlib.contextmanager
def _read(run: _Run, path: Path) -> Iterator[tuple[ParsedPackage, Contents]]:
    """The package at ``path``, parsed: read ahead by a worker process, or here."""
    prepared = run.prefetch.take(path) if run.prefetch is not None else None
    if prepared is not None:
        assert run.prefetch is not None
        try:
            if run.prefetch.stores:
                yield prepared.parsed, prepared
            else:  # parsed ahead only: the bitstreams come from the zip, opened once
                with PackageZip(path) as package:
                    yield prepared.parsed, package
        finally:
            run.prefetch.release(prepared)
        return
    with PackageZip(path) as package:
        yield parse_package(package.read_manifest(), config=run.request.config,
                            dmd=run.options.dmd, path=str(path), virtual=run.virtual), package


def _needs_explicit_parent(run: _Run) -> bool:
    """Children go under the newly made parent when handles are new (submit, ignoreHandle)."""
    return run.mode == IngestMode.SUBMIT or run.options.ignore_handle


def _finish(run: _Run) -> None:
    """Deferred items whose owner never came, group memberships left pending, and the
    relationships of the items restored (``relationship_restore``)."""
    for path, vias in list(run.deferred.items()):
        if path in run.done:
            continue
        message = (f"{path.name}: its owning collection was not restored in this run; "
                   f"it was listed by {', '.join(vias) or 'its parent'}")
        if run.options.skip_if_parent_missing:
            run.report.warn("AIP-W101", message, str(path))
            run.report.add("", "skipped", "parent missing", path.name)
        else:
            raise MissingParentError(parent="its owning collection", what="item package",
                                     key=path.name)
    for name in run.pending_groups:
        internal = run.group_name(name)
        if internal is None or auth.group_id_by_name(run.tx, internal) is None:
            run.report.warn("AIP-W103", f"group {name!r} belongs to an object that was not "
                                        "restored; it was not created")
    for group_id, member in run.pending_subgroups:
        internal = run.group_name(member)
        gid = auth.group_id_by_name(run.tx, internal) if internal else None
        if gid is None:
            run.report.warn("AIP-W102", f"member group {member!r} does not exist; not added "
                                        f"to group {auth.group_names(run.tx)[group_id]!r}")
        else:
            auth.add_subgroup(run.tx, group_id, gid)
    run.rels.finish(run.tx, run.report, run.handle_map)


def _map_into(run: _Run, item_handle: str, collection_handle: str) -> None:
    coll = handles.resolve(run.tx, collection_handle)
    if coll is not None and run.created == (item_handle, coll[1]):
        return  # just made in that collection: nothing to map
    found = handles.resolve(run.tx, item_handle)
    if found is None or coll is None or found[0] != C.TYPE_ITEM \
            or coll[0] != C.TYPE_COLLECTION:
        return
    row = objects.item_row(run.tx, found[1])
    if row.owning_collection_id != coll[1] and objects.map_item(run.tx, found[1], coll[1]):
        run.report.add(item_handle, "mapped", f"into {collection_handle}")


# =============================================================================================
# One package
# =============================================================================================
def _apply(run: _Run, parsed: ParsedPackage, package: Contents | None, path: Path,
           explicit_parent: str | None, via: str | None, top: bool
           ) -> tuple[str | None, bool]:
    """Apply one parsed package; returns (its handle or None if skipped, visit children)."""
    dropped = check_files(parsed, package, path) if package is not None else set()
    if dropped:
        parsed = _without_entries(run, parsed, dropped, path)
    if run.mode == IngestMode.SUBMIT and parsed.type == C.TYPE_SITE:
        raise UsageError(f"{path.name}: a SITE package cannot be submitted; use -r")
    existing = _existing(run, parsed, top, path)
    if existing is not None:
        obj_type, obj_id, handle = existing
        if obj_type != parsed.type:
            raise TypeMismatchError(package_type=parsed.type, object_type=obj_type,
                                    handle=handle)
        if parsed.type == C.TYPE_SITE:
            _apply_site(run, parsed, replace=run.mode == IngestMode.REPLACE)
            run.report.add(handle, "replaced" if run.mode == IngestMode.REPLACE else "restored",
                           package=path.name)
            return handle, True
        if parsed.type == C.TYPE_ITEM and via is not None and run.mode != IngestMode.REPLACE:
            owner = run.translate(parsed.parent)
            if owner != via:
                # An existing item listed by a collection it is mapped into: not a conflict.
                return handle, False
        if run.mode == IngestMode.KEEP:
            run.report.add(handle, "skipped", "exists", path.name)
            return None, False
        if run.mode in (IngestMode.RESTORE,):
            raise AlreadyExistsError(what=f"{obj_type.lower()} (from {path.name})", key=handle)
        run.map_handle(parsed.handle, handle)
        _replace(run, parsed, package, obj_type, obj_id, handle)
        run.report.add(handle, "replaced", package=path.name)
        return handle, True
    # a new object
    if parsed.type == C.TYPE_SITE:  # pragma: no cover - the site always exists
        raise NotFoundError(what="site", key=parsed.handle or "")
    parent = _parent_of(run, parsed, explicit_parent, via, top, path)
    if parent is None:
        return None, False
    made = _create(run, parsed, package, parent, path)
    if made is not None:
        run.map_handle(parsed.handle, made)
    return made, made is not None


def _without_entries(run: _Run, parsed: ParsedPackage, dropped: set[str], path: Path
                     ) -> ParsedPackage:
    """The package's item without the bitstreams of ``dropped`` entries (warned)."""
    item = parsed.item
    if item is None:
        return parsed
    bundles = []
    for bundle in item.bundles:
        kept = []
        for bs in bundle.bitstreams:
            if bs.key in dropped:
                run.report.warn("AIP-W113", f"{bs.key} ({bs.name or 'no name'}, bundle "
                                f"{bundle.name}) is a zero-length entry for a bitstream DSpace "
                                "could not read when it exported; left out", str(path))
            else:
                kept.append(bs)
        primary = bundle.primary_sequence_id
        if primary is not None and all(b.sequence_id != primary for b in kept):
            primary = None
        bundles.append(dataclasses.replace(bundle, bitstreams=tuple(kept),
                                           primary_sequence_id=primary))
    return dataclasses.replace(parsed, item=dataclasses.replace(item, bundles=tuple(bundles)),
                               files=tuple(f for f in parsed.files if f.entry not in dropped))


def _existing(run: _Run, parsed: ParsedPackage, top: bool, path: Path
              ) -> tuple[str, int, str] | None:
    """The object this package would (re)create, if it exists: (type, id, handle)."""
    tx = run.tx
    if parsed.type == C.TYPE_SITE:
        site = objects.site_model(tx)
        return C.TYPE_SITE, 1, site.handle
    if run.mode == IngestMode.REPLACE and top and run.request.identifier:
        found = handles.resolve(tx, run.request.identifier)
        if found is None:
            raise NotFoundError(what="object to replace", key=run.request.identifier)
        return found[0], found[1], run.request.identifier
    if run.mode == IngestMode.SUBMIT and run.options.ignore_handle:
        return None
    if run.options.ignore_handle and run.mode != IngestMode.REPLACE:
        return None
    handle = parsed.handle
    if handle is None:
        return None
    found = handles.resolve(tx, handle)
    if found is None:
        return None
    if run.mode == IngestMode.SUBMIT:
        raise AlreadyExistsError(what=f"{found[0].lower()} (from {path.name})", key=handle)
    return found[0], found[1], handle


def _parent_of(run: _Run, parsed: ParsedPackage, explicit_parent: str | None,
               via: str | None, top: bool, path: Path) -> tuple[str, int] | None:
    """The parent a new object goes under, as (type, id); None to skip the package."""
    tx = run.tx
    opts = run.options
    wanted: str | None
    if explicit_parent is not None and (not top or opts.ignore_parent):
        wanted = explicit_parent
    elif parsed.type == C.TYPE_ITEM and via is not None and run.mode == IngestMode.SUBMIT:
        wanted = via
    else:
        wanted = run.translate(parsed.parent)
    if parsed.type == C.TYPE_ITEM and via is not None and wanted != via \
            and handles.resolve(tx, wanted or "") is None:
        # Met through a collection it is mapped into; its owner comes later (or never).
        raise _Defer()
    found = handles.resolve(tx, wanted) if wanted else None
    allowed = {C.TYPE_ITEM: (C.TYPE_COLLECTION,),
               C.TYPE_COLLECTION: (C.TYPE_COMMUNITY,),
               C.TYPE_COMMUNITY: (C.TYPE_COMMUNITY, C.TYPE_SITE)}[parsed.type]
    if found is None or found[0] not in allowed:
        if opts.skip_if_parent_missing:
            run.report.warn("AIP-W101", f"Could not find a parent object referenced as "
                                        f"{wanted!r} for {path.name}; skipped", str(path))
            run.report.add(parsed.handle or "", "skipped", "parent missing", path.name)
            return None
        raise MissingParentError(parent=wanted or "(none)", what=parsed.type.lower(),
                                 key=parsed.handle or path.name)
    return found


# =============================================================================================
# Creating objects
# =============================================================================================
def _create(run: _Run, parsed: ParsedPackage, package: Contents | None,
            parent: tuple[str, int], path: Path) -> str | None:
    tx = run.tx
    handle_wanted = run.new_handle(parsed.handle)
    handle: str
    if parsed.type == C.TYPE_COMMUNITY:
        comm = parsed.community
        assert comm is not None
        parent_id = parent[1] if parent[0] == C.TYPE_COMMUNITY else None
        cid, handle = objects.create_community(tx, parent_id=parent_id, handle=handle_wanted)
        run.map_handle(parsed.handle, handle)
        _container_contents(run, parsed, package, C.TYPE_COMMUNITY, cid, comm, path)
    elif parsed.type == C.TYPE_COLLECTION:
        coll = parsed.collection
        assert coll is not None
        parents = [parent[1]]
        for other in coll.parents[1:]:
            found = handles.resolve(tx, run.translate(other) or "")
            if found is not None and found[0] == C.TYPE_COMMUNITY and found[1] not in parents:
                parents.append(found[1])
        cid, handle = objects.create_collection(tx, parent_ids=parents, handle=handle_wanted)
        run.map_handle(parsed.handle, handle)
        _container_contents(run, parsed, package, C.TYPE_COLLECTION, cid, coll, path)
        if run.mode != IngestMode.SUBMIT:
            _remap_listed_items(run, parsed, handle)
    else:
        item = parsed.item
        assert item is not None
        return _create_item(run, parsed, package, item, parent[1], handle_wanted, path)
    action = "submitted" if run.mode == IngestMode.SUBMIT else "restored"
    run.report.add(handle, action, package=path.name)
    log.info("aip.ingest.package", handle=handle, action=action, package=path.name)
    return handle


def _container_contents(run: _Run, parsed: ParsedPackage, package: Contents | None,
                        obj_type: str, obj_id: int, obj: Community | Collection,
                        path: Path) -> None:
    """Metadata, roles, policies, logo (and template, harvest settings) of a container."""
    tx = run.tx
    objects.set_metadata(tx, obj_type, obj_id, objects.container_values(obj_type, obj.metadata))
    _apply_roles(run, parsed, obj_type, obj_id)
    if parsed.rights_present:
        auth.set_policies(tx, obj_type, obj_id, _policies(run, obj.policies))
    if obj.logo is not None and package is not None:
        stored = _store_checked(run, package, obj.logo, path)
        fmt = registry.format_id_by_name(tx, obj.logo.format.short_description)
        if fmt is None:
            fmt = registry.guess_format_id(tx, obj.logo.name, obj.logo.format.mimetype)
        objects.attach_logo(tx, obj_type, obj_id, stored, fmt, obj.logo.name)
    elif obj.logo is None:
        objects.set_logo(tx, obj_type, obj_id, None)
    if isinstance(obj, Collection):
        if obj.template is not None:
            objects.set_template(tx, obj_id, list(obj.template),
                                 create_fields=run.options.create_metadata_fields)
        elif run.mode == IngestMode.REPLACE:
            objects.set_template(tx, obj_id, None)
        objects.set_harvest(tx, obj_id, obj.harvest)
        _collection_entity_type(run, obj_id, obj.entity_type, parsed.handle or "")


def _collection_entity_type(run: _Run, coll_id: int, label: str | None, handle: str) -> None:
    """A collection's entity type (aipsync's extension; DSpace's AIPs never carry it)."""
    try:
        relationships.set_collection_entity_type(run.tx, coll_id, label)
    except RelationshipError:
        run.report.warn("AIP-W114", f"collection {handle}: entity type {label!r} not kept: "
                        "this repository has no dspace.entity.type field (run 'aipsync repo "
                        "initialize-entities')")


def _remap_listed_items(run: _Run, parsed: ParsedPackage, coll_handle: str) -> None:
    """Map existing items that the collection's package lists but does not own.

    The listed handles are resolved ``_REMAP_CHUNK`` at a time (a collection may list
    300,000 items): in a site restore most of them do not exist yet (they come next, as
    this collection's children, whose look-ups then find what this one learnt).
    """
    listed = (run.translate(c.handle) or c.handle for c in parsed.children
              if c.type == C.TYPE_ITEM and c.handle)
    while chunk := list(itertools.islice(listed, _REMAP_CHUNK)):
        found = handles.resolve_many(run.tx, chunk, remember=True)
        for handle in chunk:
            if handle in found and found[handle][0] == C.TYPE_ITEM:
                _map_into(run, handle, coll_handle)


#: Listed item handles a collection's restore resolves at a time.
_REMAP_CHUNK = 5000


def _create_item(run: _Run, parsed: ParsedPackage, package: Contents | None, item: Item,
                 coll_id: int, handle_wanted: str | None, path: Path) -> str | None:
    tx = run.tx
    submitter = _submitter(run, item.submitter)
    submit = run.mode == IngestMode.SUBMIT
    uuid = (None if submit else _free_uuid(run, item.uuid)) or tx.uuids()
    iid, handle = objects.create_item(
        tx, collection_id=coll_id, submitter_id=submitter, handle=None if submit else
        handle_wanted, mint_handle=not submit and handle_wanted is None,
        in_archive=False if submit else not item.withdrawn,
        withdrawn=False if submit else item.withdrawn,
        discoverable=item.discoverable,
        last_modified=tx.now if submit else item.last_modified,
        uuid=uuid)
    _keep_uuid_map(run, item.uuid, uuid)
    _item_contents(run, parsed, package, item, iid, path)
    if submit:
        made = _submit_install(run, item, iid, coll_id, handle_wanted, path)
        if made is not None:
            run.rels.add(iid, made, parsed.claims, parsed.places_known)
        return made
    assert handle is not None
    run.rels.add(iid, handle, parsed.claims, parsed.places_known)
    run.map_handle(parsed.handle, handle)
    _item_mappings(run, item, iid)
    if not parsed.rights_present:
        objects.apply_default_read_policies(tx, iid, coll_id, run.today)
    # (the row was written with the package's last-modified date, and nothing since
    # changes it)
    run.created = (handle, coll_id)
    run.report.add(handle, "restored", package=path.name)
    log.info("aip.ingest.package", handle=handle, action="restored", package=path.name)
    return handle


def _free_uuid(run: _Run, wanted: str | None) -> str | None:
    """The package's UUID for a new item when no other item has it (a restore keeps DSpace's
    UUIDs, as DSpace 7.1+ does), else ``None`` (a new one)."""
    if wanted is None or relationships.item_by_uuid(run.tx, wanted) is not None:
        return None
    return wanted


def _keep_uuid_map(run: _Run, old: str | None, new: str) -> None:
    """Remember that the item of the package's UUID ``old`` has UUID ``new`` here, when that
    is another (a restore keeps its UUIDs, and a million of them are not worth a map)."""
    if old is not None and old.lower() != new:
        run.rels.uuid_map[old.lower()] = new


def _submit_install(run: _Run, item: Item, iid: int, coll_id: int,
                    handle_wanted: str | None, path: Path) -> str | None:
    """Submit mode: workflow unless -w, else install with new system metadata + licence."""
    tx = run.tx
    _add_deposit_licence(run, iid, coll_id)
    step = objects.workflow_first_step(tx, coll_id)
    if step is not None and not run.request.skip_workflow:
        tx.execute(sa.insert(T.workspace_item).values(item_id=iid, collection_id=coll_id,
                                                      stage="workflow", step=step))
        coll_handle = handles.handle_of(tx, C.TYPE_COLLECTION, coll_id) or ""
        run.report.add("", "workflow", f"waiting in step {step} of {coll_handle}", path.name)
        log.info("aip.ingest.package", action="workflow", package=path.name, step=step)
        return None
    handle = objects.install_item(
        tx, iid, handle=handle_wanted,
        provenance=f"Submitted by {run.person.email} from AIP {path.name}; made available "
                   f"on {tx.now.strftime('%Y-%m-%dT%H:%M:%SZ')} (GMT).")
    for mapped in item.mapped_collections:
        found = handles.resolve(tx, run.translate(mapped) or "")
        if found is not None and found[0] == C.TYPE_COLLECTION:
            objects.map_item(tx, iid, found[1])
    run.report.add(handle, "submitted", package=path.name)
    log.info("aip.ingest.package", handle=handle, action="submitted", package=path.name)
    return handle


def _add_deposit_licence(run: _Run, iid: int, coll_id: int) -> None:
    """Submit mode always adds a new deposit licence (the collection's), as DSpace does."""
    tx = run.tx
    coll_md = objects.metadata(tx, C.TYPE_COLLECTION, coll_id)
    text = objects.first_value(coll_md, "rights", "license") or (
        "Deposit licence: the submitter grants the repository the non-exclusive right to "
        "reproduce, translate and distribute the submission.\n")
    fmt = registry.format_id_by_name(tx, C.LICENSE_FORMAT_NAME) or \
        registry.guess_format_id(tx, C.DEPOSIT_LICENSE_NAME)
    objects.add_bitstream(tx, iid, C.BUNDLE_LICENSE, io.BytesIO(text.encode("utf-8")),
                          name=C.DEPOSIT_LICENSE_NAME, format_id=fmt,
                          source="Written by aipsync at submission")


def _item_contents(run: _Run, parsed: ParsedPackage, package: Contents | None,
                   item: Item, iid: int, path: Path) -> None:
    """Metadata, bundles, bitstreams and policies of an item (new or emptied).

    The item has no metadata, bundles or policies when this runs (created in this run, or
    emptied by replace), so nothing is looked up before it is added.
    """
    tx = run.tx
    objects.add_metadata(tx, C.TYPE_ITEM, iid, item.metadata,
                         create_fields=run.options.create_metadata_fields, fresh=True)
    if item.places:  # fields whose values leave places to relationships (useForPlace)
        objects.set_places(tx, C.TYPE_ITEM, iid, item.places)
    # Bundles in one statement, then bitstreams in one (their files stored and checked
    # first), then every policy of the item, its bundles and bitstreams, in that order of
    # objects as before, in one statement.
    bids = objects.create_bundles(tx, iid, [bundle.name for bundle in item.bundles])
    rows: list[objects.NewBitstream] = []
    for bid, bundle in zip(bids, item.bundles, strict=True):
        for position, bs in enumerate(bundle.bitstreams):
            if package is None or bs.key is None:
                raise InvalidValueError(f"{path.name}: bitstream {bs.name!r} has no content "
                                        "in the package")
            rows.append(objects.NewBitstream(
                stored=_store_checked(run, package, bs, path), name=bs.name, bundle_id=bid,
                sequence_id=bs.sequence_id, position=position,
                format_id=registry.format_id(tx, bs.format), source=bs.source,
                description=bs.description,
                user_format_description=bs.user_format_description))
    bsids = iter(objects.insert_bitstreams(tx, rows))
    policies: list[tuple[str, int, list[ResourcePolicy]]] = []
    for bid, bundle in zip(bids, item.bundles, strict=True):
        for bs in bundle.bitstreams:
            bsid = next(bsids)
            if bundle.primary_sequence_id == bs.sequence_id:
                objects.set_primary(tx, bid, bsid)
            if parsed.rights_present:
                policies.append((C.TYPE_BITSTREAM, bsid, _policies(run, bs.policies)))
        if parsed.rights_present:
            policies.append((C.TYPE_BUNDLE, bid, _policies(run, bundle.policies)))
    if parsed.rights_present:
        policies.append((C.TYPE_ITEM, iid, _policies(run, item.policies)))
        auth.add_fresh_policies(tx, policies)


def _item_mappings(run: _Run, item: Item, iid: int) -> None:
    for mapped in item.mapped_collections:
        found = handles.resolve(run.tx, run.translate(mapped) or "")
        if found is not None and found[0] == C.TYPE_COLLECTION:
            objects.map_item(run.tx, iid, found[1])


def _submitter(run: _Run, email: str | None) -> int | None:
    if not email:
        return None
    if email in run.submitters:
        return run.submitters[email]
    person = auth.find_eperson(run.tx, email)
    found: int | None
    if person is not None:
        found = person.id
    elif run.request.config.create_submitter:
        found = auth.create_eperson(run.tx, EPerson(email=email, can_log_in=False))
    else:
        run.report.warn("AIP-W110", f"submitter {email} does not exist; the item has none")
        return None
    if len(run.submitters) >= _SUBMITTERS_KEPT:
        run.submitters.clear()
    run.submitters[email] = found
    return found


def _store_checked(run: _Run, package: Contents, bs: Bitstream, path: Path) -> StoredFile:
    """Stream a zip entry into the assetstore (or take the file a worker process stored)
    and check it against the manifest."""
    assert bs.key is not None
    stored = package.take(bs.key) if isinstance(package, PreparedPackage) else None
    if stored is None:
        # (a prepared package's entry not stored ahead: one named by two bitstreams)
        with contextlib.ExitStack() as stack:
            zipped = stack.enter_context(PackageZip(package.path)) \
                if isinstance(package, PreparedPackage) else package
            src = stack.enter_context(zipped.open(bs.key))
            stored = run.tx.assetstore.write(src, run.tx.journal)
    if bs.size is not None and bs.size >= 0 and stored.size != bs.size:
        raise ChecksumMismatchError(what=f"{path.name}: {bs.key}", algorithm="size",
                                    expected=str(bs.size), found=str(stored.size))
    if bs.md5 is not None and stored.md5 != bs.md5.lower():
        raise ChecksumMismatchError(what=f"{path.name}: {bs.key}", algorithm="MD5",
                                    expected=bs.md5, found=stored.md5)
    if bs.sha256 is not None and stored.sha256 != bs.sha256.lower():
        raise ChecksumMismatchError(what=f"{path.name}: {bs.key}", algorithm="SHA-256",
                                    expected=bs.sha256, found=stored.sha256)
    return stored


def _policies(run: _Run, policies: Sequence[ResourcePolicy]) -> list[ResourcePolicy]:
    """Policies with group names translated through the run's handle map."""
    out = []
    for policy in policies:
        match = _EXPORTED_ROLE_RE.match(policy.group) if policy.group else None
        if match:
            group = f"{match.group(1)}_hdl:{run.translate(match.group(2))}_{match.group(3)}"
            policy = ResourcePolicy(  # noqa: PLW2901 - the translated copy replaces it
                action=policy.action, group=group, eperson=policy.eperson, name=policy.name,
                description=policy.description, start_date=policy.start_date,
                end_date=policy.end_date, policy_type=policy.policy_type)
        out.append(policy)
    return out


# =============================================================================================
# Replacing objects
# =============================================================================================
def _replace(run: _Run, parsed: ParsedPackage, package: Contents | None, obj_type: str,
             obj_id: int, handle: str) -> None:
    tx = run.tx
    path = package.path if package is not None else Path(handle)
    if obj_type == C.TYPE_ITEM:
        item = parsed.item
        assert item is not None
        # its relationships become the package's: removed as they are (no place moves)
        relationships.detach_item(tx, obj_id, shift=False)
        objects.remove_bundles(tx, obj_id)
        objects.clear_metadata(tx, C.TYPE_ITEM, obj_id)
        if parsed.rights_present:
            auth.clear_policies(tx, C.TYPE_ITEM, obj_id)
        row = objects.item_row(tx, obj_id)
        tx.execute(sa.update(T.item).where(T.item.c.id == obj_id).values(
            submitter_id=_submitter(run, item.submitter), withdrawn=item.withdrawn,
            in_archive=row.in_archive if row.handle is None else not item.withdrawn,
            discoverable=item.discoverable))
        uuid = _free_uuid(run, item.uuid)
        if uuid is not None:
            tx.execute(sa.update(T.item).where(T.item.c.id == obj_id).values(uuid=uuid))
        else:
            uuid = relationships.item_uuids(tx, [obj_id])[obj_id]
        _keep_uuid_map(run, item.uuid, uuid)
        _item_contents(run, parsed, package, item, obj_id, path)
        _item_mappings(run, item, obj_id)
        objects.touch_item(tx, obj_id, item.last_modified)
        run.rels.add(obj_id, handle, parsed.claims, parsed.places_known)
        return
    container: Community | Collection | None = (
        parsed.community if obj_type == C.TYPE_COMMUNITY else parsed.collection)
    assert container is not None
    _container_contents(run, parsed, package, obj_type, obj_id, container, path)
    if obj_type == C.TYPE_COLLECTION:
        _remap_listed_items(run, parsed, handle)


# =============================================================================================
# The site, groups and e-people
# =============================================================================================
def _apply_site(run: _Run, parsed: ParsedPackage, *, replace: bool) -> None:
    site: Site | None = parsed.site
    if site is not None and (replace or run.mode == IngestMode.RESTORE):
        objects.update_site(run.tx, name=site.name or None, url=site.url or None)
    _apply_registry(run, parsed)
    run.rels.apply_registry(run.tx, parsed.registry)
    _apply_roles(run, parsed, C.TYPE_SITE, 1)


def _apply_registry(run: _Run, parsed: ParsedPackage) -> None:
    """Schemas, fields and formats a SITE package defines (aipsync's extension)."""
    extra = getattr(parsed, "registry", None)
    if extra is None:
        return
    for schema in getattr(extra, "schemas", ()):
        registry.create_schema(run.tx, schema)
    for fld in getattr(extra, "fields", ()):
        registry.create_field(run.tx, fld)
    for fmt in getattr(extra, "formats", ()):
        registry.format_id(run.tx, fmt)


def _apply_roles(run: _Run, parsed: ParsedPackage, obj_type: str, obj_id: int) -> None:
    """DSPACE-ROLES: people first (matched by e-mail, then netid), then groups."""
    tx = run.tx
    run.person_refs.update(parsed.person_refs)
    for person in parsed.people:
        if not person.email and not person.netid:
            raise InvalidValueError("EPerson has neither email nor netid.")
        existing = auth.find_eperson(tx, person.email or person.netid or "")
        if existing is not None and existing.id == run.person.id:
            if run.mode == IngestMode.REPLACE:
                keep = person if person.password_hash else _with_password(person, existing)
                auth.update_eperson(tx, existing.id, keep)
            continue
        if existing is not None:
            if run.mode == IngestMode.REPLACE:
                auth.update_eperson(tx, existing.id, person)
            elif run.mode == IngestMode.KEEP:
                continue
            else:
                raise AlreadyExistsError(what="EPerson", key=person.email)
        else:
            auth.create_eperson(tx, person, keep_id=True)
    made: list[tuple[Group, int]] = []
    for group in parsed.groups:
        internal = run.group_name(group.name)
        if internal is None:
            # Its object is not restored yet; the group comes with that object's AIP.
            run.pending_groups.append(group.name)
            continue
        gid = auth.group_id_by_name(tx, internal)
        if gid is not None:
            if run.mode == IngestMode.REPLACE:
                keep_id = run.person.id if gid == auth.ADMINISTRATOR_ID else None
                auth.clear_group(tx, gid, keep_eperson=keep_id)
            elif run.mode == IngestMode.KEEP:
                _set_role(run, obj_type, obj_id, group, gid)
                continue
            elif obj_type == C.TYPE_SITE or not _is_role_of(internal, obj_type, obj_id):
                raise AlreadyExistsError(what="Group", key=group.name)
            else:
                auth.clear_group(tx, gid)
        else:
            gid = auth.create_group(tx, internal, group_id=group.id or None)
        for name in group.members:
            auth.add_member(tx, gid, _member(run, parsed, group.name, name).id)
        _set_role(run, obj_type, obj_id, group, gid)
        made.append((group, gid))
    for group, gid in made:
        for member_group in group.member_groups:
            internal = run.group_name(member_group)
            sub = auth.group_id_by_name(tx, internal) if internal else None
            if sub is None:
                run.pending_subgroups.append((gid, member_group))
            else:
                auth.add_subgroup(tx, gid, sub)


def _member(run: _Run, parsed: ParsedPackage, group: str, name: str) -> EPerson:
    """A group member: by its ``Member@ID`` among the people of this run's DSPACE-ROLES, then
    by ``Member@Name`` as an e-mail (DSpace 7.6.6, 8.3, 9.2, 10.0-rc1 wrote a full name there).

    Raises:
        NotFoundError: neither finds an e-person (DSpace's "EPerson ... not found").
    """
    member_id = next((mid for g, mid, n in parsed.member_refs if (g, n) == (group, name)),
                     None)
    if member_id is not None and member_id in run.person_refs:
        person = auth.find_eperson(run.tx, run.person_refs[member_id])
        if person is not None:
            return person
    person = auth.find_eperson(run.tx, name)
    if person is None:
        by_id = f" (Member ID {member_id} is no person of this restore)" if member_id else ""
        raise NotFoundError(f"EPerson {name} not found, not added to {group}{by_id}")
    return person


def _with_password(person: EPerson, existing: EPerson) -> EPerson:
    return EPerson(email=person.email, id=person.id, netid=person.netid,
                   first_name=person.first_name, last_name=person.last_name,
                   language=person.language, can_log_in=person.can_log_in,
                   require_certificate=person.require_certificate,
                   self_registered=person.self_registered,
                   password_hash=existing.password_hash, salt=existing.salt,
                   digest_algorithm=existing.digest_algorithm)


def _is_role_of(internal: str, obj_type: str, obj_id: int) -> bool:
    return internal.startswith(f"{obj_type}_{obj_id}_")


def _set_role(run: _Run, obj_type: str, obj_id: int, group: Group, gid: int) -> None:
    if group.role is None or obj_type not in (C.TYPE_COLLECTION, C.TYPE_COMMUNITY):
        return
    if group.role not in objects.ROLE_COLUMNS:
        run.report.warn("AIP-W104", f"unknown group role {group.role!r} of {group.name!r}")
        return
    if obj_type == C.TYPE_COMMUNITY and group.role != C.ROLE_ADMIN:
        return
    objects.set_role_group(run.tx, obj_type, obj_id, group.role, gid)


# =============================================================================================
# manifest-only packages (-o manifestOnly=true)
# =============================================================================================
def _ingest_manifest_only(run: _Run, path: Path, explicit_parent: str | None, via: str | None,
                          top: bool) -> tuple[ParsedPackage, str | None, bool]:
    """A bare METS file: only packages without files can be ingested (no network fetches)."""
    manifest = _read_manifest(path, run.options)
    parsed = parse_package(manifest, config=run.request.config, dmd=run.options.dmd,
                           path=str(path), virtual=run.virtual)
    if parsed.files:
        raise PackageError(
            f"{path}: manifest-only packages name their files by URL; aipsync never fetches "
            "files over the network. Export and restore zip packages instead.")
    try:
        handle, children = _apply(run, parsed, None, path, explicit_parent, via, top)
    except _Defer:
        return parsed, None, False
    return parsed, handle, children


# =============================================================================================
# Command line glue (called by aip.cli; prints nothing itself)
# =============================================================================================
def request_from_args(args: argparse.Namespace, options: dict[str, str],
                      config: AipConfig) -> IngestRequest:
    """Turn packager flags into an ``IngestRequest`` (DSpace's flag rules)."""
    if args.restore:
        mode = IngestMode.REPLACE if args.force_replace else (
            IngestMode.KEEP if args.keep_existing else IngestMode.RESTORE)
    else:
        if args.force_replace or args.keep_existing:
            raise UsageError("-k and -f need -r (restore mode)")
        mode = IngestMode.SUBMIT
    parent = args.parent[0] if args.parent else None
    if parent is not None:
        check_handle(parent)
    if args.identifier is not None:
        check_handle(args.identifier)
        if mode != IngestMode.REPLACE:
            raise UsageError("-i on ingest names the object to replace: use it with -r -f")
    if mode == IngestMode.SUBMIT and parent is None and "ignoreParent" not in options:
        raise UsageError("submit mode needs -p PARENT (or -o ignoreParent=false to use the "
                         "parent named in the package)")
    opts = IngestOptions.parse(options, restore=mode != IngestMode.SUBMIT,
                               parent_given=parent is not None)
    return IngestRequest(package=args.package, eperson=args.eperson, mode=mode,
                         options=opts, recursive=args.all, parent=parent,
                         identifier=args.identifier, skip_workflow=args.install,
                         config=config.ingest, workers=getattr(args, "workers", 0))


def confirm_replace(request: IngestRequest, args: argparse.Namespace,
                    ask: Callable[[str], str] | None = None, stdin: TextIO | None = None
                    ) -> bool:
    """On a terminal, ask before replacing (``-u`` answers yes)."""
    if request.mode != IngestMode.REPLACE or args.no_user_interaction:
        return True
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        return True
    target = request.identifier or "the objects in the package"
    answer = (ask or input)(f"Replace {target} and everything below it with the contents "
                            f"of {request.package}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def report_lines(report: Report) -> Iterator[str]:
    """Human-readable lines of a report, one per object and per warning, as they are
    printed (a restore of a million objects is a million lines)."""
    for outcome in report.outcomes:
        yield outcome.line()
    for warning in report.warnings:
        yield f"warning    {warning}"


