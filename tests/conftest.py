"""Shared test fixtures: a clean environment, real servers on 127.0.0.1, repository helpers.

- Every test runs with the project's own environment variables removed (docs/style.md C3).
- ``s3_endpoint`` starts moto's standalone server on 127.0.0.1 (port 0) once per session; it
  is a real HTTP endpoint, never mocked calls.  ``s3_bucket`` makes a fresh bucket per test.
- ``pg_server`` is a PostgreSQL server for the session: the one ``AIPSYNC_TEST_PG_URL`` names
  when that is set, else a throwaway cluster started from the installed server binaries
  (``tests/helpers/pgcluster.py``) on the first test that needs it and removed at the end;
  tests that need it are skipped when there is neither.  ``pg_url`` is a fresh, empty database
  on it for one test.
- ``all_log_levels`` lets every log level through for ``structlog.testing.capture_logs``.

The session's summary lists the skipped tests grouped by reason.  With ``AIPSYNC_CI=1`` (set
by ``.ci/run``) a skip whose reason is not in ``CI_CANNOT_RUN`` fails the session: CI has
every server, package and fixture the suite needs, so a skip there means a test went unrun.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from aip import constants as C

#: Read once, before the autouse fixture clears AIPSYNC_* variables.
PG_URL = os.environ.get(f"{C.ENV_PREFIX}TEST_PG_URL", "")
IN_CI = os.environ.get(f"{C.ENV_PREFIX}CI", "") == "1"

#: Skip reasons CI accepts (regular expressions, matched at the start of the reason), each
#: for something a CI machine really cannot do.  Empty: ``.ci/run`` installs PostgreSQL's
#: server and systemd, runs on Linux (``/proc``), and has the UBC fixtures beside the clone.
CI_CANNOT_RUN: tuple[str, ...] = ()

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


def _admin_url(url: str) -> Any:
    """``url`` with the driver the project uses (psycopg 3), for the fixtures' own engines."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" \
        else parsed


def _pg_reachable(url: str) -> bool:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(_admin_url(url))
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        finally:
            engine.dispose()
        return True
    except Exception:
        return False


#: How the session got its PostgreSQL server, for the summary (empty: no test needed one).
_PG_USED: list[str] = []


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The superuser URL of the session's PostgreSQL server (see the module docstring).

    A throwaway cluster's URL has no password: ``PGPASSFILE`` names its password file for
    the session, for this process and every child.  A cluster that cannot start fails the
    tests that need it, with the reason (installed binaries that do not work are a fault,
    not a reason to skip).
    """
    from helpers import pgcluster

    if PG_URL:
        if not _pg_reachable(PG_URL):
            pytest.skip(f"{C.ENV_PREFIX}TEST_PG_URL is set but no PostgreSQL server answers "
                        "there")
        _PG_USED.append(f"the server named by {C.ENV_PREFIX}TEST_PG_URL")
        yield PG_URL
        return
    binaries = pgcluster.find_binaries()
    if binaries is None:
        pytest.skip(pgcluster.NOT_INSTALLED)
    cluster = pgcluster.ThrowawayCluster(binaries)
    try:
        cluster.start()
    except pgcluster.ClusterError as exc:
        pytest.fail(f"the throwaway PostgreSQL cluster did not start: {exc}", pytrace=False)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PGPASSFILE", str(cluster.pgpass))
            _PG_USED.append(cluster.describe())
            yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A PostgreSQL URL with a fresh, empty database for this test (``helpers.drop_database``
    drops it; a throwaway cluster's leftovers go with the cluster)."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_admin_url(pg_server), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url: str = sa.engine.make_url(pg_server).set(database=name).render_as_string(
        hide_password=False)
    return url


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


# =============================================================================================
# Skips: reported by reason, and refused under CI
# =============================================================================================
#: (node id, reason) of every skipped test or module, in the order they were reported.
_SKIPPED: list[tuple[str, str]] = []


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _record_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append((report.nodeid, _skip_reason(report)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)


def ci_offenders(skipped: list[tuple[str, str]],
                 allowed: tuple[str, ...] = CI_CANNOT_RUN) -> list[tuple[str, str]]:
    """The skips whose reason no pattern of ``allowed`` accepts."""
    return [(node, reason) for node, reason in skipped
            if not any(re.match(pattern, reason) for pattern in allowed)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a skip CI could have run fails an otherwise green session."""
    if IN_CI and ci_offenders(_SKIPPED) and exitstatus in (pytest.ExitCode.OK,
                                                           pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    """How many tests were skipped and why (grouped by reason), the PostgreSQL server used,
    and under CI the skips that fail the session."""
    if config.option.collectonly:
        return
    write = terminalreporter.write_line
    terminalreporter.section("skipped tests, by reason")
    if not _SKIPPED:
        write("none skipped")
    by_reason = Counter(reason for _, reason in _SKIPPED)
    for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        write(f"{count:4} skipped: {reason}")
    if _SKIPPED:
        write(f"{len(_SKIPPED):4} skipped in all")
    for used in _PG_USED:
        write(f"PostgreSQL for the tests: {used}")
    offenders = ci_offenders(_SKIPPED) if IN_CI else []
    if offenders:
        terminalreporter.section(f"{C.ENV_PREFIX}CI=1: skips CI must not have", red=True)
        for node, reason in offenders:
            write(f"{node}: {reason}", red=True)
        write(f"{len(offenders)} test(s) skipped although CI can run them (allowed reasons: "
              f"{list(CI_CANNOT_RUN) or 'none'}); the session fails", red=True, bold=True)
