"""End-to-end: the web UI in a real browser (Playwright driving Debian's chromium)
against the real local registry, with content pushed by real clients.

Screenshots of the main pages live in docs/ui/; each run takes them again and
checks the layout (same width, no horizontal overflow, a similar height, key
elements where they belong), never pixels. `UI_SCREENSHOTS=update` rewrites them.
"""
from __future__ import annotations

import json
import os
import shlex
import struct
from pathlib import Path
from typing import Iterator

import pytest
import requests

from e2e.clients import REPO_ROOT, Podman, Skopeo, build_oci_layout
from e2e.helpers import require_binaries, server_log_on_failure
from e2e.test_helm import Helm, make_chart, signing_key  # noqa: F401 - signing_key is a fixture

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed in the venv")
oras_client = pytest.importorskip("oras.client", reason="oras Python SDK not installed in the venv")
oras_oci = pytest.importorskip("oras.oci")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}
SHOTS = Path(REPO_ROOT) / "docs" / "ui"
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium not installed: run scripts/install-clients.sh")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def content(local_registry, tmp_path_factory, signing_key):  # noqa: F811
    """An image pushed with skopeo, a signature attached with the oras SDK, a signed
    chart pushed with Helm; two repositories: one to make public, one private."""
    require_binaries("skopeo")
    tmp = tmp_path_factory.mktemp("ui")
    uniq = os.urandom(5).hex()
    host = local_registry.host
    ns = f"ui{uniq}"  # a namespace of its own: the admin page lists this run's repositories only
    r = requests.post(f"{local_registry.url}/admin/namespaces", json={"name": ns},
                      auth=(local_registry.username, local_registry.password), timeout=30)
    assert r.status_code == 201, r.text
    app, private = f"{ns}/app", f"{ns}/secret"
    layout = build_oci_layout(tmp / "src", layers=3, seed=31)
    skopeo = Skopeo(tmp / "skopeo", creds=local_registry.creds)
    with server_log_on_failure(local_registry):
        skopeo.copy(layout["ref"], f"{host}/{app}:v1")
        skopeo.copy(layout["ref"], f"{host}/{private}:v1")
        oras = oras_client.OrasClient(hostname=host, insecure=True)
        cfg = str(tmp / "oras.json")
        oras.login(username=local_registry.username, password=local_registry.password, hostname=host,
                   tls_verify=False, config_path=cfg)
        # The stored bytes' digest (from_manifest would hash the SDK's re-serialisation).
        subject = oras_oci.Subject("application/vnd.oci.image.manifest.v1+json", layout["manifest_digest"],
                                   len(layout["manifest"]))
        sig_conf = tmp / "sig-config.json"
        sig_conf.write_text(json.dumps({"signed": layout["manifest_digest"]}))
        payload = tmp / "sig" / "signature.json"
        payload.parent.mkdir()
        payload.write_text(json.dumps({"critical": {"image": layout["manifest_digest"]}}))
        resp = oras.push(target=f"{host}/{app}:sig", config_path=cfg, subject=subject,
                         files=[f"{payload}:application/vnd.dev.cosign.simplesigning.v1+json"],
                         manifest_config=f"{sig_conf}:{SIGNATURE_TYPE}", disable_path_validation=True,
                         quiet=True)
        assert resp.status_code == 201, resp.text
        signature = resp.headers["Docker-Content-Digest"]
        helm = Helm(3, tmp / "helm")
        chart = "webchart"
        tgz, _ = make_chart(helm, tmp, chart, "1.2.0", signing_key, marker="ui-e2e")
        helm.login(host, local_registry.username, local_registry.password)
        helm.run("push", str(tgz), f"oci://{host}/{ns}", *helm.remote_flags())
    return {"app": app, "private": private, "layout": layout, "signature": signature, "chart": f"{ns}/{chart}",
            "uniq": uniq, "ns": ns, "tmp": tmp}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def shot(page, name: str, key: list[str]) -> None:
    """Screenshot `name`, checked against docs/ui/<name>.png for layout (not pixels)."""
    for selector in ["header.top", "main h1", *key]:
        box = page.locator(selector).first.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"{name}: {selector} not laid out"
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"] + 1, f"{name}: {selector} overflows"
    header = page.locator("header.top").bounding_box()
    assert header["y"] == 0 and 30 <= header["height"] <= 90, f"{name}: header {header}"
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"], f"{name}: horizontal scroll"
    # Only stylesheet and script of our own, all small (no inline code, by CSP).
    kept = SHOTS / f"{name}.png"
    if os.environ.get("UI_SCREENSHOTS") == "update" or not kept.exists():
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(kept), full_page=True)
        return
    fresh = Path(page.context.tmp_dir) / f"{name}.png"
    page.screenshot(path=str(fresh), full_page=True)
    (w, h), (kw, kh) = png_size(fresh), png_size(kept)
    assert w == kw, f"{name}: width {w} != {kw} of docs/ui/{name}.png"
    assert 0.5 * kh <= h <= 2 * kh, f"{name}: height {h} far from {kh} of docs/ui/{name}.png"


