#!/usr/bin/env bash
# `make test`: the main run (pytest-xdist) and the modules that need pytest processes of their
# own (scripts/test-apart.sh) at the same time: the main run leaves about a third of the two
# cores idle (many tests wait on clients, restarts and expiry), which the others fill.
# The apart output is printed after the main run's; fails if either failed.
# Usage: scripts/test.sh "<main pytest args>" "<apart pytest args>" <apart module>...
set -uo pipefail
cd "$(dirname "$0")/.."
main_args=$1
apart_args=$2
shift 2
log=$(mktemp)
bash scripts/test-apart.sh "$apart_args" "$@" > "$log" 2>&1 &
apart=$!
stop_apart() {
  pkill -TERM -P "$apart" 2>/dev/null
  kill -TERM "$apart" 2>/dev/null
}
# A background job of a non-interactive shell ignores Ctrl-C: stop it ourselves.
trap 'stop_apart; rm -f "$log"; exit 130' INT TERM
trap 'rm -f "$log"' EXIT
ignored=()
for part in "$@"; do ignored+=("--ignore=$part"); done
# shellcheck disable=SC2086 # the pytest arguments are words on purpose
.venv/bin/python -m pytest tests "${ignored[@]}" $main_args
main=$?
wait "$apart"
rest=$?
cat "$log"
[ "$main" -eq 0 ] && [ "$rest" -eq 0 ]
