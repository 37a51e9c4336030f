//! Every file flowc writes for a person (the campaign report, the responses file, the page,
//! the preview page) goes through here, so that one set of rules holds for all of them:
//!
//! - `-` is standard output.
//! - A regular file (or a new name) is written whole or not at all: into a temporary file
//!   created new beside it (a unique name, `O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK`: whatever a
//!   directory holds at any name, a planted link or named pipe, is never followed, waited on or
//!   removed), then renamed over it. A file created new cannot be one of the command's inputs.
//! - A device or a named pipe, or a link to one (`/dev/null`, `/dev/stdout` on a terminal or a
//!   pipe), is written into as it is, never replaced: opened without blocking (a pipe nobody
//!   reads is refused at once) and without creating or truncating anything.
//! - A symbolic link to a regular file is refused: replacing it would drop the link, writing
//!   its target would write wherever a planted link points. The message names the target.
//!
//! The files a campaign writes must also never be one of the files it reads (template, data,
//! key file, journal, event store): `--report contacts.csv` would otherwise replace the contact
//! list. Files are compared by identity (device and inode, so links and `..` do not hide one),
//! or, for an output not yet created, by canonical path. Each output's directory is tried for
//! writing before anything is sent, not after the campaign.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    #[error("the {output} `{path}` is the {input} `{input_path}`: writing it would destroy the {input}")]
    SameAsInput {
        output: &'static str,
        path: String,
        input: &'static str,
        input_path: String,
    },
    #[error("the {output} `{path}` holds the {input} the campaign was sent from (the journal records its content): writing it would destroy the {input}")]
    HoldsInput {
        output: &'static str,
        path: String,
        input: &'static str,
    },
    #[error("the report `{path}` is the journal or one of its files (`-wal`, `.mirror`)")]
    JournalIsReport { path: String },
    #[error("the {first} and the {second} are the same file `{path}`")]
    Clash {
        first: &'static str,
        second: &'static str,
        path: String,
    },
    #[error("the {first} and the {second} would both go to standard output (`-`)")]
    BothOnStdout { first: &'static str, second: &'static str },
    #[error("cannot write the {output} `{path}`: {reason}")]
    NotWritable {
        output: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "the report `{path}` belongs to another journal, `{journal}`: replacing it would lose that campaign's report"
    )]
    OtherJournal {
        path: String,
        journal: String,
        /// This journal's own report, named after it.
        own: String,
    },
}

impl OutputError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            OutputError::OtherJournal { own, .. } => Some(format!(
                "leave out --report (`flowc report`: --out) to write this journal's own report `{own}`, or name another file"
            )),
            OutputError::BothOnStdout { .. } => Some("name a file for one of them".to_owned()),
            _ => None,
        }
    }
}

/// `-`: standard output.
pub(crate) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

mod file_id;
mod write;

pub(crate) use file_id::{has_digest, planted_beside, same_file, SideFiles};
use file_id::{identity, Identity};
use write::{create_beside, hold_pipe};
pub(crate) use write::{destination, write_file, Destination, Kind, Output, Scratch};

/// `path` with `suffix` appended to its file name (`j.sqlite` → `j.sqlite-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// A journal's report, named after it: `contacts.journal.sqlite` → `contacts.report.csv` (a dry
/// run: `contacts.dry-run.report.csv`) beside it; any other name gets `.report.csv` added.
pub(crate) fn default_report(journal: &Path, dry_run: bool) -> PathBuf {
    let name = journal
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".journal.sqlite").unwrap_or(&name);
    let suffix = if dry_run { "dry-run.report.csv" } else { "report.csv" };
    journal.with_file_name(format!("{stem}.{suffix}"))
}

