#!/usr/bin/env bash
# Issue 10 ("Hardening") from outside, with figures: each finding of the probe is reproduced and
# what Hornet does now is printed.
#   1. SIGTERM on `hornet run` with every output: exit code, seconds to exit, each file's size,
#      fields on the JTL's and the history CSV's last line;
#   2. a second SIGTERM: exit code, state, cancelled requests, files whole;
#   3. SIGTERM on `hornet serve` with a live run: exit code, the run's stored state and end time;
#   4. kill -9 during `hornet run --jtl --csv-full-history`: fields on each file's last line,
#      which end-of-run files exist (none should);
#   5. requests in flight at the end (stop timeout 0): target's count vs samples + cancelled;
#   6. a full disk (2 MiB tmpfs, needs root): run time vs -t, "database is locked" count,
#      warnings, the stored state, and whether the next run works once space is back;
#   7. 2 000 users on one core (taskset): the generator-saturation warning and its timing;
#   then bench/reliability_web.sh (server: tokens, slowloris, 413, shutdown) and
#   bench/reliability_plan.sh (plan bounds, body and feeder memory) when present.
#
#   bench/reliability.sh                       # builds and uses the release binary
#   HORNET_BIN=target/debug/hornet bench/reliability.sh
#   ONLY=1,4 bench/reliability.sh              # some sections only
#
# Loopback only; every step is bounded in time and stops by itself.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${HORNET_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin hornet)
    HORNET_BIN="$ROOT/target/release/hornet"
fi
HORNET_BIN=$(realpath "$HORNET_BIN")
command -v python3 >/dev/null || { echo "reliability.sh: python3 is needed" >&2; exit 2; }
ONLY=${ONLY:-1,2,3,4,5,6,7,web,plan}
want() { [[ ",$ONLY," == *",$1,"* ]]; }

