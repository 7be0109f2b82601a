"""Builds the AWS clients, adapters and use cases once per process, lazily.

Nothing is created at import time: tests (moto) and the local server set the
environment first, and a cold start pays only for what the first request uses.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Optional

from .config import Settings

_lock = threading.Lock()
_state: dict[str, Any] = {}


def settings() -> Settings:
    """The process-wide settings (read from the environment once)."""
    if "settings" not in _state:
        _state["settings"] = Settings.from_env()
    return _state["settings"]


def s3_client() -> Any:
    """The boto3 S3 client (path-style addressing when an endpoint is configured)."""
    with _lock:
        if "s3" not in _state:
            import boto3
            from botocore.config import Config

            custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            cfg = Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 3},
                s3={"addressing_style": "path" if custom else "auto"},
            )
            _state["s3"] = boto3.session.Session().client("s3", region_name=settings().region, config=cfg)
        return _state["s3"]


def dynamodb_client() -> Any:
    """The botocore DynamoDB client shared by every pynamodb model."""
    metadata()
    from .storage.dynamo import Item

    return Item._get_connection().connection.client


def metadata() -> Any:
    """The DynamoDB MetadataStore."""
    with _lock:
        if "meta" not in _state:
            from .storage import dynamo

            s = settings()
            dynamo.bind(s.table_name, s.region)
            _state["meta"] = dynamo.DynamoMetadataStore()
        return _state["meta"]


def registry() -> Any:
    """The Registry use cases wired to the AWS adapters."""
    reg: Optional[Any] = _state.get("registry")
    if reg is None:
        from .domain.registry import Registry
        from .storage.s3 import S3BlobStore

        meta = metadata()
        reg = Registry(meta, S3BlobStore(s3_client(), settings().bucket_name), settings())
        _state["registry"] = reg
    return reg


def reset() -> None:
    """Forget every client and setting (tests change the environment between runs)."""
    with _lock:
        _state.clear()
