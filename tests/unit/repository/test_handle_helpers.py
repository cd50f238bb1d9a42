"""Handle helpers (``aip.model.handles``): checking, splitting, sorting, URIs, file names."""

from __future__ import annotations

import pytest
from helpers import PREFIX

from aip import constants as C
from aip.errors import HandleFormatError
from aip.model import (
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
