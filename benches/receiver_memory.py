#!/usr/bin/env python3
"""Peak memory of `flowc receive` under 128 concurrent callbacks of 1 MiB.

Usage: benches/receiver_memory.py [FLOWC] [KIND]
KIND: `tiny` (a body of 32,800 minimal statuses, the attack) or `ref` (one status whose ref is
~1 MiB, the largest real callback). Prints the receiver's peak RSS (VmHWM) and the answers.
Not a test: a measurement to rerun by hand.
"""
import json, os, re, socket, subprocess, sys, tempfile, threading, collections

flowc = sys.argv[1] if len(sys.argv) > 1 else "target/debug/flowc"
kind = sys.argv[2] if len(sys.argv) > 2 else "tiny"
token = "tok-3f9c2a71e5d84b06-memory"
scratch = tempfile.mkdtemp()
with open(os.path.join(scratch, "token"), "w") as f:
    f.write(token + "\n")
receiver = subprocess.Popen(
    [flowc, "receive", "--listen", "127.0.0.1:0", "--store", os.path.join(scratch, "events.sqlite"),
     "--token-file", os.path.join(scratch, "token")],
    stderr=subprocess.PIPE, text=True)
while True:
    line = receiver.stderr.readline()
    found = re.search(r"listening on (\S+)", line)
    if found:
        host, port = found.group(1).rsplit(":", 1)
        break

def body(n):
    if kind == "tiny":
        # As many minimal statuses as fit in 1 MiB (32,800).
        statuses = ",".join('{"id":"%x%x","status":"sent"}' % (n, i) for i in range(32_800))
        text = '{"statuses":[%s]}' % statuses
        assert len(text) <= 1024 * 1024, len(text)
    else:
        text = json.dumps({"statuses": [{"id": "wamid.%d" % n, "status": "sent", "timestamp": "1"}],
                           "extra_info": {"ref": "r" * 1_000_000}})
    return text.encode()

bodies = [body(n) for n in range(128)]
answers = collections.Counter()
barrier = threading.Barrier(128)

def post(n):
    data = bodies[n]
    head = ("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(data))).encode()
    s = socket.create_connection((host, int(port)))
    s.settimeout(120)
    barrier.wait()
    try:
        s.sendall(head + data)
        answer = s.recv(64).split(b" ")[1].decode()
    except Exception as error:
        answer = type(error).__name__
    answers[answer] += 1
    s.close()

threads = [threading.Thread(target=post, args=(n,)) for n in range(128)]
for t in threads: t.start()
for t in threads: t.join()
with open("/proc/%d/status" % receiver.pid) as f:
    status = f.read()
peak = re.search(r"VmHWM:\s+(\d+) kB", status).group(1)
now = re.search(r"VmRSS:\s+(\d+) kB", status).group(1)
print("kind=%s peak RSS %.1f MiB, after %.1f MiB, answers %s" % (kind, int(peak) / 1024, int(now) / 1024, dict(answers)))
receiver.terminate()
receiver.wait()
