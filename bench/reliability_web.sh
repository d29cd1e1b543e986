#!/usr/bin/env bash
# The UI server under hostile clients, on loopback, with figures (issue 10 "Hardening"):
#   1. wrong-token attempts per second (bearer, then the login form): served (401) vs refused (429),
#      and authorized bearer requests per second (must not be braked);
#   2. RSS before / during / after 2 000 slowloris connections (half a header each, spread over
#      40 loopback source IPs so both the per-IP and the global cap show);
#   3. time to 413 for a declared Content-Length of 100 MiB with no body;
#   4. time from SIGINT and from SIGTERM to exit with a half-sent request open.
#
#   bench/reliability_web.sh                 # builds and uses the release binary
#   HORNET_BIN=target/debug/hornet bench/reliability_web.sh   # any build
#
# Loopback only (127.0.0.x); every step has a time bound; the server is stopped on exit.
# Needs python3 (client side) and Linux /proc (RSS).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${HORNET_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin hornet)
    HORNET_BIN="$ROOT/target/release/hornet"
fi
command -v python3 >/dev/null || { echo "reliability_web.sh: python3 is needed" >&2; exit 2; }
ulimit -n 8192 2>/dev/null || true

WORK=$(mktemp -d)
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
TOKEN=bench-secret-token

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
    PORT=$(free_port)
    mkdir -p "$WORK/plans"
    "$HORNET_BIN" serve --bind "127.0.0.1:$PORT" --token "$TOKEN" --no-demo-target \
        --db "$WORK/h-$PORT.db" --plans "$WORK/plans" 2>"$WORK/server-$PORT.log" &
    PID=$!
    for _ in $(seq 1 100); do
        if python3 - "$PORT" <<'EOF' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
EOF
        sleep 0.1
    done
    echo "server did not come up; log:" >&2; cat "$WORK/server-$PORT.log" >&2; exit 1
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

echo "binary: $HORNET_BIN"
start_server
echo "server pid $PID on 127.0.0.1:$PORT"
echo

echo "== 1. token attempts (4 threads, 3 s each, keep-alive; one source IP per phase) =="
python3 - "$PORT" "$TOKEN" <<'EOF'
import http.client, sys, threading, time, urllib.parse
port, token = int(sys.argv[1]), sys.argv[2]

def phase(name, src_ip, make_request, seconds=3.0, threads=4):
    counts, lock = {}, threading.Lock()
    stop = time.monotonic() + seconds
    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(src_ip, 0))
        local = {}
        while time.monotonic() < stop:
            method, path, body, headers = make_request()
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse(); r.read()
                local[r.status] = local.get(r.status, 0) + 1
            except Exception:
                # The server may close a connection after refusing a request whose body it
                # did not read; count it and reconnect.
                local["closed"] = local.get("closed", 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(src_ip, 0))
        with lock:
            for k, v in local.items(): counts[k] = counts.get(k, 0) + v
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    [t.start() for t in ts]; [t.join() for t in ts]
    total = sum(counts.values())
    print(f"{name:<34} {total/seconds:8.0f} req/s  " +
          "  ".join(f"{k}: {v} ({v/seconds:.0f}/s)" for k, v in sorted(counts.items(), key=str)))

phase("authorized bearer (200 expected)", "127.0.0.2",
      lambda: ("GET", "/api/runs", None, {"Authorization": f"Bearer {token}"}))
phase("wrong bearer (401 served, 429 refused)", "127.0.0.3",
      lambda: ("GET", "/api/runs", None, {"Authorization": "Bearer wrong"}))
form = urllib.parse.urlencode({"token": "wrong"})
phase("wrong login form (401 / 429)", "127.0.0.4",
      lambda: ("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"}))
phase("authorized bearer, other IP, after", "127.0.0.5",
      lambda: ("GET", "/api/runs", None, {"Authorization": f"Bearer {token}"}))
EOF
echo "warnings logged by the server: $(grep -c 'WARN' "$WORK/server-$PORT.log" || true)"
echo

echo "== 2. 2 000 slowloris connections (half a header each, 50 from each of 40 source IPs) =="
BEFORE=$(rss_kib)
python3 - "$PORT" "$PID" <<'EOF'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])
socks = []
for i in range(2000):
    src = f"127.0.1.{i % 40 + 1}"
    s = socket.socket(); s.settimeout(2)
    try:
        s.bind((src, 0)); s.connect(("127.0.0.1", port))
        s.send(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    except OSError:
        s.close()
def still_open():
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1, socket.MSG_PEEK): n += 1
        except (BlockingIOError, InterruptedError): n += 1
        except OSError: pass
    return n
time.sleep(2)
print(f"connected {len(socks)}; held open by the server after 2 s: {still_open()}; RSS {rss()} KiB")
t0 = time.monotonic()
while time.monotonic() - t0 < 15 and still_open() > 0:
    time.sleep(0.5)
print(f"all closed by the server after {time.monotonic() - t0 + 2:.1f} s (header timeout 10 s)"
      if still_open() == 0 else f"still open after 17 s: {still_open()}")
print(f"RSS with the sockets closed: {rss()} KiB")
for s in socks: s.close()
EOF
echo "RSS before: $BEFORE KiB; a few seconds after: $(sleep 2; rss_kib) KiB"
echo

echo "== 3. Content-Length: 104857600 with no body =="
python3 - "$PORT" "$TOKEN" <<'EOF'
import socket, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
t0 = time.monotonic()
s.sendall(f"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
          "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n".encode())
try:
    first = s.recv(64).split(b"\r\n")[0].decode()
    print(f"answer: {first!r} after {1000 * (time.monotonic() - t0):.1f} ms")
except socket.timeout:
    print("no answer within 10 s")
EOF
echo

echo "== 4. shutdown with a half-sent request open =="
for SIG in INT TERM; do
    # Connect, send half a request, keep the socket open while the signal is delivered.
    python3 - "$PORT" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /api/runs HTTP/1.1\r\nHost: 127")
time.sleep(15)
EOF
    HOLDER=$!
    sleep 0.5
    T0=$(date +%s.%N)
    kill -"$SIG" "$PID"
    for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    T1=$(date +%s.%N)
    if kill -0 "$PID" 2>/dev/null; then
        echo "SIG$SIG: still running after 15 s"; kill -KILL "$PID"
    else
        wait "$PID" && RC=0 || RC=$?
        echo "SIG$SIG: exited (status $RC) $(python3 -c "print(f'{$T1 - $T0:.2f}')") s after the signal"
    fi
    kill "$HOLDER" 2>/dev/null || true; wait "$HOLDER" 2>/dev/null || true
    if [ "$SIG" = INT ]; then start_server; fi
done
