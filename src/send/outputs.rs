//! The files a campaign writes (journal, its `-wal` and mirror, the report) must never be one
//! of the files it reads (template, data, key file): `--report contacts.csv` would otherwise
//! replace the contact list with the report. Files are compared by identity (device and inode,
//! so links and `..` do not hide one), or, for an output not yet created, by canonical path.
//! The report's directory is tried for writing before anything is sent, not after the campaign.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("the {output} `{path}` is the {input} `{input_path}`: writing it would destroy the {input}")]
    SameAsInput {
        output: &'static str,
        path: String,
        input: &'static str,
        input_path: String,
    },
    #[error("the report `{path}` is the journal or one of its files (`-wal`, `.mirror`)")]
    JournalIsReport { path: String },
    #[error("the {first} and the {second} are the same file `{path}`")]
    Clash {
        first: &'static str,
        second: &'static str,
        path: String,
    },
    #[error("cannot write the {output} `{path}`: {reason}")]
    NotWritable {
        output: &'static str,
        path: String,
        reason: String,
    },
}

/// What identifies a file: its inode when it exists, else its canonical path.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    if let Ok(metadata) = std::fs::metadata(path) {
        return Some(Identity::Inode(metadata.dev(), metadata.ino()));
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name()?;
    Some(Identity::Path(std::fs::canonicalize(parent).ok()?.join(name)))
}

/// `path` with `suffix` appended to its file name (`j.sqlite` → `j.sqlite-wal`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Checks the outputs against the inputs; `journal` is `None` for a dry run.
pub fn check(inputs: &[(&'static str, &Path)], journal: Option<&Path>, report: &Path) -> Result<(), OutputError> {
    let mut outputs: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(journal) = journal {
        outputs.push(("journal", journal.to_owned()));
        for suffix in ["-wal", "-shm", "-journal", ".mirror"] {
            outputs.push(("journal", with_suffix(journal, suffix)));
        }
    }
    outputs.push(("report", report.to_owned()));
    outputs.push(("report", with_suffix(report, ".partial")));
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
        let report_ids = [identity(report), identity(&with_suffix(report, ".partial"))];
        for side in ["", "-wal", "-shm", "-journal", ".mirror"] {
            let side = identity(&with_suffix(journal, side));
            if side.is_some() && report_ids.contains(&side) {
                return Err(OutputError::JournalIsReport {
                    path: report.display().to_string(),
                });
            }
        }
    }
    probe_directory("report", report)
}

/// Checks files a command writes (`flowc report`: the report, the responses file, the page)
/// against the files it reads (the journal and the event store, with the files SQLite keeps
/// beside them) and against each other, then tries each one's directory.
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
    let mut written: Vec<(&'static str, Identity)> = Vec::new();
    for (output, path) in outputs {
        for file in [path.to_path_buf(), with_suffix(path, ".partial")] {
            let Some(id) = identity(&file) else { continue };
            if let Some((input, input_path, _)) = read.iter().find(|(_, _, input)| input.as_ref() == Some(&id)) {
                return Err(OutputError::SameAsInput {
                    output,
                    path: file.display().to_string(),
                    input,
                    input_path: input_path.display().to_string(),
                });
            }
        }
        if let Some(id) = identity(path) {
            if let Some((first, _)) = written.iter().find(|(_, other)| *other == id) {
                return Err(OutputError::Clash {
                    first,
                    second: output,
                    path: path.display().to_string(),
                });
            }
            written.push((output, id));
        }
    }
    for (output, path) in outputs {
        probe_directory(output, path)?;
    }
    Ok(())
}

/// Creates and removes a file beside `path`, so that an unwritable directory is found now.
fn probe_directory(output: &'static str, path: &Path) -> Result<(), OutputError> {
    let probe = with_suffix(path, &format!(".probe-{}", std::process::id()));
    let not_writable = |error: std::io::Error| OutputError::NotWritable {
        output,
        path: path.display().to_string(),
        reason: crate::input::io_reason(&error),
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)
}

#[cfg(test)]
mod tests {
    use super::*;

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
