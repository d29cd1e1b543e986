#!/usr/bin/env bash
# Hornet's shipped gateway plans against a real MCP Gateway (IBM ContextForge,
# mcp-contextforge-gateway 1.1.0 from PyPI), all on 127.0.0.1, bounded, stopping what it started.
#
#   bench/real-gateway.sh                      # every plan below, 30 s each
#   RUN_TIME=20s USERS=20 bench/real-gateway.sh mcp_gateway rest_api
#
# What it does:
# 1. Installs the gateway into target/gateway-venv (Python >= 3.12: the first python3.12/3.13
#    found; 1.1.0 refuses 3.11). Measured on the 2-core dev machine (2026-12-02): the install
#    took 46 s (242 MB venv); a cold start of the gateway (migrations on a fresh SQLite file)
#    11 s on a quiet machine, 26-47 s while other builds ran.
# 2. Starts tests/fixtures/mcp_server.py (the official MCP Python SDK, installed with the
#    gateway) on a free port: the upstream MCP server, with the fast-time tools.
# 3. Starts the gateway on a free 127.0.0.1 port, its SQLite database and .env in a temp dir:
#    secrets made the gateway's documented way (`python -m mcpgateway.scripts.init_secrets`),
#    RATE_LIMITING_ENABLED=false, MCPGATEWAY_UI_ENABLED=true, MCPGATEWAY_ADMIN_API_ENABLED=true,
#    SSRF_ALLOW_LOCALHOST=true (the upstream server and the REST tool URL are on loopback),
#    MCPGATEWAY_WS_RELAY_ENABLED=true (websocket.toml's /ws).
# 4. Mints an admin token the documented way (`python -m mcpgateway.utils.create_jwt_token
#    --username admin@example.com --admin --secret $JWT_SECRET_KEY`).
# 5. Seeds what the plans expect: the MCP server registered as gateway `fast-time` (its tools
#    become fast-time-get-system-time, fast-time-convert-time, ...), and a virtual server
#    `fast-time-server` with those tools, resources and prompts (for /servers/[id] reads, the
#    admin journey and mcp_server.toml's /servers/<id>/mcp).
# 6. Runs each plan with `hornet run --json` (target/release/hornet, built if missing) and
#    prints requests, failures, skipped tasks, RPS, p50/p95/p99 and the threshold verdicts;
#    a failed plan's errors are printed under its line. JSON summaries stay in $OUT_DIR.
#
# Environment: USERS (every plan's users; default: per plan, below), RUN_TIME (default 30s),
# SPAWN_RATE (default 10), OUT_DIR (default target/real-gateway), PYTHON (a python >= 3.12),
# HORNET (the binary; default target/release/hornet).
# The gateway's log is $OUT_DIR/gateway.log. Exit code: 0 when every plan ran with 0 failures.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/target/gateway-venv"
GATEWAY_VERSION=1.1.0
RUN_TIME=${RUN_TIME:-30s}
SPAWN_RATE=${SPAWN_RATE:-10}
OUT_DIR=${OUT_DIR:-$ROOT/target/real-gateway}
HORNET=${HORNET:-$ROOT/target/release/hornet}
mkdir -p "$OUT_DIR"

