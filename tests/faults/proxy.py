"""A fault-injecting HTTP proxy for S3, on 127.0.0.1, between aipsync and moto's server.

aipsync's ``[target] endpoint_url`` points at the proxy (path-style addressing); the proxy
forwards every request to the upstream server and, when a ``Fault`` rule matches, misbehaves
the way networks and stores do:

=====================  ==========================================================================
action                 what the client sees
=====================  ==========================================================================
``500``                HTTP 500 ``InternalError`` (request not forwarded)
``503``                HTTP 503 ``ServiceUnavailable`` (request not forwarded)
``slowdown``           HTTP 503 ``SlowDown`` (request not forwarded)
``error``              any ``status``/``code`` given in the rule: 403 ``AccessDenied``,
                       404 ``NoSuchBucket``, 403 ``InvalidAccessKeyId``, 400 ``BadDigest``...
``reset``              the connection reset (RST) before the request reaches the store
``reset-after``        the request reaches the store, then the connection is reset: the
                       response is lost although the store applied the request
``stall``              nothing for ``stall_seconds`` (beyond the client's read timeout), then
                       the connection is closed; the request never reaches the store
``stall-after``        the store applies the request; the response is withheld, then dropped
``truncate``           the response's headers announce the whole body, half of it is sent,
                       then the connection is closed
``corrupt-request``    one byte of the request body flipped before it is forwarded (the store
                       gets other bytes than the client sent)
``corrupt-response``   one byte of the response body flipped
=====================  ==========================================================================

A rule fires on a given request (``op``/``method``/``path`` filters plus ``nth``: the n-th
matching request, 1-based) or at a ``rate``; either way at most ``times`` times.  Random
decisions come from the proxy's ``seed``, drawn per request from the request's identity
(method, path, query names, how often that request was seen), so the same run of requests gets
the same faults whatever the thread interleaving.  ``action`` may be a tuple: one is chosen
per firing, from the same seeded draw.

Every exchange is logged (``Exchange``: the S3 operation, key, part number, status, fault), so
tests count PUTs per key, faults per type, and which requests the store really received.

Bounded: the serving loop ends by itself ``deadline`` seconds after ``start()`` even if nobody
calls ``stop()``; ``stop()`` closes every client connection (ending stalls at once) and joins
every thread.  It binds 127.0.0.1 only.  Standard library only (no third-party proxy).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ERROR_ACTIONS", "RETRYABLE_MIX", "Exchange", "Fault", "FaultProxy",
           "s3_operation"]

#: The shorthand error actions: action -> (HTTP status, S3 error code).
ERROR_ACTIONS: dict[str, tuple[int, str]] = {
    "500": (500, "InternalError"),
    "503": (503, "ServiceUnavailable"),
    "slowdown": (503, "SlowDown"),
}
#: What "a flaky network and a busy store" means in the scenarios: 5xx, throttling, resets
#: (before the store saw the request, and after it applied it).
RETRYABLE_MIX = ("500", "503", "slowdown", "reset", "reset-after")
_ACTIONS = frozenset({*ERROR_ACTIONS, "error", "reset", "reset-after", "stall", "stall-after",
                      "truncate", "corrupt-request", "corrupt-response"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                         "te", "trailer", "upgrade", "expect", "content-length"})
#: Query parameters whose values differ from run to run (left out of a request's identity).
_VOLATILE_QUERY = frozenset({"uploadId", "versionId", "continuation-token", "key-marker",
                             "upload-id-marker", "version-id-marker"})


def s3_operation(method: str, path: str, query: Collection[str],
                 headers: Any = None) -> tuple[str, str, str]:
    """The S3 operation of a path-style request: (operation, bucket, key).  Pure.

    Args:
        method: the HTTP method.
        path: the request path (``/bucket/key``), still URL-encoded.
        query: the names of the query parameters.
        headers: the request headers (``x-amz-copy-source`` tells a copy from a PUT).
    """
    bucket, _, raw_key = path.lstrip("/").partition("/")
    key = unquote(raw_key)
    copy = headers is not None and headers.get("x-amz-copy-source") is not None
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            op = "UploadPartCopy" if copy else "UploadPart"
        elif not key:
            op = "PutBucketVersioning" if "versioning" in query else "CreateBucket"
        else:
            op = "CopyObject" if copy else "PutObject"
    elif method == "POST":
        if "uploads" in query:
            op = "CreateMultipartUpload"
        elif "uploadId" in query:
            op = "CompleteMultipartUpload"
        else:
            op = "DeleteObjects" if "delete" in query else "Post"
    elif method == "GET":
        if key:
            op = "ListParts" if "uploadId" in query else "GetObject"
        elif "versioning" in query:
            op = "GetBucketVersioning"
        elif "uploads" in query:
            op = "ListMultipartUploads"
        elif "versions" in query:
            op = "ListObjectVersions"
        else:
            op = "ListObjectsV2" if "list-type" in query else "ListObjects"
    elif method == "HEAD":
        op = "HeadObject" if key else "HeadBucket"
    elif method == "DELETE":
        op = "AbortMultipartUpload" if "uploadId" in query else (
            "DeleteObject" if key else "DeleteBucket")
    else:
        op = method
    return op, bucket, key


@dataclass
class Fault:
    """One rule: which requests (all filters must match) and what to do to them.

    Args:
        action: one of the module's actions, or a tuple to choose from per firing.
        op: only this S3 operation (``PutObject``, ``UploadPart``, ``GetObject``...).
        method: only this HTTP method.
        path: only keys containing this text (``ITEM@``, ``snapshots/``...).
        nth: fire on the n-th matching request (1-based), or on each n in a collection.
        rate: fire with this probability per matching request (seeded).
        times: fire at most this many times (default: once with ``nth`` given, else no
            limit).
        per_key: fire at most this many times per key (``per_key=1``: the first matching
            request of each key misbehaves, its retries go through).
        status, code: the response of ``error``.
        stall_seconds: how long ``stall``/``stall-after`` hold the connection.
    """

    action: str | tuple[str, ...]
    op: str | None = None
    method: str | None = None
    path: str | None = None
    nth: int | Collection[int] | None = None
    rate: float | None = None
    times: int | None = None
    per_key: int | None = None
    status: int = 500
    code: str = "InternalError"
    stall_seconds: float = 5.0
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)
    fired_per_key: Counter[str] = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        actions = (self.action,) if isinstance(self.action, str) else self.action
        unknown = set(actions) - _ACTIONS
        if unknown:
            raise ValueError(f"unknown fault action(s): {sorted(unknown)}")
        if self.nth is None and self.rate is None:
            self.rate = 1.0

    def matches(self, op: str, method: str, key: str) -> bool:
        return ((self.op is None or self.op == op)
                and (self.method is None or self.method == method)
                and (self.path is None or self.path in key))


@dataclass
class Exchange:
    """One request through the proxy and what happened to it.

    ``status`` is the status the client received (None: no response: a reset, a stall, a
    truncated body); ``forwarded``: the store received the request; ``store_status``: what
    the store answered.
    """

    number: int
    op: str
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    request_bytes: int
    fault: str | None = None
    forwarded: bool = False
    store_status: int | None = None
    status: int | None = None
    started: float = 0.0
    seconds: float = 0.0

    @property
    def part_number(self) -> int | None:
        value = self.query.get("partNumber")
        return int(value) if value is not None else None

    @property
    def upload_id(self) -> str | None:
        return self.query.get("uploadId")

    @property
    def ok(self) -> bool:
        """The client got a 2xx response."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def applied(self) -> bool:
        """The store received and accepted the request (the client may not know it)."""
        return (self.forwarded and self.store_status is not None
                and 200 <= self.store_status < 300)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined by server_close()
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # an idle keep-alive connection ends by itself
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.proxy._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the exchange log is the record

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    # --- plumbing -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Abort the connection with an RST (SO_LINGER 0), as a dropped connection does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        # The socket's descriptor closes only when its file objects are closed too.
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        # http.server flushes and closes these after the request: give it harmless ones.
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(proxy._up_host, proxy._up_port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes,
              *, announce: int | None = None) -> None:
        self.send_response_only(status, reason)
        length = None
        for name, value in headers:
            low = name.lower()
            if low == "content-length":
                length = value
            elif low not in _HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", length or "0")
        else:
            self.send_header("Content-Length", str(announce if announce is not None
                                                   else len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, code: str) -> None:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>injected by the fault proxy</Message>"
                f"<RequestId>fault-proxy</RequestId></Error>").encode()
        self._send(status, http.client.responses.get(status, "Error"),
                   [("Content-Type", "application/xml"),
                    ("x-amz-request-id", "fault-proxy")], body)

    # --- one request --------------------------------------------------------------------------
    def _handle(self) -> None:
        proxy = self.server.proxy
        started = time.monotonic()
        body = self._read_body()
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        op, bucket, key = s3_operation(self.command, split.path, query, self.headers)
        ex, rule, action, rng = proxy._admit(op, self.command, bucket, key, query, len(body))
        ex.started = started
        try:
            self._run(ex, rule, action, rng, body)
        finally:
            ex.seconds = time.monotonic() - started

    def _run(self, ex: Exchange, rule: Fault | None, action: str | None,
             rng: random.Random, body: bytes) -> None:
        proxy = self.server.proxy
        if action in ERROR_ACTIONS or action == "error":
            status, code = (ERROR_ACTIONS.get(action, (rule.status, rule.code)))  # type: ignore[union-attr]
            ex.status = status
            self._send_error(status, code)
            return
        if action == "reset":
            self._reset()
            return
        if action == "stall":
            proxy._stopping.wait(rule.stall_seconds)  # type: ignore[union-attr]
            self._reset()
            return
        if action == "corrupt-request" and body:
            at = rng.randrange(len(body))
            body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1:]
        try:
            status, reason, headers, data = self._forward(body)
        except OSError:
            ex.status = 502
            self._send_error(502, "BadGateway")
            return
        ex.forwarded, ex.store_status = True, status
        if action == "reset-after":
            self._reset()
            return
        if action == "stall-after":
            proxy._stopping.wait(rule.stall_seconds)  # type: ignore[union-attr]
            self._reset()
            return
        if action == "truncate" and self.command != "HEAD" and len(data) > 1:
            self._send(status, reason, headers, data[: len(data) // 2], announce=len(data))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if action == "corrupt-response" and self.command != "HEAD" and data:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
        ex.status = status
        self._send(status, reason, headers, data)


class FaultProxy:
    """The proxy.  Use as a context manager, or ``start()`` / ``stop()``.

    Args:
        upstream: the store's endpoint (``http://127.0.0.1:PORT``).
        faults: the rules, tried in order; the first that fires wins.
        seed: the seed of every random decision.
        deadline: seconds after ``start()`` when the proxy stops serving by itself.
    """

    def __init__(self, upstream: str, *, faults: list[Fault] | None = None, seed: int = 0,
                 deadline: float = 300.0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the fault proxy only talks to a loopback upstream")
        self._up_host = parts.hostname
        self._up_port = parts.port or 80
        self.faults: list[Fault] = list(faults or [])
        self.seed = seed
        self.deadline = deadline
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, ...]] = Counter()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._port is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> str:
        """Start serving (a thread); returns the proxy's URL."""
        self._server = _Server(self)
        self._server.timeout = 0.1
        self._port = int(self._server.server_address[1])
        until = time.monotonic() + self.deadline
        self._thread = threading.Thread(target=self._serve, args=(until,),
                                        name="fault-proxy")
        self._thread.start()
        return self.url

    def _serve(self, until: float) -> None:
        server = self._server
        assert server is not None
        try:
            while not self._stopping.is_set() and time.monotonic() < until:
                server.handle_request()
        finally:
            # Stopped, or past the deadline: refuse new connections, end the open ones (and
            # any stall), and join their threads.
            self._stopping.set()
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            server.server_close()

    def stop(self) -> None:
        """Stop serving, drop every open connection and join every thread (idempotent)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), "the fault proxy did not stop"
            self._thread = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- rules --------------------------------------------------------------------------------
    def add(self, *faults: Fault) -> None:
        """Add rules (they apply to the next requests)."""
        with self._lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        """Remove every rule (the log is kept)."""
        with self._lock:
            self.faults.clear()

    def _admit(self, op: str, method: str, bucket: str, key: str, query: dict[str, str],
               size: int) -> tuple[Exchange, Fault | None, str | None, random.Random]:
        """Log the request and decide its fault (under the lock: counters are shared)."""
        stable = "&".join(sorted(k if k in _VOLATILE_QUERY else f"{k}={v}"
                                 for k, v in query.items()))
        identity = (method, bucket, key, stable)
        with self._lock:
            self._seen[identity] += 1
            rng = random.Random(f"{self.seed}|{'|'.join(identity)}|{self._seen[identity]}")
            ex = Exchange(len(self.exchanges) + 1, op, method, bucket, key, dict(query), size)
            self.exchanges.append(ex)
            for rule in self.faults:
                if not rule.matches(op, method, key):
                    continue
                rule.matched += 1
                limit = rule.times if rule.times is not None else (
                    None if rule.nth is None else 1 if isinstance(rule.nth, int)
                    else len(list(rule.nth)))
                if limit is not None and rule.fired >= limit:
                    continue
                if rule.per_key is not None and rule.fired_per_key[key] >= rule.per_key:
                    continue
                if rule.nth is not None:
                    wanted = {rule.nth} if isinstance(rule.nth, int) else set(rule.nth)
                    hit = rule.matched in wanted
                else:
                    hit = rng.random() < (rule.rate or 0.0)
                if not hit:
                    continue
                choices = (rule.action,) if isinstance(rule.action, str) else rule.action
                action = choices[0] if len(choices) == 1 else rng.choice(choices)
                rule.fired += 1
                rule.fired_per_key[key] += 1
                ex.fault = action
                return ex, rule, action, rng
        return ex, None, None, rng

    # --- the record ---------------------------------------------------------------------------
    def log(self, *, op: str | None = None, key: str | None = None,
            since: int = 0) -> list[Exchange]:
        """Exchanges (numbered from 1) after number ``since``, filtered by operation/key."""
        with self._lock:
            found = list(self.exchanges[since:])
        return [e for e in found if (op is None or e.op == op)
                and (key is None or e.key == key)]

    def mark(self) -> int:
        """The number of exchanges so far (pass it as ``since`` later)."""
        with self._lock:
            return len(self.exchanges)

    def faults_injected(self, since: int = 0) -> Counter[str]:
        """How many of each fault were injected."""
        return Counter(e.fault for e in self.log(since=since) if e.fault is not None)

    def iter_puts(self, since: int = 0) -> Iterator[Exchange]:
        """Object-writing requests the store applied (PUT object, part, copy, complete)."""
        for e in self.log(since=since):
            if e.applied and e.op in ("PutObject", "UploadPart", "CopyObject",
                                      "CompleteMultipartUpload"):
                yield e
