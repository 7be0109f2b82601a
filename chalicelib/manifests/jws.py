"""libtrust-style JSON Web Signatures for Docker schema 1 ("prettyjws") manifests.

A signed schema 1 manifest is the manifest JSON with a `signatures` array
spliced in before the closing brace. Each signature's protected header says
how to cut it out again: the signed payload is `body[:formatLength]` followed
by the base64url-decoded `formatTail`. The signing input is
`protected + "." + b64url(payload)`. This module verifies such bodies and
produces new ones the way Docker's libtrust lays them out, so Docker and
containers/image accept them. Pure: no I/O; keys come in as PEM bytes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timezone
from typing import Any, Optional, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

from .base import go_json, loads

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]

# JWK curve name -> (curve, JWS alg, hash, coordinate length in bytes)
_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, type[hashes.HashAlgorithm], int]] = {
    "P-256": (ec.SECP256R1, "ES256", hashes.SHA256, 32),
    "P-384": (ec.SECP384R1, "ES384", hashes.SHA384, 48),
    "P-521": (ec.SECP521R1, "ES512", hashes.SHA512, 66),
}
_CURVE_BY_OBJ_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_RSA_HASHES: dict[str, type] = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512}


class SignatureError(ValueError):
    """A JWS that is malformed or whose signature does not verify."""


# --- encodings ---------------------------------------------------------------

def b64url_encode(data: bytes) -> str:
    """base64url without padding (JOSE style)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, strictly (as libtrust's joseBase64UrlDecode)."""
    if not isinstance(text, str) or len(text) % 4 == 1:
        raise SignatureError("illegal base64url string")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("illegal base64url string") from None


# --- keys --------------------------------------------------------------------

def generate_key() -> bytes:
    """A new EC P-256 private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def key_from_pem(pem: bytes) -> PrivateKey:
    """Load an unencrypted EC (P-256/384/521) or RSA private key from PEM."""
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVE_BY_OBJ_NAME:
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    raise ValueError("signing key must be EC P-256/P-384/P-521 or RSA")


def key_id(public_key: PublicKey) -> str:
    """The libtrust key ID: base32 of the first 240 bits of sha256(DER SPKI), in groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def _int_bytes(value: int, length: Optional[int] = None) -> bytes:
    length = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def public_jwk(public_key: PublicKey) -> dict:
    """The public key as libtrust writes it in a JWS header (keys in sorted order)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = _CURVE_BY_OBJ_NAME[public_key.curve.name]
        size = _CURVES[crv][3]
        point = public_key.public_numbers()
        return {"crv": crv, "kid": key_id(public_key), "kty": "EC",
                "x": b64url_encode(_int_bytes(point.x, size)), "y": b64url_encode(_int_bytes(point.y, size))}
    modulus = public_key.public_numbers()
    return {"e": b64url_encode(_int_bytes(modulus.e)), "kid": key_id(public_key), "kty": "RSA",
            "n": b64url_encode(_int_bytes(modulus.n))}


def _b64_int(jwk: dict, name: str) -> int:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise SignatureError(f"JWK {name!r} must be a base64url string")
    return int.from_bytes(b64url_decode(value), "big")


def key_from_jwk(jwk: Any) -> PublicKey:
    """A public key from a JWS header's `jwk`; a `kid`, when given, must match the key."""
    if not isinstance(jwk, dict):
        raise SignatureError("jwk must be an object")
    if "d" in jwk:
        raise SignatureError("jwk must not contain a private key")
    kty = jwk.get("kty")
    try:
        key: PublicKey
        if kty == "EC":
            curve = _CURVES.get(jwk.get("crv"))  # type: ignore[arg-type]
            if curve is None:
                raise SignatureError(f"unsupported EC curve {jwk.get('crv')!r}")
            key = ec.EllipticCurvePublicNumbers(_b64_int(jwk, "x"), _b64_int(jwk, "y"),
                                                curve[0]()).public_key()
        elif kty == "RSA":
            key = rsa.RSAPublicNumbers(_b64_int(jwk, "e"), _b64_int(jwk, "n")).public_key()
        else:
            raise SignatureError(f"unsupported key type {kty!r}")
    except ValueError as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError(f"invalid {kty} key: {exc}") from None
    if "kid" in jwk and jwk["kid"] != key_id(key):
        raise SignatureError(f"jwk kid {jwk['kid']!r} does not match the key")
    return key


def _key_from_x5c(chain: Any) -> PublicKey:
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise SignatureError("x5c must be a non-empty array of strings")
    from cryptography import x509  # rarely needed: keep it off the cold-start path

    try:
        key = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True)).public_key()
    except (ValueError, binascii.Error) as exc:
        raise SignatureError(f"invalid x5c certificate: {exc}") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise SignatureError("x5c certificate key must be EC or RSA")
    return key


# --- signing primitives ------------------------------------------------------

