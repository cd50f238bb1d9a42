"""``make demo``: the main job on embedded defaults, from nothing.

Builds an embedded repository with realistic demo content in ``<dir>/repo``, then runs the
backup job on it (what the service does on its first cycle) and prints where the backup is
and how to restore it.  Safe to run twice: an existing demo folder is reused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from aip import cli as aip_cli

DEMO_PREFIX = "123456789"
DEMO_ADMIN = "admin@example.org"


def _run(*argv: str) -> None:
    rc = aip_cli.run(list(argv))
    if rc != 0:
        raise SystemExit(rc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daemon.demo")
    parser.add_argument("--dir", type=Path, default=Path("demo"))
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args(argv)
    base: Path = args.dir.resolve()
    repo = base / "repo"
    if not (repo / "repository.sqlite").exists():
        print(f"== building a demo repository in {repo}")
        _run("--repo", str(repo), "repo", "init", "--handle-prefix", DEMO_PREFIX,
             "--admin", DEMO_ADMIN, "--site-name", "aipsync demo repository")
        _run("--repo", str(repo), "repo", "seed", "--items", str(args.items), "--seed", "7")
    else:
        print(f"== reusing the demo repository in {repo}")
    _run("--repo", str(repo), "repo", "tree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
