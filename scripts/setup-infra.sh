#!/usr/bin/env bash
# Idempotent set-up for the infrastructure targets (synth, deploy, destroy, admin)
# and the template tests: .venv (scripts/setup.sh) plus requirements-infra.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
stamp=.venv/.requirements-infra.sha
want="$(cat requirements.txt requirements-dev.txt requirements-infra.txt | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[setup-infra] installing infrastructure tooling (cfn-lint)"
  .venv/bin/python -m pip install -q -r requirements-infra.txt
  echo "$want" > "$stamp"
fi