def new_page(browser, tmp: Path, permissions: tuple = ()):
    ctx = browser.new_context(viewport=VIEWPORT, permissions=list(permissions))
    ctx.tmp_dir = str(tmp)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    return page


@pytest.fixture(scope="module")
def admin_page(browser, local_registry, content):
    page = new_page(browser, content["tmp"], ("clipboard-read", "clipboard-write"))
    page.goto(f"{local_registry.url}/ui/login")
    shot(page, "login", ["form[data-testid=login-form]"])
    page.fill("input[name=username]", local_registry.username)
    page.fill("input[name=password]", local_registry.password)
    page.click("form[data-testid=login-form] button[type=submit]")
    page.wait_for_url(f"{local_registry.url}/ui/")
    assert page.inner_text("[data-testid=user]") == local_registry.username
    yield page
    page.context.close()


def test_browse_copy_pull_command_and_run_it_with_podman(admin_page, local_registry, content, tmp):
    require_binaries("podman")
    page = admin_page
    page.fill("[data-testid=search]", f"ui{content['uniq']}")
    page.press("[data-testid=search]", "Enter")
    page.wait_for_load_state()
    shot(page, "repositories", ["table[data-testid=repos]"])
    page.click(f"text={content['app']}")
    row = page.locator("tr[data-tag=v1]")
    assert content["layout"]["manifest_digest"] in row.inner_text()
    assert "image" in row.inner_text() and "linux/amd64" not in row.inner_text()
    shot(page, "tags", ["table[data-testid=tags]", "button.copy"])
    page.locator("tr[data-tag=v1] + tr.cmdrow li", has_text="podman").locator("button.copy").click()
    page.wait_for_selector("button.copy.done")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command.startswith("podman pull ") and command.endswith(f"{content['app']}:v1"), command
    podman = Podman(tmp / "podman")
    with server_log_on_failure(local_registry):
        podman.run("login", "--tls-verify=false", "-u", local_registry.username, "-p", local_registry.password,
                   local_registry.host)
        podman.run(*shlex.split(command)[1:])
    config_hex = content["layout"]["config_digest"].split(":", 1)[1]
    assert any(img["Id"] == config_hex for img in json.loads(podman.run("images", "--format", "json").stdout))
    assert not page.errors, page.errors


def test_manifest_page_shows_layers_config_and_the_signature(admin_page, local_registry, content):
    page = admin_page
    page.goto(f"{local_registry.url}/ui/repo?name={content['app']}")
    page.click("tr[data-tag=v1] a[data-testid=tag-link]")
    page.wait_for_selector("[data-testid=digest]")
    assert page.inner_text("[data-testid=digest]") == content["layout"]["manifest_digest"]
    assert page.locator("table[data-testid=layers] tbody tr").count() == 3
    referrers = page.inner_text("table[data-testid=referrers]")
    assert content["signature"] in referrers and "signature" in referrers and SIGNATURE_TYPE in referrers
    reps = page.inner_text("[data-testid=representations]")
    assert "application/vnd.docker.distribution.manifest.v2+json" in reps
    shot(page, "manifest", ["table[data-testid=layers]", "table[data-testid=referrers]"])


def test_chart_page_shows_readme_values_and_provenance(admin_page, local_registry, content):
    page = admin_page
    page.goto(f"{local_registry.url}/ui/repo?name={content['chart']}")
    row = page.locator("tr[data-tag='1.2.0']")
    assert "Helm chart" in row.inner_text()
    cmds = page.locator("tr[data-tag='1.2.0'] + tr.cmdrow").inner_text()
    assert f"helm pull oci://{local_registry.host}/{content['chart']} --version 1.2.0" in cmds
    row.locator("a", has_text="chart").click()
    page.wait_for_selector("[data-testid=readme]")
    assert "ui-e2e" in page.inner_text("[data-testid=readme]")
    assert "e2eMarker" in page.inner_text("[data-testid=values]")
    assert "BEGIN PGP SIGNED MESSAGE" in page.inner_text("[data-testid=provenance]")
    assert "1.2.0" in page.inner_text("[data-testid=versions]")
    shot(page, "chart", ["[data-testid=readme]", "ul.cmds"])


