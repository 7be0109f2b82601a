"""ChartMuseum-style uploads and `/helm/<ns>/...` paths under hostile input.

The review sent a 510 KB gzip holding one 512 MiB GNU long-name member to
another tenant's upload endpoint (5-10 s and 1 GB of RAM before a 400), a pax
header of the same size (20 s) and 120k empty members (9.6 s). Rights are now
checked before the body is read, and the archive reader caps decompressed
bytes, members and header sizes while streaming. Timings and memory are
measured by hand (see the report), not asserted here.
"""
from __future__ import annotations

import tarfile
import zlib

import pytest
import requests

from helm_support import admin, chart_tgz, index_of, ns  # noqa: F401 (fixtures)
from support import Client

MIB = 1024 * 1024


def repeat_gzip(prefix: bytes, unit: bytes, count: int) -> bytes:
    """gzip of `prefix + unit * count`, compressing `unit` once (full flushes make blocks independent)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(unit) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()[:-8]                     # the final empty block; trailer recomputed below
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    size = (len(prefix) + len(unit) * count) & 0xFFFFFFFF
    return head + block * count + tail + crc.to_bytes(4, "little") + size.to_bytes(4, "little")


def header(name: str, kind: bytes, size: int, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=fmt)


def gnu_long_name(size: int = 512 * MIB) -> bytes:
    return repeat_gzip(header("././@LongLink", tarfile.GNUTYPE_LONGNAME, size), b"a" * MIB, size // MIB)


def pax_header(size: int = 512 * MIB) -> bytes:
    record = f"{size} path=".encode()
    return repeat_gzip(header("pax", tarfile.XHDTYPE, size, tarfile.USTAR_FORMAT) + record,
                       b"a" * MIB, size // MIB)


def empty_members(count: int = 120_000) -> bytes:
    member = header("e", tarfile.REGTYPE, 0, tarfile.USTAR_FORMAT)
    return repeat_gzip(b"", member * 1024, count // 1024)


HOSTILE = {"gnu-long-name-512MiB": gnu_long_name, "pax-header-512MiB": pax_header,
           "120k-empty-members": empty_members}


@pytest.fixture(scope="module")
def hostile() -> dict[str, bytes]:
    return {k: make() for k, make in HOSTILE.items()}


def test_the_hostile_archives_are_what_the_review_sent(hostile):
    assert all(len(a) < 2 * MIB for a in hostile.values())
    d = zlib.decompressobj(wbits=31)
    first = d.decompress(hostile["gnu-long-name-512MiB"], 1024)
    assert first[156:157] == b"L" and int(first[124:136].strip(b"\0 "), 8) == 512 * MIB


def nothing_stored(registry, ns: str) -> None:
    assert index_of(registry, ns)["entries"] == {}
    # The catalog in name order, starting right where `<ns>/...` repositories would be.
    r = Client(registry.url, auth=registry.admin).request("GET", "/v2/_catalog", params={"n": 10, "last": ns})
    assert r.status_code == 200, r.text
    assert not [name for name in r.json()["repositories"] if name.startswith(f"{ns}/")]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("as_form", [False, True], ids=["raw", "form"])
def test_hostile_archives_are_refused_with_413_and_store_nothing(registry, hostile, ns, kind, as_form):
    url = f"{registry.url}/helm/{ns}/api/charts"
    body = hostile[kind]
    r = (requests.post(url, auth=registry.admin, files={"chart": ("x.tgz", body)}) if as_form
         else requests.post(url, auth=registry.admin, data=body))
    assert r.status_code == 413, r.text
    [err] = r.json()["errors"]
    assert err["code"] == "SIZE_INVALID" and "chart archive refused" in r.json()["error"]
    nothing_stored(registry, ns)


def test_rights_are_checked_before_the_body_is_read(registry, admin, hostile, ns):
    stranger, reader, owner = admin.user(), admin.user(), admin.user()
    admin.grant(reader[0], "read", ns)
    url = f"{registry.url}/helm/{ns}/api/charts"
    for who in (stranger, reader):
        for body in (b"not even a gzip", hostile["gnu-long-name-512MiB"]):
            r = requests.post(url, auth=who, data=body)
            assert r.status_code == 403, r.text               # not the 400 that parsing would give
            assert r.json()["errors"][0]["code"] == "DENIED"
    # Someone else's namespace is closed to the owner of their own.
    r = requests.post(f"{registry.url}/helm/{owner[0]}/api/charts", auth=stranger, data=b"x")
    assert r.status_code == 403
    # A right on one repository of the namespace is enough to have the body read (then checked by name).
    admin.grant_repo(stranger[0], "write", f"{ns}/only")
    assert requests.post(url, auth=stranger, data=b"not even a gzip").status_code == 400
    assert requests.post(url, auth=stranger, data=chart_tgz("other", "1.0.0")).status_code == 403
    assert requests.post(url, auth=stranger, data=chart_tgz("only", "1.0.0")).status_code == 201
    assert set(index_of(registry, ns)["entries"]) == {"only"}


def form(parts: list[tuple[str, bytes]], boundary: str = "b0undary", close: bool = True,
         head: bytes = b"") -> tuple[bytes, dict]:
    out = b""
    for name, data in parts:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f"\r\n'.encode()
                + head + b"\r\n" + data + b"\r\n")
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_body_and_form_are_bounded(registry, ns):
    url = f"{registry.url}/helm/{ns}/api/charts"
    tgz = chart_tgz("bounded", "1.0.0")
    body, headers = form([("chart", tgz)])
    assert requests.post(url, auth=registry.admin, data=body, headers=headers).status_code == 201

    def refused(data: bytes, headers: dict, status: int, words: str) -> None:
        r = requests.post(url + "?force=true", auth=registry.admin, data=data, headers=headers)
        assert r.status_code == status, r.text
        assert words in r.json()["error"], r.text

    refused(b"\0" * (8 * MIB + 1), {}, 413, "larger than")
    refused(*form([("chart", tgz)] + [(f"x{i}", b"") for i in range(10)]), 400, "more than 8 parts")
    refused(*form([("chart", tgz)], head=b"X-Pad: " + b"p" * 9000 + b"\r\n"), 400, "headers")
    refused(*form([("chart", tgz)], close=False), 400, "closing delimiter")
    refused(*form([("chart", tgz)], boundary="b" * 71), 400, "boundary")
    refused(*form([("chart", tgz), ("prov", b"-----BEGIN PGP SIGNED MESSAGE-----" + b"p" * MIB)]), 413,
            "provenance")
    assert [e["version"] for e in index_of(registry, ns)["entries"]["bounded"]] == ["1.0.0"]


@pytest.mark.parametrize("path", [
    "/helm/{long}/index.yaml", "/helm/{long}/charts/x-1.0.0.tgz", "/helm/{long}/api/charts",
    "/helm/UPPER/index.yaml", "/helm/a%0a/index.yaml", "/helm/a%23b/index.yaml", "/helm/-a/charts/x-1.0.0.tgz",
], ids=["long-index", "long-charts", "long-upload", "upper", "newline", "hash", "dash"])
def test_bad_namespaces_are_400_before_any_key_is_built(registry, path):
    url = registry.url + path.format(long="n" * 3000)
    method = "POST" if path.endswith("/api/charts") else "GET"
    r = requests.request(method, url, auth=registry.admin, data=b"x" if method == "POST" else None)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "NAME_INVALID"


@pytest.mark.parametrize("filename", [
    "x" * 3000 + "-1.0.0.tgz", "x-" + "1" * 1100 + ".tgz.prov", "a#b-1.0.0.tgz", "x-1.0.0%0a.tgz",
    "X-1.0.0.tgz", "..-1.0.0.tgz", "x-1.0.0.tar.gz", ".tgz",
], ids=["long-name", "long-version", "hash", "newline", "upper", "dots", "not-tgz", "empty"])
def test_bad_chart_file_names_are_404(registry, ns, filename):
    r = requests.get(f"{registry.url}/helm/{ns}/charts/{filename}", auth=registry.admin, allow_redirects=False)
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
