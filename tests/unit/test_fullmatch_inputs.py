"""Validators of untrusted input match the whole value: `$` alone lets a final newline through."""
from __future__ import annotations

import pytest

from chalicelib.oci.digest import parse_digest
from chalicelib.oci.errors import RegistryError
from chalicelib.oci.names import is_tag, validate_name
from chalicelib.manifests import schema1
from chalicelib.manifests.base import check_media_type

HEX = "a" * 64


def test_digest_with_a_trailing_newline_is_refused():
    assert str(parse_digest(f"sha256:{HEX}")) == f"sha256:{HEX}"
    with pytest.raises(RegistryError):
        parse_digest(f"sha256:{HEX}\n")


def test_media_type_with_a_trailing_newline_is_refused():
    assert check_media_type("application/json", "config") == "application/json"
    with pytest.raises(RegistryError):
        check_media_type("application/json\n", "config")


def test_names_and_tags_with_a_trailing_newline_are_refused():
    assert validate_name("team/app") == "team/app" and is_tag("v1")
    with pytest.raises(RegistryError):
        validate_name("team/app\n")
    assert not is_tag("v1\n")


def test_schema1_name_with_a_trailing_newline_is_refused():
    doc = {"schemaVersion": 1, "name": "team/app\n", "tag": "v1", "architecture": "amd64",
           "fsLayers": [{"blobSum": f"sha256:{HEX}"}],
           "history": [{"v1Compatibility": '{"id": "%s"}' % ("b" * 64)}]}
    with pytest.raises(RegistryError) as err:
        schema1.check_structure(doc)
    assert err.value.detail["reason"] == "name must be a valid repository name"
    doc["name"] = "team/app"
    assert schema1.check_structure(doc)
