//! `flowc preview`: the HTML page (snapshot-tested), its failure modes, and a real headless
//! Chromium screenshot of every shipped template's page.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{chromium, flowc, repo, run, Scratch, BASE_TEMPLATE};

fn shipped_templates() -> Vec<PathBuf> {
    let mut templates: Vec<PathBuf> = std::fs::read_dir(repo().join("templates"))
        .expect("templates/")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.to_string_lossy();
            name.ends_with(".yaml") && !name.ends_with(".fixtures.yaml")
        })
        .collect();
    templates.sort();
    templates
}

#[test]
fn the_page_of_every_shipped_template() {
    insta::glob!("../../templates", "*.yaml", |path| {
        if path.to_string_lossy().ends_with(".fixtures.yaml") {
            return;
        }
        let outcome = run(flowc().arg("preview").arg(path).args(["--out", "-"]));
        assert_eq!(outcome.code, 0, "{}: {}", path.display(), outcome.stderr);
        assert!(
            !outcome.stdout.contains("http://") && !outcome.stdout.contains("https://"),
            "no network assets"
        );
        insta::assert_snapshot!(outcome.stdout);
    });
}

#[test]
fn an_invalid_template_still_gets_its_page_with_the_errors() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE
            .replace("flow_cta: \"Book now\"", "flow_cta: \"Book now 📅\"")
            .replace("footer:", "foter:"),
    );
    let out = scratch.path().join("page.html");
    let outcome = run(flowc().arg("preview").arg(&template).arg("--out").arg(&out));
    assert_eq!(outcome.code, 1);
    let page = std::fs::read_to_string(&out).expect("the page is written");
    assert!(page.contains("<li class=\"error\"><b>error</b>"), "{page}");
    assert!(page.contains("must not contain emoji"), "{page}");
    assert!(page.contains("unknown field `foter` in `interactive`"), "{page}");
    assert!(
        page.contains(&format!("{}:12:5", template.display())),
        "the location is shown"
    );
    assert!(page.contains("Book now 📅"), "the button still shows the CTA");
    assert!(
        outcome.stderr.contains("must not contain emoji"),
        "and the errors go to stderr too"
    );
}

#[test]
fn a_template_without_values_to_render_gets_a_page_without_a_message() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE.replace("name: { example: \"Asha\" }", "name: {}"),
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.contains("The message could not be rendered"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("variable `name` has no `example` or `default`"));
}

/// The findings on the drawn phone: under each part they are about, the part outlined.
fn marks(page: &str) -> Vec<String> {
    page.split("<div class=\"mark ")
        .skip(1)
        .filter_map(|rest| rest.split("</div>").next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_undeclared_variable_is_marked_on_the_drawn_message_and_the_rest_still_checked() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE
            .replace("\"Hi {{name}}\"", "\"Hi {{nmae}}\"")
            .replace("\"Reply STOP to opt out\"", &format!("\"{}\"", "F".repeat(61))),
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let page = &outcome.stdout;
    assert!(!page.contains("could not be rendered"), "{page}");
    assert!(page.contains("<div class=\"header marked-error\">Hi </div>"), "{page}");
    assert!(page.contains("<div class=\"footer marked-error\">"), "{page}");
    assert!(page.contains("<div class=\"body\">"), "the body is fine: {page}");
    assert_eq!(
        marks(page),
        [
            "error\">undeclared variable `nmae`",
            "error\">`interactive.footer.text` is 61 characters long; the limit is 60",
        ]
    );
    assert!(
        outcome.stderr.contains("undeclared variable `nmae`"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("is 61 characters long"), "{}", outcome.stderr);
}

#[test]
fn a_header_and_a_button_over_their_limits_are_marked_on_the_phone() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE
            .replace("\"Hi {{name}}\"", &format!("\"Hi {{{{name}}}} {}\"", "h".repeat(60)))
            .replace("flow_cta: \"Book now\"", &format!("flow_cta: \"{}\"", "B".repeat(31))),
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let page = &outcome.stdout;
    assert!(
        page.contains("<div class=\"header marked-error\">Hi Asha hhh"),
        "{page}"
    );
    assert!(page.contains("<div class=\"button marked-error\">"), "{page}");
    assert!(page.contains("<div class=\"body\">") && page.contains("<div class=\"footer\">"));
    assert_eq!(
        marks(page),
        [
            "error\">`interactive.header.text` is 68 characters long; the limit is 60",
            "error\">`interactive.action.parameters.flow_cta` is 31 characters long; the limit is 30",
        ]
    );
}

#[test]
fn a_warning_marks_its_part_in_amber() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE.replace("flow_cta: \"Book now\"", "flow_cta: \"Book your next service\""),
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("<div class=\"button marked-warning\">"),
        "{}",
        outcome.stdout
    );
    assert_eq!(
        marks(&outcome.stdout),
        ["warning\">flow_cta has 22 characters; Meta allows 30, but older WhatsApp clients and SDKs cut it at 20"]
    );
}

