"""aip.spill.SpillList: the same entries, in the same order, as a list, wherever they are."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aip.errors import Outcome, Report
from aip.spill import SpillList, SpillMap

# An operation: append this value, or (None) iterate the whole list and check it.
_OPS = st.lists(st.one_of(st.integers(), st.none()), max_size=200)


@settings(max_examples=200, deadline=None)
@given(ops=_OPS, keep=st.integers(min_value=1, max_value=9))
def test_same_as_a_list(ops: list[int | None], keep: int) -> None:
    spill: SpillList[int] = SpillList(keep=keep)
    model: list[int] = []
    for op in ops:
        if op is None:
            assert list(spill) == model
        else:
            spill.append(op)
            model.append(op)
        assert len(spill) == len(model)
        assert bool(spill) == bool(model)
    assert list(spill) == model
    spill.close()
    assert list(spill) == [] and len(spill) == 0


@settings(max_examples=100, deadline=None)
@given(first=st.lists(st.integers(), max_size=40), more=st.lists(st.integers(), max_size=40),
       stop_at=st.integers(min_value=0, max_value=40), keep=st.integers(min_value=1, max_value=5))
def test_appending_while_iterating(first: list[int], more: list[int], stop_at: int,
                                   keep: int) -> None:
    """An iterator part-way through goes on to what was appended meanwhile, spilled or not."""
    spill = SpillList(first, keep=keep)
    seen = []
    it = iter(spill)
    for _ in range(min(stop_at, len(first))):
        seen.append(next(it))
    spill.extend(more)
    seen.extend(it)
    assert seen == first + more


def test_memory_holds_at_most_keep_and_the_file_is_unlinked(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spill: SpillList[str] = SpillList(keep=3)
    spill.extend(["a", "b"])
    assert spill._file is None  # a small list never touches the disk
    spill.extend(["c", "d", "e", "f", "g"])
    assert len(spill._memory) < 3 and spill._file is not None
    assert list(tmp_path.iterdir()) == []  # no name in the folder: gone with the process
    assert list(spill) == ["a", "b", "c", "d", "e", "f", "g"]
    assert "e" in spill and "z" not in spill


def test_a_reports_outcomes_spill_and_read_back() -> None:
    report, other = Report(), Report()
    for n in range(10_000):
        report.add(f"123456789/{n}", "restored", package=f"ITEM@123456789-{n}.zip")
    other.add("123456789/x", "skipped", "its parent is missing")
    report.extend(other)
    assert report.outcomes._file is not None  # past KEEP: most are on disk
    assert len(report.outcomes) == 10_001
    assert report.summary() == {"restored": 10_000, "skipped": 1}
    outcomes = list(report.outcomes)
    assert outcomes[4097] == Outcome("123456789/4097", "restored", "", "ITEM@123456789-4097.zip")
    assert outcomes[-1].line() == "skipped    123456789/x (its parent is missing)"


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep"):
        SpillList(keep=0)


_KEYS = st.text(alphabet="ab/.-1é", max_size=6)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(_KEYS, st.one_of(st.none(), _KEYS)), max_size=60),
       keep=st.integers(min_value=1, max_value=6))
def test_map_same_as_a_dict(ops: list[tuple[str, str | None]], keep: int) -> None:
    """Set (a value) or look up (None): the same answers as a dict, before and after it
    moves to its temp database."""
    spill = SpillMap(keep=keep)
    model: dict[str, str] = {}
    for key, value in ops:
        if value is None:
            assert spill.get(key) == model.get(key)
            assert (key in spill) == (key in model)
        else:
            spill[key] = value
            model[key] = value
    assert spill.spilled == (len(model) > keep)
    assert all(spill.get(k) == v for k, v in model.items())
    assert 3 not in spill  # not a text key
    spill.close()
    assert spill.get("a") is None and not spill.spilled


def test_map_spills_past_keep_and_keeps_answering() -> None:
    spill = SpillMap(keep=100)
    for n in range(1000):
        spill[f"/w/ITEM@1-{n}.zip"] = f"1/{n}"
    assert spill.spilled and spill._memory == {}
    assert spill.get("/w/ITEM@1-999.zip") == "1/999" and spill.get("/w/ITEM@1-0.zip") == "1/0"
    spill["/w/ITEM@1-0.zip"] = "1/new"
    assert spill.get("/w/ITEM@1-0.zip") == "1/new" and "/w/ITEM@1-1000.zip" not in spill


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=6)), st.integers(1, 5))
def test_map_counts_and_gives_its_keys_in_sorted_order(keys: list[str], keep: int) -> None:
    found = SpillMap(keep=keep)
    for key in keys:
        found[key] = "v"
    assert list(found) == sorted(set(keys)) and len(found) == len(set(keys))


def test_map_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep"):
        SpillMap(keep=0)
