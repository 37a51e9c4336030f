//! `flowc send` against a fake provider on 127.0.0.1, the binary run as a user runs it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::campaign::{
    assert_no_key, read_report, signal, statuses, wait_for_requests, Campaign, FROM, KEY, SID,
};
use crate::support::provider::{Provider, Reply};
use crate::support::{flowc, run, Scratch, BASE_TEMPLATE};

#[test]
fn a_campaign_is_sent_once_per_row_with_the_right_request() {
    let campaign = Campaign::new(2000);
    let provider = Provider::accepting();
    let outcome = run(campaign.command(&provider).args(["--concurrency", "32"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.lines().last(), Some("2,000 accepted"));

    let received = provider.received();
    assert_eq!(received.len(), 2000);
    let per_reference = provider.per_reference();
    assert_eq!(per_reference.len(), 2000);
    assert!(per_reference.values().all(|&count| count == 1));

    // Each body is exactly what `flowc render --data` prints for its row.
    let rendered = run(flowc()
        .arg("render")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data));
    let expected: HashMap<String, serde_json::Value> = crate::support::bodies(&rendered.stdout)
        .into_iter()
        .map(|body| (body["extra_info"]["ref"].as_str().expect("ref").to_owned(), body))
        .collect();
    for request in &received {
        assert_eq!(request.path, format!("/v2/{SID}/whatsapp/{FROM}/messages"));
        assert_eq!(request.headers["api-key"], KEY);
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.body, expected[&request.reference()]);
    }

    let report = campaign.report();
    assert_eq!(report.len(), 2000);
    assert!(report
        .iter()
        .all(|line| line["status"] == "accepted" && line["http_status"] == "202"));
    assert!(report
        .iter()
        .all(|line| line["code"] == "WA202" && line["message_id"].starts_with('M')));
    assert_eq!(report[0]["row"], "2");
    assert_eq!(report[0]["to"], "+14150000000");
}

#[test]
fn transient_errors_and_dropped_connections_succeed_on_retry_when_ambiguity_is_accepted() {
    let campaign = Campaign::new(40);
    let provider = Provider::start(Duration::ZERO, |_, index, earlier| match earlier {
        0 => Reply::error(429, "", "Too many requests"),
        1 => Reply::Drop,
        2 => Reply::error(503, "E503", "busy"),
        _ => Reply::accepted(index),
    });
    provider.expect_each_reference(4);
    let outcome = run(campaign.command(&provider).arg("--retry-ambiguous"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.lines().last(), Some("40 accepted"));
    assert!(campaign
        .report()
        .iter()
        .all(|line| line["status"] == "accepted" && line["attempts"] == "4"));
}

#[test]
fn a_row_that_keeps_failing_is_reported_retryable_and_resent_on_resume() {
    let campaign = Campaign::new(5);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R2" {
            Reply::error(503, "E503", "Service unavailable")
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command(&provider).args(["--max-attempts", "3"]));
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout.lines().last(), Some("4 accepted, 1 failed (E503)"));
    let report = campaign.report();
    let failed = report
        .iter()
        .find(|line| line["status"] == "failed")
        .expect("a failed row");
    assert_eq!(failed["attempts"], "3");
    assert!(failed["error"].starts_with("gave up after 3 attempts"), "{failed:?}");
    assert_eq!(provider.per_reference()["R2"], 3);

    let healed = Provider::accepting();
    let outcome = run(&mut campaign.command(&healed));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.lines().last(),
        Some("1 accepted, 4 skipped (accepted earlier)")
    );
    assert_eq!(healed.per_reference().keys().collect::<Vec<_>>(), ["R2"]);
}

