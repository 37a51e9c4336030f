#!/usr/bin/env bash
# Send benchmark: flowc send of 100,000 contacts to a fast local fake provider
# (benches/tools/src/bin/provider.rs, hyper, 202 WA202 to every POST).
#   1. no rate limit, 0 ms latency: messages per second;
#   2. --rate 1000 against 200 ms latency: the per-second histogram seen by the server.
# Both report flowc's wall time, CPU time and peak memory (/usr/bin/time).
#
# Usage: benches/send.sh [ROWS]     (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
. benches/common.sh
prepare_contacts "$rows"
provider=benches/tools/target/release/provider

# run_case LABEL LATENCY_MS FLOWC_ARGS...
run_case() {
  local label=$1 latency=$2; shift 2
  local log="$work/provider-$latency.log"
  "$provider" --latency-ms "$latency" > "$log" &
  local server=$!
  trap 'kill $server 2>/dev/null || true' RETURN
  local url=""
  for _ in $(seq 100); do url=$(sed -n 's/^listening //p' "$log"); [ -n "$url" ] && break; sleep 0.05; done
  rm -f "$work/send-bench".*
  KALEYRA_SID=BENCH KALEYRA_API_KEY=bench-key KALEYRA_WHATSAPP_NUMBER=+911234567890 KALEYRA_BASE_URL="$url" \
    /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" \
    "$flowc" send templates/service-booking.yaml --data "$work/contacts-$rows.csv" --yes \
      --journal "$work/send-bench.journal.sqlite" --report "$work/send-bench.report.csv" "$@" \
      > "$work/send-stdout.txt" 2> "$work/send-stderr.txt" || true
  read -r wall user sys rss < "$work/time.txt"
  python3 - "$url" "$label" "$wall" "$user" "$sys" "$rss" "$(tail -n 1 "$work/send-stdout.txt")" <<'PY'
import json, sys, urllib.request
url, label, wall, user, sys_, rss, summary = sys.argv[1:]
stats = json.load(urllib.request.urlopen(url + "/stats"))
seconds = stats["per_second"]
full = seconds[1:-1] if len(seconds) > 2 else seconds
wall, cpu = float(wall), float(user) + float(sys_)
print(f"== {label}")
print(f"   flowc: {summary}")
print(f"   wall {wall:.2f} s, CPU {cpu:.2f} s = user {float(user):.2f} + sys {float(sys_):.2f} ({cpu / wall:.2f} cores), peak RSS {int(rss) / 1024:.1f} MiB")
print(f"   server: {stats['total']} requests over {len(seconds)} seconds")
if full:
    mean = sum(full) / len(full)
    print(f"   per second (full seconds): mean {mean:.1f}, min {min(full)}, max {max(full)}")
print(f"   histogram: {seconds}")
PY
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

[ "${SKIP_UNLIMITED:-}" ] || run_case "no rate limit, 0 ms latency" 0 --rate 0
run_case "--rate 1000, 200 ms latency" 200 --rate 1000
