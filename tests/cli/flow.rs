//! A template's Flow (`flow_json`): the Flow JSON file checked on its own, the message's
//! `flow_action_payload` checked against the screen it opens (once per template, and per data
//! row for holes), each rule failing once with its located message; the shipped templates and
//! their Flows; `flowc test` and `flowc preview` with a Flow.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{flowc, run, Outcome, Scratch, BASE_TEMPLATE};

/// A Flow that fits [`BASE_TEMPLATE`]: `START` declares `who`, `END` is terminal.
const FLOW: &str = r#"{
  "version": "7.1",
  "screens": [
    {
      "id": "START",
      "title": "Hello",
      "data": {
        "who": { "type": "string", "__example__": "Asha" }
      },
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          { "type": "TextHeading", "text": "${data.who}" },
          {
            "type": "Footer",
            "label": "Next",
            "on-click-action": { "name": "navigate", "next": { "type": "screen", "name": "END" }, "payload": {} }
          }
        ]
      }
    },
    {
      "id": "END",
      "title": "Done",
      "terminal": true,
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          { "type": "Footer", "label": "Finish", "on-click-action": { "name": "complete", "payload": {} } }
        ]
      }
    }
  ]
}
"#;

/// A template in `templates/` naming a Flow in `flows/`, in a scratch directory.
struct Case {
    scratch: Scratch,
    template: PathBuf,
}

impl Case {
    fn new(edits: &[(&str, &str)], flow: &str) -> Case {
        let scratch = Scratch::new();
        let mut text = BASE_TEMPLATE.replacen(
            "description: A test template\n",
            "description: A test template\nflow_json: ../flows/f.json\n",
            1,
        );
        for (from, to) in edits {
            assert!(text.contains(from), "the template has no `{from}`");
            text = text.replacen(from, to, 1);
        }
        let template = scratch.write("templates/t.yaml", text);
        scratch.write("flows/f.json", flow);
        Case { scratch, template }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.template).expect("the template")
    }

    /// `flowc check --format json`, run from the repository (not the template's folder).
    fn check(&self) -> (Outcome, Vec<Value>) {
        let outcome = run(flowc().arg("check").arg(&self.template).args(["--format", "json"]));
        let findings = findings(&outcome.stdout);
        (outcome, findings)
    }
}

fn findings(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("a JSON finding"))
        .collect()
}

/// The 1-based line of the first line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|line| line.contains(needle)).expect(needle) as u64 + 1
}

/// The one error of a run, checked to be where it should be.
fn only_error<'a>(findings: &'a [Value], file_ends: &str, line: u64) -> &'a Value {
    let errors: Vec<&Value> = findings.iter().filter(|f| f["severity"] == "error").collect();
    assert_eq!(errors.len(), 1, "{findings:#?}");
    let error = errors[0];
    assert!(
        error["file"].as_str().is_some_and(|file| file.ends_with(file_ends)),
        "{error:#}"
    );
    assert_eq!(error["line"], line, "{error:#}");
    error
}

fn message(finding: &Value) -> &str {
    finding["message"].as_str().unwrap_or_default()
}

fn help(finding: &Value) -> &str {
    finding["help"].as_str().unwrap_or_default()
}

/// The Flow location shown beside a template location.
fn related_line(finding: &Value) -> u64 {
    assert!(
        finding["related"][0]["file"]
            .as_str()
            .is_some_and(|file| file.ends_with("flows/f.json")),
        "{finding:#}"
    );
    finding["related"][0]["line"].as_u64().unwrap_or_default()
}

