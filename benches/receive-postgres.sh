#!/usr/bin/env bash
# Receive benchmark on PostgreSQL: RECEIVERS `flowc receive` processes (release build) on one
# PostgreSQL store, the load generator (benches/tools/src/bin/callbacks.rs: status callbacks in
# the provider's envelope, a unique message id each, keep-alive connections, open loop) spreading
# RATE callbacks a second over them for SECONDS (its connections round-robin over the receivers,
# as a load balancer would).
#
# The server: a throwaway local cluster (benches/postgres.sh: initdb in a temporary directory,
# fsync on, password authentication, removed at exit), or FLOWC_BENCH_POSTGRES_URL.
#
# Prints callbacks answered 2xx a second in total and for each receiver, answer-time percentiles
# (counted from when each request was due), each receiver's CPU and peak memory, the server's
# and the generator's CPU, the machine's load; then checks the store against the generator's
# list of every message id answered 2xx: each is stored exactly once (zero lost, none twice).
# Then the callbacks sent but not answered 2xx are posted once more (as the provider retries
# them) and every callback sent must be in the store exactly once.
#
# KILL_EVERY=N: one receiver (each in turn) is SIGKILLed every N seconds of the load and started
# again at once on its port; the same checks follow.
#
# Usage: benches/receive-postgres.sh [RATE] [SECONDS] [RECEIVERS]     (default 10000 60 3)
#        CONNECTIONS=C (default 32 a receiver)  KILL_EVERY=N (default 0: none)
#        PROFILE=1: the server's time by statement (pg_stat_statements) over the load, to see where
#        it goes (the writers' lock is the time spent in pg_advisory_xact_lock)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
seconds=${2:-60}
count=${3:-3}
connections=${CONNECTIONS:-$((32 * count))}
kill_every=${KILL_EVERY:-0}
. benches/common.sh
. benches/postgres.sh
cargo build --release --quiet
cargo build --release --quiet --manifest-path benches/tools/Cargo.toml
generator=benches/tools/target/release/callbacks

dir="$work/receive-postgres"
rm -rf "$dir" && mkdir -p "$dir"
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$token" > "$dir/token"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

