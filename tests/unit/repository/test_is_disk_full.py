"""``aip.files.is_disk_full``: the one test for "the disk is full" used by staging and targets."""

from __future__ import annotations

import errno

import pytest

from aip.errors import OutputError
from aip.files import is_disk_full


def _raised_from(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise OutputError(path="/x", detail="wrapped") from inner
    except OutputError as outer:
        return outer


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_and_quota_count_directly_and_through_causes(code: int) -> None:
    exc = OSError(code, "full")
    assert is_disk_full(exc)
    assert is_disk_full(_raised_from(exc))


@pytest.mark.parametrize("exc", [OSError(errno.EACCES, "denied"), OSError("no errno"),
                                 ValueError("no"), _raised_from(OSError(errno.EIO, "io"))])
def test_other_errors_do_not(exc: BaseException) -> None:
    assert not is_disk_full(exc)


def test_a_cycle_of_causes_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert not is_disk_full(a)
