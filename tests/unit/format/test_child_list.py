"""A parsed container's child pointers (``ChildList``) and its children's handles by type
(``ChildHandles``) read back as the lists they stand for, past the spill too."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aip.packager.manifest import ChildList, ChildPointer

_pointers = st.builds(ChildPointer, type=st.sampled_from(["ITEM", "COLLECTION", "COMMUNITY"]),
                      handle=st.one_of(st.none(), st.just(""), st.text(max_size=12)),
                      href=st.text(min_size=1, max_size=20))


@given(st.lists(_pointers, max_size=40))
def test_reads_back_as_the_list(pointers: list[ChildPointer]) -> None:
    children = ChildList(pointers)
    assert children == pointers and len(children) == len(pointers)
    for kind in ("ITEM", "COLLECTION", "COMMUNITY"):
        assert children.handles(kind) == [p.handle for p in pointers
                                          if p.type == kind and p.handle]


def test_a_large_collection_spills_and_reads_back_in_order() -> None:
    pointers = [ChildPointer(type="COLLECTION" if n % 1000 == 0 else "ITEM",
                             handle=f"123456789/{n}", href=f"ITEM@123456789-{n}.zip")
                for n in range(10_000)]
    children = ChildList(pointers)
    assert children._rows._offsets  # past the spill's keep: some are in its file
    assert list(children) == pointers
    items = children.handles("ITEM")
    assert len(items) == 9_990 and list(items)[:2] == ["123456789/1", "123456789/2"]
    assert "123456789/1000" not in items and "123456789/1001" in items
