"""AIPSYNC-EXT: aipsync's own section for the facts DSpace's AIPs lose.

Owns: the ``Extension`` (one object's facts), ``Registry`` (the repository's registries, SITE
only) and ``PackageExtension`` (everything one package says) values and their small XML
vocabulary (namespace ``constants.NS_AIPSYNC``, prefix ``aipsync``, ``OTHERMDTYPE=
"AIPSYNC-EXT"``).  Pure.  Says nothing the standard sections already say, except where noted,
and is emitted only when it has something to say.  Where the section goes in the METS document
(one amdSec that nothing refers to, after the others) is ``aip.packager.manifest``'s business.

Vocabulary: one ``aipsync:package`` per package, holding one ``aipsync:ext`` per described
object, keyed by ``for`` = the ``ID`` of the amdSec that the object's own ``ADMID`` points at
(the main div's for the package object, the ``fileGrp``'s for a bundle, the ``file``'s for a
bitstream), or, when the configuration gives that object no amdSec, the ``ID`` of the main
``div`` (package object) or of the ``file`` (bitstream); then, in a SITE package, the
registries::

    <aipsync:package>
      <aipsync:ext for="amd_3">                                   facts about one object
        <aipsync:item discoverable="false"/>                      item: only when not discoverable
        <aipsync:harvest type="1" source="https://…/oai" set="…" config="dc" status="0"/>
                                                                  collection: OAI harvest settings
        <aipsync:logo sha256="…">                                 community/collection logo
          <aipsync:name>logo.png</aipsync:name>
          <aipsync:format …/>
        </aipsync:logo>
        <aipsync:bitstream sha256="…"><aipsync:format …/></aipsync:bitstream>      bitstream
        <aipsync:policies count="2">                              any policy-bearing object
          <aipsync:policy index="0" action="12" type="TYPE_CUSTOM">
            <aipsync:description>text</aipsync:description>
          </aipsync:policy>
        </aipsync:policies>
        <aipsync:collection entityType="Person"/>                 collection: its entity type
        <aipsync:places field="dc.contributor.author">0 2</aipsync:places>
                                                                  item: one per field whose
                                                                  places are not 0, 1, 2...
        <aipsync:relationships>                                   item: every relationship
          <aipsync:relationship id="41" leftType="Publication" rightType="Person"
              leftward="isAuthorOfPublication" rightward="isPublicationOfAuthor"
              left="123456789/5" right="123456789/7" leftUuid="…" rightUuid="…"
              leftPlace="1" rightPlace="0" latest="BOTH" tilted="NONE"
              rightWithdrawn="true">                              withdrawn flags when true
            <aipsync:leftwardValue>text</aipsync:leftwardValue>   name variants, when set
            <aipsync:rightwardValue>text</aipsync:rightwardValue>
          </aipsync:relationship>
        </aipsync:relationships>
        <aipsync:pending>                                         item: relationships a
          <aipsync:claim name="isAuthorOfPublication" otherHandle="…" otherUuid="…"
              ownPlace="1" otherPlace="0" leftType="…" rightType="…" leftward="…"
              rightward="…" side="LEFT" latest="BOTH" sourceId="41" variantsKnown="true">
            <aipsync:leftwardValue>…</aipsync:leftwardValue>      restore could not make yet
            <aipsync:rightwardValue>…</aipsync:rightwardValue>    (the other item was not
            <aipsync:label>…</aipsync:label>                       there); every attribute
          </aipsync:claim>                                        but name optional
        </aipsync:pending>
      </aipsync:ext>
      <aipsync:ext for="amd_22">…</aipsync:ext>
      <aipsync:registry>                                          SITE: every registry entry
        <aipsync:schema prefix="dc" namespace="http://dublincore.org/documents/dcmi-terms/"/>
        <aipsync:field schema="dc" element="title" qualifier="alternative">
          <aipsync:scopeNote>text</aipsync:scopeNote>              only when the field has one
        </aipsync:field>
        <aipsync:format …/>
        <aipsync:entityType label="Person"/>                       entities: every entity type
        <aipsync:relationshipType leftType="Publication" rightType="Person"
            leftward="isAuthorOfPublication" rightward="isPublicationOfAuthor"
            leftMin="0" rightMax="3" copyToLeft="true" copyToRight="false"
            tilted="NONE"/>                                        and relationship type
      </aipsync:registry>
    </aipsync:package>

Inside ``aipsync:ext`` every element is optional, in the order shown.  ``qualifier`` is left
out for an unqualified field.  ``aipsync:registry`` lists schemas, then fields, then formats,
then entity types and relationship types, each in the order given (the repository sorts
them), so a full-site restore into a freshly initialised repository can create custom
schemas, fields and formats before any item needs them (and, in a repository that has no
relationship types yet, the site's types).

Entities (DSpace 7+; ``docs/entities.md``): ``aipsync:relationships`` carries what DSpace's
``rels`` structMap (PR #3328) loses: the type's four-tuple, both places and both name
variants, the latest-version status and the tilt, and relationships to withdrawn items
(which that structMap leaves out).  Cardinalities left out are unbounded; ``latest`` and
``tilted`` are the enumeration names.

``aipsync:format`` is a whole bitstream format: attributes ``short``, ``mimetype``, ``support``
(``UNKNOWN``/``KNOWN``/``SUPPORTED``), ``internal`` (``true``/``false``), children
``aipsync:description`` and one ``aipsync:extension`` per registered extension (so a restore
into an empty registry keeps the zip entry names).  When present it is the format (it repeats
what AIP-TECHMD says and adds the two facts AIP-TECHMD loses).

``aipsync:policies`` carries, for context *i* of the same object's METSRights section
(``metsrights.exported(policies)[i]``), the exact action id (so workflow actions and
``WITHDRAWN_READ``, written by METSRights as an empty ``Permissions``, survive), the policy
type and the description (METSRights has neither).  ``count`` is the number of contexts; a
reader that finds another number of contexts ignores these facts.

Older aipsync versions wrote a bare ``aipsync:ext`` (no ``for``) as a sourceMD of each
object's own amdSec; ``ingest`` still reads that form.

Why one unreferenced amdSec (read in DSpace/DSpace ``main`` at 3d8bdc92,
``dspace-api/src/main/java/org/dspace/content/packager/METSManifest.java``): DSpace **fails**
on an AIPSYNC-EXT section in a referenced amdSec, it does not skip it.
``crosswalkObjectSourceMD`` (called first by ``AbstractMETSIngester`` for the object),
``crosswalkObjectOtherAdminMD``, ``crosswalkBitstream`` and ``crosswalkBundle`` hand every
section of a referenced amdSec to ``crosswalkXmd``, which looks the MDTYPE up with
``getCrosswalk`` (``mets.dspaceAIP.ingest.crosswalk.AIPSYNC-EXT``, then
``mets.default.ingest.crosswalk.AIPSYNC-EXT``, then a plugin named ``AIPSYNC-EXT``);
``LegacyPluginServiceImpl.getNamedPlugin`` returns ``null`` for an unknown name, and
``crosswalkXmd`` then throws ``MetadataValidationException("Cannot process METS Manifest: No
crosswalk found for contents of sourceMD element, MDTYPE=AIPSYNC-EXT")``, aborting the whole
ingest.  Only ``CrosswalkObjectNotSupported`` is downgraded to a warning.  DSpace reads
amdSecs *only* through ``ADMID`` references (the main div, each ``file``, each ``fileGrp``),
so an amdSec that nothing references is invisible to it: that is where this section lives,
which keeps aipsync AIPs restorable by an unmodified DSpace.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from aip import constants as C
from aip.crosswalks._xml import Element, child, children, expect_root, local, text_of
from aip.errors import CrosswalkError, Problem
from aip.model import (
    Action,
    BitstreamFormat,
    HarvestSettings,
    LatestVersionStatus,
    MetadataField,
    MetadataSchema,
    Relationship,
    RelationshipClaim,
    RelationshipType,
    Side,
    SupportLevel,
    Tilted,
)
from aip.xmltext import escape_attr, escape_text, leaf, parse

_NAMESPACES: dict[str, str] = {"aipsync": C.NS_AIPSYNC}
_E = TypeVar("_E", bound=IntEnum)
_SCHEMA_LOCATION: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyFacts:
    """What METSRights loses about one policy."""

    action: Action
    description: str | None = None
    policy_type: str | None = None


@dataclass(frozen=True, slots=True)
class LogoFacts:
    """What the LOGO file element loses about a container's logo."""

    name: str | None = None
    sha256: str | None = None
    format: BitstreamFormat | None = None


