#!/usr/bin/env python3
"""Crash trials for `flowc send`: SIGKILL a campaign at random instants, resume it, and check
that the journal kept its two promises: nothing sent twice, nothing accepted lost.

Why: the journal's guarantees (a row is committed `sending` before its request leaves; a row
found `sending` on resume becomes `unknown` and is not resent; a dropped connection after the
request left is `unknown` too) are only as good as the code paths that hold them at *every*
instant a process can die. Unit tests kill at a few chosen moments; this script kills at random
ones, many times, against a provider that fails in every way the sender distinguishes, and
checks the outcome from the provider's side, which is the side that matters: the server records
every request it receives (by `extra_info.ref`, unique per row) and what it answered.

The fake provider (a threaded `http.server` on 127.0.0.1) answers each request at random:
  202 WA202 with a unique message id (most), 500 WA500 (retryable: the provider says it did not
  act), a dropped connection after reading the request (ambiguous: it may have been delivered),
  a slow answer, or a hang longer than flowc's --timeout (ambiguous).

Per trial: a fresh journal directory; `flowc send` started, SIGKILLed after a random delay, and
resumed with the same command, again and again until a run exits on its own; then the final
report is checked:
  DUPLICATE  a ref received again after an answer other than 500 (202, drop or hang): the
             message may reach the person twice. Only a 500 allows a resend (--resend-unknown
             and --retry-ambiguous are not used here).
  LOSS       a ref the server answered 202 whose final status is `pending` or `failed` (a 202
             whose answer flowc may not have read before the kill may be `unknown`: allowed).
  PHANTOM    a row reported accepted/skipped whose message id the server never gave that ref.
  PENDING    a row left `pending` (every row must end accepted/skipped/unknown/failed/invalid).
  STUCK      a run that refused (exit 2) a journal from which no request had ever been sent.
  EXIT       a run that ended with an unexpected exit code, or that did not end in time.
With --wal-trials, a run is SIGKILLed once, its journal's `-wal` file deleted, and the resume
left to finish: flowc must then refuse (exit 2, "has lost", nothing sent) or resume cleanly and
pass the checks above; no duplicate either way.

A trial with a violation keeps its directory (journal, mirror, report, every run's output, and
`after-kill-N/`: the journal files as each kill left them) and prints each offending row's request
history and journal record.

Usage (from the repository root, after a release build):
  CARGO_TARGET_DIR=target cargo build --release
  python3 benches/crash_trials.py                       # 30 trials + 5 WAL-deletion trials, 2,000 rows
  python3 benches/crash_trials.py --trials 100 --rows 5000 --seed 7 --drop 0.05
  python3 benches/crash_trials.py --trials 3 --wal-trials 0 --flowc-arg=--resend-unknown  # must fail
  python3 benches/crash_trials.py --help                # every rate and delay
Exit status: 0 when no trial found a violation, 1 otherwise, 2 for a setup problem.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import http.server
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SID = "CRASHTRIAL"
API_KEY = "crash-trial-key"
FROM = "+911234567890"
TEMPLATE = ROOT / "templates" / "service-booking.yaml"

# --------------------------------------------------------------------------------------------
# The fake provider
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Receipt:
    """One request as the server saw it, and the answer it decided on at once."""

    seq: int
    ref: str
    answer: str  # "202", "500", "drop" or "hang" (a 202 sent after flowc's timeout)
    message_id: str | None
    at: float  # seconds since the trial started
    run: int  # the run (1, 2, ...) that was current when it arrived


@dataclasses.dataclass
class Rates:
    drop: float
    error500: float
    slow: float
    slow_max: float
    hang: float
    hang_seconds: float


class ProviderState:
    """Everything the server records for one trial; handlers of every thread write here."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: list[Receipt] = []
        self.bad_requests: list[str] = []
        self.run = 0
        self.started = time.monotonic()

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)


