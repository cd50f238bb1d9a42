"""Collections whose members are made each time they are read.

Owns: ``LazyCollection``, the base of the collections that keep their members compactly
(packed integers, a block of handles) and make each member as it is iterated.  A lazy
collection compares equal to a sequence of the same members in the same order, so a caller
or a test may hold a plain list where the code holds the lazy form.  Pure.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import abc
from collections.abc import Iterator, Sequence
from typing import TypeVar

T_co = TypeVar("T_co", covariant=True)


class LazyCollection(abc.Collection[T_co]):
    """A sized, ordered collection made on each read; equal to a sequence of its members.

    Subclasses give ``__len__`` and ``__iter__``; membership and equality walk the members,
    so both cost a full read (these collections are written out, not searched).
    """

    __slots__ = ()

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[T_co]: ...

    def __contains__(self, member: object) -> bool:
        return any(m == member for m in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyCollection | Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} members)"