@dataclass(frozen=True, slots=True)
class Extension:
    """What aipsync says about one object (``None``: not said)."""

    discoverable: bool | None = None
    harvest: HarvestSettings | None = None
    logo: LogoFacts | None = None
    sha256: str | None = None
    format: BitstreamFormat | None = None
    policies: tuple[PolicyFacts, ...] | None = None
    entity_type: str | None = None
    places: tuple[tuple[str, tuple[int, ...]], ...] = ()
    relationships: tuple[Relationship, ...] = ()
    pending: tuple[RelationshipClaim, ...] = ()

    def is_empty(self) -> bool:
        return (self.discoverable is None and self.harvest is None and self.logo is None
                and self.sha256 is None and self.format is None and self.policies is None
                and self.entity_type is None and not self.places
                and not self.relationships and not self.pending)


@dataclass(frozen=True, slots=True)
class Registry:
    """The repository's registries as a SITE AIP carries them: every metadata schema, every
    metadata field, every bitstream format, every entity type and relationship type, in the
    order given."""

    schemas: tuple[MetadataSchema, ...] = ()
    fields: tuple[MetadataField, ...] = ()
    formats: tuple[BitstreamFormat, ...] = ()
    entity_types: tuple[str, ...] = ()
    relationship_types: tuple[RelationshipType, ...] = ()

    def is_empty(self) -> bool:
        return not (self.schemas or self.fields or self.formats or self.entity_types
                    or self.relationship_types)


