"""Fixtures of the fault, crash and disk-full suites.

- ``proxy``: a ``FaultProxy`` (tests/faults/proxy.py) in front of the session's moto server,
  started per test and stopped (every thread joined) after it; it also stops by itself after
  its deadline.
- ``template``: a seeded embedded repository made once per session (six items in two
  collections, plus one item with an incompressible 11 MiB bitstream, so its AIP goes up in
  three parts with a 5 MiB part size); ``fenv`` copies it for a test and wires it to a fresh
  bucket through the proxy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import FaultEnv, make_template
from helpers import RepoLocation
from proxy import FaultProxy


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(s3_endpoint, seed=20260707, deadline=240)
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("faults-template") / "repo").folder


@pytest.fixture
def fenv(tmp_path: Path, template: Path, proxy: FaultProxy, s3_endpoint: str,
         s3_bucket: str) -> Iterator[FaultEnv]:
    folder = tmp_path / "repo"
    shutil.copytree(template, folder)
    env = FaultEnv(root=tmp_path, repo=RepoLocation(folder), proxy=proxy,
                   moto=s3_endpoint, bucket=s3_bucket)
    yield env
    env.close()
