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

#[test]
fn a_number_with_a_country_code_but_no_plus_says_to_add_it() {
    // One row a file: repeated findings of one kind are drawn once (see one_pass.rs).
    for (phone, expected) in [
        (
            "919876543210",
            "rows.csv row 2, column `phone`: `to` has no `+`: write +919876543210",
        ),
        (
            "1 415 555 0100",
            "rows.csv row 2, column `phone`: `to` has no `+`: write +14155550100",
        ),
        (
            "9876543210",
            "rows.csv row 2, column `phone`: `to` has no country code (E.164 numbers start with `+`): `9876543210`",
        ),
        (
            "0044 20 7946 0000",
            "rows.csv row 2, column `phone`: `to` starts with the international prefix 00: write +442079460000",
        ),
    ] {
        let scratch = Scratch::new();
        let outcome = render_csv(&scratch, &format!("name,phone,ref\nA,{phone},1\n"));
        assert_refused(&outcome, &[expected, "t.yaml:8:7"]);
    }
}

#[test]
fn a_phone_number_in_scientific_notation_says_the_spreadsheet_did_it() {
    for (phone, expected) in [
        (
            "9.19876543210E+11",
            "rows.csv row 2, column `phone`: `to` `9.19876543210E+11`: the spreadsheet turned this number into scientific notation: format the column as text and export again",
        ),
        (
            "9.19877E+11",
            "rows.csv row 2, column `phone`: `to` `9.19877E+11`: the spreadsheet turned this number into scientific notation",
        ),
    ] {
        let scratch = Scratch::new();
        let outcome = render_csv(&scratch, &format!("name,phone,ref\nA,{phone},1\n"));
        assert_refused(&outcome, &[expected, "t.yaml:8:7"]);
        assert!(!outcome.stderr.contains("contains letters"), "{}", outcome.stderr);
        if phone == "9.19877E+11" {
            assert!(outcome.stderr.contains("shows only 6 of the number's 12 digits"), "{}", outcome.stderr);
        }
    }
}

#[test]
fn a_leading_apostrophe_is_refused_as_excels_text_marker() {
    let scratch = Scratch::new();
    let outcome = render_csv(&scratch, "name,phone,ref\nA,'+919876543210,1\n");
    assert_refused(
        &outcome,
        &[
            "rows.csv row 2, column `phone`: `to` `'+919876543210`: a leading apostrophe ' is Excel's text marker; remove it",
            "t.yaml:8:7",
        ],
    );
}

#[test]
fn a_tab_in_the_indentation_is_named_at_its_line() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "    footer: { text: \"Reply STOP to opt out\" }",
        "\tfooter: { text: \"Reply STOP to opt out\" }",
    )]);
    assert_refused(
        &render(&path),
        &[
            "a tab is not allowed for indentation in YAML: use spaces",
            "t.yaml:12:1",
            "indent with spaces only",
        ],
    );
}

#[test]
fn a_line_indented_unlike_its_neighbours_is_named_at_its_line() {
    let scratch = Scratch::new();
    for (indented, place) in [("      footer:", "t.yaml:12:7"), ("   footer:", "t.yaml:12:4")] {
        let path = scratch.template_with(&[("    footer:", indented)]);
        let outcome = render(&path);
        assert_refused(
            &outcome,
            &["this line is indented differently from the lines above it", place],
        );
        assert!(
            !outcome.stderr.contains("did not find expected key"),
            "{}",
            outcome.stderr
        );
    }
    let path = scratch.template_with(&[("        flow_cta:", "         flow_cta:")]);
    assert_refused(
        &render(&path),
        &[
            "this line is indented differently from the lines above it",
            "t.yaml:16:10",
        ],
    );
}

#[test]
fn an_unclosed_brace_is_named_where_it_opens() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("header: { text: \"Hi {{name}}\" }", "header: { text: \"Hi {{name}}\"")]);
    assert_refused(
        &render(&path),
        &[
            "`{` opened at 10:13 is never closed",
            "t.yaml:10:13",
            "add `}` where the mapping ends, e.g. at the end of line 10",
        ],
    );
    // Unclosed on the last mapping of the body, the parser stops at the next top-level key.
    let path = scratch.template_with(&[("data: { who: \"{{name}}\" }", "data: { who: \"{{name}}\"")]);
    assert_refused(&render(&path), &["`{` opened at 21:17 is never closed", "t.yaml:21:17"]);
}