class Provider(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, rates: Rates, seed: int) -> None:
        super().__init__(("127.0.0.1", 0), ProviderHandler)
        self.rates = rates
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.state = ProviderState()
        self.next_message_id = 0
        self.connections_lock = threading.Lock()
        self.open_connections = 0  # handler threads alive
        self.delaying = 0  # of which waiting out a slow answer (their request is recorded)

    def process_request(self, request, client_address) -> None:  # counted before its thread starts
        self.count_connections(open_=1)
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.count_connections(open_=-1)

    def count_connections(self, open_: int = 0, delaying: int = 0) -> None:
        with self.connections_lock:
            self.open_connections += open_
            self.delaying += delaying

    def settle(self, quiet: float = 0.1, limit: float = 10.0) -> None:
        """Waits until no connection can still deliver a request: every handler is gone or
        already holds its recorded request, for `quiet` seconds in a row. After a SIGKILL the
        kernel still hands the server what the dead process had written, so without this a
        request of the killed run could be counted in the next one."""
        deadline = time.monotonic() + limit
        calm_since = None
        while time.monotonic() < deadline:
            with self.connections_lock:
                calm = self.open_connections == self.delaying
            now = time.monotonic()
            if not calm:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= quiet:
                return
            time.sleep(0.005)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def decide(self) -> tuple[str, float]:
        """The answer for one request and how long to wait before giving it."""
        r = self.rates
        with self.rng_lock:
            x = self.rng.random()
            slow = self.rng.random() < r.slow
            delay = self.rng.uniform(0.05, r.slow_max) if slow else 0.0
        if x < r.drop:
            return "drop", delay
        if x < r.drop + r.error500:
            return "500", delay
        if x < r.drop + r.error500 + r.hang:
            return "hang", r.hang_seconds
        return "202", delay

    def record(self, ref: str, answer: str) -> str | None:
        with self.state.lock:
            message_id = None
            if answer in ("202", "hang"):
                self.next_message_id += 1
                message_id = f"M{self.next_message_id}"
            s = self.state
            s.receipts.append(Receipt(len(s.receipts), ref, answer, message_id,
                                      time.monotonic() - s.started, s.run))
            return message_id

    def handle_error(self, request, client_address) -> None:  # a killed client: not news
        pass


class ProviderHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    server: Provider

    def log_message(self, format, *args) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the client died while sending: nothing received
            return
        expected = {f"/v2/{SID}/whatsapp/{FROM}/messages", f"/v2/{SID}/whatsapp/%2B{FROM[1:]}/messages"}
        try:
            ref = json.loads(body)["extra_info"]["ref"]
        except (ValueError, KeyError, TypeError):
            ref = None
        if self.path not in expected or self.headers.get("api-key") != API_KEY or ref is None:
            with self.server.state.lock:
                self.server.state.bad_requests.append(f"{self.path} ref={ref!r}")
            self.reply(400, {"code": "WA400", "message": "unexpected request", "data": {}, "error": {}})
            return
        answer, delay = self.server.decide()
        message_id = self.server.record(ref, answer)
        if delay:
            self.server.count_connections(delaying=1)
            try:
                time.sleep(delay)
            finally:
                self.server.count_connections(delaying=-1)
        if answer == "drop":
            # Close without a byte of answer: the request arrived, the client cannot know.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if answer == "500":
            self.reply(500, {"code": "WA500", "message": "Internal Server Error", "data": {},
                             "error": {"message": "Something went wrong, please retry"}})
            return
        self.reply(202, {"code": "WA202", "message": "Request Accepted",
                         "data": {"message_id": message_id}, "error": {}})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # flowc was killed (or timed out) while we answered
            self.close_connection = True


# --------------------------------------------------------------------------------------------
# Data: a contacts file whose every row has its own extra_info.ref
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Contacts:
    path: Path
    row_of: dict[str, int]  # ref -> the data file's row number (as in the report)
    ref_of: dict[int, str]
    phone_of: dict[int, str]


def prepare_contacts(flowc: Path, work: Path, rows: int) -> Contacts:
    """Writes the contacts with benches/gen_contacts.py and proves each row's ref is unique,
    by rendering every body with flowc itself."""
    path = work / f"contacts-{rows}.csv"
    with open(path, "w", encoding="utf-8") as out:
        subprocess.run([sys.executable, str(ROOT / "benches" / "gen_contacts.py"), str(rows)],
                       stdout=out, check=True)
    row_of, ref_of, phone_of = {}, {}, {}
    with open(path, newline="", encoding="utf-8") as f:
        for index, record in enumerate(csv.DictReader(f)):
            row = index + 2  # the header is row 1; a quoted multi-line value is still one row
            ref = record["customer_id"]
            row_of[ref], ref_of[row] = row, ref
            phone_of[row] = "".join(c for c in record["phone"] if c not in " -.()")
    rendered = subprocess.run([str(flowc), "render", str(TEMPLATE), "--data", str(path)],
                              capture_output=True, text=True, check=True)
    refs = [json.loads(line)["extra_info"]["ref"] for line in rendered.stdout.splitlines() if line]
    if len(refs) != rows or len(set(refs)) != rows or set(refs) != set(row_of):
        raise SystemExit(f"setup: {TEMPLATE.name} does not give every row its own extra_info.ref "
                         f"({len(refs)} bodies, {len(set(refs))} distinct refs, {rows} rows)")
    return Contacts(path, row_of, ref_of, phone_of)


