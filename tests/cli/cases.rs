//! Failing (and near-failing) inputs as data: each folder under `tests/cases/` holds the input
//! files, the arguments and one snapshot of what flowc answers (exit status, stdout and the exact
//! stderr). One runner drives them all, so a new bad input is a folder, not a Rust test, and a
//! changed message is reviewed as a snapshot diff. How to add and bless a case:
//! `tests/cases/README.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::flowc;

/// Long enough for a debug build on a loaded machine; a hang fails the case instead of the suite.
const DEADLINE: Duration = Duration::from_secs(60);

/// The files under `dir`, relative to it, so a case can show that flowc wrote nothing.
fn listing(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("a case folder is readable") {
            let path = entry.expect("a case folder entry").path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.insert(path.strip_prefix(dir).expect("under the case").to_owned());
        }
    }
    found
}

/// The `args` file: one argument a line, as a user would type them after `flowc`.
fn arguments(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("the args file is readable")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// What one run printed, with the only machine-dependent text (the case folder's and the
/// repository's absolute paths) replaced by placeholders.
fn outcome(case: &Path, args: &[String]) -> String {
    let output = flowc()
        .current_dir(case)
        .args(args)
        .env_remove("KALEYRA_API_KEY")
        .env_remove("KALEYRA_BASE_URL")
        .env_remove("KALEYRA_SID")
        .timeout(DEADLINE)
        .output()
        .expect("flowc runs");
    let status = output
        .status
        .code()
        .map_or_else(|| "killed (a hang or a signal)".to_owned(), |code| code.to_string());
    let clean = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&case.display().to_string(), "[CASE]")
            .replace(&crate::support::repo().display().to_string(), "[REPO]")
    };
    format!(
        "status: {status}\n--- stdout\n{}--- stderr\n{}",
        clean(&output.stdout),
        clean(&output.stderr)
    )
}

#[test]
fn every_failing_case_prints_what_its_snapshot_holds() {
    insta::glob!("../cases", "*/args", |args_file| {
        let case = args_file.parent().expect("a case folder");
        let before = listing(case);
        let printed = outcome(case, &arguments(args_file));
        assert!(!printed.contains("panicked"), "{}: {printed}", case.display());
        insta::with_settings!({
            snapshot_path => case,
            prepend_module_to_snapshot => false,
            snapshot_suffix => "",
            omit_expression => true,
        }, {
            insta::assert_snapshot!("outcome", printed);
        });
        let after = listing(case);
        let written: Vec<_> = after
            .difference(&before)
            .filter(|path| !path.starts_with("outcome.snap") && !path.starts_with("outcome.snap.new"))
            .collect();
        assert!(written.is_empty(), "{}: flowc wrote {written:?}", case.display());
    });
}
