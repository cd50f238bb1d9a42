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
      </aipsync:ext>
      <aipsync:ext for="amd_22">…</aipsync:ext>
      <aipsync:registry>                                          SITE: every registry entry
        <aipsync:schema prefix="dc" namespace="http://dublincore.org/documents/dcmi-terms/"/>
        <aipsync:field schema="dc" element="title" qualifier="alternative">
          <aipsync:scopeNote>text</aipsync:scopeNote>              only when the field has one
        </aipsync:field>
        <aipsync:format …/>
      </aipsync:registry>
    </aipsync:package>

Inside ``aipsync:ext`` every element is optional, in the order shown.  ``qualifier`` is left
out for an unqualified field.  ``aipsync:registry`` lists schemas, then fields, then formats,
each in the order given (the repository sorts them), so a full-site restore into a freshly
initialised repository can create custom schemas, fields and formats before any item needs
them.

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

from aip import constants as C
from aip.crosswalks._xml import Element, child, children, expect_root, local, text_of
from aip.errors import CrosswalkError, Problem
from aip.model import (
    Action,
    BitstreamFormat,
    HarvestSettings,
    MetadataField,
    MetadataSchema,
    SupportLevel,
)
from aip.xmltext import escape_attr, leaf, parse

_NAMESPACES: dict[str, str] = {"aipsync": C.NS_AIPSYNC}
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

    def is_empty(self) -> bool:
        return (self.discoverable is None and self.harvest is None and self.logo is None
                and self.sha256 is None and self.format is None and self.policies is None)


@dataclass(frozen=True, slots=True)
class Registry:
    """The repository's registries as a SITE AIP carries them: every metadata schema, every
    metadata field and every bitstream format, in the order given."""

    schemas: tuple[MetadataSchema, ...] = ()
    fields: tuple[MetadataField, ...] = ()
    formats: tuple[BitstreamFormat, ...] = ()

    def is_empty(self) -> bool:
        return not (self.schemas or self.fields or self.formats)


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
    return "".join(parts)


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
        else:
            _unknown(el, warnings)
    return Extension(discoverable=discoverable, harvest=harvest, logo=logo, sha256=sha256,
                     format=fmt, policies=policies)


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
        else:
            _unknown(item, warnings)
    return Registry(schemas=tuple(schemas), fields=tuple(fields), formats=tuple(formats))


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
