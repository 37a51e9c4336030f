//! What the tests share, in one place: the small builder every test uses (the `flowc` binary,
//! run from the repository root with plain, uncoloured diagnostics, and temporary template and
//! data files), the fake provider, the real receiver, the campaign builder and the browser.
//! Test modules import helpers from here, never from each other.

pub(crate) mod campaign;
pub(crate) mod postgres;
pub(crate) mod provider;
pub(crate) mod receiver;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn flowc() -> Command {
    let mut command = Command::cargo_bin("flowc").expect("the flowc binary is built");
    command
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE");
    command
}

/// A valid template that uses every feature the bad-input tests break one at a time.
pub(crate) const BASE_TEMPLATE: &str = r#"description: A test template
vars:
  name: { example: "Asha" }
  phone: { example: "+919876543210" }
  city: { default: "Pune" }
  ref: { example: "R-1" }
messaging_object:
  to: "{{phone}}"
  interactive:
    header: { text: "Hi {{name}}" }
    body: { text: "Your slot in {{city}} is ready." }
    footer: { text: "Reply STOP to opt out" }
    action:
      parameters:
        flow_id: "1234567890"
        flow_cta: "Book now"
        flow_token: "tok-{{ref}}"
        flow_action: navigate
        flow_action_payload:
          screen: START
          data: { who: "{{name}}" }
extra_info:
  ref: "{{ref}}"
  wa_source: api
"#;

/// A scratch directory holding files for one test.
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create a scratch directory");
        }
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }

    /// The base template with `from` replaced by `to` (which must occur).
    pub(crate) fn template_with(&self, edits: &[(&str, &str)]) -> PathBuf {
        let mut text = BASE_TEMPLATE.to_owned();
        for (from, to) in edits {
            assert!(text.contains(from), "the base template has no `{from}`");
            text = text.replacen(from, to, 1);
        }
        self.write("t.yaml", text)
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub(crate) struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn run(command: &mut Command) -> Outcome {
    let output = command.output().expect("flowc runs");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The NDJSON lines of stdout as JSON values.
pub(crate) fn bodies(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is one JSON body"))
        .collect()
}

/// The binary as a plain `std::process::Command`, for tests that manage pipes themselves.
pub(crate) fn flowc_process() -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowc"));
    command.current_dir(repo()).env("NO_COLOR", "1");
    command
}

/// Chromium from the distribution's packages (installed by `.ci/run`), for the screenshot tests.
pub(crate) fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| Path::new(path).exists())
}
