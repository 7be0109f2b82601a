"""Administration client for the registry: a CLI (`python -m client`) and a small API.

Standard library only (urllib), so it runs anywhere Python 3.9+ does, with no
dependencies. See docs/auth.md for the model it manages.
"""
from .api import AdminClient, ClientError

__all__ = ["AdminClient", "ClientError"]
