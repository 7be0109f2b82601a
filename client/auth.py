"""Credentials as Docker keeps them, and the registry token dance.

`login` writes what `docker login` writes: `auths[host] = {"auth": base64(user:pass)}` in
`$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), or hands the secret to
`docker-credential-<helper>` when `credHelpers[host]` or `credsStore` names one.
Reading also honours `REGISTRY_AUTH_FILE` and the containers `auth.json` files, in the
order podman uses, so credentials from `podman login` work too.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import requests

Creds = Optional[tuple[str, str]]


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def _containers_auth_files() -> list[Path]:
    out = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    out.append(Path(config_home) / "containers" / "auth.json")
    return out


def _load(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise CredentialError(f"cannot read {path}: {err}") from None
    return doc if isinstance(doc, dict) else {}


class CredentialError(Exception):
    """A config file or credential helper failed."""


def _host_keys(host: str) -> list[str]:
    """Keys a config may use for `host`: bare, with scheme, with /v1/ or /v2/ (old docker)."""
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _helper(name: str, action: str, data: str) -> str:
    try:
        proc = subprocess.run([f"docker-credential-{name}", action], input=data, capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CredentialError(f"credential helper docker-credential-{name}: {err}") from None
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        if action == "get" and "credentials not found" in out.lower():
            return ""
        raise CredentialError(f"docker-credential-{name} {action}: {out or proc.returncode}")
    return proc.stdout


def _from_entry(entry: Any) -> Creds:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if user else None
    if entry.get("username"):
        return entry["username"], entry.get("password", "")
    return None


def _from_helper(name: str, host: str) -> Creds:
    raw = _helper(name, "get", host)
    if not raw.strip():
        return None
    doc = json.loads(raw)
    return (doc.get("Username", ""), doc.get("Secret", "")) if doc.get("Secret") else None


def find_credentials(host: str) -> Creds:
    """(user, password) stored for `host` (`host[:port]`), or None."""
    files = _containers_auth_files()
    ordered = files[:1] if os.environ.get("REGISTRY_AUTH_FILE") else []
    ordered += [docker_config_path()] + [f for f in files if f not in ordered]
    for path in ordered:
        doc = _load(path)
        helper = (doc.get("credHelpers") or {}).get(host)
        if helper:
            found = _from_helper(helper, host)
            if found:
                return found
        for key in _host_keys(host):
            found = _from_entry((doc.get("auths") or {}).get(key))
            if found:
                return found
        if doc.get("credsStore") and any(k in (doc.get("auths") or {}) for k in _host_keys(host)):
            found = _from_helper(doc["credsStore"], host)
            if found:
                return found
    return None


def _write_json(path: Path, doc: dict) -> None:
    """Atomic replace with mode 0600, as docker does (the file holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent="\t")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def store_credentials(host: str, username: str, password: str) -> str:
    """Store like `docker login`; returns where ("config.json path" or "helper NAME")."""
    path = docker_config_path()
    doc = _load(path)
    auths = doc.setdefault("auths", {})
    helper = (doc.get("credHelpers") or {}).get(host) or doc.get("credsStore")
    if helper:
        _helper(helper, "store", json.dumps({"ServerURL": host, "Username": username, "Secret": password}))
        auths[host] = {}
        where = f"docker-credential-{helper}"
    else:
        auths[host] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode("ascii")}
        where = str(path)
    _write_json(path, doc)
    return where


def erase_credentials(host: str) -> bool:
    path = docker_config_path()
    doc = _load(path)
    helper = (doc.get("credHelpers") or {}).get(host) or doc.get("credsStore")
    if helper:
        _helper(helper, "erase", host)
    found = (doc.get("auths") or {}).pop(host, None) is not None
    if found:
        _write_json(path, doc)
    return found


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


MAX_TOKEN_ANSWER = 1 << 20  # a token answer is a few KiB


def read_capped(r: requests.Response, limit: int) -> Optional[bytes]:
    """A streamed answer's body, or None when it is over `limit` bytes (never held whole);
    an answer read already (not streamed) is measured as it is."""
    try:
        if r._content_consumed:  # type: ignore[attr-defined]  # read already (not streamed)
            return r.content if len(r.content or b"") <= limit else None
        if int(r.headers.get("Content-Length") or 0) > limit:
            return None
        body = r.raw.read(limit + 1, decode_content=True)
    except ValueError:
        return None
    finally:
        r.close()
    return body if len(body) <= limit else None


