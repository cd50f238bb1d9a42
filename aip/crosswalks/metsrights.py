"""METSRights: resource policies as ``<rights:RightsDeclarationMD>`` (rightsMD ``METSRIGHTS``).

Owns: policies -> one ``rights:Context`` each, and contexts -> policies, with DSpace's tables
(``METSRightsCrosswalk.disseminateElement``, ``translatePermissions``, ``ingest``,
``parsePermissions``; docs/aip-format.md 3.4 and 5.7).  Pure: "today" is a parameter.

* A policy with neither group nor e-person is dropped (DSpace logs "is neither user nor group").
  :func:`exported` gives the policies that do become contexts, in order: context *i* of the
  section is ``exported(policies)[i]`` (aipsync's AIPSYNC-EXT relies on that index).
* Context attributes in order: ``rpName`` (if set), ``in-effect`` (relative to ``today``),
  ``start-date``, ``end-date`` (``yyyy-MM-dd``), ``CONTEXTCLASS``; then ``UserName`` (groups other
  than ``Anonymous``/``Administrator``: ``USERTYPE="GROUP"``; e-people: ``USERTYPE="INDIVIDUAL"``
  and the e-mail), then ``Permissions``.
* Actions 5-8 and 12 (workflow steps, abort, WITHDRAWN_READ) have no METSRights form and are
  written as an empty ``Permissions``; on ingest they give no action (``None``): DSpace would
  create a policy with action -1, aipsync drops it unless AIPSYNC-EXT says which it was.
* Ingest maps ``OTHERPERMITTYPE`` first, then DELETE -> DELETE, MODIFY -> WRITE, DISCOVER +
  DISPLAY -> READ (only without ``OTHER="true"``); ``in-effect`` is ignored; the policy type is
  ``TYPE_CUSTOM`` as DSpace 8+ sets it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from aip import constants as C
from aip.crosswalks._xml import Element, child, children, expect_root, local, sub, text_of
from aip.errors import CrosswalkError, Problem
from aip.model import Action, ResourcePolicy

_NAMESPACES: dict[str, str] = {"rights": C.NS_METSRIGHTS}
_SCHEMA_LOCATION: str | None = f"{C.NS_METSRIGHTS} {C.SCHEMA_LOCATION_METSRIGHTS}"

_ANONYMOUS_CONTEXTCLASS = "GENERAL PUBLIC"
_ADMIN_CONTEXTCLASS = "REPOSITORY MGR"
_GROUP_CONTEXTCLASS = "MANAGED GRP"
_PERSON_CONTEXTCLASS = "ACADEMIC USER"
_GROUP_USERTYPE = "GROUP"
_PERSON_USERTYPE = "INDIVIDUAL"
#: The type DSpace 8+ gives every policy restored from METSRights (#7464).
_CUSTOM_POLICY_TYPE = "TYPE_CUSTOM"

_READ = (("DISCOVER", "true"), ("DISPLAY", "true"), ("MODIFY", "false"), ("DELETE", "false"))
_WRITE = (("DISCOVER", "true"), ("DISPLAY", "true"), ("MODIFY", "true"), ("DELETE", "false"))
_DELETE = (("DISCOVER", "true"), ("DISPLAY", "true"), ("MODIFY", "true"), ("DELETE", "true"))
_ADMIN = (("DISCOVER", "true"), ("DISPLAY", "true"), ("COPY", "true"), ("DUPLICATE", "true"),
          ("MODIFY", "true"), ("DELETE", "true"), ("PRINT", "true"))
#: ``METSRightsCrosswalk.otherTypesMapping``
_OTHER_PERMIT_TYPES: dict[Action, str] = {
    Action.ADD: "ADD CONTENTS",
    Action.REMOVE: "REMOVE CONTENTS",
    Action.ADMIN: "ADMIN",
    Action.DEFAULT_BITSTREAM_READ: "READ FILE CONTENTS",
    Action.DEFAULT_ITEM_READ: "READ ITEM CONTENTS",
}
_BASE: dict[Action, tuple[tuple[str, str], ...]] = {
    Action.READ: _READ, Action.DEFAULT_BITSTREAM_READ: _READ, Action.DEFAULT_ITEM_READ: _READ,
    Action.WRITE: _WRITE, Action.ADD: _WRITE,
    Action.DELETE: _DELETE, Action.REMOVE: _DELETE,
    Action.ADMIN: _ADMIN,
}


@dataclass(frozen=True, slots=True)
class RightsContext:
    """One ``rights:Context`` read back: who, when, and the action if METSRights can say."""

    action: Action | None
    group: str | None = None
    eperson: str | None = None
    name: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None

    def policy(self, action: Action | None = None, *, description: str | None = None,
               policy_type: str | None = _CUSTOM_POLICY_TYPE) -> ResourcePolicy | None:
        """The policy this context stands for (``action`` overrides), or ``None`` if unusable."""
        chosen = action if action is not None else self.action
        if chosen is None or (self.group is None and self.eperson is None):
            return None
        return ResourcePolicy(action=chosen, group=self.group, eperson=self.eperson,
                              name=self.name, description=description,
                              start_date=self.start_date, end_date=self.end_date,
                              policy_type=policy_type)


def _r(tag: str) -> str:
    return f"{{{C.NS_METSRIGHTS}}}{tag}"


def exported(policies: Sequence[ResourcePolicy]) -> tuple[ResourcePolicy, ...]:
    """The policies that become contexts: those naming a group or an e-person."""
    return tuple(p for p in policies if p.group is not None or p.eperson is not None)


def permissions(action: Action) -> tuple[tuple[str, str], ...]:
    """The ``Permissions`` attributes DSpace writes for ``action``, in order."""
    attrs = _BASE.get(action, ())
    other = _OTHER_PERMIT_TYPES.get(action)
    if other is not None:
        attrs = (*attrs, ("OTHER", "true"), ("OTHERPERMITTYPE", other))
    return attrs


def disseminate(policies: Sequence[ResourcePolicy], today: dt.date) -> Element:
    """``RightsDeclarationMD`` with one ``Context`` per exported policy (empty if none)."""
    root = etree.Element(_r("RightsDeclarationMD"), nsmap={"rights": C.NS_METSRIGHTS})
    root.set("RIGHTSCATEGORY", "LICENSED")
    for policy in exported(policies):
        ctx = sub(root, _r("Context"))
        if policy.name is not None:
            ctx.set("rpName", policy.name)
        ctx.set("in-effect", "true" if policy.in_effect(today) else "false")
        if policy.start_date is not None:
            ctx.set("start-date", policy.start_date.isoformat())
        if policy.end_date is not None:
            ctx.set("end-date", policy.end_date.isoformat())
        if policy.group is not None:
            if policy.group == C.GROUP_ANONYMOUS:
                ctx.set("CONTEXTCLASS", _ANONYMOUS_CONTEXTCLASS)
            elif policy.group == C.GROUP_ADMINISTRATOR:
                ctx.set("CONTEXTCLASS", _ADMIN_CONTEXTCLASS)
            else:
                ctx.set("CONTEXTCLASS", _GROUP_CONTEXTCLASS)
                sub(ctx, _r("UserName"), policy.group, {"USERTYPE": _GROUP_USERTYPE})
        else:
            assert policy.eperson is not None  # exported() keeps only group or e-person
            ctx.set("CONTEXTCLASS", _PERSON_CONTEXTCLASS)
            sub(ctx, _r("UserName"), policy.eperson, {"USERTYPE": _PERSON_USERTYPE})
        sub(ctx, _r("Permissions"), attrib=dict(permissions(policy.action)))
    return root


def parse_permissions(perms: Element) -> Action | None:
    """DSpace's ``parsePermissions``: the action, or ``None`` where DSpace gets -1."""
    other = perms.get("OTHERPERMITTYPE")
    if other:
        for action, name in _OTHER_PERMIT_TYPES.items():
            if name == other:
                return action
        return None

    def flag(name: str) -> bool:  # Java Boolean.parseBoolean
        return (perms.get(name) or "").lower() == "true"

    if flag("OTHER"):
        return None
    if flag("DELETE"):
        return Action.DELETE
    if flag("MODIFY"):
        return Action.WRITE
    if flag("DISCOVER") and flag("DISPLAY"):
        return Action.READ
    return None


