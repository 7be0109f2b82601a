"""Docker V1 pull protocol: a scripted V1 client walks _ping -> tags -> ancestry -> layers."""
from __future__ import annotations

import hashlib

import requests

from test_conversion import EMPTY_LAYER, push_oci_image


def v1_pull(base: str, repo: str, tag: str, auth=None) -> dict:
    """What an old Docker client does, returning {image id: layer bytes} and the tag's id."""
    s = requests.Session()
    s.auth = auth
    ping = s.get(f"{base}/v1/_ping")
    assert ping.status_code == 200 and ping.headers["X-Docker-Registry-Version"]
    tags = s.get(f"{base}/v1/repositories/{repo}/tags")
    assert tags.status_code == 200, tags.text
    top = tags.json()[tag]
    assert s.get(f"{base}/v1/repositories/{repo}/tags/{tag}").json() == top
    ancestry = s.get(f"{base}/v1/images/{top}/ancestry").json()
    assert ancestry[0] == top
    layers = {}
    for image_id in ancestry:
        meta = s.get(f"{base}/v1/images/{image_id}/json")
        assert meta.status_code == 200 and meta.json()["id"] == image_id
        assert int(meta.headers["X-Docker-Size"]) >= 0
        layer = s.get(f"{base}/v1/images/{image_id}/layer")  # follows the 307 to S3
        assert layer.status_code == 200
        layers[image_id] = layer.content
    return {"top": top, "ancestry": ancestry, "layers": layers,
            "images": s.get(f"{base}/v1/repositories/{repo}/images").json()}


def test_v1_client_gets_every_layer(registry, client, repo):
    digest, body, doc = push_oci_image(client, repo, "v1", layers=2)
    got = v1_pull(registry.url, repo, "v1", auth=registry.admin)
    assert len(got["ancestry"]) == 3  # two layers and the empty ENV step
    blobs = {hashlib.sha256(b).hexdigest() for b in got["layers"].values()}
    wanted = {l["digest"].split(":")[1] for l in doc["layers"]} | {EMPTY_LAYER.split(":")[1]}
    assert blobs == wanted
    assert {"id": got["top"]} in got["images"]
    # ids are stable: the same walk gives the same ids
    assert v1_pull(registry.url, repo, "v1", auth=registry.admin)["ancestry"] == got["ancestry"]


def test_v1_private_needs_credentials_and_public_does_not(registry, client, repo):
    push_oci_image(client, repo, "v1", layers=1)
    r = requests.get(f"{registry.url}/v1/repositories/{repo}/tags")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    r = requests.get(f"{registry.url}/v1/repositories/{repo}/tags", auth=("admin", "wrong"))
    assert r.status_code == 401
    top = requests.get(f"{registry.url}/v1/repositories/{repo}/tags", auth=registry.admin).json()["v1"]
    assert requests.get(f"{registry.url}/v1/images/{top}/json").status_code == 404  # not readable: unknown
    r = requests.put(f"{registry.url}/admin/visibility", json={"repository": repo, "public": True},
                     auth=registry.admin)
    assert r.status_code == 204
    assert v1_pull(registry.url, repo, "v1")["top"] == top


def test_v1_push_is_refused(registry):
    r = requests.put(f"{registry.url}/v1/repositories/a/b/", data=b"[]", auth=registry.admin)
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    r = requests.put(f"{registry.url}/v1/images/{'a' * 64}/json", data=b"{}", auth=registry.admin)
    assert r.status_code == 405


def test_v1_tag_listing_converts_at_most_a_hundred_tags(registry, client, repo):
    digest, body, _ = push_oci_image(client, repo, "t000", layers=1)
    tags = [f"t{i:03d}" for i in range(105)]
    for tag in tags[1:]:
        r = client.request("PUT", f"/v2/{repo}/manifests/{tag}", data=body,
                           headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text
    listed = requests.get(f"{registry.url}/v1/repositories/{repo}/tags", auth=registry.admin).json()
    assert sorted(listed) == tags[:100] and len(set(listed.values())) == 1
    last = requests.get(f"{registry.url}/v1/repositories/{repo}/tags/t104", auth=registry.admin)
    assert last.status_code == 200 and last.json() == listed["t000"]   # any tag by name


def test_a_bad_v1_name_is_name_invalid_before_auth(registry):
    for path in ("/v1/repositories/FZ/a/tags", "/v1/repositories/a%0ab/tags"):
        r = requests.get(f"{registry.url}{path}")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID", r.text