#[test]
fn a_template_and_its_flow_that_agree_pass() {
    let case = Case::new(&[], FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn the_shipped_templates_pass_with_their_flows() {
    let outcome = run(flowc().args(["check", "templates", "--format", "json"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    assert!(findings(&outcome.stdout).is_empty(), "{}", outcome.stdout);
    for name in ["service-booking", "appointment-booking"] {
        let text = std::fs::read_to_string(format!("templates/{name}.yaml")).expect("template");
        assert!(text.contains("flow_json: ../flows/"), "{name} names its Flow");
    }
}

#[test]
fn flow_json_is_read_from_the_template_folder_whatever_the_working_directory() {
    let case = Case::new(&[], FLOW);
    for cwd in [case.scratch.path().to_path_buf(), case.scratch.path().join("templates")] {
        let relative = case.template.strip_prefix(&cwd).expect("under the scratch directory");
        let outcome = run(flowc().current_dir(&cwd).arg("check").arg(relative));
        assert_eq!(outcome.code, 0, "from {}: {}", cwd.display(), outcome.stderr);
    }
}

#[test]
fn flow_json_never_enters_the_body() {
    let case = Case::new(&[], FLOW);
    let outcome = run(flowc().arg("render").arg(&case.template));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(!outcome.stdout.contains("flow_json") && !outcome.stdout.contains("f.json"));
    let plain = Scratch::new();
    let without = run(flowc().arg("render").arg(plain.template_with(&[])));
    assert_eq!(outcome.stdout, without.stdout, "the same body as without a Flow");
}

#[test]
fn a_missing_flow_file_is_an_error_naming_its_path() {
    let case = Case::new(&[("../flows/f.json", "../flows/gone.json")], FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 2, "an unreadable file: {}", outcome.stderr);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "flow_json:"));
    assert!(
        message(error).contains("flows/gone.json") && message(error).contains("no such file"),
        "{error:#}"
    );
}

#[test]
fn a_flow_file_that_is_not_json_is_located_in_the_flow() {
    let flow = FLOW.replacen("\"title\": \"Hello\",", "\"title\": \"Hello\"", 1);
    let case = Case::new(&[], &flow);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "\"title\": \"Hello\"") + 1);
    assert!(message(error).contains("is not valid JSON"), "{error:#}");
    assert!(message(error).contains("expected `,` or `}`"), "{error:#}");
}

#[test]
fn a_flow_needs_version_and_screens() {
    let flow = FLOW.replacen("  \"version\": \"7.1\",\n", "", 1);
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", 1);
    assert!(message(error).ends_with("has no `version`"), "{error:#}");

    let (outcome, findings) = Case::new(&[], "{\"version\": \"7.1\"}").check();
    assert_eq!(outcome.code, 1);
    assert!(message(only_error(&findings, "flows/f.json", 1)).ends_with("has no `screens`"));
}

#[test]
fn a_duplicated_screen_id_is_named_with_its_first_definition() {
    let flow = FLOW.replacen("\"id\": \"END\"", "\"id\": \"START\"", 1);
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let second = flow.match_indices("\"id\": \"START\"").nth(1).expect("twice").0;
    let line = flow[..second].matches('\n').count() as u64 + 1;
    let error = findings
        .iter()
        .find(|f| message(f).contains("duplicate"))
        .expect("a duplicate");
    assert_eq!(message(error), "duplicate screen id `START`");
    assert_eq!(error["line"], line);
    assert_eq!(related_line(error), line_of(&flow, "\"id\": \"START\""));
}

#[test]
fn a_screen_id_must_be_letters_and_underscores_and_not_success() {
    let flow = FLOW.replace("\"END\"", "\"END-2\"");
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "\"id\": \"END-2\""));
    assert_eq!(message(error), "screen id `END-2` may hold only letters and `_`");

    let flow = FLOW.replace("\"END\"", "\"SUCCESS\"");
    let (_, findings) = Case::new(&[], &flow).check();
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "\"id\": \"SUCCESS\""));
    assert!(message(error).contains("`SUCCESS` is reserved"), "{error:#}");
}

#[test]
fn a_routing_model_naming_a_missing_screen_is_named() {
    let flow = FLOW.replacen(
        "  \"screens\": [",
        "  \"data_api_version\": \"3.0\",\n  \"routing_model\": { \"START\": [\"ENDD\"], \"END\": [] },\n  \"screens\": [",
        1,
    );
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "routing_model"));
    assert_eq!(
        message(error),
        "`routing_model` names `ENDD`, which is not a screen of ".to_owned()
            + error["file"].as_str().unwrap_or_default()
    );
    assert_eq!(help(error), "did you mean `END`?");
}

#[test]
fn an_undeclared_data_reference_is_named_with_the_flow_file() {
    let flow = FLOW.replacen("\"${data.who}\"", "\"`'Hi ' ${data.whom}`\"", 1);
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "${data.whom}"));
    assert!(
        message(error).starts_with("`${data.whom}` is used on screen `START` of ")
            && message(error).contains("flows/f.json"),
        "{error:#}"
    );
    assert_eq!(help(error), "did you mean `who`?");
    // The caret is on the reference itself.
    let column = flow
        .lines()
        .nth(line_of(&flow, "${data.whom}") as usize - 1)
        .expect("line")
        .find("${data.whom}")
        .expect("col");
    assert_eq!(error["column"], column as u64 + 1);
}

