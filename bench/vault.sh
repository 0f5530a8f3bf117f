#!/usr/bin/env bash
# How fast the vault answers getTokens (`GET /v1/connections/{id}/tokens`: a row read,
# two AEAD opens, an audit event written) and how long a refresh takes end to end, on
# the embedded database: a fresh `keyward serve` (release build) with a provider
# configured that is the local oidc-provider of the tests
# (crates/keyward-server/tests/oauth_provider, `npm ci` there first), one connection made
# through the whole flow, then wrk. See BENCHMARKS.md.
#
#   bench/vault.sh [--duration SECONDS] [--connections N]
#
# Loopback only; everything lives in a temporary directory removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=5
CONNS=4
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

need_package wrk wrk
need_package curl curl
PROVIDER_DIR=crates/keyward-server/tests/oauth_provider
[ -d "$PROVIDER_DIR/node_modules" ] || (cd "$PROVIDER_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p keyward
BIN="$TARGET/release/keyward"

WORK=$(mktemp -d)
chmod 700 "$WORK"
mkfifo "$WORK/provider-in"
node "$PROVIDER_DIR/server.mjs" <"$WORK/provider-in" >"$WORK/provider-out" 2>"$WORK/provider-err" &
PROVIDER=$!
exec 3>"$WORK/provider-in"
PID=""
trap 'exec 3>&-; kill $PROVIDER ${PID:+$PID} 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q port "$WORK/provider-out" 2>/dev/null && break; sleep 0.1; done
json() { sed "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }
INFO=$(head -1 "$WORK/provider-out")
CONTROL=$(echo "$INFO" | json control_url)
SECRET=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
PORT=$((20000 + RANDOM % 20000))
BASE="http://127.0.0.1:$PORT"
CALLBACK="http://127.0.0.1:9/callback"
cat >"$WORK/keyward.yaml" <<YAML
integrations:
  acme:
    credentials: {client_id: bench, client_secret: "$SECRET"}
    oauth:
      authorize_url: $(echo "$INFO" | json authorize_url)
      token_url: $(echo "$INFO" | json token_url)
      revoke_url: $(echo "$INFO" | json revoke_url)
      scopes: {read: read}
      default_scopes: [read]
YAML
curl -sf -H 'Content-Type: application/json' -d "{\"client_id\":\"bench\",\"client_secret\":\"$SECRET\",\"redirect_uris\":[\"$CALLBACK\"],\"token_endpoint_auth_method\":\"client_secret_basic\"}" "$CONTROL/clients" >/dev/null
"$BIN" serve --config "$WORK/keyward.yaml" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q "listening" "$WORK/out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(grep -o 'kw_pat_[A-Za-z0-9]*' "$WORK/out" | head -1)
H="Authorization: Bearer $TOKEN"

# The whole flow once: authorize, the person at the provider (redirects followed by
# hand, with its cookies), the exchange.
STARTED=$(curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"connection_id\":\"bench\",\"redirect_uri\":\"$CALLBACK\"}" "$BASE/v1/integrations/acme/authorize")
URL=$(echo "$STARTED" | json url)
STATE=$(echo "$STARTED" | json state)
for _ in $(seq 10); do
  NEXT=$(curl -s -o /dev/null -c "$WORK/jar" -b "$WORK/jar" -w '%{redirect_url}' "$URL")
  case "$NEXT" in "$CALLBACK"*) URL=$NEXT; break ;; "") echo "the provider stopped redirecting" >&2; exit 1 ;; esac
  URL=$NEXT
done
CODE=$(echo "$URL" | sed 's/.*[?&]code=\([^&]*\).*/\1/')
curl -sf -H "$H" -H 'Content-Type: application/json' \
  -d "{\"code\":\"$CODE\",\"state\":\"$STATE\",\"redirect_uri\":\"$CALLBACK\"}" "$BASE/v1/integrations/acme/exchange" >/dev/null

cat >"$WORK/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
echo "getTokens, SQLite, wrk -t1 -c$CONNS for ${DURATION}s"
out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/auth.lua" "$BASE/v1/connections/bench/tokens")
echo "$out" | awk '$1 == "50%" || $1 == "99%" {print "  " $1, $2} /Requests\/sec/ {print "  " $0} /Non-2xx/ {print "  " $0}'
echo "status (GET /v1/connections/bench), same load"
out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/auth.lua" "$BASE/v1/connections/bench")
echo "$out" | awk '$1 == "50%" || $1 == "99%" {print "  " $1, $2} /Requests\/sec/ {print "  " $0} /Non-2xx/ {print "  " $0}'
echo "forced refresh (POST /v1/connections/bench/refresh), 20 in a row"
start=$(date +%s%N)
for _ in $(seq 20); do
  curl -sf -o /dev/null -X POST -H "$H" "$BASE/v1/connections/bench/refresh"
done
echo "  $(( ($(date +%s%N) - start) / 20000000 )) ms each (Keyward + oidc-provider's token endpoint, loopback)"
