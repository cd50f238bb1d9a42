"""DSPACE-ROLES: groups and e-people as ``<DSpaceRoles>`` (techMD of SITE/COMMUNITY/COLLECTION).

Owns: ``Group``/``EPerson`` values <-> the DSPACE-ROLES document.  Pure.

Shape (DSpace ``RoleDisseminator.writeToStream``/``writeGroup``/``writeEPerson``, read back by
``RoleIngester.ingestDocument``; docs/aip-format.md 3.4): elements in **no namespace** (DSpace
declares ``xmlns:dsroles`` on ``xmlData`` but never uses it; once pasted under the METS default
namespace a namespace-aware reader sees them in the METS namespace, so ingest matches by local
name only, as DSpace's DOM ``getElementsByTagName`` does).

* ``Groups/Group`` with ``ID``, ``Name`` (exported name), ``Type`` (collection/community role,
  only when set); ``Members/Member ID Name=e-mail`` and ``MemberGroups/MemberGroup ID Name``, each
  wrapper only when non-empty.  Groups in the order given (the repository sorts as DSpace).
* ``People/Person ID`` with ``Email``, ``Netid``, ``FirstName``, ``LastName``, ``Language``,
  ``PasswordHash`` (``digest``/``salt`` attributes; only when asked for), then the flags
  ``CanLogin``, ``RequireCertificate``, ``SelfRegistered`` as empty elements present when true.
* Nothing to say (no groups, no people) -> no section.
* ``ID`` attributes come from ``Group.id``/``EPerson.id``; a member's ``ID`` is looked up among
  the groups/people known to the caller and omitted when unknown (DSpace's ingester never reads
  these ``ID`` attributes: ``RoleIngester`` matches people by e-mail and groups by name).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from aip import constants as C
from aip.crosswalks._xml import Element, child, children, expect_root, local, sub, text_of
from aip.errors import CrosswalkError
from aip.model import EPerson, Group

_NAMESPACES: dict[str, str] = {"dsroles": C.NS_DSROLES}
_SCHEMA_LOCATION: str | None = None


def disseminate(groups: Sequence[Group], people: Sequence[EPerson] = (), *,
                passwords: bool = False, known_people: Sequence[EPerson] = (),
                known_groups: Sequence[Group] = ()) -> Element | None:
    """The DSPACE-ROLES document, or ``None`` when there are neither groups nor people.

    Args:
        groups: the groups to define, in order.
        people: the e-people to define (SITE AIP only), in order.
        passwords: write ``PasswordHash`` (``-o passwords``).
        known_people, known_groups: further e-people/groups whose ids may be needed for
            ``Member``/``MemberGroup`` ``ID`` attributes.
    """
    if not groups and not people:
        return None
    person_ids = {p.email: p.id for p in (*known_people, *people)}
    group_ids = {g.name: g.id for g in (*known_groups, *groups)}
    root = etree.Element("DSpaceRoles")
    if groups:
        wrapper = sub(root, "Groups")
        for group in groups:
            el = sub(wrapper, "Group", attrib={"ID": str(group.id), "Name": group.name})
            if group.role:
                el.set("Type", group.role)
            if group.members:
                members = sub(el, "Members")
                for email in group.members:
                    attrib = {"ID": str(person_ids[email])} if email in person_ids else {}
                    sub(members, "Member", attrib={**attrib, "Name": email})
            if group.member_groups:
                member_groups = sub(el, "MemberGroups")
                for name in group.member_groups:
                    attrib = {"ID": str(group_ids[name])} if name in group_ids else {}
                    sub(member_groups, "MemberGroup", attrib={**attrib, "Name": name})
    if people:
        wrapper = sub(root, "People")
        for person in people:
            _person(wrapper, person, passwords)
    return root


def _person(parent: Element, person: EPerson, passwords: bool) -> None:
    el = sub(parent, "Person", attrib={"ID": str(person.id)})
    if person.email:
        sub(el, "Email", person.email)
    for tag, value in (("Netid", person.netid), ("FirstName", person.first_name),
                       ("LastName", person.last_name), ("Language", person.language)):
        if value is not None:
            sub(el, tag, value)
    if passwords and person.password_hash is not None:
        pw = sub(el, "PasswordHash", person.password_hash)
        if person.digest_algorithm is not None:
            pw.set("digest", person.digest_algorithm)
        if person.salt is not None:
            pw.set("salt", person.salt)
    for tag, flag in (("CanLogin", person.can_log_in),
                      ("RequireCertificate", person.require_certificate),
                      ("SelfRegistered", person.self_registered)):
        if flag:
            sub(el, tag)


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _text(parent: Element, name: str) -> str | None:
    el = child(parent, name)
    return text_of(el) if el is not None else None


def ingest(root: Element) -> tuple[tuple[Group, ...], tuple[EPerson, ...]]:
    """The groups and e-people of a DSPACE-ROLES document, in document order.

    Raises:
        CrosswalkError: wrong root, a group without ``Name``, a person with neither e-mail
            nor netid ("EPerson has neither email nor netid.").
    """
    expect_root(root, None, "DSpaceRoles", "DSPACE-ROLES")
    groups: list[Group] = []
    people: list[EPerson] = []
    for section in children(root):
        if local(section) == "Groups":
            groups.extend(_group(g) for g in children(section, "Group"))
        elif local(section) == "People":
            people.extend(_read_person(p) for p in children(section, "Person"))
    return tuple(groups), tuple(people)


def references(root: Element) -> tuple[tuple[tuple[str, str], ...],
                                         tuple[tuple[str, str, str], ...]]:
    """The ``ID`` attributes DSpace writes, which ``ingest`` leaves out: (``Person@ID``,
    e-mail) of every person with an e-mail, and (group name, ``Member@ID``, ``Member@Name``)
    of every member with an ``ID``.  DSpace 7.6.6, 8.3, 9.2 and 10.0-rc1 wrote a member's
    full name as its ``Name`` (``RoleDisseminator``; fixed by PR #12343): a reader resolves a
    member by its ``ID`` among the people of the run, then by ``Name`` as an e-mail.
    """
    people: list[tuple[str, str]] = []
    members: list[tuple[str, str, str]] = []
    for section in children(root):
        if local(section) == "People":
            for person in children(section, "Person"):
                email = _text(person, "Email")
                if person.get("ID") and email:
                    people.append((person.get("ID") or "", email))
        elif local(section) == "Groups":
            for group in children(section, "Group"):
                for wrapper in children(group, "Members"):
                    for member in children(wrapper, "Member"):
                        if member.get("ID"):
                            members.append((group.get("Name") or "", member.get("ID") or "",
                                            member.get("Name") or ""))
    return tuple(people), tuple(members)


def _group(el: Element) -> Group:
    name = el.get("Name")
    if not name:
        raise CrosswalkError(f"DSPACE-ROLES: Group without Name (line {el.sourceline})")
    members: list[str] = []
    member_groups: list[str] = []
    for wrapper in children(el, "Members"):
        members.extend(m.get("Name") or "" for m in children(wrapper, "Member")
                       if m.get("Name"))
    for wrapper in children(el, "MemberGroups"):
        member_groups.extend(m.get("Name") or "" for m in children(wrapper, "MemberGroup")
                             if m.get("Name"))
    return Group(name=name, id=_int(el.get("ID")), members=tuple(members),
                 member_groups=tuple(member_groups), role=el.get("Type") or None)


def _read_person(el: Element) -> EPerson:
    email = _text(el, "Email")
    netid = _text(el, "Netid")
    if not email and not netid:
        raise CrosswalkError("EPerson has neither email nor netid.")
    pw = child(el, "PasswordHash")
    return EPerson(
        email=email or "", id=_int(el.get("ID")), netid=netid,
        first_name=_text(el, "FirstName"), last_name=_text(el, "LastName"),
        language=_text(el, "Language"),
        can_log_in=child(el, "CanLogin") is not None,
        require_certificate=child(el, "RequireCertificate") is not None,
        self_registered=child(el, "SelfRegistered") is not None,
        password_hash=text_of(pw) if pw is not None else None,
        salt=pw.get("salt") if pw is not None else None,
        digest_algorithm=pw.get("digest") if pw is not None else None,
    )


__all__ = ["disseminate", "ingest", "references"]
