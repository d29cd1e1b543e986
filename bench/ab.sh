#!/usr/bin/env bash
# Two hornet binaries in turn, N times, against the team's nginx (../shared/bench/nginx-peers.conf,
# started here if not running; nginx on CPU 0, hornet on CPU 1): the peers plan's 50 users with
# no think for D seconds each, and per run the requests per generator CPU-second and the user /
# system CPU microseconds per request (CPU from /usr/bin/time). Alternating runs are what make a
# before/after comparison readable on a shared machine: read the pairs, not single figures.
#
#   bench/ab.sh /tmp/hornet-before target/release/hornet      # N=3, D=6, USERS=50
#   N=5 D=8 USERS=200 bench/ab.sh A B
#   N=3 D=12 USERS=2000 WAIT=1 bench/ab.sh A B   # many idle users: read user_us/req + sys_us/req
#
# Loopback only; each run is bounded by its own -t.
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,11p "$0"; exit 2; }
N=${N:-3}; D=${D:-6}; USERS=${USERS:-50}; WAIT=${WAIT:-0}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
mkdir -p /tmp/peers-nginx
if ! curl -s -o /dev/null http://127.0.0.1:18080/; then
  taskset -c 0 nginx -p /tmp/peers-nginx -c "$SHARED/nginx-peers.conf" </dev/null >/dev/null 2>&1
  sleep 1
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
sed -e "s|^wait = .*|wait = \"constant(${WAIT}s)\"|" "$SHARED/peers-plan.toml" >"$OUT/plan.toml"
for _ in $(seq "$N"); do
  for bin in "$1" "$2"; do
    /usr/bin/time -f "cpu_s=%U+%S rss_kb=%M" -o "$OUT/time" taskset -c 1 "$bin" run \
      "$OUT/plan.toml" -H http://127.0.0.1:18080 -u "$USERS" -r 1000 -t "${D}s" \
      --no-history >"$OUT/out" 2>&1 || true
    python3 - "$bin" "$OUT" <<'PY'
import re, sys
bin_, out = sys.argv[1], sys.argv[2]
t = open(f"{out}/time").read() + open(f"{out}/out").read()
m = re.search(r"cpu_s=([\d.]+)\+([\d.]+) rss_kb=(\d+)", t)
n = re.findall(r"Aggregated \|.*\|\s+(\d+)", t)
if not m or not n:
    print(f"{bin_}: no figures (see its output)"); sys.exit()
u, s, req = float(m.group(1)), float(m.group(2)), int(n[-1])
print(f"{bin_:28s} req={req:8d} req/cpu_s={req/(u+s)/1000:6.1f}k "
      f"user_us/req={u/req*1e6:5.2f} sys_us/req={s/req*1e6:5.2f} rss={int(m.group(3))/1024:.1f}MB")
PY
  done
done
