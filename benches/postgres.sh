# Sourced by the PostgreSQL benchmark scripts: a PostgreSQL server for the event store.
#
# pg_start: with FLOWC_BENCH_POSTGRES_URL (postgres://USER:PASSWORD@HOST:PORT/DB, a user that
# may create databases), that server; else a throwaway cluster, as the tests make one
# (tests/cli/support/postgres.rs): initdb in a temporary directory (as the `postgres` system
# user when run as root: initdb refuses root), a free port of 127.0.0.1, fsync on, password
# (scram-sha-256) authentication over TCP; stopped and removed when the script exits.
# Sets pg_host, pg_port, pg_user, pg_password_file and pg_bin; then
# pg_database NAME (re)creates an empty database and prints its URL (without the password);
# pg_sql DB SQL runs SQL there with psql (unaligned, tuples only);
# PG_OPTIONS adds server options to the throwaway cluster (to profile: pg_stat_statements).
# pg_cpu prints the CPU ticks (user + system) the server's processes have used so far.

pg_bin=""
pg_dir=""
pg_pid_file=""

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_stop() {
  [ -n "$pg_dir" ] || return 0
  pg_as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop > /dev/null 2>&1 || true
  rm -rf "$pg_dir"
  pg_dir=""
}

pg_start() {
  pg_password_file="$work/postgres-password"
  if [ -n "${FLOWC_BENCH_POSTGRES_URL:-}" ]; then
    eval "$(python3 - "$FLOWC_BENCH_POSTGRES_URL" <<'PY'
import shlex, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
for name, value in [("pg_host", u.hostname or "127.0.0.1"), ("pg_port", str(u.port or 5432)),
                    ("pg_user", urllib.parse.unquote(u.username or "postgres")),
                    ("pg_password", urllib.parse.unquote(u.password or ""))]:
    print(f"{name}={shlex.quote(value)}")
PY
)"
    printf '%s\n' "$pg_password" > "$pg_password_file"
    unset pg_password
    pg_bin=$(dirname "$(command -v psql)")
    return 0
  fi
  local initdb
  initdb=$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb 2> /dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || { echo "no PostgreSQL server binaries (initdb): install them or set FLOWC_BENCH_POSTGRES_URL"; exit 2; }
  pg_bin=$(dirname "$(readlink -f "$initdb")")
  pg_dir=$(mktemp -d /tmp/flowc-bench-pg.XXXXXX)
  trap pg_stop EXIT
  pg_host=127.0.0.1
  pg_user=flowc
  python3 -c 'import secrets; print(secrets.token_hex(16))' > "$pg_password_file"
  cp "$pg_password_file" "$pg_dir/password"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$pg_dir"; fi
  pg_as_owner "$pg_bin/initdb" -D "$pg_dir/data" -U "$pg_user" --pwfile "$pg_dir/password" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C --no-sync > "$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log"; exit 1; }
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_as_owner "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 ${PG_OPTIONS:-}" start > /dev/null \
    || { cat "$pg_dir/server.log"; exit 1; }
  pg_pid_file="$pg_dir/data/postmaster.pid"
}

pg_sql() {
  local database=$1
  shift
  PGOPTIONS="-c client_min_messages=warning" PGPASSWORD=$(cat "$pg_password_file") "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -At \
    -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$database" -c "$@"
}

pg_database() {
  pg_sql postgres "DROP DATABASE IF EXISTS $1" > /dev/null
  pg_sql postgres "CREATE DATABASE $1" > /dev/null
  echo "postgres://$pg_user@$pg_host:$pg_port/$1"
}

pg_cpu() {
  # The postmaster (and the children it has reaped) and its live children; 0 for a server
  # that is not ours.
  [ -n "$pg_pid_file" ] && [ -s "$pg_pid_file" ] || { echo 0; return; }
  local main
  main=$(head -n 1 "$pg_pid_file")
  {
    awk '{print $14 + $15 + $16 + $17}' "/proc/$main/stat"
    for child in $(pgrep -P "$main"); do awk '{print $14 + $15}' "/proc/$child/stat" 2> /dev/null || true; done
  } | awk '{s += $1} END {print s + 0}'
}
