//! `flowc check`: templates in CI, and the pre-flight of a campaign's data file.

use crate::support::{flowc, run, Scratch, BASE_TEMPLATE};

#[test]
fn checks_every_shipped_template_by_default() {
    let outcome = run(flowc().arg("check"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for name in [
        "appointment-booking",
        "feedback-survey",
        "lead-capture",
        "service-booking",
    ] {
        assert!(
            outcome.stdout.contains(&format!("ok    templates/{name}.yaml")),
            "{}",
            outcome.stdout
        );
    }
    assert!(
        outcome.stdout.ends_with("templates checked: 4 ok, 0 failed\n") || outcome.stdout.contains(" ok, 0 failed\n")
    );
}

#[test]
fn a_bad_template_fails_the_run_and_the_others_still_pass() {
    let scratch = Scratch::new();
    scratch.write("good.yaml", BASE_TEMPLATE);
    scratch.write("bad.yaml", BASE_TEMPLATE.replace("footer:", "foter:"));
    scratch.write("bad.fixtures.yaml", "not a template: [");
    let outcome = run(flowc().arg("check").arg(scratch.path()));
    assert_eq!(outcome.code, 1);
    assert!(outcome.stdout.contains("FAIL  "), "{}", outcome.stdout);
    assert!(outcome.stdout.contains("bad.yaml"));
    assert!(outcome.stdout.contains("ok    "));
    assert!(
        outcome.stdout.contains("2 templates checked: 1 ok, 1 failed"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stderr.contains("unknown field `foter`"));
}

#[test]
fn data_preflight_counts_valid_and_invalid_rows() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", "name,phone,ref\nA,+14155550100,1\nB,0044 20 7946 0000,2\n");
    let outcome = run(flowc().arg("check").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains(
            "rows.csv row 3, column `phone`: `to` starts with the international prefix 00: write +442079460000"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("rows.csv: 1 rows valid, 1 invalid"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stdout.contains("FAIL"));
}

#[test]
fn data_needs_exactly_one_template() {
    let outcome = run(flowc().args(["check", "templates", "--data", "tests/data/contacts.csv"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("--data needs exactly one template, found 4"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn missing_path_is_a_usage_error() {
    let outcome = run(flowc().args(["check", "no-such-dir"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("cannot read `no-such-dir`: no such file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn directory_without_templates_is_a_usage_error() {
    let scratch = Scratch::new();
    let outcome = run(flowc().arg("check").arg(scratch.path()));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("no templates found"));
}

#[test]
fn json_format_prints_one_object_per_finding_on_stdout() {
    let scratch = Scratch::new();
    let path = scratch.write("bad.yaml", BASE_TEMPLATE.replace("footer:", "foter:"));
    let outcome = run(flowc().arg("check").arg(&path).args(["--format", "json"]));
    assert_eq!(outcome.code, 1);
    let findings: Vec<serde_json::Value> = outcome
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
        .collect();
    assert_eq!(findings.len(), 1, "{}", outcome.stdout);
    let finding = &findings[0];
    assert_eq!(finding["file"], path.display().to_string());
    assert_eq!(finding["line"], 12);
    assert_eq!(finding["column"], 5);
    assert_eq!(finding["pointer"], "/messaging_object/interactive/foter");
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["message"], "unknown field `foter` in `interactive`");
    assert_eq!(finding["help"], "did you mean `footer`?");
    assert!(
        outcome.stderr.contains("FAIL"),
        "status lines go to stderr: {}",
        outcome.stderr
    );
}

#[test]
fn github_format_annotates_the_template_line() {
    let scratch = Scratch::new();
    let path = scratch.write("bad.yaml", BASE_TEMPLATE.replace("\"Hi {{name}}\"", "\"Hi {{nmae}}\""));
    let outcome = run(flowc().arg("check").arg(&path).args(["--format", "github"]));
    assert_eq!(outcome.code, 1);
    let expected = format!(
        "::error file={},line=10,col=25,title=flowc::undeclared variable `nmae`%0Ahelp: did you mean `name`?",
        path.display()
    );
    assert!(
        outcome.stdout.lines().any(|line| line == expected),
        "{}",
        outcome.stdout
    );
}

#[test]
fn github_format_marks_warnings_as_warnings() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "warn.yaml",
        BASE_TEMPLATE.replace("flow_cta: \"Book now\"", "flow_cta: \"Book your next service\""),
    );
    let outcome = run(flowc().arg("check").arg(&path).args(["--format", "github"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("::warning file="), "{}", outcome.stdout);
    assert!(outcome.stdout.contains(",line=16,col=19,"), "{}", outcome.stdout);
}
