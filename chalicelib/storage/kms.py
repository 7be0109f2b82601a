"""Token signing with an AWS KMS asymmetric key: the private key never leaves KMS."""
from __future__ import annotations

from typing import Any, Optional

RAW_MESSAGE_MAX = 4096  # KMS Sign: longest Message with MessageType RAW


class KmsSigner:
    """ECDSA P-256 signatures from KMS (`ECDSA_SHA_256`), as raw r||s for JWS."""

    def __init__(self, client: Any, key_id: str, public_key_pem: Optional[bytes] = None) -> None:
        self._kms = client
        self._key_id = key_id
        self._public_pem = public_key_pem

    def sign(self, data: bytes) -> bytes:
        import hashlib

        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        # KMS takes RAW messages of at most 4096 bytes; longer ones (tokens for many
        # repositories) go as their SHA-256 digest: an ECDSA_SHA_256 signature over
        # the same message, verified the same way.
        if len(data) <= RAW_MESSAGE_MAX:
            message, kind = data, "RAW"
        else:
            message, kind = hashlib.sha256(data).digest(), "DIGEST"
        der = self._kms.sign(KeyId=self._key_id, Message=message, MessageType=kind,
                             SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_key_pem(self) -> bytes:
        """The public half (one GetPublicKey per process unless configured)."""
        if self._public_pem is None:
            from cryptography.hazmat.primitives import serialization

            der = self._kms.get_public_key(KeyId=self._key_id)["PublicKey"]
            key = serialization.load_der_public_key(der)
            self._public_pem = key.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        return self._public_pem
