"""The Chalice app: creates it, registers blueprints, nothing else."""
from chalice import Chalice

from chalicelib.http.middleware import install
from chalicelib.routes import admin, base, token, v1, v2
from chalicelib.routes import helm
from chalicelib.ui import routes as ui_routes

app = Chalice(app_name="oci-registry")
# Every body is binary to API Gateway so blob bytes arrive untouched.
app.api.binary_types = ["*/*"]
install(app)
app.register_blueprint(base.bp)
app.register_blueprint(v2.bp)
app.register_blueprint(token.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(v1.bp)
app.register_blueprint(helm.bp)
app.register_blueprint(ui_routes.bp)
