"""HTTPS for the local server (`make run TLS=1`, i.e. REGISTRY_TLS=1).

On first use this creates, under `.local-data/tls/` (or REGISTRY_TLS_DIR), a
local certificate authority and a server certificate for localhost,
127.0.0.1, ::1 and the machine's host name (plus HOST when it names something
else) signed by it, and
reuses them afterwards: trust the CA once and every restart keeps working.
The server certificate is re-issued (by the same CA) when it nears expiry or
lacks a needed name; the CA is never replaced unless its files are deleted.

API Gateway tells the app the original scheme in `X-Forwarded-Proto`; the
local server's gateway does the same from the connection (local/server.py),
so the token realm in a 401 challenge is an https URL.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Iterable

CA_DAYS = 3650
SERVER_DAYS = 397          # the longest validity browsers and Apple platforms accept
RENEW_BEFORE_DAYS = 30
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    directory: str
    ca_cert: str
    ca_key: str
    cert: str
    key: str


def files_in(directory: str) -> TlsFiles:
    d = os.path.abspath(directory)
    return TlsFiles(d, os.path.join(d, "ca.crt"), os.path.join(d, "ca.key"),
                    os.path.join(d, "server.crt"), os.path.join(d, "server.key"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write(path: str, data: bytes, private: bool) -> None:
    """Write atomically (a reader never sees half a file); keys readable by the owner only."""
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _make_ca(files: TlsFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = _new_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oci-registry local development"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"oci-registry local CA ({socket.gethostname()[:32]})"),
    ])
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(files.ca_key, _key_pem(key), private=True)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)


def _san(names: Iterable[str]) -> list:
    from cryptography import x509

    out = []
    for n in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return out


def _make_server_cert(files: TlsFiles, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    with open(files.ca_key, "rb") as fh:
        ca_key = serialization.load_pem_private_key(fh.read(), password=None)
    with open(files.ca_cert, "rb") as fh:
        ca = x509.load_pem_x509_certificate(fh.read())
    key = _new_key()
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(_san(names)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(files.key, _key_pem(key), private=True)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)


def _server_cert_ok(files: TlsFiles, names: list[str]) -> bool:
    """The server certificate exists, was issued by this CA, covers `names` and is not near expiry."""
    from cryptography import x509

    if not (os.path.exists(files.cert) and os.path.exists(files.key)):
        return False
    try:
        with open(files.cert, "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        with open(files.ca_cert, "rb") as fh:
            ca = x509.load_pem_x509_certificate(fh.read())
        cert.verify_directly_issued_by(ca)
        have = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # noqa: BLE001 - unreadable or foreign: issue a new one
        return False
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    return all(entry in have for entry in _san(names))


def cert_names(host: str = "") -> list[str]:
    """localhost, 127.0.0.1, ::1 and this machine's name, plus the bind address when specific.

    The machine's name matters beyond convenience: Helm 3's push resolver
    (containerd's) always speaks plain HTTP to loopback addresses and
    `localhost`, so HTTPS with Helm 3 on one machine needs another name.
    """
    names = list(DEFAULT_NAMES)
    machine = socket.gethostname()
    if machine and machine not in names:
        names.append(machine)
    if host and host not in ("0.0.0.0", "::", "") and host not in names:
        names.append(host)
    return names


def ensure_certificates(directory: str, host: str = "") -> TlsFiles:
    """Create the CA and server certificate once; reuse them afterwards (safe across processes)."""
    files = files_in(directory)
    os.makedirs(files.directory, mode=0o700, exist_ok=True)
    names = cert_names(host)
    with open(os.path.join(files.directory, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.path.exists(files.ca_cert) and os.path.exists(files.ca_key)):
            _make_ca(files)
        if not _server_cert_ok(files, names):
            _make_server_cert(files, names)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the server certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    return ctx


def trust_help(files: TlsFiles, host: str, port: int) -> str:
    """How to make clients trust the local CA."""
    where = f"{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
    ca = files.ca_cert
    return "\n".join([
        f"TLS on: certificates in {files.directory} (server certificate for {', '.join(cert_names(host))})",
        f"  trust the local CA {ca} system-wide:",
        f"    Debian/Ubuntu: sudo cp {ca} /usr/local/share/ca-certificates/oci-registry-local.crt "
        "&& sudo update-ca-certificates",
        f"    RHEL/Fedora:   sudo cp {ca} /etc/pki/ca-trust/source/anchors/oci-registry-local.crt "
        "&& sudo update-ca-trust extract",
        "  or pass it per command:",
        f"    helm registry login {where} --ca-file {ca}   (and --ca-file on helm push/pull/repo add)",
        f"    skopeo/podman/buildah: mkdir -p DIR && cp {ca} DIR/ca.crt, then --cert-dir DIR "
        f"(skopeo copy: --dest-cert-dir/--src-cert-dir), or put it in /etc/containers/certs.d/{where}/ca.crt",
        f"    curl --cacert {ca} https://{where}/v2/",
    ])
