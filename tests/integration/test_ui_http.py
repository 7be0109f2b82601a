"""The web UI over plain HTTP: permissions, CSRF, cookies, CSP, robots, bad input."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from support import Client, count_aws_calls

# The UI's own storage reads (storage/ui_dynamo.py) run on both embedded backends.
pytestmark = pytest.mark.backends("memory", "strict")

PASSWORD = "ui-user-password"


def uid() -> str:
    return "u" + uuid.uuid4().hex[:10]


def admin_api(registry, method: str, path: str, body: dict, expect: int) -> dict:
    r = requests.request(method, registry.url + path, json=body, auth=registry.admin)
    assert r.status_code == expect, r.text
    return r.json() if r.content else {}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def ui_session(registry, username: str, password: str) -> requests.Session:
    s = requests.Session()
    token = csrf_of(s.get(registry.url + "/ui/login").text)
    r = s.post(registry.url + "/ui/login", data={"username": username, "password": password, "csrf": token},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    return s


@pytest.fixture(scope="module")
def world(registry):
    """admin/<private>, admin/<public>, and a user with no role on either."""
    admin = Client(registry.url, auth=registry.admin)
    private, public = f"admin/priv-{uid()}", f"admin/pub-{uid()}"
    admin.push_image(private, "v1", seed="priv")
    admin.push_image(public, "v1", seed="pub")
    admin_api(registry, "PUT", "/admin/visibility", {"repository": public, "public": True}, 204)
    user = uid()
    admin_api(registry, "POST", "/admin/users", {"username": user, "password": PASSWORD}, 201)
    return {"private": private, "public": public, "user": user}


def test_private_repository_is_indistinguishable_from_a_missing_one(registry, world):
    missing = f"admin/missing-{uid()}"
    for s in (requests.Session(), ui_session(registry, world["user"], PASSWORD)):
        for page in ("repo?name={}", "manifest?name={}&ref=v1"):
            priv = s.get(registry.url + "/ui/" + page.format(world["private"]))
            miss = s.get(registry.url + "/ui/" + page.format(missing))
            assert priv.status_code == miss.status_code == 404
            assert priv.text == miss.text
            assert world["private"] not in priv.text


def test_anonymous_sees_only_public_repositories(registry, world):
    home = requests.get(registry.url + "/ui/")
    assert home.status_code == 200
    assert world["public"] in home.text and world["private"] not in home.text
    tags = requests.get(registry.url + "/ui/repo", params={"name": world["public"]})
    assert tags.status_code == 200 and 'data-tag="v1"' in tags.text
    assert re.search(r'data-testid="visibility">public<', tags.text)


def test_admin_sees_private_repository_and_search_filters(registry, world):
    s = ui_session(registry, *registry.admin)
    home = s.get(registry.url + "/ui/", params={"q": world["private"].split("/")[1]})
    assert world["private"] in home.text and world["public"] not in home.text
    page = s.get(registry.url + "/ui/manifest", params={"name": world["private"], "ref": "v1"})
    assert page.status_code == 200 and "application/vnd.oci.image.layer.v1.tar+gzip" in page.text


def test_session_cookie_flags_and_csp(registry, world):
    s = requests.Session()
    r = s.get(registry.url + "/ui/login")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    token = csrf_of(r.text)
    r = s.post(registry.url + "/ui/login", data={"username": registry.admin[0], "password": registry.admin[1],
                                                  "csrf": token}, allow_redirects=False)
    cookies = r.raw.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("ui_session=")]
    assert len(session) == 1
    flags = [f.strip() for f in session[0].split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/ui" in flags
    assert "Secure" not in flags  # plain HTTP here
    # Secure behind HTTPS: tests/unit/test_ui_views.py (the local server sets X-Forwarded-Proto itself).


def test_pages_have_no_inline_script_or_style(registry, world):
    s = ui_session(registry, *registry.admin)
    for path in ("/ui/", f"/ui/repo?name={world['public']}", f"/ui/manifest?name={world['public']}&ref=v1",
                 "/ui/admin?ns=admin", "/ui/login"):
        html = s.get(registry.url + path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and "onclick" not in html, path


def test_state_changes_without_csrf_are_refused(registry, world):
    s = ui_session(registry, *registry.admin)
    name = uid()
    for data in ({"ns": "admin", "name": name, "action": "create"},
                 {"ns": "admin", "name": name, "action": "create", "csrf": "x" * 43}):
        r = s.post(registry.url + "/ui/admin/robots", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    r = requests.post(registry.url + "/token", data={"grant_type": "password", "username": f"admin+{name}",
                                                      "password": "whatever-secret"})
    assert r.status_code == 401  # nothing was created
    r = s.post(registry.url + "/ui/logout", data={})
    assert r.status_code == 403
    r = s.post(registry.url + "/ui/login", data={"username": "admin", "password": registry.admin[1]})
    assert r.status_code == 403


def test_robots_cannot_log_in(registry, world):
    robot = admin_api(registry, "POST", "/admin/namespaces/admin/robots", {"name": uid()}, 201)
    s = requests.Session()
    token = csrf_of(s.get(registry.url + "/ui/login").text)
    r = s.post(registry.url + "/ui/login", data={"username": robot["username"], "password": robot["secret"],
                                                  "csrf": token}, allow_redirects=False)
    assert r.status_code == 403 and "Robot accounts cannot log in" in r.text
    assert not [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("ui_session=")]


def test_wrong_password_is_401_without_session(registry, world):
    s = requests.Session()
    token = csrf_of(s.get(registry.url + "/ui/login").text)
    r = s.post(registry.url + "/ui/login", data={"username": world["user"], "password": "wrong-password",
                                                  "csrf": token}, allow_redirects=False)
    assert r.status_code == 401
    assert "ui_session=" not in (r.headers.get("Set-Cookie") or "")


def test_ui_session_token_is_not_an_api_token(registry, world):
    s = ui_session(registry, *registry.admin)
    token = s.cookies.get("ui_session")
    r = requests.get(f"{registry.url}/v2/{world['private']}/tags/list", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_a_password_change_ends_every_ui_session_begun_before(registry):
    user = uid()
    admin_api(registry, "POST", "/admin/users", {"username": user, "password": PASSWORD}, 201)
    stolen = ui_session(registry, user, PASSWORD)
    assert stolen.get(registry.url + "/ui/admin", params={"ns": user}).status_code == 200
    r = requests.put(f"{registry.url}/admin/users/{user}/password", json={"password": PASSWORD + "-new"},
                     auth=(user, PASSWORD))
    assert r.status_code == 204, r.text
    # The old cookie is an anonymous visitor now: no admin page, no robot with a secret.
    assert stolen.get(registry.url + "/ui/admin", params={"ns": user}).status_code in (302, 303, 401, 404)
    token = stolen.cookies.get("ui_csrf")   # the double-submit cookie the thief holds too
    r = stolen.post(registry.url + "/ui/admin/robots", data={"ns": user, "name": "persist", "action": "create",
                                                             "csrf": token}, allow_redirects=False)
    assert r.status_code in (302, 303, 401, 404) and "secret" not in r.text.lower(), r.text
    members = requests.get(f"{registry.url}/admin/namespaces/{user}/members", auth=registry.admin)
    assert members.status_code == 200 and f"{user}+persist" not in members.text, members.text
    fresh = ui_session(registry, user, PASSWORD + "-new")
    assert fresh.get(registry.url + "/ui/admin", params={"ns": user}).status_code == 200


def test_non_admin_cannot_administer_other_namespaces(registry, world):
    s = ui_session(registry, world["user"], PASSWORD)
    assert s.get(registry.url + "/ui/admin", params={"ns": "admin"}).status_code == 404
    token = csrf_of(s.get(registry.url + "/ui/").text)
    name = uid()
    r = s.post(registry.url + "/ui/admin/robots", data={"ns": "admin", "name": name, "action": "create",
                                                        "csrf": token})
    assert r.status_code == 404
    r = s.post(registry.url + "/ui/admin/visibility", data={"ns": "admin", "repository": world["private"],
                                                            "public": "1", "csrf": token})
    assert r.status_code == 404
    assert requests.get(registry.url + "/ui/repo", params={"name": world["private"]}).status_code == 404
    # Their own namespace is theirs to administer.
    assert s.get(registry.url + "/ui/admin", params={"ns": world["user"]}).status_code == 200


def test_admin_creates_rotates_revokes_robot_and_sets_visibility(registry, world):
    s = ui_session(registry, *registry.admin)
    token = csrf_of(s.get(registry.url + "/ui/admin?ns=admin").text)
    name = uid()
    r = s.post(registry.url + "/ui/admin/robots", data={"ns": "admin", "name": name, "action": "create",
                                                        "csrf": token})
    assert r.status_code == 201
    secret = re.search(r'data-testid="robot-secret">([^<]+)<', r.text).group(1)
    robot = f"admin+{name}"
    ok = requests.get(registry.url + "/token", auth=(robot, secret))
    assert ok.status_code == 200
    assert secret not in s.get(registry.url + "/ui/admin?ns=admin").text  # shown once
    r = s.post(registry.url + "/ui/admin/robots", data={"ns": "admin", "name": name, "action": "rotate",
                                                        "csrf": token})
    new = re.search(r'data-testid="robot-secret">([^<]+)<', r.text).group(1)
    assert requests.get(registry.url + "/token", auth=(robot, secret)).status_code == 401
    assert requests.get(registry.url + "/token", auth=(robot, new)).status_code == 200
    r = s.post(registry.url + "/ui/admin/robots", data={"ns": "admin", "name": name, "action": "revoke",
                                                        "csrf": token})
    assert r.status_code == 200
    assert requests.get(registry.url + "/token", auth=(robot, new)).status_code == 401
    # Visibility: make the private repository public, then private again.
    repo = world["private"]
    r = s.post(registry.url + "/ui/admin/visibility", data={"ns": "admin", "repository": repo, "public": "1",
                                                            "csrf": token})
    assert r.status_code == 200
    assert requests.get(registry.url + "/ui/repo", params={"name": repo}).status_code == 200
    s.post(registry.url + "/ui/admin/visibility", data={"ns": "admin", "repository": repo, "public": "0",
                                                        "csrf": token})
    assert requests.get(registry.url + "/ui/repo", params={"name": repo}).status_code == 404


def test_grant_gives_a_user_read_access(registry, world):
    s = ui_session(registry, *registry.admin)
    token = csrf_of(s.get(registry.url + "/ui/admin?ns=admin").text)
    user = uid()
    admin_api(registry, "POST", "/admin/users", {"username": user, "password": PASSWORD}, 201)
    us = ui_session(registry, user, PASSWORD)
    assert us.get(registry.url + "/ui/repo", params={"name": world["private"]}).status_code == 404
    r = s.post(registry.url + "/ui/admin/grants", data={"ns": "admin", "account": user, "role": "read",
                                                        "repository": world["private"], "csrf": token})
    assert r.status_code == 200, r.text
    assert us.get(registry.url + "/ui/repo", params={"name": world["private"]}).status_code == 200
    r = s.post(registry.url + "/ui/admin/grants", data={"ns": "admin", "account": user, "role": "owner",
                                                        "csrf": token})
    assert r.status_code == 400


@pytest.mark.parametrize("path", [
    "/ui/repo?name=Bad%20Name", "/ui/repo?name=admin/app%0A", "/ui/manifest?name=admin/x&ref=latest%0A",
    "/ui/manifest?name=admin/x&ref=sha256:zz", "/ui/chart?name=admin/x", "/ui/admin?ns=..",
    "/ui/repo", "/ui/static/../app.py", "/ui/static/nope.css", "/ui/repo?name=admin/x&last=%0A",
])
def test_bad_input_is_a_clear_4xx(registry, world, path):
    s = ui_session(registry, *registry.admin)
    r = s.get(registry.url + path)
    assert 400 <= r.status_code < 500, (path, r.status_code)


def test_bad_forms_are_4xx_and_change_nothing(registry, world):
    s = ui_session(registry, *registry.admin)
    token = csrf_of(s.get(registry.url + "/ui/admin?ns=admin").text)
    for data in ({"ns": "admin", "name": "Bad Name", "action": "create"},
                 {"ns": "admin", "name": "ok\n", "action": "create"},
                 {"ns": "admin", "name": "ok", "action": "explode"},
                 {"ns": "admin", "repository": "other/repo", "public": "1"}):
        path = "/ui/admin/visibility" if "repository" in data else "/ui/admin/robots"
        r = s.post(registry.url + path, data={**data, "csrf": token})
        assert 400 <= r.status_code < 500, (data, r.status_code)
    r = s.post(registry.url + "/ui/admin/robots", data=b"\xff\xfe" * 10,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500
    assert s.post(registry.url + "/ui/admin/robots", data="a=" + "x" * 10000).status_code == 413


def test_tag_page_reads_tags_with_their_manifests_in_one_query(registry, world):
    admin = Client(registry.url, auth=registry.admin)
    repo = f"admin/many-{uid()}"
    for i in range(12):
        admin.push_image(repo, f"t{i:02d}", seed=f"s{i}")
    s = ui_session(registry, *registry.admin)
    s.get(registry.url + "/ui/")  # warm up
    with count_aws_calls() as aws:
        r = s.get(registry.url + "/ui/repo", params={"name": repo})
    assert r.status_code == 200 and r.text.count('data-tag="') == 12
    assert r.text.count(" UTC</td>") == 12  # each tag's push time
    home = s.get(registry.url + "/ui/", params={"q": repo})
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>", home.text)  # the repository's last push
    # session (account Query) + repository item (GetItem) + the tag page (one Query)
    assert dict(aws.calls) == {"dynamodb.Query": 2, "dynamodb.GetItem": 1}


def test_repository_list_pages_through_everything_readable(registry, world, monkeypatch):
    from chalicelib.ui import pages

    # Tiny pages and scan budget, so a search that skips most of the catalog spans many pages.
    monkeypatch.setattr(pages, "REPOS_PER_PAGE", 2)
    monkeypatch.setattr(pages, "CATALOG_SCAN_PAGES", 1)
    admin = Client(registry.url, auth=registry.admin)
    prefix = f"pg{uid()}"
    names = [f"admin/{prefix}-{i}" for i in range(5)]
    for name in names:
        admin.push_image(name, "v1", seed=name)
    s = ui_session(registry, *registry.admin)
    seen, last = [], ""
    for _ in range(500):
        r = s.get(registry.url + "/ui/", params={"q": prefix, "last": last} if last else {"q": prefix})
        assert r.status_code == 200
        seen += re.findall(rf'>(admin/{prefix}-\d)</a>', r.text)
        m = re.search(r'last=([^"&]+)">Next page', r.text)
        if not m:
            break
        last = requests.utils.unquote(m.group(1))
    assert seen == names


def test_index_page_lists_platforms_and_referrer_kinds_with_escaping(registry, world):
    admin = Client(registry.url, auth=registry.admin)
    repo = f"admin/idx-{uid()}"
    children = []
    for arch in ("amd64", "arm64"):
        digest, body = admin.push_image(repo, None, seed=arch)
        children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                         "size": len(body), "platform": {"os": "linux", "architecture": arch}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children,
             "annotations": {"org.example.note": "<script>alert(1)</script>"}}
    r = admin.push_manifest(repo, "multi", index, "application/vnd.oci.image.index.v1+json")
    assert r.status_code == 201, r.text
    index_digest = r.headers["Docker-Content-Digest"]
    index_size = len(json.dumps(index).encode())
    admin.push_image(repo, None, seed="sbom", extra={
        "artifactType": "application/spdx+json",
        "subject": {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest,
                    "size": index_size}})
    s = ui_session(registry, *registry.admin)
    tags = s.get(registry.url + "/ui/repo", params={"name": repo}).text
    assert "linux/amd64, linux/arm64" in tags
    page = s.get(registry.url + "/ui/manifest", params={"name": repo, "ref": "multi"}).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for child in children:
        assert child["digest"] in page
    assert "linux/arm64" in page and "application/vnd.docker.distribution.manifest.list.v2+json" in page
    referrers = page[page.index('data-testid="referrers"'):]
    assert "SBOM" in referrers and "application/spdx+json" in referrers


def test_static_assets_are_small(registry):
    for name in ("ui.css", "ui.js"):
        r = requests.get(registry.url + "/ui/static/" + name)
        assert r.status_code == 200 and 0 < len(r.content) < 100 * 1024
