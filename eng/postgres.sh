#!/usr/bin/env bash
# A throw-away PostgreSQL server for the shared-study tests, on 127.0.0.1 only.
#   eng/postgres.sh start DIR PORT   installs Debian's postgresql when absent (apt-get, as root), creates a cluster in DIR
#                                     (directly under /tmp, so the postgres user can reach it; trust authentication: it
#                                     listens on 127.0.0.1 alone), starts it and prints its connection string
#   eng/postgres.sh stop DIR         stops it (the caller removes DIR)
set -euo pipefail
command=${1:?start or stop}; dir=${2:?data directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$command" in
  start)
    port=${3:?port}
    if [ -z "$bin" ]; then
      if [ "$(id -u)" != 0 ]; then echo "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2; exit 1; fi
      echo "installing PostgreSQL (apt-get install -y postgresql)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=100" start >/dev/null
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
    ;;
  stop)
    [ -n "$bin" ] && [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
