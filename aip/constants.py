"""Format constants and the exit-code table: the one place they are defined.

Owns: XML namespaces, the DSpace METS AIP profile and its fixed attribute values, fileGrp
USE values, package file-name patterns, checksum settings, zip container settings, packager
option names and the exit-code bands. Must not import anything from the project.

Everything here is a fact of the DSpace AIP format (see ``docs/aip-format.md`` in the
reference material) or a project-wide choice that other modules must agree on.
"""

from __future__ import annotations

import re
from typing import Final

# ---------------------------------------------------------------------------------------------
# XML namespaces (prefix -> URI).  DSpace writes these prefixes; parsing never relies on them.
# ---------------------------------------------------------------------------------------------
NS_METS: Final = "http://www.loc.gov/METS/"
NS_XLINK: Final = "http://www.w3.org/1999/xlink"
NS_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
NS_MODS: Final = "http://www.loc.gov/mods/v3"
NS_DIM: Final = "http://www.dspace.org/xmlns/dspace/dim"
NS_PREMIS: Final = "http://www.loc.gov/standards/premis"
NS_METSRIGHTS: Final = "http://cosimo.stanford.edu/sdr/metsrights/"
NS_DSROLES: Final = "http://www.dspace.org/xmlns/dspace/dspace-roles"
NS_AIPSYNC: Final = "https://aipsync.org/xmlns/aip-extension/1"

NSMAP: Final[dict[str, str]] = {
    "mets": NS_METS,
    "xlink": NS_XLINK,
    "xsi": NS_XSI,
    "mods": NS_MODS,
    "dim": NS_DIM,
    "premis": NS_PREMIS,
    "rights": NS_METSRIGHTS,
    "dsroles": NS_DSROLES,
    "aipsync": NS_AIPSYNC,
}

SCHEMA_LOCATION_METS: Final = "http://www.loc.gov/standards/mets/mets.xsd"
SCHEMA_LOCATION_MODS: Final = "http://www.loc.gov/standards/mods/v3/mods-3-1.xsd"
SCHEMA_LOCATION_PREMIS: Final = "http://www.loc.gov/standards/premis/PREMIS-v1-0.xsd"
SCHEMA_LOCATION_METSRIGHTS: Final = "http://cosimo.stanford.edu/sdr/metsrights.xsd"

# ---------------------------------------------------------------------------------------------
# The METS AIP profile (docs/aip-format.md section 3)
# ---------------------------------------------------------------------------------------------
AIP_PROFILE: Final = "http://www.dspace.org/schema/aip/mets_aip_1_0.xsd"
MANIFEST_NAME: Final = "mets.xml"
METS_TYPE_PREFIX: Final = "DSpace "

#: The CREATOR agent and the zip comment name the software, not its release: a new aipsync
#: release must not change the bytes of an unchanged object (the mirror uploads by checksum).
CREATOR_NAME: Final = "aipsync (DSpace AIP format 1.0)"
ZIP_COMMENT: Final = "METS archive created by aipsync (DSpace AIP format 1.0)"
AGENT_CUSTODIAN_OTHERTYPE: Final = "DSpace Archive"
AGENT_CREATOR_OTHERTYPE: Final = "DSpace Software"

STRUCTMAP_MAIN_LABEL: Final = "DSpace Object"
STRUCTMAP_PARENT_LABEL: Final = "Parent"
STRUCTMAP_TYPE: Final = "LOGICAL"
DIV_OBJECT_CONTENTS: Final = "DSpace Object Contents"
DIV_PARENT_LINK: Final = "AIP Parent Link"
DIV_PARENT_LABEL: Final = "Parent of this DSpace Object"
DIV_BITSTREAM: Final = "DSpace BITSTREAM"
DIV_ITEM_TEMPLATE: Final = "DSpace ITEM Template"
LOCTYPE_HANDLE: Final = "HANDLE"
LOCTYPE_URL: Final = "URL"
LOCTYPE_URN: Final = "URN"
#: ``mets/@ID`` of DSpace 7.1+: ``DSpace_<TYPE>_DB-ID-<uuid>`` (AbstractMETSDisseminator
#: .makeManifest); the ingester takes the UUID after the last marker (getObjectID).
METS_ID_DBID_MARKER: Final = "DB-ID-"
URN_UUID_PREFIX: Final = "urn:uuid:"

#: MDTYPE values the METS toolkit knows; every other label becomes OTHER + OTHERMDTYPE.
METS_KNOWN_MDTYPES: Final = frozenset(
    {"MARC", "MODS", "EAD", "DC", "NISOIMG", "LC-AV", "VRA", "TEIHDR", "DDI", "FGDC", "LOM",
     "PREMIS", "OTHER"}
)

