"""The throwaway PostgreSQL cluster of ``tests/helpers/pgcluster.py``.

Finding the binaries is checked on folders of stand-in executables (nothing runs).  The
cluster itself is started for real, a second one beside the session's: it answers on
127.0.0.1 only with a password that is in no URL, refuses a client without the password file,
keeps its socket in its own folder, and is gone, folder and server, once stopped.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import pgcluster

PROGRAMS = ("initdb", "pg_ctl", "postgres")


def _bindir(folder: Path, programs: tuple[str, ...] = PROGRAMS) -> Path:
    folder.mkdir(parents=True)
    for name in programs:
        (folder / name).write_text("#!/bin/sh\nexit 1\n")
        (folder / name).chmod(0o755)
    return folder


def test_binaries_on_path_come_first_and_a_symlink_leads_to_their_folder(tmp_path: Path) -> None:
    real = _bindir(tmp_path / "pg" / "bin")
    onpath = tmp_path / "local-bin"
    onpath.mkdir()
    (onpath / "initdb").symlink_to(real / "initdb")
    debian = tmp_path / "debian"
    _bindir(debian / "16" / "bin")
    found = pgcluster.find_binaries(path=f"{tmp_path / 'empty'}{os.pathsep}{onpath}",
                                    debian_root=debian)
    assert found == pgcluster.Binaries(real)


def test_without_binaries_on_path_debians_newest_complete_version_is_used(
        tmp_path: Path) -> None:
    debian = tmp_path / "debian"
    _bindir(debian / "9.6" / "bin")
    _bindir(debian / "13" / "bin")
    _bindir(debian / "17" / "bin", programs=("initdb", "pg_ctl"))  # no server: not usable
    _bindir(debian / "100" / "bin", programs=())
    assert pgcluster.find_binaries(path=str(tmp_path / "empty"), debian_root=debian) == \
        pgcluster.Binaries(debian / "13" / "bin")
    # an incomplete folder on PATH does not count either
    partial = _bindir(tmp_path / "partial", programs=("initdb",))
    assert pgcluster.find_binaries(path=str(partial), debian_root=debian) == \
        pgcluster.Binaries(debian / "13" / "bin")
    assert pgcluster.find_binaries(path=str(partial), debian_root=tmp_path / "none") is None


def _binaries() -> pgcluster.Binaries:
    found = pgcluster.find_binaries()
    if found is None:
        pytest.skip(pgcluster.NOT_INSTALLED)
    return found


def test_a_throwaway_cluster_is_private_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch,
                                                          capfd: pytest.CaptureFixture[str]
                                                          ) -> None:
    cluster = pgcluster.ThrowawayCluster(_binaries())
    with cluster:
        folder = cluster.folder
        assert folder is not None
        port = cluster.port
        secret = cluster.pgpass.read_text().strip().rsplit(":", 1)[1]
        assert len(secret) >= 32
        assert cluster.pgpass.stat().st_mode & 0o777 == 0o600
        assert secret not in cluster.url and secret not in cluster.describe()
        assert not (folder / "pwfile").exists()
        url = sa.engine.make_url(cluster.url).set(drivername="postgresql+psycopg")

        # without the password file: refused (password authentication, not trust)
        monkeypatch.setenv("PGPASSFILE", os.devnull)
        engine = sa.create_engine(url)
        with pytest.raises(sa.exc.OperationalError, match="password"):
            engine.connect().close()
        engine.dispose()

        monkeypatch.setenv("PGPASSFILE", str(cluster.pgpass))
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                show = {name: conn.execute(sa.text(f"SHOW {name}")).scalar()
                        for name in ("listen_addresses", "unix_socket_directories",
                                     "server_encoding", "lc_collate")}
        finally:
            engine.dispose()
        assert show == {"listen_addresses": "127.0.0.1",
                        "unix_socket_directories": str(folder / "sock"),
                        "server_encoding": "UTF8", "lc_collate": "C"}
        assert (folder / "sock" / f".s.PGSQL.{port}").exists()
        if os.geteuid() == 0:  # the server runs as the unprivileged account, which owns it
            assert (folder / "data").stat().st_uid == pwd.getpwnam(
                pgcluster.SERVER_ACCOUNT).pw_uid
    assert cluster.folder is None and not folder.exists()
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))
    cluster.stop()  # a second stop does nothing
    out, err = capfd.readouterr()
    assert secret not in out + err


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A temporary folder any user may enter (as root, the stand-ins run as the server
    account, which cannot enter pytest's private ``tmp_path``)."""
    folder = Path(tempfile.mkdtemp(prefix="aipsync-pgtest-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_cluster_that_cannot_start_says_why_and_leaves_nothing(
        open_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins: ``pg_ctl --version`` answers, ``initdb`` fails; the error names the step
    and carries initdb's message, and the cluster's folder is gone."""
    bindir = _bindir(open_folder / "bin")
    (bindir / "pg_ctl").write_text('#!/bin/sh\necho "pg_ctl (PostgreSQL) 99.1"\n')
    (bindir / "initdb").write_text('#!/bin/sh\necho "initdb: error: stand-in says no" >&2\n'
                                   "exit 1\n")
    clusters = open_folder / "clusters"
    clusters.mkdir(mode=0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(clusters))
    cluster = pgcluster.ThrowawayCluster(pgcluster.Binaries(bindir))
    with pytest.raises(pgcluster.ClusterError) as failed:
        cluster.start()
    assert str(failed.value) == "initdb failed (exit 1):\ninitdb: error: stand-in says no"
    assert cluster.version == "PostgreSQL 99.1"
    assert cluster.folder is None and list(clusters.iterdir()) == []