def _raw_sign(key: PrivateKey, data: bytes) -> tuple[bytes, str]:
    """Sign `data`; EC signatures are raw fixed-width r||s as JWS wants."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        _, alg, hash_cls, size = _CURVES[_CURVE_BY_OBJ_NAME[key.curve.name]]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_cls())))
        return _int_bytes(r, size) + _int_bytes(s, size), alg
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256()), "RS256"


def _raw_verify(key: PublicKey, alg: Any, signature: bytes, data: bytes) -> None:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            _, key_alg, hash_cls, size = _CURVES[_CURVE_BY_OBJ_NAME[key.curve.name]]
            if alg != key_alg:
                raise SignatureError(f"alg {alg!r} does not fit a {key.curve.name} key ({key_alg})")
            if len(signature) != 2 * size:
                raise SignatureError(f"{alg} signature must be {2 * size} bytes")
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                       int.from_bytes(signature[size:], "big"))
            key.verify(der, data, ec.ECDSA(hash_cls()))
        else:
            if alg not in _RSA_HASHES:
                raise SignatureError(f"alg {alg!r} does not fit an RSA key")
            key.verify(signature, data, padding.PKCS1v15(), _RSA_HASHES[alg]())
    except InvalidSignature:
        raise SignatureError("signature does not match the payload") from None


# --- prettyjws -----------------------------------------------------------------

def _format_split(payload: bytes) -> int:
    """libtrust's formatLength: up to the last non-space before the closing brace."""
    stripped = payload.rstrip()
    if not stripped.endswith(b"}"):
        raise ValueError("payload must be a JSON object")
    head = stripped[:-1].rstrip()
    if head.endswith(b","):
        raise ValueError("payload must not end with a comma")
    return len(head)


def _detect_indent(payload: bytes) -> str:
    """The indent of the first member when the object starts with '{\\n' (libtrust's rule)."""
    if len(payload) > 2 and payload[:2] == b"{\n":
        quote = payload.find(b'"', 1)
        if quote > 0:
            return payload[2:quote].decode("utf-8", "replace")
    return ""


def sign(payload: Union[dict, bytes], private_key: Union[PrivateKey, bytes], *,
         now: Optional[datetime] = None) -> bytes:
    """A prettyjws body: `payload` with one libtrust signature spliced in.

    A dict payload is serialised as Docker does (Go JSON, 3-space indent, its
    own key order); bytes are signed as given. The digest of the result is
    sha256 of the payload bytes.
    """
    key = key_from_pem(private_key) if isinstance(private_key, bytes) else private_key
    body = go_json(payload, indent="   ") if isinstance(payload, dict) else bytes(payload)
    format_length = _format_split(body)
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    protected = b64url_encode(go_json({"formatLength": format_length,
                                       "formatTail": b64url_encode(body[format_length:]),
                                       "time": stamp}))
    raw, alg = _raw_sign(key, f"{protected}.{b64url_encode(body)}".encode("ascii"))
    signatures = [{"header": {"jwk": public_jwk(key.public_key()), "alg": alg},
                   "signature": b64url_encode(raw), "protected": protected}]
    indent = _detect_indent(body)
    if indent:
        block = b'\n' + indent.encode() + b'"signatures": ' + go_json(signatures, indent=indent, prefix=indent) + b"\n"
    else:
        block = b'"signatures":' + go_json(signatures)
    return body[:format_length] + b"," + block + b"}"


def _protected_format(protected: Any) -> tuple[int, bytes]:
    if not isinstance(protected, str):
        raise SignatureError("protected header is missing")
    try:
        header = loads(b64url_decode(protected))
    except ValueError as exc:
        if isinstance(exc, SignatureError):
            raise
        raise SignatureError(f"protected header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise SignatureError("protected header must be an object")
    length = header.get("formatLength")
    if isinstance(length, bool) or not isinstance(length, int):  # an int, as libtrust decodes it
        raise SignatureError("protected header lacks formatLength")
    tail = header.get("formatTail")
    if not isinstance(tail, str):
        raise SignatureError("protected header lacks formatTail")
    return int(length), b64url_decode(tail)


def signature_blocks(body: bytes) -> list[dict]:
    """The `signatures` array of a prettyjws body (each entry an object)."""
    try:
        doc = loads(body)
    except ValueError:
        raise SignatureError("manifest is not JSON") from None
    if not isinstance(doc, dict) or "signatures" not in doc:
        raise SignatureError("missing signatures")
    sigs = doc["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise SignatureError("signatures must be a non-empty array")
    if not all(isinstance(s, dict) for s in sigs):
        raise SignatureError("each signature must be an object")
    return sigs


def payload_of(body: bytes) -> bytes:
    """The signed payload, without checking any signature (for bodies verified earlier)."""
    formats = {_protected_format(s.get("protected")) for s in signature_blocks(body)}
    if len(formats) != 1:
        raise SignatureError("signatures disagree on formatLength/formatTail")
    length, tail = formats.pop()
    if length < 0 or length > len(body):
        raise SignatureError("invalid formatLength")
    return body[:length] + tail


def verify(body: bytes) -> bytes:
    """Verify every signature of a prettyjws body and return the signed payload.

    Raises SignatureError when a signature is missing, malformed, or wrong.
    """
    payload = payload_of(body)
    signed_tail = "." + b64url_encode(payload)
    for i, sig in enumerate(signature_blocks(body)):
        header = sig.get("header")
        if not isinstance(header, dict):
            raise SignatureError(f"signatures[{i}].header must be an object")
        if header.get("x5c"):
            key = _key_from_x5c(header["x5c"])
        elif "jwk" in header:
            key = key_from_jwk(header["jwk"])
        else:
            raise SignatureError(f"signatures[{i}] has no public key")
        raw = sig.get("signature")
        if not isinstance(raw, str):
            raise SignatureError(f"signatures[{i}].signature must be a string")
        try:
            _raw_verify(key, header.get("alg"), b64url_decode(raw), (sig["protected"] + signed_tail).encode("ascii"))
        except SignatureError as exc:
            raise SignatureError(f"signatures[{i}]: {exc}") from None
    return payload