class TokenAuth(requests.auth.AuthBase):
    """The Docker token dance for one repository scope: on a challenge, fetch a token for
    `scope` (Basic credentials when we have them) and retry once. Bodies that cannot be
    replayed (file objects) are never retried: callers call `authorize()` before streaming."""

    def __init__(self, creds: Creds, scope: str, timeout: float = 60.0) -> None:
        self.creds = creds
        self.scope = scope  # e.g. "repository:acme/app:pull,push repository:acme/base:pull"
        self.timeout = timeout
        self._token: Optional[tuple[str, float]] = None
        self._challenge: Optional[tuple[str, dict[str, str]]] = None
        self._lock = threading.Lock()

    def _header(self) -> Optional[str]:
        if self._challenge and self._challenge[0] == "basic":
            if not self.creds:
                return None
            raw = f"{self.creds[0]}:{self.creds[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        tok = self._token
        if tok and tok[1] > time.time():
            return f"Bearer {tok[0]}"
        return None

    def fetch(self) -> bool:
        """A token for our scope from the challenge's realm; False when refused or none."""
        if not self._challenge:
            return False
        kind, params = self._challenge
        if kind == "basic":
            return bool(self.creds)
        if not params.get("realm"):
            return False
        query: dict[str, Any] = {"service": params.get("service", "")}
        if self.scope:
            query["scope"] = self.scope.split(" ")
        with self._lock:
            r = requests.get(params["realm"], params=query, auth=self.creds, timeout=self.timeout, stream=True)
            if r.status_code != 200:
                r.close()
                return False
            body = read_capped(r, MAX_TOKEN_ANSWER)
            try:
                doc = json.loads(body) if body is not None else None
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                raise requests.RequestException(f"the token endpoint's answer is not a JSON object of at most "
                                                f"{MAX_TOKEN_ANSWER >> 20} MiB")
            token = doc.get("token") or doc.get("access_token")
            # renew a little early (a fifth of the life, at most 15 s); a token that expires
            # anyway mid-push is renewed on the registry's 401 (bodies here are replayable)
            given = max(int(doc.get("expires_in") or 60), 1)
            life = given - min(15.0, given / 5)
            self._token = (token, time.time() + life)
        return True

    def authorize(self, session: requests.Session, base: str) -> None:
        """Learn the challenge from GET /v2/ and fetch a token up front (before streaming)."""
        if self._header():
            return
        if not self._challenge:
            r = session.get(base + "/v2/", timeout=self.timeout, auth=None)
            if r.status_code == 401:
                self._challenge = parse_challenge(r.headers.get("WWW-Authenticate", ""))
        self.fetch()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        value = self._header()
        if value and "Authorization" not in r.headers:
            r.headers["Authorization"] = value
        r.register_hook("response", self._on_response)
        return r

    def _on_response(self, resp: requests.Response, **kwargs: Any) -> requests.Response:
        if resp.status_code != 401 or getattr(resp.request, "_retried", False):
            return resp
        body = resp.request.body
        if body is not None and not isinstance(body, (bytes, str)):
            return resp  # a stream: cannot replay it
        challenge = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if challenge[0] not in ("bearer", "basic"):
            return resp
        self._challenge = challenge
        if not self.fetch() or not self._header():
            return resp
        resp.content  # release the connection
        req = resp.request.copy()
        req.headers["Authorization"] = self._header()
        req._retried = True  # type: ignore[attr-defined]
        new = resp.connection.send(req, **kwargs)
        new.history.append(resp)
        new.request = req
        return new


def verify_login(registry: str, creds: tuple[str, str], timeout: float = 30.0) -> None:
    """Check credentials as `docker login` does: GET /v2/, then the token endpoint or Basic.
    Raises ClientError with the registry's answer when they are refused."""
    from .api import ClientError, _error_from, normalize_url

    base = normalize_url(registry)
    try:
        r = requests.get(base + "/v2/", timeout=timeout)
        if r.status_code == 200:
            return  # the registry asks for no credentials
        kind, params = parse_challenge(r.headers.get("WWW-Authenticate", ""))
        if r.status_code != 401 or kind not in ("bearer", "basic"):
            raise _error_from(r.status_code, r.headers, r.content)
        if kind == "basic":
            r = requests.get(base + "/v2/", auth=creds, timeout=timeout)
        else:
            r = requests.get(params["realm"], params={"service": params.get("service", "")}, auth=creds,
                             timeout=timeout)
    except requests.RequestException as err:
        raise ClientError(f"cannot reach {base}: {err}") from None
    if r.status_code != 200:
        raise _error_from(r.status_code, r.headers, r.content)
