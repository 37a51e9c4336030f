//! A campaign of approved template messages (the shipped example: `type: template` with a FLOW
//! button), sent through the fake provider and reconciled with the callbacks the real receiver
//! stores: what reached people, what Meta charged for it, and what the provider said when the
//! template could not be used.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::campaign::{read_delivery_report, read_report, statuses, Campaign};
use crate::support::provider::{Provider, Reply};
use crate::support::receiver::Receiver;
use crate::support::{flowc, repo, run, Scratch};

/// A campaign of the example template message `flowc init` ships, to `rows` people.
fn template_campaign(rows: usize) -> Campaign {
    let scratch = Scratch::new();
    let outcome = run(flowc().arg("init").arg(scratch.path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut csv = String::from("name,phone,due_date,customer_id\n");
    for n in 0..rows {
        csv.push_str(&format!("Asha {n},+1415{n:07},31 December,C-{n}\n"));
    }
    let data = scratch.write("contacts.csv", csv);
    Campaign {
        template: scratch.path().join("templates/example-template.yaml"),
        data,
        scratch,
    }
}

/// A status of the message `message_id` (the 202's, echoed in `extra_info`), with Meta's
/// `pricing` when given (`billable`, `category`).
fn status(message_id: &str, status: &str, time: i64, pricing: Option<(bool, &str)>, error: Option<u32>) -> String {
    let mut entry = json!({"id": format!("wamid.{message_id}"), "status": status, "timestamp": time.to_string()});
    if let Some((billable, category)) = pricing {
        entry["pricing"] = json!({"billable": billable, "pricing_model": "PMP", "category": category});
    }
    if let Some(code) = error {
        entry["errors"] = json!([{"code": code, "title": "Message undeliverable"}]);
    }
    json!({"meta_object": {"field": "messages", "value": {"statuses": [entry]}},
           "extra_info": {"message_id": message_id}})
    .to_string()
}

#[test]
fn a_template_message_campaign_is_sent_and_reconciled_with_its_billable_messages_counted_once_each() {
    let campaign = template_campaign(4);
    let provider = Provider::accepting();
    provider.expect_requests(4);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for request in provider.received() {
        let body: &Value = &request.body;
        let message = &body["messaging_object"];
        assert_eq!(message["type"], "template", "{body}");
        assert_eq!(message["template"]["name"], "service_booking", "{body}");
        assert_eq!(message["template"]["language"]["code"], "en_US", "{body}");
    }
    let ids: std::collections::HashMap<String, String> = read_report(&campaign.report_path())
        .into_iter()
        .map(|line| (line["row"].clone(), line["message_id"].clone()))
        .collect();

    let receiver = Receiver::start();
    let now = jiff::Timestamp::now().as_second();
    let marketing = Some((true, "marketing"));
    for body in [
        // Row 2 read: three statuses, each with the pricing, one billable message.
        status(&ids["2"], "sent", now + 1, marketing, None),
        status(&ids["2"], "delivered", now + 2, marketing, None),
        status(&ids["2"], "read", now + 3, marketing, None),
        // Row 3 delivered.
        status(&ids["3"], "sent", now + 1, marketing, None),
        status(&ids["3"], "delivered", now + 4, marketing, None),
        // Row 4 failed after its `sent` said billable: Meta charges delivered messages only.
        status(&ids["4"], "sent", now + 1, marketing, None),
        status(&ids["4"], "failed", now + 5, None, Some(131_026)),
        // Row 5 sent, its status without pricing.
        status(&ids["5"], "sent", now + 1, None, None),
    ] {
        assert_eq!(receiver.post(&body).status, 200, "{body}");
    }
    assert_eq!(
        receiver.count("SELECT count(*) FROM statuses WHERE billable = 1 AND pricing_category = 'marketing'"),
        6
    );

    let page = campaign.scratch.path().join("report.html");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--html")
        .arg(&page));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "4 accepted → 3 sent → 2 delivered → 1 read → 0 completed the Flow; 1 failed (131026 undeliverable: 1)",
            "billable messages: 2 (marketing: 2); not billable: 1 (marketing: 1)"
        ],
        "{}",
        outcome.stdout
    );
    let report = read_delivery_report(&campaign.report_path());
    let cells = |row: &str| {
        let line = &report[row];
        (
            line["delivery"].as_str(),
            line["billable"].as_str(),
            line["pricing_category"].as_str(),
        )
    };
    assert_eq!(cells("2"), ("read", "true", "marketing"));
    assert_eq!(cells("3"), ("delivered", "true", "marketing"));
    assert_eq!(cells("4"), ("failed", "false", "marketing"));
    assert_eq!(cells("5"), ("sent", "", ""));
    let html = std::fs::read_to_string(&page).expect("page");
    let section = html
        .split("<h2>What it cost</h2>")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("the pricing section");
    assert!(
        section.contains("<th>category</th><th class=\"n\">billable messages</th><th class=\"n\">not billable</th>"),
        "{section}"
    );
    assert!(
        section.contains("<tr><td>marketing</td><td class=\"n\">2</td><td class=\"n\">1</td></tr>"),
        "{section}"
    );
    drop(receiver);
}

