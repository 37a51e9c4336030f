//! Every error in one pass: a template's independent problems reported together (compile
//! errors beside schema violations, an undeclared variable beside what it does not affect),
//! and a data file's repeated findings shown once in full, counted, and summed up.

use std::path::PathBuf;

use crate::support::{flowc, run, Scratch, BASE_TEMPLATE};

/// The diagnostics drawn in full on stderr (plain theme: `  x ` errors, `  ! ` warnings).
fn full_errors(stderr: &str) -> usize {
    stderr.lines().filter(|line| line.starts_with("  x ")).count()
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
        outcome.stderr.contains("contacts.csv: 9,000 rows valid, 1,000 invalid"),
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
        outcome.stderr.contains("(9,000 valid, 1,000 invalid)"),
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