def test_admin_creates_a_robot_that_pushes_with_skopeo(admin_page, local_registry, content, tmp):
    page = admin_page
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    name = "ci"
    page.fill("form[data-testid=robot-form] input[name=name]", name)
    page.click("form[data-testid=robot-form] button[value=create]")
    secret = page.inner_text("[data-testid=robot-secret]")
    robot = page.inner_text("[data-testid=robot-name]")
    assert robot == f"{content['ns']}+{name}" and len(secret) >= 20
    page.fill("form[data-testid=grant-form] input[name=account]", robot)
    page.select_option("form[data-testid=grant-form] select[name=role]", "write")
    page.fill("form[data-testid=grant-form] input[name=repository]", content["app"])
    page.click("form[data-testid=grant-form] button[type=submit]")
    assert "write on" in page.inner_text("[data-testid=message]")
    assert secret not in page.content()  # the secret was shown once
    layout = build_oci_layout(tmp / "src", layers=1, seed=32)
    with server_log_on_failure(local_registry):
        Skopeo(tmp / "robot", creds=f"{robot}:{secret}").copy(layout["ref"], f"{local_registry.host}/{content['app']}:v2")
    page.goto(f"{local_registry.url}/ui/repo?name={content['app']}")
    assert layout["manifest_digest"] in page.locator("tr[data-tag=v2]").inner_text()


def test_rotated_robot_pushes_with_the_new_secret_and_the_old_one_is_refused(admin_page, local_registry,
                                                                            content, tmp):
    """The robot made above, rotated from its row in the roster: skopeo pushes with the new
    secret; the old one is refused; revoke and restore show in the roster."""
    page = admin_page
    robot = f"{content['ns']}+ci"
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    row = page.locator(f"tr[data-robot='{robot}']")
    assert row.locator("[data-testid=robot-state]").inner_text() == "active"
    # the secret shown at creation is gone from every page: rotate twice, the first becomes the old one
    row.locator("button[data-testid=rotate]").click()
    first = page.inner_text("[data-testid=robot-secret]")
    page.locator(f"tr[data-robot='{robot}'] button[data-testid=rotate]").click()
    new = page.inner_text("[data-testid=robot-secret]")
    assert new != first and page.inner_text("[data-testid=robot-name]") == robot
    old = f"{robot}:{first}"
    layout = build_oci_layout(tmp / "src", layers=1, seed=33)
    dest = f"docker://{local_registry.host}/{content['app']}:rotated"
    refused = Skopeo(tmp / "old").run("copy", "--dest-tls-verify=false", "--dest-creds", old, layout["ref"], dest,
                                      check=False)
    assert refused.returncode != 0 and ("401" in refused.stderr or "unauthorized" in refused.stderr.lower()), \
        refused.stderr
    with server_log_on_failure(local_registry):
        Skopeo(tmp / "new", creds=f"{robot}:{new}").copy(layout["ref"], dest)
    page.goto(f"{local_registry.url}/ui/repo?name={content['app']}")
    assert layout["manifest_digest"] in page.locator("tr[data-tag=rotated]").inner_text()
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    page.locator(f"tr[data-robot='{robot}'] button[data-testid=revoke]").click()
    assert page.locator(f"tr[data-robot='{robot}'] [data-testid=robot-state]").inner_text() == "revoked"
    assert requests.get(f"{local_registry.url}/token", auth=(robot, new), timeout=30).status_code == 401
    page.locator(f"tr[data-robot='{robot}'] button[data-testid=restore]").click()
    assert page.locator(f"tr[data-robot='{robot}'] [data-testid=robot-state]").inner_text() == "active"
    assert requests.get(f"{local_registry.url}/token", auth=(robot, new), timeout=30).status_code == 200
    assert not page.errors, page.errors


