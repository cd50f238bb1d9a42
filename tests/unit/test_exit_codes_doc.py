"""docs/exit-codes.md lists every exit code of aip/constants.py, with the same number."""

from __future__ import annotations

import re
from pathlib import Path

from aip import constants as C

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def test_every_exit_code_is_documented_with_its_number() -> None:
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*(EXIT_[A-Z_]+)\s*\|", DOC.read_text("utf-8"),
                           re.MULTILINE))
    documented = {name: int(code) for code, name in rows.items()}
    defined = {k: v for k, v in vars(C).items() if k.startswith("EXIT_")}
    assert documented == defined


def test_codes_are_never_reused() -> None:
    values = [v for k, v in vars(C).items() if k.startswith("EXIT_")]
    assert len(values) == len(set(values))
