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
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from aip import cli as aip_cli
from daemon import cli as daemon_cli

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


def _commands() -> set[str]:
    parser = aip_cli.build_parser(daemon_cli.add_daemon_commands)
    for action in parser._actions:  # argparse keeps subcommands here
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    return set()


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

    from daemon.config import load_config
    from daemon.snapshots import list_snapshots
    from daemon.targets import open_target

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

    restored = base / "restored"
    site_aip = backup / f"SITE@{DEMO_PREFIX}-0.zip"
    q = shlex.quote
    print("\n== how to restore")
    planned = [f"aipsync restore --config {q(cfg)} --snapshot {newest.id} --handle "
               f"{DEMO_PREFIX}/2",
               f"aipsync restore --config {q(cfg)} --snapshot {newest.id} --site "
               "--mode replace --yes"]
    if "restore" in _commands():
        print("one object, or the whole site, as it was in this snapshot:")
    else:
        print("`aipsync restore` comes with issue 6 (reverse mode); it is NOT available yet. "
              "Once it is, these will restore one object, or the whole site, as it was in "
              "this snapshot:")
    for line in planned:
        print(f"  {line}")
    print("Today, the current copies in the target restore with the packager (this works now; "
          "it does not choose a snapshot and does not verify the inventory's SHA-256):")
    exe = ".venv/bin/aipsync" if Path(".venv/bin/aipsync").exists() else "aipsync"
    print(f"  {exe} --repo {q(_show(restored))} repo init --handle-prefix {DEMO_PREFIX} "
          f"--admin {DEMO_ADMIN}\n"
          f"  {exe} --repo {q(_show(restored))} packager -r -a -f -u -t AIP -e {DEMO_ADMIN} "
          f"-i {DEMO_PREFIX}/0 {q(_show(site_aip))}")

    print(f"\n== aipsync status --config {cfg}")
    _run("status", "--config", str(config))
    print(f"\nRun it as a service: {exe} daemon --config {cfg}  (Ctrl-C stops it; "
          "systemd/aipsync.service for servers, see deploy/INSTALL.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
