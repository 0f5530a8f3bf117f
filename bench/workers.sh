#!/usr/bin/env bash
# How fast events reach an app through a worker: a fresh `keyward serve` (release
# build, embedded SQLite), Standard Webhooks endpoints whose destination is the
# workspace's workers, N events queued while no worker runs, then one `keyward worker
# --forward-to` a local app that answers 200 at once. Measured: from the worker's start
# to the last event received by the app. One endpoint is one event
# at a time by design (in order); several endpoints go in parallel (up to
# `workers.max_in_flight`, 4). See BENCHMARKS.md.
#
#   bench/workers.sh [--events N] [--endpoints K]
#
# Loopback only; everything lives in a temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

EVENTS=1000
ENDPOINTS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --events) EVENTS=$2; shift 2 ;;
    --endpoints) ENDPOINTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

need_package curl curl
PY=${KEYWARD_TEST_PYTHON:-crates/keyward-server/tests/providers/.venv/bin/python}
[ -x "$PY" ] || { echo "no Python venv at $PY: run .ci/run once" >&2; exit 1; }
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keyward
BIN="$TARGET/release/keyward"

WORK=$(mktemp -d)
chmod 700 "$WORK"
PID=""
RECEIVER=""
WORKER=""
trap 'kill ${PID:+$PID} ${RECEIVER:+$RECEIVER} ${WORKER:+$WORKER} 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
PORT=$((20000 + RANDOM % 20000))
BASE="http://127.0.0.1:$PORT"
KEYWARD_LOG=${KEYWARD_LOG:-warn} "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q "listening" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(grep -o 'kw_pat_[A-Za-z0-9]*' "$WORK/out" | head -1)
H="Authorization: Bearer $TOKEN"
json() { sed "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }

WS=$(curl -sf -H "$H" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$BASE/v1/workspaces" | json id)
KEY=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"name\":\"bench-worker\",\"kind\":\"worker\",\"workspace\":\"$WS\"}" "$BASE/v1/keys" | json key)

# The local app: answers each POST 200 in one write (Python's http.server writes headers
# and body apart, and with the client's delayed ACK that is 40 ms an event: the app's
# cost, not Keyward's), and counts the distinct webhook-ids. The tests verify the
# signatures (crates/keyward/tests/workers/); this measures the path.
cat >"$WORK/app.py" <<'PYTHON'
import socket, sys, threading
seen = set()
lock = threading.Lock()
def serve(conn):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
            n = int(headers.get("content-length", "0"))
            while len(buf) < n:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[n:]
            if lines[0].startswith("GET /_count"):
                with lock:
                    body = str(len(seen)).encode()
            else:
                with lock:
                    seen.add(headers.get("webhook-id"))
                body = b""
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PYTHON
"$PY" "$WORK/app.py" >"$WORK/receiver-out" 2>"$WORK/receiver-err" &
RECEIVER=$!
for _ in $(seq 100); do [ -s "$WORK/receiver-out" ] && break; sleep 0.1; done
RPORT=$(head -1 "$WORK/receiver-out")

INCOMING="whsec_$(head -c 24 /dev/urandom | base64)"
URLS=()
for i in $(seq "$ENDPOINTS"); do
  CREATED=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
    -d "{\"provider\":\"standard\",\"name\":\"bench-$i\",\"workspace\":\"$WS\",\"destination\":\"workers\",\"secrets\":[\"$INCOMING\"]}" \
    "$BASE/v1/webhook-endpoints")
  URLS+=("$(echo "$CREATED" | sed 's/.*"ingress_url":"\([^"]*\)".*/\1/')")
done

echo "queue: $EVENTS events over $ENDPOINTS endpoint(s), posted while no worker runs"
"$PY" - "$INCOMING" "$EVENTS" "${URLS[@]}" <<'PYTHON'
import json, sys, time, urllib.request
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
secret, n, urls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
wh = Webhook(secret)
for i in range(n):
    body = json.dumps({"type": "bench", "n": i})
    now = datetime.now(timezone.utc)
    msg = f"msg_bench_{i}"
    req = urllib.request.Request(urls[i % len(urls)], data=body.encode(), method="POST", headers={
        "content-type": "application/json", "webhook-id": msg,
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": wh.sign(msg, now, body)})
    urllib.request.urlopen(req).read()
PYTHON
start=$(date +%s%N)
HOME="$WORK" "$BIN" worker --json --token "$KEY" --server "$BASE" --name bench --heartbeat 5 \
  --forward-to "http://127.0.0.1:$RPORT/in" 2>"$WORK/worker-err" &
WORKER=$!
while :; do
  got=$(curl -sf "http://127.0.0.1:$RPORT/_count" || echo 0)
  [ "$got" -ge "$EVENTS" ] && break
  kill -0 "$WORKER" 2>/dev/null || { echo "the worker exited:" >&2; cat "$WORK/worker-err" >&2; exit 1; }
  sleep 0.1
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  all $EVENTS forwarded by one worker and received in $ms ms from its start ($(( EVENTS * 1000 / (ms > 0 ? ms : 1) )) events/s)"
"$PY" - "$WORK/worker-err" <<'PYTHON'
import json, sys
ms = [json.loads(l).get("ms", 0) for l in open(sys.argv[1]) if '"forwarded"' in l]
ms.sort()
if ms:
    print(f"  the local POST took {ms[len(ms)//2]} ms at the median, {ms[int(len(ms)*0.99)]} ms at p99")
PYTHON
