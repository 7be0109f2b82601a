"""The standard OCI distribution API for one repository: manifests, blobs, mounts, uploads.

Works with any registry (token dance, Basic, anonymous). References look like
`host[:port]/name[:tag|@digest]`; loopback hosts speak HTTP, others HTTPS, unless
`plain_http` says otherwise (or the reference starts with `http://`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import requests

from .api import ClientError, _error_from
from .auth import TokenAuth, find_credentials, read_capped

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_LOCAL = ("localhost", "127.", "[::1]")
MAX_MANIFEST = 8 << 20     # the registry's own cap is 4 MiB


@dataclass(frozen=True)
class Ref:
    host: str
    name: str
    tag: Optional[str] = None
    digest: Optional[str] = None
    scheme: Optional[str] = None  # None: http for loopback hosts, https otherwise

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        tail = f"@{self.digest}" if self.digest else f":{self.tag}" if self.tag else ""
        return f"{self.host}/{self.name}{tail}"


def parse_ref(text: str) -> Ref:
    """`[http(s)://|docker://]host[:port]/name[:tag][@digest]`; ValueError when malformed."""
    scheme = None
    for prefix in ("http://", "https://", "docker://"):
        if text.startswith(prefix):
            scheme = prefix[:-3] if prefix != "docker://" else None
            text = text[len(prefix):]
    host, _, rest = text.partition("/")
    if not rest or not ("." in host or ":" in host or host == "localhost"):
        raise ValueError(f"{text!r}: give the registry host, e.g. 127.0.0.1:5000/acme/app:v1")
    digest = tag = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"{digest!r} is not a sha256 digest")
    name, sep, maybe_tag = rest.rpartition(":")
    if sep and "/" not in maybe_tag:
        rest, tag = name, maybe_tag
        if not _TAG.fullmatch(tag):
            raise ValueError(f"{tag!r} is not a valid tag")
    if not _NAME.fullmatch(rest):
        raise ValueError(f"{rest!r} is not a valid repository name (lowercase, / separated)")
    return Ref(host, rest, tag, digest, scheme)


class Repo:
    """One repository on one registry, authenticated for `actions` (plus pull on `extra`)."""

    def __init__(self, ref: Ref, actions: str = "pull", extra_pull: tuple[str, ...] = (),
                 creds: Any = "stored", plain_http: Optional[bool] = None, timeout: float = 60.0,
                 pool: int = 16) -> None:
        self.ref = ref
        self.name = ref.name
        scheme = ref.scheme or ("http" if plain_http or (plain_http is None and ref.host.startswith(_LOCAL))
                                else "https")
        self.base = f"{scheme}://{ref.host}"
        self.timeout = timeout
        if creds == "stored":
            creds = find_credentials(ref.host)
        scope = " ".join([f"repository:{ref.name}:{actions}"] + [f"repository:{r}:pull" for r in extra_pull
                                                                if r != ref.name])
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "registry-client/1"
        self.auth = TokenAuth(creds, scope, timeout)
        self.session.auth = self.auth

    # -- transport -------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base + path

    def request(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kw: Any) -> requests.Response:
        """One request; ClientError unless the status is in `ok`."""
        kw.setdefault("timeout", self.timeout)
        kw.setdefault("allow_redirects", False)
        try:
            r = self.session.request(method, self.url(path), **kw)
        except requests.RequestException as err:
            raise ClientError(f"cannot reach {self.base}: {err}") from None
        if r.status_code not in ok:
            raise _error_from(r.status_code, r.headers, r.content if not kw.get("stream") else r.raw.read(4096))
        return r

    def authorize(self) -> None:
        """Fetch a token before requests whose bodies cannot be replayed."""
        try:
            self.auth.authorize(self.session, self.base)
        except requests.RequestException as err:
            raise ClientError(f"cannot reach {self.base}: {err}") from None

    # -- manifests -------------------------------------------------------------
    def get_manifest(self, reference: str, accept: tuple[str, ...] = MANIFEST_TYPES) -> tuple[bytes, str]:
        r = self.request("GET", f"/v2/{self.name}/manifests/{reference}", headers={"Accept": ", ".join(accept)},
                         stream=True)
        body = read_capped(r, MAX_MANIFEST)
        if body is None:  # registries refuse manifests over 4 MiB; more is a broken or hostile server
            raise ClientError(f"the manifest {reference} is over {MAX_MANIFEST >> 20} MiB")
        return body, r.headers.get("Content-Type", "").split(";")[0]

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str:
        r = self.request("PUT", f"/v2/{self.name}/manifests/{reference}", ok=(201,), data=body,
                         headers={"Content-Type": media_type})
        return r.headers.get("Docker-Content-Digest", "")

    # -- blobs -----------------------------------------------------------------
    def blob_size(self, digest: str) -> Optional[int]:
        """The blob's size when the repository has it, else None."""
        r = self.request("HEAD", f"/v2/{self.name}/blobs/{digest}", ok=(200, 307, 404))
        if r.status_code == 404:
            return None
        return int(r.headers.get("Content-Length") or -1)

    def mount(self, digest: str, source: str) -> bool:
        """Cross-repository mount; True when committed, else the opened session is dropped."""
        r = self.request("POST", f"/v2/{self.name}/blobs/uploads/", ok=(201, 202),
                         params={"mount": digest, "from": source})
        if r.status_code == 201:
            return True
        self.request("DELETE", r.headers["Location"], ok=(204, 404, 405, 200, 202))
        return False

    def open_blob(self, digest: str) -> requests.Response:
        """A streaming response with the blob's bytes (follows the registry's redirect)."""
        r = self.request("GET", f"/v2/{self.name}/blobs/{digest}", ok=(200, 307, 302, 303), stream=True)
        hops = 0
        while r.status_code in (302, 303, 307) and hops < 5:
            location = requests.compat.urljoin(r.url, r.headers["Location"])
            r.close()
            try:  # presigned URLs carry their own authority: no Authorization header
                r = requests.get(location, stream=True, timeout=self.timeout)
            except requests.RequestException as err:
                raise ClientError(f"cannot fetch blob {digest}: {err}") from None
            hops += 1
        if r.status_code != 200:
            raise _error_from(r.status_code, r.headers, r.raw.read(4096))
        return r

    def iter_blob(self, digest: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        with self.open_blob(digest) as r:
            yield from r.iter_content(chunk)
