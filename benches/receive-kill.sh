#!/usr/bin/env bash
# Crash test: SIGKILL flowc receive under load, ROUNDS times (default 20), on one port and one
# store. Each round: the receiver starts (on the port the killed one held: it must rebind at
# once), the load generator sends status callbacks at RATE/s and writes down every message id
# answered 2xx, the receiver is killed with SIGKILL at a random moment, and the store is then
# checked: every id answered 2xx must be in it. Exits 1 if any acknowledged event is missing.
#
# Usage: benches/receive-kill.sh [ROUNDS] [RATE]     (default 20 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
rate=${2:-2000}
. benches/common.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks

dir="$work/receive-kill"
rm -rf "$dir" && mkdir -p "$dir"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$dir/token"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
store="$dir/events.sqlite"

start_receiver() {
  : > "$dir/receiver.log"
  "$flowc" receive --listen "127.0.0.1:$port" --token-file "$dir/token" --store "$store" 2> "$dir/receiver.log" &
  receiver=$!
  local started=$(date +%s%N)
  for _ in $(seq 400); do
    grep -q "listening on" "$dir/receiver.log" && break
    kill -0 $receiver 2>/dev/null || { echo "the receiver exited:"; cat "$dir/receiver.log"; exit 1; }
    sleep 0.005
  done
  grep -q "listening on" "$dir/receiver.log" || { echo "the receiver did not listen"; exit 1; }
  bind_ms=$(( ($(date +%s%N) - started) / 1000000 ))
}

failed=0
for round in $(seq "$rounds"); do
  start_receiver
  "$generator" --addr "127.0.0.1:$port" --token "$token" --rate "$rate" --seconds 3 --connections 32 \
    --prefix "kill$round" --acked "$dir/acked-$round.txt" > "$dir/result-$round.json" &
  load=$!
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 2.5), 3))')"
  kill -KILL $receiver
  wait $receiver 2>/dev/null || true
  wait $load
  python3 - "$store" "$dir/acked-$round.txt" "$dir/result-$round.json" "$round" "$bind_ms" <<'PY' || failed=1
import json, sqlite3, sys
store, acked_file, result_file, round_, bind_ms = sys.argv[1:]
acked = [line.strip() for line in open(acked_file) if line.strip()]
result = json.load(open(result_file))
db = sqlite3.connect(store, timeout=10)
missing = [i for i in acked if db.execute("SELECT 1 FROM statuses WHERE message_id = ?", (i,)).fetchone() is None]
stored = db.execute("SELECT count(*) FROM statuses WHERE message_id LIKE ?", (f"wamid.kill{round_}-%",)).fetchone()[0]
print(f"round {int(round_):2}: started in {bind_ms} ms; {len(acked)} answered 2xx before SIGKILL, {stored} in the store, "
      f"{len(missing)} missing; {result['errors']} requests failed after the kill")
sys.exit(1 if missing else 0)
PY
done
# The store after twenty crashes still opens, and a receiver on it stops cleanly.
start_receiver
kill -TERM $receiver
wait $receiver
python3 - "$store" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("integrity:", db.execute("PRAGMA integrity_check").fetchone()[0],
      "| statuses:", db.execute("SELECT count(*) FROM statuses").fetchone()[0])
PY
if [ "$failed" -ne 0 ]; then echo "FAILED: acknowledged events are missing"; exit 1; fi
echo "every acknowledged event survived $rounds SIGKILLs"
