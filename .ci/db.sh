#!/usr/bin/env bash
# Prints a PostgreSQL server URL (no database name) for `make run`, `make watch` and `make test`.
#
#   DATABASE_URL set  -> nothing is started; the caller uses it as is.
#   otherwise         -> a project-local cluster under .data/ on its own port (BIZMAAT_PG_PORT,
#                        default 54329), created on first use and reused afterwards.
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user
# (created by Debian's package) or, failing that, to a `bizmaat` system user made here.
# Everything it says goes to stderr; stdout carries only the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$(pwd)
wanted_port=${BIZMAAT_PG_PORT:-54329}
data="$root_dir/.data/postgres"
log="$root_dir/.data/postgres.log"
say() { echo "db: $*" >&2; }

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/bin /usr/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL is not installed; installing Debian's 'postgresql' package"
    apt-get install -y postgresql >&2
    bindir=$(find_bindir)
  else
    say "PostgreSQL server binaries were not found."
    say "Install them with:  sudo apt-get install postgresql   (or set DATABASE_URL to a server you have)"
    exit 1
  fi
fi

# Run a PostgreSQL tool as the cluster's owner.
owner=""
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres; else
    id bizmaat >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin bizmaat
    owner=bizmaat
  fi
fi
as_owner() {
  if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

mkdir -p "$root_dir/.data"
if [ -n "$owner" ]; then
  chown "$owner" "$root_dir/.data"
  if ! runuser -u "$owner" -- test -w "$root_dir/.data"; then
    # A private parent folder (e.g. a mktemp -d checkout): keep the cluster where the owner
    # can reach it, one per checkout.
    alt="/var/tmp/bizmaat-postgres-$(printf '%s' "$root_dir" | sha256sum | cut -c1-12)"
    say "the '$owner' user cannot reach $root_dir/.data; using $alt for the cluster"
    mkdir -p "$alt" && chown "$owner" "$alt"
    data="$alt/postgres"
    log="$alt/postgres.log"
  fi
fi

if [ ! -f "$data/PG_VERSION" ]; then
  say "creating a local PostgreSQL cluster in .data/postgres"
  as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >&2
fi

port_file="$(dirname "$data")/postgres.port"
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  port=$(cat "$port_file" 2>/dev/null || echo "$wanted_port")
else
  # Another checkout's cluster (or any server) may hold the port: take the next free one.
  port=$wanted_port
  while port_busy "$port"; do
    say "port $port is taken by another server; trying $((port + 1))"
    port=$((port + 1))
    if [ "$port" -gt $((wanted_port + 20)) ]; then say "no free port near $wanted_port; set BIZMAAT_PG_PORT"; exit 1; fi
  done
  echo "$port" > "$port_file"
  say "starting the local PostgreSQL on 127.0.0.1:$port (log: .data/postgres.log)"
  # TCP on loopback only; no Unix socket, whose path could exceed the 107-byte limit.
  as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >&2
fi
echo "postgres://postgres@127.0.0.1:$port"
