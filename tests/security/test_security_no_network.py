"""Parsing and validating manifests never touches the network.

Two witnesses, both controlled by a test that shows they see a fetch:

* ``guard``: ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` raise for any
  address that is not loopback, and record the attempt (a Python-level fetch: a resolver, a
  urllib call);
* ``canary``: an HTTP server on 127.0.0.1 (port 0) that records every request; the hostile
  documents point at it as well as at TEST-NET and DNS names, so a fetch made by C code
  (libxml2) would be seen even though it bypasses the Python socket module.

Documents: external entities (file and network), an external DTD, a parameter entity, a DTD
hidden from the cheap prolog scan (after a comment holding ``<x``, and in UTF-16), XInclude,
and ``xsi:schemaLocation`` values naming remote schemas; then the same through the CLI with
``-o validate=true``.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import ipaddress
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN, RepoLocation, assert_one_line_error, snapshot
from helpers.packager import delete, export, ingest, manifest_of, rewrite_zip
from lxml import etree

from aip import constants as C
from aip.errors import AipError, ManifestParseError
from aip.mets.parse import parse_bytes
from aip.mets.validate import SchemaLoadError, load_schema, validate_manifest
from aip.packager.manifest import parse_package

ITEM = "123456789/8"
OUTSIDE = ("http://192.0.2.1/", "http://aipsync-canary.invalid/", "https://example.com/")


# =============================================================================================
# The witnesses
# =============================================================================================
def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX
    host = str(address[0])
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to reach a non-loopback address (refused)."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str) -> OSError:
        attempts.append(what)
        return OSError(errno.ENETUNREACH, f"network disabled by the test: {what}")

    def connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            raise refuse(f"connect {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _loopback(address):
            raise refuse(f"connect_ex {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", b"localhost") and not _loopback((host, 0)):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "name resolution disabled by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@dataclass
class Canary:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def canary() -> Iterator[Canary]:
    """An HTTP server on 127.0.0.1 that answers everything with a DTD and records it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'<!ENTITY leak "fetched">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="canary")
    thread.start()
    try:
        yield Canary(f"http://127.0.0.1:{server.server_port}/", hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_guard_sees_a_fetch(guard: list[str]) -> None:
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://192.0.2.1/x", timeout=2)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://aipsync-canary.invalid/x", timeout=2)
    assert len(guard) == 2, guard


def test_the_canary_sees_a_fetch(guard: list[str], canary: Canary) -> None:
    with urllib.request.urlopen(f"{canary.url}probe", timeout=5) as response:
        assert response.read()
    assert canary.hits == ["/probe"]
    assert guard == []  # loopback is allowed: that is how the canary is reached


# =============================================================================================
# Hostile documents
# =============================================================================================
def _item_manifest(location: RepoLocation, tmp_path: Path) -> bytes:
    export(location, tmp_path / "item.zip", ITEM, recursive=False)
    return manifest_of(tmp_path / "item.zip")


TITLE = b"<dim:field mdschema=\"dc\" element=\"title\""


def _hostile(manifest: bytes, base: str) -> dict[str, bytes]:
    decl, _, rest = manifest.partition(b"\n")

    def prolog(text: str, body: bytes = rest) -> bytes:
        return decl + b"\n" + text.encode() + b"\n" + body

    used = rest.replace(TITLE, b"<dim:field>&ent;</dim:field>" + TITLE, 1)
    docs = {
        "file-entity": prolog('<!DOCTYPE mets [<!ENTITY ent SYSTEM "file:///etc/passwd">]>',
                              used),
        "network-entity": prolog(f'<!DOCTYPE mets [<!ENTITY ent SYSTEM "{base}ent">]>', used),
        "external-dtd": prolog(f'<!DOCTYPE mets SYSTEM "{base}mets.dtd">'),
        "parameter-entity": prolog(
            f'<!DOCTYPE mets [<!ENTITY % p SYSTEM "{base}p.dtd"> %p;]>', used),
        "dtd-after-comment": prolog(
            f'<!-- <x> hides what follows from a prolog scan -->\n'
            f'<!DOCTYPE mets SYSTEM "{base}hidden.dtd">', used),
        "xinclude": rest.replace(
            TITLE, f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                   f'href="{base}xi.xml" parse="text"/>'.encode() + TITLE, 1),
        "schema-locations": _remote_schema_locations(manifest, base),
    }
    text = docs["dtd-after-comment"].decode("utf-8").replace("encoding='UTF-8'",
                                                             "encoding='UTF-16'")
    docs["utf16-dtd"] = text.encode("utf-16")
    return docs


def _remote_schema_locations(manifest: bytes, base: str) -> bytes:
    """Every ``xsi:schemaLocation`` pointing at ``base`` (namespaces unchanged), plus one for
    a namespace no bundled schema knows."""
    root = etree.fromstring(manifest)
    attr = f"{{{C.NS_XSI}}}schemaLocation"
    for el in root.iter():
        value = el.get(attr) if isinstance(el.tag, str) else None
        if value:
            parts = value.split()
            el.set(attr, " ".join(p if i % 2 == 0 else f"{base}{i}-{p.rsplit('/', 1)[-1]}"
                                  for i, p in enumerate(parts)))
    root.set(attr, f"{root.get(attr)} urn:aipsync:unknown {base}unknown.xsd")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _use(data: bytes) -> None:
    """Everything ingest does with a manifest: parse, validate (with inner sections), read."""
    try:
        root = parse_bytes(data, path="hostile.zip")
    except ManifestParseError:
        root = None
    if root is not None:
        validate_manifest(root, inner=True)
    with contextlib.suppress(AipError):
        parse_package(data, path="hostile.zip")


@pytest.mark.parametrize("base", [None, *OUTSIDE], ids=["canary", *OUTSIDE])
def test_parsing_and_validating_never_fetch(secured: RepoLocation, tmp_path: Path,
                                            guard: list[str], canary: Canary,
                                            base: str | None) -> None:
    docs = _hostile(_item_manifest(secured, tmp_path), base or canary.url)
    refused = set()
    for name, data in docs.items():
        try:
            parse_bytes(data, path=f"{name}.zip")
        except ManifestParseError:
            refused.add(name)
        _use(data)
    assert guard == [] and canary.hits == [], (guard, canary.hits)
    # what has a DTD is refused; XInclude and schema locations are inert text
    assert refused == set(docs) - {"xinclude", "schema-locations"}


def test_schema_imports_are_never_fetched(tmp_path: Path, guard: list[str],
                                          canary: Canary) -> None:
    xsd = tmp_path / "evil.xsd"
    xsd.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f'<xs:import namespace="urn:a" schemaLocation="{canary.url}a.xsd"/>'
        '<xs:import namespace="urn:b" schemaLocation="http://192.0.2.1/b.xsd"/>'
        '<xs:include schemaLocation="https://example.com/c.xsd"/>'
        "</xs:schema>", encoding="utf-8")
    with pytest.raises(SchemaLoadError, match="refus"):
        load_schema(xsd, mapping={})
    assert guard == [] and canary.hits == [], (guard, canary.hits)


