"""Docker schema 1: parsing, libtrust JWS verification and signing.

The digests below are the ones in the shared testdata README (and quay's own
tests); the golden parse files hold byte-exact copies of those manifests.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from chalicelib.oci.errors import RegistryError
from chalicelib.manifests import jws, parse
from chalicelib.oci import mediatypes as mt
from chalicelib.manifests.base import go_json

PARSE = Path(__file__).resolve().parents[1] / "golden" / "parse"
SIGNED_AT = datetime(2018, 8, 13, 19, 20, 1, tzinfo=timezone.utc)

README_DIGESTS = {
    "schema1-validated": "b5dc4f63fdbd64f34f2314c0747ef81008f9fcddce4edfc3fd0e8ec8b358d571",
    "schema1-validated-with-unicode": "815ecf45716a96b19d54d911e6ace91f78bab26ca0dd299645d9995dacd9f1ef",
    "schema1-unicode-row": "dde3714ce7e23edc6413aa85c0b42792e4f2f79e9ea36afc154d63ff3d04e86c",
    "schema1-unencoded-unicode": "5d8a0f34744a39bf566ba430251adc0cc86587f86aed3ac2acfb897f349777bc",
    "schema1-known-issue": "44518f5a4d1cb5b7a6347763116fb6e10f6a8563b6c40bb389a0a982f0a9f47a",
    "schema1-conversion-complex": "9ac47329525a9d6af983484c81972d32ef5ab9e6466cf57afd511620e84ffc01",
    "schema1-conversion-ubuntu-reindented": "75813eeb794e7824289ecdfa626126e2be18deb99ec2c9eb5c726082fa3ed4d6",
}
EDITED = {  # sha256 of body[:formatLength] + formatTail, though the signature fails
    "bad-schema1-conversion-simple-edited": "7681597aae6e385f5a087a9224c2f0292898ade04ec00c29b43748e5868d44ae",
    "bad-schema1-conversion-ubuntu-edited": "5d4af6e17554c80dfefe2c93ac50d3edb8c7e3a3d4db595e7532425fcfdbfc47",
}


def body_of(name: str) -> bytes:
    return (PARSE / f"{name}.input.json").read_bytes()


def refused(media_type: str, body: bytes) -> dict:
    with pytest.raises(RegistryError) as e:
        parse(media_type, body)
    assert e.value.code == "MANIFEST_INVALID" and e.value.status == 400
    return e.value.detail


# --- parsing the shared testdata -------------------------------------------------

@pytest.mark.parametrize("name,digest", README_DIGESTS.items())
def test_signed_testdata_verifies_with_readme_digest(name, digest):
    body = body_of(name)
    p = parse(mt.DOCKER_V1_SIGNED, body)
    assert p.digest == "sha256:" + digest
    assert p.body is body and p.doc == json.loads(body)
    assert p.blobs == list(dict.fromkeys(l["blobSum"] for l in json.loads(body)["fsLayers"]))


@pytest.mark.parametrize("name,digest", EDITED.items())
def test_edited_testdata_is_refused_but_payload_rule_holds(name, digest):
    body = body_of(name)
    assert refused(mt.DOCKER_V1_SIGNED, body)["reason"] == "signature verification failed"
    assert hashlib.sha256(jws.payload_of(body)).hexdigest() == digest


def test_unicode_row_is_the_database_rows_manifest():
    row = json.loads((PARSE / "schema1-unicode-row.input.json").read_bytes())
    assert row["name"] and row["signatures"]


def test_unsigned_digest_is_sha256_of_body_and_equals_the_signed_one():
    body = body_of("schema1-unsigned-validated")
    p = parse(mt.DOCKER_V1, body)
    assert p.digest is None  # sha256 of the body, as for every other format
    assert hashlib.sha256(body).hexdigest() == README_DIGESTS["schema1-validated"]


def test_unsigned_json_with_signatures_is_verified_too():
    p = parse(mt.DOCKER_V1, body_of("schema1-validated"))
    assert p.digest == "sha256:" + README_DIGESTS["schema1-validated"]
    detail = refused(mt.DOCKER_V1, body_of("bad-schema1-tampered"))
    assert detail["reason"] == "signature verification failed"


def test_prettyjws_without_signatures_is_refused():
    assert refused(mt.DOCKER_V1_SIGNED, body_of("schema1-unsigned-validated")) == \
        {"reason": "signature verification failed", "cause": "missing signatures"}


def test_distinct_blobs_keep_first_occurrence_order():
    p = parse(mt.DOCKER_V1_SIGNED, body_of("schema1-validated"))
    assert p.blobs == ["sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
                       "sha256:f0880d1639d2e72499fe0cfb218a98ca7aa3bffda6e0b808861505a1536cca10",
                       "sha256:8e3ba11ec2a2b39ab372c60c16b421536e50e5ce64a0bc81765c2e38381bcff6"]


# --- key ids and JWKs ------------------------------------------------------------------

@pytest.mark.parametrize("name", README_DIGESTS)
def test_libtrust_key_id_matches_the_kid_docker_wrote(name):
    for sig in json.loads(body_of(name))["signatures"]:
        jwk = dict(sig["header"]["jwk"])
        kid = jwk.pop("kid")
        assert jws.key_id(jws.key_from_jwk(jwk)) == kid
        assert jws.public_jwk(jws.key_from_jwk(jwk)) == sig["header"]["jwk"]


def test_jwk_with_wrong_kid_or_private_part_is_refused():
    jwk = json.loads(body_of("schema1-validated"))["signatures"][0]["header"]["jwk"]
    with pytest.raises(jws.SignatureError, match="kid"):
        jws.key_from_jwk({**jwk, "kid": "AAAA:" + jwk["kid"][5:]})
    with pytest.raises(jws.SignatureError, match="private"):
        jws.key_from_jwk({**jwk, "d": "AA"})
    with pytest.raises(jws.SignatureError):
        jws.key_from_jwk({**jwk, "x": jwk["y"]})  # not a point on the curve
    with pytest.raises(jws.SignatureError):
        jws.key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": "AA"})


def test_generate_key_and_key_from_pem():
    key = jws.key_from_pem(jws.generate_key())
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    kid = jws.key_id(key.public_key())
    assert len(kid) == 59 and kid.count(":") == 11
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ValueError):
        jws.key_from_pem(ed)


# --- signing -----------------------------------------------------------------------

def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


KEYS = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ES512": lambda: ec.generate_private_key(ec.SECP521R1()),
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


@pytest.mark.parametrize("alg", KEYS)
def test_sign_then_parse_round_trip(alg):
    payload = body_of("schema1-unsigned-validated")
    signed = jws.sign(payload, _pem(KEYS[alg]()))
    assert json.loads(signed)["signatures"][0]["header"]["alg"] == alg
    assert jws.verify(signed) == payload
    assert parse(mt.DOCKER_V1_SIGNED, signed).digest == "sha256:" + README_DIGESTS["schema1-validated"]
    tampered = signed.replace(b'"tag": "latest"', b'"tag": "latesT"')
    assert refused(mt.DOCKER_V1_SIGNED, tampered)["reason"] == "signature verification failed"


def test_signed_layout_is_byte_identical_to_dockers():
    """Re-signing Docker's payload at the same second differs only in key and signature."""
    original = body_of("schema1-validated")
    ours = jws.sign(jws.verify(original), jws.generate_key(), now=SIGNED_AT)
    theirs_sig, our_sig = (json.loads(b)["signatures"][0] for b in (original, ours))
    assert our_sig["protected"] == theirs_sig["protected"]
    swapped = ours
    for field in ("kid", "x", "y"):
        swapped = swapped.replace(our_sig["header"]["jwk"][field].encode(),
                                  theirs_sig["header"]["jwk"][field].encode())
    swapped = swapped.replace(our_sig["signature"].encode(), theirs_sig["signature"].encode())
    assert swapped == original


