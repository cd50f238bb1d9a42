"""METSRights crosswalk: DSpace's permission table for every action, classes, dates."""

from __future__ import annotations

import datetime as dt

import pytest
from format_strategies import TODAY, policies
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from aip import constants as C
from aip.crosswalks import metsrights
from aip.errors import CrosswalkError, Problem
from aip.model import Action, ResourcePolicy

R = f"{{{C.NS_METSRIGHTS}}}"
READ = {"DISCOVER": "true", "DISPLAY": "true", "MODIFY": "false", "DELETE": "false"}
WRITE = {**READ, "MODIFY": "true"}
DELETE = {**WRITE, "DELETE": "true"}
TABLE = {
    Action.READ: READ, Action.WRITE: WRITE, Action.DELETE: DELETE,
    Action.ADD: {**WRITE, "OTHER": "true", "OTHERPERMITTYPE": "ADD CONTENTS"},
    Action.REMOVE: {**DELETE, "OTHER": "true", "OTHERPERMITTYPE": "REMOVE CONTENTS"},
    Action.DEFAULT_BITSTREAM_READ: {**READ, "OTHER": "true",
                                    "OTHERPERMITTYPE": "READ FILE CONTENTS"},
    Action.DEFAULT_ITEM_READ: {**READ, "OTHER": "true", "OTHERPERMITTYPE": "READ ITEM CONTENTS"},
    Action.ADMIN: {"DISCOVER": "true", "DISPLAY": "true", "COPY": "true", "DUPLICATE": "true",
                   "MODIFY": "true", "DELETE": "true", "PRINT": "true", "OTHER": "true",
                   "OTHERPERMITTYPE": "ADMIN"},
}
LOST = (Action.WORKFLOW_STEP_1, Action.WORKFLOW_STEP_2, Action.WORKFLOW_STEP_3,
        Action.WORKFLOW_ABORT, Action.WITHDRAWN_READ)


def _round(policies_: list[ResourcePolicy], today: dt.date = TODAY
           ) -> tuple[metsrights.RightsContext, ...]:
    root = metsrights.disseminate(policies_, today)
    return metsrights.ingest(etree.fromstring(etree.tostring(root)))


@pytest.mark.parametrize("action", list(Action))
def test_every_action_exports_dspace_permissions_and_reads_back(action: Action) -> None:
    root = metsrights.disseminate([ResourcePolicy(action, group="G1")], TODAY)
    perms = root.find(f"{R}Context/{R}Permissions")
    assert perms is not None
    assert dict(perms.attrib) == TABLE.get(action, {})
    assert list(perms.attrib) == list(TABLE.get(action, {}))  # DSpace's attribute order
    (ctx,) = metsrights.ingest(root)
    assert ctx.action == (None if action in LOST else action)


@given(st.lists(policies(), max_size=6))
def test_round_trip_keeps_who_when_and_action_where_metsrights_can(
        given_policies: list[ResourcePolicy]) -> None:
    contexts = _round(given_policies)
    assert len(contexts) == len(given_policies)  # every generated policy names someone
    for policy, ctx in zip(given_policies, contexts, strict=True):
        assert (ctx.group, ctx.eperson, ctx.name, ctx.start_date, ctx.end_date) == (
            policy.group, policy.eperson, policy.name, policy.start_date, policy.end_date)
        assert ctx.action == (None if policy.action in LOST else policy.action)
        back = ctx.policy(policy.action, description=policy.description,
                          policy_type=policy.policy_type)
        assert back == policy


def test_context_classes_and_user_names() -> None:
    root = metsrights.disseminate([
        ResourcePolicy(Action.READ, group=C.GROUP_ANONYMOUS),
        ResourcePolicy(Action.ADMIN, group=C.GROUP_ADMINISTRATOR),
        ResourcePolicy(Action.ADD, group="COLLECTION_hdl:1/2_SUBMIT"),
        ResourcePolicy(Action.READ, eperson="a@b.org"),
        ResourcePolicy(Action.READ),  # neither group nor e-person: dropped, like DSpace
    ], TODAY)
    rows = [(c.get("CONTEXTCLASS"),
             [(u.get("USERTYPE"), u.text) for u in c.iter(f"{R}UserName")]) for c in root]
    assert rows == [("GENERAL PUBLIC", []), ("REPOSITORY MGR", []),
                    ("MANAGED GRP", [("GROUP", "COLLECTION_hdl:1/2_SUBMIT")]),
                    ("ACADEMIC USER", [("INDIVIDUAL", "a@b.org")])]


def test_in_effect_and_dates_relative_to_the_given_day() -> None:
    future = ResourcePolicy(Action.READ, group="g", name="Embargo",
                            start_date=dt.date(2030, 1, 1))
    past = ResourcePolicy(Action.READ, group="g", end_date=dt.date(2020, 1, 1))
    root = metsrights.disseminate([future, past], dt.date(2024, 1, 1))
    first, second = root
    assert list(first.attrib.items()) == [("rpName", "Embargo"), ("in-effect", "false"),
                                          ("start-date", "2030-01-01"),
                                          ("CONTEXTCLASS", "MANAGED GRP")]
    assert second.get("in-effect") == "false"
    later = metsrights.disseminate([future], dt.date(2031, 1, 1))
    assert later[0].get("in-effect") == "true"


def test_policies_from_metsrights_alone_are_custom_and_drop_lost_actions() -> None:
    contexts = _round([ResourcePolicy(Action.READ, group="g", description="lost"),
                       ResourcePolicy(Action.WITHDRAWN_READ, group="g")])
    assert metsrights.policies(contexts) == (
        ResourcePolicy(Action.READ, group="g", policy_type="TYPE_CUSTOM"),)


def test_unknown_class_and_missing_permissions_are_warnings() -> None:
    root = etree.fromstring(
        f'<r:RightsDeclarationMD xmlns:r="{C.NS_METSRIGHTS}">'
        '<r:Context CONTEXTCLASS="ALIEN"><r:Permissions DISPLAY="true"/></r:Context>'
        '<r:Context CONTEXTCLASS="GENERAL PUBLIC"/>'
        '<r:Context CONTEXTCLASS="GENERAL PUBLIC" start-date="soon"><r:Permissions '
        'DISCOVER="true" DISPLAY="true"/></r:Context></r:RightsDeclarationMD>')
    warnings: list[Problem] = []
    contexts = metsrights.ingest(root, warnings)
    assert [w.code for w in warnings] == ["AIP-W041", "AIP-W042", "AIP-W045"]
    assert metsrights.policies(contexts) == (
        ResourcePolicy(Action.READ, group="Anonymous", policy_type="TYPE_CUSTOM"),)


def test_group_context_without_user_name_is_an_error() -> None:
    root = etree.fromstring(
        f'<r:RightsDeclarationMD xmlns:r="{C.NS_METSRIGHTS}"><r:Context '
        'CONTEXTCLASS="MANAGED GRP"><r:Permissions/></r:Context></r:RightsDeclarationMD>')
    with pytest.raises(CrosswalkError):
        metsrights.ingest(root)


def test_empty_declaration_means_no_policies() -> None:
    assert _round([]) == ()
