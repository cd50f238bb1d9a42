"""The METS layer: generic builders (``build``), hardened parsing (``parse``), validation.

Owns everything that is METS and nothing that is DSpace-AIP policy: which sections an AIP has
and how they are numbered is ``aip.packager.manifest``'s business.  Must not import
``aip.crosswalks`` (siblings; the packager is where they meet).
"""

from __future__ import annotations

from aip.mets.build import serialize
from aip.mets.parse import Manifest, from_bytes, parse_bytes, parse_manifest
from aip.mets.validate import validate_manifest

__all__ = ["Manifest", "from_bytes", "parse_bytes", "parse_manifest", "serialize",
           "validate_manifest"]
