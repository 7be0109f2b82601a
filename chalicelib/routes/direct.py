"""Direct-to-S3 uploads (docs/direct-upload.md): POST/GET <upload Location>/direct.

The session is opened by the usual POST /blobs/uploads/ and closed by the usual
PUT ?digest= (routes/uploads.py); these two endpoints plan and report.
"""
from __future__ import annotations

from typing import Any

from chalice import Response

from ..http.inject import services
from ..auth.scopes import PUSH
from ..domain.direct import DirectUploads
from ..http.headers import body_bytes
from .common import json_response
from .dispatch import endpoint

PATH = r"(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)/direct"


def _direct() -> DirectUploads:
    reg = services().registry()
    return DirectUploads(reg.meta, reg.blobs, reg.settings)


@endpoint(PATH, "POST", action=PUSH)
def plan(request: Any, name: str, upload_id: str) -> Response:
    """A presigned PUT or a multipart plan with a URL per declared part."""
    return json_response(_direct().plan(name, upload_id, body_bytes(request)),
                         headers={"Cache-Control": "no-store"})


@endpoint(PATH, "GET", action=PUSH)
def status(request: Any, name: str, upload_id: str) -> Response:
    """What S3 holds of the upload, to resume after an interruption."""
    return json_response(_direct().status(name, upload_id), headers={"Cache-Control": "no-store"})
