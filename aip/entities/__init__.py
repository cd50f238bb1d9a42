"""Configurable Entities (DSpace 7+): configuration files and virtual metadata, pure.

Owns: reading DSpace's ``relationship-types.xml`` (``types``) and the virtual-metadata part of
``virtual-metadata.xml`` (``config``), the defaults aipsync ships in their formats (the same
types and mappings as DSpace 7.6.7's files), and computing an item's virtual metadata on
read (``virtual``).  Pure: bytes in, values out; the repository reads the files and the
rows.  Must not import ``aip.mets``, ``aip.crosswalks`` or ``aip.repository``.
"""

from __future__ import annotations