/// Meta's `132001` in the answer to a template message stops the campaign, naming the template
/// and the language the rows were sent with, and leaves every row pending.
#[test]
fn a_template_not_found_in_its_language_stops_the_campaign_naming_the_template_and_language() {
    let campaign = template_campaign(3);
    let provider = Provider::start(Duration::ZERO, |_, _, _| {
        Reply::meta_error(
            400,
            132_001,
            "Template name does not exist in the translation",
            "template name (service_booking) does not exist in en_US",
        )
    });
    provider.expect_requests(1);
    let outcome = run(campaign.command(&provider).args(["--concurrency", "1"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "template not found in that language: the template `service_booking` in `en_US` (132001: (#132001) Template name does not exist in the translation: template name (service_booking) does not exist in en_US); sending stopped"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("The 3 unsent rows stay pending"),
        "{}",
        outcome.stderr
    );
    assert_eq!(statuses(&campaign.report()), [("pending".to_owned(), 3)].into());
}

/// Rows of a template message that share a flow_token (its FLOW button's) are warned of before
/// sending, naming the first such pair, as for interactive Flow messages: a completed Flow is
/// matched to its row by it.
#[test]
fn a_template_message_dry_run_warns_when_rows_share_a_flow_token() {
    let scratch = Scratch::new();
    let data = scratch.write(
        "contacts.csv",
        "name,phone,due_date,customer_id\nAsha,+14150000000,31 December,C-1\nRavi,+14150000001,31 December,C-2\nMeera,+14150000002,31 December,C-1\n",
    );
    let campaign = Campaign {
        template: repo().join("templates/service-booking-template.yaml"),
        data,
        scratch,
    };
    let outcome = run(campaign.command_to("http://127.0.0.1:9").arg("--dry-run"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome
            .stderr
            .matches("1 row shares a flow_token with an earlier row (row 4 has the flow_token of row 2)")
            .count(),
        1,
        "{}",
        outcome.stderr
    );
}

/// A Flow completion that does not say which message it answers is matched to the template
/// message's row by the flow_token its FLOW button carried.
#[test]
fn a_flow_reply_to_a_template_message_is_matched_to_its_row_by_its_flow_token() {
    let campaign = template_campaign(3);
    let provider = Provider::accepting();
    provider.expect_requests(3);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let receiver = Receiver::start();
    let now = jiff::Timestamp::now().as_second();
    let answers = json!({"flow_token": "booking-C-1", "slot": "10:00"});
    let reply = json!({"messages": [{"from": "14150000001", "id": "wamid.reply", "timestamp": (now + 30).to_string(),
        "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": answers.to_string()}}}]});
    assert_eq!(receiver.post(&reply.to_string()).status, 200);
    let responses = campaign.scratch.path().join("answers.jsonl");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--responses")
        .arg(&responses));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("→ 1 completed the Flow"), "{}", outcome.stdout);
    let lines: Vec<Value> = std::fs::read_to_string(&responses)
        .expect("responses")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (&lines[0]["row"], &lines[0]["to"], &lines[0]["flow_token"]),
        (&json!(3), &json!("+14150000001"), &json!("booking-C-1")),
        "{lines:?}"
    );
    drop(receiver);
}
