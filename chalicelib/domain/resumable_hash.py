"""Resumable SHA-256/512 for chunked uploads: the hash state is stored with the session."""
from __future__ import annotations

from typing import Optional

from ..oci.errors import RegistryError
from .sha256_state import Sha256State


class ResumableHash:
    """SHA-256 and (unless dropped) SHA-512 over a stream whose state survives between
    requests.

    Both are kept because a client names the algorithm only when it closes the upload.
    The state is an opaque blob stored with the upload session; a state without its
    SHA-512 half means "SHA-512 is computed from the stored bytes if a client asks".
    """

    def __init__(self, state: bytes | None = None) -> None:
        from rehashes import PySha512  # native; imported on first upload

        self._h512: Optional[PySha512]
        if state:
            n = int.from_bytes(state[:4], "big")
            self._h256 = Sha256State(state[4 : 4 + n])
            rest = state[4 + n :]
            self._h512 = PySha512.deserialize(rest) if rest else None
        else:
            self._h256 = Sha256State()
            self._h512 = PySha512()

    def drop_sha512(self) -> None:
        """Stop tracking SHA-512 (three times SHA-256's cost per byte)."""
        self._h512 = None

    def tracks(self, algorithm: str) -> bool:
        """Whether digest(algorithm) can be answered from the state."""
        return algorithm == "sha256" or (algorithm == "sha512" and self._h512 is not None)

    def update(self, data: bytes) -> None:
        """Feed more bytes."""
        if data:
            self._h256.update(data)
            if self._h512 is not None:
                self._h512.update(data)

    def state(self) -> bytes:
        """Serialised state to resume from later."""
        a = self._h256.state()
        b = bytes(self._h512.serialize()) if self._h512 is not None else b""
        return len(a).to_bytes(4, "big") + a + b

    def digest(self, algorithm: str) -> str:
        """`algorithm:hex` of everything fed so far (does not consume state)."""
        from rehashes import PySha512

        if algorithm == "sha256":
            return f"sha256:{self._h256.hexdigest()}"
        if algorithm == "sha512" and self._h512 is not None:
            h = PySha512.deserialize(self._h512.serialize())
        elif algorithm == "sha512":
            raise ValueError("SHA-512 was not tracked for this upload (tracks() says so)")
        else:
            raise RegistryError("DIGEST_INVALID", {"reason": f"unsupported algorithm {algorithm}"})
        return f"{algorithm}:{h.finalize()}"
