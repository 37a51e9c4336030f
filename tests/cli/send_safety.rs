//! Nothing twice, nothing lost, nothing leaked: the sender under the failures an attack on it
//! found (ambiguous answers, damaged journals, SIGTERM, outputs over inputs, echoed keys).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::campaign::{assert_no_key, signal, statuses, wait_for_requests, Campaign, KEY};
use crate::support::provider::{Provider, Reply};
use crate::support::{flowc, run, Outcome};

fn last_line(outcome: &Outcome) -> &str {
    outcome.stdout.lines().last().unwrap_or_default()
}

#[test]
fn a_connection_dropped_after_the_request_is_unknown_and_never_sent_again() {
    let campaign = Campaign::new(30);
    let dropping = Provider::start(Duration::ZERO, |_, _, _| Reply::Drop);
    for max_attempts in ["1", "5"] {
        let outcome = run(campaign
            .command_to(&dropping.url())
            .args(["--max-attempts", max_attempts]));
        assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    }
    // Each row reached the server once: the first run's drop made it unknown, and the second
    // run did not send it again.
    assert_eq!(dropping.count(), 30);
    assert!(dropping.per_reference().values().all(|&count| count == 1));
    let report = campaign.report();
    assert_eq!(statuses(&report), HashMap::from([("unknown".to_owned(), 30)]));
    assert!(
        report[0]["error"].contains("may have reached the provider"),
        "{:?}",
        report[0]
    );
    assert_eq!(report[0]["attempts"], "1");

    let healthy = Provider::accepting();
    let outcome = run(&mut campaign.command_to(&healthy.url()));
    assert_eq!(
        healthy.count(),
        0,
        "unknown rows are not resent without --resend-unknown"
    );
    assert!(last_line(&outcome).contains("30 unknown"), "{}", outcome.stdout);
    let outcome = run(campaign.command_to(&healthy.url()).arg("--resend-unknown"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(healthy.count(), 30);
}

#[test]
fn a_timeout_and_a_gateway_error_are_unknown() {
    let campaign = Campaign::new(4);
    let provider = Provider::start(Duration::from_millis(1500), |request, index, _| {
        if request.reference() == "R0" {
            Reply::error(502, "", "Bad Gateway")
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command_to(&provider.url()).args(["--timeout", "1"]));
    assert_eq!(outcome.code, 1);
    assert_eq!(provider.count(), 4, "nothing retried");
    let report = campaign.report();
    assert_eq!(statuses(&report), HashMap::from([("unknown".to_owned(), 4)]));
    assert!(
        report.iter().any(|line| line["error"].starts_with("no answer in time")),
        "{report:?}"
    );
}

#[test]
fn retry_ambiguous_retries_what_may_have_arrived() {
    let campaign = Campaign::new(10);
    let provider = Provider::start(Duration::ZERO, |_, index, earlier| match earlier {
        0 => Reply::Drop,
        _ => Reply::accepted(index),
    });
    let outcome = run(campaign.command_to(&provider.url()).arg("--retry-ambiguous"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(provider.per_reference().values().all(|&count| count == 2));
}

#[test]
fn a_refused_connection_is_retried_and_resent_once_on_resume() {
    let campaign = Campaign::new(5);
    // A port nobody listens on: nothing can have reached a server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let outcome = run(campaign.command_to(&url).args(["--max-attempts", "2"]));
    assert_eq!(outcome.code, 1);
    let report = campaign.report();
    assert_eq!(statuses(&report), HashMap::from([("failed".to_owned(), 5)]));
    assert!(report.iter().all(
        |line| line["attempts"] == "2" && line["error"].starts_with("gave up after 2 attempts: could not connect")
    ));

    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(provider.count(), 5);
    assert!(provider.per_reference().values().all(|&count| count == 1));
}

#[test]
fn sigterm_stops_like_ctrl_c_and_the_resume_sends_the_rest_once() {
    let campaign = Campaign::new(400);
    let provider = Provider::start(Duration::from_millis(100), |_, index, _| Reply::accepted(index));
    let child = campaign.spawn(&provider, 4);
    wait_for_requests(&provider, 20);
    signal(&child, "-TERM");
    let output = child.wait_with_output().expect("flowc ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    let first = statuses(&campaign.report());
    assert!(!first.contains_key("unknown"), "in-flight requests finished: {first:?}");
    assert_eq!(first["accepted"] + first["pending"], 400, "{first:?}");

    let sent_before = provider.count();
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(provider.count(), 400, "{sent_before} then the rest");
    assert!(provider.per_reference().values().all(|&count| count == 1));
}

#[test]
fn a_journal_emptied_or_stripped_of_its_wal_is_refused_not_resent() {
    let campaign = Campaign::new(300);
    let provider = Provider::start(Duration::from_millis(50), |_, index, _| Reply::accepted(index));
    let mut child = campaign.spawn(&provider, 8);
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < 30 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let wal = campaign.scratch.path().join("contacts.journal.sqlite-wal");
    let lost_something = wal.metadata().is_ok_and(|m| m.len() > 0);
    let _ = std::fs::remove_file(&wal);

    let resumed = Provider::accepting();
    let outcome = run(&mut campaign.command(&resumed));
    if lost_something {
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("has lost"), "{}", outcome.stderr);
        assert_eq!(resumed.count(), 0);
    }
    // Whatever the instant of the kill, no row reached the server twice.
    let first_run = provider.received();
    let first: std::collections::HashSet<String> = first_run
        .iter()
        .map(super::support::provider::Received::reference)
        .collect();
    assert_eq!(first.len(), first_run.len(), "no row twice in the first run");
    assert!(resumed.received().iter().all(|r| !first.contains(&r.reference())));

    // Emptied: refused, and the empty file is not taken for a new campaign.
    std::fs::write(campaign.journal_path(), "").expect("truncate");
    let outcome = run(&mut campaign.command(&resumed));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is empty"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("--restart"), "{}", outcome.stderr);
    // Deleted, with its mirror beside it: refused too.
    std::fs::remove_file(campaign.journal_path()).expect("delete");
    let outcome = run(&mut campaign.command(&resumed));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("is missing"), "{}", outcome.stderr);
    assert!(resumed.received().iter().all(|r| !first.contains(&r.reference())));
}

#[test]
fn an_older_copy_of_the_journal_is_refused() {
    let campaign = Campaign::new(20);
    let stopping = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R10" {
            Reply::error(400, "E110", "low balance")
        } else {
            Reply::accepted(index)
        }
    });
    run(campaign.command_to(&stopping.url()).args(["--concurrency", "1"]));
    let saved = std::fs::read(campaign.journal_path()).expect("journal");
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // Restoring the journal from before the second run would send its rows again.
    std::fs::write(campaign.journal_path(), saved).expect("restore");
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("has lost"), "{}", outcome.stderr);
    assert!(provider.per_reference().values().all(|&count| count == 1));
}

#[test]
fn an_output_naming_an_input_is_refused_before_anything_is_written() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let data = std::fs::read(&campaign.data).expect("data");
    let template = std::fs::read(&campaign.template).expect("template");
    let link = campaign.scratch.path().join("link.csv");
    std::os::unix::fs::symlink(&campaign.data, &link).expect("symlink");
    for (flag, path) in [
        ("--report", campaign.data.clone()),
        ("--report", link.clone()),
        ("--report", campaign.template.clone()),
        ("--journal", campaign.data.clone()),
        ("--journal", campaign.template.clone()),
    ] {
        for dry in [false, true] {
            let mut command = campaign.command_to(&provider.url());
            command.arg(flag).arg(&path);
            if dry {
                command.arg("--dry-run");
            }
            let outcome = run(&mut command);
            assert_eq!(outcome.code, 2, "{flag} {}: {}", path.display(), outcome.stderr);
            assert!(outcome.stderr.contains("would destroy"), "{}", outcome.stderr);
        }
    }
    assert_eq!(std::fs::read(&campaign.data).expect("data"), data);
    assert_eq!(std::fs::read(&campaign.template).expect("template"), template);
    assert_eq!(provider.count(), 0);
}

