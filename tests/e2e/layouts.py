"""OCI image layouts and indexes of pseudo-random layers, written for the clients to push."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Sequence

from support import sha256

from e2e.client_base import MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_LAYER_GZIP, MT_OCI_MANIFEST


def _layer_tar(seed: int, index: int, files: int = 3) -> bytes:
    """A small deterministic tar with a directory and ``files`` files."""
    rng = random.Random(f"{seed}:{index}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirname = f"layer{index}"
        info = tarfile.TarInfo(dirname)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        info.mtime = 0
        tar.addfile(info)
        for j in range(files):
            body = (
                f"seed={seed} layer={index} file={j}\n".encode()
                + bytes(rng.getrandbits(8) for _ in range(rng.randint(64, 2048)))
            )
            info = tarfile.TarInfo(f"{dirname}/file{j}.bin")
            info.size = len(body)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def build_oci_layout(
    path: str | os.PathLike[str],
    layers: int = 3,
    seed: int = 0,
    ref_name: str = "latest",
    architecture: str = "amd64",
    os_name: str = "linux",
    layer_tars: Optional[list[bytes]] = None,
    compresslevel: int = 6,
) -> dict:
    """Write a valid OCI image layout with one single-platform image at ``path``.

    ``layer_tars`` (uncompressed tar archives) replaces the generated layers.

    Deterministic for a given (``layers``, ``seed``): gzip with mtime=0, tar
    entries with mtime 0 and uid/gid 0, canonical JSON. The config carries
    ``rootfs.diff_ids`` (sha256 of the uncompressed tars) and one history
    entry per layer; index.json annotates the manifest with
    ``org.opencontainers.image.ref.name = ref_name``.

    Returns ``{"path", "ref" (oci:PATH:REF for skopeo), "manifest_digest",
    "manifest" (bytes), "config_digest", "config" (bytes), "layer_digests",
    "diff_ids", "blobs" ({digest: bytes} of every blob incl. manifest)}``.
    """
    root = Path(path)
    blob_dir = root / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blob_dir / digest.split(":", 1)[1]).write_bytes(data)
        blobs[digest] = data
        return digest

    layer_descs: list[dict] = []
    diff_ids: list[str] = []
    history: list[dict] = []
    tars = layer_tars if layer_tars is not None else [_layer_tar(seed, i) for i in range(layers)]
    layers = len(tars)
    for i, raw in enumerate(tars):
        gz = gzip.compress(raw, compresslevel=compresslevel, mtime=0)
        diff_ids.append(sha256(raw))
        layer_descs.append({"mediaType": MT_OCI_LAYER_GZIP, "digest": put(gz), "size": len(gz)})
        history.append(
            {"created": "1970-01-01T00:00:00Z", "created_by": f"build_oci_layout seed={seed} layer={i}"}
        )

    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": architecture,
        "os": os_name,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            "Labels": {"e2e.seed": str(seed), "e2e.layers": str(layers)},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = put(config_bytes)

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = put(manifest_bytes)

    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": architecture, "os": os_name},
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (root / "index.json").write_text(json.dumps(index, separators=(",", ":")))

    return {
        "path": str(root),
        "ref": f"oci:{root}:{ref_name}",
        "manifest_digest": manifest_digest,
        "manifest": manifest_bytes,
        "manifest_size": len(manifest_bytes),
        "config_digest": config_digest,
        "config": config_bytes,
        "layer_digests": [d["digest"] for d in layer_descs],
        "diff_ids": diff_ids,
        "blobs": blobs,
    }



def build_oci_index_layout(
    path: str | os.PathLike[str],
    platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    layers: int = 2,
    seed: int = 0,
    ref_name: str = "latest",
) -> dict:
    """Write an OCI image layout holding one multi-platform image (an image index).

    One single-platform image per ``(os, architecture)`` in ``platforms``,
    each built by ``build_oci_layout`` into the same blob directory with its
    own seed (``seed + position``) so no two platforms share layers. The
    index is a blob; index.json points at it with
    ``org.opencontainers.image.ref.name = ref_name`` (copy it with
    ``skopeo copy --all``).

    Returns ``{"path", "ref" (oci:PATH:REF), "index_digest", "index" (bytes),
    "images" ({"os/arch": build_oci_layout's dict}), "blobs" ({digest: bytes}
    of every blob incl. the index)}``.
    """
    root = Path(path)
    images: dict[str, dict] = {}
    blobs: dict[str, bytes] = {}
    descriptors: list[dict] = []
    for position, (os_name, arch) in enumerate(platforms):
        image = build_oci_layout(root, layers=layers, seed=seed + position, ref_name=f"{ref_name}-{arch}",
                                 architecture=arch, os_name=os_name)
        images[f"{os_name}/{arch}"] = image
        blobs.update(image["blobs"])
        descriptors.append(
            {
                "mediaType": MT_OCI_MANIFEST,
                "digest": image["manifest_digest"],
                "size": len(image["manifest"]),
                "platform": {"architecture": arch, "os": os_name},
            }
        )
    index_bytes = json.dumps(
        {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": descriptors}, separators=(",", ":")
    ).encode()
    index_digest = sha256(index_bytes)
    (root / "blobs" / "sha256" / index_digest.split(":", 1)[1]).write_bytes(index_bytes)
    blobs[index_digest] = index_bytes
    top = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {
                "mediaType": MT_OCI_INDEX,
                "digest": index_digest,
                "size": len(index_bytes),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(top, separators=(",", ":")))
    return {
        "path": str(root),
        "ref": f"oci:{root}:{ref_name}",
        "index_digest": index_digest,
        "index": index_bytes,
        "images": images,
        "blobs": blobs,
    }

@contextlib.contextmanager
def temp_dir(prefix: str = "e2e-") -> Iterator[Path]:
    """A temporary directory removed on exit (for use outside pytest)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
