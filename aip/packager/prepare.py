"""Packages read ahead of a recursive ingest, on worker processes.

Owns: the checks of a package's files against its manifest that need only the zip's
directory (``check_files``); the worker task (``prepare``: open the zip, parse the manifest,
check the files and, unless told to parse only, stream the bitstreams into the assetstore
with their digests computed); and the ``Prefetcher`` the ingester drives, which keeps the
workers a few packages ahead of it in the order it visits them.

The ingester still decides everything, package by package in tree order, in its one
transaction: a prepared package only spares it the parsing, inflating and hashing.  Errors
of a package are raised when the ingester reaches it (as they would be without workers), and
files stored ahead that end up unused (a package skipped or refused) are deleted.  Worker
processes append the keys of the files they write to the transaction's journal before the
files exist (``assetstore.KeyAppender``), so a crash leaves nothing the next open cannot
remove.

The worker processes import this module (``aip.packager.worker``), so it keeps to what they
need: no database layer, no logging set-up.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aip import constants as C
from aip.entities.config import VirtualConfig
from aip.errors import ChecksumMismatchError, MissingFileError
from aip.model import Bitstream
from aip.packager.config import IngestConfig
from aip.packager.manifest import ParsedPackage, parse_package
from aip.packager.pool import (
    PARALLEL_MIN_ITEMS,
    WorkerPool,
    end_pool,
    process_pool,
    worker_count,
)
from aip.packager.reader import PackageZip
from aip.repository.assetstore import Assetstore, Journal, KeyAppender, StoredFile

#: Packages prepared ahead of the ingester, per worker process (bounds the memory of parsed
#: packages waiting, and the files stored ahead of their rows).
AHEAD_PER_WORKER = 32
#: Packages read in one task of a worker (one round trip per batch instead of per package).
PACKAGES_PER_TASK = 8
#: Packages named as containers' AIPs are named are left to the ingester: few, and a large
#: collection's parse would leave a worker at its high-water mark for the rest of the run
#: and come back as tens of thousands of pickled child pointers.
_CONTAINER_PREFIXES = tuple(f"{t}@" for t in (C.TYPE_SITE, C.TYPE_COMMUNITY, C.TYPE_COLLECTION))


class Entries(Protocol):
    """A package's zip entries as far as the checks need them."""

    def has(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...


def check_files(parsed: ParsedPackage, package: Entries, path: Path) -> set[str]:
    """Every file the manifest names must be in the zip, with the size the manifest gives it
    (cheap checks from the zip directory, before any write; the bytes themselves are checked
    while they are streamed in).

    Returns the bitstream entries to leave out: in a package DSpace wrote, a zero-length
    entry whose manifest gives a size stands for a bitstream that was missing from DSpace's
    assetstore (DSpace 7.6.7, 8.4, 9.3 and 10.0 write one and go on,
    ``AbstractMETSDisseminator``; their ingester leaves it out, ``AbstractMETSIngester``).
    In a package aipsync wrote such an entry is damage, and refused like any size mismatch.
    """
    for ref in parsed.files:
        if not package.has(ref.entry):
            raise MissingFileError(path=str(path), entry=ref.entry)
    dropped: set[str] = set()
    for ref in parsed.files:
        if ref.size is not None and ref.size >= 0 and package.size(ref.entry) != ref.size:
            if (package.size(ref.entry) == 0 and ref.sequence_id is not None
                    and parsed.creator != C.CREATOR_NAME):
                dropped.add(ref.entry)
                continue
            raise ChecksumMismatchError(what=f"{path.name}: {ref.entry}", algorithm="size",
                                        expected=str(ref.size),
                                        found=str(package.size(ref.entry)))
    return dropped


def stored_bitstreams(parsed: ParsedPackage) -> Iterator[Bitstream]:
    """The bitstreams whose bytes an ingest of ``parsed`` stores: an item's files, or a
    container's logo."""
    if parsed.item is not None:
        for bundle in parsed.item.bundles:
            yield from bundle.bitstreams
    for container in (parsed.community, parsed.collection):
        if container is not None and container.logo is not None:
            yield container.logo


@dataclass(frozen=True, slots=True)
class PrepareTask:
    """How to read packages: the parse settings, and where to store bitstreams (None: parse
    only, the ingester stores them itself)."""

    config: IngestConfig
    dmd: str | None
    virtual: VirtualConfig
    assetstore: Path | None = None
    journal: Path | None = None


@dataclass(slots=True)
class PreparedPackage:
    """A package read ahead: its parsed manifest, the sizes of the entries the manifest
    names (those the zip has), and the bitstreams already stored, by entry, until taken."""

    path: Path
    parsed: ParsedPackage
    sizes: dict[str, int]
    stored: dict[str, StoredFile] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.sizes

    def size(self, name: str) -> int:
        return self.sizes[name]

    def take(self, name: str) -> StoredFile | None:
        """The stored file of entry ``name`` (once; None: not stored ahead)."""
        return self.stored.pop(name, None)


def prepare(task: PrepareTask, path: Path) -> PreparedPackage:
    """Read the package at ``path`` (in a worker process).

    Raises what reading, parsing or checking the package raises; the files it stored
    before are deleted then.
    """
    with PackageZip(path) as package:
        parsed = parse_package(package.read_manifest(), config=task.config, dmd=task.dmd,
                               path=str(path), virtual=task.virtual)
        sizes = {ref.entry: package.size(ref.entry) for ref in parsed.files
                 if package.has(ref.entry)}
        prepared = PreparedPackage(path=path, parsed=parsed, sizes=sizes)
        if task.assetstore is None or task.journal is None:
            return prepared
        dropped = check_files(parsed, package, path)
        store = _assetstore(task.assetstore)
        journal = KeyAppender(task.journal)
        try:
            for bs in stored_bitstreams(parsed):
                if bs.key is None or bs.key in dropped or bs.key in prepared.stored \
                        or not package.has(bs.key):
                    continue
                with package.open(bs.key) as src:
                    prepared.stored[bs.key] = store.write(src, journal)
        except BaseException:
            store.delete(s.key for s in prepared.stored.values())
            raise
        finally:
            journal.close()
    return prepared


@functools.lru_cache(maxsize=1)
def _assetstore(root: Path) -> Assetstore:
    """The worker's one ``Assetstore`` at ``root``: the files it stores in a row share folders
    (``Assetstore.new_key``; one per package made a new folder pair for nearly every file)."""
    return Assetstore(root)


def prepare_many(task: PrepareTask, paths: Sequence[Path]
                 ) -> list[PreparedPackage | BaseException]:
    """``prepare`` for each of ``paths`` (one task, one round trip to a worker): each one's
    result, or the error it met, which the ingester raises when it reaches that package."""
    done: list[PreparedPackage | BaseException] = []
    for path in paths:
        try:
            done.append(prepare(task, path))
        except Exception as exc:  # handed back, raised by the ingester
            done.append(exc)
    return done


def warm_up() -> None:
    """A worker's first task: the imports are done (the worker's set-up); nothing else."""


class Prefetcher:
    """Keeps worker processes a few packages ahead of the ingester.

    The ingester says which packages it will visit next (``expect``, a parent's children,
    before it visits them: they go first, as a depth-first visit takes them) and takes each
    one when it reaches it (``take``; None: not read ahead, read it yourself; so is every
    package named as a container's AIP, ``_CONTAINER_PREFIXES``).  Workers start
    when ``PARALLEL_MIN_ITEMS`` packages are expected at once (a small tree is not worth
    them).  ``close`` ends the workers and deletes every file stored ahead and not used.
    """

    def __init__(self, task: PrepareTask, *, workers: int, journal: Journal,
                 assetstore: Assetstore, wanted: Callable[[Path], bool]) -> None:
        self._task = task
        self._requested = workers
        self._journal = journal
        self._assetstore = assetstore
        self._wanted = wanted
        #: the packages expected, as a stack of iterators (the newest first: a depth-first
        #: visit takes a parent's children before its siblings), and how many are left
        self._pending: list[Iterator[Path]] = []
        self._queued = 0
        #: package -> the future of its task, and its place in the task's results
        self._futures: dict[Path, tuple[Future[list[PreparedPackage | BaseException]], int]] = {}
        self._pool: WorkerPool | None = None
        self._ahead = 0
        self._unused: list[str] = []

    @property
    def stores(self) -> bool:
        """Whether the workers store the bitstreams (else they only parse)."""
        return self._task.assetstore is not None

    def expect(self, paths: Iterable[Path], count: int) -> None:
        """The ``count`` packages the ingester visits next, in its order (taken from
        ``paths`` only as the workers get to them: a collection of 100,000 items is not
        100,000 Path objects at once)."""
        self._pending.append(iter(paths))
        self._queued += count
        if self._pool is None and self._queued >= PARALLEL_MIN_ITEMS:
            self._start()
        self._fill()

    def _start(self) -> None:
        workers = worker_count(self._requested, self._queued)
        if workers <= 1:
            self._requested = 1  # never: the ingester reads every package itself
            return
        if self._task.assetstore is not None:
            self._task = PrepareTask(config=self._task.config, dmd=self._task.dmd,
                                     virtual=self._task.virtual,
                                     assetstore=self._assetstore.root,
                                     journal=self._journal.open())
        self._pool = process_pool(workers, preload=["aip.packager.prepare"], warm_up=warm_up)
        self._ahead = AHEAD_PER_WORKER * workers

    def _fill(self) -> None:
        if self._pool is None:
            return
        while self._queued > 0 and len(self._futures) < self._ahead:
            batch: list[Path] = []
            while len(batch) < PACKAGES_PER_TASK:
                path = self._next_expected()
                if path is None:
                    break
                if path not in self._futures and path not in batch and self._wanted(path) \
                        and not path.name.startswith(_CONTAINER_PREFIXES):
                    batch.append(path)
            if not batch:
                continue
            future = self._pool.submit(prepare_many, self._task, batch)
            for index, path in enumerate(batch):
                self._futures[path] = (future, index)

    def _next_expected(self) -> Path | None:
        while self._pending:
            path = next(self._pending[-1], None)
            if path is not None:
                self._queued -= 1
                return path
            self._pending.pop()
        self._queued = 0
        return None

    def take(self, path: Path) -> PreparedPackage | None:
        """The package at ``path`` read ahead (its stored files now the transaction's), or
        None.  Raises what reading it raised."""
        found = self._futures.pop(path, None)
        if found is None:
            return None
        future, index = found
        try:
            prepared = future.result()[index]
        finally:
            self._fill()
        if isinstance(prepared, BaseException):
            raise prepared
        self._journal.adopt(s.key for s in prepared.stored.values())
        return prepared

    def release(self, prepared: PreparedPackage) -> None:
        """The ingester is done with ``prepared``: its files not taken are unused."""
        self._unused.extend(s.key for s in prepared.stored.values())
        prepared.stored.clear()

    def close(self, *, failed: bool) -> None:
        """End the workers; delete the files stored ahead and not used (after a failure:
        every file a worker wrote, those of a worker that died half-way included)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            end_pool(pool)
        leftovers: list[str] = []
        for future, index in self._futures.values():
            if future.cancelled():
                continue
            with contextlib.suppress(BaseException):
                prepared = future.result()[index]
                if isinstance(prepared, PreparedPackage):
                    leftovers += [s.key for s in prepared.stored.values()]
        self._futures.clear()
        self._pending.clear()
        self._queued = 0
        self._assetstore.delete(leftovers)
        if self._unused:
            self._assetstore.delete(self._unused)
            self._journal.forget(self._unused)
            self._unused = []
        if failed and pool is not None and self._task.journal is not None:
            self._assetstore.delete(self._journal.all_keys(), with_temp=True)
