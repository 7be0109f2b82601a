"""Events through real HTTP: signed webhooks on push and delete, retries of a failing
receiver that never fail the push, and the admin API (docs/events.md)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest
import requests

from support import Client

OCI = "application/vnd.oci.image.manifest.v1+json"


class Receiver:
    """A tiny webhook receiver: records (headers, body) and answers what `answer` says."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200, delay: float = 0.0,
                 hold: bool = False) -> None:
        self.got: list[tuple[dict, bytes]] = []
        self.answer, self.delay = answer, delay
        self.gate = threading.Event()   # with `hold`, each request waits here until release()
        if not hold:
            self.gate.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                n = len(outer.got)
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(outer.delay)
                outer.gate.wait(60)
                self.send_response(outer.answer(n))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait(self, n: int, timeout: float = 15.0) -> list[tuple[dict, bytes]]:
        end = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.got

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ns() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fast_retries(registry) -> Iterator[None]:
    """Short backoff for the session registry's bus (REGISTRY_WEBHOOK_BACKOFF when deployed)."""
    from chalicelib.http.inject import services

    bus = services().events()
    saved = bus.backoff, bus.timeout
    bus.backoff, bus.timeout = 0.05, 1.0
    yield
    bus.wait_idle(20, retries=True)
    bus.backoff, bus.timeout = saved


def add_hook(registry, ns: str, url: str, events=None, auth=None) -> dict:
    body = {"url": url} if events is None else {"url": url, "events": events}
    r = requests.post(f"{registry.url}/admin/namespaces/{ns}/webhooks", json=body, auth=auth or registry.admin)
    assert r.status_code == 201, r.text
    return r.json()


def events_of(got) -> list[dict]:
    return [json.loads(body) for _, body in got]


def test_signed_events_on_push_and_delete(registry, ns, fast_retries):
    from chalicelib.domain.events import verify

    rx = Receiver()
    try:
        hook = add_hook(registry, ns, rx.url)
        assert hook["secret"].startswith("whsec_") and hook["events"] == []
        c = Client(registry.url, auth=registry.admin)
        repo = f"{ns}/app"
        c.login(repo)
        digest, body = c.push_image(repo, "v1")
        assert c.request("DELETE", f"/v2/{repo}/manifests/v1").status_code == 202
        assert c.push_manifest(repo, "v2", body).status_code == 201
        assert c.request("DELETE", f"/v2/{repo}/manifests/{digest}").status_code == 202
        got = rx.wait(4)
        assert len(got) == 4
        for headers, raw in got:
            assert verify(hook["secret"], headers["x-registry-signature"], raw)
            assert not verify(hook["secret"] + "x", headers["x-registry-signature"], raw)
            assert not verify(hook["secret"], headers["x-registry-signature"], raw + b" ")
            assert headers["content-type"] == "application/json"
        evs = events_of(got)
        assert [(e["type"], e["subject"]) for e in evs] == [
            ("manifest.pushed", f"{repo}:v1"), ("tag.deleted", f"{repo}:v1"),
            ("manifest.pushed", f"{repo}:v2"), ("manifest.deleted", f"{repo}@{digest}")]
        assert evs[0]["data"] == {"repository": repo, "tag": "v1", "digest": digest, "mediaType": OCI,
                                  "size": len(body)}
        assert all(e["namespace"] == ns and e["webhook"] == hook["id"] and e["attempt"] == 1 for e in evs)
        assert [h["x-registry-event"] for h, _ in got] == [e["type"] for e in evs]
        assert [h["x-registry-delivery"] for h, _ in got] == [e["id"] for e in evs]
    finally:
        rx.close()


