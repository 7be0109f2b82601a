"""A small client for the registry's token endpoint and admin API (standard library only).

    from client import AdminClient
    admin = AdminClient("http://127.0.0.1:5000", "admin", "secret")
    robot = admin.create_robot("acme", "ci")        # {"username": "acme+ci", "secret": "..."}
    admin.grant(robot["username"], "write", namespace="acme")

Every call raises `ClientError` when the registry refuses it (with the HTTP
status, the OCI error code and `Retry-After` when given) or cannot be reached.
"""
from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Optional

ROLES = ("read", "write", "admin")
_LOCAL_HOSTS = ("localhost", "127.", "[::1]", "::1")


class ClientError(Exception):
    """The registry refused a request (status/code set) or could not be reached (status None)."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None,
                 detail: Any = None, retry_after: Optional[str] = None, headers: Any = None) -> None:
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [str(self.status)] if self.status else []
        if self.code:
            parts.append(self.code)
        text = " ".join(parts + [self.args[0]]) if parts else self.args[0]
        if self.retry_after:
            text += f" (retry after {self.retry_after} s)"
        return text


def normalize_url(registry: str) -> str:
    """`host:port` becomes `http://` for loopback hosts and `https://` otherwise."""
    registry = registry.strip().rstrip("/")
    if not registry:
        raise ValueError("no registry URL given")
    if "://" not in registry:
        scheme = "http" if registry.startswith(_LOCAL_HOSTS) else "https"
        registry = f"{scheme}://{registry}"
    return registry


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """(scheme, parameters) of a WWW-Authenticate value such as `Bearer realm="...",service="..."`."""
    scheme, _, rest = value.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _error_from(status: int, headers: Any, body: bytes) -> ClientError:
    code, message, detail = None, f"HTTP {status}", None
    try:
        doc = json.loads(body or b"{}")
        err = (doc.get("errors") or [{}])[0]
        code, message, detail = err.get("code"), err.get("message") or message, err.get("detail")
    except (ValueError, AttributeError, IndexError):
        if body:
            message = body[:200].decode("utf-8", "replace")
    reason = detail.get("reason") if isinstance(detail, dict) else None
    if reason and reason != message:
        message = f"{message}: {reason}"
    return ClientError(message, status=status, code=code, detail=detail, headers=headers,
                       retry_after=headers.get("Retry-After") if headers is not None else None)


class AdminClient:
    """Token requests and the JSON admin API, authenticated with Basic credentials."""

    def __init__(self, registry: str, username: Optional[str] = None, password: Optional[str] = None,
                 timeout: float = 30.0) -> None:
        self.base = normalize_url(registry)
        self.username = username
        self.password = password
        self.timeout = timeout

    # -- transport ----------------------------------------------------------
    def _basic(self) -> dict[str, str]:
        if not self.username:
            return {}
        raw = f"{self.username}:{self.password or ''}".encode("utf-8")
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    def request(self, method: str, path: str, body: Optional[dict] = None,
                query: Optional[list[tuple[str, str]]] = None, auth: bool = True,
                url: Optional[str] = None) -> tuple[int, Any, bytes]:
        """Send one request; (status, headers, body) of a 2xx answer, else ClientError."""
        target = url or self.base + path
        if query:
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json", "User-Agent": "registry-admin-client"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers.update(self._basic())
        req = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            raise _error_from(err.code, err.headers, err.read()) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ClientError(f"cannot reach {self.base}: {reason}") from None

    def _json(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        _, _, raw = self.request(method, path, body)
        return json.loads(raw) if raw else {}

    @staticmethod
    def _seg(value: str) -> str:
        """One path segment (robot names keep their `+`)."""
        return urllib.parse.quote(value, safe="+")

    # -- tokens -------------------------------------------------------------
    def challenge(self) -> dict[str, str]:
        """The Bearer challenge of `GET /v2/` (realm and service of the token endpoint)."""
        try:
            self.request("GET", "/v2/", auth=False)
        except ClientError as err:
            if err.status != 401:
                raise
            scheme, params = parse_challenge((err.headers or {}).get("WWW-Authenticate", ""))
            if scheme == "bearer" and params.get("realm"):
                return params
            raise ClientError("the registry sent no Bearer challenge on /v2/") from None
        raise ClientError("the registry asks for no credentials (REGISTRY_AUTH=none?)")

    def token(self, scopes: Iterable[str] = (), offline: bool = False) -> dict:
        """A token document (`token`, `expires_in`, ...) for `scopes`, with Basic credentials if set."""
        c = self.challenge()
        query = [("service", c.get("service", ""))] + [("scope", s) for s in scopes]
        if offline:
            query.append(("offline_token", "true"))
        _, _, raw = self.request("GET", "", query=query, url=c["realm"], auth=bool(self.username))
        return json.loads(raw)

    def login(self) -> dict:
        """Check the credentials by fetching a token (no scope)."""
        if not self.username:
            raise ClientError("login needs a user name")
        return self.token()

    # -- administration -----------------------------------------------------
    def create_user(self, username: str, password: str, admin: bool = False) -> dict:
        return self._json("POST", "/admin/users", {"username": username, "password": password,
                                                   "admin": bool(admin)})

    def set_password(self, username: str, password: str) -> None:
        self.request("PUT", f"/admin/users/{self._seg(username)}/password", {"password": password})

    def create_namespace(self, name: str, owner: Optional[str] = None) -> dict:
        body: dict[str, Any] = {"name": name}
        if owner:
            body["owner"] = owner
        return self._json("POST", "/admin/namespaces", body)

    def create_robot(self, namespace: str, name: str) -> dict:
        """{"username": "<ns>+<name>", "secret": ...}; the secret is shown only once."""
        return self._json("POST", f"/admin/namespaces/{self._seg(namespace)}/robots", {"name": name})

    def rotate_robot(self, robot: str) -> dict:
        """A new secret for `<ns>+<name>` (the old one stops working)."""
        return self._json("POST", f"/admin/robots/{self._seg(robot)}/rotate", {})

    def revoke_robot(self, robot: str) -> None:
        self.request("DELETE", f"/admin/robots/{self._seg(robot)}")

    @staticmethod
    def _target(namespace: Optional[str], repository: Optional[str]) -> dict:
        if (namespace is None) == (repository is None):
            raise ValueError("give exactly one of namespace or repository")
        return {"namespace": namespace} if namespace is not None else {"repository": repository}

    def grant(self, account: str, role: str, namespace: Optional[str] = None,
              repository: Optional[str] = None) -> None:
        self.request("PUT", "/admin/grants", {"account": account, "role": role,
                                              **self._target(namespace, repository)})

    def revoke(self, account: str, namespace: Optional[str] = None,
               repository: Optional[str] = None) -> None:
        self.request("DELETE", "/admin/grants", {"account": account,
                                                 **self._target(namespace, repository)})

    def set_public(self, repository: str, public: bool = True) -> None:
        self.request("PUT", "/admin/visibility", {"repository": repository, "public": bool(public)})

    # -- usage and webhooks (docs/metering.md, docs/events.md) -----------------
    def usage(self, namespace: Optional[str] = None, first: Optional[str] = None, last: Optional[str] = None,
              day: Optional[str] = None, fmt: str = "json") -> bytes:
        """The usage report as the registry renders it (JSON or CSV bytes)."""
        query = [("day", day)] if day else [("namespace", namespace or "")]
        query += [(k, v) for k, v in (("from", first), ("to", last)) if v and not day]
        _, _, raw = self.request("GET", "/admin/usage", query=query + [("format", fmt)])
        return raw

    def add_webhook(self, namespace: str, url: str, events: Optional[list[str]] = None) -> dict:
        body: dict = {"url": url}
        if events:
            body["events"] = events
        return self._json("POST", f"/admin/namespaces/{self._seg(namespace)}/webhooks", body)

    def list_webhooks(self, namespace: str) -> list[dict]:
        return self._json("GET", f"/admin/namespaces/{self._seg(namespace)}/webhooks")["webhooks"]

    def remove_webhook(self, namespace: str, webhook_id: str) -> None:
        self.request("DELETE", f"/admin/namespaces/{self._seg(namespace)}/webhooks/{self._seg(webhook_id)}")
