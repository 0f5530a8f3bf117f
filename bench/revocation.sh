#!/usr/bin/env bash
# Revocation bound on a 3-node cluster: starts 3 `keyward serve` nodes on one fresh
# PostgreSQL database (loopback ports 8101-8103), then runs the `revocation` example,
# which revokes 100 keys and records when each node first refuses each one.
# See BENCHMARKS.md ("Revocation across nodes").
#
#   bench/revocation.sh [--rounds N]
#
# Environment: KEYWARD_BENCH_PG (server URL without database, default
# postgres://postgres@127.0.0.1:5432), CARGO_TARGET_DIR (default target/).
# The database is created for the run and dropped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=100
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
PG=${KEYWARD_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB="keyward_revocation_$$"
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
chmod 700 "$WORK"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q -p keyward --bin keyward
cargo build --release -q -p keyward-server --example revocation
psql "$PG/postgres" -qc "CREATE DATABASE $DB"
URL="$PG/$DB"

"$TARGET/release/keyward" migrate --database-url "$URL" >/dev/null
TOKEN=$("$TARGET/release/keyward" bootstrap --database-url "$URL" --org bench --email bench@localhost)
psql "$URL" -qc "UPDATE organizations SET max_keys = 1000000"

NODES=()
for port in 8101 8102 8103; do
  KEYWARD_LOG=warn "$TARGET/release/keyward" serve --database-url "$URL" --listen "127.0.0.1:$port" \
    >"$WORK/node-$port.log" 2>&1 &
  PIDS+=($!)
  NODES+=("http://127.0.0.1:$port")
done
for port in 8101 8102 8103; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

KEYWARD_BENCH_TOKEN=$TOKEN "$TARGET/release/examples/revocation" \
  --nodes "$(IFS=,; echo "${NODES[*]}")" --rounds "$ROUNDS"
