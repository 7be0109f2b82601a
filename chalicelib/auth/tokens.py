"""Compact JWS (ES256) tokens, signed through a `Signer` so the key can live in KMS.

Verification needs only the public key: no database read per request.
"""
from __future__ import annotations

import base64
import json
import math
import time
import uuid
from typing import Any, Optional, Protocol


class Signer(Protocol):
    """Signs bytes with ECDSA P-256/SHA-256 and returns the raw r||s signature."""

    def sign(self, data: bytes) -> bytes: ...
    def public_key_pem(self) -> bytes: ...


class InvalidToken(Exception):
    """The token is malformed, badly signed, expired, or not for this service."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def encode(claims: dict, signer: Signer, kid: Optional[str] = None) -> str:
    """A signed compact JWS of `claims`."""
    header = {"alg": "ES256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"


class Verifier:
    """Checks token signatures with a cached public key."""

    def __init__(self, public_key_pem: bytes) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        key = load_pem_public_key(public_key_pem)
        if not isinstance(key, ec.EllipticCurvePublicKey):  # tokens are ES256 only
            raise ValueError("the token public key is not an EC key")
        self._key = key

    def verify(self, token: str, *, audience: str, issuer: str, leeway: int = 30,
               now: Optional[float] = None) -> dict:
        """The claims of a valid token, else InvalidToken."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            head_b64, body_b64, sig_b64 = token.split(".")
            header = json.loads(b64url_decode(head_b64))
            sig = b64url_decode(sig_b64)
        except (ValueError, TypeError, RecursionError) as exc:
            raise InvalidToken("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "ES256" or len(sig) != 64:
            raise InvalidToken("unsupported token algorithm")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            self._key.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise InvalidToken("bad signature") from exc
        # Only now are the claims parsed: they are ours (signed), but still typed strictly.
        try:
            claims = json.loads(b64url_decode(body_b64))
        except (ValueError, TypeError, RecursionError) as exc:
            raise InvalidToken("malformed claims") from exc
        _check_claim_types(claims)
        now = time.time() if now is None else now
        if claims.get("exp", 0) + leeway < now or claims.get("nbf", 0) - leeway > now:
            raise InvalidToken("token expired or not yet valid")
        aud = claims.get("aud")
        if aud != audience and not (isinstance(aud, list) and audience in aud):
            raise InvalidToken("token is for another service")
        if claims.get("iss") != issuer:
            raise InvalidToken("token from another issuer")
        return claims


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_access_list(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(e, dict) and isinstance(e.get("type"), str) and isinstance(e.get("name"), str)
        and isinstance(e.get("actions", []), list) and all(isinstance(a, str) for a in e.get("actions", []))
        for e in v)


def _check_claim_types(claims: Any) -> None:
    """Every claim the registry reads has the type it expects, else InvalidToken."""
    if not isinstance(claims, dict):
        raise InvalidToken("malformed claims")
    for name in ("exp", "nbf", "iat"):
        if name in claims and not _is_number(claims[name]):
            raise InvalidToken(f"claim {name} is not a number")
    for name in ("sub", "iss", "typ", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"claim {name} is not a string")
    if "gen" in claims and (not isinstance(claims["gen"], int) or isinstance(claims["gen"], bool)):
        raise InvalidToken("claim gen is not an integer")
    for name in ("access", "denied"):
        if name in claims and not _is_access_list(claims[name]):
            raise InvalidToken(f"claim {name} is not a list of access entries")


def access_claims(subject: str, access: list[dict], *, issuer: str, audience: str, ttl: int,
                  kind: str = "access", extra: Optional[dict[str, Any]] = None) -> dict:
    """The claim set of an access (or refresh) token."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now,
              "exp": now + ttl, "jti": uuid.uuid4().hex, "access": access, "typ": kind}
    claims.update(extra or {})
    return claims


class LocalSigner:
    """An EC P-256 private key held in process (the local server's persisted key)."""

    def __init__(self, private_key_pem: bytes) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):  # tokens are ES256 only
            raise ValueError("the token signing key is not an EC key")
        self._key = key

    @staticmethod
    def generate_pem() -> bytes:
        """A new P-256 private key, PEM encoded."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
