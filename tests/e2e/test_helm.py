"""End-to-end: real Helm 3.17 and Helm 4.1 against the real local registry.

Over OCI: `helm registry login`, `helm push oci://`, `helm pull` (byte-identical
.tgz), `helm show chart|values|readme`, `helm template` from oci://, and
provenance (`helm package --sign` with a throwaway GPG key, `.prov` layer
pushed and pulled, `helm verify`). As a classic chart repository
(`/helm/<ns>`): `helm repo add` with credentials, `helm search repo`,
`helm pull` (with `--verify`), `helm template`, a ChartMuseum-style upload,
and deletes showing up after `helm repo update`; and that a user with push on
`<ns>/sandbox/...` only cannot publish `<ns>`'s charts to classic readers.

Every test gets its own HELM_CONFIG_HOME / HELM_CACHE_HOME / HELM_DATA_HOME /
HELM_REGISTRY_CONFIG and its own namespace, so tests share nothing but the
registry process.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

import requests

from e2e.clients import INSTALL_HINT, have_binary, helm_binary, run
from e2e.helpers import server_log_on_failure

HELM_MAJORS = [3, 4]
SERVICE = "oci-registry"


# --------------------------------------------------------------------------
# helpers (test_tls.py uses them too)
# --------------------------------------------------------------------------


class Helm:
    """A real Helm binary with a private configuration, cache, data and registry config."""

    def __init__(self, major: int, home: Path, ca_file: Optional[Path] = None) -> None:
        try:
            self.binary = helm_binary(major)
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
        self.major = major
        self.home = home
        self.ca_file = ca_file
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "HOME": str(home),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_REGISTRY_CONFIG": str(home / "registry.json"),
            "HELM_REPOSITORY_CONFIG": str(home / "config" / "repositories.yaml"),
            "HELM_REPOSITORY_CACHE": str(home / "cache" / "repository"),
            "DOCKER_CONFIG": str(home / "docker"),
            "XDG_CONFIG_HOME": str(home / "xdg-config"),
            "XDG_CACHE_HOME": str(home / "xdg-cache"),
            "XDG_DATA_HOME": str(home / "xdg-data"),
            "HELM_DEBUG": None,
        }

    def run(self, *args: str, check: bool = True, input: Optional[bytes] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        proc = run([self.binary, *args], env=self.env, check=check, input=input, timeout=timeout)
        proc.output = proc.stdout + proc.stderr  # Helm 3 and 4 split messages differently
        return proc

    def remote_flags(self) -> list[str]:
        """Flags for push/pull/show/template against the registry: TLS CA or plain HTTP."""
        return ["--ca-file", str(self.ca_file)] if self.ca_file else ["--plain-http"]

    def login(self, host: str, user: str, password: str, check: bool = True) -> subprocess.CompletedProcess:
        if self.ca_file:
            flags = ["--ca-file", str(self.ca_file)]
        else:  # Helm 3.17's login has no --plain-http; its --insecure falls back to HTTP
            flags = ["--insecure"] if self.major == 3 else ["--plain-http"]
        return self.run("registry", "login", host, "--username", user, "--password-stdin", *flags,
                        input=password.encode(), check=check)


@dataclass
class SigningKey:
    name: str
    secring: Path
    pubring: Path


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningKey]:
    """A throwaway GPG key, exported to the legacy keyring files Helm reads."""
    if not have_binary("gpg"):
        pytest.skip(f"gpg not installed; {INSTALL_HINT}")
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    params = home / "key-params"
    params.write_text("%no-protection\nKey-Type: RSA\nKey-Length: 2048\nSubkey-Type: RSA\nSubkey-Length: 2048\n"
                      "Name-Real: Helm E2E\nName-Email: helm-e2e@example.com\nExpire-Date: 0\n%commit\n")
    gpg = ["gpg", "--batch", "--homedir", str(home)]
    try:
        run([*gpg, "--gen-key", str(params)], timeout=120)
        key = SigningKey("Helm E2E", home / "secring.gpg", home / "pubring.gpg")
        key.secring.write_bytes(run([*gpg, "--export-secret-keys"], text=False).stdout)
        key.pubring.write_bytes(run([*gpg, "--export"], text=False).stdout)
        yield key
    finally:
        # gpg started an agent for this home directory only; stop it.
        run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


def make_chart(helm: Helm, workdir: Path, name: str, version: str, key: Optional[SigningKey] = None,
               marker: str = "") -> tuple[Path, Optional[Path]]:
    """`helm create` + a README and a values marker, then `helm package` (signed when `key`)."""
    src = workdir / "src" / f"{name}-{version}"
    src.parent.mkdir(parents=True, exist_ok=True)
    helm.run("create", str(src))
    chart_dir = src
    chart_yaml = chart_dir / "Chart.yaml"
    text = chart_yaml.read_text()
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", text)
    text = re.sub(r"(?m)^version:.*$", f"version: {version}", text)
    text = re.sub(r"(?m)^description:.*$", f"description: e2e chart {name} {marker}".rstrip(), text)
    chart_yaml.write_text(text)
    (chart_dir / "README.md").write_text(f"# {name}\n\nThe {name} chart, version {version}. {marker}\n")
    with open(chart_dir / "values.yaml", "a") as fh:
        fh.write(f"\ne2eMarker: {json.dumps(marker or name)}\n")
    out = workdir / "pkg"
    out.mkdir(exist_ok=True)
    args = ["package", str(chart_dir), "-d", str(out)]
    if key:
        args += ["--sign", "--key", key.name, "--keyring", str(key.secring)]
    helm.run(*args)
    tgz = out / f"{name}-{version}.tgz"
    assert tgz.is_file(), list(out.iterdir())
    prov = Path(f"{tgz}.prov")
    return tgz, (prov if key else None)


def pushed_digest(proc: subprocess.CompletedProcess) -> str:
    m = re.search(r"Digest: (sha256:[0-9a-f]{64})", proc.output)
    assert m, proc.output
    return m.group(1)


def bearer(url: str, creds: tuple[str, str], scope: str, verify: object = True) -> dict:
    """Authorization header with a token for `scope` (the registry's token flow)."""
    r = requests.get(f"{url}/token", params={"service": SERVICE, "scope": scope}, auth=creds, verify=verify)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def oci_round_trip(helm: Helm, host: str, ns: str, workdir: Path, key: SigningKey,
                   creds: tuple[str, str]) -> None:
    """The whole OCI story for one Helm: login, push (signed), pull, verify, show, template."""
    name, version = "webapp", "0.1.0"
    tgz, prov = make_chart(helm, workdir, name, version, key=key, marker="oci")
    assert "Login Succeeded" in helm.login(host, *creds).output

    pushed = helm.run("push", str(tgz), f"oci://{host}/{ns}", *helm.remote_flags())
    assert f"Pushed: {host}/{ns}/{name}:{version}" in pushed.output
    digest = pushed_digest(pushed)
    ref = f"oci://{host}/{ns}/{name}"

    out = workdir / "pulled"
    out.mkdir()
    pulled = helm.run("pull", ref, "--version", version, "--prov", "-d", str(out), *helm.remote_flags())
    assert pushed_digest(pulled) == digest
    assert (out / tgz.name).read_bytes() == tgz.read_bytes(), "pulled chart differs from the pushed one"
    assert (out / prov.name).read_bytes() == prov.read_bytes(), "pulled provenance differs"
    verified = helm.run("verify", str(out / tgz.name), "--keyring", str(key.pubring))
    assert "Signed by: Helm E2E" in verified.output and "Chart Hash Verified" in verified.output

    by_digest = workdir / "by-digest"
    by_digest.mkdir()
    helm.run("pull", f"{ref}@{digest}", "-d", str(by_digest), *helm.remote_flags())
    assert [p.read_bytes() for p in by_digest.iterdir()] == [tgz.read_bytes()]

    checked = workdir / "verified"
    checked.mkdir()
    helm.run("pull", ref, "--version", version, "--verify", "--keyring", str(key.pubring),
             "-d", str(checked), *helm.remote_flags())
    assert (checked / tgz.name).read_bytes() == tgz.read_bytes()

    for what in ("chart", "values", "readme"):
        remote = helm.run("show", what, ref, "--version", version, *helm.remote_flags()).stdout
        assert remote == helm.run("show", what, str(tgz)).stdout, f"helm show {what} differs"
    assert "e2eMarker" in helm.run("show", "values", ref, "--version", version, *helm.remote_flags()).stdout

    rendered = helm.run("template", "rel", ref, "--version", version, *helm.remote_flags()).stdout
    assert rendered == helm.run("template", "rel", str(tgz)).stdout
    assert "kind: Deployment" in rendered and "rel-webapp" in rendered


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


@pytest.fixture
def ns(uniq: str) -> str:
    return f"helm{uniq}"


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_oci_push_pull_show_template_and_provenance(local_registry, tmp, signing_key, ns, major):
    helm = Helm(major, tmp / "helm")
    with server_log_on_failure(local_registry):
        oci_round_trip(helm, local_registry.host, ns, tmp, signing_key,
                       (local_registry.username, local_registry.password))


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_oci_push_needs_login(local_registry, tmp, ns, major):
    helm = Helm(major, tmp / "helm")
    tgz, _ = make_chart(helm, tmp, "nologin", "1.0.0")
    with server_log_on_failure(local_registry):
        proc = helm.run("push", str(tgz), f"oci://{local_registry.host}/{ns}", "--plain-http", check=False)
        assert proc.returncode != 0
        assert re.search(r"401|403|unauthori[sz]ed|denied", proc.output, re.I), proc.output
        bad = helm.login(local_registry.host, local_registry.username, "wrong-password", check=False)
        assert bad.returncode != 0


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_classic_chart_repository(local_registry, tmp, signing_key, ns, major):
    """Charts pushed over OCI (and one uploaded ChartMuseum-style) served as `helm repo add` expects."""
    helm = Helm(major, tmp / "helm")
    host, creds = local_registry.host, (local_registry.username, local_registry.password)
    v1, _ = make_chart(helm, tmp / "a1", "api", "0.1.0", marker="first")
    v2, v2_prov = make_chart(helm, tmp / "a2", "api", "0.2.0", key=signing_key, marker="second")
    up, up_prov = make_chart(helm, tmp / "b", "batch", "1.0.0", key=signing_key, marker="uploaded")
    with server_log_on_failure(local_registry):
        helm.login(host, *creds)
        d1 = pushed_digest(helm.run("push", str(v1), f"oci://{host}/{ns}", "--plain-http"))
        helm.run("push", str(v2), f"oci://{host}/{ns}", "--plain-http")
        with open(up, "rb") as chart, open(up_prov, "rb") as prov:
            r = requests.post(f"{local_registry.url}/helm/{ns}/api/charts", auth=creds,
                              files={"chart": (up.name, chart), "prov": (up_prov.name, prov)})
        assert r.status_code == 201, r.text

        repo_url = f"{local_registry.url}/helm/{ns}"
        bad = helm.run("repo", "add", "wrong", repo_url, "--username", creds[0], "--password", "nope",
                       check=False)
        assert bad.returncode != 0 and "401" in bad.output, bad.output
        helm.run("repo", "add", "team", repo_url, "--username", creds[0], "--password", creds[1])

        found = json.loads(helm.run("search", "repo", "team/", "-l", "-o", "json").stdout)
        assert sorted((c["name"], c["version"]) for c in found) == [
            ("team/api", "0.1.0"), ("team/api", "0.2.0"), ("team/batch", "1.0.0")]
        assert {c["description"] for c in found if c["name"] == "team/api"} == {
            "e2e chart api first", "e2e chart api second"}

        out = tmp / "classic"
        out.mkdir()
        verified = helm.run("pull", "team/api", "--version", "0.2.0", "--verify", "--keyring",
                            str(signing_key.pubring), "-d", str(out))
        assert "Chart Hash Verified" in verified.output
        assert (out / v2.name).read_bytes() == v2.read_bytes()
        assert (out / v2_prov.name).read_bytes() == v2_prov.read_bytes()
        helm.run("pull", "team/batch", "-d", str(out))                  # latest version
        assert (out / up.name).read_bytes() == up.read_bytes()

        rendered = helm.run("template", "rel", "team/api", "--version", "0.1.0").stdout
        assert rendered == helm.run("template", "rel", str(v1)).stdout

        # The uploaded chart is an ordinary OCI chart too.
        oci_out = tmp / "oci"
        oci_out.mkdir()
        helm.run("pull", f"oci://{host}/{ns}/batch", "--version", "1.0.0", "--prov", "-d", str(oci_out),
                 "--plain-http")
        assert (oci_out / up.name).read_bytes() == up.read_bytes()
        assert (oci_out / up_prov.name).read_bytes() == up_prov.read_bytes()

        # An umbrella chart depending on one chart over OCI and one from the classic repository.
        umbrella = tmp / "umbrella"
        helm.run("create", str(umbrella))
        with open(umbrella / "Chart.yaml", "a") as fh:
            fh.write(f"dependencies:\n"
                     f"- name: api\n  version: 0.2.0\n  repository: oci://{host}/{ns}\n"
                     f"- name: batch\n  version: 1.0.0\n  repository: {repo_url}\n")
        helm.run("dependency", "update", str(umbrella), "--plain-http")
        assert (umbrella / "charts" / v2.name).read_bytes() == v2.read_bytes()
        assert (umbrella / "charts" / up.name).read_bytes() == up.read_bytes()
        rendered = helm.run("template", "rel", str(umbrella)).stdout
        assert "rel-api" in rendered and "rel-batch" in rendered

        # Deleting a version over OCI removes it from the classic index.
        r = requests.delete(f"{local_registry.url}/v2/{ns}/api/manifests/{d1}",
                            headers=bearer(local_registry.url, creds, f"repository:{ns}/api:pull,delete"))
        assert r.status_code == 202, r.text
        helm.run("repo", "update", "team")
        found = json.loads(helm.run("search", "repo", "team/api", "-l", "-o", "json").stdout)
        assert [c["version"] for c in found] == ["0.2.0"]
        gone = helm.run("pull", "team/api", "--version", "0.1.0", "-d", str(out), check=False)
        assert gone.returncode != 0


@pytest.mark.parametrize("major", HELM_MAJORS)
def test_classic_view_serves_a_chart_only_from_its_own_repository(local_registry, tmp, ns, major):
    """The review's attack with real clients: a user with push on `<ns>/sandbox/...` only pushes
    (helm push) and uploads a chart named like the namespace's `achart`; `helm repo add` readers
    still get the real one, and the other user's chart stays reachable over OCI."""
    host, base = local_registry.host, local_registry.url
    admin_creds = (local_registry.username, local_registry.password)
    mallory = (f"m{ns}", "mallory-password-long-enough")
    r = requests.post(f"{base}/admin/users", json={"username": mallory[0], "password": mallory[1]},
                      auth=admin_creds, timeout=30)
    assert r.status_code == 201, r.text
    for repo in (f"{ns}/sandbox", f"{ns}/sandbox/achart"):
        r = requests.put(f"{base}/admin/grants", json={"account": mallory[0], "role": "write", "repository": repo},
                         auth=admin_creds, timeout=30)
        assert r.status_code == 204, r.text

    owner, attacker = Helm(major, tmp / "owner"), Helm(major, tmp / "mallory")
    good, _ = make_chart(owner, tmp / "good", "achart", "0.1.0", marker="good")
    evil, _ = make_chart(attacker, tmp / "evil", "achart", "0.1.0", marker="evil")
    newer, _ = make_chart(attacker, tmp / "newer", "achart", "0.9.0", marker="evil")
    with server_log_on_failure(local_registry):
        owner.login(host, *admin_creds)
        owner.run("push", str(good), f"oci://{host}/{ns}", "--plain-http")
        attacker.login(host, *mallory)
        for chart in (evil, newer):      # lands in <ns>/sandbox/achart, as Helm names it
            pushed = attacker.run("push", str(chart), f"oci://{host}/{ns}/sandbox", "--plain-http")
            assert f"{ns}/sandbox/achart" in pushed.output
            with open(chart, "rb") as fh:
                r = requests.post(f"{base}/helm/{ns}/api/charts?force=true", auth=mallory,
                                  files={"chart": (chart.name, fh)}, timeout=60)
            assert r.status_code == 403, r.text

        owner.run("repo", "add", "team", f"{base}/helm/{ns}", "--username", admin_creds[0],
                  "--password", admin_creds[1])
        found = json.loads(owner.run("search", "repo", "team/", "-l", "-o", "json").stdout)
        assert [(c["name"], c["version"], c["description"]) for c in found] == [
            ("team/achart", "0.1.0", "e2e chart achart good")]
        out = tmp / "classic"
        out.mkdir()
        owner.run("pull", "team/achart", "--version", "0.1.0", "-d", str(out))
        assert (out / good.name).read_bytes() == good.read_bytes()

        oci_out = tmp / "oci"
        oci_out.mkdir()
        attacker.run("pull", f"oci://{host}/{ns}/sandbox/achart", "--version", "0.1.0", "-d", str(oci_out),
                     "--plain-http")
        assert (oci_out / evil.name).read_bytes() == evil.read_bytes()
