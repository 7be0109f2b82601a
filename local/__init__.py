"""The local server: HTTP -> API Gateway proxy events -> the Chalice app.

Never deployed to Lambda.
"""
import os


def switched_off(name: str) -> bool:
    """Whether a local-server feature that is on by default was turned off: `name` says 0,
    false, no or off (chalicelib/config._bool treats any unknown value as off instead)."""
    return os.environ.get(name, "1").strip().lower() in ("0", "false", "no", "off")
