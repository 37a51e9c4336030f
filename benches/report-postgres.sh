#!/usr/bin/env bash
# Report benchmark on PostgreSQL: `flowc report` of a ROWS-row campaign (100,000 rows: 400,500
# events) from a PostgreSQL store, and the same from a SQLite store in the same run.
#
# Both stores are filled the way production fills them: through `flowc receive`. The campaign's
# callbacks (benches/gen_report_callbacks.py: the events of benches/report.sh, one provider
# envelope each) are posted by the load generator (--bodies) to three receivers on one PostgreSQL
# store, then to one receiver on a SQLite store; whatever was not answered 2xx is posted again
# (at most three passes), so both stores hold every event, stored by the receivers' own code.
# The journal is written directly, as benches/report.sh writes it.
#
# Then `flowc report JOURNAL --events STORE --out --responses --html`, three runs on each store,
# under `/usr/bin/time -v` (wall time, peak resident memory); the two stores' reports and answer
# files are compared (lines that differ, and the answers as sets: the generator's connections
# deliver the callbacks in another order to each store, and the report follows the order
# stored). Several sizes in one run, and the smallest campaign against the larger stores' events,
# show whether memory stays flat in the number of events.
#
# The server: a throwaway local cluster (benches/postgres.sh), or FLOWC_BENCH_POSTGRES_URL.
# Usage: benches/report-postgres.sh [ROWS...]     (default 25000 100000)
#        FILL_RATE=N callbacks a second while filling PostgreSQL (default 3000), SQLITE_FILL_RATE=N
#        SQLite (default 5000), over FILL_CONNECTIONS (default 384)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-25000 100000}
fill_connections=${FILL_CONNECTIONS:-384}
. benches/common.sh
. benches/postgres.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$work/report-postgres-token"

pg_start
receivers=()
cleanup() {
  local pid
  for pid in "${receivers[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid" 2> /dev/null || true; done
  pg_stop
}
trap cleanup EXIT

# start_receiver LOG STORE [ARGS...]: a receiver on a free port; sets addr.
start_receiver() {
  local log=$1 store=$2
  shift 2
  "$flowc" receive --listen 127.0.0.1:0 --token-file "$work/report-postgres-token" --store "$store" "$@" 2> "$log" &
  receivers+=($!)
  addr=""
  for _ in $(seq 500); do
    addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$log" 2> /dev/null || true)
    [ -n "$addr" ] && break
    sleep 0.02
  done
  [ -n "$addr" ] || { cat "$log"; exit 1; }
}

stop_receivers() {
  local pid
  for pid in "${receivers[@]}"; do kill -TERM "$pid"; done
  for pid in "${receivers[@]}"; do wait "$pid" || true; done
  receivers=()
}

# fill DIR NAME TARGETS RATE: posts every body to TARGETS until each was answered 2xx.
fill() {
  local d=$1 name=$2 targets=$3 fill_rate=$4 pass bodies="$1/bodies.jsonl"
  for pass in 1 2 3; do
    "$generator" --target "$targets" --token "$token" --rate "$fill_rate" --connections "$fill_connections" \
      --bodies "$bodies" --acked "$d/$name-acked-$pass.txt" > "$d/$name-fill-$pass.json"
    python3 - "$bodies" "$d/$name-acked-$pass.txt" "$d/$name-left-$pass.jsonl" <<'PY'
import sys
bodies, acked, left = sys.argv[1:]
done = {int(line) for line in open(acked) if line.strip()}
with open(left, "w") as out:
    for number, body in enumerate(open(bodies), 1):
        if number not in done:
            out.write(body)
PY
    echo "   filled $name, pass $pass: $(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print("%d posted, %d answered 2xx at %.0f/s, p99 %.1f ms" % (r["sent"], r["ok"], r["ok_per_second"], r["p99_ms"]))' "$d/$name-fill-$pass.json")"
    bodies="$d/$name-left-$pass.jsonl"
    [ -s "$bodies" ] || return 0
  done
  echo "$name: callbacks still not answered 2xx after three passes"
  exit 1
}