#[test]
fn a_draft_flow_gets_a_badge() {
    let scratch = Scratch::new();
    let draft = scratch.write(
        "draft.yaml",
        BASE_TEMPLATE.replace("flow_action: navigate", "flow_action: navigate\n        mode: draft"),
    );
    let outcome = run(flowc().arg("preview").arg(&draft).args(["--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("<div class=\"badge\"><b>mode: draft</b> · only the Flow's testers can open it</div>"),
        "{}",
        outcome.stdout
    );
    let published = scratch.write("published.yaml", BASE_TEMPLATE);
    let outcome = run(flowc().arg("preview").arg(&published).args(["--out", "-"]));
    assert!(!outcome.stdout.contains("<div class=\"badge\">"), "{}", outcome.stdout);
}

#[test]
fn every_finding_of_a_template_is_in_the_panel() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE
            .replace("to: \"{{phone}}\"", "to: \"98765\"\n  colour: blue")
            .replace("\"Hi {{name}}\"", &format!("\"{}\"", "H".repeat(61)))
            .replace("\"Reply STOP to opt out\"", &format!("\"{}\"", "F".repeat(61)))
            .replace("flow_cta: \"Book now\"", "flow_cta: \"Book now \u{1F4C5}\""),
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(
        outcome.stdout.matches("<li class=\"error\">").count(),
        5,
        "{}",
        outcome.stdout
    );
    assert_eq!(marks(&outcome.stdout).len(), 3, "header, footer and button");
}

#[test]
fn warnings_are_shown() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE.replace("wa_source: api", "wa_source: excel"));
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("<li class=\"warning\"><b>warning</b>"),
        "{}",
        outcome.stdout
    );
    assert!(outcome
        .stdout
        .contains("wa_source `excel` is not one the provider knows"));
}

#[test]
fn a_data_row_is_previewed_by_its_number() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref\nFirst,+14155550100,1\n*Bold* & _it_,+14155550101,2\n",
    );
    let outcome = run(flowc()
        .arg("preview")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "3", "--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("Hi <strong>Bold</strong> &amp; <em>it</em>"),
        "{}",
        outcome.stdout
    );
    let outcome = run(flowc()
        .arg("preview")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "9", "--out", "-"]));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("there is no row 9"), "{}", outcome.stderr);
}

/// The longest run of pure white pixels on any of the first `rows` rows: the message bubble,
/// which starts below the phone's title bar, above the findings panel.
fn widest_white_run(image: &[u8], width: usize, channels: usize, rows: usize) -> usize {
    widest_run(image, width, channels, 0..rows, [255, 255, 255])
}

/// The green of the footer button of a drawn Flow screen (`.f-footer` in the page's CSS).
const FOOTER_GREEN: [u8; 3] = [0x00, 0xa8, 0x84];

/// The longest run of pixels of one colour on any of the given rows.
fn widest_run(image: &[u8], width: usize, channels: usize, rows: std::ops::Range<usize>, colour: [u8; 3]) -> usize {
    let mut widest = 0;
    let skip = rows.start;
    for row in image.chunks(width * channels).skip(skip).take(rows.len()) {
        let mut run = 0;
        for pixel in row.chunks(channels) {
            if pixel[..3] == colour {
                run += 1;
                widest = widest.max(run);
            } else {
                run = 0;
            }
        }
    }
    widest
}

