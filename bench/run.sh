#!/usr/bin/env bash
# Keyward HTTP benchmark: verify vs a trivial route, same process, same load generator,
# same run; then a fixed-rate latency run. See BENCHMARKS.md.
#
#   bench/run.sh [--keys N] [--hot] [--rounds K] [--duration SECONDS] [--connections C]
#                [--rate R]
#
# --hot: after the phases, verify every one of the N stored keys once (fixed rate,
# 30 000/s offered; cache misses go at the database's pace) and report the memory.
#
# Three phases, back to back: the trivial route (GET /livez), the floor (the verify
# requests sent to POST /__bench/floor, which reads them and answers a fixed verify-sized
# answer: HTTP with verify's message sizes and no verifying), and verify itself.
#
# --rounds K: runs the three phases K times in turn (default 1) and reports each round's
# ratios and their median. On a noisy host (another tenant taking the CPU now and then)
# a burst of noise then spoils one round, not the ratio.
#
# Environment: KEYWARD_BENCH_KEYS_COUNT (N, default 1000), KEYWARD_BENCH_DURATION (10),
# KEYWARD_BENCH_CONNECTIONS (32), KEYWARD_BENCH_RATE (1000), KEYWARD_BENCH_NO_PIN=1 to
# run without taskset, CARGO_TARGET_DIR (default target/).
#
# Loopback only. Keys are generated at run time into a temporary directory (mode 0600)
# that is removed at exit. The last line of output is machine-readable:
#   verify/trivial throughput ratio: 0.93
set -euo pipefail

KEYS=${KEYWARD_BENCH_KEYS_COUNT:-1000}
DURATION=${KEYWARD_BENCH_DURATION:-10}
CONNECTIONS=${KEYWARD_BENCH_CONNECTIONS:-32}
RATE=${KEYWARD_BENCH_RATE:-1000}
HOT=0
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) KEYS=$2; shift 2 ;;
    --hot) HOT=1; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# --- load generator ------------------------------------------------------------------
. bench/lib.sh
need_package wrk wrk

# --- build -----------------------------------------------------------------------------
echo "== building release binary and the fixed-rate client" >&2
CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p keyward
CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p keyward-server --example fixed_rate
BIN=$TARGET/release/keyward
FIXED=$TARGET/release/examples/fixed_rate

# --- cores -----------------------------------------------------------------------------
NCPU=$(nproc)
if [ "${KEYWARD_BENCH_NO_PIN:-0}" != 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_PIN=(taskset -c 0)
  CLIENT_PIN=(taskset -c 1)
  PINNING="server on CPU 0, load generator on CPU 1 (taskset)"
else
  SERVER_PIN=()
  CLIENT_PIN=()
  PINNING="not pinned"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyward-bench.XXXXXX")
chmod 700 "$TMP"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- seed --------------------------------------------------------------------------------
echo "== seeding $KEYS keys" >&2
WRITE=1000
[ "$HOT" = 1 ] && WRITE=$KEYS
TOKEN=$(KEYWARD_LOG=warn "$BIN" dev seed-keys --count "$KEYS" --write "$WRITE" --out "$TMP/keys.txt" --data-dir "$TMP/data")
DB_SIZE=$(du -sh "$TMP/data" | cut -f1)

# --- start -------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
ADDR=127.0.0.1:$PORT
URL=http://$ADDR
START_NS=$(date +%s%N)
# The server logs as shipped (info, one span per request), whatever KEYWARD_LOG says here.
"${SERVER_PIN[@]}" env -u KEYWARD_LOG "$BIN" serve --bench-floor --listen "$ADDR" --data-dir "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
until curl -fsS -o /dev/null "$URL/livez" 2>/dev/null; do
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
  sleep 0.005
done
READY_MS=$(( ($(date +%s%N) - START_NS) / 1000000 ))

# The same request the load generator sends must come back VALID.
FIRST_KEY=$(head -n1 "$TMP/keys.txt")
CHECK=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"key\":\"$FIRST_KEY\",\"permission\":\"keys:read\"}" "$URL/v1/keys/verify")
case "$CHECK" in
  *'"code":"VALID"'*) ;;
  *) echo "verify sanity check failed: $CHECK" >&2; exit 1 ;;
esac

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

export KEYWARD_BENCH_KEYS=$TMP/keys.txt KEYWARD_BENCH_TOKEN=$TOKEN KEYWARD_BENCH_PERMISSION=keys:read

