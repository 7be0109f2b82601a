"""The UI's Chalice blueprint: importing the page modules registers their routes on it.

Every page decides access with the API's own policy (`allowed_actions`,
`can_administer`); a repository the caller may not read answers exactly like
a missing one (the same 404 page).
"""
from __future__ import annotations

from . import admin, pages  # noqa: F401 - registers the routes
from .web import bp

__all__ = ["bp"]
