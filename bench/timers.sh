#!/usr/bin/env bash
# How late the generator's own timers wake paced starts, and what that does to the corrected
# percentiles: one user paced at RATE/s (default 200) against the demo target's GET /health
# (sub-millisecond), for D seconds (default 10), with each binary given. Prints, per binary, the
# naive p50/p99, the corrected (from the intended start) p50/p99 and the generator lag p50/p99.
# On a quiet machine the corrected p50 should be within 0.2 ms of the naive p50.
#
#   bench/timers.sh target/release/hornet [/tmp/hornet-before ...]
#   RATE=500 D=20 bench/timers.sh target/release/hornet
#
# Loopback only; everything it starts stops with it.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,11p "$0"; exit 2; }
RATE=${RATE:-200}
D=${D:-10}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$1" target --bind "127.0.0.1:$PORT" --no-auth >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
cat > "$WORK/paced.toml" <<PLAN
name = "paced"
host = "http://127.0.0.1:$PORT"
[[users]]
name = "Paced"
wait = "throughput($RATE/s)"
tasks = [ { get = "/health", check.status = 200 } ]
PLAN
printf '%-28s %8s %8s %8s %8s %8s %8s %9s\n' binary requests p50 p99 c.p50 c.p99 lag.p50 lag.p99
for bin in "$@"; do
  "$bin" run "$WORK/paced.toml" -u 1 -r 1 -t "${D}s" --no-history --json "$WORK/out.json" >/dev/null 2>"$WORK/err" || {
    echo "$bin failed:"; cat "$WORK/err"; continue; }
  python3 - "$bin" "$WORK/out.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[2]))
a = v["aggregated"]; c = a.get("corrected") or {}
lag = v.get("lag") or {}
f = lambda x: "-" if x is None else f"{x:.3f}"
print(f"{sys.argv[1][-28:]:<28} {a['num_requests']:>8} {f(a['percentiles']['p50']):>8} {f(a['percentiles']['p99']):>8} "
      f"{f(c.get('p50')):>8} {f(c.get('p99')):>8} {f(lag.get('p50_ms')):>8} {f(lag.get('p99_ms')):>9}")
PY
done
