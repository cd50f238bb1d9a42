"""A built package -> its bytes on disk: the one zip writer, and the export's worker task.

Owns: writing a package deterministically (fixed entry order: ``metadata_<n>`` streams,
``mets.xml``, bitstreams; fixed entry times: the item's last-modified time for item AIPs, a
constant otherwise, in UTC; deflate at level 6; MS-DOS host), streaming bitstreams in blocks
with their MD5 and size checked on the way (a corrupted assetstore file is caught, not
packaged), under a temp name beside the final one; validating a built manifest; and the
task a worker process runs for a batch of item packages (build, validate, write).

The export's worker processes import this module (``aip.packager.worker``), so it keeps to
what they need: no database layer, no logging set-up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from aip import constants as C
from aip.errors import AssetstoreCorruptError, OutputError, collect
from aip.files import BatchWriter
from aip.mets.validate import (
    built_structure_ok,
    mets_schema,
    mets_schema_problems,
    structural_problems,
)
from aip.model import Bitstream, Item
from aip.packager.manifest import BuildContext, BuiltPackage, PackageEntry, build_item_package
from aip.packager.options import BundleFilter
from aip.repository.assetstore import Assetstore

COPY_BLOCK = 1024 * 1024
DOS_EPOCH = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)

#: A package written under a temp name: (temp path, size, bitstream bytes copied).
Written = tuple[str, int, int]


def _dos_time(when: dt.datetime | None) -> tuple[int, int, int, int, int, int]:
    if when is None:
        return C.ZIP_FIXED_TIME
    when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
    when = max(when, DOS_EPOCH)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def _zipinfo(name: str, when: tuple[int, int, int, int, int, int], size: int
             ) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0  # MS-DOS, as java.util.zip writes: same bytes on every host
    info.external_attr = 0
    info.file_size = size
    return info


def _copy_entry(store: Assetstore, zf: zipfile.ZipFile, entry: PackageEntry,
                when: tuple[int, int, int, int, int, int], handle: str) -> int:
    bs = entry.bitstream
    info = _zipinfo(entry.name, when, bs.size)
    if bs.key is None or bs.size == 0:
        zf.writestr(info, b"", compress_type=zipfile.ZIP_DEFLATED)
        return 0
    # Only MD5 and size are checked here, so only MD5 is computed (not Hasher's SHA-256 too).
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    with store.open(bs.key) as src, \
            zf.open(info, "w", force_zip64=bs.size > zipfile.ZIP64_LIMIT) as dst:
        while block := src.read(COPY_BLOCK):
            md5.update(block)
            size += len(block)
            dst.write(block)
    found = md5.hexdigest()
    if size != bs.size or (bs.md5 is not None and found != bs.md5):
        raise AssetstoreCorruptError(
            what=f"bitstream {entry.name} of {handle} (assetstore key {bs.key})",
            algorithm="MD5/size", expected=f"{bs.md5}/{bs.size}", found=f"{found}/{size}")
    return size


def write_zip(store: Assetstore, built: BuiltPackage, handle: IO[bytes]) -> int:
    """Write a package's zip into an open (seekable) file; returns bitstream bytes copied.

    Entry order, times and compression are fixed, so the same package gives the same bytes.
    """
    item_time = _dos_time(built.last_modified)
    fixed = C.ZIP_FIXED_TIME
    copied = 0
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED,
                         allowZip64=True) as zf:
        zf.comment = C.ZIP_COMMENT.encode("ascii")
        for entry in built.extra_entries:
            copied += _copy_entry(store, zf, entry, item_time if entry.item_time else fixed,
                                  built.handle)
        size = built.manifest_size()
        info = _zipinfo(C.MANIFEST_NAME,
                        item_time if built.last_modified is not None else fixed, size)
        if built.blocks:
            # A large container's manifest, written a piece at a time (never whole).
            with zf.open(info, "w", force_zip64=size > zipfile.ZIP64_LIMIT) as dst:
                for chunk in built.manifest_chunks():
                    dst.write(chunk)
        else:
            zf.writestr(info, built.head, compress_type=zipfile.ZIP_DEFLATED)
        for entry in built.entries:
            copied += _copy_entry(store, zf, entry, item_time if entry.item_time else fixed,
                                  built.handle)
    return copied


def write_temp(store: Assetstore, built: BuiltPackage, path: Path,
               manifest_only: bool) -> Written:
    """Write one package under a temp name beside ``path``: (temp path, size, bitstream
    bytes copied).  The export takes it into its batch in plan order (so the batch gives
    names parents first); on an error no temp file is left."""
    writer = BatchWriter()
    try:
        with writer.create(path) as out:
            if manifest_only:
                for chunk in built.manifest_chunks():
                    out.write(chunk)
                copied = 0
            else:
                copied = write_zip(store, built, out)
            size = out.tell()
    except OSError as exc:
        raise OutputError(path=str(path), detail=exc.strerror or str(exc)) from exc
    tmp, _ = writer.pending[-1]
    return str(tmp), size, copied


def validate_built(built: BuiltPackage, path: Path) -> None:
    """Raise ``PackageValidationError`` (naming ``path``) if the manifest has errors: what
    ``validate_manifest`` finds (METS schema, IDs and references), its structure part asked
    of the builder's nodes first and of the tree only when they show a problem."""
    problems = mets_schema_problems(built.root)
    if built.nodes is None or not built_structure_ok(built.nodes):
        problems.extend(structural_problems(built.root))
    collect(problems, path=str(path))


@dataclass(frozen=True, slots=True)
class AssetReader:
    """Reads small streams (licences for manifest-only packages); picklable for workers."""

    root: Path

    def __call__(self, bs: Bitstream) -> bytes:
        if bs.key is None:
            return b""
        with Assetstore(self.root).open(bs.key) as src:
            return src.read()


# -- the worker processes' side ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ItemTask:
    """Everything a worker process needs to build, validate and write some item packages."""

    ctx: BuildContext
    include: BundleFilter | None
    validate: bool
    manifest_only: bool
    assetstore: Path
    items: tuple[Item, ...] = ()
    paths: tuple[Path, ...] = ()


def work_items(task: ItemTask) -> list[Written]:
    """Build, validate and write item packages under temp names (in a worker process).

    Returns (temp path, size, bitstream bytes copied) of each, in order; the parent renames
    them in its batch.  On an error, the temp files this task wrote are removed.
    """
    ctx = replace(task.ctx, stream_reader=AssetReader(task.assetstore))
    store = Assetstore(task.assetstore)
    done: list[Written] = []
    try:
        for item, path in zip(task.items, task.paths, strict=True):
            built = build_item_package(item, ctx, task.include)
            if task.validate:
                validate_built(built, path)
            done.append(write_temp(store, built, path, task.manifest_only))
    except BaseException:
        for tmp, _, _ in done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return done


def warm_up() -> None:
    """A worker's first task: compile the METS schema before the first package needs it."""
    mets_schema()
