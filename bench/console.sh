#!/usr/bin/env bash
# How fast console pages answer on the embedded database: a fresh `keyward serve`
# (release build) with N keys, the owner signed in through the printed one-time link,
# then wrk against each page with the session cookie: one thread, 4 connections, so the
# latency is a page's own cost plus little queueing. See BENCHMARKS.md.
#
#   bench/console.sh [--keys N] [--duration SECONDS]
#
# Loopback only; everything lives in a temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

KEYS=100
DURATION=5
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) KEYS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

need_package wrk wrk
need_package curl curl
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keyward
BIN="$TARGET/release/keyward"

WORK=$(mktemp -d)
chmod 700 "$WORK"
PORT=$((20000 + RANDOM % 20000))
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q "listening" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"
TOKEN=$(grep -o 'kw_pat_[A-Za-z0-9]*' "$WORK/out" | head -1)
LINK=$(grep -o "$BASE/console/password?code=kw_pwl_[A-Za-z0-9]*" "$WORK/out")

# Room for N keys, then N keys through the API.
ORG=$(curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/v1/me" | sed 's/.*"org":{"id":"\([^"]*\)".*/\1/')
curl -sf -X PATCH -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"settings\": {\"max_keys\": $((KEYS + 10))}}" "$BASE/v1/organizations/$ORG" >/dev/null
for i in $(seq "$KEYS"); do
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\": \"bench key $i\", \"expires\": \"30d\"}" "$BASE/v1/keys" >/dev/null
done

# Set the owner's password through the link, as a browser would.
PAGE=$(curl -sf -c "$WORK/jar" -b "$WORK/jar" "$LINK")
field() { echo "$PAGE" | grep -o "name=\"$1\" value=\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
curl -sf -o /dev/null -c "$WORK/jar" -b "$WORK/jar" "$BASE/console/password" \
  --data-urlencode "_csrf=$(field _csrf)" --data-urlencode "code=$(field code)" \
  --data-urlencode "password=bench password long enough" --data-urlencode "repeat=bench password long enough"
COOKIE=$(awk '$6 == "keyward_session" {print $6 "=" $7}' "$WORK/jar")
[ -n "$COOKIE" ] || { echo "could not sign in" >&2; exit 1; }

cat >"$WORK/cookie.lua" <<LUA
wrk.headers["Cookie"] = "$COOKIE"
LUA
echo "console pages, $KEYS keys, SQLite, wrk -t1 -c4 for ${DURATION}s each"
for path in /console/keys /console/tokens /console/members /console/audit /console/sessions; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$BASE$path")
  out=$(wrk -t1 -c4 -d"${DURATION}s" --latency -s "$WORK/cookie.lua" "$BASE$path")
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  printf '%-20s status %s  p50 %-8s p99 %-8s %s req/s\n' "$path" "$status" "$p50" "$p99" "$rps"
done
