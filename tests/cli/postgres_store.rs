//! The event store on PostgreSQL, driven as an operator runs it: real receiver processes on one
//! real database (a throwaway cluster, see `support::postgres`), callbacks over HTTP, `send`
//! and `report` reading the same store. Most tests share one cluster (a database each); those
//! that stop the server have their own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::campaign::Campaign;
use crate::support::postgres::{self, Database};
use crate::support::provider::{Provider, Reply};
use crate::support::receiver::{status_body, Answer, Receiver};
use crate::support::{flowc, run, Scratch};

/// A receiver writing `url`, with the receiver helper's token and basic-auth files.
fn receiver_on(url: &str, extra: &[&str]) -> Result<Receiver, (i32, String)> {
    let scratch = Scratch::new();
    let token = scratch.write("token", format!("{}\n", crate::support::receiver::TOKEN));
    let mut args: Vec<String> = vec!["--token-file".into(), token.display().to_string()];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    Receiver::spawn_at(scratch, PathBuf::from(url), "127.0.0.1:0", &args)
}

/// How many statuses of `id` the database holds.
fn stored(database: &Database, id: &str) -> i64 {
    database
        .client()
        .query_one("SELECT count(*) FROM statuses WHERE message_id = $1", &[&id])
        .expect("count")
        .get(0)
}

/// Every message id with its number of statuses.
fn stored_ids(database: &Database) -> HashMap<String, i64> {
    database
        .client()
        .query("SELECT message_id, count(*) FROM statuses GROUP BY message_id", &[])
        .expect("ids")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[test]
fn a_callback_to_a_receiver_on_postgresql_is_answered_once_it_is_in_the_database() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    let answer = receiver.post(&status_body("wamid.pg-1", "delivered", "R1"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(stored(&database, "wamid.pg-1"), 1);
    // The same callback again: stored once, answered 2xx.
    assert_eq!(receiver.post(&status_body("wamid.pg-1", "delivered", "R1")).status, 200);
    assert_eq!(stored(&database, "wamid.pg-1"), 1);
    assert_eq!(receiver.get("/healthz").status, 200);
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
    assert!(stderr.contains("storing in postgres://"), "{stderr}");
}

/// The receiver answers health checks and stores a new callback in `database`.
fn assert_serving(receiver: &Receiver, database: &Database) {
    assert_eq!(receiver.get("/healthz").status, 200, "{}", receiver.stderr());
    let id = format!("wamid.alive-{}", fastrand::u64(..));
    assert_eq!(receiver.post(&status_body(&id, "delivered", "R-alive")).status, 200);
    assert_eq!(stored(database, &id), 1);
}

/// Posts a callback to the receiver at `addr`: the status it was answered with, `None` when
/// it was not answered (refused, reset, cut off).
fn post_at(addr: std::net::SocketAddr, body: &str) -> Option<u16> {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        crate::support::receiver::TOKEN,
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let answer: Answer = crate::support::receiver::read_answer(&mut stream);
    (answer.status != 0).then_some(answer.status)
}

/// Sprays `count` distinct callbacks (ids `PREFIX-n`) over `receivers` from four threads,
/// calling `midway` once half of them were sent; each id with its answer.
fn spray(
    receivers: &[std::net::SocketAddr],
    prefix: &str,
    count: usize,
    midway: impl FnOnce() + Send,
) -> HashMap<String, Option<u16>> {
    let answers = Arc::new(Mutex::new(HashMap::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let half = Arc::new(std::sync::Barrier::new(5));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (answers, next, half) = (Arc::clone(&answers), Arc::clone(&next), Arc::clone(&half));
            scope.spawn(move || {
                let mut waited = false;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= count {
                        break;
                    }
                    if !waited && n >= count / 2 {
                        half.wait();
                        waited = true;
                    }
                    let id = format!("{prefix}-{n}");
                    let answer = post_at(receivers[n % receivers.len()], &status_body(&id, "delivered", "R1"));
                    answers.lock().expect("answers").insert(id, answer);
                }
                if !waited {
                    half.wait();
                }
            });
        }
        half.wait();
        midway();
    });
    Arc::try_unwrap(answers)
        .expect("one owner")
        .into_inner()
        .expect("answers")
}