[ "${PROFILE:-0}" = 1 ] && export PG_OPTIONS="${PG_OPTIONS:-} -c shared_preload_libraries=pg_stat_statements"
pg_start
declare -a pids ports ticks starts launched
cleanup() {
  local pid
  for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill -KILL "$pid" 2> /dev/null || true; done
  pg_stop
}
trap cleanup EXIT
store=$(pg_database flowc_bench)
[ "${PROFILE:-0}" = 1 ] && pg_sql flowc_bench "CREATE EXTENSION pg_stat_statements"
commits() { pg_sql flowc_bench "SELECT xact_commit FROM pg_stat_database WHERE datname = 'flowc_bench'"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# launch_receiver I: receiver I on its port (the same port again after a kill); listening I
# waits until it listens (and says how long that took since its launch).
launch_receiver() {
  local i=$1
  launched[$i]=$(date +%s%N)
  printf -- '-- started\n' >> "$dir/receiver-$i.log"
  "$flowc" receive --listen "127.0.0.1:${ports[$i]}" --token-file "$dir/token" \
    --store "$store" --store-password-file "$pg_password_file" 2>> "$dir/receiver-$i.log" &
  pids[$i]=$!
}
listening() {
  local i=$1 log="$dir/receiver-$1.log"
  for _ in $(seq 1000); do
    [ "$(grep -c 'listening on' "$log")" -ge "${starts[$i]}" ] && break
    kill -0 "${pids[$i]}" 2> /dev/null || { echo "receiver $i exited:"; tail -n 20 "$log"; exit 1; }
    sleep 0.01
  done
  [ "$(grep -c 'listening on' "$log")" -ge "${starts[$i]}" ] || { echo "receiver $i did not listen"; exit 1; }
  echo $(( ($(date +%s%N) - launched[$i]) / 1000000 )) >> "$dir/restart-ms"
}

# CPU ticks (user + system) of receiver I's running process.
receiver_ticks() { awk '{print $14 + $15}' "/proc/${pids[$1]}/stat"; }

targets=""
for i in $(seq 0 $((count - 1))); do
  ports[$i]=$(free_port)
  ticks[$i]=0
  starts[$i]=1
  targets="$targets${targets:+,}http://127.0.0.1:${ports[$i]}/"
done
# All at once: the first creates the store's tables, the others wait for it (an advisory lock).
for i in $(seq 0 $((count - 1))); do launch_receiver "$i"; done
for i in $(seq 0 $((count - 1))); do listening "$i"; done
: > "$dir/restart-ms"
for i in $(seq 0 $((count - 1))); do ticks[$i]=$((0 - $(receiver_ticks "$i"))); done
pg_before=$(pg_cpu)
[ "${PROFILE:-0}" = 1 ] && pg_sql flowc_bench "SELECT pg_stat_statements_reset()" > /dev/null
commits_before=$(commits)

prefix=pg$$
/usr/bin/time -f "%U %S" -o "$dir/generator.time" \
  "$generator" --target "$targets" --token "$token" --rate "$rate" --seconds "$seconds" \
  --connections "$connections" --prefix "$prefix" --acked "$dir/acked.txt" --unanswered "$dir/unanswered.txt" > "$dir/result.json" &
load=$!

kills=0
if [ "$kill_every" -gt 0 ]; then
  next=$(( $(date +%s) + kill_every ))
  while kill -0 "$load" 2> /dev/null; do
    if [ "$(date +%s)" -ge "$next" ] && [ "$(date +%s)" -lt $(( next + 1 )) ] \
      && [ $(( kills * kill_every + kill_every )) -lt "$seconds" ]; then
      i=$((kills % count))
      ticks[$i]=$(( ticks[$i] + $(receiver_ticks "$i") ))
      kill -KILL "${pids[$i]}"
      wait "${pids[$i]}" 2> /dev/null || true
      starts[$i]=$(( starts[$i] + 1 ))
      launch_receiver "$i"
      listening "$i"
      ticks[$i]=$(( ticks[$i] - $(receiver_ticks "$i") ))
      kills=$((kills + 1))
      echo "   SIGKILL receiver $i at $((kills * kill_every)) s, listening again in $(tail -n 1 "$dir/restart-ms") ms"
      next=$((next + kill_every))
    fi
    sleep 0.1
  done
fi
wait "$load"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
pg_after=$(pg_cpu)
sleep 1 # the servers' counts of commits reach the statistics within a second
commits_after=$(commits)
if [ "${PROFILE:-0}" = 1 ]; then
  pg_sql flowc_bench "SELECT calls, round(total_exec_time::numeric) AS ms, round(mean_exec_time::numeric, 3) AS mean_ms,
    left(regexp_replace(query, '\s+', ' ', 'g'), 60) FROM pg_stat_statements
    WHERE query NOT LIKE '%pg_stat%' ORDER BY total_exec_time DESC LIMIT 8" > "$dir/statements"
fi
: > "$dir/receivers"
for i in $(seq 0 $((count - 1))); do
  echo "$i ${ports[$i]} $(( ticks[$i] + $(receiver_ticks "$i") )) $(awk '/^VmHWM/ {print $2}' "/proc/${pids[$i]}/status")" \
    >> "$dir/receivers"
done

# What the store holds before any retry: each id answered 2xx must be there exactly once.
pg_sql flowc_bench "COPY (SELECT message_id, count(*) FROM statuses WHERE message_id LIKE 'wamid.$prefix-%' GROUP BY message_id) TO STDOUT" \
  > "$dir/stored.tsv"

# The provider retries what was not answered 2xx: every such callback posted again, once.
python3 - "$dir" "$prefix" "$rate" "$seconds" benches/tools/src/bin/callbacks.rs <<'PY'
import re, sys
d, prefix, rate, seconds, source = sys.argv[1:]
template = re.search(r'fn body\(id: &str\) -> String \{\s*format!\(\s*r#"(.*?)"#', open(source).read(), re.S).group(1)
template = template.replace("{{", "\0").replace("}}", "\1")
with open(f"{d}/retry.jsonl", "w") as out:
    for id_ in open(f"{d}/unanswered.txt").read().split():
        out.write(template.replace("{id}", id_).replace("\0", "{").replace("\1", "}") + "\n")
PY
retried=$(wc -l < "$dir/retry.jsonl")
if [ "$retried" -gt 0 ]; then
  "$generator" --target "$targets" --token "$token" --rate 2000 --bodies "$dir/retry.jsonl" \
    --connections "$connections" > "$dir/retry.json"
else
  echo '{"sent":0,"ok":0,"other":0,"errors":0}' > "$dir/retry.json"
fi

for i in $(seq 0 $((count - 1))); do kill -TERM "${pids[$i]}"; done
for i in $(seq 0 $((count - 1))); do wait "${pids[$i]}" || true; pids[$i]=""; done

pg_sql flowc_bench "COPY (SELECT message_id, count(*) FROM statuses WHERE message_id LIKE 'wamid.$prefix-%' GROUP BY message_id) TO STDOUT" \
  > "$dir/stored-after-retry.tsv"
pg_sql flowc_bench "SELECT (SELECT count(*) FROM callbacks), (SELECT count(*) FROM statuses)" > "$dir/totals"

python3 - "$dir" "$rate" "$seconds" "$count" "$connections" "$kill_every" "$kills" "$(getconf CLK_TCK)" \
  "$((pg_after - pg_before))" "$load_before" "$load_after" "$store" "$prefix" "$((commits_after - commits_before))" <<'PY'
import json, os, sys
(d, rate, seconds, count, connections, kill_every, kills, hz, pg_ticks, load_before, load_after,
 store, prefix, commits) = sys.argv[1:]
hz = int(hz)
r = json.load(open(f"{d}/result.json"))
retry = json.load(open(f"{d}/retry.json"))
acked_lines = open(f"{d}/acked.txt").read().split()
acked = set(acked_lines)
def counts(path):
    stored = {}
    for line in open(path):
        message_id, n = line.split("\t")
        stored[message_id] = int(n)
    return stored
stored = counts(f"{d}/stored.tsv")
after = counts(f"{d}/stored-after-retry.tsv")
callbacks, statuses = open(f"{d}/totals").read().split("|")
user, system = open(f"{d}/generator.time").read().split()
elapsed = float(r["seconds"])
print(f"== {count} flowc receivers on one PostgreSQL store ({store}), {rate}/s for {seconds} s over "
      f"{connections} keep-alive connections spread over them (loopback)"
      + (f"; one receiver SIGKILLed every {kill_every} s ({kills} kills), started again at once" if int(kill_every) else ""))
print(f"   sent {r['sent']}, answered 2xx {r['ok']}, other {r['other']}, errors {r['errors']}; "
      f"{r['ok_per_second']:.0f} callbacks/s answered 2xx in total")
print(f"   answer time (from when due): p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
      f"p99.9 {r['p999_ms']:.2f} ms, max {r['max_ms']:.2f} ms")
receivers = [line.split() for line in open(f"{d}/receivers")]
for (i, port, ticks, peak), t in zip(receivers, r["targets"]):
    cpu = int(ticks) / hz
    print(f"   receiver {i} (:{port}): {t['ok_per_second']:.0f}/s answered 2xx, p99 {t['p99_ms']:.2f} ms, "
          f"other {t['other']}, errors {t['errors']}; CPU {cpu:.1f} s ({cpu / elapsed:.2f} cores), "
          f"peak memory {int(peak or 0) / 1024:.1f} MiB")
pg = int(pg_ticks) / hz
print(f"   PostgreSQL CPU {pg:.1f} s ({pg / elapsed:.2f} cores), {pg / max(r['ok'], 1) * 1e6:.0f} µs a callback answered 2xx; "
      f"{commits} commits ({r['ok'] / max(int(commits), 1):.1f} callbacks a commit); "
      f"generator CPU {float(user) + float(system):.1f} s")
if os.path.exists(f"{d}/statements"):
    print("   the server's time by statement (calls | total ms | mean ms | statement):")
    for line in open(f"{d}/statements"):
        print("     " + line.rstrip())
missing = [i for i in acked if i not in stored]
twice = sorted(i for i, n in stored.items() if n > 1)
print(f"   answered 2xx {len(acked)} distinct ids ({len(acked_lines)} answers): in the store {len(acked) - len(missing)}, "
      f"missing {len(missing)} -> {'zero lost' if not missing else str(len(missing)) + ' LOST'}; "
      f"stored twice {len(twice)}")
print(f"   stored though not answered 2xx (the answer lost with a killed receiver): "
      f"{sum(1 for i in stored if i not in acked)}")
print(f"   retry of the {retry['sent']} not answered 2xx: answered 2xx {retry['ok']}, other {retry['other']}, "
      f"errors {retry['errors']}")
sent = acked | set(open(f"{d}/unanswered.txt").read().split())
total = len(sent)
once = sum(1 for i in sent if after.get(i) == 1)
twice_after = sum(1 for n in after.values() if n > 1)
print(f"   after the retry: {once} of the {total} callbacks sent ({r['sent']} requests) stored exactly once, {twice_after} twice or more; "
      f"store totals: {callbacks} callbacks, {statuses.strip()} statuses")
print(f"   machine load average (1, 5, 15 min) before {load_before}, after {load_after}, on {os.cpu_count()} cores")
# The kernel's writeback decides the stalls of the server's log flush on a shared disk (docs/operator.md).
def vm(name):
    try:
        return open(f"/proc/sys/vm/{name}").read().strip()
    except OSError:
        return "?"
print(f"   kernel writeback: vm.dirty_background_bytes {vm('dirty_background_bytes')}, "
      f"vm.dirty_background_ratio {vm('dirty_background_ratio')}, vm.dirty_expire_centisecs {vm('dirty_expire_centisecs')}")
ok = not missing and not twice and once == total and not twice_after
print("   PASS: every acknowledged callback stored exactly once" if ok else "   FAIL")
sys.exit(0 if ok else 1)
PY
