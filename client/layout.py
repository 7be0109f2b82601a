"""Local image sources: OCI image layouts, docker-archive tarballs, plain files as an artifact.

Each becomes a `Source`: the blobs to upload (byte ranges of local files, never loaded
whole) and the manifests to put, children before the index that lists them.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from .api import ClientError
from .upload import Blob

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
TITLE = "org.opencontainers.image.title"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class Manifest:
    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


@dataclass
class Source:
    blobs: list[Blob]
    manifests: list[Manifest]  # the last one is what the tag points at
    tag: Optional[str] = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in self.cleanup:
            fn()


def hashed_blobs(ranges: list[tuple[str, int, int, str]]) -> list[Blob]:
    """Blobs for (path, offset, size, media type) byte ranges, hashed in parallel (hashlib
    lets go of the GIL), each in one pass that also takes the SHA-256 of every part the
    direct upload path will send (Blob.part_sums): no second read before the upload."""
    from .direct import DirectUploadError, default_part_size, hash_source

    def one(r: tuple[str, int, int, str]) -> Blob:
        path, offset, size, media_type = r
        blob = Blob("", size, path=path, offset=offset, media_type=media_type)
        part = default_part_size(size)
        try:
            blob.digest, sums = hash_source(blob, part)
        except DirectUploadError:
            raise ClientError(f"{path}: shorter than {size} bytes (changed while being read)") from None
        blob.part_sums = (part, sums)
        return blob

    if len(ranges) < 2:
        return [one(r) for r in ranges]
    with ThreadPoolExecutor(min(len(ranges), os.cpu_count() or 2, 8)) as pool:
        return list(pool.map(one, ranges))


def file_digest(path: str, offset: int = 0, size: Optional[int] = None) -> tuple[str, int]:
    h, done = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        while size is None or done < size:
            data = fh.read(min(8 << 20, (size - done) if size is not None else 8 << 20))
            if not data:
                break
            h.update(data)
            done += len(data)
    return "sha256:" + h.hexdigest(), done


def split_transport(text: str) -> tuple[str, str, Optional[str]]:
    """`oci:DIR[:TAG]` / `docker-archive:FILE[:REF]` -> (kind, path, tag); else ("", text, None)."""
    for kind in ("oci", "docker-archive"):
        if text.startswith(kind + ":"):
            rest = text[len(kind) + 1:]
            path, sep, tag = rest.rpartition(":")
            if sep and "/" not in tag and path:
                return kind, path, tag
            return kind, rest, None
    return "", text, None


# -- OCI image layout ------------------------------------------------------------
def _layout_blob(root: str, desc: dict) -> Blob:
    algo, _, hexd = str(desc.get("digest", "")).partition(":")
    path = os.path.join(root, "blobs", algo, hexd)
    if algo != "sha256" or not os.path.isfile(path):
        raise ClientError(f"{root}: blob {desc.get('digest')} is missing")
    return Blob(desc["digest"], int(desc.get("size", os.path.getsize(path))), path=path,
                media_type=desc.get("mediaType", "application/octet-stream"))


def read_oci_layout(root: str, tag: Optional[str]) -> Source:
    try:
        index = json.loads(open(os.path.join(root, "index.json"), "rb").read())
    except (OSError, ValueError) as err:
        raise ClientError(f"{root} is not an OCI image layout: {err}") from None
    descs = index.get("manifests") or []
    if tag:
        descs = [d for d in descs if (d.get("annotations") or {}).get(REF_NAME) == tag]
    if len(descs) != 1:
        names = [(d.get("annotations") or {}).get(REF_NAME) for d in index.get("manifests") or []]
        raise ClientError(f"{root}: {'no' if not descs else 'more than one'} image"
                          f"{' tagged ' + tag if tag else ''} (tags: {names}); say oci:DIR:TAG")
    blobs: dict[str, Blob] = {}
    manifests: list[Manifest] = []

    def walk(desc: dict) -> None:
        b = _layout_blob(root, desc)
        body = b.read(0, b.size)
        doc = json.loads(body)
        media_type = desc.get("mediaType") or doc.get("mediaType") or OCI_MANIFEST
        if media_type in INDEX_TYPES:
            for child in doc.get("manifests") or []:
                walk(child)
        else:
            for d in [doc.get("config")] + list(doc.get("layers") or []):
                if d and d["digest"] not in blobs:
                    blobs[d["digest"]] = _layout_blob(root, d)
        manifests.append(Manifest(body, media_type))

    walk(descs[0])
    found_tag = tag or (descs[0].get("annotations") or {}).get(REF_NAME)
    return Source(list(blobs.values()), manifests, found_tag)


def write_oci_layout(root: str, tag: Optional[str], manifest: Manifest) -> None:
    """Add the root manifest (its blobs are already under blobs/) to index.json, tagged."""
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    path = os.path.join(root, "index.json")
    try:
        index = json.loads(open(path, "rb").read())
    except (OSError, ValueError):
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    desc = {"mediaType": manifest.media_type, "digest": manifest.digest, "size": len(manifest.body)}
    if tag:
        desc["annotations"] = {REF_NAME: tag}
    def replaced(d: dict) -> bool:  # the tag moves; an untagged copy of the same image goes
        name = (d.get("annotations") or {}).get(REF_NAME)
        return (tag is not None and name == tag) or (name is None and d.get("digest") == manifest.digest)

    index["manifests"] = [d for d in index.get("manifests") or [] if not replaced(d)] + [desc]
    with open(path, "w") as fh:
        json.dump(index, fh)


# -- docker-archive ----------------------------------------------------------------
def read_docker_archive(path: str, ref: Optional[str]) -> Source:
    """`docker save` output -> an OCI image (uncompressed layers read in place from the tar)."""
    cleanup: list[Callable[[], None]] = []
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # docker save | gzip: layers must be addressable, so unpack once
        tmpdir = tempfile.mkdtemp(prefix="docker-archive-")
        cleanup.append(lambda: shutil.rmtree(tmpdir, ignore_errors=True))
        plain = os.path.join(tmpdir, "archive.tar")
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        path = plain
    try:
        tar = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as err:
        raise ClientError(f"{path} is not a docker-archive tarball: {err}") from None
    with tar:
        members = {m.name.lstrip("./") if m.name.startswith("./") else m.name: m for m in tar.getmembers()}

        def member(name: str, hops: int = 0) -> tarfile.TarInfo:
            m = members.get(name)
            if m is None or hops > 8:
                raise ClientError(f"{path}: {name} is missing")
            if m.issym() or m.islnk():
                target = m.linkname if m.islnk() else os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
                return member(target, hops + 1)
            return m

        try:
            entries = json.loads(tar.extractfile(member("manifest.json")).read())
        except (ValueError, AttributeError) as err:
            raise ClientError(f"{path}: unreadable manifest.json: {err}") from None
        if ref:
            entries = [e for e in entries if ref in (e.get("RepoTags") or []) or
                       any(t.endswith("/" + ref) or t.split(":")[-1] == ref for t in e.get("RepoTags") or [])]
        if len(entries) != 1:
            raise ClientError(f"{path}: {len(entries)} images match; say docker-archive:FILE:NAME:TAG")
        entry = entries[0]
        cfg_member = member(entry["Config"])
        config = tar.extractfile(cfg_member).read()
        blobs: list[Blob] = [Blob("sha256:" + hashlib.sha256(config).hexdigest(), len(config), data=config,
                                  media_type=OCI_CONFIG)]
        ranges = []
        for name in entry.get("Layers") or []:
            m = member(name)
            with open(path, "rb") as fh:
                fh.seek(m.offset_data)
                gz = fh.read(2) == b"\x1f\x8b"
            ranges.append((path, m.offset_data, m.size, OCI_LAYER + ("+gzip" if gz else "")))
        hashed = hashed_blobs(ranges)
        blobs.extend(hashed)
        layers = [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in hashed]
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": blobs[0].digest, "size": blobs[0].size},
                "layers": layers}
    tags = entry.get("RepoTags") or []
    tag = tags[0].rpartition(":")[2] if tags else None
    unique = list({b.digest: b for b in blobs}.values())
    return Source(unique, [Manifest(json.dumps(manifest).encode(), OCI_MANIFEST)], tag, cleanup)


def write_docker_archive(path: str, repo_tag: str, config: bytes, layers: list[tuple[str, str]]) -> None:
    """A `docker load`-able tarball; `layers` are (file of the layer blob, media type)."""
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: Optional[bytes] = None, file: Optional[str] = None) -> None:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.size = os.path.getsize(file)
                with open(file, "rb") as fh:
                    tar.addfile(info, fh)

        names = []
        for i, (file, media_type) in enumerate(layers):
            if media_type.endswith("gzip"):  # docker-archive layers are plain tars
                plain = file + ".tar"
                with gzip.open(file, "rb") as src, open(plain, "wb") as dst:
                    shutil.copyfileobj(src, dst, 8 << 20)
                file = plain
            digest, _ = file_digest(file)
            name = f"{digest.split(':')[1]}/layer.tar"
            add(name, file=file)
            names.append(name)
        cfg_name = hashlib.sha256(config).hexdigest() + ".json"
        add(cfg_name, data=config)
        doc = [{"Config": cfg_name, "RepoTags": [repo_tag], "Layers": names}]
        add("manifest.json", data=json.dumps(doc).encode())


# -- plain files as an artifact ------------------------------------------------------
def read_files(paths: list[str], artifact_type: str, annotations: Optional[dict] = None) -> Source:
    """Files (`PATH[:MEDIATYPE]`) -> an OCI 1.1 artifact manifest with the empty config."""
    blobs = [Blob("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", 2,
                  data=b"{}", media_type=OCI_EMPTY)]
    ranges = []
    for spec in paths:
        path, media_type = spec, "application/octet-stream"
        if not os.path.isfile(path) and ":" in spec:
            path, _, media_type = spec.rpartition(":")
        if not os.path.isfile(path):
            raise ClientError(f"{path}: no such file (directories are not supported; tar them first)")
        ranges.append((path, 0, os.path.getsize(path), media_type))
    hashed = hashed_blobs(ranges)
    blobs.extend(hashed)
    layers = [{"mediaType": b.media_type, "digest": b.digest, "size": b.size,
               "annotations": {TITLE: os.path.basename(b.path or "")}} for b in hashed]
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
           "config": {"mediaType": OCI_EMPTY, "digest": blobs[0].digest, "size": 2}, "layers": layers}
    if annotations:
        doc["annotations"] = annotations
    unique = list({b.digest: b for b in blobs}.values())
    return Source(unique, [Manifest(json.dumps(doc).encode(), OCI_MANIFEST)])
