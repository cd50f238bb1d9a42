"""DSpace's own sample ITEM AIP (vendored in ``tests/fixtures/dspace-aips/dspace-1.7.0``)
restored through ``packager -r``.

What the manifest says is read with lxml (``dspace_manifest_support``), independently of
aipsync's own parser, and compared with ``repo dump --json``: metadata (DIM), files (bundle,
name, size, MD5 of the zip entry) and the item's dates.  The UBC export's restores are in
``test_packager_ubc_fixtures.py``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dspace_manifest_support import dim_values, dump_of, files_of, object_dmd, root_of
from helpers import RepoLocation, make_repo
from helpers.dspace_fixtures import DSPACE_SAMPLES
from helpers.packager import ingest, write_tx

from aip import constants as C
from aip.model import MetadataValue
from aip.repository import objects


def test_dspace_sample_item_restores(tmp_path: Path) -> None:
    """``ITEM@123456789-8.zip`` (owning collection 123456789/5, not included): restored
    under a collection given with ``-p``."""
    package = DSPACE_SAMPLES / "ITEM@123456789-8.zip"
    location = make_repo(RepoLocation(tmp_path / "docs"))
    with write_tx(location) as tx:
        _, comm = objects.create_community(tx, parent_id=None, metadata_values=[
            MetadataValue("dc", "title", None, "Test Community")])
        _, coll = objects.create_collection(tx, parent_ids=[objects.community_id(tx, comm)],
                                            metadata_values=[MetadataValue(
                                                "dc", "title", None, "Landing")])
    result = ingest(location, package, "-r", "-p", coll, expect=C.EXIT_WARNING)
    assert "AIP-W110 submitter tdonohue@duraspace.org does not exist" in result.out
    root = root_of(package)
    [item] = dump_of(location)["items"]
    assert item["handle"] == "123456789/8" and item["owning_collection"] == coll
    assert Counter((m["field"], m["value"], m["language"]) for m in item["metadata"]) == \
        Counter(dim_values(root, object_dmd(root)))
    files = files_of(root, package)
    assert {b["name"]: [(s["name"], s["size"], s["md5"]) for s in b["bitstreams"]]
            for b in item["bundles"]} == {
        "ORIGINAL": [("test_word.docx", 10201, files["ORIGINAL"][0]["md5"]),
                     ("test_pdf.pdf", 31302, files["ORIGINAL"][1]["md5"])],
        "LICENSE": [("license.txt", 1748, files["LICENSE"][0]["md5"])]}
    for bundle in files.values():
        assert all(f["md5"] == f["entry_md5"] for f in bundle)
    assert item["last_modified"] == "2010-09-24T10:16:56Z"
    # the submitter named by the package is not in this repository: restored without one
    assert item["submitter"] is None