/// Every callback answered 2xx is in the store exactly once; none is stored twice.
fn assert_acknowledged_stored_once(database: &Database, answers: &HashMap<String, Option<u16>>) -> usize {
    let ids = stored_ids(database);
    let mut acknowledged = 0;
    for (id, answer) in answers {
        let copies = ids.get(id).copied().unwrap_or(0);
        assert!(copies <= 1, "{id} stored {copies} times");
        if answer.is_some_and(|status| (200..300).contains(&status)) {
            acknowledged += 1;
            assert_eq!(copies, 1, "{id} was answered {answer:?} but is not in the store");
        }
    }
    acknowledged
}

#[test]
fn two_receivers_on_one_store_lose_no_acknowledged_callback_when_one_is_killed_mid_load() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let first = receiver_on(&database.url, &[]).expect("the first receiver starts");
    let second = receiver_on(&database.url, &[]).expect("the second receiver starts");
    let first = Mutex::new(first);
    let addrs = [first.lock().expect("first").addr, second.addr];
    let answers = spray(&addrs, "wamid.spray", 600, || {
        // SIGKILL: no graceful stop, requests in flight cut off.
        first.lock().expect("first").signal("KILL");
    });
    let acknowledged = assert_acknowledged_stored_once(&database, &answers);
    // The other receiver took its share throughout.
    assert!(acknowledged >= 300, "{acknowledged} acknowledged of 600");
    let unanswered = answers.values().filter(|answer| answer.is_none()).count();
    assert!(unanswered > 0, "the killed receiver answered everything");
    assert_serving(&second, &database);
}

#[test]
fn the_same_callback_posted_to_two_receivers_at_once_is_stored_once() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let first = receiver_on(&database.url, &[]).expect("the first receiver starts");
    let second = receiver_on(&database.url, &[]).expect("the second receiver starts");
    for n in 0..20 {
        let id = format!("wamid.twice-{n}");
        let body = status_body(&id, "read", "R1");
        let both = std::sync::Barrier::new(2);
        let answers: Vec<Option<u16>> = std::thread::scope(|scope| {
            let posts: Vec<_> = [first.addr, second.addr]
                .into_iter()
                .map(|addr| {
                    let (both, body) = (&both, &body);
                    scope.spawn(move || {
                        both.wait();
                        post_at(addr, body)
                    })
                })
                .collect();
            posts.into_iter().map(|post| post.join().expect("posted")).collect()
        });
        assert_eq!(answers, [Some(200), Some(200)], "{id}");
        assert_eq!(stored(&database, &id), 1, "{id}");
    }
    let callbacks: i64 = database
        .client()
        .query_one("SELECT count(*) FROM callbacks", &[])
        .expect("count")
        .get(0);
    assert_eq!(callbacks, 20);
}

