"""JSON result documents whose per-object lists are written as they are read.

Owns how a command's result document (``as_json()`` of a backup, a mirror run, a restore)
reaches JSON when one of its lists has an entry per object, a million at the largest sites:

- ``Listed``: a list produced on demand, read once per iteration from what the result
  already holds (a ``aip.spill.SpillList`` of names or outcomes), never built in memory.
- ``write``: the document as indented, key-sorted JSON, the same text as ``json.dump(doc,
  indent=1, sort_keys=True, default=str)``, with every list, tuple, ``Listed`` or other
  sized collection (a ``SpillList``) written an entry at a time.
- ``capped``: the document with each such list cut to its first entries, for a webhook's
  body, which a chat service or a monitoring system takes in whole; ``truncated`` then maps
  each cut list's key to its full length.

Pure: writes only to the stream it is given.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TextIO, TypeVar

__all__ = ["Listed", "capped", "write"]

T = TypeVar("T")

#: Entries a webhook's body keeps of each per-object list.
CAP = 1000


class Listed(Collection[T]):
    """``count`` entries made by ``entries()`` each time the list is iterated."""

    __slots__ = ("_count", "_entries")

    def __init__(self, count: int, entries: Callable[[], Iterator[T]]) -> None:
        self._count = count
        self._entries = entries

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        return self._entries()

    def __contains__(self, item: object) -> bool:
        return any(entry == item for entry in self)

    def __repr__(self) -> str:
        return f"Listed({self._count} entries)"


def _is_array(value: object) -> bool:
    return (isinstance(value, Collection)
            and not isinstance(value, str | bytes | bytearray | Mapping))


def _key(key: object) -> str:
    # As json does: a str key as is; None, booleans and numbers as their JSON text.
    return key if isinstance(key, str) else json.dumps(key)


def _chunks(value: Any, depth: int) -> Iterator[str]:
    inner = "\n" + " " * (depth + 1)
    if isinstance(value, Mapping):
        if not value:
            yield "{}"
            return
        items = sorted((_key(k), v) for k, v in value.items())
        for i, (key, item) in enumerate(items):
            yield ("{" if i == 0 else ",") + inner + json.dumps(key) + ": "
            yield from _chunks(item, depth + 1)
        yield "\n" + " " * depth + "}"
    elif _is_array(value):
        first = True
        for item in value:
            yield ("[" if first else ",") + inner
            first = False
            yield from _chunks(item, depth + 1)
        yield "[]" if first else "\n" + " " * depth + "]"
    else:
        yield json.dumps(value, default=str)


def write(doc: Any, out: TextIO) -> None:
    """``doc`` as indented (one space), key-sorted JSON on ``out``, then a newline."""
    for chunk in _chunks(doc, 0):
        out.write(chunk)
    out.write("\n")


def capped(doc: Mapping[str, Any], cap: int = CAP) -> dict[str, Any]:
    """``doc`` with each top-level list longer than ``cap`` cut to its first ``cap`` entries
    (and every list made a plain one); ``truncated``: key -> full length, if any was cut."""
    result: dict[str, Any] = {}
    truncated: dict[str, int] = {}
    for key, value in doc.items():
        if not _is_array(value):
            result[key] = value
            continue
        if len(value) > cap:
            truncated[key] = len(value)
        result[key] = list(itertools.islice(value, cap))
    if truncated:
        result["truncated"] = truncated
    return result
