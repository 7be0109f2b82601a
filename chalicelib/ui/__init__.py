"""The web UI under /ui/: server-rendered pages over the registry's own use cases.

gateway.py is the one place that reaches the wired use cases (the served container); views.py builds
the pages' view models (pure); session.py holds the cookie and CSRF rules;
routes.py is the Chalice blueprint.
"""
