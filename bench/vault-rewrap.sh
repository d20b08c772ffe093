#!/usr/bin/env bash
# Measures `strongroom vault rewrap` throughput on SQLite and PostgreSQL, while a reader keeps
# opening random token sets through the same store and vault code the server uses.
#
#   bench/vault-rewrap.sh [COUNT]        (default 100000)
#
# For each engine: seed COUNT token sets under KEK A, rotate to KEK B (A kept as previous), run
# the rewrap with a concurrent reader, and report records/s, the time a 1,000,000-secret rewrap
# would take at that rate (PRODUCT.md section 10: within 2 minutes), and the reader's reads/s
# and errors during the rewrap (must be 0).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-100000}
source scripts/lib/postgres.sh
ensure_postgres

cargo build --release -q -p strongroom --bin strongroom --example vault_bench
BIN=target/release/strongroom
TOOL=target/release/examples/vault_bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

KEK_A=$($BIN kek generate)
KEK_B=$($BIN kek generate)

run_engine() {
  local engine=$1 url=$2
  echo "== $engine: seeding $COUNT token sets"
  SECRET_VAULT_KEK=$KEK_A $TOOL seed "$url" "$COUNT"
  rm -f "$WORK/stop"
  SECRET_VAULT_KEK=$KEK_B SECRET_VAULT_PREVIOUS_KEKS=$KEK_A $TOOL read "$url" "$COUNT" "$WORK/stop" > "$WORK/reader.out" &
  local reader=$!
  sleep 1
  local start end
  start=$(date +%s.%N)
  env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL DATABASE_URL="$url" SECRET_VAULT_KEK=$KEK_B SECRET_VAULT_PREVIOUS_KEKS=$KEK_A \
    STRONGROOM_LOG=warn $BIN vault rewrap --batch-size 1000 > "$WORK/rewrap.out" 2> "$WORK/rewrap.err"
  end=$(date +%s.%N)
  touch "$WORK/stop"
  wait "$reader"
  local status
  status=$(env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL DATABASE_URL="$url" SECRET_VAULT_KEK=$KEK_B STRONGROOM_LOG=warn $BIN vault status)
  python3 - "$engine" "$COUNT" "$start" "$end" "$(cat "$WORK/reader.out")" "$status" <<'PY'
import sys
engine, count, start, end, reader, status = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
secs = end - start
rate = count / secs
fields = dict(kv.split("=") for kv in reader.split())
print(f"{engine}: rewrap of {count} secrets took {secs:.2f}s = {rate:,.0f} secrets/s; "
      f"1,000,000 secrets would take {1_000_000 / rate:.1f}s (target <= 120s: {'PASS' if 1_000_000 / rate <= 120 else 'FAIL'})")
print(f"{engine}: reader during the run (incl. 1s before): {int(fields['reads']):,} reads "
      f"({int(fields['reads']) / float(fields['seconds']):,.0f}/s), {fields['errors']} errors")
print("\n".join(f"{engine}: {line}" for line in status.splitlines()))
PY
}

run_engine sqlite "sqlite://$WORK/bench.db"

PG_DB="sr_bench_$$"
psql_admin -c "CREATE DATABASE $PG_DB" > /dev/null
trap 'psql_admin -c "DROP DATABASE IF EXISTS $PG_DB" > /dev/null; rm -rf "$WORK"' EXIT
run_engine postgres "$(pg_url_for "$PG_DB")"
