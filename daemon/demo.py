"""``make demo``: the daemon's first cycle on an embedded demo repository, from nothing.

Builds an embedded repository with realistic demo content in ``<dir>/repo`` (once), writes a
configuration ``<dir>/aipsync.toml`` (that repository, staging and state under ``<dir>``, a
``file://<dir>/backup`` target), runs one backup cycle exactly as the service's first cycle
does (``aipsync backup``), then prints where the backup is (snapshot id, object count, size),
how to restore it, and ``aipsync status``.  Safe to run again: the repository is reused and
the next cycle is incremental (it uploads only what changed, usually nothing).
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from aip import cli as aip_cli_
from daemon import cli as daemon_cli
from daemon.core.config import load_config
from daemon.sync.snapshots import list_snapshots
from daemon.targets import open_target

DEMO_PREFIX = "123456789"
DEMO_ADMIN = "admin@example.org"

CONFIG_TEMPLATE = """\
# The demo's configuration (written by `make demo`; every other key has its default,
# see config.example.toml).
[repository]
kind = "embedded"
path = "{repo}"
eperson = "{admin}"
site_handle = "{prefix}/0"

[staging]
dir = "{staging}"

[state]
dir = "{state}"

[target]
url = "file://{backup}"

[watch]
debounce_seconds = 2.0
"""


def _run(*argv: str) -> None:
    rc = daemon_cli.main(list(argv))
    if rc != 0:
        raise SystemExit(rc)


def _show(path: Path) -> str:
    """``path`` relative to the current folder when it is below it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write_config(base: Path) -> Path:
    """The demo configuration in ``<base>/aipsync.toml`` (rewritten each run)."""
    config = base / "aipsync.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        repo=base / "repo", admin=DEMO_ADMIN, prefix=DEMO_PREFIX, staging=base / "staging",
        state=base / "state", backup=base / "backup"))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daemon.demo")
    parser.add_argument("--dir", type=Path, default=Path("demo"))
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args(argv)
    base: Path = args.dir.resolve()
    repo = base / "repo"
    if not (repo / "repository.sqlite").exists():
        print(f"== building a demo repository in {_show(repo)}")
        _run("--repo", str(repo), "repo", "init", "--handle-prefix", DEMO_PREFIX,
             "--admin", DEMO_ADMIN, "--site-name", "aipsync demo repository")
        _run("--repo", str(repo), "repo", "seed", "--items", str(args.items), "--seed", "7")
    else:
        print(f"== reusing the demo repository in {_show(repo)}")
    _run("--repo", str(repo), "repo", "tree")

    config = write_config(base)
    backup = base / "backup"
    backup.mkdir(parents=True, exist_ok=True)
    cfg = _show(config)
    print(f"\n== the daemon's backup cycle: aipsync backup --config {cfg}")
    _run("-q", "backup", "--config", str(config))

    target = open_target(load_config(config).target)
    try:
        snapshots = list_snapshots(target)
    finally:
        target.close()
    if not snapshots:
        print("no snapshot was written; see the log above")
        return 1
    newest = snapshots[0]
    print(f"\n== where the backup is\n"
          f"target:   {_show(backup)}  (url file://{backup})\n"
          f"snapshot: {newest.id}, {newest.objects} objects, {newest.bytes:,} bytes, "
          f"created {newest.created.isoformat(timespec='seconds')}\n"
          f"          inventory {_show(backup / newest.key)}; "
          f"{len(snapshots)} complete snapshot(s) in the target\n"
          f"AIPs:     {_show(backup)}/<TYPE>@{DEMO_PREFIX}-<n>.zip (DSpace's own file names)")

    q = shlex.quote
    exe = ".venv/bin/aipsync" if Path(".venv/bin/aipsync").exists() else "aipsync"
    print("\n== how to restore (each AIP is downloaded, its SHA-256 checked against the "
          "snapshot inventory, then ingested)")
    for line in (
            f"{exe} snapshots --config {q(cfg)}",
            f"{exe} restore --config {q(cfg)} --handle {DEMO_PREFIX}/7 --dry-run",
            f"{exe} restore --config {q(cfg)} --snapshot {newest.id} --handle "
            f"{DEMO_PREFIX}/7            # after the collection was deleted",
            f"{exe} restore --config {q(cfg)} --at "
            f"{newest.created.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} --handle {DEMO_PREFIX}/42 "
            "--mode replace --yes",
            f"{exe} restore --config CONFIG-OF-A-FRESH-REPOSITORY --site --yes",
            f"{exe} verify --config {q(cfg)} --deep"):
        print(f"  {line}")
    _demo_restore(base, backup, exe)
    print(f"\n== fixity audit: {exe} verify --config {cfg}")
    _run("verify", "--config", str(config))

    print(f"\n== aipsync status --config {cfg}")
    _run("status", "--config", str(config))
    print(f"\nRun it as a service: {exe} daemon --config {cfg}  (Ctrl-C stops it; "
          "systemd/aipsync.service for servers, see deploy/INSTALL.md)")
    return 0


def _without_passwords(value: Any) -> Any:
    """A dump with e-person password hashes left out (exports leave them out by default)."""
    if isinstance(value, dict):
        return {k: _without_passwords(v) for k, v in value.items() if k != "password"}
    if isinstance(value, list):
        return [_without_passwords(v) for v in value]
    return value


def _demo_restore(base: Path, backup: Path, exe: str) -> None:
    """Prove it: restore the whole site into a scratch repository and compare the dumps."""
    scratch = base / "restored"
    for folder in (scratch, base / "restored-state"):
        shutil.rmtree(folder, ignore_errors=True)
    config = base / "aipsync-restored.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        repo=scratch, admin=DEMO_ADMIN, prefix=DEMO_PREFIX, staging=base / "restored-staging",
        state=base / "restored-state", backup=backup))
    cfg = _show(config)
    print(f"\n== a demo restore of the whole site into a fresh repository, {_show(scratch)}:\n"
          f"  {exe} --repo {_show(scratch)} repo init --handle-prefix {DEMO_PREFIX} "
          f"--admin {DEMO_ADMIN}\n"
          f"  {exe} restore --config {cfg} --site --yes")
    _run("--repo", str(scratch), "repo", "init", "--handle-prefix", DEMO_PREFIX,
         "--admin", DEMO_ADMIN, "--site-name", "scratch")
    report = base / "restore-report.txt"
    out = io.StringIO()
    rc = aip_cli_.run(["restore", "--config", str(config), "--site", "--yes"], out=out,
                      extra=daemon_cli.add_daemon_commands)
    report.write_text(out.getvalue())
    lines = out.getvalue().splitlines()
    for line in [*lines[:2], "  ...", *lines[-1:]]:
        print(line)
    print(f"(the per-handle report: {_show(report)}; exit code {rc})")
    if rc != 0:
        raise SystemExit(rc)

    def dump(repo: Path) -> Any:
        text = io.StringIO()
        _rc = aip_cli_.run(["--repo", str(repo), "repo", "dump", "--json"], out=text)
        return json.loads(text.getvalue())

    source, restored = dump(base / "repo"), dump(scratch)
    if source == restored:
        print("repo dump --json of the restored repository is identical to the source's")
    elif _without_passwords(source) == _without_passwords(restored):
        print("repo dump --json of the restored repository is identical to the source's, "
              "e-person password hashes aside (exports leave them out unless "
              "repository.dspace_options = [\"passwords=true\"], as DSpace's do)")
    else:
        print("the restored repository DIFFERS from the source; compare "
              f"`{exe} --repo {_show(scratch)} repo dump --json` with the source's")
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main())
