"""Fixtures for the mirror's integration tests: one scenario, two targets (moto S3, folder).

``env`` is parametrized over ``s3`` (moto's real HTTP server on 127.0.0.1, from the top-level
``s3_endpoint``/``s3_bucket`` fixtures) and ``folder`` (a ``file://`` target in ``tmp_path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_mirror_support import MirrorEnv


@pytest.fixture(params=["s3", "folder"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MirrorEnv]:
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        e = MirrorEnv("s3", tmp_path, f"s3://{bucket}/backup", endpoint, bucket)
    else:
        (tmp_path / "target").mkdir()
        e = MirrorEnv("folder", tmp_path, f"file://{tmp_path / 'target'}", None, None)
    e.staging.mkdir()
    yield e
    for tgt in e.opened:
        tgt.close()
