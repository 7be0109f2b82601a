"""Helm charts: the classic chart-repository view of charts pushed over OCI.

Helm 3.8+ pushes a chart as an OCI artifact: a manifest whose config blob
(`application/vnd.cncf.helm.config.v1+json`) is Chart.yaml as JSON and whose
layers are the chart archive and, when signed, its provenance file. Those go
through the ordinary distribution API untouched. `HelmAwareRegistry` adds the
classic view on top: every such manifest pushed to `<ns>/<chart>` (or deeper)
becomes an entry of namespace `<ns>`'s `index.yaml`, written on push and
removed on delete, so the index is one Query and never a scan of repositories.
A ChartMuseum-style upload stores a .tgz as that same OCI artifact, so both
views always show the same charts.

Pure: storage is reached through `HelmIndexStore` and the Registry's ports;
authorisation decisions come in as callables from the HTTP layer.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol

from ..auth.policy import Principal, allowed_actions
from ..auth.scopes import PULL
from ..manifests.base import go_json
from .chart_archive import chart_yaml_of
from .digest import compute, looks_like_digest
from .errors import RegistryError
from .names import MAX_NAME_LENGTH, NAME_RE, is_tag, validate_name
from .registry import Registry

log = logging.getLogger("registry.helm")

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_CHART_LEGACY = "application/tar+gzip"  # Helm 3.0-3.6 (experimental OCI support)
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

# Chart.yaml is small; a config blob above this is not read into the index.
MAX_CONFIG_BYTES = 256 * 1024
# A version becomes the OCI tag (at most 128 characters) and part of the download file name.
MAX_VERSION_LENGTH = 128

# Masterminds/semver's loose grammar (what Helm accepts as a chart version). Never
# contains '_', so version_tag() is reversible: tag `1.0.0_b1` is version `1.0.0+b1`.
SEMVER_RE = re.compile(
    r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")
# A chart name as the classic view holds it: one repository path component.
CHART_NAME_RE = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
# What `<name>-<version>` of a download file may look like (checked before any key is built).
_FILE_STEM_RE = re.compile(r"[a-z0-9][A-Za-z0-9._+-]*")
MAX_FILE_STEM = MAX_NAME_LENGTH + 1 + MAX_VERSION_LENGTH


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


@dataclass
class UploadedChart:
    repo: str
    name: str
    version: str
    digest: str
    tag: str = field(default="")


class ChartFileTaken(Exception):
    """Another chart's name and version spell the same download file (`a`-`1-0.1.0`, `a-1`-`0.1.0`)."""

    def __init__(self, owner: Optional[ChartEntry] = None) -> None:
        super().__init__("chart file name taken")
        self.owner = owner


class HelmIndexStore(Protocol):
    """Index entries of one namespace partition (see storage/keys.py), one per download file."""

    def put_entry(self, entry: ChartEntry) -> None:
        """Write the entry and its digest pointer; ChartFileTaken when another chart has the file."""
    def entries(self, namespace: str) -> Iterable[ChartEntry]: ...
    def find(self, namespace: str, stem: str) -> Optional[ChartEntry]:
        """The entry whose download file is `<stem>.tgz`."""
    def get_ref(self, namespace: str, repo: str, digest: str) -> Optional[ChartRef]: ...
    def remove(self, namespace: str, repo: str, digest: str, ref: ChartRef) -> None: ...


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


def _semver_key(version: str) -> tuple:
    m = SEMVER_RE.fullmatch(version)
    if not m:
        return (0, (), 0, ())
    core = tuple(int(x or 0) for x in m.group(1, 2, 3))
    pre = m.group(4)
    if not pre:
        return (1, core, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, core, 0, ids)


# -- Chart.yaml -> Helm's metadata JSON ----------------------------------------
# Field order of Helm's chart.Metadata (so the config blob reads like Helm's own).
_STRING_FIELDS = ("name", "home", "version", "description", "icon", "apiVersion", "condition",
                  "tags", "appVersion", "kubeVersion", "type")