def test_a_failing_receiver_is_retried_and_never_fails_the_push(registry, ns, fast_retries):
    from chalicelib.http.inject import services

    rx = Receiver(answer=lambda n: 500 if n < 2 else 204)
    try:
        add_hook(registry, ns, rx.url, events=["manifest.pushed"])
        c = Client(registry.url, auth=registry.admin)
        repo = f"{ns}/flaky"
        c.login(repo)
        digest, _ = c.push_image(repo, "v1")
        got = rx.wait(3)
        assert [json.loads(b)["attempt"] for _, b in got] == [1, 2, 3]
        assert len({json.loads(b)["id"] for _, b in got}) == 1          # the same event, redelivered
        assert services().events().wait_idle(10, retries=True)
        time.sleep(0.3)
        assert len(rx.got) == 3                                          # delivered: no more attempts
        assert c.request("DELETE", f"/v2/{repo}/manifests/v1").status_code == 202  # filtered out
        assert services().events().wait_idle(10, retries=True) and len(rx.got) == 3
    finally:
        rx.close()


def test_retries_are_bounded_and_a_hanging_receiver_does_not_slow_the_push(registry, ns, fast_retries):
    """Checked by order of events, not by the clock: (1) a receiver that never answers holds
    each attempt only up to the bus's timeout, so every retry ends while it still hangs;
    (2) a push answers while its event's delivery is still held by the receiver."""
    from chalicelib.http.inject import services

    events = services().events()
    rx = Receiver(answer=lambda n: 503, hold=True)
    old = events.timeout
    try:
        c = Client(registry.url, auth=registry.admin)
        repo = f"{ns}/slow"
        c.login(repo)
        _, body = c.push_image(repo, "v1")
        assert events.wait_idle(30, retries=True)   # v1 pushed before the hook: not delivered
        add_hook(registry, ns, rx.url)
        events.timeout = 0.3
        assert c.push_manifest(repo, "v2", body).status_code == 201
        assert events.wait_idle(30, retries=True)   # all attempts over, the receiver still hanging
        assert not rx.gate.is_set() and len(rx.got) == events.attempts   # retries are bounded
        events.timeout = 60.0   # now an attempt lasts as long as the receiver holds it
        assert c.push_manifest(repo, "v3", body).status_code == 201
        assert len(rx.wait(events.attempts + 1)) == events.attempts + 1   # v3's first attempt arrived
        assert not events.wait_idle(0)   # and is still held: the push did not wait for it
        rx.release()
        assert events.wait_idle(30, retries=True)
        assert len(rx.got) == 2 * events.attempts   # two events, each tried `attempts` times
    finally:
        events.timeout = old
        rx.close()


def test_webhook_admin_api(registry, ns):
    user, pw = ns, "hooks-password-1"
    assert requests.post(f"{registry.url}/admin/users", json={"username": user, "password": pw},
                         auth=registry.admin).status_code == 201
    base = f"{registry.url}/admin/namespaces/{ns}/webhooks"
    hook = add_hook(registry, ns, "https://hooks.example.com/x", ["manifest.pushed"], auth=(user, pw))
    listed = requests.get(base, auth=(user, pw)).json()["webhooks"]
    assert listed == [{"id": hook["id"], "url": "https://hooks.example.com/x", "events": ["manifest.pushed"],
                       "created": hook["created"]}]                       # the secret is shown once
    other = requests.get(f"{registry.url}/admin/namespaces/test/webhooks", auth=(user, pw))
    assert other.status_code == 403
    for bad in ({"url": "ftp://x"}, {"url": "https://u:p@x/"}, {"url": "x" * 3000},
                {"url": "https://x/", "events": ["nope"]}, {"url": "https://x/", "extra": 1}, {}):
        r = requests.post(base, json=bad, auth=(user, pw))
        assert r.status_code == 400, (bad, r.text)
    for i in range(9):
        add_hook(registry, ns, f"https://hooks.example.com/{i}", auth=(user, pw))
    full = requests.post(base, json={"url": "https://hooks.example.com/11"}, auth=(user, pw))
    assert full.status_code == 403 and "at most 10" in full.text
    assert requests.delete(f"{base}/{hook['id']}", auth=(user, pw)).status_code == 204
    assert requests.delete(f"{base}/{hook['id']}", auth=(user, pw)).status_code == 404
    assert requests.delete(f"{base}/not-an-id", auth=(user, pw)).status_code == 404
    assert len(requests.get(base, auth=(user, pw)).json()["webhooks"]) == 9
    add_hook(registry, ns, "https://hooks.example.com/again", auth=(user, pw))  # room again after a delete
