"""E-people, groups, resource policies and the authorisation checks built on them.

Owns: creating and finding e-people and groups (ids allocated here, kept on restore where
free), group membership, password hashing, the translation between internal role-group names
(``COLLECTION_17_ADMIN``) and their exported form (``COLLECTION_hdl:123456789/2_ADMIN``),
reading and replacing an object's policies, and ``is_admin`` / ``can`` checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from aip import constants as C
from aip.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from aip.model import Action, EPerson, Group, ResourcePolicy
from aip.repository import handles
from aip.repository import tables as T
from aip.repository.store import AnyRow, Tx

ANONYMOUS_ID = 0
ADMINISTRATOR_ID = 1
PASSWORD_DIGEST = "SHA-512"
PASSWORD_ITERATIONS = 1024
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_ROLE_NAME_RE = re.compile(r"^(COMMUNITY|COLLECTION|ITEM)_(\d+)_(.+)$")
_EXPORTED_ROLE_RE = re.compile(r"^(COMMUNITY|COLLECTION|ITEM)_hdl:([^_]+/[^_]+)_(.+)$")


# -- passwords ----------------------------------------------------------------------------------
def hash_password(password: str, salt: str | None = None) -> tuple[str, str, str]:
    """``(hash_hex, salt_hex, algorithm)`` of a password, DSpace style (salted SHA-512 x1024)."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha512(bytes.fromhex(salt) + password.encode("utf-8")).digest()
    for _ in range(PASSWORD_ITERATIONS - 1):
        digest = hashlib.sha512(digest).digest()
    return digest.hex(), salt, PASSWORD_DIGEST


def check_password(person: EPerson, password: str) -> bool:
    if not person.password_hash or not person.salt:
        return False
    computed, _, _ = hash_password(password, person.salt)
    return hmac.compare_digest(computed, person.password_hash)


# -- e-people -------------------------------------------------------------------------------------
def _next_id(tx: Tx, table: sa.Table, wanted: int | None = None) -> int:
    if wanted is not None and wanted >= 0:
        taken = tx.scalar(sa.select(sa.func.count()).select_from(table)
                          .where(table.c.id == wanted))
        if not taken:
            return wanted
    current = tx.scalar(sa.select(sa.func.max(table.c.id)))
    return int(current or 0) + 1


def _person_from_row(row: AnyRow) -> EPerson:
    return EPerson(
        email=row.email, id=row.id, netid=row.netid, first_name=row.first_name,
        last_name=row.last_name, language=row.language, can_log_in=bool(row.can_log_in),
        require_certificate=bool(row.require_certificate),
        self_registered=bool(row.self_registered), password_hash=row.password_hash,
        salt=row.salt, digest_algorithm=row.digest_algorithm)


def create_eperson(tx: Tx, person: EPerson, *, keep_id: bool = False) -> int:
    """Add an e-person; ``keep_id`` uses ``person.id`` when it is free.

    Raises:
        AlreadyExistsError: the e-mail (or netid) is taken.
        InvalidValueError: the e-mail is not an address.
    """
    email = person.email.strip().lower()
    if not _EMAIL_RE.match(email):
        raise InvalidValueError(f"{person.email!r} is not an e-mail address")
    if find_eperson(tx, email) is not None:
        raise AlreadyExistsError(what="EPerson", key=email)
    if person.netid and tx.scalar(sa.select(sa.func.count()).select_from(T.eperson)
                                  .where(T.eperson.c.netid == person.netid)):
        raise AlreadyExistsError(what="EPerson netid", key=person.netid)
    new_id = _next_id(tx, T.eperson, person.id if keep_id else None)
    tx.execute(sa.insert(T.eperson).values(
        id=new_id, email=email, netid=person.netid, first_name=person.first_name,
        last_name=person.last_name, language=person.language, can_log_in=person.can_log_in,
        require_certificate=person.require_certificate,
        self_registered=person.self_registered, password_hash=person.password_hash,
        salt=person.salt, digest_algorithm=person.digest_algorithm))
    return new_id


