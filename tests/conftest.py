"""Shared test set-up: import paths and a clean AWS-ish environment."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Never reach real AWS from tests, whatever the developer's shell says.
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE"):
    os.environ.pop(var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("REGISTRY_TABLE", "registry-test")
os.environ.setdefault("REGISTRY_BUCKET", "registry-test-blobs")

# Every test talks to servers on loopback: a developer's HTTP(S)_PROXY or ~/.netrc must not
# reach them, and requests looked both up again for every request (~0.4 ms of CPU each, over
# tens of thousands of requests). The clients under test run as subprocesses, unaffected.
import requests  # noqa: E402 - after the environment above

_session_init = requests.Session.__init__


def _session_without_environment(self: requests.Session) -> None:
    _session_init(self)
    self.trust_env = False


requests.Session.__init__ = _session_without_environment  # type: ignore[method-assign]
