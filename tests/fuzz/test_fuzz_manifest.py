"""Fuzz target (a): the manifest parser.  ``parse_package(bytes)`` of a mutated valid manifest
returns a ``ParsedPackage`` or raises an ``aip.errors.AipError`` subclass: never another
exception, never a hang (hypothesis deadline), never more than ``MAX_PY_BYTES`` of Python
allocations for one manifest.  The METS validator (``validate_manifest``, which
``-o validate=true`` runs) must not raise at all on whatever the hardened parser accepts.

Mutations start from valid manifests (``fuzz_support.SEED_MANIFESTS``) and combine, in one
example, up to four tree edits (delete, duplicate or move an element; rename it to another
METS element or namespace; delete an attribute or give it an existing ID, a list of IDREFs, a
number, a handle-like string, random text with surrogates and control characters, or a value of
up to 1 MiB + 1; add a METS attribute; replace a text) and up to three byte edits of the
serialized result (flip, truncate, insert, delete, duplicate a slice).  Text that lxml refuses
to hold (control characters, lone surrogates) is spliced into the bytes instead, so it reaches
the parser as invalid XML or invalid UTF-8.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import fuzz_support as F
import hypothesis.strategies as st
import pytest
from lxml import etree

from aip import constants as C
from aip.errors import AipError
from aip.mets.parse import parse_bytes
from aip.mets.validate import validate_manifest
from aip.packager.manifest import parse_package

M = f"{{{C.NS_METS}}}"
XLINK_HREF = f"{{{C.NS_XLINK}}}href"
METS_TAGS = ("mets", "metsHdr", "agent", "name", "dmdSec", "amdSec", "techMD", "rightsMD",
             "sourceMD", "digiprovMD", "mdWrap", "mdRef", "xmlData", "binData", "fileSec",
             "fileGrp", "file", "FLocat", "structMap", "div", "fptr", "mptr")
ATTRIBUTES = ("ID", "ADMID", "DMDID", "FILEID", "SIZE", "SEQ", "CHECKSUM", "CHECKSUMTYPE",
              "MDTYPE", "OTHERMDTYPE", "LOCTYPE", XLINK_HREF, "TYPE", "PROFILE", "OBJID",
              "LABEL", "LASTMODDATE", "CREATEDATE", "MIMETYPE", "USE", "GROUPID", "ROLE",
              "mdschema", "element", "qualifier", "dspaceType")
HUGE = (10_000, 200_000, C.MAX_ATTRIBUTE_CHARS + 1)

#: Any code point, lone surrogates and control characters included.
wild_text = st.text(st.characters(exclude_categories=()), max_size=40)


class Edit:
    """The state of one mutated tree: the root, and raw bytes to splice in for tokens."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.splices: dict[str, bytes] = {}

    def elements(self) -> list[etree._Element]:
        return [el for el in self.root.iter() if isinstance(el.tag, str)]

    def ids(self) -> list[str]:
        return [i for el in self.elements() if (i := el.get("ID"))]

    def token(self, raw: bytes) -> str:
        name = f"FUZZ{len(self.splices):04d}TOKEN"
        self.splices[name] = raw
        return name

    def serialize(self) -> bytes:
        data: bytes = etree.tostring(self.root, xml_declaration=True, encoding="UTF-8")
        for name, raw in self.splices.items():
            data = data.replace(name.encode(), raw)
        return data


Draw = Callable[..., Any]


def _value(draw: Draw, edit: Edit) -> str:
    kind = draw(st.sampled_from(["id", "idrefs", "number", "handle", "wild", "huge", "url"]))
    ids = edit.ids() or ["none"]
    if kind == "id":
        return str(draw(st.sampled_from(ids)))
    if kind == "idrefs":
        picked = draw(st.lists(st.sampled_from([*ids, "nowhere", ""]), max_size=4))
        return " ".join(str(p) for p in picked)
    if kind == "number":
        return str(draw(st.integers(-(10**30), 10**30)))
    if kind == "handle":
        return str(draw(st.sampled_from(["123456789/1", "hdl:123456789/2", "123456789/0",
                                         "../x", "x/../../y", "/", "hdl:", "DSpace_DB_ITEM_1",
                                         "http://hdl.handle.net/123456789/3"])))
    if kind == "url":
        return str(draw(st.sampled_from(["../../etc/passwd", "/etc/passwd", "C:evil",
                                         "file:///etc/passwd", "http://192.0.2.1/x",
                                         "bitstream_1.pdf", "mets.xml", "a\\b", ""])))
    if kind == "huge":
        return "A" * int(draw(st.sampled_from(HUGE)))
    text = str(draw(wild_text))
    try:
        etree.Element("probe").set("v", text)  # lxml accepts it: keep it in the tree
        return text
    except ValueError:
        return edit.token(text.encode("utf-8", "surrogatepass"))