# Metadata-type labels (the part before ":" in an aip.disseminate entry).
MD_MODS: Final = "MODS"
MD_DIM: Final = "DIM"
MD_PREMIS: Final = "PREMIS"
MD_ROLES: Final = "DSPACE-ROLES"
MD_METSRIGHTS: Final = "METSRIGHTS"
MD_TECHMD: Final = "AIP-TECHMD"
MD_DEPOSIT_LICENSE: Final = "DSpaceDepositLicense"
MD_CC_RDF: Final = "CreativeCommonsRDF"
MD_CC_TEXT: Final = "CreativeCommonsText"
#: aipsync's own section: facts DSpace's AIPs lose (harvesting settings, discoverable flag,
#: policy descriptions, SHA-256, whole formats; the SITE AIP adds the registries).  DSpace
#: *refuses* an unknown MDTYPE in a referenced amdSec, so it lives in one amdSec that no ADMID
#: refers to (invisible to DSpace); see aip.crosswalks.extension.
MD_AIPSYNC: Final = "AIPSYNC-EXT"

# Crosswalk names used in the ingest mapping (mets.dspaceAIP.ingest.crosswalk.<MDTYPE>).
XWALK_NULLSTREAM: Final = "NULLSTREAM"
XWALK_NIL: Final = "NIL"

# Defaults of dspace.cfg (docs/aip-format.md 3.4)
DEFAULT_DISSEMINATE_DMD: Final = ("MODS", "DIM")
DEFAULT_DISSEMINATE_TECHMD: Final = ("PREMIS", "DSPACE-ROLES")
DEFAULT_DISSEMINATE_RIGHTSMD: Final = (
    "DSpaceDepositLicense:DSPACE_DEPLICENSE",
    "CreativeCommonsRDF:DSPACE_CCRDF",
    "CreativeCommonsText:DSPACE_CCTEXT",
    "METSRIGHTS",
)
DEFAULT_DISSEMINATE_SOURCEMD: Final = ("AIP-TECHMD",)
DEFAULT_DISSEMINATE_DIGIPROVMD: Final = ()
DEFAULT_INGEST_CROSSWALKS: Final[dict[str, str]] = {
    "DSpaceDepositLicense": XWALK_NULLSTREAM,
    "CreativeCommonsRDF": XWALK_NULLSTREAM,
    "CreativeCommonsText": XWALK_NULLSTREAM,
}

# ---------------------------------------------------------------------------------------------
# Object types, bundles, file groups
# ---------------------------------------------------------------------------------------------
TYPE_SITE: Final = "SITE"
TYPE_COMMUNITY: Final = "COMMUNITY"
TYPE_COLLECTION: Final = "COLLECTION"
TYPE_ITEM: Final = "ITEM"
TYPE_BUNDLE: Final = "BUNDLE"
TYPE_BITSTREAM: Final = "BITSTREAM"
TYPE_EPERSON: Final = "EPERSON"
TYPE_GROUP: Final = "GROUP"
PACKAGE_TYPES: Final = (TYPE_SITE, TYPE_COMMUNITY, TYPE_COLLECTION, TYPE_ITEM)
#: The object types that hold others (their AIPs point at their children's).
CONTAINER_TYPES: Final = (TYPE_SITE, TYPE_COMMUNITY, TYPE_COLLECTION)
#: DSpace's numeric type ids, used in ORPHANED_<n>_GROUP_ names.
TYPE_IDS: Final[dict[str, int]] = {
    TYPE_BITSTREAM: 0, "BUNDLE": 1, TYPE_ITEM: 2, TYPE_COLLECTION: 3, TYPE_COMMUNITY: 4,
    TYPE_SITE: 5, TYPE_GROUP: 6, TYPE_EPERSON: 7,
}

BUNDLE_ORIGINAL: Final = "ORIGINAL"
BUNDLE_LICENSE: Final = "LICENSE"
BUNDLE_CC_LICENSE: Final = "CC-LICENSE"
BUNDLE_TEXT: Final = "TEXT"
BUNDLE_THUMBNAIL: Final = "THUMBNAIL"
FILEGRP_LOGO: Final = "LOGO"
#: fileGrp USE values the ingester reads under another bundle name (DSpace AbstractMETSIngester).
FILEGRP_ALIASES: Final[dict[str, str]] = {"CONTENT": BUNDLE_ORIGINAL, "MANIFESTMD": "METADATA"}
LICENSE_FORMAT_NAME: Final = "License"
CC_RDF_NAME: Final = "license_rdf"
CC_TEXT_NAME: Final = "license_text"
DEPOSIT_LICENSE_NAME: Final = "license.txt"

