"""The ``s3://bucket/prefix`` target: AWS S3 and S3-compatible stores through boto3.

Owns: the boto3 client (endpoint, region, addressing style, profile, CA bundle, the
``request_checksum_calculation``/``response_checksum_validation`` settings S3-compatible
stores need, timeouts); every S3 call the daemon makes; the translation of botocore errors
into the daemon's target errors, here and only here (docs/style.md D4): throttling, 5xx and
connection errors are retried with capped exponential backoff and jitter, credential /
access / missing-bucket errors fail on the first attempt; our own multipart upload
(create, ``upload_part`` with ``Content-MD5``, complete) whose parts are journalled so an
interrupted upload resumes, and the abort of orphaned uploads; the read-side bandwidth limit.

Every object carries its whole-file ``x-amz-meta-sha256``, ``x-amz-meta-md5`` and
``x-amz-meta-part-size``; an ETag is never taken for a content hash (multipart and SSE-KMS
ETags are not MD5s).  Every PUT and part sends ``Content-MD5`` (Object Lock buckets need it;
the store then rejects bytes that changed on the way), and with ``verify_uploads = "etag"``
its response ETag must be that MD5 too (a store that ignores Content-MD5 would keep changed
bytes): a mismatch is retried like BadDigest.  A new multipart upload aborts the other
uploads of its key that no journal knows (a lost CreateMultipartUpload response, a crash).

Must not: log or raise request parameters, responses' free text, or credentials; retry
inside botocore (its retries are off so that permanent errors fail fast and retries are
counted and logged here); decide what to upload.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
import structlog
from botocore import exceptions as bx
from botocore.config import Config as BotoConfig

from aip import constants as C
from aip.files import Digests
from daemon.core import faultpoints
from daemon.core.config import TargetConfig, redact_url
from daemon.core.errors import (
    ObjectLockedError,
    PreconditionFailedError,
    SourceChangedError,
    StopRequestedError,
    TargetError,
    TargetNotFoundError,
    TargetPermanentError,
    TargetUnreachableError,
    UploadVerifyError,
)
from daemon.core.journal import PartRecord, UploadJournal
from daemon.core.stop import StopFlag
from daemon.targets.base import (
    META_MD5,
    META_PART_SIZE,
    META_SHA256,
    PutResult,
    RemoteObject,
    RemoteVersion,
    Retention,
)
from daemon.targets.transfer import (
    BandwidthLimiter,
    backoff_delay,
    check_stat_key,
    choose_part_size,
    download_resumable,
    read_range,
)

__all__ = ["S3Target", "classify_client_error"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")
_COPY_LIMIT = 5 * 1024 * C.MIB
_COPY_PART = 512 * C.MIB
_STREAM_CHUNK = C.MIB
#: Single-part PUTs up to this size are sent from memory; larger ones stream from disk.
_IN_MEMORY_PUT = 8 * C.MIB

#: Error codes that no retry can fix: fail the run at once.
PERMANENT_CODES = frozenset({
    "AccessDenied", "AllAccessDisabled", "AccountProblem", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "NoSuchBucket", "InvalidBucketName", "PermanentRedirect",
    "AuthorizationHeaderMalformed", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
    "InvalidSecurity", "NotSignedUp", "InvalidObjectState", "MissingSecurityHeader",
    "InvalidStorageClass", "KMS.DisabledException", "KMS.NotFoundException",
    "InvalidArgument", "MethodNotAllowed", "403", "401",
})
#: Error codes worth retrying (besides HTTP 5xx and 429).
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "SlowDown", "RequestTimeout",
    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "RequestLimitExceeded",
    "BadDigest", "XAmzContentSHA256Mismatch", "OperationAborted", "TooManyRequestsException",
    "EC2ThrottledException", "PriorRequestNotComplete", "RequestThrottled",
})
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchUpload", "404", "NotFound"})
#: GetObjectLockConfiguration's answers for a bucket (or a store) without Object Lock.
_NO_OBJECT_LOCK_CODES = frozenset({"ObjectLockConfigurationNotFoundError", "NotImplemented",
                                   "MethodNotAllowed", "InvalidRequest"})
_HINTS = {
    "NoSuchBucket": "no such bucket",
    "InvalidAccessKeyId": "credentials refused (unknown access key)",
    "SignatureDoesNotMatch": "credentials refused (bad secret key or clock)",
    "AccessDenied": "access denied",
    "403": "access denied",
    "ExpiredToken": "credentials expired",
}


def classify_client_error(code: str, status: int) -> str:
    """Sort an S3 error into ``not_found``, ``precondition``, ``permanent``, ``retry`` or ``other``.

    Args:
        code: the S3 error code (``"NoSuchBucket"``; HEAD responses carry only ``"404"``...).
        status: the HTTP status.

    Returns:
        The class of the error, which decides retry and exit code.
    """
    if code in ("NoSuchBucket",):
        return "permanent"
    if code in NOT_FOUND_CODES:
        return "not_found"
    if code in ("PreconditionFailed", "412") or status == 412:
        return "precondition"
    if code in PERMANENT_CODES or status in (401, 403):
        return "permanent"
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return "retry"
    return "other"


class _FileBody:
    """A seekable, paced read-only view of an open file, streamed as a PUT body.

    Large single-part PUTs read from disk as they are sent instead of holding the file in
    memory; each attempt of a retried request gets a new view (position 0).
    """

    def __init__(self, fd: int, size: int, limiter: BandwidthLimiter | None) -> None:
        self._fd = fd
        self._size = size
        self._limiter = limiter
        self._pos = 0

    def read(self, amount: int = -1) -> bytes:
        if amount is None or amount < 0:
            amount = self._size - self._pos
        amount = max(0, min(amount, self._size - self._pos))
        data = os.pread(self._fd, amount, self._pos) if amount else b""
        self._pos += len(data)
        if self._limiter is not None:
            self._limiter.consume(len(data))
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._size


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")


def _content_type(key: str) -> str:
    if key.endswith(".zip"):
        return "application/zip"
    if key.endswith(".json"):
        return "application/json"
    return "application/octet-stream"


class S3Target:
    """A ``Target`` on an S3 bucket prefix.

    Args:
        config: the ``[target]`` table (``url`` must be ``s3://``).
        session: a boto3 session to build the client from (default: a new one from the
            standard credential chain, ``profile`` and the optional keys in ``config``).
        sleep: how to wait between retries (injectable for tests).
    """

    def __init__(self, config: TargetConfig, *, session: boto3.session.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._cfg = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        self._display = redact_url(config.url)
        self._sleep = sleep
        self._max_attempts = config.max_attempts
        self._limiter = (BandwidthLimiter(config.bandwidth_limit)
                         if config.bandwidth_limit else None)
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._object_lock: bool | None = None
        self._session = session
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built on first use.

        Building it (and importing boto3) costs about 0.2 s; a run with nothing to upload
        never needs it.
        """
        if self._client is not None:
            return self._client
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        config = self._cfg
        try:
            session = self._session
            if session is None:
                session = boto3.session.Session(
                    profile_name=config.profile, region_name=config.region,
                    aws_access_key_id=config.access_key_id,
                    aws_secret_access_key=config.secret_access_key,
                    aws_session_token=config.session_token)
            boto_config = BotoConfig(
                region_name=config.region,
                s3={"addressing_style": config.addressing_style},
                retries={"mode": "standard", "total_max_attempts": 1},
                request_checksum_calculation=config.request_checksum_calculation,
                response_checksum_validation=config.response_checksum_validation,
                max_pool_connections=max(10, config.transfers * config.part_concurrency + 2),
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                user_agent_extra="aipsync",
            )
            verify: str | bool = str(config.ca_bundle) if config.ca_bundle else True
            client = session.client("s3", endpoint_url=config.endpoint_url,
                                    config=boto_config, verify=verify)
        except bx.BotoCoreError as exc:
            raise TargetPermanentError(target=self._display, operation="connect", key="",
                                       detail=type(exc).__name__) from exc
        client.meta.events.register("before-send.s3", self._on_send)
        return client

    # --- protocol properties ------------------------------------------------------------------
    @property
    def display_url(self) -> str:
        return self._display

    @property
    def multipart_threshold(self) -> int:
        return self._cfg.multipart_threshold

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # --- plumbing -----------------------------------------------------------------------------
    def _on_send(self, event_name: str = "", **_: Any) -> None:
        # Counts every HTTP request actually sent (retries included).  Returns None so the
        # request goes ahead.
        op = event_name.rsplit(".", 1)[-1]
        with self._count_lock:
            self.requests[op] += 1

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def _translate(self, exc: Exception, operation: str, key: str, attempt: int,
                   version_id: str | None = None) -> TargetError:
        """A botocore exception as the daemon's error (never with request parameters)."""
        fields = {"target": self._display, "operation": operation, "key": key}
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            kind = classify_client_error(code, status)
            detail = f"{_HINTS.get(code, code or 'error')} ({code or '-'}, HTTP {status})"
            if code == "NoSuchBucket":
                detail = f"no such bucket {self.bucket!r} (NoSuchBucket, HTTP {status})"
            if kind == "not_found":
                note = f" (version {version_id})" if version_id else ""
                err: TargetError = TargetNotFoundError(version_note=note, code=code, **fields)
            elif kind == "precondition":
                err = PreconditionFailedError(**fields)
            elif kind == "permanent":
                err = TargetPermanentError(detail=detail, **fields)
            elif kind == "retry":
                err = TargetUnreachableError(detail=detail, attempts=attempt, **fields)
            else:
                err = TargetError(detail=detail, **fields)
            err.fields["code"] = code
            return err
        name = type(exc).__name__
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError
                      | bx.CredentialRetrievalError | bx.ProfileNotFound):
            return TargetPermanentError(detail=f"no usable credentials ({name})", **fields)
        if isinstance(exc, bx.SSLError):
            return TargetPermanentError(detail=f"TLS failure ({name})", **fields)
        # botocore's own ConnectionError (EndpointConnectionError: connection refused, no
        # route; ConnectTimeoutError) is not the builtin one: without it an endpoint that is
        # down would be a plain TargetError (50) and never retried.
        if isinstance(exc, bx.HTTPClientError | bx.ResponseStreamingError
                      | bx.IncompleteReadError | bx.FlexibleChecksumError
                      | bx.ConnectionError | ConnectionError | TimeoutError):
            endpoint = redact_url(self._cfg.endpoint_url) or "the S3 endpoint"
            return TargetUnreachableError(detail=f"{name} talking to {endpoint}",
                                          attempts=attempt, **fields)
        return TargetError(detail=name, **fields)

    def _call(self, operation: str, key: str, fn: Callable[[], _T], *,
              version_id: str | None = None,
              check: Callable[[_T], UploadVerifyError | None] | None = None) -> _T:
        """Run one S3 call with retries for transient errors only.

        ``check`` judges a response: an error it returns is retried like a transient one
        (same attempts, same back-off) and raised once they are used up.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn()
            except (bx.ClientError, bx.BotoCoreError, ConnectionError, TimeoutError) as exc:
                error = self._translate(exc, operation, key, attempt, version_id)
                if not error.retryable or attempt >= self._max_attempts:
                    if error.retryable or isinstance(error, TargetPermanentError):
                        log.error("target.request.failed", operation=operation, key=key,
                                  attempts=attempt, error=str(error),
                                  msgid=type(error).__qualname__, exit_code=error.exit_code)
                    raise error from exc
                delay = backoff_delay(attempt)
                log.warning("target.retry", operation=operation, key=key, attempt=attempt,
                            delay_s=round(delay, 3), error=str(error))
                self._sleep(delay)
                continue
            problem = check(result) if check is not None else None
            if problem is None:
                return result
            log.warning("target.upload.mismatch", operation=operation, key=key,
                        attempt=attempt, error=str(problem),
                        detail="the store kept other bytes than were sent")
            if attempt >= self._max_attempts:
                raise problem
            self._sleep(backoff_delay(attempt))

    def _write_args(self) -> dict[str, Any]:
        """Storage class, encryption and Object Lock arguments of every write."""
        cfg = self._cfg
        args: dict[str, Any] = {}
        if cfg.storage_class:
            args["StorageClass"] = cfg.storage_class
        if cfg.server_side_encryption:
            args["ServerSideEncryption"] = cfg.server_side_encryption
        if cfg.sse_kms_key_id:
            args["SSEKMSKeyId"] = cfg.sse_kms_key_id
        if cfg.object_lock_mode:
            args["ObjectLockMode"] = cfg.object_lock_mode
            args["ObjectLockRetainUntilDate"] = (
                datetime.now(UTC) + timedelta(days=cfg.object_lock_retain_days))
        return args

    @property
    def _etag_is_md5(self) -> bool:
        """A PUT's (or a part's) response ETag is the MD5 of the bytes the store kept.

        ``verify_uploads = "etag"`` says the store works that way; SSE-KMS ETags are not MD5s.
        """
        cfg = self._cfg
        return cfg.verify_uploads == "etag" and not (
            cfg.server_side_encryption or "").startswith("aws:kms")

    def _put_checked(self, operation: str, key: str, fn: Callable[[], dict[str, Any]],
                     md5: str) -> dict[str, Any]:
        """Run a PUT (object or part) and check that the store kept the bytes sent.

        A store that checks ``Content-MD5`` refuses changed bytes with BadDigest (retried by
        ``_call``); one that does not (moto, some S3-compatible stores) keeps them, and its
        ETag then is not the MD5 we sent: ``_call`` retries that too, within the same
        attempts, and it is never taken for a good upload.  Without an MD5 ETag
        (``verify_uploads = "head"``, SSE-KMS) the store's ``Content-MD5`` check is the guard.

        Raises:
            UploadVerifyError: every attempt came back with another ETag.
        """
        def check(resp: dict[str, Any]) -> UploadVerifyError | None:
            etag = str(resp.get("ETag", "")).strip('"')
            if not self._etag_is_md5 or etag == md5:
                return None
            return UploadVerifyError(what=key, algorithm="ETag (MD5)", expected=md5, found=etag)

        return self._call(operation, key, fn, check=check)

    # --- versioning ---------------------------------------------------------------------------
    def bucket_versioning(self) -> bool:
        resp = self._call("GetBucketVersioning", "", lambda: self.client.get_bucket_versioning(
            Bucket=self.bucket))
        return bool(resp.get("Status") == "Enabled")

    # --- uploads ------------------------------------------------------------------------------
    def put_file(self, key: str, path: Path, digests: Digests, *,
                 journal: UploadJournal | None = None, stop: StopFlag | None = None,
                 stat_key: tuple[int, int, int] | None = None,
                 metadata: Mapping[str, str] | None = None) -> PutResult:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise SourceChangedError(path=str(path)) from exc
        try:
            check_stat_key(fd, path, digests, stat_key)
            if digests.size <= self._cfg.multipart_threshold:
                return self._put_single(key, fd, path, digests, metadata)
            try:
                return self._put_multipart(key, fd, digests, journal, stop, metadata)
            except TargetNotFoundError as exc:
                if exc.fields.get("code") != "NoSuchUpload":
                    raise
                # The store forgot the upload (expired or aborted): start again, once.
                log.warning("target.multipart.lost", key=key)
                if journal is not None:
                    journal.finish(key)
                return self._put_multipart(key, fd, digests, journal, stop, metadata)
        finally:
            os.close(fd)

    def _metadata(self, digests: Digests, part_size: int,
                  extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(extra or {}), META_SHA256: digests.sha256, META_MD5: digests.md5,
                META_PART_SIZE: str(part_size)}

    def _put_single(self, key: str, fd: int, path: Path, digests: Digests,
                    extra: Mapping[str, str] | None = None) -> PutResult:
        body: bytes | None = None
        if digests.size <= _IN_MEMORY_PUT:
            body = read_range(fd, 0, digests.size, self._limiter)
            if len(body) != digests.size:
                raise SourceChangedError(path=str(path))
        metadata = self._metadata(digests, 0, extra)
        resp = self._put_checked("PutObject", key, lambda: self.client.put_object(
            Bucket=self.bucket, Key=self._full(key),
            Body=body if body is not None else _FileBody(fd, digests.size, self._limiter),
            ContentLength=digests.size, ContentMD5=_b64(digests.md5),
            ContentType=_content_type(key), Metadata=metadata, **self._write_args()),
            digests.md5)
        remote = RemoteObject(key=key, size=digests.size, etag=str(resp.get("ETag", "")),
                              version_id=resp.get("VersionId"), metadata=metadata)
        return PutResult(remote, bytes_sent=digests.size)

    def _put_multipart(self, key: str, fd: int, digests: Digests,
                       journal: UploadJournal | None, stop: StopFlag | None,
                       extra: Mapping[str, str] | None = None) -> PutResult:
        part_size = choose_part_size(digests.size, self._cfg.multipart_chunksize)
        count = -(-digests.size // part_size)
        metadata = self._metadata(digests, part_size, extra)
        full = self._full(key)
        pending = journal.load(key) if journal is not None else None
        done: dict[int, PartRecord] = {}
        if (pending is not None and pending.sha256 == digests.sha256
                and pending.part_size == part_size and pending.size == digests.size):
            upload_id = pending.upload_id
            done = {n: p for n, p in pending.parts.items() if 1 <= n <= count}
            log.info("target.multipart.resume", key=key, parts_done=len(done), parts=count)
        else:
            if pending is not None:
                self._abort(key, pending.upload_id)
                if journal is not None:
                    journal.finish(key)
            resp = self._call("CreateMultipartUpload", key,
                              lambda: self.client.create_multipart_upload(
                                  Bucket=self.bucket, Key=full, Metadata=metadata,
                                  ContentType=_content_type(key), **self._write_args()))
            upload_id = str(resp["UploadId"])
            if journal is not None:
                journal.begin(key, upload_id, digests.sha256, digests.size, part_size)
            self._abort_strays(key, keep=upload_id,
                               known=journal.known_upload_ids() if journal is not None
                               else set())
        resumed = len(done)
        failed = threading.Event()

        def send(number: int) -> PartRecord:
            if failed.is_set() or (stop is not None and stop.is_set()):
                raise StopRequestedError(what=f"part {number} of {key}")
            offset = (number - 1) * part_size
            data = read_range(fd, offset, min(part_size, digests.size - offset), self._limiter)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            resp = self._put_checked("UploadPart", key, lambda: self.client.upload_part(
                Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                Body=data, ContentLength=len(data), ContentMD5=_b64(md5)), md5)
            record = PartRecord(number, str(resp["ETag"]), md5, len(data))
            if journal is not None:
                journal.part_done(key, record)
            faultpoints.checkpoint("upload.part")
            return record

        todo = [n for n in range(1, count + 1) if n not in done]
        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=self._cfg.part_concurrency,
                                thread_name_prefix="aipsync-part") as pool:
            futures: list[Future[PartRecord]] = [pool.submit(send, n) for n in todo]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in finished):
                failed.set()
            for future in futures:
                exc = future.exception()
                if exc is None:
                    record = future.result()
                    done[record.number] = record
                else:
                    errors.append(exc)
        if errors:
            # A real failure wins over the StopRequestedErrors it caused in sibling parts.
            real = [e for e in errors if not isinstance(e, StopRequestedError)]
            raise (real or errors)[0]
        parts = [{"PartNumber": n, "ETag": done[n].etag} for n in sorted(done)]
        resp = self._call("CompleteMultipartUpload", key,
                          lambda: self.client.complete_multipart_upload(
                              Bucket=self.bucket, Key=full, UploadId=upload_id,
                              MultipartUpload={"Parts": parts}))
        if journal is not None:
            journal.finish(key)
        remote = RemoteObject(key=key, size=digests.size, etag=str(resp.get("ETag", "")),
                              version_id=resp.get("VersionId"), metadata=metadata)
        sent = sum(done[n].size for n in todo)
        return PutResult(remote, bytes_sent=sent, parts_sent=len(todo), parts_resumed=resumed)

    def _abort_strays(self, key: str, *, keep: str, known: set[str]) -> None:
        """Abort the other pending multipart uploads of ``key`` that no journal knows.

        They are ours and useless: a CreateMultipartUpload whose response was lost (the store
        started the upload, the retry started another), or a process killed between the
        create and its journal entry.  Left alone they would hold storage (and show as
        orphans) until ``abort_orphaned_uploads`` reaches their age.  One listing per new
        multipart upload, i.e. per file above the multipart threshold.  Only uploads of
        exactly this key are touched: one mirror writes a key at a time (the mirror lock).
        """
        full = self._full(key)
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        strays: list[str] = []
        while True:
            page = self._call("ListMultipartUploads", key,
                              functools.partial(self.client.list_multipart_uploads, **args))
            strays += [u["UploadId"] for u in page.get("Uploads", [])
                       if u["Key"] == full and u["UploadId"] != keep
                       and u["UploadId"] not in known]
            if not page.get("IsTruncated"):
                break
            args["KeyMarker"] = page.get("NextKeyMarker", "")
            args["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
        for upload_id in strays:
            self._abort(key, upload_id)
        if strays:
            log.warning("target.multipart.strays_aborted", key=key, count=len(strays),
                        detail="uploads of this key left by a lost response or a crash")

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(TargetNotFoundError):
            self._call("AbortMultipartUpload", key, lambda: self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._full(key), UploadId=upload_id))
        log.info("target.multipart.aborted", key=key)

    def put_bytes(self, key: str, data: bytes, *,
                  metadata: Mapping[str, str] | None = None) -> RemoteObject:
        meta = dict(metadata or {})
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        meta.update({META_SHA256: hashlib.sha256(data).hexdigest(), META_MD5: md5,
                     META_PART_SIZE: "0"})
        resp = self._put_checked("PutObject", key, lambda: self.client.put_object(
            Bucket=self.bucket, Key=self._full(key), Body=data, ContentLength=len(data),
            ContentMD5=_b64(md5), ContentType=_content_type(key), Metadata=meta,
            **self._write_args()), md5)
        return RemoteObject(key=key, size=len(data), etag=str(resp.get("ETag", "")),
                            version_id=resp.get("VersionId"), metadata=meta)

    def copy(self, src_key: str, dst_key: str, *, src_version_id: str | None = None,
             if_match: str | None = None, size: int | None = None) -> RemoteObject:
        source: dict[str, str] = {"Bucket": self.bucket, "Key": self._full(src_key)}
        if src_version_id:
            source["VersionId"] = src_version_id
        extra: dict[str, Any] = {}
        if if_match:
            extra["CopySourceIfMatch"] = if_match
        if size is not None and size > _COPY_LIMIT:
            return self._copy_multipart(src_key, dst_key, source, size, if_match)
        resp = self._call("CopyObject", src_key, lambda: self.client.copy_object(
            Bucket=self.bucket, Key=self._full(dst_key), CopySource=source,
            MetadataDirective="COPY", **extra, **self._write_args()),
            version_id=src_version_id)
        return RemoteObject(key=dst_key, size=size if size is not None else -1,
                            etag=str(resp.get("CopyObjectResult", {}).get("ETag", "")),
                            version_id=resp.get("VersionId"))

    def _copy_multipart(self, src_key: str, dst_key: str, source: dict[str, str], size: int,
                        if_match: str | None) -> RemoteObject:
        head = self.head(src_key, version_id=source.get("VersionId"))
        if head is None:
            raise TargetNotFoundError(target=self._display, operation="copy", key=src_key,
                                      version_note="")
        if if_match and head.etag != if_match:
            raise PreconditionFailedError(target=self._display, operation="copy", key=src_key)
        full = self._full(dst_key)
        resp = self._call("CreateMultipartUpload", dst_key,
                          lambda: self.client.create_multipart_upload(
                              Bucket=self.bucket, Key=full, Metadata=dict(head.metadata),
                              ContentType=_content_type(dst_key), **self._write_args()))
        upload_id = str(resp["UploadId"])
        parts = []
        part_size = choose_part_size(size, _COPY_PART)
        try:
            for number, start in enumerate(range(0, size, part_size), start=1):
                end = min(size, start + part_size) - 1
                part = self._call("UploadPartCopy", dst_key, functools.partial(
                    self.client.upload_part_copy, Bucket=self.bucket, Key=full,
                    UploadId=upload_id, PartNumber=number, CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}"))
                parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
            done = self._call("CompleteMultipartUpload", dst_key,
                              lambda: self.client.complete_multipart_upload(
                                  Bucket=self.bucket, Key=full, UploadId=upload_id,
                                  MultipartUpload={"Parts": parts}))
        except BaseException:
            self._abort(dst_key, upload_id)
            raise
        return RemoteObject(key=dst_key, size=size, etag=str(done.get("ETag", "")),
                            version_id=done.get("VersionId"), metadata=head.metadata)

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        """Delete ``key`` (one version of it with ``version_id``).

        Raises:
            ObjectLockedError: the version is under Object Lock (S3 refused with 403
                AccessDenied, and its retention or legal hold says why).
        """
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if version_id:
            args["VersionId"] = version_id
        try:
            with contextlib.suppress(TargetNotFoundError):
                self._call("DeleteObject", key, lambda: self.client.delete_object(**args),
                           version_id=version_id)
        except TargetPermanentError as exc:
            if not version_id or exc.fields.get("code") != "AccessDenied":
                raise
            lock = self.retention(key, version_id=version_id)
            if lock is None or not lock.locked(datetime.now(UTC)):
                raise
            raise ObjectLockedError(target=self._display, operation="DeleteObject",
                                    key=f"{key} (version {version_id})",
                                    detail=lock.describe()) from exc

    def object_lock_enabled(self) -> bool:
        if self._object_lock is None:
            try:
                resp = self._call("GetObjectLockConfiguration", "",
                                  lambda: self.client.get_object_lock_configuration(
                                      Bucket=self.bucket))
                enabled = resp.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._object_lock = enabled == "Enabled"
            except TargetError as exc:
                # No configuration (S3's answer for a bucket without Object Lock), or a
                # store that does not implement the call: nothing can be locked there.
                if exc.fields.get("code") not in _NO_OBJECT_LOCK_CODES:
                    raise
                self._object_lock = False
        return self._object_lock

    def retention(self, key: str, *, version_id: str | None = None) -> Retention | None:
        resp = self._head(key, version_id)
        if resp is None:
            return None
        mode = resp.get("ObjectLockMode")
        until = resp.get("ObjectLockRetainUntilDate")
        hold = resp.get("ObjectLockLegalHoldStatus") == "ON"
        if mode is None and until is None and not hold:
            return None
        return Retention(mode=mode, until=until.astimezone(UTC) if until else None,
                         legal_hold=hold)

    def abort_orphaned_uploads(self, known_upload_ids: set[str], *,
                               older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        prefix = self._full("")
        aborted = 0
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self._call("ListMultipartUploads", prefix,
                              functools.partial(self.client.list_multipart_uploads, **args))
            for upload in page.get("Uploads", []):
                initiated = upload.get("Initiated")
                if upload["UploadId"] in known_upload_ids:
                    continue
                if initiated is not None and initiated > cutoff:
                    continue
                self._abort(self._rel(upload["Key"]), upload["UploadId"])
                aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            args["KeyMarker"] = page.get("NextKeyMarker", "")
            args["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    # --- reads --------------------------------------------------------------------------------
    def _head(self, key: str, version_id: str | None) -> dict[str, Any] | None:
        """The HeadObject response of ``key`` (or one version of it); None when missing."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if version_id:
            args["VersionId"] = version_id
        try:
            resp: dict[str, Any] = self._call("HeadObject", key,
                                              lambda: self.client.head_object(**args),
                                              version_id=version_id)
        except TargetNotFoundError:
            return None
        return resp

    def head(self, key: str, *, version_id: str | None = None) -> RemoteObject | None:
        resp = self._head(key, version_id)
        if resp is None:
            return None
        return RemoteObject(key=key, size=int(resp.get("ContentLength", 0)),
                            etag=str(resp.get("ETag", "")), version_id=resp.get("VersionId"),
                            last_modified=resp.get("LastModified"),
                            metadata={str(k).lower(): str(v)
                                      for k, v in resp.get("Metadata", {}).items()})

    def get_bytes(self, key: str, *, version_id: str | None = None,
                  byte_range: tuple[int, int] | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if version_id:
            args["VersionId"] = version_id
        if byte_range is not None:
            start, end = byte_range
            if end <= start:
                return b""
            # HTTP ranges are inclusive (RFC 9110 section 14.1.2); S3 answers a range that
            # runs past the end with the bytes there are.
            args["Range"] = f"bytes={start}-{end - 1}"

        def read() -> bytes:
            body = self.client.get_object(**args)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return self._call("GetObject", key, read, version_id=version_id)

    def get_file(self, key: str, dest: Path, *, sha256: str, size: int | None = None,
                 version_id: str | None = None, durable: bool = True) -> Digests:
        base_args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if version_id:
            base_args["VersionId"] = version_id

        def fetch(offset: int) -> Iterator[bytes]:
            args = dict(base_args)
            if offset:
                args["Range"] = f"bytes={offset}-"
            body = self._call("GetObject", key, lambda: self.client.get_object(**args)["Body"],
                              version_id=version_id)
            try:
                yield from body.iter_chunks(_STREAM_CHUNK)
            except (bx.BotoCoreError, ConnectionError, TimeoutError) as exc:
                raise self._translate(exc, "GetObject", key, 1, version_id) from exc
            finally:
                body.close()

        return download_resumable(key=key, dest=dest, sha256=sha256, size=size, fetch=fetch,
                                  max_attempts=self._max_attempts, limiter=self._limiter,
                                  sleep=self._sleep, durable=durable)

    def list_keys(self, prefix: str = "") -> Iterator[RemoteObject]:
        full_prefix = self._full(prefix) if prefix or self.prefix else ""
        if self.prefix and not prefix:
            full_prefix = self.prefix + "/"
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full_prefix}
        while True:
            page = self._call("ListObjectsV2", prefix,
                              functools.partial(self.client.list_objects_v2, **args))
            for item in page.get("Contents", []):
                yield RemoteObject(key=self._rel(item["Key"]), size=int(item["Size"]),
                                   etag=str(item.get("ETag", "")),
                                   last_modified=item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    def list_versions(self, prefix: str = "") -> Iterator[RemoteVersion]:
        full_prefix = self._full(prefix) if prefix else (f"{self.prefix}/" if self.prefix
                                                         else "")
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full_prefix}
        while True:
            page = self._call("ListObjectVersions", prefix,
                              functools.partial(self.client.list_object_versions, **args))
            for item in page.get("Versions", []):
                yield RemoteVersion(key=self._rel(item["Key"]), version_id=item["VersionId"],
                                    size=int(item.get("Size", 0)),
                                    is_latest=bool(item.get("IsLatest")),
                                    last_modified=item.get("LastModified"))
            for item in page.get("DeleteMarkers", []):
                yield RemoteVersion(key=self._rel(item["Key"]), version_id=item["VersionId"],
                                    size=0, is_latest=bool(item.get("IsLatest")),
                                    is_delete_marker=True,
                                    last_modified=item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            args["KeyMarker"] = page.get("NextKeyMarker", "")
            args["VersionIdMarker"] = page.get("NextVersionIdMarker", "")
