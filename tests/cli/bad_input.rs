//! Every kind of bad input a user can give, one named test each: a clear message that says
//! what and where, a non-zero exit, nothing on stdout, no panic.

use crate::support::{bodies, flowc, render, run, Outcome, Scratch};

/// Asserts a template error: exit 1, empty stdout, every expected fragment on stderr.
fn assert_invalid(outcome: &Outcome, expected: &[&str]) {
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

fn assert_renders(outcome: &Outcome) -> serde_json::Value {
    assert_eq!(outcome.code, 0, "stderr:\n{}", outcome.stderr);
    serde_json::from_str(&outcome.stdout).expect("one JSON body")
}

#[test]
fn invalid_yaml_points_at_the_line() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("header: { text: \"Hi {{name}}\" }", "header: { text: \"Hi {{name}}\"")]);
    assert_invalid(&render(&path), &["`{` opened at 10:13 is never closed", "t.yaml:10:13"]);
}

#[test]
fn unquoted_colon_value_is_a_yaml_error_with_a_hint() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_cta: \"Book now\"", "flow_cta: Book: now")]);
    assert_invalid(&render(&path), &["invalid YAML", "t.yaml:16:", "must be quoted"]);
}

#[test]
fn duplicate_key_names_both_places() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "flow_cta: \"Book now\"",
        "flow_cta: \"Book now\"\n        flow_cta: \"Again\"",
    )]);
    assert_invalid(
        &render(&path),
        &["duplicate key `flow_cta`", "t.yaml:17:9", "first set on line 16"],
    );
}

#[test]
fn unknown_field_suggests_the_nearest_and_points_at_the_key() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("footer:", "foter:")]);
    assert_invalid(
        &render(&path),
        &[
            "unknown field `foter`",
            "t.yaml:12:5",
            "did you mean `footer`?",
            "/messaging_object/interactive/foter",
        ],
    );
}

#[test]
fn unknown_template_key_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("extra_info:", "extra_inf:")]);
    assert_invalid(
        &render(&path),
        &[
            "unknown template key `extra_inf`",
            "t.yaml:22:1",
            "did you mean `extra_info`?",
        ],
    );
}

#[test]
fn overridden_constant_points_at_it() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("  to: \"{{phone}}\"", "  to: \"{{phone}}\"\n  messaging_product: sms")]);
    assert_invalid(
        &render(&path),
        &["`messaging_product` is fixed to \"whatsapp\"", "\"sms\"", "t.yaml:9:22"],
    );
}

#[test]
fn constants_written_out_with_their_own_value_are_accepted() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "  to: \"{{phone}}\"",
        "  to: \"{{phone}}\"\n  messaging_product: whatsapp\n  type: interactive",
    )]);
    let body = assert_renders(&render(&path));
    assert_eq!(body["messaging_object"]["type"], "interactive");
}

#[test]
fn flow_message_version_as_a_number_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "flow_id: \"1234567890\"",
        "flow_id: \"1234567890\"\n        flow_message_version: 3",
    )]);
    assert_invalid(
        &render(&path),
        &[
            "`flow_message_version` is fixed to \"3\"",
            "sets it to 3",
            "t.yaml:16:31",
        ],
    );
}

/// For each limited field: the limit passes, one more fails at the template line.
#[test]
fn length_limits_at_and_over() {
    let cases = [
        (
            "header: { text: \"Hi {{name}}\" }",
            "header: { text: \"{}\" }",
            60,
            "interactive.header.text",
            10,
        ),
        (
            "body: { text: \"Your slot in {{city}} is ready.\" }",
            "body: { text: \"{}\" }",
            1024,
            "interactive.body.text",
            11,
        ),
        (
            "footer: { text: \"Reply STOP to opt out\" }",
            "footer: { text: \"{}\" }",
            60,
            "interactive.footer.text",
            12,
        ),
        (
            "flow_cta: \"Book now\"",
            "flow_cta: \"{}\"",
            30,
            "interactive.action.parameters.flow_cta",
            16,
        ),
    ];
    for (from, pattern, limit, field, line) in cases {
        let scratch = Scratch::new();
        let at_limit = pattern.replace("{}", &"é".repeat(limit));
        let path = scratch.template_with(&[(from, &at_limit)]);
        let outcome = render(&path);
        assert_eq!(outcome.code, 0, "{field} at {limit}: {}", outcome.stderr);
        let over = pattern.replace("{}", &"é".repeat(limit + 1));
        let path = scratch.template_with(&[(from, &over)]);
        assert_invalid(
            &render(&path),
            &[
                &format!("`{field}` is {} characters long; the limit is {limit}", limit + 1),
                &format!("t.yaml:{line}:"),
            ],
        );
    }
}

