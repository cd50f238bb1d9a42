"""Helpers of the packager tests: export/ingest through the CLI, zips, small test hierarchies.

Import as ``from helpers.packager import ...`` (``tests/`` is on ``sys.path``, see
``helpers/__init__.py``).

- ``packager`` / ``export`` / ``ingest``: ``aipsync packager ...`` in-process with its exit code
  checked (docs/style.md P4).
- ``zips`` / ``manifest_of`` / ``folder_listing``: what an export wrote, byte for byte.
- ``fixed_clock`` / ``FIXED_NOW``: a repository clock that never moves, so that two
  repositories built with the same calls hold the same last-modified times.
- ``build_dspace_tree``: the hierarchy of DSpace's own ``ITDSpaceAIP`` tests (top community,
  child, grandchild, two collections, four items, one of them mapped), built through the
  library API as an administrator would.
- ``seed``: the ``repo seed`` content with small defaults.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aip import constants as C
from aip.model import Action, MetadataValue, ResourcePolicy
from aip.repository import auth, objects
from aip.repository import seed as seedmod
from aip.repository.store import Tx
from helpers import ADMIN, SITE, CliResult, RepoLocation, run_cli

#: The time every ``fixed_clock`` repository lives at.
FIXED_NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def fixed_clock(when: dt.datetime = FIXED_NOW) -> Callable[[], dt.datetime]:
    return lambda: when


# -- the CLI --------------------------------------------------------------------------------------
def packager(location: RepoLocation, *args: str, expect: int) -> CliResult:
    """``aipsync <location> packager ARGS`` in-process, its exit code checked."""
    return run_cli(*location.argv, "packager", *args, expect=expect)


def export(location: RepoLocation, target: Path, handle: str = SITE, *options: str,
           recursive: bool = True, eperson: str = ADMIN, expect: int = 0) -> CliResult:
    """``packager -d [-a] -t AIP -e EPERSON -i HANDLE [-o OPT]... TARGET``."""
    argv = ["-d", *(["-a"] if recursive else []), "-t", "AIP", "-e", eperson, "-i", handle]
    for option in options:
        argv += ["-o", option]
    return packager(location, *argv, str(target), expect=expect)


def ingest(location: RepoLocation, package: Path, *flags: str, eperson: str = ADMIN,
           expect: int = 0) -> CliResult:
    """``packager FLAGS -t AIP -e EPERSON -u PACKAGE`` (flags such as ``-r -a -f``)."""
    return packager(location, *flags, "-t", "AIP", "-e", eperson, "-u", str(package),
                    expect=expect)


# -- packages -------------------------------------------------------------------------------------
def zips(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (not recursive) by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def folder_listing(folder: Path) -> set[str]:
    """Every name in ``folder``, hidden and temporary ones included."""
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def manifest_of(package: Path | bytes) -> bytes:
    """The ``mets.xml`` entry of a zip package (path or bytes)."""
    src = io.BytesIO(package) if isinstance(package, bytes) else package
    with zipfile.ZipFile(src) as zf:
        return zf.read(C.MANIFEST_NAME)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def rewrite_zip(src: Path, dst: Path, change: Callable[[str, bytes], tuple[str, bytes] | None],
                *, extra: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None) -> Path:
    """Copy a zip entry by entry through ``change(name, data)`` (None drops the entry)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            result = change(info.filename, zin.read(info))
            if result is not None:
                zout.writestr(result[0], result[1])
        for name, data in extra or []:
            zout.writestr(name, data)
    return dst


# -- repositories ---------------------------------------------------------------------------------
@contextmanager
def write_tx(location: RepoLocation, clock: Callable[[], dt.datetime] | None = None
             ) -> Iterator[Tx]:
    """One write transaction on ``location`` (committed when the block ends)."""
    repo = location.open(clock=clock) if clock else location.open()
    try:
        with repo.transaction() as tx:
            yield tx
    finally:
        repo.close()


def seed(location: RepoLocation, *, items: int = 12, communities: int = 1, depth: int = 2,
         collections: int = 4, bitstreams: int = 1, bitstream_size: int = 600,
         seed_value: int = 3) -> seedmod.SeedResult:
    """``repo seed`` content (library call), small by default."""
    repo = location.open()
    try:
        return seedmod.seed(repo, seedmod.SeedOptions(
            communities=communities, depth=depth, collections=collections, items=items,
            bitstreams=bitstreams, bitstream_size=bitstream_size, seed=seed_value))
    finally:
        repo.close()


def title(text: str) -> list[MetadataValue]:
    return [MetadataValue("dc", "title", None, text)]


ANON_READS = (Action.READ, Action.DEFAULT_ITEM_READ, Action.DEFAULT_BITSTREAM_READ)


def new_collection(tx: Tx, parent_handle: str, name: str) -> str:
    """A collection whose default policies let Anonymous read (DSpace's defaults)."""
    cid, handle = objects.create_collection(
        tx, parent_ids=[objects.community_id(tx, parent_handle)], metadata_values=title(name))
    for action in ANON_READS:
        auth.add_policy(tx, C.TYPE_COLLECTION, cid, ResourcePolicy(action,
                                                                   group=C.GROUP_ANONYMOUS))
    return handle


