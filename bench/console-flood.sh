#!/usr/bin/env bash
# Floods console sign-in while users read their provider tokens, and reports what the flood
# costs the server in memory and the token reads in latency (security issue #9).
#
#   bench/console-flood.sh                 # SQLite, then PostgreSQL
#   ENGINES=sqlite bench/console-flood.sh  # one engine
#
# For each engine: seed SETS token sets and mint TOKENS Strongroom access tokens (scope
# `openid identities`) with the token_bench example, start the release server, warm the token
# reads up for WARMUP s, then at once
#   flood:  wrk, FLOOD_CONNECTIONS (200) connections, `POST /console/sign-in` with a matching
#           CSRF cookie and field, `admin` or an unknown username, always a wrong password
#           (bench/console-flood.lua), for DURATION + 2 s;
#   reads:  wrk, CONNECTIONS (64) connections, `GET /api/my-account/identities/github/access-token`
#           with a random bearer per request (bench/token-retrieval.lua), for DURATION s, started
#           1 s into the flood so every measured read overlaps it.
# Reports the flood's requests and status codes, the reads' requests/s, p50, p99 and non-2xx,
# and the server's peak RSS (VmHWM) and its RSS 3 s after the flood, then PASS/FAIL against
# the issue's targets: peak RSS under 150 MB, token-read p99 under 50 ms. Exits 1 if a target
# is missed.
#
# A watchdog samples the server's RSS every 0.2 s and kills it if it passes RSS_ABORT_MB
# (default 6000): a server without a bound on concurrent password hashes grows by about 19 MiB
# per hash in flight.
#
# Environment: DURATION (20), WARMUP (3), FLOOD_CONNECTIONS (200), CONNECTIONS (64),
# THREADS (2, per wrk), SETS (1000), TOKENS (2000), RSS_ABORT_MB (6000), ENGINES
# ("sqlite postgres"). wrk, the server and PostgreSQL share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-200}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SETS=${SETS:-1000}
TOKENS=${TOKENS:-2000}
RSS_ABORT_MB=${RSS_ABORT_MB:-6000}
ENGINES=${ENGINES:-sqlite postgres}
RSS_TARGET_MB=150
P99_TARGET_MS=50
READ_LUA=bench/token-retrieval.lua
FLOOD_LUA=bench/console-flood.lua
READ_PATH=/api/my-account/identities/github/access-token

source bench/lib.sh
ensure_wrk

source scripts/lib/postgres.sh
case " $ENGINES " in *" postgres "*) ensure_postgres ;; esac

# One release build of the binary and the token_bench example; nothing is rebuilt afterwards.
cargo build --release -p strongroom --bin strongroom --examples --locked
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/strongroom
TOOL=$TARGET/release/examples/token_bench
WORK=$(mktemp -d)
SERVER_PID=
FLOOD_PID=
WATCH_PID=
PG_DB=
cleanup() {
  for pid in "$FLOOD_PID" "$WATCH_PID" "$SERVER_PID"; do
    if [ -n "$pid" ]; then kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; fi
  done
  if [ -n "$PG_DB" ]; then psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" > /dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
KEK=$($BIN kek generate)
RESULTS=$WORK/results.tsv
: > "$RESULTS"

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2> /dev/null || echo 0; }

# watch_rss PID OUT: samples the server's VmRSS every 0.2 s from the start of the flood; writes
# `<ms since start> <kB>` lines to OUT, and kills PID (saying when in OUT.aborted) once it passes
# RSS_ABORT_MB.
watch_rss() {
  local pid=$1 out=$2 start rss ms
  start=$(date +%s%3N)
  while kill -0 "$pid" 2> /dev/null; do
    rss=$(status_kb "$pid" VmRSS)
    ms=$(($(date +%s%3N) - start))
    echo "$ms ${rss:-0}" >> "$out"
    if [ "${rss:-0}" -gt $((RSS_ABORT_MB * 1024)) ]; then
      kill -9 "$pid" 2> /dev/null || true
      echo "server RSS passed $RSS_ABORT_MB MB $(awk -v ms="$ms" 'BEGIN { printf "%.1f", ms / 1000 }') s into the flood: killed" > "$out.aborted"
      return
    fi
    sleep 0.2
  done
}

