//! `send --outside-window TEMPLATE --events STORE`: each person gets the interactive Flow
//! message while their 24-hour window is open (less `--window-margin`), the approved template
//! otherwise, decided from the event store `flowc receive` fills, each person once.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::campaign::{read_delivery_report, read_report, signal, wait_for_requests, Campaign};
use crate::support::provider::{row_number, status_body, Callback, Callbacks, Provider, Received};
use crate::support::receiver::{Receiver, TOKEN};
use crate::support::{flowc, run};

/// The approved template message, from the same data columns as the base Flow message.
const TEMPLATE_MESSAGE: &str = r#"description: The approved template with a Flow button
vars:
  name: { example: "Asha" }
  phone: { example: "+919876543210" }
  ref: { example: "R-1" }
messaging_object:
  to: "{{phone}}"
  type: template
  template:
    name: spring_booking
    language: { code: en_US }
    components:
      - type: body
        parameters:
          - { type: text, text: "{{name}}" }
      - type: button
        sub_type: flow
        index: "0"
        parameters:
          - { type: action, action: { flow_token: "tok-{{ref}}" } }
extra_info:
  ref: "{{ref}}"
  wa_source: api
"#;

const HOUR: i64 = 3600;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .try_into()
        .expect("a time")
}

/// When row `n`'s person last wrote, as these tests store it: 30% of them, a third an hour
/// ago (window open), a third 23.5 hours ago (open, but within the hour's margin), a third 25
/// hours ago (closed); the others never wrote.
fn last_written(n: usize, now: i64) -> Option<i64> {
    match n % 10 {
        0 => Some(now - HOUR),
        1 => Some(now - 23 * HOUR - HOUR / 2),
        2 => Some(now - 25 * HOUR),
        _ => None,
    }
}

/// The number row `n` has in [`Campaign::new`], as the provider writes a sender (no `+`).
fn sender(n: usize) -> String {
    format!("1415{n:07}")
}

/// Stores, through the real receiver, an incoming text message from each row's person that
/// `last_written` gives a time.
fn store_incoming(receiver: &Receiver, rows: usize, now: i64) {
    let messages: Vec<serde_json::Value> = (0..rows)
        .filter_map(|n| {
            last_written(n, now).map(|time| {
                serde_json::json!({"from": sender(n), "id": format!("wamid.in.{n}"), "timestamp": time.to_string(),
                    "type": "text", "text": {"body": "hello"}})
            })
        })
        .collect();
    for chunk in messages.chunks(500) {
        let body = serde_json::json!({
            "meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp", "messages": chunk}},
            "extra_info": {"trace_id": "t"},
        });
        let answer = receiver.post(&body.to_string());
        assert_eq!(answer.status, 200, "{}", receiver.stderr());
    }
}

/// The message a request carried: `flow` (interactive) or `template`.
fn kind_of(request: &Received) -> &'static str {
    match request.body["messaging_object"]["type"].as_str() {
        Some("interactive") => "flow",
        Some("template") => "template",
        other => panic!("a message of type {other:?}"),
    }
}

struct Setup {
    campaign: Campaign,
    receiver: Receiver,
    template: std::path::PathBuf,
    now: i64,
}

fn setup(rows: usize) -> Setup {
    let campaign = Campaign::new(rows);
    let template = campaign.scratch.write("approved.yaml", TEMPLATE_MESSAGE);
    let receiver = Receiver::start();
    let now = now();
    store_incoming(&receiver, rows, now);
    Setup {
        campaign,
        receiver,
        template,
        now,
    }
}

