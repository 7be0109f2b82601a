"""Other stores' writes in a manifest's transaction (MetadataStore.put_manifest `parts`),
on every implementation: the Helm index entry commits with its manifest or not at all.
"""
from __future__ import annotations

import uuid

import pytest

from chalicelib.storage.helm_ports import ChartEntry, ChartRef
from chalicelib.storage.ports import ManifestRecord, PartRefused, ReferenceMissing
from support import sha256

MT = "application/vnd.oci.image.manifest.v1+json"


def _chart(ns: str, name: str, version: str) -> tuple[ManifestRecord, ChartEntry]:
    body = f'{{"chart":"{name}","version":"{version}","seed":"{uuid.uuid4().hex}"}}'.encode()
    repo = f"{ns}/{name}"
    m = ManifestRecord(repo=repo, digest=sha256(body), media_type=MT, size=len(body), body=body)
    e = ChartEntry(namespace=ns, repo=repo, name=name, version=version, digest=m.digest,
                   chart_digest=sha256(body + b"tgz"), chart_size=3, metadata={"name": name, "version": version})
    return m, e


def _ns() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def test_entry_commits_with_its_manifest(impl):
    ns = _ns()
    m, e = _chart(ns, "web", "1.0.0")
    impl.meta.put_manifest(m, "1.0.0", [], [], parts=[impl.helm.entry_part(e)])
    assert impl.meta.get_tag(m.repo, "1.0.0").digest == m.digest
    assert impl.helm.find(ns, "web-1.0.0") == e
    assert impl.helm.get_ref(ns, m.repo, m.digest) == ChartRef("web", "1.0.0")


def test_a_refused_manifest_writes_no_entry(impl):
    ns = _ns()
    m, e = _chart(ns, "web", "1.0.0")
    with pytest.raises(ReferenceMissing):
        impl.meta.put_manifest(m, "1.0.0", [sha256(b"never linked")], [], parts=[impl.helm.entry_part(e)])
    assert impl.meta.get_manifest(m.repo, m.digest) is None
    assert impl.helm.find(ns, "web-1.0.0") is None
    assert impl.helm.get_ref(ns, m.repo, m.digest) is None


def test_a_refused_entry_writes_no_manifest(impl):
    """Another chart holds the file name (`a-1`-`0.1.0` vs `a`-`1-0.1.0`): the whole write is
    refused, naming the part, so the caller can write the manifest without it."""
    ns = _ns()
    first, held = _chart(ns, "a-1", "0.1.0")
    impl.meta.put_manifest(first, "0.1.0", [], [], parts=[impl.helm.entry_part(held)])
    m, e = _chart(ns, "a", "1-0.1.0")
    part = impl.helm.entry_part(e)
    with pytest.raises(PartRefused) as refused:
        impl.meta.put_manifest(m, "1-0.1.0", [], [], parts=[part])
    assert refused.value.part is part
    assert impl.meta.get_manifest(m.repo, m.digest) is None
    assert impl.meta.get_tag(m.repo, "1-0.1.0") is None
    assert impl.helm.find(ns, "a-1-0.1.0") == held
    impl.meta.put_manifest(m, "1-0.1.0", [], [])          # without the part it goes through
    assert impl.meta.get_tag(m.repo, "1-0.1.0").digest == m.digest
    assert impl.helm.find(ns, "a-1-0.1.0") == held


def test_the_same_chart_replaces_its_entry_in_the_transaction(impl):
    ns = _ns()
    old, e_old = _chart(ns, "svc", "2.0.0")
    impl.meta.put_manifest(old, "2.0.0", [], [], parts=[impl.helm.entry_part(e_old)])
    new, e_new = _chart(ns, "svc", "2.0.0")
    impl.meta.put_manifest(new, "2.0.0", [], [], parts=[impl.helm.entry_part(e_new)])
    assert impl.helm.find(ns, "svc-2.0.0") == e_new
    assert impl.meta.get_tag(new.repo, "2.0.0").digest == new.digest
