"""DSpace's ``relationship-types.xml``: the relationship types a repository allows.

Owns: reading the file into ``RelationshipType`` values, checked against its DTD
(``dspace/config/entities/relationship-types.dtd``) and the rules ``dspace
initialize-entities`` applies (DSpace 7.6 ``dspace-api/src/main/java/org/dspace/app/util/
InitializeEntities.java``, ``parseXMLToRelations``/``populateRelationshipType``), and the
name of the default file aipsync ships (the ten types of DSpace 7.6's default file).  Pure.

Shape::

    <relationships>
      <type>
        <leftType>Publication</leftType><rightType>Person</rightType>
        <leftwardType>isAuthorOfPublication</leftwardType>
        <rightwardType>isPublicationOfAuthor</rightwardType>
        <leftCardinality><min>0</min></leftCardinality>      optional; min and max optional
        <rightCardinality><min>0</min><max>1</max></rightCardinality>
        <copyToLeft>true</copyToLeft>                        optional, default false
        <copyToRight>false</copyToRight>
        <tilted>right</tilted>                               optional: left, right, none
      </type>
    </relationships>

Where DSpace is lax, aipsync refuses the file, naming the line and the rule, so that a typo
never becomes a type: each name element exactly once (DSpace takes the first, and fails with
a NullPointerException on a missing one), ``copyTo*`` ``true``/``false`` (DSpace reads any
other word as false), cardinalities whole numbers >= 0 with max >= min, the same four-tuple
twice.  Names go into ``relation.<name>`` fields and ``rels_<name>`` METS IDs, so they must be
XML names without dots or colons; entity type labels must not be blank.
"""

from __future__ import annotations

import re

from aip.entities._xml import Element, elements, local, parse_config, text
from aip.errors import EntityConfigError
from aip.model import RelationshipType, Tilted

#: The default file, a resource of this package (the types of DSpace 7.6's default file).
DEFAULT_FILE = "relationship-types.xml"
#: Longest entity type label and relationship name the repository stores.
MAX_NAME = 64
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NAMES = ("leftType", "rightType", "leftwardType", "rightwardType")
_ALLOWED = frozenset({*_NAMES, "leftCardinality", "rightCardinality", "copyToLeft",
                      "copyToRight", "tilted"})


def _fail(path: str, el: Element, detail: str) -> EntityConfigError:
    return EntityConfigError(path=path, detail=f"line {el.sourceline}: {detail}")


def _label(path: str, el: Element, tag: str) -> str:
    value = text(el)
    if not value:
        raise _fail(path, el, f"<{tag}> is empty")
    if len(value) > MAX_NAME:
        raise _fail(path, el, f"<{tag}> is longer than {MAX_NAME} characters: {value!r}")
    if tag in ("leftwardType", "rightwardType") and not _NAME_RE.match(value):
        raise _fail(path, el, f"<{tag}> {value!r} is not a relationship name (letters, "
                    "digits, '_' and '-', not starting with a digit)")
    if any(ord(c) < 32 for c in value):
        raise _fail(path, el, f"<{tag}> holds a control character")
    return value


def _flag(path: str, el: Element) -> bool:
    value = text(el).lower()
    if value not in ("true", "false"):
        raise _fail(path, el, f"<{local(el)}> must be true or false, not {text(el)!r}")
    return value == "true"


def _tilted(path: str, el: Element) -> Tilted:
    value = text(el).upper()
    if value not in Tilted.__members__:
        raise _fail(path, el, f"<tilted> must be left, right or none, not {text(el)!r}")
    return Tilted[value]


def _cardinality(path: str, el: Element) -> tuple[int | None, int | None]:
    found: dict[str, int] = {}
    for part in elements(el):
        tag = local(part)
        if tag not in ("min", "max"):
            raise _fail(path, part, f"<{tag}> is not allowed in <{local(el)}> (min, max)")
        if tag in found:
            raise _fail(path, part, f"<{local(el)}> has more than one <{tag}>")
        value = text(part)
        if not value.isdigit():
            raise _fail(path, part, f"<{local(el)}>/<{tag}> must be a whole number >= 0, "
                        f"not {value!r}")
        found[tag] = int(value)
    low, high = found.get("min"), found.get("max")
    if low is not None and high is not None and high < low:
        raise _fail(path, el, f"<{local(el)}> has max {high} below min {low}")
    return low, high


def _type(path: str, el: Element) -> RelationshipType:
    parts: dict[str, Element] = {}
    for part in elements(el):
        tag = local(part)
        if tag not in _ALLOWED:
            raise _fail(path, part, f"<{tag}> is not allowed in <type>")
        if tag in parts:
            raise _fail(path, part, f"<type> has more than one <{tag}>")
        parts[tag] = part
    for tag in _NAMES:
        if tag not in parts:
            raise _fail(path, el, f"<type> has no <{tag}>")
    names = [_label(path, parts[tag], tag) for tag in _NAMES]
    left_min, left_max = (_cardinality(path, parts["leftCardinality"])
                          if "leftCardinality" in parts else (None, None))
    right_min, right_max = (_cardinality(path, parts["rightCardinality"])
                            if "rightCardinality" in parts else (None, None))
    return RelationshipType(
        left_type=names[0], right_type=names[1], leftward=names[2], rightward=names[3],
        left_min=left_min, left_max=left_max, right_min=right_min, right_max=right_max,
        copy_to_left=_flag(path, parts["copyToLeft"]) if "copyToLeft" in parts else False,
        copy_to_right=_flag(path, parts["copyToRight"]) if "copyToRight" in parts else False,
        tilted=_tilted(path, parts["tilted"]) if "tilted" in parts else Tilted.NONE)


def parse_relationship_types(data: bytes, path: str = "relationship-types.xml"
                             ) -> tuple[RelationshipType, ...]:
    """Every type of a ``relationship-types.xml``, in file order.

    Raises:
        EntityConfigError: not well-formed, not ``<relationships>``, an element the DTD does
            not allow, a missing or repeated name, a bad flag, cardinality or tilt, the same
            four-tuple twice (the message names the file and line).
    """
    root = parse_config(data, path)
    if local(root) != "relationships":
        raise _fail(path, root, f"the root element is <{local(root)}>, not <relationships>")
    out: list[RelationshipType] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for el in elements(root):
        if local(el) != "type":
            raise _fail(path, el, f"<{local(el)}> is not allowed in <relationships>")
        rtype = _type(path, el)
        line = el.sourceline if isinstance(el.sourceline, int) else 0
        if rtype.key in seen:
            raise _fail(path, el, f"type {rtype.describe()} is defined twice (first on line "
                        f"{seen[rtype.key]})")
        seen[rtype.key] = line
        out.append(rtype)
    return tuple(out)


__all__ = ["DEFAULT_FILE", "MAX_NAME", "parse_relationship_types"]
