# The project's fixed entry points. Each target does its own set-up.
PORT ?= 5000
PYTEST_ARGS ?=
export PORT

.PHONY: setup run backup restore test test-unit test-integration test-e2e bench synth clean gateway

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

# Benchmarks: `make bench` (full, ~10 min) or `make bench QUICK=1` (smoke, ~3 min).
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

synth: setup
	.venv/bin/python -m infra.synth

clean:
	rm -rf .venv .tools .pytest_cache