#[test]
fn headless_chromium_draws_every_shipped_template() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs chromium (.ci/run); it is missing"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
        return;
    };
    let scratch = Scratch::new();
    // Besides the shipped ones, a message whose long words must wrap inside the phone's width.
    let long = scratch.write(
        "long-words.yaml",
        BASE_TEMPLATE
            .replace("\"Hi {{name}}\"", &format!("\"{}\"", "W".repeat(60)))
            .replace(
                "\"Your slot in {{city}} is ready.\"",
                &format!("\"{} *{}*\"", "x".repeat(300), "y".repeat(200)),
            ),
    );
    let mut templates = shipped_templates();
    templates.push(long);
    let mut drawn = 0;
    for template in templates {
        let name = template.file_stem().expect("name").to_string_lossy().into_owned();
        let page = scratch.path().join(format!("{name}.html"));
        let shot = scratch.path().join(format!("{name}.png"));
        let outcome = run(flowc().arg("preview").arg(&template).arg("--out").arg(&page));
        assert_eq!(outcome.code, 0, "{}", outcome.stderr);
        let status = Command::new(browser)
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
                "--force-color-profile=srgb",
                // Tall enough for the Flow screen drawn below the message.
                "--window-size=400,1400",
            ])
            .arg(format!(
                "--user-data-dir={}",
                scratch.path().join(format!("profile-{name}")).display()
            ))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs");
        assert!(
            status.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).expect("screenshot")));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut image = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut image).expect("frame");
        assert_eq!(info.width, 400, "{name}: the window's width");
        let channels = info.color_type.samples();
        let colours: std::collections::HashSet<&[u8]> = image.chunks(channels).collect();
        assert!(
            colours.len() > 50,
            "{name}: the screenshot is blank ({} colours)",
            colours.len()
        );
        // The bubble fills the 360 px phone less the chat's 12 px padding on each side.
        let bubble = widest_white_run(&image, info.width as usize, channels, 150);
        assert!(
            (320..=336).contains(&bubble),
            "{name}: bubble {bubble} px wide, expected about 336"
        );
        // A template that names its Flow gets the screen its button opens drawn below the
        // message, down to the footer button, a green band across the screen's width.
        let names_flow = std::fs::read_to_string(&template).is_ok_and(|text| text.contains("flow_json:"));
        let footer = widest_run(
            &image,
            info.width as usize,
            channels,
            200..info.height as usize,
            FOOTER_GREEN,
        );
        if names_flow {
            assert!(
                (250..=330).contains(&footer),
                "{name}: the drawn screen's footer button is {footer} px wide, expected about 308"
            );
        } else {
            assert_eq!(footer, 0, "{name}: no Flow, no screen drawn");
        }
        drawn += usize::from(names_flow);
    }
    assert!(drawn >= 2, "the shipped templates that name their Flow were drawn");
}

#[test]
fn without_out_the_page_is_written_to_name_preview_html_in_the_working_directory() {
    let scratch = Scratch::new();
    scratch.write("templates/t.yaml", BASE_TEMPLATE);
    let outcome = run(flowc()
        .current_dir(scratch.path())
        .args(["preview", "templates/t.yaml"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "no HTML on the terminal");
    assert!(outcome.stderr.contains("wrote t.preview.html"), "{}", outcome.stderr);
    let page = std::fs::read_to_string(scratch.path().join("t.preview.html")).expect("the page");
    assert!(
        page.starts_with("<!DOCTYPE html>") || page.starts_with("<!doctype html>"),
        "{page}"
    );
    assert!(
        !scratch.path().join("templates/t.preview.html").exists(),
        "not beside the template"
    );
}

#[test]
fn out_dash_writes_the_page_to_stdout() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let outcome = run(flowc()
        .current_dir(scratch.path())
        .arg("preview")
        .arg(&template)
        .args(["--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("</html>"), "{}", outcome.stdout);
    assert!(!scratch.path().join("t.preview.html").exists());
}

#[test]
fn preview_never_overwrites_an_input() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", "name,phone,ref\nFirst,+14155550100,1\n");
    for (out, extra) in [(&template, false), (&data, true)] {
        let mut command = flowc();
        command.current_dir(scratch.path()).arg("preview").arg(&template);
        if extra {
            command.arg("--data").arg(&data).args(["--row", "2"]);
        }
        let outcome = run(command.arg("--out").arg(out));
        assert_eq!(outcome.code, 2, "{}", outcome.stderr);
        assert!(outcome.stderr.contains("refusing to overwrite"), "{}", outcome.stderr);
    }
    assert_eq!(std::fs::read_to_string(&template).expect("template"), BASE_TEMPLATE);
    assert!(std::fs::read_to_string(&data)
        .expect("data")
        .starts_with("name,phone,ref"));
}

#[test]
fn a_previewed_row_is_named_with_its_data_file_on_stderr_and_on_the_page() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    scratch.write(
        "rows.csv",
        "name,phone,ref\nFirst,+14155550100,1\nSecond,+14155550101,2\n",
    );
    let outcome = run(flowc()
        .current_dir(scratch.path())
        .arg("preview")
        .arg(&template)
        .args(["--data", "rows.csv", "--row", "3"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("row 3 of rows.csv"),
        "stderr names the row and the file: {}",
        outcome.stderr
    );
    let page = std::fs::read_to_string(scratch.path().join("t.preview.html")).expect("the page");
    assert!(
        page.contains("row 3 of rows.csv"),
        "the page names the row and the file"
    );
}

#[test]
fn a_row_that_is_not_there_is_told_the_rows_the_file_has() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref\nFirst,+14155550100,1\nSecond,+14155550101,2\n",
    );
    let outcome = run(flowc()
        .arg("preview")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "1", "--out", "-"]));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("there is no row 1"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("rows 2 to 3"), "{}", outcome.stderr);
}

