#!/usr/bin/env bash
# Start (idempotently) a throw-away PostgreSQL server for the test suite on 127.0.0.1:${MEDVOICE_PG_PORT:-55432}.
# Uses Debian's postgresql binaries; data lives in var/pg (git-ignored), or /tmp/medvoice-pg-* when the
# postgres user cannot reach the checkout. Prints the URL to use.
set -euo pipefail
cmd=${1:-start}
port=${MEDVOICE_PG_PORT:-55432}
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/var/pg"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ]; then echo "postgres.sh: PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; fi
as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# Run as root, the server runs as the postgres user, who cannot reach a checkout under a private
# directory (mktemp -d is mode 700): then the data lives in a per-checkout directory under /tmp.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
  data="/tmp/medvoice-pg-$(printf %s "$root" | sha1sum | cut -c1-12)"
fi
case "$cmd" in
  start)
    mkdir -p "$root/var"
    if [ ! -f "$data/PG_VERSION" ]; then
      mkdir -p "$data"; if [ "$(id -u)" = 0 ]; then chown postgres "$data"; chmod 700 "$data"; fi
      as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "postgres.sh: 127.0.0.1:$port is already taken by another server (another checkout's var/pg?" >&2
      echo "  stop it there with 'bash scripts/postgres.sh stop', or choose another port with MEDVOICE_PG_PORT)" >&2
      exit 1
    fi
    # Retry: after a crash the old server's children can hold its shared memory for a moment.
    for attempt in 1 2 3 4 5; do
      as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 && break
      as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 || sleep "$attempt"
    done
    if ! as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      echo "postgres.sh: PostgreSQL did not start on 127.0.0.1:$port; last lines of $data/server.log:" >&2
      tail -n 20 "$data/server.log" >&2 || true
      exit 1
    fi
    as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='medvoice_test'" | grep -q 1 \
      || as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres medvoice_test
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/medvoice_test"
    ;;
  stop) as_pg "$bindir/pg_ctl" -D "$data" stop -m fast ;;
  *) echo "usage: postgres.sh start|stop" >&2; exit 2 ;;
esac
