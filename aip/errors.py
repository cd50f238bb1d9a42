"""The one exception tree, problems and reports.

Owns: ``AipError`` and every error class aipsync raises on purpose (daemon errors subclass
them too), each with its exit code and a message template; ``Problem`` (a validation finding
with a stable code) and ``Report`` (warnings and per-object outcomes, collected, never raised).
Must not do I/O or import anything but ``aip.constants``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aip import constants as C
from aip.spill import SpillList


class AipError(Exception):
    """Root of every error aipsync raises on purpose.

    Subclasses set ``exit_code`` and ``message`` (a ``str.format`` template filled from the
    keyword fields given to the constructor).  A single positional string is taken as the
    ``detail`` field, which the default template prints as is.
    """

    exit_code: ClassVar[int] = C.EXIT_UNEXPECTED
    message: ClassVar[str] = "{detail}"

    def __init__(self, detail: str | None = None, /, **fields: Any) -> None:
        if detail is not None:
            fields.setdefault("detail", detail)
        self.fields: dict[str, Any] = fields
        #: The package file the error was met in (``within``), when its message does not
        #: name it already: every error about a package must say which file it is.
        self.package: str | None = None
        super().__init__(self._render())

    def within(self, package: str) -> AipError:
        """Record the package file this error was met in (the innermost one wins).

        The rendered message is prefixed with ``package`` unless it names the file already
        (its full path or its base name).  Returns ``self``, to be re-raised.
        """
        if getattr(self, "package", None) is None and package:
            self.package = package
            self.args = (self._render(),)
        return self

    def _render(self) -> str:
        try:
            text = self.message.format(**self.fields)
        except (KeyError, IndexError, ValueError):
            text = self.fields.get("detail") or type(self).__name__
        package = getattr(self, "package", None)
        if package:
            base = package.replace("\\", "/").rsplit("/", 1)[-1]
            if package not in text and base not in text:
                return f"{package}: {text}"
        return text

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (parallel export workers): rebuild them with
        # their fields and attributes, whatever their constructor's signature.
        return (_rebuild_error, (type(self), dict(self.__dict__), self.args))


def _rebuild_error(cls: type[AipError], state: dict[str, Any],
                   args: tuple[Any, ...]) -> AipError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


# --- usage and configuration ------------------------------------------------------------------
class UsageError(AipError):
    """A wrong flag, a missing argument or a combination that makes no sense."""

    exit_code = C.EXIT_USAGE


class BadOptionError(UsageError):
    """An unknown ``-o`` option, or a bad value for a known one."""

    exit_code = C.EXIT_BAD_OPTION


class ConfigError(AipError):
    """The configuration file is missing, malformed, or has an unknown key or wrong type."""

    exit_code = C.EXIT_CONFIG


class ConfigPermissionError(ConfigError):
    """A file that holds a secret is readable by other users."""

    exit_code = C.EXIT_CONFIG_PERMISSIONS
    message = "{path}: holds a secret and is readable by other users; chmod 600 it"


class EntityConfigError(ConfigError):
    """An entities configuration file (``relationship-types.xml``, ``virtual-metadata.xml``)
    is malformed or breaks a rule (a loop of ``Related`` beans, a bad cardinality)."""

    exit_code = C.EXIT_ENTITY_CONFIG
    message = "{path}: {detail}"


# --- packages ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of a validator: a stable code plus where and what.

    Codes are ``AIP-E<nnn>`` for errors and ``AIP-W<nnn>`` for warnings; they are part of the
    interface (the bad-AIP corpus is named after them) and never change meaning.
    """

    code: str
    message: str
    path: str = ""
    expected: str | None = None
    found: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        extra = ""
        if self.expected is not None or self.found is not None:
            extra = f" (expected {self.expected!r}, found {self.found!r})"
        return f"{self.code} {where}{self.message}{extra}"


class PackageError(AipError):
    """A package cannot be read or written as a DSpace METS AIP."""

    exit_code = C.EXIT_PACKAGE
    code: ClassVar[str] = "AIP-E020"


class ZipFormatError(PackageError):
    """The package is not a readable zip (broken, truncated, or not a zip at all)."""

    exit_code = C.EXIT_ZIP_FORMAT
    code = "AIP-E021"
    message = "{path}: not a readable zip file: {detail}"


class UnsafePathError(PackageError):
    """A zip entry would escape the extraction folder (absolute, ``..``, drive, link)."""

    exit_code = C.EXIT_UNSAFE_PATH
    code = "AIP-E022"
    message = "{path}: unsafe entry name {entry!r} in the zip: {detail}"


