"""Virtual-metadata configuration: which values a relationship adds to an item, and how.

Owns: ``VirtualConfig`` (DSpace's ``VirtualMetadataPopulator`` map: relationship name as seen
from the receiving item -> ordered *target field -> bean*), the four beans (``Concatenate``,
``Collected``, ``Related``, ``UUIDValue``), reading them from DSpace's Spring file
``config/spring/api/virtual-metadata.xml`` (``parse_virtual_metadata``), their canonical JSON
form (what the repository stores) and the name of the default file aipsync ships (the mappings
of DSpace 7.6.7's file).  Pure.

The Spring subset read (what DSpace's file uses): ``<bean class="org.dspace.content.virtual.
VirtualMetadataPopulator">`` with ``<property name="map"><map><entry key=NAME
value-ref=MAPID/>``; ``<util:map id=MAPID>`` with ``<entry key=FIELD value-ref=BEANID/>``; and
beans of the four classes with the properties ``fields`` (a ``<util:list>``/``<list>`` of
``<value>``), ``separator``, ``useForPlace``, ``populateWithNameVariant``,
``relationshipTypeString``, ``place`` and ``virtualMetadataConfiguration`` (``ref``), each as a
``value``/``ref`` attribute or a ``<value>``/``<ref bean>`` child.  Other beans are ignored.

Bean semantics (DSpace 7.6 ``dspace-api/src/main/java/org/dspace/content/virtual/``): only
``Concatenate`` honours ``populateWithNameVariant``; ``Related`` follows a relationship of the
related item by name to a further bean, so a configuration in which ``Related`` beans refer
back to themselves would never end: it is refused (``EntityConfigError``), as are references
to beans that do not exist or are not of these classes, and target fields that are not
``schema.element[.qualifier]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aip.entities._xml import Element, elements, local, parse_config, text
from aip.errors import EntityConfigError

#: The default file, a resource of this package (the mappings of DSpace 7.6.7's file).
DEFAULT_FILE = "virtual-metadata.xml"
_PACKAGE = "org.dspace.content.virtual."
_POPULATOR = _PACKAGE + "VirtualMetadataPopulator"


@dataclass(frozen=True, slots=True)
class Concatenate:
    """The related item's stored values of ``fields`` (each field's non-blank values joined
    by ``separator``, then the fields' results joined by it): one value."""

    fields: tuple[str, ...]
    separator: str = ""
    use_for_place: bool = False
    name_variant: bool = False


@dataclass(frozen=True, slots=True)
class Collected:
    """Every non-blank stored value of ``fields`` of the related item, one value each."""

    fields: tuple[str, ...]
    use_for_place: bool = False


@dataclass(frozen=True, slots=True)
class UUIDValue:
    """The related item's UUID."""

    use_for_place: bool = False


@dataclass(frozen=True, slots=True)
class Related:
    """Follow the related item's first relationship named ``name`` (at ``place`` on the
    related item's side, when given) and give ``bean``'s values for the item found."""

    name: str
    bean: Bean
    place: int | None = None
    use_for_place: bool = False


Bean = Concatenate | Collected | UUIDValue | Related


@dataclass(frozen=True, slots=True)
class VirtualConfig:
    """Relationship name (as seen from the item receiving the values) -> its mappings
    (target field, bean), both in configuration order."""

    mappings: tuple[tuple[str, tuple[tuple[str, Bean], ...]], ...] = ()

    def for_name(self, name: str) -> tuple[tuple[str, Bean], ...]:
        for key, mapping in self.mappings:
            if key == name:
                return mapping
        return ()

    def use_for_place(self, name: str) -> bool:
        """Whether relationships seen by ``name`` share places with plain values
        (``VirtualMetadataPopulator.isUseForPlaceTrueForRelationshipType``)."""
        return any(bean.use_for_place for _, bean in self.for_name(name))

    def place_fields(self, name: str) -> tuple[str, ...]:
        """The fields whose plain values share places with relationships seen by ``name``
        (all the mapping's fields, when any bean has ``useForPlace``; ``getSiblingMetadata``)."""
        if not self.use_for_place(name):
            return ()
        return tuple(field for field, _ in self.for_name(name))


def _is_field(name: str) -> bool:
    parts = name.split(".")
    return len(parts) in (2, 3) and all(parts) and not any(" " in p for p in parts)


