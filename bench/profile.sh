#!/usr/bin/env bash
# Keyward instruction profile: the server's instructions per request for the trivial route,
# the floor and verify, counted by valgrind's callgrind. Counts repeat to about 2% for
# one binary, whatever else the machine is doing: use this where wall-clock throughput is
# too noisy to compare two builds (a busy or virtualised machine). See BENCHMARKS.md.
#
#   bench/profile.sh [--keys N] [--requests N] [--keep DIR]
#
# Same release binary, keys and requests as bench/run.sh (1000 keys stored unless --keys
# says otherwise, 1000 of them verified in rotation; permission check, rate limit and
# usage counting on). One keep-alive connection sends N requests (default
# 3000) per phase; the counters are zeroed after a warm-up and dumped after each phase.
# Prints instructions per request for each route, the ratios, and the heaviest Keyward
# functions of a verify (inclusive). --keep DIR keeps the callgrind files for
# callgrind_annotate or kcachegrind.
#
# Two things differ from a real run, both printed with the figures:
# - valgrind's CPU has no SHA extensions, so SHA-256 runs in software (~3 500
#   instructions per hash instead of a few hundred cycles with SHA-NI);
# - requests arrive slowly, so the write-behind flush (a SQLite write every second or
#   two) is shared by fewer requests than under load.
#
# Environment: CARGO_TARGET_DIR (default target/). Loopback only.
set -euo pipefail

REQUESTS=3000
KEYS=1000
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) KEYS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}

. bench/lib.sh
need_package callgrind_control valgrind

echo "== building release binary" >&2
CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p keyward
BIN=$TARGET/release/keyward

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyward-profile.XXXXXX")
chmod 700 "$TMP"
VG_PID=""
cleanup() {
  if [ -n "$VG_PID" ] && kill -0 "$VG_PID" 2>/dev/null; then
    kill -KILL "$VG_PID" 2>/dev/null || true
    wait "$VG_PID" 2>/dev/null || true
  fi
  if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP"
    cp "$TMP"/callgrind.out* "$KEEP"/ 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

TOKEN=$(KEYWARD_LOG=warn "$BIN" dev seed-keys --count "$KEYS" --write 1000 --out "$TMP/keys.txt" --data-dir "$TMP/data")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== starting the server under callgrind" >&2
# Logging as shipped (info: one span per request), as in bench/run.sh.
env -u KEYWARD_LOG valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
  "$BIN" serve --bench-floor --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
  >"$TMP/server.log" 2>&1 &
VG_PID=$!
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/livez" 2>/dev/null && break
  kill -0 "$VG_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
  sleep 0.1
done

echo "== $REQUESTS requests per phase on one connection" >&2
python3 - "$PORT" "$TOKEN" "$TMP/keys.txt" "$REQUESTS" "$VG_PID" <<'EOF'
import http.client, subprocess, sys, time
port, token, keys_file, n, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
keys = [k.strip() for k in open(keys_file) if k.strip()][:1000]
conn = http.client.HTTPConnection("127.0.0.1", int(port))
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
bodies = ['{"key":"%s","permission":"keys:read"}' % k for k in keys]

def send(phase, i):
    if phase == "trivial":
        conn.request("GET", "/livez")
    else:
        path = "/__bench/floor" if phase == "floor" else "/v1/keys/verify"
        conn.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or (phase == "verify" and b'"code":"VALID"' not in body):
        sys.exit("unexpected answer in phase %s: %s %r" % (phase, r.status, body[:200]))

phases = ["trivial", "floor", "verify"]
for p in phases:  # warm-up: every key cached, every code path run once
    for i in range(len(bodies) if p == "verify" else 200):
        send(p, i)
time.sleep(3)  # let the warm-up's write-behind flush finish before counting
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
for p in phases:
    for i in range(n):
        send(p, i)
    subprocess.run(["callgrind_control", "-d", p, pid], check=True, capture_output=True)
EOF

kill -TERM "$VG_PID"
wait "$VG_PID" 2>/dev/null || true
VG_PID=""

per_request() { # FILE -> instructions per request
  awk -v n="$REQUESTS" '/^summary:|^totals:/ {printf "%.0f", $2 / n; exit}' "$1"
}
TRIVIAL=$(per_request "$TMP/callgrind.out.1")
FLOOR=$(per_request "$TMP/callgrind.out.2")
VERIFY=$(per_request "$TMP/callgrind.out.3")

inclusive() { # FILE PATTERN -> instructions per request of the heaviest matching function
  callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$1" 2>/dev/null |
    awk -v n="$REQUESTS" -v re="$2" '$0 ~ re && !done {gsub(/,/, "", $1); printf "%.0f", $1 / n; done = 1}'
}
SHA=$(inclusive "$TMP/callgrind.out.3" 'keyward_core::key::KeyHash::of')
FLUSH=$(inclusive "$TMP/callgrind.out.3" 'sqlx_sqlite::connection::worker::ConnectionWorker::establish')

echo "== $KEYS keys stored, 1000 verified in rotation"
echo "== machine: $(nproc) CPUs, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'); $(valgrind --version)"
echo "== heaviest Keyward functions of a verify, inclusive, instructions per request:"
callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$TMP/callgrind.out.3" 2>/dev/null |
  grep -E '^ *[0-9,]+ .*keyward_(server|core|store)::' |
  sed -E 's/ \[[^]]*\]$//; s#^( *[0-9,]+) \([^)]*\) +[^:]*:#\1 #' |
  awk -v n="$REQUESTS" '{v = $1; gsub(/,/, "", v); $1 = ""; if (!seen[$0]++ && shown++ < 15) printf "%9.0f %s\n", v / n, substr($0, 2, 150)}'
printf '%-8s %8s instructions/request\n' trivial "$TRIVIAL" floor "$FLOOR" verify "$VERIFY"
echo "   of verify's: SHA-256 in software under valgrind ${SHA:-0} (two hashes), the write-behind flush ${FLUSH:-0}"
# As throughput ratios (the fewer instructions, the more requests): user space only; the
# kernel's share per request (TCP on loopback) is the same for all three and not counted.
echo "== user-space instructions as throughput ratios (kernel time not counted):"
awk -v f="$FLOOR" -v t="$TRIVIAL" 'BEGIN {printf "floor/trivial: %.2f\n", t / f}'
awk -v v="$VERIFY" -v f="$FLOOR" 'BEGIN {printf "verify/floor: %.2f\n", f / v}'
awk -v v="$VERIFY" -v t="$TRIVIAL" 'BEGIN {printf "verify/trivial: %.2f\n", t / v}'
