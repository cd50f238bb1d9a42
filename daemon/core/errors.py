"""The daemon's error classes, named by what failed, under aip's one exception tree.

Owns: every error the daemon raises on purpose, each a subclass of ``aip.errors.AipError``
with an ``exit_code`` from ``aip.constants`` and a message template filled from keyword
fields.  ``ConfigError``, ``ConfigPermissionError`` and ``LockedError`` live in
``aip.errors`` and are re-exported here so daemon code imports one module.

The tree (exit codes in brackets; ``aip.errors`` classes marked *)::

    AipError*
    |-- ConfigError* [10]                     a bad configuration file
    |   `-- ConfigPermissionError* [11]       a file holding a secret is readable by others
    |-- StoreError* [40]
    |   |-- LockedError* [44]                 another run holds a lock
    |   `-- StateError [40]                   the state database cannot be used
    |-- IntegrityError* [80]
    |   |-- DownloadChecksumError [80]        downloaded bytes are not the snapshot's
    |   `-- UploadVerifyError [80]            the target holds other bytes than were sent
    |-- StopRequestedError [4]                SIGTERM/SIGINT between two units of work
    |-- SourceError [56]                      the repository's export or ingest failed
    |-- StagingError [59]                     staging missing, or empty when it must not be
    |-- DiskFullError [57]                    the local disk filled up (export or download)
    |-- UploadError [50]                      uploads failed; no snapshot was written
    |   `-- SourceChangedError [50]           a staged file changed while it was sent
    |-- TargetError [50]                      an operation on the target failed for good
    |   |-- TargetUnreachableError [51]       still failing after every retry
    |   |-- TargetPermanentError [52]         refused: credentials, access, no bucket
    |   |-- PreconditionFailedError [50]      the object changed (conditional operation)
    |   `-- TargetNotFoundError [55]          no such object or version
    |       `-- ObjectMissingError [55]       an object a snapshot names is gone
    |-- SnapshotError                         about snapshots and their inventories
    |   |-- SnapshotNotFoundError [53]        no complete snapshot matches
    |   |-- NotInSnapshotError [54]           the key or handle is not in the snapshot
    |   `-- InventoryFormatError [83]         an inventory is damaged
    |-- DownloadError [55]                    a download could not be completed
    `-- RestoreDeclinedError [58]             the operator said no to a replace

Must not: import boto3/botocore (their exceptions are translated in ``daemon/targets/s3.py``),
do I/O, or put a credential into a message.  Fields are names, keys and codes, never request
parameters or URLs with a password.
"""

from __future__ import annotations

from typing import ClassVar

from aip import constants as C
from aip.errors import (
    AipError,
    ConfigError,
    ConfigPermissionError,
    IntegrityError,
    LockedError,
    StoreError,
)

__all__ = [
    "ConfigError",
    "ConfigPermissionError",
    "DiskFullError",
    "DownloadChecksumError",
    "DownloadError",
    "InventoryFormatError",
    "LockedError",
    "NotInSnapshotError",
    "ObjectMissingError",
    "PreconditionFailedError",
    "RestoreDeclinedError",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SourceChangedError",
    "SourceError",
    "StagingError",
    "StateError",
    "StopRequestedError",
    "TargetError",
    "TargetNotFoundError",
    "TargetPermanentError",
    "TargetUnreachableError",
    "UploadError",
    "UploadVerifyError",
]


class UploadError(AipError):
    """One or more uploads failed, so the mirror run wrote no snapshot (the previous one
    stays the newest, and the next run sends what is missing)."""

    exit_code = C.EXIT_MIRROR
    message = "{detail}"


class StagingError(AipError):
    """The staging folder is missing, unreadable, or empty while the last snapshot is not.

    An empty staging folder usually means an unmounted disk or a failed export; writing an
    empty snapshot then would make the newest snapshot useless for restore.
    """

    exit_code = C.EXIT_STAGING
    message = "staging folder {path}: {detail}"


class StopRequestedError(AipError):
    """A stop was requested (SIGTERM/SIGINT) between two units of work; nothing is half done.

    Internal to a run: ``run_mirror`` catches it and returns a result marked ``stopped``.
    """

    exit_code = C.EXIT_INTERRUPTED
    message = "stopped on request before {what}"


class TargetError(AipError):
    """An operation on the target (S3 bucket or folder) failed and retrying will not help."""

    exit_code = C.EXIT_MIRROR
    message = "{target} {operation} {key}: {detail}"
    retryable: ClassVar[bool] = False


