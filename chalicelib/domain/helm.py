"""Helm charts: the classic chart-repository view of charts pushed over OCI.

Helm 3.8+ pushes a chart as an OCI artifact: a manifest whose config blob
(`application/vnd.cncf.helm.config.v1+json`) is Chart.yaml as JSON and whose
layers are the chart archive and, when signed, its provenance file. Those go
through the ordinary distribution API untouched. `HelmIndexHook`, a hook of the
Registry (domain/hooks.py), adds the classic view on top: such a manifest pushed to
`<ns>/<chart>:<version>` becomes an entry of namespace `<ns>`'s `index.yaml`, written
in the manifest's own transaction (a crash cannot leave a pushed chart out of the
index) and removed after a delete, so the index is one Query and never a scan of
repositories. `HelmCharts` serves the classic view; its ChartMuseum-style upload
stores a .tgz as that same OCI artifact, so both views always show the same charts.

Pure: storage is reached through `HelmIndexStore` (storage/helm_ports.py) and the
Registry's ports; authorisation decisions come in as callables from the HTTP layer. Chart.yaml
is read in chart_metadata.py (archives in chart_archive.py), index.yaml is
written by helm_index.py.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from ..auth.policy import Principal, allowed_actions
from ..auth.scopes import PULL
from ..manifests.base import go_json, loads  # loads: the strict parser (no NaN, no duplicate keys)
from ..oci.digest import compute, looks_like_digest
from ..oci.errors import RegistryError
from ..oci.mediatypes import OCI_MANIFEST
from ..oci.names import MAX_NAME_LENGTH, NAME_RE, is_tag, validate_name
from ..storage.helm_ports import ChartEntry, HelmIndexStore
from ..storage.ports import BlobStore, MetadataStore, TransactionPart
from .chart_metadata import MAX_VERSION_LENGTH, check_metadata, metadata_from_archive, normalize_metadata
from .helm_index import rfc3339
from .registry import Registry

log = logging.getLogger("registry.helm")

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_CHART_LEGACY = "application/tar+gzip"  # Helm 3.0-3.6 (experimental OCI support)
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"


# Chart.yaml is small; a config blob above this is not read into the index.
MAX_CONFIG_BYTES = 256 * 1024
# A chart name as the classic view holds it: one repository path component.
CHART_NAME_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
# What `<name>-<version>` of a download file may look like (checked before any key is built).
_FILE_STEM_RE = re.compile(r"[a-z0-9][A-Za-z0-9._+-]*")
MAX_FILE_STEM = MAX_NAME_LENGTH + 1 + MAX_VERSION_LENGTH


@dataclass
class UploadedChart:
    repo: str
    name: str
    version: str
    digest: str
    tag: str = field(default="")


# -- names, versions --------------------------------------------------------
def chart_repo(repo: str) -> Optional[tuple[str, str]]:
    """(namespace, chart name) when `repo` can hold a chart of the classic view: `<ns>/<name>`.

    Only there: whoever may push `<ns>/<name>` speaks for chart `<name>` of `<ns>`,
    and nobody else (not `<ns>/sandbox`, not `<ns>/team/<name>`) may replace it.
    """
    parts = repo.split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else None


def version_tag(version: str) -> str:
    """The OCI tag Helm uses for a chart version ('+' is not allowed in tags)."""
    return version.replace("+", "_")


def check_namespace(namespace: str) -> None:
    """A namespace from a URL path: one name component (checked before any key is built)."""
    if (len(namespace) > MAX_NAME_LENGTH - 2 or "/" in namespace
            or not NAME_RE.fullmatch(namespace)):
        raise RegistryError("NAME_INVALID", {"reason": "a namespace is one lowercase name component",
                                             "namespace": namespace[:MAX_NAME_LENGTH]})


# -- who may read what -----------------------------------------------------------
def readable_repos(principal: Optional[Principal], repos: Iterable[str],
                   public_lookup: Callable[[list[str]], set[str]]) -> set[str]:
    """Which of `repos` `principal` may pull (None: auth is off, all of them).

    Roles decide first; only repositories they do not open are looked up for
    public visibility (one BatchGetItem).
    """
    wanted = set(repos)
    if principal is None:
        return wanted
    ok = {r for r in wanted if PULL in allowed_actions(principal, r, False)}
    rest = sorted(wanted - ok)
    if rest:
        ok |= set(public_lookup(rest)) & set(rest)
    return ok


# -- the use cases -------------------------------------------------------------------
def _descriptor(media_type: str, digest: str, size: int) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size}


class HelmIndexHook:
    """The Registry's hook (domain/hooks.py) keeping each namespace's chart index current:
    a chart's entry commits in its manifest's transaction; deletes drop it after commit."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, charts: HelmIndexStore) -> None:
        self.meta = meta
        self.blobs = blobs
        self.charts = charts

    def parts(self, repo: str, tag: Optional[str], digest: str, parsed: Any) -> list[TransactionPart]:
        entry = self._entry(repo, tag, digest, parsed.doc) if tag is not None else None
        return [self.charts.entry_part(entry)] if entry is not None else []

    def before_delete(self, repo: str, reference: str) -> Optional[Callable[[], None]]:
        where = chart_repo(repo)
        if where is None:
            return None
        ns = where[0]
        if looks_like_digest(reference):
            return lambda: self._unindex(ns, repo, reference, None)
        tagged = self.meta.get_tag(repo, reference)
        if tagged is not None and (tagged.body is None or b"vnd.cncf.helm.config" in tagged.body):
            # The tag item carries the manifest: only a Helm chart's tag costs the pointer read.
            digest = tagged.digest
            return lambda: self._unindex(ns, repo, digest, reference)
        return None

    def _entry(self, repo: str, tag: str, digest: str, doc: Any) -> Optional[ChartEntry]:
        """The index entry when `doc` is a chart the classic view may serve (else None).

        Bound to the authority that pushed it: only a manifest pushed to `<ns>/<name>`
        under its version's own tag, whose Chart.yaml names `<name>`, is indexed; so
        `/helm/<ns>/charts/<name>-<version>.tgz` is what `oci://<ns>/<name>:<version>`
        is. Anything else stays an ordinary OCI artifact (copies to other repositories
        are legitimate OCI use), and is logged.
        """
        where = chart_repo(repo)
        config = doc.get("config") if isinstance(doc, dict) else None
        if where is None or not isinstance(config, dict) or config.get("mediaType") != HELM_CONFIG:
            return None
        # Only well-formed descriptors count (a manifest of an unknown media type is stored unchecked).
        layers = [d for d in doc.get("layers") or [] if isinstance(d, dict) and isinstance(d.get("digest"), str)
                  and isinstance(d.get("size"), int)] if isinstance(doc.get("layers"), list) else []
        chart = next((d for d in layers if d.get("mediaType") in (HELM_CHART, HELM_CHART_LEGACY)), None)
        prov = next((d for d in layers if d.get("mediaType") == HELM_PROV), None)
        if chart is None or not isinstance(config.get("digest"), str):
            return None
        link = self.meta.get_blob_link(repo, config["digest"])
        if link is None:
            return None   # the manifest's own transaction refuses it then
        if link.size > MAX_CONFIG_BYTES:   # the stored size: a descriptor may say anything
            log.warning("helm config of %s@%s is %s bytes: not indexed", repo, digest, link.size)
            return None
        try:
            meta = normalize_metadata(loads(self.blobs.get(link.s3_key)))
            check_metadata(meta)
        except (ValueError, UnicodeDecodeError, RecursionError, RegistryError) as exc:
            log.warning("helm chart %s@%s has an unusable config, not indexed: %s", repo, digest, exc)
            return None
        ns, name = where
        if meta["name"] != name or version_tag(meta["version"]) != tag:
            log.warning("helm chart %s-%s pushed as %s:%s is not indexed: the classic view serves a chart "
                        "only from %s/<chart name>:<version>", meta["name"], meta["version"], repo,
                        tag, ns)
            return None
        return ChartEntry(namespace=ns, repo=repo, name=name, version=meta["version"], digest=digest,
                          chart_digest=chart["digest"], chart_size=chart["size"], metadata=meta,
                          created_ns=time.time_ns(), prov_digest=prov["digest"] if prov else None,
                          prov_size=prov["size"] if prov else 0)

    def tag_removed(self, repo: str, tag: str, digest: Optional[str]) -> None:
        """A tag deleted by the tag lifecycle (expiry, retention): drop a chart's entry too."""
        where = chart_repo(repo)
        if where is not None and digest:
            self._unindex(where[0], repo, digest, tag)

    def _unindex(self, ns: str, repo: str, digest: str, tag: Optional[str]) -> None:
        """Drop the entry of manifest `digest` (by tag: only when `tag` is its version's tag)."""
        ref = self.charts.get_ref(ns, repo, digest)
        if ref is None or (tag is not None and version_tag(ref.version) != tag):
            return
        self.charts.remove(ns, repo, digest, ref)


