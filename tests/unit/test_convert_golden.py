"""Golden files: what each conversion makes of a manifest (or why it refuses).

`tests/golden/convert/<case>.input.json` is converted by the operation its
name starts with; `<case>.expected.json` holds the exact output bytes, or
`{"impossible": reason}`, or (platform-*) the child chosen per platform.
schema1-* cases also read `<case>.config.json` (the image config blob) and
`<case>.args.json` (name, tag); `<case>.reference.json` is the schema 1
manifest Docker made for that image (copied from quay's test data).
Regenerate with UPDATE_GOLDEN=1 after a deliberate change, and review the diff.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Union

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chalicelib.manifests import convert, jws, parse
from chalicelib.manifests.platform import select_platform
from chalicelib.oci import mediatypes as mt

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "convert"
INPUTS = sorted(GOLDEN.glob("*.input.json"))
PLATFORMS = ["linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/arm64", "linux/arm64/v8",
             "linux/arm", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5", "linux/386", "linux/ppc64le",
             "linux/s390x", "linux/riscv64", "windows/amd64", "darwin/arm64"]
OPERATIONS = {
    "oci-to-docker-": convert.oci_to_docker_v2,
    "docker-to-oci-": convert.docker_v2_to_oci,
    "list-to-index-": convert.docker_list_to_oci_index,
    "index-to-list-": convert.oci_index_to_docker_list,
}


def case_name(path: Path) -> str:
    return path.name[: -len(".input.json")]


def sidecar(name: str, kind: str) -> Path:
    return GOLDEN / f"{name}.{kind}.json"


def schema1_of(name: str, config: bytes | None = None) -> bytes:
    """The unsigned schema 1 conversion of a schema1-* case."""
    args = json.loads(sidecar(name, "args").read_text())
    body, digest, media_type = convert.to_schema1(
        sidecar(name, "input").read_bytes(), config or sidecar(name, "config").read_bytes(),
        args["name"], args["tag"], None)
    assert media_type == mt.DOCKER_V1 and digest == "sha256:" + hashlib.sha256(body).hexdigest()
    return body


def run(path: Path) -> Union[bytes, dict]:
    name, body = case_name(path), path.read_bytes()
    try:
        if name.startswith("platform-"):
            doc = json.loads(body)
            chosen = {p: select_platform(doc, *p.split("/")) for p in PLATFORMS}
            return {p: (d["digest"] if d else None) for p, d in chosen.items()}
        if name.startswith("schema1-"):
            return schema1_of(name)
        op = next(fn for prefix, fn in OPERATIONS.items() if name.startswith(prefix))
        return op(body)
    except convert.ConversionImpossible as exc:
        return {"impossible": exc.reason}


@pytest.mark.parametrize("path", INPUTS, ids=[case_name(p) for p in INPUTS])
def test_convert_golden(path: Path):
    got = run(path)
    expected = sidecar(case_name(path), "expected")
    got_bytes = got if isinstance(got, bytes) else json.dumps(got, indent=2).encode() + b"\n"
    if os.environ.get("UPDATE_GOLDEN") or not expected.exists():
        expected.write_bytes(got_bytes)
    assert got_bytes == expected.read_bytes()
    assert ("-refuse-" in path.name) == (isinstance(got, dict) and "impossible" in got)
    if isinstance(got, bytes):  # every output is a valid manifest of its declared type
        parse(json.loads(got).get("mediaType") or mt.DOCKER_V1, got)


def test_goldens_cover_every_operation():
    names = [case_name(p) for p in INPUTS]
    for prefix in [*OPERATIONS, "schema1-", "platform-"]:
        assert any(n.startswith(prefix) and "-refuse-" not in n for n in names), prefix
    assert sum("-refuse-" in n for n in names) >= 5


# --- OCI <-> Docker v2 schema 2 round trips ---------------------------------------

@pytest.mark.parametrize("name", ["simple", "complex", "ubuntu"])
def test_docker_v2_round_trip_reproduces_dockers_bytes(name):
    """Docker-pushed manifests are Go JSON with a 3-space indent: the round trip is exact."""
    original = (GOLDEN / f"docker-to-oci-{name}.input.json").read_bytes()
    oci = convert.docker_v2_to_oci(original)
    back = convert.oci_to_docker_v2(oci)
    assert json.loads(back) == json.loads(original)
    assert convert.docker_v2_to_oci(back) == oci


def test_oci_round_trip_keeps_blobs_and_drops_only_oci_extras():
    original = json.loads((GOLDEN / "oci-to-docker-tar-and-foreign.input.json").read_bytes())
    back = json.loads(convert.docker_v2_to_oci(convert.oci_to_docker_v2(json.dumps(original).encode())))
    for d in [back["config"], *back["layers"]]:
        assert "annotations" not in d
    assert "subject" not in back and "annotations" not in back
    strip = lambda d: {k: v for k, v in d.items() if k != "annotations"}  # noqa: E731
    assert [strip(layer) for layer in original["layers"]] == back["layers"]
    assert strip(original["config"]) == back["config"]


# --- schema 1 against Docker's own output (quay's test data) -------------------------

SCHEMA1_CASES = ["simple", "complex", "ubuntu"]


def reference(name: str) -> dict:
    return json.loads(sidecar(f"schema1-{name}", "reference").read_bytes())


def v1(entry: dict) -> dict:
    return json.loads(entry["v1Compatibility"])


@pytest.mark.parametrize("name", SCHEMA1_CASES)
def test_schema1_config_is_the_real_blob(name):
    """The config sidecar is the blob the schema 2 manifest points at (sha256 matches)."""
    manifest = json.loads(sidecar(f"schema1-{name}", "input").read_bytes())
    config = sidecar(f"schema1-{name}", "config").read_bytes()
    assert "sha256:" + hashlib.sha256(config).hexdigest() == manifest["config"]["digest"]


@pytest.mark.parametrize("name", SCHEMA1_CASES)
def test_schema1_matches_docker_field_by_field(name):
    got, ref = json.loads(schema1_of(f"schema1-{name}")), reference(name)
    assert [got[k] for k in ("schemaVersion", "name", "tag", "architecture")] == \
        [ref[k] for k in ("schemaVersion", "name", "tag", "architecture")]
    assert got["fsLayers"] == ref["fsLayers"]  # top first, empty layers as the gzipped empty tar
    assert len(got["history"]) == len(ref["history"])
    for mine, theirs in zip(map(v1, got["history"]), map(v1, ref["history"])):
        for key in ("id", "parent", "created", "container_config", "throwaway", "comment", "author"):
            assert mine.get(key) == theirs.get(key), key
    assert got["history"] == ref["history"]  # in fact byte-identical strings


def test_schema1_complex_payload_is_dockers_signed_payload():
    """Byte for byte the payload Docker signed: same digest as the real manifest."""
    signed = sidecar("schema1-complex", "reference").read_bytes()
    assert schema1_of("schema1-complex") == jws.verify(signed)
    assert parse(mt.DOCKER_V1_SIGNED, signed).digest == \
        "sha256:9ac47329525a9d6af983484c81972d32ef5ab9e6466cf57afd511620e84ffc01"


def test_schema1_ubuntu_payload_matches_the_repaired_reference():
    """quay's ubuntu file verifies once re-indented (see the testdata README)."""
    edited = sidecar("schema1-ubuntu", "reference").read_bytes()
    repaired = b"\n".join(line[1:] if line.startswith(b" ") else line for line in edited.split(b"\n"))
    ours = schema1_of("schema1-ubuntu")
    assert ours == jws.verify(repaired)
    assert hashlib.sha256(ours).hexdigest() == "75813eeb794e7824289ecdfa626126e2be18deb99ec2c9eb5c726082fa3ed4d6"


