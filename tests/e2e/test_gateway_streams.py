"""End-to-end: how the push gateway streams upload bodies to S3 while it reads them,
against a registry under Lambda's limits: bodies of unknown length, a body cut short and
resumed, clients that leave and never come back, a wrong digest hint."""
from __future__ import annotations

import random
import time

from e2e.direct_registry import ADMIN
from e2e.gateway_support import (MiB, assert_readable, assert_streamed_then_readable, gateway,  # noqa: F401
                                 gateway_log, limited)
from e2e.helpers import server_log_on_failure


def test_a_body_of_unknown_length_is_streamed_with_an_open_size(limited, gateway, uniq):
    """Chunked transfer encoding (docker, skopeo compressing on the fly): no length is
    announced, so the gateway streams an open upload once 64 MiB are spooled."""
    import hashlib

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    data = random.Random(31).randbytes(90 * MiB + 11)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with server_log_on_failure(limited):
        r = c.request("POST", f"/v2/{repo}/blobs/uploads/")
        location = r.headers["Location"]
        # two PATCHes without Content-Length, then the close
        for piece in (data[:40 * MiB], data[40 * MiB:]):
            r = c.request("PATCH", location, data=(piece[i:i + MiB] for i in range(0, len(piece), MiB)))
            assert r.status_code == 202, r.text
        r = c.request("PUT", location, params={"digest": digest})
        assert r.status_code == 201, r.text
        assert_streamed_then_readable(limited, gateway, repo, digest, data)


def test_a_streamed_upload_cut_mid_body_resumes_from_its_range(limited, gateway, uniq):
    """A PATCH that announced 80 MiB dies after 50 MiB: GET gives the Range received, a
    PATCH from there sends the rest, and the same streamed parts complete the blob."""
    import hashlib
    import socket

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    data = random.Random(41).randbytes(80 * MiB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    cut = 50 * MiB
    with server_log_on_failure(limited):
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=60) as sock:
            sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {gateway.host}\r\n"
                         f"Authorization: Bearer {c.http.auth.token}\r\nContent-Length: {len(data)}\r\n"
                         f"Content-Range: 0-{len(data) - 1}\r\n\r\n".encode())
            sock.sendall(data[:cut])
        deadline = time.monotonic() + 60
        while True:  # the gateway notices the cut once it has read what was sent
            r = c.request("GET", location)
            if r.headers.get("Range") == f"0-{cut - 1}" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 204 and r.headers["Range"] == f"0-{cut - 1}", r.headers
        r = c.request("PATCH", location, data=data[cut:], headers={"Content-Range": f"{cut}-{len(data) - 1}"})
        assert r.status_code == 202 and r.headers["Range"] == f"0-{len(data) - 1}", r.text
        r = c.request("PUT", location, params={"digest": digest})
        assert r.status_code == 201, r.text
        assert_streamed_then_readable(limited, gateway, repo, digest, data)


def test_abandoned_streams_do_not_stall_the_others(limited, gateway, uniq):
    """Nine clients leave in the middle of a part and never come back; each had a part of
    16 MiB in memory, more than the gateway's 128 MiB for all streams together. Their parts
    leave memory when their bodies are cut, so the next client's stream still goes."""
    import socket

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    announced, sent = 80 * MiB, 20 * MiB   # part 1 sent, part 2 four MiB in
    chunk = random.Random(5).randbytes(sent)
    with server_log_on_failure(limited):
        for _ in range(9):
            location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=60) as sock:
                sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {gateway.host}\r\n"
                             f"Authorization: Bearer {c.http.auth.token}\r\nContent-Length: {announced}\r\n"
                             "\r\n".encode())
                sock.sendall(chunk)
            deadline = time.monotonic() + 60
            while c.request("GET", location).headers.get("Range") != f"0-{sent - 1}":
                assert time.monotonic() < deadline, "the gateway did not read the cut body"
                time.sleep(0.1)
        data = random.Random(6).randbytes(70 * MiB)
        digest = _push_whole(c, repo, data)
        assert_streamed_then_readable(limited, gateway, repo, digest, data)


def test_a_wrong_digest_hint_sends_the_spool_file_again(limited, gateway, uniq):
    """A client found blob A missing, then uploaded blob B: the gateway streamed B's parts
    to A's key (the hint), so at the close it sends the spool file afresh; the spool was
    written past the page cache (spool_file.py) and holds every byte."""
    import hashlib

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    other = "sha256:" + hashlib.sha256(f"not pushed {uniq}".encode()).hexdigest()
    data = random.Random(77).randbytes(70 * MiB + 4097)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with server_log_on_failure(limited):
        assert c.request("HEAD", f"/v2/{repo}/blobs/{other}").status_code == 404   # the hint
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        r = c.request("PATCH", location, data=data)
        assert r.status_code == 202, r.text
        r = c.request("PUT", location, params={"digest": digest})
        assert r.status_code == 201, r.text
    log = gateway_log(gateway)
    assert [e["hint"] for e in log if e.get("event") == "hint-missed" and e.get("digest") == digest] == [other]
    assert [e.get("how") for e in log if e.get("event") == "upload" and e.get("digest") == digest] == ["spooled"]
    assert_readable(limited, repo, digest, data)
    reader = Client(limited.url, auth=ADMIN)
    reader.login(repo, "pull")
    assert reader.request("HEAD", f"/v2/{repo}/blobs/{other}").status_code == 404