def test_sign_a_dict_uses_docker_json():
    doc = {"schemaVersion": 1, "name": "a/b", "tag": "t", "architecture": "amd64",
           "fsLayers": [{"blobSum": "sha256:" + "0" * 64}],
           "history": [{"v1Compatibility": json.dumps({"id": "1" * 64, "x": "<&>é"}, ensure_ascii=False)}]}
    signed = jws.sign(doc, jws.generate_key())
    payload = jws.verify(signed)
    assert payload.startswith(b'{\n   "schemaVersion": 1,\n') and payload.endswith(b"\n}")
    assert b"\\u003c\\u0026\\u003e" in payload and "é".encode() in payload
    assert parse(mt.DOCKER_V1_SIGNED, signed).digest == "sha256:" + hashlib.sha256(payload).hexdigest()


def test_sign_compact_payload():
    payload = json.dumps(json.loads(body_of("schema1-unsigned-validated")), separators=(",", ":")).encode()
    signed = jws.sign(payload, jws.generate_key())
    assert b',"signatures":[{' in signed and jws.verify(signed) == payload
    with pytest.raises(ValueError):
        jws.sign(b"[1, 2]", jws.generate_key())


def test_alg_must_fit_the_key():
    signed = json.loads(jws.sign(body_of("schema1-unsigned-validated"), jws.generate_key()))
    signed["signatures"][0]["header"]["alg"] = "ES384"
    with pytest.raises(jws.SignatureError, match="alg"):
        jws.verify(json.dumps(signed, indent=3).encode())


