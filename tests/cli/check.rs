//! `flowc check`: templates in CI, and the pre-flight of a campaign's data file.

use crate::support::{flowc, run};

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
        outcome.stdout.ends_with("templates checked: 5 ok, 0 failed\n") || outcome.stdout.contains(" ok, 0 failed\n")
    );
}

#[test]
fn data_needs_exactly_one_template() {
    let outcome = run(flowc().args(["check", "templates", "--data", "tests/data/contacts.csv"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("--data needs exactly one template, found 5"),
        "{}",
        outcome.stderr
    );
}