run_case() {
  local engine=$1 url=$2
  local tokens=$WORK/tokens-$engine.tsv
  echo "== $engine: $SETS stored token sets, $TOKENS access tokens"
  local seeded
  seeded=$(env -u STRONGROOM_TEST_DATABASE -u STRONGROOM_TEST_PG_URL SECRET_VAULT_KEK=$KEK $TOOL seed "$url" "$SETS" "$tokens" "$TOKENS")
  echo "  seeded: $seeded"
  local port
  port=$(free_port)
  # The first start creates the console administrator `admin` (its password is never used).
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
  local probe
  probe=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -n 1 "$tokens" | cut -f1)" "$base$READ_PATH")
  [ "$probe" = 200 ] || { echo "a token read answered $probe, not 200" >&2; return 1; }
  probe=$(curl -s -o /dev/null -w '%{http_code}' -b sr_console_login=x -d 'csrf=x&username=ghost&password=wrong' "$base/console/sign-in")
  echo "  server pid $SERVER_PID on $base; a token read: 200; a wrong console sign-in: $probe"

  TOKENS_FILE=$tokens wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 10s -s "$READ_LUA" "$base$READ_PATH" > "$WORK/warmup.out"
  local hwm_before
  hwm_before=$(status_kb "$SERVER_PID" VmHWM)

  rm -f "$WORK/rss.samples" "$WORK/rss.samples.aborted"
  watch_rss "$SERVER_PID" "$WORK/rss.samples" &
  WATCH_PID=$!
  wrk -t"$THREADS" -c"$FLOOD_CONNECTIONS" -d"$((DURATION + 2))s" --timeout 30s -s "$FLOOD_LUA" \
    "$base/console/sign-in" > "$WORK/flood.out" 2>&1 &
  FLOOD_PID=$!
  sleep 1
  TOKENS_FILE=$tokens wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency -s "$READ_LUA" \
    "$base$READ_PATH" > "$WORK/reads.out" 2>&1 || true
  # Whether the server lived through the reads (the watchdog may kill it later, or earlier).
  local reads_alive=yes
  kill -0 "$SERVER_PID" 2> /dev/null || reads_alive=no
  wait "$FLOOD_PID" || true
  FLOOD_PID=
  sleep 3
  local alive=yes hwm rss
  kill -0 "$SERVER_PID" 2> /dev/null || alive=no
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  rss=$(status_kb "$SERVER_PID" VmRSS)
  kill "$WATCH_PID" 2> /dev/null || true
  wait "$WATCH_PID" 2> /dev/null || true
  WATCH_PID=
  # The sampled RSS: its peak, and when it first passed 150, 500, 1000 and 3000 MB.
  local sampled aborted=
  sampled=$(awk '$2 > max { max = $2 } END { print max + 0 }' "$WORK/rss.samples" 2> /dev/null || echo 0)
  [ -f "$WORK/rss.samples.aborted" ] && aborted=$(cat "$WORK/rss.samples.aborted")
  echo "  sampled RSS: peak $((sampled / 1024)) MB; $(awk 'BEGIN { n = split("150 500 1000 3000", mb, " ") }
    { for (i = 1; i <= n; i++) if (!(i in at) && $2 > mb[i] * 1024) at[i] = $1 }
    END { for (i = 1; i <= n; i++) printf "%s %s MB %s", (i > 1 ? ";" : ""), mb[i], (i in at) ? sprintf("at %.1f s", at[i] / 1000) : "never" }' "$WORK/rss.samples")"
  # Killed by the watchdog: its last sample is the best peak we have.
  [ "$alive" = yes ] || hwm=$sampled
  kill "$SERVER_PID" 2> /dev/null || true
  wait "$SERVER_PID" 2> /dev/null || true
  SERVER_PID=

  local flood reads
  flood=$(grep '^FLOOD ' "$WORK/flood.out") || { echo "  the flood's wrk printed no result:" >&2; cat "$WORK/flood.out" >&2; return 1; }
  reads=$(grep '^RESULT ' "$WORK/reads.out") || { echo "  the reads' wrk printed no result:" >&2; cat "$WORK/reads.out" >&2; return 1; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$flood" "$reads" "$hwm_before" "$hwm" "$rss" "$sampled" "$alive" "${aborted:--}" "$reads_alive" >> "$RESULTS"
  python3 - "$(tail -n 1 "$RESULTS")" <<'PY'
import sys
engine, flood, reads, hwm0, hwm, rss, sampled, alive, aborted, reads_alive = sys.argv[1].split("\t")
f = dict(kv.split("=", 1) for kv in flood.split()[1:])
r = dict(kv.split("=", 1) for kv in reads.split()[1:])
errs = lambda d: sum(int(d[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
print(f"  flood: {int(f['requests']):,} sign-in attempts in {int(f['duration_us']) / 1e6:.0f} s, statuses {f['statuses'] or '-'}, "
      f"socket errors {errs(f)} (timeouts {f['timeouts']}), p50 {int(f['p50_us']) / 1000:.0f} ms, p99 {int(f['p99_us']) / 1000:.0f} ms")
print(f"  reads: {int(r['requests']) / (int(r['duration_us']) / 1e6):,.0f} req/s, p50 {int(r['p50_us']) / 1000:.2f} ms, "
      f"p99 {int(r['p99_us']) / 1000:.2f} ms, max {int(r['max_us']) / 1000:.0f} ms, non-2xx {r['non2xx']}, socket errors {errs(r)} "
      f"(timeouts {r['timeouts']}: answers later than 10 s, left out of the latencies)"
      + ("" if reads_alive == "yes" else " (the server was killed during the reads: these are not its latencies)"))
print(f"  server: VmHWM {int(hwm0) / 1024:.1f} MB before the flood, {int(hwm) / 1024:.1f} MB after it; "
      + (f"VmRSS 3 s after the flood {int(rss) / 1024:.1f} MB" if alive == "yes" else "not alive 3 s after the flood")
      + ("" if aborted == "-" else f"; {aborted}"))
PY
  if [ -s "$WORK/server.err" ]; then
    echo "  server stderr: $(wc -l < "$WORK/server.err") lines; the last:"; tail -n 3 "$WORK/server.err" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300 | sed 's/^/    /'
  fi
}

for engine in $ENGINES; do
  case $engine in
    sqlite)
      rm -rf "$WORK/data" "$WORK"/bench.db* "$WORK"/bench-audit.db*
      run_case sqlite "sqlite://$WORK/bench.db"
      rm -f "$WORK"/bench.db* "$WORK"/bench-audit.db*
      ;;
    postgres)
      rm -rf "$WORK/data"
      PG_DB="sr_bench_flood_$$"
      psql_admin -c "CREATE DATABASE $PG_DB" > /dev/null
      run_case postgres "$(pg_url_for "$PG_DB")"
      psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" > /dev/null
      PG_DB=
      ;;
    *) echo "unknown engine $engine (sqlite or postgres)" >&2; exit 2 ;;
  esac
