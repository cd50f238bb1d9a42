"""Handle helpers (``aip.model.handles``): checking, splitting, sorting, URIs, file names."""

from __future__ import annotations

import pytest
from helpers import PREFIX
from hypothesis import given
from hypothesis import strategies as st

from aip import constants as C
from aip.errors import HandleFormatError
from aip.model import (
    HandleList,
    check_handle,
    handle_from_uri,
    handle_sort_key,
    handle_uri,
    package_file_name,
    site_handle,
    split_handle,
)


@pytest.mark.parametrize("handle", ["123456789/42", "10.5072/abc-1_x.y", "hdlprefix/0"])
def test_good_handles_pass_unchanged(handle: str) -> None:
    assert check_handle(handle) == handle


@pytest.mark.parametrize("bad", ["", "123456789", "/42", "123456789/", "1/2/3", "12 3/4",
                                 "123456789/4 2", "hdl:123456789/4", None, 42])
def test_bad_handles_raise_handle_format_error(bad: object) -> None:
    with pytest.raises(HandleFormatError) as info:
        check_handle(bad)  # type: ignore[arg-type]
    assert info.value.exit_code == C.EXIT_HANDLE_FORMAT
    assert repr(bad) in str(info.value)


def test_split_and_site_handle() -> None:
    assert split_handle("123456789/42") == ("123456789", "42")
    assert site_handle(PREFIX) == f"{PREFIX}/0"
    with pytest.raises(HandleFormatError):
        split_handle("nope")


def test_sort_key_orders_numeric_suffixes_as_numbers() -> None:
    handles = ["p/100", "p/9", "p/10", "a/5", "p/x", "p/0"]
    assert sorted(handles, key=handle_sort_key) == ["a/5", "p/x", "p/0", "p/9", "p/10", "p/100"]


# Suffixes of every shape HandleList keeps apart or packs: plain numbers (small and past 31
# bits), leading zeros, letters; prefixes mostly one, sometimes another.
_suffixes = (st.integers(0, 3_000_000_000).map(str) | st.from_regex(r"0[0-9]{1,3}", fullmatch=True)
             | st.from_regex(r"[a-z][a-z0-9.]{0,4}", fullmatch=True))
_handles = st.tuples(st.sampled_from(["123456789", "123456789", "123456789", "10.5072"]),
                     _suffixes).map("/".join)
_ids = st.integers(0, 2**33)


@given(st.dictionaries(_handles, _ids, max_size=60))
def test_a_handle_list_is_the_pairs_sorted_by_handle_sort_key(ids: dict[str, int]) -> None:
    pairs = [(row_id, handle) for handle, row_id in ids.items()]
    listed = HandleList(pairs)
    expected = sorted(pairs, key=lambda p: handle_sort_key(p[1]))
    assert list(listed.with_ids()) == expected
    assert list(listed) == [h for _, h in expected] and len(listed) == len(expected)
    assert listed == tuple(h for _, h in expected) and bool(listed) == bool(expected)
    assert list(listed) == list(listed), "read again, the same"


def test_a_handle_list_packs_plain_numbers_and_keeps_the_rest() -> None:
    listed = HandleList([(5, "p/10"), (6, "p/9"), (7, "p/007"), (8, "q/1"), (2**40, "p/3"),
                         (9, "p/x")])
    assert list(listed.with_ids()) == [(9, "p/x"), (2**40, "p/3"), (7, "p/007"), (6, "p/9"),
                                       (5, "p/10"), (8, "q/1")]
    assert "p/9" in listed and "p/8" not in listed
    assert listed != ("p/x",) and HandleList() == () and not HandleList()
    assert hash(listed) == hash(tuple(listed))


@pytest.mark.parametrize(("text", "expected"), [
    ("hdl:123456789/7", "123456789/7"),
    ("  hdl:123456789/7 ", "123456789/7"),
    ("http://hdl.handle.net/123456789/7", "123456789/7"),
    ("https://hdl.handle.net/123456789/7", "123456789/7"),
    ("urn:uuid:1234", None),
    ("123456789/7", None),
])
def test_handle_from_uri(text: str, expected: str | None) -> None:
    assert handle_from_uri(text) == expected


def test_handle_uri_round_trips() -> None:
    assert handle_uri("123456789/7") == "hdl:123456789/7"
    assert handle_from_uri(handle_uri("123456789/7")) == "123456789/7"


def test_package_file_names_follow_dspace() -> None:
    assert package_file_name("ITEM", "123456789/42") == "ITEM@123456789-42.zip"
    assert package_file_name("SITE", "123456789/0", ext="xml") == "SITE@123456789-0.xml"
    assert package_file_name("ITEM", None, internal_id=17) == "ITEM@internal-id-17.zip"
    assert C.PACKAGE_NAME_RE.match(package_file_name("COLLECTION", "10.5072/3"))
