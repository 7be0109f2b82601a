"""The local gateway refuses what the front doors refuse, and caps every body.

Body caps and path checks run against the registry itself; the Lambda-limits
mode (response size, timeout, header size, per-door body caps) runs against a
tiny Chalice app served the same way, since the registry never answers 7 MB
or sleeps on purpose.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import pytest
import requests

MIB = 1024 * 1024


def raw_http(port: int, head: bytes, body: bytes = b"", timeout: float = 20) -> tuple[int, bytes]:
    """Send exactly these bytes; return the status and the response body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                header, _, rest = data.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in header.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("method,path", [
    ("POST", "/token"), ("PUT", "/v2/test/limits/manifests/t"), ("POST", "/admin/users"),
    ("POST", "/helm/test/api/charts"), ("GET", "/v2/")])
def test_a_huge_declared_body_is_refused_before_it_is_read(registry, method, path):
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {400 * MIB}\r\n\r\n").encode()
    # only one byte of the body is sent: an answer at all means nothing waited for the rest
    status, body = raw_http(port_of(registry.url), head, b"{")
    assert status == 413
    err = json.loads(body)["errors"][0]
    # the chart upload keeps its own (8 MiB) bound, answered in its own format below it
    assert err["code"] == "SIZE_INVALID" and err["detail"]["limitBytes"] == (
        8 * MIB + 64 * 1024 if path.startswith("/helm/") else 6 * MIB)


def test_a_chunked_body_is_refused_while_reading(registry):
    def chunks() -> Iterator[bytes]:
        for _ in range(7):
            yield b"a" * MIB

    r = requests.post(f"{registry.url}/token", data=chunks(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "SIZE_INVALID"


def test_a_body_under_the_cap_still_works(client, repo):
    r = client.request("POST", "/token", data={"grant_type": "password", "service": "oci-registry",
                                                "username": "admin", "password": "wrong" * 1000})
    assert r.status_code in (400, 401) and r.json()["errors"]


@pytest.mark.parametrize("target", ["/token%0a", "/token%0A", "/v2%0a", "/v2/_catalog%0a"])
def test_a_trailing_encoded_newline_is_part_of_the_path(registry, target):
    """`$` matched before a trailing newline and routed `/token\\n` to `/token`."""
    status, body = raw_http(port_of(registry.url), f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"


@pytest.mark.parametrize("target", [b"/v2/a/manifests/%ff", b"/v2/a/manifests/t\x01", b"/v2/\xc3\xa9/tags/list"])
def test_targets_a_front_door_refuses(registry, target):
    status, body = raw_http(port_of(registry.url), b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"


# -- Lambda-limits mode, per front door, on a tiny app ------------------------

def tiny_app():
    from chalice import Chalice, Response

    app = Chalice(app_name="tiny")
    app.api.binary_types = ["*/*"]

    @app.route("/big")
    def big():
        return Response(body=b"x" * (5 * MIB), headers={"Content-Type": "application/octet-stream"})

    @app.route("/slow")
    def slow():
        time.sleep(1.5)
        return {"slept": True}

    @app.route("/echo", methods=["POST"], content_types=["*/*"])
    def echo():
        return {"bytes": len(app.current_request.raw_body)}

    @app.route("/boom")
    def boom():
        logging.getLogger("registry.tiny").error("about to fail")
        raise RuntimeError("boom")

    return app


@contextmanager
def serve(front: str, limits: bool = True, timeout: float = 0) -> Iterator[str]:
    from local.server import LambdaGateway
    from local.keepalive import KeepAliveServer

    gateway = LambdaGateway(tiny_app(), lambda_limits=limits, front=front)
    if timeout:
        gateway.front = dataclasses.replace(gateway.front, timeout=timeout)
    server = KeepAliveServer("127.0.0.1", 0, gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("front", ["function-url", "http-api", "rest"])
def test_response_over_lambdas_6_mb_is_a_502(front):
    with serve(front) as url:
        r = requests.get(f"{url}/big", timeout=60)  # 5 MiB of body is ~7 MB once base64-encoded
        assert r.status_code == 502 and r.json()["errors"][0]["detail"]["responseBytes"] > 6 * MIB
    with serve(front, limits=False) as url:
        assert len(requests.get(f"{url}/big", timeout=60).content) == 5 * MIB


@pytest.mark.parametrize("front", ["function-url", "http-api", "rest"])
def test_timeout_is_a_504(front):
    with serve(front, timeout=0.5) as url:
        r = requests.get(f"{url}/slow", timeout=30)
        assert r.status_code == 504 and front in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("front,refused", [("function-url", False), ("http-api", True), ("rest", True)])
def test_header_size_limit(front, refused):
    with serve(front) as url:
        r = requests.get(f"{url}/slow", headers={"X-Big": "h" * 11000}, timeout=30)
        assert (r.status_code == 431) is refused
        if refused:
            assert r.json()["errors"][0]["detail"]["bytes"] > 10240


@pytest.mark.parametrize("front", ["function-url", "http-api", "rest"])
def test_request_caps_per_front_door(front):
    from chalicelib.config import FRONT_DOORS

    with serve(front) as url:
        assert requests.post(f"{url}/echo", data=b"z" * MIB, timeout=30).json() == {"bytes": MIB}
        # over the door's own cap: refused from Content-Length, before reading
        status, body = raw_http(port_of(url), (f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                               f"{FRONT_DOORS[front].max_request_body + 1}\r\n\r\n").encode())
        assert status == 413
        # 5 MiB fits the APIs' 10 MB, not Lambda's 6 MB event once base64-encoded
        r = requests.post(f"{url}/echo", data=b"z" * 5 * MIB, timeout=60)
        assert r.status_code == 413 and r.json()["errors"][0]["code"] == "SIZE_INVALID"


def test_errors_are_json_logs_with_the_request_id(capsys, monkeypatch):
    """Through the Lambda handler with a Function URL event: a crash leaves JSON
    records carrying the request ids and an EMF line counting a 5xx."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    from chalicelib.http.events import handle, v2_event

    class Ctx:
        aws_request_id = "lambda-req-42"

        def get_remaining_time_in_millis(self) -> int:
            return 1000

    event = v2_event("GET", "/boom", "", [("Host", "x"), ("Accept", "*/*")], b"", "198.51.100.9",
                     "abc.lambda-url.eu-west-1.on.aws", request_id="gw-req-42")
    response = handle(tiny_app(), event, Ctx())
    assert response["statusCode"] == 500
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    records = [l for l in lines if l.get("level") == "ERROR"]
    assert {r["message"] for r in records} >= {"about to fail", "request failed"}
    assert all(r["request_id"] == "gw-req-42" and r["lambda_request_id"] == "lambda-req-42" for r in records)
    emf = [l for l in lines if "_aws" in l]
    assert emf and emf[-1]["Errors5xx"] == [1.0] and emf[-1]["operation"] == "boom GET"
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OciRegistry"


@pytest.mark.parametrize("body", [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nab"])
def test_a_malformed_chunked_body_is_a_400(registry, body):
    head = b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(registry.url)), timeout=20) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)  # the second body ends early
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.split(b" ", 2)[1] == b"400", data[:300]
    assert json.loads(data.partition(b"\r\n\r\n")[2])["errors"][0]["code"] == "SIZE_INVALID"
