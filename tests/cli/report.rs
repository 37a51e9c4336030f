//! The whole loop as a user runs it: `flowc receive` on a free port, `flowc send --track
//! --events` to the fake provider, which calls the receiver back after each 202 with a scripted
//! mix (sent, delivered, read, failures with Meta codes, duplicates, out-of-order delivery, GET
//! and POST profiles, Flow replies, a STOP), then `flowc report` while the receiver still runs.
//! Every row's final state in the report is compared with what the fake sent for it.

use std::collections::HashMap;
use std::io::BufReader;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::campaign::{read_delivery_report, read_report, rfc3339, Campaign};
use crate::support::provider::{reply_body, row_number, status_body, Callback, Callbacks, Provider, Received};
use crate::support::receiver::{Receiver, TOKEN};
use crate::support::{chromium, flowc, run, Outcome};

/// An hour from when the tests started, on a whole day's hour: each row's callbacks are
/// stamped from `base() + 100 × n`, after the rows were sent (a reply dated before its row was
/// sent is another campaign's).
fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (jiff::Timestamp::now().as_second() / 3_600 + 1) * 3_600)
}

/// What the fake provider says happened to row `n`, by `n % 10`.
fn script(request: &Received, message_id: &str) -> Vec<Callback> {
    let n = row_number(request);
    let key = request.body["extra_info"]["ref2"]
        .as_str()
        .expect("--track ref2")
        .to_owned();
    let recipient = request.body["messaging_object"]["to"]
        .as_str()
        .expect("to")
        .trim_start_matches('+')
        .to_owned();
    let wamid = format!("wamid.{n}");
    let t = base() + 100 * n;
    let keyed = json!({"ref": format!("R{n}"), "ref2": key, "message_id": message_id});
    let slot = ["10:00", "11:00", "10:00", "12:00"][(n / 10) as usize % 4];
    let answers = json!({"flow_token": format!("tok-R{n}"), "slot": slot, "extras": ["wash"]});
    let status = |name: &str, time: i64| status_body(&wamid, name, time, &recipient, &keyed, None);
    let mut callbacks = match n % 10 {
        0 => vec![
            status("sent", t + 1),
            status_body(
                &wamid,
                "failed",
                t + 2,
                &recipient,
                &keyed,
                Some((131047, "Re-engagement message")),
            ),
        ],
        // No ref echoed: only the 202's id in the envelope.
        1 => vec![status_body(
            &wamid,
            "failed",
            t + 1,
            &recipient,
            &json!({"message_id": message_id}),
            Some((131026, "Message undeliverable")),
        )],
        2 => vec![status("sent", t + 1)],
        3 => vec![status("sent", t + 1), status("delivered", t + 2)],
        // `read` before `delivered`.
        4 => vec![status("sent", t + 1), status("read", t + 3), status("delivered", t + 2)],
        // Read at once (no `delivered`), then the Flow completed.
        5 => vec![
            status("sent", t + 1),
            status("read", t + 3),
            reply_body(n, &recipient, &wamid, &answers, t + 4),
        ],
        // A GET profile: the key once, then the wamid alone, then the 202's id alone.
        6 => {
            let get = |pairs: &[(&str, String)]| {
                Callback::Get(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
            };
            vec![
                get(&[
                    ("status", "sent".to_owned()),
                    ("message_id", wamid.clone()),
                    ("ref2", key.clone()),
                    ("timestamp", (t + 1).to_string()),
                    ("recipient_id", recipient.clone()),
                ]),
                get(&[
                    ("status", "delivered".to_owned()),
                    ("message_id", wamid.clone()),
                    ("timestamp", (t + 2).to_string()),
                ]),
                get(&[
                    ("status", "read".to_owned()),
                    ("message_id", message_id.to_owned()),
                    ("timestamp", (t + 3).to_string()),
                ]),
            ]
        }
        // Everything twice.
        7 => {
            let reply = reply_body(n, &recipient, &wamid, &answers, t + 4);
            vec![
                status("sent", t + 1),
                status("delivered", t + 2),
                status("delivered", t + 2),
                status("read", t + 3),
                reply.clone(),
                reply,
            ]
        }
        // A reply known only by the message it answers; then STOP.
        8 => vec![
            status("sent", t + 1),
            status("delivered", t + 2),
            reply_body(n, &recipient, &wamid, &json!({"slot": slot}), t + 4),
            Callback::Post(json!({"messages": [{"from": recipient, "id": format!("wamid.stop.{n}"),
                "timestamp": (t + 5).to_string(), "type": "text", "text": {"body": "STOP"}}]})),
        ],
        _ => Vec::new(),
    };
    if n == 0 {
        // Nobody's: another campaign's status, a reply to a message flowc never sent.
        callbacks.push(status_body(
            "wamid.stranger",
            "delivered",
            t + 9,
            "15550000000",
            &json!({"ref": "other-campaign"}),
            None,
        ));
        callbacks.push(reply_body(
            999,
            "15550000000",
            "wamid.elsewhere",
            &json!({"flow_token": "nobody"}),
            t + 9,
        ));
    }
    callbacks
}

/// A row's final state, as the report writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Final {
    delivery: String,
    code: String,
    delivered_at: String,
    read_at: String,
    replied_at: String,
}

