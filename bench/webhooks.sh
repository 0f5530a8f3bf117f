#!/usr/bin/env bash
# How fast the webhook ingress takes events, on the embedded database: a fresh
# `keyward serve` (release build), a Telegram endpoint (its check is one constant-time
# comparison, so what is measured is Keyward's path: endpoint read, secrets opened, the
# event committed before the answer) and wrk. Then the deliverer's drain rate: N events
# to an enabled Standard Webhooks endpoint whose destination is the tests' receiver
# (crates/keyward-server/tests/providers/receiver.py, which verifies each delivery with
# the `standardwebhooks` library; its venv is made by .ci/run). See BENCHMARKS.md.
#
#   bench/webhooks.sh [--duration SECONDS] [--connections N] [--events N]
#
# Loopback only; everything lives in a temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=5
CONNS=4
EVENTS=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

need_package wrk wrk
need_package curl curl
PY=${KEYWARD_TEST_PYTHON:-crates/keyward-server/tests/providers/.venv/bin/python}
[ -x "$PY" ] || { echo "no Python venv at $PY: run .ci/run once, or see crates/keyward-server/tests/providers/README.md" >&2; exit 1; }
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keyward
BIN="$TARGET/release/keyward"

WORK=$(mktemp -d)
chmod 700 "$WORK"
PID=""
RECEIVER=""
trap 'kill ${PID:+$PID} ${RECEIVER:+$RECEIVER} 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
PORT=$((20000 + RANDOM % 20000))
BASE="http://127.0.0.1:$PORT"
# The drain's receiver is on loopback.
printf 'webhooks:\n  allow_private_destinations: true\n' >"$WORK/keyward.yaml"
"$BIN" serve --config "$WORK/keyward.yaml" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q "listening" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(grep -o 'kw_pat_[A-Za-z0-9]*' "$WORK/out" | head -1)
H="Authorization: Bearer $TOKEN"
json() { sed "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }
SECRET_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')

# Disabled: events are kept (as failed, to replay) and nothing is sent, so wrk measures
# the ingress alone.
HOOK=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"provider\":\"telegram\",\"name\":\"bench\",\"destination\":\"https://app.example.com/\",\"enabled\":false,\"secrets\":[\"$SECRET_TOKEN\"]}" \
  "$BASE/v1/webhook-endpoints" | sed 's/.*"ingress_url":"\([^"]*\)".*/\1/')
PATH_ONLY=${HOOK#"$BASE"}

cat >"$WORK/new.lua" <<LUA
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "$SECRET_TOKEN"
request = function()
  n = n + 1
  return wrk.format(nil, "$PATH_ONLY", nil, '{"update_id":' .. n .. ',"message":{"text":"hello"}}')
end
LUA
cat >"$WORK/same.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "$SECRET_TOKEN"
wrk.body = '{"update_id":0,"message":{"text":"hello"}}'
LUA
cat >"$WORK/forged.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "forged"
wrk.body = '{"update_id":1}'
LUA
report() { awk '$1 == "50%" || $1 == "99%" {print "  " $1, $2} /Requests\/sec/ {print "  " $0} /Non-2xx/ {print "  " $0}'; }
echo "new events (each kept before its 200), SQLite, wrk -t1 -c$CONNS for ${DURATION}s"
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/new.lua" "$BASE" | report
echo "the same event again (acknowledged as a duplicate), same load"
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/same.lua" "$HOOK" | report
echo "forged (401, the refusal noted), same load"
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/forged.lua" "$HOOK" | report

# Drain: EVENTS Standard Webhooks events to an enabled endpoint delivering to the receiver.
"$PY" crates/keyward-server/tests/providers/receiver.py --port 0 >"$WORK/receiver-out" 2>"$WORK/receiver-err" &
RECEIVER=$!
for _ in $(seq 100); do grep -q port "$WORK/receiver-out" 2>/dev/null && break; sleep 0.1; done
RPORT=$(sed 's/.*"port": *\([0-9]*\).*/\1/' "$WORK/receiver-out" | head -1)
INCOMING="whsec_$(head -c 24 /dev/urandom | base64)"
CREATED=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"provider\":\"standard\",\"name\":\"drain\",\"destination\":\"http://127.0.0.1:$RPORT/in\",\"secrets\":[\"$INCOMING\"]}" \
  "$BASE/v1/webhook-endpoints")
SIGNING=$(echo "$CREATED" | json signing_secret)
DRAIN=$(echo "$CREATED" | sed 's/.*"ingress_url":"\([^"]*\)".*/\1/')
curl -sf -H 'Content-Type: application/json' -d "{\"secrets\":[\"$SIGNING\"]}" "http://127.0.0.1:$RPORT/_secrets" >/dev/null
echo "drain: $EVENTS events posted (signed by standardwebhooks), delivered to the receiver"
"$PY" - "$INCOMING" "$EVENTS" "$DRAIN" <<'PYTHON'
import json, sys, time, urllib.request
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
secret, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wh = Webhook(secret)
start = time.monotonic()
for i in range(n):
    body = json.dumps({"type": "bench", "n": i})
    now = datetime.now(timezone.utc)
    msg = f"msg_bench_{i}"
    sig = wh.sign(msg, now, body)
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "content-type": "application/json", "webhook-id": msg,
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": sig})
    urllib.request.urlopen(req).read()
print(f"  posted in {time.monotonic() - start:.2f} s (one client, sequential)")
PYTHON
start=$(date +%s%N)
while :; do
  got=$(curl -sf "http://127.0.0.1:$RPORT/_received" | grep -o '"webhook_id"' | wc -l)
  [ "$got" -ge "$EVENTS" ] && break
  sleep 0.2
done
echo "  all $EVENTS delivered and verified $(( ($(date +%s%N) - start) / 1000000 )) ms after the last was posted"
