#!/usr/bin/env bash
# Scale-out figures (issue 12), printed, never asserted:
#   1. one process vs a coordinator + 2 local agents, same 50 users back to back against the
#      team's nginx (pinned to CPU 0; every generator process pinned to CPU 1): requests, RPS
#      and requests per generator CPU-second (coordinator and agents together);
#   2. the coordinator's own CPU while it merges 8 local agents' seconds for a plan of 100
#      names (every generator process on CPU 1, the coordinator measured from /proc).
# Loopback only, bounded in time. HORNET_BIN=target/debug/hornet skips the release build;
# SECS (default 10) sets each run's length.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
if [ -z "${HORNET_BIN:-}" ]; then
  cargo build --release --locked --bin hornet >&2
  HORNET_BIN=target/release/hornet
fi
SHARED=../shared/bench
NGINX_PREFIX=/tmp/agents-bench-nginx
HOST=http://127.0.0.1:18080
WORK=$(mktemp -d)
NGINX=
trap '[ -n "$NGINX" ] && kill $NGINX 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p $NGINX_PREFIX/logs
if ! curl -sf $HOST/ >/dev/null; then
  # The team's config keeps nginx in the foreground (daemon off).
  taskset -c 0 nginx -p $NGINX_PREFIX -c "$(realpath $SHARED/nginx-peers.conf)" &
  NGINX=$!
fi
for _ in $(seq 50); do curl -sf $HOST/ >/dev/null && break; sleep 0.1; done
curl -sf $HOST/ >/dev/null || { echo "agents.sh: nginx did not come up on $HOST" >&2; exit 1; }

cat > "$WORK/bare.toml" <<'EOF'
name = "bare"
host = "http://127.0.0.1:18080"
[[users]]
name = "U"
tasks = [ { get = "/", check.status = 200 } ]
EOF
{
  echo 'name = "hundred"'
  echo 'host = "http://127.0.0.1:18080"'
  echo '[[users]]'
  echo 'name = "U"'
  echo 'wait = "constant(10ms)"'
  echo 'tasks = ['
  for i in $(seq 1 100); do echo "  { get = \"/?n=$i\", name = \"/n/$i\" },"; done
  echo ']'
} > "$WORK/hundred.toml"

# Runs `hornet run ARGS` on CPU 1; prints requests, seconds, RPS and CPU-seconds of the whole
# process tree (the coordinator reaps its local agents, so their CPU is in its rusage).
measure() {
  local label=$1; shift
  /usr/bin/time -f '%U %S' -o "$WORK/time" taskset -c 1 "$HORNET_BIN" run "$@" \
    --no-history --json "$WORK/out.json" >/dev/null 2>"$WORK/err" || {
      cat "$WORK/err" >&2; return 1; }
  python3 - "$label" "$WORK/out.json" "$WORK/time" <<'PY'
import json, sys
label, out, t = sys.argv[1:]
s = json.load(open(out))
user, sys_ = map(float, open(t).read().split()[-2:])
cpu = user + sys_
n = s["aggregated"]["num_requests"]
print(f"{label:<34} {n:>9} req {s['elapsed_s']:>6.1f} s {n / s['elapsed_s']:>9.0f} req/s "
      f"{cpu:>6.2f} CPU-s {n / cpu:>9.0f} req/CPU-s  p99 {s['aggregated']['percentiles']['p99']} ms")
PY
}

echo "== 1. one process vs coordinator + 2 local agents (50 users, no wait; generators on CPU 1)"
measure "one process" "$WORK/bare.toml" -u 50 -r 1000 -t "${SECS}s"
measure "coordinator + 2 local agents" "$WORK/bare.toml" -u 50 -r 1000 -t "${SECS}s" --local-agents 2

echo "== 2. coordinator CPU: 8 local agents x 100 names (16 users, 10 ms wait; all on CPU 1)"
taskset -c 1 "$HORNET_BIN" run "$WORK/hundred.toml" -u 16 -r 100 -t "${SECS}s" --local-agents 8 \
  --no-history --json "$WORK/out8.json" >/dev/null 2>"$WORK/err8" &
COORD=$!
ticks() { awk '{print $14 + $15}' "/proc/$COORD/stat" 2>/dev/null || true; }
first=$(ticks); start=$(date +%s.%N); last=$first; end=$start
while kill -0 $COORD 2>/dev/null; do
  t=$(ticks); [ -n "$t" ] && { last=$t; end=$(date +%s.%N); }
  sleep 0.2
done
wait $COORD || { cat "$WORK/err8" >&2; exit 1; }
python3 - "$first" "$last" "$start" "$end" "$WORK/out8.json" <<'PY'
import json, sys
first, last, start, end = map(float, sys.argv[1:5])
s = json.load(open(sys.argv[5]))
cpu = (last - first) / 100.0
wall = end - start
names = len(s["requests"])
print(f"coordinator: {cpu:.2f} CPU-s over {wall:.1f} s wall = {100 * cpu / wall:.1f}% of a core, "
      f"merging {len(s['agents'])} agents x {names} names, {s['aggregated']['num_requests']} requests")
PY