/// Waits (up to 20 s) until `/healthz` answers `status`; the answer.
fn health_becomes(receiver: &Receiver, status: u16) -> Answer {
    let start = Instant::now();
    loop {
        let answer = receiver.get("/healthz");
        if answer.status == status || start.elapsed() > Duration::from_secs(20) {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postgresql_stopped_mid_load_gives_503s_and_the_receivers_recover_when_it_is_back() {
    let Some(cluster) = postgres::own_cluster() else { return };
    let database = cluster.database();
    let first = receiver_on(&database.url, &[]).expect("the first receiver starts");
    let second = receiver_on(&database.url, &[]).expect("the second receiver starts");
    let addrs = [first.addr, second.addr];
    let answers = spray(&addrs, "wamid.outage", 400, || cluster.stop());
    // Down: no 2xx, 503 with Retry-After, and /healthz says so.
    for (n, receiver) in [&first, &second].into_iter().enumerate() {
        let answer = receiver.post(&status_body(&format!("wamid.down-{n}"), "delivered", "R1"));
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert!(
            answer.text.to_ascii_lowercase().contains("retry-after: 5"),
            "{}",
            answer.text
        );
        let health = health_becomes(receiver, 503);
        assert_eq!(health.status, 503, "{}", health.text);
        assert!(health.text.contains("unreachable"), "{}", health.text);
    }
    cluster.restart();
    // Back: the same processes take callbacks again.
    for receiver in [&first, &second] {
        let health = health_becomes(receiver, 200);
        assert_eq!(health.status, 200, "{}", health.text);
    }
    let after = spray(&addrs, "wamid.after", 40, || {});
    assert!(after.values().all(|answer| *answer == Some(200)), "{after:?}");
    let mut all = answers;
    all.extend(after);
    assert_acknowledged_stored_once(&database, &all);
    for receiver in [first, second] {
        let (code, stderr) = receiver.stop();
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("not stored (answered 503"), "{stderr}");
        assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
    }
}

/// A STOP from `from`, as the provider forwards an incoming message.
fn stop_reply(id: &str, from: &str) -> String {
    serde_json::json!({"meta_object": {"value": {"messages": [
        {"from": from, "id": id, "timestamp": "1", "type": "text", "text": {"body": "STOP"}}]}}})
    .to_string()
}

#[test]
fn a_postgresql_store_of_another_version_is_refused_by_receive_send_and_report() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    assert_eq!(receiver.post(&stop_reply("m1", "14150000001")).status, 200);
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    // A campaign sent before, for the report.
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    database
        .client()
        .batch_execute("UPDATE flowc_store SET version = 3")
        .expect("version set");

    let again = Campaign::new(3);
    let before = provider.received().len();
    let outcome = run(again.command(&provider).arg("--events").arg(&database.url));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is of layout 3"), "{}", outcome.stderr);
    assert_eq!(provider.received().len(), before, "sent despite a store it cannot read");

    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&database.url));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is of layout 3"), "{}", outcome.stderr);

    let (code, stderr) = match receiver_on(&database.url, &[]) {
        Ok(receiver) => panic!("a receiver started on a store of another layout: {}", receiver.stderr()),
        Err(refused) => refused,
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is of layout 3"), "{stderr}");
    for said in [&outcome.stderr, &stderr] {
        assert!(!said.contains(postgres::PASSWORD), "{said}");
    }
}

