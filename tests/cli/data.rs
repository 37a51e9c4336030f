//! Data files: every format, streaming order, stdin, --fail-fast and a closed pipe.

use std::process::Stdio;

use serde_json::json;

use crate::support::{bodies, flowc, flowc_process, run, Scratch, BASE_TEMPLATE};

fn render_data(scratch: &Scratch, name: &str, contents: &str) -> crate::support::Outcome {
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(name, contents);
    run(flowc().arg("render").arg(&template).arg("--data").arg(&data))
}

fn refs(stdout: &str) -> Vec<serde_json::Value> {
    bodies(stdout)
        .iter()
        .map(|body| body["extra_info"]["ref"].clone())
        .collect()
}

#[test]
fn csv_with_bom_and_extra_columns() {
    let scratch = Scratch::new();
    let outcome = render_data(
        &scratch,
        "rows.csv",
        "\u{feff}name,phone,ref,unused\nA,+14155550100,1,x\n",
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(refs(&outcome.stdout), [json!("1")]);
    assert_eq!(outcome.stderr, "1 row rendered, 0 failed\n");
}

#[test]
fn json_array_keeps_types_in_lone_variables() {
    let scratch = Scratch::new();
    let template = scratch.write(
        "t.yaml",
        BASE_TEMPLATE
            .replace(
                "data: { who: \"{{name}}\" }",
                "data: { who: \"{{name}}\", n: \"{{n}}\" }",
            )
            .replace(
                "city: { default: \"Pune\" }",
                "city: { default: \"Pune\" }\n  n: { example: 1 }",
            )
            .replace("flow_token: \"tok-{{ref}}\"", "flow_token: \"tok-{{n}}\""),
    );
    let data = scratch.write(
        "rows.json",
        r#"[{"name": "A", "phone": "+14155550100", "ref": "1", "n": 7}, {"name": "B", "phone": "+14155550101", "ref": "2", "n": {"id": 8}}]"#,
    );
    let outcome = run(flowc().arg("render").arg(&template).arg("--data").arg(&data));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let bodies = bodies(&outcome.stdout);
    let data = |i: usize| {
        bodies[i]["messaging_object"]["interactive"]["action"]["parameters"]["flow_action_payload"]["data"]["n"].clone()
    };
    assert_eq!(data(0), json!(7));
    assert_eq!(data(1), json!({"id": 8}));
    // Inside text, a number is written as handlebars writes it.
    assert_eq!(
        bodies[0]["messaging_object"]["interactive"]["action"]["parameters"]["flow_token"],
        "tok-7"
    );
}

#[test]
fn yaml_list_of_maps() {
    let scratch = Scratch::new();
    let outcome = render_data(
        &scratch,
        "rows.yaml",
        "- {name: \"A: colon\", phone: \"+14155550100\", ref: \"1\"}\n- name: B\n  phone: \"+1 415 555 0101\"\n  ref: \"2\"\n",
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(refs(&outcome.stdout), [json!("1"), json!("2")]);
    assert_eq!(
        bodies(&outcome.stdout)[0]["messaging_object"]["interactive"]["header"]["text"],
        "Hi A: colon"
    );
}

#[test]
fn csv_from_stdin() {
    let outcome = run(flowc()
        .args(["render", "templates/service-booking.yaml", "--data", "-"])
        .write_stdin("name,phone,customer_id\nA,+14155550100,C-9\n"));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let bodies = bodies(&outcome.stdout);
    assert_eq!(bodies[0]["extra_info"]["ref"], "C-9");
}

#[test]
fn var_applies_to_every_row() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("rows.csv", "name,phone,ref\nA,+14155550100,1\nB,+14155550101,2\n");
    let outcome = run(flowc()
        .arg("render")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--var", "city=Goa"]));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    for body in bodies(&outcome.stdout) {
        assert_eq!(
            body["messaging_object"]["interactive"]["body"]["text"],
            "Your slot in Goa is ready."
        );
    }
}

#[test]
fn closed_output_pipe_is_a_quiet_success() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let mut csv = String::from("name,phone,ref\n");
    for i in 0..20_000 {
        csv.push_str(&format!("N{i},+14155550100,{i}\n"));
    }
    let data = scratch.write("rows.csv", csv);
    let mut child = flowc_process()
        .arg("render")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowc");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("some output");
    drop(stdout);
    let output = child.wait_with_output().expect("flowc ends");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

#[test]
fn a_column_of_another_name_is_mapped_to_a_variable_in_every_data_command() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write("export.csv", "Full Name;Phone Number;ref\nAsha;+91 98765 43210;1\n");
    let mapped = ["--column", "phone=Phone Number", "--column", "name=Full Name"];
    let outcome = run(flowc()
        .arg("render")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(mapped));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let body = &bodies(&outcome.stdout)[0];
    assert_eq!(body["messaging_object"]["to"], "+919876543210");
    assert!(body.to_string().contains("Asha"), "{body}");
    let outcome = run(flowc()
        .arg("check")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(mapped));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let page = scratch.path().join("row.html");
    let outcome = run(flowc()
        .arg("preview")
        .arg(&template)
        .arg("--data")
        .arg(&data)
        .args(["--row", "2", "--out"])
        .arg(&page)
        .args(mapped));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(std::fs::read_to_string(&page).expect("page").contains("Asha"));
    let lines = scratch.write(
        "export.jsonl",
        r#"{"Full Name": "Ravi", "Phone Number": "+14155550100", "ref": "2"}"#,
    );
    let outcome = run(flowc()
        .arg("render")
        .arg(&template)
        .arg("--data")
        .arg(&lines)
        .args(mapped));
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(bodies(&outcome.stdout)[0]["messaging_object"]["to"], "+14155550100");
}