# Users per plan (USERS overrides them all). The paced plans (rest_api 10 req/s per user,
# mcp_jsonrpc and mixed 5/s, highthroughput 2/s, websocket 20 messages/s per connection) are
# given what one gateway worker on SQLite serves here without queueing into their 30 s
# timeouts; the others get the issue's 50 users (sse_streaming 20 connections).
declare -A PLAN_USERS=(
  [mcp_gateway]=50
  [mcp_gateway_highthroughput]=20
  [rest_api]=10
  [mcp_jsonrpc]=10
  [mixed]=10
  [admin_ui]=50
  [sse_streaming]=20
  [websocket]=3
  [mcp_server]=20
)
ALL_PLANS=(mcp_gateway mcp_gateway_highthroughput rest_api mcp_jsonrpc mixed admin_ui sse_streaming websocket mcp_server)
if [ "$#" -gt 0 ]; then PLANS=("$@"); else PLANS=("${ALL_PLANS[@]}"); fi

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- 1. the gateway in its venv --------------------------------------------------------------
find_python() {
  local p
  for p in "${PYTHON:-}" python3.12 python3.13 /root/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$p"
      return 0
    fi
  done
  return 1
}
if ! "$VENV/bin/python" -c "import mcpgateway, sys; sys.exit(mcpgateway.__version__ != '$GATEWAY_VERSION')" 2>/dev/null; then
  PY=$(find_python) || { echo "real-gateway.sh: needs Python >= 3.12 (set PYTHON)" >&2; exit 2; }
  log "installing mcp-contextforge-gateway==$GATEWAY_VERSION into $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "mcp-contextforge-gateway==$GATEWAY_VERSION"
fi
if [ ! -x "$HORNET" ]; then
  log "building target/release/hornet"
  cargo build --release --quiet
fi

# --- processes started here end with the script ----------------------------------------------
WORK=$(mktemp -d /tmp/hornet-real-gateway.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 2. the upstream MCP server ---------------------------------------------------------------
"$VENV/bin/python" tests/fixtures/mcp_server.py --json > "$WORK/mcp.out" 2> "$OUT_DIR/mcp_server.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^PORT ' "$WORK/mcp.out" 2>/dev/null && break; sleep 0.1; done
MCP_PORT=$(sed -n 's/^PORT //p' "$WORK/mcp.out")
[ -n "$MCP_PORT" ] || { echo "the MCP server did not start (see $OUT_DIR/mcp_server.log)" >&2; exit 1; }
log "MCP server (tests/fixtures/mcp_server.py) on 127.0.0.1:$MCP_PORT"

# --- 3. the gateway -------------------------------------------------------------------------------
GW_PORT=$(free_port)
GW="http://127.0.0.1:$GW_PORT"
( cd "$WORK" && "$VENV/bin/python" -m mcpgateway.scripts.init_secrets --output "$WORK/.env" --force > /dev/null )
cat >> "$WORK/.env" <<EOF
HOST=127.0.0.1
PORT=$GW_PORT
DATABASE_URL=sqlite:///$WORK/mcp.db
PLATFORM_ADMIN_EMAIL=admin@example.com
MCPGATEWAY_UI_ENABLED=true
MCPGATEWAY_ADMIN_API_ENABLED=true
RATE_LIMITING_ENABLED=false
SSRF_ALLOW_LOCALHOST=true
MCPGATEWAY_WS_RELAY_ENABLED=true
LOG_LEVEL=WARNING
EOF
set -a; . "$WORK/.env"; set +a
started=$(date +%s%N)
( cd "$WORK" && exec "$VENV/bin/mcpgateway" --host 127.0.0.1 --port "$GW_PORT" ) > "$OUT_DIR/gateway.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 240); do
  curl -fs -o /dev/null "$GW/health" && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "the gateway exited (see $OUT_DIR/gateway.log)" >&2; exit 1; }
  sleep 0.5
done
curl -fs -o /dev/null "$GW/health" || { echo "the gateway did not answer /health in 120 s" >&2; exit 1; }
log "gateway $GATEWAY_VERSION on $GW (up in $((($(date +%s%N) - started) / 1000000)) ms)"

# --- 4. an admin token ------------------------------------------------------------------------
TOKEN=$(cd "$WORK" && "$VENV/bin/python" -m mcpgateway.utils.create_jwt_token \
  --username admin@example.com --exp 120 --admin --secret "$JWT_SECRET_KEY" 2>/dev/null | tail -n 1)
export MCPGATEWAY_BEARER_TOKEN="$TOKEN"

