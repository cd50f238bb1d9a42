"""DSPACE-ROLES crosswalk: groups and people, passwords only on request, no namespace."""

from __future__ import annotations

import dataclasses

import pytest
from format_strategies import groups, people
from hypothesis import given
from lxml import etree

from aip import constants as C
from aip.crosswalks import roles
from aip.errors import CrosswalkError
from aip.model import EPerson, Group


def _no_passwords(person: EPerson) -> EPerson:
    return dataclasses.replace(person, password_hash=None, salt=None, digest_algorithm=None)


@given(groups(C.COLLECTION_ROLES), people())
def test_round_trip_with_passwords(grps: tuple[Group, ...], ppl: tuple[EPerson, ...]) -> None:
    root = roles.disseminate(grps, ppl, passwords=True)
    if not grps and not ppl:
        assert root is None
        return
    assert root is not None
    assert roles.ingest(etree.fromstring(etree.tostring(root))) == (grps, ppl)


@given(groups(), people())
def test_password_hashes_only_when_asked(grps: tuple[Group, ...], ppl: tuple[EPerson, ...]
                                         ) -> None:
    root = roles.disseminate(grps, ppl, passwords=False)
    if root is None:
        return
    assert root.find(".//PasswordHash") is None
    assert roles.ingest(root)[1] == tuple(_no_passwords(p) for p in ppl)


def test_shape_matches_dspace() -> None:
    person = EPerson("a@b.org", id=2, first_name="A", last_name="B", language="en",
                     can_log_in=True, self_registered=True, password_hash="ff", salt="00",
                     digest_algorithm="SHA-512")
    admin = Group("Administrator", id=1, members=("a@b.org", "unknown@x"),
                  member_groups=("Anonymous",))
    anon = Group("Anonymous", id=0)
    sub = Group("COLLECTION_hdl:1/2_SUBMIT", id=7, role="SUBMIT")
    root = roles.disseminate([admin, anon, sub], [person], passwords=True)
    assert root is not None
    assert root.tag == "DSpaceRoles"  # no namespace, as DSpace writes it
    text = etree.tostring(root).decode()
    assert ('<Group ID="1" Name="Administrator"><Members><Member ID="2" Name="a@b.org"/>'
            '<Member Name="unknown@x"/></Members><MemberGroups><MemberGroup ID="0" '
            'Name="Anonymous"/></MemberGroups></Group><Group ID="0" Name="Anonymous"/>'
            '<Group ID="7" Name="COLLECTION_hdl:1/2_SUBMIT" Type="SUBMIT"/>') in text
    assert ('<Person ID="2"><Email>a@b.org</Email><FirstName>A</FirstName><LastName>B'
            '</LastName><Language>en</Language><PasswordHash digest="SHA-512" salt="00">ff'
            '</PasswordHash><CanLogin/><SelfRegistered/></Person>') in text


def test_reads_dspace_output_in_the_mets_namespace() -> None:
    # pasted under METS's default namespace, DSpace's unprefixed elements land in it
    root = etree.fromstring(
        f'<DSpaceRoles xmlns="{C.NS_METS}"><Groups><Group ID="6" Name="G" Type="ADMIN"><Members>'
        '<Member ID="2" Name="t@d.org"/></Members></Group></Groups><People><Person ID="2">'
        '<Netid>t</Netid></Person></People></DSpaceRoles>')
    assert roles.ingest(root) == ((Group("G", 6, ("t@d.org",), (), "ADMIN"),),
                                  (EPerson("", id=2, netid="t"),))


def test_person_without_email_or_netid_is_an_error() -> None:
    with pytest.raises(CrosswalkError, match="neither email nor netid"):
        roles.ingest(etree.fromstring("<DSpaceRoles><People><Person ID='1'/></People>"
                                      "</DSpaceRoles>"))
