"""The one table of registry error codes, and the exception that carries them.

Codes and default statuses follow the OCI distribution-spec error table; the
HTTP layer renders a `RegistryError` as `{"errors":[{code,message,detail}]}`.
"""
from __future__ import annotations

from typing import Any, Mapping

# code -> (default HTTP status, message)
ERROR_CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown to registry"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "the operation is unsupported"),
    "TOOMANYREQUESTS": (429, "too many requests"),
    # Not in the OCI table: distribution's code for a failure the client did
    # not cause. Only ever sent with 500/503.
    "UNKNOWN": (500, "unknown error"),
}


class RegistryError(Exception):
    """A failure with an OCI error code, an HTTP status and optional headers."""

    def __init__(
        self,
        code: str,
        detail: Any = None,
        *,
        status: int | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown registry error code {code!r}")
        default_status, default_message = ERROR_CODES[code]
        self.code = code
        self.detail = detail
        self.status = status or default_status
        self.message = message or default_message
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message} ({detail!r})")

    def body(self) -> dict:
        """The OCI error document for this error."""
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        entry["detail"] = self.detail if self.detail is not None else {}
        return {"errors": [entry]}
