"""Request-level fixes Chalice needs for a registry, in one middleware."""
from __future__ import annotations

import json
from typing import Any

from chalice.app import CaseInsensitiveMapping

from ..oci.errors import RegistryError
from .headers import API_VERSION, SECURITY_HEADERS


def _oci_body_for_chalice_error(response: Any) -> None:
    # Chalice answers some failures itself ({"Code": ..., "Message": ...});
    # clients expect the OCI error shape everywhere.
    code = "UNKNOWN" if response.status_code >= 500 else "UNSUPPORTED"
    err = RegistryError(code, {"reason": response.body.get("Message", "")}, status=response.status_code)
    response.body = json.dumps(err.body())
    response.headers = {**response.headers, "Content-Type": "application/json", **API_VERSION}


def install(app: Any) -> None:
    """Register the middleware on `app`."""

    @app.middleware("http")
    def registry_http(event: Any, get_response: Any) -> Any:
        # With `*/*` as binary type, Chalice refuses a response unless the
        # request's Accept matches; content negotiation reads the original
        # multi-value headers, so Chalice's single copy can be widened safely.
        if event.headers.get("accept") is None:
            headers = dict(event.headers)
            headers["accept"] = "*/*"
            event.headers = CaseInsensitiveMapping(headers)
        response = get_response(event)
        if isinstance(response.body, dict) and "Code" in response.body:
            _oci_body_for_chalice_error(response)
        # Registry answers get `CSP: sandbox`; a response that set its own policy (the web
        # UI's strict one, which must allow its forms and scripts) keeps it.
        response.headers = {**SECURITY_HEADERS, **(response.headers or {})}
        # Every Content-Type is binary to API Gateway here, so Chalice needs bytes.
        if isinstance(response.body, str):
            response.body = response.body.encode("utf-8")
        return response
