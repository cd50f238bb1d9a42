"""The daemon's TOML configuration: example file, fixed keys, key paths in errors, secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aip import constants as C
from aip.errors import ConfigError, ConfigPermissionError
from daemon.core.config import (
    DEFAULT_MULTIPART_CHUNKSIZE,
    DEFAULT_TRANSFERS,
    Config,
    load_config,
    parse_config,
    parse_size,
    redact_url,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = REPO_ROOT / "config.example.toml"

FIXED = """
[repository]
kind = "embedded"              # or "dspace"
path = "/var/lib/aipsync/repo" # the embedded repository folder
eperson = "admin@example.org"
site_handle = "123456789/0"
# dspace_bin = "/dspace/bin/dspace"   (kind = "dspace")
[staging]
dir = "/var/lib/aipsync/staging"
[state]
dir = "/var/lib/aipsync/state"
[target]
url = "s3://bucket/prefix"     # or "file:///srv/aip-backup"
endpoint_url = "http://127.0.0.1:9000"   # optional, for S3-compatible stores
region = "us-east-1"
"""


def minimal(**tables: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "repository": {"path": "/var/lib/aipsync/repo", "eperson": "admin@example.org"},
        "staging": {"dir": "/var/lib/aipsync/staging"},
        "state": {"dir": "/var/lib/aipsync/state"},
        "target": {"url": "s3://bucket/prefix"},
    }
    for name, table in tables.items():
        doc.setdefault(name, {}).update(table)
    return doc


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "aipsync.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_example_file_loads_and_shows_the_defaults() -> None:
    example = load_config(EXAMPLE)
    # Only the REQUIRED keys set, to the example's values: everything else must be default.
    defaults = parse_config(minimal(), base_dir=EXAMPLE.parent, source=EXAMPLE)
    for section in ("repository", "schedule", "staging", "state", "target", "restore", "log",
                    "metrics", "watch", "notify", "watchdog", "aip"):
        assert getattr(example, section) == getattr(defaults, section), section
    assert example == defaults


def test_example_file_documents_every_key() -> None:
    from dataclasses import fields

    text = EXAMPLE.read_text()
    config = load_config(EXAMPLE)
    for section in ("repository", "schedule", "staging", "state", "target", "restore", "log",
                    "metrics", "watch", "notify", "watchdog"):
        for fld in fields(getattr(config, section)):
            assert f"{fld.name} =" in text, f"{section}.{fld.name} is not documented"


def test_fixed_keys_load_and_everything_else_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FIXED, 0o644))
    assert config.repository.kind == "embedded"
    assert config.repository.path == Path("/var/lib/aipsync/repo")
    assert config.repository.site_handle == "123456789/0"
    assert config.target.bucket == "bucket" and config.target.prefix == "prefix"
    assert config.target.endpoint_url == "http://127.0.0.1:9000"
    assert config.target.region == "us-east-1"
    assert config.target.transfers == DEFAULT_TRANSFERS
    assert config.target.multipart_chunksize == DEFAULT_MULTIPART_CHUNKSIZE
    assert config.target.request_checksum_calculation == "when_required"
    assert config.schedule.full_export_every == "weekly"
    assert config.metrics.address == "127.0.0.1" and not config.metrics.enabled
    assert config.restore_dir == Path("/var/lib/aipsync/state/restore")


@pytest.mark.parametrize(("tables", "key"), [
    ({"target": {"regoin": "x"}}, "target.regoin: unknown key"),
    ({"target": {"region": 5}}, "target.region: expected a string, got an integer"),
    ({"target": {"transfers": "8"}}, "target.transfers: expected an integer"),
    ({"target": {"transfers": True}}, "target.transfers: expected an integer"),
    ({"target": {"versioning": "sometimes"}}, "target.versioning: expected one of"),
    ({"target": {"multipart_chunksize": "1MiB"}}, "target.multipart_chunksize"),
    ({"target": {"url": "ftp://x/y"}}, "target.url"),
    ({"target": {"url": "s3://key:secret@bucket/p"}}, "target.url"),
    ({"repository": {"dspace_options": "x=1"}}, "repository.dspace_options: expected a list"),
    ({"repository": {"site_handle": "nohandle"}}, "repository.site_handle"),
    ({"repository": {"kind": "dspace"}}, "repository.dspace_bin: missing"),
    ({"schedule": {"cron": "* * *"}}, "schedule.cron"),
    ({"schedule": {"cron": "61 * * * *"}}, "schedule.cron: not a valid cron"),
    ({"schedule": {"cron": "0 2 * * *", "interval_minutes": 5}}, "schedule.interval_minutes"),
    ({"schedule": {"full_export_every": "fortnightly"}}, "schedule.full_export_every"),
    ({"metrics": {"port": 0}}, "metrics.port"),
    ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone: 'Mars/Olympus' is not"),
    ({"log": {"progress_interval_seconds": 0}}, "log.progress_interval_seconds: must be"),
    ({"notify": {"healthchecks_url": "ftp://x/y"}}, "notify.healthchecks_url: expected http"),
    ({"notify": {"webhook_urls": ["https://ok/x", "nope"]}}, "notify.webhook_urls[1]"),
    ({"notify": {"events": ["backup", "lunch"]}}, "notify.events: expected one of"),
    ({"notify": {"timeout_seconds": 0}}, "notify.timeout_seconds: must be above 0"),
    ({"notify": {"attempts": 0}}, "notify.attempts: must be at least 1"),
    ({"log": {"level": "loud"}}, "log.level"),
    ({"watch": {"debounce_seconds": "5"}}, "watch.debounce_seconds: expected a number"),
    ({"aip": {"disseminate": {"dmd": ["NOPE"]}}}, "aip.disseminate.dmd"),
    ({"bogus": {}}, "bogus: unknown table"),
])
def test_bad_values_name_the_key(tables: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(**tables))
    assert str(info.value).startswith(key.split(":", maxsplit=1)[0])
    assert key in str(info.value)
    assert info.value.exit_code == C.EXIT_CONFIG


def test_missing_required_key_is_named() -> None:
    doc = minimal()
    del doc["target"]["url"]
    with pytest.raises(ConfigError, match=r"^target\.url: missing"):
        parse_config(doc)
    doc = minimal()
    del doc["staging"]
    with pytest.raises(ConfigError, match=r"^staging: missing"):
        parse_config(doc)


def test_secret_in_a_group_readable_file_is_refused(tmp_path: Path) -> None:
    text = FIXED + 'access_key_id = "AKIAEXAMPLE"\nsecret_access_key = "s3cr3t-value"\n'
    path = write(tmp_path, text, 0o644)
    with pytest.raises(ConfigPermissionError) as info:
        load_config(path)
    assert info.value.exit_code == C.EXIT_CONFIG_PERMISSIONS
    assert "s3cr3t-value" not in str(info.value)
    os.chmod(path, 0o600)
    config = load_config(path)
    assert config.target.secret_access_key == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)


def test_password_in_db_url_is_a_secret(tmp_path: Path) -> None:
    text = FIXED.replace(
        'site_handle = "123456789/0"',
        'site_handle = "123456789/0"\ndb_url = "postgresql://u:hunter2@127.0.0.1/db"')
    path = write(tmp_path, text, 0o640)
    with pytest.raises(ConfigPermissionError):
        load_config(path)
    os.chmod(path, 0o600)
    config = load_config(path)
    assert "hunter2" not in repr(config)
    assert redact_url(config.repository.db_url) == "postgresql://u:***@127.0.0.1/db"


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    text = FIXED.replace('"/var/lib/aipsync/staging"', '"staging"')
    config = load_config(write(tmp_path, text))
    assert config.staging.dir == tmp_path / "staging"


def test_file_target_and_sizes() -> None:
    config = parse_config(minimal(target={"url": "file:///srv/aip-backup",
                                          "multipart_threshold": "64MiB",
                                          "bandwidth_limit": "10 MB"}))
    assert config.target.scheme == "file"
    assert config.target.folder == Path("/srv/aip-backup")
    assert config.target.multipart_threshold == 64 * 1024 * 1024
    assert config.target.bandwidth_limit == 10_000_000
    with pytest.raises(ConfigError, match=r"target\.versioning"):
        parse_config(minimal(target={"url": "file:///srv/x", "versioning": "bucket"}))


def test_parse_size() -> None:
    assert parse_size(5) == 5
    assert parse_size("8MiB") == 8 * 1024 * 1024
    assert parse_size("1.5 KiB") == 1536
    assert parse_size("2GB") == 2_000_000_000
    with pytest.raises(ConfigError, match=r"x\.y"):
        parse_size("lots", "x.y")


def test_config_is_frozen() -> None:
    config = parse_config(minimal())
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.target.url = "s3://other"  # type: ignore[misc]


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[target\n"))
