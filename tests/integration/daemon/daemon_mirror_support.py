"""Helpers for the mirror's integration tests (imported by their conftest and tests).

``MirrorEnv`` holds a staging folder, a state folder and a target URL (moto S3 on
127.0.0.1, or a file:// folder), builds configurations, stages AIPs the way the exporter does
(temporary name, then rename) and opens targets whose ``requests`` counters tests inspect.
"""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import DaemonFolders

from daemon.core.config import Config, parse_config
from daemon.targets import Target, open_target

MiB = 1024 * 1024



@dataclass
class MirrorEnv(DaemonFolders):
    """A staging folder, a state folder and a target, with helpers."""

    kind: str
    root: Path
    url: str
    endpoint: str | None
    bucket: str | None
    overrides: dict[str, Any] = field(default_factory=dict)
    opened: list[Target] = field(default_factory=list)

    def config(self, **target: Any) -> Config:
        table: dict[str, Any] = {"url": self.url, "multipart_threshold": 6 * MiB,
                                 "multipart_chunksize": 5 * MiB, "transfers": 4,
                                 "max_attempts": 2}
        if self.endpoint:
            table.update(endpoint_url=self.endpoint, region="us-east-1",
                         addressing_style="path")
        table.update(self.overrides)
        table.update(target)
        return parse_config({
            "repository": {"path": str(self.root / "repo"), "eperson": "admin@example.org"},
            "staging": {"dir": str(self.staging)},
            "state": {"dir": str(self.state_dir)},
            "target": table,
        })

    def target(self, config: Config | None = None) -> Target:
        tgt = open_target((config or self.config()).target)
        self.opened.append(tgt)
        return tgt

    def stage(self, name: str, data: bytes) -> Path:
        """Put an AIP into staging atomically, as the exporter does."""
        self.staging.mkdir(parents=True, exist_ok=True)
        tmp = self.staging / f".aipsync-tmp-{uuid.uuid4().hex}"
        tmp.write_bytes(data)
        final = self.staging / name
        os.replace(tmp, final)
        return final

    def raw_s3(self) -> Any:
        """A plain boto3 client on the moto server (for setting up and corrupting)."""
        import boto3
        from botocore.config import Config as BotoConfig

        assert self.endpoint is not None
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))

    def corrupt(self, key: str, data: bytes) -> None:
        """Replace the stored bytes of ``key`` but keep its metadata (a lying store)."""
        if self.kind == "s3":
            client = self.raw_s3()
            head = client.head_object(Bucket=self.bucket, Key=f"backup/{key}")
            client.put_object(Bucket=self.bucket, Key=f"backup/{key}", Body=data,
                              Metadata=head["Metadata"])
        else:
            path = self.root / "target" / key
            path.write_bytes(data)


def payload(seed: int, size: int) -> bytes:
    """Deterministic incompressible bytes."""
    return random.Random(seed).randbytes(size)