WORK=$(mktemp -d)
PIDS=()
MOUNTED=""
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$MOUNTED" ]; then umount "$MOUNTED" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
fields_last_line() { # FILE -> number of CSV fields on its last line, and whether it ends with \n
    python3 - "$1" <<'EOF'
import csv, io, sys
data = open(sys.argv[1], newline="").read()
rows = list(csv.reader(io.StringIO(data)))
print(f"{len(rows[-1]) if rows else 0} fields on the last of {len(rows)} lines, "
      f"{'ends with a line end' if data.endswith(chr(10)) else 'ENDS MID-LINE'}")
EOF
}
sizes() { for f in "$@"; do if [ -e "$f" ]; then printf '  %-28s %8d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")"; else printf '  %-28s missing\n' "$(basename "$f")"; fi; done; }
served() { python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$TPORT/__stats'))['total'])"; }

TPORT=$(free_port)
"$HORNET_BIN" target --bind "127.0.0.1:$TPORT" --no-auth 2>"$WORK/target.log" &
PIDS+=($!); disown
TARGET=http://127.0.0.1:$TPORT
for _ in $(seq 1 50); do curl -sf "$TARGET/health" >/dev/null && break; sleep 0.1; done
cat >"$WORK/quick.toml" <<'EOF'
[[users]]
name = "Quick"
wait = "constant(5ms)"
tasks = [ { get = "/health" }, { get = "/status/500", name = "/status/[code]" } ]
EOF
cat >"$WORK/slow.toml" <<'EOF'
[[users]]
name = "Slow"
tasks = [ { get = "/delay/20000", name = "/delay/[ms]" } ]
EOF
cat >"$WORK/delay.toml" <<'EOF'
[[users]]
name = "D"
tasks = [ { get = "/delay/300", name = "/delay" } ]
EOF
cat >"$WORK/busy.toml" <<'EOF'
[[users]]
name = "Busy"
tasks = [ { get = "/health" } ]
EOF
outputs() { # DIR -> the output flags of a full run
    echo --csv "$1/out" --csv-full-history --jtl "$1/r.jtl" --json "$1/r.json" --html "$1/r.html" --junit "$1/junit.xml"
}
echo "binary: $HORNET_BIN; demo target on $TARGET"

if want 1; then
    echo; echo "== 1. SIGTERM on hornet run with every output =="
    D="$WORK/s1"; mkdir -p "$D"
    "$HORNET_BIN" run "$WORK/quick.toml" -H "$TARGET" -u 5 -r 50 -t 60s --stop-timeout 5s --no-history $(outputs "$D") >"$D/out.txt" 2>"$D/err.txt" &
    P=$!; sleep 3; T0=$(now); kill -TERM $P; set +e; wait $P; RC=$?; set -e; T1=$(now)
    echo "exit code $RC after $(secs "$T0" "$T1") s (was 143 in 27 ms, outputs lost)"
    sizes "$D/r.json" "$D/r.html" "$D/junit.xml" "$D/out_stats.csv" "$D/out_failures.csv" "$D/out_stats_history.csv" "$D/r.jtl"
    echo "  JTL: $(fields_last_line "$D/r.jtl")"
    echo "  history CSV: $(fields_last_line "$D/out_stats_history.csv")"
fi

if want 2; then
    echo; echo "== 2. a second SIGTERM aborts =="
    D="$WORK/s2"; mkdir -p "$D"
    "$HORNET_BIN" run "$WORK/slow.toml" -H "$TARGET" -u 2 -r 50 -t 60s --stop-timeout 30s --no-history $(outputs "$D") >"$D/out.txt" 2>"$D/err.txt" &
    P=$!; sleep 2; kill -TERM $P; sleep 0.3; T0=$(now); kill -TERM $P; set +e; wait $P; RC=$?; set -e; T1=$(now)
    echo "exit code $RC, $(secs "$T0" "$T1") s after the second signal"
    python3 -c "import json; s=json.load(open('$D/r.json')); print(f\"  state {s['state']}, requests {s['aggregated']['num_requests']}, cancelled in flight {s['cancelled']}\")"
    echo "  JTL: $(fields_last_line "$D/r.jtl")"
    ls "$D" | grep -c '\.part$' | sed 's/^/  .part files left: /' || true
fi

if want 3; then
    echo; echo "== 3. SIGTERM on hornet serve with a live run =="
    D="$WORK/s3"; mkdir -p "$D/plans"; PORT=$(free_port)
    "$HORNET_BIN" serve --bind "127.0.0.1:$PORT" --no-demo-target --db "$D/h.db" --plans "$D/plans" 2>"$D/err.txt" &
    P=$!
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
    ID=$(curl -sf -H 'content-type: application/json' -d "{\"plan\":\"demo\",\"host\":\"$TARGET\",\"users\":5,\"spawn_rate\":10}" "http://127.0.0.1:$PORT/api/runs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    sleep 3; T0=$(now); kill -TERM $P; set +e; wait $P; RC=$?; set -e; T1=$(now)
    echo "exit code $RC after $(secs "$T0" "$T1") s (was 143 in 32 ms with the run left 'running')"
    python3 -c "
import sqlite3; r=sqlite3.connect('$D/h.db').execute(\"select state, ended_at_ms is not null, json_extract(summary_json,'\$.requests') from runs where id='$ID'\").fetchone()
print(f'  stored run: state {r[0]}, end time set: {bool(r[1])}, requests {r[2]}')"
fi

if want 4; then
    echo; echo "== 4. kill -9 during hornet run --jtl --csv-full-history =="
    D="$WORK/s4"; mkdir -p "$D"
    "$HORNET_BIN" run "$WORK/quick.toml" -H "$TARGET" -u 20 -r 100 -t 60s --no-history $(outputs "$D") >/dev/null 2>&1 &
    P=$!; sleep 3; kill -KILL $P; wait $P 2>/dev/null || true
    echo "  JTL: $(fields_last_line "$D/r.jtl") (a whole line has 17)"
    echo "  history CSV: $(fields_last_line "$D/out_stats_history.csv") (a whole line has 24)"
    echo "  end-of-run files present: $(ls "$D" | grep -Ev 'r.jtl|out_stats_history.csv' | tr '\n' ' ')(none expected; --html was a 0-byte file)"
fi

if want 5; then
    echo; echo "== 5. requests in flight at the end (stop timeout 0) =="
    BEFORE=$(served)
    "$HORNET_BIN" run "$WORK/delay.toml" -H "$TARGET" -u 20 -r 100 -t 3s --stop-timeout 0s --no-history --json "$WORK/s5.json" >/dev/null 2>&1
    AFTER=$(served)
    python3 -c "
import json; s=json.load(open('$WORK/s5.json')); n=s['aggregated']['num_requests']; c=s['cancelled']
print(f'  target served {$AFTER - $BEFORE}; Hornet: {n} samples + {c} cancelled at stop = {n + c}')"
fi

if want 6; then
    echo; echo "== 6. disk full: history and outputs on a 2 MiB tmpfs =="
    D="$WORK/s6"; mkdir -p "$D"
    if mount -t tmpfs -o size=2m tmpfs "$D" 2>/dev/null; then
        MOUNTED="$D"
        dd if=/dev/zero of="$D/filler" bs=1k count=1850 status=none
        T0=$(now)
        set +e
        "$HORNET_BIN" run "$WORK/quick.toml" -H "$TARGET" -u 20 -r 100 -t 15s --db "$D/h.db" $(outputs "$D") >/dev/null 2>"$WORK/s6.err"
        RC=$?; set -e; T1=$(now)
        echo "  a 15 s run took $(secs "$T0" "$T1") s (was 89 s for 30 s), exit code $RC"
        echo "  'database is locked': $(grep -c 'database is locked' "$WORK/s6.err" || true) times (was 12)"
        grep -E '^warning: history|^error: writing' "$WORK/s6.err" | sort | uniq -c | sed 's/^/  /'
        echo "  JTL: $(fields_last_line "$D/r.jtl")"
        rm -f "$D/filler"
        set +e
        "$HORNET_BIN" run "$WORK/quick.toml" -H "$TARGET" -u 5 -r 50 -t 3s --db "$D/h.db" >/dev/null 2>"$WORK/s6b.err"
        RC=$?; set -e
        echo "  space back: next run exit code $RC"
        python3 -c "
import sqlite3; print('  stored runs:', sqlite3.connect('$D/h.db').execute('select group_concat(state, \", \") from (select state from runs order by id)').fetchone()[0])"
        umount "$D"; MOUNTED=""
    else
        echo "  skipped: mounting a tmpfs needs root"
    fi
fi

if want 7; then
    echo; echo "== 7. 2 000 users on one core: generator saturation =="
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        set +e
        taskset -c 1 "$HORNET_BIN" run "$WORK/busy.toml" -H "$TARGET" -u 2000 -r 1000 -t 12s --no-history --json "$WORK/s7.json" >/dev/null 2>"$WORK/s7.err"
        set -e
        grep '^warning: generator' "$WORK/s7.err" | sort -u | sed 's/^/  /' || echo "  no saturation warning"
        python3 -c "
import json; s=json.load(open('$WORK/s7.json')); a=s['aggregated']
print(f\"  {a['num_requests']} requests, p50 {a['median_ms']:.1f} ms, p99 {a['percentiles']['p99']:.1f} ms\")"
    else
        echo "  skipped: needs taskset and 2 cores"
    fi
fi

kill -KILL "${PIDS[@]}" 2>/dev/null || true
PIDS=()
for part in web plan; do
    if want "$part" && [ -x "$ROOT/bench/reliability_$part.sh" ]; then
        echo; echo "== bench/reliability_$part.sh =="
        HORNET_BIN="$HORNET_BIN" "$ROOT/bench/reliability_$part.sh" || echo "(bench/reliability_$part.sh exited $?)"
    fi
done