@dataclass(frozen=True, slots=True)
class PackageExtension:
    """Everything one package's AIPSYNC-EXT section says.

    ``facts``: (METS ``ID`` of the described object's amdSec, or of its ``div``/``file``,
    facts) in document order, none empty and no ``ID`` twice.  ``registry``: the SITE
    package's registries (``None``: not said).
    """

    facts: tuple[tuple[str, Extension], ...] = ()
    registry: Registry | None = None

    def is_empty(self) -> bool:
        return self.registry is None and all(ext.is_empty() for _, ext in self.facts)


def _attrs(*pairs: tuple[str, str]) -> str:
    return "".join(f' {key}="{escape_attr(value)}"' for key, value in pairs)


def _el(tag: str, attrs: str = "", inner: str = "") -> str:
    """``aipsync:<tag>`` as text (empty: self-closed, as lxml writes a childless element)."""
    if not inner:
        return f"<aipsync:{tag}{attrs}/>"
    return f"<aipsync:{tag}{attrs}>{inner}</aipsync:{tag}>"


def _format(fmt: BitstreamFormat) -> str:
    inner = leaf("aipsync:description", fmt.description) + "".join(
        leaf("aipsync:extension", ext) for ext in fmt.extensions)
    return _el("format", _attrs(("short", fmt.short_description), ("mimetype", fmt.mimetype),
                                ("support", SupportLevel(fmt.support_level).name),
                                ("internal", "true" if fmt.internal else "false")), inner)


def _fill(ext: Extension) -> str:
    """The elements of an ``aipsync:ext`` element, as text."""
    parts: list[str] = []
    if ext.discoverable is not None:
        parts.append(_el("item", _attrs(("discoverable",
                                          "true" if ext.discoverable else "false"))))
    if ext.harvest is not None:
        h = ext.harvest
        parts.append(_el("harvest", _attrs(
            ("type", str(h.harvest_type)), ("source", h.oai_source), ("set", h.oai_set_id),
            ("config", h.metadata_config_id), ("status", str(h.harvest_status)))))
    if ext.logo is not None:
        logo = ext.logo
        inner = ("" if logo.name is None else leaf("aipsync:name", logo.name)) + (
            "" if logo.format is None else _format(logo.format))
        parts.append(_el("logo", "" if logo.sha256 is None else _attrs(("sha256", logo.sha256)),
                         inner))
    if ext.sha256 is not None or ext.format is not None:
        parts.append(_el("bitstream",
                         "" if ext.sha256 is None else _attrs(("sha256", ext.sha256)),
                         "" if ext.format is None else _format(ext.format)))
    if ext.policies is not None:
        policies = []
        for i, facts in enumerate(ext.policies):
            attrs = _attrs(("index", str(i)), ("action", str(int(facts.action))))
            if facts.policy_type is not None:
                attrs += _attrs(("type", facts.policy_type))
            policies.append(_el("policy", attrs, "" if facts.description is None
                                else leaf("aipsync:description", facts.description)))
        parts.append(_el("policies", _attrs(("count", str(len(ext.policies)))),
                         "".join(policies)))
    if ext.entity_type is not None:
        parts.append(_el("collection", _attrs(("entityType", ext.entity_type))))
    for field_name, places in ext.places:
        parts.append(_el("places", _attrs(("field", field_name)),
                         escape_text(" ".join(str(p) for p in places))))
    if ext.relationships:
        parts.append(_el("relationships", "", "".join(_relationship(r)
                                                      for r in ext.relationships)))
    if ext.pending:
        parts.append(_el("pending", "", "".join(_claim(c) for c in ext.pending)))
    return "".join(parts)


