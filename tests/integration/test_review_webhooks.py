"""Webhook SSRF (docs/security.md): every spelling of a loopback, private, link-local or
metadata address is refused when registered, names are resolved and checked at each
delivery, the connection goes to the checked address, and one attempt has one deadline."""
from __future__ import annotations

import queue
import socket
import threading
import time
import uuid

import pytest
import requests

from chalicelib.storage.events_out import BlockedAddress, PinnedTransport
from chalicelib.domain.webhooks import address_allowed

BAD_URLS = ["https://2130706433/", "https://0x7f000001/", "https://0177.0.0.1/", "https://127.1/",
            "https://0x7f.1/", "https://0/", "https://0.0.0.0/", "https://[::]/", "https://[::1]/",
            "https://[::ffff:127.0.0.1]/", "https://[::ffff:a9fe:a9fe]/", "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/", "https://169.254.169.254/latest/meta-data/",
            "https://0251.0376.0251.0376/", "https://2852039166/", "https://10.1.2.3/", "https://192.168.0.1./",
            "https://100.64.0.1/", "https://[fd00::1]/", "https://[fe80::1]/", "https://localhost/",
            "https://a.localhost/", "https://224.0.0.1/", "http://example.com/"]


@pytest.fixture
def private_refused(registry):
    """A variant of the registry as deployed on Lambda: webhooks may not reach private
    addresses. Yields its URL."""
    with registry.variant(webhook_allow_private=False) as url:
        yield url


@pytest.fixture
def ns(registry) -> str:
    name = f"s{uuid.uuid4().hex[:10]}"
    r = requests.post(f"{registry.url}/admin/namespaces", json={"name": name}, auth=registry.admin)
    assert r.status_code == 201, r.text
    return name


def test_every_spelling_of_a_private_address_is_refused(registry, ns, private_refused):
    base = f"{private_refused}/admin/namespaces/{ns}/webhooks"
    for url in BAD_URLS:
        r = requests.post(base, json={"url": url}, auth=registry.admin)
        assert r.status_code == 400, (url, r.status_code, r.text)
        assert r.json()["errors"][0]["code"] == "UNSUPPORTED"
    ok = requests.post(base, json={"url": "https://hooks.example.com/x"}, auth=registry.admin)
    assert ok.status_code == 201, ok.text
    assert [h["url"] for h in requests.get(base, auth=registry.admin).json()["webhooks"]] \
        == ["https://hooks.example.com/x"]


class Listener:
    """A TCP listener counting connections; answers like `mode` says."""

    def __init__(self, mode: str = "ok") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.mode = mode
        self.drip: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            if self.mode == "ok":
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                return
            try:  # drip: one byte of a never-ending header every 0.2 s
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(100):
                    conn.sendall(b"X")
                    time.sleep(0.2)
                self.drip.put("whole")
            except OSError:
                self.drip.put("cut")  # the client hung up while the answer still dripped

    def close(self) -> None:
        self.sock.close()


def _hostname_resolving_to_loopback() -> str:
    for name in (socket.gethostname(), "localhost"):
        try:
            addrs = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addrs and all(a.startswith("127.") or a == "::1" for a in addrs):
            return name
    pytest.skip("no name resolving to loopback only")


def test_delivery_resolves_and_refuses_private_names():
    """A name that passed registration but resolves to loopback now: no connection is made."""
    listener = Listener()
    try:
        name = _hostname_resolving_to_loopback()
        guarded = PinnedTransport(address_allowed)
        with pytest.raises(BlockedAddress):
            guarded.post(f"http://{name}:{listener.port}/hook", b"{}", {}, 2.0)
        time.sleep(0.2)
        assert listener.connections == 0
        # without the rule (local installs), the same delivery goes through, to the pinned address
        assert PinnedTransport(None).post(f"http://{name}:{listener.port}/hook", b"{}", {}, 2.0) == 204
        assert listener.connections == 1
    finally:
        listener.close()


def test_one_deadline_per_attempt():
    """A receiver dripping its answer a byte at a time cannot hold a delivery past the timeout."""
    listener = Listener(mode="drip")
    try:
        with pytest.raises(OSError):  # TimeoutError is an OSError
            PinnedTransport(None).post(f"http://127.0.0.1:{listener.port}/hook", b"{}", {}, 1.0)
        # by order, not by the clock: the delivery gave up while the 20 s drip still went on
        assert listener.drip.get(timeout=60) == "cut"
    finally:
        listener.close()
