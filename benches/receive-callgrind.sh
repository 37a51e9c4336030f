#!/usr/bin/env bash
# Instructions per callback of flowc receive and of the receiver floor
# (benches/tools/src/bin/receiver_floor.rs), under valgrind's callgrind: counts that do not depend
# on the machine's load, so the two can be compared while other work runs. Each receiver is run
# twice on a fresh store: once started and stopped with no callback (its start and stop cost),
# once taking CALLBACKS status callbacks from benches/tools' callbacks (RATE a second over 8
# keep-alive connections); the difference divided by CALLBACKS is its cost a callback. All threads
# are counted. Then flowc's count as a multiple of the floor's, and each loaded run's top functions
# (callgrind_annotate, exclusive instructions) in $work/receive-callgrind/NAME.top.txt (all of them in
# NAME.annotated.txt).
#
# Usage: benches/receive-callgrind.sh [CALLBACKS] [RATE]     (default 1000 100)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
callbacks=${1:-1000}
rate=${2:-100}
. benches/common.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks
floor=benches/tools/target/release/receiver_floor

dir="$work/receive-callgrind"
rm -rf "$dir" && mkdir -p "$dir"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$dir/token"

# run NAME LOAD: NAME under callgrind on a fresh store; LOAD callbacks (0: started and stopped).
# Prints the instructions counted.
run() {
  local name=$1 load=$2 run="$dir/$1-$2" store="$dir/$1-$2.sqlite"
  local command
  case $name in
    flowc) command=("$flowc" receive --listen 127.0.0.1:0 --token-file "$dir/token" --store "$store") ;;
    floor) command=("$floor" --listen 127.0.0.1:0 --token-file "$dir/token" --store "$store") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$run.out" "${command[@]}" > "$run.stdout" 2> "$run.log" &
  receiver=$!
  trap 'kill $receiver 2>/dev/null || true' EXIT
  local addr=""
  for _ in $(seq 600); do
    addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$run.log" 2> /dev/null || true)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$run.log" >&2; exit 1; }
  if [ "$load" -gt 0 ]; then
    "$generator" --addr "$addr" --token "$token" --rate "$rate" --seconds $((load / rate)) \
      --connections 8 --prefix "cg-$name" > "$run.json"
    python3 - "$run.json" "$load" "$name" <<'PY'
import json, sys
ok, n = json.load(open(sys.argv[1]))["ok"], int(sys.argv[2])
sys.exit(0 if ok == n else f"{sys.argv[3]}: {ok} of {n} callbacks answered 2xx")
PY
  fi
  kill -TERM $receiver
  wait $receiver || true
  trap - EXIT
  awk '/^(summary|totals):/ {print $2; exit}' "$run.out"
}

declare -A per_callback
for name in flowc floor; do
  idle=$(run "$name" 0)
  loaded=$(run "$name" "$callbacks")
  per_callback[$name]=$(( (loaded - idle) / callbacks ))
  callgrind_annotate --inclusive=no "$dir/$name-$callbacks.out" > "$dir/$name.annotated.txt" 2> /dev/null
  head -60 "$dir/$name.annotated.txt" > "$dir/$name.top.txt"
  printf '== %s: %s instructions with %s callbacks, %s started and stopped with none -> %s a callback\n' \
    "$name" "$loaded" "$callbacks" "$idle" "${per_callback[$name]}"
done
python3 -c 'import sys; print(f"== instructions per callback: flowc / floor {int(sys.argv[1]) / int(sys.argv[2]):.2f}")' \
  "${per_callback[flowc]}" "${per_callback[floor]}"
echo "   top functions (exclusive): $dir/flowc.top.txt, $dir/floor.top.txt"
echo "   machine load average (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