#[test]
fn long_cta_over_20_is_a_warning_not_an_error() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_cta: \"Book now\"", "flow_cta: \"Book your next service\"")]);
    let outcome = render(&path);
    assert_renders(&outcome);
    assert!(
        outcome.stderr.contains("flow_cta has 22 characters"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("t.yaml:16:"), "{}", outcome.stderr);
}

#[test]
fn required_var_without_example_cannot_render() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("name: { example: \"Asha\" }", "name: {}")]);
    assert_invalid(
        &render(&path),
        &["`name` has no `example` or `default`", "--var name=VALUE", "t.yaml:3:3"],
    );
    let outcome = run(flowc().arg("render").arg(&path).args(["--var", "name=Ravi"]));
    assert_eq!(
        assert_renders(&outcome)["messaging_object"]["interactive"]["header"]["text"],
        "Hi Ravi"
    );
}

#[test]
fn missing_required_var_in_a_row_names_it_and_the_row() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write(
        "rows.json",
        r#"[{"name": "A", "phone": "+14155550100", "ref": "1"}, {"phone": "+14155550100", "ref": "2"}]"#,
    );
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert_eq!(bodies(&outcome.stdout).len(), 1);
    assert!(
        outcome
            .stderr
            .contains("rows.json row 2, column `name`: required variable `name` is missing"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("1 row rendered, 1 failed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn undeclared_variable_is_found_at_its_column() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("\"Hi {{name}}\"", "\"Hi {{nmae}}\"")]);
    assert_invalid(
        &render(&path),
        &["undeclared variable `nmae`", "t.yaml:10:25", "did you mean `name`?"],
    );
    let outcome = run(flowc().arg("check").arg(&path));
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.contains("undeclared variable `nmae`"));
}

#[test]
fn undeclared_variable_inside_a_helper_is_found() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("\"Hi {{name}}\"", "\"Hi {{upper surname}}\"")]);
    assert_invalid(&render(&path), &["undeclared variable `surname`", "t.yaml:10:"]);
}

#[test]
fn unknown_helper_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("\"Hi {{name}}\"", "\"Hi {{shout name}}\"")]);
    assert_invalid(&render(&path), &["unknown helper `shout`", "t.yaml:10:"]);
}

#[test]
fn broken_handlebars_is_a_template_error() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("\"Hi {{name}}\"", "\"Hi {{#if name}}x\"")]);
    assert_invalid(&render(&path), &["invalid handlebars expression", "t.yaml:10:"]);
}

#[test]
fn empty_required_value_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write("rows.csv", "name,phone,ref\n   ,+14155550100,1\n");
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout, "");
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 2, column `name`: required variable `name` is empty"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn empty_optional_value_takes_the_default() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write("rows.csv", "name,phone,ref,city\nA,+14155550100,1,\n");
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        bodies(&outcome.stdout)[0]["messaging_object"]["interactive"]["body"]["text"],
        "Your slot in Pune is ready."
    );
}

#[test]
fn phone_without_plus_is_refused_never_guessed() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "phone: { example: \"+919876543210\" }",
        "phone: { example: \"9876543210\" }",
    )]);
    assert_invalid(
        &render(&path),
        &["has no country code", "`9876543210`", "t.yaml:8:7", "E.164"],
    );
}

#[test]
fn phone_with_letters_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "phone: { example: \"+919876543210\" }",
        "phone: { example: \"+91 98765 CALLME\" }",
    )]);
    assert_invalid(&render(&path), &["contains letters"]);
}

#[test]
fn phone_separators_are_removed_and_several_recipients_allowed() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "phone: { example: \"+919876543210\" }",
        "phone: { example: \"+91 (98765) 432-10, +1.415.555.0100\" }",
    )]);
    let body = assert_renders(&render(&path));
    assert_eq!(body["messaging_object"]["to"], "+919876543210,+14155550100");
}

#[test]
fn both_flow_id_and_flow_name_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[(
        "flow_id: \"1234567890\"",
        "flow_id: \"1234567890\"\n        flow_name: my_flow",
    )]);
    assert_invalid(&render(&path), &["exactly one of `flow_id` and `flow_name`", "t.yaml:"]);
}

