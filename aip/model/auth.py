"""E-people, groups and resource policies, as AIPs carry them.

Owns: the frozen dataclasses for ``EPerson``, ``Group``, ``ResourcePolicy`` and the ``Action``
enumeration with DSpace's numeric ids.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

from aip.model.record import Record


class Action(IntEnum):
    """DSpace's resource-policy actions (``Constants.java`` ids)."""

    READ = 0
    WRITE = 1
    DELETE = 2
    ADD = 3
    REMOVE = 4
    WORKFLOW_STEP_1 = 5
    WORKFLOW_STEP_2 = 6
    WORKFLOW_STEP_3 = 7
    WORKFLOW_ABORT = 8
    DEFAULT_BITSTREAM_READ = 9
    DEFAULT_ITEM_READ = 10
    ADMIN = 11
    WITHDRAWN_READ = 12

    @classmethod
    def from_name(cls, name: str) -> Action:
        """The action named ``name`` (case-insensitive); ``ValueError`` when unknown."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            known = ", ".join(a.name for a in cls)
            raise ValueError(f"unknown action {name!r}; known: {known}") from None


@dataclass(frozen=True, slots=True)
class ResourcePolicy(Record):
    """One resource policy: who may do what to an object, and when.

    Exactly one of ``group`` (the group's exported name) and ``eperson`` (an e-mail address)
    is set.  ``start_date``/``end_date`` bound when the policy is in effect.
    """

    action: Action
    group: str | None = None
    eperson: str | None = None
    name: str | None = None
    description: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    policy_type: str | None = None

    def in_effect(self, today: dt.date) -> bool:
        """DSpace's ``in-effect``: false before the start date or after the end date."""
        if self.start_date is not None and self.start_date > today:
            return False
        return not (self.end_date is not None and self.end_date < today)


@dataclass(frozen=True, slots=True)
class EPerson(Record):
    """A user account.

    ``id`` is the repository's own number for the person; it appears only in DSPACE-ROLES
    ``ID`` attributes, which DSpace's ingester does not read, and a restore keeps it where it
    is free so that a re-export is byte-identical.
    """

    email: str
    id: int = 0
    netid: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    can_log_in: bool = False
    require_certificate: bool = False
    self_registered: bool = False
    password_hash: str | None = None
    salt: str | None = None
    digest_algorithm: str | None = None


@dataclass(frozen=True, slots=True)
class Group(Record):
    """A group of e-people and groups.

    ``name`` is the exported form (``COLLECTION_hdl:123456789/2_ADMIN`` rather than the
    internal ``COLLECTION_17_ADMIN``); ``members`` are e-mail addresses and ``member_groups``
    exported group names, both in the order the repository keeps them.
    """

    name: str
    id: int = 0
    members: tuple[str, ...] = ()
    member_groups: tuple[str, ...] = ()
    role: str | None = None
