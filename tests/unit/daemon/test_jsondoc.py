"""daemon.core.jsondoc: result documents written a list entry at a time, and cut for webhooks."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aip.spill import SpillList
from daemon.core.jsondoc import Listed, capped, write

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))
documents = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                   | st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=30)


def written(doc: Any) -> str:
    out = io.StringIO()
    write(doc, out)
    return out.getvalue()


@given(documents)
def test_the_text_is_json_dump_s_own(doc: Any) -> None:
    assert written(doc) == json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n"


def test_other_values_are_their_text_and_keys_json_s_text_sorted() -> None:
    when = datetime(2026, 12, 7, tzinfo=UTC)
    text = written({"at": when, "path": Path("/srv/x"), 3: "three", None: 1, True: 2})
    assert json.loads(text) == {"at": str(when), "path": "/srv/x", "3": "three", "null": 1,
                                "true": 2}
    assert [line.split(":")[0].strip() for line in text.splitlines()[1:-1]] == [
        '"3"', '"at"', '"null"', '"path"', '"true"']


def test_a_spilled_list_is_written_in_order_as_a_plain_list() -> None:
    names: SpillList[str] = SpillList(keep=3)
    names.extend(f"ITEM@1-{n}.zip" for n in range(10))
    doc = {"uploaded": names, "exported": 10}
    assert written(doc) == json.dumps({"uploaded": list(names), "exported": 10},
                                      indent=1, sort_keys=True) + "\n"


def test_listed_rows_are_made_as_they_are_written() -> None:
    made: list[int] = []

    def rows() -> Iterator[dict[str, int]]:
        for n in range(3):
            made.append(n)
            yield {"n": n}

    listed = Listed(3, rows)
    assert len(listed) == 3 and not made, "nothing made before it is read"
    assert json.loads(written({"handles": listed})) == {"handles": [{"n": 0}, {"n": 1},
                                                                    {"n": 2}]}
    assert list(listed) == [{"n": 0}, {"n": 1}, {"n": 2}], "made again on each reading"
    assert {"n": 2} in listed and {"n": 3} not in listed


def test_capped_cuts_long_lists_and_says_how_long_they_were() -> None:
    names: SpillList[str] = SpillList(keep=2)
    names.extend(str(n) for n in range(7))
    doc = {"uploaded": names, "removed": ["a"], "rows": Listed(0, lambda: iter(())),
           "status": "ok", "snapshot": {"id": "x"}}
    cut = capped(doc, cap=5)
    assert cut == {"uploaded": ["0", "1", "2", "3", "4"], "removed": ["a"], "rows": [],
                   "status": "ok", "snapshot": {"id": "x"}, "truncated": {"uploaded": 7}}
    assert "truncated" not in capped(doc, cap=7)
    json.dumps(cut)  # a plain document now