# ---------------------------------------------------------------------------------------------
# Reading DSpace's Spring file
# ---------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, root: Element, path: str) -> None:
        self.path = path
        self.beans: dict[str, Element] = {}
        self.maps: dict[str, Element] = {}
        self.populators: list[Element] = []
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            ident = el.get("id")
            if local(el) == "bean":
                if el.get("class") == _POPULATOR:
                    self.populators.append(el)
                if ident:
                    self.beans[ident] = el
            elif local(el) == "map" and ident:
                self.maps[ident] = el
        self.made: dict[str, Bean] = {}

    def fail(self, el: Element, detail: str) -> EntityConfigError:
        return EntityConfigError(path=self.path, detail=f"line {el.sourceline}: {detail}")

    def prop(self, bean: Element, name: str) -> Element | None:
        for p in elements(bean):
            if local(p) == "property" and p.get("name") == name:
                return p
        return None

    def scalar(self, bean: Element, name: str) -> str | None:
        p = self.prop(bean, name)
        if p is None:
            return None
        if p.get("value") is not None:
            return p.get("value")
        for kid in elements(p):
            if local(kid) == "value":
                # a separator is taken as written (", " keeps its space)
                return "".join(str(t) for t in kid.itertext())
        raise self.fail(p, f"property {name!r} has no value")

    def flag(self, bean: Element, name: str) -> bool:
        value = self.scalar(bean, name)
        if value is None:
            return False
        if value.strip().lower() not in ("true", "false"):
            raise self.fail(bean, f"property {name!r} must be true or false, not {value!r}")
        return value.strip().lower() == "true"

    def ref(self, el: Element, attr: str = "ref") -> str | None:
        if el.get(attr):
            return el.get(attr)
        for kid in elements(el):
            if local(kid) == "ref" and kid.get("bean"):
                return kid.get("bean")
        return None

    def bean(self, ident: str, at: Element, stack: tuple[str, ...] = ()) -> Bean:
        if ident in stack:
            loop = " -> ".join((*stack, ident))
            raise self.fail(at, f"Related beans refer back to themselves: {loop}")
        if ident in self.made:
            return self.made[ident]
        el = self.beans.get(ident)
        if el is None:
            raise self.fail(at, f"no bean with id {ident!r}")
        cls = (el.get("class") or "").removeprefix(_PACKAGE)
        use_for_place = self.flag(el, "useForPlace")
        made: Bean
        if cls in ("Concatenate", "Collected"):
            fields = self.fields(el)
            if cls == "Concatenate":
                made = Concatenate(fields=fields, separator=self.scalar(el, "separator") or "",
                                   use_for_place=use_for_place,
                                   name_variant=self.flag(el, "populateWithNameVariant"))
            else:
                made = Collected(fields=fields, use_for_place=use_for_place)
        elif cls == "UUIDValue":
            made = UUIDValue(use_for_place=use_for_place)
        elif cls == "Related":
            name = (self.scalar(el, "relationshipTypeString") or "").strip()
            if not name:
                raise self.fail(el, f"Related bean {ident!r} has no relationshipTypeString")
            target = self.prop(el, "virtualMetadataConfiguration")
            inner = self.ref(target) if target is not None else None
            if inner is None:
                raise self.fail(el, f"Related bean {ident!r} has no "
                                "virtualMetadataConfiguration")
            place_text = self.scalar(el, "place")
            place = None
            if place_text is not None:
                try:
                    place = int(place_text.strip())
                except ValueError:
                    raise self.fail(el, f"Related bean {ident!r}: place {place_text!r} is "
                                    "not a number") from None
            made = Related(name=name, bean=self.bean(inner, el, (*stack, ident)), place=place,
                           use_for_place=use_for_place)
        else:
            raise self.fail(el, f"bean {ident!r} is not a virtual-metadata bean "
                            f"({el.get('class')!r})")
        self.made[ident] = made
        return made

    def fields(self, bean: Element) -> tuple[str, ...]:
        p = self.prop(bean, "fields")
        if p is None:
            raise self.fail(bean, f"bean {bean.get('id')!r} has no fields")
        values = [text(v) for v in p.iter() if isinstance(v.tag, str) and local(v) == "value"]
        for value in values:
            if not _is_field(value):
                raise self.fail(p, f"{value!r} is not a metadata field "
                                "(schema.element[.qualifier])")
        if not values:
            raise self.fail(p, f"bean {bean.get('id')!r} lists no fields")
        return tuple(values)

    def mapping(self, entry: Element) -> tuple[tuple[str, Bean], ...]:
        ref = self.ref(entry, "value-ref")
        if ref is None:
            raise self.fail(entry, "entry has no value-ref to a map")
        el = self.maps.get(ref)
        if el is None:
            raise self.fail(entry, f"no util:map with id {ref!r}")
        out: list[tuple[str, Bean]] = []
        for item in elements(el):
            if local(item) != "entry":
                continue
            key = (item.get("key") or "").strip()
            if not _is_field(key):
                raise self.fail(item, f"map key {key!r} is not a metadata field")
            bean_ref = self.ref(item, "value-ref")
            if bean_ref is None:
                raise self.fail(item, f"map entry {key!r} has no value-ref")
            out.append((key, self.bean(bean_ref, item)))
        return tuple(out)

    def read(self) -> VirtualConfig:
        if len(self.populators) != 1:
            where = self.populators[1] if self.populators else None
            detail = ("no VirtualMetadataPopulator bean" if where is None
                      else "more than one VirtualMetadataPopulator bean")
            raise EntityConfigError(path=self.path, detail=detail)
        populator = self.populators[0]
        prop = self.prop(populator, "map")
        if prop is None:
            raise self.fail(populator, "VirtualMetadataPopulator has no map property")
        mappings: list[tuple[str, tuple[tuple[str, Bean], ...]]] = []
        seen: set[str] = set()
        for entry in prop.iter():
            if not isinstance(entry.tag, str) or local(entry) != "entry":
                continue
            name = (entry.get("key") or "").strip()
            if not name:
                raise self.fail(entry, "map entry without a key (relationship name)")
            if name in seen:
                raise self.fail(entry, f"relationship name {name!r} is mapped twice")
            seen.add(name)
            mappings.append((name, self.mapping(entry)))
        # every Related bean is checked, whether or not a map uses it
        for ident, el in self.beans.items():
            if (el.get("class") or "").startswith(_PACKAGE) and el.get("class") != _POPULATOR:
                self.bean(ident, el)
        return VirtualConfig(mappings=tuple(mappings))


