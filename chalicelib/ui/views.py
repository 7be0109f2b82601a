"""View models of the UI pages, built from use-case results (pure: no I/O)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ..oci import mediatypes as mt

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYERS = ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", "application/tar+gzip")
HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov"
IMAGE_CONFIGS = (mt.OCI_CONFIG, mt.DOCKER_CONFIG)
INDEX_TYPES = (mt.OCI_INDEX, mt.DOCKER_LIST)
IMAGE_TYPES = (mt.OCI_MANIFEST, mt.DOCKER_V2)
# Chart files shown on the chart page are cut at this size.
MAX_CHART_TEXT = 64 * 1024


def when(epoch: Optional[int]) -> str:
    """A UTC timestamp for tables ('-' when unknown)."""
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def human_size(n: Optional[int]) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def parse_json(body: Optional[bytes]) -> Optional[dict]:
    if not body:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _object(doc: dict, key: str) -> dict:
    """doc[key] when it is a JSON object, else {} (pushed documents may hold anything)."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def platform_of(p: Any) -> str:
    if not isinstance(p, dict):
        return "-"
    parts = [str(p.get("os") or "?"), str(p.get("architecture") or "?")]
    if p.get("variant"):
        parts.append(str(p["variant"]))
    return "/".join(parts)


def kind_of(media_type: str, doc: Optional[dict]) -> tuple[str, str]:
    """(kind, detail): image, index, Helm chart or artifact (with its type)."""
    doc = doc or {}
    config = _object(doc, "config")
    if media_type in INDEX_TYPES:
        return "index", doc.get("artifactType") or ""
    if config.get("mediaType") == HELM_CONFIG:
        return "Helm chart", ""
    artifact = doc.get("artifactType")
    if artifact:
        return "artifact", str(artifact)
    if media_type in IMAGE_TYPES and config.get("mediaType") not in IMAGE_CONFIGS:
        return "artifact", str(config.get("mediaType") or "")
    return "image", ""


def _descriptors(doc: dict, key: str) -> list[dict]:
    items = doc.get(key)
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def _size(d: dict) -> int:
    return d["size"] if isinstance(d.get("size"), int) else 0


@dataclass
class TagRow:
    tag: str
    digest: str
    media_type: str
    kind: str
    detail: str
    platforms: list[str]
    size: str
    commands: list[tuple[str, str]] = field(default_factory=list)
    pushed: str = "-"
    expires: str = "-"


def total_size(media_type: str, size: int, doc: Optional[dict]) -> Optional[int]:
    """Manifest, config and layers (an index: itself and its children's manifests)."""
    if doc is None:
        return None
    if media_type in INDEX_TYPES:
        return size + sum(_size(d) for d in _descriptors(doc, "manifests"))
    config = _object(doc, "config")
    return size + _size(config) + sum(_size(d) for d in _descriptors(doc, "layers"))


@dataclass
class Target:
    """Where the registry is, as clients are told to reach it."""

    base_url: str   # http(s)://host[:port]

    @property
    def host(self) -> str:
        return self.base_url.split("://", 1)[1]

    @property
    def plain_http(self) -> bool:
        return self.base_url.startswith("http://")


def commands(t: Target, repo: str, tag: str, kind: str) -> list[tuple[str, str]]:
    """Copy-ready (client, command) pairs for one tag."""
    ref = f"{t.host}/{repo}:{tag}"
    tls = " --tls-verify=false" if t.plain_http else ""
    plain = " --plain-http" if t.plain_http else ""
    out: list[tuple[str, str]] = []
    if kind == "Helm chart":
        ns, _, chart = repo.partition("/")
        out.append(("helm (OCI)", f"helm pull oci://{t.host}/{repo} --version {tag}{plain}"))
        if chart and "/" not in chart:
            out.append(("helm (repo)", f"helm repo add {ns} {t.base_url}/helm/{ns} && "
                                       f"helm pull {ns}/{chart} --version {tag.replace('_', '+')}"))
    elif kind in ("image", "index"):
        out.append(("podman", f"podman pull{tls} {ref}"))
        out.append(("docker", f"docker pull {ref}"))
    out.append(("oras", f"oras pull{plain} {ref}"))
    return out


def tag_row(t: Target, repo: str, tag: str, digest: str, media_type: str, size: int,
            body: Optional[bytes], pushed: Optional[int] = None, expires: Optional[int] = None) -> TagRow:
    doc = parse_json(body)
    kind, detail = kind_of(media_type, doc)
    platforms = [platform_of(d.get("platform")) for d in _descriptors(doc or {}, "manifests")
                 if isinstance(d.get("platform"), dict)]
    return TagRow(tag, digest, media_type, kind, detail, platforms,
                  human_size(total_size(media_type, size, doc)), commands(t, repo, tag, kind), when(pushed),
                  when(expires))


def representations(media_type: str, has_config: bool, can_sign: bool) -> list[str]:
    """Media types the registry converts this manifest to on read (see manifests/convert.py)."""
    if media_type == mt.OCI_MANIFEST:
        out = [mt.DOCKER_V2]
    elif media_type == mt.DOCKER_V2:
        out = [mt.OCI_MANIFEST]
    elif media_type in INDEX_TYPES:
        return [mt.DOCKER_LIST if media_type == mt.OCI_INDEX else mt.OCI_INDEX,
                "the default platform's image (clients that accept no index)"]
    else:
        return []
    if has_config:
        out.append(mt.DOCKER_V1)
        if can_sign:
            out.append(mt.DOCKER_V1_SIGNED)
    return out


