"""Only access tokens are bearer tokens (docs/security.md): a token of any other kind
signed by the registry's key - refresh, UI session, or one with the API's audience but
another `typ` - is refused with a challenge, whatever access it lists."""
from __future__ import annotations

import pytest
import requests

from chalicelib.auth.tokens import access_claims, encode


def _token(registry, kind: str, repo: str, audience: str = "") -> str:
    s = registry.services.settings
    claims = access_claims("admin", [{"type": "repository", "name": repo, "actions": ["pull", "push"]}],
                           issuer=s.issuer, audience=audience or s.service, ttl=300, kind=kind)
    return encode(claims, registry.services.token_signer())


@pytest.mark.parametrize("kind", ["refresh", "ui", "session", "Access", ""])
def test_tokens_of_other_kinds_are_not_bearer_tokens(registry, client, repo, kind):
    client.push_image(repo, "v1")
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1",
                     headers={"Authorization": f"Bearer {_token(registry, kind, repo)}"})
    assert r.status_code == 401, (kind, r.text)
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    ok = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers={
        "Authorization": f"Bearer {_token(registry, 'access', repo)}",
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert ok.status_code == 200, ok.text


def test_a_ui_session_token_is_not_an_api_token(registry, client, repo):
    from chalicelib.ui.session import audience

    client.push_image(repo, "v1")
    r = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers={
        "Authorization": f"Bearer {_token(registry, 'access', repo, audience(registry.services.settings.service))}"})
    assert r.status_code == 401, r.text
