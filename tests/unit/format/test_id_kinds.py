"""The structural check's ID index (``aip.mets.validate._IdKinds``) answers as a plain
dict of ID -> kind, first one kept, would: numbered IDs packed in byte arrays, the rest
apart, whichever way each one went."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aip.mets.validate import _IdKinds

KINDS = ("div", "mptr", "file", "dmdSec", "techMD")

_numbered = st.builds(lambda stem, n: f"{stem}{n}", st.sampled_from(["div_", "mptr_", "", "x"]),
                      st.one_of(st.integers(0, 5000), st.integers(0, 10**12)))
_odd = st.one_of(st.text(min_size=1, max_size=8),
                 st.builds(lambda s, n: f"{s}0{n}", st.sampled_from(["div_", ""]),
                           st.integers(0, 99)))
_ids = st.one_of(_numbered, _odd)


@given(st.lists(st.tuples(_ids, st.sampled_from(KINDS)), max_size=300),
       st.lists(_ids, max_size=30))
def test_answers_as_a_dict_would(pairs: list[tuple[str, str]], others: list[str]) -> None:
    index, model = _IdKinds(), {}
    for ident, kind in pairs:
        assert index.add(ident, kind) == (ident not in model)
        model.setdefault(ident, kind)
    for ident in [i for i, _ in pairs] + others:
        assert index.get(ident) == model.get(ident)


def test_a_collection_of_ids_is_packed() -> None:
    index = _IdKinds()
    for n in range(1, 30001):
        assert index.add(f"div_{n}", "div") and index.add(f"mptr_{n}", "mptr")
    assert not index._others
    assert not index.add("div_7", "mptr")
    assert index.get("div_7") == "div" and index.get("mptr_30000") == "mptr"
    assert index.get("div_07") is None and index.get("div_30001") is None


def test_a_number_far_past_the_ids_seen_is_kept_apart() -> None:
    index = _IdKinds()
    assert index.add("div_99999999", "div")
    assert index._size < 10_000 and index.get("div_99999999") == "div"
    assert not index.add("div_99999999", "mptr")


def test_an_id_kept_apart_is_found_after_its_stem_grows_past_it() -> None:
    index = _IdKinds()
    assert index.add("d_20000", "file")  # too far for 0 IDs seen: apart
    for n in range(1, 3001):
        index.add(f"d_{n}", "div")
    assert index.add("d_25000", "div")  # the array now reaches past 20000
    assert index._numbered["d_"][20000] == 0
    assert not index.add("d_20000", "div")
    assert index.get("d_20000") == "file"
