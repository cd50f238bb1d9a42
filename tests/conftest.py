"""Shared test fixtures: a clean environment, real servers on 127.0.0.1, repository helpers.

- Every test runs with the project's own environment variables removed (docs/style.md C3).
- ``s3_endpoint`` starts moto's standalone server on 127.0.0.1 (port 0) once per session; it
  is a real HTTP endpoint, never mocked calls.  ``s3_bucket`` makes a fresh bucket per test.
- ``pg_url`` is the PostgreSQL URL from ``AIPSYNC_TEST_PG_URL`` (set by ``.ci/run``) when a
  server answers there; tests that need it are skipped otherwise.
- ``all_log_levels`` lets every log level through for ``structlog.testing.capture_logs``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aip import constants as C

#: Read once, before the autouse fixture clears AIPSYNC_* variables.
PG_URL = os.environ.get("AIPSYNC_TEST_PG_URL", "")
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "dspace-aips"

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing-access-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the project's and AWS's environment so no test depends on the caller's shell."""
    for name in list(os.environ):
        if name.startswith(C.ENV_PREFIX) or name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials in the environment, as boto3's standard chain reads them."""
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    return dict(FAKE_AWS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for tests (fake credentials, path-style addressing)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


@pytest.fixture
def s3_bucket(s3_endpoint: str, aws_env: dict[str, str]) -> str:
    """A new, empty bucket on the session's moto server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def _pg_reachable(url: str) -> bool:
    if not url:
        return False
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL URL with a fresh, empty database schema for this test."""
    global _PG_OK  # noqa: PLW0603
    if _PG_OK is None:
        _PG_OK = _pg_reachable(PG_URL)
    if not _PG_OK:
        pytest.skip("no PostgreSQL server reachable (set AIPSYNC_TEST_PG_URL)")
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads running (docs/style.md P5)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate()
              if t.ident not in before and t.is_alive() and not t.daemon]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"


@pytest.fixture
def all_log_levels() -> Iterator[None]:
    """Let every level through structlog's filter (other tests may have left it at warning),
    so ``structlog.testing.capture_logs`` sees info events; restored afterwards."""
    import logging

    import structlog

    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        yield
    finally:
        structlog.configure(**saved)
