"""push, pull and copy: the library behind the CLI.

    from client.transfer import push, pull, copy
    push("oci:./layout:v1", "registry.example.com/acme/app:v1")
    push(["report.pdf", "sbom.json:application/spdx+json"], "registry.example.com/acme/docs:v1",
         artifact_type="application/vnd.acme.docs")
    pull("registry.example.com/acme/app:v1", "docker-archive:./app.tar")
    copy("reg-a.example.com/acme/app:v1", "reg-b.example.com/acme/app:v1")

Each returns the digest of the root manifest; raises ClientError on refusal.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence, Union

from .api import ClientError
from .layout import (INDEX_TYPES, TITLE, Manifest, Source, read_docker_archive, read_files, read_oci_layout,
                     split_transport, write_docker_archive, write_oci_layout)
from .progress import Reporter
from .registry import Ref, Repo, parse_ref
from .throttle import RateLimit
from .upload import Blob, Uploader

BLOB_JOBS = 5  # blobs in flight at once, each with its own part workers (5 x 8: issue 9's measurements)


class Options:
    def __init__(self, workers: int = 8, plain_http: Optional[bool] = None, direct: bool = True,
                 reporter: Optional[Reporter] = None, platform: str = "linux/amd64",
                 chunk: int = 4 * 1024 * 1024, limit_rate: Optional[float] = None) -> None:
        self.workers = workers
        # one limit (bytes/s) for the whole command, shared by every blob and part
        self.limit = RateLimit(limit_rate) if limit_rate else None
        self.plain_http = plain_http
        self.direct = direct
        self.reporter = reporter or Reporter(quiet=True)
        self.platform = platform
        self.chunk = chunk


def _ref(text: str) -> Ref:
    try:
        return parse_ref(text)
    except ValueError as err:
        raise ClientError(str(err)) from None


def _upload_all(repo: Repo, blobs: Sequence[Blob], opt: Options, mount_from: Optional[str] = None) -> None:
    rep = opt.reporter
    up = Uploader(repo, workers=opt.workers, chunk=opt.chunk, direct=opt.direct, events=rep.emit,
                  limit=opt.limit)
    rep.add_blobs([b.size for b in blobs])

    def one(blob: Blob) -> None:
        how = up.upload(blob, rep.blob(blob.digest, blob.size), mount_from=mount_from)
        rep.blob_done(blob.digest, blob.size, how)

    with ThreadPoolExecutor(max_workers=BLOB_JOBS) as pool:
        for f in [pool.submit(one, b) for b in blobs]:
            f.result()


def _put_manifests(repo: Repo, manifests: Sequence[Manifest], tag: Optional[str], opt: Options) -> str:
    for m in manifests[:-1]:
        repo.put_manifest(m.digest, m.body, m.media_type)
        opt.reporter.emit("manifest", digest=m.digest, mediaType=m.media_type)
    root = manifests[-1]
    repo.put_manifest(tag or root.digest, root.body, root.media_type)
    opt.reporter.emit("manifest", digest=root.digest, mediaType=root.media_type, tag=tag)
    return root.digest


def open_source(sources: Union[str, Sequence[str]], artifact_type: Optional[str] = None,
                annotations: Optional[dict] = None) -> Source:
    sources = [sources] if isinstance(sources, str) else list(sources)
    kind, path, tag = split_transport(sources[0])
    if kind and len(sources) == 1:
        if artifact_type:
            raise ClientError("--artifact-type is for plain files, not oci: or docker-archive: sources")
        return read_oci_layout(path, tag) if kind == "oci" else read_docker_archive(path, tag)
    if kind:
        raise ClientError("push one oci: or docker-archive: source at a time")
    return read_files(sources, artifact_type or "application/vnd.unknown.artifact.v1", annotations)


def push(sources: Union[str, Sequence[str]], target: str, opt: Optional[Options] = None,
         artifact_type: Optional[str] = None, annotations: Optional[dict] = None) -> str:
    opt = opt or Options()
    ref = _ref(target)
    src = open_source(sources, artifact_type, annotations)
    try:
        repo = Repo(ref, "pull,push", plain_http=opt.plain_http, pool=BLOB_JOBS * opt.workers + 4)
        repo.authorize()
        _upload_all(repo, src.blobs, opt)
        digest = _put_manifests(repo, src.manifests, ref.tag or src.tag, opt)
    finally:
        src.close()
    opt.reporter.finish("pushed", f"pushed {ref.host}/{ref.name}:{ref.tag or src.tag or ''}@{digest}",
                        reference=str(ref), digest=digest)
    return digest


# -- pull ---------------------------------------------------------------------------
def _download(repo: Repo, desc: dict, path: str, opt: Options) -> None:
    """Fetch one blob into `path`, checking its digest (a partial file is never left behind)."""
    if os.path.exists(path):
        opt.reporter.blob_done(desc["digest"], int(desc.get("size", 0)), "exists")
        return
    progress = opt.reporter.blob(desc["digest"], int(desc.get("size", 0)))
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            for data in repo.iter_blob(desc["digest"]):
                h.update(data)
                fh.write(data)
                progress(len(data))
        if "sha256:" + h.hexdigest() != desc["digest"]:
            raise ClientError(f"blob {desc['digest']} arrived with digest sha256:{h.hexdigest()}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    opt.reporter.blob_done(desc["digest"], int(desc.get("size", 0)), "downloaded")


def _pick_platform(index: dict, platform: str) -> dict:
    os_, _, arch = platform.partition("/")
    arch, _, variant = arch.partition("/")
    for d in index.get("manifests") or []:
        p = d.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch and (not variant or p.get("variant") == variant):
            return d
    raise ClientError(f"no {platform} image in the index (use --platform)")


def _fetch_tree(repo: Repo, reference: str, blob_dir: str, opt: Options, single: bool) -> list[Manifest]:
    """Manifests (children first) and their blobs into blob_dir; `single`: one platform only."""
    body, media_type = repo.get_manifest(reference)
    manifests: list[Manifest] = []
    doc = json.loads(body)
    media_type = media_type or doc.get("mediaType", "")
    if media_type in INDEX_TYPES:
        children = [_pick_platform(doc, opt.platform)] if single else doc.get("manifests") or []
        for child in children:
            manifests += _fetch_tree(repo, child["digest"], blob_dir, opt, single)
        if single:
            return manifests
    else:
        descs = [doc["config"]] + list(doc.get("layers") or [])
        unique = list({d["digest"]: d for d in descs}.values())
        opt.reporter.add_blobs([int(d.get("size", 0)) for d in unique])
        with ThreadPoolExecutor(max_workers=BLOB_JOBS) as pool:
            jobs = [pool.submit(_download, repo, d, os.path.join(blob_dir, d["digest"].split(":")[1]), opt)
                    for d in unique]
            for f in jobs:
                f.result()
    m = Manifest(body, media_type)
    if reference.startswith("sha256:") and m.digest != reference:
        raise ClientError(f"manifest {reference} arrived with digest {m.digest}")
    return manifests + [m]


def pull(source: str, dest: str, opt: Optional[Options] = None) -> str:
    opt = opt or Options()
    ref = _ref(source)
    repo = Repo(ref, "pull", plain_http=opt.plain_http)
    kind, path, tag = split_transport(dest)
    if kind == "oci":
        blob_dir = os.path.join(path, "blobs", "sha256")
        os.makedirs(blob_dir, exist_ok=True)
        manifests = _fetch_tree(repo, ref.reference, blob_dir, opt, single=False)
        for m in manifests:
            with open(os.path.join(blob_dir, m.digest.split(":")[1]), "wb") as fh:
                fh.write(m.body)
        write_oci_layout(path, tag or ref.tag, manifests[-1])
        digest = manifests[-1].digest
    else:
        work = tempfile.mkdtemp(prefix="pull-")
        try:
            manifests = _fetch_tree(repo, ref.reference, work, opt, single=True)
            doc = json.loads(manifests[-1].body)
            blob = lambda d: os.path.join(work, d["digest"].split(":")[1])  # noqa: E731
            if kind == "docker-archive":
                config = open(blob(doc["config"]), "rb").read()
                write_docker_archive(path, f"{ref.host}/{ref.name}:{tag or ref.tag or 'latest'}", config,
                                     [(blob(d), d.get("mediaType", "")) for d in doc.get("layers") or []])
            else:  # a directory: an artifact's files, by their title annotation
                os.makedirs(path, exist_ok=True)
                for d in doc.get("layers") or []:
                    title = (d.get("annotations") or {}).get(TITLE)
                    if not title or os.path.basename(title) != title or title in (".", ".."):
                        raise ClientError(f"layer {d['digest']} has no usable file name; pull into oci:DIR")
                    shutil.copyfile(blob(d), os.path.join(path, title))
            digest = manifests[-1].digest
        finally:
            shutil.rmtree(work, ignore_errors=True)
    opt.reporter.finish("pulled", f"pulled {ref} ({digest}) into {dest}", reference=str(ref), digest=digest,
                        destination=dest)
    return digest


# -- copy ---------------------------------------------------------------------------
def _copy_tree(src: Repo, dst: Repo, reference: str, opt: Options, same_registry: bool) -> Manifest:
    body, media_type = src.get_manifest(reference)
    doc = json.loads(body)
    media_type = media_type or doc.get("mediaType", "")
    if media_type in INDEX_TYPES:
        for child in doc.get("manifests") or []:
            m = _copy_tree(src, dst, child["digest"], opt, same_registry)
            dst.put_manifest(m.digest, m.body, m.media_type)
        return Manifest(body, media_type)
    descs = list({d["digest"]: d for d in [doc["config"]] + list(doc.get("layers") or [])}.values())
    spool = tempfile.mkdtemp(prefix="copy-")
    up = Uploader(dst, workers=opt.workers, chunk=opt.chunk, direct=opt.direct, events=opt.reporter.emit,
                  limit=opt.limit)
    opt.reporter.add_blobs([int(d.get("size", 0)) for d in descs])

    def one(d: dict) -> None:
        size = int(d.get("size", 0))
        if dst.blob_size(d["digest"]) is not None or (
                same_registry and src.name != dst.name and dst.mount(d["digest"], src.name)):
            opt.reporter.blob(d["digest"], size)(size)
            opt.reporter.blob_done(d["digest"], size, "mounted")
            return
        path = os.path.join(spool, d["digest"].split(":")[1])
        quiet = Options(reporter=Reporter(quiet=True))
        _download(src, d, path, quiet)  # spooled to disk: memory stays bounded at any size
        try:
            how = up.upload(Blob(d["digest"], size, path=path), opt.reporter.blob(d["digest"], size))
        finally:
            os.unlink(path)
        opt.reporter.blob_done(d["digest"], size, how)

    try:
        with ThreadPoolExecutor(max_workers=BLOB_JOBS) as pool:
            for f in [pool.submit(one, d) for d in descs]:
                f.result()
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    return Manifest(body, media_type)


def copy(source: str, target: str, opt: Optional[Options] = None) -> str:
    opt = opt or Options()
    sref, dref = _ref(source), _ref(target)
    same = sref.host == dref.host
    src = Repo(sref, "pull", plain_http=opt.plain_http)
    dst = Repo(dref, "pull,push", extra_pull=(sref.name,) if same else (), plain_http=opt.plain_http,
               pool=BLOB_JOBS * opt.workers + 4)
    dst.authorize()
    root = _copy_tree(src, dst, sref.reference, opt, same)
    tag = dref.tag or (sref.tag if not dref.digest else None)
    dst.put_manifest(tag or root.digest, root.body, root.media_type)
    opt.reporter.finish("copied", f"copied {sref} to {dref.host}/{dref.name}@{root.digest}",
                        source=str(sref), target=str(dref), digest=root.digest)
    return root.digest
