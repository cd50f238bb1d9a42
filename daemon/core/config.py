"""The daemon's configuration: one TOML file into frozen, slotted dataclasses.

Owns: the dataclasses for every table (``Config``, ``RepositoryConfig``, ``ScheduleConfig``,
``StagingConfig``, ``StateConfig``, ``TargetConfig``, ``RestoreConfig``, ``LogConfig``,
``MetricsConfig``, ``WatchConfig``, ``NotifyConfig``, ``WatchdogConfig``; ``[aip]`` via
``aip.packager.config``), their defaults as
named ``DEFAULT_*`` constants next to each class (docs/style.md C1), the checks that name the
key path of a bad value (``target.region: expected a string, got int``), the refusal of a
secret-holding file that other users can read, and ``redact_url``.

Must not: read the environment (boto3's chain does that for credentials), keep module-level
settings, log, or touch the network.  ``parse_config`` is pure; ``load_config`` reads one file.
Relative paths in the file are taken relative to the file's folder.

Every key and its default is documented in ``config.example.toml`` at the top of the repository;
a test checks that the file's values equal these defaults.
"""

from __future__ import annotations

import enum
import re
import stat
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from aip import constants as C
from aip.errors import ConfigError, ConfigPermissionError
from aip.packager.config import AipConfig, parse_aip_config, read_toml
from aip.packager.modes import IngestMode
from aip.progress import DEFAULT_INTERVAL_SECONDS
from daemon.core.cron import cron_fields

__all__ = [
    "Config",
    "LogConfig",
    "MetricsConfig",
    "NotifyConfig",
    "RepositoryConfig",
    "RestoreConfig",
    "ScheduleConfig",
    "StagingConfig",
    "StateConfig",
    "TargetConfig",
    "WatchConfig",
    "WatchdogConfig",
    "check_private_file",
    "load_config",
    "parse_config",
    "parse_size",
    "redact_url",
]

_T = TypeVar("_T")

# S3 limits (docs.aws.amazon.com AmazonS3 "Amazon S3 multipart upload limits").
S3_MIN_PART_SIZE = 5 * C.MIB
S3_MAX_PART_SIZE = 5 * 1024 * C.MIB
S3_MAX_PARTS = 10_000


# --- [repository] -----------------------------------------------------------------------------
DEFAULT_REPOSITORY_KIND: Final = "embedded"
DEFAULT_SITE_HANDLE: Final = "123456789/0"
DEFAULT_DSPACE_TIMEOUT: Final = 86_400


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """Where AIPs come from and go back to: the embedded repository or a real DSpace.

    ``db_url`` (the embedded repository's database) and ``dspace_db_url`` (DSpace's own
    database, read-only: where withdrawn items are found when DSpace's ``config/local.cfg``
    cannot be read) may hold a password; they are left out of ``repr`` and only shown through
    ``redact_url``.  ``dspace_env``: names of environment variables the DSpace child gets
    besides PATH, HOME, LANG/LC_*, JAVA_HOME, JAVA_OPTS and DSPACE_*.
    """

    eperson: str
    kind: Literal["embedded", "dspace"] = DEFAULT_REPOSITORY_KIND
    path: Path | None = None
    db_url: str | None = field(default=None, repr=False, metadata={"secret_url": True})
    assetstore: Path | None = None
    site_handle: str = DEFAULT_SITE_HANDLE
    dspace_bin: Path | None = None
    dspace_options: tuple[str, ...] = ()
    dspace_timeout: int = DEFAULT_DSPACE_TIMEOUT
    dspace_env: tuple[str, ...] = ()
    dspace_db_url: str | None = field(default=None, repr=False, metadata={"secret_url": True})


# --- [schedule] -------------------------------------------------------------------------------
DEFAULT_INTERVAL_MINUTES: Final = 60
DEFAULT_FULL_EXPORT_EVERY: Final = "weekly"
DEFAULT_OVERLAP_SECONDS: Final = 300
DEFAULT_AUDIT_SAMPLE_PERCENT: Final = 5.0
DEFAULT_RUN_LOCK_TIMEOUT: Final = 3_600

