"""Crosswalks: model values <-> the metadata formats inside a DSpace METS AIP.

Owns one module per format, each with pure ``disseminate…(...) -> lxml Element`` and
``ingest(Element) -> model values`` functions: ``dim`` (DIM), ``mods`` (MODS 3.1), ``premis``
(PREMIS 1.0), ``metsrights`` (METSRights), ``roles`` (DSPACE-ROLES), ``techmd`` (AIP-TECHMD) and
``extension`` (AIPSYNC-EXT), plus ``REGISTRY``: what the METS layer needs to know about each
crosswalk name (the namespaces and schema location declared on ``xmlData``, whether it is a
stream crosswalk and its MIME type).  Must not import ``aip.mets`` (they are siblings; the
packager is where they meet), must not do I/O, read the clock or draw random numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aip.crosswalks import dim, extension, metsrights, mods, premis, roles, techmd
from aip.xmltext import xml_safe


@dataclass(frozen=True, slots=True)
class CrosswalkInfo:
    """What the METS layer needs to know about one crosswalk name.

    ``namespaces`` and ``schema_location`` go on the ``xmlData`` element (DSpace
    ``AbstractMETSDisseminator.crosswalkToMetsElement``); stream crosswalks (licences) are
    written as ``mdRef`` (zip) or ``binData`` (manifest only) with ``mimetype``.
    """

    name: str
    namespaces: Mapping[str, str] = field(default_factory=dict)
    schema_location: str | None = None
    stream: bool = False
    mimetype: str | None = None


def _info(name: str, namespaces: Mapping[str, str], schema_location: str | None
          ) -> CrosswalkInfo:
    return CrosswalkInfo(name=name, namespaces=MappingProxyType(dict(namespaces)),
                         schema_location=schema_location)


#: Crosswalk name -> what the METS layer needs.  ``NIL``/``NULLSTREAM`` are ingest-only.
REGISTRY: Mapping[str, CrosswalkInfo] = MappingProxyType({
    "DIM": _info("DIM", dim._NAMESPACES, dim._SCHEMA_LOCATION),
    "MODS": _info("MODS", mods._NAMESPACES, mods._SCHEMA_LOCATION),
    "PREMIS": _info("PREMIS", premis._NAMESPACES, premis._SCHEMA_LOCATION),
    "METSRIGHTS": _info("METSRIGHTS", metsrights._NAMESPACES, metsrights._SCHEMA_LOCATION),
    "DSPACE-ROLES": _info("DSPACE-ROLES", roles._NAMESPACES, roles._SCHEMA_LOCATION),
    "AIP-TECHMD": _info("AIP-TECHMD", techmd._NAMESPACES, techmd._SCHEMA_LOCATION),
    "AIPSYNC-EXT": _info("AIPSYNC-EXT", extension._NAMESPACES, extension._SCHEMA_LOCATION),
    # Stream crosswalks (LicenseStreamDisseminationCrosswalk, CreativeCommons*Stream…).
    "DSPACE_DEPLICENSE": CrosswalkInfo("DSPACE_DEPLICENSE", stream=True, mimetype="text/plain"),
    "DSPACE_CCRDF": CrosswalkInfo("DSPACE_CCRDF", stream=True, mimetype="text/xml"),
    "DSPACE_CCTEXT": CrosswalkInfo("DSPACE_CCTEXT", stream=True, mimetype="text/plain"),
})

__all__ = ["REGISTRY", "CrosswalkInfo", "dim", "extension", "metsrights", "mods", "premis",
           "roles", "techmd", "xml_safe"]
