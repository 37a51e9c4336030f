//! Messages that tell a newcomer what went wrong in their own terms: the data column behind a
//! row's finding, phone numbers as spreadsheets mangle them, YAML and handlebars slips.

use serde_json::Value;

use crate::support::{flowc, render, run, Outcome, Scratch, BASE_TEMPLATE};

/// Asserts exit 1, nothing on stdout and every fragment on stderr.
fn assert_refused(outcome: &Outcome, expected: &[&str]) {
    assert_eq!(outcome.code, 1, "exit code; stderr:\n{}", outcome.stderr);
    assert_eq!(outcome.stdout, "", "nothing on stdout");
    for fragment in expected {
        assert!(
            outcome.stderr.contains(fragment),
            "stderr lacks `{fragment}`:\n{}",
            outcome.stderr
        );
    }
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
}

/// `flowc check --format json` over the base template and a CSV file: its findings.
fn json_findings(scratch: &Scratch, csv: &str, extra: &[&str]) -> Vec<Value> {
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", csv);
    let outcome = run(flowc()
        .arg("check")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--format", "json"])
        .args(extra));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON finding a line"))
        .collect()
}

/// Renders the base template over a CSV file.
fn render_csv(scratch: &Scratch, csv: &str) -> Outcome {
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", csv);
    run(flowc().arg("render").arg(&template).arg("--data").arg(&data))
}

#[test]
fn a_row_finding_names_the_column_that_fed_the_value() {
    let scratch = Scratch::new();
    let csv = format!("name,phone,ref\nA,12345,1\n{},+14155550100,2\n", "N".repeat(60));
    let outcome = render_csv(&scratch, &csv);
    for fragment in [
        "rows.csv row 2, column `phone`: `to`",
        "t.yaml:8:7",
        "rows.csv row 3, column `name`: `interactive.header.text` is 63 characters long",
        "t.yaml:10:21",
    ] {
        assert!(
            outcome.stderr.contains(fragment),
            "lacks `{fragment}`:\n{}",
            outcome.stderr
        );
    }
    let findings = json_findings(&scratch, &csv, &[]);
    let at = |row: u64| {
        findings
            .iter()
            .find(|finding| finding["row"] == row)
            .unwrap_or_else(|| panic!("a finding for row {row}: {findings:?}"))
    };
    assert_eq!(at(2)["column_name"], "phone");
    assert_eq!((at(2)["line"].clone(), at(2)["column"].clone()), (8.into(), 7.into()));
    assert_eq!(at(3)["column_name"], "name");
    assert_eq!(at(3)["pointer"], "/messaging_object/interactive/header/text");
}

#[test]
fn a_value_set_by_var_or_made_of_several_variables_names_no_column() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", "name,phone,ref\nA,+14155550100,1\n");
    let long_ref = format!("ref={}", "R".repeat(300));
    let outcome = run(flowc()
        .arg("render")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--var", &long_ref]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 2: extra_info.ref has 300 characters"),
        "{}",
        outcome.stderr
    );

    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE.replace("Your slot in {{city}} is ready.", "{{name}} in {{city}}"),
    );
    let data = scratch.write(
        "rows.csv",
        format!("name,phone,ref\n{},+14155550100,1\n", "N".repeat(1030)),
    );
    let outcome = run(flowc().arg("render").arg(&template).arg("--data").arg(&data));
    assert!(
        outcome.stderr.contains("rows.csv row 2: `interactive.body.text` is"),
        "{}",
        outcome.stderr
    );
}
