"""The Chalice app: creates it, registers blueprints and the scheduled runs, nothing else.

`handler` is the Lambda entry point of every front door (Function URL, HTTP
API: payload 2.0; Chalice's REST API: payload 1.0); see chalicelib/http/events.py.
"""
from typing import Any

from chalice import Chalice, Rate

from chalicelib import container
from chalicelib.http import inject, observe
from chalicelib.http.middleware import install
from chalicelib.routes import admin, base, token, v1, v2
from chalicelib.routes import helm, tag_admin
from chalicelib.ui import routes as ui_routes

app = Chalice(app_name="oci-registry")
# Every body is binary to API Gateway so blob bytes arrive untouched.
app.api.binary_types = ["*/*"]
install(app)
# The composition root, once per process: settings from the environment, nothing built
# until a request needs it (a local server or test gateway may serve with its own).
inject.provide(container.build())
observe.add_hook(inject.after_request)  # usage metering, bounded event wait on Lambda
app.register_blueprint(base.bp)
app.register_blueprint(v2.bp)
app.register_blueprint(token.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(v1.bp)
app.register_blueprint(helm.bp)
app.register_blueprint(tag_admin.bp)
app.register_blueprint(ui_routes.bp)


@app.schedule(Rate(1, unit=Rate.HOURS))
def tag_lifecycle_run(event: Any) -> dict:
    """Hourly: expired tags deleted, retention rules applied (docs/lifecycle.md)."""
    return tag_admin.scheduled_run(event)


def handler(event: dict, context: Any) -> dict:
    """Lambda handler for every front door: translates the event, calls `app`."""
    from chalicelib.http.events import handle

    return handle(app, event, context)