def _type_attrs(key: tuple[str, str, str, str]) -> str:
    return _attrs(("leftType", key[0]), ("rightType", key[1]), ("leftward", key[2]),
                  ("rightward", key[3]))


def _variants(leftward: str | None, rightward: str | None) -> str:
    return (("" if leftward is None else leaf("aipsync:leftwardValue", leftward))
            + ("" if rightward is None else leaf("aipsync:rightwardValue", rightward)))


def _relationship(r: Relationship) -> str:
    attrs = ("" if r.id is None else _attrs(("id", str(r.id)))) + _type_attrs(r.type_key)
    attrs += _attrs(("left", r.left), ("right", r.right))
    for key, value in (("leftUuid", r.left_uuid), ("rightUuid", r.right_uuid)):
        if value is not None:
            attrs += _attrs((key, value))
    attrs += _attrs(("leftPlace", str(r.left_place)), ("rightPlace", str(r.right_place)),
                    ("latest", r.latest.name), ("tilted", r.tilted.name))
    for key, flag in (("leftWithdrawn", r.left_withdrawn),
                      ("rightWithdrawn", r.right_withdrawn)):
        if flag:
            attrs += _attrs((key, "true"))
    return _el("relationship", attrs, _variants(r.leftward_value, r.rightward_value))


def _claim(c: RelationshipClaim) -> str:
    attrs = _attrs(("name", c.name))
    for key, value in (("otherHandle", c.other_handle), ("otherUuid", c.other_uuid),
                       ("ownPlace", c.own_place), ("otherPlace", c.other_place)):
        if value is not None:
            attrs += _attrs((key, str(value)))
    if c.type_key is not None:
        attrs += _type_attrs(c.type_key)
    if c.side is not None:
        attrs += _attrs(("side", c.side.name))
    attrs += _attrs(("latest", c.latest.name))
    if c.source_id is not None:
        attrs += _attrs(("sourceId", str(c.source_id)))
    if c.variants_known:
        attrs += _attrs(("variantsKnown", "true"))
    inner = _variants(c.leftward_value, c.rightward_value) + (
        "" if c.label is None else leaf("aipsync:label", c.label))
    return _el("claim", attrs, inner)


_DECLARE = f' xmlns:aipsync="{C.NS_AIPSYNC}"'


def disseminate(ext: Extension) -> Element | None:
    """One object's facts as a bare ``aipsync:ext`` element (the form older aipsync versions
    wrote into the object's own amdSec), or ``None`` when ``ext`` says nothing."""
    if ext.is_empty():
        return None
    return parse(_el("ext", _DECLARE, _fill(ext)))


def _registry(registry: Registry) -> str:
    parts = [_el("schema", _attrs(("prefix", schema.prefix), ("namespace", schema.namespace)))
             for schema in registry.schemas]
    for fld in registry.fields:
        attrs = _attrs(("schema", fld.schema), ("element", fld.element))
        if fld.qualifier is not None:
            attrs += _attrs(("qualifier", fld.qualifier))
        parts.append(_el("field", attrs, "" if fld.scope_note is None
                         else leaf("aipsync:scopeNote", fld.scope_note)))
    parts.extend(_format(fmt) for fmt in registry.formats)
    parts.extend(_el("entityType", _attrs(("label", label))) for label in registry.entity_types)
    for rtype in registry.relationship_types:
        attrs = _type_attrs(rtype.key)
        for key, number in (("leftMin", rtype.left_min), ("leftMax", rtype.left_max),
                            ("rightMin", rtype.right_min), ("rightMax", rtype.right_max)):
            if number is not None:
                attrs += _attrs((key, str(number)))
        attrs += _attrs(("copyToLeft", "true" if rtype.copy_to_left else "false"),
                        ("copyToRight", "true" if rtype.copy_to_right else "false"),
                        ("tilted", rtype.tilted.name))
        parts.append(_el("relationshipType", attrs))
    return _el("registry", "", "".join(parts))