/// Folds what the fake sent about one message into what the report must say: the furthest
/// stage (`failed` final), the first `delivered`, `read` and reply.
fn expected(sent: &[&Callback]) -> Final {
    let rank = |name: &str| match name {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    };
    let (mut stage, mut code) = (0, String::new());
    let (mut delivered, mut read, mut replied) = (i64::MAX, i64::MAX, i64::MAX);
    let mut apply = |name: &str, time: i64, error: Option<String>| {
        if stage != 4 && rank(name) > stage {
            stage = rank(name);
            if let Some(error) = error {
                code = error;
            }
        }
        match name {
            "delivered" => delivered = delivered.min(time),
            "read" => read = read.min(time),
            _ => {}
        }
    };
    for callback in sent {
        match callback {
            Callback::Post(body) => {
                let value = &body["meta_object"]["value"];
                for status in value["statuses"].as_array().into_iter().flatten() {
                    if status["id"] == "wamid.stranger" {
                        continue;
                    }
                    let time = status["timestamp"].as_str().expect("time").parse().expect("number");
                    let error = status["errors"][0]["code"].as_u64().map(|code| code.to_string());
                    apply(status["status"].as_str().expect("status"), time, error);
                }
                for message in value["messages"].as_array().into_iter().flatten() {
                    if message["interactive"]["type"] == "nfm_reply" && message["from"] != "15550000000" {
                        replied = replied.min(message["timestamp"].as_str().expect("time").parse().expect("number"));
                    }
                }
            }
            Callback::Get(pairs) => {
                let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let time = get("timestamp").expect("time").parse().expect("number");
                apply(&get("status").expect("status"), time, get("error_code"));
            }
        }
    }
    let moment = |time: i64| if time == i64::MAX { String::new() } else { rfc3339(time) };
    Final {
        delivery: ["", "sent", "delivered", "read", "failed"][stage].to_owned(),
        code,
        delivered_at: moment(delivered),
        read_at: moment(read),
        replied_at: moment(replied),
    }
}

/// A campaign of `rows` sent with `--track ref2 --events` through the fake provider, its
/// callbacks all answered by the receiver (still running).
struct Loop {
    campaign: Campaign,
    provider: Provider,
    receiver: Receiver,
    send: Outcome,
}

fn run_loop(rows: usize) -> Loop {
    let campaign = Campaign::new(rows);
    let receiver = Receiver::start();
    let provider = Provider::with_callbacks(
        Duration::ZERO,
        Callbacks {
            url: receiver.url(),
            token: TOKEN.to_owned(),
            script: Box::new(script),
        },
    );
    let send = run(campaign
        .command_to(&provider.url())
        .args(["--track", "ref2", "--concurrency", "8", "--events"])
        .arg(&receiver.store));
    assert!(
        provider.wait_for_callbacks(Duration::from_secs(60)),
        "callbacks still pending"
    );
    assert!(
        provider.callbacks_sent().iter().all(|sent| sent.status == 200),
        "the receiver refused a callback: {:?}\n{}",
        provider.callbacks_sent().iter().find(|sent| sent.status != 200),
        receiver.stderr()
    );
    Loop {
        campaign,
        provider,
        receiver,
        send,
    }
}

const FUNNEL_40: &str = "40 accepted → 28 sent → 24 delivered → 20 read → 12 completed the Flow; 8 failed (131026 undeliverable: 4, 131047 outside the 24-hour window: 4); 4 with no status yet; 4 asked to stop";

