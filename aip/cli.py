"""The ``repo`` and ``packager`` command groups; the only print() and exit-code mapping in aip.

Owns: argument parsing (argparse, DSpace's packager flags), opening the repository from
``--repo`` / ``AIPSYNC_REPO`` / ``--db-url`` + ``--assetstore``, calling the library, printing
results (each ``repo`` verb prints what it made as its last line), and turning exceptions
into one error line and the exit code of ``aip.constants``.  ``daemon.cli`` mounts these
groups next to the daemon's own commands.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import structlog

from aip import constants as C
from aip.errors import (
    AipError,
    ConfigError,
    InputFileError,
    InvalidValueError,
    MissingParentError,
    NotFoundError,
    RelationshipError,
    UsageError,
)
from aip.model import Action, EPerson, MetadataValue, ResourcePolicy, check_handle
from aip.progress import DEFAULT_INTERVAL_SECONDS


class _LazyModule(ModuleType):
    """A module imported on first attribute access."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._loaded: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._loaded is None:
            import importlib

            self._loaded = importlib.import_module(self.__name__)
        return getattr(self._loaded, attr)


def _lazy(name: str) -> Any:
    return _LazyModule(name)


if TYPE_CHECKING:
    from aip.repository import auth, handles, objects, registry, saf, store
    from aip.repository import dump as dumpmod
    from aip.repository import relationships as rels
    from aip.repository import seed as seedmod
    from aip.repository import setup as setupmod
    from aip.repository import tables as T
    from aip.repository.store import Repository, Tx
else:
    # The repository (SQLAlchemy and all) is imported on first use: commands that never
    # open it (mirror, status, --help) start in a fraction of the time.
    auth = _lazy("aip.repository.auth")
    handles = _lazy("aip.repository.handles")
    objects = _lazy("aip.repository.objects")
    registry = _lazy("aip.repository.registry")
    rels = _lazy("aip.repository.relationships")
    saf = _lazy("aip.repository.saf")
    dumpmod = _lazy("aip.repository.dump")
    seedmod = _lazy("aip.repository.seed")
    setupmod = _lazy("aip.repository.setup")
    store = _lazy("aip.repository.store")
    T = _lazy("aip.repository.tables")

log = structlog.get_logger(__name__)

