"""Names, tags and digests follow the distribution-spec grammar."""
from __future__ import annotations

import hashlib

import pytest

from chalicelib.domain.resumable_hash import ResumableHash
from chalicelib.oci.digest import compute, parse_digest
from chalicelib.oci.errors import RegistryError
from chalicelib.oci.names import is_tag, validate_name, validate_tag


@pytest.mark.parametrize("name", ["a", "library/ubuntu", "a/b/c/d", "my-org/my_app", "x__y",
                                  "a.b-c/d--e", "conformance-1234", "a" * 255])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "a/", "/a", "a//b", "-a", "a-", "a_", "a___b", "a/B",
                                  "a" * 256, "a:b", "a..b"])
def test_invalid_names(name):
    with pytest.raises(RegistryError) as e:
        validate_name(name)
    assert e.value.code == "NAME_INVALID" and e.value.status == 400


@pytest.mark.parametrize("tag,ok", [("latest", True), ("v1.0.0", True), ("_x", True), ("A-b_c.d", True),
                                    ("a" * 128, True), ("a" * 129, False), (".x", False),
                                    ("-x", False), ("a/b", False), ("", False)])
def test_tags(tag, ok):
    assert is_tag(tag) is ok
    if not ok:
        with pytest.raises(RegistryError) as e:
            validate_tag(tag)
        assert e.value.code == "MANIFEST_INVALID"


def test_digest_parse():
    d = parse_digest("sha256:" + "a" * 64)
    assert d.algorithm == "sha256" and str(d) == "sha256:" + "a" * 64
    assert parse_digest("sha512:" + "0" * 128).algorithm == "sha512"


@pytest.mark.parametrize("value", ["sha256:totallywrong", "sha256:" + "A" * 64, "md5:" + "a" * 32,
                                   "sha256", "sha512:" + "a" * 64, ""])
def test_bad_digests(value):
    with pytest.raises(RegistryError) as e:
        parse_digest(value)
    assert e.value.code == "DIGEST_INVALID"


def test_resumable_hash_survives_serialisation():
    data = [b"first chunk", b"", b"x" * 100_000, b"last"]
    state = ResumableHash().state()
    for chunk in data:
        h = ResumableHash(state)
        h.update(chunk)
        state = h.state()
    whole = b"".join(data)
    h = ResumableHash(state)
    assert h.digest("sha256") == compute(whole) == "sha256:" + hashlib.sha256(whole).hexdigest()
    assert h.digest("sha512") == "sha512:" + hashlib.sha512(whole).hexdigest()
    # digest() does not consume the state
    assert h.digest("sha256") == compute(whole)


def test_password_verification_is_remembered_only_for_the_same_hash():
    from chalicelib.auth import passwords

    h = passwords.hash_secret("correct horse")
    assert passwords.verify_secret(h, "correct horse")
    assert (h, __import__("hashlib").sha256(b"correct horse").hexdigest()) in passwords._verified
    assert not passwords.verify_secret(h, "wrong")
    assert not passwords.verify_secret(None, "correct horse")
    rotated = passwords.hash_secret("correct horse")  # same secret, new salt: a new key
    assert rotated != h and passwords.verify_secret(rotated, "correct horse")
    assert not passwords.verify_secret(passwords.hash_secret("other"), "correct horse")