def disseminate_package(pkg: PackageExtension) -> Element | None:
    """A package's ``aipsync:package`` element, or ``None`` when ``pkg`` says nothing.

    Raises:
        CrosswalkError: an ``ID`` given twice in ``pkg.facts`` (a builder bug).
    """
    text = package_text(pkg)
    return None if text is None else parse(text)


def package_text(pkg: PackageExtension) -> str | None:
    """``disseminate_package`` as text (``aip.xmltext``), for the METS builder to place.

    Raises:
        CrosswalkError: an ``ID`` given twice in ``pkg.facts`` (a builder bug).
    """
    if pkg.is_empty():
        return None
    parts: list[str] = []
    seen: set[str] = set()
    for key, ext in pkg.facts:
        if key in seen:
            raise CrosswalkError(f"AIPSYNC-EXT: two sets of facts for {key!r}")
        seen.add(key)
        if not ext.is_empty():
            parts.append(_el("ext", _attrs(("for", key)), _fill(ext)))
    if pkg.registry is not None:
        parts.append(_registry(pkg.registry))
    return _el("package", _DECLARE, "".join(parts))


def _int(el: Element, name: str, default: int | None = None) -> int:
    value = el.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value or "")
    except ValueError:
        raise CrosswalkError(f"AIPSYNC-EXT: {local(el)}/@{name} is not a number: "
                             f"{value!r}") from None


def _bool(el: Element, name: str) -> bool:
    value = (el.get(name) or "").strip().lower()
    if value not in ("true", "false"):
        raise CrosswalkError(f"AIPSYNC-EXT: {local(el)}/@{name} is not true/false: {value!r}")
    return value == "true"


def _read_format(el: Element | None) -> BitstreamFormat | None:
    if el is None:
        return None
    try:
        level = SupportLevel[(el.get("support") or "UNKNOWN").strip().upper()]
    except KeyError:
        raise CrosswalkError(f"AIPSYNC-EXT: unknown support level {el.get('support')!r}") from None
    desc = child(el, "description")
    return BitstreamFormat(
        short_description=el.get("short") or "", mimetype=el.get("mimetype") or "",
        description=text_of(desc) if desc is not None else "", support_level=level,
        internal=_bool(el, "internal") if el.get("internal") is not None else False,
        extensions=tuple(text_of(e) for e in children(el, "extension")))


def _enum(el: Element, name: str, enum: type[_E], default: _E) -> _E:
    value = el.get(name)
    if value is None:
        return default
    try:
        return enum[value.strip().upper()]
    except KeyError:
        raise CrosswalkError(f"AIPSYNC-EXT: {local(el)}/@{name} is not one of "
                             f"{', '.join(enum.__members__)}: {value!r}") from None


def _opt_int(el: Element, name: str) -> int | None:
    return None if el.get(name) is None else _int(el, name)


def _required(el: Element, *names: str) -> list[str]:
    values = []
    for name in names:
        value = el.get(name)
        if not value:
            raise CrosswalkError(f"AIPSYNC-EXT: {local(el)} without @{name} (line "
                                 f"{el.sourceline})")
        values.append(value)
    return values


def _text_child(el: Element, name: str) -> str | None:
    found = child(el, name)
    return text_of(found) if found is not None else None


def _type_key(el: Element) -> tuple[str, str, str, str]:
    left, right, leftward, rightward = _required(el, "leftType", "rightType", "leftward",
                                                 "rightward")
    return (left, right, leftward, rightward)