_FULL_EXPORT_WORDS = {"daily": 1, "weekly": 7, "monthly": 30}
_DAYS_RE = re.compile(r"^(?P<n>[1-9][0-9]*)d$")


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """When exports run (cron OR interval), how often a full export runs, and audits.

    ``cron`` (five fields, e.g. ``"15 2 * * *"``) wins when set, and then ``interval_minutes``
    must not be given.  ``full_export_every``: ``daily``, ``weekly``, ``monthly``, ``never`` or
    ``"<N>d"``.  ``audit_cron`` unset means no scheduled audit.  ``timezone``: the IANA zone
    (``Europe/Paris``) both cron expressions are read in; unset: the server's.
    """

    cron: str | None = None
    timezone: str | None = None
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    full_export_every: str = DEFAULT_FULL_EXPORT_EVERY
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    audit_cron: str | None = None
    audit_sample_percent: float = DEFAULT_AUDIT_SAMPLE_PERCENT
    audit_deep: bool = False
    run_lock_timeout: int = DEFAULT_RUN_LOCK_TIMEOUT

    @property
    def full_export_interval(self) -> timedelta | None:
        """The time between two full exports, or None for ``never``."""
        return _full_export_interval(self.full_export_every)


def _full_export_interval(text: str) -> timedelta | None:
    if text == "never":
        return None
    if text in _FULL_EXPORT_WORDS:
        return timedelta(days=_FULL_EXPORT_WORDS[text])
    match = _DAYS_RE.match(text)
    if match is None:
        raise ValueError(text)
    return timedelta(days=int(match["n"]))


# --- [staging] / [state] ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StagingConfig:
    """The folder that holds the current AIP of each exported object."""

    dir: Path


@dataclass(frozen=True, slots=True)
class StateConfig:
    """The folder of the state database and the lock files."""

    dir: Path


# --- [target] ---------------------------------------------------------------------------------
DEFAULT_ADDRESSING_STYLE: Final = "auto"
DEFAULT_CHECKSUM_MODE: Final = "when_required"
DEFAULT_MULTIPART_THRESHOLD: Final = 64 * C.MIB
DEFAULT_MULTIPART_CHUNKSIZE: Final = 8 * C.MIB
DEFAULT_TRANSFERS: Final = 8
DEFAULT_PART_CONCURRENCY: Final = 4
DEFAULT_BANDWIDTH_LIMIT: Final = 0
DEFAULT_MAX_ATTEMPTS: Final = 5
DEFAULT_VERSIONING: Final = "auto"
DEFAULT_VERIFY_UPLOADS: Final = "etag"
DEFAULT_KEEP_SNAPSHOTS: Final = 30
DEFAULT_KEEP_DAYS: Final = 90
DEFAULT_ABORT_ORPHANED_AFTER_HOURS: Final = 24
DEFAULT_CONNECT_TIMEOUT: Final = 10
DEFAULT_READ_TIMEOUT: Final = 60

