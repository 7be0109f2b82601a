"""Namespace quotas (storage/quota_ports.py) on every implementation: bytes counted once
per namespace, refusals that write nothing, the soft limit's warning, and GC giving back."""
from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.storage.ports import ManifestRecord
from chalicelib.storage.quota_ports import QuotaExceeded, take_warning
from support import sha256


@pytest.fixture
def ns() -> str:
    return f"q{uuid.uuid4().hex[:10]}"


def _d() -> str:
    return sha256(uuid.uuid4().bytes)


def test_a_blob_counts_once_per_namespace(impl, ns):
    d = _d()
    assert impl.quotas.get_quota(ns).stored == 0
    assert impl.meta.link_blob(f"{ns}/a", d, 100, f"blobs/{d}", time.time())
    assert impl.meta.link_blob(f"{ns}/b", d, 100, f"blobs/{d}", time.time())     # same namespace: once
    assert impl.meta.link_blob(f"{ns}x/a", d, 100, f"blobs/{d}", time.time())    # another namespace
    assert impl.quotas.get_quota(ns).stored == 100
    assert impl.meta.unlink_blob(f"{ns}/a", d)
    assert impl.quotas.get_quota(ns).stored == 100            # b still links it
    assert impl.meta.unlink_blob(f"{ns}/b", d)
    assert impl.quotas.get_quota(ns).stored == 0


def test_over_quota_is_refused_and_writes_nothing(impl, ns):
    repo = f"{ns}/app"
    rec = impl.quotas.set_quota(ns, 150, None)
    assert (rec.quota, rec.soft, rec.stored) == (150, None, 0)
    first, second = _d(), _d()
    assert impl.meta.link_blob(repo, first, 100, f"blobs/{first}", time.time())
    with pytest.raises(QuotaExceeded) as err:
        impl.meta.link_blob(repo, second, 100, f"blobs/{second}", time.time())
    assert (err.value.quota, err.value.stored, err.value.size, err.value.status) == (150, 100, 100, 403)
    assert impl.meta.get_blob_link(repo, second) is None
    assert impl.quotas.get_quota(ns).stored == 100
    assert impl.meta.link_blob(f"{ns}/other", first, 100, f"blobs/{first}", time.time())   # no new bytes
    impl.quotas.set_quota(ns, 50, None)          # lowered below what is stored: manifests refused
    m = ManifestRecord(repo, sha256(b"{}"), "application/vnd.oci.image.manifest.v1+json", 2, body=b"{}")
    with pytest.raises(QuotaExceeded):
        impl.meta.put_manifest(m, "v1", [first], [])
    assert impl.meta.get_manifest(repo, m.digest) is None and impl.meta.get_tag(repo, "v1") is None
    impl.quotas.set_quota(ns, None, None)        # removed: anything goes
    impl.meta.put_manifest(m, "v1", [first], [])
    assert impl.meta.link_blob(repo, second, 100, f"blobs/{second}", time.time())
    assert impl.quotas.get_quota(ns).stored == 200


def test_the_soft_limit_warns_and_accepts(impl, ns):
    repo = f"{ns}/app"
    impl.quotas.set_quota(ns, None, 150)
    a, b = _d(), _d()
    take_warning()
    assert impl.meta.link_blob(repo, a, 100, f"blobs/{a}", time.time())
    assert take_warning() is None
    assert impl.meta.link_blob(repo, b, 100, f"blobs/{b}", time.time())
    warn = take_warning()
    assert (warn.namespace, warn.soft, warn.stored) == (ns, 150, 200)
    m = ManifestRecord(repo, sha256(b"{}"), "application/vnd.oci.image.manifest.v1+json", 2, body=b"{}")
    impl.meta.put_manifest(m, "v1", [a, b], [])
    assert take_warning().stored == 200


def test_collected_links_give_the_bytes_back(impl, ns):
    repo = f"{ns}/app"
    d = _d()
    impl.meta.link_blob(repo, d, 70, f"blobs/{d}", time.time())
    page, cursor = impl.gc.garbage_links(2 ** 40, 1000)
    while cursor is not None and not any(ln.repo == repo for ln in page):
        page, cursor = impl.gc.garbage_links(2 ** 40, 1000, cursor)
    link = next(ln for ln in page if ln.repo == repo)
    assert impl.gc.drop_link(link, int(time.time()))
    assert impl.quotas.get_quota(ns).stored == 0


def test_storage_days_record_the_changes(impl, ns):
    """What metering integrates (domain/storage_usage.py): per day the bytes added minus
    removed, and each change weighted by its time."""
    from chalicelib.domain.storage_usage import per_day
    from chalicelib.storage.quota_ports import day_of

    d = _d()
    before = int(time.time())
    impl.meta.link_blob(f"{ns}/a", d, 100, f"blobs/{d}", time.time())
    impl.meta.link_blob(f"{ns}/b", d, 100, f"blobs/{d}", time.time())   # counted once
    days = impl.quotas.storage_days(ns)
    assert [(x.day, x.bytes) for x in days] == [(day_of(before), 100)]
    assert before * 100 <= days[0].weighted <= (int(time.time()) + 1) * 100
    impl.meta.unlink_blob(f"{ns}/a", d)
    impl.meta.unlink_blob(f"{ns}/b", d)
    days = impl.quotas.storage_days(ns)
    assert [x.bytes for x in days] == [0]
    seconds = per_day(days, [day_of(before)])[day_of(before)]["stored_byte_seconds"]
    assert 0 <= seconds <= 100 * (int(time.time()) + 1 - before)