#[test]
fn a_flow_needs_a_terminal_screen() {
    let flow = FLOW.replacen("      \"terminal\": true,\n", "", 1);
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "\"screens\""));
    assert!(message(error).starts_with("no screen of ") && message(error).ends_with("is terminal"));
}

#[test]
fn declared_types_are_known_and_examples_match_them() {
    let flow = FLOW.replacen(
        "\"type\": \"string\", \"__example__\": \"Asha\"",
        "\"type\": \"sting\"",
        1,
    );
    let (outcome, findings) = Case::new(&[], &flow).check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "sting"));
    assert_eq!(message(error), "`who` on screen `START` has the unknown type `sting`");
    assert_eq!(help(error), "did you mean `string`?");

    let flow = FLOW.replacen("\"__example__\": \"Asha\"", "\"__example__\": 7", 1);
    let (_, findings) = Case::new(&[], &flow).check();
    let error = only_error(&findings, "flows/f.json", line_of(&flow, "\"__example__\": 7"));
    assert!(message(error).contains("`__example__` of `who`"), "{error:#}");
}

#[test]
fn an_unknown_screen_suggests_the_nearest_at_the_template_line() {
    let case = Case::new(&[("screen: START", "screen: STRAT")], FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "screen: STRAT"));
    assert!(message(error).starts_with("`flow_action_payload.screen` names `STRAT`, which is not a screen of "));
    assert_eq!(help(error), "did you mean `START`?");
    assert_eq!(related_line(error), line_of(FLOW, "\"screens\""));
}

#[test]
fn without_a_screen_the_entry_screen_is_used_and_named() {
    // The entry screen is the one no `navigate` leads to, whatever the order of the screens.
    let start = FLOW.find("    {\n      \"id\": \"START\"").expect("START");
    let end = FLOW.find("    {\n      \"id\": \"END\"").expect("END");
    let close = FLOW.rfind("\n  ]").expect("the end of the screens");
    let reordered = format!(
        "{}{},\n{}{}",
        &FLOW[..start],
        &FLOW[end..close],
        FLOW[start..end].trim_end().trim_end_matches(','),
        &FLOW[close..]
    );
    let case = Case::new(&[("          screen: START\n", ""), ("who:", "whom:")], &reordered);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let unknown = findings
        .iter()
        .find(|f| message(f).contains("`flow_action_payload.data.whom` is not declared"))
        .expect("the unknown key");
    assert!(
        message(unknown)
            .contains("by the entry screen `START` (opened because `flow_action_payload.screen` is left out)"),
        "{unknown:#}"
    );
}

#[test]
fn an_undeclared_key_suggests_the_nearest() {
    let case = Case::new(&[("who:", "whoo:")], FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1);
    let text = case.text();
    let error = findings
        .iter()
        .find(|f| message(f).contains("is not declared"))
        .expect("the unknown key");
    assert_eq!(error["line"], line_of(&text, "whoo:"));
    assert!(message(error).starts_with("`flow_action_payload.data.whoo` is not declared by screen `START` of "));
    assert_eq!(help(error), "did you mean `who`?");
    assert_eq!(related_line(error), line_of(FLOW, "\"data\": {"));
}

#[test]
fn a_declared_key_the_message_does_not_give_is_named() {
    let flow = FLOW.replacen(
        "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" }",
        "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" },\n        \"city\": { \"type\": \"string\", \"__example__\": \"Pune\" }",
        1,
    );
    let case = Case::new(&[], &flow);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "data: { who"));
    assert!(message(error).starts_with("screen `START` of "));
    assert!(message(error).ends_with("declares `city`, but `flow_action_payload.data` does not give it"));
    assert_eq!(related_line(error), line_of(&flow, "\"city\""));
}

#[test]
fn a_constant_of_the_wrong_type_is_a_template_error() {
    let flow = FLOW.replacen(
        "\"type\": \"string\", \"__example__\": \"Asha\"",
        "\"type\": \"integer\", \"__example__\": 3",
        1,
    );
    let case = Case::new(&[("who: \"{{name}}\"", "who: 2.5")], &flow);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "who: 2.5"));
    assert!(
        message(error).starts_with("`flow_action_payload.data.who` must be a whole number, as screen `START` of ")
            && message(error).ends_with("declares it; found a number 2.5"),
        "{error:#}"
    );
    assert!(error["row"].is_null());
}

