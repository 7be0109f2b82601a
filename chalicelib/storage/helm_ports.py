"""The Helm chart index port and its entities: what the classic chart view needs stored.

Beside ports.py (the registry's core ports); adapters: helm_dynamo.py, the fake in
memory_accounts.py; contract: tests/contract/test_contract_accounts.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Protocol

from .ports import TransactionPart


@dataclass
class ChartEntry:
    """One chart version as the classic repository lists it."""

    namespace: str
    repo: str
    name: str
    version: str
    digest: str                  # manifest digest
    chart_digest: str            # the .tgz layer
    chart_size: int
    metadata: dict               # Chart.yaml fields (Helm's JSON form)
    created_ns: int = 0          # push time, nanoseconds since the epoch
    prov_digest: Optional[str] = None
    prov_size: int = 0

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"


@dataclass
class ChartRef:
    """What a manifest digest indexed (from the reverse pointer)."""

    name: str
    version: str


class ChartFileTaken(Exception):
    """Another chart's name and version spell the same download file (`a`-`1-0.1.0`, `a-1`-`0.1.0`)."""


class HelmIndexStore(Protocol):
    """Index entries of one namespace partition (see storage/keys.py), one per download file."""

    def put_entry(self, entry: ChartEntry) -> None:
        """Write the entry and its digest pointer; ChartFileTaken when another chart has the file."""
    def entry_part(self, entry: ChartEntry) -> TransactionPart:
        """put_entry as part of a manifest's transaction (refused when another chart has the file)."""
    def entries(self, namespace: str) -> Iterable[ChartEntry]: ...
    def find(self, namespace: str, stem: str) -> Optional[ChartEntry]:
        """The entry whose download file is `<stem>.tgz`."""
    def get_ref(self, namespace: str, repo: str, digest: str) -> Optional[ChartRef]: ...
    def remove(self, namespace: str, repo: str, digest: str, ref: ChartRef) -> None: ...
