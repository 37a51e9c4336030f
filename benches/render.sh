#!/usr/bin/env bash
# End-to-end render benchmark: flowc render of 1,000,000 and 10,000 contacts to /dev/null,
# against the floor program (benches/tools/src/bin/floor.rs) on the same CSV.
# Then `flowc send --dry-run` of the same rows (the pre-flight).
# Prints wall time, rows per second, peak memory, flowc's time as a multiple of the floor and the
# dry run's as a multiple of the render.
#
# Usage: benches/render.sh [ROWS]     (default 1000000; the data is generated deterministically)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
. benches/common.sh
prepare_contacts "$rows" 10000
floor=benches/tools/target/release/floor
template=templates/service-booking.yaml

# measure LABEL COMMAND...: best wall time of 3 runs, and the peak RSS of that run
measure() {
  local label=$1; shift
  local best_wall="" best_rss=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null 2> "$work/stderr.txt" || {
      cat "$work/stderr.txt" >&2; return 1; }
    read -r wall rss < "$work/time.txt"
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; best_rss=$rss; fi
  done
  echo "$label $best_wall $best_rss"
}

report() { # LABEL ROWS WALL RSS_KB
  awk -v l="$1" -v n="$2" -v w="$3" -v r="$4" 'BEGIN{
    printf "%-28s %9d rows  %7.3f s  %10.0f rows/s  peak %6.1f MiB\n", l, n, w, (w > 0 ? n / w : 0), r / 1024 }'
}

read -r _ floor_wall floor_rss < <(measure floor "$floor" "$work/contacts-$rows.csv")
read -r _ big_wall big_rss < <(measure flowc "$flowc" render "$template" --data "$work/contacts-$rows.csv")
read -r _ small_wall small_rss < <(measure flowc "$flowc" render "$template" --data "$work/contacts-10000.csv")

# The pre-flight of the same rows (a dry run opens no connection; its report, beside the data,
# is replaced each run).
read -r _ dry_wall dry_rss < <(measure dry-run env KALEYRA_SID=X KALEYRA_API_KEY=k \
  KALEYRA_WHATSAPP_NUMBER=+911234567890 KALEYRA_BASE_URL=http://127.0.0.1:9 \
  "$flowc" send "$template" --data "$work/contacts-$rows.csv" --dry-run)

report "floor (csv + format!)" "$rows" "$floor_wall" "$floor_rss"
report "flowc render --data" "$rows" "$big_wall" "$big_rss"
report "flowc render --data" 10000 "$small_wall" "$small_rss"
report "flowc send --dry-run" "$rows" "$dry_wall" "$dry_rss"
awk -v a="$big_wall" -v b="$floor_wall" 'BEGIN{ printf "flowc / floor: %.2fx\n", (b > 0 ? a / b : 0) }'
awk -v a="$dry_wall" -v b="$big_wall" 'BEGIN{ printf "send --dry-run / render --data: %.2fx\n", (b > 0 ? a / b : 0) }'
awk -v a="$big_rss" -v b="$small_rss" 'BEGIN{ printf "peak memory, %s rows minus 10000 rows: %.2f MiB\n", "'"$rows"'", (a - b) / 1024 }'
python3 - "$flowc" "$template" <<'PY'
import subprocess, sys, time
runs = []
for _ in range(50):
    started = time.perf_counter()
    subprocess.run([sys.argv[1], "render", sys.argv[2]], stdout=subprocess.DEVNULL, check=True)
    runs.append(time.perf_counter() - started)
runs.sort()
print(f"startup (render one template, 50 runs): median {runs[25]*1000:.1f} ms, min {runs[0]*1000:.1f} ms")
PY