# run_wrk NAME DURATION ARGS... : prints one summary line, sets RPS_<NAME>
run_wrk() {
  local name=$1 duration=$2; shift 2
  local before after out rps reqs p50 p99 cpu_s us_per_req util
  before=$(cpu_ticks)
  out=$("${CLIENT_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"${duration}s" --latency "$@")
  after=$(cpu_ticks)
  echo "$out" > "$TMP/wrk-$name.txt"
  if echo "$out" | grep -q 'Non-2xx\|Socket errors'; then
    echo "$out" >&2
    echo "wrk reported errors in phase $name" >&2
    exit 1
  fi
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  cpu_s=$(awk -v a="$after" -v b="$before" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", (a - b) / t}')
  us_per_req=$(awk -v c="$cpu_s" -v n="$reqs" 'BEGIN {printf "%.2f", c * 1e6 / n}')
  util=$(awk -v c="$cpu_s" -v d="$duration" 'BEGIN {printf "%.0f", 100 * c / d}')
  printf '%-8s %10s req/s  p50 %8s  p99 %8s  server CPU %6s us/req (%s%% of a core)\n' \
    "$name" "$rps" "$p50" "$p99" "$us_per_req" "$util"
  printf -v "RPS_$name" '%s' "$rps"
  if [ "$util" -lt 90 ]; then
    WARN="${WARN}warning: the server used only ${util}% of its core during '$name'${ROUND_LABEL:-}: the load generator or other processes were the limit, so the ratio below does not measure the server"$'\n'
  fi
}
WARN=""

echo "== machine: $NCPU CPUs, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $PINNING"
echo "== load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)"
echo "== $KEYS keys stored (database $DB_SIZE), ready to serve ${READY_MS} ms after start; $CONNECTIONS connections, ${DURATION}s per phase"

# Warm-up: fills the verify cache with the 1000 rotated keys and the verifier's token.
"${CLIENT_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d2s -s bench/verify.lua "$URL" >/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : sprintf("%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
FLOOR_TRIVIAL=() VERIFY_FLOOR=() VERIFY_TRIVIAL=()
for round in $(seq 1 "$ROUNDS"); do
  if [ "$ROUNDS" -gt 1 ]; then
    echo "== round $round of $ROUNDS"
    ROUND_LABEL=" in round $round"
  fi
  run_wrk trivial "$DURATION" "$URL/livez"
  export KEYWARD_BENCH_PATH=/__bench/floor
  run_wrk floor "$DURATION" -s bench/verify.lua "$URL"
  unset KEYWARD_BENCH_PATH
  run_wrk verify "$DURATION" -s bench/verify.lua "$URL"
  FLOOR_TRIVIAL+=("$(ratio "$RPS_floor" "$RPS_trivial")")
  VERIFY_FLOOR+=("$(ratio "$RPS_verify" "$RPS_floor")")
  VERIFY_TRIVIAL+=("$(ratio "$RPS_verify" "$RPS_trivial")")
  if [ "$ROUNDS" -gt 1 ]; then
    echo "   round $round ratios: floor/trivial ${FLOOR_TRIVIAL[-1]}, verify/floor ${VERIFY_FLOOR[-1]}, verify/trivial ${VERIFY_TRIVIAL[-1]}"
  fi
done

# How often the server's CPU is taken away from a process that wants it (another tenant
# on the host, the hypervisor): a spinning loop on that CPU, 3 s, before and after the
# fixed-rate phase. A tail in milliseconds with stalls like these is the host, not the
# server (BENCHMARKS.md, runs O–Q).
stalls() {
  "${SERVER_PIN[@]}" python3 - 3 <<'EOF'
import sys, time
seconds = float(sys.argv[1])
end = time.perf_counter() + seconds
last = time.perf_counter()
gaps = []
while last < end:
    now = time.perf_counter()
    if now - last > 0.0002:
        gaps.append(now - last)
    last = now
over_1ms = sum(g > 0.001 for g in gaps)
print("%d stalls over 1 ms in %.0f s (longest %.1f ms, %.1f ms lost in all)"
      % (over_1ms, seconds, 1000 * max(gaps, default=0), 1000 * sum(gaps)))
EOF
}
echo "== CPU stalls on the server's CPU, before the fixed-rate phase: $(stalls)"
echo "== fixed rate: $RATE verifications/s for ${DURATION}s"
# The same 1000 (warm) keys as wrk; with --hot the file holds every key.
head -n 1000 "$TMP/keys.txt" > "$TMP/keys-1000.txt"
"${CLIENT_PIN[@]}" "$FIXED" --addr "$ADDR" --token "$TOKEN" --keys "$TMP/keys-1000.txt" \
  --rate "$RATE" --duration "$DURATION"

echo "== CPU stalls on the server's CPU, after the fixed-rate phase: $(stalls)"
echo "== server memory: RSS $(( $(rss_kb) / 1024 )) MiB, peak $(( $(hwm_kb) / 1024 )) MiB"
if [ "$HOT" = 1 ]; then
  SWEEP_RATE=30000
  SWEEP_S=$(( KEYS / SWEEP_RATE + 1 ))
  echo "== hot: verifying all $KEYS keys once ($SWEEP_RATE/s for ${SWEEP_S}s, 8 connections)"
  "${CLIENT_PIN[@]}" "$FIXED" --addr "$ADDR" --token "$TOKEN" --keys "$TMP/keys.txt" \
    --rate "$SWEEP_RATE" --duration "$SWEEP_S" --connections 8 | sed -n 1p
  echo "== server memory after verifying all $KEYS keys (the cache keeps at most --cache-max-keys of them): RSS $(( $(rss_kb) / 1024 )) MiB, peak $(( $(hwm_kb) / 1024 )) MiB"
fi
printf '%s' "$WARN"
FLOOR_LEN=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$URL/__bench/floor" | wc -c)
echo "== answer sizes: verify $(printf '%s' "$CHECK" | wc -c) bytes, floor $FLOOR_LEN bytes"
OF=""
[ "$ROUNDS" -gt 1 ] && OF=", median of $ROUNDS rounds"
echo "floor/trivial throughput ratio: $(median "${FLOOR_TRIVIAL[@]}") (the most any verify could reach: HTTP with verify-sized messages$OF)"
echo "verify/floor throughput ratio: $(median "${VERIFY_FLOOR[@]}") (what verifying itself costs$OF)"
echo "verify/trivial throughput ratio: $(median "${VERIFY_TRIVIAL[@]}")"