_METADATA_ORDER = ("name", "home", "sources", "version", "description", "keywords", "maintainers",
                   "icon", "apiVersion", "condition", "tags", "appVersion", "deprecated",
                   "annotations", "kubeVersion", "dependencies", "type")
_DEPENDENCY_ORDER = ("name", "version", "repository", "condition", "tags", "enabled",
                     "import-values", "alias")
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


def _string(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    return None


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [s for s in (_string(v) for v in value) if s]


def _import_values(value: Any) -> list:
    """Helm's import-values: strings, or {child, parent} maps of strings (nothing deeper)."""
    out: list = []
    for v in value if isinstance(value, list) else []:
        if _string(v) is not None:
            out.append(_string(v))
        elif isinstance(v, dict):
            item = {str(k): _string(x) for k, x in v.items() if _string(x) is not None}
            if item:
                out.append(item)
    return out


def normalize_metadata(raw: Any) -> dict:
    """Chart.yaml fields in the types Helm's chart.Metadata has, empty ones left out.

    Accepts Helm's config JSON and YAML loaded with every scalar as a string
    (as Helm reads Chart.yaml: `version: 1.10` stays "1.10"). A field of the
    wrong shape is dropped rather than passed on: one bad chart must not make
    a whole index.yaml unreadable to Helm.
    """
    if not isinstance(raw, dict):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml must be a mapping"})
    out: dict[str, Any] = {}
    for key in _METADATA_ORDER:
        value = raw.get(key)
        if key in _STRING_FIELDS:
            value = _string(value)
        elif key in ("sources", "keywords"):
            value = _strings(value)
        elif key == "maintainers":
            value = [m for m in (
                {k: _string(d.get(k)) for k in ("name", "email", "url") if _string(d.get(k))}
                for d in (value if isinstance(value, list) else []) if isinstance(d, dict)) if m]
        elif key == "annotations":
            value = ({str(k): _string(v) for k, v in value.items() if _string(v) is not None}
                     if isinstance(value, dict) else None)
        elif key == "deprecated":
            value = _bool(value)
        elif key == "dependencies":
            value = [_dependency(d) for d in (value if isinstance(value, list) else [])
                     if isinstance(d, dict) and _string(d.get("name"))]
        if value not in (None, "", [], {}, False):
            out[key] = value
    return out


def _dependency(d: dict) -> dict:
    out: dict[str, Any] = {}
    for key in _DEPENDENCY_ORDER:
        value = d.get(key)
        if key == "tags":
            value = _strings(value)
        elif key == "enabled":
            value = _bool(value)
        elif key == "import-values":
            value = _import_values(value)
        else:
            value = _string(value)
        if value not in (None, "", []):
            out[key] = value
    return out


def check_metadata(meta: dict) -> None:
    """Name and version are what the index and the OCI tag are made of."""
    name, version = meta.get("name"), meta.get("version")
    if not name or len(name) > MAX_NAME_LENGTH or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml: name is missing or not a valid chart name",
                                                 "name": (name or "")[:MAX_NAME_LENGTH]})
    if not version or len(version) > MAX_VERSION_LENGTH or not SEMVER_RE.fullmatch(version):
        raise RegistryError("MANIFEST_INVALID", {"reason": "Chart.yaml: version must be a semantic version "
                                                           f"of at most {MAX_VERSION_LENGTH} characters",
                                                 "version": (version or "")[:MAX_VERSION_LENGTH]})


def metadata_from_archive(archive: bytes) -> dict:
    """Chart.yaml of a .tgz as Helm's metadata (what Helm pushes as the config blob)."""
    import yaml  # only uploads parse YAML; nothing else pays for the import

    text = chart_yaml_of(archive)
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as exc:
        raise RegistryError("MANIFEST_INVALID", {"reason": f"Chart.yaml is not valid YAML: {exc}"}) from None
    meta = normalize_metadata(raw)
    check_metadata(meta)
    return meta