# --------------------------------------------------------------------------------------------
# One trial
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    number: int
    exit_code: int | None  # None: SIGKILLed
    seconds: float
    requests: int  # received by the server during the run
    wal_bytes: int | None = None  # WAL trials: the size of the -wal deleted after this kill


@dataclasses.dataclass
class TrialResult:
    name: str
    directory: Path
    runs: list[Run] = dataclasses.field(default_factory=list)
    receipts: list[Receipt] = dataclasses.field(default_factory=list)
    report: dict[int, dict] | None = None
    violations: list[str] = dataclasses.field(default_factory=list)
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    refused: bool = False  # WAL trials: a resume refused with "has lost"
    clean_resumes: int = 0  # WAL trials: resumes after a WAL deletion that went on

    @property
    def kills(self) -> int:
        return sum(1 for run in self.runs if run.exit_code is None)

    def count(self, kind: str) -> int:
        return sum(1 for v in self.violations if v.startswith(kind))


def flowc_command(flowc: Path, contacts: Contacts, directory: Path) -> list[str]:
    return [str(flowc), "send", str(TEMPLATE), "--data", str(contacts.path), "--yes",
            "--rate", "0", "--concurrency", "32", "--retry-delay-ms", "20", "--timeout", "5",
            "--journal", str(directory / "campaign.journal.sqlite"),
            "--report", str(directory / "campaign.report.csv")]


def flowc_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALEYRA_")}
    env.update(KALEYRA_SID=SID, KALEYRA_API_KEY=API_KEY, KALEYRA_WHATSAPP_NUMBER=FROM,
               KALEYRA_BASE_URL=url, NO_COLOR="1")
    return env


def run_trial(name: str, flowc: Path, contacts: Contacts, provider: Provider, directory: Path,
              rng: random.Random, args: argparse.Namespace, delete_wal: bool) -> TrialResult:
    directory.mkdir(parents=True)
    result = TrialResult(name, directory)
    provider.state = state = ProviderState()
    command = flowc_command(flowc, contacts, directory) + args.flowc_arg
    env = flowc_env(provider.url)
    journal = directory / "campaign.journal.sqlite"
    final_code = None
    for number in range(1, args.max_runs + 1):
        state.run = number
        before = state.count()
        # WAL trials: one kill, then the -wal is deleted and the resume is left to finish.
        kill_now = number < args.max_runs and result.kills < (1 if delete_wal else args.max_kills)
        delay = rng.uniform(args.kill_min, args.kill_max) if kill_now else args.run_timeout
        started = time.monotonic()
        with open(directory / f"run-{number}.stdout", "w") as out, \
                open(directory / f"run-{number}.stderr", "w") as err:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            try:
                code = process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                code = None
        run = Run(number, code, time.monotonic() - started, 0)
        result.runs.append(run)
        if code is None and not kill_now:
            result.violations.append(f"EXIT run {number} did not end within {args.run_timeout} s")
            break
        if code is None:
            provider.settle()  # requests the dead process had written still arrive
            snapshot_journal(journal, directory / f"after-kill-{number}")  # evidence, before a resume touches it
            if delete_wal:
                wal = Path(f"{journal}-wal")
                run.wal_bytes = wal.stat().st_size if wal.exists() else 0
                wal.unlink(missing_ok=True)
            run.requests = state.count() - before
            continue
        run.requests = state.count() - before
        stderr = (directory / f"run-{number}.stderr").read_text(errors="replace")
        if delete_wal and number > 1:  # the resume after the kill and the deletion
            if code == 2 and "has lost" in stderr:
                result.refused = True
                if run.requests:
                    result.violations.append(f"EXIT run {number} refused (has lost) but sent {run.requests} requests")
                final_code = code
                break
            if code in (0, 1):
                result.clean_resumes += 1
        final_code = code
        if code == 2 and not state.count():
            # Refused though no request ever left: nothing to protect, yet only --restart goes on.
            result.violations.append(f"STUCK run {number} refused a journal from which nothing was sent: "
                                     f"{stderr.strip().splitlines()[0] if stderr.strip() else ''}")
        elif code not in (0, 1):
            result.violations.append(f"EXIT run {number} exited {code}: {stderr.strip()[-500:]}")
        break
    provider.settle()
    result.receipts = list(state.receipts)
    result.violations += [f"BAD request {b}" for b in state.bad_requests]
    if final_code in (0, 1) and not result.refused:
        result.report = read_report(directory / "campaign.report.csv")
        if result.report is None:
            result.violations.append("EXIT the last run wrote no report")
    check_trial(result, contacts, final_code)
    return result


