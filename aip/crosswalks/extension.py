"""AIPSYNC-EXT: aipsync's own section for the facts DSpace's AIPs lose.

Owns: the ``Extension`` value and its small XML vocabulary (namespace ``constants.NS_AIPSYNC``,
prefix ``aipsync``, ``OTHERMDTYPE="AIPSYNC-EXT"``).  Pure.  Says nothing the standard sections
already say, except where noted, and is emitted only when it has something to say.

Vocabulary (every element optional, in this order)::

    <aipsync:ext>
      <aipsync:item discoverable="false"/>                       item: only when not discoverable
      <aipsync:harvest type="1" source="https://…/oai" set="…" config="dc" status="0"/>
                                                                 collection: OAI harvest settings
      <aipsync:logo sha256="…">                                   community/collection logo
        <aipsync:name>logo.png</aipsync:name>
        <aipsync:format …/>
      </aipsync:logo>
      <aipsync:bitstream sha256="…"><aipsync:format …/></aipsync:bitstream>       bitstream
      <aipsync:policies count="2">                                any policy-bearing object
        <aipsync:policy index="0" action="12" type="TYPE_CUSTOM">
          <aipsync:description>text</aipsync:description>
        </aipsync:policy>
      </aipsync:policies>
    </aipsync:ext>

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

What DSpace does with this section (read in DSpace/DSpace ``main`` at 3d8bdc92,
``dspace-api/src/main/java/org/dspace/content/packager/METSManifest.java``): it **fails**, it
does not skip it.  ``crosswalkObjectSourceMD`` (called first by ``AbstractMETSIngester`` for the
object), ``crosswalkObjectOtherAdminMD``, ``crosswalkBitstream`` and ``crosswalkBundle`` hand
every section of a referenced amdSec to ``crosswalkXmd``, which looks the MDTYPE up with
``getCrosswalk`` (``mets.dspaceAIP.ingest.crosswalk.AIPSYNC-EXT``, then
``mets.default.ingest.crosswalk.AIPSYNC-EXT``, then a plugin named ``AIPSYNC-EXT``);
``LegacyPluginServiceImpl.getNamedPlugin`` returns ``null`` for an unknown name, and
``crosswalkXmd`` then throws ``MetadataValidationException("Cannot process METS Manifest: No
crosswalk found for contents of sourceMD element, MDTYPE=AIPSYNC-EXT")``, aborting the whole
ingest.  Only ``CrosswalkObjectNotSupported`` is downgraded to a warning.  So a DSpace reads an
AIP with this section only when ``dspace.cfg`` maps it to the null crosswalk
(``mets.dspaceAIP.ingest.crosswalk.AIPSYNC-EXT = NIL``).  DSpace reads amdSecs *only* through
``ADMID`` references (the main div, each ``file``, each ``fileGrp``), and never reads the
``digiprovMD`` of file or fileGrp amdSecs; an amdSec that nothing references is invisible to
it, which is where this section could live to keep aipsync AIPs restorable by an unmodified
DSpace (see the packager notes).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from aip import constants as C
from aip.crosswalks._xml import Element, child, children, expect_root, local, sub, text_of
from aip.errors import CrosswalkError, Problem
from aip.model import Action, BitstreamFormat, HarvestSettings, SupportLevel

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
    """The facts of one AIPSYNC-EXT section (``None``: not said)."""

    discoverable: bool | None = None
    harvest: HarvestSettings | None = None
    logo: LogoFacts | None = None
    sha256: str | None = None
    format: BitstreamFormat | None = None
    policies: tuple[PolicyFacts, ...] | None = None

    def is_empty(self) -> bool:
        return (self.discoverable is None and self.harvest is None and self.logo is None
                and self.sha256 is None and self.format is None and self.policies is None)


def _a(tag: str) -> str:
    return f"{{{C.NS_AIPSYNC}}}{tag}"


def _format(parent: Element, fmt: BitstreamFormat) -> None:
    el = sub(parent, _a("format"), attrib={
        "short": fmt.short_description, "mimetype": fmt.mimetype,
        "support": SupportLevel(fmt.support_level).name,
        "internal": "true" if fmt.internal else "false"})
    sub(el, _a("description"), fmt.description)
    for ext in fmt.extensions:
        sub(el, _a("extension"), ext)


def disseminate(ext: Extension) -> Element | None:
    """The AIPSYNC-EXT element, or ``None`` when ``ext`` says nothing."""
    if ext.is_empty():
        return None
    root = etree.Element(_a("ext"), nsmap={"aipsync": C.NS_AIPSYNC})
    if ext.discoverable is not None:
        sub(root, _a("item"), attrib={"discoverable": "true" if ext.discoverable else "false"})
    if ext.harvest is not None:
        h = ext.harvest
        sub(root, _a("harvest"), attrib={
            "type": str(h.harvest_type), "source": h.oai_source, "set": h.oai_set_id,
            "config": h.metadata_config_id, "status": str(h.harvest_status)})
    if ext.logo is not None:
        logo = sub(root, _a("logo"))
        if ext.logo.sha256 is not None:
            logo.set("sha256", ext.logo.sha256)
        if ext.logo.name is not None:
            sub(logo, _a("name"), ext.logo.name)
        if ext.logo.format is not None:
            _format(logo, ext.logo.format)
    if ext.sha256 is not None or ext.format is not None:
        bs = sub(root, _a("bitstream"))
        if ext.sha256 is not None:
            bs.set("sha256", ext.sha256)
        if ext.format is not None:
            _format(bs, ext.format)
    if ext.policies is not None:
        wrapper = sub(root, _a("policies"), attrib={"count": str(len(ext.policies))})
        for i, facts in enumerate(ext.policies):
            el = sub(wrapper, _a("policy"), attrib={"index": str(i),
                                                    "action": str(int(facts.action))})
            if facts.policy_type is not None:
                el.set("type", facts.policy_type)
            if facts.description is not None:
                sub(el, _a("description"), facts.description)
    return root


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


def ingest(root: Element, warnings: list[Problem] | None = None) -> Extension:
    """The facts of an AIPSYNC-EXT section; unknown elements are warnings (newer writers).

    Raises:
        CrosswalkError: wrong root, a bad number, flag, support level or action id.
    """
    expect_root(root, C.NS_AIPSYNC, "ext", "AIPSYNC-EXT")
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
        elif warnings is not None:
            warnings.append(Problem("AIP-W046", f"AIPSYNC-EXT element {name!r} not understood;"
                                    " ignored"))
    return Extension(discoverable=discoverable, harvest=harvest, logo=logo, sha256=sha256,
                     format=fmt, policies=policies)


__all__ = ["Extension", "LogoFacts", "PolicyFacts",
           "disseminate", "ingest"]
