//! Meta's template codes as the provider answers them to a request (the campaign stops, or the
//! row fails with Meta's detail) and as a `failed` callback brings them later (the report
//! explains them). The message sent here may be any message: the answer decides, not its type.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::campaign::{assert_no_key, read_delivery_report, statuses, Campaign, KEY};
use crate::support::provider::{Provider, Reply};
use crate::support::receiver::Receiver;
use crate::support::{flowc, run};

/// Meta's code in either place the provider may put it: as its own `code`, or in Meta's error
/// object passed on.
fn answer(code: u32, title: &str, details: &str, nested: bool) -> Reply {
    if nested {
        Reply::meta_error(400, code, title, details)
    } else {
        Reply::error(400, &code.to_string(), &format!("{title}: {details}"))
    }
}

#[test]
fn a_paused_template_mid_run_stops_the_campaign_and_a_resume_sends_only_the_rest_each_person_once() {
    let campaign = Campaign::new(200);
    let paused = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&paused);
    let provider = Provider::start(Duration::ZERO, move |_, index, _| {
        if index >= 60 && flag.load(Ordering::SeqCst) {
            Reply::meta_error(400, 132_015, "Template is Paused", "template paused due to low quality")
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command(&provider).args(["--concurrency", "4"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "template paused (low quality) (132015: (#132015) Template is Paused: template paused due to low quality); sending stopped"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("The 140 unsent rows stay pending: run the same command again to send them"),
        "{}",
        outcome.stderr
    );
    let first = statuses(&campaign.report());
    assert_eq!((first["accepted"], first["pending"]), (60, 140), "{first:?}");
    assert_eq!(first.get("failed"), None, "a paused template fails no row: {first:?}");
    let first_run_requests = provider.count();
    assert!(
        first_run_requests <= 64,
        "at most the requests in flight follow: {first_run_requests}"
    );

    // The pause has ended: the same command sends the rows left, and only those.
    paused.store(false, Ordering::SeqCst);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.lines().last(),
        Some("140 accepted, 60 skipped (accepted earlier)")
    );
    let accepted: Vec<String> = provider
        .received()
        .iter()
        .enumerate()
        .filter(|(index, _)| *index < 60 || *index >= first_run_requests)
        .map(|(_, request)| request.reference())
        .collect();
    assert_eq!(accepted.len(), 200, "every person accepted once");
    assert_eq!(accepted.iter().collect::<HashSet<_>>().len(), 200);
    assert_eq!(statuses(&campaign.report())["accepted"], 200);
}

/// Each code that fails every later row alike, in both places the provider may put it.
#[test]
fn each_code_that_fails_every_later_row_stops_the_campaign_with_its_reason_and_leaves_the_rows_pending() {
    let cases = [
        (
            132_001,
            "Template name does not exist in the translation",
            "template not found in that language",
            "Check its name and language code against the account's approved templates",
        ),
        (
            132_015,
            "Template is Paused",
            "template paused (low quality)",
            "See its quality in WhatsApp Manager",
        ),
        (
            132_016,
            "Template is Disabled",
            "template disabled",
            "Have a new template approved",
        ),
        (
            132_068,
            "Flow is blocked",
            "Flow blocked",
            "Look at the Flow's status in WhatsApp Manager",
        ),
        (
            132_069,
            "Flow is throttled",
            "Flow throttled",
            "only 10 messages an hour may carry it",
        ),
    ];
    for (code, title, said, what_to_do) in cases {
        for nested in [false, true] {
            let campaign = Campaign::new(3);
            let provider = Provider::start(Duration::ZERO, move |_, _, _| answer(code, title, "the detail", nested));
            provider.expect_requests(1);
            let outcome = run(campaign.command(&provider).args(["--concurrency", "1"]));
            let case = format!("{code} (Meta's object: {nested}): {}", outcome.stderr);
            assert_eq!(outcome.code, 1, "{case}");
            assert!(outcome.stderr.contains(&format!("x {said} ({code}: ")), "{case}");
            assert!(outcome.stderr.contains("the detail); sending stopped"), "{case}");
            assert!(outcome.stderr.contains(what_to_do), "{case}");
            assert!(outcome.stderr.contains("The 3 unsent rows stay pending"), "{case}");
            let report = statuses(&campaign.report());
            assert_eq!(report, [("pending".to_owned(), 3)].into(), "{case}");
        }
    }
}

#[test]
fn a_throttled_flow_stops_the_campaign_and_says_when_to_send_again_in_the_windows_zone() {
    let campaign = Campaign::new(5);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R2" {
            Reply::meta_error(
                400,
                132_069,
                "Flow is throttled",
                "10 messages using this flow were already sent in the last hour",
            )
        } else {
            Reply::accepted(index)
        }
    });
    let zone = jiff::tz::TimeZone::get("Asia/Kolkata").expect("zone");
    let in_an_hour = |zone: &jiff::tz::TimeZone| {
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1))
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    let before = in_an_hour(&zone);
    let outcome = run(campaign.command(&provider).args([
        "--concurrency",
        "1",
        "--window",
        "00:00-24:00",
        "--tz",
        "Asia/Kolkata",
    ]));
    let after = in_an_hour(&zone);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("Flow throttled (132069: (#132069) Flow is throttled: 10 messages using this flow were already sent in the last hour); sending stopped"),
        "{}",
        outcome.stderr
    );
    let when = |time: &str| {
        format!(
            "The 3 unsent rows stay pending: run the same command again after {time} Asia/Kolkata (in about 1h 00m)"
        )
    };
    assert!(
        outcome.stderr.contains(&when(&before)) || outcome.stderr.contains(&when(&after)),
        "{}",
        outcome.stderr
    );
    let report = statuses(&campaign.report());
    assert_eq!((report["accepted"], report["pending"]), (2, 3), "{report:?}");
}