# -- index.yaml ----------------------------------------------------------------
def rfc3339(ns: int) -> str:
    """RFC 3339 UTC time with nanoseconds, as Go's time.RFC3339Nano reads it."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def index_entry(e: ChartEntry) -> dict:
    """An index.yaml entry: Chart.yaml fields, urls, created, digest (sorted keys, as Helm writes)."""
    doc: dict[str, Any] = dict(normalize_metadata(e.metadata))
    doc["name"], doc["version"] = e.name, e.version
    doc["urls"] = [f"charts/{e.filename}"]
    doc["created"] = rfc3339(e.created_ns)
    if e.chart_digest.startswith("sha256:"):
        doc["digest"] = e.chart_digest.split(":", 1)[1]   # bare hex, as ChartMuseum and Helm write it
    return dict(sorted(doc.items()))


def index_document(entries: Iterable[ChartEntry], generated_ns: int) -> dict:
    """The repository index: entries by chart name, newest version first."""
    by_name: dict[str, list[ChartEntry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    return {
        "apiVersion": "v1",
        "entries": {name: [index_entry(e) for e in sorted(
            versions, key=lambda e: (_semver_key(e.version), e.version), reverse=True)]
            for name, versions in sorted(by_name.items())},
        "generated": rfc3339(generated_ns),
    }


_PLAIN_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# Plain words YAML 1.1 (go-yaml, PyYAML) would read as booleans or null.
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}


def yaml_quote(s: str) -> str:
    """A YAML double-quoted scalar that every YAML 1.1/1.2 parser reads back as `s`.

    Printable characters stay as they are; quotes, backslashes, control and
    line-separator characters are escaped; lone surrogates become U+FFFD.
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0x20 <= o <= 0x7E:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\uFFFD")
        elif ((0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF)
              and o not in (0x2028, 0x2029, 0xFEFF)):
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02X}")
        else:
            out.append(f"\\u{o:04X}")
    out.append('"')
    return "".join(out)


def _yaml_key(k: Any) -> str:
    k = str(k)
    return k if _PLAIN_KEY.match(k) and k.lower() not in _YAML_WORDS else yaml_quote(k)


def _yaml_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return json.dumps(v) if v == v and v not in (float("inf"), float("-inf")) else yaml_quote(str(v))
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return yaml_quote(str(v))


