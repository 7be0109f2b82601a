"""Admin API for tag policies, tag expiry and retention (docs/api.md, docs/lifecycle.md),
and the scheduled tag lifecycle run. Basic credentials, as the rest of /admin."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from chalice import Blueprint, Response

from ..auth.policy import Principal
from ..domain.tag_admin import TagAdmin
from ..http.errors import error_boundary
from ..http.headers import query
from ..http.inject import services
from ..http.json_schema import REPOSITORY, obj
from ..oci.errors import RegistryError
from .admin import _actor, _json
from .common import json_response

bp = Blueprint(__name__)
JSON = ["*/*"]
log = logging.getLogger("registry")

Handler = Callable[..., Response]  # an admin handler: (request, actor, body, **params)


def _admin() -> TagAdmin:
    return services().tag_admin()

# fnmatch patterns over tag names: the tag alphabet plus * ? [ ] !
PATTERN = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9_.*?\[\]!-]+\Z"}
RULE = {"type": "object", "additionalProperties": False, "required": ["rule"], "properties": {
    "rule": {"type": "string", "enum": ["keep-last", "expire-tags", "expire-untagged"]},
    "tags": PATTERN,
    "count": {"type": "integer", "minimum": 1, "maximum": 100000},
    "days": {"type": "number", "minimum": 0, "maximum": 36500}}}
POLICY = obj((), immutableTags={"type": "array", "items": PATTERN, "maxItems": 50},
             defaultExpiry={"type": ["string", "null"], "maxLength": 16},
             retention={"type": "array", "items": RULE, "maxItems": 20})
SET_POLICY = obj(("repository", "policy"), repository=REPOSITORY, policy={**POLICY, "type": ["object", "null"]})
TAG = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9_][A-Za-z0-9._-]*\Z"}
SET_EXPIRY = obj(("repository", "tag"), repository=REPOSITORY, tag=TAG,
                 expiresAfter={"type": "string", "maxLength": 16},
                 expiresAt={"type": "string", "maxLength": 40},
                 clear={"type": "boolean"})
RETENTION = obj((), repository=REPOSITORY, dryRun={"type": "boolean"})
GC = obj((), dryRun={"type": "boolean"}, sweepOrphans={"type": "boolean"}, grace={"type": "integer", "minimum": 0, "maximum": 315360000})


def _route(path: str, method: str, schema: dict) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        @error_boundary
        def run(request: Any) -> Response:
            actor = _actor(request)
            return fn(request, actor, _json(request, f"tags:{method}:{path}", schema, floats=True))  # days may be 0.5

        def view() -> Response:
            return run(bp.current_request)

        view.__name__ = fn.__name__
        bp.route(path, methods=[method], content_types=JSON)(view)
        return fn
    return deco


@_route("/admin/policies", "GET", obj())
def get_policy(request: Any, actor: Principal, body: dict) -> Response:
    repo = query(request, "repository")
    if not repo:
        raise RegistryError("UNSUPPORTED", {"field": "repository", "reason": "the repository query parameter "
                                            "is required"}, status=400)
    return json_response(_admin().get_policy(actor, repo))


@_route("/admin/policies", "PUT", SET_POLICY)
def set_policy(request: Any, actor: Principal, body: dict) -> Response:
    return json_response(_admin().set_policy(actor, body["repository"], body["policy"]))


@_route("/admin/tags/expiry", "PUT", SET_EXPIRY)
def set_expiry(request: Any, actor: Principal, body: dict) -> Response:
    if sum(k in body for k in ("expiresAfter", "expiresAt", "clear")) != 1:
        raise RegistryError("UNSUPPORTED", {"field": "body", "reason": "give exactly one of expiresAfter, "
                                            "expiresAt, clear"}, status=400)
    return json_response(_admin().set_expiry(
        actor, body["repository"], body["tag"], after=body.get("expiresAfter"), at=body.get("expiresAt"),
        clear=bool(body.get("clear"))))


@_route("/admin/retention", "POST", RETENTION)
def retention(request: Any, actor: Principal, body: dict) -> Response:
    return json_response(_admin().retention(actor, body.get("repository"),
                                                          bool(body.get("dryRun", False))))


@_route("/admin/gc", "POST", GC)
def collect_garbage(request: Any, actor: Principal, body: dict) -> Response:
    from ..domain.gc import admin_run

    svc = services()
    return json_response(admin_run(svc.gc(), actor, body.get("grace", svc.settings.gc_grace),
                                   bool(body.get("dryRun", False)), _admin().lifecycle,
                                   sweep=bool(body.get("sweepOrphans", False))))


def scheduled_run(event: Any = None) -> dict:
    """The scheduled tag lifecycle run (app.py): delete expired tags, apply every
    repository's retention rules, then collect garbage; logs and returns the counts."""
    report = _admin().lifecycle.run(dry_run=False)
    log.info("tag lifecycle run: %d expired tags, %d repositories visited, %d with removals",
             len(report["expiredTags"]), report["repositoriesVisited"], len(report["retention"]))
    svc = services()
    # The orphan sweep lists the whole blobs/ prefix: once a day, at REGISTRY_GC_SWEEP_HOUR (UTC).
    sweep = time.gmtime().tm_hour == svc.settings.gc_sweep_hour
    gc = svc.gc().run(svc.settings.gc_grace, budget=200.0, sweep=sweep)
    log.info("gc: %d links, %d blobs, %d bytes freed, %d orphans, complete=%s", gc["links"], gc["blobs"],
             gc["bytesFreed"], gc.get("orphans", 0), gc["complete"])
    return {"expiredTags": len(report["expiredTags"]), "repositories": report["repositoriesVisited"],
            "gc": {k: gc.get(k, 0) for k in ("links", "blobs", "bytesFreed", "orphans", "orphanBytes", "complete")}}
