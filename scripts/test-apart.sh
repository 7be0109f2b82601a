#!/usr/bin/env bash
# The test modules that must run in pytest processes of their own (APART in the Makefile):
# all at once, one process each (tests/contract on 2 xdist workers), outputs printed in
# order once all have finished; fails if any failed.
# Usage: scripts/test-apart.sh "<pytest args>" <module>...
set -uo pipefail
cd "$(dirname "$0")/.."
args=$1
shift
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
n=0
for part in "$@"; do
  if [ -d "$part" ]; then workers="-n 2 --dist loadfile"; else workers=""; fi
  # shellcheck disable=SC2086 # the pytest arguments are words on purpose
  .venv/bin/python -m pytest "$part" $workers $args > "$logs/$n.log" 2>&1 &
  pids+=($!)
  n=$((n + 1))
done
status=0
n=0
for part in "$@"; do
  if ! wait "${pids[$n]}"; then status=1; fi
  echo "== $part"
  cat "$logs/$n.log"
  n=$((n + 1))
done
exit $status