#[test]
fn an_unwritable_report_directory_is_found_before_sending() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let outcome = run(campaign
        .command_to(&provider.url())
        .arg("--report")
        .arg(campaign.scratch.path().join("missing-dir/report.csv")));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("cannot write the report"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0);
}

#[test]
fn a_key_echoed_in_any_encoding_goes_nowhere() {
    let campaign = Campaign::new(6);
    let escaped: String = KEY.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let percent: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
    let echoes = [
        format!(r#"{{"code":"WA400","message":"bad key {escaped}"}}"#),
        format!(r#"{{"code":"WA202","message":"ok","data":{{"message_id":"M-{escaped}"}}}}"#),
        format!(r#"{{"code":"RBC001","message":"key {percent}"}}"#),
        format!(
            r#"{{"code":"WA400","message":"&#{};{}"}}"#,
            KEY.as_bytes()[0],
            &KEY[1..]
        ),
        format!("<html>{KEY}</html>"),
    ];
    let provider = Provider::start(Duration::ZERO, move |request, _, _| {
        let row: usize = request.reference()[1..].parse().unwrap_or(0);
        let body = echoes[row % echoes.len()].clone();
        let status = if body.contains("WA202") {
            202
        } else if body.contains("RBC001") {
            401
        } else {
            400
        };
        Reply::Json {
            status,
            body,
            retry_after: None,
        }
    });
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--concurrency", "1", "--verbose"]));
    assert_no_key(&outcome);
    assert!(!outcome.stderr.contains(&escaped) && !outcome.stderr.contains(&percent));
    let report = std::fs::read_to_string(campaign.scratch.path().join("contacts.report.csv")).expect("report");
    let journal = std::fs::read(campaign.journal_path()).expect("journal");
    let journal = String::from_utf8_lossy(&journal);
    for text in [&report, &journal.to_string()] {
        assert!(!text.contains(KEY), "the key was stored");
        assert!(
            !text.contains(&escaped) && !text.contains(&percent),
            "the key was stored encoded"
        );
    }
}

#[test]
fn credentials_in_the_base_url_are_refused_and_not_printed() {
    let campaign = Campaign::new(1);
    let outcome = run(&mut campaign.command_to("https://user:hunter2-pass@api.example.com"));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("user name or password"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("hunter2") && !outcome.stdout.contains("hunter2"));
}

#[test]
fn provider_text_that_looks_like_a_formula_is_neutralised_in_the_report() {
    let campaign = Campaign::new(2);
    let provider = Provider::start(Duration::ZERO, |request, _, _| {
        if request.reference() == "R0" {
            Reply::Json {
                status: 202,
                body: r#"{"code":"WA202","data":{"message_id":"=HYPERLINK(\"http://x\")"}}"#.to_owned(),
                retry_after: None,
            }
        } else {
            Reply::error(400, "@SUM(1)", "-2+3")
        }
    });
    run(&mut campaign.command_to(&provider.url()));
    let report = campaign.report();
    assert_eq!(report[0]["message_id"], "'=HYPERLINK(\"http://x\")");
    assert_eq!(report[1]["code"], "'@SUM(1)");
    assert_eq!(report[1]["error"], "'-2+3");
    assert_eq!(report[0]["to"], "+14150000000");
}

#[test]
fn after_a_strict_refusal_the_fixed_file_sends_without_restart() {
    let campaign = Campaign::new(3);
    std::fs::write(&campaign.data, "name,phone,ref\nA,+14150000001,R0\nB,14150000002,R1\n").expect("bad data");
    let provider = Provider::accepting();
    let outcome = run(campaign.command_to(&provider.url()).arg("--strict"));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(!campaign.journal_path().exists(), "a refused run leaves no journal");
    std::fs::write(&campaign.data, "name,phone,ref\nA,+14150000001,R0\nB,+14150000002,R1\n").expect("fixed");
    let outcome = run(campaign.command_to(&provider.url()).arg("--strict"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(provider.count(), 2);
}

#[test]
fn declining_to_send_leaves_no_journal() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let command = campaign.command_to(&provider.url());
    // Without --yes and without a terminal: refused.
    let args: Vec<_> = command
        .get_args()
        .filter(|arg| *arg != "--yes")
        .map(ToOwned::to_owned)
        .collect();
    let mut without_yes = flowc();
    without_yes.args(args).envs(
        command
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
    );
    let outcome = run(&mut without_yes);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(!campaign.journal_path().exists());
    assert_eq!(provider.count(), 0);
}

#[test]
fn the_busy_journal_help_never_suggests_another_journal() {
    let campaign = Campaign::new(200);
    let provider = Provider::start(Duration::from_millis(200), |_, index, _| Reply::accepted(index));
    let mut child = campaign.spawn(&provider, 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let outcome = run(&mut campaign.command(&provider));
    child.kill().expect("kill");
    child.wait().expect("reaped");
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("in use by another flowc process"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("another --journal"), "{}", outcome.stderr);
}

#[test]
fn a_read_only_journal_says_so() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    run(&mut campaign.command_to(&provider.url()));
    let journal = campaign.journal_path();
    let mut permissions = std::fs::metadata(&journal).expect("journal").permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&journal, permissions).expect("chmod");
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("read-only"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("disk I/O error"), "{}", outcome.stderr);
}

#[test]
fn a_row_listing_a_number_twice_or_a_pasted_list_is_invalid_and_never_sent() {
    let campaign = Campaign::new(1);
    let many: Vec<String> = (0..5_000).map(|n| format!("+1415555{n:04}")).collect();
    std::fs::write(
        &campaign.data,
        format!(
            "name,phone,ref\nA,\"+91 98765 43210, +919876543210\",R0\nB,\"{}\",R1\nC,+14150000002,R2\n",
            many.join(",")
        ),
    )
    .expect("data");
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "the valid row was accepted: {}", outcome.stderr);
    assert!(
        outcome.stderr.contains("lists +919876543210 twice"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("lists 5000 recipients"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 1);
    assert_eq!(provider.received()[0].reference(), "R2");
}

#[test]
fn a_row_edited_during_the_run_is_not_sent() {
    let campaign = Campaign::new(4000);
    let provider = Provider::start(Duration::from_millis(5), |_, index, _| Reply::accepted(index));
    // The reader runs ahead by the queue (2 × 64 jobs) and a 64 KiB buffer (about 2,000 rows).
    let child = campaign.spawn(&provider, 64);
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    // The same length, so the reader's offset still falls on row boundaries.
    let text = std::fs::read_to_string(&campaign.data).expect("data");
    std::fs::write(&campaign.data, text.replace("Name 3900 & Co", "Mame 3900 & Co")).expect("edit");
    let output = child.wait_with_output().expect("flowc ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The run stops there, and says so: exit 0 would pass for a complete campaign.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the data file changed during the run: row 3902"),
        "{stderr}"
    );
    let sent: Vec<_> = provider
        .received()
        .into_iter()
        .filter(|r| r.reference() == "R3900")
        .collect();
    assert!(
        sent.is_empty(),
        "{:?}",
        sent.iter().map(|r| r.body.to_string()).collect::<Vec<_>>()
    );
    let report = campaign.report();
    let edited = report.iter().find(|line| line["row"] == "3902").expect("row 3902");
    assert_eq!(edited["status"], "invalid");
    assert!(edited["error"].contains("changed after the pre-flight"), "{edited:?}");
}

#[test]
fn a_business_number_without_plus_is_a_usage_error_even_in_a_dry_run() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    for dry in [false, true] {
        let mut command = campaign.command_to(&provider.url());
        command.env("KALEYRA_WHATSAPP_NUMBER", "911234567890");
        if dry {
            command.arg("--dry-run");
        }
        let outcome = run(&mut command);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("business number"), "{}", outcome.stderr);
    }
    assert_eq!(provider.count(), 0);
}

#[test]
fn a_short_campaign_is_planned_in_plain_words() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let outcome = run(campaign.command_at(&provider, 20, &campaign.data).arg("--dry-run"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("20 messages/s (about 1s)"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("0m 0s"), "{}", outcome.stderr);
}

#[test]
fn each_refusal_of_the_account_says_what_to_check() {
    for (code, expected) in [
        ("RBC001", "the SID or the API key"),
        ("WA401", "business number"),
        ("WA-401", "Kaleyra support"),
    ] {
        let campaign = Campaign::new(2);
        let provider = Provider::start(Duration::ZERO, move |_, _, _| Reply::error(401, code, "refused"));
        let outcome = run(campaign.command_to(&provider.url()).args(["--concurrency", "1"]));
        assert_eq!(outcome.code, 1, "{}", outcome.stderr);
        assert!(outcome.stderr.contains(expected), "{code}: {}", outcome.stderr);
    }
}

#[test]
fn a_refused_payload_names_the_field_in_the_report() {
    let campaign = Campaign::new(1);
    let provider = Provider::start(Duration::ZERO, |_, _, _| {
        Reply::Json {
        status: 400,
        body: r#"{"code":"WA400","message":"Refer to correct payload format","data":{},"error":{"to":"Invalid recipient"}}"#
            .to_owned(),
        retry_after: None,
    }
    });
    run(&mut campaign.command_to(&provider.url()));
    let report = campaign.report();
    assert_eq!(
        report[0]["error"],
        "Refer to correct payload format (to: Invalid recipient)"
    );
}

#[test]
fn the_exclude_list_and_the_journals_files_are_never_written_over() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let stop = campaign.scratch.write("stop.csv", "phone\n+14150000000\n");
    let outcome = run(campaign
        .command_to(&provider.url())
        .arg("--exclude")
        .arg(&stop)
        .arg("--report")
        .arg(&stop));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert_eq!(
        std::fs::read_to_string(&stop).expect("stop list"),
        "phone\n+14150000000\n"
    );
    run(&mut campaign.command_to(&provider.url()));
    let mirror = campaign.scratch.path().join("contacts.journal.sqlite.mirror");
    let outcome = run(campaign.command_to(&provider.url()).arg("--report").arg(&mirror));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("is the journal or one of its files"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_2xx_that_is_not_the_providers_acceptance_is_unknown() {
    let campaign = Campaign::new(2);
    let portal = Provider::start(Duration::ZERO, |_, _, _| Reply::Json {
        status: 200,
        body: "<html>Proxy login required</html>".to_owned(),
        retry_after: None,
    });
    let outcome = run(&mut campaign.command_to(&portal.url()));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(statuses(&campaign.report()), HashMap::from([("unknown".to_owned(), 2)]));
}

#[test]
fn a_row_retried_after_an_ambiguous_answer_stays_unknown_for_later_runs() {
    let campaign = Campaign::new(1);
    let dropping = Provider::start(Duration::ZERO, |_, _, _| Reply::Drop);
    run(campaign
        .command_to(&dropping.url())
        .args(["--retry-ambiguous", "--max-attempts", "2"]));
    assert_eq!(dropping.count(), 2);
    assert_eq!(statuses(&campaign.report()), HashMap::from([("unknown".to_owned(), 1)]));
    let healthy = Provider::accepting();
    run(&mut campaign.command_to(&healthy.url()));
    assert_eq!(healthy.count(), 0, "not sent again without --resend-unknown");
}

#[test]
fn a_key_hidden_by_an_invisible_character_is_withheld() {
    let campaign = Campaign::new(1);
    let disguised = format!("{}\u{200b}{}", &KEY[..6], &KEY[6..]);
    let provider = Provider::start(Duration::ZERO, move |_, _, _| {
        Reply::error(401, "RBC001", &format!("bad key {disguised}"))
    });
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(!outcome.stderr.contains(&KEY[6..]), "{}", outcome.stderr);
    let journal = std::fs::read(campaign.journal_path()).expect("journal");
    assert!(!String::from_utf8_lossy(&journal).contains(&KEY[6..]));
}

/// `mkfifo PATH`.
fn named_pipe(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn a_named_pipe_at_the_reports_old_temporary_name_is_left_alone_not_waited_on() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let pipe = campaign.scratch.path().join("contacts.report.csv.partial");
    named_pipe(&pipe);
    let outcome = run(campaign.command_to(&provider.url()).timeout(Duration::from_secs(30)));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(campaign.report().len(), 2);
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::symlink_metadata(&pipe)
        .expect("the pipe")
        .file_type()
        .is_fifo());
}

#[test]
fn a_named_pipe_as_the_journals_mirror_is_refused_not_waited_on() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    named_pipe(&campaign.scratch.path().join("contacts.journal.sqlite.mirror"));
    let outcome = run(campaign.command_to(&provider.url()).timeout(Duration::from_secs(30)));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("named pipe"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0);
}

/// A journal met damaged or unwritable is a file to fix (exit 2), whether it is met when the run
/// opens it or while the run sends: here its mirror turns into a directory after the first
/// request, so the next group commit cannot be made durable.
#[test]
fn a_journal_that_fails_while_sending_exits_as_a_file_to_fix_like_at_its_opening() {
    let campaign = Campaign::new(20);
    let mirror = campaign.scratch.path().join("contacts.journal.sqlite.mirror");
    let provider = {
        let mirror = mirror.clone();
        Provider::start(Duration::ZERO, move |_, index, _| {
            if index == 0 {
                std::fs::remove_file(&mirror).expect("the mirror is written before the first request");
                std::fs::create_dir(&mirror).expect("a directory where the mirror was");
            }
            Reply::accepted(index)
        })
    };
    let outcome = run(campaign.command(&provider).args(["--concurrency", "1"]));
    assert!(outcome.stderr.contains("the journal failed"), "{}", outcome.stderr);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(provider.count() < 20, "{} requests", provider.count());
}

#[test]
fn a_link_planted_at_the_journals_mirror_is_refused_never_written_through() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    let target = campaign.scratch.path().join("elsewhere.txt");
    std::os::unix::fs::symlink(&target, campaign.scratch.path().join("contacts.journal.sqlite.mirror"))
        .expect("a dangling link");
    let outcome = run(campaign.command_to(&provider.url()).timeout(Duration::from_secs(30)));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("symbolic link"), "{}", outcome.stderr);
    assert!(!target.exists(), "written through the link");
    assert_eq!(provider.count(), 0);
}

