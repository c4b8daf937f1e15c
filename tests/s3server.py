"""A real S3-compatible server for the object-storage tests: moto's standalone server, started
as a subprocess on an ephemeral 127.0.0.1 port, spoken to over HTTP by s3fs and boto3."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

_LISTENING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")


@dataclass
class S3Server:
    """A running moto server: its endpoint, and the credentials it accepts."""

    endpoint: str
    key: str = "testing"
    secret: str = "testing"
    region: str = "us-east-1"
    output: list[str] = field(default_factory=list)

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client of this server (to check behind mloop's back)."""
        import boto3

        options = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.key,
            "aws_secret_access_key": self.secret,
            "region_name": self.region,
        }
        return boto3.client("s3", **(options | kwargs))

    def new_bucket(self) -> str:
        name = f"mloop-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def env(self) -> dict[str, str]:
        """The usual AWS variables for this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
        }


@contextmanager
def moto_server(env: dict[str, str] | None = None) -> Iterator[S3Server]:
    """Start ``python -m moto.server`` on port 0 and read the port it bound from its log."""
    child_env = {**os.environ, **(env or {})}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        child_env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env,
    )
    assert proc.stdout is not None
    output: list[str] = []
    port = None
    for line in proc.stdout:  # blocks until the server says where it listens (or dies)
        output.append(line)
        found = _LISTENING.search(line)
        if found:
            port = int(found.group(1))
            break
    if port is None:
        proc.wait(timeout=30)
        raise RuntimeError("moto's server did not start:\n" + "".join(output))
    # keep draining its log so the pipe never fills and blocks the server
    drain = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    drain.start()
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", output=output)
    httpx.get(server.endpoint + "/moto-api/", timeout=30)  # answers once it serves
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(timeout=15)
        proc.stdout.close()