ChecksumMode = Literal["when_required", "when_supported"]
#: Who keeps the old bytes of an overwritten key: the store ("bucket": S3 versioning) or
#: aipsync ("keys": ``versions/<key>/<sha256>``, see ``daemon.sync.layout``).
Versioning = Literal["bucket", "keys"]
VERSIONING_MODES: Final[tuple[Versioning, ...]] = get_args(Versioning)


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """Where the mirror writes: ``s3://bucket/prefix`` or ``file:///folder``.

    Credentials come from boto3's standard chain (environment, shared files, ``profile``,
    instance role).  ``access_key_id``/``secret_access_key`` are accepted but discouraged;
    a file holding them must be mode 0600.  Sizes accept bytes or ``"8MiB"``-style strings.

    ``verify_uploads``: ``head`` reads every uploaded object back (size and stored SHA-256);
    ``etag`` trusts a single-part PUT whose response ETag equals the MD5 sent as Content-MD5
    (the store checked the bytes), and still HEADs multipart and SSE-KMS uploads and the
    first upload of each run (to prove the store keeps the SHA-256 metadata).  With ``etag``
    the ETag of every PUT and part (SSE-KMS excepted) must be the MD5 sent, or it is sent
    again: a store that ignores Content-MD5 would otherwise keep changed bytes.
    """

    url: str
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = DEFAULT_ADDRESSING_STYLE
    profile: str | None = None
    ca_bundle: Path | None = None
    storage_class: str | None = None
    server_side_encryption: Literal["AES256", "aws:kms", "aws:kms:dsse"] | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    object_lock_retain_days: int = 0
    request_checksum_calculation: ChecksumMode = DEFAULT_CHECKSUM_MODE
    response_checksum_validation: ChecksumMode = DEFAULT_CHECKSUM_MODE
    multipart_threshold: int = field(default=DEFAULT_MULTIPART_THRESHOLD, metadata={"size": True})
    multipart_chunksize: int = field(default=DEFAULT_MULTIPART_CHUNKSIZE, metadata={"size": True})
    transfers: int = DEFAULT_TRANSFERS
    part_concurrency: int = DEFAULT_PART_CONCURRENCY
    bandwidth_limit: int = field(default=DEFAULT_BANDWIDTH_LIMIT, metadata={"size": True})
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    read_timeout: int = DEFAULT_READ_TIMEOUT
    versioning: Literal["auto"] | Versioning = DEFAULT_VERSIONING
    verify_uploads: Literal["head", "etag"] = DEFAULT_VERIFY_UPLOADS
    keep_snapshots: int = DEFAULT_KEEP_SNAPSHOTS
    keep_days: int = DEFAULT_KEEP_DAYS
    abort_orphaned_after_hours: int = DEFAULT_ABORT_ORPHANED_AFTER_HOURS
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False, metadata={"secret": True})
    session_token: str | None = field(default=None, repr=False, metadata={"secret": True})

    @property
    def scheme(self) -> str:
        """``s3`` or ``file``."""
        return urlsplit(self.url).scheme

    @property
    def bucket(self) -> str:
        """The bucket of an ``s3://`` URL ("" for ``file://``)."""
        return urlsplit(self.url).netloc if self.scheme == "s3" else ""

    @property
    def prefix(self) -> str:
        """The key prefix of an ``s3://`` URL without slashes at either end ("" for none)."""
        return urlsplit(self.url).path.strip("/") if self.scheme == "s3" else ""

    @property
    def folder(self) -> Path:
        """The folder of a ``file://`` URL."""
        return Path(urlsplit(self.url).path)

    @property
    def display_url(self) -> str:
        """The URL as it may appear in logs and errors (never with a password)."""
        return redact_url(self.url)


# --- [restore] --------------------------------------------------------------------------------
DEFAULT_RESTORE_MODE: Final = IngestMode.RESTORE
DEFAULT_RESTORE_LOCK_TIMEOUT: Final = 3_600
DEFAULT_RESTORE_KEEP_WORK_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class RestoreConfig:
    """Restore defaults.  ``work_dir`` unset means ``<state.dir>/restore``.

    ``lock_timeout``: seconds a restore waits for the repository lock (held by a running
    export) before it gives up with exit code 44; the downloads happen before the wait.
    ``keep_work_days``: a failed, stopped or dry-run restore keeps its verified downloads
    (``work_dir/<snapshot id>/``) for the next run; a restore removes the folders of other
    snapshots untouched for longer than this (0: every other snapshot's folder).
    """

    work_dir: Path | None = None
    mode: IngestMode = DEFAULT_RESTORE_MODE
    skip_if_parent_missing: bool = False
    lock_timeout: int = DEFAULT_RESTORE_LOCK_TIMEOUT
    keep_work_days: int = DEFAULT_RESTORE_KEEP_WORK_DAYS


# --- [log] / [metrics] / [watch] --------------------------------------------------------------
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_LOG_FORMAT: Final = "auto"
DEFAULT_METRICS_ADDRESS: Final = "127.0.0.1"
DEFAULT_METRICS_PORT: Final = 9839
DEFAULT_DEBOUNCE_SECONDS: Final = 5.0
DEFAULT_SCAN_INTERVAL_SECONDS: Final = 300


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Log level and format (``auto``: JSON lines when not on a terminal), for every command
    that reads the file; and the seconds between two ``progress`` log lines of long work."""

    level: Literal["debug", "info", "warning", "error"] = DEFAULT_LOG_LEVEL
    format: Literal["auto", "json", "console"] = DEFAULT_LOG_FORMAT
    progress_interval_seconds: float = DEFAULT_INTERVAL_SECONDS


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The optional Prometheus endpoint (loopback by default)."""

    enabled: bool = False
    address: str = DEFAULT_METRICS_ADDRESS
    port: int = DEFAULT_METRICS_PORT


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """The staging watcher: debounce of bursts and the period of the healing scan."""

    enabled: bool = True
    debounce_seconds: float = DEFAULT_DEBOUNCE_SECONDS
    scan_interval_seconds: int = DEFAULT_SCAN_INTERVAL_SECONDS


