#!/usr/bin/env bash
# Measures the Management API's users list against the bare endpoint of the same server, on
# SQLite and PostgreSQL.
#
#   bench/users-list.sh [USERS]        (default 1000)
#
# For each engine: seed USERS users, each with a `github` identity and a stored token set (the
# token_bench seeder), mint a Management API token, start the release server, and run wrk
# (THREADS threads, CONNECTIONS connections, WARMUP s discarded then DURATION s measured) on
#   bare:  GET /api/status
#   list:  GET /api/users  (Logto's default page: 20 users with their identities)
# Reports requests/s, p50/p99 latency and non-2xx answers (must be 0), then list/bare.
#
# Environment: DURATION (10), WARMUP (2), CONNECTIONS (16), THREADS (2); SERVER_BIN, another
# build of the server to measure (a checkout from before a change, say; the seeding tool is this
# tree's).
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-1000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}

source bench/lib.sh
ensure_wrk
source scripts/lib/postgres.sh
ensure_postgres

cargo build --release -p strongroom --bin strongroom --examples --locked
BIN=${SERVER_BIN:-target/release/strongroom}
TOOL=target/release/examples/token_bench
WORK=$(mktemp -d)
SERVER_PID=
PG_DB=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2> /dev/null || true; wait "$SERVER_PID" 2> /dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" > /dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
KEK=$($BIN kek generate)
# run URL TOKEN: wrk's requests/s, p50 and p99 (ms) and non-2xx count, as one line.
run() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "Authorization: Bearer $2" "$1" > /dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $2" "$1" \
    | awk '/Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
           /Non-2xx/ { bad = $NF } END { printf "%s %s %s %d\n", rps, p50, p99, bad }'
}

bench_engine() {
  local engine=$1 url=$2
  echo "== $engine, $USERS users"
  env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL SECRET_VAULT_KEK=$KEK $TOOL seed "$url" "$USERS" "$WORK/tokens.tsv" 1 > /dev/null
  local port base token
  port=$(free_port)
  base=http://127.0.0.1:$port
  token=$(env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL $TOOL management "$url" "$base")
  env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL DATABASE_URL="$url" SECRET_VAULT_KEK=$KEK STRONGROOM_BIND=127.0.0.1:$port \
    STRONGROOM_ENDPOINT=$base STRONGROOM_DATA_DIR="$WORK/data" STRONGROOM_LOG=warn $BIN serve \
    > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/status")" = 204 ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || { cat "$WORK/server.err" >&2; return 1; }
    sleep 0.1
  done
  local listed
  listed=$(curl -s -H "Authorization: Bearer $token" "$base/api/users" \
    | python3 -c 'import json, sys; u = json.load(sys.stdin); print(len(u), sum(len(x["identities"]) for x in u))')
  echo "  GET /api/users answers ${listed% *} users with ${listed#* } identities"
  local bare list
  bare=$(run "$base/api/status" "$token")
  list=$(run "$base/api/users" "$token")
  kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
  read -r b_rps b_p50 b_p99 b_bad <<< "$bare"
  read -r l_rps l_p50 l_p99 l_bad <<< "$list"
  printf '  bare  %10.0f req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$b_rps" "$b_p50" "$b_p99" "$b_bad"
  printf '  list  %10.0f req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$l_rps" "$l_p50" "$l_p99" "$l_bad"
  python3 -c "import sys; b, l = float(sys.argv[1]), float(sys.argv[2]); print(f'  users list = {l / b * 100:.1f}% of the bare endpoint ({b / l:.0f}x slower)')" "$b_rps" "$l_rps"
  [ "$b_bad" = 0 ] && [ "$l_bad" = 0 ] || { echo "  non-2xx answers: the figures are void" >&2; return 1; }
}

bench_engine sqlite "sqlite://$WORK/bench.db"
PG_DB=sr_bench_users_$$
psql_admin -c "CREATE DATABASE $PG_DB" > /dev/null
bench_engine postgres "$(pg_url_for "$PG_DB")"