# --- 5. seed ----------------------------------------------------------------------------------
api() { # METHOD PATH [JSON]
  curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' "$GW$2" ${3:+-d "$3"}
}
api POST /gateways "{\"name\": \"fast-time\", \"url\": \"http://127.0.0.1:$MCP_PORT/mcp\", \"transport\": \"STREAMABLEHTTP\"}" > "$WORK/gateway.json"
ids() { api GET "$1" | "$VENV/bin/python" -c 'import json, sys; print(json.dumps([x["id"] for x in json.load(sys.stdin)]))'; }
SERVER_ID=$(api POST /servers "{\"server\": {\"name\": \"fast-time-server\", \"description\": \"the fast-time tools\", \"associated_tools\": $(ids /tools), \"associated_resources\": $(ids /resources), \"associated_prompts\": $(ids /prompts)}}" \
  | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
log "seeded: gateway fast-time ($(ids /tools | tr -cd ',' | wc -c | awk '{print $1 + 1}') tools), virtual server $SERVER_ID"

# --- 6. the plans -------------------------------------------------------------------------------
summarize() { # PLAN JSON EXIT_CODE
  "$VENV/bin/python" - "$@" <<'PY'
import json, sys
plan, path, code = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"{plan:<28} no summary (hornet exit {code}: {e})")
    sys.exit()
a = d["aggregated"]
p = a["percentiles"]
held = sum(t["passed"] for t in d.get("thresholds", []))
total = len(d.get("thresholds", []))
print(f"{plan:<28} {a['num_requests']:>8} {a['num_failures']:>6} {d.get('skipped', 0):>8} "
      f"{a['total_rps']:>7.1f} {p['p50']:>8.0f} {p['p95']:>8.0f} {p['p99']:>8.0f}   {held}/{total} held "
      + "; ".join(f"{t['expression']} {'ok' if t['passed'] else 'FAILED'} ({t['observed_text']})"
                  for t in d.get("thresholds", [])))
for f in d["failures"][:5]:
    print(f"    {f['occurrences']:>5} x {f['method']} {f['name']}: {f['error'][:300]}")
PY
}

gateway_errors() { grep -c '"levelname": "ERROR"' "$OUT_DIR/gateway.log" || true; }

printf '\n%-28s %8s %6s %8s %7s %8s %8s %8s   %s\n' plan requests fails skipped rps p50_ms p95_ms p99_ms thresholds
status=0
for plan in "${PLANS[@]}"; do
  users=${USERS:-${PLAN_USERS[$plan]:-20}}
  args=(run "plans/$plan.toml" -H "$GW" -u "$users" -r "$SPAWN_RATE" -t "$RUN_TIME" --no-history --json "$OUT_DIR/$plan.json")
  envs=()
  if [ "$plan" = mcp_server ]; then
    # The gateway's Streamable HTTP endpoint of the virtual server, with the admin token.
    envs=(MCP_PATH="/servers/$SERVER_ID/mcp" MCP_TOKEN="$TOKEN" MCP_TOOL=fast-time-echo)
  fi
  rm -f "$OUT_DIR/$plan.json"
  code=0
  errors_before=$(gateway_errors)
  env "${envs[@]}" "$HORNET" "${args[@]}" > "$OUT_DIR/$plan.out" 2>&1 || code=$?
  summarize "$plan" "$OUT_DIR/$plan.json" "$code"
  # What the gateway itself logged as ERROR meanwhile: a JSON-RPC -32000 that a plan allows
  # (upstream's "soft" backend error) passes in Hornet, but the gateway logs the tool failure.
  logged=$(( $(gateway_errors) - errors_before ))
  [ "$logged" = 0 ] || echo "    the gateway logged $logged ERROR lines during this plan (see $OUT_DIR/gateway.log)"
  failures=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["aggregated"]["num_failures"])' "$OUT_DIR/$plan.json" 2>/dev/null || echo 1)
  [ "$failures" = 0 ] || status=1
done
echo
log "users per plan: ${USERS:-as listed in the script}, run time $RUN_TIME, spawn rate $SPAWN_RATE; summaries in $OUT_DIR"
exit "$status"
