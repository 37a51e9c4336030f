//! Campaign guardrails: one message per person, exclude lists, and a limit per run.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::campaign::{statuses, Campaign};
use crate::support::provider::{Provider, Reply};
use crate::support::{flowc, run};

/// A campaign whose every 14th row repeats an earlier row's number in another spelling (7%).
fn campaign_with_duplicates(rows: usize) -> (Campaign, usize) {
    let campaign = Campaign::new(0);
    let mut csv = String::from("name,phone,ref\n");
    let mut duplicates = 0;
    for n in 0..rows {
        let phone = if n % 14 == 13 {
            duplicates += 1;
            // The number of row n - 13, spelled with spaces and a hyphen.
            let digits = format!("{:07}", n - 13);
            format!("+1 415 {}-{}", &digits[..3], &digits[3..])
        } else {
            format!("+1415{n:07}")
        };
        csv.push_str(&format!("Name {n},{phone},R{n}\n"));
    }
    std::fs::write(&campaign.data, csv).expect("data");
    (campaign, duplicates)
}

#[test]
fn a_list_with_duplicates_in_mixed_spellings_sends_each_number_once() {
    let (campaign, duplicates) = campaign_with_duplicates(10_000);
    assert_eq!(duplicates, 714);
    let provider = Provider::accepting();
    provider.expect_requests(10_000 - 714);
    let outcome = run(campaign.command_to(&provider.url()).args(["--concurrency", "64"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("714 duplicate"), "{}", outcome.stderr);
    let mut per_number = HashMap::<String, usize>::new();
    for request in provider.received() {
        *per_number
            .entry(
                request.body["messaging_object"]["to"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
    }
    assert!(per_number.values().all(|&count| count == 1));
    let report = campaign.report();
    assert_eq!(statuses(&report)["duplicate"], 714);
    // Row 15 (the 14th data row) repeats row 2's number.
    let line = report.iter().find(|line| line["row"] == "15").expect("row 15");
    assert_eq!(line["status"], "duplicate");
    assert_eq!(line["error"], "duplicate of row 2");
    assert!(outcome
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .contains("714 duplicate"));
}

#[test]
fn allowed_duplicates_are_sent_six_seconds_after_the_earlier_answer() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nA,+14150000001,R0\nB,+1 415 000 0001,R1\n",
    )
    .expect("data");
    // A slow answer: Meta's six seconds for one person start when the provider has taken the
    // earlier message, not when flowc queued it.
    let latency = Duration::from_millis(1_500);
    let provider = Provider::start(latency, |_, index, _| Reply::accepted(index));
    let outcome = run(campaign.command_to(&provider.url()).arg("--allow-duplicates"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let received = provider.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_secs(6) + latency, "{gap:?}");
}

#[test]
fn excluded_numbers_are_never_sent() {
    let campaign = Campaign::new(1_000);
    // 300 numbers, half of them spelled with separators.
    let mut list = String::from("name;phone\n");
    for n in (0..1_000).step_by(3).take(300) {
        let digits = format!("{n:07}");
        if n % 2 == 0 {
            list.push_str(&format!("X;+1415{digits}\n"));
        } else {
            list.push_str(&format!("X;+1 (415) {}-{}\n", &digits[..3], &digits[3..]));
        }
    }
    let exclude = campaign.scratch.write("stop.csv", list);
    let provider = Provider::accepting();
    provider.expect_requests(700);
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("300 numbers"), "{}", outcome.stderr);
    assert!(provider.received().iter().all(|r| {
        let n: usize = r.reference()[1..].parse().expect("ref");
        n % 3 != 0 || n >= 900
    }));
    assert_eq!(statuses(&campaign.report())["excluded"], 300);
}

#[test]
fn an_exclude_list_with_a_bad_line_refuses_the_run_naming_each_value_and_the_fix() {
    let campaign = Campaign::new(3);
    let exclude = campaign.scratch.write(
        "stop.txt",
        "+14150000001\n4150000002\nhello\n98765\n+39 (0)6 1234 5678\n",
    );
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    for expected in [
        "4 lines that are not a phone number",
        "has no country code (write `+` and the country code before the number): line 2 `4150000002`, line 4 `98765`",
        "contains letters: line 3 `hello`",
        "line 5 `+39 (0)6 1234 5678`",
        "help: write each number with `+` and its country code",
    ] {
        assert!(outcome.stderr.contains(expected), "{expected}: {}", outcome.stderr);
    }
}

#[test]
fn the_receivers_opt_out_numbers_without_plus_are_an_exclude_list_as_they_are() {
    let campaign = Campaign::new(4);
    // As `sqlite3 store.sqlite "SELECT number FROM opt_outs"` writes them: digits only.
    let exclude = campaign.scratch.write("opted-out.txt", "14150000001\n14150000003\n");
    let provider = Provider::accepting();
    provider.expect_requests(2);
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("(2 numbers; 2 lines without `+`, read as international numbers)"),
        "{}",
        outcome.stderr
    );
    assert_eq!(statuses(&campaign.report())["excluded"], 2);
}

#[test]
fn an_empty_exclude_list_is_named_in_a_warning() {
    let campaign = Campaign::new(2);
    let exclude = campaign.scratch.write("stop.txt", "");
    let provider = Provider::accepting();
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("stop.txt` holds no numbers: nobody is excluded")
            && outcome.stderr.contains("help: check that it is the list you meant"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_trunk_zero_in_brackets_names_the_same_person_in_to_and_in_the_exclude_list() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nA,+44 (0)20 7946 0958,R0\nB,+91 (0) 98765 43210,R1\nC,+14150000001,R2\n",
    )
    .expect("data");
    let exclude = campaign.scratch.write("stop.txt", "+44 (0)20 7946 0958\n");
    let provider = Provider::accepting();
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let sent: Vec<String> = provider
        .received()
        .iter()
        .map(|request| {
            request.body["messaging_object"]["to"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.contains(&"+919876543210".to_owned()), "{sent:?}");
    assert!(!sent.iter().any(|to| to.starts_with("+44")), "{sent:?}");
    assert_eq!(statuses(&campaign.report())["excluded"], 1);
}

#[test]
fn a_bracketed_zero_flowc_cannot_place_is_refused_never_sent() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nB,+44 (020) 7946 0958,R1\nA,+39 (0)6 1234 5678,R0\n",
    )
    .expect("data");
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert!(
        outcome
            .stderr
            .contains("`to` `+44 (020) 7946 0958` has the trunk prefix 0 in brackets, dialled only inside the country: write +442079460958")
            && outcome.stderr.contains("error in 2 rows: `to` has a 0 in brackets"),
        "{}",
        outcome.stderr
    );
    assert_eq!(statuses(&campaign.report())["invalid"], 2);
}

#[test]
fn a_limit_sends_a_canary_then_the_rest_on_the_next_run() {
    let campaign = Campaign::new(50);
    let provider = Provider::accepting();
    provider.expect_requests(50);
    provider.expect_each_reference(1);
    let outcome = run(campaign.command_to(&provider.url()).args(["--limit", "10"]));
    assert_eq!(outcome.code, 1, "rows stay pending: {}", outcome.stderr);
    assert!(
        outcome.stderr.contains("40 more rows stay pending (--limit 10)"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 10);
    let first = statuses(&campaign.report());
    assert_eq!((first["accepted"], first["pending"]), (10, 40));
    // The same campaign without the flag: the rest, once.
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}

#[test]
fn a_daily_limit_answer_stops_and_a_resume_sends_exactly_the_rest() {
    let campaign = Campaign::new(1_000);
    let limited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&limited);
    let provider = Provider::start(Duration::ZERO, move |_, index, _| {
        if index >= 500 && flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::error(400, "WAV2101", "Daily limit reached")
        } else {
            Reply::accepted(index)
        }
    });
    let outcome = run(campaign.command_to(&provider.url()).args(["--concurrency", "4"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("daily limit"), "{}", outcome.stderr);
    let first_requests = provider.count();
    assert!(
        first_requests <= 504,
        "at most the requests in flight follow: {first_requests}"
    );
    let first = statuses(&campaign.report());
    assert_eq!(first["accepted"], 500);
    limited.store(false, std::sync::atomic::Ordering::SeqCst);
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let accepted: std::collections::HashSet<String> = provider
        .received()
        .iter()
        .enumerate()
        .filter(|(index, _)| *index < 500 || *index >= first_requests)
        .map(|(_, r)| r.reference())
        .collect();
    assert_eq!(accepted.len(), 1_000);
}

#[test]
fn wa500_is_not_retried_in_a_tight_loop_but_by_the_next_run() {
    let campaign = Campaign::new(5);
    let provider = Provider::start(Duration::ZERO, |request, index, earlier| {
        if request.reference() == "R2" && earlier == 0 {
            Reply::error(500, "WA500", "Please try again later")
        } else {
            Reply::accepted(index)
        }
    });
    provider.expect_requests(6);
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(provider.per_reference()["R2"], 1, "no retry in this run");
    let report = campaign.report();
    let line = report
        .iter()
        .find(|line| line["code"] == "WA500")
        .expect("the WA500 row");
    assert!(line["error"].contains("retry later"), "{line:?}");
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(provider.per_reference()["R2"], 2);
}

/// `HH:MM` in UTC, `minutes` from now.
fn utc_in(minutes: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let minute_of_day = (now / 60 + minutes).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minute_of_day / 60, minute_of_day % 60)
}

#[test]
fn outside_the_window_exit_outside_window_stops_at_once_saying_when() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let window = format!("{}-{}", utc_in(120), utc_in(180));
    let started = std::time::Instant::now();
    let outcome =
        run(campaign
            .command_to(&provider.url())
            .args(["--window", &window, "--tz", "UTC", "--exit-outside-window"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        outcome.stderr.contains("outside the sending window")
            // Two hours less the seconds since the minute began (all of it in the minute's first second; a
            // minute less when the next minute began between reading the clock here and in flowc).
            && ["1h 58m", "1h 59m", "2h 00m"]
                .iter()
                .any(|left| outcome.stderr.contains(&format!("UTC (in about {left})"))),
        "{}",
        outcome.stderr
    );
    assert!(!campaign.journal_path().exists(), "nothing sent, nothing left behind");
}

#[test]
fn inside_the_window_sending_goes_on_and_bad_windows_are_refused() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    provider.expect_requests(3);
    let window = format!("{}-{}", utc_in(-60), utc_in(60));
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--window", &window, "--tz", "UTC"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for (window, tz, expected) in [
        ("9-20", "UTC", "write HH:MM-HH:MM"),
        ("09:00-24:30", "UTC", "write HH:MM-HH:MM"),
        ("09:00-20:00", "Mars/Base", "not a time zone"),
    ] {
        let outcome = run(campaign
            .command_to(&provider.url())
            .args(["--window", window, "--tz", tz]));
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains(expected), "{}", outcome.stderr);
    }
}

