"""relationship-types.xml: DSpace's default file reads as the shipped one; bad files are
refused with the line and the rule."""

from __future__ import annotations

import pytest

from aip.entities.types import parse_relationship_types
from aip.errors import EntityConfigError
from aip.model import RelationshipType, Tilted
from aip.repository.relationships import default_types

#: DSpace 7.6's default file, as DSpace writes it (its DOCTYPE included).
DSPACE_SHAPED = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE relationships SYSTEM "relationship-types.dtd">
<relationships>
    <!-- a comment -->
    <type>
        <leftType>Publication</leftType>
        <rightType>Person</rightType>
        <leftwardType>isAuthorOfPublication</leftwardType>
        <rightwardType>isPublicationOfAuthor</rightwardType>
        <leftCardinality><min>0</min></leftCardinality>
        <rightCardinality><min>0</min><max>3</max></rightCardinality>
        <copyToLeft>true</copyToLeft>
        <tilted>right</tilted>
    </type>
</relationships>
"""


def test_the_default_types_are_dspaces_ten() -> None:
    types = default_types()
    assert len(types) == 10
    keys = {t.key for t in types}
    # the same name on two types: Person and OrgUnit authors
    assert ("Publication", "Person", "isAuthorOfPublication", "isPublicationOfAuthor") in keys
    assert ("Publication", "OrgUnit", "isAuthorOfPublication", "isPublicationOfAuthor") in keys
    issue = next(t for t in types if t.leftward == "isPublicationOfJournalIssue")
    assert (issue.left_type, issue.right_type, issue.copy_to_right, issue.copy_to_left) == (
        "JournalIssue", "Publication", True, False)
    assert all(t.left_min == 0 and t.right_min == 0 and t.left_max is None for t in types)


def test_a_dspace_shaped_file_with_a_doctype_reads() -> None:
    (rtype,) = parse_relationship_types(DSPACE_SHAPED)
    assert rtype == RelationshipType(
        "Publication", "Person", "isAuthorOfPublication", "isPublicationOfAuthor",
        left_min=0, left_max=None, right_min=0, right_max=3, copy_to_left=True,
        copy_to_right=False, tilted=Tilted.RIGHT)


def _one(body: str) -> bytes:
    return f"<relationships>\n<type>\n{body}\n</type>\n</relationships>".encode()


NAMES = ("<leftType>A</leftType><rightType>B</rightType>"
         "<leftwardType>isBOfA</leftwardType><rightwardType>isAOfB</rightwardType>")

BAD = {
    "no-left-type": (_one("<rightType>B</rightType><leftwardType>x</leftwardType>"
                          "<rightwardType>y</rightwardType>"), "has no <leftType>"),
    "twice": (_one(NAMES + "<leftType>C</leftType>"), "more than one <leftType>"),
    "empty-name": (_one(NAMES.replace("<leftType>A</leftType>", "<leftType> </leftType>")),
                   "<leftType> is empty"),
    "dotted-name": (_one(NAMES.replace("isBOfA", "is.B")), "is not a relationship name"),
    "flag": (_one(NAMES + "<copyToLeft>yes</copyToLeft>"), "must be true or false"),
    "tilted": (_one(NAMES + "<tilted>up</tilted>"), "must be left, right or none"),
    "min-not-number": (_one(NAMES + "<leftCardinality><min>-1</min></leftCardinality>"),
                       "whole number"),
    "max-below-min": (_one(NAMES + "<rightCardinality><min>2</min><max>1</max>"
                                   "</rightCardinality>"), "max 1 below min 2"),
    "unknown-element": (_one(NAMES + "<colour>red</colour>"), "<colour> is not allowed"),
    "wrong-root": (b"<types/>", "not <relationships>"),
    "not-xml": (b"<relationships><type>", "not well-formed"),
    "entity": (b'<!DOCTYPE r [<!ENTITY e "Person">]><relationships><type><leftType>&e;'
               b"</leftType></type></relationships>", "entity reference"),
    "same-type-twice": (
        f"<relationships><type>{NAMES}</type><type>{NAMES}</type></relationships>".encode(),
        "is defined twice"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_refused_with_its_line_and_rule(name: str) -> None:
    data, rule = BAD[name]
    with pytest.raises(EntityConfigError) as caught:
        parse_relationship_types(data, "types.xml")
    message = str(caught.value)
    assert message.startswith("types.xml: ")
    assert rule in message
    assert "\n" not in message
