//! A new user's campaign trial replayed end to end: a spreadsheet export as Excel writes it
//! (semicolons, a byte-order mark, CRLF, a number twice in other spellings, a number without
//! its country code), sent with `--track` and `--events` to the fake provider, which calls a
//! real `flowc receive` back with a scripted story per row (statuses out of order, a skipped
//! `delivered`, Meta's failures, Flow completions, duplicates, a STOP); the send is killed with
//! requests in flight, another STOP arrives, the campaign is resumed, then `flowc report` must
//! tell every row as the provider's script says, its page must tell the whole campaign, and a
//! rerun of `send` must find the campaign finished.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::campaign::{read_delivery_report, rfc3339, statuses, Campaign, FROM, KEY, SID};
use crate::support::provider::{reply_body, row_number, status_body, Callback, Callbacks, Provider, Received};
use crate::support::receiver::{Receiver, TOKEN};
use crate::support::{flowc, flowc_process, run};

/// Data rows (`ref` `R<n>`, data row `n + 2`).
const ROWS: i64 = 60;
/// A number without its country code: invalid, never sent.
const INVALID: i64 = 7;
/// Row 4's number again, in two other spellings: duplicates, never sent.
const DUPLICATES: [i64; 2] = [23, 41];
const DUPLICATED: i64 = 4;
/// Replies STOP after its message was delivered (a callback of its own).
const STOPS_AFTER_DELIVERY: i64 = 18;
/// Asks to stop between the killed run and the resume, before its row went out.
const STOPS_BEFORE_SENDING: i64 = 57;
/// The first run's requests in flight at once, and how long the provider takes to answer:
/// the run is killed while a batch waits for its answers.
const FIRST_RUN_CONCURRENCY: u32 = 4;
const LATENCY: Duration = Duration::from_secs(1);

/// An hour from when the tests started, on a whole hour: row `n`'s callbacks are stamped from
/// `base() + 100 × n`, after every row was sent.
fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| (jiff::Timestamp::now().as_second() / 3_600 + 1) * 3_600)
}

fn phone(n: i64) -> String {
    match n {
        INVALID => "98101 42542".to_owned(),
        n if n == DUPLICATES[0] => format!("+1 415 000-{DUPLICATED:04}"),
        n if n == DUPLICATES[1] => format!("+1 (415) 000 {DUPLICATED:04}"),
        n => format!("+1415{n:07}"),
    }
}

/// Row `n`'s name: one with a comma, one with a quote, one that is not ASCII.
fn name(n: i64) -> String {
    match n % 3 {
        0 => format!("Rao, Asha {n}"),
        1 => format!("O\"Brien {n}"),
        _ => format!("Zoë {n}"),
    }
}

/// The export: `;`-separated, a byte-order mark, CRLF line ends, names quoted as a
/// spreadsheet quotes them.
fn export() -> String {
    let mut text = String::from("\u{feff}name;phone;ref\r\n");
    for n in 0..ROWS {
        let quoted = format!("\"{}\"", name(n).replace('"', "\"\""));
        text.push_str(&format!("{quoted};{};R{n}\r\n", phone(n)));
    }
    text
}

/// What the provider's script does with row `n`'s message, and so what the report must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Story {
    /// `sent`, then `failed` 131047 (outside the 24-hour window).
    Outside24Hours,
    /// `failed` 131026 (undeliverable) and nothing before it.
    Undeliverable,
    SentOnly,
    Delivered,
    /// `read` arrives before `delivered`.
    ReadBeforeDelivered,
    /// `read` with no `delivered` ever, then the Flow completed.
    ReadSkippingDelivered,
    /// Later statuses carry only Meta's id (learned from the first), then the Flow completed.
    ReadByWamidThenCompleted,
    /// Every callback twice, the completion too.
    EverythingTwice,
    /// Delivered, then the Flow completed (the reply known only by the message it answers).
    DeliveredThenAnswered,
    /// A GET profile: `sent` with the key, `delivered` with Meta's id alone.
    DeliveredByGet,
    /// No callback at all (a row of the resumed run's tail: it was never in flight at the kill).
    Silent,
}

