//! `flowc init`: a template repository a team can start from.

use std::path::{Path, PathBuf};

use super::{test, ExitStatus};
use crate::diagnostic::{Finding, Format, Printer};

pub struct InitOptions {
    pub dir: PathBuf,
}

const TEMPLATE: &str = include_str!("../../templates/service-booking.yaml");
const FIXTURES: &str = include_str!("../../templates/service-booking.fixtures.yaml");
const TEMPLATE_SCHEMA: &str = include_str!("../../schemas/template.schema.json");

const WORKFLOW: &str = r#"# Checks every template and compares its bodies with the reviewed snapshots; findings appear
# as annotations on the pull request's lines.
name: flowc
on:
  pull_request:
  push:
    branches: [main]
jobs:
  templates:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@stable
      # Set the repository variable FLOWC_INSTALL to how your organisation installs flowc
      # (for example `cargo install --locked --git <your flowc repository> flowc`).
      - name: Install flowc
        run: ${{ vars.FLOWC_INSTALL || 'cargo install --locked flowc' }}
      - name: Check templates
        run: flowc check --format github
      - name: Compare snapshots
        run: flowc test --format github
"#;

const README: &str = "# WhatsApp Flow message templates\n\
Templates live in `templates/`; `flowc check` validates them and `flowc test` compares their bodies with `templates/__snapshots__/`.\n\
After changing a template, run `flowc test --review` and commit the accepted snapshots with the template.\n\
Preview a message with `flowc preview templates/example.yaml --out preview.html`; CI annotates pull requests (`.github/workflows/flowc.yml`).\n";

pub fn run(options: &InitOptions, printer: &Printer) -> ExitStatus {
    let dir = &options.dir;
    let template = TEMPLATE.replace(
        "# yaml-language-server: $schema=../schemas/template.schema.json",
        "# yaml-language-server: $schema=../schemas/template.schema.json\n# Start from this one: rename it, edit it, then run `flowc test --review`.",
    );
    let files: Vec<(PathBuf, &str)> = vec![
        (dir.join("templates/example.yaml"), template.as_str()),
        (dir.join("templates/example.fixtures.yaml"), FIXTURES),
        (dir.join("schemas/template.schema.json"), TEMPLATE_SCHEMA),
        (dir.join(".github/workflows/flowc.yml"), WORKFLOW),
        (dir.join("README.md"), README),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| path.exists())
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        printer.print(
            &Finding::error(format!("refusing to overwrite {}", existing.join(", "))).with_help(Some(
                "run `flowc init` in an empty directory, or name a new one: flowc init DIR",
            )),
        );
        return ExitStatus::Usage;
    }
    for (path, contents) in &files {
        if let Err(error) = write(path, contents) {
            printer.print(&Finding::error(format!("cannot write {}: {error}", path.display())));
            return ExitStatus::Usage;
        }
        printer.note(&format!("created {}", path.display()));
    }
    // The snapshots are made by the same code that checks them.
    let accepted = test::run(
        &test::TestOptions {
            paths: vec![dir.join("templates")],
            review: false,
            accept: true,
            prune: false,
            format: Format::Human,
        },
        printer,
    );
    if accepted != ExitStatus::Ok {
        return accepted;
    }
    printer.note(&format!(
        "next: edit {}, run `flowc test --review`, commit, open a pull request",
        dir.join("templates/example.yaml").display()
    ));
    ExitStatus::Ok
}

fn write(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents)
}
