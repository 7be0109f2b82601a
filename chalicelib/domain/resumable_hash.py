"""Resumable SHA-256/512 for chunked uploads: the hash state is stored with the session."""
from __future__ import annotations

from ..oci.errors import RegistryError


class ResumableHash:
    """SHA-256 and SHA-512 over a stream whose state survives between requests.

    Both are kept because a client names the algorithm only when it closes the
    upload. The state is an opaque blob stored with the upload session.
    """

    def __init__(self, state: bytes | None = None) -> None:
        from rehashes import PySha256, PySha512  # native; imported on first upload

        if state:
            n = int.from_bytes(state[:4], "big")
            self._h256 = PySha256.deserialize(state[4 : 4 + n])
            self._h512 = PySha512.deserialize(state[4 + n :])
        else:
            self._h256 = PySha256()
            self._h512 = PySha512()

    def update(self, data: bytes) -> None:
        """Feed more bytes."""
        if data:
            self._h256.update(data)
            self._h512.update(data)

    def state(self) -> bytes:
        """Serialised state to resume from later."""
        a = bytes(self._h256.serialize())
        b = bytes(self._h512.serialize())
        return len(a).to_bytes(4, "big") + a + b

    def digest(self, algorithm: str) -> str:
        """`algorithm:hex` of everything fed so far (does not consume state)."""
        from rehashes import PySha256, PySha512

        if algorithm == "sha256":
            h = PySha256.deserialize(self._h256.serialize())
        elif algorithm == "sha512":
            h = PySha512.deserialize(self._h512.serialize())
        else:
            raise RegistryError("DIGEST_INVALID", {"reason": f"unsupported algorithm {algorithm}"})
        return f"{algorithm}:{h.finalize()}"