def snapshot_journal(journal: Path, into: Path) -> None:
    """Copies the journal, its -wal, -shm, rollback -journal and mirror as the kill left them."""
    into.mkdir()
    for source in journal.parent.glob(journal.name + "*"):
        if source.is_file():
            shutil.copy(source, into / source.name)


def read_report(path: Path) -> dict[int, dict] | None:
    if not path.exists():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return {int(line["row"]): line for line in csv.DictReader(f)}


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def check_trial(result: TrialResult, contacts: Contacts, final_code: int | None) -> None:
    """Fills result.violations: duplicates from the server's log alone (valid whatever happened
    to the journal), then losses, phantoms and pending rows against the final report."""
    history: dict[str, list[Receipt]] = collections.defaultdict(list)
    for receipt in result.receipts:
        history[receipt.ref].append(receipt)
    report = result.report or {}

    for ref, receipts in history.items():
        # Every receipt but the last must have been a 500 (the server said it did not act).
        if len(receipts) > 1 and any(r.answer != "500" for r in receipts[:-1]):
            status = report.get(contacts.row_of[ref], {}).get("status", "?")
            result.violations.append(
                f"DUPLICATE ref {ref} (row {contacts.row_of[ref]}, final status {status}): "
                f"received {len(receipts)} times, answers {[r.answer for r in receipts]}")

    if result.report is None:
        return
    for row, line in report.items():
        result.statuses[line["status"]] += 1
    if set(report) != set(contacts.ref_of):
        result.violations.append(f"REPORT has {len(report)} rows, the data {len(contacts.ref_of)}")
    for row, ref in contacts.ref_of.items():
        line = report.get(row)
        if line is None:
            continue
        status = line["status"]
        receipts = history.get(ref, [])
        issued = {r.message_id for r in receipts if r.answer in ("202", "hang")}
        got_202 = any(r.answer == "202" for r in receipts)
        if line["to"] != contacts.phone_of[row]:
            result.violations.append(f"REPORT row {row}: to {line['to']!r}, data {contacts.phone_of[row]!r}")
        if status in ("pending", "sending"):
            result.violations.append(f"PENDING row {row} ({ref}) is {status} after the last run")
        if got_202 and status not in ("accepted", "skipped", "unknown"):
            result.violations.append(
                f"LOSS row {row} ({ref}): the server answered 202 ({sorted(issued)}) but the report says {status}")
        if status in ("accepted", "skipped") and line["message_id"] not in issued:
            result.violations.append(
                f"PHANTOM row {row} ({ref}) is {status} with message id {line['message_id']!r}; "
                f"the server gave it {sorted(issued) or 'none'}")
        if status == "invalid" and receipts:
            result.violations.append(f"PHANTOM row {row} ({ref}) is invalid but was sent")
    if final_code == 1 and not (result.statuses.keys() - {"accepted", "skipped"}):
        result.violations.append("EXIT the last run exited 1 though every row is accepted")
    if final_code == 0 and result.statuses.keys() - {"accepted", "skipped"}:
        result.violations.append(f"EXIT the last run exited 0 with {dict(result.statuses)}")


