"""How handlers get their use cases: from the container the entry point installed.

The entry point (app.py, the local server, a test's server variant) builds one container
(chalicelib/container/) and either installs it for the process (`provide`) or serves a
request under it (`serving`, a context variable: two gateways over the same Chalice app
in one process each see their own). Endpoints declare what they need with `@inject(...)`;
http helpers call `services()`. Nothing here imports the container: `Services` is the
protocol it satisfies, typed with the domain's classes.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Protocol, TypeVar

if TYPE_CHECKING:
    from ..auth.tokens import Signer, Verifier
    from ..config import Settings
    from ..domain.accounts import Accounts
    from ..domain.events import EventBus
    from ..domain.gc import GarbageCollector
    from ..domain.helm import HelmCharts
    from ..domain.metering import Usage, UsageMeter
    from ..domain.registry import Registry
    from ..domain.registry_base import StagedBody
    from ..domain.tag_admin import TagAdmin
    from ..domain.webhooks import Webhooks


class Services(Protocol):
    """What handlers may ask for (chalicelib/container/: Container provides it)."""

    settings: "Settings"

    def registry(self) -> "Registry": ...
    def helm(self) -> "HelmCharts": ...
    def accounts(self) -> "Accounts": ...
    def tag_admin(self) -> "TagAdmin": ...
    def gc(self) -> "GarbageCollector": ...
    def quotas(self) -> Any: ...
    def token_signer(self) -> "Signer": ...
    def token_verifier(self) -> "Verifier": ...
    def usage(self) -> "Usage": ...
    def meter(self) -> "UsageMeter": ...
    def webhooks(self) -> "Webhooks": ...
    def events(self) -> "EventBus": ...
    def ui_reads(self) -> Any: ...
    def staged_body(self, token: Optional[str]) -> Optional["StagedBody"]: ...
    def after_request(self, event: dict, response: dict, operation: str, redirected: int) -> None: ...


_process: list[Services] = []   # provide(): the process's container (Lambda, local server)
_request: ContextVar[Optional[Services]] = ContextVar("services", default=None)
F = TypeVar("F", bound=Callable[..., Any])


def provide(container: Services) -> None:
    """Install `container` for the whole process (the entry point, once)."""
    _process[:] = [container]


@contextmanager
def serving(container: Services) -> Iterator[Services]:
    """Handle what runs inside the block with `container` (one request, one test)."""
    token = _request.set(container)
    try:
        yield container
    finally:
        _request.reset(token)


def services() -> Services:
    """The container of the request being handled, else the process's."""
    current = _request.get()
    if current is not None:
        return current
    if not _process:
        raise RuntimeError("no container installed: the entry point calls inject.provide(container.build())")
    return _process[0]


def inject(*names: str) -> Callable[[F], F]:
    """Pass the named dependencies as keyword arguments, e.g. `@inject("registry")` gives
    the endpoint `registry=services().registry()` (`settings` is passed as is)."""
    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            svc = services()
            for name in names:
                dep = getattr(svc, name)
                kwargs[name] = dep if name == "settings" else dep()
            return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return deco


def after_request(event: dict, response: dict, operation: str, redirected: int) -> None:
    """observe's per-request hook, run by the request's container (metering, event wait)."""
    services().after_request(event, response, operation, redirected)
