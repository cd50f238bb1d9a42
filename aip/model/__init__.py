"""The object model: frozen dataclasses for everything a DSpace AIP carries.

Pure values with handles for references; the repository maps them to its tables and the METS
builders and parsers work on them.
"""

from __future__ import annotations

from aip.model.auth import Action, EPerson, Group, ResourcePolicy
from aip.model.content import (
    UNKNOWN_FORMAT,
    Bitstream,
    BitstreamFormat,
    Bundle,
    ChildRef,
    Collection,
    Community,
    Confidence,
    HarvestSettings,
    Item,
    MetadataField,
    MetadataSchema,
    MetadataValue,
    Site,
    SupportLevel,
)
from aip.model.entities import (
    LatestVersionStatus,
    Relationship,
    RelationshipClaim,
    RelationshipType,
    Side,
    Tilted,
    claim_of,
    entity_type_of,
)
from aip.model.handles import (
    HandleList,
    check_handle,
    handle_from_uri,
    handle_sort_key,
    handle_uri,
    package_file_name,
    site_handle,
    split_handle,
)

__all__ = [
    "UNKNOWN_FORMAT",
    "Action",
    "Bitstream",
    "BitstreamFormat",
    "Bundle",
    "ChildRef",
    "Collection",
    "Community",
    "Confidence",
    "EPerson",
    "Group",
    "HandleList",
    "HarvestSettings",
    "Item",
    "LatestVersionStatus",
    "MetadataField",
    "MetadataSchema",
    "MetadataValue",
    "Relationship",
    "RelationshipClaim",
    "RelationshipType",
    "ResourcePolicy",
    "Side",
    "Site",
    "SupportLevel",
    "Tilted",
    "check_handle",
    "claim_of",
    "entity_type_of",
    "handle_from_uri",
    "handle_sort_key",
    "handle_uri",
    "package_file_name",
    "site_handle",
    "split_handle",
]
