"""The four ingest modes of DSpace's packager, defined once for aip and the daemon.

Owns: ``IngestMode``: ``submit`` (``-s``: new objects, new handles, under a parent),
``restore`` (``-r``: exact, fails if an object exists), ``keep-existing`` (``-r -k``: existing
objects and their children are skipped) and ``replace`` (``-r -f``: existing objects are
replaced), each with the command-line flags that ask for it and a one-line rule.

Must not: import anything heavy (the daemon's command line imports it to list the choices).
"""

from __future__ import annotations

import enum

__all__ = ["IngestMode"]


class IngestMode(enum.StrEnum):
    """An ingest mode; its value is the name the daemon's ``--mode`` and config use."""

    SUBMIT = "submit"
    RESTORE = "restore"
    KEEP = "keep-existing"
    REPLACE = "replace"

    @property
    def flags(self) -> tuple[str, ...]:
        """The packager flags that ask for this mode (DSpace's and aipsync's alike)."""
        return _FLAGS[self]

    @property
    def rule(self) -> str:
        """What the mode does with existing and missing objects, in one line."""
        return _RULES[self]


_FLAGS: dict[IngestMode, tuple[str, ...]] = {
    IngestMode.SUBMIT: ("-s",),
    IngestMode.RESTORE: ("-r",),
    IngestMode.KEEP: ("-r", "-k"),
    IngestMode.REPLACE: ("-r", "-f"),
}
_RULES: dict[IngestMode, str] = {
    IngestMode.SUBMIT: "every object is submitted as new",
    IngestMode.RESTORE: "missing objects are restored; an existing one fails the whole run",
    IngestMode.KEEP: "existing objects are skipped (with their children), missing restored",
    IngestMode.REPLACE: "existing objects are replaced, missing ones restored",
}
