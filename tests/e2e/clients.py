"""Thin wrappers around the REAL OCI registry clients used by the e2e tests.

Nothing here is mocked: every wrapper shells out to the real binary
(skopeo, podman, buildah, containerd/ctr, helm, Debian's ``docker-registry``).
Install them with ``scripts/install-clients.sh`` (run as root, Debian 12).

Every wrapper gets its own scratch directory and isolated configuration
(policy, registries.conf, auth file, storage, blob-info cache) so tests do not
see each other's state, nor the machine's global state.

These modules deliberately import nothing from the project under test. This one
gathers them, so tests import every client from one place:
client_base.py (running binaries, ports, references), client_tools.py (skopeo,
podman, buildah), client_containerd.py (ctr), reference_registry.py
(distribution) and layouts.py (OCI layouts to push).
"""

from __future__ import annotations

from support import sha256  # noqa: F401 - the tests' one digest helper; e2e modules use it as clients.sha256

from e2e.client_base import (INSECURE_POLICY, INSTALL_HINT, MT_OCI_CONFIG, MT_OCI_INDEX,  # noqa: F401
                             MT_OCI_LAYER_GZIP, MT_OCI_MANIFEST, REPO_ROOT, find_free_port, have_binary,
                             helm_binary, run, wait_for_port)
from e2e.client_containerd import Containerd  # noqa: F401
from e2e.client_tools import Buildah, Podman, Skopeo  # noqa: F401
from e2e.layouts import _layer_tar, build_oci_index_layout, build_oci_layout, temp_dir  # noqa: F401
from e2e.reference_registry import ReferenceRegistry  # noqa: F401

__all__ = [
    "REPO_ROOT",
    "run",
    "have_binary",
    "find_free_port",
    "helm_binary",
    "Skopeo",
    "Podman",
    "Buildah",
    "Containerd",
    "ReferenceRegistry",
    "build_oci_layout",
    "build_oci_index_layout",
    "sha256",
    "temp_dir",
    "wait_for_port",
]
