//! `flowc init`: a template repository a team can start from.
//!
//! The target may be a directory someone else prepared (a shared checkout, a CI workspace), so
//! init never writes through a symbolic link and never replaces a file: a planted
//! `templates -> /elsewhere` would put files outside the target, and a dangling
//! `README.md -> ~/.profile` would create the file it points at. Every path init writes is
//! checked component by component before anything is written, and files are created with
//! create-new semantics, which refuse an existing entry (a link included) instead of following it.
//! A `.gitignore` already there is the team's: init leaves it and says what to add.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{fail, test, ExitStatus};
use crate::diagnostic::{Format, Printer};
use crate::scaffold::InitError;

pub struct InitOptions {
    pub dir: PathBuf,
}

const TEMPLATE: &str = include_str!("../../templates/service-booking.yaml");
const FIXTURES: &str = include_str!("../../templates/service-booking.fixtures.yaml");
const TEMPLATE_SCHEMA: &str = include_str!("../../schemas/template.schema.json");
/// The Flow the example's button opens (its `flow_json`), so its checks run from the start.
const FLOW: &str = include_str!("../../flows/booking.json");
/// The example template message (an approved template with a FLOW button, for people outside
/// the 24-hour window) and the approved template it is checked against (its `template_json`).
const TEMPLATE_MESSAGE: &str = include_str!("../../templates/service-booking-template.yaml");
const APPROVED: &str = include_str!("../../templates/approved/service_booking.en_US.json");

const WORKFLOW: &str = r#"# Checks every template and compares its bodies with the reviewed snapshots; findings appear
# as annotations on the pull request's lines.
#
# flowc is not published on crates.io (a crate named `flowc` there would be someone else's), so it
# is installed from its git repository: set the repository or organisation variable FLOWC_GIT to
# that repository's URL (Settings > Secrets and variables > Actions > Variables), and FLOWC_REV to
# a tag or commit to pin the version (recommended: the check then changes only when you say so).
name: flowc
on:
  pull_request:
  push:
    branches: [main]
env:
  FLOWC_GIT: ${{ vars.FLOWC_GIT }}
  FLOWC_REV: ${{ vars.FLOWC_REV }}
jobs:
  templates:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: dtolnay/rust-toolchain@stable
      - name: Install flowc
        run: |
          if [ -z "$FLOWC_GIT" ]; then
            echo "::error::set the Actions variable FLOWC_GIT to the URL of the flowc git repository"
            exit 1
          fi
          cargo install --locked --git "$FLOWC_GIT" ${FLOWC_REV:+--rev "$FLOWC_REV"}
      - name: Check templates
        run: flowc check --format github
      - name: Compare snapshots
        run: flowc test --format github
"#;

const README: &str = "# WhatsApp Flow message templates\n\
Templates live in `templates/` (the Flows their buttons open in `flows/`, approved WhatsApp templates in `templates/approved/`); `flowc check` validates them and `flowc test` compares their bodies with `templates/__snapshots__/`.\n\
After changing a template, run `flowc test --review` and commit the accepted snapshots with the template.\n\
Preview a message with `flowc preview templates/example.yaml` (writes `example.preview.html`); CI (`.github/workflows/flowc.yml`) annotates pull requests once the Actions variable `FLOWC_GIT` holds the flowc repository's URL.\n";

/// What the repository's git ignores: the pages `flowc preview` writes in the working directory.
const GITIGNORE_LINE: &str = "*.preview.html";
const GITIGNORE: &str = "# Pages written by `flowc preview` (in the working directory)\n*.preview.html\n";

