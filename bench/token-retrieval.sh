#!/usr/bin/env bash
# Measures token retrieval through the real server (`strongroom serve`), against the bare
# endpoint of the same server, on SQLite and PostgreSQL, with 1,000 and LARGE stored token sets.
#
#   bench/token-retrieval.sh [LARGE]        (default 1000000)
#
# For each engine and population: seed the token sets (valid ones: `expiresAt` in 2100, so the
# read path measured is the one without a refresh), mint TOKENS (default 4000) Strongroom
# access tokens with the scope `openid identities` for seeded users, start the release server,
# and run wrk (2 threads, 64 connections, WARMUP s discarded then DURATION s measured) on
#   bare:      GET /api/status
#   retrieval: GET /api/my-account/identities/github/access-token, a random bearer per request
#   exchange:  POST /oidc/token, an RFC 8693 token exchange of a random bearer (the subject
#              token) for the same provider token, by the application it was issued to
# Reports requests/s, p50/p99 latency, wrk's non-2xx count (must be 0) and the server's peak
# RSS (VmHWM after the load), then the ratios PRODUCT.md section 10 sets targets for:
# retrieval >= 25% of bare on SQLite, p99 < 10 ms at 64 connections, RSS < 60 MB, and
# retrieval with 1,000,000 sets >= 80% of that with 1,000; and issue #12's: exchange >= 50% of
# retrieval's requests/s, with a p99 within 2x of retrieval's, on both engines.
#
# Environment: DURATION (15), WARMUP (3), TOKENS (4000), CONNECTIONS (64), THREADS (2).
# wrk and the server (and PostgreSQL) share the machine's cores: the figures include that.
set -euo pipefail
cd "$(dirname "$0")/.."
LARGE=${1:-1000000}
SMALL=1000
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
TOKENS=${TOKENS:-4000}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LUA=bench/token-retrieval.lua
RETRIEVAL_PATH=/api/my-account/identities/github/access-token
# The benchmark application's credentials (token_bench registers it) and the connection named.
EXCHANGE_AUTH=$(printf '%s' 'bench-app:bench-app-secret' | base64 -w0)
EXCHANGE_RESOURCE=urn:strongroom:connector:github

source bench/lib.sh
ensure_wrk

source scripts/lib/postgres.sh
ensure_postgres

# One release build of the binary and the examples; nothing is rebuilt afterwards.
cargo build --release -p strongroom --bin strongroom --examples --locked
BIN=target/release/strongroom
TOOL=target/release/examples/token_bench
WORK=$(mktemp -d)
SERVER_PID=
PG_DBS=()
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2> /dev/null || true; wait "$SERVER_PID" 2> /dev/null || true; fi
  for db in "${PG_DBS[@]}"; do psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