/// A PostgreSQL store of layout 1 (its tables and rows as that receiver wrote them) is refused
/// by `send` and `report`, which say to start the receiver once; the receiver upgrades it in
/// place, keeping every row, and its statuses then keep what Meta charged.
#[test]
fn a_postgresql_store_of_layout_1_is_upgraded_by_the_receiver_with_its_rows_kept() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    database
        .client()
        .batch_execute(include_str!("../data/events-layout-1.postgres.sql"))
        .expect("a layout-1 store");
    let rows = |table: &str| -> Vec<String> {
        database
            .client()
            .query(&format!("SELECT t::text FROM {table} t ORDER BY id"), &[])
            .expect("rows")
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let before: Vec<Vec<String>> = ["callbacks", "messages", "opt_outs"]
        .iter()
        .map(|table| rows(table))
        .collect();
    let statuses = || -> Vec<String> {
        database
            .client()
            .query(
                "SELECT concat_ws('|', id, message_id, provider_message_id, status, \"timestamp\", recipient,
                    error_code, error_title, ref, trace_id, billable, pricing_category) FROM statuses ORDER BY id",
                &[],
            )
            .map(|found| found.iter().map(|row| row.get(0)).collect())
            .unwrap_or_default()
    };
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&database.url));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is of layout 1"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("start `flowc receive` on the store once"),
        "{}",
        outcome.stderr
    );

    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    let priced = serde_json::json!({"statuses": [{"id": "wamid.V2", "status": "delivered", "timestamp": "1764000100",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}}]});
    assert_eq!(receiver.post(&priced.to_string()).status, 200);
    let said = receiver.stderr();
    assert_eq!(
        said.matches("upgraded the event store").count(),
        1,
        "the receiver says once that it upgraded the store: {said}"
    );
    assert!(said.contains("from layout 1 to layout 2"), "{said}");
    let second = receiver_on(&database.url, &[]).expect("a second receiver starts");
    assert!(
        !second.stderr().contains("upgraded"),
        "a store already of this layout: {}",
        second.stderr()
    );
    drop(second);
    let version: i32 = database
        .client()
        .query_one("SELECT max(version) FROM flowc_store", &[])
        .expect("version")
        .get(0);
    assert_eq!(version, 2);
    let after: Vec<Vec<String>> = ["callbacks", "messages", "opt_outs"]
        .iter()
        .map(|table| rows(table))
        .collect();
    assert_eq!(after[0][..3], before[0][..], "callbacks kept");
    assert_eq!(after[1..], before[1..], "messages and opt-outs kept");
    assert_eq!(
        statuses(),
        [
            "1|wamid.V1A|AX-V1A|delivered|1764000000|14150000000|R0|t-1",
            "2|wamid.V1B|AX-V1B|failed|1764000005|14150000001|131047|Re-engagement message|R1|t-2",
            "3|wamid.V2|delivered|1764000100|t|marketing",
        ]
    );
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&database.url));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    drop(receiver);
}

#[test]
fn an_opt_out_written_with_spaces_is_honoured_by_send_and_counted_by_report_on_postgresql() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    // The store keeps the number as the callback wrote it.
    assert_eq!(receiver.post(&stop_reply("m1", "+91 98765 43210")).status, 200);
    let campaign = Campaign::new(0);
    let data = campaign.scratch.write(
        "india.csv",
        "name,phone,ref\nAsha,+919876543210,R0\nRavi,+14150000001,R1\n",
    );
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command_at(&provider, 0, &data)
        .arg("--events")
        .arg(&database.url));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("(1 number opted out)"), "{}", outcome.stderr);
    let sent: Vec<String> = provider
        .received()
        .iter()
        .map(crate::support::provider::Received::reference)
        .collect();
    assert_eq!(sent, ["R1"]);

    let outcome = run(flowc()
        .arg("report")
        .arg(data.with_file_name("india.journal.sqlite"))
        .arg("--events")
        .arg(&database.url));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let said = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(said.contains("1 opt-out"), "{said}");
    assert!(!said.contains("matched no row"), "{said}");
    assert!(!said.contains(postgres::PASSWORD), "{said}");
}