class ZipBombError(PackageError):
    """A zip entry or the whole package decompresses beyond the configured limits."""

    exit_code = C.EXIT_ZIP_BOMB
    code = "AIP-E023"
    message = "{path}: refused as a zip bomb: {detail}"


class DuplicateEntryError(PackageError):
    """Two zip entries share one name."""

    exit_code = C.EXIT_DUPLICATE_ENTRY
    code = "AIP-E034"
    message = "{path}: duplicate zip entry {entry!r}"


class ManifestMissingError(PackageError):
    """The package has no ``mets.xml``."""

    exit_code = C.EXIT_MANIFEST_MISSING
    code = "AIP-E024"
    message = "{path}: No METS Manifest found (filename=mets.xml).  Package is unacceptable!"


class ManifestParseError(PackageError):
    """The manifest is not well-formed XML, or uses DTDs, entities or external references."""

    exit_code = C.EXIT_MANIFEST_PARSE
    code = "AIP-E025"
    message = "{path}: cannot parse METS manifest: {detail}"


class ProfileError(PackageError):
    """The manifest's PROFILE is missing or is not the DSpace AIP profile."""

    exit_code = C.EXIT_PROFILE
    code = "AIP-E026"
    message = "{path}: {detail}"


class PackageValidationError(PackageError):
    """Validation found one or more problems; all of them are listed."""

    exit_code = C.EXIT_PACKAGE_INVALID
    code = "AIP-E027"
    message = "{path}: {count} problem(s): {first}"

    def __init__(self, problems: Sequence[Problem], path: str = "") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        first = str(self.problems[0]) if self.problems else "no detail"
        super().__init__(path=path, count=len(self.problems), first=first)


class MissingFileError(PackageError):
    """The manifest names a file that is not in the package (or a child package is missing)."""

    exit_code = C.EXIT_MISSING_FILE
    code = "AIP-E028"
    message = "{path}: the manifest names {entry!r}, which is not in the package"


class ChildPointerError(PackageError):
    """A child pointer refers back to the package itself or to an ancestor (a loop)."""

    exit_code = C.EXIT_CHILD_POINTER
    code = "AIP-E029"
    message = "{path}: child pointer {href!r} makes a loop"


class HandleFormatError(PackageError):
    """A handle is not of the form ``<prefix>/<suffix>``."""

    exit_code = C.EXIT_HANDLE_FORMAT
    code = "AIP-E030"
    message = "bad handle {handle!r}: a handle is <prefix>/<suffix>, e.g. 123456789/42"


class CrosswalkError(PackageError):
    """A metadata section cannot be crosswalked (bad structure, unknown values)."""

    exit_code = C.EXIT_CROSSWALK
    code = "AIP-E031"
    message = "{detail}"


class MetadataRegistryError(PackageError):
    """A metadata schema or field is not in the registry (and may not be created)."""

    exit_code = C.EXIT_METADATA_REGISTRY
    code = "AIP-E032"


class UnknownSchemaError(MetadataRegistryError):
    """The package uses a metadata schema the repository does not define."""

    message = (
        "Unknown Metadata Schema encountered ({schema}) when attempting to ingest an Item. "
        "You will need to create this Metadata Schema in the registry before the Item can "
        "be ingested."
    )


class UnknownFieldError(MetadataRegistryError):
    """A metadata field is not in the registry."""

    message = "The '{field}' element has not been defined in this repository."


class UnauthorizedContentError(PackageError):
    """The exporting e-person may not read a bundle or bitstream (``-o unauthorized`` unset)."""

    exit_code = C.EXIT_UNAUTHORIZED_CONTENT
    code = "AIP-E033"
    message = "Not authorized to read {what} {name!r} of {handle} as {eperson}"


class OutputError(PackageError):
    """The output file or folder cannot be written."""

    exit_code = C.EXIT_OUTPUT
    code = "AIP-E036"
    message = "cannot write {path}: {detail}"


class TypeMismatchError(PackageError):
    """The object to replace is not of the package's type."""

    exit_code = C.EXIT_TYPE_MISMATCH
    code = "AIP-E037"
    message = (
        "The object type of the METS manifest ({package_type}) does not match up with the "
        "object type ({object_type}) of the object to be replaced ({handle})"
    )


# --- repository -------------------------------------------------------------------------------
class StoreError(AipError):
    """The repository store failed (database or assetstore)."""

    exit_code = C.EXIT_STORE


class NotFoundError(StoreError):
    """No object, e-person or group by that name or handle."""

    exit_code = C.EXIT_NOT_FOUND
    message = "{what} {key!r} not found"