def explain(result: TrialResult, contacts: Contacts) -> str:
    """The evidence for each offending row: the server's log, the report, the journal."""
    lines = [f"  kept: {result.directory}"]
    refs = []
    for v in result.violations:
        for word in v.replace("(", " ").replace(")", " ").replace(",", " ").split():
            if word in contacts.row_of and word not in refs:
                refs.append(word)
    journal_rows = read_journal_rows(result.directory, [contacts.row_of[r] for r in refs])
    for ref in refs[:20]:
        row = contacts.row_of[ref]
        lines.append(f"  row {row} ref {ref}:")
        for r in (x for x in result.receipts if x.ref == ref):
            lines.append(f"    server: #{r.seq} at {r.at:.3f} s during run {r.run}: {r.answer} {r.message_id or ''}")
        lines.append(f"    report:  {(result.report or {}).get(row)}")
        lines.append(f"    journal: {journal_rows.get(row)}")
    for run in result.runs:
        end = "SIGKILL" if run.exit_code is None else f"exit {run.exit_code}"
        lines.append(f"  run {run.number}: {end} after {run.seconds:.2f} s, {run.requests} requests"
                     + (f", deleted a {run.wal_bytes}-byte -wal" if run.wal_bytes is not None else ""))
    return "\n".join(lines)


def read_journal_rows(directory: Path, rows: list[int]) -> dict[int, tuple]:
    """Reads a copy of the journal (the evidence itself stays untouched)."""
    copy = directory / "inspect"
    copy.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = directory / f"campaign.journal.sqlite{suffix}"
        if source.exists():
            shutil.copy(source, copy / source.name)
    try:
        db = sqlite3.connect(copy / "campaign.journal.sqlite")
        columns = [c[1] for c in db.execute("PRAGMA table_info(rows)")]
        found = {}
        for row in rows:
            record = db.execute("SELECT * FROM rows WHERE row = ?", (row,)).fetchone()
            found[row] = dict(zip(columns, record)) if record else None
        db.close()
        return found
    except sqlite3.Error as error:
        return {row: f"unreadable: {error}" for row in rows}


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trials", type=int, default=30, help="trials with SIGKILLs")
    p.add_argument("--wal-trials", type=int, default=5, help="trials that delete the -wal after their one kill")
    p.add_argument("--rows", type=int, default=2000, help="contacts per campaign")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    p.add_argument("--drop", type=float, default=0.02, help="share of requests whose connection is dropped")
    p.add_argument("--error500", type=float, default=0.05, help="share answered 500 WA500")
    p.add_argument("--hang", type=float, default=0.0005, help="share answered only after --hang-seconds")
    p.add_argument("--hang-seconds", type=float, default=6.0, help="longer than flowc's --timeout 5")
    p.add_argument("--slow", type=float, default=0.05, help="share answered after a random delay")
    p.add_argument("--slow-max", type=float, default=1.0, help="the longest slow delay, seconds")
    p.add_argument("--kill-min", type=float, default=0.05, help="earliest SIGKILL after a run starts, seconds")
    p.add_argument("--kill-max", type=float, default=1.5, help="latest SIGKILL after a run starts, seconds")
    p.add_argument("--max-kills", type=int, default=25, help="after this many kills, the next run is left to finish")
    p.add_argument("--max-runs", type=int, default=30, help="runs per trial at most")
    p.add_argument("--run-timeout", type=float, default=120.0, help="a run left to finish must end within this")
    p.add_argument("--flowc-arg", action="append", default=[], metavar="ARG",
                   help="an extra flowc send argument; to check the checker: --flowc-arg=--resend-unknown "
                        "(or --retry-ambiguous) must give DUPLICATE violations")
    p.add_argument("--flowc", type=Path, default=ROOT / "target" / "release" / "flowc")
    p.add_argument("--work", type=Path, default=ROOT / "target" / "crash-trials",
                   help="trial directories (kept only for trials with a violation, or with --keep)")
    p.add_argument("--keep", action="store_true", help="keep every trial's directory")
    args = p.parse_args()
    if args.max_kills >= args.max_runs:
        p.error("--max-kills must be below --max-runs (the last run is left to finish)")
    return args


def trial_line(result: TrialResult) -> str:
    answers = collections.Counter(r.answer for r in result.receipts)
    refs = collections.Counter(r.ref for r in result.receipts)
    resent = sum(1 for n in refs.values() if n > 1) - result.count("DUPLICATE")  # allowed: after 500s
    last = result.runs[-1]
    end = "refused" if result.refused else ("SIGKILL" if last.exit_code is None else f"exit {last.exit_code}")
    return (f"{result.name:>8}  runs {len(result.runs):2d}  kills {result.kills:2d}  requests {len(result.receipts):5d} "
            f"(202 {answers['202']:4d}, 500 {answers['500']:3d}, drop {answers['drop']:3d}, hang {answers['hang']})  "
            f"resent-after-500 {resent:3d}  unknown {result.statuses['unknown']:3d}  "
            f"dup {result.count('DUPLICATE')}  loss {result.count('LOSS')}  stuck {result.count('STUCK')}  other "
            f"{len(result.violations) - result.count('DUPLICATE') - result.count('LOSS') - result.count('STUCK')}"
            f"  [{end}]")


