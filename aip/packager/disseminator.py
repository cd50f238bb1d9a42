"""Object -> AIPs: ``packager -d`` and ``-d -a``.

Owns: planning an export (which objects, in which order, under which file names), the
permission checks, applying the export options (bundle filters, ``unauthorized``,
``updatedAfter``, ``passwords``, ``manifestOnly``, ``validate``), and running the export:
item packages built, validated and written by worker processes in batches, container
packages here with their zips written on threads, every file written under a temp name and
renamed into place in batches made durable together, in plan order.

The bytes of each manifest come from ``aip.packager.manifest`` (pure) and the bytes of each
zip from ``aip.packager.zipwriter``; this module does the orchestration and I/O around them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa
import structlog

from aip import constants as C
from aip.errors import (
    NotFoundError,
    OutputError,
    PermissionDeniedError,
    UnauthorizedContentError,
)
from aip.files import BatchWriter
from aip.model import Bitstream, Bundle, EPerson, Group, Item, package_file_name
from aip.packager.config import DisseminateConfig
from aip.packager.manifest import (
    BuildContext,
    BuiltPackage,
    build_collection_package,
    build_community_package,
    build_item_package,
    build_site_package,
)
from aip.packager.options import ExportOptions
from aip.packager.pool import end_pool, process_pool, worker_count
from aip.packager.zipwriter import (
    AssetReader,
    ItemTask,
    Written,
    validate_built,
    warm_up,
    work_items,
    write_temp,
)
from aip.progress import Meter, ProgressCallback, listening
from aip.progress import Progress as Progress  # noqa: PLC0414  (re-exported for callers)
from aip.repository import auth, authorize, handles, objects, registry, relationships
from aip.repository import tables as T
from aip.repository.assetstore import Assetstore
from aip.repository.store import Repository, Tx

log = structlog.get_logger(__name__)

#: Packages written under temp names are made durable and renamed in batches of this size.
BATCH_FILES = 256
BATCH_BYTES = 256 * 1024 * 1024
PREFETCH_ITEMS = 200
#: Threads writing zips while the main thread builds manifests, and how many packages may
#: wait for them (bounds memory: each holds one built manifest).
WRITE_THREADS = 2
MAX_INFLIGHT = 8
#: Item packages sent to a worker process in one task (one pickled context and one
#: round trip per batch instead of per item).
ITEMS_PER_TASK = 16


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What ``packager -d`` was asked to do."""

    handle: str
    eperson: str
    output: Path
    recursive: bool = False
    options: ExportOptions = field(default_factory=ExportOptions)
    config: DisseminateConfig = field(default_factory=DisseminateConfig)
    #: Processes building and writing item packages in parallel: 0 = one per CPU (at most
    #: 4), 1 = all in this process.  Bytes are the same either way.
    workers: int = 0


@dataclass(frozen=True, slots=True)
class PlannedPackage:
    type: str
    id: int
    handle: str
    path: Path


@dataclass(frozen=True, slots=True)
class WrittenPackage:
    """A package file this run wrote."""

    path: Path
    type: str
    handle: str
    size: int


@dataclass
class ExportResult:
    """What an export did: how many files it wrote (and their bytes), how many items
    ``updatedAfter`` left alone, which objects it skipped and why.  Counts, not lists: a
    site of a million items must not be held in memory to report on it."""

    written: int = 0
    bytes_out: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bytes_in: int = 0
    seconds: float = 0.0


# =============================================================================================
# Planning
# =============================================================================================
def _children(tx: Tx, obj_type: str, obj_id: int, *,
              modified_after: dt.datetime | None = None) -> Iterator[tuple[str, int, str]]:
    if obj_type == C.TYPE_SITE:
        for handle in objects.site_model(tx).communities:
            yield C.TYPE_COMMUNITY, handles.require(tx, handle)[1], handle
    elif obj_type == C.TYPE_COMMUNITY:
        comm = objects.community_model(tx, obj_id)
        for handle in comm.subcommunities:
            yield C.TYPE_COMMUNITY, handles.require(tx, handle)[1], handle
        for handle in comm.collections:
            yield C.TYPE_COLLECTION, handles.require(tx, handle)[1], handle
    elif obj_type == C.TYPE_COLLECTION:
        for item_id, handle in objects.collection_item_ids(
                tx, obj_id, modified_after=modified_after).with_ids():
            yield C.TYPE_ITEM, item_id, handle