impl Story {
    fn of(n: i64) -> Story {
        match n % 10 {
            0 => Story::Outside24Hours,
            1 => Story::Undeliverable,
            2 => Story::SentOnly,
            3 => Story::Delivered,
            4 => Story::ReadBeforeDelivered,
            5 => Story::ReadSkippingDelivered,
            6 => Story::ReadByWamidThenCompleted,
            7 => Story::EverythingTwice,
            8 => Story::DeliveredThenAnswered,
            _ if n >= 40 => Story::Silent,
            _ => Story::DeliveredByGet,
        }
    }

    /// The report's `delivery` and `delivery_code`.
    fn delivery(self) -> (&'static str, &'static str) {
        match self {
            Story::Outside24Hours => ("failed", "131047"),
            Story::Undeliverable => ("failed", "131026"),
            Story::SentOnly => ("sent", ""),
            Story::Delivered | Story::DeliveredThenAnswered | Story::DeliveredByGet => ("delivered", ""),
            Story::ReadBeforeDelivered
            | Story::ReadSkippingDelivered
            | Story::ReadByWamidThenCompleted
            | Story::EverythingTwice => ("read", ""),
            Story::Silent => ("", ""),
        }
    }

    fn completes(self) -> bool {
        matches!(
            self,
            Story::ReadSkippingDelivered
                | Story::ReadByWamidThenCompleted
                | Story::EverythingTwice
                | Story::DeliveredThenAnswered
        )
    }
}

/// The funnel `flowc report` prints, counted from the stories of the accepted rows.
fn funnel(accepted: &[i64]) -> String {
    let stories: Vec<Story> = accepted.iter().map(|&n| Story::of(n)).collect();
    let count = |keep: &dyn Fn(Story) -> bool| stories.iter().filter(|&&story| keep(story)).count();
    let stage = |story: Story| story.delivery().0;
    let failed = |code: &str| count(&|story| story.delivery().1 == code);
    let mut failures = [
        (failed("131026"), "131026 undeliverable"),
        (failed("131047"), "131047 outside the 24-hour window"),
    ];
    failures.sort_by_key(|&(count, name)| (std::cmp::Reverse(count), name));
    let stopped = accepted.iter().filter(|&&n| n == STOPS_AFTER_DELIVERY).count();
    format!(
        "{} accepted → {} sent → {} delivered → {} read → {} completed the Flow; {} failed ({}: {}, {}: {}); {} with no status yet; {stopped} asked to stop",
        stories.len(),
        count(&|story| !["failed", ""].contains(&stage(story))),
        count(&|story| ["delivered", "read"].contains(&stage(story))),
        count(&|story| stage(story) == "read" || story.completes()),
        count(&|story| story.completes()),
        count(&|story| stage(story) == "failed"),
        failures[0].1,
        failures[0].0,
        failures[1].1,
        failures[1].0,
        count(&|story| story == Story::Silent),
    )
}

fn stop(id: &str, from: &str, time: i64) -> Value {
    json!({"messages": [{"from": from, "id": id, "timestamp": time.to_string(), "type": "text",
        "text": {"body": "STOP"}}]})
}