/// Writes `.gitignore` like the other files (create-new, through no link); one already there
/// (a file or a link) is the team's and stays as it is: init says what to add to it, if anything.
fn gitignore(dir: &Path, printer: &Printer) -> Result<(), InitError> {
    match create(dir, Path::new(".gitignore"), GITIGNORE) {
        Ok(path) => {
            printer.note(&format!("created {}", path.display()));
            Ok(())
        }
        Err(InitError::Exists { .. } | InitError::Link { .. }) => {
            let path = dir.join(".gitignore");
            let ignores = std::fs::symlink_metadata(&path).is_ok_and(|metadata| metadata.is_file())
                && crate::input::read_text(&path, MAX_GITIGNORE_BYTES, "a .gitignore")
                    .is_ok_and(|text| text.lines().any(|line| line.trim() == GITIGNORE_LINE));
            if !ignores {
                printer.note(&format!(
                    "kept the existing {}: add `{GITIGNORE_LINE}` to it (flowc preview writes its pages in the working directory)",
                    path.display()
                ));
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// A `.gitignore` larger than this is not read to see whether it ignores the pages (it is
/// left as it is either way).
const MAX_GITIGNORE_BYTES: u64 = 1 << 20;

/// Where the snapshots of the example go; `test --accept` writes them after the files below.
const SNAPSHOTS: &str = "templates/__snapshots__";

pub(super) fn run(options: &InitOptions, printer: &Printer) -> ExitStatus {
    let dir = &options.dir;
    let template = TEMPLATE.replace(
        "# yaml-language-server: $schema=../schemas/template.schema.json",
        "# yaml-language-server: $schema=../schemas/template.schema.json\n# Start from this one: rename it, edit it, then run `flowc test --review`.",
    );
    let files: [(&str, &str); 8] = [
        ("templates/example.yaml", template.as_str()),
        ("templates/example.fixtures.yaml", FIXTURES),
        ("templates/example-template.yaml", TEMPLATE_MESSAGE),
        ("templates/approved/service_booking.en_US.json", APPROVED),
        ("flows/booking.json", FLOW),
        ("schemas/template.schema.json", TEMPLATE_SCHEMA),
        (".github/workflows/flowc.yml", WORKFLOW),
        ("README.md", README),
    ];
    let written = preflight(dir, files.iter().map(|(path, _)| *path)).and_then(|()| {
        files.iter().try_for_each(|(relative, contents)| {
            let path = create(dir, Path::new(relative), contents)?;
            printer.note(&format!("created {}", path.display()));
            Ok(())
        })
    });
    let written = written.and_then(|()| gitignore(dir, printer));
    if let Err(error) = written {
        let status = fail(printer, &error);
        // Whole paths, one a line: a list in one message would be cut to the message's width.
        if let InitError::Exists { paths } = &error {
            if paths.len() > 1 {
                printer.note("the files in the way:");
                for path in paths {
                    printer.note(&format!("  {}", path.display()));
                }
            }
        }
        return status;
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

/// Refuses, before anything is written, a link on any path init writes (the snapshot
/// directory included) and any file it would replace. `dir` itself is the user's choice and
/// may be a link (macOS's `/tmp` is one).
fn preflight<'a>(dir: &Path, files: impl Iterator<Item = &'a str>) -> Result<(), InitError> {
    let files: Vec<&str> = files.collect();
    for relative in files.iter().copied().chain([SNAPSHOTS]) {
        if let Some(link) = first_link(dir, Path::new(relative))? {
            return Err(InitError::Link { link });
        }
    }
    let mut existing: Vec<PathBuf> = files
        .iter()
        .map(|relative| dir.join(relative))
        .filter(|path| std::fs::symlink_metadata(path).is_ok())
        .collect();
    // Snapshots of an earlier example would be compared with, or replaced by, the new ones.
    let snapshots = dir.join(SNAPSHOTS);
    if let Ok(entries) = std::fs::read_dir(&snapshots) {
        let mut earlier: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("example@") || name.starts_with("example-template@")
            })
            .map(|entry| entry.path())
            .collect();
        earlier.sort();
        existing.extend(earlier);
    }
    if existing.is_empty() {
        Ok(())
    } else {
        Err(InitError::Exists { paths: existing })
    }
}

/// The first symbolic link among `dir/relative` and its parents below `dir`.
fn first_link(dir: &Path, relative: &Path) -> Result<Option<PathBuf>, InitError> {
    let mut path = dir.to_path_buf();
    for component in relative.components() {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => return Ok(Some(path)),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(InitError::Io { path, source }),
        }
    }
    Ok(None)
}

/// Creates `dir/relative` and its missing parents below `dir`, following no link on the way:
/// the pre-flight saw none, and this re-checks each step as it goes.
fn create(dir: &Path, relative: &Path, contents: &str) -> Result<PathBuf, InitError> {
    std::fs::create_dir_all(dir).map_err(|source| InitError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut path = dir.to_path_buf();
    if let Some(parent) = relative.parent() {
        for component in parent.components() {
            path.push(component);
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                Err(source) if source.kind() == io::ErrorKind::AlreadyExists => {
                    let metadata = std::fs::symlink_metadata(&path).map_err(|source| InitError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    if metadata.file_type().is_symlink() {
                        return Err(InitError::Link { link: path });
                    }
                    if !metadata.is_dir() {
                        return Err(InitError::Io { path, source });
                    }
                }
                Err(source) => return Err(InitError::Io { path, source }),
            }
        }
    }
    if let Some(name) = relative.file_name() {
        path.push(name);
    }
    // create_new does not follow a link in the last component: it fails with AlreadyExists.
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(source) if source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(match std::fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.file_type().is_symlink() => InitError::Link { link: path },
                _ => InitError::Exists { paths: vec![path] },
            })
        }
        Err(source) => return Err(InitError::Io { path, source }),
    };
    file.write_all(contents.as_bytes()).map_err(|source| InitError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