def _read_relationship(el: Element) -> Relationship:
    key = _type_key(el)
    left, right = _required(el, "left", "right")
    return Relationship(
        left_type=key[0], right_type=key[1], leftward=key[2], rightward=key[3], left=left,
        right=right, left_place=_int(el, "leftPlace"), right_place=_int(el, "rightPlace"),
        leftward_value=_text_child(el, "leftwardValue"),
        rightward_value=_text_child(el, "rightwardValue"),
        latest=_enum(el, "latest", LatestVersionStatus, LatestVersionStatus.BOTH),
        id=_opt_int(el, "id"), left_uuid=el.get("leftUuid"), right_uuid=el.get("rightUuid"),
        tilted=_enum(el, "tilted", Tilted, Tilted.NONE),
        left_withdrawn=el.get("leftWithdrawn") == "true",
        right_withdrawn=el.get("rightWithdrawn") == "true")


def _read_claim(el: Element) -> RelationshipClaim:
    (name,) = _required(el, "name")
    side = el.get("side")
    return RelationshipClaim(
        name=name, other_handle=el.get("otherHandle"), other_uuid=el.get("otherUuid"),
        own_place=_opt_int(el, "ownPlace"),
        type_key=_type_key(el) if el.get("leftType") is not None else None,
        side=None if side is None else _enum(el, "side", Side, Side.LEFT),
        other_place=_opt_int(el, "otherPlace"),
        leftward_value=_text_child(el, "leftwardValue"),
        rightward_value=_text_child(el, "rightwardValue"),
        variants_known=el.get("variantsKnown") == "true", label=_text_child(el, "label"),
        latest=_enum(el, "latest", LatestVersionStatus, LatestVersionStatus.BOTH),
        source_id=_opt_int(el, "sourceId"))


def _read_places(el: Element) -> tuple[str, tuple[int, ...]]:
    (field_name,) = _required(el, "field")
    try:
        return field_name, tuple(int(p) for p in text_of(el).split())
    except ValueError:
        raise CrosswalkError(f"AIPSYNC-EXT: places of {field_name} are not numbers (line "
                             f"{el.sourceline})") from None


def _action(el: Element) -> Action:
    number = _int(el, "action")
    try:
        return Action(number)
    except ValueError:
        raise CrosswalkError(f"AIPSYNC-EXT: unknown action id {number}") from None


def _read(root: Element, warnings: list[Problem] | None) -> Extension:
    """The facts inside one ``aipsync:ext`` element."""
    discoverable: bool | None = None
    harvest: HarvestSettings | None = None
    logo: LogoFacts | None = None
    sha256: str | None = None
    fmt: BitstreamFormat | None = None
    policies: tuple[PolicyFacts, ...] | None = None
    entity_type: str | None = None
    places: list[tuple[str, tuple[int, ...]]] = []
    relationships: tuple[Relationship, ...] = ()
    pending: tuple[RelationshipClaim, ...] = ()
    for el in children(root):
        name = local(el)
        if name == "item":
            if el.get("discoverable") is not None:
                discoverable = _bool(el, "discoverable")
        elif name == "harvest":
            harvest = HarvestSettings(
                harvest_type=_int(el, "type"), oai_source=el.get("source") or "",
                oai_set_id=el.get("set") or "", metadata_config_id=el.get("config") or "",
                harvest_status=_int(el, "status", 0))
        elif name == "logo":
            name_el = child(el, "name")
            logo = LogoFacts(name=text_of(name_el) if name_el is not None else None,
                             sha256=el.get("sha256"), format=_read_format(child(el, "format")))
        elif name == "bitstream":
            sha256 = el.get("sha256")
            fmt = _read_format(child(el, "format"))
        elif name == "policies":
            items = children(el, "policy")
            facts = []
            for p in items:
                desc = child(p, "description")
                facts.append(PolicyFacts(action=_action(p), policy_type=p.get("type"),
                                         description=text_of(desc) if desc is not None else None))
            if _int(el, "count", len(items)) != len(items):
                raise CrosswalkError("AIPSYNC-EXT: policies/@count does not match its policies")
            policies = tuple(facts)
        elif name == "collection":
            entity_type = el.get("entityType") or None
        elif name == "places":
            places.append(_read_places(el))
        elif name == "relationships":
            relationships = tuple(_read_relationship(r) for r in children(el, "relationship"))
        elif name == "pending":
            pending = tuple(_read_claim(c) for c in children(el, "claim"))
        else:
            _unknown(el, warnings)
    return Extension(discoverable=discoverable, harvest=harvest, logo=logo, sha256=sha256,
                     format=fmt, policies=policies, entity_type=entity_type,
                     places=tuple(places), relationships=relationships, pending=pending)


