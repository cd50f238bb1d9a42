"""What a DSpace manifest says, read with lxml only (independently of aipsync's parser).

Shared by the tests that restore real DSpace AIPs (``test_packager_dspace_fixtures.py``,
``test_packager_ubc_fixtures.py``) and compare the result, from ``repo dump --json``, with
the package: DIM values, files per bundle (with the real size and MD5 of each zip entry),
METSRights contexts as policy subjects.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from helpers import RepoLocation, dump_text
from lxml import etree

from aip import constants as C

M = f"{{{C.NS_METS}}}"
DIM = f"{{{C.NS_DIM}}}"
RIGHTS = f"{{{C.NS_METSRIGHTS}}}"
XLINK_HREF = f"{{{C.NS_XLINK}}}href"


def root_of(package: Path) -> etree._Element:
    """The parsed ``mets.xml`` of a package."""
    with zipfile.ZipFile(package) as zf:
        return etree.fromstring(zf.read(C.MANIFEST_NAME))


def dim_values(root: etree._Element, dmd_id: str) -> list[tuple[str, str, str | None]]:
    """(field, value, language) of each DIM field of one dmdSec, in the manifest's order."""
    sec = root.find(f"{M}dmdSec[@ID='{dmd_id}']")
    assert sec is not None
    out = []
    for f in sec.iter(f"{DIM}field"):
        name = ".".join(p for p in (f.get("mdschema"), f.get("element"), f.get("qualifier"))
                        if p)
        out.append((name, f.text or "", f.get("lang")))
    return out


def object_dmd(root: etree._Element, div_type: str = "DSpace Object Contents") -> str:
    """The DIM dmdSec of the main div (DSpace lists MODS and DIM ids in any order)."""
    div = next(d for d in root.iter(f"{M}div") if d.get("TYPE") == div_type)
    for dmd in (div.get("DMDID") or "").split():
        sec = root.find(f"{M}dmdSec[@ID='{dmd}']")
        assert sec is not None
        wrap = sec.find(f"{M}mdWrap")
        if wrap is not None and wrap.get("OTHERMDTYPE") == "DIM":
            return dmd
    raise AssertionError("no DIM dmdSec")


def contexts(root: etree._Element, amd_id: str | None) -> list[tuple[str, str | None]]:
    """(CONTEXTCLASS, group name) of the METSRights section of one amdSec."""
    if amd_id is None:
        return []
    amd = root.find(f"{M}amdSec[@ID='{amd_id}']")
    assert amd is not None
    out = []
    for ctx in amd.iter(f"{RIGHTS}Context"):
        user = ctx.find(f"{RIGHTS}UserName")
        out.append((ctx.get("CONTEXTCLASS") or "", user.text if user is not None else None))
    return out


def policy_subjects(policies: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """The dump's policies as (CONTEXTCLASS, group) the way METSRights writes them."""
    out = []
    for p in policies:
        if p["group"] == C.GROUP_ANONYMOUS:
            out.append(("GENERAL PUBLIC", None))
        elif p["group"] == C.GROUP_ADMINISTRATOR:
            out.append(("REPOSITORY MGR", None))
        elif p["group"] is not None:
            out.append(("MANAGED GRP", p["group"]))
        else:
            out.append(("ACADEMIC USER", p["eperson"]))
    return out


def files_of(root: etree._Element, package: Path) -> dict[str, list[dict[str, Any]]]:
    """Per bundle: SEQ, SIZE, CHECKSUM, the real MD5 and size of the entry, and ADMID."""
    out: dict[str, list[dict[str, Any]]] = {}
    with zipfile.ZipFile(package) as zf:
        for grp in root.iter(f"{M}fileGrp"):
            for f in grp.findall(f"{M}file"):
                loc = f.find(f"{M}FLocat")
                assert loc is not None
                body = zf.read(loc.get(XLINK_HREF) or "")
                out.setdefault(grp.get("USE") or "", []).append({
                    "seq": int(f.get("SEQ") or 0), "size": int(f.get("SIZE") or -1),
                    "md5": f.get("CHECKSUM"), "entry_md5": hashlib.md5(body).hexdigest(),
                    "entry_size": len(body), "admid": f.get("ADMID"),
                    "bundle_admid": grp.get("ADMID")})
    return out


def dump_of(location: RepoLocation) -> dict[str, Any]:
    """``repo dump --json`` of a repository, parsed."""
    return dict(json.loads(dump_text(location)))
