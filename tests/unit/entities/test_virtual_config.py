"""virtual-metadata.xml: the shipped mappings, DSpace's Spring subset, and refused files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aip.entities.config import (
    Collected,
    Concatenate,
    Related,
    UUIDValue,
    VirtualConfig,
    from_json,
    parse_virtual_metadata,
    to_json,
)
from aip.errors import EntityConfigError
from aip.repository.relationships import default_virtual_config

HEAD = (b'<beans xmlns="http://www.springframework.org/schema/beans" '
        b'xmlns:util="http://www.springframework.org/schema/util">')


def _file(body: str, mapping: str = '<entry key="isAuthorOfPublication" value-ref="m"/>'
          ) -> bytes:
    return HEAD + f"""
<bean class="org.dspace.content.virtual.VirtualMetadataPopulator">
  <property name="map"><map>{mapping}</map></property>
</bean>
{body}
</beans>""".encode()


def test_the_default_is_dspace_7_6_7s_mapping() -> None:
    config = default_virtual_config()
    assert [name for name, _ in config.mappings] == [
        "isAuthorOfPublication", "isOrgUnitOfPublication", "isPersonOfProject",
        "isOrgUnitOfProject", "isOrgUnitOfPerson", "isJournalVolumeOfIssue",
        "isJournalOfVolume", "isVolumeOfJournal", "isIssueOfJournalVolume",
        "isJournalIssueOfPublication"]
    ((field, author),) = config.for_name("isAuthorOfPublication")
    assert field == "dc.contributor.author"
    assert author == Concatenate(("person.familyName", "person.givenName",
                                  "organization.legalName"), ", ", use_for_place=True,
                                 name_variant=True)
    assert config.place_fields("isAuthorOfPublication") == ("dc.contributor.author",)
    assert config.place_fields("isPublicationOfAuthor") == ()
    # project investigators, as 7.6.7 changed it from dc.contributor.author
    assert config.for_name("isPersonOfProject")[0][0] == "project.investigator"
    # two Related steps down to the journal's UUID
    uuid_bean = dict(config.for_name("isJournalIssueOfPublication"))[
        "relation.isJournalOfPublication"]
    assert uuid_bean == Related("isJournalVolumeOfIssue",
                                Related("isJournalOfVolume", UUIDValue()))
    assert from_json(to_json(config)) == config


def test_properties_read_as_attributes_or_children() -> None:
    config = parse_virtual_metadata(_file('''
<util:map id="m"><entry key="dc.contributor.author" value-ref="b"/></util:map>
<bean class="org.dspace.content.virtual.Concatenate" id="b">
  <property name="fields"><list><value>person.familyName</value></list></property>
  <property name="separator" value=" / "/>
  <property name="useForPlace"><value>TRUE</value></property>
</bean>'''))
    assert config.for_name("isAuthorOfPublication") == (
        ("dc.contributor.author", Concatenate(("person.familyName",), " / ", True, False)),)


def test_a_loop_of_related_beans_is_refused() -> None:
    body = '''
<util:map id="m"><entry key="dc.title" value-ref="a"/></util:map>
<bean class="org.dspace.content.virtual.Related" id="a">
  <property name="relationshipTypeString" value="isX"/>
  <property name="virtualMetadataConfiguration" ref="b"/>
</bean>
<bean class="org.dspace.content.virtual.Related" id="b">
  <property name="relationshipTypeString" value="isY"/>
  <property name="virtualMetadataConfiguration"><ref bean="a"/></property>
</bean>'''
    with pytest.raises(EntityConfigError, match=r"refer back to themselves: a -> b -> a"):
        parse_virtual_metadata(_file(body), "vm.xml")


def test_an_unused_loop_is_refused_too() -> None:
    body = '''
<util:map id="m"><entry key="dc.title" value-ref="c"/></util:map>
<bean class="org.dspace.content.virtual.Collected" id="c">
  <property name="fields"><list><value>dc.title</value></list></property>
</bean>
<bean class="org.dspace.content.virtual.Related" id="self">
  <property name="relationshipTypeString" value="isX"/>
  <property name="virtualMetadataConfiguration" ref="self"/>
</bean>'''
    with pytest.raises(EntityConfigError, match="self -> self"):
        parse_virtual_metadata(_file(body))


@pytest.mark.parametrize(("body", "mapping", "rule"), [
    ('<util:map id="m"><entry key="dc.title" value-ref="nope"/></util:map>', None,
     "no bean with id 'nope'"),
    ("", None, "no util:map with id 'm'"),
    ('<util:map id="m"><entry key="title" value-ref="c"/></util:map>', None,
     "map key 'title' is not a metadata field"),
    ('<util:map id="m"><entry key="dc.title" value-ref="c"/></util:map>'
     '<bean class="org.dspace.content.virtual.Collected" id="c"><property name="fields">'
     '<list><value>nofield</value></list></property></bean>', None,
     "'nofield' is not a metadata field"),
    ('<util:map id="m"/>', '<entry key="x" value-ref="m"/><entry key="x" value-ref="m"/>',
     "mapped twice"),
    ('<util:map id="m"><entry key="dc.title" value-ref="c"/></util:map>'
     '<bean class="org.dspace.content.virtual.Collected" id="c"><property name="fields">'
     '<list><value>dc.title</value></list></property>'
     '<property name="useForPlace" value="maybe"/></bean>', None, "must be true or false"),
])
def test_bad_files_are_refused(body: str, mapping: str | None, rule: str) -> None:
    data = _file(body) if mapping is None else _file(body, mapping)
    with pytest.raises(EntityConfigError, match=rule):
        parse_virtual_metadata(data)


def test_a_file_without_a_populator_is_refused() -> None:
    with pytest.raises(EntityConfigError, match="no VirtualMetadataPopulator"):
        parse_virtual_metadata(HEAD + b"</beans>")


fields = st.sampled_from(["dc.title", "person.familyName", "dc.contributor.author",
                          "organization.legalName"])
leaf_beans = st.one_of(
    st.builds(Concatenate, st.lists(fields, min_size=1, max_size=3).map(tuple),
              st.text(max_size=3), st.booleans(), st.booleans()),
    st.builds(Collected, st.lists(fields, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(UUIDValue, st.booleans()))
beans = st.recursive(leaf_beans, lambda inner: st.builds(
    Related, st.sampled_from(["isA", "isB"]), inner, st.none() | st.integers(0, 3),
    st.booleans()), max_leaves=4)


@given(st.lists(st.tuples(st.sampled_from(["isA", "isB", "isC"]),
                          st.lists(st.tuples(fields, beans), max_size=3).map(tuple)),
                unique_by=lambda e: e[0]).map(tuple))
def test_the_stored_form_gives_the_configuration_back(mappings: tuple) -> None:  # type: ignore[type-arg]
    config = VirtualConfig(mappings=mappings)
    assert from_json(to_json(config)) == config
