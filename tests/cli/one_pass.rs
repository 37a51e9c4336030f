//! Every error in one pass: a template's independent problems reported together (compile
//! errors beside schema violations, an undeclared variable beside what it does not affect),
//! and a data file's repeated findings shown once in full, counted, and summed up.

use std::path::PathBuf;

use crate::support::{flowc, run, Scratch, BASE_TEMPLATE};

/// The diagnostics drawn in full on stderr (plain theme: `  x ` errors, `  ! ` warnings).
fn full_errors(stderr: &str) -> usize {
    stderr.lines().filter(|line| line.starts_with("  x ")).count()
}

fn full_warnings(stderr: &str) -> usize {
    stderr.lines().filter(|line| line.starts_with("  ! ")).count()
}

/// Five problems, none caused by another: a number without `+`, an unknown field, a header and
/// a footer over 60 characters, an emoji in the button.
fn five_errors(scratch: &Scratch) -> PathBuf {
    scratch.template_with(&[
        ("to: \"{{phone}}\"", "to: \"98765\"\n  colour: blue"),
        (
            "\"Hi {{name}}\"",
            "\"Hi {{name}}, this header is much too long for the sixty characters allowed\"",
        ),
        (
            "\"Reply STOP to opt out\"",
            "\"Reply STOP to opt out, or HELP for help, or anything else, really, at all\"",
        ),
        ("flow_cta: \"Book now\"", "flow_cta: \"Book now \u{1F4C5}\""),
    ])
}

#[test]
fn check_reports_five_independent_errors_in_one_run() {
    let scratch = Scratch::new();
    let template = five_errors(&scratch);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 5, "{}", outcome.stderr);
    for message in [
        "`to` has no country code (E.164 numbers start with `+`): `98765`",
        "unknown field `colour` in `messaging_object`",
        "`interactive.header.text` is 70 characters long; the limit is 60",
        "`interactive.footer.text` is 73 characters long; the limit is 60",
        "`flow_cta` must not contain emoji",
    ] {
        assert!(outcome.stderr.contains(message), "{message}: {}", outcome.stderr);
    }
    // In the order of the template, and the schema does not repeat the compile error on `to`.
    let at = |text: &str| outcome.stderr.find(text).unwrap_or(usize::MAX);
    assert!(at("`to` has no") < at("unknown field") && at("unknown field") < at("header.text"));
    assert!(!outcome.stderr.contains("`to` must be E.164"), "{}", outcome.stderr);
}