#[test]
fn report_every_rows_final_state_is_what_the_provider_called_back() {
    let Loop {
        campaign,
        provider,
        receiver,
        send,
    } = run_loop(40);
    assert_eq!(send.code, 0, "{}", send.stderr);
    // The send's own report has the delivery columns, with whatever had arrived by its end.
    let at_send = read_delivery_report(&campaign.report_path());
    assert_eq!(at_send.len(), 40);
    assert!(at_send
        .values()
        .all(|line| { ["", "sent", "delivered", "read", "failed"].contains(&line["delivery"].as_str()) }));

    // The receiver still runs: the store is read while it may write.
    let responses = campaign.scratch.path().join("answers.jsonl");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--responses")
        .arg(&responses));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.trim_end(), FUNNEL_40, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("1 status, 1 Flow reply matched no row of this campaign"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("responses: "), "{}", outcome.stderr);

    let report = read_delivery_report(&campaign.report_path());
    let sent = provider.callbacks_sent();
    for n in 0..40i64 {
        let reference = format!("R{n}");
        let about: Vec<&Callback> = sent
            .iter()
            .filter(|sent| sent.reference == reference)
            .map(|sent| &sent.callback)
            .collect();
        let want = expected(&about);
        let line = &report[&(n + 2).to_string()];
        let got = Final {
            delivery: line["delivery"].clone(),
            code: line["delivery_code"].clone(),
            delivered_at: line["delivered_at"].clone(),
            read_at: line["read_at"].clone(),
            replied_at: line["replied_at"].clone(),
        };
        assert_eq!(got, want, "row {} (n = {n}): {line:?}", n + 2);
        assert_eq!(line["status"], "accepted");
        if want.delivery == "failed" {
            assert!(!line["delivery_error"].is_empty(), "{line:?}");
        }
    }
    assert_eq!(
        report["2"]["delivery_error"],
        "outside the 24-hour window (Re-engagement message)"
    );
    assert_eq!(report["3"]["delivery_error"], "undeliverable (Message undeliverable)");
    // Stages only move forward: `read` came before `delivered`, and both times are kept.
    assert_eq!(report["6"]["delivery"], "read");
    assert_eq!(report["6"]["delivered_at"], rfc3339(base() + 400 + 2));

    // One line per completion: the reply sent twice (n = 7, 17, …) is one line.
    let lines: Vec<Value> = std::fs::read_to_string(&responses)
        .expect("responses")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 12);
    let mut rows: Vec<i64> = lines.iter().map(|line| line["row"].as_i64().expect("row")).collect();
    rows.sort_unstable();
    let mut want: Vec<i64> = (0..40)
        .filter(|n| [5, 7, 8].contains(&(n % 10)))
        .map(|n| n + 2)
        .collect();
    want.sort_unstable();
    assert_eq!(rows, want);
    let row_7 = lines.iter().find(|line| line["row"] == 7).expect("row 7 (n = 5)");
    assert_eq!(
        *row_7,
        json!({"row": 7, "to": "+14150000005", "flow_token": "tok-R5", "replied_at": rfc3339(base() + 504),
               "answers": {"flow_token": "tok-R5", "slot": "10:00", "extras": ["wash"]}})
    );
    let row_10 = lines.iter().find(|line| line["row"] == 10).expect("row 10 (n = 8)");
    assert_eq!(row_10["flow_token"], Value::Null, "matched by context.id alone");

    // The CSV form: a column per answer.
    let csv_path = campaign.scratch.path().join("answers.csv");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .args(["--out", "-", "--responses"])
        .arg(&csv_path));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // Text cells are quoted (a spreadsheet splitting on `;` cannot start a cell inside one).
    assert!(
        outcome.stdout.starts_with("\"row\",\"to\",\"status\","),
        "the report on stdout"
    );
    assert!(outcome.stderr.contains(FUNNEL_40), "{}", outcome.stderr);
    let text = std::fs::read_to_string(&csv_path).expect("responses csv");
    // Quoted as the report is: every text cell.
    assert_eq!(
        text.lines().next(),
        Some(r#""row","to","flow_token","replied_at","slot","extras""#)
    );
    assert_eq!(text.lines().count(), 13);
    assert!(
        text.contains(&format!(
            r#"7,+14150000005,"tok-R5","{}","10:00","[""wash""]""#,
            rfc3339(base() + 504)
        )),
        "{text}"
    );
    assert_eq!(receiver.stop().0, 0);
}

#[test]
fn report_while_send_runs_shows_the_rows_so_far_and_leaves_the_run_undisturbed() {
    let campaign = Campaign::new(12);
    let provider = Provider::start(Duration::from_millis(300), |_, index, _| {
        crate::support::provider::Reply::accepted(index)
    });
    provider.expect_requests(12);
    let mut child = campaign.spawn(&provider, 1);
    let start = Instant::now();
    while provider.count() < 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "the send did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let outcome = run(flowc().arg("report").arg(campaign.journal_path()).args(["--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("a `flowc send` is running on"),
        "{}",
        outcome.stderr
    );
    let lines: Vec<&str> = outcome.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 12, "{}", outcome.stdout);
    assert!(
        lines.iter().any(|line| !line.contains("\"pending\"")),
        "the rows sent so far: {}",
        outcome.stdout
    );
    assert!(child.wait().expect("send ends").success());

    // Once it has ended the report is made, and the campaign still resumes.
    let outcome = run(flowc().arg("report").arg(campaign.journal_path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout.trim_end(), "12 accepted", "{}", outcome.stderr);
    assert_eq!(read_report(&campaign.report_path()).len(), 12);
    let again = run(&mut campaign.command(&provider));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("12 accepted earlier (skipped)"),
        "{}",
        again.stderr
    );
}

#[test]
fn report_refuses_missing_files_wrong_files_and_outputs_that_are_inputs() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let journal = campaign.journal_path();
    let missing = campaign.scratch.path().join("nope.sqlite");
    let report = |args: &[&std::ffi::OsStr]| run(flowc().arg("report").args(args));
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (vec![missing.as_os_str()], "there is no journal"),
        (
            vec![journal.as_os_str(), "--events".as_ref(), missing.as_os_str()],
            "there is no event store",
        ),
        (
            vec![journal.as_os_str(), "--events".as_ref(), journal.as_os_str()],
            "is a campaign journal, not a flowc event store",
        ),
        (
            vec![journal.as_os_str(), "--out".as_ref(), journal.as_os_str()],
            "is the journal",
        ),
        (vec![campaign.data.as_os_str()], "is not a SQLite database"),
    ];
    for (args, message) in cases {
        let outcome = report(&args);
        assert_eq!(outcome.code, 2, "{args:?}: {}", outcome.stderr);
        assert!(outcome.stderr.contains(message), "{args:?}: {}", outcome.stderr);
    }
    let receiver = Receiver::start();
    let store = receiver.store.clone();
    let outcome = run(flowc()
        .arg("report")
        .arg(&journal)
        .arg("--events")
        .arg(&store)
        .args(["--responses", "answers.txt"]));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("must end in .csv or .jsonl"),
        "{}",
        outcome.stderr
    );
    // No callback yet: every accepted row without a status.
    let outcome = run(flowc().arg("report").arg(&journal).arg("--events").arg(&store));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim_end(),
        "2 accepted → 0 sent → 0 delivered → 0 read → 0 completed the Flow; 2 with no status yet"
    );
    assert_eq!(receiver.stop().0, 0);
    // The data file is untouched by all of it.
    assert!(std::fs::read_to_string(&campaign.data)
        .expect("data")
        .starts_with("name,phone,ref"));
}

