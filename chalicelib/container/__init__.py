"""The composition root: builds the AWS clients, adapters and use cases, lazily, once.

`build(settings)` is called by an entry point: app.py once per process (the Lambda and
the local server use that one), tests and bench for a server of their own; `build_memory()`
(container/memory.py) wires the same use cases on the in-memory fakes. Nothing is constructed until a getter is first called, so a cold
start pays only for what its first request uses, and every getter returns the same
instance afterwards. Only entry points import this module (tests/unit/test_layers.py).
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, TypeVar

from ..config import Settings

if TYPE_CHECKING:  # types only: importing these eagerly would cost cold start
    from .memory import MemoryContainer
    from ..auth.tokens import Signer, Verifier
    from ..domain.accounts import Accounts
    from ..domain.events import EventBus
    from ..domain.gc import GarbageCollector
    from ..domain.helm import HelmCharts
    from ..domain.metering import Usage, UsageMeter
    from ..domain.registry import Registry
    from ..domain.registry_base import StagedBody
    from ..domain.tag_admin import TagAdmin
    from ..domain.tag_policy import TagRules
    from ..domain.webhooks import Webhooks

T = TypeVar("T")


class Container:
    """Typed, lazy, cached getters for everything the handlers use (AWS adapters).

    `clients` hands in prebuilt boto3 clients by service name ("s3", "kms", "events");
    `overrides` replaces any getter's product by name (e.g. {"registry": reg})."""

    def __init__(self, settings: Settings, clients: Optional[Mapping[str, Any]] = None,
                 overrides: Optional[Mapping[str, Any]] = None) -> None:
        self.settings = settings
        self._clients = dict(clients or {})
        self._built: dict[str, Any] = dict(overrides or {})
        self._lock = threading.RLock()  # getters build their collaborators while holding it

    def _once(self, name: str, make: Callable[[], T]) -> T:
        """The instance named `name`, made on first use (one per container)."""
        try:
            return self._built[name]
        except KeyError:
            pass
        with self._lock:
            if name not in self._built:
                self._built[name] = make()
            return self._built[name]

    def built(self, name: str) -> bool:
        """Whether `name` has been constructed yet (cold-start checks, tests)."""
        return name in self._built

    # -- AWS clients ------------------------------------------------------------
    def _client(self, service: str, **config: Any) -> Any:
        def make() -> Any:
            if service in self._clients:
                return self._clients[service]
            import boto3
            from botocore.config import Config

            return boto3.session.Session().client(service, region_name=self.settings.region,
                                                  config=Config(**config))
        return self._once(f"client:{service}", make)

    def s3_client(self) -> Any:
        """The boto3 S3 client (path-style addressing when an endpoint is configured)."""
        from ..config import s3_loopback

        custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        # the embedded S3 on loopback: no payload hashing (config.s3_loopback says why)
        fast = s3_loopback(custom)
        return self._client("s3", signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3},
                            s3={"addressing_style": "path" if custom else "auto",
                                **({"payload_signing_enabled": False} if fast else {})},
                            **({"request_checksum_calculation": "when_required"} if fast else {}))

    def dynamodb_client(self) -> Any:
        """The botocore DynamoDB client shared by every pynamodb model."""
        self.metadata()
        from ..storage.dynamo import Item

        return Item._get_connection().connection.client

    def _event_bridge(self) -> Any:
        # a short, bounded wait: delivery is off the request path, but a Lambda waits for it
        return self._client("events", connect_timeout=2, read_timeout=3,
                            retries={"mode": "standard", "max_attempts": 3})

    # -- storage adapters (build_memory's container swaps these) ----------------
    def _bind(self) -> None:
        """Point the pynamodb models at this container's table (process-wide models)."""
        def bind() -> bool:
            from ..storage import dynamo

            dynamo.bind(self.settings.table_name, self.settings.region)
            return True
        self._once("bound", bind)

    def metadata(self) -> Any:
        """The MetadataStore (DynamoDB)."""
        def make() -> Any:
            from ..storage.dynamo import DynamoMetadataStore

            self._bind()
            return DynamoMetadataStore()
        return self._once("meta", make)

    def blobs(self) -> Any:
        """The BlobStore (S3; the client is built on first use)."""
        def make() -> Any:
            from ..storage.s3 import S3BlobStore

            return S3BlobStore(self.s3_client, self.settings.bucket_name)
        return self._once("blobs", make)

    def _dynamo(self, name: str, make: Callable[[], T]) -> T:
        def bound() -> T:
            self._bind()
            return make()
        return self._once(name, bound)

    def helm_index(self) -> Any:
        from ..storage.helm_dynamo import DynamoHelmIndex

        return self._dynamo("helm_index", DynamoHelmIndex)

    def account_store(self) -> Any:
        from ..storage.accounts_dynamo import DynamoAccountStore

        return self._dynamo("account_store", DynamoAccountStore)

    def lifecycle_store(self) -> Any:
        from ..storage.lifecycle_dynamo import DynamoTagLifecycle

        return self._dynamo("lifecycle_store", DynamoTagLifecycle)

    def usage_store(self) -> Any:
        """The UsageStore (per-namespace, per-day counters)."""
        from ..storage.metering_dynamo import DynamoUsageStore

        return self._dynamo("usage_store", DynamoUsageStore)

    def webhook_store(self) -> Any:
        from ..storage.metering_dynamo import DynamoWebhookStore

        return self._dynamo("webhook_store", DynamoWebhookStore)

    def ui_reads(self) -> Any:
        """The web UI's read model."""
        from ..storage.ui_dynamo import DynamoUiReads

        return self._dynamo("ui_reads", DynamoUiReads)

    def gc_store(self) -> Any:
        from ..storage.dynamo_gc import DynamoGcStore

        return self._dynamo("gc_store", DynamoGcStore)

    def quota_store(self) -> Any:
        from ..storage.dynamo_quota import DynamoQuotaStore

        return self._dynamo("quota_store", DynamoQuotaStore)

    def quotas(self) -> Any:
        """Namespace quotas' admin use cases (domain/quotas.py)."""
        def make() -> Any:
            from ..domain.quotas import Quotas

            return Quotas(self.quota_store())
        return self._once("quotas", make)

    def _publisher(self) -> Any:
        from ..storage.events_out import EventBridgePublisher

        bus = self.settings.event_bus
        return EventBridgePublisher(self._event_bridge, bus) if bus else None

    def _transport(self) -> Any:
        from ..domain.webhooks import address_allowed
        from ..storage.events_out import PinnedTransport

        # SSRF: every delivery checks where the name resolves now (docs/security.md)
        allow_private = self.settings.webhook_allow_private
        return PinnedTransport(lambda ip: allow_private or address_allowed(ip))

    # -- request bodies the local server already put in S3 (local/prestage.py) ------
    def offer_staged_bodies(self, lookup: Callable[[str], Optional["StagedBody"]]) -> None:
        """Installed by the local server only; a deployed container offers none."""
        self._built["staged_bodies"] = lookup

    def staged_body(self, token: Optional[str]) -> Optional["StagedBody"]:
        """The body the local server stored for the request carrying `token`; None when none
        is offered or the token is not one of the server's own."""
        lookup = self._built.get("staged_bodies")
        return lookup(token) if lookup is not None and token else None

    # -- use cases ---------------------------------------------------------------
    def registry(self) -> "Registry":
        """The Registry use cases, with the Helm index hook, tag rules and notifier."""
        def make() -> "Registry":
            from ..domain.helm import HelmIndexHook
            from ..domain.notify import EventNotifier
            from ..domain.registry import Registry

            meta, blobs = self.metadata(), self.blobs()
            notify = EventNotifier(self.events(), self.meter() if self.settings.metering else None)
            return Registry(meta, blobs, self.settings, hooks=[HelmIndexHook(meta, blobs, self.helm_index())],
                            tag_rules=self.tag_rules(), notify=notify)
        return self._once("registry", make)

    def helm(self) -> "HelmCharts":
        """The classic Helm chart repository (domain/helm.py)."""
        def make() -> "HelmCharts":
            from ..domain.helm import HelmCharts

            return HelmCharts(self.registry(), self.helm_index())
        return self._once("helm", make)

    def tag_rules(self) -> "TagRules":
        """Tag policies, expiry and retention (domain/tag_policy.py)."""
        def make() -> "TagRules":
            from ..domain.tag_policy import TagRules

            return TagRules(self.lifecycle_store(), self.blobs(), self.settings)
        return self._once("tag_rules", make)

    def tag_admin(self) -> "TagAdmin":
        """Tag policies, expiry and retention runs (domain/tag_admin.py)."""
        def make() -> "TagAdmin":
            from ..domain.tag_admin import build

            reg = self.registry()
            rules = self.tag_rules()
            return build(rules, rules.blobs.get, reg.tag_removed)
        return self._once("tag_admin", make)

    def gc(self) -> "GarbageCollector":
        """The garbage collector (domain/gc.py), announcing what it collects on the event bus."""
        def make() -> "GarbageCollector":
            from ..domain.events import GC_COLLECTED, make_event
            from ..domain.gc import GarbageCollector

            def announce(ns: str, data: dict) -> None:
                self.events().publish(make_event(GC_COLLECTED, ns, data))

            return GarbageCollector(self.gc_store(), self.blobs(), on_collected=announce,
                                    upload_ttl=self.settings.upload_ttl)
        return self._once("gc", make)

    def accounts(self) -> "Accounts":
        """Accounts, namespaces, robots, grants."""
        def make() -> "Accounts":
            from ..domain.accounts import Accounts

            return Accounts(self.account_store())
        return self._once("accounts", make)

    def token_signer(self) -> "Signer":
        """Signs tokens: KMS when configured, else the PEM key (given, or read from its file)."""
        def make() -> "Signer":
            s = self.settings
            if s.kms_key_id:
                from ..storage.kms import KmsSigner

                return KmsSigner(self._client("kms"), s.kms_key_id, s.token_public_key_pem.encode() or None)
            from ..auth.tokens import LocalSigner

            return LocalSigner(_local_key_pem(s))
        return self._once("signer", make)

    def token_verifier(self) -> "Verifier":
        """Verifies tokens with the signer's public key (configured, or asked once)."""
        def make() -> "Verifier":
            from ..auth.tokens import Verifier

            pem = self.settings.token_public_key_pem
            return Verifier(pem.encode() if pem else self.token_signer().public_key_pem())
        return self._once("verifier", make)

    def meter(self) -> "UsageMeter":
        """The UsageMeter (its store is built on the first flush)."""
        def make() -> "UsageMeter":
            from ..domain.metering import UsageMeter

            s = self.settings
            return UsageMeter(self.usage_store, s.usage_flush_seconds, s.usage_flush_events,
                              exists=lambda ns: self.account_store().namespace_exists(ns))
        return self._once("meter", make)

    def usage(self) -> "Usage":
        """The usage report use cases."""
        def make() -> "Usage":
            from ..domain.metering import Usage

            return Usage(self.usage_store(), self.meter(), self.quota_store())
        return self._once("usage", make)

    def events(self) -> "EventBus":
        """The EventBus: log lines, EventBridge when configured, webhooks."""
        def make() -> "EventBus":
            from ..domain.events import EventBus

            s, publisher = self.settings, self._publisher()
            return EventBus(self.webhook_store, self._transport(), lambda: publisher,
                            attempts=s.webhook_attempts, backoff=s.webhook_backoff, timeout=s.webhook_timeout)
        return self._once("events", make)

    def webhooks(self) -> "Webhooks":
        """Webhook administration."""
        def make() -> "Webhooks":
            from ..domain.webhooks import Webhooks

            return Webhooks(self.webhook_store(), self.events(), self.settings.webhook_allow_private)
        return self._once("webhooks", make)

    # -- per-request hook ----------------------------------------------------------
    def after_request(self, event: dict, response: dict, operation: str, redirected: int) -> None:
        """observe's hook: meter the request; on Lambda, give queued events a bounded wait
        (a frozen instance delivers nothing until its next invocation)."""
        s = self.settings
        if s.metering:
            from ..http.metering import note

            note(self.meter(), event, response, operation, redirected)
        if s.events_wait > 0 and self.built("events"):
            self.events().wait_idle(s.events_wait)


def _local_key_pem(s: Settings) -> bytes:
    if s.token_key_pem:
        return s.token_key_pem.encode()
    if not s.token_key_file:
        raise RuntimeError("no token signing key: set REGISTRY_KMS_KEY_ID, REGISTRY_TOKEN_KEY "
                           "or REGISTRY_TOKEN_KEY_FILE")
    try:
        with open(s.token_key_file, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise RuntimeError(f"REGISTRY_TOKEN_KEY_FILE {s.token_key_file} does not exist (the local "
                           "server creates it: local/keys.py)") from None


def build(settings: Optional[Settings] = None, *, clients: Optional[Mapping[str, Any]] = None,
          overrides: Optional[Mapping[str, Any]] = None) -> Container:
    """The container on AWS (settings default to the environment's); nothing is built yet."""
    return Container(settings or Settings.from_env(), clients, overrides)


def build_memory(settings: Optional[Settings] = None, *, overrides: Optional[Mapping[str, Any]] = None,
                 clock: Optional[Callable[[], float]] = None) -> "MemoryContainer":
    """The container on the in-memory fakes, for use-case and wiring tests."""
    from .memory import MemoryContainer

    return MemoryContainer(settings or Settings(), overrides, clock)