def plan(tx: Tx, request: ExportRequest) -> list[PlannedPackage]:
    """Every package to write, parents before children, each object once (``iter_plan`` as a
    list, for callers that want one: a small subtree, a test)."""
    return list(iter_plan(tx, request))


def iter_plan(tx: Tx, request: ExportRequest, *, changed_only: bool = False
              ) -> Iterator[PlannedPackage]:
    """Every package to write, parents before children, each object once, as a stream.

    Depth-first pre-order, as DSpace's recursive disseminate: a parent, then each child with
    all of its descendants before the next sibling; an item listed by several collections
    comes once, where it is met first.  Items seen are kept as bits of their row ids (a
    million items cost 125 KB), never as a set of handles.  ``changed_only``: items that
    ``updatedAfter`` leaves alone are not planned at all (found through the index on
    ``item.last_modified``); containers always are, as DSpace exports them.
    """
    obj_type, obj_id = handles.require(tx, request.handle, C.TYPE_SITE, C.TYPE_COMMUNITY,
                                       C.TYPE_COLLECTION, C.TYPE_ITEM)
    if obj_type == C.TYPE_ITEM:
        row = objects.item_row(tx, obj_id)
        if not (row.in_archive or row.withdrawn):
            raise NotFoundError(what="archived item", key=request.handle)
    yield PlannedPackage(obj_type, obj_id, request.handle, request.output)
    if not request.recursive:
        return
    ext = C.MANIFEST_ONLY_EXTENSION if request.options.manifest_only else C.PACKAGE_EXTENSION
    folder = request.output.parent
    seen_containers = {request.handle}
    seen_items = _Bits()
    if obj_type == C.TYPE_ITEM:
        seen_items.add(obj_id)
    after = request.options.updated_after
    modified_after = (after.astimezone(dt.UTC).replace(tzinfo=None)
                      if changed_only and after is not None else None)

    def visit(kind: str, oid: int) -> Iterator[PlannedPackage]:
        for ckind, cid, chandle in _children(tx, kind, oid, modified_after=modified_after):
            if ckind == C.TYPE_ITEM:
                if cid in seen_items:
                    continue
                seen_items.add(cid)
            elif chandle in seen_containers:
                continue
            else:
                seen_containers.add(chandle)
            yield PlannedPackage(ckind, cid, chandle,
                                 folder / package_file_name(ckind, chandle, ext))
            if ckind != C.TYPE_ITEM:
                yield from visit(ckind, cid)

    yield from visit(obj_type, obj_id)


