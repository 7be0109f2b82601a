"""The UI's pure parts: view models, commands, session tokens and CSRF."""
from __future__ import annotations

import io
import json
import tarfile
from types import SimpleNamespace

from chalicelib.auth.tokens import LocalSigner, Verifier
from chalicelib.ui import session, views

OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
SETTINGS = SimpleNamespace(issuer="iss", service="svc", token_leeway=0)


def test_session_cookie_is_secure_only_over_https():
    plain = session.cookie_header("ui_session", "t", secure=False, max_age=10)
    tls = session.cookie_header("ui_session", "t", secure=True, max_age=10)
    assert "Secure" not in plain.split("; ") and "Secure" in tls.split("; ")
    for c in (plain, tls):
        assert {"HttpOnly", "SameSite=Strict", "Path=/ui"} <= set(c.split("; "))


def test_session_token_round_trip_and_audience():
    signer = LocalSigner(LocalSigner.generate_pem())
    verifier = Verifier(signer.public_key_pem())
    token = session.new_session_token("alice", 3, SETTINGS, signer)
    assert session.session_subject(token, SETTINGS, verifier) == ("alice", 3)
    assert session.session_subject(token + "x", SETTINGS, verifier) is None
    other = SimpleNamespace(issuer="iss", service="other", token_leeway=0)
    assert session.session_subject(token, other, verifier) is None
    claims = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["aud"] == "svc/ui" and claims["typ"] == "ui" and claims["access"] == []


def test_csrf_check():
    token = session.new_csrf()
    assert session.csrf_ok(token, token)
    assert not session.csrf_ok(token, session.new_csrf())
    assert not session.csrf_ok(None, token) and not session.csrf_ok(token, "")
    assert not session.csrf_ok(token + "\n", token + "\n")


def test_kinds_platforms_and_sizes():
    image = {"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 10},
             "layers": [{"size": 100}, {"size": 1000}]}
    assert views.kind_of(OCI, image) == ("image", "")
    chart = {"config": {"mediaType": views.HELM_CONFIG}, "layers": []}
    assert views.kind_of(OCI, chart)[0] == "Helm chart"
    sbom = {"artifactType": "application/spdx+json", "config": {"mediaType": "application/vnd.oci.empty.v1+json"}}
    assert views.kind_of(OCI, sbom) == ("artifact", "application/spdx+json")
    index = {"manifests": [{"size": 5, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                           {"size": 7, "platform": {"os": "linux", "architecture": "amd64"}}]}
    row = views.tag_row(views.Target("http://h:5"), "ns/a", "v1", "sha256:x", INDEX, 50, json.dumps(index).encode())
    assert row.kind == "index" and row.platforms == ["linux/arm64/v8", "linux/amd64"] and row.size == "62 B"
    row = views.tag_row(views.Target("https://h"), "ns/a", "v1", "sha256:x", OCI, 10, json.dumps(image).encode())
    assert row.size == "1.1 KiB"
    assert ("podman", "podman pull h/ns/a:v1") in row.commands


def test_commands_for_charts_and_plain_http():
    cmds = dict(views.commands(views.Target("http://127.0.0.1:5000"), "team/web", "1.2.3_build", "Helm chart"))
    assert cmds["helm (OCI)"] == "helm pull oci://127.0.0.1:5000/team/web --version 1.2.3_build --plain-http"
    assert cmds["helm (repo)"] == ("helm repo add team http://127.0.0.1:5000/helm/team && "
                                   "helm pull team/web --version 1.2.3+build")
    assert "podman" not in cmds
    img = dict(views.commands(views.Target("http://127.0.0.1:5000"), "team/web", "v1", "image"))
    assert img["podman"] == "podman pull --tls-verify=false 127.0.0.1:5000/team/web:v1"
    assert img["oras"] == "oras pull --plain-http 127.0.0.1:5000/team/web:v1"


def test_referrer_types_and_representations():
    assert views.referrer_type("application/vnd.dev.cosign.artifact.sig.v1+json") == "signature"
    assert views.referrer_type("application/vnd.cncf.notary.signature") == "signature"
    assert views.referrer_type("application/spdx+json") == "SBOM"
    assert views.referrer_type("application/vnd.in-toto+json") == "attestation"
    assert views.referrer_type(None) == "artifact"
    assert "application/vnd.docker.distribution.manifest.v2+json" in views.representations(OCI, True, False)
    assert "application/vnd.docker.distribution.manifest.v1+prettyjws" not in views.representations(OCI, True, False)
    assert views.representations("application/vnd.foo", True, True) == []


def _tgz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_chart_view_reads_readme_values_and_dependencies():
    archive = _tgz({"web/Chart.yaml": b"name: web", "web/README.md": b"# Web chart",
                    "web/values.yaml": b"replicas: 2\n", "web/charts/sub/README.md": b"not this"})
    meta = {"name": "web", "version": "1.0.0", "dependencies": [{"name": "db", "version": "2.x",
                                                                  "repository": "oci://r/db"}]}
    v = views.chart_view("ns/web", "1.0.0", "sha256:x", meta, archive, b"-----BEGIN PGP", ["1.0.0"])
    assert v.readme == "# Web chart" and v.values == "replicas: 2\n"
    assert v.dependencies == [{"name": "db", "version": "2.x", "repository": "oci://r/db"}]
    assert v.provenance.startswith("-----BEGIN PGP")
    broken = views.chart_view("ns/web", "1", "d", None, b"not a tgz", None, [])
    assert "could not be read" in broken.readme