def test_a_resolver_that_would_fetch_is_seen(guard: list[str], canary: Canary) -> None:
    """The control for the parser tests: an lxml parser allowed to load a DTD through a
    Python resolver that fetches is caught by both witnesses."""
    class Fetching(etree.Resolver):
        def resolve(self, url: str, pubid: Any, context: Any) -> Any:  # type: ignore[override]
            with urllib.request.urlopen(url, timeout=2) as response:
                return self.resolve_string(response.read(), context)

    parser = etree.XMLParser(load_dtd=True, resolve_entities=True, no_network=False)
    parser.resolvers.add(Fetching())
    etree.fromstring(f'<!DOCTYPE r SYSTEM "{canary.url}r.dtd"><r>&leak;</r>'.encode(), parser)
    assert canary.hits == ["/r.dtd"]
    with pytest.raises((etree.XMLSyntaxError, OSError)):  # lxml re-raises the URLError
        etree.fromstring(b'<!DOCTYPE r SYSTEM "http://192.0.2.1/r.dtd"><r>&leak;</r>', parser)
    assert guard


# =============================================================================================
# Through the CLI, with validation
# =============================================================================================
def test_restore_with_validate_never_fetches(secured: RepoLocation, tmp_path: Path,
                                             guard: list[str], canary: Canary) -> None:
    export(secured, tmp_path / "item.zip", ITEM, recursive=False)
    docs = _hostile(manifest_of(tmp_path / "item.zip"), canary.url)
    delete(secured, ITEM)
    for name, data in docs.items():
        package = rewrite_zip(tmp_path / "item.zip", tmp_path / f"{name}.zip",
                              lambda n, d, m=data: (n, m if n == C.MANIFEST_NAME else d))
        if name in ("xinclude", "schema-locations"):
            continue
        before = snapshot(secured)
        result = ingest(secured, package, "-r", "-o", "validate=true",
                        expect=C.EXIT_MANIFEST_PARSE)
        assert_one_line_error(result, C.EXIT_MANIFEST_PARSE, package.name)
        assert snapshot(secured) == before
    # inert: the package with remote schema locations restores, validated offline
    ingest(secured, tmp_path / "schema-locations.zip", "-r", "-o", "validate=true",
           eperson=ADMIN)
    assert guard == [] and canary.hits == [], (guard, canary.hits)
