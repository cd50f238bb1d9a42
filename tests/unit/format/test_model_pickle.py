"""Model records pickle as (class, field values): every field survives, for every class."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aip.model as M
from aip.model.record import Record
from tests.unit.format import format_strategies as S

RECORDS = [obj for name in M.__all__
           if isinstance(obj := getattr(M, name), type) and dataclasses.is_dataclass(obj)]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_every_model_dataclass_is_a_record_with_every_field_in_init(cls: type) -> None:
    # Record rebuilds an object from its __init__ arguments: a field outside __init__ (or
    # keyword-only) would be lost or misplaced, and a dataclass outside Record would pickle
    # the slow way.
    assert issubclass(cls, Record)
    fields = dataclasses.fields(cls)
    assert all(f.init and not f.kw_only for f in fields)
    assert tuple(f.name for f in fields) == cls.__match_args__  # type: ignore[attr-defined]
    assert not hasattr(cls, "__post_init__")


def test_the_list_of_records_is_not_empty() -> None:
    assert len(RECORDS) >= 12


values = st.one_of(
    S.items(), S.collections(), S.communities(), S.people(), S.sites, S.logos(),
    S.registry_schemas, S.registry_fields, S.registry_formats, S.groups(),
)


@settings(max_examples=150, deadline=None)
@given(values)
def test_pickle_round_trip_keeps_every_field(value: object) -> None:
    for protocol in (2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        assert pickle.loads(pickle.dumps(value, protocol=protocol)) == value


def test_shared_objects_stay_shared() -> None:
    policy = M.ResourcePolicy(action=M.Action.READ, group="Anonymous")
    back = pickle.loads(pickle.dumps((policy, policy)))
    assert back[0] is back[1]
    assert back[0] == policy
