"""Fixtures for the service's integration tests: one scenario, two targets (moto S3, folder).

``env`` is parametrized over ``s3`` (moto's real HTTP server on 127.0.0.1, from the top-level
``s3_endpoint``/``s3_bucket`` fixtures) and ``folder`` (a ``file://`` target in ``tmp_path``),
each with a freshly seeded embedded repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_support import BackupEnv, seeded_repo


def make_env(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> BackupEnv:
    repo = seeded_repo(tmp_path / "repo")
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        return BackupEnv("s3", tmp_path, f"s3://{bucket}/backup", endpoint, bucket, repo)
    (tmp_path / "target").mkdir()
    return BackupEnv("folder", tmp_path, f"file://{tmp_path / 'target'}", None, None, repo)


@pytest.fixture(params=["s3", "folder"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackupEnv]:
    e = make_env(request, request.param, tmp_path)
    yield e
    for tgt in e.opened:
        tgt.close()
    e.drop_installs()


@pytest.fixture
def folder_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackupEnv]:
    """The folder target only (for tests about the source or staging, not the target)."""
    e = make_env(request, "folder", tmp_path)
    yield e
    for tgt in e.opened:
        tgt.close()
    e.drop_installs()