def update_eperson(tx: Tx, eperson_id: int, person: EPerson) -> None:
    """Overwrite every field of an e-person but its id and e-mail (force-replace)."""
    tx.execute(sa.update(T.eperson).where(T.eperson.c.id == eperson_id).values(
        netid=person.netid, first_name=person.first_name, last_name=person.last_name,
        language=person.language, can_log_in=person.can_log_in,
        require_certificate=person.require_certificate,
        self_registered=person.self_registered, password_hash=person.password_hash,
        salt=person.salt, digest_algorithm=person.digest_algorithm))


_BY_EMAIL = sa.select(T.eperson).where(T.eperson.c.email == sa.bindparam("key"))
_BY_NETID = sa.select(T.eperson).where(T.eperson.c.netid == sa.bindparam("key"))


def find_eperson(tx: Tx, email_or_netid: str) -> EPerson | None:
    key = email_or_netid.strip()
    row = tx.execute(_BY_EMAIL, {"key": key.lower()}).first()
    if row is None:
        row = tx.execute(_BY_NETID, {"key": key}).first()
    return _person_from_row(row) if row is not None else None


def require_eperson(tx: Tx, email: str) -> EPerson:
    person = find_eperson(tx, email)
    if person is None:
        raise NotFoundError(what="EPerson", key=email)
    return person


def eperson_email(tx: Tx, eperson_id: int | None) -> str | None:
    if eperson_id is None:
        return None
    emails = tx.cache.get("emails")
    if emails is None:
        emails = {pid: email for pid, email in tx.execute(
            sa.select(T.eperson.c.id, T.eperson.c.email))}
        tx.cache["emails"] = emails
    value = emails.get(eperson_id)
    if value is None:
        value = tx.scalar(sa.select(T.eperson.c.email).where(T.eperson.c.id == eperson_id))
    return str(value) if value is not None else None


def list_epeople(tx: Tx) -> list[EPerson]:
    return [_person_from_row(r) for r in tx.execute(
        sa.select(T.eperson).order_by(T.eperson.c.email))]


# -- groups ---------------------------------------------------------------------------------------
def create_group(tx: Tx, name: str, *, group_id: int | None = None) -> int:
    """Add a group by its internal name; ``group_id`` is used when free."""
    name = name.strip()
    if not name:
        raise InvalidValueError("a group needs a name")
    if group_id_by_name(tx, name) is not None:
        raise AlreadyExistsError(what="Group", key=name)
    new_id = _next_id(tx, T.epersongroup, group_id)
    tx.execute(sa.insert(T.epersongroup).values(id=new_id, name=name))
    _groups_changed(tx)
    return new_id


def group_id_by_name(tx: Tx, name: str) -> int | None:
    ids: dict[str, int] | None = tx.cache.get("group_ids")
    if ids is None:
        ids = {n: i for i, n in group_names(tx).items()}
        tx.cache["group_ids"] = ids
    return ids.get(name)


def require_group(tx: Tx, name: str) -> int:
    """Group id by internal or exported name."""
    gid = group_id_by_name(tx, name)
    if gid is None:
        internal = import_group_name(tx, name)
        if internal is not None:
            gid = group_id_by_name(tx, internal)
    if gid is None:
        raise NotFoundError(what="Group", key=name)
    return gid


def _groups_changed(tx: Tx) -> None:
    tx.cache.pop("group_names", None)
    tx.cache.pop("group_ids", None)


def group_names(tx: Tx) -> dict[int, str]:
    cached = tx.cache.get("group_names")
    if cached is None:
        cached = {gid: name for gid, name in tx.execute(
            sa.select(T.epersongroup.c.id, T.epersongroup.c.name))}
        tx.cache["group_names"] = cached
    result: dict[int, str] = cached
    return result


def add_member(tx: Tx, group_id: int, eperson_id: int) -> None:
    exists = tx.scalar(sa.select(sa.func.count()).select_from(T.group_member).where(
        T.group_member.c.group_id == group_id, T.group_member.c.eperson_id == eperson_id))
    if not exists:
        tx.execute(sa.insert(T.group_member).values(group_id=group_id, eperson_id=eperson_id))
    _membership_changed(tx)


