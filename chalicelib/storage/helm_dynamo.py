"""DynamoDB adapter of the HelmIndexStore port: chart index entries on the registry's table.

Items live in one partition per namespace (`HELM#<ns>`, see keys.py), so
index.yaml is one (paginated) Query and a chart download one Query by file
name. They share the table, key schema and connection of every other model.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.transactions import TransactWrite

from ..domain.helm import ChartEntry, ChartRef
from . import keys
from .dynamo import Item


class HelmEntryItem(Item):
    """HELM#<ns> / CHART#<name>-<version>#<repo>."""

    name = UnicodeAttribute(null=True)
    version = UnicodeAttribute(null=True)
    repo = UnicodeAttribute(null=True)
    digest = UnicodeAttribute(null=True)
    chart_digest = UnicodeAttribute(null=True)
    chart_size = NumberAttribute(null=True)
    prov_digest = UnicodeAttribute(null=True)
    prov_size = NumberAttribute(null=True)
    created = NumberAttribute(null=True)  # nanoseconds since the epoch
    chart = UnicodeAttribute(null=True)   # Chart.yaml fields, JSON


class HelmDigestItem(Item):
    """HELM#<ns> / DIGEST#<repo>#<digest>: the entry a manifest indexed."""

    name = UnicodeAttribute(null=True)
    version = UnicodeAttribute(null=True)


def _connection():
    return Item._get_connection().connection


def _entry(ns: str, it: HelmEntryItem) -> ChartEntry:
    return ChartEntry(
        namespace=ns, repo=it.repo, name=it.name, version=it.version, digest=it.digest,
        chart_digest=it.chart_digest, chart_size=int(it.chart_size or 0),
        metadata=json.loads(it.chart) if it.chart else {}, created_ns=int(it.created or 0),
        prov_digest=it.prov_digest, prov_size=int(it.prov_size or 0))


def _is_condition_failure(err: Exception) -> bool:
    cause = getattr(err, "cause", None)
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code == "ConditionalCheckFailedException"


class DynamoHelmIndex:
    """HelmIndexStore on the registry's single table."""

    def put_entry(self, e: ChartEntry) -> None:
        """Write (or replace) the entry and its digest pointer in one transaction."""
        pk = keys.helm_pk(e.namespace)
        with TransactWrite(connection=_connection()) as t:
            t.save(HelmEntryItem(
                pk, keys.helm_entry_sk(e.name, e.version, e.repo), name=e.name, version=e.version,
                repo=e.repo, digest=e.digest, chart_digest=e.chart_digest, chart_size=e.chart_size,
                prov_digest=e.prov_digest, prov_size=e.prov_size or None, created=e.created_ns,
                chart=json.dumps(e.metadata, separators=(",", ":"))))
            t.save(HelmDigestItem(pk, keys.helm_digest_sk(e.repo, e.digest), name=e.name, version=e.version))

    def entries(self, namespace: str) -> Iterable[ChartEntry]:
        """Every entry of the namespace: one Query (DynamoDB pages it by 1 MB)."""
        for it in HelmEntryItem.query(keys.helm_pk(namespace),
                                      HelmEntryItem.sk.startswith(keys.HELM_ENTRY_PREFIX),
                                      consistent_read=True):
            yield _entry(namespace, it)

    def find(self, namespace: str, stem: str) -> list[ChartEntry]:
        """Entries whose download file is `<stem>.tgz` (one per repository holding it)."""
        return [_entry(namespace, it) for it in HelmEntryItem.query(
            keys.helm_pk(namespace), HelmEntryItem.sk.startswith(keys.helm_entry_prefix(stem)),
            consistent_read=True)]

    def get_ref(self, namespace: str, repo: str, digest: str) -> Optional[ChartRef]:
        """The (name, version) manifest `digest` of `repo` was indexed under, if any."""
        try:
            it = HelmDigestItem.get(keys.helm_pk(namespace), keys.helm_digest_sk(repo, digest),
                                    consistent_read=True)
        except DoesNotExist:
            return None
        return ChartRef(it.name, it.version)

    def remove(self, namespace: str, repo: str, digest: str, ref: ChartRef) -> None:
        """Delete the entry if it still is this manifest's (a newer push keeps it), and the pointer."""
        pk = keys.helm_pk(namespace)
        try:
            HelmEntryItem(pk, keys.helm_entry_sk(ref.name, ref.version, repo)).delete(
                condition=HelmEntryItem.digest == digest)
        except DeleteError as err:
            if not _is_condition_failure(err):
                raise
        HelmDigestItem(pk, keys.helm_digest_sk(repo, digest)).delete()