def test_schema1_top_id_depends_on_exact_config_bytes():
    """With a re-formatted config only the top v1 id changes (it hashes the config bytes)."""
    exact = json.loads(schema1_of("schema1-simple"))
    config = json.loads(sidecar("schema1-simple", "config").read_bytes())
    reformatted = json.loads(schema1_of("schema1-simple", json.dumps(config, indent=4).encode()))
    assert exact["history"][1:] == reformatted["history"][1:]
    top, other = v1(exact["history"][0]), v1(reformatted["history"][0])
    assert top["id"] != other["id"] and {**top, "id": ""} == {**other, "id": ""}


def test_schema1_from_oci_equals_schema1_from_docker_v2():
    assert schema1_of("schema1-oci-simple") == schema1_of("schema1-simple")


def test_schema1_without_history_gets_one_entry_per_layer():
    got = json.loads(schema1_of("schema1-no-history"))
    assert len(got["history"]) == len(got["fsLayers"]) == 2
    assert v1(got["history"][1])["created"] == "2026-02-03T04:05:06.7Z"
    assert "\\u003cb\\u0026c\\u003e" in got["history"][0]["v1Compatibility"]  # Go's HTML-safe escapes


# --- signed schema 1, verified without jws.py --------------------------------------------

def b64url(text: str) -> bytes:
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def independent_verify(signed: bytes) -> bytes:
    """Check a prettyjws ES256 signature with `cryptography` alone; return the payload."""
    sig = json.loads(signed)["signatures"][0]
    protected = json.loads(b64url(sig["protected"]))
    payload = signed[: protected["formatLength"]] + b64url(protected["formatTail"])
    jwk = sig["header"]["jwk"]
    assert sig["header"]["alg"] == "ES256" and jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url(jwk["x"]), "big"),
                                        int.from_bytes(b64url(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    raw = b64url(sig["signature"])
    assert len(raw) == 64
    signing_input = (sig["protected"] + "." + _b64url_encode(payload)).encode()
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               signing_input, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    return payload


def _b64url_encode(data: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("name", SCHEMA1_CASES)
def test_signed_schema1_verifies_independently(name):
    args = json.loads(sidecar(f"schema1-{name}", "args").read_text())
    body, digest, media_type = convert.to_schema1(
        sidecar(f"schema1-{name}", "input").read_bytes(), sidecar(f"schema1-{name}", "config").read_bytes(),
        args["name"], args["tag"], jws.generate_key())
    assert media_type == mt.DOCKER_V1_SIGNED
    payload = independent_verify(body)
    assert payload == schema1_of(f"schema1-{name}")
    assert digest == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert parse(mt.DOCKER_V1_SIGNED, body).digest == digest
    protected = json.loads(b64url(json.loads(body)["signatures"][0]["protected"]))
    assert list(protected) == ["formatLength", "formatTail", "time"] and b64url(protected["formatTail"]) == b"\n}"


# --- dispatch ---------------------------------------------------------------------------------

def test_convert_dispatch():
    v2 = sidecar("schema1-simple", "input").read_bytes()
    oci, digest, media_type = convert.convert(v2, mt.DOCKER_V2, mt.OCI_MANIFEST)
    assert media_type == mt.OCI_MANIFEST and digest == "sha256:" + hashlib.sha256(oci).hexdigest()
    assert convert.convert(v2, mt.DOCKER_V2, mt.DOCKER_V2)[0] is v2
    s1, d1, _ = convert.convert(oci, mt.OCI_MANIFEST, mt.DOCKER_V1, config_body=sidecar("schema1-simple", "config")
                                .read_bytes(), name="devtable/somerepo", tag="latest")
    assert s1 == schema1_of("schema1-simple")
    signed, d2, _ = convert.convert(s1, mt.DOCKER_V1, mt.DOCKER_V1_SIGNED, signing_key_pem=jws.generate_key())
    assert d2 == d1 and convert.convert(signed, mt.DOCKER_V1_SIGNED, mt.DOCKER_V1)[0] == s1
    assert convert.convert(signed, mt.DOCKER_V1_SIGNED, mt.DOCKER_V1_SIGNED)[1:] == (d1, mt.DOCKER_V1_SIGNED)
    with pytest.raises(convert.ConversionImpossible):
        convert.convert(oci, mt.OCI_MANIFEST, mt.DOCKER_V1_SIGNED, config_body=b"{}")  # no key
    with pytest.raises(convert.ConversionImpossible):
        convert.convert(oci, mt.OCI_MANIFEST, mt.OCI_INDEX)
    with pytest.raises(ValueError):
        convert.convert(oci, mt.OCI_MANIFEST, mt.DOCKER_V1)  # the config is needed


# --- platform selection rules, spelled out --------------------------------------------

def _pick(name: str, platform: str) -> str | None:
    doc = json.loads((GOLDEN / f"platform-{name}.input.json").read_bytes())
    d = select_platform(doc, *platform.split("/"))
    return d["digest"][7:8] if d else None


@pytest.mark.parametrize("platform,digit", [
    ("linux/amd64", "1"), ("linux/arm64", "5"), ("linux/arm64/v8", "5"), ("linux/arm", "4"),
    ("linux/arm/v6", "3"), ("linux/arm/v5", "2"), ("linux/386", "6"), ("windows/amd64", None),
])
def test_select_platform_library(platform, digit):
    assert _pick("docker-library", platform) == digit


@pytest.mark.parametrize("platform,digit", [
    ("linux/amd64", "a"), ("linux/arm64", "b"), ("linux/arm", None), ("unknown/unknown", None),
])
def test_select_platform_skips_attestations(platform, digit):
    assert _pick("buildx-attestations", platform) == digit


@pytest.mark.parametrize("platform,digit", [
    ("linux/amd64", "0"),        # plain amd64 (v1) beats nothing better
    ("linux/amd64/v2", "3"),     # x86_64 + Linux normalise; v2 exact
    ("linux/amd64/v4", "f"),     # falls back v4 -> v3
    ("linux/arm/v7", "1"),       # arm without variant means v7
    ("linux/arm/v6", "1"),       # no v6 entry: an entry without variant still matches
    ("linux/arm64", "2"),        # aarch64
    ("windows/amd64", "4"),
    ("linux/s390x", None),       # only an index child: not a platform image
])
def test_select_platform_variants(platform, digit):
    assert _pick("no-variants", platform) == digit


@pytest.mark.parametrize("value,expected", [
    ("2018-11-16T01:14:20.416001274Z", "2018-11-16T01:14:20.416001274Z"),
    ("2018-11-16T01:14:20.416000000Z", "2018-11-16T01:14:20.416Z"),
    ("2018-11-16T01:14:20.000Z", "2018-11-16T01:14:20Z"),
    ("2019-01-03T00:00:00.123456789123Z", "2019-01-03T00:00:00.123456789Z"),  # Go keeps nanoseconds
    ("2019-01-02T00:00:00+00:00", "2019-01-02T00:00:00Z"),
    ("2019-01-02T00:00:00.5-05:00", "2019-01-02T00:00:00.5-05:00"),
    (None, "0001-01-01T00:00:00Z"),  # Go's zero time, as distribution writes a missing one
])
def test_history_times_marshal_like_go(value, expected):
    assert convert._go_time(value, "created") == expected


@pytest.mark.parametrize("value", ["yesterday", "2019-01-02 00:00:00Z", 1546387200])
def test_history_times_that_go_cannot_parse_are_refused(value):
    with pytest.raises(convert.ConversionImpossible, match="RFC 3339"):
        convert._go_time(value, "created")
