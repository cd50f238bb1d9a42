"""The metadata registry (schemas, fields) and the bitstream format registry.

Owns: DSpace's default registries (``dublin-core-types.xml``, ``dcterms-types.xml``,
``bitstream-formats.xml``, abridged to what repositories use), the schemas and fields of
DSpace 7's registry files for Configurable Entities (``ENTITY_SCHEMAS``/``ENTITY_FIELDS``,
installed by ``repo initialize-entities``), looking fields and formats up
(cached per transaction), creating missing fields when allowed, and guessing a format from a
file name.  Must not know about packages.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from aip.errors import InvalidValueError, UnknownFieldError, UnknownSchemaError
from aip.model import BitstreamFormat, MetadataField, MetadataSchema, SupportLevel
from aip.repository import tables as T
from aip.repository.store import Tx, pk

DEFAULT_SCHEMAS: tuple[MetadataSchema, ...] = (
    MetadataSchema("dc", "http://dublincore.org/documents/dcmi-terms/"),
    MetadataSchema("dcterms", "http://purl.org/dc/terms/"),
    MetadataSchema("local", "http://dspace.org/local"),
)

_DC_FIELDS = """
contributor|A person, organization, or service responsible for the content of the resource.
contributor.advisor|Use primarily for thesis advisor.
contributor.author|
contributor.editor|
contributor.illustrator|
contributor.other|
coverage.spatial|Spatial characteristics of content.
coverage.temporal|Temporal characteristics of content.
creator|Do not use; only for harvested metadata.
date|Use qualified form if possible.
date.accessioned|Date DSpace takes possession of item.
date.available|Date or date range item became available to the public.
date.copyright|Date of copyright.
date.created|Date of creation or manufacture of intellectual content if different from date.issued.
date.issued|Date of publication or distribution.
date.submitted|Recommend for theses/dissertations.
date.updated|The last time the item was updated via the SWORD interface.
identifier|Catch-all for unambiguous identifiers not defined by qualified form.
identifier.citation|Human-readable, standard bibliographic citation of non-DSpace format of this item
identifier.govdoc|A government document number
identifier.isbn|International Standard Book Number
identifier.issn|International Standard Serial Number
identifier.sici|Serial Item and Contribution Identifier
identifier.ismn|International Standard Music Number
identifier.other|A known identifier type common to a local collection.
identifier.uri|Uniform Resource Identifier
description|Catch-all for any description not defined by qualifiers.
description.abstract|Abstract or summary.
description.provenance|The history of custody of the item since its creation, including any changes successive custodians made to it.
description.sponsorship|Information about sponsoring agencies, individuals, or contractual arrangements for the item.
description.statementofresponsibility|To preserve statement of responsibility from MARC records.
description.tableofcontents|A table of contents for a given item.
description.uri|Uniform Resource Identifier pointing to description of this item.
description.version|The Peer Reviewed status of an item.
format|Catch-all for any format information not defined by qualifiers.
format.extent|Size or duration.
format.medium|Physical medium.
format.mimetype|Registered MIME type identifiers.
language|Catch-all for non-ISO forms of the language of the item, accommodating harvested values.
language.iso|Current ISO standard for language of intellectual content, including country codes (e.g. "en_US").
publisher|Entity responsible for publication, distribution, or imprint.
relation|Catch-all for references to other related items.
relation.isformatof|References additional physical form.
relation.ispartof|References physically or logically containing item.
relation.ispartofseries|Series name and number within that series, if available.
relation.haspart|References physically or logically contained item.
relation.isversionof|References earlier version.
relation.hasversion|References later version.
relation.isbasedon|References source.
relation.isreferencedby|Pointed to by referenced resource.
relation.requires|Referenced resource is required to support function, delivery, or coherence of item.
relation.replaces|References preceeding item.
relation.isreplacedby|References succeeding item.
relation.uri|References Uniform Resource Identifier for related item.
rights|Terms governing use and reproduction.
rights.uri|References terms governing use and reproduction.
rights.license|License of the collection.
rights.holder|
source|Do not use; only for harvested metadata.
source.uri|Do not use; only for harvested metadata.
subject|Uncontrolled index term.
subject.classification|Catch-all for value from local classification system. Global classification systems will receive specific qualifier
subject.ddc|Dewey Decimal Classification Number
subject.lcc|Library of Congress Classification Number
subject.lcsh|Library of Congress Subject Headings
subject.mesh|MEdical Subject Headings
subject.other|Local controlled vocabulary; global vocabularies will receive specific qualifier.
title|Title statement/title proper.
title.alternative|Varying (or substitute) form of title proper appearing in item, e.g. abbreviation or translation
type|Nature or genre of content.
provenance|Provenance description of a collection.
"""

_DCTERMS_FIELDS = """
abstract|A summary of the resource.
accessRights|Information about who can access the resource or an indication of its security status.
alternative|An alternative name for the resource.
bibliographicCitation|A bibliographic reference for the resource.
created|Date of creation of the resource.
dateAccepted|Date of acceptance of the resource.
extent|The size or duration of the resource.
isPartOf|A related resource in which the described resource is physically or logically included.
issued|Date of formal issuance (e.g., publication) of the resource.
license|A legal document giving official permission to do something with the resource.
rightsHolder|A person or organization owning or managing rights over the resource.
spatial|Spatial characteristics of the resource.
temporal|Temporal characteristics of the resource.
"""


def _parse_fields(schema: str, text: str) -> tuple[MetadataField, ...]:
    fields = []
    for line in text.strip().splitlines():
        name, _, note = line.partition("|")
        element, _, qualifier = name.partition(".")
        fields.append(MetadataField(schema, element, qualifier or None, note or None))
    return tuple(fields)


DEFAULT_FIELDS: tuple[MetadataField, ...] = (
    _parse_fields("dc", _DC_FIELDS) + _parse_fields("dcterms", _DCTERMS_FIELDS)
)

#: The schemas of DSpace 7.6.7's registry files for Entities (``dspace/config/registries/``:
#: ``relationship-formats.xml``, ``schema-person-types.xml``, ``schema-project-types.xml``,
#: ``schema-organization-types.xml``, ``schema-periodical-types.xml``,
#: ``schema-publicationIssue-types.xml``, ``schema-publicationVolume-types.xml``,
#: ``dspace-types.xml``, ``journal-types.xml``; all loaded by DSpace's default
#: ``registry.metadata.load``).  Names and namespaces are DSpace's; the scope notes are left
#: out.  Not part of ``repo init`` (a site without entities keeps its registry, and so the
#: bytes of its SITE AIP): ``repo initialize-entities`` adds what is missing.
ENTITY_SCHEMAS: tuple[MetadataSchema, ...] = (
    MetadataSchema("relation", "http://dspace.org/relation"),
    MetadataSchema("person", "https://schema.org/Person"),
    MetadataSchema("project", "https://schema.org/Project"),
    MetadataSchema("organization", "https://schema.org/Organization"),
    MetadataSchema("periodical", "https://schema.org/Periodical"),
    MetadataSchema("creativework", "https://schema.org/CreativeWork"),
    MetadataSchema("creativeworkseries", "https://schema.org/CreativeWorkSeries"),
    MetadataSchema("publicationissue", "https://schema.org/PublicationIssue"),
    MetadataSchema("publicationvolume", "https://schema.org/PublicationVolume"),
    MetadataSchema("dspace", "http://dspace.org/dspace"),
    MetadataSchema("journal", "http://dspace.org/journal"),
    MetadataSchema("journalvolume", "http://dspace.org/journalvolume"),
)

_RELATION_NAMES = """
isAuthorOfPublication isPublicationOfAuthor isProjectOfPublication isPublicationOfProject
isOrgUnitOfPublication isPublicationOfOrgUnit isProjectOfPerson isPersonOfProject
isOrgUnitOfPerson isPersonOfOrgUnit isOrgUnitOfProject isProjectOfOrgUnit
isVolumeOfJournal isJournalOfVolume isIssueOfJournalVolume isJournalVolumeOfIssue
isJournalOfPublication isJournalIssueOfPublication isPublicationOfJournalIssue
isContributorOfPublication isPublicationOfContributor isFundingAgencyOfProject
isProjectOfFundingAgency
"""
_ENTITY_FIELD_NAMES = """
person.givenName person.familyName person.telephone person.knowsLanguage person.email
person.birthDate person.jobTitle person.affiliation.name person.identifier
person.identifier.scopus-author-id person.identifier.ciencia-id person.identifier.gsid
person.identifier.orcid person.identifier.rid person.identifier.isni person.country
person.name.translated person.name.variant person.contributor.other
project.funder.name project.funder.identifier project.investigator project.startDate
project.endDate project.amount project.amount.currency
organization.legalName organization.foundingDate organization.address.addressLocality
organization.address.addressCountry organization.identifier organization.identifier.isni
organization.identifier.rin organization.identifier.ror organization.identifier.crossrefid
creativework.editor creativework.publisher creativeworkseries.issn
publicationissue.issueNumber creativework.keywords
creativework.datePublished publicationvolume.volumeNumber
dspace.process.filetype dspace.agreements.end-user dspace.agreements.cookies
dspace.entity.type dspace.iiif.enabled dspace.object.owner dspace.orcid.scope
dspace.orcid.sync-mode dspace.orcid.sync-publications dspace.orcid.sync-fundings
dspace.orcid.sync-profile dspace.orcid.authenticated dspace.accessibility.settings
journal.title journalvolume.identifier.name
"""


def relation_fields(name: str) -> tuple[MetadataField, MetadataField]:
    """``relation.<name>`` and ``relation.<name>.latestForDiscovery``: the fields of the
    virtual values a relationship seen by ``name`` gives (``relationship-formats.xml``)."""
    return (MetadataField("relation", name),
            MetadataField("relation", name, "latestForDiscovery"))


def _entity_fields() -> tuple[MetadataField, ...]:
    out = [f for name in _RELATION_NAMES.split() for f in relation_fields(name)]
    for name in _ENTITY_FIELD_NAMES.split():
        schema, element, *rest = name.split(".")
        out.append(MetadataField(schema, element, rest[0] if rest else None))
    return tuple(out)


ENTITY_FIELDS: tuple[MetadataField, ...] = _entity_fields()

_K, _S, _U = SupportLevel.KNOWN, SupportLevel.SUPPORTED, SupportLevel.UNKNOWN
DEFAULT_FORMATS: tuple[BitstreamFormat, ...] = (
    BitstreamFormat("Unknown", "application/octet-stream", "Unknown data format", _U),
    BitstreamFormat("License", "text/plain; charset=utf-8",
                    "Item-specific license agreed upon to submission", _K, True),
    BitstreamFormat("CC License", "text/html; charset=utf-8",
                    "Item-specific Creative Commons license agreed upon to submission", _K,
                    True),
    BitstreamFormat("RDF XML", "application/rdf+xml; charset=utf-8",
                    "RDF serialized in XML", _K, True),
    BitstreamFormat("Adobe PDF", "application/pdf", "Adobe Portable Document Format", _S,
                    False, ("pdf",)),
    BitstreamFormat("XML", "text/xml", "Extensible Markup Language", _S, False, ("xml",)),
    BitstreamFormat("Text", "text/plain", "Plain Text", _S, False, ("txt", "asc")),
    BitstreamFormat("HTML", "text/html", "Hypertext Markup Language", _S, False,
                    ("htm", "html")),
    BitstreamFormat("CSS", "text/css", "Cascading Style Sheets", _S, False, ("css",)),
    BitstreamFormat("CSV", "text/csv", "Comma-Separated Values", _K, False, ("csv",)),
    BitstreamFormat("JSON", "application/json", "JavaScript Object Notation", _K, False,
                    ("json",)),
    BitstreamFormat("Microsoft Word", "application/msword", "Microsoft Word", _K, False,
                    ("doc",)),
    BitstreamFormat("Microsoft Word XML",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "Microsoft Word XML", _K, False, ("docx",)),
    BitstreamFormat("Microsoft Powerpoint", "application/vnd.ms-powerpoint",
                    "Microsoft Powerpoint", _K, False, ("ppt",)),
    BitstreamFormat("Microsoft Powerpoint XML",
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                    "Microsoft Powerpoint XML", _K, False, ("pptx",)),
    BitstreamFormat("Microsoft Excel", "application/vnd.ms-excel", "Microsoft Excel", _K,
                    False, ("xls",)),
    BitstreamFormat("Microsoft Excel XML",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "Microsoft Excel XML", _K, False, ("xlsx",)),
    BitstreamFormat("OpenDocument Text", "application/vnd.oasis.opendocument.text",
                    "OpenDocument Text", _K, False, ("odt",)),
    BitstreamFormat("RTF", "text/richtext", "Rich Text Format", _S, False, ("rtf",)),
    BitstreamFormat("Postscript", "application/postscript", "Postscript Files", _S, False,
                    ("ps", "eps", "ai")),
    BitstreamFormat("LaTeX", "application/x-latex", "LaTeX document", _K, False, ("latex",)),
    BitstreamFormat("TeX", "application/x-tex", "Tex/LateX document", _K, False, ("tex",)),
    BitstreamFormat("MARC", "application/marc", "Machine-Readable Cataloging records", _K,
                    False, ("mrc",)),
    BitstreamFormat("JPEG", "image/jpeg", "Joint Photographic Experts Group/JPEG File "
                    "Interchange Format (JFIF)", _S, False, ("jpeg", "jpg")),
    BitstreamFormat("GIF", "image/gif", "Graphics Interchange Format", _S, False, ("gif",)),
    BitstreamFormat("image/png", "image/png", "Portable Network Graphics", _S, False,
                    ("png",)),
    BitstreamFormat("TIFF", "image/tiff", "Tag Image File Format", _S, False,
                    ("tiff", "tif")),
    BitstreamFormat("BMP", "image/x-ms-bmp", "Microsoft Windows bitmap", _K, False,
                    ("bmp",)),
    BitstreamFormat("SVG", "image/svg+xml", "Scalable Vector Graphics", _K, False, ("svg",)),
    BitstreamFormat("WAV", "audio/x-wav", "Broadcase Wave Format", _K, False, ("wav",)),
    BitstreamFormat("MPEG Audio", "audio/x-mpeg", "MPEG Audio", _K, False,
                    ("mpa", "abs", "mpeg", "mp3")),
    BitstreamFormat("MPEG", "video/mpeg", "Moving Picture Experts Group", _K, False,
                    ("mpeg", "mpg", "mpe")),
    BitstreamFormat("Video Quicktime", "video/quicktime", "Video Quicktime", _K, False,
                    ("mov", "qt")),
    BitstreamFormat("MP4", "video/mp4", "MPEG-4 Part 14", _K, False, ("mp4",)),
    BitstreamFormat("ZIP", "application/zip", "ZIP archive", _K, False, ("zip",)),
    BitstreamFormat("GZIP", "application/gzip", "GNU Zip", _K, False, ("gz", "gzip")),
    BitstreamFormat("TAR", "application/x-tar", "Tape archive", _K, False, ("tar",)),
)


# -- schemas and fields ---------------------------------------------------------------------
def install_defaults(tx: Tx) -> None:
    """Load the default registries into an empty repository."""
    for schema in DEFAULT_SCHEMAS:
        create_schema(tx, schema)
    for fld in DEFAULT_FIELDS:
        create_field(tx, fld)
    for fmt in DEFAULT_FORMATS:
        create_format(tx, fmt)


def install_entity_registry(tx: Tx) -> int:
    """Add the Entities schemas and fields that are missing; returns how many were added."""
    before = len(_fields(tx)) + len(schemas(tx))
    for schema in ENTITY_SCHEMAS:
        create_schema(tx, schema)
    for fld in ENTITY_FIELDS:
        create_field(tx, fld)
    return len(_fields(tx)) + len(schemas(tx)) - before


def create_schema(tx: Tx, schema: MetadataSchema) -> int:
    """Add a schema; returns its id (existing prefix: its id, namespace unchanged)."""
    existing = schema_id(tx, schema.prefix)
    if existing is not None:
        return existing
    if not schema.prefix or not schema.prefix.replace("_", "").isalnum():
        raise InvalidValueError(f"bad metadata schema prefix {schema.prefix!r}")
    new_id = pk(tx.execute(sa.insert(T.metadata_schema).values(
        prefix=schema.prefix, namespace=schema.namespace)))
    tx.cache.pop("schemas", None)
    return new_id


def schemas(tx: Tx) -> dict[str, int]:
    """Schema prefix -> id (cached per transaction)."""
    cached = tx.cache.get("schemas")
    if cached is None:
        cached = {row.prefix: row.id for row in tx.execute(
            sa.select(T.metadata_schema.c.prefix, T.metadata_schema.c.id))}
        tx.cache["schemas"] = cached
    result: dict[str, int] = cached
    return result


def schema_id(tx: Tx, prefix: str) -> int | None:
    return schemas(tx).get(prefix)


def list_schemas(tx: Tx) -> list[MetadataSchema]:
    return [MetadataSchema(r.prefix, r.namespace) for r in tx.execute(
        sa.select(T.metadata_schema).order_by(T.metadata_schema.c.prefix))]


def _fields(tx: Tx) -> dict[tuple[str, str, str], int]:
    cached = tx.cache.get("fields")
    if cached is None:
        s, f = T.metadata_schema, T.metadata_field
        cached = {(r.prefix, r.element, r.qualifier): r.id for r in tx.execute(
            sa.select(s.c.prefix, f.c.element, f.c.qualifier, f.c.id)
            .join(f, f.c.schema_id == s.c.id))}
        tx.cache["fields"] = cached
    result: dict[tuple[str, str, str], int] = cached
    return result


def field_ids(tx: Tx) -> dict[tuple[str, str, str], int]:
    """(schema, element, qualifier or "") -> field id, cached per transaction."""
    return _fields(tx)


def field_names(tx: Tx) -> dict[int, tuple[str, str, str | None]]:
    """Field id -> (schema, element, qualifier), cached per transaction."""
    cached = tx.cache.get("field_names")
    if cached is None:
        cached = {fid: (s, e, q or None) for (s, e, q), fid in _fields(tx).items()}
        tx.cache["field_names"] = cached
    result: dict[int, tuple[str, str, str | None]] = cached
    return result


def create_field(tx: Tx, fld: MetadataField) -> int:
    """Add a field to an existing schema; returns its id (existing: its id)."""
    sid = schema_id(tx, fld.schema)
    if sid is None:
        raise UnknownSchemaError(schema=fld.schema)
    key = (fld.schema, fld.element, fld.qualifier or "")
    existing = _fields(tx).get(key)
    if existing is not None:
        return existing
    if not fld.element or any(c in fld.element for c in ". ") or (
            fld.qualifier and any(c in fld.qualifier for c in ". ")):
        raise InvalidValueError(f"bad metadata field name {fld.name!r}")
    new_id = pk(tx.execute(sa.insert(T.metadata_field).values(
        schema_id=sid, element=fld.element, qualifier=fld.qualifier or "",
        scope_note=fld.scope_note)))
    _fields(tx)[key] = new_id
    tx.cache.pop("field_names", None)
    return new_id


def field_id(tx: Tx, schema: str, element: str, qualifier: str | None, *,
             create: bool = False) -> int:
    """The id of ``schema.element[.qualifier]``.

    Raises:
        UnknownSchemaError: the schema does not exist (never created here).
        UnknownFieldError: the field does not exist and ``create`` is false.
    """
    fid = _fields(tx).get((schema, element, qualifier or ""))
    if fid is not None:
        return fid
    if schema_id(tx, schema) is None:
        raise UnknownSchemaError(schema=schema)
    if not create:
        name = f"{schema}.{element}" + (f".{qualifier}" if qualifier else "")
        raise UnknownFieldError(field=name)
    return create_field(tx, MetadataField(schema, element, qualifier))


def parse_field_name(name: str) -> tuple[str, str, str | None]:
    """``"dc.title.alternative"`` -> ``("dc", "title", "alternative")``."""
    parts = name.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidValueError(
            f"bad metadata field {name!r}: expected schema.element[.qualifier]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def list_fields(tx: Tx) -> list[MetadataField]:
    s, f = T.metadata_schema, T.metadata_field
    rows = tx.execute(sa.select(s.c.prefix, f.c.element, f.c.qualifier, f.c.scope_note)
                      .join(f, f.c.schema_id == s.c.id)
                      .order_by(s.c.prefix, f.c.element, f.c.qualifier))
    return [MetadataField(r.prefix, r.element, r.qualifier or None, r.scope_note)
            for r in rows]


# -- bitstream formats ------------------------------------------------------------------------
def create_format(tx: Tx, fmt: BitstreamFormat) -> int:
    existing = _formats_by_name(tx).get(fmt.short_description)
    if existing is not None:
        return existing
    new_id = pk(tx.execute(sa.insert(T.bitstream_format).values(
        short_description=fmt.short_description, mimetype=fmt.mimetype,
        description=fmt.description, support_level=int(fmt.support_level),
        internal=fmt.internal, extensions=",".join(fmt.extensions))))
    tx.cache.pop("formats_by_name", None)
    tx.cache.pop("formats_by_id", None)
    return new_id


def _formats_by_name(tx: Tx) -> dict[str, int]:
    cached = tx.cache.get("formats_by_name")
    if cached is None:
        cached = {r.short_description: r.id for r in tx.execute(
            sa.select(T.bitstream_format.c.short_description, T.bitstream_format.c.id))}
        tx.cache["formats_by_name"] = cached
    result: dict[str, int] = cached
    return result


def formats_by_id(tx: Tx) -> dict[int, BitstreamFormat]:
    cached = tx.cache.get("formats_by_id")
    if cached is None:
        cached = {r.id: BitstreamFormat(
            short_description=r.short_description, mimetype=r.mimetype,
            description=r.description, support_level=SupportLevel(r.support_level),
            internal=bool(r.internal),
            extensions=tuple(e for e in r.extensions.split(",") if e))
            for r in tx.execute(sa.select(T.bitstream_format))}
        tx.cache["formats_by_id"] = cached
    result: dict[int, BitstreamFormat] = cached
    return result


def list_formats(tx: Tx) -> list[BitstreamFormat]:
    return sorted(formats_by_id(tx).values(), key=lambda f: f.short_description)


def format_id(tx: Tx, fmt: BitstreamFormat, *, create: bool = True) -> int:
    """The id of the format with ``fmt``'s short description, created if missing."""
    fid = _formats_by_name(tx).get(fmt.short_description)
    if fid is not None:
        return fid
    if not create:
        raise InvalidValueError(f"unknown bitstream format {fmt.short_description!r}")
    return create_format(tx, fmt)


def format_id_by_name(tx: Tx, short_description: str) -> int | None:
    return _formats_by_name(tx).get(short_description)


def guess_format_id(tx: Tx, filename: str | None, mimetype: str | None = None) -> int:
    """The format for a file: by MIME type if given, then by extension; else Unknown."""
    formats = formats_by_id(tx)
    if mimetype:
        for fid, fmt in sorted(formats.items()):
            if fmt.mimetype == mimetype and not fmt.internal:
                return fid
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].lower()
        for fid, fmt in sorted(formats.items()):
            if ext in fmt.extensions and not fmt.internal:
                return fid
    unknown = _formats_by_name(tx).get("Unknown")
    if unknown is None:
        return create_format(tx, DEFAULT_FORMATS[0])
    return unknown


def ensure_fields(tx: Tx, names: Iterable[tuple[str, str, str | None]], *,
                  create: bool) -> None:
    """Check (or create) every field in ``names``; the first missing one raises."""
    for schema, element, qualifier in names:
        field_id(tx, schema, element, qualifier, create=create)