Handler = Callable[[argparse.Namespace, TextIO], int]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` (exit 3) instead of exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


# =============================================================================================
# Repository access
# =============================================================================================
def add_repository_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("repository")
    group.add_argument("--repo", metavar="DIR", type=Path,
                       help=f"embedded repository folder (or set {C.ENV_REPO})")
    group.add_argument("--db-url", metavar="URL",
                       help="database URL (e.g. postgresql://user@host/db) instead of the "
                            "folder's SQLite file")
    group.add_argument("--assetstore", metavar="DIR", type=Path,
                       help="assetstore folder (with --db-url)")


def open_repository(args: argparse.Namespace, *, create: bool = False) -> Repository:
    folder = args.repo
    if folder is None and args.db_url is None and os.environ.get(C.ENV_REPO):
        folder = Path(os.environ[C.ENV_REPO])
    return store.Repository.open(folder, db_url=args.db_url, assetstore=args.assetstore,
                           create=create)


def _parse_date(text: str | None, flag: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag}: expected a date YYYY-MM-DD, got {text!r}") from None


def _target(tx: Tx, handle: str, *types: str) -> tuple[str, int]:
    return handles.require(tx, handle, *types)


def _parent(tx: Tx, handle: str, parent_type: str, what: str, key: str) -> int:
    """The id of the object a new one goes under.

    Raises:
        HandleFormatError: ``handle`` is not a handle.
        MissingParentError: nothing of ``parent_type`` has that handle (exit 43, not the
            41 of a wrong handle elsewhere: the issue's "missing parent").
    """
    found = handles.resolve(tx, check_handle(handle))
    if found is None or found[0] != parent_type:
        raise MissingParentError(parent=handle, what=what, key=key)
    return found[1]


# =============================================================================================
# repo verbs
# =============================================================================================
def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    repo = open_repository(args, create=True)
    try:
        handle = setupmod.initialise(
            repo, handle_prefix=args.handle_prefix, admin_email=args.admin,
            admin_password=args.admin_password, site_name=args.site_name,
            site_url=args.site_url)
    finally:
        repo.close()
    print(f"initialised {repo.location} with site {handle}, administrator {args.admin}",
          file=out)
    print(handle, file=out)
    return 0


def cmd_seed(args: argparse.Namespace, out: TextIO) -> int:
    opts = seedmod.SeedOptions(
        communities=args.communities, depth=args.depth, collections=args.collections,
        items=args.items, bitstreams=args.bitstreams, bitstream_size=args.bitstream_size,
        seed=args.seed, entities=args.entities)
    for name in ("communities", "depth", "collections", "items", "bitstreams"):
        if getattr(opts, name) < (0 if name in ("items", "bitstreams") else 1):
            raise UsageError(f"--{name} must be positive")
    if opts.bitstream_size < 1:
        raise UsageError("--bitstream-size must be at least 1")
    repo = open_repository(args)
    try:
        with show_progress(args):
            result = seedmod.seed(repo, opts, progress=lambda m: log.info("seed.progress",
                                                                          detail=m))
    finally:
        repo.close()
    print(f"seeded {result.communities} communities, {result.collections} collections, "
          f"{result.items} items ({result.withdrawn} withdrawn, {result.mapped} mapped), "
          f"{result.bitstreams} bitstreams, {result.epeople} e-people, {result.groups} groups, "
          f"{result.submissions} in-progress submissions"
          + (f", {result.relationships} relationships" if opts.entities else ""), file=out)
    print(f"{result.items} items", file=out)
    return 0


def _with_tx(args: argparse.Namespace, body: Callable[[Tx], str | list[str]],
             out: TextIO, *, write: bool = True) -> int:
    repo = open_repository(args)
    try:
        with repo.transaction(write=write) as tx:
            result = body(tx)
    finally:
        repo.close()
    for line in ([result] if isinstance(result, str) else result):
        print(line, file=out)
    return 0


def cmd_import_saf(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> list[str]:
        made = saf.import_saf(tx, args.collection, args.dir)
        return [f"imported {len(made)} items into {args.collection}", *made]
    return _with_tx(args, body, out)


def cmd_create_community(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        parent = None
        if args.parent:
            parent = _parent(tx, args.parent, C.TYPE_COMMUNITY, "community", args.name)
        cid, handle = objects.create_community(
            tx, parent_id=parent,
            metadata_values=[MetadataValue("dc", "title", None, args.name)])
        objects.add_default_policies(tx, C.TYPE_COMMUNITY, cid)
        return handle
    return _with_tx(args, body, out)


def cmd_create_collection(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        parent = _parent(tx, args.parent, C.TYPE_COMMUNITY, "collection", args.name)
        entity = rels.require_entity_type(tx, args.entity_type) if args.entity_type else None
        cid, handle = objects.create_collection(
            tx, parent_ids=[parent],
            metadata_values=[MetadataValue("dc", "title", None, args.name)])
        objects.add_default_policies(tx, C.TYPE_COLLECTION, cid)
        if entity is not None:
            rels.set_collection_entity_type(tx, cid, entity)
        return handle
    return _with_tx(args, body, out)


def cmd_create_item(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        coll = _parent(tx, args.collection, C.TYPE_COLLECTION, "item", args.title)
        # A new item takes its collection's entity type unless told otherwise (DSpace 7:
        # a workspace item of a typed collection gets the collection's dspace.entity.type).
        entity = (rels.require_entity_type(tx, args.entity_type) if args.entity_type
                  else rels.collection_entity_type(tx, coll))
        submitter = auth.require_eperson(tx, args.submitter).id if args.submitter else None
        iid, _ = objects.create_item(tx, collection_id=coll, submitter_id=submitter,
                                     mint_handle=False, in_archive=False)
        values = [MetadataValue("dc", "title", None, args.title, args.lang)]
        if entity is not None:
            values.append(MetadataValue(*C.ENTITY_TYPE_FIELD, entity))
        objects.add_metadata(tx, C.TYPE_ITEM, iid, values)
        return objects.install_item(tx, iid)
    return _with_tx(args, body, out)


def cmd_initialize_entities(args: argparse.Namespace, out: TextIO) -> int:
    from aip.entities.config import parse_virtual_metadata
    from aip.entities.types import parse_relationship_types

    # Both files are read and checked before the repository is touched: a bad file
    # changes nothing.
    if args.file is not None:
        types = parse_relationship_types(_read_file(args.file), str(args.file))
    else:
        types = rels.default_types()
    config = None
    if args.virtual_metadata is not None:
        config = parse_virtual_metadata(_read_file(args.virtual_metadata),
                                        str(args.virtual_metadata))

    def body(tx: Tx) -> list[str]:
        added = registry.install_entity_registry(tx)
        result = rels.load_types(tx, types)
        if config is not None:
            rels.set_virtual_config(tx, config)
        return [f"registry: {added} schemas and fields added",
                f"entity types: {result.entity_types} added, "
                f"{len(rels.entity_types(tx))} in all",
                f"relationship types: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged",
                *([f"virtual metadata: {len(config.mappings)} relationship names mapped"]
                  if config is not None else []),
                f"{len(rels.relationship_types(tx))} relationship types"]
    return _with_tx(args, body, out)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(path=str(path), detail=exc.strerror or str(exc)) from exc


def _related_items(tx: Tx, args: argparse.Namespace) -> tuple[int, int, int, Any]:
    """(left id, right id, type id, type) of ``relate``/``unrelate``'s arguments."""
    left = _target(tx, args.left, C.TYPE_ITEM)[1]
    right = _target(tx, args.right, C.TYPE_ITEM)[1]
    labels = rels.item_entity_types(tx, [left, right])
    for handle, iid in ((args.left, left), (args.right, right)):
        if labels[iid] is None:
            raise RelationshipError(f"item {handle} has no entity type (dspace.entity.type): "
                                    "only items of an entity type have relationships")
    tid, rtype = rels.find_type(tx, args.type, labels[left], labels[right])
    return left, right, tid, rtype


def cmd_relate(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        left, right, tid, rtype = _related_items(tx, args)
        rels.item_uuids(tx, [left, right])
        rels.make(tx, left_id=left, right_id=right, tid=tid, left_place=args.left_place,
                  right_place=args.right_place, leftward_value=args.leftward_value,
                  rightward_value=args.rightward_value, handles=(args.left, args.right))
        for iid in (left, right):  # both packages list it: both are re-exported
            objects.touch_item(tx, iid)
        return f"{args.left} {rtype.leftward} {args.right}"
    return _with_tx(args, body, out)


def cmd_unrelate(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        left, right, tid, rtype = _related_items(tx, args)
        rel_id = rels.find(tx, left, right, tid)
        if rel_id is None:
            raise NotFoundError(what=f"{rtype.describe()} relationship",
                                key=f"{args.left} -> {args.right}")
        rels.remove(tx, rel_id, copy_to_left=args.copy_virtual and rtype.copy_to_left,
                    copy_to_right=args.copy_virtual and rtype.copy_to_right)
        for iid in (left, right):
            objects.touch_item(tx, iid)
        return f"{args.left} {rtype.leftward} {args.right} removed"
    return _with_tx(args, body, out)


def cmd_add_bitstream(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.file
    if not path.is_file():
        raise InputFileError(path=str(path), detail="no such file")

    def body(tx: Tx) -> str:
        iid = _target(tx, args.handle, C.TYPE_ITEM)[1]
        name = args.name or path.name
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputFileError(path=str(path), detail=exc.strerror or str(exc)) from exc
        with src:
            bsid = objects.add_bitstream(tx, iid, args.bundle, src, name=name,
                                         description=args.description)
        if args.primary:
            bid = objects.bundle_id(tx, iid, args.bundle, create=False)
            assert bid is not None
            objects.set_primary(tx, bid, bsid)
        row = objects.bitstream_row(tx, bsid)
        coll = objects.item_row(tx, iid).owning_collection_id
        if coll is not None:
            objects.apply_default_read_policies(tx, iid, coll, tx.now.date())
        objects.touch_item(tx, iid)
        return f"{args.handle}/{args.bundle}/{row.sequence_id}"
    return _with_tx(args, body, out)


def cmd_set_metadata(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        obj_type, obj_id = _target(tx, args.handle, C.TYPE_COMMUNITY, C.TYPE_COLLECTION,
                                   C.TYPE_ITEM, C.TYPE_SITE)
        schema, element, qualifier = registry.parse_field_name(args.field)
        if obj_type == C.TYPE_SITE:
            if args.field == "dc.title":
                objects.update_site(tx, name=args.value)
                return str(args.handle)
            raise InvalidValueError("the site has only dc.title (its name)")
        if obj_type == C.TYPE_COLLECTION and args.field == ".".join(C.ENTITY_TYPE_FIELD):
            rels.set_collection_entity_type(
                tx, obj_id, rels.require_entity_type(tx, args.value) if args.value else None)
            return str(args.handle)
        if obj_type in (C.TYPE_COMMUNITY, C.TYPE_COLLECTION):
            objects.check_container_field(obj_type, args.field)
        values = [] if (args.value == "" and obj_type != C.TYPE_ITEM) else [
            MetadataValue(schema, element, qualifier, args.value, args.lang)]
        objects.replace_field(tx, obj_type, obj_id, args.field, values)
        if obj_type == C.TYPE_ITEM:
            objects.touch_item(tx, obj_id)
        return str(args.handle)
    return _with_tx(args, body, out)


def cmd_withdraw(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        objects.withdraw_item(tx, _target(tx, args.handle, C.TYPE_ITEM)[1])
        return str(args.handle)
    return _with_tx(args, body, out)


def cmd_reinstate(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        objects.reinstate_item(tx, _target(tx, args.handle, C.TYPE_ITEM)[1])
        return str(args.handle)
    return _with_tx(args, body, out)


def cmd_map_item(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        iid = _target(tx, args.item, C.TYPE_ITEM)[1]
        coll = _target(tx, args.collection, C.TYPE_COLLECTION)[1]
        if objects.item_row(tx, iid).owning_collection_id == coll:
            raise InvalidValueError(f"{args.item} is owned by {args.collection} already")
        if not objects.map_item(tx, iid, coll):
            raise InvalidValueError(f"{args.item} is mapped into {args.collection} already")
        objects.touch_item(tx, iid)
        return f"{args.item} -> {args.collection}"
    return _with_tx(args, body, out)


def cmd_delete(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        obj_type = objects.delete_object(tx, args.handle)
        return f"deleted {obj_type.lower()} {args.handle}"
    return _with_tx(args, body, out)


def cmd_create_eperson(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        pw = salt = digest = None
        if args.password:
            pw, salt, digest = auth.hash_password(args.password)
        auth.create_eperson(tx, EPerson(
            email=args.email, netid=args.netid, first_name=args.first, last_name=args.last,
            language=args.language, can_log_in=True, password_hash=pw, salt=salt,
            digest_algorithm=digest))
        return str(args.email).strip().lower()
    return _with_tx(args, body, out)


def cmd_create_group(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        auth.create_group(tx, args.name)
        return str(args.name)
    return _with_tx(args, body, out)


def cmd_add_member(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        gid = auth.require_group(tx, args.group_name)
        if args.eperson:
            auth.add_member(tx, gid, auth.require_eperson(tx, args.eperson).id)
            return f"{args.eperson} in {args.group_name}"
        auth.add_subgroup(tx, gid, auth.require_group(tx, args.group))
        return f"{args.group} in {args.group_name}"
    return _with_tx(args, body, out)


def _policy_target(tx: Tx, args: argparse.Namespace) -> tuple[str, int, int | None]:
    """(resource type, id, item id to touch) from a handle plus --bundle/--bitstream."""
    obj_type, obj_id = _target(tx, args.handle, C.TYPE_COMMUNITY, C.TYPE_COLLECTION,
                               C.TYPE_ITEM)
    if args.bundle is None and args.bitstream is None:
        return obj_type, obj_id, obj_id if obj_type == C.TYPE_ITEM else None
    if obj_type != C.TYPE_ITEM:
        raise UsageError("--bundle/--bitstream need an item handle")
    if args.bitstream is not None:
        bsid = tx.scalar(T.bitstream.select().with_only_columns(T.bitstream.c.id)
                         .join(T.bundle, T.bundle.c.id == T.bitstream.c.bundle_id)
                         .where(T.bundle.c.item_id == obj_id,
                                T.bitstream.c.sequence_id == args.bitstream))
        if bsid is None:
            raise NotFoundError(what="bitstream", key=f"{args.handle} #{args.bitstream}")
        return C.TYPE_BITSTREAM, int(bsid), obj_id
    bid = objects.bundle_id(tx, obj_id, args.bundle, create=False)
    if bid is None:
        raise NotFoundError(what="bundle", key=f"{args.handle} {args.bundle}")
    return C.TYPE_BUNDLE, bid, obj_id


def cmd_add_policy(args: argparse.Namespace, out: TextIO) -> int:
    try:
        action = Action.from_name(args.action)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    start = _parse_date(args.start_date, "--start-date")
    end = _parse_date(args.end_date, "--end-date")
    if start and end and end < start:
        raise UsageError("--end-date is before --start-date")

    def body(tx: Tx) -> str:
        rtype, rid, touch = _policy_target(tx, args)
        group = None
        if args.group:
            gid = auth.require_group(tx, args.group)
            group = auth.export_group_name(tx, auth.group_names(tx)[gid])
        person = auth.require_eperson(tx, args.eperson).email if args.eperson else None
        auth.add_policy(tx, rtype, rid, ResourcePolicy(
            action=action, group=group, eperson=person, name=args.name,
            description=args.description, start_date=start, end_date=end))
        if touch is not None:
            objects.touch_item(tx, touch)
        return f"{action.name} on {args.handle}"
    return _with_tx(args, body, out)


def cmd_clear_policies(args: argparse.Namespace, out: TextIO) -> int:
    def body(tx: Tx) -> str:
        rtype, rid, touch = _policy_target(tx, args)
        auth.clear_policies(tx, rtype, rid)
        if touch is not None:
            objects.touch_item(tx, touch)
        return f"no policies on {args.handle}"
    return _with_tx(args, body, out)


def cmd_tree(args: argparse.Namespace, out: TextIO) -> int:
    repo = open_repository(args)
    try:
        with repo.transaction(write=False) as tx:
            lines = tree_lines(tx)
    finally:
        repo.close()
    for line in lines:
        print(line, file=out)
    return 0


def tree_lines(tx: Tx) -> list[str]:
    """The hierarchy as an indented listing with handles and counts."""
    import sqlalchemy as sa

    site = objects.site_model(tx)
    ci, it = T.collection_item, T.item
    lines = [f"{site.handle}  SITE  {site.name!r}  ({len(site.communities)} top communities)"]

    def community(handle: str, depth: int) -> None:
        c = objects.community_model(tx, objects.community_id(tx, handle))
        title = objects.first_value(c.metadata, "title") or ""
        lines.append(f"{'  ' * depth}{handle}  COMMUNITY  {title!r}  "
                     f"({len(c.subcommunities)} sub-communities, "
                     f"{len(c.collections)} collections)")
        for sub in c.subcommunities:
            community(sub, depth + 1)
        for coll in c.collections:
            cid = objects.collection_id(tx, coll)
            title = objects.title_of(tx, C.TYPE_COLLECTION, cid)
            counts = tx.execute(
                sa.select(sa.func.count(), sa.func.sum(sa.case((it.c.withdrawn, 1), else_=0)),
                          sa.func.sum(sa.case((it.c.owning_collection_id != cid, 1),
                                              else_=0)))
                .select_from(ci).join(it, it.c.id == ci.c.item_id)
                .where(ci.c.collection_id == cid, it.c.handle.is_not(None))).one()
            drafts = tx.scalar(sa.select(sa.func.count()).select_from(T.workspace_item)
                               .where(T.workspace_item.c.collection_id == cid))
            lines.append(f"{'  ' * (depth + 1)}{coll}  COLLECTION  {title!r}  "
                         f"({counts[0]} items, {counts[1] or 0} withdrawn, "
                         f"{counts[2] or 0} mapped in, {drafts} in progress)")

    for top in site.communities:
        community(top, 1)
    people = tx.scalar(sa.select(sa.func.count()).select_from(T.eperson))
    groups = tx.scalar(sa.select(sa.func.count()).select_from(T.epersongroup))
    lines.append(f"{people} e-people, {groups} groups")
    return lines


def cmd_dump(args: argparse.Namespace, out: TextIO) -> int:
    if not args.json:
        raise UsageError("repo dump: only --json is supported; add --json")
    repo = open_repository(args)
    try:
        with repo.transaction(write=False) as tx:
            data = dumpmod.dump(tx, args.handle, virtual=args.virtual)
    finally:
        repo.close()
    out.write(dumpmod.to_json(data))
    return 0


def add_repo_commands(sub: Any) -> None:
    """Add the ``repo`` command group to a subparsers object."""
    repo = sub.add_parser("repo", help="the embedded repository",
                          description="Create, change and inspect the embedded repository.")
    verbs = repo.add_subparsers(dest="verb", metavar="VERB", required=True,
                                parser_class=ArgumentParser)

    def verb(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    p = verb("init", cmd_init, "initialise an empty repository")
    p.add_argument("--handle-prefix", required=True, metavar="P")
    p.add_argument("--admin", required=True, metavar="EMAIL")
    p.add_argument("--admin-password", metavar="PW")
    p.add_argument("--site-name", default=C.DEFAULT_SITE_NAME)
    p.add_argument("--site-url", default=C.DEFAULT_SITE_URL)

    p = verb("seed", cmd_seed, "add deterministic synthetic content")
    p.add_argument("--communities", type=int, default=2, metavar="N")
    p.add_argument("--depth", type=int, default=2, metavar="D")
    p.add_argument("--collections", type=int, default=4, metavar="N")
    p.add_argument("--items", type=int, default=20, metavar="N")
    p.add_argument("--bitstreams", type=int, default=1, metavar="N")
    p.add_argument("--bitstream-size", type=int, default=2048, metavar="BYTES")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--entities", action="store_true",
                   help="typed items (Persons, OrgUnits, Projects, Publications, journals, "
                        "volumes, issues) and relationships between them")

    p = verb("import-saf", cmd_import_saf, "import DSpace Simple Archive Format items")
    p.add_argument("--collection", required=True, metavar="HANDLE")
    p.add_argument("dir", type=Path, metavar="DIR")

    p = verb("create-community", cmd_create_community, "create a community")
    p.add_argument("--name", required=True)
    p.add_argument("--parent", metavar="HANDLE")

    p = verb("create-collection", cmd_create_collection, "create a collection")
    p.add_argument("--name", required=True)
    p.add_argument("--parent", required=True, metavar="HANDLE")
    p.add_argument("--entity-type", metavar="TYPE",
                   help="its dspace.entity.type (new items get it)")

    p = verb("create-item", cmd_create_item, "create an archived item")
    p.add_argument("--collection", required=True, metavar="HANDLE")
    p.add_argument("--title", required=True)
    p.add_argument("--lang", default=None)
    p.add_argument("--submitter", metavar="EMAIL")
    p.add_argument("--entity-type", metavar="TYPE",
                   help="its dspace.entity.type (default: the collection's, if any)")

    p = verb("initialize-entities", cmd_initialize_entities,
             "load relationship types (DSpace's relationship-types.xml) and the Entities "
             "metadata registry")
    p.add_argument("-f", "--file", type=Path, metavar="FILE",
                   help="a relationship-types.xml (default: DSpace 7's default types)")
    p.add_argument("--virtual-metadata", type=Path, metavar="FILE",
                   help="a DSpace virtual-metadata.xml to compute virtual values with "
                        "(default: keep the repository's; DSpace 7.6.7's mappings at first)")

    for name, handler, text in (
            ("relate", cmd_relate, "relate two items (LEFT is the type's left item)"),
            ("unrelate", cmd_unrelate, "remove a relationship between two items")):
        p = verb(name, handler, text)
        p.add_argument("left", metavar="LEFT")
        p.add_argument("right", metavar="RIGHT")
        p.add_argument("--type", required=True, metavar="NAME",
                       help="the type's leftward name (e.g. isAuthorOfPublication)")
        if name == "relate":
            for side in ("left", "right"):
                p.add_argument(f"--{side}-place", type=int, default=-1, metavar="N",
                               help=f"place on the {side} item (default -1: at the end)")
            p.add_argument("--leftward-value", metavar="V",
                           help="name variant of the left item, as the right item shows it")
            p.add_argument("--rightward-value", metavar="V",
                           help="name variant of the right item, as the left item shows it")
        else:
            p.add_argument("--copy-virtual", action="store_true",
                           help="keep the virtual values as plain values on the side(s) the "
                                "type's copyToLeft/copyToRight name")

    p = verb("add-bitstream", cmd_add_bitstream, "add a file to an item")
    p.add_argument("handle", metavar="H")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--bundle", default=C.BUNDLE_ORIGINAL)
    p.add_argument("--name")
    p.add_argument("--description")
    p.add_argument("--primary", action="store_true")

    p = verb("set-metadata", cmd_set_metadata, "replace every value of a field")
    p.add_argument("handle", metavar="H")
    p.add_argument("field", metavar="FIELD")
    p.add_argument("value", metavar="VALUE")
    p.add_argument("--lang", default=None)

    for name, handler, text in (("withdraw", cmd_withdraw, "withdraw an item"),
                                ("reinstate", cmd_reinstate, "reinstate a withdrawn item"),
                                ("delete", cmd_delete,
                                 "delete an object and everything it owns")):
        p = verb(name, handler, text)
        p.add_argument("handle", metavar="H")

    p = verb("map-item", cmd_map_item, "map an item into another collection")
    p.add_argument("item", metavar="ITEM_H")
    p.add_argument("collection", metavar="COLLECTION_H")

    p = verb("create-eperson", cmd_create_eperson, "create an e-person")
    p.add_argument("--email", required=True)
    p.add_argument("--first")
    p.add_argument("--last")
    p.add_argument("--password")
    p.add_argument("--netid")
    p.add_argument("--language", default="en")

    p = verb("create-group", cmd_create_group, "create a group")
    p.add_argument("--name", required=True)

    p = verb("add-member", cmd_add_member, "add an e-person or a group to a group")
    p.add_argument("group_name", metavar="GROUP_NAME")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--eperson", metavar="EMAIL")
    who.add_argument("--group", metavar="NAME")

    for name, handler, text in (("add-policy", cmd_add_policy, "add a resource policy"),
                                ("clear-policies", cmd_clear_policies,
                                 "remove every policy of an object")):
        p = verb(name, handler, text)
        p.add_argument("handle", metavar="H")
        where = p.add_mutually_exclusive_group()
        where.add_argument("--bundle", metavar="NAME", help="a bundle of the item H")
        where.add_argument("--bitstream", type=int, metavar="SEQ",
                           help="a bitstream of the item H, by sequence id")
        if name == "add-policy":
            p.add_argument("--action", required=True, metavar="A")
            who = p.add_mutually_exclusive_group(required=True)
            who.add_argument("--group", metavar="NAME")
            who.add_argument("--eperson", metavar="EMAIL")
            p.add_argument("--name")
            p.add_argument("--description")
            p.add_argument("--start-date", metavar="YYYY-MM-DD")
            p.add_argument("--end-date", metavar="YYYY-MM-DD")

    verb("tree", cmd_tree, "print the hierarchy with handles and counts")

    p = verb("dump", cmd_dump, "print the repository as canonical JSON")
    p.add_argument("--json", action="store_true", required=True)
    p.add_argument("--handle", metavar="H")
    p.add_argument("--virtual", action="store_true",
                   help="add each item's virtual metadata (computed from its relationships)")


# =============================================================================================
# packager
# =============================================================================================
PACKAGER_EPILOG = """\
Export (-d): -o filterBundles=NAMES (exclude; +NAMES to include only those),
  includeBundles=NAMES, manifestOnly=true, passwords=true, unauthorized=skip|zero,
  updatedAfter=YYYY-MM-DDTHH:MM:SS, validate=false.
Ingest (-s/-r): -o ignoreHandle=, ignoreParent=, createMetadataFields=, skipIfParentMissing=,
  validate=true, manifestOnly=, dmd=DIM|MODS, useCollectionTemplate=.

Examples:
  aipsync packager -d -t AIP -e admin@example.org -i 123456789/5 item.zip
  aipsync packager -d -a -t AIP -e admin@example.org -i 123456789/0 site.zip
  aipsync packager -r -a -f -t AIP -e admin@example.org -i 123456789/0 site.zip
"""


def add_packager_command(sub: Any) -> None:
    """Add ``packager`` with DSpace's flags (same letters, same long names)."""
    p = sub.add_parser(
        "packager", help="export and ingest AIPs (DSpace's packager flags)",
        description="Export (-d) or ingest (-s, -r) DSpace METS AIPs.",
        epilog=PACKAGER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--disseminate", action="store_true", help="export packages")
    p.add_argument("-s", "--submit", action="store_true", help="submit (the default mode)")
    p.add_argument("-r", "--restore", action="store_true", help="restore mode")
    p.add_argument("-k", "--keep-existing", action="store_true",
                   help="with -r: skip objects that exist (and their children)")
    p.add_argument("-f", "--force-replace", action="store_true",
                   help="with -r: replace objects that exist")
    p.add_argument("-a", "--all", action="store_true", help="children too")
    p.add_argument("-t", "--type", required=True, metavar="TYPE", help="package type: AIP")
    p.add_argument("-e", "--eperson", required=True, metavar="EMAIL",
                   help="acting e-person")
    p.add_argument("-i", "--identifier", metavar="HANDLE",
                   help="object to export, or to replace with -r -f")
    p.add_argument("-p", "--parent", action="append", default=[], metavar="HANDLE",
                   help="parent for ingest (only the first is used)")
    p.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                   help="packager option (repeatable)")
    p.add_argument("-w", "--install", action="store_true",
                   help="submit: skip the collection's workflow")
    p.add_argument("-u", "--no-user-interaction", action="store_true",
                   help="answer yes to every question")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML file whose [aip] table configures the crosswalks and whose "
                        "[log] table the log (as for the daemon's commands)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes building item packages (export) or reading packages "
                        "ahead (-a ingest: parse, check, store bitstreams); 0 = one per "
                        "CPU, 1 = none; the result is the same either way")
    p.add_argument("package", type=Path, metavar="FILE", help="the package file")
    p.set_defaults(handler=cmd_packager)


def show_progress(args: argparse.Namespace,
                  interval: float = DEFAULT_INTERVAL_SECONDS) -> AbstractContextManager[Any]:
    """The progress display of a long command on a terminal (unless ``--no-progress``), or
    ``progress`` log lines every ``interval`` seconds (``aip.terminal.progress_output``);
    yields the display, or None."""
    from aip.terminal import progress_output

    return progress_output(getattr(args, "err_stream", sys.stderr),
                           display=not args.no_progress, interval=interval)


def cmd_packager(args: argparse.Namespace, out: TextIO) -> int:
    from aip.packager.config import parse_aip_config, read_toml
    from aip.packager.options import ExportOptions, parse_option_strings

    if args.type.upper() != "AIP":
        raise UsageError(f"unknown package type {args.type!r}: aipsync handles -t AIP")
    options = parse_option_strings(args.option)
    data = read_toml(args.config) if args.config is not None else {}
    config = parse_aip_config(data.get("aip", {}))
    interval = DEFAULT_INTERVAL_SECONDS
    if "log" in data:  # the file's [log] table, under --log-level / --log-format
        from aip import logconfig

        if not isinstance(data["log"], dict):
            raise ConfigError("log: expected a table")
        settings = logconfig.file_settings(data["log"])
        logconfig.configure(args.log_level or settings.level or "warning",
                            args.log_format or settings.format or "auto", args.err_stream)
        interval = settings.progress_interval_seconds or interval
    if args.disseminate and not args.restore:
        from aip.packager.disseminator import ExportRequest, export

        if not args.identifier:
            raise UsageError("packager -d needs -i HANDLE (the object to export)")
        request = ExportRequest(handle=args.identifier, eperson=args.eperson,
                                output=args.package, recursive=args.all,
                                options=ExportOptions.parse(options),
                                config=config.disseminate, workers=args.workers)
        repo = open_repository(args)
        try:
            with show_progress(args, interval):
                result = export(repo, request)
        finally:
            repo.close()
        print(f"exported {result.written} package(s) to {args.package.parent}"
              + (f", {result.unchanged} unchanged since updatedAfter"
                 if result.unchanged else "")
              + (f", {len(result.skipped)} skipped (unauthorized)" if result.skipped else ""),
              file=out)
        print(args.package, file=out)
        return 0
    from aip.packager import ingester

    ingest_request = ingester.request_from_args(args, options, config)
    if not ingester.confirm_replace(ingest_request, args):
        print("nothing replaced", file=out)
        return C.EXIT_RESTORE_DECLINED
    repo = open_repository(args)
    try:
        with show_progress(args, interval):
            report = ingester.ingest(repo, ingest_request)
    finally:
        repo.close()
    for line in ingester.report_lines(report):
        print(line, file=out)
    counts = ", ".join(f"{n} {a}" for a, n in report.summary().items())
    print(f"{ingest_request.mode.value}: {counts or 'nothing to do'}", file=out)
    return report.exit_code


# =============================================================================================
# Entry point
# =============================================================================================
def build_parser(extra: Callable[[Any], None] | None = None) -> ArgumentParser:
    parser = ArgumentParser(prog="aipsync", description=(
        "Offsite backup and restore of DSpace-style repositories as METS AIPs."))
    add_repository_options(parser)
    parser.add_argument("--no-progress", "-q", "--quiet", dest="no_progress",
                        action="store_true",
                        help="no progress display on a terminal; progress is logged as "
                             "'progress' events at info level instead")
    parser.add_argument("--log-level", default=None,
                        choices=["debug", "info", "warning", "error"],
                        help="default: [log] level of --config's file, else warning")
    parser.add_argument("--log-format", default=None, choices=["auto", "json", "console"],
                        help="default: [log] format of --config's file, else auto (JSON "
                             "lines when stderr is not a terminal)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=ArgumentParser)
    add_repo_commands(sub)
    add_packager_command(sub)
    if extra is not None:
        extra(sub)
    return parser


def run(argv: Sequence[str] | None = None, *, out: TextIO | None = None,
        err: TextIO | None = None, extra: Callable[[Any], None] | None = None) -> int:
    """Parse, run, and map errors to exit codes; never raises (but for KeyboardInterrupt)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        from aip import logconfig

        # Configure before parsing too: a usage error is logged below, and an unconfigured
        # structlog prints every level, debug included, to stdout.
        logconfig.configure("warning", "auto", err)
        parser = build_parser(extra)
        try:
            with contextlib.redirect_stdout(out):
                args = parser.parse_args(argv)
        except SystemExit as exc:
            # Only -h/--help ends argparse this way (ArgumentParser.error raises UsageError):
            # the help went to ``out`` and the run is done, with argparse's status.
            return exc.code if isinstance(exc.code, int) else C.EXIT_OK
        logconfig.configure(args.log_level or "warning", args.log_format or "auto", err)
        args.err_stream = err
        handler: Handler = args.handler
        return handler(args, out)
    except AipError as exc:
        print(f"aipsync: error: {exc}", file=err)
        log.debug("cli.error", msgid=type(exc).__qualname__, exit_code=exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aipsync: interrupted", file=err)
        return C.EXIT_SIGNAL_BASE + 2
    except BrokenPipeError:
        return C.EXIT_OK
    except Exception as exc:  # unexpected: rc 2 plus a traceback (docs/style.md E5)
        import traceback

        traceback.print_exc(file=err)
        print(f"aipsync: unexpected error: {type(exc).__name__}: {exc}", file=err)
        return C.EXIT_UNEXPECTED


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