/// A Flow declaring a number and a list of slots, and a template filling them from holes.
fn typed_case() -> Case {
    let flow = FLOW.replacen(
        "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" }",
        "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" },\n        \"weeks\": { \"type\": \"number\", \"__example__\": 2 },\n        \"slots\": { \"type\": \"array\", \"items\": { \"type\": \"object\", \"properties\": { \"id\": { \"type\": \"string\" }, \"title\": { \"type\": \"string\" } } }, \"__example__\": [] }",
        1,
    );
    Case::new(
        &[
            (
                "  ref: { example: \"R-1\" }\n",
                "  ref: { example: \"R-1\" }\n  weeks: { default: 2 }\n  slots: { default: [] }\n",
            ),
            (
                "data: { who: \"{{name}}\" }",
                "data: { who: \"{{name}}\", weeks: \"{{weeks}}\", slots: \"{{slots}}\" }",
            ),
        ],
        &flow,
    )
}

#[test]
fn a_typed_hole_is_checked_per_row_with_the_row_number() {
    let case = typed_case();
    let data = case.scratch.write(
        "rows.json",
        r#"[{"name": "A", "phone": "+14155550100", "ref": "1", "weeks": 3},
            {"name": "B", "phone": "+14155550101", "ref": "2", "weeks": "3"},
            {"name": "C", "phone": "+14155550102", "ref": "3", "weeks": 4.5, "slots": [{"id": "a", "title": "9:00"}]},
            {"name": "D", "phone": "+14155550103", "ref": "4", "slots": [{"id": "a", "title": "9:00"}, {"id": "b", "title": 10}]}]"#,
    );
    let outcome = run(flowc()
        .arg("check")
        .arg(&case.template)
        .arg("--data")
        .arg(&data)
        .args(["--format", "json"]));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("rows.json: 2 rows valid, 2 invalid"),
        "{}",
        outcome.stderr
    );
    let found = findings(&outcome.stdout);
    assert_eq!(found.len(), 2, "{found:#?}");
    let text = case.text();
    assert_eq!(found[0]["row"], 2);
    assert_eq!(found[0]["line"], line_of(&text, "weeks: \"{{weeks}}\""));
    assert!(
        message(&found[0]).ends_with(
            &("row 2: `flow_action_payload.data.weeks` must be a number, as screen `START` of ".to_owned()
                + found[0]["related"][0]["file"].as_str().unwrap_or_default()
                + " declares it; found text \"3\"")
        ),
        "{:#}",
        found[0]
    );
    assert!(help(&found[0]).contains("CSV and --var values are text"));
    assert_eq!(found[1]["row"], 4);
    assert!(
        message(&found[1]).contains("`flow_action_payload.data.slots[1].title` must be text"),
        "{:#}",
        found[1]
    );
    assert!(message(&found[1]).ends_with("found a number 10"));
}