/// The provider's script: row `n`'s callbacks, as its [`Story`] says. Every status of a row
/// that could be in flight at the kill echoes the row's `--track` key, as the provider echoes
/// `extra_info`.
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
    let only_wamid = json!({});
    let slot = ["10:00", "11:00"][n as usize % 2];
    let answers = json!({"flow_token": format!("tok-R{n}"), "slot": slot});
    let at = |name: &str, time: i64| status_body(&wamid, name, time, &recipient, &keyed, None);
    let mut callbacks = match Story::of(n) {
        Story::Outside24Hours => vec![
            at("sent", t + 1),
            status_body(
                &wamid,
                "failed",
                t + 2,
                &recipient,
                &keyed,
                Some((131047, "Re-engagement message")),
            ),
        ],
        Story::Undeliverable => vec![status_body(
            &wamid,
            "failed",
            t + 1,
            &recipient,
            &keyed,
            Some((131026, "Message undeliverable")),
        )],
        Story::SentOnly => vec![at("sent", t + 1)],
        Story::Delivered => vec![at("sent", t + 1), at("delivered", t + 2)],
        Story::ReadBeforeDelivered => vec![at("sent", t + 1), at("read", t + 3), at("delivered", t + 2)],
        Story::ReadSkippingDelivered => vec![
            at("sent", t + 1),
            at("read", t + 3),
            reply_body(n, &recipient, &wamid, &answers, t + 4),
        ],
        Story::ReadByWamidThenCompleted => vec![
            at("sent", t + 1),
            status_body(&wamid, "delivered", t + 2, &recipient, &only_wamid, None),
            status_body(&wamid, "read", t + 3, &recipient, &only_wamid, None),
            reply_body(n, &recipient, &wamid, &answers, t + 4),
        ],
        Story::EverythingTwice => {
            let reply = reply_body(n, &recipient, &wamid, &answers, t + 4);
            vec![
                at("sent", t + 1),
                at("sent", t + 1),
                at("delivered", t + 2),
                at("delivered", t + 2),
                at("read", t + 3),
                at("read", t + 3),
                reply.clone(),
                reply,
            ]
        }
        Story::DeliveredThenAnswered => vec![
            at("sent", t + 1),
            at("delivered", t + 2),
            reply_body(n, &recipient, &wamid, &json!({"slot": "12:00"}), t + 4),
        ],
        Story::DeliveredByGet => {
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
            ]
        }
        Story::Silent => Vec::new(),
    };
    if n == STOPS_AFTER_DELIVERY {
        callbacks.push(Callback::Post(stop(&format!("wamid.stop.{n}"), &recipient, t + 5)));
    }
    callbacks
}

