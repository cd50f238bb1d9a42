"""``Record``: the base of the model's frozen dataclasses, and how they pickle.

A frozen, slotted dataclass pickles through ``dataclasses.fields()`` and one
``object.__setattr__`` per field, on both ends.  An export sends every item it writes to a
worker process, so records pickle instead as their class and their field values in
``__init__`` order, and unpickle by calling the class: about half the cost each way.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

_Getter = Callable[[Any], tuple[Any, ...]]
_GETTERS: dict[type, _Getter] = {}


def _getter(cls: type) -> _Getter:
    names: tuple[str, ...] = cls.__match_args__  # type: ignore[attr-defined]
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)


class Record:
    """Base of the model's dataclasses (``@dataclass(frozen=True, slots=True)``, every field
    an ``__init__`` argument, no ``__post_init__``)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        cls = type(self)
        getter = _GETTERS.get(cls)
        if getter is None:
            getter = _GETTERS[cls] = _getter(cls)
        return cls, getter(self)