def test_changing_a_members_role_takes_effect_at_once(browser, admin_page, local_registry, content):
    """A user given read on the namespace sees its private repository; made admin, they get
    the admin page; removed, the repository is gone for them (the same 404 as a missing one)."""
    user, password = f"member{content['uniq']}", "member-password-1"
    r = requests.post(f"{local_registry.url}/admin/users", json={"username": user, "password": password},
                      auth=(local_registry.username, local_registry.password), timeout=30)
    assert r.status_code == 201, r.text
    page = admin_page
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    page.fill("form[data-testid=grant-form] input[name=account]", user)
    page.select_option("form[data-testid=grant-form] select[name=role]", "read")
    page.click("form[data-testid=grant-form] button[type=submit]")
    member = f"tr[data-member='{user}'][data-on='{content['ns']}']"
    assert page.locator(f"{member} select[data-testid=member-role]").input_value() == "read"
    them = new_page(browser, content["tmp"])
    try:
        them.goto(f"{local_registry.url}/ui/login")
        them.fill("input[name=username]", user)
        them.fill("input[name=password]", password)
        them.click("form[data-testid=login-form] button[type=submit]")
        them.wait_for_url(f"{local_registry.url}/ui/")
        them.goto(f"{local_registry.url}/ui/repo?name={content['private']}")
        assert them.locator("tr[data-tag=v1]").count() == 1
        them.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
        assert them.inner_text("h1") == "Not found"
        page.select_option(f"{member} select[data-testid=member-role]", "admin")
        page.click(f"{member} button[data-testid=change-role]")
        assert page.locator(f"{member} select[data-testid=member-role]").input_value() == "admin"
        them.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
        assert them.inner_text("h1") == f"Administer {content['ns']}"
        page.click(f"{member} button[data-testid=remove-member]")
        assert page.locator(member).count() == 0
        them.goto(f"{local_registry.url}/ui/repo?name={content['private']}")
        assert them.inner_text("h1") == "Not found"   # (the browser logs the 404s as console errors)
    finally:
        them.context.close()
    policy = {"immutableTags": ["v*"], "retention": [{"rule": "keep-last", "tags": "nightly-*", "count": 7}]}
    r = requests.put(f"{local_registry.url}/admin/policies", json={"repository": content["app"], "policy": policy},
                     auth=(local_registry.username, local_registry.password), timeout=30)
    assert r.status_code == 200, r.text
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    assert "keep the last 7 tags matching nightly-*" in page.inner_text("table[data-testid=policies]")
    shot(page, "admin", ["table[data-testid=robots]", "table[data-testid=members]",
                         "table[data-testid=admin-repos]", "table[data-testid=usage]",
                         "table[data-testid=quota]"])


def test_global_admin_sets_the_namespace_quota_on_the_admin_page(admin_page, local_registry, content):
    page = admin_page
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    form = page.locator("form[data-testid=quota-form]")
    form.locator("input[name=quota]").fill("1GiB")
    form.locator("input[name=soft]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=message]")
    assert page.inner_text("[data-testid=quota-hard]") == "1.0 GiB"
    assert page.inner_text("[data-testid=quota-soft]") == "none"
    assert page.inner_text("[data-testid=quota-percent]").endswith("%")
    auth = (local_registry.username, local_registry.password)
    doc = requests.get(f"{local_registry.url}/admin/quotas/{content['ns']}", auth=auth, timeout=30).json()
    assert (doc["quota"], doc["soft"]) == (2 ** 30, None)
    form = page.locator("form[data-testid=quota-form]")
    form.locator("input[name=quota]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=message]")
    assert page.inner_text("[data-testid=quota-hard]") == "none"
    doc = requests.get(f"{local_registry.url}/admin/quotas/{content['ns']}", auth=auth, timeout=30).json()
    assert doc["quota"] is None


def test_after_logout_only_public_repositories_are_visible(browser, admin_page, local_registry, content):
    page = admin_page
    page.goto(f"{local_registry.url}/ui/admin?ns={content['ns']}")
    page.locator("table[data-testid=admin-repos] tr", has_text=content["app"]).locator("button").click()
    assert "is now public" in page.inner_text("[data-testid=message]")
    anon = new_page(browser, content["tmp"])
    try:
        anon.goto(f"{local_registry.url}/ui/?q=ui{content['uniq']}")
        listed = anon.inner_text("table[data-testid=repos]")
        assert content["app"] in listed and content["private"] not in listed
        anon.goto(f"{local_registry.url}/ui/repo?name={content['private']}")
        assert anon.inner_text("h1") == "Not found"
        anon.goto(f"{local_registry.url}/ui/repo?name={content['app']}")
        assert anon.locator("tr[data-tag=v1]").count() == 1
    finally:
        anon.context.close()
    page.click("[data-testid=logout]")
    page.wait_for_url(f"{local_registry.url}/ui/")
    assert page.locator("[data-testid=login-link]").count() == 1
    page.goto(f"{local_registry.url}/ui/?q=ui{content['uniq']}")
    listed = page.inner_text("table[data-testid=repos]")
    assert content["app"] in listed and content["private"] not in listed
