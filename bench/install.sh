#!/usr/bin/env bash
# Idempotent set-up for `make bench`: the binaries the benchmarks drive and the
# plotting package. Needs root (or sudo) only when an apt package is missing.
#   apt:  skopeo (client), docker-registry (distribution 2.8, the reference),
#         hey (HTTP load generator; unlike wrk it times HEAD requests)
#   pip:  requirements-bench.txt into .venv (matplotlib, pinned)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APT_PACKAGES=(skopeo docker-registry hey)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=""
  if [[ "$(id -u)" -ne 0 ]]; then SUDO="sudo"; fi
  echo "[bench/install] apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep dpkg from starting the docker-registry service (it would take port 5000).
  prc=/usr/sbin/policy-rc.d
  made_prc=0
  if [[ ! -e "$prc" ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$prc" >/dev/null
    $SUDO chmod +x "$prc"
    made_prc=1
  fi
  rc=0
  { $SUDO apt-get update -qq && \
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  if [[ $made_prc -eq 1 ]]; then $SUDO rm -f "$prc"; fi
  if [[ $rc -ne 0 ]]; then echo "[bench/install] apt-get failed ($rc)" >&2; exit "$rc"; fi
fi

stamp=.venv/.requirements-bench.sha
want="$(sha256sum requirements-bench.txt | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[bench/install] installing requirements-bench.txt"
  .venv/bin/python -m pip install -q -r requirements-bench.txt
  echo "$want" > "$stamp"
fi