class _Bits:
    """A set of non-negative integers (row ids) as a growing bit array."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, n: int) -> None:
        byte = n >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        self._bits[byte] |= 1 << (n & 7)

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int):
            return False
        byte = n >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (n & 7)))


def count_plan(tx: Tx, request: ExportRequest) -> tuple[int, int, int]:
    """(packages, items, items ``updatedAfter`` leaves alone) of an export: one pass over
    its plan, nothing kept.  An incremental site export counts the items it leaves alone
    with one query, not by listing them."""
    packages = items = 0
    for pkg in iter_plan(tx, request, changed_only=True):
        packages += 1
        items += pkg.type == C.TYPE_ITEM
    if request.options.updated_after is None or not request.recursive:
        return packages, items, 0
    top_type, _ = handles.require(tx, request.handle)
    if top_type == C.TYPE_SITE:
        total = objects.count_archived_items(tx)
    else:
        total = sum(1 for p in iter_plan(tx, request) if p.type == C.TYPE_ITEM)
    return packages, items, max(0, total - items)


def planned_bytes(tx: Tx, packages: Iterable[PlannedPackage]) -> int:
    """Total bitstream bytes of the planned item packages (for progress), 500 at a time."""
    total = 0
    items = (p.id for p in packages if p.type == C.TYPE_ITEM)
    while chunk := list(itertools.islice(items, 500)):
        total += int(tx.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(T.bitstream.c.size), 0))
            .join(T.bundle, T.bundle.c.id == T.bitstream.c.bundle_id)
            .where(T.bundle.c.item_id.in_(chunk))) or 0)
    return total


class _Lookahead:
    """A stream of planned packages that can show the next few without consuming them
    (the item prefetch loads a batch ahead)."""

    def __init__(self, packages: Iterator[PlannedPackage]) -> None:
        self._source = packages
        self._ahead: deque[PlannedPackage] = deque()

    def __iter__(self) -> Iterator[PlannedPackage]:
        while True:
            if self._ahead:
                yield self._ahead.popleft()
                continue
            nxt = next(self._source, None)
            if nxt is None:
                return
            yield nxt

    def upcoming(self, n: int) -> list[PlannedPackage]:
        """Up to ``n`` packages after the current one."""
        while len(self._ahead) < n:
            nxt = next(self._source, None)
            if nxt is None:
                break
            self._ahead.append(nxt)
        return list(itertools.islice(self._ahead, n))


# =============================================================================================
# Permissions and options applied to an item
# =============================================================================================
def _placeholder(bs: Bitstream) -> Bitstream:
    """A zero-length stand-in for an unreadable bitstream (``-o unauthorized=zero``)."""
    return Bitstream(sequence_id=bs.sequence_id, name=bs.name, size=0, md5=None,
                     format=bs.format, source=bs.source, description=bs.description,
                     user_format_description=bs.user_format_description, sha256=None,
                     policies=bs.policies, key=None)


@dataclass(frozen=True, slots=True)
class _Withheld:
    """What of an item an e-person may not read: bundles (by their index in the item's
    bundle order) and bitstreams (by ``(bundle index, sequence id)``) that ``-o
    unauthorized`` leaves out or zeroes."""

    bundles: frozenset[int] = frozenset()
    bitstreams: frozenset[tuple[int, int]] = frozenset()


def _withheld(tx: Tx, item_id: int, handle: str, eperson_id: int, today: dt.date,
              options: ExportOptions) -> _Withheld:
    """The unreadable parts of an item the export would write, as ``-o unauthorized`` says.

    Bundles the bundle filter excludes are never looked at (DSpace filters before it checks
    READ).  Both the pre-flight pass of ``export`` and ``_readable_item`` use this, so an
    export that must fail fails before its first file is written.

    Raises:
        UnauthorizedContentError: an unreadable bundle (``unauthorized`` is not ``skip``) or
            bitstream (``unauthorized`` unset), DSpace's "Not authorized to read ..." error.
    """
    if auth.is_admin(tx, eperson_id):
        return _Withheld()
    bundles: set[int] = set()
    bitstreams: set[tuple[int, int]] = set()
    # the order of objects.item_model, so that indexes match Item.bundles
    brows = tx.execute(sa.select(T.bundle.c.id, T.bundle.c.name)
                       .where(T.bundle.c.item_id == item_id)
                       .order_by(T.bundle.c.position, T.bundle.c.id)).all()
    for index, (bid, bname) in enumerate(brows):
        if not options.include_bundle(bname):
            continue
        if not authorize.can_read(tx, eperson_id, C.TYPE_BUNDLE, bid, today):
            if options.unauthorized == "skip":
                bundles.add(index)
                continue
            raise UnauthorizedContentError(what="Bundle named", name=bname, handle=handle,
                                           eperson=auth.eperson_email(tx, eperson_id))
        for bsid, seq, bsname in tx.execute(
                sa.select(T.bitstream.c.id, T.bitstream.c.sequence_id, T.bitstream.c.name)
                .where(T.bitstream.c.bundle_id == bid)).all():
            if authorize.can_read(tx, eperson_id, C.TYPE_BITSTREAM, bsid, today):
                continue
            if options.unauthorized is None:
                raise UnauthorizedContentError(what="Bitstream", name=bsname, handle=handle,
                                               eperson=auth.eperson_email(tx, eperson_id))
            bitstreams.add((index, seq))
    return _Withheld(frozenset(bundles), frozenset(bitstreams))


def _readable_item(tx: Tx, item: Item, item_id: int, eperson_id: int, today: dt.date,
                   options: ExportOptions) -> Item:
    """The item with unreadable bundles/bitstreams handled as ``-o unauthorized`` says."""
    withheld = _withheld(tx, item_id, item.handle, eperson_id, today, options)
    if not withheld.bundles and not withheld.bitstreams:
        return item
    bundles: list[Bundle] = []
    for index, bundle in enumerate(item.bundles):
        if index in withheld.bundles:
            continue
        kept: list[Bitstream] = []
        for bs in bundle.bitstreams:
            if (index, bs.sequence_id) not in withheld.bitstreams:
                kept.append(bs)
            elif options.unauthorized == "zero":
                kept.append(_placeholder(bs))
        bundles.append(Bundle(name=bundle.name, bitstreams=tuple(kept),
                              primary_sequence_id=bundle.primary_sequence_id,
                              policies=bundle.policies))
    return replace(item, bundles=tuple(bundles))


def _unchanged(tx: Tx, item_id: int, options: ExportOptions) -> bool:
    """True when ``updatedAfter`` leaves the item's package unwritten.

    The items modified after the date are found with one query per export (cached in the
    transaction), so an incremental run over 100,000 items does not read 100,000 rows.
    """
    if options.updated_after is None:
        return False
    key = ("changed_after", options.updated_after)
    changed: set[int] | None = tx.cache.get(key)
    if changed is None:
        after = options.updated_after.astimezone(dt.UTC).replace(tzinfo=None)
        changed = set(tx.execute(sa.select(T.item.c.id)
                                 .where(T.item.c.last_modified > after)).scalars())
        tx.cache[key] = changed
    return item_id not in changed


def preflight(tx: Tx, packages: Iterable[PlannedPackage], person: EPerson, today: dt.date,
              options: ExportOptions) -> set[str]:
    """Every permission decision of an export, before anything is written.

    Returns the handles of packages ``-o unauthorized=skip`` leaves out.  Site
    administrators may read everything, so for them this costs one cached group lookup.

    Raises:
        PermissionDeniedError: the e-person may not read the top object (site: not an
            administrator).
        UnauthorizedContentError: an object, bundle or bitstream below it is unreadable and
            ``-o unauthorized`` does not say what to do.
    """
    stream = iter(packages)
    top = next(stream)
    person_id = person.id
    if top.type == C.TYPE_SITE:
        authorize.require_site_admin(tx, person, "export the whole site")
    elif not authorize.can_read(tx, person_id, top.type, top.id, today):
        raise PermissionDeniedError(eperson=person.email, action=f"read {top.handle}")
    if auth.is_admin(tx, person_id):
        return set()
    skipped: set[str] = set()
    for pkg in itertools.chain((top,), stream):
        if pkg is not top and pkg.type != C.TYPE_SITE and not authorize.can_read(
                tx, person_id, pkg.type, pkg.id, today):
            if options.unauthorized == "skip":
                skipped.add(pkg.handle)
                continue
            raise UnauthorizedContentError(what=pkg.type.lower(), name=pkg.handle,
                                           handle=pkg.handle, eperson=person.email)
        if pkg.type == C.TYPE_ITEM and not _unchanged(tx, pkg.id, options):
            _withheld(tx, pkg.id, pkg.handle, person_id, today, options)
    return skipped


def _item_for_export(tx: Tx, pkg: PlannedPackage, ctx: BuildContext, options: ExportOptions,
                     eperson_id: int) -> Item | None:
    """The item as its package shows it (unreadable parts handled), or None if unchanged."""
    if _unchanged(tx, pkg.id, options):
        return None
    prefetched: dict[int, Item] = tx.cache.get("item_prefetch", {})
    model = prefetched.pop(pkg.id, None)
    if model is None:
        model = _models(tx, [pkg.id], ctx.config.virtual_metadata)[pkg.id]
    return _readable_item(tx, model, pkg.id, eperson_id, ctx.today, options)


def _models(tx: Tx, ids: list[int], virtual: bool) -> dict[int, Item]:
    """Item models; with ``virtual`` (``[aip.disseminate] virtual_metadata``), each with its
    stored and virtual values in DSpace's order (``Item.with_virtual``)."""
    models = objects.item_models(tx, ids)
    if not virtual:
        return models
    merged = relationships.merged_metadata(tx, ids, objects.field_rank(tx))
    return {i: replace(m, with_virtual=merged[i]) for i, m in models.items()}