def add_subgroup(tx: Tx, parent_id: int, child_id: int) -> None:
    if parent_id == child_id or parent_id in _ancestors(tx, child_id, upward=False):
        raise InvalidValueError("a group cannot contain itself")
    exists = tx.scalar(sa.select(sa.func.count()).select_from(T.group_subgroup).where(
        T.group_subgroup.c.parent_id == parent_id, T.group_subgroup.c.child_id == child_id))
    if not exists:
        tx.execute(sa.insert(T.group_subgroup).values(parent_id=parent_id, child_id=child_id))
    _membership_changed(tx)


def clear_group(tx: Tx, group_id: int, *, keep_eperson: int | None = None) -> None:
    """Remove every member and member group (force-replace of DSPACE-ROLES)."""
    stmt = sa.delete(T.group_member).where(T.group_member.c.group_id == group_id)
    if keep_eperson is not None:
        stmt = stmt.where(T.group_member.c.eperson_id != keep_eperson)
    tx.execute(stmt)
    tx.execute(sa.delete(T.group_subgroup).where(T.group_subgroup.c.parent_id == group_id))
    _membership_changed(tx)


def _ancestors(tx: Tx, group_id: int, *, upward: bool = True) -> set[int]:
    """Groups that contain ``group_id`` (upward) or that it contains (downward), transitively."""
    edges = [(parent, child) for parent, child in tx.execute(
        sa.select(T.group_subgroup.c.parent_id, T.group_subgroup.c.child_id))]
    seen: set[int] = set()
    frontier = {group_id}
    while frontier:
        nxt: set[int] = set()
        for parent, child in edges:
            src, dst = (child, parent) if upward else (parent, child)
            if src in frontier and dst not in seen:
                nxt.add(dst)
        seen |= nxt
        frontier = nxt
    return seen


def _membership_changed(tx: Tx) -> None:
    for key in [k for k in tx.cache if isinstance(k, tuple) and k[0] == "groups_of"]:
        del tx.cache[key]


def groups_of(tx: Tx, eperson_id: int | None) -> set[int]:
    """Every group the e-person is in, directly or through member groups; Anonymous always.

    Cached per transaction; membership changes made through this module clear the cache.
    """
    key = ("groups_of", eperson_id)
    cached = tx.cache.get(key)
    if cached is not None:
        return set(cached)
    direct: set[int] = {ANONYMOUS_ID}
    if eperson_id is not None:
        direct |= set(tx.execute(sa.select(T.group_member.c.group_id)
                                 .where(T.group_member.c.eperson_id == eperson_id)).scalars())
    result = set(direct)
    for gid in direct:
        result |= _ancestors(tx, gid)
    tx.cache[key] = frozenset(result)
    return result


def is_admin(tx: Tx, eperson_id: int | None) -> bool:
    return eperson_id is not None and ADMINISTRATOR_ID in groups_of(tx, eperson_id)


def group_model(tx: Tx, group_id: int) -> Group:
    names = group_names(tx)
    members = sorted(
        e for e in (eperson_email(tx, pid) for pid in tx.execute(
            sa.select(T.group_member.c.eperson_id)
            .where(T.group_member.c.group_id == group_id)).scalars()) if e)
    subgroups = sorted(export_group_name(tx, names[c]) for c in tx.execute(
        sa.select(T.group_subgroup.c.child_id)
        .where(T.group_subgroup.c.parent_id == group_id)).scalars())
    return Group(name=export_group_name(tx, names[group_id]), id=group_id,
                 members=tuple(members), member_groups=tuple(subgroups))


def list_groups(tx: Tx) -> list[Group]:
    """Every group, ordered by exported name (DSpace's SITE AIP order)."""
    return sorted((group_model(tx, gid) for gid in group_names(tx)), key=lambda g: g.name)


