//! Every shipped template's body, and a small data file's NDJSON, as reviewed snapshots: a
//! pull request that changes a payload shows the change.

use std::path::Path;

use crate::support::{flowc, run};

/// `NAME.fixtures.yaml` beside a template holds `flowc test` cases, not a template.
fn is_fixtures(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".fixtures.yaml")
}

#[test]
fn every_shipped_template() {
    insta::glob!("../../templates", "*.yaml", |path| {
        if is_fixtures(path) {
            return;
        }
        let outcome = run(flowc().arg("render").arg(path));
        assert_eq!(outcome.code, 0, "{}: {}", path.display(), outcome.stderr);
        insta::assert_snapshot!(outcome.stdout);
    });
}

#[test]
fn contacts_file_as_ndjson() {
    let outcome = run(flowc().args([
        "render",
        "templates/service-booking.yaml",
        "--data",
        "tests/data/contacts.csv",
    ]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    insta::assert_snapshot!(outcome.stdout);
}

#[test]
fn template_schema_describes_every_shipped_template() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/template.schema.json")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    insta::glob!("../../templates", "*.yaml", |path| {
        if is_fixtures(path) {
            return;
        }
        let text = std::fs::read_to_string(path).expect("template readable");
        let document = flowc::yaml::parse_document(&text).expect("template parses").to_json();
        let errors: Vec<String> = validator.iter_errors(&document).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    });
}