def referrer_type(artifact_type: Optional[str]) -> str:
    a = (artifact_type or "").lower()
    if "signature" in a or "cosign" in a or "notary" in a:
        return "signature"
    if "spdx" in a or "cyclonedx" in a or "sbom" in a or "syft" in a:
        return "SBOM"
    if "in-toto" in a or "intoto" in a or "attestation" in a or "provenance" in a:
        return "attestation"
    return "artifact"


@dataclass
class ManifestView:
    repo: str
    reference: str
    digest: str
    media_type: str
    kind: str
    detail: str
    size: int
    subject: Optional[str]
    layers: list[dict]
    config: Optional[dict]
    children: list[dict]
    env: list[str]
    labels: list[tuple[str, str]]
    history: list[dict]
    representations: list[str]
    referrers: list[dict]
    annotations: list[tuple[str, str]]
    raw: str


def manifest_view(repo: str, reference: str, digest: str, media_type: str, body: bytes,
                  config_doc: Optional[dict], referrers_index: dict, can_sign: bool) -> ManifestView:
    doc = parse_json(body) or {}
    kind, detail = kind_of(media_type, doc)
    config = doc.get("config") if isinstance(doc.get("config"), dict) else None
    img = _object(config_doc or {}, "config")
    labels = _object(img, "Labels")
    history = [h for h in (config_doc or {}).get("history") or [] if isinstance(h, dict)]
    subject = doc.get("subject", {}).get("digest") if isinstance(doc.get("subject"), dict) else None
    children = [{"digest": d.get("digest"), "media_type": d.get("mediaType"), "size": _size(d),
                 "platform": platform_of(d.get("platform")),
                 "artifact_type": d.get("artifactType")} for d in _descriptors(doc, "manifests")]
    referrers = [{"digest": d.get("digest"), "artifact_type": d.get("artifactType") or d.get("mediaType"),
                  "type": referrer_type(d.get("artifactType") or d.get("mediaType")), "size": _size(d)}
                 for d in _descriptors(referrers_index, "manifests")]
    annotations = _object(doc, "annotations")
    return ManifestView(
        repo=repo, reference=reference, digest=digest, media_type=media_type, kind=kind, detail=detail,
        size=len(body), subject=subject,
        layers=[{"digest": d.get("digest"), "media_type": d.get("mediaType"), "size": _size(d),
                 "human": human_size(_size(d))} for d in _descriptors(doc, "layers")],
        config=config, children=children,
        env=[str(e) for e in img.get("Env") or [] if isinstance(e, str)],
        labels=sorted((str(k), str(v)) for k, v in labels.items()),
        history=[{"created": str(h.get("created", "")), "created_by": str(h.get("created_by", "")),
                  "empty": bool(h.get("empty_layer"))} for h in history],
        representations=representations(media_type, config_doc is not None and kind == "image", can_sign),
        referrers=referrers,
        annotations=sorted((str(k), str(v)) for k, v in annotations.items()),
        raw=json.dumps(doc, indent=2)[:MAX_CHART_TEXT],
    )


@dataclass
class ChartView:
    repo: str
    version: str
    digest: str
    metadata: dict
    dependencies: list[dict]
    readme: str
    values: str
    provenance: str
    versions: list[str]


def chart_files(archive: bytes, limit: int = MAX_CHART_TEXT) -> dict[str, str]:
    """README and values.yaml of the chart's top directory (texts cut at `limit`)."""
    import io
    import tarfile

    out: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) != 2 or not member.isfile():
                    continue
                name = parts[1]
                if name.lower() in ("readme.md", "readme.txt", "readme") and "readme" not in out:
                    key = "readme"
                elif name == "values.yaml":
                    key = "values"
                else:
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    out[key] = f.read(limit).decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError):
        out.setdefault("readme", "(the chart archive could not be read)")
    return out


def chart_layers(doc: dict) -> tuple[Optional[dict], Optional[dict]]:
    """(chart archive descriptor, provenance descriptor) of a Helm chart manifest."""
    chart = prov = None
    for d in _descriptors(doc, "layers"):
        if d.get("mediaType") in HELM_CHART_LAYERS and chart is None:
            chart = d
        elif d.get("mediaType") == HELM_PROV and prov is None:
            prov = d
    return chart, prov


def chart_view(repo: str, version: str, digest: str, metadata: Optional[dict], archive: Optional[bytes],
               prov: Optional[bytes], versions: list[str]) -> ChartView:
    meta = metadata or {}
    files = chart_files(archive) if archive else {}
    deps = [d for d in meta.get("dependencies") or [] if isinstance(d, dict)]
    return ChartView(repo=repo, version=version, digest=digest,
                     metadata={k: v for k, v in meta.items() if isinstance(v, (str, int, float))},
                     dependencies=[{"name": str(d.get("name", "")), "version": str(d.get("version", "")),
                                    "repository": str(d.get("repository", ""))} for d in deps],
                     readme=files.get("readme", ""), values=files.get("values", ""),
                     provenance=(prov or b"").decode("utf-8", "replace")[:MAX_CHART_TEXT],
                     versions=versions)


@dataclass
class RepoRow:
    name: str
    namespace: str
    public: bool
    last_push: str = "-"
    size: str = "-"


def repo_rows(pairs: list[tuple[str, bool]], query: str) -> list[RepoRow]:
    q = query.strip().lower()
    return [RepoRow(name, name.split("/", 1)[0], public) for name, public in pairs if q in name.lower()]


def with_stats(rows: list[RepoRow], stats: dict) -> list[RepoRow]:
    """Last push and stored size from `storage.ports.RepoStats` ('-' when unknown)."""
    for r in rows:
        st = stats.get(r.name)
        r.last_push = when(st.pushed if st else None)
        r.size = human_size(st.stored if st else None)
    return rows
