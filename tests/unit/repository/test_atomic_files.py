"""aip.files: temp names, permissions and what is left after a failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aip import constants as C
from aip.files import BatchWriter, atomic_write, create_temp, is_temp_name


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_temp_file_is_new_hidden_and_beside_the_target(tmp_path: Path) -> None:
    fd, tmp = create_temp(tmp_path / "ITEM@123456789-7.zip")
    os.close(fd)
    assert tmp.parent == tmp_path
    assert is_temp_name(tmp.name) and tmp.name.startswith(C.TEMP_PREFIX)
    assert tmp.name.endswith("-ITEM@123456789-7.zip")
    fd2, tmp2 = create_temp(tmp_path / "ITEM@123456789-7.zip")
    os.close(fd2)
    assert tmp2 != tmp


def test_temp_file_steps_over_a_leftover_and_a_symlink(tmp_path: Path) -> None:
    # Names are predictable (pid and a counter): occupy the next few, one as a symlink
    # pointing at a file that must not be touched.
    fd, probe = create_temp(tmp_path / "a.zip")
    os.close(fd)
    pid_part, number, rest = probe.name[len(C.TEMP_PREFIX):].split("-", 2)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    for n in range(int(number) + 1, int(number) + 4):
        squatter = tmp_path / f"{C.TEMP_PREFIX}{pid_part}-{n}-{rest}"
        if n % 2:
            squatter.symlink_to(victim)
        else:
            squatter.write_bytes(b"old")
    fd, tmp = create_temp(tmp_path / "a.zip")
    os.write(fd, b"new")
    os.close(fd)
    assert int(tmp.name[len(C.TEMP_PREFIX):].split("-", 2)[1]) >= int(number) + 4
    assert victim.read_bytes() == b"keep"
    assert tmp.read_bytes() == b"new"


@pytest.mark.usefixtures("umask_027")
def test_files_get_what_open_would_give_under_the_umask(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "a.txt", "w", encoding="utf-8") as out:
        out.write("x")
    writer = BatchWriter()
    with writer.create(tmp_path / "b.bin") as out:
        out.write(b"x")
    writer.commit()
    assert _mode(tmp_path / "a.txt") == 0o640
    assert _mode(tmp_path / "b.bin") == 0o640


@pytest.mark.usefixtures("umask_027")
def test_explicit_permissions_are_exact_whatever_the_umask(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "secret", permissions=0o600) as out:
        out.write(b"s")
    writer = BatchWriter(permissions=0o664)  # 0o664 has bits the umask would take away
    with writer.create(tmp_path / "shared") as out:
        out.write(b"x")
    writer.commit()
    assert _mode(tmp_path / "secret") == 0o600
    assert _mode(tmp_path / "shared") == 0o664


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"before")
    with pytest.raises(RuntimeError), atomic_write(tmp_path / "a") as out:
        out.write(b"half")
        raise RuntimeError("boom")
    writer = BatchWriter()
    with pytest.raises(RuntimeError), writer.create(tmp_path / "b") as out:
        out.write(b"half")
        raise RuntimeError("boom")
    with writer.create(tmp_path / "c") as out:
        out.write(b"whole")
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_bytes() == b"before"


def test_batch_names_appear_only_at_commit(tmp_path: Path) -> None:
    writer = BatchWriter()
    for name in ("x", "y"):
        with writer.create(tmp_path / name) as out:
            out.write(name.encode())
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert writer.commit() == [tmp_path / "x", tmp_path / "y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "y"]