def new_community(tx: Tx, parent_handle: str | None, name: str) -> str:
    parent = objects.community_id(tx, parent_handle) if parent_handle else None
    cid, handle = objects.create_community(tx, parent_id=parent, metadata_values=title(name))
    auth.add_policy(tx, C.TYPE_COMMUNITY, cid, ResourcePolicy(Action.READ,
                                                              group=C.GROUP_ANONYMOUS))
    return handle


def new_item(tx: Tx, collection_handle: str, name: str, files: dict[str, bytes] | None = None,
             submitter: str | None = ADMIN) -> str:
    """An installed item (DSpace's workspace item + InstallItem) with ORIGINAL files."""
    coll = objects.collection_id(tx, collection_handle)
    who = auth.require_eperson(tx, submitter).id if submitter else None
    iid, _ = objects.create_item(tx, collection_id=coll, submitter_id=who, mint_handle=False,
                                 in_archive=False)
    objects.add_metadata(tx, C.TYPE_ITEM, iid, title(name))
    for fname, data in (files or {}).items():
        objects.add_bitstream(tx, iid, C.BUNDLE_ORIGINAL, io.BytesIO(data), name=fname)
    return objects.install_item(tx, iid)


@dataclass(frozen=True)
class DSpaceTree:
    """Handles of the ``ITDSpaceAIP`` hierarchy."""

    top: str
    child: str
    grandchild: str
    grandchild_collection: str     # "Grandchild Collection", under child
    greatgrandchild_collection: str  # under grandchild
    item: str                      # "Grandchild Collection Item #1", with a bitstream
    mapped_item: str               # owned by grandchild_collection, mapped into the other
    item3: str
    item4: str

    def all_handles(self) -> list[str]:
        return [self.top, self.child, self.grandchild, self.grandchild_collection,
                self.greatgrandchild_collection, self.item, self.mapped_item, self.item3,
                self.item4]


TEST_BITSTREAM = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def build_dspace_tree(location: RepoLocation,
                      clock: Callable[[], dt.datetime] | None = None) -> DSpaceTree:
    """DSpace's ``ITDSpaceAIP.setUpClass`` hierarchy::

        Top Community
          Child Community
            Grandchild Community
              GreatGrandchild Collection: Item #1, Item #2, Mapped Item (mapped)
            Grandchild Collection: Item #1 (with "Test Bitstream"), Mapped Item (owner)
    """
    with write_tx(location, clock) as tx:
        top = new_community(tx, None, "Top Community")
        child = new_community(tx, top, "Child Community")
        grandchild = new_community(tx, child, "Grandchild Community")
        gc_coll = new_collection(tx, child, "Grandchild Collection")
        ggc_coll = new_collection(tx, grandchild, "GreatGrandchild Collection")
        item = new_item(tx, gc_coll, "Grandchild Collection Item #1",
                        {"Test Bitstream": TEST_BITSTREAM})
        mapped = new_item(tx, gc_coll, "Mapped Item")
        objects.map_item(tx, objects.item_id(tx, mapped), objects.collection_id(tx, ggc_coll))
        item3 = new_item(tx, ggc_coll, "GreatGrandchild Collection Item #1")
        item4 = new_item(tx, ggc_coll, "GreatGrandchild Collection Item #2")
    return DSpaceTree(top, child, grandchild, gc_coll, ggc_coll, item, mapped, item3, item4)


def delete(location: RepoLocation, handle: str) -> None:
    with write_tx(location) as tx:
        objects.delete_object(tx, handle)


def resolves(location: RepoLocation, handle: str) -> bool:
    from aip.repository import handles

    with location.opened() as repo, repo.transaction(write=False) as tx:
        return handles.resolve(tx, handle) is not None




# -- manifests ------------------------------------------------------------------------------------
M = f"{{{C.NS_METS}}}"
XLINK_HREF = f"{{{C.NS_XLINK}}}href"


@dataclass(frozen=True)
class ManifestFile:
    """A ``mets:file`` as the manifest states it."""

    group: str          # the fileGrp USE (bundle name, LOGO...)
    href: str
    size: int
    checksum: str | None
    checksum_type: str | None


def manifest_files(manifest: bytes) -> list[ManifestFile]:
    from lxml import etree

    root = etree.fromstring(manifest)
    out = []
    for grp in root.iter(f"{M}fileGrp"):
        for f in grp.findall(f"{M}file"):
            loc = f.find(f"{M}FLocat")
            assert loc is not None
            out.append(ManifestFile(grp.get("USE") or "", loc.get(XLINK_HREF) or "",
                                    int(f.get("SIZE") or -1), f.get("CHECKSUM"),
                                    f.get("CHECKSUMTYPE")))
    return out


def manifest_refs(manifest: bytes) -> set[str]:
    """Every local name the manifest points at (FLocat and mdRef hrefs)."""
    from lxml import etree

    root = etree.fromstring(manifest)
    return {el.get(XLINK_HREF) or "" for el in root.iter(f"{M}FLocat", f"{M}mdRef")}


def manifest_attr(manifest: bytes, name: str) -> str | None:
    from lxml import etree

    return etree.fromstring(manifest).get(name)


def child_hrefs(manifest: bytes) -> list[str]:
    """The child package pointers (``mptr`` of the main structMap's child divs)."""
    from lxml import etree

    root = etree.fromstring(manifest)
    smap = root.find(f"{M}structMap")
    assert smap is not None
    return [m.get(XLINK_HREF) or "" for m in smap.iter(f"{M}mptr")
            if m.get("LOCTYPE") == C.LOCTYPE_URL]
