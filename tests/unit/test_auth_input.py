"""Pure checks of untrusted auth input: account names, claims, challenge values, Host."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.auth.scopes import Scope, challenge, quoted
from chalicelib.auth.tokens import InvalidToken, LocalSigner, Verifier, access_claims, encode
from chalicelib.domain.accounts import is_account_name, is_repository_name, robot_parts, source_key


@pytest.mark.parametrize("name,ok", [
    ("alice", True), ("a.b-c_d", True), ("acme+ci", True), ("a" * 64, True), ("a" * 64 + "+" + "b" * 64, True),
    ("a" * 65, False), ("acme+" + "b" * 65, False), ("alice\n", False), ("Alice", False), ("", False),
    ("a+b+c", False), ("+ci", False), ("acme+", False), ("a..b", False), (None, False), (["a"], False), (5, False),
])
def test_account_names(name, ok):
    assert is_account_name(name) is ok


def test_robot_parts():
    assert robot_parts("acme+ci") == ("acme", "ci")
    assert robot_parts("acme+ci\n") is None and robot_parts("alice") is None


@pytest.mark.parametrize("name,ok", [("a/b", True), ("a" * 255, True), ("a" * 256, False), ("a/b\n", False),
                                     ("A/b", False), ("", False), (None, False), ({"a": 1}, False)])
def test_repository_names(name, ok):
    assert is_repository_name(name) is ok


@pytest.mark.parametrize("source,key", [("127.0.0.1", "ip:127.0.0.1"), ("::1", "ip:::1"),
                                        ("2001:DB8::1", "ip:2001:db8::1"), ("x" * 3000, "ip:unknown"),
                                        ("1.2.3.4\n", "ip:unknown"), ("", "ip:unknown")])
def test_source_keys_are_parsed_addresses(source, key):
    assert source_key(source) == key


def test_quoted_values_cannot_end_the_string_or_the_header():
    assert quoted('a"b\\c\r\nd\x00é') == '"abcd"'
    value = challenge('http://h"/token', "svc", [Scope("repository", "a/b", ("pull", "push")),
                                                 Scope("repository", "c", ("pull",))], "insufficient_scope")
    assert value == ('Bearer realm="http://h/token",service="svc",'
                     'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"')


@pytest.fixture(scope="module")
def keys():
    signer = LocalSigner(LocalSigner.generate_pem())
    return signer, Verifier(signer.public_key_pem())


def _token(signer, **overrides) -> str:
    claims = access_claims("alice", [], issuer="iss", audience="aud", ttl=60)
    claims.update(overrides)
    return encode(claims, signer)


@pytest.mark.parametrize("overrides", [
    {"exp": "never"}, {"exp": float("inf")}, {"nbf": [1]}, {"iat": True}, {"sub": 5}, {"typ": None},
    {"access": {}}, {"access": [1]}, {"access": [{"type": "repository", "name": 1}]},
    {"access": [{"type": "repository", "name": "a", "actions": "pull"}]}, {"denied": [[]]}, {"gen": "1"},
    {"gen": True},
])
def test_signed_claims_of_wrong_types_are_invalid(keys, overrides):
    signer, verifier = keys
    with pytest.raises(InvalidToken):
        verifier.verify(_token(signer, **overrides), audience="aud", issuer="iss")


def test_well_typed_claims_verify(keys):
    signer, verifier = keys
    claims = verifier.verify(_token(signer, gen=3, access=[{"type": "repository", "name": "a", "actions": ["pull"]}]),
                             audience="aud", issuer="iss")
    assert claims["gen"] == 3


@pytest.mark.parametrize("token", ["W10.e30.AA", "bnVsbA.e30.AA", "MQ.e30.AA", "a.b", "", "é.e30.AA",
                                   "W" * 8000 + ".e30.AA"])
def test_malformed_tokens_are_invalid(keys, token):
    _, verifier = keys
    with pytest.raises(InvalidToken):
        verifier.verify(token, audience="aud", issuer="iss")


def test_deeply_nested_header_is_invalid(keys):
    import base64

    _, verifier = keys
    head = base64.urlsafe_b64encode(b"[" * 100000).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verifier.verify(f"{head}.e30.AA", audience="aud", issuer="iss")


@pytest.mark.parametrize("host,kept", [
    ("registry.example.com", True), ("registry.example.com:8443", True), ("10.0.0.1:5000", True),
    ("[::1]:5000", True), ('evil"x', False), ("a b", False), ("a/b", False), ("", False), ("h:99999999", False),
    ("x" * 300, False), ("h\r\nX: y", False),
])
def test_base_url_keeps_only_host_port(monkeypatch, host, kept):
    from chalicelib.config import Settings
    from chalicelib.container import build_memory
    from chalicelib.http import auth
    from chalicelib.http.inject import serving

    request = SimpleNamespace(headers={"host": host, "x-forwarded-proto": 'https"x'})
    with serving(build_memory(Settings(public_url=""))):
        assert auth.base_url(request) == ("http://" + host if kept else "http://localhost")
