"""The constructed DSpace 7.6 AIPs: what the script writes is what is on disk, DSpace's stock
shape is METS-valid, and the PR #3328 set restores the same relationships by its rels
structMap (places from ORDER, the name variant from LABEL)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable

import pytest
from entity_roundtrip_support import FIXTURES, dspace_restore, relationships
from helpers import RepoLocation

from aip import constants as C
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest


def test_the_files_are_what_the_script_writes() -> None:
    subprocess.run([sys.executable, str(FIXTURES / "make_dspace7_aips.py"), "--check"],
                   check=True)


@pytest.mark.parametrize("folder", ["dspace-7.6.6", "dspace-7.6.7"])
def test_dspaces_stock_shape_is_mets_valid(folder: str) -> None:
    for package in sorted((FIXTURES / folder).glob("*.zip")):
        with zipfile.ZipFile(package) as zf:
            manifest = zf.read(C.MANIFEST_NAME)
        assert validate_manifest(parse_bytes(manifest)) == [], package.name


def test_the_rels_structmap_gives_what_the_virtual_values_give(
        fresh: Callable[[str], RepoLocation]) -> None:
    found = {folder: relationships(dspace_restore(fresh(folder), folder, expect=C.EXIT_WARNING))
             for folder in ("dspace-7.6.7", "dspace-7.6.7-pr3328")}
    assert found["dspace-7.6.7-pr3328"] == found["dspace-7.6.7"]
    assert ("123456789/10", "isAuthorOfPublication", "123456789/11", 1, 0, None, "Smith, J.",
            "Publication", "Person") in found["dspace-7.6.7"]
