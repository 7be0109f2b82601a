"""Tag policies, expiry and retention as use cases on the port fakes (no server, an
injectable clock): the per-process policy cache caught by the write's revision check,
expiry by time, retention planning and the lifecycle run."""
from __future__ import annotations

import json

import pytest

from chalicelib.config import Settings
from chalicelib.oci.errors import RegistryError
from chalicelib.domain.registry import Registry
from chalicelib.domain.retention import TagLifecycle
from chalicelib.domain.tag_policy import TagRules, parse_duration
from chalicelib.storage.memory import MemoryMetadataStore
from chalicelib.storage.memory_blobs import MemoryBlobStore
from chalicelib.storage.memory_lifecycle import MemoryTagLifecycle
from support import sha256

OCI = "application/vnd.oci.image.manifest.v1+json"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    clock = Clock()
    meta, blobs = MemoryMetadataStore(clock=clock), MemoryBlobStore()
    store = MemoryTagLifecycle(meta)

    def process() -> Registry:  # one Lambda instance: its own policy cache
        reg = Registry(meta, blobs, Settings())
        reg.tag_rules = TagRules(store, blobs, Settings(), clock=clock)
        return reg
    return process, store, clock


def _image(reg: Registry, repo: str, seed: str, labels=None) -> bytes:
    config = json.dumps({"os": "linux", "seed": seed, "config": {"Labels": labels or {}}}).encode()
    reg.start_upload(repo, digest=sha256(config), body=config)
    return json.dumps({"schemaVersion": 2, "mediaType": OCI, "layers": [], "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
        "size": len(config)}}).encode()


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                          ("2w", 1209600), (" 3h ", 10800), ("0h", None), ("2y", None),
                                          ("h", None), ("1.5h", None), (5, None), ("99999999w", None)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_a_stale_policy_cache_is_caught_by_the_write(world):
    process, store, _ = world
    a, b = process(), process()
    body1, body2 = _image(a, "t/app", "1"), _image(a, "t/app", "2")
    a.put_manifest("t/app", "v1", OCI, body1)  # `a` caches "no policy"
    b.tag_rules.store.put_policy("t/app", {"immutableTags": ["v*"]})  # set through another process
    with pytest.raises(RegistryError, match="^DENIED:") as err:
        a.put_manifest("t/app", "v1", OCI, body2)
    assert err.value.detail["rule"] == "v*"
    with pytest.raises(RegistryError, match="^DENIED:"):
        a.delete_manifest("t/app", "v1")
    store.put_policy("t/app", None)
    assert a.put_manifest("t/app", "v1", OCI, body2)[0] == sha256(body2)  # cache refreshed again


def test_expiry_by_label_hides_the_tag_then_the_run_deletes_it(world):
    process, store, clock = world
    reg = process()
    body = _image(reg, "t/app", "1", labels={"quay.expires-after": "1h"})
    reg.put_manifest("t/app", "v1", OCI, body)
    assert reg.list_tags("t/app", None, None).expires == {"v1": int(clock.now) + 3600}
    clock.now += 3599
    assert reg.get_manifest("t/app", "v1").digest == sha256(body)
    clock.now += 1
    with pytest.raises(RegistryError, match="^MANIFEST_UNKNOWN:"):
        reg.get_manifest("t/app", "v1")
    assert reg.list_tags("t/app", None, None).items == []
    lifecycle = TagLifecycle(store, None, clock)
    assert lifecycle.run(dry_run=True)["expiredTags"][0]["tag"] == "v1"
    assert store.tag_entries("t/app", 10, None)[0] != []  # the dry run deleted nothing
    report = lifecycle.run()
    assert [(e["repository"], e["tag"]) for e in report["expiredTags"]] == [("t/app", "v1")]
    assert store.tag_entries("t/app", 10, None) == ([], False)
    assert lifecycle.run()["expiredTags"] == []


def test_tags_list_pages_skip_expired_tags(world):
    process, store, clock = world
    reg = process()
    body = _image(reg, "t/app", "1")
    for tag in ("a", "b", "c", "d", "e"):
        reg.put_manifest("t/app", tag, OCI, body)
    for tag in ("b", "c"):
        store.set_tag_expiry("t/app", tag, int(clock.now) - 1)
    first = reg.list_tags("t/app", 2, None)
    assert (first.items, first.more) == (["a", "d"], True)
    second = reg.list_tags("t/app", 2, "d")
    assert (second.items, second.more) == (["e"], False)


def test_keep_last_by_push_time_and_rule_priority(world):
    process, store, clock = world
    reg = process()
    for i, tag in enumerate(["r3", "r1", "r2", "x1"]):  # pushed in this order, a minute apart
        reg.put_manifest("t/app", tag, OCI, _image(reg, "t/app", tag))
        clock.now += 60
    store.put_policy("t/app", {"retention": [{"rule": "keep-last", "tags": "r1", "count": 1},
                                             {"rule": "keep-last", "tags": "*", "count": 1}]})
    plan = TagLifecycle(store, None, clock).retention("t/app", dry_run=True)
    # r1 is claimed by the first rule (and kept); of the rest, x1 was pushed last
    assert sorted(t["tag"] for t in plan["tags"]) == ["r2", "r3"]


def test_the_run_stops_at_its_time_budget(world):
    process, store, clock = world
    for repo in ("t/a", "t/b"):
        store.put_policy(repo, {"retention": [{"rule": "expire-untagged", "days": 1}]})
    lifecycle = TagLifecycle(store, None, clock)
    assert lifecycle.run(dry_run=True, budget_seconds=0)["complete"] is False
    full = lifecycle.run(dry_run=True)
    assert (full["complete"], full["repositoriesVisited"]) == (True, 2)


def test_the_label_read_is_bounded_by_the_descriptor(world):
    """A config descriptor understating its blob's size gets a truncated read: no expiry,
    and never more than the (bounded) declared size is read."""
    process, store, clock = world
    reg = process()
    body = json.loads(_image(reg, "t/app", "1", labels={"quay.expires-after": "1h"}))
    body["config"]["size"] -= 5
    reg.put_manifest("t/app", "v1", OCI, json.dumps(body).encode())
    assert reg.list_tags("t/app", None, None).expires is None
