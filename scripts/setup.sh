#!/usr/bin/env bash
# Idempotent set-up: the Python venv and its packages, the local S3/DynamoDB backends
# (scripts/install-backends.sh), and (with --clients) the
# real registry clients the end-to-end tests drive. Safe to run repeatedly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"

if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    else
      echo "python3 -m venv failed; install python3-venv" >&2; exit 1
    fi
  fi
fi
stamp=.venv/.requirements.sha
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[setup] installing Python packages"
  .venv/bin/python -m pip install -q 'pip>=23,<26.3' >/dev/null  # chalice 1.34 needs pip<26.3
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
# the client CLI as a command: .venv/bin/regcli runs `python -m client` from this checkout
# (outside a checkout: `pip install` the repository, see pyproject.toml and docs/client.md)
regcli="#!/bin/sh
# written by scripts/setup.sh
PYTHONPATH=\"$ROOT\${PYTHONPATH:+:\$PYTHONPATH}\" exec \"$ROOT/.venv/bin/python\" -m client \"\$@\""
if [[ "$(cat .venv/bin/regcli 2>/dev/null)" != "$regcli" ]]; then
  printf '%s\n' "$regcli" > .venv/bin/regcli.tmp && chmod 755 .venv/bin/regcli.tmp && mv .venv/bin/regcli.tmp .venv/bin/regcli
fi
# the strict local backends (`make run`'s default; tests' "strict" backend)
bash scripts/install-backends.sh
if [[ "${1:-}" == "--clients" ]]; then
  if [[ "$(id -u)" -eq 0 ]]; then
    bash scripts/install-clients.sh
  else
    sudo bash scripts/install-clients.sh
  fi
fi