# Collection role groups as they appear in DSPACE-ROLES Group/@Type.
ROLE_ADMIN: Final = "ADMIN"
ROLE_SUBMIT: Final = "SUBMIT"
ROLE_WORKFLOW_1: Final = "WORKFLOW_STEP_1"
ROLE_WORKFLOW_2: Final = "WORKFLOW_STEP_2"
ROLE_WORKFLOW_3: Final = "WORKFLOW_STEP_3"
COLLECTION_ROLES: Final = (ROLE_ADMIN, ROLE_SUBMIT, ROLE_WORKFLOW_1, ROLE_WORKFLOW_2,
                           ROLE_WORKFLOW_3)
COMMUNITY_ROLES: Final = (ROLE_ADMIN,)
GROUP_ANONYMOUS: Final = "Anonymous"
GROUP_ADMINISTRATOR: Final = "Administrator"

#: What ``repo init`` names a new site when not told otherwise.
DEFAULT_SITE_NAME: Final = "aipsync repository"
DEFAULT_SITE_URL: Final = "http://localhost:8080/server"

# ---------------------------------------------------------------------------------------------
# Configurable Entities (DSpace 7+; docs/entities.md)
# ---------------------------------------------------------------------------------------------
#: The field holding an item's (or collection's) entity type: schema, element, qualifier.
ENTITY_TYPE_FIELD: Final = ("dspace", "entity", "type")
#: Schema of the ``relation.<name>`` virtual values (registry file relationship-formats.xml).
RELATION_SCHEMA: Final = "relation"
#: Qualifier of ``relation.<name>.latestForDiscovery`` virtual values.
LATEST_FOR_DISCOVERY: Final = "latestForDiscovery"
#: Authority of every virtual value (``Constants.VIRTUAL_AUTHORITY_PREFIX``) + relationship id.
VIRTUAL_AUTHORITY_PREFIX: Final = "virtual::"
#: The ``rels`` structMap of DSpace PR #3328: its ID, the prefix of each name's div ID, and
#: the TYPE of the one div aipsync wraps the name divs in (the METS schema allows one div
#: per structMap).
STRUCTMAP_RELS_ID: Final = "rels"
RELS_DIV_PREFIX: Final = "rels_"
DIV_RELATIONSHIPS: Final = "DSpace Relationships"

# Container fields: the fixed DIM list per type (docs/aip-format.md 3.3), as (element, qualifier).
COMMUNITY_FIELDS: Final = (
    ("description", None), ("description", "abstract"), ("description", "tableofcontents"),
    ("identifier", "uri"), ("rights", None), ("title", None),
)
COLLECTION_FIELDS: Final = (
    ("description", None), ("description", "abstract"), ("description", "tableofcontents"),
    ("identifier", "uri"), ("provenance", None), ("rights", None), ("rights", "license"),
    ("title", None),
)

# ---------------------------------------------------------------------------------------------
# Package file names (docs/aip-format.md 1.2)
# ---------------------------------------------------------------------------------------------
PACKAGE_EXTENSION: Final = "zip"
MANIFEST_ONLY_EXTENSION: Final = "xml"
PACKAGE_NAME_RE: Final = re.compile(
    r"^(?P<type>SITE|COMMUNITY|COLLECTION|ITEM)@(?P<ident>[^/\\]+)\.(?P<ext>[A-Za-z0-9]+)$"
)
HANDLE_RE: Final = re.compile(r"^(?P<prefix>[0-9A-Za-z.]+)/(?P<suffix>[0-9A-Za-z._-]+)$")
HANDLE_URI_PREFIX: Final = "hdl:"
SITE_HANDLE_SUFFIX: Final = "0"
BITSTREAM_ENTRY_PREFIX: Final = "bitstream_"
LOGO_ENTRY_PREFIX: Final = "logo"
EXTRA_STREAM_PREFIX: Final = "metadata_"
TEMP_PREFIX: Final = ".aipsync-tmp-"

# ---------------------------------------------------------------------------------------------
# Checksums and streaming
# ---------------------------------------------------------------------------------------------
CHECKSUM_TYPE: Final = "MD5"
#: A mebibyte, the unit of sizes in configuration and of part sizes.
MIB: Final = 1024 * 1024
HASH_BLOCK_SIZE: Final = MIB

# Zip container (deterministic): deflate at zlib level 6 as java.util.zip does.
ZIP_COMPRESS_LEVEL: Final = 6
#: Entry time of every non-item entry (DSpace 7+: 2002-11-04T00:00:00Z).
ZIP_FIXED_TIME: Final = (2002, 11, 4, 0, 0, 0)