class TargetUnreachableError(TargetError):
    """The target kept failing with throttling, 5xx or connection errors after every retry."""

    exit_code = C.EXIT_TARGET_UNREACHABLE
    message = "{target} {operation} {key}: gave up after {attempts} attempt(s): {detail}"
    retryable = True


class TargetPermanentError(TargetError):
    """The target refused for good: bad credentials, access denied, no such bucket or folder.

    Raised after the first attempt (fail fast); retrying would only hide the problem.
    """

    exit_code = C.EXIT_TARGET_PERMANENT
    message = "{target} {operation} {key}: {detail} (permanent; not retried)"


class ObjectLockedError(TargetPermanentError):
    """A delete of an object version the store keeps under S3 Object Lock (a retention
    period not over yet, or a legal hold): S3 answers 403 AccessDenied.  ``prune`` keeps such
    a version and reports it; it never reaches the command line from there."""

    message = "{target} {operation} {key}: {detail}"


class PreconditionFailedError(TargetError):
    """A conditional operation found the object changed (its ETag is not the expected one)."""

    message = "{target} {operation} {key}: the object changed (precondition failed)"


class SourceChangedError(UploadError):
    """A staged file changed between hashing and upload; it is left for the next run."""

    exit_code = C.EXIT_MIRROR
    message = "{path}: changed while it was being uploaded; it will be sent next run"


class TargetNotFoundError(TargetError):
    """The object (or object version) asked for does not exist in the target."""

    exit_code = C.EXIT_DOWNLOAD
    message = "{target} {operation} {key}: no such object{version_note}"


class ObjectMissingError(TargetNotFoundError):
    """An object that a snapshot names is not in the target (neither its version nor the key)."""

    message = "{key}: named by the snapshot but not found in {target}"


class SnapshotError(AipError):
    """A snapshot could not be used: none matches, it lacks a key, or its inventory is bad."""

    exit_code = C.EXIT_SNAPSHOT_NOT_FOUND
    message = "{detail}"


class SnapshotNotFoundError(SnapshotError):
    """No complete snapshot matches the id or time asked for."""

    exit_code = C.EXIT_SNAPSHOT_NOT_FOUND
    message = "no complete snapshot {detail}"


class NotInSnapshotError(SnapshotError):
    """The key (or handle) asked for is not named by the chosen snapshot."""

    exit_code = C.EXIT_NOT_IN_SNAPSHOT
    message = "{key} is not in snapshot {snapshot}"


class InventoryFormatError(SnapshotError):
    """A snapshot inventory is not valid JSON of the expected format, or fails its checksum."""

    exit_code = C.EXIT_INVENTORY_INVALID
    message = "snapshot inventory {snapshot}: {detail}"


class DownloadError(AipError):
    """A download could not be completed (the partial file is kept for a resume)."""

    exit_code = C.EXIT_DOWNLOAD
    message = "download of {key} to {path}: {detail}"


class DiskFullError(AipError):
    """The local disk filled up while writing a download (the partial file was removed) or an
    export into staging (the export folder was removed; staging is unchanged)."""

    exit_code = C.EXIT_DISK_FULL
    message = "no space left on the device while writing {path}"


class DownloadChecksumError(IntegrityError):
    """A downloaded object's size or SHA-256 differs from the inventory; it was discarded."""

    exit_code = C.EXIT_CHECKSUM


class UploadVerifyError(IntegrityError):
    """After an upload, the target reports another size or SHA-256 than the file sent."""

    exit_code = C.EXIT_CHECKSUM


class RestoreDeclinedError(AipError):
    """The operator answered no when asked to confirm a restore that replaces objects.

    Nothing was written to the repository (the question comes after every download was
    verified, before the ingest).
    """

    exit_code = C.EXIT_RESTORE_DECLINED
    message = "restore declined: {detail}; nothing was changed"


class SourceError(AipError):
    """The repository source failed to export (or ingest): the DSpace command line exited
    non-zero, timed out or could not be started, or its output is not what an AIP export
    writes.  Staging is left exactly as it was.
    """

    exit_code = C.EXIT_SOURCE
    message = "{source}: {detail}"


class StateError(StoreError):
    """The state database cannot be opened, is of a newer schema, or is corrupt."""

    exit_code = C.EXIT_STORE
    message = "state database {path}: {detail}"