def build_package(tx: Tx, pkg: PlannedPackage, ctx: BuildContext, options: ExportOptions,
                  eperson_id: int) -> BuiltPackage | None:
    """The built package of one planned object, or None when ``updatedAfter`` skips it.

    Containers get their groups' direct members (one lookup per distinct member, not the
    whole e-person table per container) so DSPACE-ROLES can write ``Member@ID``; the SITE
    package gets every group and e-person and the registries (AIPSYNC-EXT).
    """

    def members(groups: list[Group]) -> list[EPerson]:
        people: dict[str, EPerson] = {}
        for group in groups:
            for email in group.members:
                if email not in people and (person := auth.find_eperson(tx, email)):
                    people[email] = person
        return list(people.values())

    if pkg.type == C.TYPE_ITEM:
        item = _item_for_export(tx, pkg, ctx, options, eperson_id)
        if item is None:
            return None
        include = None if options.bundles.is_everything else options.include_bundle
        return build_item_package(item, ctx, include)
    if pkg.type == C.TYPE_COLLECTION:
        groups = objects.collection_groups(tx, pkg.id)
        return build_collection_package(objects.collection_model(tx, pkg.id), groups, ctx,
                                        people=members(groups))
    if pkg.type == C.TYPE_COMMUNITY:
        groups = objects.community_groups(tx, pkg.id)
        return build_community_package(objects.community_model(tx, pkg.id), groups, ctx,
                                       people=members(groups))
    return build_site_package(objects.site_model(tx), auth.list_groups(tx),
                              auth.list_epeople(tx), ctx,
                              schemas=registry.list_schemas(tx),
                              fields=registry.list_fields(tx),
                              formats=registry.list_formats(tx),
                              entity_types=sorted(relationships.entity_types(tx)),
                              # in the repository's order, which a restore keeps: virtual
                              # values are listed type by type
                              relationship_types=[
                                  t for _, t in relationships.relationship_types(tx)])


