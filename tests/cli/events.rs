//! `send --events STORE`: opt-outs and Meta's throttles read from the store the real receiver
//! writes, while the campaign runs.

use std::time::{Duration, Instant};

use crate::support::campaign::{statuses, wait_for_requests, Campaign};
use crate::support::provider::{Provider, Reply};
use crate::support::receiver::Receiver;
use crate::support::{run, Scratch};

fn stop_reply(id: &str, from: &str) -> String {
    serde_json::json!({"meta_object": {"value": {"messages": [
        {"from": from, "id": id, "timestamp": "1", "type": "text", "text": {"body": "STOP"}}]}}})
    .to_string()
}

fn failed_status(id: &str, code: u32) -> String {
    serde_json::json!({"meta_object": {"field": "messages", "value": {"statuses": [
        {"id": id, "status": "failed", "timestamp": "1722834665", "recipient_id": "14150000001",
         "errors": [{"code": code, "title": "limit"}]}]}}})
    .to_string()
}

#[test]
fn numbers_that_opted_out_before_or_during_the_run_are_never_sent() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&stop_reply("m1", "14150000003")).status, 200);
    let campaign = Campaign::new(300);
    let provider = Provider::start(Duration::from_millis(20), |_, index, _| Reply::accepted(index));
    let mut command = campaign.command_to(&provider.url());
    command
        .arg("--events")
        .arg(&receiver.store)
        .args(["--concurrency", "2"]);
    let child = std::thread::spawn(move || run(&mut command));
    wait_for_requests(&provider, 10);
    // A STOP from a row far ahead, during the run.
    assert_eq!(receiver.post(&stop_reply("m2", "14150000250")).status, 200);
    let outcome = child.join().expect("flowc ran");
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("(1 number opted out)"), "{}", outcome.stderr);
    let received: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert!(!received.contains(&"R3".to_owned()), "opted out before the run");
    assert!(!received.contains(&"R250".to_owned()), "opted out during the run");
    assert_eq!(statuses(&campaign.report())["opted-out"], 2);
}

#[test]
fn a_spam_limit_in_the_store_stops_the_campaign_within_seconds() {
    let receiver = Receiver::start();
    let campaign = Campaign::new(2000);
    let provider = Provider::start(Duration::from_millis(20), |_, index, _| Reply::accepted(index));
    let mut command = campaign.command_to(&provider.url());
    command
        .arg("--events")
        .arg(&receiver.store)
        .args(["--concurrency", "2"]);
    let child = std::thread::spawn(move || run(&mut command));
    wait_for_requests(&provider, 10);
    let posted = Instant::now();
    assert_eq!(receiver.post(&failed_status("wamid.X", 131048)).status, 200);
    let outcome = child.join().expect("flowc ran");
    assert!(posted.elapsed() < Duration::from_secs(10), "{:?}", posted.elapsed());
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("spam rate limit (131048)"),
        "{}",
        outcome.stderr
    );
    assert!(provider.count() < 2000);
    assert!(statuses(&campaign.report())["pending"] > 0);
}