#[test]
fn render_and_send_count_the_row_that_does_not_fit_the_flow() {
    let case = typed_case();
    let data = case.scratch.write(
        "rows.jsonl",
        "{\"name\": \"A\", \"phone\": \"+14155550100\", \"ref\": \"1\", \"weeks\": 3}\n{\"name\": \"B\", \"phone\": \"+14155550101\", \"ref\": \"2\", \"weeks\": true}\n",
    );
    let outcome = run(flowc().arg("render").arg(&case.template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout.lines().count(), 1, "the good row is rendered");
    assert!(outcome
        .stderr
        .contains("rows.jsonl row 2: `flow_action_payload.data.weeks` must be a number"));
    assert!(
        outcome.stderr.contains("1 row rendered, 1 failed"),
        "{}",
        outcome.stderr
    );

    let outcome = run(flowc()
        .arg("send")
        .arg(&case.template)
        .arg("--data")
        .arg(&data)
        .arg("--dry-run")
        .env_remove("KALEYRA_API_KEY"));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("row 2: `flow_action_payload.data.weeks` must be a number"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("dry run: 1 would be sent now, 1 invalid"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_hole_whose_value_is_a_number_satisfies_type_number() {
    let case = typed_case();
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 0, "the default 2 is a number: {}", outcome.stderr);
    assert!(findings.is_empty());
    let data = case.scratch.write(
        "rows.yaml",
        "- { name: A, phone: \"+14155550100\", ref: \"1\", weeks: 7 }\n",
    );
    let outcome = run(flowc().arg("render").arg(&case.template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(outcome.stdout.contains("\"weeks\":7"), "{}", outcome.stdout);
}

#[test]
fn data_exchange_with_a_flow_without_an_endpoint_warns() {
    let case = Case::new(
        &[
            ("flow_action: navigate", "flow_action: data_exchange"),
            (
                "        flow_action_payload:\n          screen: START\n          data: { who: \"{{name}}\" }\n",
                "",
            ),
        ],
        FLOW,
    );
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 0, "a warning: {}", outcome.stderr);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["severity"], "warning");
    assert_eq!(findings[0]["line"], line_of(&case.text(), "flow_action: data_exchange"));
    assert!(message(&findings[0]).contains("declares no `data_api_version`"));

    let endpoint = FLOW.replacen(
        "  \"screens\": [",
        "  \"data_api_version\": \"3.0\",\n  \"routing_model\": { \"START\": [\"END\"], \"END\": [] },\n  \"screens\": [",
        1,
    );
    std::fs::write(case.scratch.path().join("flows/f.json"), endpoint).expect("write");
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(findings.is_empty(), "{findings:#?}");
}

/// An endpoint Flow as Meta documents it: a routing model, a Form with `init-values` from
/// `${data.…}`, `${form.…}` in action payloads, documented component properties, and keys of
/// later screens that the endpoint fills.
const ENDPOINT_FLOW: &str = r#"{
  "version": "7.1",
  "data_api_version": "3.0",
  "routing_model": { "START": ["PICK"], "PICK": ["END"], "END": [] },
  "screens": [
    {
      "id": "START",
      "title": "Hello",
      "data": { "who": { "type": "string", "__example__": "Asha" } },
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          {
            "type": "Form",
            "name": "form",
            "init-values": { "name": "${data.who}" },
            "children": [
              { "type": "TextInput", "name": "name", "label": "Name", "input-type": "text", "helper-text": "As on your ID", "required": true },
              { "type": "Footer", "label": "Next", "on-click-action": { "name": "data_exchange", "payload": { "name": "${form.name}", "who": "${data.who}" } } }
            ]
          }
        ]
      }
    },
    {
      "id": "PICK",
      "title": "Pick",
      "data": {
        "slots": { "type": "array", "items": { "type": "object", "properties": { "id": { "type": "string" }, "title": { "type": "string" } } }, "__example__": [{ "id": "a", "title": "9:00" }] }
      },
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          { "type": "Dropdown", "name": "slot", "label": "Slot", "data-source": "${data.slots}", "required": true },
          { "type": "Footer", "label": "Next", "on-click-action": { "name": "data_exchange", "payload": { "slot": "${form.slot}" } } }
        ]
      }
    },
    {
      "id": "END",
      "title": "Done",
      "terminal": true,
      "success": true,
      "data": { "summary": { "type": "string", "__example__": "9:00" } },
      "layout": {
        "type": "SingleColumnLayout",
        "children": [
          { "type": "TextBody", "text": "${data.summary}" },
          { "type": "Footer", "label": "Done", "on-click-action": { "name": "complete", "payload": {} } }
        ]
      }
    }
  ]
}
"#;

