"""Packager ``-o key=value`` options: parsing, defaults by mode, and their errors.

Owns: ``ExportOptions`` and ``IngestOptions`` (typed, frozen) built from DSpace's option
strings, with DSpace's defaults (docs/aip-format.md section 6) and DSpace's error texts where
they exist.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aip import constants as C
from aip.errors import BadOptionError

_TRUE = {"true", "yes", "on", "1", ""}
_FALSE = {"false", "no", "off", "0"}
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
UPDATED_AFTER_MESSAGE = (
    "Invalid date passed in via 'updatedAfter' option. Date must be in ISO-8601 format, and "
    "include both a day and time (e.g. 2010-01-01T00:00:00)."
)


def parse_option_strings(values: Iterable[str]) -> dict[str, str]:
    """``["a=b", "c"]`` -> ``{"a": "b", "c": ""}`` (a bare name means the empty value)."""
    out: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not name:
            raise BadOptionError(f"bad -o option {text!r}: expected name=value")
        out[name] = value.strip() if sep else ""
    return out


def _bool(options: Mapping[str, str], name: str, default: bool) -> bool:
    if name not in options:
        return default
    value = options[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadOptionError(f"-o {name}: expected true or false, got {options[name]!r}")


def parse_updated_after(text: str) -> dt.datetime:
    """An ISO-8601 date-time (a time is required); naive values are taken as UTC."""
    text = text.strip()
    if not _DATETIME_RE.match(text):
        raise BadOptionError(UPDATED_AFTER_MESSAGE)
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadOptionError(UPDATED_AFTER_MESSAGE) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _names(text: str) -> frozenset[str]:
    return frozenset(n.strip() for n in text.split(",") if n.strip())


@dataclass(frozen=True, slots=True)
class BundleFilter:
    """Which bundles go into an item AIP: an exclude list, or an include list (``+``)."""

    names: frozenset[str] = frozenset()
    include: bool = False

    @classmethod
    def parse(cls, text: str) -> BundleFilter:
        text = text.strip()
        if text.startswith("+"):
            names = _names(text[1:])
            if "all" in {n.lower() for n in names}:
                return cls()
            return cls(names=names, include=True)
        return cls(names=_names(text), include=False)

    def __call__(self, bundle: str) -> bool:
        if self.include:
            return bundle in self.names
        return bundle not in self.names

    @property
    def is_everything(self) -> bool:
        return not self.include and not self.names


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Options of ``packager -d``."""

    bundles: BundleFilter = BundleFilter()
    manifest_only: bool = False
    passwords: bool = False
    unauthorized: str | None = None
    updated_after: dt.datetime | None = None
    validate: bool = True

    @property
    def include_bundle(self) -> Callable[[str], bool]:
        return self.bundles

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> ExportOptions:
        """Build from ``-o`` options; unknown names and bad values raise ``BadOptionError``."""
        unknown = set(options) - C.EXPORT_OPTIONS - C.IGNORED_ON_EXPORT
        if unknown:
            known = ", ".join(sorted(C.EXPORT_OPTIONS))
            raise BadOptionError(f"unknown export option {sorted(unknown)[0]!r} "
                                 f"(known: {known})")
        if "filterBundles" in options and "includeBundles" in options:
            raise BadOptionError("-o filterBundles and -o includeBundles cannot be used "
                                 "together: use filterBundles=+NAMES to include only NAMES")
        bundles = BundleFilter()
        if "filterBundles" in options:
            bundles = BundleFilter.parse(options["filterBundles"])
        elif "includeBundles" in options:
            text = options["includeBundles"].strip()
            bundles = BundleFilter.parse("+" + text.lstrip("+"))
        unauthorized = options.get("unauthorized")
        if unauthorized is not None:
            unauthorized = unauthorized.strip().lower()
            if unauthorized not in ("skip", "zero"):
                raise BadOptionError(
                    f"-o unauthorized: expected skip or zero, got {options['unauthorized']!r}")
        updated_after = None
        if "updatedAfter" in options:
            updated_after = parse_updated_after(options["updatedAfter"])
        # DSpace switches password export on when the key is present at all (5.9); aipsync
        # honours an explicit false, which is what an administrator writing it means.
        passwords = "passwords" in options and _bool(options, "passwords", True)
        return cls(bundles=bundles, manifest_only=_bool(options, "manifestOnly", False),
                   passwords=passwords, unauthorized=unauthorized,
                   updated_after=updated_after, validate=_bool(options, "validate", True))


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Options of ``packager -s`` / ``-r`` (defaults depend on the mode, docs 5.4)."""

    ignore_handle: bool
    ignore_parent: bool
    create_metadata_fields: bool = True
    skip_if_parent_missing: bool = False
    validate: bool = False
    manifest_only: bool = False
    dmd: str | None = None
    use_collection_template: bool = False

    @classmethod
    def parse(cls, options: Mapping[str, str], *, restore: bool,
              parent_given: bool) -> IngestOptions:
        unknown = set(options) - C.INGEST_OPTIONS
        if unknown:
            known = ", ".join(sorted(C.INGEST_OPTIONS))
            raise BadOptionError(f"unknown ingest option {sorted(unknown)[0]!r} "
                                 f"(known: {known})")
        dmd = options.get("dmd")
        if dmd is not None:
            dmd = dmd.strip().upper()
            if dmd not in ("DIM", "MODS"):
                raise BadOptionError(f"-o dmd: expected DIM or MODS, got {options['dmd']!r}")
        return cls(
            ignore_handle=_bool(options, "ignoreHandle", not restore),
            ignore_parent=_bool(options, "ignoreParent", parent_given),
            create_metadata_fields=_bool(options, "createMetadataFields", True),
            skip_if_parent_missing=_bool(options, "skipIfParentMissing", False),
            validate=_bool(options, "validate", False),
            manifest_only=_bool(options, "manifestOnly", False),
            dmd=dmd,
            use_collection_template=_bool(options, "useCollectionTemplate", False),
        )