/// `flowc send` of the campaign with `--track ref2 --events STORE`, in the background.
fn spawn_send(campaign: &Campaign, provider: &Provider, receiver: &Receiver) -> std::process::Child {
    flowc_process()
        .arg("send")
        .arg(&campaign.template)
        .arg("--data")
        .arg(&campaign.data)
        .args(["--yes", "--rate", "0", "--track", "ref2", "--events"])
        .arg(&receiver.store)
        .args(["--concurrency", &FIRST_RUN_CONCURRENCY.to_string()])
        .env("KALEYRA_SID", SID)
        .env("KALEYRA_API_KEY", KEY)
        .env("KALEYRA_WHATSAPP_NUMBER", FROM)
        .env("KALEYRA_BASE_URL", provider.url())
        .env_remove("KALEYRA_REGION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("flowc runs")
}

/// The moment the page gives after `sent `: `YYYY-MM-DD HH:MM:SS UTC`.
fn first_send_on_page(about: &str) -> i64 {
    let text = about.split("sent ").nth(1).expect("the page says when it was sent");
    let moment = text.get(..19).expect("a date and a time");
    let civil: jiff::civil::DateTime = moment.parse().expect("YYYY-MM-DD HH:MM:SS");
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .expect("a UTC time")
        .timestamp()
        .as_second()
}

fn wait_for_callbacks(provider: &Provider, receiver: &Receiver) {
    assert!(
        provider.wait_for_callbacks(Duration::from_secs(60)),
        "callbacks still pending"
    );
    let refused: Vec<_> = provider
        .callbacks_sent()
        .into_iter()
        .filter(|sent| sent.status != 200)
        .collect();
    assert!(
        refused.is_empty(),
        "the receiver refused callbacks: {refused:?}\n{}",
        receiver.stderr()
    );
}

#[test]
fn a_campaign_killed_and_resumed_is_reported_row_by_row_as_the_provider_called_back() {
    let receiver = Receiver::start();
    let provider = Provider::with_callbacks(
        LATENCY,
        Callbacks {
            url: receiver.url(),
            token: TOKEN.to_owned(),
            script: Box::new(script),
        },
    );
    let campaign = Campaign::new(0);
    std::fs::write(&campaign.data, export()).expect("the export");
    let started = jiff::Timestamp::now().as_second();

    // The first run, SIGKILLed the moment its third batch of requests has all arrived: every
    // request of it waits for its answer (a second away), and no later row has left (its task
    // waits for one of those answers). A request killed between its `sending` record and the
    // wire would be unknown with no callback ever to settle it: this timing leaves none.
    let mut first = spawn_send(&campaign, &provider, &receiver);
    let batches = 3 * FIRST_RUN_CONCURRENCY as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    while provider.count() < batches && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let killed_at = jiff::Timestamp::now().as_second();
    // A request already on the wire when flowc died still reaches the provider.
    std::thread::sleep(Duration::from_millis(200));
    let first_run = provider.per_reference();
    assert_eq!(first_run.len(), batches, "{first_run:?}");
    wait_for_callbacks(&provider, &receiver);

    // Mid-campaign, someone whose row has not gone out yet asks to stop.
    let stop_time = jiff::Timestamp::now().as_second();
    let stopper = phone(STOPS_BEFORE_SENDING).trim_start_matches('+').to_owned();
    assert_eq!(
        receiver
            .post(&stop("wamid.stop.early", &stopper, stop_time).to_string())
            .status,
        200
    );

    // The resume: the rows in flight at the kill are settled by their callbacks, the rest sent.
    let mut resume = campaign.command_to(&provider.url());
    resume
        .args(["--track", "ref2", "--concurrency", "16", "--events"])
        .arg(&receiver.store);
    let resumed = run(&mut resume);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("in flight when the last run stopped"),
        "the kill left no request in flight: {}",
        resumed.stderr
    );
    wait_for_callbacks(&provider, &receiver);

    // `flowc report` with the page.
    let page = campaign.scratch.path().join("trial.html");
    let reported = run(flowc()
        .arg("report")
        .arg(campaign.journal_path())
        .arg("--events")
        .arg(&receiver.store)
        .arg("--html")
        .arg(&page));
    assert_eq!(reported.code, 0, "{}", reported.stderr);
    let report = read_delivery_report(&campaign.report_path());
    assert_eq!(report.len(), ROWS as usize, "one line per data row");
    let accepted_rows: Vec<i64> = (0..ROWS)
        .filter(|&n| n != INVALID && n != STOPS_BEFORE_SENDING && !DUPLICATES.contains(&n))
        .collect();
    // A completion is read (its reader opened the message), whatever the statuses said.
    assert_eq!(
        reported.stdout.trim_end(),
        funnel(&accepted_rows),
        "{}",
        reported.stderr
    );

    // Row by row, as the script says.
    let mut settled = 0;
    for n in 0..ROWS {
        let line = &report[&(n + 2).to_string()];
        let context = format!("row {} (R{n}): {line:?}", n + 2);
        let status = match n {
            INVALID => "invalid",
            n if DUPLICATES.contains(&n) => "duplicate",
            STOPS_BEFORE_SENDING => "opted-out",
            _ => "accepted",
        };
        assert_eq!(line["status"], status, "{context}");
        let opted_out_at = match n {
            STOPS_AFTER_DELIVERY => rfc3339(base() + 100 * n + 5),
            STOPS_BEFORE_SENDING => rfc3339(stop_time),
            _ => String::new(),
        };
        assert_eq!(line["opted_out_at"], opted_out_at, "{context}");
        if DUPLICATES.contains(&n) {
            assert_eq!(
                line["error"],
                format!("duplicate of row {}", DUPLICATED + 2),
                "{context}"
            );
        }
        if status != "accepted" {
            assert_eq!(first_run.get(&format!("R{n}")), None, "{context}");
            assert_eq!((line["delivery"].as_str(), line["run"].as_str()), ("", ""), "{context}");
            continue;
        }
        let story = Story::of(n);
        let (delivery, code) = story.delivery();
        assert_eq!(
            (line["delivery"].as_str(), line["delivery_code"].as_str()),
            (delivery, code),
            "{context} ({story:?})"
        );
        assert_eq!(
            !line["replied_at"].is_empty(),
            story.completes(),
            "{context} ({story:?})"
        );
        if story == Story::ReadBeforeDelivered {
            assert_eq!(line["delivered_at"], rfc3339(base() + 100 * n + 2), "{context}");
        }
        let run = if first_run.contains_key(&format!("R{n}")) {
            "1"
        } else {
            "2"
        };
        assert_eq!(line["run"], run, "{context}");
        if line["error"].contains("settled as accepted") {
            assert_eq!(run, "1", "only a row in flight at the kill is settled: {context}");
            settled += 1;
        }
    }
    assert!(settled > 0, "no row was in flight at the kill: {}", resumed.stderr);
    assert!(
        resumed
            .stderr
            .contains(&format!("{settled} unknown settled as accepted from callbacks")),
        "{}",
        resumed.stderr
    );

    // The page: the template, the data file, when it was sent, every row accounted for.
    let html = std::fs::read_to_string(&page).expect("the page");
    let top = html.split("<p class=\"summary\">").next().expect("the top");
    assert!(top.contains("<h1>t.yaml to contacts.csv</h1>"), "{top}");
    let about = top
        .split("<p class=\"campaign\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("the campaign line");
    assert!(
        about.contains(&format!("template {}", campaign.template.display()))
            && about.contains(&format!("data file {}", campaign.data.display())),
        "{about}"
    );
    let first_send = first_send_on_page(about);
    assert!(
        (started..=killed_at).contains(&first_send),
        "first send {first_send} outside the first run ({started} to {killed_at}): {about}"
    );
    let accepted = accepted_rows.len();
    let rows_line = format!(
        "{ROWS} rows: {accepted} accepted by the provider · 0 refused by the provider · 0 unknown (no answer when sent) · 1 invalid · {} duplicate · 1 opted out before sending · 0 excluded · 0 not sent yet",
        DUPLICATES.len()
    );
    assert!(top.contains(&rows_line), "{top}");
    let stopped = html.split("<h2>Asked to stop</h2>").nth(1).expect("who asked to stop");
    for n in [STOPS_AFTER_DELIVERY, STOPS_BEFORE_SENDING] {
        assert!(
            stopped.contains(&format!("<td class=\"n\">{}</td><td>{}</td>", n + 2, phone(n))),
            "row {} is not named among those who asked to stop: {stopped}",
            n + 2
        );
    }

    // Each message as the file's row says it, its number in E.164.
    for request in provider.received() {
        let n = row_number(&request);
        let message = &request.body["messaging_object"];
        assert_eq!(message["to"], format!("+1415{n:07}"), "R{n}");
        assert_eq!(
            message["interactive"]["header"]["text"],
            format!("Hi {}", name(n)),
            "R{n}"
        );
    }

    // `send` again with the same events: the campaign is finished.
    let sent_before = provider.count();
    let again = run(&mut resume);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains(&format!(
            "resume:   {accepted} accepted earlier (skipped), 0 unknown (not sent)"
        )),
        "{}",
        again.stderr
    );
    let mut summary = again.stdout.lines().rev();
    assert_eq!(
        summary.next(),
        Some(funnel(&accepted_rows).as_str()),
        "{}",
        again.stdout
    );
    assert_eq!(
        summary.next(),
        Some(
            format!(
                "0 accepted, {accepted} skipped (accepted earlier), 1 invalid, {} duplicate, 1 opted-out",
                DUPLICATES.len()
            )
            .as_str()
        ),
        "{}",
        again.stdout
    );
    let counts = statuses(&campaign.report());
    assert_eq!(counts.get("unknown"), None, "{counts:?}");
    assert_eq!(counts.get("accepted").copied(), Some(accepted), "{counts:?}");
    assert_eq!(provider.count(), sent_before, "nothing is sent again");
    let per_reference = provider.per_reference();
    assert_eq!(per_reference.len(), accepted, "{per_reference:?}");
    assert!(
        per_reference.values().all(|&count| count == 1),
        "a row was sent twice: {per_reference:?}"
    );
    assert_eq!(receiver.stop().0, 0);
}