class AlreadyExistsError(StoreError):
    """An object that must be new exists already."""

    exit_code = C.EXIT_EXISTS
    message = "{what} {key!r} already exists"


class MissingParentError(StoreError):
    """The parent an object must be attached to does not exist."""

    exit_code = C.EXIT_MISSING_PARENT
    message = "Could not find a parent object referenced as {parent!r} for {what} {key!r}"


class LockedError(StoreError):
    """Another process holds the repository lock."""

    exit_code = C.EXIT_LOCKED
    message = "{path} is locked by {holder}; try again when it is done"


class PermissionDeniedError(StoreError):
    """The acting e-person lacks the right for the operation."""

    exit_code = C.EXIT_PERMISSION
    message = "{eperson} may not {action}"


class InputFileError(StoreError):
    """An input file or folder does not exist or cannot be read."""

    exit_code = C.EXIT_INPUT_FILE
    message = "cannot read {path}: {detail}"


class InvalidValueError(StoreError):
    """A value is not acceptable for the field it is given for."""

    exit_code = C.EXIT_INVALID_VALUE
    message = "{detail}"


class RelationshipError(StoreError):
    """A relationship breaks a rule of its type: unknown type, wrong entity type, a
    cardinality that would be exceeded, a place out of range, a duplicate."""

    exit_code = C.EXIT_RELATIONSHIP
    message = "{detail}"


class WorkerLostError(AipError):
    """A worker process of the packager ended (killed, out of memory) during a task, or
    could not be started; the work it held did not happen."""

    exit_code = C.EXIT_UNEXPECTED
    message = "a packager worker process {detail}"


# --- integrity --------------------------------------------------------------------------------
class IntegrityError(AipError):
    """Bytes do not match their recorded checksum or size."""

    exit_code = C.EXIT_CHECKSUM
    message = "{what}: {algorithm} mismatch (expected {expected}, found {found})"


class ChecksumMismatchError(IntegrityError):
    """A checksum of a file in a package does not match the manifest."""

    code: ClassVar[str] = "AIP-E080"


class AssetstoreCorruptError(IntegrityError):
    """A stored bitstream no longer matches the checksum recorded when it was stored."""

    exit_code = C.EXIT_ASSETSTORE_CORRUPT


# --- reports ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Outcome:
    """What happened to one object in a run (restored, skipped, replaced, exported...)."""

    handle: str
    action: str
    detail: str = ""
    package: str = ""

    def line(self) -> str:
        """The report line: ``restored   123456789/42 (detail) [ITEM@123456789-42.zip]``."""
        detail = f" ({self.detail})" if self.detail else ""
        package = f" [{self.package}]" if self.package else ""
        return f"{self.action:<10} {self.handle or '-'}{detail}{package}"


@dataclass(slots=True)
class Report:
    """Warnings and outcomes collected during one command; never raised."""

    warnings: list[Problem] = field(default_factory=list)
    #: one per object: a restore of a million items keeps its newest few thousand in memory
    outcomes: SpillList[Outcome] = field(default_factory=SpillList)

    def warn(self, code: str, message: str, path: str = "") -> None:
        self.warnings.append(Problem(code=code, message=message, path=path))

    def add(self, handle: str, action: str, detail: str = "", package: str = "") -> None:
        self.outcomes.append(Outcome(handle=handle, action=action, detail=detail,
                                     package=package))

    def extend(self, other: Report) -> None:
        self.warnings.extend(other.warnings)
        self.outcomes.extend(other.outcomes)

    def summary(self) -> dict[str, int]:
        """Action -> how many objects got it (``restored``: 12, ...)."""
        return count_actions(o.action for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """``EXIT_OK``, or the warning code the worst warning maps to."""
        if not self.warnings:
            return C.EXIT_OK
        codes = {w.code for w in self.warnings}
        if "AIP-W101" in codes:
            return C.EXIT_WARN_PARENT_MISSING
        if any(o.action == "skipped" for o in self.outcomes):
            return C.EXIT_WARN_SKIPPED
        return C.EXIT_WARNING


def count_actions(actions: Iterable[str]) -> dict[str, int]:
    """Action -> count, sorted by action: the summary line of an ingest or a restore."""
    counts: dict[str, int] = {}
    for action in actions:
        counts[action] = counts.get(action, 0) + 1
    return dict(sorted(counts.items()))


def collect(problems: Iterable[Problem], path: str = "") -> None:
    """Raise one ``PackageValidationError`` listing every error-level problem, if any."""
    errors = [p for p in problems if p.code.startswith("AIP-E")]
    if errors:
        raise PackageValidationError(errors, path=path)