#[test]
fn retry_after_is_honoured() {
    let campaign = Campaign::new(3);
    let provider = Provider::start(Duration::ZERO, |_, index, earlier| {
        if earlier == 0 {
            Reply::Json {
                status: 429,
                body: String::new(),
                retry_after: Some("1".to_owned()),
            }
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let received = provider.received();
    for reference in ["R0", "R1", "R2"] {
        let times: Vec<Instant> = received
            .iter()
            .filter(|r| r.reference() == reference)
            .map(|r| r.at)
            .collect();
        assert_eq!(times.len(), 2, "{reference}");
        assert!(
            times[1] - times[0] >= Duration::from_millis(990),
            "{reference}: {:?}",
            times[1] - times[0]
        );
    }
}

#[test]
fn a_refused_payload_fails_its_row_and_the_campaign_goes_on() {
    let campaign = Campaign::new(50);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R7" {
            Reply::error(400, "WA400", "Refer to correct payload format")
        } else {
            Reply::accepted(index)
        }
    });
    provider.expect_requests(50);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout.lines().last(), Some("49 accepted, 1 failed (WA400)"));
    let report = campaign.report();
    let failed: Vec<_> = report.iter().filter(|line| line["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["row"], "9");
    assert_eq!(failed[0]["code"], "WA400");
    assert_eq!(failed[0]["http_status"], "400");
    assert_eq!(failed[0]["error"], "Refer to correct payload format");
}

#[test]
fn a_wrong_key_stops_the_campaign_after_the_requests_in_flight() {
    let campaign = Campaign::new(300);
    let provider = Provider::start(Duration::from_millis(20), |_, _, _| {
        Reply::error(401, "RBC001", "Incorrect SID or API key.")
    });
    let outcome = run(campaign.command(&provider).args(["--concurrency", "4"]));
    assert_eq!(outcome.code, 1);
    assert!(provider.count() <= 4, "{} requests", provider.count());
    assert!(
        outcome.stderr.contains("RBC001: Incorrect SID or API key."),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("KALEYRA_API_KEY"), "{}", outcome.stderr);
    assert_eq!(
        statuses(&campaign.report()),
        HashMap::from([("pending".to_owned(), 300)])
    );
    assert_no_key(&outcome);

    let fixed = Provider::accepting();
    let outcome = run(&mut campaign.command(&fixed));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(fixed.count(), 300);
}

#[test]
fn low_balance_stops_and_a_resume_sends_exactly_the_rest() {
    let campaign = Campaign::new(200);
    let topped_up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&topped_up);
    let provider = Provider::start(Duration::ZERO, move |_, index, _| {
        if index >= 60 && !flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::error(400, "E110", "Please check your balance, You have a low balance!")
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command(&provider).args(["--concurrency", "4"]));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .contains("top up the account, then run the same command again"),
        "{}",
        outcome.stderr
    );
    let first = statuses(&campaign.report());
    assert_eq!(first["accepted"], 60);
    assert_eq!(first["pending"], 140);
    let first_run_requests = provider.count();
    assert!(first_run_requests <= 64, "{first_run_requests}");

    topped_up.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.lines().last(),
        Some("140 accepted, 60 skipped (accepted earlier)")
    );
    let accepted_refs: Vec<String> = provider
        .received()
        .iter()
        .enumerate()
        .filter(|(index, _)| *index < 60 || *index >= first_run_requests)
        .map(|(_, request)| request.reference())
        .collect();
    let unique: HashSet<&String> = accepted_refs.iter().collect();
    assert_eq!(accepted_refs.len(), 200, "every row accepted exactly once");
    assert_eq!(unique.len(), 200);
}

#[test]
fn killed_mid_campaign_then_resumed_sends_nothing_twice() {
    let campaign = Campaign::new(300);
    let provider = Provider::start(Duration::from_millis(200), |_, index, _| Reply::accepted(index));
    let mut child = campaign.spawn(&provider, 8);
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before_resume = provider.count();
    assert!(before_resume >= 40);

    let fast = Provider::accepting();
    let outcome = run(&mut campaign.command(&fast));
    let report = campaign.report();
    let counts = statuses(&report);
    let unknown: HashSet<String> = report
        .iter()
        .filter(|line| line["status"] == "unknown")
        .map(|line| format!("R{}", line["row"].parse::<usize>().expect("row") - 2))
        .collect();
    assert!(!unknown.is_empty() && unknown.len() <= 8, "{counts:?}");
    assert_eq!(
        counts.get("accepted").copied().unwrap_or(0) + counts.get("skipped").copied().unwrap_or(0) + unknown.len(),
        300,
        "{counts:?}"
    );
    assert_eq!(outcome.code, 1, "unknown rows are not a success");
    assert!(
        outcome.stderr.contains("in flight when the last run stopped"),
        "{}",
        outcome.stderr
    );

    // No row went out twice, and the unknown ones were not resent.
    let first: HashSet<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    let second: Vec<String> = fast
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert_eq!(first.len(), before_resume, "no duplicates in the first run");
    assert!(
        second.iter().all(|reference| !first.contains(reference)),
        "a row was sent twice"
    );
    assert!(second.iter().all(|reference| !unknown.contains(reference)));
    assert_eq!(
        first.len() + second.len(),
        300 - unknown.iter().filter(|r| !first.contains(*r)).count()
    );
}