def export(repo: Repository, request: ExportRequest, *,
           progress: ProgressCallback | None = None,
           today: dt.date | None = None) -> ExportResult:
    """Export one object (or, with ``recursive``, its whole subtree) as AIPs.

    Progress goes to the listener of ``aip.progress.reporting`` (phase ``export``: every
    planned package, written or left alone, and the item bitstream bytes copied); the
    ``progress`` callback is called after each package written (a caller's safe point to
    stop: whatever it raises ends the export, and nothing partial is left).

    Raises:
        NotFoundError: unknown handle or e-person.
        PermissionDeniedError: the e-person may not read the object (site: not an admin).
        UnauthorizedContentError: an unreadable bundle/bitstream and no ``unauthorized``.
        OutputError: the output folder cannot be written.
        AssetstoreCorruptError: a stored bitstream no longer matches its checksum.
    """
    started = time.monotonic()
    folder = request.output.parent
    if not folder.is_dir():
        raise OutputError(path=str(folder), detail="no such folder")
    result = ExportResult()
    with repo.transaction(write=False) as tx:
        today = today or tx.now.date()
        person = auth.require_eperson(tx, request.eperson)
        total, items, result.unchanged = count_plan(tx, request)
        skipped = preflight(tx, iter_plan(tx, request, changed_only=True), person, today,
                            request.options)
        packages = _Lookahead(iter_plan(tx, request, changed_only=True))
        site = objects.site_model(tx)
        ctx = BuildContext(site_handle=site.handle, site_url=site.url, today=today,
                           config=request.config,
                           manifest_only=request.options.manifest_only,
                           passwords=request.options.passwords,
                           stream_reader=AssetReader(tx.assetstore.root))
        meter = Meter("export", label="exporting", objects_total=total,
                      bytes_total=planned_bytes(tx, iter_plan(tx, request, changed_only=True))
                      if listening() else None)
        log.info("aip.export.start", handle=request.handle, objects=total,
                 unchanged=result.unchanged, recursive=request.recursive)
        output = BatchWriter()
        threads = ThreadPoolExecutor(max_workers=WRITE_THREADS,
                                     thread_name_prefix="aipsync-export")
        workers = worker_count(request.workers, items)
        processes = process_pool(workers, preload=["aip.packager.zipwriter"],
                                 warm_up=warm_up) if workers > 1 else None
        inflight: deque[_InFlight] = deque()
        limit = MAX_INFLIGHT * max(1, workers)
        task = ItemTask(ctx=replace(ctx, stream_reader=None),
                        include=None if request.options.bundles.is_everything
                        else request.options.bundles,
                        validate=request.options.validate,
                        manifest_only=request.options.manifest_only,
                        assetstore=tx.assetstore.root)
        pending: list[tuple[int, PlannedPackage, Item]] = []

        def send() -> None:
            """Send the pending item packages to a worker process as one task."""
            if not pending or processes is None:
                return
            job = replace(task, items=tuple(i for _, _, i in pending),
                          paths=tuple(p.path for _, p, _ in pending))
            inflight.append((tuple((i, p) for i, p, _ in pending),
                             processes.submit(work_items, job)))
            pending.clear()

        def settle(keep: int) -> None:
            if keep == 0:
                send()
            while len(inflight) > keep:
                members, future = inflight.popleft()
                for (_, pkg), (tmp, size, copied) in zip(members, future.result(),
                                                             strict=True):
                    output.adopt(Path(tmp), pkg.path, size)  # in plan order
                    result.written += 1
                    result.bytes_out += size
                    result.bytes_in += copied
                    # the planned total counts item bitstreams
                    meter.advance(nbytes=copied if pkg.type == C.TYPE_ITEM else 0,
                                  current=pkg.handle)
                    if progress is not None:
                        progress(meter.snapshot())

        try:
            for index, pkg in enumerate(packages, 1):
                if pkg.handle in skipped:
                    result.skipped.append((pkg.handle, "not authorised"))
                    meter.advance(current=pkg.handle)
                    continue
                if pkg.type == C.TYPE_ITEM:
                    _prefetch(tx, pkg, packages.upcoming(PREFETCH_ITEMS), request.options,
                              skipped, request.config.virtual_metadata)
                if pkg.type == C.TYPE_ITEM and processes is not None:
                    item = _item_for_export(tx, pkg, ctx, request.options, person.id)
                    if item is None:  # not planned, so not reached: a safety net
                        result.unchanged += 1
                        meter.advance(current=pkg.handle)
                        continue
                    pending.append((index, pkg, item))
                    if len(pending) >= ITEMS_PER_TASK:
                        send()
                else:
                    send()  # keep plan order: items gathered so far go first
                    built = build_package(tx, pkg, ctx, request.options, person.id)
                    if built is None:
                        result.unchanged += 1
                        meter.advance(current=pkg.handle)
                        continue
                    if request.options.validate:
                        validate_built(built, pkg.path)
                    # Zip writing (deflate, file I/O) runs on worker threads while this
                    # thread builds the next manifests; results are settled in plan order.
                    inflight.append((((index, pkg),), threads.submit(
                        _write_one, tx.assetstore, pkg, built, request.options.manifest_only)))
                settle(limit)
                # Commit what has settled while the workers go on with what is in flight:
                # waiting for them here would leave both idle for every batch.
                if len(output.pending) >= BATCH_FILES or output.bytes_pending >= BATCH_BYTES:
                    _commit(output)
            settle(0)
            _commit(output)
            meter.finish()
        except BaseException:
            _discard(inflight)
            output.abort()
            raise
        finally:
            threads.shutdown(wait=True)
            if processes is not None:
                end_pool(processes)
    result.seconds = time.monotonic() - started
    log.info("aip.export.done", handle=request.handle, written=result.written,
             unchanged=result.unchanged, skipped=len(result.skipped),
             bytes=result.bytes_in, duration_s=round(result.seconds, 3))
    return result


