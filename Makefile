# The project's fixed entry points. Each target does its own set-up.
PORT ?= 5000
PYTEST_ARGS ?=
export PORT

.PHONY: setup run test test-unit test-integration test-e2e bench synth deploy destroy admin clean

setup:
	@bash scripts/setup.sh

run: setup
	@if [ "$(TLS)" = "1" ]; then export REGISTRY_TLS=1; fi; \
	  .venv/bin/python -m local

test:
	@bash scripts/setup.sh --clients
	@bash scripts/setup-infra.sh
	.venv/bin/python -m pytest tests $(PYTEST_ARGS)

test-unit: setup
	@bash scripts/setup-infra.sh
	.venv/bin/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	.venv/bin/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e:
	@bash scripts/setup.sh --clients
	.venv/bin/python -m pytest tests/e2e $(PYTEST_ARGS)

# Benchmarks: `make bench` (full, ~10 min) or `make bench QUICK=1` (smoke, ~3 min).
# Prints the table; writes bench/results.json, docs/benchmarks.md, docs/benchmarks/*.png.
bench: setup
	@bash bench/install.sh
	.venv/bin/python -m bench $(if $(QUICK),--quick,)

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
