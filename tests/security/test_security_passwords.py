"""Password hashes and salts leave the repository only when asked.

Every e-person's hash and salt (and the administrator's clear-text password, which must never
be stored at all) is searched for in every byte of every exported file (the zip as written and
every entry inflated, so a deflated ``mets.xml`` is read too), in zip and manifest-only exports,
with and without ``-o passwords=true``, and in ``repo dump --json``.  Hex is compared
case-insensitively.  The ``passwords=true`` export is the control that shows the search finds
them: there they are, in the SITE AIP and nowhere else.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from helpers import SITE, RepoLocation, repo_cli
from helpers.packager import export
from security_support import ADMIN_PASSWORD, DELEGATE_PASSWORD, secrets_of

from aip import constants as C


def _texts(path: Path) -> list[tuple[str, bytes]]:
    """A file's bytes, and, for a zip, every entry inflated: (where, lowercased bytes)."""
    data = path.read_bytes()
    out = [(path.name, data.lower())]
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            out += [(f"{path.name}!{n}", zf.read(n).lower()) for n in zf.namelist()]
    return out


def _needles(location: RepoLocation) -> dict[str, bytes]:
    found = secrets_of(location)
    assert len(found) >= 3, found  # the administrator, the delegate, seeded people
    needles = {}
    for email, (pw_hash, salt) in found.items():
        needles[f"hash of {email}"] = pw_hash.lower().encode()
        needles[f"salt of {email}"] = salt.lower().encode()
    for clear in (ADMIN_PASSWORD, DELEGATE_PASSWORD):
        needles[f"password {clear!r}"] = clear.lower().encode()
    return needles


def _leaks(folder: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    leaks: dict[str, list[str]] = {}
    for path in sorted(folder.iterdir()):
        for where, text in _texts(path):
            for what, needle in needles.items():
                if needle in text:
                    leaks.setdefault(where, []).append(what)
    return leaks


@pytest.mark.parametrize("options", [(), ("passwords=false",), ("manifestOnly=true",),
                                     ("manifestOnly=true", "passwords=false")],
                         ids=["zip", "zip-passwords-false", "manifest-only",
                              "manifest-only-passwords-false"])
def test_no_hash_or_salt_leaves_without_passwords_true(secured: RepoLocation, tmp_path: Path,
                                                       options: tuple[str, ...]) -> None:
    ext = C.MANIFEST_ONLY_EXTENSION if "manifestOnly=true" in options else C.PACKAGE_EXTENSION
    out = tmp_path / "out"
    out.mkdir()
    export(secured, out / f"site.{ext}", SITE, *options)
    assert len(list(out.iterdir())) > 10  # the whole site, every package
    assert _leaks(out, _needles(secured)) == {}


@pytest.mark.parametrize("ext", [C.PACKAGE_EXTENSION, C.MANIFEST_ONLY_EXTENSION])
def test_passwords_true_puts_them_in_the_site_aip_only(secured: RepoLocation, tmp_path: Path,
                                                       ext: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    options = ["passwords=true", *(["manifestOnly=true"] if ext == "xml" else [])]
    export(secured, out / f"site.{ext}", SITE, *options)
    needles = _needles(secured)
    leaks = _leaks(out, needles)
    hashes_and_salts = {w for w in needles if not w.startswith("password")}
    site = {where for where in leaks if where.startswith("site.")}
    assert site, leaks
    assert set().union(*(leaks[w] for w in site)) == hashes_and_salts
    assert not set(leaks) - site, f"outside the SITE AIP: {sorted(set(leaks) - site)}"


def test_repo_dump_never_holds_a_hash_or_salt(secured: RepoLocation) -> None:
    needles = _needles(secured)
    for args in ([], ["--handle", SITE]):
        text = repo_cli(secured, "dump", "--json", *args).out.lower().encode()
        assert "@example.org" in text.decode()  # the e-people are in it...
        found = [what for what, needle in needles.items() if needle in text]
        assert found == [], f"repo dump --json {' '.join(args)} holds {found}"
