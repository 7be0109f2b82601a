"""REGISTRY_S3_LOOPBACK: the S3 client skips payload hashing only towards this machine's
loopback, never on Lambda, and the setting turns it off."""
from __future__ import annotations

import pytest

from chalicelib import container
from chalicelib.config import Settings, s3_loopback


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "REGISTRY_S3_LOOPBACK", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "http://localhost:1", "http://LOCALHOST",
                                      "http://[::1]:4566", "http://127.8.0.3:80", "https://127.0.0.1"])
def test_loopback_endpoints_qualify(endpoint):
    assert s3_loopback(endpoint) is True


@pytest.mark.parametrize("endpoint", [None, "", "https://s3.us-east-1.amazonaws.com", "http://10.0.0.7:9000",
                                      "http://minio.internal:9000", "http://localhost.example.com",
                                      "http://0.0.0.0:9000", "not a url"])
def test_other_endpoints_do_not(endpoint):
    assert s3_loopback(endpoint) is False


def test_never_on_lambda(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "registry")
    assert s3_loopback("http://127.0.0.1:9000") is False


@pytest.mark.parametrize("value,expected", [("0", False), ("false", False), ("off", False),
                                            ("1", True), ("", True)])
def test_the_setting_turns_it_off(monkeypatch, value, expected):
    monkeypatch.setenv("REGISTRY_S3_LOOPBACK", value)
    assert s3_loopback("http://127.0.0.1:9000") is expected


def _client_config(monkeypatch, endpoint):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    return container.build(Settings()).s3_client().meta.config  # a container of its own


def test_the_registry_client_skips_payload_hashing_on_loopback(monkeypatch):
    cfg = _client_config(monkeypatch, "http://127.0.0.1:4566")
    assert cfg.s3["payload_signing_enabled"] is False
    assert cfg.request_checksum_calculation == "when_required"
    assert cfg.signature_version == "s3v4"


@pytest.mark.parametrize("lambda_name,endpoint", [(None, "http://10.1.2.3:9000"), ("registry", "http://127.0.0.1:4566")])
def test_the_registry_client_keeps_the_sdk_defaults_elsewhere(monkeypatch, lambda_name, endpoint):
    if lambda_name:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", lambda_name)
    cfg = _client_config(monkeypatch, endpoint)
    assert "payload_signing_enabled" not in cfg.s3
    assert cfg.request_checksum_calculation == "when_supported"