#[test]
fn each_person_gets_the_flow_inside_their_window_less_the_margin_and_the_template_otherwise() {
    const ROWS: usize = 10_000;
    let Setup {
        campaign,
        receiver,
        template,
        ..
    } = setup(ROWS);
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .args(["--concurrency", "16", "--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("message:  1,000 the Flow message (wrote in the last 24 hours, less --window-margin 1h), 9,000 the template"),
        "{}",
        outcome.stderr
    );

    let mut per_row: HashMap<i64, Vec<&'static str>> = HashMap::new();
    let received = provider.received();
    for request in &received {
        per_row.entry(row_number(request)).or_default().push(kind_of(request));
    }
    assert_eq!(received.len(), ROWS, "each person once");
    for n in 0..ROWS {
        let expected = if n % 10 == 0 { "flow" } else { "template" };
        assert_eq!(per_row[&(n as i64)], [expected], "row of R{n}");
    }
    // The template went with the row's own values.
    let template_request = received.iter().find(|request| row_number(request) == 7).expect("R7");
    assert_eq!(template_request.body["messaging_object"]["to"], "+14150000007");
    assert_eq!(
        template_request.body["messaging_object"]["template"]["components"][1]["parameters"][0]["action"]["flow_token"],
        "tok-R7"
    );

    let report = read_report(&campaign.report_path());
    assert_eq!(report.len(), ROWS);
    for line in &report {
        let n: usize = line["row"].parse::<usize>().expect("row") - 2;
        let expected = if n % 10 == 0 { "flow" } else { "template" };
        assert_eq!(line["status"], "accepted");
        assert_eq!(line["message"], expected, "report row {}", line["row"]);
    }
}

#[test]
fn a_smaller_margin_sends_the_flow_to_whoever_wrote_within_it() {
    let Setup {
        campaign,
        receiver,
        template,
        ..
    } = setup(40);
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .args(["--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template)
        .args(["--window-margin", "20m"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for request in provider.received() {
        let n = row_number(&request);
        let expected = if n % 10 <= 1 { "flow" } else { "template" };
        assert_eq!(kind_of(&request), expected, "R{n}");
    }

    // The report shows the funnel of each message, on stdout and on the page.
    let page = campaign.scratch.path().join("report.html");
    let report = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--html")
        .arg(&page));
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(report.stdout.contains("\nflow: 8 accepted"), "{}", report.stdout);
    assert!(report.stdout.contains("\ntemplate: 32 accepted"), "{}", report.stdout);
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("<h2>By message</h2>")
            && html.contains("<tr><td>flow</td><td>8</td>")
            && html.contains("<tr><td>template</td><td>32</td>"),
        "{html}"
    );
}

#[test]
fn a_person_who_writes_during_the_run_gets_the_flow() {
    let Setup {
        campaign,
        receiver,
        template,
        now,
    } = setup(4);
    let provider = Provider::accepting();
    let mut send = spawn_send(
        &campaign,
        &receiver,
        &template,
        &provider,
        ["--rate", "1", "--concurrency", "1"],
    );
    wait_for_requests(&provider, 1);
    // Row R3's person never wrote; they write now, before their row's turn.
    let body = serde_json::json!({
        "meta_object": {"field": "messages", "value": {"messaging_product": "whatsapp", "messages": [
            {"from": sender(3), "id": "wamid.in.late", "timestamp": now.to_string(), "type": "text", "text": {"body": "hi"}}]}},
    });
    assert_eq!(receiver.post(&body.to_string()).status, 200);
    let status = send.wait().expect("flowc ends");
    assert!(status.success());
    let kinds: HashMap<i64, &str> = provider
        .received()
        .iter()
        .map(|request| (row_number(request), kind_of(request)))
        .collect();
    assert_eq!(kinds[&0], "flow");
    assert_eq!(kinds[&2], "template");
    assert_eq!(kinds[&3], "flow", "wrote during the run");
}

#[test]
fn a_campaign_stopped_mid_run_and_resumed_sends_nobody_twice_whatever_message_they_got() {
    const ROWS: usize = 300;
    let Setup {
        campaign,
        receiver,
        template,
        ..
    } = setup(ROWS);
    let provider = Provider::start(Duration::from_millis(5), |_, index, _| {
        crate::support::provider::Reply::accepted(index)
    });
    let mut send = spawn_send(
        &campaign,
        &receiver,
        &template,
        &provider,
        ["--rate", "0", "--concurrency", "4"],
    );
    wait_for_requests(&provider, 60);
    // A crash: no chance to record anything more.
    signal(&send, "-KILL");
    let _ = send.wait();
    let first = provider.count();
    assert!(first < ROWS, "the run was stopped before its end");

    let resumed = run(campaign
        .command(&provider)
        .args(["--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template));
    // Rows in flight at the crash stay unknown (exit 1 says so); none is sent again.
    assert!(resumed.code == 0 || resumed.code == 1, "{}", resumed.stderr);
    let per_reference = provider.per_reference();
    assert!(
        per_reference.values().all(|count| *count == 1),
        "someone got two messages: {:?}",
        per_reference
            .iter()
            .filter(|(_, count)| **count > 1)
            .collect::<Vec<_>>()
    );
    let report = read_report(&campaign.report_path());
    let unsent: Vec<&HashMap<String, String>> = report
        .iter()
        .filter(|line| !["accepted", "unknown"].contains(&line["status"].as_str()))
        .collect();
    assert!(unsent.is_empty(), "rows left unsent: {unsent:?}");
    let kinds: HashMap<String, &str> = provider
        .received()
        .iter()
        .map(|request| (format!("{}", row_number(request) + 2), kind_of(request)))
        .collect();
    for line in &report {
        if let Some(kind) = kinds.get(&line["row"]) {
            if line["status"] == "accepted" {
                assert_eq!(line["message"], *kind, "report row {}", line["row"]);
            }
        }
    }
}

#[test]
fn a_flow_campaign_with_events_warns_how_many_have_not_written_in_24_hours() {
    let Setup { campaign, receiver, .. } = setup(100);
    let outcome = run(campaign
        .command(&Provider::accepting())
        .args(["--dry-run", "--events"])
        .arg(&receiver.store));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // 10 wrote an hour ago and 10 23.5 hours ago; 10 wrote 25 hours ago and 70 never did.
    assert!(
        outcome
            .stderr
            .contains("80 of 100 have not written in 24 hours: the Flow message will fail for them with 131047"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("--outside-window TEMPLATE"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn outside_window_without_an_event_store_is_refused_with_why() {
    let campaign = Campaign::new(3);
    let template = campaign.scratch.write("approved.yaml", TEMPLATE_MESSAGE);
    let provider = Provider::accepting();
    let outcome = run(campaign.command(&provider).arg("--outside-window").arg(&template));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("--outside-window needs --events"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 0);
}

#[test]
fn both_messages_are_checked_before_the_first_send_and_a_variable_the_template_lacks_is_named() {
    let campaign = Campaign::new(3);
    let template = campaign.scratch.write(
        "approved.yaml",
        TEMPLATE_MESSAGE
            .replace("{{name}}", "{{first_name}}")
            .replace("name: { example", "first_name: { example"),
    );
    let receiver = Receiver::start();
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .args(["--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template));
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("first_name"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0);
}

#[test]
fn messages_to_different_recipients_are_refused_before_any_send() {
    let campaign = Campaign::new(3);
    let template = campaign.scratch.write(
        "approved.yaml",
        TEMPLATE_MESSAGE.replace("to: \"{{phone}}\"", "to: \"+14155550100\""),
    );
    let receiver = Receiver::start();
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .args(["--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("each row must reach one person, whichever message it gets"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 0);
}

#[test]
fn a_template_message_campaign_is_sent_and_reconciled() {
    let campaign = Campaign::new(5);
    std::fs::write(&campaign.template, TEMPLATE_MESSAGE).expect("write the template");
    let receiver = Receiver::start();
    let provider = Provider::with_callbacks(
        Duration::ZERO,
        Callbacks {
            url: receiver.url(),
            token: TOKEN.to_owned(),
            script: Box::new(|request: &Received, message_id: &str| -> Vec<Callback> {
                let n = row_number(request);
                let key = request.body["extra_info"]["ref2"].as_str().expect("--track ref2");
                let to = request.body["messaging_object"]["to"].as_str().expect("to");
                let extra = serde_json::json!({"ref": request.reference(), "ref2": key, "message_id": message_id});
                vec![status_body(
                    &format!("wamid.{n}"),
                    "delivered",
                    now(),
                    to.trim_start_matches('+'),
                    &extra,
                    None,
                )]
            }),
        },
    );
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--track", "ref2", "--events"])
        .arg(&receiver.store));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(provider.wait_for_callbacks(Duration::from_secs(30)));
    assert!(provider.received().iter().all(|request| kind_of(request) == "template"));
    let report = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store));
    assert_eq!(report.code, 0, "{}", report.stderr);
    let lines = read_delivery_report(&campaign.report_path());
    assert_eq!(lines.len(), 5);
    for line in lines.values() {
        assert_eq!(line["message"], "template");
        assert_eq!(line["delivery"], "delivered", "{line:?}");
    }
}

#[test]
fn the_mistakes_of_both_messages_are_reported_in_one_pass() {
    let campaign = Campaign::new(3);
    // The campaign's own template file, rewritten with a variable nobody declares.
    campaign
        .scratch
        .template_with(&[("flow_cta: \"Book now\"", "flow_cta: \"{{cta_in_flow}}\"")]);
    let template = campaign.scratch.write(
        "approved.yaml",
        TEMPLATE_MESSAGE.replace("name: spring_booking", "name: \"{{name_in_template}}\""),
    );
    let receiver = Receiver::start();
    let provider = Provider::accepting();
    let mut command = campaign.command(&provider);
    let outcome = run(command
        .args(["--events"])
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(&template));
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("cta_in_flow"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("name_in_template"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0);
}

#[test]
fn the_message_that_reaches_each_person_is_decided_from_a_postgresql_store_too() {
    let Some(server) = crate::support::postgres::shared() else {
        return;
    };
    let database = server.database();
    let scratch = crate::support::Scratch::new();
    let token = scratch.write("token", format!("{TOKEN}\n"));
    let args = vec!["--token-file".to_owned(), token.display().to_string()];
    let receiver = Receiver::spawn_at(scratch, std::path::PathBuf::from(&database.url), "127.0.0.1:0", &args)
        .expect("the receiver starts");
    const ROWS: usize = 40;
    let campaign = Campaign::new(ROWS);
    let template = campaign.scratch.write("approved.yaml", TEMPLATE_MESSAGE);
    store_incoming(&receiver, ROWS, now());
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .arg("--events")
        .arg(&database.url)
        .arg("--outside-window")
        .arg(&template));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(provider.count(), ROWS);
    for request in provider.received() {
        let n = row_number(&request);
        let expected = if n % 10 == 0 { "flow" } else { "template" };
        assert_eq!(kind_of(&request), expected, "R{n}");
    }
}

/// `flowc send` of the campaign with `--outside-window`, as a process a test can signal.
fn spawn_send(
    campaign: &Campaign,
    receiver: &Receiver,
    template: &std::path::Path,
    provider: &Provider,
    pace: [&str; 4],
) -> std::process::Child {
    crate::support::flowc_process()
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .arg("--yes")
        .args(pace)
        .arg("--events")
        .arg(&receiver.store)
        .arg("--outside-window")
        .arg(template)
        .env("KALEYRA_SID", crate::support::campaign::SID)
        .env("KALEYRA_API_KEY", crate::support::campaign::KEY)
        .env("KALEYRA_WHATSAPP_NUMBER", crate::support::campaign::FROM)
        .env("KALEYRA_BASE_URL", provider.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn flowc")
}
