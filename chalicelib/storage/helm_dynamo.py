"""DynamoDB adapter of the HelmIndexStore port: chart index entries on the registry's table.

Items live in one partition per namespace (`HELM#<ns>`, see keys.py), so
index.yaml is one (paginated) Query and a chart download one GetItem by file
name. One entry per download file: a conditional write keeps another chart
whose name and version spell the same file name from taking it over. They
share the table, key schema and connection of every other model.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.transactions import TransactWrite

from . import keys
from .dynamo import Item, _connection
from .dynamo_tx import is_condition_failure, transact
from .helm_ports import ChartEntry, ChartFileTaken, ChartRef
from .ports import TransactionPart


_CONFLICT_RETRIES = 3


class HelmEntryItem(Item):
    """HELM#<ns> / CHART#<name>-<version>: the chart version served as <name>-<version>.tgz."""

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


def _entry(ns: str, it: HelmEntryItem) -> ChartEntry:
    return ChartEntry(
        namespace=ns, repo=it.repo, name=it.name, version=it.version, digest=it.digest,
        chart_digest=it.chart_digest, chart_size=int(it.chart_size or 0),
        metadata=json.loads(it.chart) if it.chart else {}, created_ns=int(it.created or 0),
        prov_digest=it.prov_digest, prov_size=int(it.prov_size or 0))


def _add_entry(t: TransactWrite, e: ChartEntry) -> None:
    """The entry (kept by another chart with the same file name: refused) and its pointer."""
    pk = keys.helm_pk(e.namespace)
    t.save(HelmEntryItem(
        pk, keys.helm_entry_sk(e.name, e.version), name=e.name, version=e.version,
        repo=e.repo, digest=e.digest, chart_digest=e.chart_digest, chart_size=e.chart_size,
        prov_digest=e.prov_digest, prov_size=e.prov_size or None, created=e.created_ns,
        chart=json.dumps(e.metadata, separators=(",", ":"))),
        condition=HelmEntryItem.sk.does_not_exist() | (
            (HelmEntryItem.name == e.name) & (HelmEntryItem.repo == e.repo)))
    t.save(HelmDigestItem(pk, keys.helm_digest_sk(e.repo, e.digest), name=e.name, version=e.version))


class DynamoHelmIndex:
    """HelmIndexStore on the registry's single table."""

    def put_entry(self, e: ChartEntry) -> None:
        """Write (or replace) the entry and its digest pointer in one transaction.

        The entry is replaced only by the same chart (same name, hence the same
        repository); another chart spelling the same file name gets ChartFileTaken.
        """
        def refused(reasons: list, _t: Any) -> None:
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise ChartFileTaken() from None

        # Retried on conflict: a concurrent push of the same version.
        transact(_connection(), lambda t: _add_entry(t, e), refused=refused, attempts=_CONFLICT_RETRIES)

    def entry_part(self, e: ChartEntry) -> TransactionPart:
        """The same two writes, in the manifest's transaction (refused as put_entry is)."""
        return TransactionPart(lambda t: _add_entry(t, e), 2,
                               f"helm index entry {e.name}-{e.version}.tgz of {e.namespace} for {e.repo}")

    def entries(self, namespace: str) -> Iterable[ChartEntry]:
        """Every entry of the namespace: one Query (DynamoDB pages it by 1 MB)."""
        for it in HelmEntryItem.query(keys.helm_pk(namespace),
                                      HelmEntryItem.sk.startswith(keys.HELM_ENTRY_PREFIX),
                                      consistent_read=True):
            if it.sk == keys.helm_entry_sk(it.name or "", it.version or ""):   # not an older layout's item
                yield _entry(namespace, it)

    def find(self, namespace: str, stem: str) -> Optional[ChartEntry]:
        """The entry whose download file is `<stem>.tgz` (one GetItem)."""
        try:
            it = HelmEntryItem.get(keys.helm_pk(namespace), keys.helm_entry_file_sk(stem),
                                   consistent_read=True)
        except DoesNotExist:
            return None
        return _entry(namespace, it)

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
            HelmEntryItem(pk, keys.helm_entry_sk(ref.name, ref.version)).delete(
                condition=(HelmEntryItem.digest == digest) & (HelmEntryItem.repo == repo))
        except DeleteError as err:
            if not is_condition_failure(err):
                raise
        HelmDigestItem(pk, keys.helm_digest_sk(repo, digest)).delete()
