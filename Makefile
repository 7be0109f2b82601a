# The project's fixed entry points. Each target does its own set-up.
PORT ?= 5000
PYTEST_ARGS ?=
# Tests run on TEST_WORKERS pytest-xdist processes (0 = serial, in one process). Each worker
# starts its own registry and embedded backends; `loadfile` keeps a file's tests (and its
# module fixtures) on one worker, so each is set up once. 3 on 2 cores: many tests wait on
# real time (expiry, kill -9, clients), so a third worker fills those gaps. Timeouts: pyproject.toml.
TEST_WORKERS ?= 3
XDIST = -n $(TEST_WORKERS) --dist loadfile
APART = tests/contract tests/integration/test_gc_http.py tests/integration/test_infra_admin.py tests/integration/test_infra_deploy.py
export PORT

.PHONY: setup run backup restore typecheck test test-unit test-integration test-e2e bench synth deploy destroy admin clean gateway

setup:
	@bash scripts/setup.sh

run: setup
	@if [ "$(TLS)" = "1" ]; then export REGISTRY_TLS=1; fi; \
	  .venv/bin/python -m local

# Local data (REGISTRY_DATA_DIR, default .local-data/): a consistent copy while `make run`
# runs; restore with the registry stopped (the previous data is kept beside it).
backup: setup
	.venv/bin/python -m local.backup create $(if $(FILE),--file "$(FILE)",)

restore: setup
	@if [ -z "$(FILE)" ]; then echo "usage: make restore FILE=registry-backup-....tar" >&2; exit 2; fi
	.venv/bin/python -m local.backup restore --file "$(FILE)"

# Static types of the deployed code (chalicelib/; settings in pyproject.toml [tool.mypy]).
typecheck: setup
	.venv/bin/python -m mypy

test:
	@bash scripts/setup.sh --clients
	@bash scripts/setup-infra.sh
	@# APART rebind the process-wide table, clients or botocore (moto's mock_aws) on purpose:
	@# their own processes, run beside the main run (scripts/test.sh says why).
	bash scripts/test.sh "$(XDIST) $(PYTEST_ARGS)" "$(PYTEST_ARGS)" $(APART)

test-unit: setup
	@bash scripts/setup-infra.sh
	.venv/bin/python -m pytest tests/unit $(XDIST) $(PYTEST_ARGS)

test-integration: setup
	.venv/bin/python -m pytest tests/integration $(XDIST) $(PYTEST_ARGS)

test-e2e:
	@bash scripts/setup.sh --clients
	.venv/bin/python -m pytest tests/e2e $(XDIST) $(PYTEST_ARGS)

# Benchmarks: `make bench` (full, ~25 min: the gateway section pushes a 1 GiB layer) or `make bench QUICK=1` (smoke, ~5 min).
# One section alone: .venv/bin/python -m bench.section direct|gateway --work DIR --out FILE [--quick].
# Prints the table; writes bench/results.json, docs/benchmarks.md, docs/benchmarks/*.png.
bench: setup
	@bash bench/install.sh
	.venv/bin/python -m bench $(if $(QUICK),--quick,)

# The local push gateway in the foreground (docs/client.md): stock clients push to
# 127.0.0.1:$(GATEWAY_PORT) and layers of any size reach UPSTREAM straight in S3.
GATEWAY_PORT ?= 5001
gateway: setup
	@if [ -z "$(UPSTREAM)" ]; then echo "usage: make gateway UPSTREAM=<registry URL> [GATEWAY_PORT=5001]" >&2; exit 2; fi
	.venv/bin/python -m client gateway --registry "$(UPSTREAM)" --port "$(GATEWAY_PORT)"

# Deploy (docs/deploy.md). Settings: STAGE (dev), FRONT (function-url | http-api | rest;
# synth also takes all), DOMAIN + CERTIFICATE_ARN or HOSTED_ZONE_ID, LOG_RETENTION_DAYS.
# synth: SAM template(s) + Lambda zip under infra/out/<stage>/, cfn-lint checked; no AWS account.
# deploy/destroy: with your AWS credentials (DRY_RUN=1 prints the commands instead).
# admin: the first administrator, `make admin STAGE=dev USER=alice` (password from stdin, or
# generated and shown once on the terminal); refused when one exists.
export STAGE FRONT DOMAIN CERTIFICATE_ARN HOSTED_ZONE_ID LOG_RETENTION_DAYS DRY_RUN

synth:
	@bash scripts/setup-infra.sh
	.venv/bin/python -m infra.synth

deploy:
	@bash scripts/setup-infra.sh
	.venv/bin/python -m infra.deploy deploy

destroy:
	@bash scripts/setup-infra.sh
	.venv/bin/python -m infra.deploy destroy

admin:
	@if [ "$(origin USER)" != "command line" ]; then echo "usage: make admin STAGE=dev USER=<name>" >&2; exit 2; fi
	@bash scripts/setup-infra.sh
	@.venv/bin/python -m infra.admin --user "$(USER)"

clean:
	rm -rf .venv .tools .pytest_cache
