"""The composition root (chalicelib/container/) and its injection (chalicelib/http/inject.py):
wiring, laziness, one instance per container, types, and which container a request sees."""
from __future__ import annotations

import threading

import pytest

from chalicelib import container
from chalicelib.auth.tokens import LocalSigner, Verifier
from chalicelib.config import Settings
from chalicelib.domain.accounts import Accounts
from chalicelib.domain.events import EventBus
from chalicelib.domain.gc import GarbageCollector
from chalicelib.domain.helm import HelmCharts, HelmIndexHook
from chalicelib.domain.metering import Usage, UsageMeter
from chalicelib.domain.registry import Registry
from chalicelib.domain.tag_admin import TagAdmin
from chalicelib.domain.tag_policy import TagRules
from chalicelib.domain.webhooks import Webhooks
from chalicelib.http import inject

KEY = LocalSigner.generate_pem().decode()


@pytest.fixture
def no_process_container():
    """inject's process-wide container put aside (app.py may have installed one)."""
    saved = list(inject._process)
    inject._process.clear()
    yield
    inject._process[:] = saved


def memory(**settings) -> container.MemoryContainer:
    return container.build_memory(Settings(token_key_pem=KEY, **settings))


def test_getters_return_the_domain_types():
    c = memory()
    assert isinstance(c.registry(), Registry)
    assert isinstance(c.helm(), HelmCharts)
    assert isinstance(c.accounts(), Accounts)
    assert isinstance(c.tag_admin(), TagAdmin)
    assert isinstance(c.gc(), GarbageCollector)
    assert isinstance(c.tag_rules(), TagRules)
    assert isinstance(c.usage(), Usage)
    assert isinstance(c.meter(), UsageMeter)
    assert isinstance(c.events(), EventBus)
    assert isinstance(c.webhooks(), Webhooks)
    assert isinstance(c.token_signer(), LocalSigner)
    assert isinstance(c.token_verifier(), Verifier)


def test_the_registry_is_wired_as_the_handlers_need_it():
    c = memory()
    reg = c.registry()
    assert reg.meta is c.metadata() and reg.blobs is c.blobs()
    assert reg.tag_rules is c.tag_rules()          # tag policies guard pushes and deletes
    assert [type(h) for h in reg.hooks] == [HelmIndexHook]  # the chart index commits with the manifest
    assert c.helm().registry is reg
    assert reg.notify.bus is c.events() and reg.notify.meter is c.meter()


def test_metering_off_leaves_the_notifier_without_a_meter():
    c = memory(metering=False)
    assert c.registry().notify.meter is None
    assert not c.built("meter")


def test_nothing_is_built_until_asked_and_then_only_what_is_needed():
    c = container.build(Settings())           # the AWS container: no client yet
    assert not any(c.built(n) for n in ("client:s3", "meta", "registry", "accounts", "signer"))
    m = memory()
    m.accounts()
    assert m.built("accounts") and m.built("account_store")
    assert not m.built("registry") and not m.built("blobs") and not m.built("events")


def test_one_instance_per_container_even_under_concurrent_first_use():
    c = memory()
    got: list = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        got.append(c.registry())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in got}) == 1 and got[0] is c.registry()
    assert memory().registry() is not got[0]  # another container, its own instances


def test_overrides_replace_a_product_by_name():
    accounts = memory().accounts()
    c = container.build_memory(Settings(), overrides={"accounts": accounts})
    assert c.accounts() is accounts


def test_prebuilt_clients_are_used():
    fake_s3 = object()
    c = container.build(Settings(), clients={"s3": fake_s3})
    assert c.s3_client() is fake_s3
    assert not c.built("blobs") and type(c.blobs()).__name__ == "S3BlobStore"


def test_a_missing_token_key_file_is_a_clear_error(tmp_path):
    c = container.build_memory(Settings(token_key_file=str(tmp_path / "absent.pem")))
    with pytest.raises(RuntimeError, match="does not exist"):
        c.token_signer()
    assert not (tmp_path / "absent.pem").exists()  # the container never writes keys


def test_settings_read_from_the_environment_write_no_key_file(tmp_path, monkeypatch):
    path = tmp_path / "schema1.pem"
    monkeypatch.setenv("REGISTRY_SCHEMA1_KEY_FILE", str(path))
    assert Settings.from_env().schema1_key_pem is None and not path.exists()
    from local.keys import ensure_key_files

    ensure_key_files({"REGISTRY_SCHEMA1_KEY_FILE": str(path)})
    assert Settings.from_env().schema1_key_pem == path.read_bytes()


def test_a_request_sees_the_container_it_is_served_with(no_process_container):
    outer, inner = memory(), memory(auth_mode="none")
    inject.provide(outer)
    assert inject.services() is outer
    with inject.serving(inner):
        assert inject.services() is inner
        seen: list = []
        other = threading.Thread(target=lambda: seen.append(inject.services()))
        other.start()
        other.join()
        assert seen == [outer]  # another thread (another gateway's request) is not served by it
    assert inject.services() is outer


def test_inject_hands_an_endpoint_its_dependencies():
    c = memory()

    @inject.inject("registry", "settings")
    def endpoint(request, name, registry: Registry, settings: Settings):
        return request, name, registry, settings

    with inject.serving(c):
        assert endpoint("req", name="a/b") == ("req", "a/b", c.registry(), c.settings)


def test_without_a_container_the_error_says_what_to_do(no_process_container):
    with pytest.raises(RuntimeError, match="inject.provide"):
        inject.services()
