//! `flowc render`: the body for the examples, `--var`, and the command's own contract.

use serde_json::json;

use crate::support::{flowc, run, Scratch};

#[test]
fn renders_a_shipped_template_as_pretty_json() {
    let outcome = run(flowc().args(["render", "templates/service-booking.yaml"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(outcome.stderr, "");
    assert!(outcome.stdout.starts_with("{\n  \"messaging_object\": {\n"));
    let body: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(body["messaging_object"]["to"], "+919876543210");
    assert_eq!(
        body["messaging_object"]["interactive"]["header"]["text"],
        "Hi Asha Rao, your service is due"
    );
    assert_eq!(
        body["messaging_object"]["interactive"]["action"]["parameters"]["flow_message_version"],
        "3"
    );
}

#[test]
fn var_overrides_the_example_and_is_never_html_escaped() {
    let outcome = run(flowc().args([
        "render",
        "templates/service-booking.yaml",
        "--var",
        "name=Tom & Jerry <b>",
        "--var",
        "city=São Paulo",
    ]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(
        body["messaging_object"]["interactive"]["header"]["text"],
        "Hi Tom & Jerry <b>, your service is due"
    );
    assert_eq!(
        body["messaging_object"]["interactive"]["body"]["text"],
        "Pick a slot at our São Paulo centre."
    );
}

#[test]
fn a_lone_variable_keeps_the_type_of_its_default() {
    let outcome = run(flowc().args(["render", "templates/appointment-booking.yaml"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    let data = &body["messaging_object"]["interactive"]["action"]["parameters"]["flow_action_payload"]["data"];
    assert_eq!(data["weeks"], json!(2));
}

#[test]
fn helpers_upper_lower_trim_truncate_default() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "helpers.yaml",
        r#"vars:
  name: { example: "  Asha Rao  " }
  nick: { default: "" }
messaging_object:
  to: "+14155550100"
  interactive:
    header: { text: "{{upper (trim name)}}|{{lower name}}|{{truncate (trim name) 4}}" }
    body: { text: "Hi {{default nick 'friend'}}{{#if nick}}!{{/if}}" }
    action:
      parameters: { flow_id: "1", flow_cta: "Go" }
"#,
    );
    let outcome = run(flowc().arg("render").arg(&path));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(
        body["messaging_object"]["interactive"]["header"]["text"],
        "ASHA RAO|  asha rao  |Asha"
    );
    assert_eq!(body["messaging_object"]["interactive"]["body"]["text"], "Hi friend");
}

#[test]
fn each_block_over_a_list_value() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "list.yaml",
        r#"vars:
  items: { example: ["tea", "milk"] }
messaging_object:
  to: "+14155550100"
  interactive:
    body: { text: "You ordered: {{#each items}}{{this}}{{#unless @last}}, {{/unless}}{{/each}}" }
    action:
      parameters:
        flow_id: "1"
        flow_cta: "Go"
        flow_action_payload: { data: { items: "{{items}}" } }
"#,
    );
    let outcome = run(flowc().arg("render").arg(&template));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    assert_eq!(
        body["messaging_object"]["interactive"]["body"]["text"],
        "You ordered: tea, milk"
    );
    assert_eq!(
        body["messaging_object"]["interactive"]["action"]["parameters"]["flow_action_payload"]["data"]["items"],
        json!(["tea", "milk"])
    );
}

#[test]
fn help_shows_real_examples() {
    let outcome = run(flowc().args(["render", "--help"]));
    assert_eq!(outcome.code, 0);
    assert!(outcome
        .stdout
        .contains("flowc render templates/service-booking.yaml --data contacts.csv"));
    let outcome = run(flowc().args(["check", "--help"]));
    assert!(outcome
        .stdout
        .contains("flowc check templates/service-booking.yaml --data contacts.csv"));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let outcome = run(flowc().arg("rendr"));
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("render"), "{}", outcome.stderr);
}

#[test]
fn works_from_any_directory() {
    let scratch = Scratch::new();
    let template = crate::support::repo().join("templates/lead-capture.yaml");
    let outcome = run(flowc().current_dir(scratch.path()).arg("render").arg(&template));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
}