#[test]
fn the_rate_limit_holds_on_the_server_side() {
    let campaign = Campaign::new(120);
    let provider = Provider::accepting();
    let started = Instant::now();
    let outcome = run(&mut campaign.command_at(&provider, 40, &campaign.data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(2900), "{elapsed:?}");
    let times: Vec<Instant> = provider.received().iter().map(|r| r.at).collect();
    let first = times[0];
    let mut per_second = HashMap::<u64, usize>::new();
    for at in &times {
        *per_second.entry((*at - first).as_secs()).or_default() += 1;
    }
    assert!(per_second.values().all(|&count| count <= 40), "{per_second:?}");
}

#[test]
fn dry_run_sends_nothing_and_writes_the_report() {
    let campaign = Campaign::new(10);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign.command(&provider).arg("--dry-run"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.lines().last(),
        Some("dry run: 10 would be sent now, 0 invalid; nothing was sent")
    );
    assert!(!campaign.journal_path().exists(), "a dry run leaves no journal");
    let report = read_report(&campaign.scratch.path().join("contacts.dry-run.report.csv"));
    assert_eq!(statuses(&report), HashMap::from([("pending".to_owned(), 10)]));
}

#[test]
fn dry_run_needs_no_account() {
    let campaign = Campaign::new(3);
    let outcome = run(flowc()
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .arg("--dry-run")
        .env_remove("KALEYRA_SID")
        .env_remove("KALEYRA_API_KEY"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("(no account configured)"));
}

#[test]
fn a_changed_data_file_refuses_to_resume() {
    let campaign = Campaign::new(5);
    let provider = Provider::accepting();
    provider.expect_requests(6);
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    std::fs::write(&campaign.data, "name,phone,ref\nSomeone Else,+14155550199,R0\n").expect("edit data");
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("whose data file has changed"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("--restart"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 5);

    let outcome = run(campaign.command(&provider).arg("--restart"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn a_changed_template_refuses_to_resume() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let outcome = run(campaign.command(&provider).args(["--var", "city=Goa"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("template (or a --var value) has changed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_key_never_appears_in_any_output() {
    let campaign = Campaign::new(20);
    // A provider that echoes the key back in its errors, to prove flowc removes it.
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R3" {
            Reply::error(400, "WA400", &format!("bad key {}", request.headers["api-key"]))
        } else if request.reference() == "R4" {
            Reply::Json {
                status: 404,
                body: format!("<html>no route for key {}</html>", request.headers["api-key"]),
                retry_after: None,
            }
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command(&provider).arg("--verbose"));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("row 2 attempt 1: HTTP 202 WA202"),
        "verbose log: {}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("bad key ***"), "{}", outcome.stderr);
    assert_no_key(&outcome);
    let report = std::fs::read_to_string(campaign.report_path()).expect("report");
    assert!(report.contains("bad key ***"), "{report}");
    assert!(!report.contains(KEY));
    let journal = std::fs::read(campaign.journal_path()).expect("journal");
    let wal = std::fs::read(campaign.scratch.path().join("contacts.journal.sqlite-wal")).unwrap_or_default();
    for bytes in [journal, wal] {
        assert!(
            !bytes.windows(KEY.len()).any(|window| window == KEY.as_bytes()),
            "key in the journal"
        );
    }
    // Nor in the help text, which shows environment values unless told not to.
    let help = run(flowc().args(["send", "--help"]).env("KALEYRA_API_KEY", KEY));
    assert!(!help.stdout.contains(KEY));
    // Nor in a refusal that echoes the settings.
    let refused = run(campaign
        .command(&provider)
        .env("KALEYRA_BASE_URL", "http://example.com"));
    assert_eq!(refused.code, 2);
    assert_no_key(&refused);
}

#[test]
fn ctrl_c_stops_new_rows_and_a_resume_finishes() {
    let campaign = Campaign::new(400);
    let provider = Provider::start(Duration::from_millis(50), |_, index, _| Reply::accepted(index));
    provider.expect_requests(400);
    provider.expect_each_reference(1);
    let child = campaign.spawn(&provider, 4);
    wait_for_requests(&provider, 20);
    signal(&child, "-INT");
    let output = child.wait_with_output().expect("flowc ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Run the same command again to resume"), "{stderr}");
    let counts = statuses(&campaign.report());
    assert_eq!(counts.get("unknown"), None, "in-flight requests finished: {counts:?}");
    assert_eq!(counts["accepted"], provider.count());

    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn invalid_rows_are_reported_and_never_sent() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(
        "contacts.csv",
        "name,phone,ref\nA,+14155550100,R0\nB,12345,R1\n,+14155550102,R2\n",
    );
    let provider = Provider::accepting();
    let campaign = Campaign {
        scratch,
        template,
        data,
    };
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "every valid row accepted: {}", outcome.stderr);
    assert_eq!(outcome.stdout.lines().last(), Some("1 accepted, 2 invalid"));
    assert!(
        outcome
            .stderr
            .contains("contacts.csv row 3, column `phone`: `to` has no country code"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 1);
    let report = campaign.report();
    assert_eq!(report[1]["status"], "invalid");
    assert!(report[1]["error"].contains("no country code"), "{:?}", report[1]);

    let strict = run(campaign.command(&provider).args(["--strict", "--restart"]));
    assert_eq!(strict.code, 1);
    assert!(
        strict.stderr.contains("--strict: 2 invalid rows; nothing sent"),
        "{}",
        strict.stderr
    );
    assert_eq!(provider.count(), 1);
}

#[test]
fn without_yes_and_a_terminal_it_refuses() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let mut command = flowc();
    command
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .env("KALEYRA_SID", SID)
        .env("KALEYRA_API_KEY", KEY)
        .env("KALEYRA_WHATSAPP_NUMBER", FROM)
        .env("KALEYRA_BASE_URL", provider.url());
    let outcome = run(&mut command);
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("pass --yes"), "{}", outcome.stderr);
}

#[test]
fn missing_settings_name_the_flag_and_the_variable() {
    let campaign = Campaign::new(1);
    let outcome = run(flowc()
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .arg("--yes")
        .env_remove("KALEYRA_SID")
        .env_remove("KALEYRA_API_KEY")
        .env_remove("KALEYRA_WHATSAPP_NUMBER"));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("missing the Kaleyra SID: pass --sid or set KALEYRA_SID"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let campaign = Campaign::new(1);
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command(&provider)
        .env("KALEYRA_BASE_URL", "http://10.0.0.1:8080"));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("plain http:// is refused"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn stdin_data_is_refused_for_sending() {
    let campaign = Campaign::new(1);
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command_at(&provider, 0, Path::new("-"))
        .write_stdin("name,phone,ref\n"));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("not standard input"), "{}", outcome.stderr);
}

#[test]
fn a_second_ctrl_c_quits_at_once_and_the_journal_stays_consistent() {
    let campaign = Campaign::new(50);
    // Answers take 3 s, so the first Ctrl-C would wait for them; the second must not.
    let provider = Provider::start(Duration::from_secs(3), |_, index, _| Reply::accepted(index));
    let child = campaign.spawn(&provider, 4);
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let interrupt = || {
        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
    };
    let started = Instant::now();
    interrupt();
    std::thread::sleep(Duration::from_millis(200));
    interrupt();
    let output = child.wait_with_output().expect("flowc ends");
    assert_eq!(output.status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "quit before the answers came: {:?}",
        started.elapsed()
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("quitting at once"));

    // The four requests in flight are unknown; the other rows are sent by the next run.
    let fast = Provider::accepting();
    let outcome = run(&mut campaign.command(&fast));
    assert_eq!(outcome.code, 1, "unknown rows remain: {}", outcome.stderr);
    let counts = statuses(&campaign.report());
    assert_eq!(counts.get("unknown"), Some(&4), "{counts:?}");
    assert_eq!(counts.get("accepted"), Some(&46), "{counts:?}");
    let first: HashSet<String> = provider
        .received()
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert!(fast
        .received()
        .iter()
        .all(|request| !first.contains(&request.reference())));
}

#[test]
fn redirects_are_not_followed_so_the_key_goes_nowhere_else() {
    let campaign = Campaign::new(2);
    let elsewhere = Provider::accepting();
    let target = format!("{}/v2/stolen", elsewhere.url());
    let provider = Provider::start(Duration::ZERO, move |_, _, _| Reply::Redirect(target.clone()));
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 1);
    assert_eq!(elsewhere.count(), 0, "the redirect was followed");
    // A redirect is the address, not the message: the campaign stops with its rows pending.
    assert!(
        outcome
            .stderr
            .contains("the endpoint is not the provider's messages API"),
        "{}",
        outcome.stderr
    );
    assert_eq!(statuses(&campaign.report()).get("pending"), Some(&2));
}

#[test]
fn the_last_var_wins_in_the_campaign_fingerprint() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(
        run(campaign.command(&provider).args(["--var", "city=A", "--var", "city=B"])).code,
        0
    );
    let outcome = run(campaign.command(&provider).args(["--var", "city=B", "--var", "city=A"]));
    assert_eq!(outcome.code, 2, "a different value takes effect: {}", outcome.stderr);
    let outcome = run(campaign.command(&provider).args(["--var", "city=A", "--var", "city=B"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}