# timed NAME EVENTS [JOURNAL]: three runs of the report; prints wall time and peak memory of each.
timed() {
  local name=$1 events=$2 journal=${3:-$d/campaign.journal.sqlite} run wall rss
  for run in 1 2 3; do
    rm -f "$d/$name-report.csv" "$d/$name-answers.csv" "$d/$name-report.html"
    PGPASSWORD=$(cat "$pg_password_file") /usr/bin/time -v -o "$d/$name-time.txt" \
      "$flowc" report "$journal" --events "$events" --out "$d/$name-report.csv" \
      --responses "$d/$name-answers.csv" --html "$d/$name-report.html" > "$d/$name-stdout.txt" 2> "$d/$name-stderr.txt" \
      || { cat "$d/$name-stderr.txt"; exit 1; }
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$d/$name-time.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$d/$name-time.txt")
    echo "   $name run $run: wall $wall, peak RSS $((rss / 1024)) MiB ($rss KiB); load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
}

first=""
for rows in $sizes; do
  d="$work/report-postgres-$rows"
  mkdir -p "$d"
  if [ ! -s "$d/bodies.jsonl" ] || [ ! -s "$d/campaign.journal.sqlite" ]; then
    rm -f "$d/campaign.journal.sqlite"*
    python3 benches/gen_report_callbacks.py "$rows" "$d/campaign.journal.sqlite" > "$d/bodies.jsonl"
  fi
  echo "== $rows rows, $(wc -l < "$d/bodies.jsonl") callbacks; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

  store=$(pg_database "flowc_report_$rows")
  targets=""
  for i in 1 2 3; do
    start_receiver "$d/pg-receiver-$i.log" "$store" --store-password-file "$pg_password_file"
    targets="$targets${targets:+,}http://$addr/"
  done
  fill "$d" postgres "$targets" "${FILL_RATE:-3000}"
  stop_receivers

  sqlite="$d/events.sqlite"
  rm -f "$sqlite" "$sqlite-wal" "$sqlite-shm"
  start_receiver "$d/sqlite-receiver.log" "$sqlite"
  fill "$d" sqlite "http://$addr/" "${SQLITE_FILL_RATE:-5000}"
  stop_receivers

  echo "   stored: PostgreSQL $(pg_sql "flowc_report_$rows" "SELECT (SELECT count(*) FROM statuses) || ' statuses, ' || (SELECT count(*) FROM messages) || ' messages, ' || (SELECT count(*) FROM opt_outs) || ' opt-outs'"); SQLite $(python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(", ".join("%d %s" % (db.execute("SELECT count(*) FROM " + t).fetchone()[0], t.replace("_", "-")) for t in ["statuses", "messages", "opt_outs"]))' "$sqlite")"
  timed postgres "$store"
  timed sqlite "$sqlite"
  if [ -n "$first" ] && [ "$first" != "$rows" ]; then
    # The same rows, more events: the first size's campaign against this size's stores (the
    # events of the rows it does not have match none of its rows, and are read all the same).
    echo "   the $first-row campaign against these events:"
    timed "postgres-$first-rows" "$store" "$work/report-postgres-$first/campaign.journal.sqlite"
    timed "sqlite-$first-rows" "$sqlite" "$work/report-postgres-$first/campaign.journal.sqlite"
  fi
  for file in report.csv answers.csv; do
    echo "   $file from PostgreSQL and from SQLite: $(diff "$d/postgres-$file" "$d/sqlite-$file" | grep -c '^<' || true) of $(wc -l < "$d/postgres-$file") lines differ; as sets of lines: $(diff <(sort "$d/postgres-$file") <(sort "$d/sqlite-$file") | grep -c '^<' || true) differ"
  done
  echo "   $(cat "$d/postgres-stdout.txt")"
  grep '^events:' "$d/postgres-stderr.txt" | sed 's/^/   /' || true
  first=${first:-$rows}
done