#[test]
fn the_store_password_never_appears_in_any_output() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let wrong = "wr0ng-Pass-9xQ";
    let with_wrong = database.url.replace(postgres::PASSWORD, wrong);
    let port = database
        .url
        .rsplit_once(':')
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_owned());
    let unreachable = with_wrong.replace(&format!("127.0.0.1:{}", port.unwrap_or_default()), "127.0.0.1:9");
    assert_ne!(unreachable, with_wrong);
    let password_file = campaign.scratch.write("pgpass", format!("{wrong}\n"));
    let without_password = with_wrong.replace(&format!(":{wrong}@"), "@");
    for (store, password_file, environment) in [
        (with_wrong.as_str(), None, None),
        (unreachable.as_str(), None, None),
        (without_password.as_str(), Some(&password_file), None),
        (without_password.as_str(), None, Some(wrong)),
    ] {
        let case = format!("{store:?} file {password_file:?} env {environment:?}").replace(wrong, "WRONG");
        let mut receive = flowc();
        receive
            .args(["receive", "--listen", "127.0.0.1:0", "--store", store])
            .env_remove("PGPASSWORD");
        let mut report = flowc();
        report
            .arg("report")
            .arg(campaign.journal_path())
            .args(["--events", store])
            .env_remove("PGPASSWORD");
        let other = Campaign::new(2);
        let mut send = other.command(&provider);
        send.args(["--events", store]).env_remove("PGPASSWORD");
        for (command, flag) in [
            (&mut receive, "--store-password-file"),
            (&mut report, "--events-password-file"),
            (&mut send, "--events-password-file"),
        ] {
            if let Some(file) = password_file {
                command.arg(flag).arg(file);
            }
            if let Some(password) = environment {
                command.env("PGPASSWORD", password);
            }
            let outcome = run(command);
            assert_eq!(outcome.code, 2, "{case}: {}", outcome.stderr);
            let said = format!("{}{}", outcome.stdout, outcome.stderr);
            assert!(said.contains("event store"), "{case}: {said}");
            assert!(!said.contains(wrong), "{case}: the password shows: {said}");
            assert!(!said.contains(postgres::PASSWORD), "{case}: {said}");
        }
    }
}

/// A status of the message `message_id` (the 202's, echoed in `extra_info`).
fn status_of(message_id: &str, status: &str, time: i64, error: Option<(&str, &str)>) -> String {
    let mut entry =
        serde_json::json!({"id": format!("wamid.{message_id}"), "status": status, "timestamp": time.to_string()});
    if let Some((code, title)) = error {
        entry["errors"] = serde_json::json!([{"code": code, "title": title}]);
    }
    serde_json::json!({"meta_object": {"field": "messages", "value": {"statuses": [entry]}},
           "extra_info": {"message_id": message_id}})
    .to_string()
}

/// A Flow completion carrying `token`, from `from`.
fn completion(id: &str, from: &str, token: &str, time: i64) -> String {
    let answers = serde_json::json!({"flow_token": token, "slot": "10:00", "note": "ok, \"quoted\""});
    serde_json::json!({"messages": [{"from": from, "id": id, "timestamp": time.to_string(), "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": answers.to_string()}}}]})
    .to_string()
}

#[test]
fn the_report_from_postgresql_equals_the_report_from_sqlite_fed_the_same_callbacks() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let campaign = Campaign::new(8);
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let ids: Vec<String> = crate::support::campaign::read_report(&campaign.report_path())
        .into_iter()
        .map(|line| line["message_id"].clone())
        .collect();
    let now = jiff::Timestamp::now().as_second();
    let mut bodies = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let time = now + 10 + i64::try_from(n).expect("small");
        bodies.push(status_of(id, "sent", time, None));
        match n % 4 {
            0 => bodies.push(status_of(id, "delivered", time + 1, None)),
            1 => {
                bodies.push(status_of(id, "delivered", time + 1, None));
                bodies.push(status_of(id, "read", time + 2, None));
            }
            2 => bodies.push(status_of(
                id,
                "failed",
                time + 1,
                Some(("131026", "Message undeliverable")),
            )),
            _ => {}
        }
    }
    // Delivered twice: stored once on both.
    bodies.push(status_of(&ids[0], "delivered", now + 11, None));
    bodies.push(completion("wamid.c1", "14150000001", "tok-R1", now + 40));
    bodies.push(completion("wamid.c5", "14150000005", "tok-R5", now + 41));
    bodies.push(stop_reply("wamid.stop", "1 415 000 0003"));
    let sqlite = Receiver::start();
    let on_postgres = receiver_on(&database.url, &[]).expect("the receiver starts");
    for body in &bodies {
        for receiver in [&sqlite, &on_postgres] {
            let answer = receiver.post(body);
            assert_eq!(answer.status, 200, "{body}: {}", answer.text);
        }
    }
    let report = |store: &std::ffi::OsStr, name: &str| {
        let out = campaign.scratch.path().join(format!("{name}.csv"));
        let responses = campaign.scratch.path().join(format!("{name}.responses.csv"));
        let outcome = run(flowc()
            .arg("report")
            .arg(campaign.journal_path())
            .arg("--events")
            .arg(store)
            .arg("--out")
            .arg(&out)
            .arg("--responses")
            .arg(&responses));
        assert_eq!(outcome.code, 0, "{name}: {}", outcome.stderr);
        let read = |path: &std::path::Path| std::fs::read(path).expect("written");
        (read(&out), read(&responses), outcome.stdout)
    };
    let from_sqlite = report(sqlite.store.as_os_str(), "sqlite");
    let from_postgres = report(database.url.as_ref(), "postgres");
    let rows = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&from_postgres.0), rows(&from_sqlite.0), "the report's rows");
    assert_eq!(from_postgres.0, from_sqlite.0, "the report's bytes");
    assert_eq!(from_postgres.1, from_sqlite.1, "the responses");
    assert_eq!(from_postgres.2, from_sqlite.2, "the funnel");
    // Something to compare: deliveries, reads, failures, answers and the stop are there.
    let text = String::from_utf8_lossy(&from_postgres.0);
    for said in ["delivered", "read", "131026"] {
        assert!(text.contains(said), "{said}: {text}");
    }
    assert_eq!(rows(&from_postgres.1).len(), 3, "{:?}", rows(&from_postgres.1));
    assert!(from_postgres.2.contains("1 asked to stop"), "{}", from_postgres.2);
}

