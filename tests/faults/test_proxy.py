"""The fault proxy itself: each action does what it says, against moto's real server.

A plain boto3 client (no retries, 1 s read timeout) talks through the proxy; what the store
really holds is read directly from moto.  These tests keep the fault suites honest: a proxy
that silently forwarded everything would make every scenario pass.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import pytest
from proxy import Fault, FaultProxy, s3_operation


def client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing-access-key", aws_secret_access_key="testing-secret-key",
        config=BotoConfig(s3={"addressing_style": "path"}, read_timeout=1, connect_timeout=1,
                          retries={"total_max_attempts": 1},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"proxy-{uuid.uuid4().hex[:12]}"
    client(s3_endpoint).create_bucket(Bucket=name)
    return name


def test_s3_operation_names() -> None:
    cases = [
        ("PUT", "/b/k", {}, {}, "PutObject"),
        ("PUT", "/b/k", {"partNumber", "uploadId"}, {}, "UploadPart"),
        ("PUT", "/b/k", {}, {"x-amz-copy-source": "b/o"}, "CopyObject"),
        ("POST", "/b/k", {"uploads"}, {}, "CreateMultipartUpload"),
        ("POST", "/b/k", {"uploadId"}, {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", {"uploadId"}, {}, "AbortMultipartUpload"),
        ("GET", "/b", {"list-type"}, {}, "ListObjectsV2"),
        ("GET", "/b", {"uploads"}, {}, "ListMultipartUploads"),
        ("GET", "/b", {"versioning"}, {}, "GetBucketVersioning"),
        ("GET", "/b/ITEM%40123456789-4.zip", {}, {}, "GetObject"),
        ("HEAD", "/b/k", {}, {}, "HeadObject"),
    ]
    for method, path, query, headers, op in cases:
        assert s3_operation(method, path, query, headers)[0] == op, (method, path, query)
    assert s3_operation("GET", "/b/p/ITEM%40123456789-4.zip", {})[2] == "p/ITEM@123456789-4.zip"


def test_forwards_and_logs(proxy: FaultProxy, bucket: str, s3_endpoint: str) -> None:
    c = client(proxy.url)
    c.put_object(Bucket=bucket, Key="a/one", Body=b"hello")
    assert c.get_object(Bucket=bucket, Key="a/one")["Body"].read() == b"hello"
    assert c.head_object(Bucket=bucket, Key="a/one")["ContentLength"] == 5
    ops = [(e.op, e.key, e.status, e.fault) for e in proxy.log()]
    assert ops == [("PutObject", "a/one", 200, None), ("GetObject", "a/one", 200, None),
                   ("HeadObject", "a/one", 200, None)]


@pytest.mark.parametrize(("fault", "code"), [
    (Fault("503"), "ServiceUnavailable"),
    (Fault("slowdown"), "SlowDown"),
    (Fault("500"), "InternalError"),
    (Fault("error", status=403, code="AccessDenied"), "AccessDenied"),
    (Fault("error", status=404, code="NoSuchBucket"), "NoSuchBucket"),
])
def test_errors_are_not_forwarded(proxy: FaultProxy, bucket: str, s3_endpoint: str,
                                  fault: Fault, code: str) -> None:
    from botocore.exceptions import ClientError

    proxy.add(fault)
    with pytest.raises(ClientError) as info:
        client(proxy.url).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert info.value.response["Error"]["Code"] == code
    assert not client(s3_endpoint).list_objects_v2(Bucket=bucket).get("Contents")
    assert proxy.faults_injected() == {fault.action: 1}


def test_reset_before_and_after(proxy: FaultProxy, bucket: str, s3_endpoint: str) -> None:
    from botocore.exceptions import BotoCoreError

    proxy.add(Fault("reset", path="before", nth=1), Fault("reset-after", path="after", nth=1))
    c = client(proxy.url)
    for key in ("before", "after"):
        with pytest.raises(BotoCoreError):
            c.put_object(Bucket=bucket, Key=key, Body=b"x")
    held = {o["Key"] for o in client(s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]}
    assert held == {"after"}, "reset-after lets the store apply the request"
    c.put_object(Bucket=bucket, Key="before", Body=b"x")  # nth=1: the retry goes through


def test_stall_outlives_the_read_timeout(proxy: FaultProxy, bucket: str) -> None:
    from botocore.exceptions import ReadTimeoutError

    proxy.add(Fault("stall", op="GetObject", nth=1, stall_seconds=3))
    c = client(proxy.url)
    c.put_object(Bucket=bucket, Key="k", Body=b"x")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        c.get_object(Bucket=bucket, Key="k")
    assert time.monotonic() - started < 2.5


def test_truncate_and_corrupt(proxy: FaultProxy, bucket: str, s3_endpoint: str) -> None:
    from botocore.exceptions import BotoCoreError

    data = bytes(range(256)) * 64
    c, direct = client(proxy.url), client(s3_endpoint)
    c.put_object(Bucket=bucket, Key="k", Body=data)
    proxy.add(Fault("truncate", op="GetObject", nth=1))
    with pytest.raises(BotoCoreError):
        c.get_object(Bucket=bucket, Key="k")["Body"].read()
    proxy.add(Fault("corrupt-response", op="GetObject", nth=1))
    got = c.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert len(got) == len(data) and got != data
    assert direct.get_object(Bucket=bucket, Key="k")["Body"].read() == data
    proxy.add(Fault("corrupt-request", op="PutObject", nth=1))
    c.put_object(Bucket=bucket, Key="k2", Body=data)
    stored = direct.get_object(Bucket=bucket, Key="k2")["Body"].read()
    assert len(stored) == len(data) and stored != data
    assert proxy.faults_injected() == {"truncate": 1, "corrupt-response": 1,
                                       "corrupt-request": 1}


def test_rate_is_seeded_and_per_key_limits(s3_endpoint: str, bucket: str) -> None:
    # The draw is seeded by the request too, bucket name included: a fixed bucket makes the
    # requests, so the draws, the same on every run (the shared fixture's name is random).
    seeded = "proxy-rate-seeded"
    with contextlib.suppress(Exception):
        client(s3_endpoint).create_bucket(Bucket=seeded)

    def run(seed: int) -> list[str | None]:
        with FaultProxy(s3_endpoint, seed=seed, deadline=60,
                        faults=[Fault(("503", "500"), op="HeadObject", rate=0.5)]) as p:
            c = client(p.url)
            for n in range(40):
                with contextlib.suppress(Exception):
                    c.head_object(Bucket=seeded, Key=f"k{n}")
            return [e.fault for e in p.log()]

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other
    assert 8 < sum(f is not None for f in first) < 32
    with FaultProxy(s3_endpoint, seed=3, deadline=60,
                    faults=[Fault("503", op="PutObject", per_key=1)]) as p:
        c = client(p.url)
        for key in ("a", "b"):
            for _ in range(2):
                with contextlib.suppress(Exception):
                    c.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert [(e.key, e.status) for e in p.log()] == [("a", 503), ("a", 200), ("b", 503),
                                                         ("b", 200)]


def test_the_proxy_stops_by_itself(s3_endpoint: str) -> None:
    from botocore.exceptions import BotoCoreError

    p = FaultProxy(s3_endpoint, deadline=0.5)
    url = p.start()
    try:
        time.sleep(1.0)
        assert p._thread is not None and not p._thread.is_alive()
        with pytest.raises(BotoCoreError):
            client(url).list_buckets()
    finally:
        p.stop()
