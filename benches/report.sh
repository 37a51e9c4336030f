#!/usr/bin/env bash
# Report benchmark: `flowc report` of a 100,000-row campaign against 400,000 events.
#
# The event store is created by the binary (`flowc receive`, stopped at once: the layout is its
# own), then filled directly with SQLite; the journal is written directly with SQLite in the
# layout of src/send/journal/schema.rs. Events (400,000):
#   statuses  100,000 sent (matched by the --track key)    95,000 delivered (key)
#             60,000 read (Meta's wamid only: an id learned from the row's keyed statuses)
#             5,000 failed (131047, 131026; the 202's message_id only)
#             100,000 `sent` again with another timestamp (wamid only)
#             10,000 of another campaign (matched by nothing)
#   replies   25,000 Flow completions by flow_token, 4,000 by context.id, 1,000 of nobody
# plus 500 opt-outs. Then times `flowc report --events --responses answers.csv --html` (three
# runs: wall time and peak memory of each).
#
# Usage: benches/report.sh [ROWS]     (default 100000; the events scale with it)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
work=${BENCH_DIR:-target/bench-data}/report-$rows
mkdir -p "$work"
cargo build --release --quiet
flowc=target/release/flowc
journal="$work/campaign.journal.sqlite"
store="$work/events.sqlite"

if [ ! -s "$store" ] || [ ! -s "$journal" ]; then
  rm -f "$store" "$store-wal" "$store-shm" "$journal"
  "$flowc" receive --listen 127.0.0.1:0 --store "$store" 2> "$work/receive.log" &
  receiver=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/receive.log" && break; sleep 0.05; done
  kill -TERM "$receiver"
  wait "$receiver"
  python3 - "$journal" "$store" "$rows" <<'PY'
import json, os, sqlite3, sys
journal, store, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
campaign = "5eedc0de" + "0" * 24
key = lambda row: f"flowc-{campaign[:8]}-{row}"
base = 1_767_225_600

j = sqlite3.connect(journal)
j.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rows (row INTEGER PRIMARY KEY, recipient TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
  http_status INTEGER, code TEXT, message_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
  run INTEGER NOT NULL, sent_at INTEGER, flow_token TEXT, ref TEXT, ref1 TEXT, ref2 TEXT, track TEXT);
""")
j.executemany("INSERT INTO meta VALUES (?, ?)", [("template", "t"), ("data", "d"), ("run", "1"),
    ("campaign", campaign), ("commit", "2"), ("mirrored", "0"), ("max_sent_row", str(rows + 1))])
j.executemany(
    "INSERT INTO rows VALUES (?, ?, 'accepted', 202, 'WA202', ?, 1, NULL, 1, ?, ?, ?, 'service-reminder', ?, ?)",
    ((n + 2, f"+9190{n:08d}", f"AX{n:012d}", base, f"booking-C-{n:07d}", f"C-{n:07d}", key(n + 2), key(n + 2))
     for n in range(rows)))
j.commit()
j.close()

s = sqlite3.connect(store)
s.execute("PRAGMA synchronous=OFF")
counter = [0]
def ident():
    counter[0] += 1
    return counter[0].to_bytes(8, "big") + os.urandom(8)
s.execute("INSERT INTO callbacks (id, received_at, method, path, body, digest, recognised) VALUES (1, 0, 'POST', '/', x'', x'00', 1)")
def status(n, name, t, ref2=None, provider=None, code=None, message=None):
    return (ident(), base * 1000, message if message is not None else f"wamid.{n}", provider, name, str(t), t,
            f"9190{n:08d}", code, {"131047": "Re-engagement message", "131026": "Message undeliverable"}.get(code), ref2)
scale = rows / 100_000
statuses = []
for n in range(rows):
    t = base + n % 3600
    row = n + 2
    statuses.append(status(n, "sent", t, ref2=key(row)))
    if n % 20 != 0:
        statuses.append(status(n, "delivered", t + 5, ref2=key(row)))
    else:
        statuses.append(status(n, "failed", t + 5, provider=f"AX{n:012d}", code="131047" if n % 40 else "131026",
                               message=f"other.{n}"))
    if n % 5 < 3:
        statuses.append(status(n, "read", t + 60))
    statuses.append(status(n, "sent", t + 1))
for n in range(int(10_000 * scale)):
    statuses.append(status(10**9 + n, "delivered", base, ref2="flowc-0ther000-1"))
s.executemany("""INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id,
    status, timestamp, timestamp_unix, recipient, error_code, error_title, ref2)
    VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", statuses)
replies = []
slots = ["10:00", "11:00", "12:00", "15:30"]
for i in range(int(30_000 * scale)):
    n = (i * 3) % rows
    t = base + 3600 + i
    if i < 25_000 * scale:
        token, context = f"booking-C-{n:07d}", None
    elif i < 29_000 * scale:
        token, context = None, f"wamid.{n}"
    else:
        token, context = "nobody", "wamid.nobody"
    answers = {"slot": slots[i % 4], "centre": ["Pune", "Mysuru", "Oslo"][i % 3], "comment": f"note {i % 50}"}
    if token:
        answers["flow_token"] = token
    replies.append((ident(), base * 1000, f"wamid.reply.{i}", f"9190{n:08d}", context, "interactive", token,
                    json.dumps(answers, separators=(",", ":")), str(t), t))
s.executemany("""INSERT INTO messages (event_key, callback_id, received_at, message_id, from_number, context_id,
    type, flow_token, response_json, timestamp, timestamp_unix)
    VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", replies)
s.executemany("INSERT INTO opt_outs (event_key, callback_id, received_at, number, word) VALUES (?, 1, 0, ?, 'STOP')",
              ((ident(), f"9190{(n * 7) % rows:08d}") for n in range(int(500 * scale))))
s.commit()
total = s.execute("SELECT (SELECT count(*) FROM statuses) + (SELECT count(*) FROM messages)").fetchone()[0]
print(f"store: {total:,} events (statuses and replies)", file=sys.stderr)
s.close()
PY
fi

echo "== flowc report: $rows rows, $(sqlite3 "$store" 'SELECT (SELECT count(*) FROM statuses) + (SELECT count(*) FROM messages)' 2>/dev/null || echo '?') events"
for run in 1 2 3; do
  rm -f "$work/report.csv" "$work/answers.csv" "$work/report.html"
  /usr/bin/time -f "%e %M" -o "$work/time.txt" \
    "$flowc" report "$journal" --events "$store" --out "$work/report.csv" \
      --responses "$work/answers.csv" --html "$work/report.html" > "$work/stdout.txt" 2> "$work/stderr.txt"
  read -r wall rss < "$work/time.txt"
  echo "   run $run: wall ${wall} s, peak RSS $((rss / 1024)) MiB"
done
echo "   $(cat "$work/stdout.txt")"
grep '^events:' "$work/stderr.txt" | sed 's/^/   /'
echo "   report $(wc -l < "$work/report.csv") lines, answers $(wc -l < "$work/answers.csv") lines, page $(wc -c < "$work/report.html") bytes"
