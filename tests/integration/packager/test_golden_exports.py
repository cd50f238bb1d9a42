"""Exports are byte for byte what they were: a fixed repository, six option sets, 480 files.

The digests in ``data/golden-exports.json`` were written by the element-by-element METS
builder; the text route must give the same bytes, and so must every later release unless a
change of bytes is meant (see ``golden_exports.py`` to write the list again).

The seeded embargoes end on 2033-12-29: from that day their METSRights context says
``in-effect="true"``, the bytes change because the facts do, and the list must be written
again.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden_exports import GOLDEN, HERE, digests


def test_every_package_has_its_golden_bytes(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    found = digests(HERE.parents[2], tmp_path)
    assert found.keys() == expected.keys()
    for variant, files in expected.items():
        assert found[variant].keys() == files.keys(), variant
        changed = sorted(name for name, digest in files.items()
                         if found[variant][name] != digest)
        assert changed == [], f"{variant}: {len(changed)} packages changed: {changed[:10]}"
    # the worker processes were used (more than 64 items), and they change nothing
    assert found["parallel"] == found["default"]
