#!/usr/bin/env bash
# Hornet on bench/realistic-plan.toml (a templated header and query, a status and a JSON check,
# a capture: GET /json) through the team's harness ../shared/bench/peers.sh, so that its figures
# sit beside the bare GET / plan's (bench/peers.sh) in the same tables. Any peers.sh arguments
# pass through; "ours" is the realistic plan, peers run as usual (PEERS_PATH=/json for all).
#
#   bench/peers-realistic.sh throughput --only wrk,ours -n 2
#   bench/peers-realistic.sh many-users --only oha,ours
#
# HORNET_BIN to skip the release build. Loopback only; every run is time-bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = "--run" ]; then
  # the harness's command for "ours": WAIT_S HOST C RATE D
  plan=$(mktemp --suffix=.toml)
  trap 'rm -f "$plan"' EXIT
  sed -e "s|^wait = .*|wait = \"constant(${2}s)\"|" -e "s|^host = .*|host = \"$3\"|" \
    "$ROOT/bench/realistic-plan.toml" >"$plan"
  "$HORNET_BIN" run "$plan" -H "$3" -u "$4" -r "$5" -t "${6}s" --no-history
  exit $?
fi
HARNESS=${HARNESS:-$ROOT/../shared/bench/peers.sh}
[ -f "$HARNESS" ] || { echo "bench/peers-realistic.sh: harness not found at $HARNESS" >&2; exit 2; }
if [ -z "${HORNET_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --locked --bin hornet)
  HORNET_BIN="$ROOT/target/release/hornet"
fi
export HORNET_BIN PEERS_PATH=/json
OURS_CMD="$ROOT/bench/peers-realistic.sh --run {WAIT_S} {HOST} {C} {RATE} {D}" exec bash "$HARNESS" "$@"