#[test]
fn the_plan_shows_the_window_in_its_zone_and_names_a_posix_tz_rule() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--window", "00:00-24:00", "--dry-run"])
        .env("TZ", "IST-5:30"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("window:   00:00-24:00 TZ=IST-5:30 (open now)"),
        "{}",
        outcome.stderr
    );
    let closed = format!("{}-{}", utc_in(120), utc_in(180));
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--window", &closed, "--tz", "UTC", "--dry-run"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains(&format!("window:   {closed} UTC (closed now; opens ")),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stdout
            .contains("dry run: 3 would be sent when the window opens "),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_dry_run_says_how_many_would_be_sent_now_under_the_limits() {
    let campaign = Campaign::new(10);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign.command_to(&provider.url()).args(["--limit", "3", "--dry-run"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains(
            "dry run: 3 would be sent now (7 more stay pending under --limit 3), 0 invalid; nothing was sent"
        ),
        "{}",
        outcome.stdout
    );
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--daily-limit", "4", "--dry-run"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("dry run: 4 would be sent now (6 more stay pending under --daily-limit 4)"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_daily_limit_counts_people_reached_across_runs() {
    let campaign = Campaign::new(50);
    let provider = Provider::accepting();
    provider.expect_requests(45);
    provider.expect_each_reference(1);
    let outcome = run(campaign.command_to(&provider.url()).args(["--daily-limit", "30"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("0 of 30 people reached"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("20 rows stay pending (--daily-limit 30)"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 30);
    let outcome = run(campaign.command_to(&provider.url()).args(["--daily-limit", "30"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("30 of 30 people reached in the last 24 h")
            && outcome.stderr.contains("the next slot opens in about 2"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 30, "nothing more within the day");
    let outcome = run(campaign.command_to(&provider.url()).args(["--daily-limit", "45"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
}

#[test]
fn track_writes_a_campaign_and_row_key_into_every_message() {
    let campaign = Campaign::new(5);
    let provider = Provider::accepting();
    let outcome = run(campaign.command_to(&provider.url()).args(["--track", "ref2"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut keys: Vec<String> = provider
        .received()
        .iter()
        .map(|r| r.body["extra_info"]["ref2"].as_str().expect("ref2").to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 5);
    let prefix = keys[0].rsplit_once('-').expect("flowc-CAMPAIGN-ROW").0.to_owned();
    assert!(
        prefix.starts_with("flowc-") && prefix.len() == "flowc-".len() + 8,
        "{prefix}"
    );
    assert_eq!(keys, (2..=6).map(|row| format!("{prefix}-{row}")).collect::<Vec<_>>());
    // The row's own ref is still there.
    assert!(provider
        .received()
        .iter()
        .all(|r| r.body["extra_info"]["ref"].as_str().is_some_and(|v| v.starts_with('R'))));
}

#[test]
fn track_refuses_a_field_the_template_sets() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign.command_to(&provider.url()).args(["--track", "ref"]));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("--track ref: the template sets `extra_info.ref` itself"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn check_data_warns_of_a_duplicate_naming_each_row_once() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nA,+14150000001,R0\nB,+1 415-000-0001,R1\n",
    )
    .expect("data");
    let outcome = run(flowc()
        .arg("check")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data));
    assert_eq!(outcome.code, 0, "a warning: {}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("contacts.csv row 3: the number of row 2 again: flowc send sends it once"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.stderr.matches("row 3").count(), 1, "{}", outcome.stderr);
}

#[test]
fn send_reads_a_mapped_column_and_a_resume_with_another_mapping_is_refused() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,Phone Number,Office Phone,ref\nA,+14150000001,+14150000101,R0\nB,+14150000002,+14150000102,R1\n",
    )
    .expect("data");
    let provider = Provider::accepting();
    provider.expect_requests(2);
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--column", "phone=Phone Number"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut sent: Vec<String> = provider
        .received()
        .iter()
        .map(|request| {
            request.body["messaging_object"]["to"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    sent.sort();
    assert_eq!(sent, ["+14150000001", "+14150000002"]);
    // The same journal with the numbers read from another column is another campaign.
    let outcome = run(campaign
        .command_to(&provider.url())
        .args(["--column", "phone=Office Phone"]));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("has changed since it was written"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_window_that_starts_and_ends_at_midnight_is_refused_as_empty_however_written() {
    let campaign = Campaign::new(1);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    for window in ["00:00-00:00", "24:00-24:00", "24:00-00:00"] {
        let outcome = run(campaign
            .command_to(&provider.url())
            .args(["--window", window, "--tz", "UTC", "--dry-run"]));
        assert_eq!(outcome.code, 2, "{window}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains("the start and the end are the same time"),
            "{window}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn a_tz_naming_a_named_pipe_is_refused_not_waited_on() {
    let campaign = Campaign::new(1);
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let pipe = campaign.scratch.path().join("zone.pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    for tz in [pipe.display().to_string(), format!(":{}", pipe.display())] {
        let outcome = run(campaign
            .command_to(&provider.url())
            .args(["--window", "09:00-17:00", "--dry-run"])
            .env("TZ", &tz)
            .timeout(Duration::from_secs(20)));
        assert_eq!(outcome.code, 2, "{tz}: {}", outcome.stderr);
        assert!(outcome.stderr.contains("named pipe"), "{tz}: {}", outcome.stderr);
    }
}

#[test]
fn a_trunk_zero_written_after_the_country_code_is_refused_naming_the_right_number() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nA,+44 020 7946 0000,R0\nB,+44 ((0))20 7946 0001,R1\nC,+44 (0)(0)20 7946 0002,R2\n",
    )
    .expect("data");
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(&mut campaign.command_to(&provider.url()));
    assert!(
        outcome.stderr.contains(
            "`to` `+44 020 7946 0000` has the trunk prefix 0 after its country code, dialled only inside the country: write +442079460000"
        ),
        "{}",
        outcome.stderr
    );
    // Each row's own fix, in the report (the terminal groups the bracketed ones).
    let report = campaign.report();
    for (row, expected) in [("3", "write +442079460001"), ("4", "write +442079460002")] {
        let line = report.iter().find(|line| line["row"] == row).expect("the row");
        assert_eq!(line["status"], "invalid");
        assert!(line["error"].contains(expected), "{row}: {report:?}");
    }
    assert_eq!(statuses(&report)["invalid"], 3);
}

#[test]
fn an_exclude_list_line_with_a_zero_width_space_shows_it_visibly() {
    let campaign = Campaign::new(1);
    let exclude = campaign.scratch.write("stop.txt", "+14150000001\u{200b}\n");
    let provider = Provider::accepting();
    provider.expect_requests(0);
    let outcome = run(campaign.command_to(&provider.url()).arg("--exclude").arg(&exclude));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("line 1 `+14150000001\\u{200b}`"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains('\u{200b}'), "shown raw: {}", outcome.stderr);
}
