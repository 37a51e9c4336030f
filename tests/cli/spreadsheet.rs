//! Data files as spreadsheets write them: other separators, other encodings, nothing in
//! them, or something that is not a file at all.

use serde_json::json;

use crate::support::campaign::Campaign;
use crate::support::provider::Provider;
use crate::support::{bodies, flowc, run, Outcome, Scratch, BASE_TEMPLATE};

fn refs(stdout: &str) -> Vec<serde_json::Value> {
    bodies(stdout)
        .iter()
        .map(|body| body["extra_info"]["ref"].clone())
        .collect()
}

/// `flowc <command> t.yaml --data <name> [extra]` over the base template.
fn with_data(scratch: &Scratch, command: &str, name: &str, contents: impl AsRef<[u8]>, extra: &[&str]) -> Outcome {
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    let data = scratch.write(name, contents);
    run(flowc().arg(command).arg(&template).arg("--data").arg(&data).args(extra))
}

#[test]
fn a_semicolon_or_tab_separated_csv_is_read_by_its_header() {
    let scratch = Scratch::new();
    // A semicolon file (Excel where the comma is the decimal mark), a comma inside a value.
    let outcome = with_data(
        &scratch,
        "render",
        "rows.csv",
        "name;phone;ref\n\"Rao, Asha\";+14155550100;1\n\"B; Jr\";+14155550101;2\n",
        &[],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(refs(&outcome.stdout), [json!("1"), json!("2")]);
    assert_eq!(
        bodies(&outcome.stdout)[0]["messaging_object"]["interactive"]["header"]["text"],
        "Hi Rao, Asha"
    );
    let outcome = with_data(
        &scratch,
        "render",
        "rows.csv",
        "name\tphone\tref\nA\t+14155550100\t1\n",
        &[],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(refs(&outcome.stdout), [json!("1")]);
    // Rows are numbered as before: the header is row 1.
    let outcome = with_data(
        &scratch,
        "render",
        "rows.csv",
        "name;phone;ref\nA;+14155550100;1\nB;12345;2\n",
        &[],
    );
    assert!(
        outcome
            .stderr
            .contains("rows.csv row 3, column `phone`: `to` has no country code"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_tsv_file_is_tab_separated() {
    let scratch = Scratch::new();
    let outcome = with_data(
        &scratch,
        "render",
        "rows.tsv",
        "name\tphone\tref\nA, B; C\t+14155550100\t1\n",
        &[],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(
        bodies(&outcome.stdout)[0]["messaging_object"]["interactive"]["header"]["text"],
        "Hi A, B; C"
    );
}

#[test]
fn delimiter_names_the_separator_for_render_check_and_send() {
    let scratch = Scratch::new();
    let csv = "name|phone|ref\nA|+14155550100|1\n";
    let outcome = with_data(&scratch, "render", "rows.csv", csv, &["--delimiter", "|"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert_eq!(refs(&outcome.stdout), [json!("1")]);
    let outcome = with_data(&scratch, "check", "rows.csv", csv, &["--delimiter", "|"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    let outcome = with_data(&scratch, "send", "rows.csv", csv, &["--delimiter", "|", "--dry-run"]);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains("dry run: 1 would be sent now, 0 invalid"),
        "{}",
        outcome.stdout
    );
    let outcome = with_data(
        &scratch,
        "render",
        "rows.csv",
        "name\tphone\tref\nA\t+14155550100\t1\n",
        &["--delimiter", "tab"],
    );
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);

    // Without it, a header read as one column says which option would help.
    let outcome = with_data(&scratch, "render", "rows.csv", csv, &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome
            .stderr
            .contains("the header is read as one column: if `|` separates its fields, pass --delimiter '|'"),
        "{}",
        outcome.stderr
    );

    let outcome = with_data(&scratch, "render", "rows.csv", csv, &["--delimiter", "||"]);
    assert_eq!(outcome.code, 2);
    assert!(outcome.stderr.contains("expected one character"), "{}", outcome.stderr);
    let outcome = with_data(&scratch, "render", "rows.json", "[]", &["--delimiter", ";"]);
    assert_eq!(outcome.code, 2);
    assert!(
        outcome.stderr.contains("--delimiter is for CSV and TSV files; `"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn an_empty_data_file_is_said_to_be_empty() {
    let scratch = Scratch::new();
    for command in ["render", "check"] {
        let outcome = with_data(&scratch, command, "rows.csv", "", &[]);
        assert_eq!(outcome.code, 1, "{command}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains("rows.csv` is empty"),
            "{command}: {}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("no column"), "{}", outcome.stderr);
    }
    let outcome = run(flowc()
        .args(["render", "templates/service-booking.yaml", "--data", "-"])
        .write_stdin(""));
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.contains("`<stdin>` is empty"), "{}", outcome.stderr);
    let outcome = with_data(&scratch, "send", "rows.csv", "", &["--dry-run"]);
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.contains("rows.csv` is empty"), "{}", outcome.stderr);
}

#[test]
fn a_header_only_file_has_no_rows_and_sends_nothing() {
    let scratch = Scratch::new();
    for (command, extra) in [("render", &[][..]), ("check", &[][..]), ("send", &["--dry-run"][..])] {
        let outcome = with_data(&scratch, command, "rows.csv", "name,phone,ref\n", extra);
        assert_eq!(outcome.code, 1, "{command}: {}", outcome.stderr);
        assert!(
            outcome
                .stderr
                .contains("rows.csv` has a header but no rows: nothing to send"),
            "{command}: {}",
            outcome.stderr
        );
        assert!(
            !outcome.stderr.contains("could not be read"),
            "{command}: {}",
            outcome.stderr
        );
    }
    let outcome = with_data(&scratch, "render", "rows.json", "[]", &[]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("rows.json` holds no rows: nothing to send"),
        "{}",
        outcome.stderr
    );

    // A real campaign: nothing reaches the provider.
    let campaign = Campaign::new(0);
    let provider = Provider::accepting();
    let outcome = run(&mut campaign.command(&provider));
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("contacts.csv` has a header but no rows: nothing to send"),
        "{}",
        outcome.stderr
    );
    assert_eq!(provider.count(), 0);
}

#[test]
fn a_directory_as_data_gets_the_same_message_from_every_command() {
    let scratch = Scratch::new();
    let template = scratch.write("t.yaml", BASE_TEMPLATE);
    for name in ["contacts", "contacts.csv"] {
        let dir = scratch.path().join(name);
        std::fs::create_dir_all(&dir).expect("a directory");
        let expected = format!(
            "cannot read data file `{}`: it is a directory, not a regular file",
            dir.display()
        );
        let commands: [&[&str]; 4] = [
            &["render"],
            &["check"],
            &["send", "--dry-run"],
            &["preview", "--row", "2", "--out", "-"],
        ];
        for command in commands {
            let outcome = run(flowc()
                .arg(command[0])
                .arg(&template)
                .arg("--data")
                .arg(&dir)
                .args(&command[1..]));
            assert_eq!(outcome.code, 2, "{command:?} {name}: {}", outcome.stderr);
            assert!(
                outcome.stderr.contains(&expected),
                "{command:?} {name}: {}",
                outcome.stderr
            );
            assert!(!outcome.stderr.contains("cannot tell the format"), "{}", outcome.stderr);
            assert!(!outcome.stdout.contains('{'), "{command:?}: {}", outcome.stdout);
        }
    }
}
