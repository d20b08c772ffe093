# Sourced by scripts/test and the benchmarks: makes sure a PostgreSQL server answers on
# 127.0.0.1:5432 and exports STRONGROOM_TEST_PG_URL (an admin connection URL).
#
# Uses the server that is already running; otherwise starts the installed cluster; otherwise,
# as root on Debian, installs PostgreSQL from Debian's packages and starts it.

PG_HOST=127.0.0.1
PG_PORT=5432

pg_ready() {
  if command -v pg_isready > /dev/null; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    (exec 3<> "/dev/tcp/$PG_HOST/$PG_PORT") 2> /dev/null
  fi
}

start_clusters() {
  command -v pg_ctlcluster > /dev/null || return 1
  local version
  for version in $(ls /etc/postgresql 2> /dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2> /dev/null || true
  done
}

ensure_postgres() {
  if [ -z "${STRONGROOM_TEST_PG_URL:-}" ]; then
    export STRONGROOM_TEST_PG_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres"
  fi
  if ! pg_ready; then
    start_clusters || true
  fi
  if ! pg_ready && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "PostgreSQL is not running here: installing it from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
    start_clusters || true
    # A fresh Debian cluster asks for a password on TCP: give the test role one.
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'strongroom-test'\"" > /dev/null
    export STRONGROOM_TEST_PG_URL="postgres://postgres:strongroom-test@$PG_HOST:$PG_PORT/postgres"
  fi
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  if ! pg_ready; then
    echo "error: no PostgreSQL server answers on $PG_HOST:$PG_PORT and none could be started" >&2
    return 1
  fi
  if ! command -v psql > /dev/null; then
    echo "error: psql is missing (install Debian's postgresql-client)" >&2
    return 1
  fi
}

psql_admin() {
  psql "$STRONGROOM_TEST_PG_URL" -v ON_ERROR_STOP=1 -qAt "$@"
}

# The URL of database $1 on the same server.
pg_url_for() {
  echo "${STRONGROOM_TEST_PG_URL%/*}/$1"
}

# Drops the per-test databases (sr_test_*) and benchmark databases (sr_bench_*) left behind.
drop_test_databases() {
  local db
  for db in $(psql_admin -c "SELECT datname FROM pg_database WHERE datname LIKE 'sr\_test\_%' OR datname LIKE 'sr\_bench\_%'"); do
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null || true
  done
}
