#!/usr/bin/env python3
"""The report benchmark's campaign as the receiver gets it: a journal of ROWS rows (written
directly, in the layout of src/send/journal/schema.rs, as benches/report.sh writes it) and the
callbacks the provider sends about it, one JSON body a line on stdout (the provider's envelope,
one event each), for the load generator's --bodies to post to receivers.

The events are benches/report.sh's (for 100,000 rows, 400,500):
  statuses  100,000 sent (ref2 = the row's --track key)     95,000 delivered (key)
            60,000 read (Meta's wamid only)                   5,000 failed (131047, 131026; the
            202's message_id only, in the envelope)           100,000 `sent` again, another time
            10,000 of another campaign
  replies   25,000 Flow completions by flow_token, 4,000 by context.id, 1,000 of nobody
  opt-outs  500 STOP texts (each is also a message)

Usage: gen_report_callbacks.py ROWS JOURNAL > bodies.jsonl
"""
import json
import sqlite3
import sys

rows, journal = int(sys.argv[1]), sys.argv[2]
campaign = "5eedc0de" + "0" * 24
base = 1_767_225_600


def key(row):
    return f"flowc-{campaign[:8]}-{row}"


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

METADATA = {"display_phone_number": "911234567890", "phone_number_id": "104000000000001"}
TITLES = {131047: "Re-engagement message", 131026: "Message undeliverable"}
out = sys.stdout
written = 0


def envelope(value, extra, **root):
    global written
    body = {"meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": METADATA,
                                                            **value}}}
    if extra:
        body["extra_info"] = extra
    body.update(root)
    out.write(json.dumps(body, separators=(",", ":")) + "\n")
    written += 1


def status(n, name, t, ref2=None, provider=None, code=None, message=None):
    one = {"id": message if message is not None else f"wamid.{n}", "status": name, "timestamp": str(t),
           "recipient_id": f"9190{n:08d}"}
    if code:
        one["errors"] = [{"code": code, "title": TITLES[code]}]
    extra = {}
    if ref2:
        extra["ref2"] = ref2
    if provider:
        extra["message_id"] = provider
    root = {"status": name}
    if provider:
        root["message_id"] = provider
    envelope({"statuses": [one]}, extra, **root)


def message(from_number, message_id, t, kind, content, context=None):
    one = {"from": from_number, "id": message_id, "timestamp": str(t), "type": kind, kind: content}
    if context:
        one["context"] = {"from": "911234567890", "id": context}
    envelope({"messages": [one]}, None)


scale = rows / 100_000
for n in range(rows):
    t = base + n % 3600
    row = n + 2
    status(n, "sent", t, ref2=key(row))
    if n % 20 != 0:
        status(n, "delivered", t + 5, ref2=key(row))
    else:
        status(n, "failed", t + 5, provider=f"AX{n:012d}", code=131047 if n % 40 else 131026, message=f"other.{n}")
    if n % 5 < 3:
        status(n, "read", t + 60)
    status(n, "sent", t + 1)
for n in range(int(10_000 * scale)):
    status(10**9 + n, "delivered", base, ref2="flowc-0ther000-1")
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
    message(f"9190{n:08d}", f"wamid.reply.{i}", t, "interactive",
            {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                                                 "response_json": json.dumps(answers, separators=(",", ":"))}},
            context)
for n in range(int(500 * scale)):
    message(f"9190{(n * 7) % rows:08d}", f"wamid.stop.{n}", base + 7200 + n, "text", {"body": "STOP"})
print(f"{written:,} callbacks", file=sys.stderr)
