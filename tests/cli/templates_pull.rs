//! `flowc templates pull` against the fake provider's template list: paging, one file per name
//! and language, hostile names and answers, the key kept out of everything shown or written,
//! and a second pull that leaves unchanged files alone.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::campaign::{KEY, SID};
use crate::support::provider::{Provider, Reply, TemplatePages};
use crate::support::{flowc, run, Outcome, Scratch};

const WABA: &str = "104200300400500";

/// An approved template as the provider's list holds it (the documented shape).
fn item(name: &str, language: &str, status: &str) -> Value {
    json!({
        "id": format!("9200{}", name.len() * 7 + language.len()),
        "name": name,
        "language": language,
        "category": "MARKETING",
        "status": status,
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Book your {{1}} service.", "example": {"body_text": [["car"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Book now", "flow_id": 1234567890123456u64,
                                              "flow_action": "navigate", "navigate_screen": "SLOT_PICKER"}]}
        ]
    })
}

fn pull(provider: &Provider, out: &Path) -> Outcome {
    run(flowc()
        .args(["templates", "pull", "--waba-id", WABA, "--out"])
        .arg(out)
        .env("KALEYRA_SID", SID)
        .env("KALEYRA_API_KEY", KEY)
        .env("KALEYRA_BASE_URL", provider.url())
        .env_remove("KALEYRA_REGION")
        .env_remove("KALEYRA_WABA_ID"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the file is written")).expect("JSON")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn pulling_follows_the_pages_and_writes_one_file_per_name_and_language() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let booking_en = item("spring_booking", "en_US", "APPROVED");
    let booking_es = item("spring_booking", "es", "APPROVED");
    let reminder = item("reminder", "en_US", "PAUSED");
    let provider = Provider::with_templates(TemplatePages::new(vec![
        vec![booking_en.clone(), reminder.clone()],
        vec![booking_es.clone()],
    ]));
    provider.expect_requests(2);
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        files_in(&out),
        [
            "reminder.en_US.json",
            "spring_booking.en_US.json",
            "spring_booking.es.json"
        ]
    );
    assert_eq!(read_json(&out.join("spring_booking.en_US.json")), booking_en);
    assert_eq!(read_json(&out.join("spring_booking.es.json")), booking_es);
    assert_eq!(read_json(&out.join("reminder.en_US.json")), reminder);
    // Pretty-printed, as a person reads and diffs it.
    let text = std::fs::read_to_string(out.join("spring_booking.es.json")).expect("file");
    assert!(text.starts_with("{\n  \"id\""), "{text}");
    let requests = provider.received();
    assert!(requests.iter().all(|request| request.method == "GET"
        && request.path == format!("/v2/{SID}/whatsapp/{WABA}/message_templates")
        && request.headers.get("api-key").map(String::as_str) == Some(KEY)));
    assert_eq!(requests[0].query, "");
    assert!(requests[1].query.contains("after=page-1"), "{}", requests[1].query);
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", outcome.stdout);
    for word in ["name", "language", "category", "status", "quality", "flow", "file"] {
        assert!(lines[0].contains(word), "{}", lines[0]);
    }
    let row = |name: &str, language: &str| {
        *lines
            .iter()
            .find(|line| line.split_whitespace().take(2).eq([name, language]))
            .unwrap_or_else(|| panic!("no row for {name} {language}: {}", outcome.stdout))
    };
    let booking = row("spring_booking", "es");
    for cell in ["MARKETING", "APPROVED", "1234567890123456 → SLOT_PICKER", "new"] {
        assert!(booking.contains(cell), "{booking}");
    }
    assert!(row("reminder", "en_US").contains("PAUSED"));
    assert!(
        outcome.stderr.contains("3 templates from 2 pages"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_next_page_on_another_host_is_refused_and_nothing_is_written() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let mut pages = TemplatePages::new(vec![
        vec![item("a", "en_US", "APPROVED")],
        vec![item("b", "en_US", "APPROVED")],
    ]);
    pages.next_host = Some("http://127.0.0.2:9".to_owned());
    let provider = Provider::with_templates(pages);
    provider.expect_requests(1);
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("another host"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("127.0.0.2"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("nothing was written"), "{}", outcome.stderr);
    assert!(files_in(&out).is_empty());
}

#[test]
fn a_next_page_on_another_endpoint_of_the_same_host_is_refused() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let base = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = std::sync::Arc::clone(&base);
    let provider = Provider::start(Duration::ZERO, move |request, _, _| {
        let base = seen.lock().expect("lock").clone();
        // The first page points at another endpoint of this host; that one answers a last page.
        let next = if request.query.is_empty() {
            json!({"next": format!("{base}/v2/other/messages?after=x")})
        } else {
            json!({})
        };
        Reply::Json {
            status: 200,
            body: json!({"data": [item("a", "en_US", "APPROVED")], "paging": next}).to_string(),
            retry_after: None,
        }
    });
    *base.lock().expect("lock") = provider.url();
    provider.expect_requests(1);
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("another endpoint"), "{}", outcome.stderr);
    assert!(files_in(&out).is_empty());
}

#[test]
fn a_hostile_template_name_is_refused_and_nothing_is_written_outside_the_folder() {
    let scratch = Scratch::new();
    let out = scratch.path().join("deep").join("approved");
    let provider = Provider::with_templates(TemplatePages::new(vec![vec![
        item("../../escape", "en_US", "APPROVED"),
        item("sub/dir", "en_US", "APPROVED"),
        item("bell\u{7}\u{1b}[2J", "en_US", "APPROVED"),
        item("good", "..", "APPROVED"),
        item("good", "en_US", "APPROVED"),
    ]]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(files_in(&out), ["good.en_US.json"]);
    assert_eq!(files_in(&scratch.path().join("deep")), ["approved"]);
    assert_eq!(files_in(scratch.path()), ["deep"]);
    for said in [
        "a dot",
        "a path separator",
        "a control character",
        "refused, not written",
    ] {
        assert!(outcome.stderr.contains(said), "{said}: {}", outcome.stderr);
    }
    assert!(!outcome.stderr.contains('\u{1b}'), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("4 not written"), "{}", outcome.stderr);
}

#[test]
fn the_api_key_never_shows_even_when_the_provider_echoes_it() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let escaped: String = KEY.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    // Refused, the key echoed plainly and escaped.
    for body in [
        format!(r#"{{"code":"E401","message":"invalid api-key {KEY}"}}"#),
        format!(r#"{{"error":{{"message":"invalid api-key {escaped}","code":190}}}}"#),
    ] {
        let provider = Provider::start(Duration::ZERO, move |_, _, _| Reply::Json {
            status: 401,
            body: body.clone(),
            retry_after: None,
        });
        let outcome = pull(&provider, &out);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("HTTP 401"), "{}", outcome.stderr);
        assert!(outcome.stderr.contains("--api-key"), "{}", outcome.stderr);
        assert!(!outcome.stderr.to_lowercase().contains(KEY), "{}", outcome.stderr);
        assert!(!outcome.stderr.contains(&escaped), "{}", outcome.stderr);
    }
    // Listed, the key inside a template and as a field's name.
    let mut leaky = item("leaky", "en_US", "APPROVED");
    leaky["components"][0]["text"] = json!(format!("debug {escaped}"));
    let mut named = item("named", "en_US", "APPROVED");
    named[KEY] = json!(1);
    let provider = Provider::with_templates(TemplatePages::new(vec![vec![
        leaky,
        named,
        item("fine", "en_US", "APPROVED"),
        item(KEY, "en_US", "APPROVED"),
    ]]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(files_in(&out), ["fine.en_US.json"]);
    for text in [&outcome.stdout, &outcome.stderr] {
        assert!(!text.to_lowercase().contains(KEY), "{text}");
        assert!(!text.contains(&escaped), "{text}");
    }
    assert!(outcome.stderr.contains("contains the API key"), "{}", outcome.stderr);
}

#[test]
fn a_second_pull_reports_the_changed_template_updated_and_leaves_the_rest_untouched() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let first = vec![
        item("a", "en_US", "APPROVED"),
        item("b", "en_US", "APPROVED"),
        item("c", "en_US", "APPROVED"),
    ];
    let provider = Provider::with_templates(TemplatePages::new(vec![first.clone()]));
    assert_eq!(pull(&provider, &out).code, 0);
    let identity = |name: &str| {
        let metadata = std::fs::metadata(out.join(name)).expect("file");
        (metadata.ino(), metadata.mtime(), metadata.mtime_nsec())
    };
    let before_a = identity("a.en_US.json");
    let before_c = identity("c.en_US.json");
    std::thread::sleep(Duration::from_millis(20));
    let mut second = first;
    second[1]["status"] = json!("PAUSED");
    let provider = Provider::with_templates(TemplatePages::new(vec![second.clone()]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(identity("a.en_US.json"), before_a, "an unchanged file is left alone");
    assert_eq!(identity("c.en_US.json"), before_c, "an unchanged file is left alone");
    assert_eq!(read_json(&out.join("b.en_US.json")), second[1]);
    let state = |name: &str| {
        outcome
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(state("a"), "unchanged", "{}", outcome.stdout);
    assert_eq!(state("b"), "updated", "{}", outcome.stdout);
    assert_eq!(state("c"), "unchanged", "{}", outcome.stdout);
    assert!(
        outcome.stderr.contains("0 new, 1 updated, 2 unchanged"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_link_or_a_pipe_at_a_files_name_is_left_as_it_is() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    std::fs::create_dir(&out).expect("dir");
    let target = scratch.write("elsewhere.json", "kept");
    std::os::unix::fs::symlink(&target, out.join("a.en_US.json")).expect("link");
    let status = std::process::Command::new("mkfifo")
        .arg(out.join("b.en_US.json"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let provider = Provider::with_templates(TemplatePages::new(vec![vec![
        item("a", "en_US", "APPROVED"),
        item("b", "en_US", "APPROVED"),
        item("c", "en_US", "APPROVED"),
    ]]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "kept");
    assert!(std::fs::symlink_metadata(out.join("a.en_US.json"))
        .expect("link")
        .file_type()
        .is_symlink());
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::symlink_metadata(out.join("b.en_US.json"))
        .expect("pipe")
        .file_type()
        .is_fifo());
    assert!(outcome.stderr.contains("symbolic link"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("a named pipe"), "{}", outcome.stderr);
    assert_eq!(read_json(&out.join("c.en_US.json")), item("c", "en_US", "APPROVED"));
}

#[test]
fn an_unexpected_answer_shape_is_named() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let provider = Provider::start(Duration::ZERO, |_, _, _| Reply::Json {
        status: 200,
        body: json!({"code": "200", "templates": [item("a", "en_US", "APPROVED")]}).to_string(),
        retry_after: None,
    });
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("not the documented template list"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("`templates` (a list)"), "{}", outcome.stderr);
    assert!(files_in(&out).is_empty());
}

#[test]
fn fields_the_documentation_does_not_show_or_misses_are_named_with_their_templates() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let mut extra = item("extra", "en_US", "APPROVED");
    extra["sub_category"] = json!("ORDER_STATUS");
    let mut missing = item("missing", "pt_BR", "APPROVED");
    missing.as_object_mut().expect("object").remove("status");
    missing["components"][1]["buttons"][0]
        .as_object_mut()
        .expect("button")
        .remove("flow_id");
    let mut pages = TemplatePages::new(vec![vec![extra, missing]]);
    pages.extra = json!({"summary": {"total_count": 2}});
    let provider = Provider::with_templates(pages);
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(files_in(&out), ["extra.en_US.json", "missing.pt_BR.json"]);
    for said in [
        "field `sub_category` is not in the documented template; kept in the file as the provider sent it: in extra (en_US)",
        "field `status` is missing (the documented template has it): in missing (pt_BR)",
        "a FLOW button has neither `flow_id` nor `flow_name`",
        "the answer's field `summary` (page 1) is not in the documented answer",
    ] {
        assert!(outcome.stderr.contains(said), "{said}: {}", outcome.stderr);
    }
}

#[test]
fn a_hostile_answer_is_refused_with_a_bounded_message() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let huge = format!(
        r#"{{"data":[{{"name":"a","language":"en","pad":"{}"}}]}}"#,
        "x".repeat(5 << 20)
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let html = format!("<html>{}</html>", "<p>busy</p>".repeat(10_000));
    for (body, said) in [
        (huge, "larger than"),
        (deep, "not JSON"),
        (html, "not JSON"),
        ("[1, 2]".to_owned(), "it is a list"),
    ] {
        let provider = Provider::start(Duration::ZERO, move |_, _, _| Reply::Json {
            status: 200,
            body: body.clone(),
            retry_after: None,
        });
        let outcome = pull(&provider, &out);
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains(said), "{said}: {}", outcome.stderr);
        assert!(outcome.stderr.len() < 1_500, "{}", outcome.stderr.len());
        assert!(files_in(&out).is_empty());
    }
}

#[test]
fn a_redirect_is_not_followed_and_a_server_error_says_what_the_provider_said() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let provider = Provider::start(Duration::ZERO, |_, _, _| {
        Reply::Redirect("http://127.0.0.2:9/steal".to_owned())
    });
    provider.expect_requests(1);
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("redirect (HTTP 307)"), "{}", outcome.stderr);
    let provider = Provider::start(Duration::ZERO, |_, _, _| Reply::error(503, "WA503", "Service busy"));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("HTTP 503): WA503: Service busy"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("run the same command again later"),
        "{}",
        outcome.stderr
    );
    let provider = Provider::start(Duration::from_secs(3), |_, index, _| Reply::accepted(index));
    let outcome = run(flowc()
        .args(["templates", "pull", "--waba-id", WABA, "--timeout", "1", "--out"])
        .arg(&out)
        .env("KALEYRA_SID", SID)
        .env("KALEYRA_API_KEY", KEY)
        .env("KALEYRA_BASE_URL", provider.url())
        .env_remove("KALEYRA_REGION"));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("no answer within 1 seconds"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn the_manual_has_a_section_for_templates_pull_with_its_options() {
    let manual = run(flowc().arg("man"));
    assert_eq!(manual.code, 0);
    let section = manual
        .stdout
        .split(".SH \"FLOWC TEMPLATES PULL\"")
        .nth(1)
        .expect("a section of its own");
    for option in [
        "waba\\-id",
        "\\-\\-out",
        "\\-\\-api\\-key\\-file",
        "\\-\\-base\\-url",
        ".SS EXAMPLES",
    ] {
        assert!(section.contains(option), "{option}");
    }
}

#[test]
fn a_file_of_a_template_the_provider_no_longer_lists_is_named_and_left_alone() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let provider = Provider::with_templates(TemplatePages::new(vec![vec![
        item("a", "en_US", "APPROVED"),
        item("b", "en_US", "APPROVED"),
    ]]));
    assert_eq!(pull(&provider, &out).code, 0);
    std::fs::write(out.join("notes.txt"), "mine").expect("a file of the user's");
    let provider = Provider::with_templates(TemplatePages::new(vec![vec![item("a", "en_US", "APPROVED")]]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("1 file in")
            && outcome
                .stderr
                .contains("no longer lists (left as they are): b.en_US.json"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("notes.txt"), "{}", outcome.stderr);
    assert_eq!(read_json(&out.join("b.en_US.json")), item("b", "en_US", "APPROVED"));
}

#[test]
fn a_template_listed_twice_is_written_from_neither_entry() {
    let scratch = Scratch::new();
    let out = scratch.path().join("approved");
    let provider = Provider::with_templates(TemplatePages::new(vec![
        vec![item("twice", "en_US", "APPROVED"), item("once", "en_US", "APPROVED")],
        vec![item("twice", "en_US", "PAUSED")],
    ]));
    let outcome = pull(&provider, &out);
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(files_in(&out), ["once.en_US.json"]);
    assert!(
        outcome
            .stderr
            .contains("template twice (en_US): the list holds it more than once"),
        "{}",
        outcome.stderr
    );
}
