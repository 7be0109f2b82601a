"""End-to-end: the local server over HTTPS (`make run TLS=1`, i.e. REGISTRY_TLS=1).

One `python -m local` with REGISTRY_TLS=1 and its own certificate directory
serves this module. Clients trust its local CA explicitly (helm --ca-file,
skopeo --cert-dir), never with --plain-http or verification turned off.

Helm 3.17 pushes through containerd's resolver, which always speaks plain
HTTP to loopback addresses and `localhost`; the server certificate also
names the machine's host name, so the clients reach the server by that name
when it resolves to a loopback address the server can bind.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from e2e.clients import REPO_ROOT, Skopeo, build_oci_layout, find_free_port, have_binary
from e2e.conftest import READY_LINE, STARTUP_TIMEOUT, LocalRegistry, _server_env
from e2e.test_helm import Helm, oci_round_trip, server_log_on_failure, signing_key  # noqa: F401 (fixture)


def _loopback_name() -> tuple[str, str]:
    """(name clients use, address to bind): the host name when it resolves to loopback."""
    name = socket.gethostname()
    try:
        addr = socket.gethostbyname(name)
    except OSError:
        addr = ""
    if name and name != "localhost" and addr.startswith("127."):
        return name, addr
    return "127.0.0.1", "127.0.0.1"


@dataclass
class TlsRegistry:
    server: LocalRegistry
    name: str
    bind: str
    tls_dir: Path

    @property
    def host(self) -> str:
        return f"{self.name}:{self.server.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def ca(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def creds(self) -> tuple[str, str]:
        return self.server.username, self.server.password


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRegistry]:
    name, bind = _loopback_name()
    tls_dir = Path(tempfile.mkdtemp(prefix="e2e-tls-"))
    log_path = tmp_path_factory.mktemp("tls-registry") / "server.log"
    port = find_free_port()
    env = {**_server_env(port), "REGISTRY_TLS": "1", "REGISTRY_TLS_DIR": str(tls_dir), "HOST": bind}
    log_file = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "local"], cwd=str(REPO_ROOT), env=env, stdout=log_file,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = LocalRegistry(port=port, proc=proc, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while READY_LINE not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"`python -m local` (TLS) did not start:\n{server.log_tail()}")
            time.sleep(0.05)
        yield TlsRegistry(server, name, bind, tls_dir)
    finally:
        server.stop()
        for f in tls_dir.iterdir():
            f.unlink()
        tls_dir.rmdir()


def test_https_with_the_local_ca(tls_registry):
    reg = tls_registry
    log = reg.server.log_path.read_text(errors="replace")
    assert "registry listening on https://" in log
    assert "update-ca-certificates" in log and "update-ca-trust extract" in log and "--ca-file" in log
    assert oct(os.stat(reg.tls_dir / "ca.key").st_mode & 0o777) == "0o600"
    assert oct(os.stat(reg.tls_dir / "server.key").st_mode & 0o777) == "0o600"

    r = requests.get(f"{reg.url}/v2/", verify=str(reg.ca))
    assert r.status_code == 401
    # The token realm follows the scheme the client used (X-Forwarded-Proto, as API Gateway sets it).
    assert r.headers["WWW-Authenticate"].startswith(f'Bearer realm="https://{reg.host}/token"')
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{reg.url}/v2/")           # the system trust store does not know the local CA
    if reg.bind == "127.0.0.1":  # the certificate names 127.0.0.1 and localhost as well
        for host in ("127.0.0.1", "localhost"):
            assert requests.get(f"https://{host}:{reg.server.port}/v2/", verify=str(reg.ca)).status_code == 401


@pytest.mark.parametrize("major", [3, 4])
def test_helm_over_https(tls_registry, tmp, signing_key, uniq, major):
    reg = tls_registry
    if major == 3 and reg.name.startswith("127."):
        pytest.skip("Helm 3 speaks plain HTTP to loopback addresses and no loopback host name is available")
    helm = Helm(major, tmp / "helm", ca_file=reg.ca)
    ns = f"tls{uniq}"
    with server_log_on_failure(reg.server):
        oci_round_trip(helm, reg.host, ns, tmp, signing_key, reg.creds)
        # The classic repository over HTTPS too.
        helm.run("repo", "add", "team", f"{reg.url}/helm/{ns}", "--ca-file", str(reg.ca),
                 "--username", reg.creds[0], "--password", reg.creds[1])
        assert "team/webapp" in helm.run("search", "repo", "team/").stdout
        out = tmp / "classic"
        out.mkdir()
        helm.run("pull", "team/webapp", "--version", "0.1.0", "-d", str(out))
        assert (out / "webapp-0.1.0.tgz").read_bytes() == (tmp / "pkg" / "webapp-0.1.0.tgz").read_bytes()


def test_helm_refuses_the_server_without_the_ca(tls_registry, tmp, uniq):
    reg = tls_registry
    helm = Helm(4, tmp / "helm")
    proc = helm.run("registry", "login", reg.host, "--username", reg.creds[0], "--password-stdin",
                    input=reg.creds[1].encode(), check=False)
    assert proc.returncode != 0
    assert "certificate" in proc.output, proc.output


def test_skopeo_over_https(tls_registry, tmp, uniq):
    if not have_binary("skopeo"):
        pytest.skip("skopeo not installed")
    reg = tls_registry
    certs = tmp / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(reg.ca.read_bytes())
    layout = build_oci_layout(tmp / "layout", layers=2, seed=7)
    skopeo = Skopeo(tmp / "skopeo")
    creds = ":".join(reg.creds)
    dest = f"docker://{reg.host}/tls{uniq}/image:v1"
    with server_log_on_failure(reg.server):
        refused = skopeo.run("copy", "--dest-creds", creds, layout["ref"], dest, check=False)
        assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr

        skopeo.run("copy", "--dest-cert-dir", str(certs), "--dest-creds", creds, layout["ref"], dest)
        raw = skopeo.run("inspect", "--raw", "--cert-dir", str(certs), "--creds", creds, dest, text=False).stdout
        assert raw == layout["manifest"]
        back = tmp / "back"
        skopeo.run("copy", "--src-cert-dir", str(certs), "--src-creds", creds, dest, f"oci:{back}:v1")
        for digest, data in layout["blobs"].items():
            blob = back / "blobs" / "sha256" / digest.split(":", 1)[1]
            assert blob.read_bytes() == data, digest


def test_certificates_are_created_once_and_kept(tmp):
    sys.path.insert(0, str(REPO_ROOT))
    from local import tls

    first = tls.ensure_certificates(str(tmp / "tls"))
    ca, cert = Path(first.ca_cert).read_bytes(), Path(first.cert).read_bytes()
    again = tls.ensure_certificates(str(tmp / "tls"))
    assert Path(again.ca_cert).read_bytes() == ca and Path(again.cert).read_bytes() == cert
    # A new bind address gets a new server certificate from the same CA.
    third = tls.ensure_certificates(str(tmp / "tls"), host="127.0.0.9")
    assert Path(third.ca_cert).read_bytes() == ca
    assert Path(third.cert).read_bytes() != cert
    from cryptography import x509

    issued = x509.load_pem_x509_certificate(Path(third.cert).read_bytes())
    issued.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1", "127.0.0.9"}