#[test]
fn unbalanced_handlebars_braces_say_which_brace_is_missing() {
    let scratch = Scratch::new();
    for (written, place, message) in [
        (
            "{{city}",
            "t.yaml:11:33",
            "`{{city}` is missing a closing `}`: write `{{city}}`",
        ),
        (
            "{city}}",
            "t.yaml:11:33",
            "`{city}}` is missing an opening `{`: write `{{city}}`",
        ),
        (
            "{{city",
            "t.yaml:11:33",
            "`{{city` is missing its closing `}}`: write `{{city}}`",
        ),
        (
            "{{city}}}",
            "t.yaml:11:33",
            "`{{city}}}` has one `}` too many: write `{{city}}`",
        ),
    ] {
        let path = scratch.template_with(&[("{{city}} is ready", &format!("{written} is ready"))]);
        let outcome = render(&path);
        assert_refused(&outcome, &[message, place]);
        assert!(!outcome.stderr.contains("expected identifier"), "{}", outcome.stderr);
    }
}

#[test]
fn a_pasted_name_that_is_not_a_variable_says_how_to_name_one() {
    let scratch = Scratch::new();
    for written in ["{{Flow-ID}}", "{{Flow ID}}"] {
        let path = scratch.template_with(&[("flow_id: \"1234567890\"", &format!("flow_id: \"{written}\""))]);
        let outcome = render(&path);
        assert_refused(
            &outcome,
            &[
                &format!("`{written}` is not a variable name: use letters, digits and `_`"),
                "t.yaml:15:19",
                "write `{{flow_id}}` and declare it under `vars:`, e.g. `flow_id: { example: \"...\" }`",
            ],
        );
        assert!(!outcome.stderr.contains("unknown helper"), "{}", outcome.stderr);
    }
    // Declared already: the name to use.
    let path = scratch.template_with(&[
        ("flow_id: \"1234567890\"", "flow_id: \"{{Flow-ID}}\""),
        (
            "  ref: { example: \"R-1\" }",
            "  ref: { example: \"R-1\" }\n  flow_id: { example: \"1\" }",
        ),
    ]);
    assert_refused(&render(&path), &["did you mean `{{flow_id}}`?"]);
}

#[test]
fn a_header_of_another_type_says_only_text_headers_are_supported() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "header: { text: \"Hi {{name}}\" }",
        "header: { type: image, image: { link: \"https://example.com/a.png\" } }",
    )]);
    let outcome = render(&path);
    assert_refused(
        &outcome,
        &[
            "only text headers are supported in Flow messages; this header's `type` is \"image\"",
            "t.yaml:10:21",
            "write `header: { text: \"...\" }`",
        ],
    );
    assert!(!outcome.stderr.contains("fixed to"), "{}", outcome.stderr);
    let path = scratch.template_with(&[(
        "header: { text: \"Hi {{name}}\" }",
        "header: { video: { link: \"https://example.com/a.mp4\" } }",
    )]);
    assert_refused(
        &render(&path),
        &[
            "unknown field `video` in `interactive.header`: only text headers are supported in Flow messages",
            "t.yaml:10:15",
        ],
    );
}

#[test]
fn a_number_where_text_is_required_suggests_quoting_it() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_cta: \"Book now\"", "flow_cta: 123")]);
    let outcome = render(&path);
    assert_refused(
        &outcome,
        &[
            "`interactive.action.parameters.flow_cta` must be text, found the number 123: write \"123\" in quotes",
            "t.yaml:16:19",
        ],
    );
    // A number is not text, so it holds no emoji either.
    assert!(!outcome.stderr.contains("must not contain emoji"), "{}", outcome.stderr);
    let path = scratch.template_with(&[(
        "body: { text: \"Your slot in {{city}} is ready.\" }",
        "body: { text: 42 }",
    )]);
    assert_refused(
        &render(&path),
        &[
            "`interactive.body.text` must be text, found the number 42: write \"42\" in quotes",
            "t.yaml:11:19",
        ],
    );
}

#[test]
fn a_null_optional_field_says_to_leave_it_out() {
    let scratch = Scratch::new();
    for (written, place) in [("flow_token: null", "t.yaml:17:21"), ("flow_token:", "t.yaml:17:19")] {
        let path = scratch.template_with(&[("flow_token: \"tok-{{ref}}\"", written)]);
        assert_refused(
            &render(&path),
            &[
                "`interactive.action.parameters.flow_token` is null (no value): leave the field out, or give it a value",
                place,
            ],
        );
    }
    // A required field cannot be left out.
    let path = scratch.template_with(&[(
        "body: { text: \"Your slot in {{city}} is ready.\" }",
        "body: { text: null }",
    )]);
    let outcome = render(&path);
    assert_refused(&outcome, &["`interactive.body.text` must be text, found null"]);
    assert!(!outcome.stderr.contains("leave the field out"), "{}", outcome.stderr);
}