class HelmCharts:
    """The classic chart repository's use cases, over the Registry and the chart index."""

    def __init__(self, registry: Registry, charts: HelmIndexStore) -> None:
        self.registry = registry
        self.meta = registry.meta
        self.charts = charts

    def chart_entries(self, namespace: str) -> list[ChartEntry]:
        """Every indexed chart version of a namespace (one Query)."""
        check_namespace(namespace)
        # Only entries bound to their own repository (the adapter writes no others).
        return [e for e in self.charts.entries(namespace) if e.repo == f"{namespace}/{e.name}"]

    def chart_file_url(self, namespace: str, filename: str,
                       readable: Callable[[Iterable[str]], set[str]]) -> str:
        """A presigned URL of `<name>-<version>.tgz` (or its `.tgz.prov`), if readable.

        Served only while the version's tag still points at the indexed manifest,
        so the download is exactly what `helm pull oci://<ns>/<name>` gets.
        """
        check_namespace(namespace)
        prov = filename.endswith(".tgz.prov")
        stem = filename[:-len(".tgz.prov")] if prov else filename[:-len(".tgz")] if filename.endswith(".tgz") else ""
        missing = RegistryError("MANIFEST_UNKNOWN", {"reason": "no such chart file", "file": filename[:400]},
                                status=404)
        if len(stem) > MAX_FILE_STEM or not _FILE_STEM_RE.fullmatch(stem):
            raise missing
        entry = self.charts.find(namespace, stem)
        if (entry is None or entry.repo != f"{namespace}/{entry.name}" or entry.filename != f"{stem}.tgz"
                or entry.repo not in readable({entry.repo})):
            raise missing
        tagged = self.meta.get_tag(entry.repo, version_tag(entry.version))
        if tagged is None or tagged.digest != entry.digest:
            raise RegistryError("MANIFEST_UNKNOWN", {
                "reason": "the chart version's tag no longer points at the indexed chart; push it again",
                "file": filename}, status=404)
        digest = entry.prov_digest if prov else entry.chart_digest
        if not digest:
            raise RegistryError("MANIFEST_UNKNOWN", {"reason": "this chart version has no provenance file",
                                                     "file": filename}, status=404)
        _, url = self.registry.blob_url(entry.repo, digest)
        return url

    def upload_chart(self, namespace: str, archive: bytes, prov: Optional[bytes], *, force: bool,
                     may_push: Callable[[str], bool]) -> UploadedChart:
        """Store a .tgz (and .prov) as the OCI artifact `helm push` would make, in `<ns>/<name>:<version>`."""
        check_namespace(namespace)
        meta = metadata_from_archive(archive)
        name, version = meta["name"], meta["version"]
        repo = f"{namespace}/{name}"
        if not CHART_NAME_RE.fullmatch(name) or len(repo) > MAX_NAME_LENGTH:
            raise RegistryError("NAME_INVALID", {"reason": "chart names must be lowercase letters, digits, "
                                                           "'.', '_' and '-' to live in the registry",
                                                 "name": name})
        validate_name(repo)
        if not may_push(repo):
            raise RegistryError("DENIED", {"reason": f"push to {repo} is not permitted"})
        if prov is not None and b"-----BEGIN PGP SIGNED MESSAGE-----" not in prov[:1024]:
            raise RegistryError("MANIFEST_INVALID", {"reason": "the provenance file is not a PGP signed message"})
        tag = version_tag(version)
        if not is_tag(tag):
            raise RegistryError("MANIFEST_INVALID", {"reason": "the chart version does not make a valid tag",
                                                     "version": version})
        if not force and self.meta.get_tag(repo, tag) is not None:
            raise RegistryError("DENIED", {"reason": f"{name}-{version} already exists (use ?force=true "
                                                     "to replace it)", "repository": repo, "tag": tag},
                                status=409, message="file already exists")
        owner = self.charts.find(namespace, f"{name}-{version}")
        if owner is not None and owner.name != name:
            # The index write would be refused too; say so before anything is stored.
            raise RegistryError("DENIED", {"reason": f"the file name {name}-{version}.tgz belongs to chart "
                                                     f"{owner.name} version {owner.version} of {namespace}",
                                           "repository": repo, "tag": tag},
                                status=409, message="file already exists")
        config = go_json(meta)
        layers = [_descriptor(HELM_CHART, self._blob(repo, archive), len(archive))]
        if prov is not None:
            layers.append(_descriptor(HELM_PROV, self._blob(repo, prov), len(prov)))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(HELM_CONFIG, self._blob(repo, config), len(config)),
            "layers": layers,
            "annotations": {k: v for k, v in (
                ("org.opencontainers.image.created", rfc3339(time.time_ns()).split(".")[0] + "Z"),
                ("org.opencontainers.image.description", meta.get("description")),
                ("org.opencontainers.image.title", name),
                ("org.opencontainers.image.version", version)) if v},
        }
        result = self.registry.put_manifest(repo, tag, OCI_MANIFEST, go_json(manifest))
        return UploadedChart(repo, name, version, result[0], tag)

    def _blob(self, repo: str, data: bytes) -> str:
        digest = compute(data)
        self.registry.start_upload(repo, digest=digest, body=data)  # stored under `digest` or refused
        return digest
