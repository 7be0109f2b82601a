"""Embedded S3 and DynamoDB for the local server and tests.

Two modes: "strict" (default; local/backends.py: ministack's S3 and DynamoDB
Local as subprocesses, data kept on disk) and "memory" (moto's server in this
process, everything lost at exit; REGISTRY_EMBEDDED=memory).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Optional, Union

from .backends import free_port


class _Serialised:
    """moto's backends are not thread-safe (under 50 concurrent pushes it raised `dictionary
    changed size during iteration` and answered 500): one request at a time per service
    (DynamoDB and S3 share no state, so they need not wait for each other). moto answers
    from memory, so the whole response is produced inside the lock."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.dynamodb = threading.Lock()
        self.s3 = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> list:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        with self.dynamodb if target.startswith("DynamoDB") else self.s3:
            result = self.app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()


def _list_moto_modules_once() -> None:
    """moto finds the service of every request by listing its own package directory
    (a listdir and ~150 stats per request, a fifth of its time per call): list it once."""
    import moto.backends as backends

    if not isinstance(backends.list_of_moto_modules, _Listed):
        backends.list_of_moto_modules = _Listed(tuple(backends.list_of_moto_modules()))


class _Listed:
    def __init__(self, names: tuple) -> None:
        self.names = names

    def __call__(self) -> tuple:
        return self.names


class EmbeddedAWS:
    """moto's server on loopback, one request at a time; points the AWS SDK at it."""

    def __init__(self, port: Optional[int] = None) -> None:
        self.port = port or free_port()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "EmbeddedAWS":
        """Start moto and export endpoint and dummy credentials to this process."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from . import inprocess
        from .keepalive import KeepAliveServer
        from .moto_tx import install

        install()  # transactions without whole-table copies (local/moto_tx.py)
        _list_moto_modules_once()
        app = _Serialised(DomainDispatcherApplication(create_backend_app))
        self._server = KeepAliveServer("127.0.0.1", self.port, app, whole_body=True).start()
        inprocess.route(self.url, app)   # this process's SDK calls skip the socket
        os.environ["AWS_ENDPOINT_URL_S3"] = self.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        return self

    def stop(self) -> None:
        if self._server is not None:
            from . import inprocess

            inprocess.unroute(self.url)
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def describe(self) -> str:
        return f"in-memory S3 and DynamoDB (moto) at {self.url}: everything is lost when this process stops"


def start_backend(mode: Optional[str] = None, data_dir: Optional[Union[str, Path]] = None) -> Any:
    """Start the embedded backend ("strict" unless REGISTRY_EMBEDDED=memory) and export its
    endpoints and credentials to this process's environment. Call from the main thread: the
    strict backends are tied to the starting thread's life (PDEATHSIG)."""
    mode = (mode or os.environ.get("REGISTRY_EMBEDDED") or "strict").strip().lower()
    if mode == "memory":
        return EmbeddedAWS(int(os.environ.get("EMBEDDED_AWS_PORT", "0")) or None).start()
    if mode != "strict":
        raise ValueError(f"REGISTRY_EMBEDDED={mode!r}: use 'strict' (default) or 'memory'")
    from .backends import StrictBackends

    backends = StrictBackends(Path(data_dir or default_data_dir()),
                              int(os.environ.get("EMBEDDED_S3_PORT", "0")) or None,
                              int(os.environ.get("EMBEDDED_DYNAMODB_PORT", "0")) or None).start()
    os.environ.update(backends.environment())
    return backends


def default_data_dir() -> Path:
    """REGISTRY_DATA_DIR, else .local-data/ in the current directory."""
    return Path(os.environ.get("REGISTRY_DATA_DIR") or Path.cwd() / ".local-data")


def provision(services: Any) -> None:
    """Create the bucket (with the uploads/ lifecycle rule) and the table if missing, with
    the clients of `services` (a chalicelib.container.Container)."""
    from chalicelib.storage import dynamo

    s = services.settings
    s3 = services.s3_client()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if s.bucket_name not in existing:
        where = {} if s.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": s.region}}
        try:
            s3.create_bucket(Bucket=s.bucket_name, **where)
        except s3.exceptions.ClientError as e:  # created meanwhile by another process starting
            if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    s3.put_bucket_lifecycle_configuration(Bucket=s.bucket_name, LifecycleConfiguration={"Rules": [{
        "ID": "expire-upload-leftovers", "Status": "Enabled", "Filter": {"Prefix": "uploads/"},
        "Expiration": {"Days": 2}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}, {
        # multipart uploads planned at a blob's key (direct uploads with the digest) and
        # copies into blobs/: aborted when abandoned, as infra/template.py does
        "ID": "abort-abandoned-multipart", "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]})
    client = services.dynamodb_client()  # binds the models to the table
    try:
        dynamo.create_table(client)
    except client.exceptions.ClientError as e:  # a kept table: TTL is already on
        if "already enabled" not in str(e).lower():
            raise


def ensure_admin(services: Any) -> tuple[str, str, bool]:
    """The first administrator from REGISTRY_ADMIN_USERNAME / REGISTRY_ADMIN_PASSWORD
    (default user `admin` with a generated password). Returns (user, password, created)."""
    import secrets

    user = os.environ.get("REGISTRY_ADMIN_USERNAME") or "admin"
    password = os.environ.get("REGISTRY_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    created = services.accounts().ensure_admin(user, password)
    return user, password, created