def main() -> int:
    args = parse_args()
    flowc = args.flowc.resolve()
    if not flowc.exists():
        print(f"setup: {flowc} is missing; build it: CARGO_TARGET_DIR=target cargo build --release", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = args.work.resolve()
    run_dir = work / f"seed-{seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    contacts = prepare_contacts(flowc, run_dir, args.rows)
    rates = Rates(args.drop, args.error500, args.slow, args.slow_max, args.hang, args.hang_seconds)
    provider = Provider(rates, seed)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    print(f"crash trials: seed {seed}, {args.trials} trials + {args.wal_trials} WAL-deletion trials, "
          f"{args.rows} rows, provider {provider.url} (drop {args.drop}, 500 {args.error500}, "
          f"hang {args.hang}, slow {args.slow} up to {args.slow_max} s), kills after "
          f"{args.kill_min}-{args.kill_max} s", flush=True)

    results: list[TrialResult] = []
    plan = [(f"t{i + 1}", False) for i in range(args.trials)] + \
           [(f"wal{i + 1}", True) for i in range(args.wal_trials)]
    for name, delete_wal in plan:
        result = run_trial(name, flowc, contacts, provider, run_dir / name, rng, args, delete_wal)
        results.append(result)
        print(trial_line(result), flush=True)
        if result.violations:
            for v in result.violations[:20]:
                print(f"    {v}")
            print(explain(result, contacts), flush=True)
        elif not args.keep:
            shutil.rmtree(result.directory)
    provider.shutdown()

    def total(group: list[TrialResult], title: str) -> None:
        if not group:
            return
        statuses = sum((r.statuses for r in group), collections.Counter())
        answers = collections.Counter(x.answer for r in group for x in r.receipts)
        print(f"{title}: {len(group)} trials, {sum(len(r.runs) for r in group)} runs, "
              f"{sum(r.kills for r in group)} kills, {sum(len(r.receipts) for r in group)} requests "
              f"(202 {answers['202']}, 500 {answers['500']}, drop {answers['drop']}, hang {answers['hang']}), "
              f"duplicates {sum(r.count('DUPLICATE') for r in group)}, losses {sum(r.count('LOSS') for r in group)}, "
              f"stuck {sum(r.count('STUCK') for r in group)}, other violations "
              f"{sum(len(r.violations) - r.count('DUPLICATE') - r.count('LOSS') - r.count('STUCK') for r in group)}, "
              f"final statuses {dict(sorted(statuses.items()))}")

    def unknown_breakdown(group: list[TrialResult]) -> None:
        """Why rows ended unknown, from the server's side (all allowed; for the record)."""
        why = collections.Counter()
        for r in group:
            last_answer = {x.ref: x.answer for x in r.receipts}
            for row, line in (r.report or {}).items():
                if line["status"] == "unknown":
                    why[last_answer.get(contacts.ref_of[row], "never received")] += 1
        if why:
            print(f"  unknown rows by the server's last answer: {dict(why.most_common())}")

    print()
    total([r for r in results if not r.name.startswith("wal")], "kill trials")
    unknown_breakdown([r for r in results if not r.name.startswith("wal")])
    wal = [r for r in results if r.name.startswith("wal")]
    total(wal, "WAL-deletion trials")
    if wal:
        print(f"WAL-deletion trials: {sum(r.refused for r in wal)} refused (exit 2, \"has lost\"), "
              f"{sum(r.clean_resumes for r in wal)} resumed cleanly, {sum(r.count('STUCK') for r in wal)} refused "
              f"though nothing was sent, {sum(r.kills == 0 for r in wal)} "
              f"finished before their kill; -wal bytes deleted: "
              f"{[run.wal_bytes for r in wal for run in r.runs if run.wal_bytes is not None]}")
    bad = [r for r in results if r.violations]
    print(f"violations: {sum(len(r.violations) for r in results)} in {len(bad)} trials"
          + (f"; kept: {', '.join(str(r.directory) for r in bad)}" if bad else ""))
    if not bad and not args.keep:
        shutil.rmtree(run_dir)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
