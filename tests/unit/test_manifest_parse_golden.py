"""Golden files: what parsing each manifest yields (or the error it raises).

`tests/golden/parse/<name>.input.json` is fed byte-for-byte to
`manifests.parse`; `<name>.expected.json` holds the result. Regenerate with
UPDATE_GOLDEN=1 after a deliberate change, and review the diff.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chalicelib.oci.errors import RegistryError
from chalicelib.oci import mediatypes as mt
from chalicelib.manifests import parse

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "parse"
INPUTS = sorted(GOLDEN.glob("*.input.json"))


def media_type_for(name: str) -> str:
    if name.startswith("schema1-unsigned") or name.startswith("bad-schema1-unsigned"):
        return mt.DOCKER_V1
    if name.startswith("schema1") or name.startswith("bad-schema1"):
        return mt.DOCKER_V1_SIGNED
    if name.startswith("oci-index") or name.startswith("bad-index"):
        return mt.OCI_INDEX
    if name.startswith("docker-v2"):
        return mt.DOCKER_V2
    if name.startswith("docker-list"):
        return mt.DOCKER_LIST
    return mt.OCI_MANIFEST


def summarise(path: Path) -> dict:
    name = path.name[: -len(".input.json")]
    body = path.read_bytes()
    try:
        p = parse(media_type_for(name), body)
    except RegistryError as e:
        return {"error": {"code": e.code, "status": e.status, "detail": e.detail}}
    assert p.body is body  # the exact bytes are kept, never re-serialised
    got = {"mediaType": p.media_type, "blobs": p.blobs, "manifests": p.manifests,
           "subject": p.subject, "artifactType": p.artifact_type, "annotations": p.annotations}
    if p.digest is not None:  # only when it is not sha256 of the body (signed schema 1)
        got["digest"] = p.digest
    return got


@pytest.mark.parametrize("path", INPUTS, ids=[p.name[: -len(".input.json")] for p in INPUTS])
def test_parse_golden(path: Path):
    got = summarise(path)
    expected_path = path.with_name(path.name.replace(".input.json", ".expected.json"))
    if os.environ.get("UPDATE_GOLDEN") or not expected_path.exists():
        expected_path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(expected_path.read_text())


def test_goldens_cover_valid_and_invalid():
    names = [p.name for p in INPUTS]
    assert any(n.startswith("bad-") for n in names) and any(n.startswith("docker-v2") for n in names)
