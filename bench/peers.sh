#!/usr/bin/env bash
# Hornet side by side with the peer load generators (wrk, hey, oha, Goose, Locust), using the
# team's shared harness ../shared/bench/peers.sh (read its header). Prints the harness's tables.
#
#   bench/peers.sh                       # throughput, 50 users, generator pinned to one core
#   bench/peers.sh many-users            # memory per user at 2000 users with 1 s think time
#   bench/peers.sh all --only wrk,ours   # any peers.sh arguments pass through
#
# Builds the release binary first. Peers that are not installed are skipped
# (../shared/bench/peers-setup.sh installs them). Loopback only; every run is time-bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/peers.sh}
[ -x "$HARNESS" ] || [ -f "$HARNESS" ] || { echo "bench/peers.sh: harness not found at $HARNESS" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --locked --bin hornet)
HORNET_BIN="$ROOT/target/release/hornet" exec bash "$HARNESS" "$@"