/// `preview` ends a template alike with the other commands: one that cannot be read is a file to
/// fix (2), one that is not valid YAML an invalid template (1).
#[test]
fn preview_exits_for_a_template_as_render_does() {
    let scratch = Scratch::new();
    let broken = scratch.write("broken.yaml", "name: [unclosed\n");
    for template in [scratch.path().join("missing.yaml"), broken] {
        let preview = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
        let render = run(flowc().arg("render").arg(&template));
        assert_ne!(preview.code, 0, "{}", preview.stderr);
        assert_eq!(preview.code, render.code, "{}\n{}", preview.stderr, render.stderr);
    }
    let missing = run(flowc()
        .arg("preview")
        .arg(scratch.path().join("missing.yaml"))
        .args(["--out", "-"]));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
}

/// A template message is drawn from its approved template: the approved header and body with
/// the row's values put in, the approved footer, the FLOW button's label, and the screen the
/// button opens with the message's `flow_action_data`.
#[test]
fn a_template_message_is_drawn_from_its_approved_text_with_the_row_values_and_the_screen_it_opens() {
    let scratch = Scratch::new();
    let template = repo().join("templates/service-booking-template.yaml");
    let data = scratch.write(
        "rows.csv",
        "name,phone,city,due_date,customer_id\nMeera *Iyer*,+919876543210,Kochi,5 January,C-7\n",
    );
    let outcome = run(flowc()
        .arg("preview")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "2", "--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let page = &outcome.stdout;
    for drawn in [
        "<div class=\"header\">Hi Meera <strong>Iyer</strong>, your service is due</div>",
        "<div class=\"body\">Pick a slot at our Kochi centre before 5 January.</div>",
        "<div class=\"footer\">Reply STOP to opt out</div>",
        "<span>Book a slot</span>",
        "SLOT_PICKER",
    ] {
        assert!(page.contains(drawn), "{drawn}: {page}");
    }
}

/// Without its approved template, a template message's values are drawn as they are given,
/// and a value over its rule marks its part of the phone.
#[test]
fn a_template_message_without_its_approved_template_shows_its_values_and_marks_a_bad_one() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        "messaging_object:\n  to: \"+14155550100\"\n  type: template\n  template:\n    name: booking\n    language: { code: en_US }\n    components:\n      - type: body\n        parameters:\n          - { type: text, text: \"Pune\" }\n          - { type: text, text: \"too     far\" }\n      - type: button\n        sub_type: flow\n        index: \"0\"\n        parameters:\n          - { type: action, action: { flow_token: \"t-1\" } }\n",
    );
    let outcome = run(flowc().arg("preview").arg(&template).args(["--out", "-"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .contains("<div class=\"body marked-error\"><span class=\"values\">body values: Pune · too     far</span>"),
        "{}",
        outcome.stdout
    );
    assert!(
        marks(&outcome.stdout)
            .iter()
            .any(|mark| mark.contains("4 spaces in a row")),
        "{}",
        outcome.stdout
    );
}