#[test]
fn json_lists_the_five_errors_with_their_lines() {
    let scratch = Scratch::new();
    let template = five_errors(&scratch);
    let outcome = run(flowc().arg("check").arg(&template).args(["--format", "json"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let lines: Vec<u64> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .map(|finding| finding["line"].as_u64().expect("a line"))
        .collect();
    assert_eq!(lines, [8, 9, 11, 13, 17], "{}", outcome.stdout);
}

#[test]
fn every_overridden_constant_and_a_bad_number_are_reported_together() {
    let scratch = Scratch::new();
    let template = scratch.template_with(&[
        ("to: \"{{phone}}\"", "to: \"+91 98765 ABCDE\"\n  type: text"),
        ("    action:\n", "    action:\n      name: button\n"),
    ]);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 3, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("`to` contains letters"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("`type` is fixed to \"interactive\" by the API"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("`name` is fixed to \"flow\" by the API"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_undeclared_variable_does_not_hide_a_header_over_its_limit() {
    let scratch = Scratch::new();
    let template = scratch.template_with(&[
        (
            "\"Your slot in {{city}} is ready.\"",
            "\"Your slot in {{cty}} is ready.\"",
        ),
        (
            "\"Hi {{name}}\"",
            "\"Hi {{name}}, this header is much too long for the sixty characters allowed\"",
        ),
    ]);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("undeclared variable `cty`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("`interactive.header.text` is 70 characters long; the limit is 60"),
        "{}",
        outcome.stderr
    );
}

/// Rendered with the undeclared variable empty, the header is already too long: any value can
/// only make it longer, so the limit is reported with the undeclared variable.
#[test]
fn a_header_too_long_even_without_its_undeclared_variable_is_reported_with_it() {
    let scratch = Scratch::new();
    let template = scratch.template_with(&[(
        "\"Hi {{name}}\"",
        "\"Hi {{nmae}}, this header is much too long for the sixty characters allowed\"",
    )]);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("undeclared variable `nmae`"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(
            "`interactive.header.text` is 66 characters long; the limit is 60 (counted with its undeclared variables empty)"
        ),
        "{}",
        outcome.stderr
    );
}

/// `to: "{{phne}}"` renders empty: "an empty recipient" would be about the placeholder, not
/// about what the fix will render.
#[test]
fn what_depends_on_an_undeclared_variable_is_left_out() {
    let scratch = Scratch::new();
    let template = scratch.template_with(&[("to: \"{{phone}}\"", "to: \"{{phne}}\"")]);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("undeclared variable `phne`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_value_that_fails_to_render_does_not_hide_the_rest() {
    let scratch = Scratch::new();
    let template = scratch.template_with(&[
        ("\"Hi {{name}}\"", "\"Hi {{truncate name \\\"x\\\"}}\""),
        (
            "\"Reply STOP to opt out\"",
            "\"Reply STOP to opt out, or HELP for help, or anything else, really, at all\"",
        ),
    ]);
    let outcome = run(flowc().arg("check").arg(&template));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 2, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("truncate"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("`interactive.footer.text` is 73"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_bad_row_reports_every_error_of_its_body() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let long_name = "N".repeat(70);
    let data = scratch.write("rows.csv", format!("name,phone,ref\n{long_name},98765,1\n"));
    let outcome = run(flowc().arg("check").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 2, column `phone`: `to` has no country code"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 2, column `name`: `interactive.header.text` is 73 characters long"),
        "{}",
        outcome.stderr
    );
}

/// 10,000 contacts, 1,000 of them with bad numbers scattered through the file, of two kinds.
fn contacts_with_bad_numbers(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let mut csv = String::from("name,phone,ref\n");
    for n in 0..10_000u32 {
        // Every tenth contact, shifted so the bad rows are not evenly spaced.
        let phone = match (n * 7 + n / 100) % 10 {
            0 if n % 3 == 0 => format!("+91 98765 A{n:04}"),
            0 => format!("98765{n:05}"),
            _ => format!("+9198765{n:05}"),
        };
        csv.push_str(&format!("C{n},{phone},R{n}\n"));
    }
    let bad = csv.lines().filter(|line| !line.contains(",+9198765")).count() - 1;
    assert_eq!(bad, 1_000, "the fixture has 1,000 bad numbers");
    (template, scratch.write("contacts.csv", csv))
}

#[test]
fn a_thousand_bad_numbers_print_each_kind_once_then_a_summary() {
    let scratch = Scratch::new();
    let (template, data) = contacts_with_bad_numbers(&scratch);
    let outcome = run(flowc().arg("check").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let lines = outcome.stderr.lines().count();
    assert!(lines <= 40, "{lines} lines:\n{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 2, "{}", outcome.stderr);
    let summary: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|line| line.starts_with("error in "))
        .collect();
    assert_eq!(summary.len(), 2, "{}", outcome.stderr);
    let no_plus = summary
        .iter()
        .find(|line| line.contains("has no country code"))
        .expect("a kind");
    let letters = summary
        .iter()
        .find(|line| line.contains("contains letters"))
        .expect("a kind");
    let count = |line: &str| -> u64 {
        line["error in ".len()..]
            .split(' ')
            .next()
            .expect("a count")
            .replace(',', "")
            .parse()
            .expect("a number")
    };
    assert_eq!(count(no_plus) + count(letters), 1_000, "{}", outcome.stderr);
    assert!(no_plus.contains(" at "), "the template location: {no_plus}");
    assert!(
        no_plus.contains("; rows ") && no_plus.contains(" more (the first shown in full above)"),
        "{no_plus}"
    );
    assert!(
        outcome.stderr.contains("contacts.csv: 9000 rows valid, 1000 invalid"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn json_keeps_every_finding_of_every_row() {
    let scratch = Scratch::new();
    let (template, data) = contacts_with_bad_numbers(&scratch);
    let outcome = run(flowc()
        .arg("check")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--format", "json"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let rows: std::collections::BTreeSet<u64> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .map(|finding| finding["row"].as_u64().expect("a row"))
        .collect();
    assert_eq!(outcome.stdout.lines().count(), 1_000);
    assert_eq!(rows.len(), 1_000);
    assert!(!outcome.stderr.contains("error in "), "{}", outcome.stderr);
}

#[test]
fn send_dry_run_prints_at_most_forty_lines_before_its_plan_and_reports_every_row() {
    let scratch = Scratch::new();
    let (template, data) = contacts_with_bad_numbers(&scratch);
    let outcome = run(flowc()
        .arg("send")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .arg("--dry-run")
        .env("KALEYRA_SID", "HXAP16XXXXXX97IN")
        .env("KALEYRA_API_KEY", "a-key")
        .env("KALEYRA_WHATSAPP_NUMBER", "+911234567890")
        .env("KALEYRA_BASE_URL", "http://127.0.0.1:9")
        .env_remove("KALEYRA_REGION"));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let before_plan: Vec<&str> = outcome
        .stderr
        .lines()
        .take_while(|line| !line.starts_with("template: "))
        .collect();
    assert!(
        before_plan.len() < outcome.stderr.lines().count(),
        "the plan: {}",
        outcome.stderr
    );
    assert!(
        before_plan.len() <= 40,
        "{} lines:\n{}",
        before_plan.len(),
        outcome.stderr
    );
    assert_eq!(
        before_plan.iter().filter(|line| line.starts_with("error in ")).count(),
        2,
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("(9000 valid, 1000 invalid)"),
        "{}",
        outcome.stderr
    );
    let report = std::fs::read_to_string(scratch.path().join("contacts.dry-run.report.csv")).expect("the report");
    assert_eq!(
        report.lines().filter(|line| line.contains("invalid")).count(),
        1_000,
        "every invalid row is in the report"
    );
}

#[test]
fn render_data_shows_a_repeated_finding_once_and_counts_it() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref\nA,98765,1\nB,+14155550100,2\nC,12345,3\nD,555,4\n",
    );
    let outcome = run(flowc().arg("render").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 2, column `phone`: `to` has no country code"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("error in 3 rows: `to` has no country code (E.164 numbers start with `+`) at "),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("; rows 2, 4, 5 (the first shown in full above)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("1 row rendered, 3 failed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn max_errors_caps_the_findings_shown_in_full() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let long_name = "N".repeat(70);
    let data = scratch.write(
        "rows.csv",
        format!("name,phone,ref\nA,98765,1\n{long_name},+14155550100,2\nC,+1 415 ABC,3\nD,555,4\n"),
    );
    let outcome = run(flowc()
        .arg("check")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--max-errors", "1"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("error in 2 rows: `to` has no country code (E.164 numbers start with `+`) at"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("error in 1 row: `interactive.header.text` is longer than its limit of 60 characters at"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("; row 3 (none shown in full: --max-errors 1)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("`to` contains letters at"),
        "{}",
        outcome.stderr
    );

    let outcome = run(flowc()
        .arg("check")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--max-errors", "0"]));
    assert_eq!(full_errors(&outcome.stderr), 0, "{}", outcome.stderr);
    assert_eq!(
        outcome
            .stderr
            .lines()
            .filter(|line| line.starts_with("error in "))
            .count(),
        3,
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_constant_warning_is_shown_once_and_counted_for_every_row() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE.replace("flow_cta: \"Book now\"", "flow_cta: \"Book your next service\""),
    );
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref\nA,+14155550100,1\nB,+14155550101,2\nC,+14155550102,3\n",
    );
    let outcome = run(flowc().arg("check").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    // The examples' body, then row 2 (a place of its own: a row), then the count.
    assert_eq!(full_warnings(&outcome.stderr), 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("warning in 3 rows: flow_cta has more than 20 characters"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unreadable_rows_are_grouped_too() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let mut csv = String::from("name,phone,ref\n");
    for n in 0..50 {
        csv.push_str(&format!("A{n},+14155550100\n"));
    }
    let data = scratch.write("rows.csv", csv);
    let outcome = run(flowc().arg("check").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert_eq!(full_errors(&outcome.stderr), 1, "{}", outcome.stderr);
    assert!(outcome.stderr.contains("error in 50 rows: "), "{}", outcome.stderr);
}
