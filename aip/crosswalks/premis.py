"""PREMIS 1.0 object description of a bitstream (the bitstream techMD of AIPs).

Owns: ``Bitstream`` -> ``<premis:premis><premis:object>`` and back to the facts a restore checks
(original name, size, MD5, MIME type).  Pure: the identifier URL is given by the caller.

Shape and rules (DSpace ``PREMISCrosswalk.disseminateElement`` / ``ingest``;
docs/aip-format.md 3.4): ``objectIdentifier`` (type ``URL``), ``objectCategory`` ``File``,
``objectCharacteristics`` with ``fixity`` (only when a checksum is known), ``size`` and
``format/formatDesignation/formatName`` = MIME type, then ``originalName`` = the name, or the
source when there is no name.  On ingest the size and digest are facts to check against the
file, never to trust blindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from aip import constants as C
from aip.crosswalks._xml import Element, child, expect_root, text_of
from aip.errors import CrosswalkError
from aip.model import Bitstream
from aip.xmltext import leaf, parse

_NAMESPACES: dict[str, str] = {"premis": C.NS_PREMIS}
_SCHEMA_LOCATION: str | None = f"{C.NS_PREMIS} {C.SCHEMA_LOCATION_PREMIS}"


@dataclass(frozen=True, slots=True)
class PremisObject:
    """What a PREMIS object says about a file."""

    identifier: str | None
    original_name: str | None
    size: int | None
    digest_algorithm: str | None
    digest: str | None
    mimetype: str | None

    @property
    def md5(self) -> str | None:
        """The digest when the algorithm is MD5 (case-insensitive), else ``None``."""
        if self.digest_algorithm and self.digest_algorithm.upper() == C.CHECKSUM_TYPE:
            return self.digest
        return None


def _p(tag: str) -> str:
    return f"{{{C.NS_PREMIS}}}{tag}"


def disseminate(bitstream: Bitstream, identifier: str) -> Element:
    """The PREMIS object of ``bitstream``; ``identifier`` is its informative URL."""
    return parse(disseminate_text(bitstream, identifier))


def disseminate_text(bitstream: Bitstream, identifier: str) -> str:
    """``disseminate`` as text (``aip.xmltext``): the same tree as building it element by
    element, a tenth of the time (four of these per typical item)."""
    fixity = ""
    if bitstream.md5 is not None:
        fixity = ("<premis:fixity>"
                  f"{leaf('premis:messageDigestAlgorithm', C.CHECKSUM_TYPE)}"
                  f"{leaf('premis:messageDigest', bitstream.md5)}</premis:fixity>")
    original = bitstream.name if bitstream.name is not None else bitstream.source
    return (
        f'<premis:premis xmlns:premis="{C.NS_PREMIS}"><premis:object>'
        "<premis:objectIdentifier><premis:objectIdentifierType>URL"
        "</premis:objectIdentifierType>"
        f"{leaf('premis:objectIdentifierValue', identifier)}</premis:objectIdentifier>"
        "<premis:objectCategory>File</premis:objectCategory>"
        f"<premis:objectCharacteristics>{fixity}{leaf('premis:size', str(bitstream.size))}"
        "<premis:format><premis:formatDesignation>"
        f"{leaf('premis:formatName', bitstream.format.mimetype)}"
        "</premis:formatDesignation></premis:format></premis:objectCharacteristics>"
        f"{'' if original is None else leaf('premis:originalName', original)}"
        "</premis:object></premis:premis>")


def _text(parent: Element | None, name: str) -> str | None:
    if parent is None:
        return None
    el = child(parent, name)
    return text_of(el).strip() if el is not None else None


def ingest(root: Element) -> PremisObject:
    """The facts of the first PREMIS ``object`` (``getTextTrim`` semantics, as DSpace).

    Raises:
        CrosswalkError: not a ``premis:premis``, no object, or a size that is not a number
            ("Bad number value in PREMIS object/objectCharacteristics/size").
    """
    expect_root(root, C.NS_PREMIS, "premis", "PREMIS")
    obj = child(root, "object")
    if obj is None:
        raise CrosswalkError("PREMIS: no premis:object element")
    chars = child(obj, "objectCharacteristics")
    size_text = _text(chars, "size")
    size: int | None = None
    if size_text is not None:
        try:
            size = int(size_text)
        except ValueError:
            raise CrosswalkError("Bad number value in PREMIS object/objectCharacteristics/size: "
                                 f"{size_text!r}") from None
        if size < 0:
            raise CrosswalkError(f"PREMIS size is negative: {size}")
    fixity = child(chars, "fixity") if chars is not None else None
    fmt = child(chars, "format") if chars is not None else None
    designation = child(fmt, "formatDesignation") if fmt is not None else None
    oid = child(obj, "objectIdentifier")
    name_el = child(obj, "originalName")
    return PremisObject(
        identifier=_text(oid, "objectIdentifierValue"),
        original_name=text_of(name_el).strip() if name_el is not None else None,
        size=size,
        digest_algorithm=_text(fixity, "messageDigestAlgorithm"),
        digest=_text(fixity, "messageDigest"),
        mimetype=_text(designation, "formatName"),
    )


__all__ = ["PremisObject", "disseminate", "disseminate_text", "ingest"]