/// A report belongs to the journal whose name it carries (see [`default_report`]):
/// `X.report.csv` to `X.journal.sqlite` (or to `X` when `X` ends in `.sqlite`) beside it.
/// Refuses to replace an existing report that belongs to a journal other than `journal`.
pub(crate) fn check_owner(report: &Path, journal: &Path, dry_run: bool) -> Result<(), OutputError> {
    if !matches!(destination(report), Ok(Destination::Replace(_))) || std::fs::symlink_metadata(report).is_err() {
        return Ok(());
    }
    let Some(name) = report.file_name().and_then(|name| name.to_str()) else {
        return Ok(());
    };
    let Some(stem) = name
        .strip_suffix(".dry-run.report.csv")
        .or_else(|| name.strip_suffix(".report.csv"))
    else {
        return Ok(());
    };
    let mut owners = vec![report.with_file_name(format!("{stem}.journal.sqlite"))];
    if stem.ends_with(".sqlite") {
        owners.push(report.with_file_name(stem));
    }
    let ours = identity(journal);
    for owner in owners {
        if std::fs::metadata(&owner).is_ok_and(|metadata| metadata.is_file()) && identity(&owner) != ours {
            return Err(OutputError::OtherJournal {
                path: report.display().to_string(),
                journal: owner.display().to_string(),
                own: default_report(journal, dry_run).display().to_string(),
            });
        }
    }
    Ok(())
}