#[test]
fn an_endpoint_flow_opened_with_navigate_is_fine() {
    let (outcome, findings) = Case::new(&[], ENDPOINT_FLOW).check();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_renamed_screen_makes_flowc_test_fail_at_the_template_line() {
    let case = Case::new(&[], FLOW);
    let templates = case.scratch.path().join("templates");
    let outcome = run(flowc().arg("test").arg(&templates).arg("--accept"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let outcome = run(flowc().arg("test").arg(&templates));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);

    // The Flow's author renames the screen; the template still opens START.
    let renamed = FLOW.replace("\"START\"", "\"WELCOME\"");
    std::fs::write(case.scratch.path().join("flows/f.json"), renamed).expect("write");
    let outcome = run(flowc().arg("test").arg(&templates).args(["--format", "json"]));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let found = findings(&outcome.stdout);
    let error = only_error(&found, "templates/t.yaml", line_of(&case.text(), "screen: START"));
    assert!(
        message(error).contains("names `START`, which is not a screen of"),
        "{error:#}"
    );
    assert!(outcome.stdout.contains("0 passed") || outcome.stderr.contains("0 passed"));
    assert!(outcome.stdout.contains("1 failed") || outcome.stderr.contains("1 failed"));
}

#[test]
fn preview_draws_the_screen_the_button_opens_with_the_rows_data() {
    let flow = FLOW.replacen(
        "{ \"type\": \"TextHeading\", \"text\": \"${data.who}\" },",
        "{ \"type\": \"TextHeading\", \"text\": \"${data.who}\" },\n          { \"type\": \"TextBody\", \"text\": \"`'Welcome back, ' ${data.who} '.'`\" },\n          { \"type\": \"TextInput\", \"name\": \"email\", \"label\": \"Email\", \"input-type\": \"email\", \"helper-text\": \"For the receipt\" },\n          { \"type\": \"Dropdown\", \"name\": \"size\", \"label\": \"Size\", \"data-source\": [{ \"id\": \"s\", \"title\": \"Small\" }] },\n          { \"type\": \"RadioButtonsGroup\", \"name\": \"when\", \"label\": \"When\", \"data-source\": [{ \"id\": \"am\", \"title\": \"Morning\", \"description\": \"9 to 12\" }] },\n          { \"type\": \"CheckboxGroup\", \"name\": \"extras\", \"label\": \"Extras\", \"data-source\": [{ \"id\": \"w\", \"title\": \"Wash\" }] },\n          { \"type\": \"DatePicker\", \"name\": \"day\", \"label\": \"Day\" },",
        1,
    );
    let case = Case::new(&[], &flow);
    let data = case.scratch.write(
        "rows.csv",
        "name,phone,ref\nFirst,+14155550100,1\nZoë <b>,+14155550101,2\n",
    );
    let outcome = run(flowc()
        .arg("preview")
        .arg(&case.template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "3", "--out", "-"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let page = &outcome.stdout;
    let sheet = &page[page.find("<div class=\"opens\">").expect("the drawn screen")..];
    for expected in [
        "Tapping the button opens <b>START</b> of <code>../flows/f.json</code>",
        "<span class=\"sheet-title\">Hello</span>",
        "<div class=\"f-heading\">Zoë &lt;b&gt;</div>",
        "Welcome back, Zoë &lt;b&gt;.",
        "<span>Email <span class=\"f-optional\">(optional)</span></span>",
        "For the receipt",
        "<span>Size <span class=\"f-optional\">(optional)</span></span><span class=\"f-mark\">&#x25BE;</span>",
        "<span class=\"f-radio\"></span><div><div>Morning</div><div class=\"f-helper\">9 to 12</div>",
        "<span class=\"f-check\"></span><div><div>Wash</div>",
        "<span>Day <span class=\"f-optional\">(optional)</span></span><svg",
        "<div class=\"f-footer\">Next</div>",
    ] {
        assert!(sheet.contains(expected), "{expected}\n{sheet}");
    }
}

#[test]
fn a_hostile_flow_ends_in_a_bounded_list_of_findings_quickly() {
    // 100,000 distinct undeclared references in one string (1.3 MB), on one line.
    let references: Vec<String> = (0..100_000).map(|n| format!("${{data.k{n}}}")).collect();
    let flow = FLOW.replacen("\"${data.who}\"", &format!("\"{}\"", references.join(" ")), 1);
    let case = Case::new(&[], &flow);
    let started = std::time::Instant::now();
    let (outcome, findings) = case.check();
    let took = started.elapsed();
    assert_eq!(outcome.code, 1);
    assert_eq!(findings.len(), 101, "100 findings, then a count");
    // Each at its own column, however long the line.
    let line = flow.lines().find(|line| line.contains("${data.k0}")).expect("the line");
    let first = line.find("${data.k0}").expect("k0") + 1;
    let before: usize = references[..99].iter().map(|reference| reference.len() + 1).sum();
    assert_eq!(findings[99]["column"], (first + before) as u64);
    assert!(
        message(&findings[100]).ends_with("has 99900 more problems"),
        "{:#}",
        findings[100]
    );
    assert!(took.as_secs() < 30, "took {took:?}");

    // Nesting deeper than the reader allows, and a directory instead of a file.
    let (outcome, findings) = Case::new(&[], &"[".repeat(100_000)).check();
    assert_eq!(outcome.code, 1);
    assert!(message(only_error(&findings, "flows/f.json", 1)).contains("nests deeper than 128 levels"));
    let case = Case::new(&[("../flows/f.json", "../flows")], FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 2);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "flow_json"));
    assert!(
        message(error).ends_with("it is a directory, not a regular file"),
        "{error:#}"
    );
}

#[test]
fn a_screen_chosen_per_row_is_checked_per_row() {
    let case = Case::new(
        &[
            (
                "  ref: { example: \"R-1\" }\n",
                "  ref: { example: \"R-1\" }\n  screen: { example: START }\n",
            ),
            ("screen: START", "screen: \"{{screen}}\""),
        ],
        FLOW,
    );
    let (outcome, examples) = case.check();
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(examples.is_empty(), "{examples:#?}");
    let data = case.scratch.write(
        "rows.csv",
        "name,phone,ref,screen\nA,+14155550100,1,START\nB,+14155550101,2,STRAT\nC,+14155550102,3,END\n",
    );
    let outcome = run(flowc()
        .arg("check")
        .arg(&case.template)
        .arg("--data")
        .arg(&data)
        .args(["--format", "json"]));
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("rows.csv: 1 row valid, 2 invalid"),
        "{}",
        outcome.stderr
    );
    let found = findings(&outcome.stdout);
    let text = case.text();
    assert_eq!(found[0]["row"], 3);
    assert_eq!(found[0]["line"], line_of(&text, "screen: \"{{screen}}\""));
    assert!(
        message(&found[0]).contains("names `STRAT`, which is not a screen of"),
        "{:#}",
        found[0]
    );
    assert_eq!(help(&found[0]), "did you mean `START`?");
    // END declares no `who`: the key the row gives is not END's.
    assert_eq!(found[1]["row"], 4);
    assert!(
        message(&found[1]).contains("`flow_action_payload.data.who` is not declared by screen `END`"),
        "{:#}",
        found[1]
    );
}

/// The (line, column) of each finding in `file`, in the order they are printed.
fn places_in(findings: &[Value], file_ends: &str) -> Vec<(u64, u64)> {
    findings
        .iter()
        .filter(|f| f["file"].as_str().is_some_and(|file| file.ends_with(file_ends)))
        .map(|f| (f["line"].as_u64().unwrap_or(0), f["column"].as_u64().unwrap_or(0)))
        .collect()
}

#[test]
fn flow_findings_come_in_the_order_of_their_files() {
    // Found in this order: the unknown type on `END` (read with its screen) before the
    // undeclared reference on `START` (checked once every screen is known); the type of `who`
    // (declared first) before that of `n` (written first in the template).
    let flow = FLOW
        .replacen("\"${data.who}\"", "\"${data.whom}\"", 1)
        .replacen(
            "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" }",
            "\"who\": { \"type\": \"string\", \"__example__\": \"Asha\" },\n        \"n\": { \"type\": \"integer\", \"__example__\": 3 }",
            1,
        )
        .replacen(
            "\"terminal\": true,",
            "\"terminal\": true,\n      \"data\": { \"x\": { \"type\": \"strnig\", \"__example__\": \"a\" } },",
            1,
        );
    let case = Case::new(&[("data: { who: \"{{name}}\" }", "data: { n: 2.5, who: 7 }")], &flow);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    let in_flow = places_in(&findings, "flows/f.json");
    let in_template = places_in(&findings, "templates/t.yaml");
    assert_eq!(in_flow.len(), 2, "{findings:#?}");
    assert_eq!(in_template.len(), 2, "{findings:#?}");
    let mut sorted = in_flow.clone();
    sorted.sort_unstable();
    assert_eq!(in_flow, sorted, "the Flow's findings in file order: {findings:#?}");
    let mut sorted = in_template.clone();
    sorted.sort_unstable();
    assert_eq!(
        in_template, sorted,
        "the template's findings in file order: {findings:#?}"
    );
}

#[test]
fn a_missing_flow_file_suggests_a_near_name_in_its_folder() {
    let case = Case::new(&[("../flows/f.json", "../flows/booking.jsn")], FLOW);
    case.scratch.write("flows/booking.json", FLOW);
    let (outcome, findings) = case.check();
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    let error = only_error(&findings, "templates/t.yaml", line_of(&case.text(), "flow_json:"));
    assert_eq!(help(error), "did you mean `../flows/booking.json`?", "{error:#}");
}
