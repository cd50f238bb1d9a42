"""Golden exports: the SHA-256 of every package a fixed repository exports, per option set.

The mirror uploads by checksum, so a release that changes the bytes of unchanged objects makes
every site upload everything again.  This module seeds a small repository (``repo seed``, which
is deterministic), exports the site with several option sets through the command line, and
lists a digest per file; ``test_golden_exports.py`` holds the export to the stored list.

When a change of bytes is intended (and worth a full re-upload), write the list again and say
so in the commit::

    .venv/bin/python tests/integration/packager/golden_exports.py --write

The list was first written by the element-by-element METS builder (commit ee450f0), before the
text route replaced it, so the test also holds the two routes equal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "golden-exports.json"
ADMIN = "admin@example.org"
SEED = ("--communities", "2", "--depth", "2", "--collections", "3", "--items", "70",
        "--bitstreams", "2", "--bitstream-size", "600", "--seed", "5")
#: Option sets: name -> packager arguments (passwords=true is left out: salts are random).
VARIANTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "parallel": ("--workers", "2"),
    "manifest-only": ("-o", "manifestOnly=true"),
    "only-original": ("-o", "filterBundles=+ORIGINAL"),
    "no-text": ("-o", "filterBundles=TEXT,THUMBNAIL"),
    "dspace-shaped": ("--config", "{noext}"),
}


def _aipsync(root: Path, *argv: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-m", "daemon", "-q", *argv], check=True, cwd=root,
                   env=env, stdout=subprocess.DEVNULL)


def digests(root: Path, work: Path) -> dict[str, dict[str, str]]:
    """Seed a repository with the code under ``root``, export every variant, hash the files."""
    repo = work / "repo"
    _aipsync(root, "--repo", str(repo), "repo", "init", "--handle-prefix", "123456789",
             "--admin", ADMIN)
    _aipsync(root, "--repo", str(repo), "repo", "seed", *SEED)
    noext = work / "noext.toml"
    noext.write_text("[aip.disseminate]\nextension = false\n")
    found: dict[str, dict[str, str]] = {}
    for name, extra in VARIANTS.items():
        out = work / name
        out.mkdir()
        args = [a.replace("{noext}", str(noext)) for a in extra]
        _aipsync(root, "--repo", str(repo), "packager", "-d", "-a", "-t", "AIP", "-e", ADMIN,
                 "-i", "123456789/0", *args, str(out / "site.zip"))
        found[name] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                       for p in sorted(out.iterdir())}
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the list again")
    parser.add_argument("--root", type=Path, default=None,
                        help="the checkout whose code exports (default: this one)")
    args = parser.parse_args()
    root = (args.root or HERE.parents[2]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        found = digests(root, Path(tmp))
    if args.write:
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN} ({sum(map(len, found.values()))} files)")
        return 0
    print(json.dumps(found, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