#[test]
fn a_stop_committed_to_postgresql_just_before_its_row_is_due_is_honoured() {
    // Each even row's request makes the provider store a STOP from the next row's number
    // through a receiver on PostgreSQL, and answer only once it was acknowledged.
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = Arc::new(receiver_on(&database.url, &[]).expect("the receiver starts"));
    let campaign = Campaign::new(20);
    let stores = Arc::clone(&receiver);
    let provider = Provider::start(Duration::ZERO, move |request, index, _| {
        let n: usize = request.reference().trim_start_matches('R').parse().expect("ref R<n>");
        if n % 2 == 0 {
            let next = format!("1415{:07}", n + 1);
            assert_eq!(stores.post(&stop_reply(&format!("stop-{n}"), &next)).status, 200);
        }
        Reply::accepted(index)
    });
    let outcome = run(campaign
        .command_at(&provider, 10, &campaign.data)
        .arg("--events")
        .arg(&database.url)
        .args(["--concurrency", "1"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let messaged: Vec<String> = provider
        .received()
        .iter()
        .map(crate::support::provider::Received::reference)
        .filter(|reference| reference.trim_start_matches('R').parse::<usize>().expect("n") % 2 == 1)
        .collect();
    assert!(
        messaged.is_empty(),
        "messaged after their STOP was stored: {messaged:?}"
    );
    assert_eq!(crate::support::campaign::statuses(&campaign.report())["opted-out"], 10);
    assert!(!outcome.stderr.contains(postgres::PASSWORD), "{}", outcome.stderr);
}

#[test]
fn a_spam_limit_stored_in_postgresql_stops_the_campaign() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    let campaign = Campaign::new(2000);
    let provider = Provider::start(Duration::from_millis(20), |_, index, _| Reply::accepted(index));
    let mut command = campaign.command_to(&provider.url());
    command.arg("--events").arg(&database.url).args(["--concurrency", "2"]);
    let child = std::thread::spawn(move || run(&mut command));
    crate::support::campaign::wait_for_requests(&provider, 10);
    let failed = serde_json::json!({"meta_object": {"field": "messages", "value": {"statuses": [
        {"id": "wamid.X", "status": "failed", "timestamp": "1722834665", "recipient_id": "14150000001",
         "errors": [{"code": 131_048, "title": "limit"}]}]}}})
    .to_string();
    assert_eq!(receiver.post(&failed).status, 200);
    let outcome = child.join().expect("flowc ran");
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("spam rate limit (131048)"),
        "{}",
        outcome.stderr
    );
    assert!(provider.count() < 2000);
}

#[test]
fn a_password_file_for_a_sqlite_store_is_refused() {
    let scratch = Scratch::new();
    let password = scratch.write("pgpass", "secret\n");
    let store = scratch.path().join("events.sqlite");
    let outcome = run(flowc()
        .args(["receive", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .arg("--store-password-file")
        .arg(&password));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("a SQLite file, which has no password"),
        "{}",
        outcome.stderr
    );
    assert!(!store.exists(), "a store was created");
}

#[test]
fn unknown_rows_settle_from_callbacks_stored_in_postgresql() {
    let Some(server) = postgres::shared() else { return };
    let database = server.database();
    let receiver = receiver_on(&database.url, &[]).expect("the receiver starts");
    // Rows R2 and R4: the connection dropped after the request was read, so `unknown`.
    let campaign = Campaign::new(6);
    let provider = Provider::start(Duration::ZERO, |request, index, _| match request.reference().as_str() {
        "R2" | "R4" => Reply::Drop,
        _ => Reply::accepted(index),
    });
    let mut command = campaign.command(&provider);
    command.args(["--track", "ref2", "--events"]).arg(&database.url);
    let first = run(&mut command);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(crate::support::campaign::statuses(&campaign.report())["unknown"], 2);
    for request in provider.received() {
        if ["R2", "R4"].contains(&request.reference().as_str()) {
            let key = request.body["extra_info"]["ref2"].as_str().expect("--track key");
            let to = request.body["messaging_object"]["to"].as_str().expect("to");
            let body = serde_json::json!({
                "meta_object": {"field": "messages", "value": {"statuses": [{"id": format!("wamid.{}", request.reference()),
                    "status": "delivered", "timestamp": "1722834665", "recipient_id": to.trim_start_matches('+')}]}},
                "extra_info": {"ref2": key},
            })
            .to_string();
            assert_eq!(receiver.post(&body).status, 200);
        }
    }
    let again = run(&mut command);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("2 unknown settled as accepted from callbacks"),
        "{}",
        again.stderr
    );
    assert_eq!(provider.count(), 6, "nothing is sent again");
}

#[test]
fn a_mistyped_postgresql_url_is_refused_without_showing_its_password() {
    // A slash or the slashes left out, or a space before: still a URL with a password in it,
    // never a file of that name.
    let scratch = Scratch::new();
    for url in [
        "postgres:/flowc:Hunter2pass@127.0.0.1/events",
        "postgresql:flowc:Hunter2pass@127.0.0.1/events",
        "PostgreSQL:/flowc:Hunter2pass@127.0.0.1/events",
        " postgres://flowc:Hunter2pass@127.0.0.1:1/events",
    ] {
        let outcome =
            run(flowc()
                .current_dir(scratch.path())
                .args(["receive", "--listen", "127.0.0.1:0", "--store", url]));
        assert_eq!(outcome.code, 2, "{url}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains("the event store URL"),
            "{url}: {}",
            outcome.stderr
        );
        assert!(
            !format!("{}{}", outcome.stdout, outcome.stderr).contains("Hunter2pass"),
            "{url}: {}",
            outcome.stderr
        );
    }
    let left: Vec<_> = std::fs::read_dir(scratch.path()).expect("scratch").collect();
    assert!(left.is_empty(), "{left:?}");
}

// ---- TLS to the database ----

/// Whether every connection to `database` but the caller's own is encrypted (and there is one).
fn only_encrypted_connections(database: &Database) -> bool {
    let encrypted: Vec<bool> = database
        .client()
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            &[&database.name],
        )
        .expect("connections")
        .iter()
        .map(|row| row.get(0))
        .collect();
    !encrypted.is_empty() && encrypted.iter().all(|ssl| *ssl)
}