def _yaml_lines(value: Any, indent: int) -> list[str]:
    """Block-style lines of a non-empty mapping or sequence at `indent` spaces."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = _yaml_key(k)
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(v, indent + 2)
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(v, indent)   # "- " items at the key's indentation
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(v)}")
        return lines
    for item in value:
        if isinstance(item, dict) and item:
            inner = _yaml_lines(item, indent + 2)
            lines.append(f"{pad}- {inner[0][indent + 2:]}")
            lines += inner[1:]
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            lines += _yaml_lines(item, indent + 2)
        else:
            lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def to_yaml(doc: dict) -> str:
    """A JSON-shaped document as block YAML, every string double-quoted."""
    return "\n".join(_yaml_lines(doc, 0)) + "\n" if doc else "{}\n"


def index_yaml(entries: Iterable[ChartEntry], generated_ns: Optional[int] = None) -> str:
    return to_yaml(index_document(entries, generated_ns or time.time_ns()))


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


class HelmAwareRegistry(Registry):
    """The Registry, keeping each namespace's chart index current on manifest push and delete."""

    def __init__(self, meta: Any, blobs: Any, settings: Any, charts: HelmIndexStore) -> None:
        super().__init__(meta, blobs, settings)
        self.charts = charts

    # -- keeping the index current ----------------------------------------------
    def put_manifest(self, repo: str, reference: str, content_type: Optional[str], body: bytes,
                     *args: Any, **kwargs: Any):
        result = super().put_manifest(repo, reference, content_type, body, *args, **kwargs)
        self._index(repo, reference, result[0], body)
        return result

    def delete_manifest(self, repo: str, reference: str, *args: Any, **kwargs: Any) -> None:
        validate_name(repo)
        where = chart_repo(repo)
        by_digest = looks_like_digest(reference)
        tagged = self.meta.get_tag(repo, reference) if where and not by_digest and is_tag(reference) else None
        super().delete_manifest(repo, reference, *args, **kwargs)
        if where is None:
            return
        if by_digest:
            self._unindex(where[0], repo, reference, None)
        elif tagged is not None and (tagged.body is None or b"vnd.cncf.helm.config" in tagged.body):
            # The tag item carries the manifest: only a Helm chart's tag costs the pointer read.
            self._unindex(where[0], repo, tagged.digest, reference)

    def _index(self, repo: str, reference: str, digest: str, body: bytes) -> None:
        """Write the index entry when `body` is a chart the classic view may serve (else do nothing).

        Bound to the authority that pushed it: only a manifest pushed to `<ns>/<name>`
        under its version's own tag, whose Chart.yaml names `<name>`, is indexed; so
        `/helm/<ns>/charts/<name>-<version>.tgz` is what `oci://<ns>/<name>:<version>`
        is. Anything else stays an ordinary OCI artifact (copies to other repositories
        are legitimate OCI use), and is logged.
        """
        where = chart_repo(repo)
        if where is None or looks_like_digest(reference):
            return
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return
        config = doc.get("config") if isinstance(doc, dict) else None
        if not isinstance(config, dict) or config.get("mediaType") != HELM_CONFIG:
            return
        # Only well-formed descriptors count (a manifest of an unknown media type is stored unchecked).
        layers = [d for d in doc.get("layers") or [] if isinstance(d, dict) and isinstance(d.get("digest"), str)
                  and isinstance(d.get("size"), int)] if isinstance(doc.get("layers"), list) else []
        chart = next((d for d in layers if d.get("mediaType") in (HELM_CHART, HELM_CHART_LEGACY)), None)
        prov = next((d for d in layers if d.get("mediaType") == HELM_PROV), None)
        if chart is None or not isinstance(config.get("digest"), str):
            return
        link = self.meta.get_blob_link(repo, config["digest"])
        if link is None:
            return
        if link.size > MAX_CONFIG_BYTES:   # the stored size: a descriptor may say anything
            log.warning("helm config of %s@%s is %s bytes: not indexed", repo, digest, link.size)
            return
        try:
            meta = normalize_metadata(json.loads(self.blobs.get(link.s3_key)))
            check_metadata(meta)
        except (ValueError, UnicodeDecodeError, RecursionError, RegistryError) as exc:
            log.warning("helm chart %s@%s has an unusable config, not indexed: %s", repo, digest, exc)
            return
        ns, name = where
        if meta["name"] != name or version_tag(meta["version"]) != reference:
            log.warning("helm chart %s-%s pushed as %s:%s is not indexed: the classic view serves a chart "
                        "only from %s/<chart name>:<version>", meta["name"], meta["version"], repo,
                        reference, ns)
            return
        try:
            self.charts.put_entry(ChartEntry(
                namespace=ns, repo=repo, name=name, version=meta["version"], digest=digest,
                chart_digest=chart["digest"], chart_size=chart["size"], metadata=meta,
                created_ns=time.time_ns(), prov_digest=prov["digest"] if prov else None,
                prov_size=prov["size"] if prov else 0))
        except ChartFileTaken:
            log.warning("helm chart %s:%s is not indexed: another chart of %s has the file name %s-%s.tgz",
                        repo, reference, ns, name, meta["version"])

    def _unindex(self, ns: str, repo: str, digest: str, tag: Optional[str]) -> None:
        """Drop the entry of manifest `digest` (by tag: only when `tag` is its version's tag)."""
        ref = self.charts.get_ref(ns, repo, digest)
        if ref is None or (tag is not None and version_tag(ref.version) != tag):
            return
        self.charts.remove(ns, repo, digest, ref)

    # -- the classic repository ----------------------------------------------------
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
        _, url = self.blob_url(entry.repo, digest)
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
        result = self.put_manifest(repo, tag, OCI_MANIFEST, go_json(manifest))
        return UploadedChart(repo, name, version, result[0], tag)

    def _blob(self, repo: str, data: bytes) -> str:
        return self.start_upload(repo, digest=compute(data), body=data).digest