def _push_whole(c, repo: str, data: bytes) -> str:
    """One monolithic upload (POST, then PUT with the body and its digest): 201; the digest."""
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    r = c.request("PUT", location, params={"digest": digest}, data=data, timeout=120)
    assert r.status_code == 201, r.text
    return digest


def _stalled_patch(gateway, c, location: str, announced: int, sent: bytes):
    """A PATCH that announced `announced` bytes, sent `sent`, and then says nothing more
    with its socket left open (a client that hangs); the caller closes it."""
    import socket

    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=60)
    sock.sendall(f"PATCH {location} HTTP/1.1\r\nHost: {gateway.host}\r\n"
                 f"Authorization: Bearer {c.http.auth.token}\r\nContent-Length: {announced}\r\n\r\n".encode())
    sock.sendall(sent)
    return sock


def test_clients_that_hang_mid_part_do_not_stall_the_others(limited, gateway, uniq):
    """Eight clients stop sending in the middle of a part and keep their sockets open: their
    parts hold all of the gateway's part memory. The next client's stream waits for some
    (20 s), then falls back to its spool file, and its blob still arrives whole."""
    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    hung = []
    try:
        with server_log_on_failure(limited):
            for i in range(8):
                location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
                hung.append(_stalled_patch(gateway, c, location, 80 * MiB, random.Random(i).randbytes(5 * MiB)))
            time.sleep(1)
            data = random.Random(9).randbytes(70 * MiB)
            digest = _push_whole(c, repo, data)
    finally:
        for sock in hung:
            sock.close()
    log = gateway_log(gateway)
    assert [e.get("how") for e in log if e.get("event") == "upload" and e.get("digest") == digest] == ["spooled"]
    assert_readable(limited, repo, digest, data)


def test_a_wrong_digest_after_streaming_was_given_up_is_digest_invalid(limited, gateway, uniq):
    """A sized body streams; a second body (more than announced) makes the gateway give the
    stream up for its spool file; a wrong digest at the close is then 400 DIGEST_INVALID,
    as for any wrong digest, and neither digest is a blob."""
    import hashlib

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    data = random.Random(10).randbytes(66 * MiB)
    more = random.Random(11).randbytes(4 * MiB)
    digest = "sha256:" + hashlib.sha256(data + more).hexdigest()
    wrong = "sha256:" + hashlib.sha256(data).hexdigest()
    with server_log_on_failure(limited):
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        assert c.request("PATCH", location, data=data).status_code == 202
        assert c.request("PATCH", location, data=more,
                         headers={"Content-Range": f"{len(data)}-{len(data) + len(more) - 1}"}).status_code == 202
        r = c.request("PUT", location, params={"digest": wrong})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "DIGEST_INVALID", r.text
        for d in (wrong, digest):
            assert c.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code == 404


def test_a_request_waiting_on_a_session_that_closes_gets_an_answer(limited, gateway, uniq):
    """A PATCH holds the session while its body comes in; a DELETE and another PATCH wait for
    it. Whichever runs after the DELETE finds the session closed: 404 BLOB_UPLOAD_UNKNOWN,
    never a connection dropped without an answer (it was an AssertionError)."""
    import threading

    import requests

    from support import Client

    c = Client(f"http://{gateway.host}", auth=ADMIN)
    repo = f"admin/{uniq}"
    c.login(repo, "pull,push")
    headers = {"Authorization": f"Bearer {c.http.auth.token}"}
    base = f"http://{gateway.host}"
    with server_log_on_failure(limited):
        location = c.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        first = _stalled_patch(gateway, c, location, 2 * MiB, b"x" * MiB)
        answers: dict = {}

        def send(name: str, method: str, **kw) -> None:
            try:
                answers[name] = requests.request(method, base + location, headers=headers, timeout=60, **kw)
            except requests.RequestException as err:
                answers[name] = err

        waiting = [threading.Thread(target=send, args=("delete", "DELETE"))]
        waiting.append(threading.Thread(target=send, args=("patch", "PATCH"), kwargs={"data": b"y" * 1000}))
        for t in waiting:
            t.start()
            time.sleep(0.5)   # the DELETE first in line, then the PATCH
        first.sendall(b"x" * MiB)   # the held PATCH ends: the others run
        first.recv(65536)
        first.close()
        for t in waiting:
            t.join(60)
    assert answers["delete"].status_code == 204, answers
    patch = answers["patch"]
    assert isinstance(patch, requests.Response), patch   # an answer, not a dropped connection
    assert patch.status_code in (202, 404), patch.text
    if patch.status_code == 404:
        assert patch.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert "Traceback" not in gateway.log_text()