#[test]
fn report_send_warns_when_rows_share_a_flow_token() {
    let campaign = Campaign::new(3);
    std::fs::write(
        &campaign.template,
        crate::support::BASE_TEMPLATE.replace("flow_token: \"tok-{{ref}}\"", "flow_token: \"same\""),
    )
    .expect("template");
    let outcome = run(campaign.command_to("http://127.0.0.1:9").arg("--dry-run"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome
            .stderr
            .matches("2 rows share a flow_token with an earlier row (row 3 has the flow_token of row 2)")
            .count(),
        1,
        "{}",
        outcome.stderr
    );
}

/// For each horizontal band of rows holding pixels of `colour` (±4 a channel), the widest run
/// of such pixels in it, top to bottom.
fn bands(image: &[u8], width: usize, channels: usize, colour: [u8; 3]) -> Vec<usize> {
    let near = |pixel: &[u8]| (0..3).all(|i| pixel[i].abs_diff(colour[i]) <= 4);
    let mut bands = Vec::new();
    let mut current: Option<usize> = None;
    for row in image.chunks(width * channels) {
        let (mut run, mut widest) = (0, 0);
        for pixel in row.chunks(channels) {
            if near(pixel) {
                run += 1;
                widest = widest.max(run);
            } else {
                run = 0;
            }
        }
        match (widest, current) {
            (0, Some(band)) => {
                bands.push(band);
                current = None;
            }
            (0, None) => {}
            (widest, band) => current = Some(band.unwrap_or(0).max(widest)),
        }
    }
    bands.extend(current);
    bands
}

#[test]
fn report_html_is_drawn_by_headless_chromium_with_the_funnel_to_scale() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs chromium (.ci/run); it is missing"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let Loop { campaign, receiver, .. } = run_loop(40);
    let page = campaign.scratch.path().join("report.html");
    let outcome = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--html")
        .arg(&page));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network assets"
    );
    assert!(html.contains("131047") && html.contains("more than 24 hours since the person last wrote"));
    assert!(html.contains("<h3>slot <small>12 answers</small></h3>"), "{html}");
    // The most common answer first: n = 5, 7, 8 (10:00), 15, 17, 18 (11:00), 25, 27, 28
    // (10:00), 35, 37, 38 (12:00).
    let slot = html.split("<h3>slot").nth(1).expect("the slot table");
    assert!(
        slot.find("10:00").expect("10:00") < slot.find("11:00").expect("11:00"),
        "{slot}"
    );

    let shot = campaign.scratch.path().join("report.png");
    let status = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=900,1600",
        ])
        .arg(format!(
            "--user-data-dir={}",
            campaign.scratch.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(&shot).expect("screenshot")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut image = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut image).expect("frame");
    assert_eq!(info.width, 900);
    let channels = info.color_type.samples();
    let width = info.width as usize;
    // The funnel: 40 accepted → 28 sent → 24 delivered → 20 read → 12 completed, on a
    // 320-pixel track.
    let bars = bands(&image, width, channels, [0x25, 0xd3, 0x66]);
    let want = [320, 224, 192, 160, 96];
    assert_eq!(bars.len(), want.len(), "funnel bars: {bars:?}");
    for (bar, want) in bars.iter().zip(want) {
        assert!(bar.abs_diff(want) <= 2, "funnel bars {bars:?}, expected {want:?}");
    }
    // The timeline's lines and the answers' bars are drawn.
    assert!(
        !bands(&image, width, channels, [0x02, 0x7e, 0xb5]).is_empty(),
        "no delivered line"
    );
    assert!(
        !bands(&image, width, channels, [0x00, 0xa8, 0x84]).is_empty(),
        "no answer bars"
    );
    drop(receiver);
}

#[test]
fn report_rows_sent_by_an_earlier_run_read_accepted_with_the_run_that_sent_them() {
    let campaign = Campaign::new(5);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R2" {
            crate::support::provider::Reply::error(503, "E503", "Service unavailable")
        } else {
            crate::support::provider::Reply::accepted(index)
        }
    });
    assert_eq!(run(campaign.command(&provider).args(["--max-attempts", "1"])).code, 1);
    let healed = Provider::accepting();
    let resumed = run(&mut campaign.command(&healed));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    // This run's summary tells what it did; the campaign's report what the campaign did.
    assert_eq!(
        resumed.stdout.lines().last(),
        Some("1 accepted, 4 skipped (accepted earlier)")
    );
    let runs = |lines: &[HashMap<String, String>]| {
        lines
            .iter()
            .map(|line| (line["status"].clone(), line["run"].clone(), !line["sent_at"].is_empty()))
            .collect::<Vec<_>>()
    };
    let want: Vec<(String, String, bool)> = ["1", "1", "2", "1", "1"]
        .iter()
        .map(|run| ("accepted".to_owned(), (*run).to_owned(), true))
        .collect();
    assert_eq!(
        runs(&read_report(&campaign.report_path())),
        want,
        "the send's own report"
    );
    let outcome = run(flowc().arg("report").arg(campaign.journal_path()));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(runs(&read_report(&campaign.report_path())), want, "flowc report");
}