def _date(ctx: Element, name: str, warnings: list[Problem] | None) -> dt.date | None:
    text = ctx.get(name)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        # DSpace logs "Failed to parse embargo date" and keeps the policy without the date
        if warnings is not None:
            warnings.append(Problem("AIP-W045", f"METSRights {name} {text!r} is not yyyy-MM-dd;"
                                    " ignored"))
        return None


def ingest(root: Element, warnings: list[Problem] | None = None) -> tuple[RightsContext, ...]:
    """Every ``Context`` in order (unusable ones included, so indexes match the section).

    Raises:
        CrosswalkError: wrong root element, or a group/person context without ``UserName``.
    """
    expect_root(root, C.NS_METSRIGHTS, "RightsDeclarationMD", "METSRights")
    result: list[RightsContext] = []
    for ctx in children(root):
        if local(ctx) != "Context":
            continue
        cls = ctx.get("CONTEXTCLASS")
        group: str | None = None
        eperson: str | None = None
        user = child(ctx, "UserName")
        user_name = text_of(user).strip() if user is not None else ""
        if cls == _ANONYMOUS_CONTEXTCLASS:
            group = C.GROUP_ANONYMOUS
        elif cls == _ADMIN_CONTEXTCLASS:
            group = C.GROUP_ADMINISTRATOR
        elif cls in (_GROUP_CONTEXTCLASS, _PERSON_CONTEXTCLASS):
            if not user_name:
                raise CrosswalkError(f"METSRights Context {cls!r} (line {ctx.sourceline}) has "
                                     "no UserName")
            if cls == _GROUP_CONTEXTCLASS:
                group = user_name
            else:
                eperson = user_name
        elif warnings is not None:
            warnings.append(Problem("AIP-W041", f"Unrecognized CONTEXTCLASS: {cls!r}; context "
                                    "ignored"))
        perms = child(ctx, "Permissions")
        action = parse_permissions(perms) if perms is not None else None
        if perms is None and warnings is not None:
            warnings.append(Problem("AIP-W042", "No <Permissions> element was found. Skipping "
                                    "this <Context> element."))
        result.append(RightsContext(action=action, group=group, eperson=eperson,
                                    name=ctx.get("rpName"),
                                    start_date=_date(ctx, "start-date", warnings),
                                    end_date=_date(ctx, "end-date", warnings)))
    return tuple(result)


def policies(contexts: Sequence[RightsContext]) -> tuple[ResourcePolicy, ...]:
    """The policies METSRights alone yields (contexts without a usable action are dropped)."""
    out = []
    for ctx in contexts:
        policy = ctx.policy()
        if policy is not None:
            out.append(policy)
    return tuple(out)


__all__ = ["RightsContext", "disseminate", "exported", "ingest", "parse_permissions",
           "permissions", "policies"]
