"""Metadata field names: parsing ``schema.element[.qualifier]``, the default registry, and
which fields a community or collection may carry (pure functions, no database)."""

from __future__ import annotations

import pytest

from aip import constants as C
from aip.errors import InvalidValueError
from aip.model import MetadataField, MetadataValue
from aip.repository import objects, registry


@pytest.mark.parametrize(("name", "parts"), [
    ("dc.title", ("dc", "title", None)),
    ("dc.title.alternative", ("dc", "title", "alternative")),
    ("dcterms.accessRights", ("dcterms", "accessRights", None)),
    ("seed.project.code", ("seed", "project", "code")),
])
def test_parse_field_name(name: str, parts: tuple[str, str, str | None]) -> None:
    assert registry.parse_field_name(name) == parts
    assert MetadataField(*parts).name == name
    assert MetadataValue(*parts, "v").field == name


@pytest.mark.parametrize("bad", ["", "dc", "title", "dc.", ".title", "dc..x", "dc.title.",
                                 "a.b.c.d"])
def test_parse_field_name_rejects(bad: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        registry.parse_field_name(bad)
    assert info.value.exit_code == C.EXIT_INVALID_VALUE
    assert repr(bad) in str(info.value)


def test_default_registry_has_unique_qualified_names() -> None:
    names = [f.name for f in registry.DEFAULT_FIELDS]
    assert len(names) == len(set(names))
    for expected in ("dc.title", "dc.contributor.author", "dc.date.accessioned",
                     "dc.description.provenance", "dc.identifier.uri", "dc.rights.license",
                     "dc.provenance", "dcterms.abstract"):
        assert expected in names
    by_name = {f.name: f for f in registry.DEFAULT_FIELDS}
    assert by_name["dc.contributor.author"].scope_note is None  # "contributor.author|"
    assert by_name["dc.title"].scope_note == "Title statement/title proper."
    assert {s.prefix for s in registry.DEFAULT_SCHEMAS} == {"dc", "dcterms", "local"}


@pytest.mark.parametrize(("obj_type", "name"), [
    (C.TYPE_COMMUNITY, "dc.title"), (C.TYPE_COMMUNITY, "dc.description.abstract"),
    (C.TYPE_COMMUNITY, "dc.rights"), (C.TYPE_COLLECTION, "dc.rights.license"),
    (C.TYPE_COLLECTION, "dc.provenance"), (C.TYPE_COLLECTION, "dc.description"),
])
def test_container_fields_allowed(obj_type: str, name: str) -> None:
    objects.check_container_field(obj_type, name)


@pytest.mark.parametrize(("obj_type", "name"), [
    (C.TYPE_COMMUNITY, "dc.rights.license"), (C.TYPE_COMMUNITY, "dc.provenance"),
    (C.TYPE_COMMUNITY, "dc.identifier.uri"), (C.TYPE_COLLECTION, "dc.identifier.uri"),
    (C.TYPE_COLLECTION, "dc.subject"), (C.TYPE_COLLECTION, "dcterms.title"),
])
def test_container_fields_refused(obj_type: str, name: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        objects.check_container_field(obj_type, name)
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_container_values_keeps_one_allowed_value_per_field() -> None:
    values = [
        MetadataValue("dc", "title", None, "First"),
        MetadataValue("dc", "title", None, "Second"),
        MetadataValue("dc", "identifier", "uri", "http://hdl.handle.net/1/2"),
        MetadataValue("dc", "subject", None, "not a container field"),
        MetadataValue("dcterms", "abstract", None, "other schema"),
        MetadataValue("dc", "description", None, ""),
        MetadataValue("dc", "rights", "license", "licence"),
    ]
    kept = objects.container_values(C.TYPE_COLLECTION, values)
    assert [(v.field, v.value) for v in kept] == [("dc.title", "First"),
                                                   ("dc.rights.license", "licence")]
    assert [v.field for v in objects.container_values(C.TYPE_COMMUNITY, values)] == [
        "dc.title"]