/// A campaign of `rows` sent (all accepted, untracked) and a receiver to post its callbacks
/// to; each row's 202 `message_id`, by row number.
fn sent(rows: usize) -> (Campaign, Receiver, HashMap<String, String>) {
    let campaign = Campaign::new(rows);
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let ids = read_report(&campaign.report_path())
        .into_iter()
        .map(|line| (line["row"].clone(), line["message_id"].clone()))
        .collect();
    (campaign, Receiver::start(), ids)
}

/// A status of the message `message_id` (the 202's, echoed in `extra_info`).
fn status_of(message_id: &str, status: &str, time: i64, error: Option<(&str, &str)>) -> String {
    let mut entry = json!({"id": format!("wamid.{message_id}"), "status": status, "timestamp": time.to_string()});
    if let Some((code, title)) = error {
        entry["errors"] = json!([{"code": code, "title": title}]);
    }
    json!({"meta_object": {"field": "messages", "value": {"statuses": [entry]}},
           "extra_info": {"message_id": message_id}})
    .to_string()
}

/// A Flow completion with `answers` (its `flow_token` among them), from `from`.
fn completion(id: &str, from: &str, answers: &Value, time: i64) -> String {
    json!({"messages": [{"from": from, "id": id, "timestamp": time.to_string(), "type": "interactive",
        "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": answers.to_string()}}}]})
    .to_string()
}

fn post_all(receiver: &Receiver, bodies: &[String]) {
    for body in bodies {
        let answer = receiver.post(body);
        assert_eq!(answer.status, 200, "{body}");
    }
}

fn report_with(campaign: &Campaign, receiver: &Receiver, extra: &[&std::ffi::OsStr]) -> Outcome {
    run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .args(extra))
}

