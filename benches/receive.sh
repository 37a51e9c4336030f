#!/usr/bin/env bash
# Receive benchmark: flowc receive, then the receiver floor (benches/tools/src/bin/receiver_floor.rs:
# axum, the same token check, rusqlite with the same schema, WAL, synchronous=FULL, group commit),
# each on loopback under the same steady load of status callbacks (benches/tools/src/bin/callbacks.rs:
# the provider's envelope, a unique message id each, keep-alive connections, open loop) for SECONDS
# at RATE per second, their stores in the same directory.
# Reports for each: callbacks answered 2xx per second, answer-time percentiles (counted from when
# each request was due), memory at 10 s and at the end and its peak, CPU time and CPU per callback,
# and whether every callback answered 2xx is in the store (zero lost); then flowc's CPU per callback
# as a multiple of the floor's.
#
# Usage: benches/receive.sh [RATE] [SECONDS] [CONNECTIONS]     (default 5000 60 64)
#        STORE_DIR=/dev/shm benches/receive.sh ...   puts the stores elsewhere (tmpfs: no fsync cost,
#        to tell the receivers' own cost from the disk's)
#        RECEIVERS=flowc benches/receive.sh ...      only flowc (or only `floor`)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-5000}
seconds=${2:-60}
connections=${3:-64}
receivers=${RECEIVERS:-flowc floor}
. benches/common.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks
floor=benches/tools/target/release/receiver_floor

dir="$work/receive-bench"
rm -rf "$dir" && mkdir -p "$dir"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$dir/token"
store_dir=${STORE_DIR:-$dir}
mkdir -p "$store_dir"

# measure NAME: starts that receiver on a fresh store, loads it, stops it, writes $dir/NAME.*.
measure() {
  local name=$1 store="$store_dir/$1-events.sqlite"
  rm -f "$store" "$store-wal" "$store-shm"
  case $name in
    flowc) "$flowc" receive --listen 127.0.0.1:0 --token-file "$dir/token" --store "$store" 2> "$dir/$name.log" & ;;
    floor) "$floor" --listen 127.0.0.1:0 --token-file "$dir/token" --store "$store" 2> "$dir/$name.log" & ;;
    *) echo "unknown receiver $name (flowc or floor)"; exit 2 ;;
  esac
  receiver=$!
  trap 'kill $receiver 2>/dev/null || true' EXIT
  local addr=""
  for _ in $(seq 200); do
    addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$dir/$name.log" 2> /dev/null || true)
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { cat "$dir/$name.log"; exit 1; }

  # Memory: the receiver's resident set every second (VmRSS, KiB).
  ( while kill -0 $receiver 2>/dev/null; do
      awk '/^VmRSS/ {print $2}' /proc/$receiver/status 2>/dev/null || true
      sleep 1
    done > "$dir/$name.rss" ) &
  local sampler=$!

  local cpu_before cpu_after peak
  cpu_before=$(awk '{print $14 + $15}' /proc/$receiver/stat)
  "$generator" --addr "$addr" --token "$token" --rate "$rate" --seconds "$seconds" \
    --connections "$connections" --prefix "bench-$name" > "$dir/$name.json"
  cpu_after=$(awk '{print $14 + $15}' /proc/$receiver/stat)
  peak=$(awk '/^VmHWM/ {print $2}' /proc/$receiver/status)
  kill -TERM $receiver
  wait $receiver || true
  kill $sampler 2>/dev/null || true
  wait $sampler 2>/dev/null || true
  trap - EXIT
  echo "$peak $((cpu_after - cpu_before)) $(cut -d' ' -f1-3 /proc/loadavg)" > "$dir/$name.cpu"
}

for name in $receivers; do
  measure "$name"
done

python3 - "$dir" "$store_dir" "$rate" "$seconds" "$connections" "$(getconf CLK_TCK)" $receivers <<'PY'
import json, os, sqlite3, sys
d, store_dir, rate, seconds, connections, hz, *names = sys.argv[1:]
titles = {"flowc": "flowc receive", "floor": "the receiver floor (receiver_floor)"}
per_callback = {}
for name in names:
    r = json.load(open(f"{d}/{name}.json"))
    rss = [int(x) for x in open(f"{d}/{name}.rss").read().split()] or [0]
    peak, ticks, *load = open(f"{d}/{name}.cpu").read().split()
    stored = sqlite3.connect(f"{store_dir}/{name}-events.sqlite").execute(
        f"SELECT count(*) FROM statuses WHERE message_id LIKE 'wamid.bench-{name}-%'").fetchone()[0]
    at10 = rss[10] if len(rss) > 10 else rss[-1]
    cpu = int(ticks) / int(hz)
    per_callback[name] = cpu / r["ok"] * 1e6 if r["ok"] else float("nan")
    print(f"== {titles[name]}: {rate}/s for {seconds} s over {connections} keep-alive connections (loopback), store in {store_dir}")
    print(f"   sent {r['sent']}, answered 2xx {r['ok']}, other {r['other']}, errors {r['errors']}; "
          f"{r['ok_per_second']:.0f} callbacks/s answered 2xx")
    print(f"   answer time (from when due): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
          f"p99.9 {r['p999_ms']:.2f} ms, max {r['max_ms']:.2f} ms")
    print(f"   receiver memory: {at10 / 1024:.1f} MiB at 10 s, {rss[-1] / 1024:.1f} MiB at the end, "
          f"peak {int(peak) / 1024:.1f} MiB; CPU {cpu:.1f} s ({cpu / float(r['seconds']):.2f} cores), "
          f"{per_callback[name]:.1f} µs a callback answered 2xx")
    print(f"   in the store: {stored} of {r['ok']} answered 2xx -> "
          f"{'zero lost' if stored >= r['ok'] else str(r['ok'] - stored) + ' LOST'}")
    print(f"   machine load average at the end (1, 5, 15 min): {' '.join(load)} on {os.cpu_count()} cores")
if "flowc" in per_callback and "floor" in per_callback:
    print(f"== CPU per callback: flowc {per_callback['flowc']:.1f} µs, floor {per_callback['floor']:.1f} µs "
          f"-> flowc / floor {per_callback['flowc'] / per_callback['floor']:.2f}")
PY