# --- [notify] / [watchdog] --------------------------------------------------------------------
NOTIFY_EVENTS: Final = ("backup", "audit", "restore")
DEFAULT_NOTIFY_TIMEOUT_SECONDS: Final = 10.0
DEFAULT_NOTIFY_ATTEMPTS: Final = 3
DEFAULT_STUCK_SECONDS: Final = 0.0


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Monitoring hooks, told when a backup cycle, an audit or a restore starts and ends.

    ``healthchecks_url``: a Healthchecks-style check (``<url>/start``, ``<url>``,
    ``<url>/fail``).  ``webhook_urls``: each gets the result POSTed as JSON (with a
    Slack/Mattermost ``text``).  ``events``: which of ``backup``, ``audit``, ``restore``.
    ``timeout_seconds`` bounds each notification, its ``attempts`` included.  The URLs
    usually hold a token (in the path or as a password): they are left out of ``repr`` and
    only ever logged without their path and credentials (``redact_url(..., path=False)``).
    """

    healthchecks_url: str | None = field(default=None, repr=False, metadata={"secret_url": True})
    webhook_urls: tuple[str, ...] = field(default=(), repr=False)
    events: tuple[str, ...] = NOTIFY_EVENTS
    timeout_seconds: float = DEFAULT_NOTIFY_TIMEOUT_SECONDS
    attempts: int = DEFAULT_NOTIFY_ATTEMPTS

    @property
    def urls(self) -> tuple[str, ...]:
        """Every configured URL."""
        return ((self.healthchecks_url,) if self.healthchecks_url else ()) + self.webhook_urls


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """What the service's watchdog calls stuck: a worker (the scheduler's backup or audit,
    the watcher's mirror) without progress in one step for ``stuck_seconds``.  0: three
    times the unit's ``WatchdogSec``, at least ten minutes."""

    stuck_seconds: float = DEFAULT_STUCK_SECONDS