def parse_virtual_metadata(data: bytes, path: str = "virtual-metadata.xml") -> VirtualConfig:
    """The virtual-metadata mappings of a DSpace ``virtual-metadata.xml``.

    Raises:
        EntityConfigError: not well-formed, no (or two) ``VirtualMetadataPopulator`` beans,
            a reference to a missing bean or map, a loop of ``Related`` beans, a target or
            source that is not a field name, a bad flag or place.
    """
    return _Reader(parse_config(data, path), path).read()


# ---------------------------------------------------------------------------------------------
# Canonical JSON (what the repository stores)
# ---------------------------------------------------------------------------------------------
def _bean_json(bean: Bean) -> dict[str, Any]:
    if isinstance(bean, Concatenate):
        return {"class": "Concatenate", "fields": list(bean.fields),
                "separator": bean.separator, "useForPlace": bean.use_for_place,
                "populateWithNameVariant": bean.name_variant}
    if isinstance(bean, Collected):
        return {"class": "Collected", "fields": list(bean.fields),
                "useForPlace": bean.use_for_place}
    if isinstance(bean, UUIDValue):
        return {"class": "UUIDValue", "useForPlace": bean.use_for_place}
    return {"class": "Related", "relationshipTypeString": bean.name, "place": bean.place,
            "useForPlace": bean.use_for_place, "virtualMetadataConfiguration":
            _bean_json(bean.bean)}


def to_json(config: VirtualConfig) -> str:
    """The configuration as canonical JSON text."""
    data = [{"name": name, "map": [{"field": field, "bean": _bean_json(bean)}
                                   for field, bean in mapping]}
            for name, mapping in config.mappings]
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _bean_from(data: Mapping[str, Any]) -> Bean:
    cls = data["class"]
    use = bool(data.get("useForPlace", False))
    if cls == "Concatenate":
        return Concatenate(fields=tuple(data["fields"]), separator=str(data["separator"]),
                           use_for_place=use,
                           name_variant=bool(data.get("populateWithNameVariant", False)))
    if cls == "Collected":
        return Collected(fields=tuple(data["fields"]), use_for_place=use)
    if cls == "UUIDValue":
        return UUIDValue(use_for_place=use)
    if cls == "Related":
        place = data.get("place")
        return Related(name=str(data["relationshipTypeString"]),
                       bean=_bean_from(data["virtualMetadataConfiguration"]),
                       place=None if place is None else int(place), use_for_place=use)
    raise ValueError(f"unknown bean class {cls!r}")


def from_json(text_: str) -> VirtualConfig:
    """The inverse of ``to_json``."""
    return VirtualConfig(mappings=tuple(
        (str(entry["name"]), tuple((str(m["field"]), _bean_from(m["bean"]))
                                   for m in entry["map"]))
        for entry in json.loads(text_)))


__all__ = ["DEFAULT_FILE", "Bean", "Collected", "Concatenate", "Related", "UUIDValue",
           "VirtualConfig", "from_json", "parse_virtual_metadata", "to_json"]
