"""The packager's configuration: which crosswalk fills which METS section, and ingest rules.

Owns: ``DisseminateConfig`` (DSpace's ``aip.disseminate.*`` keys), ``IngestConfig``
(``mets.dspaceAIP.ingest.crosswalk.<MDTYPE>``, ``createSubmitter``) and ``AipConfig``, and
reading them from the ``[aip]`` table of a TOML file with unknown keys and wrong types
reported by key path.  Pure apart from ``load_aip_config`` reading one file.

TOML shape (the section lists are DSpace's ``aip.disseminate.*`` defaults; ``extension``
switches aipsync's own AIPSYNC-EXT amdSec, which no ``ADMID`` refers to and which DSpace
therefore never reads, see ``aip.crosswalks.extension``; with ``extension = false`` the
packages are shaped exactly as DSpace's; ``virtual_metadata`` writes items' virtual values
into their descriptive metadata with ``virtual::<id>`` authorities, as DSpace 7+ does, which
aipsync's own restore recognises and never stores, but which DSpace up to 10.0 fails on or
drops, see docs/entities.md)::

    [aip.disseminate]
    dmd = ["MODS", "DIM"]
    techMD = ["PREMIS", "DSPACE-ROLES"]
    rightsMD = ["DSpaceDepositLicense:DSPACE_DEPLICENSE", "CreativeCommonsRDF:DSPACE_CCRDF",
                "CreativeCommonsText:DSPACE_CCTEXT", "METSRIGHTS"]
    sourceMD = ["AIP-TECHMD"]
    digiprovMD = []
    extension = true
    virtual_metadata = false

    [aip.ingest]
    create_submitter = false
    [aip.ingest.crosswalk]
    DSpaceDepositLicense = "NULLSTREAM"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aip import constants as C
from aip.errors import ConfigError

#: Crosswalk names aipsync implements, by the section kinds they may fill.  AIPSYNC-EXT is not
#: among them: it never goes into a referenced amdSec (DSpace would refuse the package), it
#: is switched by ``DisseminateConfig.extension``.
DISSEMINATION_CROSSWALKS: dict[str, frozenset[str]] = {
    "dmd": frozenset({"MODS", "DIM"}),
    "techMD": frozenset({"PREMIS", "DSPACE-ROLES", "AIP-TECHMD", "DIM"}),
    "rightsMD": frozenset({"DSPACE_DEPLICENSE", "DSPACE_CCRDF", "DSPACE_CCTEXT", "METSRIGHTS"}),
    "sourceMD": frozenset({"AIP-TECHMD", "PREMIS", "DIM"}),
    "digiprovMD": frozenset({"PREMIS", "AIP-TECHMD"}),
}
#: Crosswalks that read sections on ingest (AIPSYNC-EXT also reads the referenced sections
#: older aipsync versions wrote).
INGEST_CROSSWALKS: frozenset[str] = frozenset(
    {"DIM", "MODS", "PREMIS", "DSPACE-ROLES", "METSRIGHTS", "AIP-TECHMD", "AIPSYNC-EXT",
     C.XWALK_NULLSTREAM, C.XWALK_NIL}
)


@dataclass(frozen=True, slots=True)
class SectionEntry:
    """One ``aip.disseminate`` entry: ``LABEL`` or ``LABEL:CROSSWALK``."""

    label: str
    crosswalk: str

    @classmethod
    def parse(cls, text: str) -> SectionEntry:
        label, _, xwalk = text.partition(":")
        label, xwalk = label.strip(), xwalk.strip()
        return cls(label=label, crosswalk=xwalk or label)


def _entries(values: tuple[str, ...]) -> tuple[SectionEntry, ...]:
    return tuple(SectionEntry.parse(v) for v in values)


@dataclass(frozen=True, slots=True)
class DisseminateConfig:
    """Which metadata types go into which METS section on export (``aip.disseminate.*``).

    ``extension``: add aipsync's AIPSYNC-EXT amdSec (unreferenced, last) with the facts
    DSpace's sections lose; ``False`` gives exactly DSpace-shaped packages.
    ``virtual_metadata``: items' DIM and MODS hold their virtual values too (DSpace 7+'s
    behaviour); off by default.
    """

    dmd: tuple[SectionEntry, ...] = _entries(C.DEFAULT_DISSEMINATE_DMD)
    techMD: tuple[SectionEntry, ...] = _entries(C.DEFAULT_DISSEMINATE_TECHMD)
    rightsMD: tuple[SectionEntry, ...] = _entries(C.DEFAULT_DISSEMINATE_RIGHTSMD)
    sourceMD: tuple[SectionEntry, ...] = _entries(C.DEFAULT_DISSEMINATE_SOURCEMD)
    digiprovMD: tuple[SectionEntry, ...] = _entries(C.DEFAULT_DISSEMINATE_DIGIPROVMD)
    extension: bool = True
    virtual_metadata: bool = False


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """How sections are read on ingest.

    ``crosswalks`` maps an MDTYPE label to the crosswalk that reads it, ``NULLSTREAM`` (read
    and ignore) or ``NIL`` (drop without reading); labels not listed use the crosswalk of the
    same name.  ``create_submitter`` creates a missing submitter e-person from AIP-TECHMD.
    """

    crosswalks: Mapping[str, str] = field(
        default_factory=lambda: dict(C.DEFAULT_INGEST_CROSSWALKS))
    create_submitter: bool = False

    def crosswalk_for(self, mdtype: str) -> str:
        return self.crosswalks.get(mdtype, mdtype)


@dataclass(frozen=True, slots=True)
class AipConfig:
    """The ``[aip]`` table."""

    disseminate: DisseminateConfig = field(default_factory=DisseminateConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)


def _str_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings, got {type(value).__name__}")
    return tuple(v.strip() for v in value)


def parse_aip_config(table: Mapping[str, Any], prefix: str = "aip") -> AipConfig:
    """Build an ``AipConfig`` from the ``[aip]`` table; ``ConfigError`` names a bad key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{prefix}: expected a table")
    unknown = set(table) - {"disseminate", "ingest"}
    if unknown:
        raise ConfigError(f"{prefix}.{sorted(unknown)[0]}: unknown key")
    dis = table.get("disseminate", {})
    if not isinstance(dis, Mapping):
        raise ConfigError(f"{prefix}.disseminate: expected a table")
    kwargs: dict[str, tuple[SectionEntry, ...]] = {}
    flags = {"extension": True, "virtual_metadata": False}
    for key, value in dis.items():
        if key in flags:
            if not isinstance(value, bool):
                raise ConfigError(f"{prefix}.disseminate.{key}: expected true or false, "
                                  f"got {type(value).__name__}")
            flags[key] = value
            continue
        if key not in DISSEMINATION_CROSSWALKS:
            raise ConfigError(f"{prefix}.disseminate.{key}: unknown key")
        entries = _entries(_str_list(value, f"{prefix}.disseminate.{key}"))
        for entry in entries:
            if entry.crosswalk == C.MD_AIPSYNC:
                raise ConfigError(
                    f"{prefix}.disseminate.{key}: {C.MD_AIPSYNC} is not a section type any "
                    "more (DSpace refuses it in a referenced amdSec); remove it and use "
                    f"{prefix}.disseminate.extension = true")
            if entry.crosswalk not in DISSEMINATION_CROSSWALKS[key]:
                known = ", ".join(sorted(DISSEMINATION_CROSSWALKS[key]))
                raise ConfigError(
                    f"{prefix}.disseminate.{key}: unknown crosswalk {entry.crosswalk!r} "
                    f"(known: {known})")
        kwargs[key] = entries
    ing = table.get("ingest", {})
    if not isinstance(ing, Mapping):
        raise ConfigError(f"{prefix}.ingest: expected a table")
    unknown = set(ing) - {"crosswalk", "create_submitter"}
    if unknown:
        raise ConfigError(f"{prefix}.ingest.{sorted(unknown)[0]}: unknown key")
    create_submitter = ing.get("create_submitter", False)
    if not isinstance(create_submitter, bool):
        raise ConfigError(f"{prefix}.ingest.create_submitter: expected true or false")
    xwalks = dict(C.DEFAULT_INGEST_CROSSWALKS)
    given = ing.get("crosswalk", {})
    if not isinstance(given, Mapping):
        raise ConfigError(f"{prefix}.ingest.crosswalk: expected a table")
    for mdtype, name in given.items():
        if not isinstance(name, str) or name not in INGEST_CROSSWALKS:
            known = ", ".join(sorted(INGEST_CROSSWALKS))
            raise ConfigError(
                f"{prefix}.ingest.crosswalk.{mdtype}: unknown crosswalk {name!r} (known: {known})")
        xwalks[mdtype] = name
    return AipConfig(
        disseminate=DisseminateConfig(**kwargs, extension=flags["extension"],
                                      virtual_metadata=flags["virtual_metadata"]),
        ingest=IngestConfig(crosswalks=xwalks, create_submitter=create_submitter),
    )


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML configuration file.

    Raises:
        ConfigError: the file cannot be read or is not TOML.
    """
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_aip_config(path: Path | None) -> AipConfig:
    """Read the ``[aip]`` table of a TOML file (other tables are ignored here)."""
    if path is None:
        return AipConfig()
    return parse_aip_config(read_toml(path).get("aip", {}))