#[test]
fn a_report_to_a_named_pipe_with_no_reader_is_refused_before_anything_is_sent() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let pipe = campaign.scratch.path().join("report.pipe");
    named_pipe(&pipe);
    let outcome = run(campaign
        .command_to(&provider.url())
        .arg("--report")
        .arg(&pipe)
        .timeout(Duration::from_secs(30)));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("no reader"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0, "sent before the report was refused");
}

#[test]
fn a_report_to_a_named_pipe_reaches_a_reader_that_started_before_the_run() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let pipe = campaign.scratch.path().join("report.pipe");
    named_pipe(&pipe);
    let reader = std::process::Command::new("cat")
        .arg(&pipe)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cat");
    // `cat` waits in open() until a writer comes; give it the moment to get there.
    std::thread::sleep(Duration::from_millis(200));
    let outcome = run(campaign
        .command_to(&provider.url())
        .arg("--report")
        .arg(&pipe)
        .timeout(Duration::from_secs(30)));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let read = reader.wait_with_output().expect("cat ends");
    let text = String::from_utf8_lossy(&read.stdout);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert_eq!(provider.count(), 3);
}

#[test]
fn a_report_into_a_named_pipe_whose_reader_never_reads_ends_in_an_error() {
    let campaign = Campaign::new(3000);
    let provider = Provider::accepting();
    let pipe = campaign.scratch.path().join("report.pipe");
    named_pipe(&pipe);
    // A reader that opens the pipe and never reads it: the report fills the pipe's buffer.
    let mut reader = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$1\"; sleep 300")
        .arg("sh")
        .arg(&pipe)
        .spawn()
        .expect("sh");
    std::thread::sleep(Duration::from_millis(200));
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--dry-run", "--report"])
        .arg(&pipe)
        .timeout(Duration::from_secs(120)));
    let _ = reader.kill();
    let _ = reader.wait();
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("read nothing"), "{}", outcome.stderr);
    assert_eq!(provider.count(), 0);
}