# --- the whole file ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration file.  ``source`` is the file it was read from, if any."""

    repository: RepositoryConfig
    staging: StagingConfig
    state: StateConfig
    target: TargetConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    restore: RestoreConfig = field(default_factory=RestoreConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    aip: AipConfig = field(default_factory=AipConfig)
    source: Path | None = None

    @property
    def restore_dir(self) -> Path:
        """The folder restores download into."""
        return self.restore.work_dir or self.state.dir / "restore"

    @property
    def holds_secret(self) -> bool:
        """True when the file holds a credential (so it must not be readable by others)."""
        return bool(self.target.secret_access_key or self.target.session_token
                    or _url_has_password(self.repository.db_url)
                    or _url_has_password(self.repository.dspace_db_url)
                    or any(_url_has_password(u) for u in self.notify.urls))


_SECTIONS: dict[str, type] = {
    "repository": RepositoryConfig, "schedule": ScheduleConfig, "staging": StagingConfig,
    "state": StateConfig, "target": TargetConfig, "restore": RestoreConfig, "log": LogConfig,
    "metrics": MetricsConfig, "watch": WatchConfig, "notify": NotifyConfig,
    "watchdog": WatchdogConfig,
}
_REQUIRED_SECTIONS = ("repository", "staging", "state", "target")


# --- helpers ----------------------------------------------------------------------------------
_SIZE_RE = re.compile(r"^\s*(?P<n>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[KMGT]?i?B?)\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "KI": 1024,
          "M": 1000**2, "MB": 1000**2, "MIB": 1024**2, "MI": 1024**2,
          "G": 1000**3, "GB": 1000**3, "GIB": 1024**3, "GI": 1024**3,
          "T": 1000**4, "TB": 1000**4, "TIB": 1024**4, "TI": 1024**4}


def parse_size(value: int | str, key: str = "size") -> int:
    """Bytes from an int or a string such as ``"8MiB"``, ``"10 MB"``, ``"512k"``.

    Args:
        value: the TOML value.
        key: the key path, for the error message.

    Returns:
        The size in bytes.

    Raises:
        ConfigError: not a non-negative size.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a size (bytes or e.g. \"8MiB\"), got bool")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{key}: must not be negative")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        unit = match["unit"].upper() if match else None
        if match is None or unit not in _UNITS:
            raise ConfigError(f"{key}: cannot read {value!r} as a size (e.g. 8388608 or \"8MiB\")")
        return int(float(match["n"]) * _UNITS[unit])
    raise ConfigError(f"{key}: expected a size (bytes or e.g. \"8MiB\"), got "
                      f"{type(value).__name__}")


def redact_url(url: str | None, *, path: bool = True) -> str:
    """``url`` with any password replaced by ``***`` (for logs, errors and status).

    Args:
        url: a URL, or None.
        path: keep the path and query; False replaces them by ``/...`` and drops any user
            name too (a monitoring URL whose path is its token, such as a Healthchecks check
            or a Slack webhook).

    Returns:
        The redacted URL ("" for None).
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:
        return "<unparsable url>"
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    if not path:
        return urlunsplit((parts.scheme, host, "/..." if parts.path.strip("/") or parts.query
                           else parts.path, "", ""))
    if password is None:
        return url
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _url_has_password(url: str | None) -> bool:
    if not url:
        return False
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return True  # unparsable: assume the worst


def check_private_file(path: Path) -> None:
    """Refuse a secret-holding file that group or others may read.

    Args:
        path: the file (a config file, or a file in the state folder) that holds a secret.

    Raises:
        ConfigPermissionError: the mode has a group or other read bit (chmod 600 it).
        ConfigError: the file cannot be stat'ed.
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: cannot stat: {exc.strerror}") from exc
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        raise ConfigPermissionError(path=str(path))


def _type_name(value: Any) -> str:
    return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
            "list": "a list", "dict": "a table"}.get(type(value).__name__, type(value).__name__)


def _one_of(value: Any, allowed: tuple[Any, ...], key: str) -> Any:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{key}: expected one of {shown}, got {value!r}")
    return value


def _convert(hint: Any, value: Any, key: str, meta: Mapping[str, Any], base: Path) -> Any:
    """Check ``value`` against a dataclass field's type hint and convert it."""
    if meta.get("size"):
        return parse_size(value, key)
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if all(get_origin(a) is Literal for a in args):  # Literal["auto"] | Versioning
            return _one_of(value, tuple(v for a in args for v in get_args(a)), key)
        return _convert(args[0] if len(args) == 1 else typing.Union[tuple(args)],  # noqa: UP007
                        value, key, meta, base)
    if origin is Literal:
        return _one_of(value, get_args(hint), key)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(_one_of(value, tuple(member.value for member in hint), key))
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {_type_name(value)}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {_type_name(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {_type_name(value)}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {_type_name(value)}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {_type_name(value)}")
        if not value.strip():
            raise ConfigError(f"{key}: must not be empty")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key}: expected a path (a non-empty string), got "
                              f"{_type_name(value) if not isinstance(value, str) else 'empty'}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path
    raise AssertionError(f"unhandled type hint {hint!r} for {key}")  # pragma: no cover


def _build(cls: type[_T], table: Any, section: str, base: Path) -> _T:
    """One dataclass from one TOML table, every key checked and named on error."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{section}: expected a table, got {_type_name(table)}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for name in table:
        if name not in known:
            raise ConfigError(f"{section}.{name}: unknown key")
    kwargs: dict[str, Any] = {}
    for name, fld in known.items():
        key = f"{section}.{name}"
        if name in table:
            kwargs[name] = _convert(hints[name], table[name], key, fld.metadata, base)
        elif fld.default is MISSING and fld.default_factory is MISSING:
            raise ConfigError(f"{key}: missing (required)")
    return cls(**kwargs)


# --- cross-field checks -----------------------------------------------------------------------
def _check_cron(expr: str, key: str) -> None:
    fields = cron_fields(expr, key)
    try:
        # Imported only when a cron expression is configured: APScheduler costs every
        # command that loads a configuration about half a second.
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger(**fields, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"{key}: not a valid cron expression {expr!r}: {exc}") from exc


#: An environment variable's name (POSIX: letters, digits, underscores; no leading digit).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Prefixes of variables ``repository.dspace_env`` may not name: boto3's credential chain
#: (the target's credentials) and aipsync's own.
_NEVER_TO_DSPACE = ("AWS_", C.ENV_PREFIX)

#: Packager options the backup cycle decides itself; a config file must not set them.
_DAEMON_OWNED_OPTIONS = frozenset({"updatedAfter", "manifestOnly"})


def _check_repository(repo: RepositoryConfig) -> None:
    if C.HANDLE_RE.match(repo.site_handle) is None:
        raise ConfigError(f"repository.site_handle: {repo.site_handle!r} is not a handle "
                          "(<prefix>/<suffix>, e.g. 123456789/0)")
    if repo.kind == "embedded" and repo.path is None:
        raise ConfigError("repository.path: missing (required when kind = \"embedded\")")
    if repo.kind == "dspace" and repo.dspace_bin is None:
        raise ConfigError("repository.dspace_bin: missing (required when kind = \"dspace\")")
    for option in repo.dspace_options:
        name, eq, _ = option.partition("=")
        if not eq or not name:
            raise ConfigError(f"repository.dspace_options: {option!r} is not name=value")
        if name.strip() in _DAEMON_OWNED_OPTIONS:
            raise ConfigError(f"repository.dspace_options: {name.strip()} is set by the "
                              "daemon itself (updatedAfter comes from the schedule; staging "
                              "holds zip packages)")
    if repo.db_url is not None:
        try:
            urlsplit(repo.db_url).port  # noqa: B018  (validates the port)
        except ValueError as exc:
            raise ConfigError("repository.db_url: not a valid URL") from exc
    if repo.dspace_db_url is not None:
        try:
            parts = urlsplit(repo.dspace_db_url)
            parts.port  # noqa: B018  (validates the port)
        except ValueError as exc:
            raise ConfigError("repository.dspace_db_url: not a valid URL") from exc
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigError("repository.dspace_db_url: expected postgresql://user@host:port/"
                              f"database (DSpace's PostgreSQL), got scheme "
                              f"{parts.scheme or '(none)'!r}")
    for name in repo.dspace_env:
        if _ENV_NAME.match(name) is None:
            raise ConfigError(f"repository.dspace_env: {name!r} is not an environment "
                              "variable name")
        if name.upper().startswith(_NEVER_TO_DSPACE):
            raise ConfigError(f"repository.dspace_env: {name} is never passed to DSpace "
                              "(the target's credentials and aipsync's own settings stay "
                              "with aipsync)")


def _check_schedule(sched: ScheduleConfig, table: Mapping[str, Any]) -> None:
    if sched.cron is not None:
        if "interval_minutes" in table:
            raise ConfigError("schedule.interval_minutes: give either schedule.cron or "
                              "schedule.interval_minutes, not both")
        _check_cron(sched.cron, "schedule.cron")
    elif sched.interval_minutes < 1:
        raise ConfigError("schedule.interval_minutes: must be at least 1")
    try:
        _full_export_interval(sched.full_export_every)
    except ValueError:
        raise ConfigError(
            "schedule.full_export_every: expected daily, weekly, monthly, never or \"<N>d\", "
            f"got {sched.full_export_every!r}") from None
    if sched.audit_cron is not None:
        _check_cron(sched.audit_cron, "schedule.audit_cron")
    if not 0 <= sched.audit_sample_percent <= 100:
        raise ConfigError("schedule.audit_sample_percent: must be between 0 and 100")
    if sched.timezone is not None:
        try:
            zoneinfo.ZoneInfo(sched.timezone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise ConfigError(f"schedule.timezone: {sched.timezone!r} is not a time zone name "
                              "(e.g. \"Europe/Paris\", \"America/New_York\", \"UTC\")"
                              ) from None


def _check_target(target: TargetConfig) -> None:
    try:
        parts = urlsplit(target.url)
    except ValueError as exc:
        raise ConfigError("target.url: not a valid URL") from exc
    if parts.scheme == "s3":
        if not parts.netloc or parts.username or parts.password:
            raise ConfigError("target.url: expected s3://bucket[/prefix], without credentials")
        if parts.query or parts.fragment:
            raise ConfigError("target.url: no query or fragment allowed")
    elif parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError("target.url: expected file:///absolute/folder")
        if target.versioning == "bucket":
            raise ConfigError("target.versioning: \"bucket\" needs an s3:// target; a folder "
                              "keeps versions as keys")
    else:
        raise ConfigError(f"target.url: expected s3://bucket/prefix or file:///folder, got "
                          f"scheme {parts.scheme or '(none)'!r}")
    if target.endpoint_url is not None:
        ep = urlsplit(target.endpoint_url)
        if ep.scheme not in ("http", "https") or not ep.netloc:
            raise ConfigError("target.endpoint_url: expected http(s)://host[:port]")
        if ep.username or ep.password:
            raise ConfigError("target.endpoint_url: must not hold credentials")
    if target.multipart_chunksize < S3_MIN_PART_SIZE:
        raise ConfigError("target.multipart_chunksize: S3 needs parts of at least 5 MiB")
    if target.multipart_chunksize > S3_MAX_PART_SIZE:
        raise ConfigError("target.multipart_chunksize: S3 allows parts of at most 5 GiB")
    if target.multipart_threshold < target.multipart_chunksize:
        raise ConfigError("target.multipart_threshold: must be at least "
                          "target.multipart_chunksize")
    for name in ("transfers", "part_concurrency", "max_attempts", "connect_timeout",
                 "read_timeout", "keep_snapshots"):
        if getattr(target, name) < 1:
            raise ConfigError(f"target.{name}: must be at least 1")
    if target.sse_kms_key_id and target.server_side_encryption not in ("aws:kms", "aws:kms:dsse"):
        raise ConfigError("target.sse_kms_key_id: needs server_side_encryption = \"aws:kms\"")
    if target.object_lock_mode is not None and target.object_lock_retain_days < 1:
        raise ConfigError("target.object_lock_retain_days: must be at least 1 when "
                          "object_lock_mode is set")
    if (target.access_key_id is None) != (target.secret_access_key is None):
        raise ConfigError("target.secret_access_key: give both access_key_id and "
                          "secret_access_key, or neither")


def _check_metrics(metrics: MetricsConfig) -> None:
    if not 0 < metrics.port < 65536:
        raise ConfigError("metrics.port: must be between 1 and 65535")


def _check_log(log: LogConfig) -> None:
    if log.progress_interval_seconds <= 0:
        raise ConfigError("log.progress_interval_seconds: must be above 0")


def _check_notify(notify: NotifyConfig) -> None:
    keys = [("notify.healthchecks_url", notify.healthchecks_url)] if notify.healthchecks_url \
        else []
    keys += [(f"notify.webhook_urls[{n}]", u) for n, u in enumerate(notify.webhook_urls)]
    for key, url in keys:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (validates the port)
        except ValueError:
            raise ConfigError(f"{key}: not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{key}: expected http(s)://host/...")
    for event in notify.events:
        _one_of(event, NOTIFY_EVENTS, "notify.events")
    if notify.timeout_seconds <= 0:
        raise ConfigError("notify.timeout_seconds: must be above 0")
    if notify.attempts < 1:
        raise ConfigError("notify.attempts: must be at least 1")


# --- entry points -----------------------------------------------------------------------------
def parse_config(data: Mapping[str, Any], *, base_dir: Path | None = None,
                 source: Path | None = None) -> Config:
    """Build a ``Config`` from a parsed TOML document.  Pure.

    Args:
        data: the document, as ``tomllib`` returns it.
        base_dir: the folder that relative paths are relative to (default: the current one).
        source: the file the document came from, recorded in the result.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: unknown key, wrong type, missing required key, or inconsistent values;
            the message starts with the key path.
    """
    base = base_dir or Path.cwd()
    for name in data:
        if name not in _SECTIONS and name != "aip":
            raise ConfigError(f"{name}: unknown table")
    for name in _REQUIRED_SECTIONS:
        if name not in data:
            raise ConfigError(f"{name}: missing table [{name}]")
    built: dict[str, Any] = {
        name: _build(cls, data[name], name, base)
        for name, cls in _SECTIONS.items() if name in data
    }
    _check_repository(built["repository"])
    if "schedule" in built:
        _check_schedule(built["schedule"], data["schedule"])
    _check_target(built["target"])
    if "metrics" in built:
        _check_metrics(built["metrics"])
    if "log" in built:
        _check_log(built["log"])
    if "notify" in built:
        _check_notify(built["notify"])
    aip = parse_aip_config(data["aip"]) if "aip" in data else AipConfig()
    return Config(aip=aip, source=source, **built)


def load_config(path: Path) -> Config:
    """Read, validate and return the configuration file ``path``.

    Args:
        path: the TOML file.

    Returns:
        The configuration; relative paths in it are relative to the file's folder.

    Raises:
        ConfigError: the file is missing, unreadable, not TOML, or has a bad key or value.
        ConfigPermissionError: the file holds a secret and group or others may read it.
    """
    path = Path(path)
    config = parse_config(read_toml(path), base_dir=path.resolve().parent, source=path)
    if config.holds_secret:
        check_private_file(path)
    return config