#[test]
fn report_a_stop_is_attributed_to_its_row_and_time_whatever_spaces_the_number_has() {
    let (campaign, receiver, _) = sent(3);
    let now = jiff::Timestamp::now().as_second();
    // The store keeps the number as the callback wrote it: here without `+` and with spaces.
    post_all(
        &receiver,
        &[
            json!({"messages": [{"from": "1 415 000 0001", "id": "wamid.stop", "timestamp": (now + 5).to_string(),
            "type": "text", "text": {"body": "STOP"}}]})
            .to_string(),
        ],
    );
    let page = campaign.scratch.path().join("report.html");
    let outcome = report_with(&campaign, &receiver, &["--html".as_ref(), page.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.trim_end().ends_with("; 1 asked to stop"),
        "{}",
        outcome.stdout
    );
    let report = read_delivery_report(&campaign.report_path());
    assert_eq!(report["3"]["opted_out_at"], rfc3339(now + 5), "{report:?}");
    assert_eq!(report["2"]["opted_out_at"], "");
    assert_eq!(report["4"]["opted_out_at"], "");
    let html = std::fs::read_to_string(&page).expect("page");
    let section = html.split("<h2>Asked to stop</h2>").nth(1).expect("who asked to stop");
    let when = jiff::Timestamp::from_second(now + 5)
        .expect("now")
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    assert!(
        section.contains("<td class=\"n\">3</td><td>+14150000001</td>") && section.contains(&when),
        "{section}"
    );
    drop(receiver);
}

#[test]
fn report_the_page_names_the_campaign_and_accounts_for_every_row_of_the_file() {
    let campaign = Campaign::new(0);
    std::fs::write(
        &campaign.data,
        "name,phone,ref\nA,+14150000000,R0\nB,+14150000001,R1\nC,not a phone,R2\nD,+14150000000,R3\nE,+14150000004,R4\n",
    )
    .expect("data");
    let exclude = campaign.scratch.write("exclude.txt", "+14150000004\n");
    let provider = Provider::accepting();
    let send = run(campaign.command(&provider).arg("--exclude").arg(&exclude));
    assert_eq!(provider.count(), 2, "{}", send.stderr);
    let ids: HashMap<String, String> = read_report(&campaign.report_path())
        .into_iter()
        .map(|line| (line["row"].clone(), line["message_id"].clone()))
        .collect();
    let receiver = Receiver::start();
    let now = jiff::Timestamp::now().as_second();
    post_all(
        &receiver,
        &[
            status_of(&ids["2"], "delivered", now + 10, None),
            status_of(&ids["3"], "delivered", now + 50, None),
        ],
    );
    let page = campaign.scratch.path().join("report.html");
    let outcome = report_with(&campaign, &receiver, &["--html".as_ref(), page.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let html = std::fs::read_to_string(&page).expect("page");
    let top = html.split("<p class=\"summary\">").next().expect("the top");
    assert!(top.contains("<h1>t.yaml to contacts.csv</h1>"), "{top}");
    assert!(
        top.contains(&format!("template {}", campaign.template.display()))
            && top.contains(&format!("data file {}", campaign.data.display())),
        "{top}"
    );
    let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    assert!(top.contains(&format!("sent {today} ")), "{top}");
    assert!(
        top.contains("5 rows: 2 accepted by the provider · 0 refused by the provider · 0 unknown (no answer when sent) · 1 invalid · 1 duplicate · 0 opted out before sending · 1 excluded · 0 not sent yet"),
        "{top}"
    );
    // 40 seconds of deliveries read in seconds, not as two equal dates.
    let axis = html.split("<svg class=\"timeline\"").nth(1).expect("the timeline");
    let end = jiff::Timestamp::from_second(now + 50)
        .expect("now")
        .strftime("%H:%M:%S UTC")
        .to_string();
    assert!(axis.contains(&format!("{end} over 40s")), "{axis}");
    drop(receiver);
}

#[test]
fn report_date_answers_are_listed_in_date_order() {
    let (campaign, receiver, _) = sent(3);
    let now = jiff::Timestamp::now().as_second();
    let answers = |n: usize, day: &str| json!({"flow_token": format!("tok-R{n}"), "day": day});
    post_all(
        &receiver,
        &[
            completion("wamid.a", "14150000000", &answers(0, "2026-03-10"), now + 60),
            completion("wamid.b", "14150000001", &answers(1, "2026-03-02"), now + 61),
            completion("wamid.c", "14150000002", &answers(2, "2026-03-10"), now + 62),
        ],
    );
    let page = campaign.scratch.path().join("report.html");
    let outcome = report_with(&campaign, &receiver, &["--html".as_ref(), page.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let html = std::fs::read_to_string(&page).expect("page");
    let day = html.split("<h3>day").nth(1).expect("the day question");
    assert!(
        day.find("2026-03-02").expect("2 March") < day.find("2026-03-10").expect("10 March"),
        "{day}"
    );
    drop(receiver);
}

#[test]
fn report_a_flow_reply_from_before_its_row_was_sent_is_another_campaigns_and_its_token_ambiguous() {
    let (campaign, receiver, _) = sent(2);
    let now = jiff::Timestamp::now().as_second();
    let eleven_months_ago = now - 335 * 86_400;
    let answers = |token: &str| json!({"flow_token": token, "slot": "10:00"});
    post_all(
        &receiver,
        &[
            // Another campaign sent the same token last year.
            completion("wamid.old", "14150000000", &answers("tok-R0"), eleven_months_ago),
            completion("wamid.new", "14150000000", &answers("tok-R0"), now + 30),
            completion("wamid.r1", "14150000001", &answers("tok-R1"), now + 31),
        ],
    );
    let responses = campaign.scratch.path().join("answers.jsonl");
    let outcome = report_with(&campaign, &receiver, &["--responses".as_ref(), responses.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("→ 2 completed the Flow"), "{}", outcome.stdout);
    assert_eq!(
        std::fs::read_to_string(&responses).expect("responses").lines().count(),
        2,
        "last year's completion is not this campaign's"
    );
    assert!(
        outcome.stderr.contains(
            "1 Flow reply carried a row's flow_token or answered its message but is dated before the row was sent"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("1 Flow completion ambiguous")
            && outcome.stderr.contains("give each campaign its own flow_token"),
        "{}",
        outcome.stderr
    );
    drop(receiver);
}

#[test]
fn report_html_and_csv_survive_callback_times_at_the_ends_of_the_clock() {
    let (campaign, receiver, ids) = sent(3);
    post_all(
        &receiver,
        &[
            status_of(&ids["2"], "delivered", -9_000_000_000_000_000_000, None),
            status_of(&ids["3"], "delivered", 9_000_000_000_000_000_000, None),
            // Past the year 9999.
            status_of(&ids["4"], "read", 300_000_000_000, None),
        ],
    );
    let page = campaign.scratch.path().join("report.html");
    let outcome = report_with(&campaign, &receiver, &["--html".as_ref(), page.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let report = read_delivery_report(&campaign.report_path());
    assert_eq!(report["4"]["read_at"], "out of range (Unix time 300000000000)");
    assert_eq!(
        report["3"]["delivered_at"],
        "out of range (Unix time 9000000000000000000)"
    );
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("out of range (Unix time -9000000000000000000)"), "{html}");
    drop(receiver);
}

#[test]
fn report_responses_csv_quotes_every_text_cell_and_guards_formulas_in_its_header() {
    let (campaign, receiver, _) = sent(1);
    let now = jiff::Timestamp::now().as_second();
    post_all(
        &receiver,
        &[completion(
            "wamid.a",
            "14150000000",
            &json!({"flow_token": "tok-R0", "=HYPERLINK(\"http://x\")": "hello;=1+1", "n": 3}),
            now + 5,
        )],
    );
    let responses = campaign.scratch.path().join("answers.csv");
    let outcome = report_with(&campaign, &receiver, &["--responses".as_ref(), responses.as_os_str()]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let text = std::fs::read_to_string(&responses).expect("responses");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], r#""row","to","flow_token","replied_at","'=HYPERLINK(""http://x"")","n""#,
        "{text}"
    );
    assert!(
        lines[1].contains(r#","hello;=1+1","#) || lines[1].contains(r#","hello;=1+1""#),
        "{text}"
    );
    drop(receiver);
}

#[test]
fn report_control_characters_from_callbacks_never_reach_the_terminal_or_the_csv() {
    let (campaign, receiver, ids) = sent(1);
    let now = jiff::Timestamp::now().as_second();
    post_all(
        &receiver,
        &[status_of(
            &ids["2"],
            "failed",
            now + 5,
            Some(("13\u{1b}[2J1", "\u{1b}]0;owned\u{7}\u{1b}[2KRe-engagement")),
        )],
    );
    let outcome = report_with(&campaign, &receiver, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for text in [&outcome.stdout, &outcome.stderr] {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
    }
    assert!(
        outcome
            .stdout
            .contains("1 failed (13?[2J1 (?]0;owned??[2KRe-engagement): 1)"),
        "{}",
        outcome.stdout
    );
    let csv = std::fs::read_to_string(campaign.report_path()).expect("report");
    assert!(!csv.contains('\u{1b}') && !csv.contains('\u{7}'), "{csv:?}");
    drop(receiver);
}

#[test]
fn report_not_sent_is_a_failure_with_its_code_and_an_unknown_status_is_counted() {
    let (campaign, receiver, ids) = sent(2);
    let now = jiff::Timestamp::now().as_second();
    post_all(
        &receiver,
        &[
            status_of(&ids["2"], "not sent", now + 5, Some(("WAV2101", "Daily Limit Reached"))),
            status_of(&ids["3"], "deleted", now + 6, None),
        ],
    );
    let outcome = report_with(&campaign, &receiver, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.trim_end(),
        "2 accepted → 0 sent → 0 delivered → 0 read → 0 completed the Flow; 1 not sent by the provider (WAV2101 account daily limit reached: 1); 1 with no status yet"
    );
    assert!(
        outcome
            .stderr
            .contains("1 status of this campaign's rows is not a stage flowc knows (`deleted`: 1)"),
        "{}",
        outcome.stderr
    );
    let report = read_delivery_report(&campaign.report_path());
    assert_eq!(report["2"]["delivery"], "not-sent");
    assert_eq!(report["2"]["delivery_code"], "WAV2101");
    assert_eq!(
        report["2"]["delivery_error"],
        "account daily limit reached (Daily Limit Reached)"
    );
    drop(receiver);
}

/// Makes the journal say its rows were sent `ago` seconds ago (time passing, without waiting).
fn sent_ago(campaign: &Campaign, ago: i64) {
    let journal = rusqlite::Connection::open(campaign.journal_path()).expect("journal");
    journal
        .execute(
            "UPDATE rows SET sent_at = sent_at - ?1 WHERE sent_at IS NOT NULL",
            [ago],
        )
        .expect("moved back");
}

const SILENCE: &str = "no callback has matched any row of this campaign, though its first message left";

#[test]
fn report_and_send_say_what_to_check_when_minutes_pass_and_no_callback_matched() {
    let campaign = Campaign::new(3);
    let provider = Provider::start(Duration::ZERO, |request, index, _| {
        if request.reference() == "R2" {
            crate::support::provider::Reply::error(503, "E503", "Service unavailable")
        } else {
            crate::support::provider::Reply::accepted(index)
        }
    });
    assert_eq!(run(campaign.command(&provider).args(["--max-attempts", "1"])).code, 1);
    sent_ago(&campaign, 600);
    let receiver = Receiver::start();
    // Fresh sends with nothing heard yet are no cause for alarm.
    let young = Campaign::new(1);
    assert_eq!(run(&mut young.command(&Provider::accepting())).code, 0);
    let outcome = run(flowc()
        .arg("report")
        .arg(young.journal_path())
        .arg("--events")
        .arg(&receiver.store));
    assert!(!outcome.stderr.contains(SILENCE), "{}", outcome.stderr);

    let outcome = report_with(&campaign, &receiver, &[]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // "10m 00s ago", or a second or two more on a slow machine.
    for expected in [SILENCE, "left 10m 0", "is running", "callback URL", "token"] {
        assert!(outcome.stderr.contains(expected), "{expected}: {}", outcome.stderr);
    }
    let resumed = run(campaign
        .command(&Provider::accepting())
        .arg("--events")
        .arg(&receiver.store));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(resumed.stderr.contains(SILENCE), "{}", resumed.stderr);
    drop(receiver);
}

#[test]
fn report_says_when_the_journal_and_the_store_are_swapped() {
    let (campaign, receiver, _) = sent(1);
    let outcome = run(flowc()
        .arg("report")
        .arg(&receiver.store)
        .arg("--events")
        .arg(campaign.journal_path()));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("the two are swapped"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(&format!(
            "flowc report {} --events {}",
            campaign.journal_path().display(),
            receiver.store.display()
        )),
        "{}",
        outcome.stderr
    );
    drop(receiver);
}

#[test]
fn a_report_on_a_copied_journal_and_store_leaves_no_files_beside_them() {
    let campaign = Campaign::new(2);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let receiver = Receiver::start();
    // The journal and the store copied without their `-wal` and `-shm` files.
    let copy = crate::support::Scratch::new();
    let journal = copy.path().join("contacts.journal.sqlite");
    std::fs::copy(campaign.journal_path(), &journal).expect("copy");
    let mirror = "contacts.journal.sqlite.mirror";
    if campaign.scratch.path().join(mirror).exists() {
        std::fs::copy(campaign.scratch.path().join(mirror), copy.path().join(mirror)).expect("copy");
    }
    let store = copy.path().join("events.sqlite");
    let reader = rusqlite::Connection::open(&receiver.store).expect("store");
    reader
        .execute("VACUUM INTO ?1", [store.to_str().expect("utf-8")])
        .expect("copy");
    drop(reader);
    let copied = rusqlite::Connection::open(&store).expect("copy");
    copied
        .query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("wal");
    drop(copied);
    let out = copy.path().join("r.csv");
    let before = names_of(copy.path());
    let outcome = run(flowc()
        .arg("report")
        .arg(&journal)
        .arg("--events")
        .arg(&store)
        .arg("--out")
        .arg(&out));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let mut expected = before;
    expected.push("r.csv".to_owned());
    expected.sort();
    assert_eq!(names_of(copy.path()), expected);
}

#[test]
fn a_link_planted_at_the_journals_wal_is_named_as_a_link() {
    let campaign = Campaign::new(1);
    let provider = Provider::accepting();
    assert_eq!(run(&mut campaign.command(&provider)).code, 0);
    let victim = campaign.scratch.write("victim.txt", "VICTIM");
    for suffix in ["-wal", "-shm"] {
        let side = campaign.scratch.path().join(format!("contacts.journal.sqlite{suffix}"));
        let _ = std::fs::remove_file(&side);
        std::os::unix::fs::symlink(&victim, &side).expect("link");
        let outcome = run(flowc().arg("report").arg(campaign.journal_path()));
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(
            outcome.stderr.contains("is a symbolic link to"),
            "{suffix}: {}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("not writable"), "{}", outcome.stderr);
        std::fs::remove_file(&side).expect("unlink");
    }
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "VICTIM");
}

/// The names in `dir`, sorted.
fn names_of(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every callback of a tracked campaign's rows: `sent` carrying the row's `--track` key and
/// Meta's `wamid`, `delivered` and `read` carrying the `wamid` alone, and a Flow reply answering
/// that `wamid`; grouped by row, in the order each row's callbacks are listed.
fn keyed_then_bare(received: &[Received], now: i64) -> Vec<Vec<Callback>> {
    received
        .iter()
        .map(|request| {
            let n = row_number(request);
            let key = request.body["extra_info"]["ref2"].as_str().expect("--track ref2");
            let to = request.body["messaging_object"]["to"].as_str().expect("to");
            let to = to.trim_start_matches('+');
            let wamid = format!("wamid.late.{n}");
            vec![
                status_body(&wamid, "sent", now + 10, to, &json!({"ref2": key}), None),
                status_body(&wamid, "delivered", now + 20, to, &json!({}), None),
                status_body(&wamid, "read", now + 30, to, &json!({}), None),
                reply_body(n, to, &wamid, &json!({"slot": "10:00"}), now + 40),
            ]
        })
        .collect()
}

fn post_callbacks(receiver: &Receiver, callbacks: &[&Callback]) {
    for callback in callbacks {
        let Callback::Post(body) = callback else {
            panic!("a POST callback")
        };
        let answer = receiver.post(&body.to_string());
        assert_eq!(answer.status, 200, "{body}");
    }
}

#[test]
fn report_a_read_stored_before_the_sent_that_names_its_row_counts_and_order_changes_nothing() {
    let campaign = Campaign::new(3);
    let provider = Provider::accepting();
    let outcome = run(campaign.command(&provider).args(["--track", "ref2"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let now = jiff::Timestamp::now().as_second();
    let rows = keyed_then_bare(&provider.received(), now);
    // As several receivers or a provider's retries deliver them: the `read`, the `delivered`
    // and the reply (which carry only the `wamid`) stored before the `sent` that carries the key.
    let late_key: Vec<&Callback> = rows.iter().flat_map(|row| row.iter().rev()).collect();
    let in_order: Vec<&Callback> = rows.iter().flatten().collect();
    let report = |callbacks: &[&Callback]| {
        let receiver = Receiver::start();
        post_callbacks(&receiver, callbacks);
        let outcome = report_with(&campaign, &receiver, &[]);
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        drop(receiver);
        let csv = std::fs::read(campaign.report_path()).expect("report");
        (outcome.stdout, csv)
    };
    let (late_summary, late_csv) = report(&late_key);
    let lines = read_delivery_report(&campaign.report_path());
    for row in ["2", "3", "4"] {
        assert_eq!(lines[row]["delivery"], "read", "{lines:?}");
        assert_eq!(lines[row]["read_at"], rfc3339(now + 30), "{lines:?}");
    }
    assert_eq!(
        late_summary.trim_end(),
        "3 accepted → 3 sent → 3 delivered → 3 read → 3 completed the Flow",
        "{late_summary}"
    );
    let (summary, csv) = report(&in_order);
    assert_eq!(late_summary, summary);
    assert_eq!(
        String::from_utf8_lossy(&late_csv),
        String::from_utf8_lossy(&csv),
        "the same callbacks stored in another order"
    );
}