# Limits when reading untrusted packages (hostile input).
#: A container's manifest lists each child in about 265 bytes: a collection of 300,000
#: items has a manifest of 80 MB (the million-item load run's), so this allows about a
#: million items in one collection.
MAX_MANIFEST_BYTES: Final = 256 * 1024 * 1024
MAX_ZIP_ENTRIES: Final = 100_000
MAX_COMPRESSION_RATIO: Final = 200
MAX_PACKAGE_UNCOMPRESSED: Final = 256 * 1024**3
MAX_ATTRIBUTE_CHARS: Final = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Packager options (-o key=value), docs/aip-format.md section 6
# ---------------------------------------------------------------------------------------------
EXPORT_OPTIONS: Final = frozenset(
    {"filterBundles", "includeBundles", "manifestOnly", "passwords", "unauthorized",
     "updatedAfter", "validate"}
)
INGEST_OPTIONS: Final = frozenset(
    {"ignoreHandle", "ignoreParent", "createMetadataFields", "skipIfParentMissing", "validate",
     "manifestOnly", "dmd", "useCollectionTemplate"}
)
#: Options DSpace accepts on both sides and ignores on the other (5.9): not an error.
IGNORED_ON_EXPORT: Final = frozenset(
    {"dmd", "createMetadataFields", "ignoreHandle", "ignoreParent", "skipIfParentMissing"}
)

# ---------------------------------------------------------------------------------------------
# Exit codes.  Bands: 0 ok, 1 done with warnings, 2 unexpected, 3-99 specific errors
# (10-19 config, 20-39 package/METS, 40-49 store/lock, 50-69 mirror/restore, 80-89 integrity),
# 100-127 specific warnings, 128+N killed by signal N.  Codes are never reused.
# ---------------------------------------------------------------------------------------------
EXIT_OK: Final = 0
EXIT_WARNING: Final = 1
EXIT_UNEXPECTED: Final = 2
EXIT_USAGE: Final = 3
EXIT_INTERRUPTED: Final = 4

EXIT_CONFIG: Final = 10
EXIT_CONFIG_PERMISSIONS: Final = 11
EXIT_ENTITY_CONFIG: Final = 12

EXIT_PACKAGE: Final = 20
EXIT_ZIP_FORMAT: Final = 21
EXIT_UNSAFE_PATH: Final = 22
EXIT_ZIP_BOMB: Final = 23
EXIT_MANIFEST_MISSING: Final = 24
EXIT_MANIFEST_PARSE: Final = 25
EXIT_PROFILE: Final = 26
EXIT_PACKAGE_INVALID: Final = 27
EXIT_MISSING_FILE: Final = 28
EXIT_CHILD_POINTER: Final = 29
EXIT_HANDLE_FORMAT: Final = 30
EXIT_CROSSWALK: Final = 31
EXIT_METADATA_REGISTRY: Final = 32
EXIT_UNAUTHORIZED_CONTENT: Final = 33
EXIT_DUPLICATE_ENTRY: Final = 34
EXIT_BAD_OPTION: Final = 35
EXIT_OUTPUT: Final = 36
EXIT_TYPE_MISMATCH: Final = 37

EXIT_STORE: Final = 40
EXIT_NOT_FOUND: Final = 41
EXIT_EXISTS: Final = 42
EXIT_MISSING_PARENT: Final = 43
EXIT_LOCKED: Final = 44
EXIT_PERMISSION: Final = 45
EXIT_INPUT_FILE: Final = 46
EXIT_INVALID_VALUE: Final = 47
EXIT_RELATIONSHIP: Final = 48

EXIT_MIRROR: Final = 50
EXIT_TARGET_UNREACHABLE: Final = 51
EXIT_TARGET_PERMANENT: Final = 52
EXIT_SNAPSHOT_NOT_FOUND: Final = 53
EXIT_NOT_IN_SNAPSHOT: Final = 54
EXIT_DOWNLOAD: Final = 55
EXIT_SOURCE: Final = 56
EXIT_DISK_FULL: Final = 57
EXIT_RESTORE_DECLINED: Final = 58
EXIT_STAGING: Final = 59

EXIT_CHECKSUM: Final = 80
EXIT_ASSETSTORE_CORRUPT: Final = 81
EXIT_AUDIT_FAILED: Final = 82
EXIT_INVENTORY_INVALID: Final = 83

EXIT_WARN_SKIPPED: Final = 100
EXIT_WARN_PARENT_MISSING: Final = 101
EXIT_WARN_AUDIT: Final = 102

EXIT_SIGNAL_BASE: Final = 128

# ---------------------------------------------------------------------------------------------
# Environment variables the entry points read (only there).
# ---------------------------------------------------------------------------------------------
ENV_REPO: Final = "AIPSYNC_REPO"
ENV_PREFIX: Final = "AIPSYNC_"
