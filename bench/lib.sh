# Shared by the benchmark scripts (sourced).

# Installs wrk from Debian's packages when it is missing (as root), or stops.
ensure_wrk() {
  command -v wrk > /dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "wrk is missing: installing it from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null; }
  else
    echo "error: wrk is missing (as root on Debian: apt-get install -y wrk)" >&2
    exit 1
  fi
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