#[test]
fn callbacks_stored_over_tls_verified_against_the_servers_own_authority_are_read_by_send_and_report() {
    let Some(tls) = postgres::tls_cluster() else { return };
    let database = tls.cluster.database();
    let url = tls.url(&database, "localhost");
    let receiver = receiver_on(&url, &[]).expect("the receiver starts");
    assert_eq!(receiver.post(&stop_reply("m1", "+91 98765 43210")).status, 200);
    assert_eq!(receiver.post(&status_body("wamid.tls-1", "delivered", "R")).status, 200);
    assert_eq!(stored(&database, "wamid.tls-1"), 1);
    assert!(
        only_encrypted_connections(&database),
        "the receiver connected without TLS"
    );

    let campaign = Campaign::new(0);
    let data = campaign.scratch.write(
        "india.csv",
        "name,phone,ref\nAsha,+919876543210,R0\nRavi,+14150000001,R1\n",
    );
    let provider = Provider::accepting();
    let outcome = run(campaign.command_at(&provider, 0, &data).arg("--events").arg(&url));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("(1 number opted out)"), "{}", outcome.stderr);
    let outcome = run(flowc()
        .arg("report")
        .arg(data.with_file_name("india.journal.sqlite"))
        .arg("--events")
        .arg(&url));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let said = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(said.contains("1 opt-out"), "{said}");
    assert!(!said.contains(postgres::PASSWORD), "{said}");
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
}

