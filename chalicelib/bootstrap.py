"""Transitional: the old service locator, now delegating to the installed container
(chalicelib/container.py, chalicelib/http/inject.py). Removed once nothing calls it."""
from __future__ import annotations

from typing import Any

from .config import Settings
from .container import Container, build
from .http.inject import provide, services


def _c() -> Container:
    try:
        return services()  # type: ignore[return-value]
    except RuntimeError:
        reset()
        return services()  # type: ignore[return-value]


def settings() -> Settings:
    return _c().settings


def s3_client() -> Any:
    return _c().s3_client()


def dynamodb_client() -> Any:
    return _c().dynamodb_client()


def metadata() -> Any:
    return _c().metadata()


def registry() -> Any:
    return _c().registry()


def helm() -> Any:
    return _c().helm()


def tag_admin() -> Any:
    return _c().tag_admin()


def accounts() -> Any:
    return _c().accounts()


def token_signer() -> Any:
    return _c().token_signer()


def token_verifier() -> Any:
    return _c().token_verifier()


def usage_store() -> Any:
    return _c().usage_store()


def meter() -> Any:
    return _c().meter()


def usage() -> Any:
    return _c().usage()


def events() -> Any:
    return _c().events()


def webhooks() -> Any:
    return _c().webhooks()


def after_request(event: dict, response: dict, operation: str, redirected: int) -> None:
    _c().after_request(event, response, operation, redirected)


def reset() -> None:
    """Install a fresh container from the environment (tests change it between runs)."""
    provide(build())
