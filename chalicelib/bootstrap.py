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

            from .config import s3_loopback

            custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            # the embedded S3 on loopback: no payload hashing (config.s3_loopback says why)
            fast = s3_loopback(custom)
            cfg = Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 3},
                s3={"addressing_style": "path" if custom else "auto",
                    **({"payload_signing_enabled": False} if fast else {})},
                **({"request_checksum_calculation": "when_required"} if fast else {}),
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
        from .domain.helm import HelmIndexHook
        from .domain.registry import Registry
        from .storage.helm_dynamo import DynamoHelmIndex
        from .storage.s3 import S3BlobStore

        from .domain.notify import EventNotifier

        meta = metadata()
        blobs = S3BlobStore(s3_client, settings().bucket_name)
        reg = Registry(meta, blobs, settings(), hooks=[HelmIndexHook(meta, blobs, DynamoHelmIndex())])
        reg.tag_rules = tag_rules(blobs)
        reg.notify = EventNotifier(events(), meter() if settings().metering else None)
        _state["registry"] = reg
    return reg


def helm() -> Any:
    """The classic Helm chart repository's use cases (domain/helm.py)."""
    charts = _state.get("helm")
    if charts is None:
        from .domain.helm import HelmCharts
        from .storage.helm_dynamo import DynamoHelmIndex

        charts = _state["helm"] = HelmCharts(registry(), DynamoHelmIndex())
    return charts


def tag_rules(blobs: Any = None) -> Any:
    """Tag policies, expiry and retention (domain/tag_policy.py) on the DynamoDB adapter."""
    rules = _state.get("tag_rules")
    if rules is None:
        from .domain.tag_policy import TagRules
        from .storage.lifecycle_dynamo import DynamoTagLifecycle
        from .storage.s3 import S3BlobStore

        metadata()  # binds the models to the table
        blobs = blobs or S3BlobStore(s3_client, settings().bucket_name)
        rules = _state["tag_rules"] = TagRules(DynamoTagLifecycle(), blobs, settings())
    return rules


def tag_admin() -> Any:
    """Tag policies, expiry and retention runs (domain/tag_admin.py)."""
    adm = _state.get("tag_admin")
    if adm is None:
        from .domain.tag_admin import build

        reg = registry()
        rules = reg.tag_rules
        adm = _state["tag_admin"] = build(rules, rules.blobs.get, reg.tag_removed)
    return adm


def gc() -> Any:
    """The garbage collector (domain/gc.py) on the DynamoDB adapter, announcing on the event bus."""
    col = _state.get("gc")
    if col is None:
        from .domain.events import GC_COLLECTED, make_event
        from .domain.gc import GarbageCollector
        from .storage.dynamo_gc import DynamoGcStore
        from .storage.s3 import S3BlobStore

        metadata()  # binds the models to the table

        def announce(ns: str, data: dict) -> None:
            events().publish(make_event(GC_COLLECTED, ns, data))

        col = _state["gc"] = GarbageCollector(DynamoGcStore(), S3BlobStore(s3_client, settings().bucket_name),
                                              on_collected=announce)
    return col


def quotas() -> Any:
    """Namespace quotas' admin use cases (domain/quotas.py)."""
    q = _state.get("quotas")
    if q is None:
        from .domain.quotas import Quotas
        from .storage.dynamo_quota import DynamoQuotaStore

        metadata()
        q = _state["quotas"] = Quotas(DynamoQuotaStore())
    return q


def accounts() -> Any:
    """The Accounts use cases on the DynamoDB account store."""
    acc = _state.get("accounts")
    if acc is None:
        from .domain.accounts import Accounts
        from .storage.accounts_dynamo import DynamoAccountStore

        metadata()  # binds the models to the table
        acc = _state["accounts"] = Accounts(DynamoAccountStore())
    return acc


def token_signer() -> Any:
    """Signs tokens: KMS when deployed, else a PEM key (from env, or a local file)."""
    with _lock:
        if "signer" not in _state:
            s = settings()
            if s.kms_key_id:
                import boto3

                from .storage.kms import KmsSigner

                client = boto3.session.Session().client("kms", region_name=s.region)
                _state["signer"] = KmsSigner(client, s.kms_key_id, s.token_public_key_pem.encode() or None)
            else:
                from .auth.tokens import LocalSigner

                _state["signer"] = LocalSigner(_local_key_pem(s))
        return _state["signer"]


