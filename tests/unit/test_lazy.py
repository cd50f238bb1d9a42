"""LazyCollection: a collection made on each read compares, hashes and searches like the
sequence of its members."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from aip.lazy import LazyCollection


class Counted(LazyCollection[int]):
    """Members made from a list on each read; counts the reads."""

    def __init__(self, members: list[int]) -> None:
        self.members = members
        self.reads = 0

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[int]:
        self.reads += 1
        return iter(list(self.members))


@given(st.lists(st.integers()), st.lists(st.integers()))
def test_equal_to_a_sequence_exactly_when_the_members_are(a: list[int], b: list[int]) -> None:
    lazy = Counted(a)
    assert (lazy == b) == (a == b)
    assert (lazy == tuple(b)) == (a == b)
    assert (lazy == Counted(b)) == (a == b)
    assert lazy == a and hash(lazy) == hash(tuple(a))


def test_order_matters_and_unrelated_types_are_not_equal() -> None:
    assert Counted([1, 2]) != [2, 1]
    assert Counted([1, 2]) != {1, 2}
    assert Counted([]) != ""
    assert Counted([1]) != 1


def test_membership_walks_the_members() -> None:
    lazy = Counted([3, 5, 8])
    assert 5 in lazy and 4 not in lazy
    assert lazy.reads == 2


def test_repr_names_the_class_and_count() -> None:
    assert repr(Counted([1, 2, 3])) == "Counted(3 members)"