#[test]
fn neither_flow_id_nor_flow_name_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_id: \"1234567890\"\n        ", "")]);
    assert_invalid(&render(&path), &["exactly one of `flow_id` and `flow_name`"]);
}

#[test]
fn wrong_flow_action_lists_the_allowed_values() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_action: navigate", "flow_action: navigat")]);
    assert_invalid(
        &render(&path),
        &[
            "`interactive.action.parameters.flow_action` must be one of navigate, data_exchange",
            "did you mean `navigate`?",
            "t.yaml:18:22",
        ],
    );
}

#[test]
fn wrong_mode_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_action: navigate", "flow_action: navigate\n        mode: test")]);
    assert_invalid(&render(&path), &["must be one of draft, published"]);
}

#[test]
fn data_exchange_with_a_payload_is_refused_at_the_payload() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_action: navigate", "flow_action: data_exchange")]);
    assert_invalid(
        &render(&path),
        &["only allowed with `flow_action: navigate`", "t.yaml:20:11"],
    );
}

#[test]
fn empty_data_object_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("data: { who: \"{{name}}\" }", "data: {}")]);
    assert_invalid(&render(&path), &["must be a non-empty mapping", "t.yaml:21:17"]);
}

#[test]
fn emoji_in_flow_cta_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_cta: \"Book now\"", "flow_cta: \"Book now 📅\"")]);
    assert_invalid(&render(&path), &["must not contain emoji", "t.yaml:16:19"]);
}

#[test]
fn keycap_emoji_in_flow_cta_is_refused() {
    // 1️⃣: a digit, U+FE0F and U+20E3; none of them is a pictograph.
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("flow_cta: \"Book now\"", "flow_cta: \"Book 1\u{FE0F}\u{20E3}\"")]);
    assert_invalid(&render(&path), &["must not contain emoji", "t.yaml:16:19"]);
}

#[test]
fn emoji_sequences_from_data_rows_in_flow_cta_are_refused() {
    // Rows take the per-row fast path, which checks the button label alone.
    let scratch = Scratch::new();
    let path = scratch.template_with(&[
        (
            "  ref: { example: \"R-1\" }\n",
            "  ref: { example: \"R-1\" }\n  cta: { example: \"Book\" }\n",
        ),
        ("flow_cta: \"Book now\"", "flow_cta: \"{{cta}}\""),
    ]);
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref,cta\n\
         A,+14155550100,1,Book now\n\
         B,+14155550101,2,Call #\u{FE0F}\u{20E3}\n\
         C,+14155550102,3,Book \u{A9}\u{FE0F}\n\
         D,+14155550103,4,Go \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}\n\
         E,+14155550104,5,Go \u{1F1EC}\u{1F1E7}\n\
         F,+14155550105,6,Hi \u{263A}\u{FE0F}\n",
    );
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let refs: Vec<_> = bodies(&outcome.stdout)
        .iter()
        .map(|b| b["extra_info"]["ref"].clone())
        .collect();
    assert_eq!(refs, ["1"], "{}", outcome.stderr);
    // One kind of finding: the first in full, all five counted.
    assert!(
        outcome
            .stderr
            .contains("error in 5 rows: `flow_cta` must not contain emoji (Meta refuses them in the button label)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("; rows 3, 4, 5, 6, 7 (the first"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("1 row rendered, 5 failed"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn missing_body_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("    body: { text: \"Your slot in {{city}} is ready.\" }\n", "")]);
    assert_invalid(
        &render(&path),
        &[
            "`interactive` is missing the required field `body`",
            "Required by Meta",
            "t.yaml:10:5",
        ],
    );
}

#[test]
fn header_without_text_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("header: { text: \"Hi {{name}}\" }", "header: {}")]);
    assert_invalid(&render(&path), &["missing the required field `text`"]);
}