def _unknown(el: Element, warnings: list[Problem] | None) -> None:
    if warnings is not None:
        warnings.append(Problem("AIP-W046", f"AIPSYNC-EXT element {local(el)!r} not "
                                "understood; ignored"))


def ingest(root: Element, warnings: list[Problem] | None = None) -> Extension:
    """The facts of a bare ``aipsync:ext`` section (older aipsync versions wrote one into each
    object's own amdSec); unknown elements are warnings (newer writers).

    Raises:
        CrosswalkError: wrong root, a bad number, flag, support level or action id.
    """
    expect_root(root, C.NS_AIPSYNC, "ext", "AIPSYNC-EXT")
    return _read(root, warnings)


def _read_registry(el: Element, warnings: list[Problem] | None) -> Registry:
    schemas: list[MetadataSchema] = []
    fields: list[MetadataField] = []
    formats: list[BitstreamFormat] = []
    labels: list[str] = []
    rtypes: list[RelationshipType] = []
    for item in children(el):
        name = local(item)
        if name == "schema":
            prefix = item.get("prefix")
            if not prefix:
                raise CrosswalkError(f"AIPSYNC-EXT: registry schema without prefix (line "
                                     f"{item.sourceline})")
            schemas.append(MetadataSchema(prefix=prefix, namespace=item.get("namespace") or ""))
        elif name == "field":
            schema, element = item.get("schema"), item.get("element")
            if not schema or not element:
                raise CrosswalkError(f"AIPSYNC-EXT: registry field without schema or element "
                                     f"(line {item.sourceline})")
            note = child(item, "scopeNote")
            fields.append(MetadataField(schema=schema, element=element,
                                        qualifier=item.get("qualifier"),
                                        scope_note=text_of(note) if note is not None else None))
        elif name == "format":
            fmt = _read_format(item)
            assert fmt is not None
            formats.append(fmt)
        elif name == "entityType":
            labels.extend(_required(item, "label"))
        elif name == "relationshipType":
            key = _type_key(item)
            rtypes.append(RelationshipType(
                left_type=key[0], right_type=key[1], leftward=key[2], rightward=key[3],
                left_min=_opt_int(item, "leftMin"), left_max=_opt_int(item, "leftMax"),
                right_min=_opt_int(item, "rightMin"), right_max=_opt_int(item, "rightMax"),
                copy_to_left=_bool(item, "copyToLeft") if item.get("copyToLeft") else False,
                copy_to_right=(_bool(item, "copyToRight") if item.get("copyToRight")
                               else False),
                tilted=_enum(item, "tilted", Tilted, Tilted.NONE)))
        else:
            _unknown(item, warnings)
    return Registry(schemas=tuple(schemas), fields=tuple(fields), formats=tuple(formats),
                    entity_types=tuple(labels), relationship_types=tuple(rtypes))


def ingest_package(root: Element, warnings: list[Problem] | None = None) -> PackageExtension:
    """Everything a package's ``aipsync:package`` section says; unknown elements are warnings.

    Raises:
        CrosswalkError: wrong root, an ``ext`` without ``for`` or two for the same ``ID``,
            a registry entry without its key attributes, a bad number, flag, support level
            or action id.
    """
    expect_root(root, C.NS_AIPSYNC, "package", "AIPSYNC-EXT")
    facts: list[tuple[str, Extension]] = []
    seen: set[str] = set()
    registry: Registry | None = None
    for el in children(root):
        name = local(el)
        if name == "ext":
            key = (el.get("for") or "").strip()
            if not key:
                raise CrosswalkError(f"AIPSYNC-EXT: ext without @for (line {el.sourceline})")
            if key in seen:
                raise CrosswalkError(f"AIPSYNC-EXT: two ext elements for {key!r}")
            seen.add(key)
            facts.append((key, _read(el, warnings)))
        elif name == "registry":
            if registry is not None:
                raise CrosswalkError("AIPSYNC-EXT: more than one registry element")
            registry = _read_registry(el, warnings)
        else:
            _unknown(el, warnings)
    return PackageExtension(facts=tuple(facts), registry=registry)


__all__ = ["Extension", "LogoFacts", "PackageExtension", "PolicyFacts", "Registry",
           "disseminate", "disseminate_package", "ingest", "ingest_package", "package_text"]