def _resplice(signed: bytes, signatures: list) -> bytes:
    """Replace the signatures block, keeping the signed prefix bytes."""
    cut = signed.index(b',\n   "signatures"')
    return signed[:cut] + b',\n   "signatures": ' + json.dumps(signatures, indent=3).encode() + b"\n}"


def test_x5c_chain_key_is_used():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    signed = jws.sign(body_of("schema1-unsigned-validated"), _pem(key))
    sig = json.loads(signed)["signatures"][0]
    sig["header"] = {"alg": "ES256", "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    assert jws.verify(_resplice(signed, [sig])) == body_of("schema1-unsigned-validated")
    sig["header"]["x5c"] = ["bm90IGEgY2VydA=="]
    with pytest.raises(jws.SignatureError, match="x5c"):
        jws.verify(_resplice(signed, [sig]))


def test_every_signature_must_verify():
    payload = body_of("schema1-unsigned-validated")
    one = json.loads(jws.sign(payload, jws.generate_key()))["signatures"][0]
    two = json.loads(jws.sign(payload, jws.generate_key()))["signatures"][0]
    signed = jws.sign(payload, jws.generate_key())
    assert jws.verify(_resplice(signed, [one, two])) == payload
    two["signature"] = one["signature"]
    with pytest.raises(jws.SignatureError, match=r"signatures\[1\]"):
        jws.verify(_resplice(signed, [one, two]))


@pytest.mark.parametrize("mutate,match", [
    (lambda s: s.update(protected=jws.b64url_encode(b'{"formatTail":"Cn0"}')), "formatLength"),
    (lambda s: s.update(protected=jws.b64url_encode(b'{"formatLength":1}')), "formatTail"),
    (lambda s: s.update(protected=jws.b64url_encode(b'{"formatLength":999999,"formatTail":"Cn0"}')), "formatLength"),
    (lambda s: s.update(protected="!!!"), "base64url"),
    (lambda s: s.update(protected="a"), "base64url"),
    (lambda s: s.pop("header"), "header"),
    (lambda s: s["header"].pop("jwk"), "public key"),
    (lambda s: s.update(signature=42), "signature"),
    (lambda s: s.update(signature="AAAA"), "bytes"),
])
def test_malformed_signatures(mutate, match):
    signed = jws.sign(body_of("schema1-unsigned-validated"), jws.generate_key())
    sig = json.loads(signed)["signatures"][0]
    mutate(sig)
    with pytest.raises(jws.SignatureError, match=match):
        jws.verify(_resplice(signed, [sig]))


def test_conflicting_format_lengths():
    payload = body_of("schema1-unsigned-validated")
    one = json.loads(jws.sign(payload, jws.generate_key()))["signatures"][0]
    two = json.loads(jws.sign(payload + b"\n", jws.generate_key()))["signatures"][0]
    with pytest.raises(jws.SignatureError, match="disagree"):
        jws.payload_of(_resplice(jws.sign(payload, jws.generate_key()), [one, two]))


def test_go_json_escapes_like_go():
    assert go_json({"a": "<&>\u2028é", "b": [1, {}], "c": "\ud800"}) == \
        b'{"a":"\\u003c\\u0026\\u003e\\u2028\xc3\xa9","b":[1,{}],"c":"\\ud800"}'
    assert go_json({"a": [1]}, indent="   ", prefix="  ") == b'{\n     "a": [\n        1\n     ]\n  }'
