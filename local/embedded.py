"""Embedded S3 and DynamoDB (moto's server, in-process) for the local server and tests."""
from __future__ import annotations

import os
import socket
from typing import Optional


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedAWS:
    """moto's threaded server on loopback; points the AWS SDK at it via AWS_ENDPOINT_URL_*."""

    def __init__(self, port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedAWS":
        """Start moto and export endpoint and dummy credentials to this process."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        os.environ["AWS_ENDPOINT_URL_S3"] = self.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def provision() -> None:
    """Create the bucket (with the uploads/ lifecycle rule) and the table if missing."""
    from chalicelib import bootstrap
    from chalicelib.storage import dynamo

    s = bootstrap.settings()
    s3 = bootstrap.s3_client()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if s.bucket_name not in existing:
        if s.region == "us-east-1":
            s3.create_bucket(Bucket=s.bucket_name)
        else:
            s3.create_bucket(Bucket=s.bucket_name,
                             CreateBucketConfiguration={"LocationConstraint": s.region})
    s3.put_bucket_lifecycle_configuration(Bucket=s.bucket_name, LifecycleConfiguration={"Rules": [{
        "ID": "expire-upload-leftovers", "Status": "Enabled", "Filter": {"Prefix": "uploads/"},
        "Expiration": {"Days": 2}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]})
    bootstrap.metadata()
    dynamo.create_table(bootstrap.dynamodb_client())


def ensure_admin() -> tuple[str, str, bool]:
    """The first administrator from REGISTRY_ADMIN_USERNAME / REGISTRY_ADMIN_PASSWORD
    (default user `admin` with a generated password). Returns (user, password, created)."""
    import secrets

    from chalicelib import bootstrap

    user = os.environ.get("REGISTRY_ADMIN_USERNAME") or "admin"
    password = os.environ.get("REGISTRY_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    created = bootstrap.accounts().ensure_admin(user, password)
    return user, password, created