# -- group name translation (docs/aip-format.md 3.4, DSPACE-ROLES) -----------------------------
def export_group_name(tx: Tx, name: str) -> str:
    """``COLLECTION_17_ADMIN`` -> ``COLLECTION_hdl:123456789/2_ADMIN`` (or ORPHANED_...)."""
    match = _ROLE_NAME_RE.match(name)
    if not match:
        return name
    obj_type, obj_id, rest = match.group(1), int(match.group(2)), match.group(3)
    handle = handles.handle_of(tx, obj_type, obj_id)
    if handle is None:
        return f"ORPHANED_{C.TYPE_IDS[obj_type]}_GROUP_{obj_id}_{rest}"
    return f"{obj_type}_hdl:{handle}_{rest}"


def import_group_name(tx: Tx, name: str) -> str | None:
    """``COLLECTION_hdl:123456789/2_ADMIN`` -> ``COLLECTION_17_ADMIN``; ``None`` if the
    handle does not resolve (the object is not restored yet).  Other names unchanged."""
    match = _EXPORTED_ROLE_RE.match(name)
    if not match:
        return name
    obj_type, handle, rest = match.group(1), match.group(2), match.group(3)
    found = handles.resolve(tx, handle)
    if found is None or found[0] != obj_type:
        return None
    return f"{obj_type}_{found[1]}_{rest}"


def role_group_name(obj_type: str, obj_id: int, role: str) -> str:
    return f"{obj_type}_{obj_id}_{role}"


# -- policies -------------------------------------------------------------------------------------
def policies(tx: Tx, resource_type: str, resource_id: int) -> tuple[ResourcePolicy, ...]:
    """An object's policies in their stored order, groups by exported name."""
    rp = T.resource_policy
    rows = tx.execute(sa.select(rp).where(rp.c.resource_type == resource_type,
                                          rp.c.resource_id == resource_id)
                      .order_by(rp.c.position, rp.c.id))
    return tuple(_policy_from_row(tx, r) for r in rows)


_POLICY_COLUMNS = (T.resource_policy.c.action, T.resource_policy.c.group_id,
                   T.resource_policy.c.eperson_id, T.resource_policy.c.name,
                   T.resource_policy.c.description, T.resource_policy.c.start_date,
                   T.resource_policy.c.end_date, T.resource_policy.c.policy_type)


