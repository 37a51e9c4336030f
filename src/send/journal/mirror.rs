//! The mirror: a small file beside the journal holding its commit counter, written after each
//! group commit, so that a journal that lost commits (a deleted `-wal`, a copy, a truncation) is
//! found behind its mirror and refused rather than resumed.

use std::path::Path;

use crate::send::journal::error::JournalError;
use crate::send::journal::{Journal, StoredMeta, RESTORE_OR_RESTART};

/// The mirror file beside a journal on disk (see the module notes).
pub(super) struct Mirror {
    pub(super) path: std::path::PathBuf,
    /// What it held when the journal was opened.
    pub(super) state: Option<MirrorState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MirrorState {
    pub(super) campaign: String,
    pub(super) commit: i64,
    pub(super) run: i64,
    pub(super) max_sent_row: u64,
}

impl MirrorState {
    /// Whether any request was ever about to leave (row numbers start at 1).
    pub(super) fn anything_sent(&self) -> bool {
        self.max_sent_row > 0
    }
}

/// What is wrong with a mirror that is there: said after "has a damaged mirror".
#[derive(Debug, thiserror::Error)]
pub(super) enum MirrorProblem {
    #[error(transparent)]
    Unreadable(crate::input::InputError),
    #[error("it is not a flowc mirror")]
    NotAMirror,
    #[error("it has no checksum")]
    NoChecksum,
    #[error("its checksum does not match (a torn or edited write)")]
    Checksum,
    #[error("it has no `{0}`")]
    Missing(&'static str),
    #[error("{LINK}")]
    Link,
}

/// Why a link at the mirror's name is refused.
const LINK: &str = "it is a symbolic link: flowc never reads or writes a journal's files through a link; remove it";

/// Fixed size, written in place: one write of less than a disk sector.
const MIRROR_SIZE: usize = 256;
const MIRROR_MAGIC: &str = "flowc journal mirror 1";

impl Mirror {
    pub(super) fn path_for(journal: &Path) -> std::path::PathBuf {
        let mut name = journal.as_os_str().to_owned();
        name.push(".mirror");
        std::path::PathBuf::from(name)
    }

    /// `Ok(None)` when there is no mirror; an error names what is wrong with one.
    pub(super) fn read(path: &Path) -> Result<Option<MirrorState>, MirrorProblem> {
        use std::io::Read as _;
        // A link planted there is refused, as a named pipe or a device is, never waited on.
        if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
            return Err(MirrorProblem::Link);
        }
        let file = match crate::input::open(path) {
            Ok(file) => file,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(MirrorProblem::Unreadable(error)),
        };
        let mut text = String::new();
        file.take(MIRROR_SIZE as u64 * 2)
            .read_to_string(&mut text)
            .map_err(|_| MirrorProblem::NotAMirror)?;
        let text = text.trim_end_matches([' ', '\n']);
        let mut lines = text.lines();
        if lines.next() != Some(MIRROR_MAGIC) {
            return Err(MirrorProblem::NotAMirror);
        }
        let mut fields = std::collections::HashMap::new();
        for line in lines {
            if let Some((key, value)) = line.split_once(' ') {
                fields.insert(key, value);
            }
        }
        let body_end = text.rfind("\ncheck ").ok_or(MirrorProblem::NoChecksum)?;
        if fields.get("check").copied() != Some(checksum(&text[..body_end]).as_str()) {
            return Err(MirrorProblem::Checksum);
        }
        let number = |key: &'static str| {
            fields
                .get(key)
                .and_then(|value| value.parse::<i64>().ok())
                .ok_or(MirrorProblem::Missing(key))
        };
        Ok(Some(MirrorState {
            campaign: fields
                .get("campaign")
                .ok_or(MirrorProblem::Missing("campaign"))?
                .to_string(),
            commit: number("commit")?,
            run: number("run")?,
            max_sent_row: u64::try_from(number("max_sent_row")?).unwrap_or(0),
        }))
    }

    pub(super) fn write(&self, state: &MirrorState) -> std::io::Result<()> {
        use std::io::{Seek as _, Write as _};
        let body = format!(
            "{MIRROR_MAGIC}\ncampaign {}\ncommit {}\nrun {}\nmax_sent_row {}",
            state.campaign, state.commit, state.run, state.max_sent_row
        );
        let mut text = format!("{body}\ncheck {}\n", checksum(&body));
        if text.len() < MIRROR_SIZE {
            text.push_str(&" ".repeat(MIRROR_SIZE - text.len()));
        }
        use std::os::unix::fs::OpenOptionsExt as _;
        // Never through a link, never blocked on a pipe planted since the journal was opened.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&self.path)
            .map_err(|error| match error.raw_os_error() {
                Some(libc::ELOOP) => std::io::Error::other(LINK),
                _ => error,
            })?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(text.as_bytes())?;
        file.set_len(text.len() as u64)?;
        file.sync_data()
    }
}

fn checksum(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Journal {
    /// The journal must be at least as far as its mirror, and of the same campaign. A mirror
    /// that saw nothing sent protects nothing.
    pub(super) fn check_mirror(&self, stored: &StoredMeta) -> Result<(), JournalError> {
        let Some(Mirror {
            path,
            state: Some(state),
        }) = &self.mirror
        else {
            return Ok(());
        };
        if !state.anything_sent() {
            return Ok(());
        }
        if stored.campaign.as_deref() != Some(state.campaign.as_str()) {
            return Err(self.damaged(
                format!(
                    "is not the journal its mirror `{}` belongs to: it was replaced by another campaign's journal or an older copy",
                    path.display()
                ),
                RESTORE_OR_RESTART,
            ));
        }
        if stored.commit < state.commit {
            return Err(self.damaged(
                format!(
                    "has lost {} of its last commits (its mirror `{}` saw commit {}, the journal holds {}): its `-wal` file was deleted or damaged after a crash, or an older copy was restored; rows up to row {} may have been sent without the journal knowing",
                    state.commit - stored.commit,
                    path.display(),
                    state.commit,
                    stored.commit,
                    state.max_sent_row
                ),
                "restore the journal's `-wal` file if you still have it; otherwise find out which rows were delivered (the provider's delivery reports) before sending again: --restart starts a new campaign that sends every row again",
            ));
        }
        Ok(())
    }

    /// Writes the mirror: after a commit, before anything it covers is acted on.
    pub(super) fn write_mirror(&self) -> Result<(), JournalError> {
        let Some(mirror) = &self.mirror else { return Ok(()) };
        let state = MirrorState {
            campaign: self.campaign.clone(),
            commit: self.commit,
            run: self.run,
            max_sent_row: self.max_sent_row,
        };
        mirror.write(&state).map_err(|error| JournalError::ReadOnly {
            path: mirror.path.display().to_string(),
            reason: crate::input::io_reason(&error),
        })
    }
}
