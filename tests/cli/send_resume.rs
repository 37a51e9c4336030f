//! Resuming a campaign: `unknown` rows settled by the callbacks that prove the provider has
//! their message, a template fixed after some rows went out (`--changed-template`), and what
//! the plan and `--help` say about both.

use std::time::Duration;

use crate::support::campaign::{statuses, Campaign};
use crate::support::provider::{Provider, Reply};
use crate::support::receiver::Receiver;
use crate::support::{flowc, run};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A `delivered` status carrying `key` in `extra_info.ref2`, as the provider echoes it.
fn delivered_with_key(wamid: &str, recipient: &str, key: &str) -> String {
    serde_json::json!({
        "meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp",
            "statuses": [{"id": wamid, "status": "delivered", "timestamp": now().to_string(),
                "recipient_id": recipient}]}},
        "extra_info": {"ref2": key},
    })
    .to_string()
}

/// A Flow completion carrying only `token`, from `from`.
fn completion_with_token(id: &str, from: &str, token: &str) -> String {
    let answers = serde_json::json!({"flow_token": token, "slot": "10:00"}).to_string();
    serde_json::json!({"meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp",
        "messages": [{"from": from, "id": id, "timestamp": now().to_string(), "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                "response_json": answers}}}]}}})
    .to_string()
}

/// A campaign of 10 rows sent with `--track ref2 --events`, where the provider drops the
/// connection (after reading the request) for rows R2, R4, R6 and R8: they end `unknown`.
fn campaign_with_unknown_rows(receiver: &Receiver) -> (Campaign, Provider, assert_cmd::Command) {
    let campaign = Campaign::new(10);
    let provider = Provider::start(Duration::ZERO, |request, index, _| match request.reference().as_str() {
        "R2" | "R4" | "R6" | "R8" => Reply::Drop,
        _ => Reply::accepted(index),
    });
    let mut command = campaign.command(&provider);
    command.args(["--track", "ref2", "--events"]).arg(&receiver.store);
    let first = run(&mut command);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(statuses(&campaign.report())["unknown"], 4, "{}", first.stderr);
    (campaign, provider, command)
}

#[test]
fn unknown_rows_whose_callbacks_carry_their_track_key_settle_as_accepted() {
    let receiver = Receiver::start();
    let (campaign, provider, mut command) = campaign_with_unknown_rows(&receiver);
    for request in provider.received() {
        if ["R2", "R4", "R6", "R8"].contains(&request.reference().as_str()) {
            let key = request.body["extra_info"]["ref2"].as_str().expect("--track key");
            let to = request.body["messaging_object"]["to"].as_str().expect("to");
            let wamid = format!("wamid.{}", request.reference());
            let body = delivered_with_key(&wamid, to.trim_start_matches('+'), key);
            assert_eq!(receiver.post(&body).status, 200);
        }
    }
    let again = run(&mut command);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("4 unknown settled as accepted from callbacks"),
        "{}",
        again.stderr
    );
    assert_eq!(provider.count(), 10, "nothing is sent again");
    let report = campaign.report();
    assert!(report.iter().all(|line| line["status"] != "unknown"), "{report:?}");
    let settled = report
        .iter()
        .filter(|line| line["error"].contains("settled as accepted"))
        .count();
    assert_eq!(settled, 4, "{report:?}");
    // A third run agrees: nothing left to settle, nothing unknown, exit 0.
    let third = run(&mut command);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(provider.count(), 10);
}

#[test]
fn an_unknown_row_whose_callback_says_not_sent_becomes_failed_never_accepted() {
    let receiver = Receiver::start();
    let (campaign, provider, mut command) = campaign_with_unknown_rows(&receiver);
    let keys: std::collections::HashMap<String, String> = provider
        .received()
        .iter()
        .map(|request| {
            let key = request.body["extra_info"]["ref2"].as_str().expect("--track key");
            (request.reference(), key.to_owned())
        })
        .collect();
    // R2 and R4: the provider's own "Not Sent - Daily Limit Reached" body (no `meta_object`):
    // proof that the message never left the provider.
    for n in [2, 4] {
        let body = serde_json::json!({
            "code": "WAV2101", "status": "not sent", "reason": "Account daily limit reached",
            "message_id": format!("AX-{n}"), "extra_info": {"ref2": keys[&format!("R{n}")]}
        });
        assert_eq!(receiver.post(&body.to_string()).status, 200);
    }
    // R6: Meta's `failed`: the provider passed the message on, so it has it.
    let failed = serde_json::json!({
        "meta_object": {"field": "messages", "value": {"statuses": [{"id": "wamid.R6", "status": "failed",
            "timestamp": now().to_string(), "recipient_id": "14150000006",
            "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}},
        "extra_info": {"ref2": keys["R6"]}, "status": "failed"
    });
    assert_eq!(receiver.post(&failed.to_string()).status, 200);
    // R8: a status flowc does not know proves nothing.
    let deleted = serde_json::json!({"extra_info": {"ref2": keys["R8"]}, "status": "deleted", "message_id": "AX-8"});
    assert_eq!(receiver.post(&deleted.to_string()).status, 200);

    let again = run(&mut command);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("1 unknown settled as accepted from callbacks"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("2 unknown settled as not sent"),
        "{}",
        again.stderr
    );
    assert_eq!(provider.count(), 10, "nothing is sent again");
    let report = campaign.report();
    // Row R<n> is line n + 2 of the data file.
    let line = |reference: &str| {
        let n: u64 = reference.trim_start_matches('R').parse().expect("R<n>");
        report
            .iter()
            .find(|line| line["row"] == (n + 2).to_string())
            .unwrap_or_else(|| panic!("{reference} in {report:?}"))
    };
    for reference in ["R2", "R4"] {
        assert_eq!(line(reference)["status"], "failed", "{report:?}");
        assert!(line(reference)["error"].contains("not sent"), "{report:?}");
        assert!(line(reference)["error"].contains("WAV2101"), "{report:?}");
    }
    assert_eq!(line("R6")["status"], "accepted", "{report:?}");
    assert_eq!(line("R8")["status"], "unknown", "{report:?}");
    // A later run sends none of them again.
    let third = run(&mut command);
    assert_eq!(third.code, 1, "{}", third.stderr);
    assert_eq!(provider.count(), 10);
    assert_eq!(statuses(&campaign.report())["failed"], 2);
}

#[test]
fn an_unknown_row_is_never_settled_by_its_flow_token_alone() {
    let receiver = Receiver::start();
    let (campaign, provider, mut command) = campaign_with_unknown_rows(&receiver);
    // Flow completions with the tokens of two unknown rows, from their numbers: a token is
    // chosen by the template and may be shared or reused, so it proves nothing about a message.
    for (n, id) in [(2, "r2"), (4, "r4")] {
        let body = completion_with_token(id, &format!("1415{n:07}"), &format!("tok-R{n}"));
        assert_eq!(receiver.post(&body).status, 200);
    }
    let again = run(&mut command);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(!again.stderr.contains("settled"), "{}", again.stderr);
    assert_eq!(statuses(&campaign.report())["unknown"], 4);
    assert_eq!(provider.count(), 10);
}

const TYPO: (&str, &str) = ("is ready.", "is redy.");

#[test]
fn a_fixed_template_resumes_with_changed_template_for_the_rows_not_yet_sent() {
    let campaign = Campaign::new(12);
    campaign.scratch.template_with(&[TYPO]);
    let provider = Provider::accepting();
    let first = run(campaign.command(&provider).args(["--limit", "5"]));
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(provider.count(), 5);
    // The typo fixed.
    campaign.scratch.template_with(&[]);

    let refused = run(&mut campaign.command(&provider));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--changed-template"), "{}", refused.stderr);
    assert_eq!(provider.count(), 5);

    let resumed = run(campaign.command(&provider).arg("--changed-template"));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("5 rows went out with the earlier version"),
        "{}",
        resumed.stderr
    );
    let received = provider.received();
    assert_eq!(received.len(), 12);
    let per_reference = provider.per_reference();
    assert_eq!(per_reference.len(), 12, "every row once");
    assert!(per_reference.values().all(|&count| count == 1));
    for (index, request) in received.iter().enumerate() {
        let text = request.body["messaging_object"]["interactive"]["body"]["text"]
            .as_str()
            .expect("body text");
        let fixed = index >= 5;
        assert_eq!(text.ends_with("is ready."), fixed, "request {index}: {text}");
    }
    // The journal says which version each row got.
    let journal = rusqlite::Connection::open(campaign.journal_path()).expect("journal");
    let mut versions: Vec<i64> = journal
        .prepare("SELECT count(*) FROM rows GROUP BY template ORDER BY count(*)")
        .expect("sql")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    versions.sort_unstable();
    assert_eq!(versions, [5, 7]);
    assert!(!statuses(&campaign.report()).contains_key("unknown"));
}

#[test]
fn a_changed_data_file_is_refused_even_with_changed_template() {
    let campaign = Campaign::new(4);
    let provider = Provider::accepting();
    assert_eq!(run(campaign.command(&provider).args(["--limit", "2"])).code, 1);
    std::fs::write(&campaign.data, "name,phone,ref\nSomeone Else,+14155550199,R0\n").expect("edit data");
    let outcome = run(campaign.command(&provider).arg("--changed-template"));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("whose data file has changed"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 2);
}

#[test]
fn send_help_says_a_request_without_answer_in_time_is_unknown_not_retried() {
    let help = run(flowc().args(["send", "--help"]));
    assert_eq!(help.code, 0);
    let timeout = help
        .stdout
        .split("--timeout")
        .nth(1)
        .and_then(|rest| rest.split("\n  -").next())
        .expect("--timeout is documented")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!timeout.contains("before retrying"), "{timeout}");
    assert!(timeout.contains("unknown"), "{timeout}");
}

#[test]
fn the_plan_shows_where_the_track_key_goes() {
    let campaign = Campaign::new(2);
    let outcome = run(flowc()
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .args(["--dry-run", "--track", "ref2"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let track = outcome
        .stderr
        .lines()
        .find(|line| line.starts_with("track:"))
        .unwrap_or_else(|| panic!("no track line in the plan: {}", outcome.stderr));
    assert!(track.contains("extra_info.ref2"), "{track}");
}

/// A `not sent` callback about an earlier attempt of a row (the daily limit one day) says
/// nothing of its later attempt whose answer was lost (the next day): that one stays unknown.
#[test]
fn a_not_sent_callback_about_an_earlier_attempt_leaves_a_later_unknown_attempt_unknown() {
    let receiver = Receiver::start();
    let campaign = Campaign::new(4);
    let day = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let today = std::sync::Arc::clone(&day);
    let provider = Provider::start(Duration::ZERO, move |request, index, _| {
        match (
            today.load(std::sync::atomic::Ordering::SeqCst),
            request.reference().as_str(),
        ) {
            (1, "R2") => Reply::error(400, "WAV2101", "Daily limit reached"),
            (2, "R2") => Reply::Drop,
            _ => Reply::accepted(index),
        }
    });
    let mut command = campaign.command(&provider);
    command.args(["--track", "ref2", "--events"]).arg(&receiver.store);
    run(&mut command);
    let key = provider
        .received()
        .iter()
        .find(|request| request.reference() == "R2")
        .map(|request| request.body["extra_info"]["ref2"].as_str().expect("key").to_owned())
        .expect("R2 sent on day 1");
    // Day 1's callback for R2, in the provider's own not-sent shape (no time of its own).
    let body = serde_json::json!({
        "code": "WAV2101", "status": "not sent", "reason": "Account daily limit reached",
        "message_id": "AX-2", "extra_info": {"ref2": key}
    });
    assert_eq!(receiver.post(&body.to_string()).status, 200);
    // The next attempt leaves in a later second than the callback was stored.
    std::thread::sleep(Duration::from_millis(1100));
    day.store(2, std::sync::atomic::Ordering::SeqCst);
    run(&mut command);
    let third = run(&mut command);
    assert!(!third.stderr.contains("settled as not sent"), "{}", third.stderr);
    let report = campaign.report();
    let r2 = report.iter().find(|line| line["row"] == "4").expect("R2's line");
    assert_eq!(
        r2["status"], "unknown",
        "its second attempt may have reached the person: {report:?}"
    );
}