#: Packages handed to a thread or a worker process (with their plan index), and the future
#: of their (temp path, size, bitstream bytes copied), in the same order.
_InFlight = tuple[tuple[tuple[int, PlannedPackage], ...], Future[list[Written]]]


def _write_one(store: Assetstore, pkg: PlannedPackage, built: BuiltPackage,
               manifest_only: bool) -> list[Written]:
    """Write one package under a temp name (on a worker thread)."""
    return [write_temp(store, built, pkg.path, manifest_only)]


# -- after a failure, and committing -----------------------------------------------------------
def _discard(inflight: deque[_InFlight]) -> None:
    """After a failure: stop queued work and remove temp files workers already wrote."""
    for _, future in inflight:
        future.cancel()
    for _, future in inflight:
        if future.cancelled():
            continue
        try:
            written = future.result()
        except BaseException:
            continue
        for tmp, _, _ in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _commit(output: BatchWriter) -> None:
    try:
        output.commit()
    except OSError as exc:
        failed = exc.filename if isinstance(exc.filename, str) else None
        raise OutputError(path=failed or str(output.pending[0][1] if output.pending else "?"),
                          detail=exc.strerror or str(exc)) from exc


def _prefetch(tx: Tx, current: PlannedPackage, upcoming: Iterable[PlannedPackage],
              options: ExportOptions, skipped: set[str], virtual: bool = False) -> None:
    """Load the next item models in bulk (a few queries per batch instead of per item):
    ``current`` and the packages after it."""
    cache: dict[int, Item] = tx.cache.setdefault("item_prefetch", {})
    if current.id in cache:
        return
    ids: list[int] = []
    for pkg in itertools.chain((current,), upcoming):
        if len(ids) >= PREFETCH_ITEMS:
            break
        if pkg.type == C.TYPE_ITEM and pkg.handle not in skipped \
                and not _unchanged(tx, pkg.id, options):
            ids.append(pkg.id)
    cache.clear()
    if ids:
        cache.update(_models(tx, ids, virtual))