def policies_bulk(tx: Tx, resource_type: str, ids: Sequence[int],
                  shared: dict[tuple[Any, ...], ResourcePolicy] | None = None
                  ) -> dict[int, tuple[ResourcePolicy, ...]]:
    """Policies of many objects of one type at once (export of large items).

    Equal policies come back as one object, shared through ``shared`` by calls that read
    the same database state (most objects carry the same few policies): fewer objects to
    build, and a pickled batch of items holds each policy once.
    """
    rp = T.resource_policy
    seen: dict[tuple[Any, ...], ResourcePolicy] = {} if shared is None else shared
    out: dict[int, list[ResourcePolicy]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        for row in tx.execute(sa.select(rp.c.resource_id, *_POLICY_COLUMNS)
                              .where(rp.c.resource_type == resource_type,
                                     rp.c.resource_id.in_(chunk))
                              .order_by(rp.c.resource_id, rp.c.position, rp.c.id)).all():
            key = tuple(row[1:])
            policy = seen.get(key)
            if policy is None:
                policy = seen[key] = _policy_from_row(tx, row)
            out[row[0]].append(policy)
    return {k: tuple(v) for k, v in out.items()}


def _policy_from_row(tx: Tx, row: AnyRow) -> ResourcePolicy:
    group = None
    if row.group_id is not None:
        group = export_group_name(tx, group_names(tx)[row.group_id])
    return ResourcePolicy(
        action=Action(row.action), group=group, eperson=eperson_email(tx, row.eperson_id),
        name=row.name, description=row.description, start_date=row.start_date,
        end_date=row.end_date, policy_type=row.policy_type)


def resolve_policy_subject(tx: Tx, policy: ResourcePolicy) -> tuple[int | None, int | None]:
    """``(group_id, eperson_id)`` for a policy's group name or e-mail.

    Raises:
        NotFoundError: the group or e-person does not exist (DSpace's METSRights message).
    """
    if policy.group is not None:
        internal = import_group_name(tx, policy.group)
        gid = group_id_by_name(tx, internal) if internal else None
        if gid is None:
            raise NotFoundError(
                f"Cannot restore Group permissions: the Group named '{policy.group}' is "
                "missing. Please restore this group using the SITE AIP, or recreate it.")
        return gid, None
    if policy.eperson is not None:
        person = find_eperson(tx, policy.eperson)
        if person is None:
            raise NotFoundError(
                f"Cannot restore EPerson permissions: the EPerson '{policy.eperson}' is "
                "missing. Please restore this EPerson using the SITE AIP, or recreate it.")
        return None, person.id
    raise InvalidValueError("a policy needs a group or an e-person")


_INSERT_POLICY = sa.insert(T.resource_policy)
_CLEAR_POLICIES = sa.delete(T.resource_policy).where(
    T.resource_policy.c.resource_type == sa.bindparam("rtype"),
    T.resource_policy.c.resource_id == sa.bindparam("rid"))


def set_policies(tx: Tx, resource_type: str, resource_id: int,
                 new: Iterable[ResourcePolicy], *, fresh: bool = False) -> None:
    """Replace all of an object's policies (METSRights ingest semantics).

    ``fresh``: the object was created in this transaction and has none yet (skips the
    delete).
    """
    if not fresh:
        clear_policies(tx, resource_type, resource_id)
    add_fresh_policies(tx, [(resource_type, resource_id, new)])


def add_fresh_policies(tx: Tx, objects_: Iterable[tuple[str, int, Iterable[ResourcePolicy]]]
                       ) -> None:
    """The policies of objects that have none yet (made in this transaction), in one
    statement: an item's, its bundles' and its bitstreams' together."""
    rows = []
    for resource_type, resource_id, new in objects_:
        for position, policy in enumerate(new):
            gid, eid = resolve_policy_subject(tx, policy)
            rows.append(dict(resource_type=resource_type, resource_id=resource_id,
                             position=position, action=int(policy.action), group_id=gid,
                             eperson_id=eid, name=policy.name,
                             description=policy.description, policy_type=policy.policy_type,
                             start_date=policy.start_date, end_date=policy.end_date))
    if rows:
        tx.execute(_INSERT_POLICY, rows)


def add_policy(tx: Tx, resource_type: str, resource_id: int, policy: ResourcePolicy) -> None:
    rp = T.resource_policy
    gid, eid = resolve_policy_subject(tx, policy)
    position = tx.scalar(sa.select(sa.func.coalesce(sa.func.max(rp.c.position), -1)).where(
        rp.c.resource_type == resource_type, rp.c.resource_id == resource_id)) + 1
    tx.execute(sa.insert(rp).values(
        resource_type=resource_type, resource_id=resource_id, position=position,
        action=int(policy.action), group_id=gid, eperson_id=eid, name=policy.name,
        description=policy.description, policy_type=policy.policy_type,
        start_date=policy.start_date, end_date=policy.end_date))


def clear_policies(tx: Tx, resource_type: str, resource_id: int) -> None:
    tx.execute(_CLEAR_POLICIES, {"rtype": resource_type, "rid": resource_id})


def has_policy(tx: Tx, eperson_id: int | None, actions: Iterable[Action],
               resource_type: str, resource_id: int, today: dt.date) -> bool:
    """True if a policy in effect grants one of ``actions`` to the e-person or a group."""
    groups = groups_of(tx, eperson_id)
    wanted = {int(a) for a in actions}
    rp = T.resource_policy
    for row in tx.execute(sa.select(rp).where(rp.c.resource_type == resource_type,
                                              rp.c.resource_id == resource_id)):
        if row.action not in wanted:
            continue
        if row.start_date is not None and row.start_date > today:
            continue
        if row.end_date is not None and row.end_date < today:
            continue
        if (row.group_id is not None and row.group_id in groups) or (
                eperson_id is not None and row.eperson_id == eperson_id):
            return True
    return False
