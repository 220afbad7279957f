"""The embedded S3: a moto server on loopback, shared by the local API and the benchmark."""

from __future__ import annotations

import logging
import os
from typing import Any


def start_embedded_s3(bucket: str) -> tuple[Any, str, Any]:
    """Start moto's S3 on 127.0.0.1 with local-only credentials; returns (server, endpoint URL, boto3 client)."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log is noise here
    # Local-only credentials: the embedded S3 accepts anything, and real AWS must never be reached from here.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    return server, endpoint, client
