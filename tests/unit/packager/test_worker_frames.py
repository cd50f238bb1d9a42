"""The packager worker's framing (aip.packager.worker): what a reader makes of whole,
empty and cut-off streams."""

from __future__ import annotations

import io
import pickle

import pytest

from aip.packager.worker import LENGTH, frame, read_frame, reply_for


def test_frames_read_back_one_after_the_other() -> None:
    stream = io.BytesIO(frame(("a", 1)) + frame([b"x" * 70_000]) + frame(None))
    assert [pickle.loads(read_frame(stream) or b"") for _ in range(3)] == [
        ("a", 1), [b"x" * 70_000], None]
    assert read_frame(stream) is None  # end of file between frames


@pytest.mark.parametrize("cut", [1, LENGTH.size, LENGTH.size + 3])
def test_a_stream_cut_inside_a_frame_is_an_error(cut: int) -> None:
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(frame("payload")[:cut]))


def test_a_reply_carries_the_result_or_the_exception_and_its_traceback() -> None:
    ok, value, remote = pickle.loads(reply_for(divmod, (7, 2))[LENGTH.size:])
    assert (ok, value, remote) == (True, (3, 1), None)
    ok, value, remote = pickle.loads(reply_for(divmod, (7, 0))[LENGTH.size:])
    assert not ok and isinstance(value, ZeroDivisionError)
    assert remote is not None and "ZeroDivisionError" in remote
