"""The client's pure pieces: references, local transports, and credentials stored as docker does."""
from __future__ import annotations

import base64
import json

import pytest

from client.auth import erase_credentials, find_credentials, store_credentials
from client.layout import split_transport
from client.registry import parse_ref
from client.upload import direct_path, with_digest


@pytest.mark.parametrize("text,host,name,tag,digest", [
    ("127.0.0.1:5000/acme/app:v1", "127.0.0.1:5000", "acme/app", "v1", None),
    ("registry.example.com/acme/app", "registry.example.com", "acme/app", None, None),
    ("localhost/app@sha256:" + "a" * 64, "localhost", "app", None, "sha256:" + "a" * 64),
    ("https://reg.example:8443/a/b/c:1.0", "reg.example:8443", "a/b/c", "1.0", None),
    ("docker://reg.example/x:y", "reg.example", "x", "y", None),
])
def test_parse_ref(text, host, name, tag, digest):
    ref = parse_ref(text)
    assert (ref.host, ref.name, ref.tag, ref.digest) == (host, name, tag, digest)


@pytest.mark.parametrize("text", [
    "acme/app:v1",                      # no registry host
    "reg.example/Acme/app:v1",          # upper case name
    "reg.example/acme/app:v1\n",        # a trailing newline must not pass
    "reg.example/acme/app\n",
    "reg.example/acme/app:bad tag",
    "reg.example/acme/app@sha256:abc",
    "reg.example/acme/app@sha256:" + "a" * 64 + "\n",
])
def test_parse_ref_refuses(text):
    with pytest.raises(ValueError):
        parse_ref(text)


def test_split_transport():
    assert split_transport("oci:./dir:v1") == ("oci", "./dir", "v1")
    assert split_transport("oci:/a/b") == ("oci", "/a/b", None)
    assert split_transport("docker-archive:img.tar") == ("docker-archive", "img.tar", None)
    assert split_transport("docker-archive:img.tar:acme/app:v1") == ("docker-archive", "img.tar:acme/app", "v1")
    assert split_transport("file.txt") == ("", "file.txt", None)


def test_session_urls_keep_their_query():
    assert direct_path("/v2/a/blobs/uploads/u1") == "/v2/a/blobs/uploads/u1/direct"
    assert direct_path("/v2/a/blobs/uploads/u1?_state=x") == "/v2/a/blobs/uploads/u1/direct?_state=x"
    assert with_digest("/v2/a/blobs/uploads/u1?_state=x", "sha256:ab") == \
        "/v2/a/blobs/uploads/u1?_state=x&digest=sha256:ab"


def test_credentials_stored_and_found_like_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {"other.example": {"auth": "eDp5"}},
                                                                 "psFormat": "keep me"}))
    assert find_credentials("reg.example") is None
    store_credentials("reg.example", "alice", "pa:ss")
    doc = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert doc["auths"]["reg.example"] == {"auth": base64.b64encode(b"alice:pa:ss").decode()}
    assert doc["psFormat"] == "keep me" and "other.example" in doc["auths"]
    assert find_credentials("reg.example") == ("alice", "pa:ss")
    assert erase_credentials("reg.example") and find_credentials("reg.example") is None
    # podman's auth.json is read too, REGISTRY_AUTH_FILE first
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"https://reg.example": {"auth": base64.b64encode(b"bob:pw").decode()}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))
    assert find_credentials("reg.example") == ("bob", "pw")