/// Checks the outputs against the inputs; `journal` is `None` for a dry run.
pub(crate) fn check(
    inputs: &[(&'static str, &Path)],
    journal: Option<&Path>,
    report: &Path,
) -> Result<(), OutputError> {
    let not_writable = |error: io::Error| OutputError::NotWritable {
        output: "report",
        path: report.display().to_string(),
        reason: crate::input::io_reason(&error),
    };
    let mut outputs: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(journal) = journal {
        outputs.push(("journal", journal.to_owned()));
        for suffix in ["-wal", "-shm", "-journal", ".mirror"] {
            outputs.push(("journal", with_suffix(journal, suffix)));
        }
    }
    outputs.push(("report", report.to_owned()));
    let inputs: Vec<(&'static str, &Path, Option<Identity>)> = inputs
        .iter()
        .map(|(role, path)| (*role, *path, identity(path)))
        .collect();
    for (output, path) in &outputs {
        let Some(id) = identity(path) else { continue };
        for (input, input_path, input_id) in &inputs {
            if input_id.as_ref() == Some(&id) {
                return Err(OutputError::SameAsInput {
                    output,
                    path: path.display().to_string(),
                    input,
                    input_path: input_path.display().to_string(),
                });
            }
        }
    }
    if let Some(journal) = journal {
        // The report must not land on the journal or one of its side files (SQLite deletes
        // `-wal` on close; a report over the mirror would make the journal unusable).
        let report_id = identity(report);
        for side in ["", "-wal", "-shm", "-journal", ".mirror"] {
            let side = identity(&with_suffix(journal, side));
            if side.is_some() && side == report_id {
                return Err(OutputError::JournalIsReport {
                    path: report.display().to_string(),
                });
            }
        }
    }
    match destination(report).map_err(not_writable)? {
        Destination::Replace(_) => probe_directory("report", report),
        Destination::Direct(path) => hold_pipe(&path).map_err(not_writable),
        // Standard output or a device: nothing is created or replaced.
        Destination::Stdout => Ok(()),
    }
}

/// Checks files a command writes (`flowc report`: the report, the responses file, the page)
/// against the files it reads (the journal and the event store, with the files SQLite keeps
/// beside them, and the campaign's template and data file) and against each other, then tries
/// each one's directory.
pub(crate) fn check_distinct(
    inputs: &[(&'static str, &Path)],
    outputs: &[(&'static str, &Path)],
) -> Result<(), OutputError> {
    let mut read: Vec<(&'static str, PathBuf, Option<Identity>)> = Vec::new();
    for (role, path) in inputs {
        for suffix in ["", "-wal", "-shm", "-journal", ".mirror"] {
            let file = with_suffix(path, suffix);
            let id = identity(&file);
            read.push((role, file, id));
        }
    }
    let mut on_stdout: Option<&'static str> = None;
    let mut written: Vec<(&'static str, Identity)> = Vec::new();
    let mut files: Vec<(&'static str, &Path)> = Vec::new();
    for (output, path) in outputs {
        if is_stdout(path) {
            if let Some(first) = on_stdout {
                return Err(OutputError::BothOnStdout { first, second: output });
            }
            on_stdout = Some(output);
            continue;
        }
        if let Some(id) = identity(path) {
            if let Some((input, input_path, _)) = read.iter().find(|(_, _, input)| input.as_ref() == Some(&id)) {
                return Err(OutputError::SameAsInput {
                    output,
                    path: path.display().to_string(),
                    input,
                    input_path: input_path.display().to_string(),
                });
            }
            if let Some((first, _)) = written.iter().find(|(_, other)| *other == id) {
                return Err(OutputError::Clash {
                    first,
                    second: output,
                    path: path.display().to_string(),
                });
            }
            written.push((output, id));
        }
        let destination = destination(path).map_err(|error| OutputError::NotWritable {
            output,
            path: path.display().to_string(),
            reason: crate::input::io_reason(&error),
        })?;
        if matches!(destination, Destination::Replace(_)) {
            files.push((output, path));
        }
    }
    for (output, path) in files {
        probe_directory(output, path)?;
    }
    Ok(())
}

/// Creates and removes a file beside `path`, so that an unwritable directory is found now.
fn probe_directory(output: &'static str, path: &Path) -> Result<(), OutputError> {
    let not_writable = |error: std::io::Error| OutputError::NotWritable {
        output,
        path: path.display().to_string(),
        reason: crate::input::io_reason(&error),
    };
    let (probe, _) = create_beside(path, "probe", 0o600).map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_named_after_its_journal() {
        let cases = [
            ("dir/contacts.journal.sqlite", false, "dir/contacts.report.csv"),
            ("dir/contacts.journal.sqlite", true, "dir/contacts.dry-run.report.csv"),
            ("trial.sqlite", false, "trial.sqlite.report.csv"),
        ];
        for (journal, dry_run, report) in cases {
            assert_eq!(default_report(Path::new(journal), dry_run), PathBuf::from(report));
        }
    }

    #[test]
    fn report_outputs_may_be_neither_an_input_nor_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("c.journal.sqlite");
        std::fs::write(&journal, "j").expect("journal");
        let store = dir.path().join("events.sqlite");
        std::fs::write(&store, "s").expect("store");
        let inputs = [("journal", journal.as_path()), ("event store", store.as_path())];
        let report = dir.path().join("c.report.csv");
        assert!(check_distinct(&inputs, &[("report", &report)]).is_ok());
        for output in [&journal, &store, &with_suffix(&store, "-wal")] {
            std::fs::write(with_suffix(&store, "-wal"), "w").expect("wal");
            assert!(
                matches!(
                    check_distinct(&inputs, &[("page", output)]),
                    Err(OutputError::SameAsInput { .. })
                ),
                "{}",
                output.display()
            );
        }
        std::fs::write(&report, "r").expect("report");
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&report, &link).expect("symlink");
        assert!(matches!(
            check_distinct(&inputs, &[("report", &report), ("page", &link)]),
            Err(OutputError::Clash { .. })
        ));
    }

    #[test]
    fn an_output_that_is_an_input_by_another_name_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("contacts.csv");
        std::fs::write(&data, "name\n").expect("data");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&data, &link).expect("symlink");
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&data, &hard).expect("hard link");
        let dotted = dir.path().join("sub/../contacts.csv");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        for report in [&data, &link, &hard, &dotted] {
            assert!(
                matches!(
                    check(&[("data file", &data)], None, report),
                    Err(OutputError::SameAsInput { .. })
                ),
                "{}",
                report.display()
            );
        }
        let journal = dir.path().join("contacts.csv-wal");
        assert!(check(
            &[("data file", &dir.path().join("contacts.csv-wal"))],
            Some(&data.with_extension("")),
            &dir.path().join("r.csv")
        )
        .is_ok());
        assert!(check(
            &[("data file", &journal)],
            Some(&dir.path().join("contacts.csv")),
            &dir.path().join("r.csv")
        )
        .is_err());
        assert!(check(
            &[("data file", &data)],
            Some(&dir.path().join("j")),
            &dir.path().join("r.csv")
        )
        .is_ok());
    }
}
