# The project's fixed entry points. Each target does its own set-up.
PORT ?= 5000
PYTEST_ARGS ?=
export PORT

.PHONY: setup run test test-unit test-integration test-e2e bench synth clean

setup:
	@bash scripts/setup.sh

run: setup
	@if [ "$(TLS)" = "1" ]; then export REGISTRY_TLS=1; fi; \
	  .venv/bin/python -m local

test:
	@bash scripts/setup.sh --clients
	.venv/bin/python -m pytest tests $(PYTEST_ARGS)

test-unit: setup
	.venv/bin/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	.venv/bin/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e:
	@bash scripts/setup.sh --clients
	.venv/bin/python -m pytest tests/e2e $(PYTEST_ARGS)

bench:
	@bash scripts/setup.sh --clients
	.venv/bin/python -m bench $(if $(QUICK),--quick,)

synth: setup
	.venv/bin/python -m infra.synth

clean:
	rm -rf .venv .tools .pytest_cache
