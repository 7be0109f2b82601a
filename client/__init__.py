"""This project's client: `regcli` / `python -m client` (see docs/client.md).

- `client.transfer`: push, pull and copy images (OCI layouts, docker archives) and artifacts
  with any OCI registry, using the direct-to-S3 extension where offered (`client.direct`);
- `client.gateway`: the local push gateway for stock clients;
- `client.auth`: credentials as Docker keeps them, and the token dance;
- `client.api`: the registry's admin API (docs/auth.md).

Standard library plus `requests`, so it runs on any CI machine with Python 3.9+.
"""
from .api import AdminClient, ClientError

__all__ = ["AdminClient", "ClientError"]