#[test]
fn a_stop_committed_just_before_its_row_is_due_is_honoured() {
    // Each even row's request makes the provider store a STOP from the next row's number
    // through the real receiver, and answer only once the receiver has acknowledged it: every
    // STOP is committed a moment (one slot at --rate 10) before its row is due.
    let receiver = std::sync::Arc::new(Receiver::start());
    let campaign = Campaign::new(40);
    let stores = std::sync::Arc::clone(&receiver);
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
        .arg(&receiver.store)
        .args(["--concurrency", "1"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let messaged: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .filter(|reference| reference.trim_start_matches('R').parse::<usize>().expect("n") % 2 == 1)
        .collect();
    assert!(
        messaged.is_empty(),
        "messaged after their STOP was stored: {messaged:?}"
    );
    assert_eq!(statuses(&campaign.report())["opted-out"], 20);
    assert_eq!(provider.count(), 20);
}

#[test]
fn a_row_recorded_as_opted_out_stays_unsent_when_a_resume_has_no_event_store() {
    let receiver = Receiver::start();
    assert_eq!(receiver.post(&stop_reply("m1", "14150000001")).status, 200);
    let campaign = Campaign::new(4);
    let provider = Provider::accepting();
    let first = run(campaign
        .command(&provider)
        .arg("--events")
        .arg(&receiver.store)
        .args(["--limit", "2"]));
    // Rows held by --limit stay pending: exit 1.
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(statuses(&campaign.report())["opted-out"], 1);
    // The resume forgets --events: the journal alone must keep the STOP.
    let second = run(&mut campaign.command(&provider));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let received: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert!(
        !received.contains(&"R1".to_owned()),
        "messaged after its STOP: {received:?}"
    );
    assert_eq!(provider.count(), 3, "{received:?}");
    assert_eq!(statuses(&campaign.report())["opted-out"], 1);
}

#[test]
fn a_row_recorded_as_excluded_stays_unsent_when_a_resume_has_no_exclude_list() {
    let campaign = Campaign::new(4);
    let exclude = campaign.scratch.write("exclude.txt", "+14150000002\n");
    let provider = Provider::accepting();
    let first = run(campaign
        .command(&provider)
        .arg("--exclude")
        .arg(&exclude)
        .args(["--limit", "1"]));
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(statuses(&campaign.report())["excluded"], 1);
    let second = run(&mut campaign.command(&provider));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let received: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert!(
        !received.contains(&"R2".to_owned()),
        "messaged though excluded: {received:?}"
    );
    assert_eq!(statuses(&campaign.report())["excluded"], 1);
}

#[test]
fn a_stop_stored_in_a_new_store_after_the_old_one_was_moved_away_is_honoured() {
    // While row R10's request is answered (nothing else in flight), the store is rotated as
    // an operator would: receiver A stops, its store is moved away, receiver B starts a new
    // store at the same path and records a STOP from row R30's number.
    let first = Receiver::start();
    let store = first.store.clone();
    let token = first.scratch.path().join("token");
    let basic = first.scratch.path().join("basic");
    let receivers = std::sync::Arc::new(std::sync::Mutex::new(vec![first]));
    let rotate = std::sync::Arc::clone(&receivers);
    let moved_to = store.with_file_name("events.old.sqlite");
    let (path, old) = (store.clone(), moved_to.clone());
    let provider = Provider::start(Duration::ZERO, move |request, index, _| {
        if request.reference() == "R10" {
            let mut receivers = rotate.lock().expect("receivers");
            let first = &mut receivers[0];
            first.signal("TERM");
            crate::support::receiver::wait_for(&mut first.child, Duration::from_secs(20));
            std::fs::rename(&path, &old).expect("the store moves away");
            let args: Vec<String> = vec![
                "--token-file".into(),
                token.display().to_string(),
                "--basic-auth-file".into(),
                basic.display().to_string(),
            ];
            let second = Receiver::spawn_at(crate::support::Scratch::new(), path.clone(), "127.0.0.1:0", &args)
                .expect("receiver B starts");
            assert_eq!(second.post(&stop_reply("m30", "14150000030")).status, 200);
            receivers.push(second);
        }
        Reply::accepted(index)
    });
    let campaign = Campaign::new(40);
    let outcome = run(campaign
        .command(&provider)
        .arg("--events")
        .arg(&store)
        .args(["--concurrency", "1"]));
    assert!(moved_to.exists(), "the rotation happened: {}", outcome.stderr);
    let received: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert!(
        !received.contains(&"R30".to_owned()),
        "messaged after its STOP: {}",
        outcome.stderr
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(statuses(&campaign.report())["opted-out"], 1);
}

#[test]
fn a_store_moved_away_during_the_run_with_none_in_its_place_stops_the_campaign() {
    let receiver = std::sync::Arc::new(std::sync::Mutex::new(Receiver::start()));
    let store = receiver.lock().expect("receiver").store.clone();
    let (path, holder) = (store.clone(), std::sync::Arc::clone(&receiver));
    let provider = Provider::start(Duration::ZERO, move |request, index, _| {
        if request.reference() == "R10" {
            let mut receiver = holder.lock().expect("receiver");
            receiver.signal("TERM");
            crate::support::receiver::wait_for(&mut receiver.child, Duration::from_secs(20));
            std::fs::rename(&path, path.with_file_name("events.old.sqlite")).expect("the store moves away");
        }
        Reply::accepted(index)
    });
    let campaign = Campaign::new(40);
    let outcome = run(campaign
        .command(&provider)
        .arg("--events")
        .arg(&store)
        .args(["--concurrency", "1"]));
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("was moved away during the run"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 11, "{}", outcome.stderr);
    assert_eq!(statuses(&campaign.report())["pending"], 29);
}

/// Sets the store's layout version, as a newer flowc (or a hand) would leave it; the receiver
/// goes on running.
fn set_layout_version(store: &std::path::Path, version: i64) {
    let connection = rusqlite::Connection::open(store).expect("open the store");
    connection.busy_timeout(Duration::from_secs(5)).expect("timeout");
    connection
        .execute_batch(&format!("PRAGMA user_version = {version}"))
        .expect("version set");
}

#[test]
fn a_store_of_another_layout_version_is_refused_by_send_and_report() {
    for (version, says) in [(3, "was written by a newer flowc (layout 3"), (0, "has layout 0")] {
        let receiver = Receiver::start();
        assert_eq!(receiver.post(&stop_reply("m1", "14150000001")).status, 200);
        let campaign = Campaign::new(3);
        let provider = Provider::accepting();
        // A campaign sent before, for the report.
        assert_eq!(run(&mut campaign.command(&provider)).code, 0);
        set_layout_version(&receiver.store, version);

        let again = Campaign::new(3);
        let before = provider.received().len();
        let outcome = run(again.command(&provider).arg("--events").arg(&receiver.store));
        assert_eq!(outcome.code, 2, "layout {version}: {}", outcome.stderr);
        assert!(outcome.stderr.contains(says), "layout {version}: {}", outcome.stderr);
        assert_eq!(provider.received().len(), before, "sent despite a store it cannot read");

        let outcome = run(crate::support::flowc()
            .arg("report")
            .arg(campaign.journal_path())
            .arg("--events")
            .arg(&receiver.store));
        assert_eq!(outcome.code, 2, "layout {version}: {}", outcome.stderr);
        assert!(outcome.stderr.contains(says), "layout {version}: {}", outcome.stderr);
    }
}

/// Every row `sql` reads, each column with its SQLite type.
fn table_rows(store: &std::path::Path, sql: &str) -> Vec<String> {
    let connection = rusqlite::Connection::open(store).expect("open the store");
    let mut statement = connection.prepare(sql).expect(sql);
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|index| Ok(format!("{:?}", row.get::<_, rusqlite::types::Value>(index)?)))
                .collect::<rusqlite::Result<Vec<String>>>()
                .map(|cells| cells.join("|"))
        })
        .expect(sql)
        .collect::<rusqlite::Result<_>>()
        .expect(sql)
}