KEK=$($BIN kek generate)
RESULTS=$WORK/results.tsv
: > "$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# Busy and total jiffies of the whole machine, and the CPU jiffies of process $1.
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
proc_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# CPU jiffies of this shell's finished children (wrk, run in the foreground).
children_jiffies() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Asks the server for the access token of SAMPLES random users of tokens file $2; every answer
# must be 200 with the user's stored access token.
# With a fourth argument `exchange`, through token exchange instead of the Account API.
check_answers() {
  python3 - "$1" "$2" "${3:-50}" "$RETRIEVAL_PATH" "${4:-}" "$EXCHANGE_AUTH" "$EXCHANGE_RESOURCE" <<'PY'
import json, random, sys, urllib.error, urllib.parse, urllib.request
base, tokens_file, samples, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
exchange, auth, resource = sys.argv[5] == "exchange", sys.argv[6], sys.argv[7]
lines = [line.rstrip("\n").split("\t") for line in open(tokens_file)]
bad, keys = 0, None
for token, n in random.sample(lines, min(samples, len(lines))):
    if exchange:
        form = urllib.parse.urlencode({
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "resource": resource,
        }).encode()
        req = urllib.request.Request(base + "/oidc/token", data=form, headers={
            "Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
    else:
        req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, body = r.status, json.load(r)
    except urllib.error.HTTPError as e:
        status, body = e.code, {"error": e.read().decode(errors="replace")[:200]}
    if status == 200 and body.get("access_token") == f"at-{n}":
        keys = sorted(body)
    else:
        bad += 1
        if bad == 1:
            print(f"  first bad answer: HTTP {status} {body if status != 200 else sorted(body)}", file=sys.stderr)
print(f"{min(samples, len(lines))} sampled users: {bad} bad answers; answer fields {keys}")
sys.exit(1 if bad else 0)
PY
}

# measure ENGINE COUNT NAME URL [TOKENS_FILE [exchange]]: a warm-up, then the measured wrk run.
measure() {
  local engine=$1 count=$2 name=$3 url=$4 tokens=${5:-} auth=
  [ "${6:-}" = exchange ] && auth=$EXCHANGE_AUTH
  TOKENS_FILE=$tokens EXCHANGE_AUTH=$auth EXCHANGE_RESOURCE=$EXCHANGE_RESOURCE \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 10s -s "$LUA" "$url" > "$WORK/warmup.out"
  local load m0 p0 c0 m1 p1 c1
  load=$(cut -d' ' -f1 /proc/loadavg)
  m0=$(machine_jiffies)
  p0=$(proc_jiffies "$SERVER_PID")
  c0=$(children_jiffies)
  TOKENS_FILE=$tokens EXCHANGE_AUTH=$auth EXCHANGE_RESOURCE=$EXCHANGE_RESOURCE \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$LUA" "$url" > "$WORK/wrk.out"
  c1=$(children_jiffies)
  m1=$(machine_jiffies)
  p1=$(proc_jiffies "$SERVER_PID")
  local hwm rss
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  rss=$(status_kb "$SERVER_PID" VmRSS)
  local result warm
  result=$(grep '^RESULT ' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; return 1; }
  warm=$(grep '^RESULT ' "$WORK/warmup.out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  python3 - "$engine" "$count" "$name" "$result" "$warm" "$hwm" "$rss" "$m0" "$m1" "$p0" "$p1" "$load" "$(getconf CLK_TCK)" "$c0" "$c1" >> "$RESULTS" <<'PY'
import sys
engine, count, name, result, warm, hwm, rss = sys.argv[1:8]
(mb0, mt0), (mb1, mt1) = (map(float, a.split()) for a in sys.argv[8:10])
p0, p1, load, tck = float(sys.argv[10]), float(sys.argv[11]), sys.argv[12], float(sys.argv[13])
c0, c1 = float(sys.argv[14]), float(sys.argv[15])
f = dict(kv.split("=") for kv in result.split()[1:])
secs = int(f["duration_us"]) / 1e6
machine = (mb1 - mb0) / (mt1 - mt0) * 100  # % of all cores busy
server = (p1 - p0) / tck / secs            # cores the server used
loadgen = (c1 - c0) / tck / secs           # cores wrk used
busy = (mb1 - mb0) / tck / secs            # cores busy in all (incl. PostgreSQL, other builds)
errors = sum(int(f[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
print("\t".join(str(x) for x in (
    engine, count, name, int(f["requests"]) / secs, f["p50_us"], f["p99_us"], f["max_us"], f["non2xx"], errors,
    hwm, rss, f"{server:.2f}", f"{machine:.0f}", load, f["requests"], warm, f"{loadgen:.2f}",
    f"{max(busy - server - loadgen, 0):.2f}")))
PY
  tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "  %-9s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %s  socket errors %s  server VmHWM %.1f MB (VmRSS %.1f MB)  CPU: server %s, wrk %s, rest %s cores (machine %s%% busy, load %s)\n", $3, $4, $5 / 1000, $6 / 1000, $8, $9, $10 / 1024, $11 / 1024, $12, $17, $18, $13, $14 }'
}

# audit_counts ENGINE URL SQLITE_FILE: `reads refreshes`, the reads audited and the token.refresh rows
# of the audit trail (every retrieval is audited; a refresh would mean the measured path was not
# the plain read). On SQLite the trail lives in the audit file beside the database.
audit_counts() {
  # Identical reads of one batch are one row whose detail counts them.
  local folded="json_extract(detail, '\$.count')"
  [ "$1" = sqlite ] || folded="(detail::jsonb ->> 'count')::bigint"
  local sql="SELECT COALESCE(SUM(CASE WHEN action = 'token.read' THEN COALESCE($folded, 1) END), 0) || ' ' || COUNT(CASE WHEN action = 'token.refresh' THEN 1 END) FROM audit_events"
  if [ "$1" = sqlite ]; then sqlite3 "${3%.*}-audit.${3##*.}" "$sql"; else psql "$2" -qAt -c "$sql"; fi
}

run_case() {
  local engine=$1 count=$2 url=$3 sqlite_file=${4:-}
  local tokens=$WORK/tokens-$engine-$count.tsv
  echo "== $engine, $count stored token sets"
  local seeded
  seeded=$(env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL SECRET_VAULT_KEK=$KEK $TOOL seed "$url" "$count" "$tokens" "$TOKENS")
  echo "  seeded: $seeded"
  if [ "$engine" = postgres ]; then
    # Fresh statistics and visibility maps, so autovacuum does not start on the seeded tables
    # in the middle of a measurement.
    psql "$url" -qAt -c "VACUUM ANALYZE" > /dev/null
  fi
  local port
  port=$(free_port)
  env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL DATABASE_URL="$url" SECRET_VAULT_KEK=$KEK \
    STRONGROOM_BIND=127.0.0.1:$port STRONGROOM_ENDPOINT=http://127.0.0.1:$port STRONGROOM_DATA_DIR="$WORK/data" \
    STRONGROOM_LOG=warn $BIN serve > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER_PID=$!
  local base=http://127.0.0.1:$port
  for _ in $(seq 1 600); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/api/status")" = 204 ]; then break; fi
    kill -0 "$SERVER_PID" 2> /dev/null || { echo "the server exited:" >&2; cat "$WORK/server.err" >&2; return 1; }
    sleep 0.1
  done
  echo "  server pid $SERVER_PID on $base; before the load: $(check_answers "$base" "$tokens" || echo FAILED)"
  measure "$engine" "$count" bare "$base/api/status"
  measure "$engine" "$count" retrieval "$base$RETRIEVAL_PATH" "$tokens"
  echo "  exchange, before its load: $(check_answers "$base" "$tokens" 50 exchange || echo FAILED)"
  measure "$engine" "$count" exchange "$base/oidc/token" "$tokens" exchange
  echo "  after the load: $(check_answers "$base" "$tokens" || echo FAILED); exchange: $(check_answers "$base" "$tokens" 50 exchange || echo FAILED)"
  sleep 1 # the audit batch writer catches up
  kill "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=
  if [ -s "$WORK/server.err" ]; then
    echo "  server stderr (last lines):"; tail -n 5 "$WORK/server.err" | sed 's/^/    /'
  fi
  local audit requests
  audit=$(audit_counts "$engine" "$url" "$sqlite_file")
  # Reads sent: warm-up + measured of retrieval and exchange, + 4 x 50 checks.
  requests=$(tail -n 2 "$RESULTS" | awk -F'\t' '{ s += $15 + $16 } END { print s + 200 }')
  echo "  audit trail: ${audit% *} audited reads, ${audit#* } token.refresh rows, for $requests retrieval and exchange requests"
  printf '%s\t%s\t%s\t%s\n' "$engine" "$count" "$audit" "$requests" >> "$WORK/audit.tsv"
}

for count in "$SMALL" "$LARGE"; do
  rm -f "$WORK"/bench.db* "$WORK"/bench-audit.db*
  run_case sqlite "$count" "sqlite://$WORK/bench.db" "$WORK/bench.db"
  rm -f "$WORK"/bench.db* "$WORK"/bench-audit.db*
done
for count in "$SMALL" "$LARGE"; do
  db="sr_bench_$$_$count"
  PG_DBS=("$db")
  psql_admin -c "CREATE DATABASE $db" > /dev/null
  run_case postgres "$count" "$(pg_url_for "$db")"
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
  PG_DBS=()
done

python3 - "$RESULTS" "$WORK/audit.tsv" "$SMALL" "$LARGE" "$DURATION" "$WARMUP" "$CONNECTIONS" "$THREADS" "$TOKENS" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" <<'PY'
import sys
path, audit_path, small, large, duration, warmup, conns, threads, tokens, load0, load1, cores = sys.argv[1:]
small, large = int(small), int(large)
rows = {}
for line in open(path):
    e, c, n, rps, p50, p99, mx, non2xx, errs, hwm, rss, scpu, mcpu, load, reqs, warm, wcpu, rest = line.rstrip("\n").split("\t")
    rows[e, int(c), n] = dict(rps=float(rps), p50=int(p50) / 1000, p99=int(p99) / 1000, max=int(mx) / 1000,
                              non2xx=int(non2xx), errs=int(errs), hwm=int(hwm) / 1024, scpu=scpu, wcpu=wcpu, rest=rest,
                              mcpu=mcpu, load=load)
audit = {}
for line in open(audit_path):
    e, c, counts, requests = line.rstrip("\n").split("\t")
    reads, refreshes = counts.split()
    audit[e, int(c)] = (int(reads), int(refreshes), int(requests))
name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
ok = lambda cond: "PASS" if cond else "FAIL"

print()
print(f"Token retrieval vs bare endpoint, one server per row pair; wrk {threads} threads x {conns} connections, "
      f"{warmup} s warm-up then {duration} s measured; {tokens} Strongroom access tokens, a random one per request.")
print(f"wrk, the server and PostgreSQL share this machine's {cores} cores, with whatever else runs on it "
      f"(load average {load0} at the start, {load1} at the end; 'rest' = CPU used by neither the server nor wrk).")
print()
print("| engine | stored sets | endpoint | requests/s | vs bare | p50 | p99 | non-2xx | socket errors | server peak RSS | CPU server / wrk / rest |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (e, c, n), r in rows.items():
    bare = rows[e, c, "bare"]["rps"]
    vs = "" if n == "bare" else f"{r['rps'] / bare:.1%}"
    endpoint = {"bare": "GET /api/status", "retrieval": "GET .../identities/github/access-token",
                "exchange": "POST /oidc/token (token exchange)"}[n]
    print(f"| {name[e]} | {c:,} | {endpoint} | {r['rps']:,.0f} | {vs} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
          f"{r['non2xx']} | {r['errs']} | {r['hwm']:.1f} MB | {r['scpu']} / {r['wcpu']} / {r['rest']} |")
print()
print("Against PRODUCT.md section 10 (peak RSS: VmHWM of the server after the load):")
failed = False
for e in ("sqlite", "postgres"):
    for c in (small, large):
        r, bare = rows[e, c, "retrieval"], rows[e, c, "bare"]
        ratio = r["rps"] / bare["rps"]
        sqlite = e == "sqlite"
        reads, refreshes, requests = audit[e, c]
        checks = [
            (f"retrieval/bare {ratio:.1%}", ratio >= 0.25, "target >= 25%", sqlite),
            (f"p99 {r['p99']:.2f} ms", r["p99"] < 10, "target < 10 ms", sqlite),
            (f"peak RSS {r['hwm']:.1f} MB", r["hwm"] < 60, "target < 60 MB", True),
            (f"non-2xx {r['non2xx']}, socket errors {r['errs']}", r["non2xx"] == 0 and r["errs"] == 0, "must be 0", True),
            (f"refreshes {refreshes}", refreshes == 0, "must be 0", True),
        ]
        parts = []
        for text, good, what, enforced in checks:
            verdict = ok(good) if enforced else f"SQLite's target; {'met' if good else 'not met'} here"
            parts.append(f"{text} ({what}: {verdict})")
            failed |= enforced and not good
        print(f"  {name[e]:<10} {c:>9,} sets: " + "; ".join(parts) + f"; audited reads {reads:,} for {requests:,} requests (wrk does not count those in flight when it stops)")
    for c in (small, large):
        r, x = rows[e, c, "retrieval"], rows[e, c, "exchange"]
        ratio, p99 = x["rps"] / r["rps"], x["p99"] / r["p99"]
        print(f"  {name[e]:<10} {c:>9,} sets: exchange/retrieval {ratio:.1%} (target >= 50%: {ok(ratio >= 0.5)}); "
              f"exchange p99 {x['p99']:.2f} ms = {p99:.2f}x retrieval's (target <= 2x: {ok(p99 <= 2)}); "
              f"non-2xx {x['non2xx']}, socket errors {x['errs']} (must be 0: {ok(x['non2xx'] == 0 and x['errs'] == 0)})")
        failed |= ratio < 0.5 or p99 > 2 or x["non2xx"] != 0 or x["errs"] != 0
    scale = rows[e, large, "retrieval"]["rps"] / rows[e, small, "retrieval"]["rps"]
    note = "" if large >= 1_000_000 else " [population scaled down from 1,000,000: indicative only]"
    print(f"  {name[e]:<10} retrieval with {large:,} sets vs {small:,}: {scale:.1%} (target >= 80%: {ok(scale >= 0.8)}){note}")
    failed |= scale < 0.8 and large >= 1_000_000
print()
print("Some targets are not met." if failed else "All targets met.")
PY