done

python3 - "$RESULTS" "$DURATION" "$FLOOD_CONNECTIONS" "$CONNECTIONS" "$THREADS" "$RSS_TARGET_MB" "$P99_TARGET_MS" "$(nproc)" <<'PY'
import sys
path, duration, flood_conns, conns, threads, rss_target, p99_target, cores = sys.argv[1:]
rss_target, p99_target = float(rss_target), float(p99_target)
name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
errs = lambda d: sum(int(d[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
rows = []
for line in open(path):
    engine, flood, reads, hwm0, hwm, rss, sampled, alive, aborted, reads_alive = line.rstrip("\n").split("\t")
    f = dict(kv.split("=", 1) for kv in flood.split()[1:])
    r = dict(kv.split("=", 1) for kv in reads.split()[1:])
    rows.append((engine, f, r, int(hwm) / 1024, int(rss) / 1024, alive, aborted, reads_alive))
print()
print(f"Console sign-in flood ({flood_conns} connections, `admin` or unknown usernames, wrong passwords) during "
      f"token reads ({conns} connections, a random bearer per request), {duration} s measured, wrk {threads} threads each, "
      f"on this machine's {cores} cores shared by wrk, the server and PostgreSQL.")
print()
print("| engine | flood requests | flood statuses | flood socket errors | reads/s | read p50 | read p99 | read non-2xx | read socket errors | peak RSS (VmHWM) | RSS after |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
failed = False
verdicts = []
for engine, f, r, hwm, rss, alive, aborted, reads_alive in rows:
    rps = int(r["requests"]) / (int(r["duration_us"]) / 1e6)
    p99 = int(r["p99_us"]) / 1000
    statuses = ", ".join(f"{s.split(':')[0]}: {int(s.split(':')[1]):,}" for s in f["statuses"].split(",") if s) or "-"
    # wrk counts an answer later than its --timeout (10 s) as a timeout and leaves it out of
    # the latencies: with none left, every read took longer than that.
    none_in_time = int(r["requests"]) > 0 and int(r["p99_us"]) == 0
    if none_in_time:
        p99 = float("inf")
    lat = ("n/a (server killed) | n/a (server killed)" if reads_alive != "yes"
           else "> 10 s (all timed out) | > 10 s (all timed out)" if none_in_time
           else f"{int(r['p50_us']) / 1000:.2f} ms | {p99:.2f} ms")
    after = f"{rss:.1f} MB" if alive == "yes" else "killed"
    print(f"| {name[engine]} | {int(f['requests']):,} | {statuses} | {errs(f)} | {rps:,.0f} | {lat} | "
          f"{r['non2xx']} | {errs(r)} | {hwm:.1f} MB | {after} |")
    rss_ok = hwm < rss_target and alive == "yes"
    p99_ok = reads_alive == "yes" and p99 < p99_target and int(r["non2xx"]) == 0 and errs(r) == 0
    failed |= not (rss_ok and p99_ok)
    note = "" if aborted == "-" else f" ({aborted})"
    p99_text = ("n/a (server killed)" if reads_alive != "yes" else "> 10 s (every read timed out)" if none_in_time
                else f"{p99:.2f} ms")
    verdicts.append(f"  {name[engine]:<10} peak RSS {hwm:.1f} MB (target < {rss_target:.0f} MB: {'PASS' if rss_ok else 'FAIL'}){note}; "
                    f"token-read p99 {p99_text}, non-2xx {r['non2xx']}, socket errors {errs(r)} "
                    f"(target < {p99_target:.0f} ms, all 2xx: {'PASS' if p99_ok else 'FAIL'})")
print()
print("\n".join(verdicts))
print()
print("Some targets are not met." if failed else "All targets met.")
sys.exit(1 if failed else 0)
PY
