"""SHA-256 whose state is saved between requests, hashed at OpenSSL's rate.

Upload sessions store the state in rehashes' serialised form (so sessions saved before
this module, or by a process without libcrypto, resume unchanged): 8 state words
(little-endian u32), the count of 64-byte blocks done (u64), the tail's length (one byte)
and the tail, zero-padded to 63 bytes. The bytes themselves go through libcrypto's
SHA256_Update (the CPU's SHA instructions; ctypes releases the GIL, so reads overlap),
about twice rehashes' rate on this machine; without libcrypto, rehashes hashes.
"""
from __future__ import annotations

import ctypes
import struct
from typing import Any, Optional

STATE_BYTES = 104
_TAIL = 63
_IV = struct.pack("<8I", 0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                  0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)


class _Ctx(ctypes.Structure):
    """OpenSSL's SHA256_CTX (public in <openssl/sha.h>, the same in 1.1 and 3.x)."""

    _fields_ = [("h", ctypes.c_uint32 * 8), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32),
                ("data", ctypes.c_ubyte * 64), ("num", ctypes.c_uint), ("md_len", ctypes.c_uint)]


_lib: Any = None


def _libcrypto() -> Any:
    """libcrypto with SHA256_Update, or False (loaded once, on the first hash)."""
    global _lib
    if _lib is None:
        _lib = False
        for name in ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"):
            try:
                lib = ctypes.CDLL(name)
                lib.SHA256_Update.argtypes = [ctypes.POINTER(_Ctx), ctypes.c_void_p, ctypes.c_size_t]
                lib.SHA256_Update.restype = ctypes.c_int
                lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Ctx)]
                lib.SHA256_Final.restype = ctypes.c_int
                _lib = lib
                break
            except (OSError, AttributeError):
                continue
    return _lib


class Sha256State:
    """update() bytes, state() to save, Sha256State(saved) to resume, hexdigest() at the end."""

    def __init__(self, state: Optional[bytes] = None) -> None:
        state = bytes(state) if state else _IV + bytes(STATE_BYTES - len(_IV))
        if len(state) != STATE_BYTES or state[40] > _TAIL:
            raise ValueError("not a saved SHA-256 state")
        self._lib = _libcrypto()
        if not self._lib:
            from rehashes import PySha256  # native fallback

            self._rh: Any = PySha256.deserialize(state)
            return
        blocks, tail = struct.unpack_from("<QB", state, 32)
        bits = (blocks * 64 + tail) * 8
        self._ctx = _Ctx()
        ctypes.memmove(self._ctx.h, state, 32)
        self._ctx.Nl, self._ctx.Nh = bits & 0xFFFFFFFF, bits >> 32
        ctypes.memmove(self._ctx.data, state[41:41 + tail], tail)
        self._ctx.num, self._ctx.md_len = tail, 32

    def update(self, data: Any) -> None:
        """Feed bytes (bytes, bytearray or memoryview)."""
        if not self._lib:
            self._rh.update(data if isinstance(data, bytes) else bytes(data))
            return
        if not isinstance(data, bytes):
            view = memoryview(data).cast("B")
            if view.readonly:
                data = view.tobytes()
            else:  # writable: hashed in place
                if view.nbytes:
                    buf = (ctypes.c_char * view.nbytes).from_buffer(view)
                    self._lib.SHA256_Update(ctypes.byref(self._ctx), buf, view.nbytes)
                return
        if data:
            self._lib.SHA256_Update(ctypes.byref(self._ctx), data, len(data))

    def state(self) -> bytes:
        """The state to save (rehashes' form)."""
        if not self._lib:
            return bytes(self._rh.serialize())
        c = self._ctx
        bits = (c.Nh << 32) | c.Nl
        tail = c.num
        blocks = (bits // 8 - tail) // 64
        return bytes(c.h) + struct.pack("<QB", blocks, tail) + bytes(c.data)[:tail] + bytes(_TAIL - tail)

    def hexdigest(self) -> str:
        """The digest of everything fed so far (on a copy: the state stays as it was)."""
        if not self._lib:
            from rehashes import PySha256

            return str(PySha256.deserialize(self._rh.serialize()).finalize())
        copy = _Ctx.from_buffer_copy(self._ctx)
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, ctypes.byref(copy))
        return out.raw.hex()