#[test]
fn a_parameter_count_mismatch_fails_its_row_with_metas_detail_and_the_campaign_goes_on() {
    let campaign = Campaign::new(5);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R2" {
            // A detail that echoes the key: shown without it, as all provider text is.
            let details = format!(
                "body: number of localizable_params (2) does not match the expected number of params (1) {}",
                request.headers["api-key"]
            );
            Reply::meta_error(
                400,
                132_000,
                "Number of parameters does not match the expected number of params",
                &details,
            )
        } else {
            Reply::accepted(index)
        }
    });
    provider.expect_requests(5).expect_each_reference(1);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.lines().last(), Some("4 accepted, 1 failed (132000)"));
    assert!(!outcome.stderr.contains("sending stopped"), "{}", outcome.stderr);
    assert_no_key(&outcome);
    let report = campaign.report();
    let failed: Vec<_> = report.iter().filter(|line| line["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{report:?}");
    assert_eq!(failed[0]["row"], "4");
    assert_eq!(failed[0]["code"], "132000");
    assert_eq!(failed[0]["http_status"], "400");
    assert!(
        failed[0]["error"].starts_with("(#132000) Number of parameters does not match the expected number of params: body: number of localizable_params (2) does not match the expected number of params (1)"),
        "{}",
        failed[0]["error"]
    );
    assert!(!failed[0]["error"].contains(KEY), "{}", failed[0]["error"]);
}

/// The other codes about the row's own values fail only their row, in either place.
#[test]
fn codes_about_a_rows_own_values_fail_only_that_row_with_the_providers_detail() {
    let codes = [132_005, 132_012, 131_008, 131_009];
    let campaign = Campaign::new(9);
    let provider = Provider::start(Duration::ZERO, move |request, index, _| {
        let n: usize = request.reference().trim_start_matches('R').parse().expect("R<n>");
        match codes.get(n / 2) {
            Some(code) if n < 8 => answer(*code, "Meta says no", &format!("detail for R{n}"), n % 2 == 1),
            _ => Reply::accepted(index),
        }
    });
    provider.expect_requests(9).expect_each_reference(1);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let report = campaign.report();
    for line in &report {
        let n = line["row"].parse::<usize>().expect("row") - 2;
        if n < 8 {
            assert_eq!(line["status"], "failed", "{line:?}");
            assert_eq!(line["code"], codes[n / 2].to_string(), "{line:?}");
            assert!(line["error"].contains(&format!("detail for R{n}")), "{line:?}");
        } else {
            assert_eq!(line["status"], "accepted", "{line:?}");
        }
    }
}

#[test]
fn a_disabled_template_in_a_failed_callback_is_explained_in_the_report_and_on_its_page() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let message_id = campaign
        .report()
        .into_iter()
        .find(|line| line["row"] == "2")
        .map(|line| line["message_id"].clone())
        .expect("row 2");
    let receiver = Receiver::start();
    let now = jiff::Timestamp::now().as_second();
    let failed = json!({"meta_object": {"field": "messages", "value": {"statuses": [{
            "id": format!("wamid.{message_id}"), "status": "failed", "timestamp": (now + 5).to_string(),
            "errors": [{"code": 132_016, "title": "Template is disabled"}]}]}},
        "extra_info": {"message_id": message_id}});
    assert_eq!(receiver.post(&failed.to_string()).status, 200);
    let page = campaign.scratch.path().join("report.html");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--html")
        .arg(&page));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("1 failed (132016 template disabled: 1)"),
        "{}",
        outcome.stdout
    );
    let report = read_delivery_report(&campaign.report_path());
    assert_eq!(report["2"]["delivery_code"], "132016");
    assert_eq!(
        report["2"]["delivery_error"],
        "template disabled (Template is disabled)"
    );
    let html = std::fs::read_to_string(&page).expect("page");
    let failures = html.split("<h2>Failures by code</h2>").nth(1).expect("the failures");
    assert!(
        failures.contains("<b>template disabled</b>: Meta disabled the template after repeated pauses for low quality"),
        "{failures}"
    );
    drop(receiver);
}

/// The provider's daily limit stops a send in the words the report explains it with.
#[test]
fn the_daily_limit_stop_says_what_the_report_says_of_the_code() {
    let campaign = Campaign::new(3);
    let provider = Provider::start(Duration::ZERO, |_, _, _| {
        Reply::error(400, "WAV2101", "Daily limit reached")
    });
    provider.expect_requests(1);
    let outcome = run(campaign.command(&provider).args(["--concurrency", "1"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("account daily limit reached (WAV2101: Daily limit reached); sending stopped"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("the account's daily limit of messages was reached. Resume the next day, or after the limit is raised. The 3 unsent rows stay pending: run the same command again to send them"),
        "{}",
        outcome.stderr
    );
}
