"""What the S3 benchmarks share: moto's S3 server in its own process on 127.0.0.1, the fake
credentials, a clean environment for the tools, and rclone's settings for the same endpoint.

Used by ``bench/mirror.py``, ``bench/restore.py`` and ``bench/scale.py`` (run as scripts, so
this folder is on ``sys.path``).  Nothing here is timed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The server: started with its port as the only argument, says "ready", stops on SIGTERM.
SERVER = textwrap.dedent("""
    import os, signal, sys, threading
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    done.wait()
    os._exit(0)
""")
#: Fake credentials; no configuration file or instance metadata is read.
CREDS = {"AWS_ACCESS_KEY_ID": "bench-access-key", "AWS_SECRET_ACCESS_KEY": "bench-secret",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
         "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment() -> dict[str, str]:
    """This process's environment without AWS, rclone or aipsync settings, plus ``CREDS``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "RCLONE_", "AIPSYNC_"))}
    env.update(CREDS)
    return env


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    pid: int

    def client(self) -> Any:
        """A boto3 S3 client for the server (path-style addressing)."""
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
                            config=BotoConfig(s3={"addressing_style": "path"}))

    def write_config(self, path: Path, *, repo: Path, staging: Path, state: Path,
                     bucket: str, transfers: int, target: dict[str, str] | None = None,
                     log_level: str | None = None) -> Path:
        """An aipsync config backing ``repo`` up to ``s3://<bucket>/aips`` on this server
        (``target``: more ``[target]`` keys, written as strings)."""
        lines = ["[repository]", f'path = "{repo}"', 'eperson = "admin@example.org"',
                 "[staging]", f'dir = "{staging}"', "[state]", f'dir = "{state}"',
                 "[target]", f'url = "s3://{bucket}/aips"', f'endpoint_url = "{self.endpoint}"',
                 'region = "us-east-1"', 'addressing_style = "path"',
                 f"transfers = {transfers}",
                 *(f'{key} = "{value}"' for key, value in (target or {}).items())]
        if log_level is not None:
            lines += ["[log]", f'level = "{log_level}"']
        path.write_text("\n".join(lines) + "\n")
        return path

    def rclone_env(self, env: dict[str, str], config: Path) -> dict[str, str]:
        """``env`` plus rclone's settings for this endpoint; ``config`` does not exist, so
        rclone reads no configuration file."""
        return {**env, "RCLONE_CONFIG": str(config),
                "RCLONE_S3_PROVIDER": "Other", "RCLONE_S3_ENDPOINT": self.endpoint,
                "RCLONE_S3_REGION": "us-east-1", "RCLONE_S3_FORCE_PATH_STYLE": "true",
                "RCLONE_S3_ACCESS_KEY_ID": CREDS["AWS_ACCESS_KEY_ID"],
                "RCLONE_S3_SECRET_ACCESS_KEY": CREDS["AWS_SECRET_ACCESS_KEY"]}


@contextmanager
def moto_server(log: Path, env: dict[str, str]) -> Iterator[MotoServer]:
    """Run moto's S3 server (stderr to ``log``) for the ``with`` block, then stop it."""
    port = free_port()
    with open(log, "w") as server_err:
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env,
                                  stdout=subprocess.PIPE, stderr=server_err, text=True)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit(f"moto server did not start; see {log}")
        yield MotoServer(f"http://127.0.0.1:{port}", server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
