"""`python -m local`: run the registry on 127.0.0.1 with embedded S3 and DynamoDB.

Environment: PORT (default 5000), REGISTRY_DATA_DIR (default .local-data/: the
embedded S3 objects, the DynamoDB file, generated credentials and keys),
REGISTRY_EMBEDDED=memory (moto in this process, nothing kept; default: strict,
see local/backends.py), REGISTRY_LAMBDA_LIMITS=1 (enforce Lambda's 6 MB payload
and API Gateway's 29 s), AWS_ENDPOINT_URL_S3 / _DYNAMODB (use those services
instead of the embedded ones), REGISTRY_USE_AWS=1 (real AWS), REGISTRY_TLS=1
(serve HTTPS with a local CA kept in <data dir>/tls/ or REGISTRY_TLS_DIR),
REGISTRY_LOCAL_READ_CACHE=0 (no in-process cache of the embedded DynamoDB's reads).
"""
from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from typing import Any

from . import switched_off
from .server import LambdaGateway


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# Ctrl-C must end the process: past this many seconds of stopping (usage flush, backends'
# shutdown), every thread's stack goes to stderr and the process exits (status 1).
STOP_BUDGET_S = 45.0


def main() -> int:
    """Start embedded storage (unless pointed elsewhere) and serve until killed."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(os.environ.get("PORT", "5000"))
    host = os.environ.get("HOST", "127.0.0.1")
    lambda_limits = _truthy("REGISTRY_LAMBDA_LIMITS")
    embedded = None
    external = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    from .embedded import default_data_dir, start_backend

    data_dir = str(default_data_dir())
    # SIGTERM (kill, systemd, test harnesses) stops everything as Ctrl-C does; Ctrl-C works even
    # when started with SIGINT ignored (a background job of a script, `nohup`, CI runners):
    # a server asks for the signal, as distribution does.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: every thread's stack on stderr
    if not external and not _truthy("REGISTRY_USE_AWS"):
        if os.environ.get("REGISTRY_EMBEDDED", "").strip().lower() == "memory":
            # moto records no SHA-256 checksums, so a direct upload could never be proven there.
            os.environ.setdefault("REGISTRY_DIRECT_UPLOADS", "0")
        from .backends import BackendError

        try:
            embedded = start_backend(data_dir=data_dir)
        except BackendError as exc:   # a clear line, not a traceback: the fix is the user's
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
    try:
        return _serve(port, host, lambda_limits, data_dir, embedded)
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded:
            embedded.stop()


def _serve(port: int, host: str, lambda_limits: bool, data_dir: str, embedded: object) -> int:
    if lambda_limits:
        os.environ.setdefault("REGISTRY_LAMBDA_LIMITS", "1")
    os.environ.setdefault("REGISTRY_TOKEN_KEY_FILE", os.path.join(data_dir, "token-key.pem"))
    os.environ.setdefault("REGISTRY_SCHEMA1_KEY_FILE", os.path.join(data_dir, "schema1-key.pem"))
    from .embedded import ensure_admin, provision
    from .keys import ensure_key_files

    ensure_key_files()
    import app as chalice_app  # builds the process's container from the environment set above
    from chalicelib.http import inject

    services = inject.services()
    provision(services)
    if embedded and not switched_off("REGISTRY_LOCAL_READ_CACHE"):
        # this process is the embedded DynamoDB's only writer (local/read_cache.py says why that matters)
        from .read_cache import ReadCache

        ReadCache().install(services.dynamodb_client())
    from infra.roster_backfill import backfill_roster_once

    backfill_roster_once()  # grants and robots kept from before the namespace roster existed
    admin_line = ""
    if os.environ.get("REGISTRY_AUTH", "token") != "none":
        user, password, created = ensure_admin(services)
        shown = password if not os.environ.get("REGISTRY_ADMIN_PASSWORD") else "(from REGISTRY_ADMIN_PASSWORD)"
        admin_line = f"administrator: {user} / {shown}" if created else f"administrator: {user}"
    wsgi_app, ssl_context, tls_files = LambdaGateway(chalice_app.app, lambda_limits,
                                                         services=services), None, None
    if _truthy("REGISTRY_TLS"):
        from .tls import ensure_certificates, server_context

        tls_files = ensure_certificates(os.environ.get("REGISTRY_TLS_DIR")
                                        or os.path.join(data_dir, "tls"), host)
        ssl_context = server_context(tls_files)
    from .keepalive import KeepAliveServer

    access_log = _truthy("REGISTRY_ACCESS_LOG") or os.environ.get("REGISTRY_ACCESS_LOG") is None
    server = KeepAliveServer(host, port, wsgi_app, ssl_context=ssl_context, access_log=access_log)
    where = embedded.describe() if embedded else "the S3 and DynamoDB endpoints configured"
    scheme = "https" if tls_files else "http"
    print(f"registry listening on {scheme}://{host}:{server.port} using {where}", flush=True)
    print(f"web UI: {scheme}://{host}:{server.port}/ui/", flush=True)
    if tls_files:
        from .tls import trust_help

        print(trust_help(tls_files, host, server.port), flush=True)
    if admin_line:
        print(f"token auth on (pushes need credentials); {admin_line}", flush=True)
    else:
        print("REGISTRY_AUTH=none: anyone can push and pull", flush=True)
    # REGISTRY_FRONT=function-url|http-api|rest: whose Lambda event the gateway builds
    front = wsgi_app.front
    print(f"front door: {front.name} (payload {front.payload} events through app.handler); "
          f"JSON logs and EMF metric lines on stderr", flush=True)
    if lambda_limits:
        print(f"Lambda limits on: request events over 6 MB (or bodies over the front door's "
              f"{front.max_request_body} bytes) get 413, responses over 6 MB get 502, handlers over "
              f"{front.timeout:g} s get 504" + (f", request line and headers over "
                                               f"{front.max_header_bytes} bytes get 431"
                                               if front.max_header_bytes else ""), flush=True)
    try:
        server.serve_forever()
    finally:
        faulthandler.dump_traceback_later(STOP_BUDGET_S, exit=True)
        server.server_close()
        _flush_usage(services)
    return 0


def _flush_usage(services: Any) -> None:
    """Write the usage counts still buffered (docs/metering.md): a clean stop loses none."""
    try:
        services.meter().flush()
    except Exception as exc:  # noqa: BLE001 - the backend may already be gone
        print(f"usage counts not flushed: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