#[test]
fn a_server_certificate_from_an_authority_not_trusted_is_refused_and_sslrootcert_is_named() {
    let Some(tls) = postgres::tls_cluster() else { return };
    let database = tls.cluster.database();
    // Without sslrootcert the public authorities are trusted, and none signed the test server's.
    let url = tls.url(&database, "localhost");
    let url = &url[..url.find("&sslrootcert=").expect("the URL names its authority")];
    let Err((code, stderr)) = receiver_on(url, &[]) else {
        panic!("a receiver trusted a certificate no trusted authority signed")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("signed by no authority this machine trusts") && stderr.contains("sslrootcert=FILE"),
        "{stderr}"
    );
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
}

#[test]
fn verify_full_against_a_certificate_for_another_name_is_refused_without_showing_the_password() {
    let Some(tls) = postgres::tls_cluster() else { return };
    let database = tls.cluster.database();
    // The certificate names `localhost`; the URL names the server by its address.
    let url = tls.url(&database, "127.0.0.1");
    let Err((code, stderr)) = receiver_on(&url, &[]) else {
        panic!("a receiver trusted a certificate made for another name")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(
        stderr.contains("certificate is for another name: name the host in the URL as its certificate does"),
        "{stderr}"
    );
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
    let outcome = run(flowc().args(["report", "missing.journal.sqlite", "--events"]).arg(&url));
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        !format!("{}{}", outcome.stdout, outcome.stderr).contains(postgres::PASSWORD),
        "{}",
        outcome.stderr
    );
}

#[test]
fn sslmode_require_against_a_server_without_tls_is_refused_never_connected_in_plain() {
    let Some(server) = postgres::shared() else { return };
    let postgres::Server::Cluster(_) = server else {
        eprintln!("skipped: FLOWC_TEST_POSTGRES_URL's server may have TLS on");
        return;
    };
    let database = server.database();
    let url = format!("{}?sslmode=require", database.url);
    let Err((code, stderr)) = receiver_on(&url, &[]) else {
        panic!("a receiver took a connection without TLS")
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("TLS"), "{stderr}");
    assert!(
        stderr.contains("the server does not offer TLS: turn on `ssl`"),
        "{stderr}"
    );
    assert!(!stderr.contains(postgres::PASSWORD), "{stderr}");
    // Nothing was written in plain: the receiver creates its tables on its first connection.
    let tables: i64 = database
        .client()
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .expect("tables")
        .get(0);
    assert_eq!(tables, 0);
}
