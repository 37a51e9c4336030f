#!/usr/bin/env bash
# Receive benchmark: flowc receive on loopback under a steady load of status callbacks
# (benches/tools/src/bin/callbacks.rs: the provider's envelope, a unique message id each,
# keep-alive connections, open loop) for SECONDS at RATE per second.
# Reports: callbacks answered 2xx per second, answer-time percentiles (counted from when each
# request was due), the receiver's memory at 10 s and at the end and its peak, CPU time, and
# whether every callback answered 2xx is in the store (zero lost).
#
# Usage: benches/receive.sh [RATE] [SECONDS] [CONNECTIONS]     (default 5000 60 64)
#        STORE_DIR=/dev/shm benches/receive.sh ...   puts the store elsewhere (tmpfs: no fsync cost,
#        to tell the receiver's own cost from the disk's)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-5000}
seconds=${2:-60}
connections=${3:-64}
. benches/common.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks

dir="$work/receive-bench"
rm -rf "$dir" && mkdir -p "$dir"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$dir/token"
store_dir=${STORE_DIR:-$dir}
mkdir -p "$store_dir"
rm -f "$store_dir/events.sqlite" "$store_dir/events.sqlite-wal" "$store_dir/events.sqlite-shm"
"$flowc" receive --listen 127.0.0.1:0 --token-file "$dir/token" --store "$store_dir/events.sqlite" 2> "$dir/receiver.log" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 200); do
  addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$dir/receiver.log")
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { cat "$dir/receiver.log"; exit 1; }

# Memory: the receiver's resident set every second (VmRSS, KiB).
( while kill -0 $receiver 2>/dev/null; do
    awk '/^VmRSS/ {print $2}' /proc/$receiver/status 2>/dev/null || true
    sleep 1
  done > "$dir/rss.txt" ) &
sampler=$!

cpu_before=$(awk '{print $14 + $15}' /proc/$receiver/stat)
"$generator" --addr "$addr" --token "$token" --rate "$rate" --seconds "$seconds" \
  --connections "$connections" --prefix bench > "$dir/result.json"
cpu_after=$(awk '{print $14 + $15}' /proc/$receiver/stat)
peak=$(awk '/^VmHWM/ {print $2}' /proc/$receiver/status)
kill -TERM $receiver
wait $receiver || true
kill $sampler 2>/dev/null || true
wait $sampler 2>/dev/null || true
trap - EXIT
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$dir" "$store_dir" "$rate" "$seconds" "$connections" "$peak" "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" "$load" <<'PY'
import json, sqlite3, sys
d, store_dir, rate, seconds, connections, peak, ticks, hz, load = sys.argv[1:]
r = json.load(open(f"{d}/result.json"))
rss = [int(x) for x in open(f"{d}/rss.txt").read().split()]
stored = sqlite3.connect(f"{store_dir}/events.sqlite").execute(
    "SELECT count(*) FROM statuses WHERE message_id LIKE 'wamid.bench-%'").fetchone()[0]
at10 = rss[10] if len(rss) > 10 else rss[-1]
cpu = int(ticks) / int(hz)
print(f"== flowc receive: {rate}/s for {seconds} s over {connections} keep-alive connections (loopback), store in {store_dir}")
print(f"   sent {r['sent']}, answered 2xx {r['ok']}, other {r['other']}, errors {r['errors']}; "
      f"{r['ok_per_second']:.0f} callbacks/s answered 2xx")
print(f"   answer time (from when due): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
      f"p99.9 {r['p999_ms']:.2f} ms, max {r['max_ms']:.2f} ms")
print(f"   receiver memory: {at10 / 1024:.1f} MiB at 10 s, {rss[-1] / 1024:.1f} MiB at the end, "
      f"peak {int(peak) / 1024:.1f} MiB; CPU {cpu:.1f} s ({cpu / float(r['seconds']):.2f} cores)")
print(f"   in the store: {stored} of {r['ok']} answered 2xx -> "
      f"{'zero lost' if stored >= r['ok'] else str(r['ok'] - stored) + ' LOST'}")
print(f"   machine load average at the end (1, 5, 15 min): {load} on {__import__('os').cpu_count()} cores")
PY