#[test]
fn long_ref_is_cut_on_a_character_boundary_with_a_warning() {
    let scratch = Scratch::new();
    // 254 ASCII characters and then multi-byte ones: the cut lands inside the UTF-8 run.
    let long = format!("{}ééé", "r".repeat(254));
    let path = scratch.template_with(&[("ref: { example: \"R-1\" }", &format!("ref: {{ example: \"{long}\" }}"))]);
    let outcome = render(&path);
    let body = assert_renders(&outcome);
    let cut = body["extra_info"]["ref"].as_str().expect("ref");
    assert_eq!(cut.chars().count(), 255);
    assert_eq!(cut, format!("{}é", "r".repeat(254)));
    assert!(
        outcome.stderr.contains("extra_info.ref has 257 characters; cut to 255"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn ref_of_exactly_255_is_kept_without_warning() {
    let scratch = Scratch::new();
    let exact = "é".repeat(255);
    let path = scratch.template_with(&[("ref: { example: \"R-1\" }", &format!("ref: {{ example: \"{exact}\" }}"))]);
    let outcome = render(&path);
    assert_eq!(assert_renders(&outcome)["extra_info"]["ref"], exact.as_str());
    assert_eq!(outcome.stderr, "");
}

#[test]
fn unknown_wa_source_becomes_api_with_a_warning() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("wa_source: api", "wa_source: excel")]);
    let outcome = render(&path);
    assert_eq!(assert_renders(&outcome)["extra_info"]["wa_source"], "api");
    assert!(
        outcome
            .stderr
            .contains("wa_source `excel` is not one the provider knows"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("t.yaml:24:14"), "{}", outcome.stderr);
}

#[test]
fn csv_with_a_ragged_row_reports_it_and_renders_the_rest() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write(
        "rows.csv",
        "name,phone,ref\nA,+14155550100,1\nB,+14155550101\nC,+14155550102,3\n",
    );
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    let refs: Vec<_> = bodies(&outcome.stdout)
        .iter()
        .map(|b| b["extra_info"]["ref"].clone())
        .collect();
    assert_eq!(refs, ["1", "3"]);
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 3: the row has 2 fields but the header has 3"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("2 rows rendered, 1 failed"));
}

#[test]
fn csv_with_invalid_utf8_names_the_row_and_column() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write(
        "rows.csv",
        b"name,phone,ref\nA,+14155550100,1\n\xff\xfeB,+14155550101,2\n".as_slice(),
    );
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert_eq!(bodies(&outcome.stdout).len(), 1);
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 3, column `name`: the value is not UTF-8: byte 0xFF at position 1"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn csv_missing_a_column_is_refused_before_any_row() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write("rows.csv", "nmae,phone,ref\nA,+14155550100,1\n");
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout, "");
    assert!(
        outcome.stderr.contains("no column for the required variable `name`"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("did you mean `nmae`?"), "{}", outcome.stderr);
}

#[test]
fn csv_with_a_duplicate_column_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write("rows.csv", "name,phone,ref,name\nA,+14155550100,1,B\n");
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.contains("the column `name` twice"), "{}", outcome.stderr);
}

#[test]
fn data_values_come_out_exactly_as_given() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let tricky = "Say \"hi\": {{x}} & < > #1\nline two 🎉";
    let csv_value = format!("\"{}\"", tricky.replace('"', "\"\""));
    let data = scratch.write("rows.csv", format!("name,phone,ref\n{csv_value},+14155550100,1\n"));
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body = &bodies(&outcome.stdout)[0];
    assert_eq!(
        body["messaging_object"]["interactive"]["action"]["parameters"]["flow_action_payload"]["data"]["who"],
        tricky
    );
    assert_eq!(
        body["messaging_object"]["interactive"]["header"]["text"],
        format!("Hi {tricky}")
    );
}

#[test]
fn missing_template_file_is_a_usage_error() {
    let outcome = run(flowc().args(["render", "templates/no-such-template.yaml"]));
    assert_eq!(outcome.code, 2);
    assert_eq!(outcome.stdout, "");
    assert!(
        outcome
            .stderr
            .contains("cannot read template `templates/no-such-template.yaml`: no such file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn missing_data_file_is_a_usage_error() {
    let outcome = run(flowc().args(["render", "templates/service-booking.yaml", "--data", "nope.csv"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome
            .stderr
            .contains("cannot read data file `nope.csv`: no such file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unknown_data_format_is_a_usage_error() {
    let outcome = run(flowc().args(["render", "templates/service-booking.yaml", "--data", "Cargo.toml"]));
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("cannot tell the format of `Cargo.toml`"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn undeclared_var_flag_is_a_usage_error() {
    let outcome = run(flowc().args(["render", "templates/service-booking.yaml", "--var", "nmae=x"]));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("`nmae` is not declared"), "{}", outcome.stderr);
    assert!(outcome.stderr.contains("did you mean `name`?"), "{}", outcome.stderr);
}

#[test]
fn malformed_var_flag_is_a_usage_error() {
    let outcome = run(flowc().args(["render", "templates/service-booking.yaml", "--var", "name"]));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("expected KEY=VALUE"), "{}", outcome.stderr);
}

#[test]
fn template_that_is_not_a_mapping_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.write("t.yaml", "- just\n- a list\n");
    assert_invalid(
        &render(&path),
        &["a template must be a mapping, found a list", "t.yaml:1:1"],
    );
}

#[test]
fn empty_template_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.write("t.yaml", "# nothing here\n");
    assert_invalid(&render(&path), &["the file is empty", "t.yaml"]);
}

#[test]
fn template_that_is_not_utf8_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.write("t.yaml", b"description: \xff\n".as_slice());
    let outcome = render(&path);
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("not UTF-8"), "{}", outcome.stderr);
}

#[test]
fn bad_variable_declaration_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[("city: { default: \"Pune\" }", "city: { defualt: \"Pune\" }")]);
    assert_invalid(
        &render(&path),
        &[
            "unknown key `defualt` in the declaration of `city`",
            "did you mean `default`?",
            "t.yaml:5:11",
        ],
    );
}