def _pick(draw: Draw, edit: Edit, *, root_ok: bool = False) -> etree._Element:
    elements = edit.elements()
    if not root_ok:
        elements = elements[1:] or elements
    return draw(st.sampled_from(elements))


def tree_edit(draw: Draw, edit: Edit) -> None:
    op = draw(st.sampled_from(["delete", "duplicate", "move", "rename", "drop-attr",
                               "set-attr", "add-attr", "text"]))
    el = _pick(draw, edit, root_ok=op in ("rename", "set-attr", "add-attr", "drop-attr"))
    parent = el.getparent()
    if op == "delete" and parent is not None:
        parent.remove(el)
    elif op == "duplicate" and parent is not None:
        parent.insert(parent.index(el) + 1, copy.deepcopy(el))
    elif op == "move" and parent is not None:
        target = _pick(draw, edit, root_ok=True)
        if el not in target.iterancestors() and target is not el:
            target.append(el)
    elif op == "rename":
        local = draw(st.sampled_from(METS_TAGS))
        ns = draw(st.sampled_from([C.NS_METS, C.NS_METS, C.NS_DIM, "urn:other"]))
        el.tag = f"{{{ns}}}{local}"
    elif op == "drop-attr" and el.attrib:
        del el.attrib[str(draw(st.sampled_from(sorted(el.attrib))))]
    elif op == "set-attr" and el.attrib:
        el.set(str(draw(st.sampled_from(sorted(el.attrib)))), _value(draw, edit))
    elif op == "add-attr":
        el.set(str(draw(st.sampled_from(ATTRIBUTES))), _value(draw, edit))
    elif op == "text":
        el.text = _value(draw, edit)


def byte_edit(draw: Draw, data: bytes) -> bytes:
    if not data:
        return bytes(draw(st.binary(max_size=16)))
    op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "repeat"]))
    at = int(draw(st.integers(0, len(data) - 1)))
    if op == "flip":
        return data[:at] + bytes([data[at] ^ int(draw(st.integers(1, 255)))]) + data[at + 1:]
    if op == "truncate":
        return data[:at]
    if op == "insert":
        return data[:at] + bytes(draw(st.binary(min_size=1, max_size=24))) + data[at:]
    end = min(len(data), at + int(draw(st.integers(1, 200))))
    if op == "delete":
        return data[:at] + data[end:]
    return data[:end] + data[at:end] * int(draw(st.integers(1, 50))) + data[end:]


@st.composite
def mutated_manifests(draw: Draw) -> bytes:
    base = draw(st.sampled_from(F.SEED_MANIFESTS))
    edit = Edit(etree.fromstring(base))  # trusted seeds
    for _ in range(int(draw(st.integers(0, 4)))):
        tree_edit(draw, edit)
    data = edit.serialize()
    for _ in range(int(draw(st.integers(0, 3)))):
        data = byte_edit(draw, data)
    return data


def parse_and_validate(data: bytes) -> object:
    """What ingest does with a manifest: the hardened parse, the optional schema validation
    (which must not raise), then the AIP reading."""
    try:
        root = parse_bytes(data, path="FUZZ.zip")
    except AipError:
        root = None
    if root is not None:
        try:
            validate_manifest(root, inner=True)
        except AipError as exc:  # problems are values: it must not raise
            raise AssertionError(f"validate_manifest raised {exc!r}") from exc
    return parse_package(data, path="FUZZ.zip")


def _manifest_target(data: bytes) -> None:
    F.only_aip_errors("manifest", lambda: parse_and_validate(data))


def test_the_seed_manifests_parse() -> None:
    """The oracle is not trivially satisfied: every unmutated control is accepted."""
    for data in F.SEED_MANIFESTS[: len(list(F.GOOD.glob("*.zip")))]:
        assert parse_and_validate(data) is not None


@pytest.mark.timeout(F.TIMEOUT)
def test_manifest_parser_raises_only_aip_errors() -> None:
    examples = F.fuzz("manifest", mutated_manifests(), _manifest_target)
    assert examples > 0
    assert F.COUNTS["manifest.ok"] > 0, "no mutated manifest was accepted: the fuzzer is " \
        "not reaching past the parser"


# -- what the fuzzer found, kept as plain tests ---------------------------------------------------
def test_text_after_an_inner_section_does_not_break_validation() -> None:
    """Found by this target: ``inner_problems`` copied a PREMIS/MODS/METSRights section with
    ``tostring`` (tail included) and re-parsed it, so text after the section inside
    ``xmlData`` (legal: xmlData is lax) raised lxml's XMLSyntaxError out of
    ``validate_manifest``, which must only return problems."""
    data = next(m for m in F.SEED_MANIFESTS if b"</mods:mods>" in m)
    data = data.replace(b"</mods:mods>", b"</mods:mods>text after the section", 1)
    assert b"text after the section" in data
    problems = validate_manifest(parse_bytes(data), inner=True)
    assert all(p.code.startswith(("AIP-E", "AIP-W")) for p in problems)