def _local_key_pem(s: Settings) -> bytes:
    if s.token_key_pem:
        return s.token_key_pem.encode()
    if not s.token_key_file:
        raise RuntimeError("no token signing key: set REGISTRY_KMS_KEY_ID, REGISTRY_TOKEN_KEY "
                           "or REGISTRY_TOKEN_KEY_FILE")
    from .auth.tokens import LocalSigner

    if not os.path.exists(s.token_key_file):
        os.makedirs(os.path.dirname(os.path.abspath(s.token_key_file)), exist_ok=True)
        fd = os.open(s.token_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(LocalSigner.generate_pem())
    with open(s.token_key_file, "rb") as f:
        return f.read()


def token_verifier() -> Any:
    """Verifies tokens with the signer's public key (cached for the process)."""
    if "verifier" not in _state:
        from .auth.tokens import Verifier

        s = settings()
        pem = s.token_public_key_pem.encode() if s.token_public_key_pem else token_signer().public_key_pem()
        _state["verifier"] = Verifier(pem)
    return _state["verifier"]


def usage_store() -> Any:
    """The DynamoDB UsageStore (per-namespace, per-day counters)."""
    with _lock:
        if "usage_store" not in _state:
            from .storage.metering_dynamo import DynamoUsageStore

            _state["usage_store"] = DynamoUsageStore()
    metadata()  # binds the models to the table
    return _state["usage_store"]


def meter() -> Any:
    """The process-wide UsageMeter (its store is built on the first flush)."""
    with _lock:
        if "meter" not in _state:
            from .domain.metering import UsageMeter

            s = settings()
            _state["meter"] = UsageMeter(usage_store, s.usage_flush_seconds, s.usage_flush_events,
                                         exists=lambda ns: accounts().store.namespace_exists(ns))
        return _state["meter"]


def usage() -> Any:
    """The usage report use cases."""
    from .domain.metering import Usage
    from .storage.dynamo_quota import DynamoQuotaStore

    return Usage(usage_store(), meter(), DynamoQuotaStore())


def _webhook_store() -> Any:
    from .storage.metering_dynamo import DynamoWebhookStore

    metadata()
    return DynamoWebhookStore()


def _event_bridge() -> Any:
    with _lock:
        if "eventbridge" not in _state:
            import boto3
            from botocore.config import Config

            # a short, bounded wait: delivery is off the request path, but a Lambda waits for it
            cfg = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 3})
            _state["eventbridge"] = boto3.session.Session().client("events", region_name=settings().region,
                                                                   config=cfg)
        return _state["eventbridge"]


def events() -> Any:
    """The process-wide EventBus: log lines, EventBridge when configured, webhooks."""
    with _lock:
        if "events" not in _state:
            from .domain.events import EventBus
            from .domain.webhooks import address_allowed
            from .storage.events_out import EventBridgePublisher, PinnedTransport

            s = settings()
            publisher = EventBridgePublisher(_event_bridge, s.event_bus) if s.event_bus else None
            # SSRF: every delivery checks where the name resolves now (docs/security.md)
            guard = lambda ip: settings().webhook_allow_private or address_allowed(ip)  # noqa: E731
            _state["events"] = EventBus(_webhook_store, PinnedTransport(guard), lambda: publisher,
                                        attempts=s.webhook_attempts, backoff=s.webhook_backoff,
                                        timeout=s.webhook_timeout)
        return _state["events"]


def webhooks() -> Any:
    """The webhook administration use cases."""
    from .domain.webhooks import Webhooks

    return Webhooks(_webhook_store(), events(), settings().webhook_allow_private)


def after_request(event: dict, response: dict, operation: str, redirected: int) -> None:
    """observe's hook: meter the request; on Lambda, give queued events a bounded wait
    (a frozen instance delivers nothing until its next invocation)."""
    s = settings()
    if s.metering:
        from .http.metering import note

        note(meter(), event, response, operation, redirected)
    bus = _state.get("events")
    if s.events_wait > 0 and bus is not None:
        bus.wait_idle(s.events_wait)


def reset() -> None:
    """Forget every client and setting (tests change the environment between runs)."""
    with _lock:
        _state.clear()