#[test]
fn data_value_that_breaks_a_limit_is_reported_at_the_template_line() {
    let scratch = Scratch::new();
    let path = scratch.template_with(&[]);
    let data = scratch.write(
        "rows.csv",
        format!("name,phone,ref\n{},+14155550100,1\n", "N".repeat(60)),
    );
    let outcome = run(flowc().arg("render").arg(&path).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains(
            "rows.csv row 2, column `name`: `interactive.header.text` is 63 characters long; the limit is 60"
        ),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("t.yaml:10:21"), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("/messaging_object/interactive/header/text"),
        "{}",
        outcome.stderr
    );
}

/// The body's text as a block scalar: `header` is the block's header line and `lines` its
/// lines as written (indented under `text:`).
fn with_block_body(scratch: &Scratch, header: &str, lines: &str, crlf: bool) -> std::path::PathBuf {
    let text = crate::support::BASE_TEMPLATE.replacen(
        "    body: { text: \"Your slot in {{city}} is ready.\" }\n",
        &format!("    body:\n      text: {header}\n{lines}"),
        1,
    );
    let text = if crlf { text.replace('\n', "\r\n") } else { text };
    scratch.write("t.yaml", text)
}

#[test]
fn an_undeclared_variable_in_a_block_scalar_is_found_at_its_line_and_column() {
    let lines = "        Dear customer,\n        your slot in {{ctiy}} is ready.\n";
    // (header, lines, CRLF, where `{{ctiy}}` is)
    let cases = [
        ("|-", lines.to_owned(), false, "t.yaml:14:22"),
        ("|", lines.to_owned(), false, "t.yaml:14:22"),
        (">", lines.to_owned(), false, "t.yaml:14:22"),
        (">-", lines.to_owned(), false, "t.yaml:14:22"),
        ("|-", lines.to_owned(), true, "t.yaml:14:22"),
        ("|+  # kept as written", format!("\n{lines}\n"), false, "t.yaml:15:22"),
        (
            "|2-",
            format!("          Dear customer,\n{}", &lines[23..]),
            false,
            "t.yaml:14:22",
        ),
        (
            ">",
            "        Dear customer,\n\n          - an indented line\n        your slot in {{ctiy}} is ready.\n"
                .to_owned(),
            false,
            "t.yaml:16:22",
        ),
    ];
    for (header, lines, crlf, place) in cases {
        let scratch = Scratch::new();
        let path = with_block_body(&scratch, header, &lines, crlf);
        let outcome = render(&path);
        assert_invalid(&outcome, &["undeclared variable `ctiy`", &format!("{place}]")]);
    }
}

#[test]
fn a_variable_whose_place_is_not_exact_marks_its_whole_value() {
    // Folded across a line break: the value reads `{{ ctiy}}`, on no one line of the source.
    let scratch = Scratch::new();
    let path = with_block_body(
        &scratch,
        ">-",
        "        Dear customer, your slot in {{\n        ctiy}} is ready.\n",
        false,
    );
    assert_invalid(&render(&path), &["undeclared variable `ctiy`", "t.yaml:13:9]"]);
    // An escape makes the value shorter than what is written: the value's start.
    let path = scratch.template_with(&[(
        "\"Your slot in {{city}} is ready.\"",
        "\"Your slot\\u00e9 in {{ctiy}} is ready.\"",
    )]);
    assert_invalid(&render(&path), &["undeclared variable `ctiy`", "t.yaml:11:19]"]);
}