/// A store of layout 1 (as that receiver wrote it) is refused by `send` and `report`, which say
/// to start the receiver once; the receiver upgrades it in place, keeping every row, and its
/// statuses then keep what Meta charged.
#[test]
fn a_layout_1_store_is_upgraded_by_the_receiver_with_its_rows_kept_and_refused_by_send_and_report_until_then() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let store = campaign.scratch.path().join("events.sqlite");
    rusqlite::Connection::open(&store)
        .expect("create")
        .execute_batch(include_str!("../data/events-layout-1.sql"))
        .expect("a layout-1 store");
    let tables = [
        "SELECT * FROM callbacks ORDER BY id",
        "SELECT * FROM messages ORDER BY id",
        "SELECT * FROM opt_outs ORDER BY id",
        "SELECT id, event_key, callback_id, received_at, message_id, provider_message_id, status, timestamp,
            timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1, ref2,
            biz_opaque_callback_data, trace_id, business_number, phone_number_id FROM statuses ORDER BY id",
    ];
    let before: Vec<Vec<String>> = tables.iter().map(|sql| table_rows(&store, sql)).collect();
    assert_eq!(before[3].len(), 2, "two statuses of layout 1");

    let report = || {
        run(crate::support::flowc()
            .arg("report")
            .arg(campaign.journal_path())
            .arg("--events")
            .arg(&store))
    };
    let outcome = report();
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("has layout 1"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("start `flowc receive` on the store once"),
        "{}",
        outcome.stderr
    );
    let again = Campaign::new(2);
    let sent = provider.count();
    let outcome = run(again.command(&provider).arg("--events").arg(&store));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("has layout 1"), "{}", outcome.stderr);
    assert_eq!(provider.count(), sent, "sent despite a store it cannot read");

    let receiver = Receiver::spawn_at(Scratch::new(), store.clone(), "127.0.0.1:0", &[]).expect("the receiver starts");
    let priced = serde_json::json!({"meta_object": {"field": "messages", "value": {"statuses": [{
        "id": "wamid.V2", "status": "delivered", "timestamp": "1764000100", "recipient_id": "14150000000",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"}}]}}});
    assert_eq!(receiver.post(&priced.to_string()).status, 200);
    let (code, stderr) = receiver.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("upgraded the event store").count(),
        1,
        "the receiver says once that it upgraded the store: {stderr}"
    );
    assert!(stderr.contains("from layout 1 to layout 2"), "{stderr}");
    let again = Receiver::spawn_at(Scratch::new(), store.clone(), "127.0.0.1:0", &[]).expect("started again");
    let (code, stderr) = again.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("upgraded"), "a store already of this layout: {stderr}");

    let connection = rusqlite::Connection::open(&store).expect("open the store");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("version");
    assert_eq!(version, 2);
    let after: Vec<Vec<String>> = tables.iter().map(|sql| table_rows(&store, sql)).collect();
    assert_eq!(after[0][..4], before[0][..], "callbacks kept");
    assert_eq!(after[1..3], before[1..3], "messages and opt-outs kept");
    assert_eq!(after[3][..2], before[3][..], "statuses kept");
    assert_eq!(
        table_rows(
            &store,
            "SELECT message_id, billable, pricing_model, pricing_category FROM statuses ORDER BY id"
        ),
        [
            "Text(\"wamid.V1A\")|Null|Null|Null",
            "Text(\"wamid.V1B\")|Null|Null|Null",
            "Text(\"wamid.V2\")|Integer(1)|Text(\"PMP\")|Text(\"marketing\")",
        ]
    );
    let outcome = report();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn an_opt_out_written_with_spaces_is_honoured_by_send_and_counted_by_report() {
    let receiver = Receiver::start();
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
        .arg(&receiver.store));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("(1 number opted out)"), "{}", outcome.stderr);
    let sent: Vec<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert_eq!(sent, ["R1"]);

    let outcome = run(crate::support::flowc()
        .arg("report")
        .arg(data.with_file_name("india.journal.sqlite"))
        .arg("--events")
        .arg(&receiver.store));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let said = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(said.contains("1 opt-out"), "{said}");
    assert!(!said.contains("matched no row"), "{said}");
}
