"""Import of DSpace's Simple Archive Format (``aipsync repo import-saf``).

Owns: reading an SAF folder (one sub-folder per item with ``dublin_core.xml``,
``metadata_<schema>.xml``, ``contents``, optional ``handle`` and ``collections``) and
installing each item into a collection, all in the caller's transaction: one bad item and
nothing is imported.  The XML is parsed with entities, DTDs and the network off.

``contents`` lines: ``<file>`` then tab-separated options ``bundle:<NAME>``,
``description:<text>``, ``primary:true``, ``permissions:-r|-w '<group>'`` (DSpace's syntax).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from aip import constants as C
from aip.errors import InputFileError, InvalidValueError
from aip.model import Action, MetadataValue, ResourcePolicy, check_handle
from aip.repository import auth, handles, objects, registry
from aip.repository.store import Tx

_PERMISSION_RE = re.compile(r"^-(?P<mode>[rw])\s+'(?P<group>[^']+)'$")


@dataclass
class SafFile:
    name: str
    bundle: str = C.BUNDLE_ORIGINAL
    description: str | None = None
    primary: bool = False
    permissions: list[tuple[Action, str]] = field(default_factory=list)


@dataclass
class SafItem:
    folder: Path
    metadata: list[MetadataValue]
    files: list[SafFile]
    handle: str | None
    collections: list[str]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def read_metadata_file(path: Path) -> list[MetadataValue]:
    """Values of one ``dublin_core.xml`` / ``metadata_<schema>.xml``."""
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InputFileError(path=str(path), detail="DTDs and entities are not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise InputFileError(path=str(path), detail=f"not well-formed XML: {exc}") from exc
    if root.tag != "dublin_core":
        raise InputFileError(path=str(path), detail="root element must be <dublin_core>")
    schema = root.get("schema", "dc")
    values = []
    for el in root.iter("dcvalue"):
        element = el.get("element")
        if not element:
            raise InputFileError(path=str(path), detail="<dcvalue> without element")
        qualifier = el.get("qualifier")
        if qualifier in (None, "", "none"):
            qualifier = None
        language = el.get("language")
        values.append(MetadataValue(schema, element, qualifier, el.text or "",
                                    language or None))
    return values


def _parse_contents(path: Path) -> list[SafFile]:
    files = []
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        entry = SafFile(name=parts[0].strip())
        for option in parts[1:]:
            key, _, value = option.partition(":")
            key = key.strip()
            if key == "bundle":
                entry.bundle = value.strip()
            elif key == "description":
                entry.description = value
            elif key == "primary":
                entry.primary = value.strip().lower() == "true"
            elif key == "permissions":
                match = _PERMISSION_RE.match(value.strip())
                if not match:
                    raise InputFileError(path=f"{path}:{lineno}",
                                         detail=f"bad permissions {value!r}")
                action = Action.READ if match.group("mode") == "r" else Action.WRITE
                entry.permissions.append((action, match.group("group")))
            elif key:
                raise InputFileError(path=f"{path}:{lineno}", detail=f"unknown option {key!r}")
        if "/" in entry.name or entry.name.startswith(".") or not entry.name:
            raise InputFileError(path=f"{path}:{lineno}",
                                 detail=f"file names must be plain names: {entry.name!r}")
        files.append(entry)
    return files


def read_item(folder: Path) -> SafItem:
    dc = folder / "dublin_core.xml"
    if not dc.is_file():
        raise InputFileError(path=str(folder), detail="no dublin_core.xml")
    values = read_metadata_file(dc)
    for extra in sorted(folder.glob("metadata_*.xml")):
        values.extend(read_metadata_file(extra))
    contents = folder / "contents"
    files = _parse_contents(contents) if contents.is_file() else []
    for f in files:
        if not (folder / f.name).is_file():
            raise InputFileError(path=str(folder / f.name), detail="listed in contents, missing")
    handle = None
    if (folder / "handle").is_file():
        handle = check_handle((folder / "handle").read_text("utf-8").strip())
    colls = []
    if (folder / "collections").is_file():
        colls = [ln.strip() for ln in (folder / "collections").read_text("utf-8").splitlines()
                 if ln.strip()]
    return SafItem(folder=folder, metadata=values, files=files, handle=handle, collections=colls)


def import_saf(tx: Tx, collection_handle: str, source: Path,
               submitter_id: int | None = None) -> list[str]:
    """Import every item folder of ``source`` into a collection; returns the new handles."""
    if not source.is_dir():
        raise InputFileError(path=str(source), detail="not a folder")
    coll_id = objects.collection_id(tx, collection_handle)
    items = [read_item(p) for p in sorted(source.iterdir()) if p.is_dir()]
    if not items:
        raise InputFileError(path=str(source), detail="no item folders")
    made = []
    for saf in items:
        owner = coll_id
        extra: list[int] = []
        if saf.collections:
            ids = [objects.collection_id(tx, h) for h in saf.collections]
            owner, extra = ids[0], ids[1:]
        titles = [v for v in saf.metadata if (v.schema, v.element, v.qualifier) ==
                  ("dc", "title", None)]
        if not titles:
            raise InvalidValueError(
                f"{saf.folder}: Item cannot be created without the required \"title\" DC "
                "metadata.")
        registry.ensure_fields(tx, ((v.schema, v.element, v.qualifier) for v in saf.metadata),
                               create=False)
        iid, _ = objects.create_item(tx, collection_id=owner, submitter_id=submitter_id,
                                     mint_handle=False, in_archive=False)
        objects.add_metadata(tx, C.TYPE_ITEM, iid, saf.metadata)
        for f in saf.files:
            with open(saf.folder / f.name, "rb") as src:
                bsid = objects.add_bitstream(tx, iid, f.bundle, src, name=f.name,
                                             description=f.description)
            if f.primary:
                bid = objects.bundle_id(tx, iid, f.bundle, create=False)
                assert bid is not None
                objects.set_primary(tx, bid, bsid)
            for action, group in f.permissions:
                auth.add_policy(tx, C.TYPE_BITSTREAM, bsid, ResourcePolicy(action, group=group))
        if saf.handle is not None and handles.resolve(tx, saf.handle) is not None:
            raise InvalidValueError(f"{saf.folder}: handle {saf.handle} is already in use")
        handle = objects.install_item(tx, iid, handle=saf.handle)
        for other in extra:
            objects.map_item(tx, iid, other)
        made.append(handle)
    return made
